/*
 * test_forward.c - the forward pass against independent references:
 * stories260K (a real trained tiny llama) must decode greedily exactly the
 * tokens llama.cpp recorded; synthetic models of both architectures and
 * every tensor type must give llama.cpp's logits (fixtures in
 * tests/data/model/, see the README there).
 */
#include "harness.h"
#include "model/model.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "model/quant.h"

static const int32_t stories_prompt[] = { 1, 403, 407, 261, 378 };
static const int32_t stories_greedy[64] = {
	432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
	410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394,
	261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432,
	398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438, 310, 439, 419, 357, 336,
};
/*
 * First-step top-5 (id, logit): readme from the model's README, which is
 * what llama.cpp computes with an f16 KV cache and flash attention;
 * f32kv and f16kv from llama.cpp c392e50 on this machine with an f32 and
 * an f16 KV cache, flash attention off (tests/data/model/README.md).
 */
static const struct { int id; float readme, f32kv, f16kv; } stories_top5[] = {
	{ 432, 17.797937f, 17.799397f, 17.798918f },
	{ 383, 14.282414f, 14.281260f, 14.282507f },
	{ 322, 9.710258f, 9.709650f, 9.709796f },
	{ 353, 9.586237f, 9.587288f, 9.586158f },
	{ 323, 9.138144f, 9.134243f, 9.135534f },
};

static int argmax(const float *v, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

static void test_stories_greedy(void **state)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_model *m;
	struct mdl_ctx *c;
	(void)state;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(mdl_model_load(path, &m, &e));
	assert_int_equal(mdl_model_n_vocab(m), 512);
	TH_OK(mdl_ctx_new(m, 128, 2, &c, &e));
	float *logits = mem_alloc(512 * sizeof(float));
	assert_non_null(logits);

	TH_OK(mdl_eval(c, stories_prompt, 5, 0, logits, 0, &e));
	assert_int_equal(argmax(logits, 512), 432);
	for (size_t i = 0; i < 5; i++) {
		/* Same cache and attention: agreement to 1e-4. The README's
		 * run (f16 cache, flash attention) differs by < 5e-3. */
		assert_float_equal(logits[stories_top5[i].id], stories_top5[i].f32kv, 1e-4);
		assert_float_equal(logits[stories_top5[i].id], stories_top5[i].readme, 5e-3);
	}
	int pos = 5;
	for (int i = 0; i < 64; i++) {
		int32_t next = argmax(logits, 512);
		if (next != stories_greedy[i])
			fail_msg("greedy token %d: got %d, want %d", i, next, stories_greedy[i]);
		TH_OK(mdl_eval(c, &next, 1, pos++, logits, 0, &e));
	}
	mem_free(logits);
	mdl_ctx_free(c);
	mdl_model_free(m);
}

/*
 * With an f16 KV cache the first-step logits are llama.cpp's with its f16
 * cache to 1e-4 (and the README's, computed with flash attention, to
 * 5e-3); the greedy continuation is the same.
 */
static void test_stories_f16_cache(void **state)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_model *m;
	struct mdl_ctx *c;
	(void)state;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(mdl_model_load(path, &m, &e));
	struct mdl_ctx_params cp = { .n_ctx = 80, .n_threads = 2, .kv_f16 = 1 };
	TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
	float *logits = mem_alloc(512 * sizeof(float));
	assert_non_null(logits);
	TH_OK(mdl_eval(c, stories_prompt, 5, 0, logits, 0, &e));
	for (size_t i = 0; i < 5; i++) {
		assert_float_equal(logits[stories_top5[i].id], stories_top5[i].f16kv, 1e-4);
		assert_float_equal(logits[stories_top5[i].id], stories_top5[i].readme, 5e-3);
	}
	int pos = 5;
	for (int i = 0; i < 64; i++) {
		int32_t next = argmax(logits, 512);
		if (next != stories_greedy[i])
			fail_msg("greedy token %d: got %d, want %d", i, next, stories_greedy[i]);
		TH_OK(mdl_eval(c, &next, 1, pos++, logits, 0, &e));
	}
	mem_free(logits);
	mdl_ctx_free(c);
	mdl_model_free(m);
}

/*
 * f16 cache and one-pass attention with an f16 accumulator, as llama.cpp
 * with flash attention: the README's logits to 1e-4, and its greedy ids.
 */
