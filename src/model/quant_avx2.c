/*
 * quant_avx2.c - AVX2 + FMA + F16C kernels of the tensor types: dot products
 * for every weight type and the conversion of activations to q8_0, q8_1 and
 * f16. Every function carries a target attribute, so the file builds with
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

#include <immintrin.h>
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
 * ...) and inlined with nt = 1 (vec_dot) and nt = 4 (vec_dot_x4): the
 * weights are unpacked once for all rows, and each row's arithmetic is the
 * same sequence in both, so both give bit-identical results.
 */
#define KERNEL AVX2 static inline __attribute__((always_inline))

/* Row t of the activations. */
#define XROW(type, x, stride, t) \
	((const type *)(const void *)((const uint8_t *)(x) + (size_t)(t) * (stride)))

KERNEL void q8_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q8_0 *a = w;
	int64_t nb = n / MDL_QK, i = 0;
	__m256 acc0[4], acc1[4];
	for (int t = 0; t < nt; t++)
		acc0[t] = acc1[t] = _mm256_setzero_ps();
	/* Two blocks per step with two accumulators to hide FMA latency. */
	for (; i + 2 <= nb; i += 2) {
		__m256i q0 = _mm256_loadu_si256((const __m256i *)a[i].qs);
		__m256i q1 = _mm256_loadu_si256((const __m256i *)a[i + 1].qs);
		float d0 = fp16(a[i].d), d1 = fp16(a[i + 1].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m256i p0 = dot_i8(q0, _mm256_loadu_si256((const __m256i *)b[i].qs));
			__m256i p1 = dot_i8(q1, _mm256_loadu_si256((const __m256i *)b[i + 1].qs));
			acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * fp16(b[i].d)),
						  _mm256_cvtepi32_ps(p0), acc0[t]);
			acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * fp16(b[i + 1].d)),
						  _mm256_cvtepi32_ps(p1), acc1[t]);
		}
	}
	for (; i < nb; i++) {
		__m256i q0 = _mm256_loadu_si256((const __m256i *)a[i].qs);
		float d0 = fp16(a[i].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m256i p0 = dot_i8(q0, _mm256_loadu_si256((const __m256i *)b[i].qs));
			acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * fp16(b[i].d)),
						  _mm256_cvtepi32_ps(p0), acc0[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(_mm256_add_ps(acc0[t], acc1[t]));
}

KERNEL void q4_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q4_0 *a = w;
	int64_t nb = n / MDL_QK, i = 0;
	const __m256i eight = _mm256_set1_epi8(8);
	__m256 acc0[4], acc1[4];
	for (int t = 0; t < nt; t++)
		acc0[t] = acc1[t] = _mm256_setzero_ps();
	for (; i + 2 <= nb; i += 2) {
		__m256i q0 = _mm256_sub_epi8(nibbles_32(a[i].qs), eight);
		__m256i q1 = _mm256_sub_epi8(nibbles_32(a[i + 1].qs), eight);
		float d0 = fp16(a[i].d), d1 = fp16(a[i + 1].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m256i p0 = dot_i8(q0, _mm256_loadu_si256((const __m256i *)b[i].qs));
			__m256i p1 = dot_i8(q1, _mm256_loadu_si256((const __m256i *)b[i + 1].qs));
			acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * fp16(b[i].d)),
						  _mm256_cvtepi32_ps(p0), acc0[t]);
			acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * fp16(b[i + 1].d)),
						  _mm256_cvtepi32_ps(p1), acc1[t]);
		}
	}
	for (; i < nb; i++) {
		__m256i q0 = _mm256_sub_epi8(nibbles_32(a[i].qs), eight);
		float d0 = fp16(a[i].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m256i p0 = dot_i8(q0, _mm256_loadu_si256((const __m256i *)b[i].qs));
			acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * fp16(b[i].d)),
						  _mm256_cvtepi32_ps(p0), acc0[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(_mm256_add_ps(acc0[t], acc1[t]));
}

KERNEL void q5_0_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q5_0 *a = w;
	int64_t nb = n / MDL_QK;
	const __m256i sixteen = _mm256_set1_epi8(16);
	__m256 acc[4];
	for (int t = 0; t < nt; t++)
		acc[t] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		__m256i hb = _mm256_and_si256(bits_to_bytes(load_u32(a[i].qh)), sixteen);
		__m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles_32(a[i].qs), hb), sixteen);
		float d = fp16(a[i].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t);
			__m256i p = dot_i8(q, _mm256_loadu_si256((const __m256i *)b[i].qs));
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * fp16(b[i].d)),
						 _mm256_cvtepi32_ps(p), acc[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(acc[t]);
}

