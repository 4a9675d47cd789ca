/*
 * quant_avx2.c - AVX2 + FMA + F16C kernels of the tensor types: dot products
 * for every weight type (one and four activation rows), the conversion of
 * activations to q8_0, q8_1, q8_K and f16, and half-precision rows. The
 * K-type dots live in quant_kx86.h, included below. Every function carries
 * a target attribute, so the file builds with
 * the project's ordinary flags and this code runs only when quant.c has
 * found the features on the CPU.
 *
 * Within a block everything is exact integer arithmetic, as in the scalar
 * code; only the order of the float accumulation across blocks differs, so
 * results agree with the scalar kernels to float rounding (the tests check
 * this on random blocks). Activation conversion is bit-identical to the
 * scalar one.
 */
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include "model/quant_pf.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* One half to float with F16C: exact, and inline (the portable conversion
 * is a call with branches, too slow once per block). */
AVX2 static inline float fp16(uint16_t h)
{
	return _cvtsh_ss(h);
}

AVX2 static inline float hsum_ps(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2 static inline int hsum_epi32(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(s);
}

/*
 * Sums of 4 adjacent products of signed bytes x and y, as 8 int32.
 * maddubs multiplies unsigned by signed, so x's sign moves onto y first.
 * Exact as long as not both x and y hold -128 in one lane (activations
 * never do: they are within +-127).
 */
AVX2 static inline __m256i dot_i8(__m256i x, __m256i y)
{
	__m256i ax = _mm256_sign_epi8(x, x);
	__m256i sy = _mm256_sign_epi8(y, x);
	__m256i p = _mm256_maddubs_epi16(ax, sy);
	return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* As dot_i8 for unsigned x (values below 128 keep maddubs exact). */
AVX2 static inline __m256i dot_u8(__m256i ux, __m256i y)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(ux, y), _mm256_set1_epi16(1));
}

/* The 32 nibbles of 16 bytes: low nibbles in bytes 0-15, high in 16-31,
 * which is the element order of q4_0/q4_1/q5_0/q5_1 blocks. */
AVX2 static inline __m256i nibbles_32(const uint8_t *p)
{
	__m128i q = _mm_loadu_si128((const __m128i *)p);
	__m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
	return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* Byte j becomes 0xff where bit j of the 32-bit mask is set. */
AVX2 static inline __m256i bits_to_bytes(uint32_t bits)
{
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
					       0x0101010101010101ll, 0x0000000000000000ll);
	const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
	v = _mm256_and_si256(v, bit);
	return _mm256_cmpeq_epi8(v, bit);
}

static inline uint32_t load_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* ------------------------------------------------------------------ */
/* Element types                                                       */
/* ------------------------------------------------------------------ */

