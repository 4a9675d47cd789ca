/*
 * quant_q4x8.c - q4_0 weights repacked at load time in groups of 8
 * interleaved rows (MDL_TYPE_Q4_0X8, struct mdl_block_q4_0x8), and their
 * matrix products: a scalar reference and the AVX2 and AVX-512 VNNI forms
 * (quant_q4x8_x86.h), each a decode kernel (gemv, one token) and a tiled
 * one (gemm, 8 rows x several tokens).
 *
 * Why: a plain q4_0 row's dot ends in a horizontal sum and its block
 * scales are applied one block at a time. With 8 rows interleaved, one
 * 32-byte load holds 4 bytes of each of the 8 rows (a 32-bit lane per
 * row), so a block's 8 integer sums come out in the 8 lanes of one
 * register and its scales go on as one 8-lane product and FMA: no
 * horizontal sums, one sequential stream of weights.
 *
 * Float order, the same in every kernel and every level, per row r and
 * token: acc = 0; for each block b in order,
 *   v = (float)isum_r,b - 8 * ysum_b      (exact: all integers < 2^24)
 *   p = d_r,b * dy_b                      (one rounding)
 *   acc = fma(v, p, acc)                  (one rounding)
 * where isum is the exact integer sum of the stored nibbles (0..15) times
 * the activations and ysum the sum of the block's activations (the scratch
 * row's stored sums). So the decode and the tiled kernels, and the levels,
 * give the same bits, and a token's result does not depend on its batch.
 */
#include "model/quant.h"

#include <math.h>

/* The layout of one converted activation row of mdl_matmul's scratch. */
struct q4x8_act {
	const struct mdl_block_q8_0 *y;	/* nb blocks */
	const float *d;			/* nb block scales */
	const float *s;			/* nb sums of each block's values */
};

static inline struct q4x8_act q4x8_act_at(const void *x, int64_t nb)
{
	struct q4x8_act a;
	a.y = x;
	a.d = (const float *)(const void *)((const uint8_t *)x + mdl__q8_0_scales_offset(nb));
	a.s = a.d + nb;
	return a;
}

/* ------------------------------------------------------------------ */
/* Repacking                                                           */
/* ------------------------------------------------------------------ */

struct repack_job {
	const uint8_t *src;
	uint8_t *dst;
	int64_t nb;		/* blocks per row */
	size_t row_bytes;	/* nb * 18 */
	int unpack;		/* 1: q4_0x8 -> q4_0 */
};

/* Groups [begin, end) of 8 rows, one way or the other. */
static void repack_part(void *arg, size_t begin, size_t end, int worker)
{
	const struct repack_job *j = arg;
	(void)worker;
	for (size_t g = begin; g < end; g++) {
		const size_t base = g * 8 * j->row_bytes;
		for (int64_t b = 0; b < j->nb; b++) {
			size_t xoff = base + (size_t)b * sizeof(struct mdl_block_q4_0x8);
			for (int r = 0; r < 8; r++) {
				size_t roff = base + (size_t)r * j->row_bytes +
					      (size_t)b * sizeof(struct mdl_block_q4_0);
				if (!j->unpack) {
					const struct mdl_block_q4_0 *p = (const void *)(j->src + roff);
					struct mdl_block_q4_0x8 *px = (void *)(j->dst + xoff);
					memcpy(&px->d[r], &p->d, 2);
					for (int c = 0; c < 4; c++)
						memcpy(px->qs + c * 32 + r * 4, p->qs + c * 4, 4);
				} else {
					const struct mdl_block_q4_0x8 *px = (const void *)(j->src + xoff);
					struct mdl_block_q4_0 *p = (void *)(j->dst + roff);
					memcpy(&p->d, &px->d[r], 2);
					for (int c = 0; c < 4; c++)
						memcpy(p->qs + c * 4, px->qs + c * 32 + r * 4, 4);
				}
			}
		}
	}
}

static status_t repack_run(struct tpool *pool, const void *src, void *dst, int64_t rows,
			   int64_t cols, int unpack)
{
	if (!src || !dst || rows <= 0 || rows % 8 || cols <= 0 || cols % MDL_QK ||
	    !mdl_row_size(MDL_TYPE_Q4_0, cols) ||
	    (uint64_t)rows > SIZE_MAX / mdl_row_size(MDL_TYPE_Q4_0, cols))
		return ST_INVAL;
	struct repack_job j = { .src = src, .dst = dst, .nb = cols / MDL_QK,
				.row_bytes = mdl_row_size(MDL_TYPE_Q4_0, cols), .unpack = unpack };
	tpool_parallel_for(pool, (size_t)(rows / 8), 16, repack_part, &j);
	return ST_OK;
}