/* The single-row and four-row entry points of a kernel above. */
#define ENTRY_POINTS(name)                                                      \
	AVX2 static float dot_##name(int64_t n, const void *w, const void *x)   \
	{                                                                      \
		float out;                                                     \
		name##_n(n, w, x, 0, 1, &out);                                 \
		return out;                                                    \
	}                                                                      \
	AVX2 static void dot4_##name(int64_t n, const void *w, const void *x,   \
				     size_t stride, float out[4])              \
	{                                                                      \
		name##_n(n, w, x, stride, 4, out);                             \
	}

ENTRY_POINTS(q8_0)
ENTRY_POINTS(q4_0)
ENTRY_POINTS(q5_0)

AVX2 static float dot_q4_1(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q4_1 *a = w;
	const struct mdl_block_q8_1 *b = x;
	int64_t nb = n / MDL_QK;
	__m256 acc = _mm256_setzero_ps();
	float summ = 0;
	for (int64_t i = 0; i < nb; i++) {
		__m256i p = dot_u8(nibbles_32(a[i].qs),
				   _mm256_loadu_si256((const __m256i *)b[i].qs));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a[i].d) * fp16(b[i].d)),
				      _mm256_cvtepi32_ps(p), acc);
		summ += fp16(a[i].m) * fp16(b[i].s);
	}
	return hsum_ps(acc) + summ;
}

AVX2 static float dot_q5_1(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q5_1 *a = w;
	const struct mdl_block_q8_1 *b = x;
	int64_t nb = n / MDL_QK;
	const __m256i sixteen = _mm256_set1_epi8(16);
	__m256 acc = _mm256_setzero_ps();
	float summ = 0;
	for (int64_t i = 0; i < nb; i++) {
		__m256i hb = _mm256_and_si256(bits_to_bytes(load_u32(a[i].qh)), sixteen);
		__m256i q = _mm256_or_si256(nibbles_32(a[i].qs), hb);
		__m256i p = dot_u8(q, _mm256_loadu_si256((const __m256i *)b[i].qs));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a[i].d) * fp16(b[i].d)),
				      _mm256_cvtepi32_ps(p), acc);
		summ += fp16(a[i].m) * fp16(b[i].s);
	}
	return hsum_ps(acc) + summ;
}

/* ------------------------------------------------------------------ */
/* K-types                                                             */
/* ------------------------------------------------------------------ */

/* The eight 6-bit scales and mins of a q4_K/q5_K block. */
static inline void k_unpack(const uint8_t *s, uint8_t sc[8], uint8_t m[8])
{
	for (int j = 0; j < 4; j++) {
		sc[j] = s[j] & 63;
		m[j] = s[j + 4] & 63;
		sc[j + 4] = (uint8_t)((s[j + 8] & 0xf) | ((s[j] >> 6) << 4));
		m[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
	}
}

/* sum_j m[j] * (bsums[2j] + bsums[2j+1]) with madd on 16 int16 lanes. */
AVX2 static inline int k_min_sum(const uint8_t m[8], const int16_t *bsums)
{
	__m128i m8 = _mm_loadl_epi64((const __m128i *)m);
	__m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
	__m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
	return hsum_epi32(_mm256_madd_epi16(m16, bs));
}

KERNEL void q4_K_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q4_K *a = w;
	int64_t nb = n / MDL_QK_K;
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	__m256 acc[4];
	float summ[4];
	for (int t = 0; t < nt; t++) {
		acc[t] = _mm256_setzero_ps();
		summ[t] = 0;
	}
	for (int64_t i = 0; i < nb; i++) {
		uint8_t sc[8], m[8];
		k_unpack(a[i].scales, sc, m);
		const uint8_t *q = a[i].qs;
		__m256i sumi[4];
		for (int t = 0; t < nt; t++)
			sumi[t] = _mm256_setzero_si256();
		for (int c = 0; c < 4; c++, q += 32) {
			__m256i qv = _mm256_loadu_si256((const __m256i *)q);
			__m256i lo = _mm256_and_si256(qv, low4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
			__m256i s0 = _mm256_set1_epi16(sc[2 * c]), s1 = _mm256_set1_epi16(sc[2 * c + 1]);
			for (int t = 0; t < nt; t++) {
				const int8_t *y = XROW(struct mdl_block_q8_K, x, stride, t)[i].qs + 64 * c;
				__m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
				__m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
				p0 = _mm256_madd_epi16(p0, s0);
				p1 = _mm256_madd_epi16(p1, s1);
				sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p0, p1));
			}
		}
		float d = fp16(a[i].d), dmin = fp16(a[i].dmin);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_K *b = XROW(struct mdl_block_q8_K, x, stride, t) + i;
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
			summ[t] += dmin * b->d * (float)k_min_sum(m, b->bsums);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(acc[t]) - summ[t];
}