static void test_stories_flash_f16(void **state)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_model *m;
	struct mdl_ctx *c;
	(void)state;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(mdl_model_load(path, &m, &e));
	struct mdl_ctx_params cp = { .n_ctx = 80, .n_threads = 2, .kv_f16 = 1, .flash = 1 };
	TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
	float *logits = mem_alloc(512 * sizeof(float));
	assert_non_null(logits);
	TH_OK(mdl_eval(c, stories_prompt, 5, 0, logits, 0, &e));
	for (size_t i = 0; i < 5; i++)
		assert_float_equal(logits[stories_top5[i].id], stories_top5[i].readme, 1e-4);
	int pos = 5;
	for (int i = 0; i < 64; i++) {
		int32_t next = argmax(logits, 512);
		if (next != stories_greedy[i])
			fail_msg("greedy token %d: got %d, want %d", i, next, stories_greedy[i]);
		TH_OK(mdl_eval(c, &next, 1, pos++, logits, 0, &e));
	}
	mdl_ctx_free(c);

	/* With an f32 cache, one-pass attention is the two-pass one up to
	 * float rounding. */
	struct mdl_ctx_params c32 = { .n_ctx = 80, .n_threads = 1, .flash = 1 };
	TH_OK(mdl_ctx_new_params(m, &c32, &c, &e));
	TH_OK(mdl_eval(c, stories_prompt, 5, 0, logits, 0, &e));
	for (size_t i = 0; i < 5; i++)
		assert_float_equal(logits[stories_top5[i].id], stories_top5[i].f32kv, 1e-4);
	mem_free(logits);
	mdl_ctx_free(c);
	mdl_model_free(m);
}

/* Evaluates toks[0..n) alone in a fresh one-sequence context; returns
 * the last token's logits in out (512 floats). */
static void eval_alone(struct mdl_model *m, const int32_t *toks, int n, float *out)
{
	struct err e = { 0 };
	struct mdl_ctx *c;
	TH_OK(mdl_ctx_new(m, 64, 1, &c, &e));
	TH_OK(mdl_eval(c, toks, n, 0, out, 0, &e));
	mdl_ctx_free(c);
}

static void assert_close(const float *a, const float *b, int n, float tol, const char *what)
{
	for (int i = 0; i < n; i++)
		if (!(fabsf(a[i] - b[i]) <= tol))
			fail_msg("%s: logit %d: %g vs %g", what, i, a[i], b[i]);
}

/*
 * Several sequences in one batch give each the logits it gets alone;
 * a copied prefix continues like the original; bad batches are refused
 * without changing anything.
 */
static void test_stories_multi_sequence(void **state)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_model *m;
	struct mdl_ctx *c;
	(void)state;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(mdl_model_load(path, &m, &e));
	struct mdl_ctx_params cp = { .n_ctx = 64, .n_threads = 2, .n_seq = 3, .n_batch = 4 };
	TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
	assert_int_equal(mdl_ctx_n_seq(c), 3);

	/* Sequence 0: the stories prompt; sequence 1: another one. Interleaved,
	 * and longer than one internal batch (4). */
	static const int32_t a[6] = { 1, 403, 407, 261, 378, 432 };
	static const int32_t b[5] = { 1, 411, 322, 265, 282 };
	int32_t tok[9], seq[9], pos[9];
	int8_t want[9] = { 0 };
	int na = 0, nb = 0;
	for (int i = 0; i < 9; i++) {
		int use_a = (i % 2 == 0 && na < 5) || nb == 4;
		tok[i] = use_a ? a[na] : b[nb];
		seq[i] = use_a ? 0 : 1;
		pos[i] = use_a ? na++ : nb++;
	}
	want[7] = want[8] = 1;	/* the last token of each */
	struct mdl_batch bt = { .n = 9, .token = tok, .seq = seq, .pos = pos, .logits = want };
	float got[2 * 512], ref[512];
	TH_OK(mdl_eval_batch(c, &bt, got, &e));
	assert_int_equal(mdl_ctx_seq_len(c, 0), 5);
	assert_int_equal(mdl_ctx_seq_len(c, 1), 4);
	int first_a = seq[7] == 0 ? 0 : 1;
	eval_alone(m, a, 5, ref);
	assert_close(got + first_a * 512, ref, 512, 1e-4f, "sequence 0 prompt");
	eval_alone(m, b, 4, ref);
	assert_close(got + (1 - first_a) * 512, ref, 512, 1e-4f, "sequence 1 prompt");

	/* One decode step of both at once. */
	int32_t t2[2] = { a[5], b[4] }, s2[2] = { 0, 1 }, p2[2] = { 5, 4 };
	int8_t w2[2] = { 1, 1 };
	struct mdl_batch step = { .n = 2, .token = t2, .seq = s2, .pos = p2, .logits = w2 };
	TH_OK(mdl_eval_batch(c, &step, got, &e));
	eval_alone(m, a, 6, ref);
	assert_close(got, ref, 512, 1e-4f, "sequence 0 step");
	eval_alone(m, b, 5, ref);
	assert_close(got + 512, ref, 512, 1e-4f, "sequence 1 step");

	/* Prefix reuse: sequence 2 takes sequence 0's first 5 positions. */
	TH_OK(mdl_ctx_seq_copy(c, 0, 2, 5, &e));
	int32_t s3 = 2, p3 = 5;
	int8_t w3 = 1;
	struct mdl_batch cont = { .n = 1, .token = &a[5], .seq = &s3, .pos = &p3, .logits = &w3 };
	TH_OK(mdl_eval_batch(c, &cont, got, &e));
	eval_alone(m, a, 6, ref);
	assert_close(got, ref, 512, 1e-4f, "copied prefix");

	/* Refused: a gap, a repeat, a sequence out of range, a copy too long. */
	int32_t gp = 9;
	struct mdl_batch gap = { .n = 1, .token = &a[0], .seq = &s3, .pos = &gp, .logits = &w3 };
	TH_ST(mdl_eval_batch(c, &gap, got, &e), ST_INVAL);
	assert_non_null(strstr(e.msg, "position 9 of sequence 2 at index 0"));
	int32_t rs[2] = { 1, 1 }, rp[2] = { 5, 5 };
	struct mdl_batch rep = { .n = 2, .token = t2, .seq = rs, .pos = rp, .logits = w2 };
	TH_ST(mdl_eval_batch(c, &rep, got, &e), ST_INVAL);
	assert_int_equal(mdl_ctx_seq_len(c, 1), 5);	/* unchanged */
	int32_t bad_seq = 3;
	struct mdl_batch oob = { .n = 1, .token = &a[0], .seq = &bad_seq, .pos = &p3, .logits = &w3 };
	TH_ST(mdl_eval_batch(c, &oob, got, &e), ST_INVAL);
	TH_ST(mdl_ctx_seq_copy(c, 1, 2, 6, &e), ST_INVAL);
	TH_OK(mdl_ctx_seq_keep(c, 1, 2, &e));
	assert_int_equal(mdl_ctx_seq_len(c, 1), 2);
	mdl_ctx_free(c);
	mdl_model_free(m);
}