AVX2 static float dot_f32(int64_t n, const void *w, const void *x)
{
	const float *a = w, *b = x;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	__m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
		acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
		acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
	float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
	for (; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

AVX2 static inline __m256 load_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2 static float dot_f16(int64_t n, const void *w, const void *x)
{
	const uint16_t *a = w, *b = x;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	__m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		acc0 = _mm256_fmadd_ps(load_f16(a + i), load_f16(b + i), acc0);
		acc1 = _mm256_fmadd_ps(load_f16(a + i + 8), load_f16(b + i + 8), acc1);
		acc2 = _mm256_fmadd_ps(load_f16(a + i + 16), load_f16(b + i + 16), acc2);
		acc3 = _mm256_fmadd_ps(load_f16(a + i + 24), load_f16(b + i + 24), acc3);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(load_f16(a + i), load_f16(b + i), acc0);
	float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
	for (; i < n; i++)
		sum += fp16(a[i]) * fp16(b[i]);
	return sum;
}

AVX2 static inline __m256 load_bf16(const uint16_t *p)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2 static float dot_bf16(int64_t n, const void *w, const void *x)
{
	const uint16_t *a = w, *b = x;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	__m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		acc0 = _mm256_fmadd_ps(load_bf16(a + i), load_bf16(b + i), acc0);
		acc1 = _mm256_fmadd_ps(load_bf16(a + i + 8), load_bf16(b + i + 8), acc1);
		acc2 = _mm256_fmadd_ps(load_bf16(a + i + 16), load_bf16(b + i + 16), acc2);
		acc3 = _mm256_fmadd_ps(load_bf16(a + i + 24), load_bf16(b + i + 24), acc3);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(load_bf16(a + i), load_bf16(b + i), acc0);
	float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
	for (; i < n; i++)
		sum += mdl_bf16_to_fp32(a[i]) * mdl_bf16_to_fp32(b[i]);
	return sum;
}

/* ------------------------------------------------------------------ */
/* Blocks of 32                                                        */
/* ------------------------------------------------------------------ */

/*
 * The kernels below are written once for nt activation rows (x, x + stride,
 * ...) and inlined with nt = 1 (vec_dot) and nt = 1..4 (vec_dot_mm): the
 * weights are unpacked once for all rows, and each row's arithmetic is the
 * same sequence in both, so both give bit-identical results.
 */
#define KERNEL AVX2 static inline __attribute__((always_inline))

/* Row t of the activations. */
#define XROW(type, x, stride, t) \
	((const type *)(const void *)((const uint8_t *)(x) + (size_t)(t) * (stride)))

/*
 * The scales of 8 consecutive blocks (a half at offset 0 of each block,
 * blocks `stride` bytes apart) as 8 floats. Converting 8 at once instead of
 * one per block takes most of the per-block overhead out of the loops.
 */
AVX2 static inline __m256 load_d8(const uint8_t *p, size_t stride)
{
	uint16_t h[8];
	for (int j = 0; j < 8; j++)
		memcpy(&h[j], p + (size_t)j * stride, 2);
	__m128i v = _mm_cvtsi32_si128(h[0]);
	v = _mm_insert_epi16(v, h[1], 1);
	v = _mm_insert_epi16(v, h[2], 2);
	v = _mm_insert_epi16(v, h[3], 3);
	v = _mm_insert_epi16(v, h[4], 4);
	v = _mm_insert_epi16(v, h[5], 5);
	v = _mm_insert_epi16(v, h[6], 6);
	v = _mm_insert_epi16(v, h[7], 7);
	return _mm256_cvtph_ps(v);
}

static inline uint16_t load_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

/*
 * The 32 values of block i of a q8_0, q4_0 or q5_0 row: q8_0's as signed
 * bytes; q4_0's and q5_0's as stored, unsigned (q + 8 in 0..15, q + 16 in
 * 0..31), their offset being taken off once per group of blocks (b32_n).
 */
KERNEL __m256i b32_values(const int wt, const uint8_t *row, int64_t i)
{
	if (wt == MDL_TYPE_Q8_0) {
		const struct mdl_block_q8_0 *a = (const void *)row;
		return _mm256_loadu_si256((const __m256i *)a[i].qs);
	}
	if (wt == MDL_TYPE_Q4_0) {
		const struct mdl_block_q4_0 *a = (const void *)row;
		return nibbles_32(a[i].qs);
	}
	const struct mdl_block_q5_0 *a = (const void *)row;
	__m256i hb = _mm256_and_si256(bits_to_bytes(load_u32(a[i].qh)), _mm256_set1_epi8(16));
	return _mm256_or_si256(nibbles_32(a[i].qs), hb);
}

/* The sum of a q8_0 block's 32 values. */
AVX2 static inline int block_sum(const int8_t *qs)
{
	__m256i v = _mm256_loadu_si256((const __m256i *)qs);
	return hsum_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v),
					    _mm256_set1_epi16(1)));
}

/* The sums of 8 consecutive q8_0 blocks' values, as floats. */
AVX2 static inline __m256 block_sums8(const struct mdl_block_q8_0 *b)
{
	return _mm256_cvtepi32_ps(_mm256_setr_epi32(block_sum(b[0].qs), block_sum(b[1].qs),
						    block_sum(b[2].qs), block_sum(b[3].qs),
						    block_sum(b[4].qs), block_sum(b[5].qs),
						    block_sum(b[6].qs), block_sum(b[7].qs)));
}

/*
 * q8_0, q4_0 and q5_0 against q8_0 activations: all three blocks start
 * with their f16 scale. Groups of 8 blocks take their scales as vectors;
 * two accumulators hide the FMA latency.
 *
 * q4_0 and q5_0 multiply their stored, unsigned values (one VPMADDUBSW, no
 * sign juggling) and subtract off * sum(y) per block afterwards:
 *   sum_b dxy_b * sum((u - off) * y) = sum_b dxy_b * sum(u * y)
 *                                      - off * sum_b dxy_b * sum_b(y),
 * the second term 8 blocks at a time from the blocks' sums of y, which
 * mdl_matmul stores after the scales (vec_dot computes them here).
 */
