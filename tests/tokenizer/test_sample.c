/*
 * test_sample.c - sampling (greedy, seeded draws, truncation, penalties,
 * the token filter), stop strings across pieces, FIM prompts on real
 * vocabularies and chat templates.
 */
#include "harness.h"
#include "model/model.h"
#include "model/model_tok.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct mdl_sampler *make_sampler(float temp, int top_k, float top_p, float min_p,
					uint64_t seed)
{
	struct mdl_sampler_params p;
	struct mdl_sampler *s = NULL;
	struct err e = { 0 };

	mdl_sampler_params_default(&p);
	p.temp = temp;
	p.top_k = top_k;
	p.top_p = top_p;
	p.min_p = min_p;
	p.seed = seed;
	TH_OK(mdl_sampler_new(&p, NULL, &s, &e));
	return s;
}

static void test_greedy(void **state)
{
	float logits[6] = { 0.1f, 2.0f, 5.0f, -1.0f, 4.9f, NAN };
	struct mdl_sampler *s = make_sampler(0, 40, 0.95f, 0.05f, 1);
	struct err e = { 0 };
	int32_t id;
	(void)state;

	TH_OK(mdl_sampler_sample(s, logits, 6, &id, &e));
	assert_int_equal(id, 2);
	TH_ST(mdl_sampler_sample(s, logits, 0, &id, &e), ST_INVAL);
	mdl_sampler_free(s);
}

static void test_seeded(void **state)
{
	float logits[4] = { 1.0f, 1.0f + logf(3.0f), -20.0f, 0.0f };
	int32_t a[64], b[64];
	int count1 = 0;
	struct err e = { 0 };
	(void)state;

	for (int run = 0; run < 2; run++) {
		struct mdl_sampler *s = make_sampler(1.0f, 0, 1.0f, 0.0f, 42);

		for (int i = 0; i < 64; i++)
			TH_OK(mdl_sampler_sample(s, logits, 4, run ? &b[i] : &a[i], &e));
		mdl_sampler_free(s);
	}
	for (int i = 0; i < 64; i++)
		assert_int_equal(a[i], b[i]);	/* same seed, same draws */

	/* p(1) / p(0) = 3 with token 3 rare and token 2 never */
	{
		struct mdl_sampler *s = make_sampler(1.0f, 0, 1.0f, 0.0f, 7);
		int hist[4] = { 0 };

		for (int i = 0; i < 4000; i++) {
			int32_t id;

			TH_OK(mdl_sampler_sample(s, logits, 4, &id, &e));
			hist[id]++;
		}
		count1 = hist[1];
		assert_int_equal(hist[2], 0);
		/* expected 0.665 * 4000 = 2660; a wide band keeps this deterministic-safe */
		assert_in_range(count1, 2400, 2900);
		mdl_sampler_free(s);
	}
	/* top-k 1 is greedy whatever the temperature */
	{
		struct mdl_sampler *s = make_sampler(5.0f, 1, 1.0f, 0.0f, 3);

		for (int i = 0; i < 50; i++) {
			int32_t id;

			TH_OK(mdl_sampler_sample(s, logits, 4, &id, &e));
			assert_int_equal(id, 1);
		}
		mdl_sampler_free(s);
	}
	/* min-p 0.5 drops token 0 (p ratio 1/3) */
	{
		struct mdl_sampler *s = make_sampler(1.0f, 0, 1.0f, 0.5f, 3);

		for (int i = 0; i < 200; i++) {
			int32_t id;

			TH_OK(mdl_sampler_sample(s, logits, 4, &id, &e));
			assert_int_equal(id, 1);
		}
		mdl_sampler_free(s);
	}
	/* top-p 0.5 keeps only the best token */
	{
		struct mdl_sampler *s = make_sampler(1.0f, 0, 0.5f, 0.0f, 3);

		for (int i = 0; i < 200; i++) {
			int32_t id;

			TH_OK(mdl_sampler_sample(s, logits, 4, &id, &e));
			assert_int_equal(id, 1);
		}
		mdl_sampler_free(s);
	}
}

struct ref_cand {
	int32_t id;
	float logit;
};