/*
 * A q8_0 cache: refused for a head size that is not a multiple of 32
 * (stories260K's is 8); on a synthetic model with heads of 64, a prefix
 * copied to another sequence continues exactly as the original (the
 * copy moves whole q8_0 blocks at the right byte offsets), and the cache
 * changes the logits a little against an f32 one, as quantising K and V
 * to 8 bits must.
 */
static void test_kv_q8_cache(void **state)
{
	char vocab[1024], model[1024];
	struct err e = { 0 };
	struct mdl_model *m;
	struct mdl_ctx *c;
	(void)state;
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	TH_OK(mdl_model_load(vocab, &m, &e));
	struct mdl_ctx_params bad = { .n_ctx = 16, .n_threads = 1, .kv_q8 = 1 };
	TH_ST(mdl_ctx_new_params(m, &bad, &c, &e), ST_INVAL);
	assert_non_null(strstr(e.msg, "multiple of 32 (this model's is 8)"));
	mdl_model_free(m);

	const char *dir = th_tmpdir();
	struct mdl_synth_params p = {
		.arch = "qwen2", .n_layer = 2, .n_embd = 256, .n_head = 4, .n_head_kv = 2,
		.n_ff = 512, .type = (uint32_t)mdl_type_from_name("f32"), .seed = 3,
		.vocab_from = vocab, .tied_output = 1,
	};
	snprintf(model, sizeof model, "%s/kvq8.gguf", dir);
	TH_OK(mdl_synth_write(&p, model, &e));
	TH_OK(mdl_model_load(model, &m, &e));
	struct mdl_ctx_params cp = { .n_ctx = 32, .n_threads = 2, .n_seq = 3, .kv_q8 = 1 };
	TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
	static const int32_t a[7] = { 1, 403, 407, 261, 378, 432, 383 };
	float orig[512], copy[512], f32[512];
	TH_OK(mdl_eval(c, a, 7, 0, orig, 0, &e));	/* sequence 0 */
	/* sequence 2 gets the first 6 positions, then the 7th token */
	TH_OK(mdl_ctx_seq_copy(c, 0, 2, 6, &e));
	int32_t s2 = 2, p6 = 6;
	int8_t w = 1;
	struct mdl_batch one = { .n = 1, .token = &a[6], .seq = &s2, .pos = &p6, .logits = &w };
	TH_OK(mdl_eval_batch(c, &one, copy, &e));
	for (int v = 0; v < 512; v++)
		if (memcmp(&orig[v], &copy[v], sizeof(float)))
			fail_msg("copied q8_0 prefix: logit %d %.9g, original %.9g", v, copy[v], orig[v]);
	mdl_ctx_free(c);
	struct mdl_ctx_params cf = { .n_ctx = 32, .n_threads = 2 };
	TH_OK(mdl_ctx_new_params(m, &cf, &c, &e));
	TH_OK(mdl_eval(c, a, 7, 0, f32, 0, &e));
	double diff = 0;
	for (int v = 0; v < 512; v++)
		diff = fmax(diff, fabs((double)f32[v] - orig[v]));
	print_message("q8_0 against f32 cache: max |dlogit| %.3g\n", diff);
	if (!(diff > 0 && diff < 0.05))
		fail_msg("q8_0 cache against f32: max |dlogit| %g, want in (0, 0.05)", diff);
	mdl_ctx_free(c);
	mdl_model_free(m);
	unlink(model);
	th_tmpdir_cleanup();
}