KERNEL void b32_n(const int wt, const size_t wbytes, int64_t n, const void *w,
		  const void *x, size_t stride, const int nt, float *out)
{
	const uint8_t *a = w;
	const size_t xbytes = sizeof(struct mdl_block_q8_0);
	const int off = wt == MDL_TYPE_Q4_0 ? 8 : wt == MDL_TYPE_Q5_0 ? 16 : 0;
	int64_t nb = n / MDL_QK, i = 0;
	/* from mdl_matmul (stride != 0): scales and sums as floats after each row */
	const int pre = stride != 0;
	const float *xd[4] = { 0 }, *xs[4] = { 0 };
	for (int t = 0; t < nt && pre; t++) {
		xd[t] = (const float *)(const void *)((const uint8_t *)XROW(struct mdl_block_q8_0, x, stride, t) +
						      mdl__q8_0_scales_offset(nb));
		xs[t] = xd[t] + nb;
	}
	__m256 acc0[4], acc1[4], corr[4];
	float ctail[4];
	for (int t = 0; t < nt; t++) {
		acc0[t] = acc1[t] = corr[t] = _mm256_setzero_ps();
		ctail[t] = 0;
	}
	for (; i + 8 <= nb; i += 8) {
		__m256 dw = load_d8(a + (size_t)i * wbytes, wbytes);
		/* products of scales, broadcast from memory below (a load,
		 * where a register permute would compete with the shuffles) */
		float dxy[4][8] __attribute__((aligned(32)));
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t) + i;
			__m256 dv = _mm256_mul_ps(dw, pre ? _mm256_loadu_ps(xd[t] + i) :
						  load_d8((const uint8_t *)b, xbytes));
			_mm256_store_ps(dxy[t], dv);
			if (off)
				corr[t] = _mm256_fmadd_ps(dv, pre ? _mm256_loadu_ps(xs[t] + i) : block_sums8(b),
							  corr[t]);
		}
		for (int k = 0; k < 8; k += 2) {
			__m256i q0 = b32_values(wt, a, i + k);
			__m256i q1 = b32_values(wt, a, i + k + 1);
			for (int t = 0; t < nt; t++) {
				const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t) + i + k;
				__m256i y0 = _mm256_loadu_si256((const __m256i *)b[0].qs);
				__m256i y1 = _mm256_loadu_si256((const __m256i *)b[1].qs);
				__m256i p0 = off ? dot_u8(q0, y0) : dot_i8(q0, y0);
				__m256i p1 = off ? dot_u8(q1, y1) : dot_i8(q1, y1);
				acc0[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dxy[t][k]),
							  _mm256_cvtepi32_ps(p0), acc0[t]);
				acc1[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dxy[t][k + 1]),
							  _mm256_cvtepi32_ps(p1), acc1[t]);
			}
		}
	}
	for (; i < nb; i++) {
		__m256i q0 = b32_values(wt, a, i);
		float d0 = fp16(load_u16(a + (size_t)i * wbytes));
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t) + i;
			__m256i y0 = _mm256_loadu_si256((const __m256i *)b->qs);
			__m256i p0 = off ? dot_u8(q0, y0) : dot_i8(q0, y0);
			float dd = d0 * fp16(b->d);
			acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(p0), acc0[t]);
			if (off) {
				float sy = pre ? xs[t][i] : (float)block_sum(b->qs);
				ctail[t] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(dd), _mm_set_ss(sy),
								      _mm_set_ss(ctail[t])));
			}
		}
	}
	for (int t = 0; t < nt; t++) {
		out[t] = hsum_ps(_mm256_add_ps(acc0[t], acc1[t]));
		if (off)
			out[t] -= (float)off * (hsum_ps(corr[t]) + ctail[t]);
	}
}

KERNEL void q8_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	b32_n(MDL_TYPE_Q8_0, sizeof(struct mdl_block_q8_0), n, w, x, stride, nt, out);
}

KERNEL void q4_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	b32_n(MDL_TYPE_Q4_0, sizeof(struct mdl_block_q4_0), n, w, x, stride, nt, out);
}

KERNEL void q5_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	b32_n(MDL_TYPE_Q5_0, sizeof(struct mdl_block_q5_0), n, w, x, stride, nt, out);
}

/* The single-row and four-row entry points of a kernel above. */
#define ENTRY_POINTS(name)                                                      \
	AVX2 static float dot_##name(int64_t n, const void *w, const void *x)   \
	{                                                                      \
		float out;                                                     \
		name##_n(n, w, x, 0, 1, &out);                                 \
		return out;                                                    \
	}                                                                      \
	AVX2 static void dotmm_##name(int64_t n, const void *w, const void *x,  \
				      size_t stride, int nt, float *out)       \
	{                                                                      \
		switch (nt) {                                                  \
		case 4: name##_n(n, w, x, stride, 4, out); break;              \
		case 3: name##_n(n, w, x, stride, 3, out); break;              \
		case 2: name##_n(n, w, x, stride, 2, out); break;              \
		default: name##_n(n, w, x, stride, 1, out); break;             \
		}                                                              \
	}

ENTRY_POINTS(q8_0)
ENTRY_POINTS(q4_0)
ENTRY_POINTS(q5_0)

/*
 * One token against nr weight rows wstride bytes apart (the decode form,
 * mdl__gemv_fn): each row through name##_n with one activation row, as
 * vec_dot_mm does it for a single token, so bit-identical to vec_dot; x is
 * a row of mdl_matmul's scratch, so a nonzero stride makes the kernel read
 * the block scales and sums stored after the blocks.
 */
#define GEMV_B32(name, pf)                                                      \
	AVX2 static void gemv_##name(int64_t n, const void *w, size_t wstride,  \
				     int nr, const void *x, float *out)        \
	{                                                                      \
		for (int r = 0; r < nr; r++) {                                 \
			if (pf)                                                \
				mdl__gemv_prefetch_pages((const uint8_t *)w + (size_t)r * wstride, wstride); \
			name##_n(n, (const uint8_t *)w + (size_t)r * wstride, x, 1, 1, out + r); \
		}                                                              \
	}