static int cmp_ref(const void *a, const void *b)
{
	const struct ref_cand *x = a, *y = b;

	if (x->logit != y->logit)
		return x->logit > y->logit ? -1 : 1;
	return x->id - y->id;
}

/* A large vocabulary with top-k off: every draw lies in the nucleus computed naively. */
static void test_large_vocab(void **state)
{
	enum { N = 20000 };
	static float logits[N];
	static struct ref_cand ref[N];
	static unsigned char allowed[N];
	const float top_ps[] = { 0.9f, 0.5f, 1.0f };
	const float min_ps[] = { 0.0f, 0.05f, 0.3f };
	uint64_t x = 12345;
	struct err e = { 0 };
	(void)state;

	for (int i = 0; i < N; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		/* a skewed spread: a few large logits, a long tail */
		logits[i] = (float)((x >> 40) % 1000) / 100.0f;
		if (i % 997 == 0)
			logits[i] += 6.0f;
	}
	for (size_t a = 0; a < 3; a++) {
		for (size_t b = 0; b < 3; b++) {
			struct mdl_sampler *s = make_sampler(1.0f, 0, top_ps[a], min_ps[b], 99);
			double z = 0, cum = 0;
			size_t keep = N, distinct = 0;

			for (int i = 0; i < N; i++) {
				ref[i].id = i;
				ref[i].logit = logits[i];
			}
			qsort(ref, N, sizeof *ref, cmp_ref);
			for (int i = 0; i < N; i++)
				z += exp((double)ref[i].logit - ref[0].logit);
			if (top_ps[a] < 1.0f)
				for (size_t i = 0; i < N; i++) {
					cum += exp((double)ref[i].logit - ref[0].logit) / z;
					if (cum >= top_ps[a]) {
						keep = i + 1;
						break;
					}
				}
			if (min_ps[b] > 0.0f) {
				size_t k = 1;

				while (k < keep && ref[k].logit >= ref[0].logit + logf(min_ps[b]))
					k++;
				keep = k;
			}
			memset(allowed, 0, sizeof allowed);
			for (size_t i = 0; i < keep; i++)
				allowed[ref[i].id] = 1;
			for (int d = 0; d < 300; d++) {
				int32_t id;

				TH_OK(mdl_sampler_sample(s, logits, N, &id, &e));
				if (!allowed[id])
					fail_msg("top-p %g min-p %g: drew %d outside the %zu-token nucleus",
						 (double)top_ps[a], (double)min_ps[b], id, keep);
				if (allowed[id] == 1) {
					allowed[id] = 2;
					distinct++;
				}
			}
			assert_true(distinct > 1 || keep == 1);
			mdl_sampler_free(s);
		}
	}
}

/*
 * The unsorted path (a large vocabulary, top-k, top-p and min-p off, as
 * OpenAI requests default): the draws follow the softmax. Eight live tokens
 * with weights 1..8 among 4096 (the rest about e^-40 below), 16000 draws
 * with a fixed seed, Pearson's chi-square against the expected counts at
 * temperatures 1 and 0.5 (weights squared) under 24.3, the 0.1% point of
 * chi-square with 7 degrees of freedom. Deterministic: the seed is fixed,
 * and the same seed gives the same sequence again. Greedy over the same
 * logits is the argmax, whichever parameters are set.
 */
