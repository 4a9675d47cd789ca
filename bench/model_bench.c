/*
 * model_bench.c - prompt and generation speed of the engine on one model:
 * pp = evaluation of a prompt of N tokens in one call, tg = tokens
 * evaluated one at a time after it (as in decoding). Prints tokens/s.
 *
 *   model_bench MODEL.gguf [--threads N] [--pp N] [--tg N] [--reps N]
 */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double now_s(void)
{
	return (double)time_mono_ns() / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int threads = 2, pp = 512, tg = 128, reps = 3;
	if (argc < 2) {
		fprintf(stderr, "usage: model_bench MODEL.gguf [--threads N] [--pp N] [--tg N] [--reps N]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		int64_t v;
		if (parse_i64(argv[i + 1], 1, 100000, &v)) {
			fprintf(stderr, "model_bench: bad value for %s\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--threads"))
			threads = (int)v;
		else if (!strcmp(argv[i], "--pp"))
			pp = (int)v;
		else if (!strcmp(argv[i], "--tg"))
			tg = (int)v;
		else if (!strcmp(argv[i], "--reps"))
			reps = (int)v;
	}
	struct err e = { 0 };
	struct mdl_model *m;
	struct mdl_ctx *c;
	if (mdl_model_load(argv[1], &m, &e) || mdl_ctx_new(m, pp + tg, threads, &c, &e)) {
		fprintf(stderr, "model_bench: %s\n", e.msg);
		return 1;
	}
	int nv = mdl_model_n_vocab(m);
	float *logits = mem_alloc_array((size_t)nv, sizeof *logits);
	int32_t *toks = mem_alloc_array((size_t)(pp + tg), sizeof *toks);
	if (!logits || !toks)
		return 1;
	uint64_t r = 12345;
	for (int i = 0; i < pp + tg; i++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		toks[i] = (int32_t)((r >> 33) % (uint64_t)nv);
	}
	double *pps = mem_calloc((size_t)reps, sizeof *pps), *tgs = mem_calloc((size_t)reps, sizeof *tgs);
	if (!pps || !tgs)
		return 1;
	for (int rep = 0; rep < reps; rep++) {
		double t0 = now_s();
		if (mdl_eval(c, toks, pp, 0, logits, 0, &e))
			goto fail;
		double t1 = now_s();
		for (int i = 0; i < tg; i++)
			if (mdl_eval(c, toks + pp + i, 1, pp + i, logits, 0, &e))
				goto fail;
		double t2 = now_s();
		pps[rep] = pp / (t1 - t0);
		tgs[rep] = tg / (t2 - t1);
	}
	qsort(pps, (size_t)reps, sizeof *pps, cmp_d);
	qsort(tgs, (size_t)reps, sizeof *tgs, cmp_d);
	const char *name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
	printf("%-28s threads %d  pp%d %8.1f tok/s  tg%d (after %d) %7.1f tok/s  (median of %d)\n",
	       name, threads, pp, pps[reps / 2], tg, pp, tgs[reps / 2], reps);
	mem_free(pps);
	mem_free(tgs);
	mem_free(logits);
	mem_free(toks);
	mdl_ctx_free(c);
	mdl_model_free(m);
	return 0;
fail:
	fprintf(stderr, "model_bench: %s\n", e.msg);
	return 1;
}
