/*
 * tok_sample.c - choosing the next token from logits: repetition,
 * presence and frequency penalties over a window of accepted tokens,
 * then top-k, top-p, min-p, temperature and a draw from a seeded
 * xoshiro256** generator (the order llama.cpp's default chain uses), or
 * argmax when the temperature is 0. An optional filter (the policy
 * module's checker) sees the drawn token; only when it refuses are the
 * candidates it refuses masked and the draw repeated.
 *
 * Fast paths (no penalty in effect): greedy is a max and a search over
 * the logits; a draw from the whole softmax of a large vocabulary (top-k,
 * top-p and min-p off: OpenAI's defaults, what the server asks for) is
 * one vectorised exponential pass and a walk over block sums. A server
 * samples every sequence at every step, and over 150k tokens the general
 * path (candidate records, a double-precision exp per token, four passes)
 * cost a millisecond and a half per token.
 */
#include "model/tok_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PENALTY_WINDOW_MAX 4096

struct cand {
	int32_t id;
	float logit;
	float p;
};

struct mdl_sampler {
	struct mdl_sampler_params prm;
	const struct mdl_vocab *v;
	mdl_token_accept_fn accept;
	void *accept_ctx;
	struct cand *cand;	/* [cap] work space, reused */
	size_t cap;
	float *w;		/* [wcap] fast path: weights exp((l - max) / temp) */
	double *bsum;		/* [wcap / BLK + 1] fast path: sums of blocks of w */
	size_t wcap;
	int32_t *window;	/* [penalty_last_n] ring of accepted tokens */
	size_t win_len, win_pos;
	uint64_t rng[4];	/* xoshiro256** state */
};

