/*
 * srv_sample.c - the scheduler's token picker: greedy, or temperature with
 * nucleus (top-p) filtering, from a seeded per-request generator so that a
 * request with a seed gives the same output alone or batched. Without
 * top-p the draw is one linear pass over the softmax: no sort.
 */
#include "server/server_int.h"

#include <math.h>
#include <stdlib.h>

/* splitmix64, to spread a small seed over the generator's state. */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void srv__rng_seed(struct srv_rng *r, uint64_t seed)
{
	r->s[0] = splitmix(&seed);
	r->s[1] = splitmix(&seed);
	if (!r->s[0] && !r->s[1])
		r->s[1] = 1;
}

/* xorshift128+ */
double srv__rng_next(struct srv_rng *r)
{
	uint64_t a = r->s[0], b = r->s[1];

	r->s[0] = b;
	a ^= a << 23;
	r->s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return (double)((r->s[1] + b) >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t argmax(const float *x, int32_t n)
{
	int32_t best = 0;

	for (int32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* Candidates by probability, descending, then by id (deterministic). */
static int cmp_prob(const void *a, const void *b, void *arg)
{
	const float *p = arg;
	int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;

	if (p[i] != p[j])
		return p[i] > p[j] ? -1 : 1;
	return i < j ? -1 : i > j;
}

int32_t srv__sample(float *logits, int32_t n_vocab, float temperature,
		    float top_p, struct srv_rng *rng, int32_t *scratch)
{
	float maxl;
	double sum = 0, cut, acc, r;
	int32_t n = 0, i;

	if (n_vocab <= 0)
		return 0;
	if (!(temperature > 0) || !rng)
		return argmax(logits, n_vocab);
	maxl = logits[argmax(logits, n_vocab)];
	if (!isfinite(maxl))
		return argmax(logits, n_vocab);
	for (i = 0; i < n_vocab; i++) {
		float p = isfinite(logits[i]) ?
			expf((logits[i] - maxl) / temperature) : 0.0f;
		logits[i] = p;
		sum += p;
	}
	/* Without nucleus truncation no order is needed: one linear draw. */
	if (!(top_p > 0 && top_p < 1)) {
		r = srv__rng_next(rng) * sum;
		for (i = 0; i < n_vocab; i++) {
			r -= logits[i];
			if (r < 0 && logits[i] > 0)
				return i;
		}
		return argmax(logits, n_vocab);
	}
	/*
	 * Candidates below 1e-7 of the total cannot matter for any top_p a
	 * client sends, and dropping them keeps the sort short on large
	 * vocabularies (150k entries).
	 */
	cut = sum * 1e-7;
	for (i = 0; i < n_vocab; i++)
		if (logits[i] > cut)
			scratch[n++] = i;
	if (n == 0)
		return argmax(logits, n_vocab);
	qsort_r(scratch, (size_t)n, sizeof *scratch, cmp_prob, logits);
	{
		double keep = 0;
		int32_t k;
		for (k = 0; k < n; k++) {
			keep += logits[scratch[k]];
			if (keep >= top_p * sum)
				break;
		}
		n = k < n ? k + 1 : n;
	}
	acc = 0;
	for (i = 0; i < n; i++)
		acc += logits[scratch[i]];
	r = srv__rng_next(rng) * acc;
	for (i = 0; i < n; i++) {
		r -= logits[scratch[i]];
		if (r < 0)
			return scratch[i];
	}
	return scratch[n - 1];
}
