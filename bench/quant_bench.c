/*
 * quant_bench.c - speed of the tensor-type kernels (src/model/quant.h), not a
 * test: for each weight type and each dispatch level this CPU has, the
 * weight bytes per second of a matrix-vector product (decode), on 1 and 2
 * threads, and the multiply-adds per second of a 64-token matrix product
 * (prompt). Figures only; run on an idle machine and compare side by side.
 *
 *   quant_bench [-q] [TYPE...]   -q: smaller matrices, fewer repetitions;
 *                                TYPEs: only those (q4_0x8: q4_0 repacked)
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "model/quant.h"

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 40) / (double)(1ull << 23) - 1.0);
}

/* Seconds per call of mdl_matmul, the best of reps runs. */
static double time_matmul(struct tpool *pool, int type, const void *W, int64_t rows,
			  int64_t cols, const float *X, int64_t nt, float *Y,
			  void *scratch, int reps)
{
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = time_mono_ns();
		mdl_matmul(pool, type, W, rows, cols, X, nt, Y, scratch);
		double s = (double)(time_mono_ns() - t0) * 1e-9;
		if (s < best)
			best = s;
	}
	return best;
}

int main(int argc, char **argv)
{
	int quick = argc > 1 && strcmp(argv[1], "-q") == 0;
	char **only = argv + 1 + quick;
	int n_only = argc - 1 - quick;
	/* Decode: a matrix well beyond the caches, as a model's layers are. */
	const int64_t rows = quick ? 2048 : 8192, cols = 4096;
	const int64_t nt_pp = 64, rows_pp = 1024;
	static const int types[] = {
		MDL_TYPE_F32, MDL_TYPE_F16, MDL_TYPE_BF16, MDL_TYPE_Q8_0,
		MDL_TYPE_Q4_0, MDL_TYPE_Q4_1, MDL_TYPE_Q5_0, MDL_TYPE_Q5_1,
		MDL_TYPE_Q4_K, MDL_TYPE_Q5_K, MDL_TYPE_Q6_K, MDL_TYPE_Q4_0X8,
	};
	char feats[256];

	float *wf = mem_alloc_array((size_t)cols, sizeof(float));
	float *X = mem_alloc_array((size_t)(nt_pp * cols), sizeof(float));
	float *Y = mem_alloc_array((size_t)(nt_pp * rows), sizeof(float));
	uint8_t *W = mem_alloc((size_t)rows * mdl_row_size(MDL_TYPE_F32, cols));
	uint8_t *W2 = mem_alloc((size_t)rows * mdl_row_size(MDL_TYPE_F32, cols));
	void *scratch = mem_alloc(mdl_matmul_scratch_size(MDL_TYPE_F16, cols, nt_pp) +
				  mdl_matmul_scratch_size(MDL_TYPE_Q8_0, cols, nt_pp));
	struct tpool *pool2 = tpool_new(2);
	if (!wf || !X || !Y || !W || !W2 || !scratch || !pool2) {
		fprintf(stderr, "quant_bench: out of memory\n");
		return 1;
	}
	for (int64_t i = 0; i < nt_pp * cols; i++)
		X[i] = frand();

	printf("cpu: %s\n", cpu_features_str(feats, sizeof feats));
	printf("decode: %lld x %lld matrix times a vector, weight GB/s; "
	       "prompt: %lld x %lld times %lld tokens, G multiply-adds/s\n",
	       (long long)rows, (long long)cols, (long long)rows_pp, (long long)cols,
	       (long long)nt_pp);
	printf("%-6s %-7s %10s %10s %12s\n", "type", "level", "dec 1t", "dec 2t", "prompt 2t");
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		int type = types[ti];
		int wanted = n_only == 0;
		for (int k = 0; k < n_only; k++)
			wanted |= strcmp(only[k], mdl_type_info(type)->name) == 0;
		if (!wanted)
			continue;
		/* the repacked type is made from q4_0 rows */
		int qtype = type == MDL_TYPE_Q4_0X8 ? MDL_TYPE_Q4_0 : type;
		size_t rs = mdl_row_size(type, cols);
		for (int64_t r = 0; r < rows; r++) {
			/* a few distinct rows are enough; they differ by scale */
			if (r < 16) {
				for (int64_t c = 0; c < cols; c++)
					wf[c] = frand() * 0.05f;
				mdl_quant_row(qtype, wf, W + (size_t)r * rs, cols);
			} else {
				memcpy(W + (size_t)r * rs, W + (size_t)(r % 16) * rs, rs);
			}
		}
		if (type == MDL_TYPE_Q4_0X8) {
			mdl_q4_0_repack(pool2, W, W2, rows, cols);
			memcpy(W, W2, rs * (size_t)rows);
		}
		double bytes = (double)rs * (double)rows;
		for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
			mdl_quant_force_level((enum mdl_level)lvl);
			int reps = quick ? 3 : 8;
			double t1 = time_matmul(NULL, type, W, rows, cols, X, 1, Y, scratch, reps);
			double t2 = time_matmul(pool2, type, W, rows, cols, X, 1, Y, scratch, reps);
			double tp = time_matmul(pool2, type, W, rows_pp, cols, X, nt_pp, Y,
						scratch, quick ? 1 : 3);
			printf("%-6s %-7s %10.2f %10.2f %12.2f\n", mdl_type_info(type)->name,
			       mdl_level_name((enum mdl_level)lvl), bytes / t1 * 1e-9,
			       bytes / t2 * 1e-9,
			       (double)rows_pp * (double)cols * (double)nt_pp / tp * 1e-9);
			fflush(stdout);
		}
	}
	tpool_free(pool2);
	mem_free(wf);
	mem_free(X);
	mem_free(Y);
	mem_free(W);
	mem_free(W2);
	mem_free(scratch);
	return 0;
}