static void test_fast_path(void **state)
{
	enum { N = 4096, LIVE = 8, DRAWS = 16000 };
	static float logits[N];
	const int32_t live[LIVE] = { 4095, 3, 1000, 2047, 17, 3333, 2500, 512 };
	const float temps[] = { 1.0f, 0.5f };
	struct err e = { 0 };
	(void)state;

	for (int i = 0; i < N; i++)
		logits[i] = -40.0f + (float)(i % 7) * 0.01f;
	for (int j = 0; j < LIVE; j++)
		logits[live[j]] = logf((float)(j + 1));
	for (size_t t = 0; t < 2; t++) {
		struct mdl_sampler *s = make_sampler(temps[t], 0, 1.0f, 0.0f, 2024);
		struct mdl_sampler *s2 = make_sampler(temps[t], 0, 1.0f, 0.0f, 2024);
		int count[LIVE] = { 0 }, other = 0;
		double w[LIVE], z = 0, chi2 = 0;

		for (int j = 0; j < LIVE; j++) {
			w[j] = pow((double)(j + 1), 1.0 / temps[t]);
			z += w[j];
		}
		for (int d = 0; d < DRAWS; d++) {
			int32_t id, id2;
			int hit = 0;

			TH_OK(mdl_sampler_sample(s, logits, N, &id, &e));
			TH_OK(mdl_sampler_sample(s2, logits, N, &id2, &e));
			assert_int_equal(id, id2);
			for (int j = 0; j < LIVE; j++)
				if (id == live[j]) {
					count[j]++;
					hit = 1;
				}
			other += !hit;
		}
		assert_int_equal(other, 0);
		for (int j = 0; j < LIVE; j++) {
			double ex = DRAWS * w[j] / z;

			chi2 += (count[j] - ex) * (count[j] - ex) / ex;
		}
		if (chi2 >= 24.3)
			fail_msg("temperature %g: chi-square %.2f over 7 degrees of freedom",
				 (double)temps[t], chi2);
		mdl_sampler_free(s);
		mdl_sampler_free(s2);
	}
	/* greedy: the argmax, with truncation on or off */
	for (int k = 0; k < 2; k++) {
		struct mdl_sampler *g = make_sampler(0.0f, k ? 40 : 0, k ? 0.9f : 1.0f,
						     k ? 0.05f : 0.0f, 1);
		struct mdl_sampler *one = make_sampler(1.0f, 1, 1.0f, 0.0f, 1);
		int32_t id, id1;

		TH_OK(mdl_sampler_sample(g, logits, N, &id, &e));
		TH_OK(mdl_sampler_sample(one, logits, N, &id1, &e));
		assert_int_equal(id, live[LIVE - 1]);
		assert_int_equal(id1, live[LIVE - 1]);
		mdl_sampler_free(g);
		mdl_sampler_free(one);
	}
}

static void test_penalties(void **state)
{
	float logits[3] = { 3.0f, 2.9f, 0.0f };
	struct mdl_sampler_params p;
	struct mdl_sampler *s;
	struct err e = { 0 };
	int32_t id;
	(void)state;

	mdl_sampler_params_default(&p);
	p.temp = 0;
	p.repeat_penalty = 1.5f;
	TH_OK(mdl_sampler_new(&p, NULL, &s, &e));
	TH_OK(mdl_sampler_sample(s, logits, 3, &id, &e));
	assert_int_equal(id, 0);
	mdl_sampler_accept(s, 0);	/* 3.0 / 1.5 = 2.0 < 2.9 */
	TH_OK(mdl_sampler_sample(s, logits, 3, &id, &e));
	assert_int_equal(id, 1);
	mdl_sampler_reset(s);
	TH_OK(mdl_sampler_sample(s, logits, 3, &id, &e));
	assert_int_equal(id, 0);
	mdl_sampler_free(s);

	mdl_sampler_params_default(&p);
	p.temp = 0;
	p.frequency_penalty = 0.2f;
	TH_OK(mdl_sampler_new(&p, NULL, &s, &e));
	mdl_sampler_accept(s, 1);	/* once: 2.9 - 0.2; token 0 still wins */
	mdl_sampler_accept(s, 0);	/* 3.0 - 0.2 = 2.8 vs 2.7 */
	TH_OK(mdl_sampler_sample(s, logits, 3, &id, &e));
	assert_int_equal(id, 0);
	mdl_sampler_accept(s, 0);	/* twice: 3.0 - 0.4 = 2.6 < 2.7 */
	TH_OK(mdl_sampler_sample(s, logits, 3, &id, &e));
	assert_int_equal(id, 1);
	mdl_sampler_free(s);

	/* bad parameters */
	mdl_sampler_params_default(&p);
	p.repeat_penalty = 0;
	TH_ST(mdl_sampler_new(&p, NULL, &s, &e), ST_INVAL);
	mdl_sampler_params_default(&p);
	p.temp = NAN;
	TH_ST(mdl_sampler_new(&p, NULL, &s, &e), ST_INVAL);
	mdl_sampler_params_default(&p);
	p.penalty_last_n = -1;
	TH_ST(mdl_sampler_new(&p, NULL, &s, &e), ST_INVAL);
}