GEMV_B32(q8_0, 1)
GEMV_B32(q4_0, 0)
GEMV_B32(q5_0, 1)

/* The 32 values of block i of a q4_1 (0..15) or q5_1 (0..31) row. */
KERNEL __m256i b32m_values(const int wt, const uint8_t *row, int64_t i)
{
	if (wt == MDL_TYPE_Q4_1) {
		const struct mdl_block_q4_1 *a = (const void *)row;
		return nibbles_32(a[i].qs);
	}
	const struct mdl_block_q5_1 *a = (const void *)row;
	__m256i hb = _mm256_and_si256(bits_to_bytes(load_u32(a[i].qh)), _mm256_set1_epi8(16));
	return _mm256_or_si256(nibbles_32(a[i].qs), hb);
}

/*
 * q4_1 and q5_1 against q8_1 activations: blocks start with the scale d and
 * offset m (f16), activation blocks with d and s = d * sum(y). Per block
 *   d * dy * sum(q * y) + m * s,
 * the first term block by block, the second 8 blocks at a time as vectors.
 */
KERNEL void b32m_n(const int wt, const size_t wbytes, int64_t n, const void *w,
		   const void *x, size_t stride, const int nt, float *out)
{
	const uint8_t *a = w;
	const size_t xbytes = sizeof(struct mdl_block_q8_1);
	int64_t nb = n / MDL_QK, i = 0;
	__m256 acc0[4], acc1[4], accm[4];
	float mtail[4];
	for (int t = 0; t < nt; t++) {
		acc0[t] = acc1[t] = accm[t] = _mm256_setzero_ps();
		mtail[t] = 0;
	}
	for (; i + 8 <= nb; i += 8) {
		const uint8_t *ab = a + (size_t)i * wbytes;
		__m256 dw = load_d8(ab, wbytes), mw = load_d8(ab + 2, wbytes);
		float dxy[4][8] __attribute__((aligned(32)));
		for (int t = 0; t < nt; t++) {
			const uint8_t *xb = (const uint8_t *)XROW(struct mdl_block_q8_1, x, stride, t) +
					    (size_t)i * xbytes;
			_mm256_store_ps(dxy[t], _mm256_mul_ps(dw, load_d8(xb, xbytes)));
			accm[t] = _mm256_fmadd_ps(mw, load_d8(xb + 2, xbytes), accm[t]);
		}
		for (int k = 0; k < 8; k += 2) {
			__m256i q0 = b32m_values(wt, a, i + k);
			__m256i q1 = b32m_values(wt, a, i + k + 1);
			for (int t = 0; t < nt; t++) {
				const struct mdl_block_q8_1 *b = XROW(struct mdl_block_q8_1, x, stride, t) + i + k;
				__m256i p0 = dot_u8(q0, _mm256_loadu_si256((const __m256i *)b[0].qs));
				__m256i p1 = dot_u8(q1, _mm256_loadu_si256((const __m256i *)b[1].qs));
				acc0[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dxy[t][k]),
							  _mm256_cvtepi32_ps(p0), acc0[t]);
				acc1[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dxy[t][k + 1]),
							  _mm256_cvtepi32_ps(p1), acc1[t]);
			}
		}
	}
	for (; i < nb; i++) {
		__m256i q0 = b32m_values(wt, a, i);
		const uint8_t *ab = a + (size_t)i * wbytes;
		float d0 = fp16(load_u16(ab)), m0 = fp16(load_u16(ab + 2));
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_1 *b = XROW(struct mdl_block_q8_1, x, stride, t) + i;
			__m256i p0 = dot_u8(q0, _mm256_loadu_si256((const __m256i *)b->qs));
			acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * fp16(b->d)),
						  _mm256_cvtepi32_ps(p0), acc0[t]);
			mtail[t] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(m0), _mm_set_ss(fp16(b->s)),
							      _mm_set_ss(mtail[t])));
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(_mm256_add_ps(acc0[t], acc1[t])) + (hsum_ps(accm[t]) + mtail[t]);
}

KERNEL void q4_1_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	b32m_n(MDL_TYPE_Q4_1, sizeof(struct mdl_block_q4_1), n, w, x, stride, nt, out);
}

KERNEL void q5_1_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	b32m_n(MDL_TYPE_Q5_1, sizeof(struct mdl_block_q5_1), n, w, x, stride, nt, out);
}

ENTRY_POINTS(q4_1)
ENTRY_POINTS(q5_1)

#define KTARGET AVX2
#define MADD_ACC(acc, p, s) _mm256_add_epi32((acc), _mm256_madd_epi16((p), (s)))
#define K_SPLIT 0
#include "model/quant_kx86.h"

/* ------------------------------------------------------------------ */
/* Activation conversion                                               */
/* ------------------------------------------------------------------ */

/*
 * Quantises 32 floats with multiplier id (rounding to nearest even) into
 * 32 bytes at q; returns the 8 int32 partial sums of the values.
 */