void mdl_sampler_params_default(struct mdl_sampler_params *p)
{
	p->temp = 0.8f;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->min_p = 0.05f;
	p->repeat_penalty = 1.0f;
	p->presence_penalty = 0.0f;
	p->frequency_penalty = 0.0f;
	p->penalty_last_n = 64;
	p->seed = 0;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* Uniform in [0, 1) with 53 bits. */
static double rng_uniform(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

void mdl_sampler_reset(struct mdl_sampler *s)
{
	uint64_t x = s->prm.seed;

	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	s->win_len = s->win_pos = 0;
}

status_t mdl_sampler_new(const struct mdl_sampler_params *p,
			 const struct mdl_vocab *v, struct mdl_sampler **out,
			 struct err *e)
{
	struct mdl_sampler *s;

	*out = NULL;
	if (isnan(p->temp) || isnan(p->top_p) || isnan(p->min_p) ||
	    isnan(p->repeat_penalty) || isnan(p->presence_penalty) ||
	    isnan(p->frequency_penalty))
		return err_set(e, ST_INVAL, "sampler: a parameter is not a number");
	if (p->repeat_penalty <= 0.0f)
		return err_set(e, ST_INVAL, "sampler: repeat penalty %g must be > 0",
			       (double)p->repeat_penalty);
	if (p->top_p <= 0.0f)
		return err_set(e, ST_INVAL, "sampler: top-p %g must be > 0", (double)p->top_p);
	if (p->min_p >= 1.0f)
		return err_set(e, ST_INVAL, "sampler: min-p %g must be < 1", (double)p->min_p);
	if (p->penalty_last_n < 0 || p->penalty_last_n > PENALTY_WINDOW_MAX)
		return err_set(e, ST_INVAL, "sampler: penalty window %d is outside 0..%d",
			       p->penalty_last_n, PENALTY_WINDOW_MAX);
	s = mem_calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ST_NOMEM, "sampler");
	s->prm = *p;
	s->v = v;
	if (p->penalty_last_n > 0) {
		s->window = mem_alloc_array((size_t)p->penalty_last_n, sizeof *s->window);
		if (!s->window) {
			mem_free(s);
			return err_set(e, ST_NOMEM, "sampler");
		}
	}
	mdl_sampler_reset(s);
	*out = s;
	return ST_OK;
}

void mdl_sampler_free(struct mdl_sampler *s)
{
	if (!s)
		return;
	mem_free(s->cand);
	mem_free(s->w);
	mem_free(s->bsum);
	mem_free(s->window);
	mem_free(s);
}

void mdl_sampler_set_filter(struct mdl_sampler *s, mdl_token_accept_fn fn, void *ctx)
{
	s->accept = fn;
	s->accept_ctx = ctx;
}

void mdl_sampler_accept(struct mdl_sampler *s, int32_t token)
{
	if (!s->window)
		return;
	s->window[s->win_pos] = token;
	s->win_pos = (s->win_pos + 1) % (size_t)s->prm.penalty_last_n;
	if (s->win_len < (size_t)s->prm.penalty_last_n)
		s->win_len++;
}

static void apply_penalties(struct mdl_sampler *s, struct cand *c, int32_t n)
{
	const struct mdl_sampler_params *p = &s->prm;

	if (!s->win_len || (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f &&
			    p->frequency_penalty == 0.0f))
		return;
	for (size_t i = 0; i < s->win_len; i++) {
		int32_t t = s->window[i];
		int count = 0, first = 1;

		if (t < 0 || t >= n)
			continue;
		/* count each distinct token once, at its first place in the ring */
		for (size_t j = 0; j < s->win_len; j++) {
			if (s->window[j] != t)
				continue;
			if (j < i)
				first = 0;
			count++;
		}
		if (!first)
			continue;
		if (c[t].logit <= 0)
			c[t].logit *= p->repeat_penalty;
		else
			c[t].logit /= p->repeat_penalty;
		c[t].logit -= (float)count * p->frequency_penalty + p->presence_penalty;
	}
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->logit != y->logit)
		return x->logit > y->logit ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* 1 when a ranks after b. */
static int worse(const struct cand *a, const struct cand *b)
{
	return cmp_cand(a, b) > 0;
}

/* Restores the heap below i; the root of h[0..n) is the worst kept. */
static void sift_down(struct cand *h, size_t n, size_t i)
{
	struct cand x = h[i];

	for (;;) {
		size_t l = 2 * i + 1, w = i;
		const struct cand *wp = &x;

		if (l < n && worse(&h[l], wp)) {
			w = l;
			wp = &h[l];
		}
		if (l + 1 < n && worse(&h[l + 1], wp))
			w = l + 1;
		if (w == i)
			break;
		h[i] = h[w];
		i = w;
	}
	h[i] = x;
}

/*
 * Moves the k best candidates to the front, sorted best first (k <= n).
 * A heap of the k best so far keeps this O(n log k) for a large vocabulary.
 */
static void top_sorted(struct cand *c, size_t n, size_t k)
{
	if (k < n) {
		for (size_t i = k / 2; i-- > 0;)
			sift_down(c, k, i);
		for (size_t i = k; i < n; i++)
			if (worse(&c[0], &c[i])) {
				/* swap, so that c stays a permutation of the candidates */
				struct cand t = c[0];

				c[0] = c[i];
				c[i] = t;
				sift_down(c, k, 0);
			}
		n = k;
	}
	qsort(c, n, sizeof *c, cmp_cand);
}

/*
 * Softmax of c[0..n) with temperature t into .p. The candidates need no
 * order: the maximum is found here (for sorted input it is c[0], so the
 * result is the same as taking c[0]).
 */
static void softmax(struct cand *c, size_t n, float t)
{
	double sum = 0, mx = c[0].logit;

	for (size_t i = 1; i < n; i++)
		if (c[i].logit > mx)
			mx = c[i].logit;
	for (size_t i = 0; i < n; i++) {
		c[i].p = (float)exp(((double)c[i].logit - mx) / t);
		sum += c[i].p;
	}
	for (size_t i = 0; i < n; i++)
		c[i].p = (float)(c[i].p / sum);
}

/* Narrows the sorted candidates by top-p and min-p; returns the count kept. */
static size_t truncate_dist(const struct mdl_sampler_params *p, struct cand *c, size_t n)
{
	if (p->top_p < 1.0f) {
		double cum = 0;
		size_t keep = n;

		softmax(c, n, 1.0f);
		for (size_t i = 0; i < n; i++) {
			cum += c[i].p;
			if (cum >= p->top_p) {
				keep = i + 1;
				break;
			}
		}
		n = keep;
	}
	if (p->min_p > 0.0f) {
		float floor_logit = c[0].logit + logf(p->min_p);
		size_t keep = 1;

		while (keep < n && c[keep].logit >= floor_logit)
			keep++;
		n = keep;
	}
	return n;
}

/*
 * top-p and min-p over a large candidate set (top-k off) without sorting
 * all of it: min-p is a threshold on logits, top-p needs only the sorted
 * head up to the probability mass p, which is usually a few hundred
 * tokens of a 150k vocabulary. The probabilities use the normaliser of the
 * whole set, as truncate_dist does; results agree with it up to rounding.
 * Returns the count kept: sorted best first when top-p cut them, in no
 * particular (but deterministic) order otherwise -- with top-p off (the
 * OpenAI default) nothing needs an order, since draw() is an inverse-CDF
 * walk whose distribution does not depend on it, and a full sort of the
 * vocabulary would dominate the cost of a token.
 */
static size_t narrow_large(const struct mdl_sampler_params *p, struct cand *c, size_t n)
{
	float mx = -INFINITY;
	double z = 0;
	size_t m = n;

	for (size_t i = 0; i < n; i++)
		if (c[i].logit > mx)
			mx = c[i].logit;
	if (mx == -INFINITY)
		return n;	/* nothing is finite: draw() picks as it always did */
	if (p->min_p > 0.0f) {
		float floor_logit = mx + logf(p->min_p);

		m = 0;
		for (size_t i = 0; i < n; i++)
			if (c[i].logit >= floor_logit) {
				struct cand t = c[m];

				c[m++] = c[i];
				c[i] = t;
			}
	}
	if (p->top_p >= 1.0f)
		return m;
	for (size_t i = 0; i < n; i++)
		z += exp((double)c[i].logit - mx);
	for (size_t kk = 256;; kk *= 8) {
		double cum = 0;

		if (kk > m)
			kk = m;
		top_sorted(c, m, kk);
		for (size_t i = 0; i < kk; i++) {
			cum += exp((double)c[i].logit - mx) / z;
			if (cum >= p->top_p)
				return i + 1;
		}
		if (kk == m)
			return m;
	}
}

static int32_t draw(struct mdl_sampler *s, struct cand *c, size_t n)
{
	double r, cum = 0;

	if (s->prm.temp <= 0.0f)
		return c[0].id;
	softmax(c, n, s->prm.temp);
	r = rng_uniform(s->rng);
	for (size_t i = 0; i < n; i++) {
		cum += c[i].p;
		if (r < cum)
			return c[i].id;
	}
	return c[n - 1].id;
}

static int filter_ok(struct mdl_sampler *s, int32_t id)
{
	size_t len;
	const char *piece;

	if (!s->accept)
		return 1;
	piece = s->v ? mdl_token_output(s->v, id, &len) : "";
	if (!s->v)
		len = 0;
	return s->accept(s->accept_ctx, id, piece, len) != 0;
}

/* Keeps the candidates the filter accepts; returns how many. */
static size_t filter_all(struct mdl_sampler *s, struct cand *c, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (filter_ok(s, c[i].id))
			c[k++] = c[i];
	return k;
}

/* ------------------------------------------------------------------ */
/* Fast paths                                                          */
/* ------------------------------------------------------------------ */

/*
 * GCC/clang vector extensions, 4 floats: SSE2 on any x86-64 (and NEON
 * elsewhere), no target attributes, no ABI question (never passed to a
 * function that is not inlined).
 */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));