status_t mdl_q4_0_repack(struct tpool *pool, const void *src, void *dst, int64_t rows,
			 int64_t cols)
{
	return repack_run(pool, src, dst, rows, cols, 0);
}

status_t mdl_q4_0x8_unpack(const void *src, void *dst, int64_t rows, int64_t cols)
{
	return repack_run(NULL, src, dst, rows, cols, 1);
}

void mdl_q4_0x8_row(const void *group, int r, int64_t cols, float *dst)
{
	const struct mdl_block_q4_0x8 *g = group;
	for (int64_t b = 0; b < cols / MDL_QK; b++) {
		struct mdl_block_q4_0 q;
		memcpy(&q.d, &g[b].d[r], 2);
		for (int c = 0; c < 4; c++)
			memcpy(q.qs + c * 4, g[b].qs + c * 32 + r * 4, 4);
		mdl_dequant_row(MDL_TYPE_Q4_0, &q, dst + b * MDL_QK, MDL_QK);
	}
}

/* ------------------------------------------------------------------ */
/* Scalar reference                                                    */
/* ------------------------------------------------------------------ */

/* One group of 8 rows against one activation row: out[0..7]. */
static void group_scalar(int64_t nb, const struct mdl_block_q4_0x8 *g, const void *x,
			 float *out)
{
	const struct q4x8_act a = q4x8_act_at(x, nb);
	float acc[8] = { 0 };
	for (int64_t b = 0; b < nb; b++) {
		const int8_t *y = a.y[b].qs;
		for (int r = 0; r < 8; r++) {
			int s = 0;
			for (int c = 0; c < 4; c++)
				for (int i = 0; i < 4; i++) {
					int q = g[b].qs[c * 32 + r * 4 + i];
					s += (q & 15) * y[c * 4 + i] + (q >> 4) * y[c * 4 + i + 16];
				}
			float v = (float)s - 8.0f * a.s[b];
			float p = mdl_fp16_to_fp32(g[b].d[r]) * a.d[b];
			acc[r] = fmaf(v, p, acc[r]);
		}
	}
	memcpy(out, acc, sizeof acc);
}

static void gemm_scalar(int64_t n, const void *w, size_t w_stride, int nr, const void *x,
			size_t x_stride, int nt, float *y, size_t y_stride)
{
	for (int g = 0; g < nr / 8; g++) {
		const void *wg = (const uint8_t *)w + (size_t)g * 8 * w_stride;
		for (int t = 0; t < nt; t++)
			group_scalar(n / MDL_QK, wg, (const uint8_t *)x + (size_t)t * x_stride,
				     y + (size_t)t * y_stride + (size_t)g * 8);
	}
}

static void gemv_scalar(int64_t n, const void *w, size_t w_stride, int nr, const void *x,
			float *out)
{
	gemm_scalar(n, w, w_stride, nr, x, 0, 1, out, 0);
}

/* A single row of an interleaved group has no dot of its own. */
static float dot_none(int64_t n, const void *w, const void *x)
{
	(void)n;
	(void)w;
	(void)x;
	return NAN;
}

/* ------------------------------------------------------------------ */
/* x86                                                                 */
/* ------------------------------------------------------------------ */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "model/quant_pf.h"

#define QX_TARGET __attribute__((target("avx2,fma,f16c")))
#define QX_VNNI 0
#define QX_TMAX 2
#define QX_(name) name##_avx2
#include "model/quant_q4x8_x86.h"
#undef QX_TARGET
#undef QX_VNNI
#undef QX_TMAX
#undef QX_

#define QX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define QX_VNNI 1
#define QX_TMAX 4
#define QX_(name) name##_avx512
#include "model/quant_q4x8_x86.h"
#undef QX_TARGET
#undef QX_VNNI
#undef QX_TMAX
#undef QX_
#endif

void mdl__kernels_q4x8(struct mdl__kernels *k, enum mdl_level level)
{
	k->vec_dot[MDL_TYPE_Q4_0X8] = dot_none;
	k->vec_dot_mm[MDL_TYPE_Q4_0X8] = NULL;
	k->gemm[MDL_TYPE_Q4_0X8] = gemm_scalar;
	k->gemv[MDL_TYPE_Q4_0X8] = gemv_scalar;
#if defined(__x86_64__) || defined(__i386__)
	if (level == MDL_LEVEL_AVX2) {
		k->gemm[MDL_TYPE_Q4_0X8] = gemm_avx2;
		k->gemv[MDL_TYPE_Q4_0X8] = gemv_avx2;
	} else if (level == MDL_LEVEL_AVX512) {
		k->gemm[MDL_TYPE_Q4_0X8] = gemm_avx512;
		k->gemv[MDL_TYPE_Q4_0X8] = gemv_avx512;
	}
#else
	(void)level;
#endif
}