struct filt {
	int calls;
	int32_t refuse_below;	/* refuses ids < this */
};

static int refuse_low(void *ctx, int32_t token, const char *piece, size_t len)
{
	struct filt *f = ctx;

	(void)piece;
	(void)len;
	f->calls++;
	return token >= f->refuse_below;
}

static void test_filter(void **state)
{
	float logits[5] = { 9.0f, 8.0f, 1.0f, 0.5f, 0.0f };
	struct mdl_sampler *s = make_sampler(0, 40, 0.95f, 0.05f, 1);
	struct filt f = { 0, 0 };
	struct err e = { 0 };
	int32_t id;
	(void)state;

	mdl_sampler_set_filter(s, refuse_low, &f);
	TH_OK(mdl_sampler_sample(s, logits, 5, &id, &e));
	assert_int_equal(id, 0);
	assert_int_equal(f.calls, 1);	/* accepted: checked once */
	f.calls = 0;
	f.refuse_below = 2;
	TH_OK(mdl_sampler_sample(s, logits, 5, &id, &e));
	assert_int_equal(id, 2);	/* next best the filter accepts */
	f.refuse_below = 99;
	TH_ST(mdl_sampler_sample(s, logits, 5, &id, &e), ST_DENIED);
	mdl_sampler_free(s);

	/* with sampling: refused tokens never come out */
	s = make_sampler(1.0f, 2, 1.0f, 0.0f, 5);
	f.refuse_below = 1;
	mdl_sampler_set_filter(s, refuse_low, &f);
	for (int i = 0; i < 100; i++) {
		TH_OK(mdl_sampler_sample(s, logits, 5, &id, &e));
		assert_true(id >= 1);
	}
	mdl_sampler_free(s);
}

/*
 * Edges of the fast paths (no penalties, a large vocabulary): a draw over
 * many live tokens follows the softmax (16 bins of logit values, 20000 seeded draws,
 * chi-square under 37.7, the 0.1% point for 15 degrees of freedom); greedy
 * takes the lowest id among equal maxima and skips NaN; a refused token
 * never comes out (greedy then gives the next best); every token refused is
 * ST_DENIED; a tiny temperature is the argmax.
 */
static int bin_of(float logit)
{
	int b = (int)(logit * 16 / 4.0f);

	return b < 0 ? 0 : b > 15 ? 15 : b;
}

static void test_fast_path_edges(void **state)
{
	enum { N = 5000, BINS = 16, DRAWS = 20000 };
	static float logits[N];
	double want[BINS] = { 0 }, z = 0, chi2 = 0;
	int count[BINS] = { 0 };
	uint64_t x = 777;
	struct filt f = { 0, 0 };
	struct err e = { 0 };
	struct mdl_sampler *s;
	int32_t id;
	(void)state;

	for (int i = 0; i < N; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		logits[i] = (float)((x >> 40) % 1000) / 250.0f;	/* 0 .. 4 */
	}
	for (int i = 0; i < N; i++) {
		double w = exp(((double)logits[i] - 4.0) / 0.7);
		want[bin_of(logits[i])] += w;
		z += w;
	}
	s = make_sampler(0.7f, 0, 1.0f, 0.0f, 31);
	for (int d = 0; d < DRAWS; d++) {
		TH_OK(mdl_sampler_sample(s, logits, N, &id, &e));
		assert_true(id >= 0 && id < N);
		count[bin_of(logits[id])]++;
	}
	mdl_sampler_free(s);
	for (int b = 0; b < BINS; b++) {
		double ex = DRAWS * want[b] / z;

		chi2 += (count[b] - ex) * (count[b] - ex) / ex;
	}
	if (chi2 >= 37.7)
		fail_msg("chi-square %.2f over 15 degrees of freedom", chi2);

	/* greedy: ties and NaN */
	for (int i = 0; i < N; i++)
		logits[i] = -5.0f;
	logits[0] = NAN;
	logits[3000] = 7.0f;
	logits[4000] = 7.0f;
	logits[10] = 6.0f;
	s = make_sampler(0, 0, 1.0f, 0.0f, 1);
	TH_OK(mdl_sampler_sample(s, logits, N, &id, &e));
	assert_int_equal(id, 3000);
	/* refused best: the next best the filter accepts */
	f.refuse_below = 3001;
	mdl_sampler_set_filter(s, refuse_low, &f);
	TH_OK(mdl_sampler_sample(s, logits, N, &id, &e));
	assert_int_equal(id, 4000);
	f.refuse_below = N;
	TH_ST(mdl_sampler_sample(s, logits, N, &id, &e), ST_DENIED);
	mdl_sampler_free(s);

	/* a draw never gives a refused token */
	logits[3000] = logits[4000] = 0.0f;
	logits[10] = 8.0f;	/* nearly all the mass, refused */
	s = make_sampler(1.0f, 0, 1.0f, 0.0f, 9);
	f.refuse_below = 11;
	mdl_sampler_set_filter(s, refuse_low, &f);
	for (int d = 0; d < 200; d++) {
		TH_OK(mdl_sampler_sample(s, logits, N, &id, &e));
		assert_true(id >= 11);
	}
	mdl_sampler_free(s);

	/* a tiny temperature is the argmax */
	s = make_sampler(1e-30f, 0, 1.0f, 0.0f, 3);
	TH_OK(mdl_sampler_sample(s, logits, N, &id, &e));
	assert_int_equal(id, 10);
	mdl_sampler_free(s);
}

