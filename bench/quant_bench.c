/*
 * quant_bench.c - speed of the tensor-type kernels (src/model/quant.h), not a
 * test: for each weight type and each dispatch level this CPU has, the
 * weight bytes per second of a matrix-vector product (decode), on 1 and 2
 * threads, and the multiply-adds per second of a 64-token matrix product
 * (prompt). Figures only; run on an idle machine and compare side by side.
 *
 *   quant_bench [-q] [TYPE...]   -q: smaller matrices, fewer repetitions;
 *                                TYPEs: only those (q4_0x8: q4_0 repacked)
 *
 * Then, for the types decode reads, each kernel beside a plain read of
 * memory: rounds of (read, each type's matrix-vector product, read) over
 * matrices of 256 MiB on 2 MB pages, 2 threads, the kernel's bytes/s over
 * the mean of the two reads around it. On a machine whose bandwidth moves
 * with its neighbours' load this says which share of what memory gave at
 * that moment a kernel used, with the rounds of the highest and lowest
 * third of reads apart.
 *
 * Last, what decode's many small products cost beside one large one:
 * the 168 matrices of a 0.5B Qwen2.5 model's 24 layers (q 896x896, k
 * and v 128x896, o 896x896, gate and up 4864x896, down 896x4864), each
 * in an allocation of its own as a model's are, against one matrix of
 * the same bytes, on 2 threads and on 1, between reads.
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

/* ---- kernels beside a plain read ----------------------------------- */

#define HUGE_PAGE ((size_t)2 << 20)

/* n bytes on 2 MB pages where THP allows (*map, *map_len: what to unmap). */
static uint8_t *huge_alloc(size_t n, void **map, size_t *map_len)
{
	*map_len = n + HUGE_PAGE;
	*map = mmap(NULL, *map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*map == MAP_FAILED)
		return NULL;
	uint8_t *p = (uint8_t *)(((uintptr_t)*map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	(void)madvise(p, n, MADV_HUGEPAGE);
	return p;
}

/* The read kernel of `airlock bench`'s probe: four 256-bit accumulators. */
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n)
{
	const __m256i *v = (const __m256i *)(const void *)p;
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
	for (size_t i = 0; i < n / 32; i += 4) {
		a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + i));
		a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + i + 1));
		a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + i + 2));
		a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + i + 3));
	}
	a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
	uint64_t out[4];
	_mm256_storeu_si256((__m256i *)(void *)out, a0);
	return out[0] + out[1] + out[2] + out[3];
}

#define READ_CHUNK ((size_t)1 << 20)

struct read_job {
	const uint8_t *buf;
	uint64_t sink[8 * 8];
};

static void read_task(void *arg, size_t begin, size_t end, int worker)
{
	struct read_job *j = arg;
	for (size_t i = begin; i < end; i++)
		j->sink[(worker & 7) * 8] += read_avx2(j->buf + i * READ_CHUNK, READ_CHUNK);
}