#define BLK 256		/* weights per block sum of the fast draw */

static inline v4f v4_load(const float *p)
{
	v4f v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* Lanes of a where m is set, else of b (m from a vector comparison). */
static inline v4f v4_sel(v4i m, v4f a, v4f b)
{
	return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
}

/* The largest logit, NaN ignored (-INFINITY when none is a number). */
static float logits_max(const float *x, size_t n)
{
	v4f m0 = { -INFINITY, -INFINITY, -INFINITY, -INFINITY }, m1 = m0;
	float mx = -INFINITY;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		v4f a = v4_load(x + i), b = v4_load(x + i + 4);

		/* a NaN compares false and leaves the maximum as it was */
		m0 = v4_sel(a > m0, a, m0);
		m1 = v4_sel(b > m1, b, m1);
	}
	m0 = v4_sel(m1 > m0, m1, m0);
	for (int l = 0; l < 4; l++)
		if (m0[l] > mx)
			mx = m0[l];
	for (; i < n; i++)
		if (x[i] > mx)
			mx = x[i];
	return mx;
}

/*
 * exp(x) for 4 lanes of x <= 0: x = k ln 2 + r, |r| <= ln 2 / 2, a degree-6
 * polynomial for exp(r) (Cephes' expf coefficients, about 1 ulp) times 2^k.
 * x below -86 (and NaN) gives 0: such weights are below 2^-124 of the
 * largest and can never be drawn with a 53-bit uniform.
 */