/* ------------------------------------------------------------------ */
/* Stop strings                                                        */
/* ------------------------------------------------------------------ */

static void feed_all(struct mdl_stream *s, const char *const *pieces, size_t n,
		     struct buf *out, int *stopped)
{
	for (size_t i = 0; i < n; i++) {
		TH_OK(mdl_stream_feed(s, pieces[i], strlen(pieces[i]), out, stopped));
		if (*stopped)
			return;
	}
	TH_OK(mdl_stream_finish(s, out));
}

static void test_stream(void **state)
{
	const char *stops[] = { "</code>", "\n\n" };
	struct mdl_stream *s;
	struct buf out;
	struct err e = { 0 };
	int stopped = 0;
	(void)state;

	buf_init(&out, 0);
	/* stop split over three pieces; text before it is kept */
	{
		const char *p[] = { "int x;", " </c", "od", "e> more" };

		TH_OK(mdl_stream_new(stops, 2, &s, &e));
		TH_OK(mdl_stream_feed(s, p[0], strlen(p[0]), &out, &stopped));
		assert_string_equal(buf_cstr(&out), "int x;");
		TH_OK(mdl_stream_feed(s, p[1], strlen(p[1]), &out, &stopped));
		assert_string_equal(buf_cstr(&out), "int x; ");	/* "</c" held */
		feed_all(s, p + 2, 2, &out, &stopped);
		assert_true(stopped);
		assert_string_equal(buf_cstr(&out), "int x; ");
		mdl_stream_free(s);
	}
	/* a false start is released */
	{
		const char *p[] = { "a </co", "l>", "\n" };

		buf_reset(&out);
		stopped = 0;
		TH_OK(mdl_stream_new(stops, 2, &s, &e));
		feed_all(s, p, 3, &out, &stopped);
		assert_false(stopped);
		assert_string_equal(buf_cstr(&out), "a </col>\n");
		mdl_stream_free(s);
	}
	/* a UTF-8 character split over byte tokens is held until whole */
	{
		buf_reset(&out);
		TH_OK(mdl_stream_new(NULL, 0, &s, &e));
		TH_OK(mdl_stream_feed(s, "x\xE2", 2, &out, &stopped));
		assert_string_equal(buf_cstr(&out), "x");
		TH_OK(mdl_stream_feed(s, "\x82", 1, &out, &stopped));
		assert_string_equal(buf_cstr(&out), "x");
		TH_OK(mdl_stream_feed(s, "\xAC!", 2, &out, &stopped));
		assert_string_equal(buf_cstr(&out), "x\xE2\x82\xAC!");
		mdl_stream_free(s);
	}
	{
		const char *bad[] = { "" };

		TH_ST(mdl_stream_new(bad, 1, &s, &e), ST_INVAL);
	}
	buf_release(&out);
}