AVX2 static inline __m256i q8_block(const float *x, float id, int8_t *q)
{
	const __m256 mul = _mm256_set1_ps(id);
	__m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x), mul),
							_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	__m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8), mul),
							_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	__m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 16), mul),
							_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	__m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 24), mul),
							_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	__m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
	/* The packs work within 128-bit lanes; a final permute restores order. */
	__m256i p01 = _mm256_packs_epi32(i0, i1);
	__m256i p23 = _mm256_packs_epi32(i2, i3);
	__m256i p = _mm256_packs_epi16(p01, p23);
	p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)q, p);
	return sum;
}

AVX2 static inline float absmax_32(const float *x)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
	m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
	m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
	m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
	__m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2 static void act_q8_0(const float *x, void *dst, int64_t n)
{
	struct mdl_block_q8_0 *b = dst;
	for (int64_t i = 0; i < n / MDL_QK; i++, b++, x += MDL_QK) {
		float amax = absmax_32(x);
		b->d = mdl_fp32_to_fp16(amax / 127.0f);
		q8_block(x, amax != 0.0f ? 127.0f / amax : 0.0f, b->qs);
	}
}

AVX2 static void act_q8_1(const float *x, void *dst, int64_t n)
{
	struct mdl_block_q8_1 *b = dst;
	for (int64_t i = 0; i < n / MDL_QK; i++, b++, x += MDL_QK) {
		float amax = absmax_32(x);
		float d = amax / 127.0f;
		b->d = mdl_fp32_to_fp16(d);
		__m256i s = q8_block(x, amax != 0.0f ? 127.0f / amax : 0.0f, b->qs);
		b->s = mdl_fp32_to_fp16(d * (float)hsum_epi32(s));
	}
}

AVX2 static void h2f_row(const uint16_t *src, float *dst, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
	for (; i < n; i++)
		dst[i] = _cvtsh_ss(src[i]);
}

AVX2 static void f2h_row(const float *src, uint16_t *dst, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(dst + i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		dst[i] = (uint16_t)_cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

/*
 * Scores of nq (up to 8) queries, converted to floats in qf (n each),
 * against each row of K, for a head size n of 64 or 128 known here: the
 * row's first 64 values are converted once into registers for all the
 * queries. Each score is dot_f16's sequence for n a multiple of 32 (four
 * accumulators in column order, the same FMAs, the same final sums), so
 * equal to it bit for bit.
 */
KERNEL void f16_dots_heads(const int n, int64_t n_pos, const uint16_t *K, size_t stride,
			   int nq, const float *qf, float scale, float *out, size_t out_stride)
{
	for (int64_t p = 0; p < n_pos; p++) {
		const uint16_t *k = K + (size_t)p * stride;
		__m256 kr[8];
		_Pragma("GCC unroll 8")
		for (int j = 0; j < 8; j++)	/* n >= 64 */
			kr[j] = load_f16(k + 8 * j);
		for (int h = 0; h < nq; h++) {
			const float *qh = qf + (size_t)h * n;
			__m256 acc[4];
			_Pragma("GCC unroll 8")
			for (int c = 0; c < 4; c++)
				acc[c] = _mm256_setzero_ps();
			_Pragma("GCC unroll 8")
			for (int i = 0; i < n; i += 32)
				_Pragma("GCC unroll 8")
				for (int c = 0; c < 4; c++) {
					int col = i + 8 * c;
					__m256 kv = col < 64 ? kr[col / 8] : load_f16(k + col);
					acc[c] = _mm256_fmadd_ps(kv, _mm256_loadu_ps(qh + col), acc[c]);
				}
			out[(size_t)h * out_stride + (size_t)p] =
				hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
						      _mm256_add_ps(acc[2], acc[3]))) * scale;
		}
	}
}

AVX2 static void f16_dots(int64_t n_pos, int64_t n, const uint16_t *K, size_t stride,
			  int nq, const uint16_t *q, size_t q_stride, float scale,
			  float *out, size_t out_stride)
{
	if (n != 64 && n != 128) {
		for (int h = 0; h < nq; h++)
			for (int64_t p = 0; p < n_pos; p++)
				out[(size_t)h * out_stride + (size_t)p] =
					dot_f16(n, K + (size_t)p * stride, q + (size_t)h * q_stride) * scale;
		return;
	}
	float qf[8 * 128];
	for (int h0 = 0; h0 < nq; h0 += 8) {
		int m = nq - h0 < 8 ? nq - h0 : 8;
		for (int h = 0; h < m; h++)
			h2f_row(q + (size_t)(h0 + h) * q_stride, qf + (size_t)h * n, n);
		if (n == 64)
			f16_dots_heads(64, n_pos, K, stride, m, qf, scale, out + (size_t)h0 * out_stride,
				       out_stride);
		else
			f16_dots_heads(128, n_pos, K, stride, m, qf, scale, out + (size_t)h0 * out_stride,
				       out_stride);
	}
}

