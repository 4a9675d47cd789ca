/*
 * quant_avx512.c - AVX-512 kernels (F/BW/VL with VNNI) for the types that
 * carry most of a model's bytes: q8_0 and q4_0 dot products, one and four
 * activation rows at a time, and the f16 dot. Two 32-element blocks fill
 * one 512-bit register, and VPDPBUSD does the byte products and their sums
 * in one instruction. Every function carries a target attribute; quant.c
 * installs these over the AVX2 kernels only when the CPU has the features.
 */
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define KERNEL AVX512 static inline __attribute__((always_inline))

#define XROW(type, x, stride, t) \
	((const type *)(const void *)((const uint8_t *)(x) + (size_t)(t) * (stride)))

AVX512 static inline float fp16(uint16_t h)
{
	return _cvtsh_ss(h);
}

AVX512 static inline float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Two 256-bit halves as one 512-bit register (lo in the low half). */
AVX512 static inline __m512i join(__m256i lo, __m256i hi)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

AVX512 static inline __m512 join_ps(float lo, float hi)
{
	__m512d v = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_set1_ps(lo)));
	return _mm512_castpd_ps(_mm512_insertf64x4(v, _mm256_castps_pd(_mm256_set1_ps(hi)), 1));
}

AVX512 static inline __m256i load256(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* Signed x times signed y, sums of 4, with x's sign moved onto y (x is
 * given as |x| and the mask of its negative lanes). */
AVX512 static inline __m512i dot_i8_512(__m512i ax, __mmask64 neg, __m512i y)
{
	__m512i sy = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
	return _mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy);
}

AVX512 static inline __m256i dot_i8_256(__m256i x, __m256i y)
{
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(x, x),
				   _mm256_sign_epi8(y, x));
}

/* ------------------------------------------------------------------ */
/* q8_0 and q4_0 against q8_0 activations, nt rows at a time           */
/* ------------------------------------------------------------------ */

KERNEL void q8_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q8_0 *a = w;
	int64_t nb = n / MDL_QK, i = 0;
	__m512 acc[4];
	__m256 tail[4];
	for (int t = 0; t < nt; t++) {
		acc[t] = _mm512_setzero_ps();
		tail[t] = _mm256_setzero_ps();
	}
	for (; i + 2 <= nb; i += 2) {
		__m512i q = join(load256(a[i].qs), load256(a[i + 1].qs));
		__mmask64 neg = _mm512_movepi8_mask(q);
		__m512i aq = _mm512_abs_epi8(q);
		float d0 = fp16(a[i].d), d1 = fp16(a[i + 1].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m512i y = join(load256(b[i].qs), load256(b[i + 1].qs));
			__m512i p = dot_i8_512(aq, neg, y);
			__m512 d = join_ps(d0 * fp16(b[i].d), d1 * fp16(b[i + 1].d));
			acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[t]);
		}
	}
	if (i < nb) {
		__m256i q = load256(a[i].qs);
		float d0 = fp16(a[i].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m256i p = dot_i8_256(q, load256(b[i].qs));
			tail[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * fp16(b[i].d)),
						  _mm256_cvtepi32_ps(p), tail[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = _mm512_reduce_add_ps(acc[t]) + hsum256(tail[t]);
}

/*
 * q4_0: the nibbles (0..15) go into VPDPBUSD unsigned; the -8 offset is
 * taken off as 8 * (sums of 4 of y), itself one VPDPBUSD.
 */
KERNEL void q4_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q4_0 *a = w;
	int64_t nb = n / MDL_QK, i = 0;
	const __m512i low4 = _mm512_set1_epi8(0x0f);
	const __m512i eight = _mm512_set1_epi8(8);
	__m512 acc[4];
	__m256 tail[4];
	for (int t = 0; t < nt; t++) {
		acc[t] = _mm512_setzero_ps();
		tail[t] = _mm256_setzero_ps();
	}
	for (; i + 2 <= nb; i += 2) {
		__m256i raw = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)a[i + 1].qs),
					       _mm_loadu_si128((const __m128i *)a[i].qs));
		/* [q0, q1, q0 >> 4, q1 >> 4] -> [q0, q0 >> 4, q1, q1 >> 4]:
		 * each block's low nibbles (elements 0-15) then high (16-31). */
		__m512i z = join(raw, _mm256_srli_epi16(raw, 4));
		z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
		__m512i nib = _mm512_and_si512(z, low4);
		float d0 = fp16(a[i].d), d1 = fp16(a[i + 1].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m512i y = join(load256(b[i].qs), load256(b[i + 1].qs));
			__m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), nib, y);
			__m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, y);
			p = _mm512_sub_epi32(p, s);
			__m512 d = join_ps(d0 * fp16(b[i].d), d1 * fp16(b[i + 1].d));
			acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[t]);
		}
	}
	if (i < nb) {
		__m128i raw = _mm_loadu_si128((const __m128i *)a[i].qs);
		__m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
					     _mm256_set1_epi8(0x0f));
		q = _mm256_sub_epi8(q, _mm256_set1_epi8(8));
		float d0 = fp16(a[i].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m256i p = dot_i8_256(q, load256(b[i].qs));
			tail[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * fp16(b[i].d)),
						  _mm256_cvtepi32_ps(p), tail[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = _mm512_reduce_add_ps(acc[t]) + hsum256(tail[t]);
}

#define ENTRY_POINTS(name)                                                      \
	AVX512 static float dot_##name(int64_t n, const void *w, const void *x) \
	{                                                                      \
		float out;                                                     \
		name##_n(n, w, x, 0, 1, &out);                                 \
		return out;                                                    \
	}                                                                      \
	AVX512 static void dot4_##name(int64_t n, const void *w, const void *x, \
				       size_t stride, float out[4])            \
	{                                                                      \
		name##_n(n, w, x, stride, 4, out);                             \
	}

ENTRY_POINTS(q8_0)
ENTRY_POINTS(q4_0)

/* ------------------------------------------------------------------ */
/* f16                                                                 */
/* ------------------------------------------------------------------ */

AVX512 static inline __m512 load_f16x16(const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

AVX512 static float dot_f16(int64_t n, const void *w, const void *x)
{
	const uint16_t *a = w, *b = x;
	__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		acc0 = _mm512_fmadd_ps(load_f16x16(a + i), load_f16x16(b + i), acc0);
		acc1 = _mm512_fmadd_ps(load_f16x16(a + i + 16), load_f16x16(b + i + 16), acc1);
	}
	if (i + 16 <= n) {
		acc0 = _mm512_fmadd_ps(load_f16x16(a + i), load_f16x16(b + i), acc0);
		i += 16;
	}
	if (i < n) {	/* the last 1..15 elements through a masked load */
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		__m512 va = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + i));
		__m512 vb = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, b + i));
		acc1 = _mm512_fmadd_ps(va, vb, acc1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void mdl__kernels_avx512(struct mdl__kernels *k)
{
	k->vec_dot[MDL_TYPE_Q8_0] = dot_q8_0;
	k->vec_dot_x4[MDL_TYPE_Q8_0] = dot4_q8_0;
	k->vec_dot[MDL_TYPE_Q4_0] = dot_q4_0;
	k->vec_dot_x4[MDL_TYPE_Q4_0] = dot4_q4_0;
	k->vec_dot[MDL_TYPE_F16] = dot_f16;
}

#endif