/* Batched evaluation gives the same logits as token-by-token evaluation. */
static void test_stories_batch_equals_stepwise(void **state)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_model *m;
	struct mdl_ctx *c;
	(void)state;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(mdl_model_load(path, &m, &e));
	struct mdl_ctx_params cp = { .n_ctx = 128, .n_threads = 1, .n_batch = 32 };
	TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
	enum { N = 69 };	/* three internal batches of up to 32 */
	int32_t toks[N];
	for (int i = 0; i < N; i++)
		toks[i] = i < 5 ? stories_prompt[i] : stories_greedy[i - 5];
	float *all = mem_alloc((size_t)N * 512 * sizeof(float));
	float *one = mem_alloc(512 * sizeof(float));
	assert_non_null(all);
	assert_non_null(one);
	TH_OK(mdl_eval(c, toks, N, 0, all, 1, &e));
	for (int i = 0; i < N; i++) {
		TH_OK(mdl_eval(c, &toks[i], 1, i, one, 0, &e));
		for (int v = 0; v < 512; v++)
			if (fabsf(one[v] - all[(size_t)i * 512 + v]) > 1e-4f)
				fail_msg("pos %d vocab %d: stepwise %g, batched %g", i, v,
					 one[v], all[(size_t)i * 512 + v]);
	}
	/* Out-of-range inputs are refused. */
	int32_t bad = 512;
	TH_ST(mdl_eval(c, &bad, 1, 0, one, 0, &e), ST_INVAL);
	TH_ST(mdl_eval(c, toks, 1, 128, one, 0, &e), ST_INVAL);
	mem_free(all);
	mem_free(one);
	mdl_ctx_free(c);
	mdl_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Synthetic models against llama.cpp                                  */
/* ------------------------------------------------------------------ */

/* The teacher-forced sequence (64 ids of the stories260K vocabulary). */
static const int32_t ref_tokens[64] = {
	1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
	338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426,
	385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266,
	267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438,
};

/*
 * One fixture: the synth parameters (2 layers, dim 256, 4 heads, 2 KV
 * heads, ffn 512, vocabulary of stories260K), the SHA-256 of the file
 * they give (so a change of the generator is reported as such, not as a
 * logits mismatch), and llama.cpp's logits for ref_tokens on that file.
 */
struct ref_case {
	const char *arch, *type;
	int seed, untied;
	const char *fixture;	/* under tests/data/model/ */
	const char *sha256;
	double rope_base, rope_scale;	/* 0: defaults */
	int rope_freqs;
	int kv_f16;		/* f16 KV cache here and in llama.cpp */
	int biases;		/* synth --biases */
	int dim, heads, kv_heads, ffn;	/* 0: 256, 4, 2, 512 */
	int flash;		/* one-pass attention here, flash_attn in llama.cpp */
	int kv_q8;		/* q8_0 KV cache here and in llama.cpp (which needs
				 * flash_attn for it) */
};