/* ------------------------------------------------------------------ */
/* FIM and chat                                                        */
/* ------------------------------------------------------------------ */

static struct mdl_vocab *load_shared(const char *rel)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_vocab *v = NULL;

	th_shared_path(rel, path, sizeof path);
	TH_OK(mdl_vocab_load(path, &v, &e));
	return v;
}

static void test_fim(void **state)
{
	struct mdl_vocab *v = load_shared("vocab/ggml-vocab-starcoder.gguf");
	struct mdl_fim_file files[] = { { "util.py", "def f():\n    pass\n", 18 },
					{ "b.py", "x = 1", 5 } };
	struct mdl_fim_input in = { .prefix = "def g():\n    return ", .prefix_len = 20,
				    .suffix = "\n", .suffix_len = 1, .repo = "proj",
				    .path = "main.py", .files = files, .n_files = 2 };
	struct mdl_tokens t;
	struct buf b;
	struct err e = { 0 };
	size_t i, pre = 0, suf = 0, mid = 0;
	(void)state;

	assert_true(mdl_vocab_has_fim(v));
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_FIM_PRE), 1);
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_FIM_MID), 2);
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_FIM_SUF), 3);
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_FIM_REP), 5);
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_FIM_SEP), 6);
	mdl_tokens_init(&t, 0);
	TH_OK(mdl_fim_prompt(v, &in, &t, &e));
	assert_int_equal(t.ids[0], 5);	/* <repo_name> first (no BOS in starcoder) */
	for (i = 0; i < t.len; i++) {
		if (t.ids[i] == 1)
			pre = i;
		if (t.ids[i] == 3)
			suf = i;
		if (t.ids[i] == 2)
			mid = i;
	}
	assert_true(pre > 0 && pre < suf && suf < mid && mid == t.len - 1);
	buf_init(&b, 0);
	TH_OK(mdl_detokenize(v, t.ids, t.len, MDL_DETOK_RENDER_SPECIAL | MDL_DETOK_NO_CLEANUP, &b, &e));
	assert_string_equal(buf_cstr(&b),
			    "<repo_name>proj\n<file_sep>util.py\ndef f():\n    pass\n"
			    "<file_sep>b.py\nx = 1\n<file_sep>main.py\n<fim_prefix>def g():\n    return <fim_suffix>\n<fim_middle>");
	buf_release(&b);
	mdl_tokens_release(&t);
	mdl_vocab_free(v);

	/* deepseek-coder: its own FIM tokens, BOS first */
	v = load_shared("vocab/ggml-vocab-deepseek-coder.gguf");
	assert_true(mdl_vocab_has_fim(v));
	mdl_tokens_init(&t, 0);
	memset(&in, 0, sizeof in);
	in.prefix = "a";
	in.prefix_len = 1;
	in.suffix = "b";
	in.suffix_len = 1;
	TH_OK(mdl_fim_prompt(v, &in, &t, &e));
	assert_int_equal(t.len, 6);
	assert_int_equal(t.ids[0], mdl_vocab_special(v, MDL_SPECIAL_BOS));
	assert_int_equal(t.ids[1], mdl_vocab_special(v, MDL_SPECIAL_FIM_PRE));
	assert_int_equal(t.ids[5], mdl_vocab_special(v, MDL_SPECIAL_FIM_MID));
	mdl_tokens_release(&t);
	mdl_vocab_free(v);

	/* a model without FIM tokens */
	v = load_shared("vocab/ggml-vocab-gpt-2.gguf");
	mdl_tokens_init(&t, 0);
	TH_ST(mdl_fim_prompt(v, &in, &t, &e), ST_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "no fill-in-the-middle tokens"));
	assert_int_equal(t.len, 0);
	mdl_tokens_release(&t);
	mdl_vocab_free(v);
}