static inline v4f v4_exp_neg(v4f x)
{
	const v4f lo = { -86.0f, -86.0f, -86.0f, -86.0f };
	v4f p = { 1.9875691500e-4f, 1.9875691500e-4f, 1.9875691500e-4f, 1.9875691500e-4f };
	v4i keep = x >= lo;
	v4f xc = v4_sel(keep, x, lo);
	v4f t = xc * 1.44269504088896341f - 0.5f;
	v4i k = __builtin_convertvector(t, v4i);	/* t <= 0: rounds to nearest */
	v4f kf = __builtin_convertvector(k, v4f);
	v4f r = xc - kf * 0.693359375f + kf * 2.12194440e-4f;

	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	/* times 2^k, k >= -125: added to the exponent field */
	p = (v4f)((v4u)p + ((v4u)k << 23));
	return (v4f)((v4i)p & keep);
}

static float exp_neg(float x)
{
	v4f v = { x, x, x, x };

	return v4_exp_neg(v)[0];
}

static int penalties_apply(const struct mdl_sampler *s)
{
	const struct mdl_sampler_params *p = &s->prm;

	return s->win_len && (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f ||
			      p->frequency_penalty != 0.0f);
}

/*
 * A draw from softmax(logits / temp) over all n tokens, in id order as the
 * general path draws its untruncated candidates; mx is the largest logit
 * (finite). One uniform is consumed, as there. Probabilities agree with
 * the general path's up to float rounding, so a seeded draw differs from
 * it only when the uniform falls within rounding of a boundary.
 */
static int32_t draw_all(struct mdl_sampler *s, const float *logits, size_t n, float mx)
{
	float inv = 1.0f / s->prm.temp;
	size_t nb = (n + BLK - 1) / BLK, b;
	double total = 0, target, cum = 0;

	for (b = 0; b < nb; b++) {
		size_t i = b * BLK, end = i + BLK < n ? i + BLK : n;
		v4f acc = { 0, 0, 0, 0 };
		double bs = 0;

		for (; i + 4 <= end; i += 4) {
			v4f w = v4_exp_neg((v4_load(logits + i) - mx) * inv);

			memcpy(s->w + i, &w, sizeof w);
			acc += w;
		}
		for (; i < end; i++) {
			s->w[i] = exp_neg((logits[i] - mx) * inv);
			bs += s->w[i];
		}
		/* a block's 64 float additions per lane: relative error ~1e-6 */
		bs += (double)acc[0] + acc[1] + acc[2] + acc[3];
		s->bsum[b] = bs;
		total += bs;
	}
	target = rng_uniform(s->rng) * total;
	for (b = 0; b + 1 < nb && cum + s->bsum[b] <= target; b++)
		cum += s->bsum[b];
	{
		size_t i = b * BLK, end = i + BLK < n ? i + BLK : n;
		int32_t last = -1;

		for (; i < end; i++) {
			if (s->w[i] <= 0)
				continue;
			cum += s->w[i];
			last = (int32_t)i;
			if (target < cum)
				return last;
		}
		/* rounding left the target past this block's walk: its last weight */
		if (last >= 0)
			return last;
	}
	/* not reachable with a finite maximum (its weight is 1); for safety */
	for (size_t i = n; i-- > 0;)
		if (s->w[i] > 0)
			return (int32_t)i;
	return (int32_t)(n - 1);
}

/*
 * The fast paths: 1 with the token in *id when one applies (no penalty in
 * effect; greedy, or a draw from the whole softmax of a large vocabulary),
 * 0 otherwise (the general path then runs, untouched: no uniform was
 * consumed). ST_NOMEM in *st when the work space cannot grow.
 */