/* Columns in blocks of 64 held in eight registers while the rows stream
 * past; multiply and add kept apart (no FMA) to round as the scalar code. */
AVX2 static void f16_wsum1(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride,
			   const float *w, float *o)
{
	int64_t j = 0;
	for (; j + 64 <= n; j += 64) {
		__m256 acc[8];
		for (int k = 0; k < 8; k++)
			acc[k] = _mm256_loadu_ps(o + j + 8 * k);
		for (int64_t p = 0; p < n_pos; p++) {
			const uint16_t *v = V + (size_t)p * stride + j;
			__m256 a = _mm256_set1_ps(w[p]);
			for (int k = 0; k < 8; k++)
				acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(a, load_f16(v + 8 * k)));
		}
		for (int k = 0; k < 8; k++)
			_mm256_storeu_ps(o + j + 8 * k, acc[k]);
	}
	for (; j + 8 <= n; j += 8) {
		__m256 acc = _mm256_loadu_ps(o + j);
		for (int64_t p = 0; p < n_pos; p++)
			acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(w[p]),
							       load_f16(V + (size_t)p * stride + j)));
		_mm256_storeu_ps(o + j, acc);
	}
	for (; j < n; j++) {
		float s = o[j];
		for (int64_t p = 0; p < n_pos; p++) {
			float prod = w[p] * fp16(V[(size_t)p * stride + j]);
			s = s + prod;
		}
		o[j] = s;
	}
}

/*
 * Two heads' (or one's) weighted sums over the same rows, 32 columns at a
 * time: the row's 32 values converted to floats once for both heads (f16
 * rows of `stride` halves, or q8_0 rows of `stride` bytes, a block per 32
 * columns), each head's accumulators in four registers. Every element is
 * the sequence of the scalar loop (f16_wsum: o + w * v; q8_0_wsum: a = w *
 * d rounded, then o + a * q), product and sum rounded apart (no FMA),
 * rows in order, so the bits are the scalar code's.
 */
KERNEL void wsum_pair(const int q8, const int nh, int64_t n_pos, int64_t n, const void *V,
		      size_t stride, const float *w, size_t w_stride, float *o, size_t o_stride)
{
	for (int64_t j = 0; j < n; j += 32) {
		__m256 acc[2][4];
		_Pragma("GCC unroll 8")
		for (int h = 0; h < nh; h++)
			_Pragma("GCC unroll 8")
			for (int c = 0; c < 4; c++)
				acc[h][c] = _mm256_loadu_ps(o + (size_t)h * o_stride + j + 8 * c);
		for (int64_t p = 0; p < n_pos; p++) {
			__m256 vf[4];
			float d = 0;
			if (q8) {
				const struct mdl_block_q8_0 *b = (const void *)((const uint8_t *)V +
					(size_t)p * stride + (size_t)(j / MDL_QK) * sizeof *b);
				d = fp16(b->d);
				_Pragma("GCC unroll 8")
				for (int c = 0; c < 4; c++)
					vf[c] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
						(const __m128i *)(const void *)(b->qs + 8 * c))));
			} else {
				const uint16_t *v = (const uint16_t *)V + (size_t)p * stride + j;
				_Pragma("GCC unroll 8")
				for (int c = 0; c < 4; c++)
					vf[c] = load_f16(v + 8 * c);
			}
			_Pragma("GCC unroll 8")
			for (int h = 0; h < nh; h++) {
				float wp = w[(size_t)h * w_stride + (size_t)p];
				__m256 a = _mm256_set1_ps(q8 ? wp * d : wp);
				_Pragma("GCC unroll 8")
				for (int c = 0; c < 4; c++)
					acc[h][c] = _mm256_add_ps(acc[h][c], _mm256_mul_ps(a, vf[c]));
			}
		}
		_Pragma("GCC unroll 8")
		for (int h = 0; h < nh; h++)
			_Pragma("GCC unroll 8")
			for (int c = 0; c < 4; c++)
				_mm256_storeu_ps(o + (size_t)h * o_stride + j + 8 * c, acc[h][c]);
	}
}

AVX2 static void f16_wsum(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride,
			  int nw, const float *w, size_t w_stride, float *o, size_t o_stride)
{
	int h = 0;
	if (n % 32 == 0) {
		for (; h + 2 <= nw; h += 2)
			wsum_pair(0, 2, n_pos, n, V, stride, w + (size_t)h * w_stride, w_stride,
				  o + (size_t)h * o_stride, o_stride);
	}
	for (; h < nw; h++)
		f16_wsum1(n_pos, n, V, stride, w + (size_t)h * w_stride, o + (size_t)h * o_stride);
}

AVX2 static void q8_0_wsum(int64_t n_pos, int64_t n, const void *V, size_t stride,
			   int nw, const float *w, size_t w_stride, float *o, size_t o_stride)
{
	int h = 0;
	for (; h + 2 <= nw; h += 2)
		wsum_pair(1, 2, n_pos, n, V, stride, w + (size_t)h * w_stride, w_stride,
			  o + (size_t)h * o_stride, o_stride);
	if (h < nw)
		wsum_pair(1, 1, n_pos, n, V, stride, w + (size_t)h * w_stride, w_stride,
			  o + (size_t)h * o_stride, o_stride);
}