static void test_chat(void **state)
{
	struct mdl_chat_msg msgs[] = { { "system", "Be brief." }, { "user", "Hi" },
				       { "assistant", "Hello." }, { "user", " Sort a list " } };
	struct mdl_vocab *v;
	enum mdl_chat_template t;
	struct buf b;
	struct err e = { 0 };
	(void)state;

	buf_init(&b, 0);
	TH_OK(mdl_chat_render(MDL_CHAT_CHATML, msgs, 4, 1, &b, &e));
	assert_string_equal(buf_cstr(&b),
			    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
			    "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n Sort a list <|im_end|>\n"
			    "<|im_start|>assistant\n");
	buf_reset(&b);
	TH_OK(mdl_chat_render(MDL_CHAT_LLAMA3, msgs + 1, 1, 1, &b, &e));
	assert_string_equal(buf_cstr(&b),
			    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
			    "<|start_header_id|>assistant<|end_header_id|>\n\n");
	buf_reset(&b);
	TH_OK(mdl_chat_render(MDL_CHAT_DEEPSEEK, msgs, 2, 1, &b, &e));
	assert_string_equal(buf_cstr(&b), "Be brief.### Instruction:\nHi\n### Response:\n");
	buf_reset(&b);
	TH_OK(mdl_chat_render(MDL_CHAT_MISTRAL_V3, msgs + 1, 3, 0, &b, &e));
	assert_string_equal(buf_cstr(&b), "[INST] Hi[/INST] Hello.</s>[INST]  Sort a list [/INST]");
	buf_reset(&b);
	TH_OK(mdl_chat_render(MDL_CHAT_LLAMA2, msgs, 3, 0, &b, &e));
	assert_string_equal(buf_cstr(&b), "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello.</s>");
	{
		struct mdl_chat_msg bad = { "tool", "x" };

		TH_ST(mdl_chat_render(MDL_CHAT_CHATML, &bad, 1, 0, &b, &e), ST_INVAL);
	}
	TH_OK(mdl_chat_template_parse("llama3", &t));
	assert_int_equal(t, MDL_CHAT_LLAMA3);
	TH_ST(mdl_chat_template_parse("jinja", &t), ST_NOTFOUND);
	assert_string_equal(mdl_chat_template_name(MDL_CHAT_CHATML), "chatml");
	buf_release(&b);

	v = load_shared("vocab/ggml-vocab-qwen2.gguf");
	TH_OK(mdl_chat_detect(v, &t, &e));
	assert_int_equal(t, MDL_CHAT_CHATML);
	mdl_vocab_free(v);
	v = load_shared("vocab/ggml-vocab-phi-3.gguf");
	TH_OK(mdl_chat_detect(v, &t, &e));
	assert_int_equal(t, MDL_CHAT_PHI3);
	mdl_vocab_free(v);
	v = load_shared("vocab/ggml-vocab-llama-bpe.gguf");	/* no template: by its tokens */
	TH_OK(mdl_chat_detect(v, &t, &e));
	assert_int_equal(t, MDL_CHAT_LLAMA3);
	mdl_vocab_free(v);
	v = load_shared("vocab/ggml-vocab-gpt-2.gguf");
	TH_ST(mdl_chat_detect(v, &t, &e), ST_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "no chat template"));
	mdl_vocab_free(v);
}

/* An unknown Jinja template is named in the error. */
static void test_chat_unknown(void **state)
{
	static const char *toks[] = { "<unk>", "<s>", "</s>" };
	struct mdl_vocab_spec s;
	struct mdl_vocab *v = NULL;
	enum mdl_chat_template t;
	struct err e = { 0 };
	(void)state;

	mdl_vocab_spec_init(&s);
	s.model = "llama";
	s.tokens = toks;
	s.n_tokens = 3;
	s.chat_template = "{% for m in messages %}<<{{ m.role }}>> {{ m.content }}{% endfor %}";
	TH_OK(mdl_vocab_new(&s, &v, &e));
	TH_ST(mdl_chat_detect(v, &t, &e), ST_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "'{% for m in messages %}<<{{ m.role }}>>"));
	mdl_vocab_free(v);
}

int run_tokenizer_sample_tests(void);
int run_tokenizer_sample_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greedy),
		cmocka_unit_test(test_seeded),
		cmocka_unit_test(test_large_vocab),
		cmocka_unit_test(test_fast_path),
		cmocka_unit_test(test_penalties),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_fast_path_edges),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_fim),
		cmocka_unit_test(test_chat),
		cmocka_unit_test(test_chat_unknown),
	};
	return cmocka_run_group_tests_name("sampling and prompts", tests, NULL, NULL);
}