static int fast_pick(struct mdl_sampler *s, const float *logits, size_t n, int32_t *id,
		     status_t *st)
{
	const struct mdl_sampler_params *p = &s->prm;
	float mx;

	*st = ST_OK;
	if (penalties_apply(s))
		return 0;
	if (p->temp > 0.0f && !((p->top_k <= 0 || (size_t)p->top_k >= n) && p->top_p >= 1.0f &&
				p->min_p <= 0.0f && n > 1024 && isfinite(1.0f / p->temp)))
		return 0;
	mx = logits_max(logits, n);
	/* nothing finite (or an infinite best in a draw): the general path */
	if (mx == -INFINITY || (p->temp > 0.0f && !isfinite(mx)))
		return 0;
	if (p->temp <= 0.0f) {
		/* the lowest id among the best, as cmp_cand orders ties */
		size_t i = 0;

		while (logits[i] != mx)
			i++;
		*id = (int32_t)i;
		return 1;
	}
	if (n > s->wcap) {
		float *w = mem_realloc_array(s->w, n, sizeof *w);
		double *bs;

		if (w)
			s->w = w;
		bs = mem_realloc_array(s->bsum, n / BLK + 1, sizeof *bs);
		if (bs)
			s->bsum = bs;
		if (!w || !bs) {
			*st = ST_NOMEM;
			return 0;
		}
		s->wcap = n;
	}
	*id = draw_all(s, logits, n, mx);
	return 1;
}

static void fill_cand(struct mdl_sampler *s, const float *logits, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s->cand[i].id = (int32_t)i;
		s->cand[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
	}
}

status_t mdl_sampler_sample(struct mdl_sampler *s, const float *logits,
			    int32_t n_vocab, int32_t *out, struct err *e)
{
	const struct mdl_sampler_params *p = &s->prm;
	size_t n = (size_t)n_vocab, k;
	int32_t id;
	status_t st;

	*out = MDL_TOKEN_NULL;
	if (n_vocab <= 0 || (s->v && n_vocab > mdl_vocab_n_tokens(s->v)))
		return err_set(e, ST_INVAL, "sampler: %d logits for a vocabulary of %d",
			       n_vocab, s->v ? mdl_vocab_n_tokens(s->v) : 0);
	if (n > s->cap) {
		struct cand *c = mem_realloc_array(s->cand, n, sizeof *c);

		if (!c)
			return err_set(e, ST_NOMEM, "sampler: %d candidates", n_vocab);
		s->cand = c;
		s->cap = n;
	}
	if (fast_pick(s, logits, n, &id, &st)) {
		if (filter_ok(s, id)) {
			*out = id;
			return ST_OK;
		}
		/*
		 * Refused: continue as the general path does after a refused
		 * draw. Its candidates were the best alone (greedy: refused, so
		 * none is left) or the whole vocabulary in id order.
		 */
		fill_cand(s, logits, n);
		k = p->temp <= 0.0f ? 0 : filter_all(s, s->cand, n);
		goto refused;
	}
	if (st)
		return err_set(e, st, "sampler: %d candidates", n_vocab);
	fill_cand(s, logits, n);
	apply_penalties(s, s->cand, n_vocab);

	k = n;
	if (p->temp <= 0.0f)
		k = 1;
	else if (p->top_k > 0 && (size_t)p->top_k < n)
		k = (size_t)p->top_k;
	if (k == n && n > 1024) {
		k = narrow_large(p, s->cand, n);
	} else {
		top_sorted(s->cand, n, k);
		if (p->temp > 0.0f)
			k = truncate_dist(p, s->cand, k);
	}

	id = draw(s, s->cand, k);
	if (filter_ok(s, id)) {
		*out = id;
		return ST_OK;
	}
	/* refused: mask what the filter refuses among the candidates, draw again */
	k = filter_all(s, s->cand, k);
refused:
	if (k == 0) {
		/* none of the likely ones passes: widen to the whole vocabulary */
		fill_cand(s, logits, n);
		apply_penalties(s, s->cand, n_vocab);
		k = filter_all(s, s->cand, n);
		if (k == 0)
			return err_set(e, ST_DENIED, "sampler: the token filter refuses every token");
		/* a draw needs no order; greedy needs only the best */
		if (p->temp <= 0.0f) {
			top_sorted(s->cand, k, 1);
			k = 1;
		}
	}
	*out = draw(s, s->cand, k);
	return ST_OK;
}