/*
 * exp of 8 floats: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts so
 * that r is exact enough), e^r by Cephes' degree-6 polynomial, 2^n put into
 * the exponent. Below -87.3 (where expf turns subnormal) the result is 0,
 * above 88.7 infinity; NaN stays NaN. Within 2 ulp of expf (tests/quant).
 */
AVX2 static inline __m256 exp8(__m256 x)
{
	const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.72283f);
	__m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
	__m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	__m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
	/* 2^n in two steps (n may be 128 at the top of the range) */
	__m256i ni = _mm256_cvtps_epi32(n);
	__m256i h = _mm256_srai_epi32(ni, 1);
	__m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
	__m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(
		_mm256_add_epi32(_mm256_sub_epi32(ni, h), _mm256_set1_epi32(127)), 23));
	e = _mm256_mul_ps(_mm256_mul_ps(e, s1), s2);
	e = _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
	e = _mm256_blendv_ps(e, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
	return _mm256_blendv_ps(e, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

AVX2 static void softmax(int64_t n, float *s)
{
	int64_t p = 0;
	__m256 mv = _mm256_set1_ps(-INFINITY);
	/* max_ps(v, m) returns m where v is NaN: NaNs do not become the max */
	for (; p + 8 <= n; p += 8)
		mv = _mm256_max_ps(_mm256_loadu_ps(s + p), mv);
	__m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
	m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
	m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
	float m = _mm_cvtss_f32(m4);
	for (; p < n; p++)
		if (s[p] > m)
			m = s[p];
	/* 4 vector sums of floats (each over n/32 terms) added in double */
	__m256 sum[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
			  _mm256_setzero_ps() };
	const __m256 mb = _mm256_set1_ps(m);
	for (p = 0; p + 32 <= n; p += 32)
		for (int k = 0; k < 4; k++) {
			__m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p + 8 * k), mb));
			_mm256_storeu_ps(s + p + 8 * k, e);
			sum[k] = _mm256_add_ps(sum[k], e);
		}
	for (; p + 8 <= n; p += 8) {
		__m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), mb));
		_mm256_storeu_ps(s + p, e);
		sum[0] = _mm256_add_ps(sum[0], e);
	}
	double total = 0;
	for (int k = 0; k < 4; k++) {
		float f[8];
		_mm256_storeu_ps(f, sum[k]);
		for (int j = 0; j < 8; j++)
			total += f[j];
	}
	for (; p < n; p++) {
		float e[8];
		_mm256_storeu_ps(e, exp8(_mm256_set1_ps(s[p] - m)));
		s[p] = e[0];
		total += e[0];
	}
	const __m256 inv = _mm256_set1_ps((float)(1.0 / total));
	for (p = 0; p + 8 <= n; p += 8)
		_mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), inv));
	for (; p < n; p++)
		s[p] = s[p] * _mm256_cvtss_f32(inv);
}

AVX2 static void silu_mul(int64_t n, float *g, const float *u)
{
	int64_t i = 0;
	const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
	for (; i + 8 <= n; i += 8) {
		__m256 x = _mm256_loadu_ps(g + i);
		__m256 d = _mm256_add_ps(one, exp8(_mm256_xor_ps(x, neg)));
		_mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, d), _mm256_loadu_ps(u + i)));
	}
	if (i < n) {
		float x[8] = { 0 }, y[8] = { 0 };
		memcpy(x, g + i, (size_t)(n - i) * sizeof(float));
		memcpy(y, u + i, (size_t)(n - i) * sizeof(float));
		__m256 xv = _mm256_loadu_ps(x);
		__m256 d = _mm256_add_ps(one, exp8(_mm256_xor_ps(xv, neg)));
		_mm256_storeu_ps(x, _mm256_mul_ps(_mm256_div_ps(xv, d), _mm256_loadu_ps(y)));
		memcpy(g + i, x, (size_t)(n - i) * sizeof(float));
	}
}

AVX2 static void act_f16(const float *x, void *dst, int64_t n)
{
	f2h_row(x, dst, n);
}

/*
 * q8_K as the scalar act_q8_K (ggml's reference): the element of largest
 * magnitude, the first one on a tie, sets the scale -127/max; values are
 * rounded to nearest even; bsums are the sums of each 16 values.
 */