static const struct ref_case ref_cases[] = {
	{ "llama", "f32", 42, 0, "llama-f32.logits",
	  "047530ec569a5978b9a9a4b9b939777c6efad05e0bbe5e529426c0a31fefdf81", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "f16", 42, 0, "llama-f16.logits",
	  "38c0eeae23743aa5b33bcb3c4bc82a88452fa197d529107131262a9ed2698ee7", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "bf16", 42, 0, "llama-bf16.logits",
	  "75bb34f4c9e58c253eda4187d7e48aeae11a7ef8f366b6b9e5c50399e0144a76", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q8_0", 42, 0, "llama-q8_0.logits",
	  "7b4bac71f72b6a19ee7b1134a21638a9091b809d69479e1e4b71656734eb9901", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q4_0", 42, 0, "llama-q4_0.logits",
	  "cd135e5e74349b547650ac5337e32bd77c9b30a89fb596294644ebfe6040450f", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q4_1", 42, 0, "llama-q4_1.logits",
	  "39ac02f52ec1bcabe6524bbb3128617355fb52b934d33d8a9d5cf84793446801", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q5_0", 42, 0, "llama-q5_0.logits",
	  "aa63c6abf7d9ef7e3e11c72282ca3ec8633047ae871e9a89eae1152d9775f971", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q5_1", 42, 0, "llama-q5_1.logits",
	  "a31e5a72f6af813ce936e44d456c947ac946f6332140f2a7ad58098204b357ac", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q4_K", 42, 0, "llama-q4_K.logits",
	  "ab574b384d0af1d0fbf6359355956b0a802bcc0c1551b04f462246aef39f70f1", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q5_K", 42, 0, "llama-q5_K.logits",
	  "086f50200045a9e84f06c9a194b643d636591add38486f888d52cab6a8f25dd1", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "q6_K", 42, 0, "llama-q6_K.logits",
	  "573aa32fcbd5fcd050f18f493f18cba4243b4b7eb4604a33f2dfcad380e75ec5", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "f32", 42, 0, "qwen2-f32.logits",
	  "3a9f8ed5fdbc52e30ab49e0d6fb83e95b26deabb27ea2bb025a1e0a0e4c306bb", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "f16", 42, 0, "qwen2-f16.logits",
	  "f4ac37de1815f40b66c010c095c03a7283d1a1c1e8b3196a53973dd4e6fa4520", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "bf16", 42, 0, "qwen2-bf16.logits",
	  "1bc21a31173945e671cfc824c5c1984a8527526fbac24bcb39b6aee6ebf22205", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q8_0", 42, 0, "qwen2-q8_0.logits",
	  "e7bd3ce2ca461c4280bf96c1c76f6ed11c42aa97de78cec793c5b11af4f1e38d", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q4_0", 42, 0, "qwen2-q4_0.logits",
	  "5de088c0fb7a2bff138adbe6cdcf3b9fc4dbdbe5f0a14eec4a590d1ef2293358", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q4_1", 42, 0, "qwen2-q4_1.logits",
	  "fb8b54f789f92e991bc3ca01f39c0f59cf30d22109e0c02a284e22b8369e8115", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q5_0", 42, 0, "qwen2-q5_0.logits",
	  "d595937d81ce5c1c3251af8281be85466c0de5aa57925209f5fdfb943fa8799e", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q5_1", 42, 0, "qwen2-q5_1.logits",
	  "88622c88c6d0086e599fa25d6fec9563b009b2a51c822e979ca77736c10c6e55", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q4_K", 42, 0, "qwen2-q4_K.logits",
	  "6896af7a87ca0498e0eb36a981a83ea204d7d51449dc040f87e9a7961074f070", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q5_K", 42, 0, "qwen2-q5_K.logits",
	  "f53415fc6147d4a1896c3649cd7f4b56714d201b71632f3a433fe7cd5a202add", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q6_K", 42, 0, "qwen2-q6_K.logits",
	  "d57877f1dda5efb1e1f518291a4090c36364bb7cc3c86efd5c233f354fee9476", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "f16", 7, 1, "qwen2-untied-f16.logits",
	  "e10df4f3aa2a5e12d2495a2beef942fab62505e151e2904a26a6982d6f4a468d", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "f32", 5, 0, "llama-rope-f32.logits",
	  "247ba7307109051c7bb8d06a65dde826cc302724a684f4e7199a97026c842b47", 500000, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "f32", 5, 0, "qwen2-rope-f32.logits",
	  "1a7faa658f45ff4d228910ff7003d6f50204834bf1b4fe831354defaf346efa7", 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "f32", 42, 0, "llama-f32-kvf16.logits",
	  "047530ec569a5978b9a9a4b9b939777c6efad05e0bbe5e529426c0a31fefdf81", 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "f32", 42, 0, "qwen2-f32-kvf16.logits",
	  "3a9f8ed5fdbc52e30ab49e0d6fb83e95b26deabb27ea2bb025a1e0a0e4c306bb", 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 },
	{ "llama", "f32", 9, 0, "llama-bias-f32.logits",
	  "50323cf80108e01c8c14b250a42d9c2ce1c0fec421cff1cc814d9feabdedd9e0", 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
	{ "qwen2", "q8_0", 11, 0, "qwen2-gqa7-q8_0.logits",
	  "46d576dee611a77b0d26df98b1560a4a3550533b4fe654bde859d4b7233c0da6", 0, 0, 0, 0, 0,
	  448, 7, 1, 1216, 0, 0 },
	{ "llama", "f16", 12, 0, "llama-hd128-f16.logits",
	  "47e5a536662dce6fdc664080b98119646900b9c77a0663434f85bd38ae582849", 0, 0, 0, 0, 0,
	  256, 2, 1, 768, 0, 0 },
	{ "qwen2", "f32", 42, 0, "qwen2-f32-flash.logits",
	  "3a9f8ed5fdbc52e30ab49e0d6fb83e95b26deabb27ea2bb025a1e0a0e4c306bb", 0, 0, 0, 1, 0,
	  0, 0, 0, 0, 1, 0 },
	{ "qwen2", "f32", 42, 0, "qwen2-f32-kvq8.logits",
	  "3a9f8ed5fdbc52e30ab49e0d6fb83e95b26deabb27ea2bb025a1e0a0e4c306bb", 0, 0, 0, 0, 0,
	  0, 0, 0, 0, 1, 1 },
	{ "llama", "f16", 12, 0, "llama-hd128-f16-kvq8.logits",
	  "47e5a536662dce6fdc664080b98119646900b9c77a0663434f85bd38ae582849", 0, 0, 0, 0, 0,
	  256, 2, 1, 768, 1, 1 },
	{ "qwen2", "q8_0", 11, 0, "qwen2-gqa7-q8_0-kvq8.logits",
	  "46d576dee611a77b0d26df98b1560a4a3550533b4fe654bde859d4b7233c0da6", 0, 0, 0, 0, 0,
	  448, 7, 1, 1216, 1, 1 },
};

/*
 * Bounds. Float types (f32, f16, bf16): max |a - b| / max(1, max |ref|)
 * <= 1e-3 over all logits, and f32 with an f32 cache <= 1e-5 (seen:
 * 2e-7), tight enough that leaving out RoPE frequency factors (7e-4)
 * would fail; f32 with f16 caches on both sides: seen 7e-6. Seen
 * for f16 8e-4 and bf16 4e-3 absolute on logits up to 13 (<= 4e-4
 * relative): one engine's rounding of an activation to 16 bits sometimes
 * falls on the other side of the other's. With q8_0 caches on both sides
 * (both quantise K and V rows and the queries alike): seen 1.9e-5 for f32
 * and 1.2e-4 for f16 weights, where an f32 cache here against the same
 * llama.cpp logits gives 4.5e-4 and 8.1e-4, so KVQ8_MAX_REL tells a q8_0
 * cache from none.
 *
 * Quantised types: both engines read the same quantised weights and
 * quantise activations the same way (q8_0 / q8_1 / q8_K), so they must
 * agree on the argmax at >= 99 % of positions (all 64 here) and every
 * logit must be within QUANT_MAX_DIFF of llama.cpp's. Differences are not
 * zero because float sums in another order occasionally move an
 * activation across a rounding boundary of its 8-bit quantisation; the
 * largest seen is 0.024 (logits up to 13), so the bound is 0.05.
 */
#define FLOAT_MAX_REL 1e-3
#define F32_MAX_REL 1e-5
#define KVQ8_MAX_REL 3e-4
#define QUANT_MAX_DIFF 0.05

/* no_repack: q4_0 weights computed as in the file rather than repacked
 * into groups of 8 rows (the default; then some must have been). */
static void check_case(const struct ref_case *rc, const char *dir, int no_repack)
{
	char model[1024], fx[1024];
	struct err e = { 0 };
	snprintf(fx, sizeof fx, "tests/data/model/%s", rc->fixture);
	char *ref;
	size_t ref_len;
	TH_OK(file_read_all(fx, 1 << 20, &ref, &ref_len, &e));
	assert_int_equal(ref_len, 64 * 512 * sizeof(float));

	char vocab[1024];
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	struct mdl_synth_params p = {
		.arch = rc->arch, .n_layer = 2, .n_embd = rc->dim ? rc->dim : 256,
		.n_head = rc->heads ? rc->heads : 4, .n_head_kv = rc->kv_heads ? rc->kv_heads : 2,
		.n_ff = rc->ffn ? rc->ffn : 512, .type = (uint32_t)mdl_type_from_name(rc->type),
		.seed = (uint64_t)rc->seed,
		.vocab_from = vocab, .tied_output = !strcmp(rc->arch, "qwen2") && !rc->untied,
		.rope_base = rc->rope_base, .rope_scale = rc->rope_scale, .rope_freqs = rc->rope_freqs,
		.biases = rc->biases,
	};
	snprintf(model, sizeof model, "%s/%s-%s.gguf", dir, rc->arch, rc->type);
	TH_OK(mdl_synth_write(&p, model, &e));
	uint8_t h[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	TH_OK(sha256_file(model, h, &e));
	if (strcmp(hex_encode(h, sizeof h, hex), rc->sha256))
		fail_msg("%s: synth wrote different bytes (sha256 %s, fixture made from %s): "
			 "regenerate the fixtures (tests/data/model/README.md)", rc->fixture, hex, rc->sha256);

	struct mdl_model *m;
	struct mdl_ctx *c;
	struct mdl_load_params lp = { .no_repack = no_repack };
	TH_OK(mdl_model_load_params(model, &lp, &m, &e));
	if (!strcmp(rc->type, "q4_0"))
		assert_int_equal(mdl_model_n_repacked(m) > 0, !no_repack);
	else
		assert_int_equal(mdl_model_n_repacked(m), 0);
	struct mdl_ctx_params cp = { .n_ctx = 64, .n_threads = 2, .kv_f16 = rc->kv_f16,
				     .flash = rc->flash, .kv_q8 = rc->kv_q8 };
	TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
	float *lg = mem_alloc(64 * 512 * sizeof(float));
	assert_non_null(lg);
	TH_OK(mdl_eval(c, ref_tokens, 64, 0, lg, 1, &e));
	const float *rf = (const float *)(const void *)ref;
	double max_diff = 0, max_ref = 0;
	int agree = 0;
	for (int t = 0; t < 64; t++) {
		const float *a = lg + t * 512, *b = rf + t * 512;
		agree += argmax(a, 512) == argmax(b, 512);
		for (int v = 0; v < 512; v++) {
			double d = fabs((double)a[v] - b[v]);
			if (!(d <= max_diff))	/* also catches NaN */
				max_diff = isnan(d) ? INFINITY : d;
			if (fabs(b[v]) > max_ref)
				max_ref = fabs(b[v]);
		}
	}
	int is_float = !strcmp(rc->type, "f32") || !strcmp(rc->type, "f16") ||
		       !strcmp(rc->type, "bf16");
	double rel = max_diff / (max_ref > 1 ? max_ref : 1);
	print_message("%-24s%s%s top-1 %2d/64  max|d| %.3g  rel %.3g\n", rc->fixture,
		      no_repack ? " (no repack)" : "", rc->kv_q8 && !rc->flash ? " (two-pass)" : "",
		      agree, max_diff, rel);
	double bound = rc->kv_q8 ? KVQ8_MAX_REL
		       : !strcmp(rc->type, "f32") && !rc->kv_f16 ? F32_MAX_REL : FLOAT_MAX_REL;
	if (is_float && !(rel <= bound))
		fail_msg("%s: max relative error %g > %g", rc->fixture, rel, bound);
	if (agree * 100 < 99 * 64)
		fail_msg("%s: top-1 agrees at %d of 64 positions", rc->fixture, agree);
	if (!is_float && !(max_diff <= QUANT_MAX_DIFF))
		fail_msg("%s: max |dlogit| %g > %g", rc->fixture, max_diff, QUANT_MAX_DIFF);
	mem_free(lg);
	mem_free(ref);
	mdl_ctx_free(c);
	mdl_model_free(m);
	unlink(model);
}

/* Every fixture against llama.cpp's logits, with the kernels of each
 * dispatch level the CPU has forced in turn (scalar, AVX2, AVX-512). */
static void test_llamacpp_logits(void **state)
{
	(void)state;
	char probe[1024];
	th_shared_path("models/stories260K.gguf", probe, sizeof probe);
	if (access("tests/data/model/README.md", R_OK) != 0) {
		print_message("tests/data/model not found (run from the project root); skipping\n");
		skip();
	}
	const char *dir = th_tmpdir();
	/* every dispatch level this CPU has, the best last (left in use) */
	for (int lvl = MDL_LEVEL_SCALAR; lvl <= (int)mdl_quant_level_max(); lvl++) {
		assert_int_equal(mdl_quant_force_level((enum mdl_level)lvl), lvl);
		print_message("kernels: %s\n", mdl_level_name((enum mdl_level)lvl));
		for (size_t i = 0; i < sizeof ref_cases / sizeof ref_cases[0]; i++) {
			check_case(&ref_cases[i], dir, 0);
			if (!strcmp(ref_cases[i].type, "q4_0"))
				check_case(&ref_cases[i], dir, 1);
			if (ref_cases[i].kv_q8) {
				/* llama.cpp reads a q8_0 cache only in one pass; the
				 * two-pass attention over it must agree as closely */
				struct ref_case two = ref_cases[i];
				two.flash = 0;
				check_case(&two, dir, 0);
			}
		}
	}
	th_tmpdir_cleanup();
}

/*
 * Grouped-query attention (7 query heads per KV head) on a synthetic
 * model: 1, 2 and 3 threads give bit-identical logits, and so do the
 * whole sequence in one batch and token by token, for f32, f16 and q8_0 caches,
 * two-pass and one-pass attention. Threads change how attention items
 * are cut (a group in parts when there are fewer KV heads than threads)
 * and which thread runs which rows; neither may change a result. Once
 * with q8_0 weights, once with q4_0 (repacked into groups of 8 rows at
 * load: the decode and tiled kernels of that layout).
 */
static void test_threads_and_batching_exact(void **state)
{
	(void)state;
	char vocab[1024], model[1024];
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	const char *dir = th_tmpdir();
	static const char *const types[] = { "q8_0", "q4_0" };
	for (int ti = 0; ti < 2; ti++) {
		struct mdl_synth_params p = {
			.arch = "qwen2", .n_layer = 2, .n_embd = 448, .n_head = 7, .n_head_kv = 1,
			.n_ff = 1216, .type = (uint32_t)mdl_type_from_name(types[ti]), .seed = 5,
			.vocab_from = vocab, .tied_output = 1,
		};
		snprintf(model, sizeof model, "%s/gqa-threads.gguf", dir);
		TH_OK(mdl_synth_write(&p, model, &e));
		struct mdl_model *m;
		struct mdl_load_params lp = { 0 };
		TH_OK(mdl_model_load_params(model, &lp, &m, &e));
		assert_int_equal(mdl_model_n_repacked(m), ti == 1 ? 2 * 7 + 1 : 0);
		enum { N = 40, V = 512 };
		float *ref = mem_alloc((size_t)N * V * sizeof(float));
		float *lg = mem_alloc((size_t)N * V * sizeof(float));
		assert_non_null(ref);
		assert_non_null(lg);
		for (int mode = 0; mode < 6; mode++) {
			int kv_f16 = mode % 3 == 1, kv_q8 = mode % 3 == 2, flash = mode / 3;
			for (int threads = 1; threads <= 3; threads++) {
				for (int stepwise = 0; stepwise <= 1; stepwise++) {
					struct mdl_ctx *c;
					struct mdl_ctx_params cp = { .n_ctx = 64, .n_threads = threads,
								     .kv_f16 = kv_f16, .kv_q8 = kv_q8,
								     .flash = flash };
					TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
					if (stepwise)
						for (int t = 0; t < N; t++)
							TH_OK(mdl_eval(c, &ref_tokens[t], 1, t,
								       lg + (size_t)t * V, 0, &e));
					else
						TH_OK(mdl_eval(c, ref_tokens, N, 0, lg, 1, &e));
					mdl_ctx_free(c);
					float *want = threads == 1 && !stepwise ? NULL : ref;
					if (!want) {
						memcpy(ref, lg, (size_t)N * V * sizeof(float));
						continue;
					}
					for (size_t i = 0; i < (size_t)N * V; i++)
						if (memcmp(&lg[i], &want[i], sizeof(float)))
							fail_msg("%s kv_f16 %d kv_q8 %d flash %d threads %d stepwise %d: "
								 "token %zu logit %zu %.9g, 1 thread batched %.9g",
								 types[ti], kv_f16, kv_q8, flash, threads, stepwise, i / V, i % V, lg[i], want[i]);
				}
			}
		}
		mem_free(ref);
		mem_free(lg);
		mdl_model_free(m);
	}
	th_tmpdir_cleanup();
}

/*
 * Loading a file settles the weights used in place on 2 MB pages where the
 * kernel allows (pages.c): a file just written sits in the page cache on
 * 4 KB pages, so the load drops the file's cached pages and faults the
 * weights in again. Whatever the pages end up as, the model must compute
 * exactly what it computes from the page cache left alone, and the share
 * of 2 MB pages is a fraction (or -1 where smaps cannot say, and for a
 * model held in memory).
 */
static void test_weights_page_settle(void **state)
{
	(void)state;
	char vocab[1024], model[1024];
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	const char *dir = th_tmpdir();
	/* about 13 MB of q8_0 weights: above the size pages.c bothers with */
	struct mdl_synth_params p = {
		.arch = "qwen2", .n_layer = 3, .n_embd = 512, .n_head = 8, .n_head_kv = 2,
		.n_ff = 2048, .type = (uint32_t)mdl_type_from_name("q8_0"), .seed = 9,
		.vocab_from = vocab, .tied_output = 1,
	};
	snprintf(model, sizeof model, "%s/pages.gguf", dir);
	TH_OK(mdl_synth_write(&p, model, &e));
	enum { N = 6, V = 512 };
	float *lg[2];
	double frac[2];
	for (int settle = 0; settle < 2; settle++) {
		struct mdl_model *m;
		struct mdl_ctx *c;
		struct mdl_load_params lp = { .no_hugepages = !settle };
		TH_OK(mdl_model_load_params(model, &lp, &m, &e));
		frac[settle] = mdl_model_weights_2mb_fraction(m);
		struct mdl_ctx_params cp = { .n_ctx = 16, .n_threads = 2 };
		TH_OK(mdl_ctx_new_params(m, &cp, &c, &e));
		lg[settle] = mem_alloc((size_t)N * V * sizeof(float));
		assert_non_null(lg[settle]);
		TH_OK(mdl_eval(c, ref_tokens, N, 0, lg[settle], 1, &e));
		mdl_ctx_free(c);
		mdl_model_free(m);
		if (frac[settle] != -1 && (frac[settle] < 0 || frac[settle] > 1))
			fail_msg("settle %d: 2 MB share %g is not a fraction", settle, frac[settle]);
	}
	for (size_t i = 0; i < (size_t)N * V; i++)
		if (memcmp(&lg[0][i], &lg[1][i], sizeof(float)))
			fail_msg("token %zu logit %zu: %.9g with the pages settled, %.9g without",
				 i / V, i % V, lg[1][i], lg[0][i]);
	print_message("2 MB share of the weights: %g untouched, %g settled\n", frac[0], frac[1]);
	mem_free(lg[0]);
	mem_free(lg[1]);

	/* held in memory: there is no file mapping to speak of */
	char *bytes;
	size_t len;
	TH_OK(file_read_all(model, 64 << 20, &bytes, &len, &e));
	struct mdl_gguf *g;
	struct mdl_model *m;
	TH_OK(mdl_gguf_open_mem(bytes, len, &g, &e));
	TH_OK(mdl_model_from_gguf(g, &m, &e));
	assert_true(mdl_model_weights_2mb_fraction(m) == -1);
	mdl_model_free(m);
	mem_free(bytes);
	th_tmpdir_cleanup();
}

int run_model_forward_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stories_greedy),
		cmocka_unit_test(test_stories_f16_cache),
		cmocka_unit_test(test_stories_flash_f16),
		cmocka_unit_test(test_stories_batch_equals_stepwise),
		cmocka_unit_test(test_stories_multi_sequence),
		cmocka_unit_test(test_kv_q8_cache),
		cmocka_unit_test(test_llamacpp_logits),
		cmocka_unit_test(test_threads_and_batching_exact),
		cmocka_unit_test(test_weights_page_settle),
	};
	return cmocka_run_group_tests_name("model_forward", tests, NULL, NULL);
}