ENTRY_POINTS(q4_K)

AVX2 static float dot_q5_K(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q5_K *a = w;
	const struct mdl_block_q8_K *b = x;
	int64_t nb = n / MDL_QK_K;
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	const __m256i sixteen = _mm256_set1_epi8(16);
	__m256 acc = _mm256_setzero_ps();
	float summ = 0;
	for (int64_t i = 0; i < nb; i++) {
		uint8_t sc[8], m[8];
		k_unpack(a[i].scales, sc, m);
		const uint8_t *q = a[i].qs;
		const int8_t *y = b[i].qs;
		__m256i qh = _mm256_loadu_si256((const __m256i *)a[i].qh);
		__m256i sumi = _mm256_setzero_si256();
		for (int c = 0; c < 4; c++, q += 32, y += 64) {
			__m256i m0 = _mm256_set1_epi8((char)(1 << (2 * c)));
			__m256i m1 = _mm256_set1_epi8((char)(2 << (2 * c)));
			__m256i h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m0), m0), sixteen);
			__m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m1), m1), sixteen);
			__m256i qv = _mm256_loadu_si256((const __m256i *)q);
			__m256i lo = _mm256_or_si256(_mm256_and_si256(qv, low4), h0);
			__m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), low4), h1);
			__m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
			__m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
			p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * c]));
			p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * c + 1]));
			sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
		}
		float dy = b[i].d;
		acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a[i].d) * dy), _mm256_cvtepi32_ps(sumi), acc);
		summ += fp16(a[i].dmin) * dy * (float)k_min_sum(m, b[i].bsums);
	}
	return hsum_ps(acc) - summ;
}

/*
 * q6_K: values are q - 32 with q in [0, 63]. maddubs takes q unsigned, and
 * the 32 * sum(y) part comes from the block's bsums:
 *   sum_g sc_g * sum(q*y) - 32 * sum_g sc_g * bsums_g.
 */
KERNEL void q6_K_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q6_K *a = w;
	int64_t nb = n / MDL_QK_K;
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	const __m256i three = _mm256_set1_epi8(3);
	__m256 acc[4];
	for (int t = 0; t < nt; t++)
		acc[t] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		const int8_t *sc = a[i].scales;
		__m256i sumi[4];
		for (int t = 0; t < nt; t++)
			sumi[t] = _mm256_setzero_si256();
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = a[i].ql + 64 * h, *qhp = a[i].qh + 32 * h;
			__m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
			__m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
			__m256i q[4], s[4];
			q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
					       _mm256_slli_epi16(_mm256_and_si256(qh, three), 4));
			q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
					       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4));
			q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
					       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4));
			q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
					       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4));
			for (int k = 0; k < 4; k++)
				s[k] = _mm256_set_m128i(_mm_set1_epi16(sc[8 * h + 2 * k + 1]),
							_mm_set1_epi16(sc[8 * h + 2 * k]));
			for (int t = 0; t < nt; t++) {
				const int8_t *y = XROW(struct mdl_block_q8_K, x, stride, t)[i].qs + 128 * h;
				for (int k = 0; k < 4; k++) {
					__m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y + 32 * k)));
					sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, s[k]));
				}
			}
		}
		__m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
		float d = fp16(a[i].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_K *b = XROW(struct mdl_block_q8_K, x, stride, t) + i;
			__m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums));
			__m256i v = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(corr, 5));
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(v), acc[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(acc[t]);
}

ENTRY_POINTS(q6_K)

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

AVX2 static void act_f16(const float *x, void *dst, int64_t n)
{
	uint16_t *h = dst;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(h + i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		h[i] = mdl_fp32_to_fp16(x[i]);
}

void mdl__kernels_avx2(struct mdl__kernels *k)
{
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
	k->vec_dot_x4[MDL_TYPE_Q8_0] = dot4_q8_0;
	k->vec_dot_x4[MDL_TYPE_Q4_0] = dot4_q4_0;
	k->vec_dot_x4[MDL_TYPE_Q5_0] = dot4_q5_0;
	k->vec_dot_x4[MDL_TYPE_Q4_K] = dot4_q4_K;
	k->vec_dot_x4[MDL_TYPE_Q6_K] = dot4_q6_K;
	k->quant_act[MDL_TYPE_Q8_0] = act_q8_0;
	k->quant_act[MDL_TYPE_Q8_1] = act_q8_1;
	k->quant_act[MDL_TYPE_F16] = act_f16;
}

#endif