AVX2 static void act_q8_K(const float *x, void *dst, int64_t n)
{
	struct mdl_block_q8_K *b = dst;
	for (int64_t i = 0; i < n / MDL_QK_K; i++, b++, x += MDL_QK_K) {
		__m256 mx = _mm256_loadu_ps(x), mn = mx;
		for (int j = 8; j < MDL_QK_K; j += 8) {
			__m256 v = _mm256_loadu_ps(x + j);
			mx = _mm256_max_ps(mx, v);
			mn = _mm256_min_ps(mn, v);
		}
		__m128 a = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
		a = _mm_max_ps(a, _mm_movehl_ps(a, a));
		a = _mm_max_ss(a, _mm_movehdup_ps(a));
		__m128 c = _mm_min_ps(_mm256_castps256_ps128(mn), _mm256_extractf128_ps(mn, 1));
		c = _mm_min_ps(c, _mm_movehl_ps(c, c));
		c = _mm_min_ss(c, _mm_movehdup_ps(c));
		float hi = _mm_cvtss_f32(a), lo = _mm_cvtss_f32(c);
		float max;
		if (hi > -lo) {
			max = hi;
		} else if (-lo > hi) {
			max = lo;
		} else {
			/* +a and -a both present (or all zero): the first wins */
			max = 0;
			for (int j = 0; j < MDL_QK_K; j++)
				if (x[j] == hi || x[j] == lo) {
					max = x[j];
					break;
				}
		}
		if (max == 0.0f || max != max) {
			/* all zero (or NaN input): leave it to the scalar code */
			struct mdl_block_q8_K tmp;
			mdl__act_q8_K_scalar(x, &tmp);
			memcpy(b, &tmp, sizeof tmp);
			continue;
		}
		float iscale = -127.0f / max;
		int64_t sums[16];
		for (int j = 0; j < MDL_QK_K; j += 32) {
			q8_block(x + j, iscale, b->qs + j);
			/* sums of 8 bytes with a bias of 128 to make them unsigned */
			__m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b->qs + j)),
						     _mm256_set1_epi8((char)0x80));
			__m256i sad = _mm256_sad_epu8(u, _mm256_setzero_si256());
			int64_t s8[4];
			_mm256_storeu_si256((__m256i *)s8, sad);
			sums[j / 16] = s8[0] + s8[1] - 16 * 128;
			sums[j / 16 + 1] = s8[2] + s8[3] - 16 * 128;
		}
		for (int j = 0; j < 16; j++)
			b->bsums[j] = (int16_t)sums[j];
		b->d = 1.0f / iscale;
	}
}

void mdl__kernels_avx2(struct mdl__kernels *k)
{
	k->fp16_to_fp32_row = h2f_row;
	k->fp32_to_fp16_row = f2h_row;
	k->f16_dots = f16_dots;
	k->f16_wsum = f16_wsum;
	k->q8_0_wsum = q8_0_wsum;
	k->softmax = softmax;
	k->silu_mul = silu_mul;
	k->vec_dot[MDL_TYPE_F32] = dot_f32;
	k->vec_dot[MDL_TYPE_F16] = dot_f16;
	k->vec_dot[MDL_TYPE_BF16] = dot_bf16;
	k->vec_dot[MDL_TYPE_Q8_0] = dot_q8_0;
	k->vec_dot[MDL_TYPE_Q4_0] = dot_q4_0;
	k->vec_dot[MDL_TYPE_Q5_0] = dot_q5_0;
	k->vec_dot[MDL_TYPE_Q4_1] = dot_q4_1;
	k->vec_dot[MDL_TYPE_Q5_1] = dot_q5_1;
	k->vec_dot[MDL_TYPE_Q4_K] = dot_q4_K;
	k->vec_dot[MDL_TYPE_Q5_K] = dot_q5_K;
	k->vec_dot[MDL_TYPE_Q6_K] = dot_q6_K;
	k->vec_dot_mm[MDL_TYPE_Q8_0] = dotmm_q8_0;
	k->vec_dot_mm[MDL_TYPE_Q4_0] = dotmm_q4_0;
	k->vec_dot_mm[MDL_TYPE_Q5_0] = dotmm_q5_0;
	k->vec_dot_mm[MDL_TYPE_Q4_1] = dotmm_q4_1;
	k->vec_dot_mm[MDL_TYPE_Q5_1] = dotmm_q5_1;
	k->vec_dot_mm[MDL_TYPE_Q4_K] = dotmm_q4_K;
	k->vec_dot_mm[MDL_TYPE_Q5_K] = dotmm_q5_K;
	k->vec_dot_mm[MDL_TYPE_Q6_K] = dotmm_q6_K;
	k->gemv[MDL_TYPE_Q8_0] = gemv_q8_0;
	k->gemv[MDL_TYPE_Q4_0] = gemv_q4_0;
	k->gemv[MDL_TYPE_Q5_0] = gemv_q5_0;
	k->gemv[MDL_TYPE_Q4_K] = gemv_q4_K;
	k->gemv[MDL_TYPE_Q5_K] = gemv_q5_K;
	k->gemv[MDL_TYPE_Q6_K] = gemv_q6_K;
	k->quant_act[MDL_TYPE_Q8_0] = act_q8_0;
	k->quant_act[MDL_TYPE_Q8_1] = act_q8_1;
	k->quant_act[MDL_TYPE_F16] = act_f16;
	k->quant_act[MDL_TYPE_Q8_K] = act_q8_K;
}

#endif