/* Bytes/s of one read of rj's buffer (bytes) on pool. */
static double timed_read(struct tpool *pool, struct read_job *rj, size_t bytes)
{
	uint64_t t0 = time_mono_ns();
	tpool_parallel_for(pool, bytes / READ_CHUNK, 1, read_task, rj);
	return (double)bytes / ((double)(time_mono_ns() - t0) * 1e-9);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define VS_TYPES 6
#define VS_ROUNDS_MAX 64

/* order: the rounds sorted by their read rd, lowest first. */
static void read_order(const double *rd, int rounds, int *order)
{
	for (int k = 0; k < rounds; k++)
		order[k] = k;
	for (int i = 1; i < rounds; i++)
		for (int j = i; j > 0 && rd[order[j - 1]] > rd[order[j]]; j--) {
			int x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
}

/* The medians of v (one value a round) over all rounds, over the third
 * of rounds with the lowest reads and over the third with the highest. */
static void thirds(const double *v, const int *order, int rounds, double out[3])
{
	double tmp[VS_ROUNDS_MAX];
	int third = rounds / 3 ? rounds / 3 : 1;
	memcpy(tmp, v, sizeof(double) * (size_t)rounds);
	out[0] = median_of(tmp, rounds);
	for (int i = 0; i < third; i++)
		tmp[i] = v[order[i]];
	out[1] = median_of(tmp, third);
	for (int i = 0; i < third; i++)
		tmp[i] = v[order[rounds - 1 - i]];
	out[2] = median_of(tmp, third);
}

static void vs_read(struct tpool *pool, int quick)
{
	static const int types[VS_TYPES] = { MDL_TYPE_Q8_0, MDL_TYPE_Q4_0X8, MDL_TYPE_Q4_K,
					     MDL_TYPE_Q5_K, MDL_TYPE_Q6_K, MDL_TYPE_F16 };
	const int64_t cols = 2048;
	const size_t bytes = (size_t)(quick ? 128 : 256) << 20;
	const int rounds = quick ? 6 : 30;
	uint8_t *W[VS_TYPES];
	void *map[VS_TYPES + 1];
	size_t map_len[VS_TYPES + 1];
	int64_t rows[VS_TYPES];
	static double gbs[VS_TYPES][VS_ROUNDS_MAX], ratio[VS_TYPES][VS_ROUNDS_MAX], rd[VS_ROUNDS_MAX];
	float *X = mem_alloc_array((size_t)cols, sizeof(float));
	float *wf = mem_alloc_array((size_t)cols, sizeof(float));
	float *Y = mem_alloc_array((size_t)(bytes / 64), sizeof(float));
	void *scratch = mem_alloc(mdl_matmul_scratch_size(MDL_TYPE_F16, cols, 1) +
				  mdl_matmul_scratch_size(MDL_TYPE_Q8_0, cols, 1));
	struct read_job *rj = mem_calloc(1, sizeof *rj);
	uint8_t *R = huge_alloc(bytes, &map[VS_TYPES], &map_len[VS_TYPES]);
	if (!X || !wf || !Y || !scratch || !rj || !R) {
		fprintf(stderr, "quant_bench: out of memory\n");
		exit(1);
	}
	memset(R, 1, bytes);
	rj->buf = R;
	for (int64_t c = 0; c < cols; c++)
		X[c] = frand();
	for (int t = 0; t < VS_TYPES; t++) {
		int qtype = types[t] == MDL_TYPE_Q4_0X8 ? MDL_TYPE_Q4_0 : types[t];
		size_t rs = mdl_row_size(types[t], cols);
		rows[t] = (int64_t)(bytes / rs) & ~(int64_t)63;
		W[t] = huge_alloc((size_t)rows[t] * rs, &map[t], &map_len[t]);
		if (!W[t]) {
			fprintf(stderr, "quant_bench: out of memory\n");
			exit(1);
		}
		for (int64_t r = 0; r < rows[t]; r++) {
			if (r < 16) {
				for (int64_t c = 0; c < cols; c++)
					wf[c] = frand() * 0.05f;
				mdl_quant_row(qtype, wf, W[t] + (size_t)r * rs, cols);
			} else {
				memcpy(W[t] + (size_t)r * rs, W[t] + (size_t)(r % 16) * rs, rs);
			}
		}
		if (types[t] == MDL_TYPE_Q4_0X8) {	/* repacked in place, by halves of R */
			mdl_q4_0_repack(pool, W[t], R, rows[t], cols);
			memcpy(W[t], R, (size_t)rows[t] * rs);
			memset(R, 1, bytes);
		}
	}
	mdl_quant_force_level(mdl_quant_level_max());
	for (int k = -1; k < rounds; k++) {	/* round -1: warm-up */
		double r0 = timed_read(pool, rj, bytes);
		double g[VS_TYPES];
		for (int t = 0; t < VS_TYPES; t++) {
			uint64_t a = time_mono_ns();
			mdl_matmul(pool, types[t], W[t], rows[t], cols, X, 1, Y, scratch);
			g[t] = (double)rows[t] * (double)mdl_row_size(types[t], cols) /
			       ((double)(time_mono_ns() - a) * 1e-9);
		}
		double r1 = timed_read(pool, rj, bytes);
		if (k < 0)
			continue;
		rd[k] = (r0 + r1) / 2;
		for (int t = 0; t < VS_TYPES; t++) {
			gbs[t][k] = g[t];
			ratio[t][k] = g[t] / rd[k];
		}
	}
	/* rounds by their read, for the thirds */
	int order[VS_ROUNDS_MAX];
	double m[3];
	read_order(rd, rounds, order);
	thirds(rd, order, rounds, m);
	printf("\nkernels beside a plain read: %d rounds of (read, each product, read), %zu MiB "
	       "matrices of %lld columns on 2 MB pages, 2 threads, %s kernels\n", rounds,
	       bytes >> 20, (long long)cols, mdl_level_name(mdl_quant_level()));
	printf("read: median %.2f GB/s; lowest third of rounds %.2f, highest third %.2f (medians)\n",
	       m[0] * 1e-9, m[1] * 1e-9, m[2] * 1e-9);
	printf("%-7s %10s %12s %14s %14s\n", "type", "GB/s", "of the read", "lowest third",
	       "highest third");
	for (int t = 0; t < VS_TYPES; t++) {
		double gm[3];
		thirds(gbs[t], order, rounds, gm);
		thirds(ratio[t], order, rounds, m);
		printf("%-7s %10.2f %12.2f %14.2f %14.2f\n", mdl_type_info(types[t])->name,
		       gm[0] * 1e-9, m[0], m[1], m[2]);
	}
	for (int t = 0; t <= VS_TYPES; t++)
		munmap(map[t], map_len[t]);
	mem_free(X);
	mem_free(wf);
	mem_free(Y);
	mem_free(scratch);
	mem_free(rj);
}

#define STACK_SHAPES 7

static void vs_layers(struct tpool *pool, int type, int quick)
{
	static const int64_t shp[STACK_SHAPES][2] = { { 896, 896 }, { 128, 896 }, { 128, 896 },
						      { 896, 896 }, { 4864, 896 }, { 4864, 896 },
						      { 896, 4864 } };
	const int layers = quick ? 8 : 24, nm = layers * STACK_SHAPES;
	const int rounds = quick ? 6 : 30;
	const int qtype = type == MDL_TYPE_Q4_0X8 ? MDL_TYPE_Q4_0 : type;
	const size_t rbytes = (size_t)256 << 20;
	uint8_t **W = mem_calloc((size_t)nm, sizeof *W);
	void **map = mem_calloc((size_t)nm + 2, sizeof *map);
	size_t *map_len = mem_calloc((size_t)nm + 2, sizeof *map_len);
	float *wf = mem_alloc_array(4864, sizeof(float));
	float *X = mem_alloc_array(4864, sizeof(float));
	void *scratch = mem_alloc(mdl_matmul_scratch_size(MDL_TYPE_Q8_0, 4864, 1) + 4096);
	struct read_job *rj = mem_calloc(1, sizeof *rj);
	if (!W || !map || !map_len || !wf || !X || !scratch || !rj) {
		fprintf(stderr, "quant_bench: out of memory\n");
		exit(1);
	}
	for (int c = 0; c < 4864; c++) {
		wf[c] = frand() * 0.05f;
		X[c] = frand();
	}
	size_t total = 0;
	for (int m = 0; m < nm; m++) {
		int64_t rows = shp[m % STACK_SHAPES][0], cols = shp[m % STACK_SHAPES][1];
		size_t rs = mdl_row_size(type, cols), bytes = (size_t)rows * rs;
		if (!(W[m] = huge_alloc(bytes, &map[m], &map_len[m]))) {
			fprintf(stderr, "quant_bench: out of memory\n");
			exit(1);
		}
		for (int64_t r = 0; r < rows; r++)
			mdl_quant_row(qtype, wf, W[m] + (size_t)r * rs, cols);
		total += bytes;
	}
	/* one matrix of 896 columns with (about) the same bytes */
	size_t rs896 = mdl_row_size(type, 896);
	int64_t brows = (int64_t)(total / rs896) & ~(int64_t)63;
	uint8_t *B = huge_alloc((size_t)brows * rs896, &map[nm], &map_len[nm]);
	uint8_t *R = huge_alloc(rbytes > (size_t)brows * rs896 ? rbytes : (size_t)brows * rs896,
				&map[nm + 1], &map_len[nm + 1]);
	float *Y = mem_alloc_array((size_t)brows, sizeof(float));
	if (!B || !R || !Y) {
		fprintf(stderr, "quant_bench: out of memory\n");
		exit(1);
	}
	for (int64_t r = 0; r < brows; r++)
		mdl_quant_row(qtype, wf, B + (size_t)r * rs896, 896);
	if (type == MDL_TYPE_Q4_0X8) {	/* repacked through R */
		for (int m = 0; m < nm; m++) {
			int64_t rows = shp[m % STACK_SHAPES][0], cols = shp[m % STACK_SHAPES][1];
			size_t bytes = (size_t)rows * mdl_row_size(type, cols);
			mdl_q4_0_repack(pool, W[m], R, rows, cols);
			memcpy(W[m], R, bytes);
		}
		mdl_q4_0_repack(pool, B, R, brows, 896);
		memcpy(B, R, (size_t)brows * rs896);
	}
	memset(R, 1, rbytes);
	rj->buf = R;
	static double g[4][VS_ROUNDS_MAX], rd[VS_ROUNDS_MAX];
	for (int k = -1; k < rounds; k++) {
		double r0 = timed_read(pool, rj, rbytes);
		double v[4];
		for (int a = 0; a < 4; a++) {	/* stack 2t, stack 1t, one 2t, one 1t */
			struct tpool *pp = a & 1 ? NULL : pool;
			uint64_t t0 = time_mono_ns();
			if (a < 2)
				for (int m = 0; m < nm; m++)
					mdl_matmul(pp, type, W[m], shp[m % STACK_SHAPES][0],
						   shp[m % STACK_SHAPES][1], X, 1, Y, scratch);
			else
				mdl_matmul(pp, type, B, brows, 896, X, 1, Y, scratch);
			double bytes = a < 2 ? (double)total : (double)brows * (double)rs896;
			v[a] = bytes / ((double)(time_mono_ns() - t0) * 1e-9);
		}
		double r1 = timed_read(pool, rj, rbytes);
		if (k < 0)
			continue;
		rd[k] = (r0 + r1) / 2;
		for (int a = 0; a < 4; a++)
			g[a][k] = v[a];
	}
	int order[VS_ROUNDS_MAX];
	double m[5][3];
	read_order(rd, rounds, order);
	thirds(rd, order, rounds, m[0]);
	for (int a = 0; a < 4; a++)
		thirds(g[a], order, rounds, m[a + 1]);
	printf("\n%s: %d matrices of %d layers (%.1f MB) against one of %.1f MB, %d rounds; GB/s, "
	       "medians\n", mdl_type_info(type)->name, nm, layers, (double)total * 1e-6,
	       (double)brows * (double)rs896 * 1e-6, rounds);
	printf("%-22s %8s %10s %10s %10s %10s\n", "rounds", "read", "layers 2t", "layers 1t",
	       "one 2t", "one 1t");
	for (int part = 0; part < 3; part++) {
		static const char *const label[3] = { "all", "lowest third of reads",
						       "highest third of reads" };
		printf("%-22s %8.2f", label[part], m[0][part] * 1e-9);
		for (int a = 0; a < 4; a++)
			printf(" %10.2f", m[a + 1][part] * 1e-9);
		printf("\n");
	}
	for (int i = 0; i < nm + 2; i++)
		munmap(map[i], map_len[i]);
	mem_free(W);
	mem_free(map);
	mem_free(map_len);
	mem_free(wf);
	mem_free(X);
	mem_free(Y);
	mem_free(scratch);
	mem_free(rj);
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
	if (n_only == 0 && cpu_features()->avx2) {
		vs_read(pool2, quick);
		vs_layers(pool2, MDL_TYPE_Q4_0X8, quick);
		vs_layers(pool2, MDL_TYPE_Q8_0, quick);
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
