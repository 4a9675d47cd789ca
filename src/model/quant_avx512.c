/*
 * quant_avx512.c - kernels for CPUs with AVX-512 VNNI (and VL, so the VNNI
 * instruction works on 256-bit registers): q8_0, q4_0 and q5_0 dot
 * products, one and four activation rows at a time. VPDPBUSD does the byte
 * products and their sums of four in one instruction where AVX2 needs two;
 * the same three types against one token and many rows (gemv_*, decode);
 * and the K-types (quant_kx86.h) with VPDPWSSD, which scales and adds the
 * int16 sums in one; and, where the CPU also has AVX512_BF16, the bf16
 * dot product with VDPBF16PS. Everything else at this level is the AVX2
 * code. Every function carries a target attribute; quant.c installs these
 * only when the CPU has the features.
 */
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include "model/quant_pf.h"
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
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

AVX512 static inline __m256i load256(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* ------------------------------------------------------------------ */
/* q8_0 and q4_0 against q8_0 activations, nt rows at a time           */
/* ------------------------------------------------------------------ */

/* The f16 scales of 8 consecutive blocks `stride` bytes apart, as floats. */
AVX512 static inline __m256 load_d8(const uint8_t *p, size_t stride)
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

static inline uint32_t load_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Byte j becomes 0xff where bit j of the 32-bit mask is set. */
AVX512 static inline __m256i bits_to_bytes(uint32_t bits)
{
	return _mm256_movm_epi8((__mmask32)bits);
}

/* The 32 nibbles of 16 bytes in block element order (low, then high). */
AVX512 static inline __m256i nibbles_32(const uint8_t *p)
{
	/* the 16 bytes in both halves (one load), the upper half shifted */
	__m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
	return _mm256_and_si256(_mm256_srlv_epi64(q, _mm256_setr_epi64x(0, 0, 4, 4)),
				_mm256_set1_epi8(0x0f));
}

/*
 * Block i of a q8_0, q4_0 or q5_0 row as VPDPBUSD wants its unsigned
 * operand: for q8_0 |q|, with q itself in *sign so that its sign can be
 * moved onto the activations; for q4_0 and q5_0 the stored values (q + 8,
 * q + 16), the offset being taken off per group of blocks (b32_n).
 */
KERNEL __m256i b32_unsigned(const int wt, const uint8_t *row, int64_t i, __m256i *sign)
{
	if (wt == MDL_TYPE_Q8_0) {
		const struct mdl_block_q8_0 *a = (const void *)row;
		*sign = load256(a[i].qs);
		return _mm256_sign_epi8(*sign, *sign);
	}
	*sign = _mm256_setzero_si256();
	if (wt == MDL_TYPE_Q4_0) {
		const struct mdl_block_q4_0 *a = (const void *)row;
		return nibbles_32(a[i].qs);
	}
	const struct mdl_block_q5_0 *a = (const void *)row;
	__m256i hb = _mm256_and_si256(bits_to_bytes(load_u32(a[i].qh)), _mm256_set1_epi8(16));
	return _mm256_or_si256(nibbles_32(a[i].qs), hb);
}

/* The integer dot of block values (from b32_unsigned) with 32 bytes y. */
KERNEL __m256i b32_dot(const int wt, __m256i u, __m256i sign, __m256i y)
{
	if (wt == MDL_TYPE_Q8_0)
		y = _mm256_sign_epi8(y, sign);
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, y);
}

/* The sum of a q8_0 block's 32 values. */
AVX512 static inline int block_sum(const int8_t *qs)
{
	__m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), load256(qs));
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(s);
}

/* The sums of 8 consecutive q8_0 blocks' values, as floats. */
AVX512 static inline __m256 block_sums8(const struct mdl_block_q8_0 *b)
{
	return _mm256_cvtepi32_ps(_mm256_setr_epi32(block_sum(b[0].qs), block_sum(b[1].qs),
						    block_sum(b[2].qs), block_sum(b[3].qs),
						    block_sum(b[4].qs), block_sum(b[5].qs),
						    block_sum(b[6].qs), block_sum(b[7].qs)));
}

/*
 * q8_0, q4_0 and q5_0 against q8_0 activations with 256-bit VPDPBUSD, which
 * replaces AVX2's two-step byte products; otherwise the AVX2 algorithm
 * (quant_avx2.c, b32_n), q4_0/q5_0 offsets included. 256 bits rather than
 * 512: on CPUs that split 512-bit operations in two (AMD Zen 4) the wider
 * form measured slower, its block pairs costing more shuffles than it
 * saves.
 */
KERNEL void b32_n(const int wt, const size_t wbytes, int64_t n, const void *w,
		  const void *x, size_t stride, const int nt, float *out)
{
	const uint8_t *a = w;
	const size_t xbytes = sizeof(struct mdl_block_q8_0);
	const int off = wt == MDL_TYPE_Q4_0 ? 8 : wt == MDL_TYPE_Q5_0 ? 16 : 0;
	int64_t nb = n / MDL_QK, i = 0;
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
		float dxy[4][8] __attribute__((aligned(32)));
		__m256 dw = load_d8(a + (size_t)i * wbytes, wbytes);
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
			__m256i s0, s1;
			__m256i u0 = b32_unsigned(wt, a, i + k, &s0);
			__m256i u1 = b32_unsigned(wt, a, i + k + 1, &s1);
			for (int t = 0; t < nt; t++) {
				const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t) + i + k;
				__m256i p0 = b32_dot(wt, u0, s0, load256(b[0].qs));
				__m256i p1 = b32_dot(wt, u1, s1, load256(b[1].qs));
				acc0[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dxy[t][k]),
							  _mm256_cvtepi32_ps(p0), acc0[t]);
				acc1[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dxy[t][k + 1]),
							  _mm256_cvtepi32_ps(p1), acc1[t]);
			}
		}
	}
	for (; i < nb; i++) {
		__m256i s0;
		__m256i u0 = b32_unsigned(wt, a, i, &s0);
		uint16_t hd;
		memcpy(&hd, a + (size_t)i * wbytes, 2);
		float d0 = fp16(hd);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_0 *b = XROW(struct mdl_block_q8_0, x, stride, t) + i;
			__m256i p0 = b32_dot(wt, u0, s0, load256(b->qs));
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
		out[t] = hsum256(_mm256_add_ps(acc0[t], acc1[t]));
		if (off)
			out[t] -= (float)off * (hsum256(corr[t]) + ctail[t]);
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

/*
 * One token against nr weight rows `wstride` bytes apart, a row at a time:
 * the decode form of b32_n. Each row's result is made with exactly the
 * float operations b32_n makes for it with nt = 1 (the same sums of four
 * in the same lanes, the same scale products in groups of 8, even blocks
 * into one accumulator and odd ones into another, the same tail and
 * horizontal sum), so it equals vec_dot bit for bit. What differs is
 * overhead: the scale products are broadcast from a register rather than
 * stored and loaded back (a store then loads of its parts stalled the
 * scale gathers that follow), the activation scales and sums come straight
 * from the scratch row, and the loop over rows sits inside the kernel.
 *
 * Rows are taken one after another, not several side by side: the weight
 * matrix is one sequential stream then, which the hardware prefetchers
 * follow; interleaving 2 or 4 rows (sharing the activation loads) measured
 * 2x slower from DRAM on Zen 4, even with software prefetch. x is a row of
 * mdl_matmul's scratch (scales and sums after the blocks).
 */
KERNEL void b32_rows(const int wt, const size_t wbytes, int64_t n, const void *w,
		     size_t wstride, int nr, const void *x, float *out)
{
	const int off = wt == MDL_TYPE_Q4_0 ? 8 : wt == MDL_TYPE_Q5_0 ? 16 : 0;
	const int64_t nb = n / MDL_QK;
	const struct mdl_block_q8_0 *y = x;
	const float *xd = (const float *)(const void *)((const uint8_t *)x + mdl__q8_0_scales_offset(nb));
	const float *xs = xd + nb;
	for (int r = 0; r < nr; r++) {
		const uint8_t *a = (const uint8_t *)w + (size_t)r * wstride;
		if (wt != MDL_TYPE_Q4_0)
			mdl__gemv_prefetch_pages(a, wstride);
		__m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, corr = acc0;
		float ctail = 0;
		int64_t i = 0;
		/* the weight scales of each group gathered one group ahead,
		 * off the critical path of the group's products */
		__m256 dw = nb >= 8 ? load_d8(a, wbytes) : _mm256_setzero_ps();
		for (; i + 8 <= nb; i += 8) {
			__m256 dv = _mm256_mul_ps(dw, _mm256_loadu_ps(xd + i));
			if (i + 16 <= nb)
				dw = load_d8(a + (size_t)(i + 8) * wbytes, wbytes);
			if (off)
				corr = _mm256_fmadd_ps(dv, _mm256_loadu_ps(xs + i), corr);
			_Pragma("GCC unroll 4")
			for (int k = 0; k < 8; k += 2) {
				__m256i s0, s1;
				__m256i u0 = b32_unsigned(wt, a, i + k, &s0);
				__m256i u1 = b32_unsigned(wt, a, i + k + 1, &s1);
				__m256i p0 = b32_dot(wt, u0, s0, load256(y[i + k].qs));
				__m256i p1 = b32_dot(wt, u1, s1, load256(y[i + k + 1].qs));
				__m256 d0 = _mm256_permutexvar_ps(_mm256_set1_epi32(k), dv);
				__m256 d1 = _mm256_permutexvar_ps(_mm256_set1_epi32(k + 1), dv);
				acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(p0), acc0);
				acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(p1), acc1);
			}
		}
		for (; i < nb; i++) {
			__m256i s0;
			__m256i u0 = b32_unsigned(wt, a, i, &s0);
			uint16_t hd;
			memcpy(&hd, a + (size_t)i * wbytes, 2);
			__m256i p0 = b32_dot(wt, u0, s0, load256(y[i].qs));
			float dd = fp16(hd) * xd[i];
			acc0 = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(p0), acc0);
			if (off)
				ctail = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(dd), _mm_set_ss(xs[i]),
								   _mm_set_ss(ctail)));
		}
		out[r] = hsum256(_mm256_add_ps(acc0, acc1));
		if (off)
			out[r] -= (float)off * (hsum256(corr) + ctail);
	}
}

#define GEMV_POINT(name, wt, wbytes)                                            \
	AVX512 static void gemv_##name(int64_t n, const void *w, size_t wstride,\
				       int nr, const void *x, float *out)      \
	{                                                                      \
		b32_rows(wt, wbytes, n, w, wstride, nr, x, out);               \
	}

GEMV_POINT(q8_0, MDL_TYPE_Q8_0, sizeof(struct mdl_block_q8_0))
GEMV_POINT(q4_0, MDL_TYPE_Q4_0, sizeof(struct mdl_block_q4_0))
GEMV_POINT(q5_0, MDL_TYPE_Q5_0, sizeof(struct mdl_block_q5_0))

#define ENTRY_POINTS(name)                                                      \
	AVX512 static float dot_##name(int64_t n, const void *w, const void *x) \
	{                                                                      \
		float out;                                                     \
		name##_n(n, w, x, 0, 1, &out);                                 \
		return out;                                                    \
	}                                                                      \
	AVX512 static void dotmm_##name(int64_t n, const void *w, const void *x,\
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

/*
 * q4_0 one row at a time through vec_dot_mm measured faster with the AVX2
 * kernel (mdl_matmul's decode path takes gemv_q4_0 instead);
 * its lanes hold the same sums of four as VPDPBUSD's and the float
 * arithmetic is the same, so the results are bit-identical and the two can
 * be mixed freely.
 */
static mdl__vec_dot_mm_fn avx2mm_q4_0;

AVX512 static void dotmm_q4_0_mixed(int64_t n, const void *w, const void *x,
				    size_t stride, int nt, float *out)
{
	if (nt == 1)
		avx2mm_q4_0(n, w, x, stride, 1, out);
	else
		dotmm_q4_0(n, w, x, stride, nt, out);
}
ENTRY_POINTS(q5_0)

/* ------------------------------------------------------------------ */
/* K-types: the AVX2 code with VPDPWSSD for the scaled sums            */
/* ------------------------------------------------------------------ */

#define hsum_ps hsum256
#define KTARGET AVX512
#define MADD_ACC(acc, p, s) _mm256_dpwssd_epi32((acc), (p), (s))
#define K_SPLIT 1

/*
 * One row at a time (vec_dot, a token alone in mdl_matmul, and the gemv_*
 * decode kernels) runs the *_row kernels below, with VPDPBUSD; several
 * rows go on to the AVX2 kernels, which measured faster for them. All do
 * the same float arithmetic on the same exact integers, so the results are
 * bit-identical either way.
 */
KERNEL float q4_K_row(int64_t n, const void *w, const void *x);
KERNEL float q5_K_row(int64_t n, const void *w, const void *x);
KERNEL float q6_K_row(int64_t n, const void *w, const void *x);
#define K_ROW1(name, n, w, x, out) (*(out) = name##_row((n), (w), (x)))
#undef ENTRY_POINTS
#define ENTRY_POINTS(name)                                                      \
	static mdl__vec_dot_mm_fn avx2mm_##name;                               \
	AVX512 static float dot_##name(int64_t n, const void *w, const void *x) \
	{                                                                      \
		return name##_row(n, w, x);                                    \
	}                                                                      \
	AVX512 static void dotmm_##name(int64_t n, const void *w, const void *x, \
				      size_t stride, int nt, float *out)       \
	{                                                                      \
		if (nt == 1)                                                   \
			out[0] = name##_row(n, w, x);                          \
		else                                                           \
			avx2mm_##name(n, w, x, stride, nt, out);               \
	}

#include "model/quant_kx86.h"

/* ------------------------------------------------------------------ */
/* K-types, one row: byte products with VPDPBUSD                        */
/* ------------------------------------------------------------------ */

/*
 * q4_K_n / q6_K_n widen the weights' byte products to int16 (VPMADDUBSW)
 * and scale them with VPDPWSSD. These take the plain sums of four byte
 * products with VPDPBUSD instead (the weights are unsigned: q4_K 0..15,
 * q6_K 0..63; y is int8, so a sum of four is at most 4 x 63 x 128 in
 * magnitude and fits in int16), put the sums of two sub-blocks into the
 * low and high halves of each int32 lane, and scale both with one
 * VPDPWSSD. Per int32 lane that is the same integer as theirs, the sum over
 * sub-blocks of scale x (the same four products), and the float arithmetic
 * after it is theirs, so the result is bit-identical to q4_K_n / q6_K_n,
 * to the batched kernels and to the tiles. Fewer and cheaper operations
 * per block (no VPMADDUBSW, half the scale shuffles); see quant.md for
 * what was measured.
 */

/* The int16 values of the dwords of a in the low and of b in the high
 * halves of each dword. */
KERNEL __m256i k_pack(__m256i a, __m256i b)
{
	return _mm256_blend_epi16(a, _mm256_slli_epi32(b, 16), 0xAA);
}

KERNEL __m512i k_pack512(__m512i a, __m512i b)
{
	return _mm512_mask_blend_epi16(0xAAAAAAAAu, a, _mm512_slli_epi32(b, 16));
}

/* 256-bit vectors: a 512-bit form of this one measured slower. */
KERNEL float q4_K_row(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q4_K *a = w;
	const struct mdl_block_q8_K *b = x;
	int64_t nb = n / MDL_QK_K;
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		__m128i scm = k_unpack_vec(a[i].scales);
		/* dword c = the scales of sub-blocks 2c and 2c+1 as int16;
		 * sp[c] that dword in every lane */
		__m256i scw = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
		/* immediates written out: unoptimised builds keep the loop */
		const __m256i sp[4] = { _mm256_shuffle_epi32(scw, 0x00), _mm256_shuffle_epi32(scw, 0x55),
					_mm256_shuffle_epi32(scw, 0xAA), _mm256_shuffle_epi32(scw, 0xFF) };
		const uint8_t *q = a[i].qs;
		const int8_t *y = b[i].qs;
		/* two accumulators: one would chain every VPDPWSSD on its latency */
		__m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			__m256i qv = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
			__m256i lo = _mm256_and_si256(qv, low4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
			__m256i dl = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo,
							 _mm256_loadu_si256((const __m256i *)(y + 64 * c)));
			__m256i dh = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi,
							 _mm256_loadu_si256((const __m256i *)(y + 64 * c + 32)));
			if (c & 1)
				sum1 = _mm256_dpwssd_epi32(sum1, k_pack(dl, dh), sp[c]);
			else
				sum0 = _mm256_dpwssd_epi32(sum0, k_pack(dl, dh), sp[c]);
		}
		/* d and -dmin times the activations' scale, both converted
		 * and multiplied at once (the same products as q4_K_n's) */
		uint32_t dd;
		memcpy(&dd, &a[i].d, 4);
		__m128 f = _mm_mul_ps(_mm_xor_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dd)),
						 _mm_setr_ps(0.0f, -0.0f, 0.0f, 0.0f)),
				      _mm_set1_ps(b[i].d));
		acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(f),
				      _mm256_cvtepi32_ps(_mm256_add_epi32(sum0, sum1)), acc);
		__m256i mv = _mm256_madd_epi16(k_mins16(scm), _mm256_loadu_si256((const __m256i *)b[i].bsums));
		acc = _mm256_fmadd_ps(_mm256_permutexvar_ps(_mm256_set1_epi32(1), _mm256_castps128_ps256(f)),
				      _mm256_cvtepi32_ps(mv), acc);
	}
	return hsum_ps(acc);
}

/* q5_K: a VPDPBUSD form like q4_K_row measured no faster than q5_K_n */
KERNEL float q5_K_row(int64_t n, const void *w, const void *x)
{
	float out;
	q5_K_n(n, w, x, 0, 1, &out);
	return out;
}

/*
 * 512-bit vectors: 128 weights per step, whose 6-bit values take the
 * high bits of 32 qh bytes broadcast to both halves and shifted by 0 and
 * 2 in the upper one. Dword m of the packed sums of half h holds
 * sub-blocks 8h + m/4 (low) and 8h + 4 + m/4 (high); the two 256-bit
 * halves added give q6_K_n's eight lanes.
 */
KERNEL float q6_K_row(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q6_K *a = w;
	const struct mdl_block_q8_K *b = x;
	int64_t nb = n / MDL_QK_K;
	const __m512i low4 = _mm512_set1_epi8(0x0f);
	const __m512i m30 = _mm512_set1_epi8(0x30);
	/* scale words of half 0: dword m takes (sc[m/4], sc[4 + m/4]) */
	const __m512i sidx0 = _mm512_set_epi32(
		0x00070003, 0x00070003, 0x00070003, 0x00070003, 0x00060002, 0x00060002, 0x00060002, 0x00060002,
		0x00050001, 0x00050001, 0x00050001, 0x00050001, 0x00040000, 0x00040000, 0x00040000, 0x00040000);
	const __m512i sidx1 = _mm512_add_epi16(sidx0, _mm512_set1_epi16(8));
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		const int8_t *y = b[i].qs;
		__m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
		__m512i s[2];
		s[0] = _mm512_permutexvar_epi16(sidx0, _mm512_castsi256_si512(sc16));
		s[1] = _mm512_permutexvar_epi16(sidx1, _mm512_castsi256_si512(sc16));
		__m512i sum = _mm512_setzero_si512();
		_Pragma("GCC unroll 2")
		for (int h = 0; h < 2; h++) {
			__m512i l = _mm512_loadu_si512((const void *)(a[i].ql + 64 * h));
			__m512i hq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h)));
			__m512i hb = _mm512_mask_srli_epi16(hq, 0xFFFF0000u, hq, 2);
			/* (l & 15) | (hb << 4 & 0x30) and (l >> 4 & 15) | (hb & 0x30) */
			__m512i q0 = _mm512_ternarylogic_epi32(l, low4,
				_mm512_and_si512(_mm512_slli_epi16(hb, 4), m30), 0xEA);
			__m512i q1 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), low4,
				_mm512_and_si512(hb, m30), 0xEA);
			__m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q0,
							 _mm512_loadu_si512((const void *)(y + 128 * h)));
			__m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q1,
							 _mm512_loadu_si512((const void *)(y + 128 * h + 64)));
			sum = _mm512_dpwssd_epi32(sum, k_pack512(d0, d1), s[h]);
		}
		__m256i si = _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1));
		__m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
		__m256i v = _mm256_sub_epi32(si, _mm256_slli_epi32(corr, 5));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a[i].d) * b[i].d), _mm256_cvtepi32_ps(v), acc);
	}
	return hsum_ps(acc);
}

/* ------------------------------------------------------------------ */
/* bf16 (CPUs with AVX512_BF16)                                        */
/* ------------------------------------------------------------------ */

/*
 * bf16 weights against bf16 activations with VDPBF16PS, as ggml's
 * ggml_vec_dot_bf16 on such CPUs: 64 elements a step into two
 * accumulators (the instruction adds each pair's products into a float
 * lane, rounding to nearest even and flushing denormals), the two reduced
 * and summed in double, then the tail element by element in double.
 */
AVX512BF16 static float dot_bf16(int64_t n, const void *w, const void *x)
{
	const uint16_t *a = w, *b = x;
	__m512 c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps();
	int64_t i = 0;
	for (; i + 64 <= n; i += 64) {
		c1 = _mm512_dpbf16_ps(c1, (__m512bh)_mm512_loadu_si512((const void *)(a + i)),
				      (__m512bh)_mm512_loadu_si512((const void *)(b + i)));
		c2 = _mm512_dpbf16_ps(c2, (__m512bh)_mm512_loadu_si512((const void *)(a + i + 32)),
				      (__m512bh)_mm512_loadu_si512((const void *)(b + i + 32)));
	}
	double sum = (double)_mm512_reduce_add_ps(c1);
	sum += (double)_mm512_reduce_add_ps(c2);
	for (; i < n; i++)
		sum += (double)(mdl_bf16_to_fp32(a[i]) * mdl_bf16_to_fp32(b[i]));
	return (float)sum;
}

void mdl__kernels_avx512(struct mdl__kernels *k)
{
	if (cpu_features()->avx512bf16)
		k->vec_dot[MDL_TYPE_BF16] = dot_bf16;
	k->gemv[MDL_TYPE_Q8_0] = gemv_q8_0;
	k->gemv[MDL_TYPE_Q4_0] = gemv_q4_0;
	k->gemv[MDL_TYPE_Q5_0] = gemv_q5_0;
	k->gemv[MDL_TYPE_Q4_K] = gemv_q4_K;
	k->gemv[MDL_TYPE_Q5_K] = gemv_q5_K;
	k->gemv[MDL_TYPE_Q6_K] = gemv_q6_K;
	k->vec_dot[MDL_TYPE_Q8_0] = dot_q8_0;
	k->vec_dot_mm[MDL_TYPE_Q8_0] = dotmm_q8_0;
	avx2mm_q4_0 = k->vec_dot_mm[MDL_TYPE_Q4_0];
	k->vec_dot[MDL_TYPE_Q4_0] = dot_q4_0;
	k->vec_dot_mm[MDL_TYPE_Q4_0] = dotmm_q4_0_mixed;
	k->vec_dot[MDL_TYPE_Q5_0] = dot_q5_0;
	k->vec_dot_mm[MDL_TYPE_Q5_0] = dotmm_q5_0;
	avx2mm_q4_K = k->vec_dot_mm[MDL_TYPE_Q4_K];
	avx2mm_q5_K = k->vec_dot_mm[MDL_TYPE_Q5_K];
	avx2mm_q6_K = k->vec_dot_mm[MDL_TYPE_Q6_K];
	k->vec_dot[MDL_TYPE_Q4_K] = dot_q4_K;
	k->vec_dot_mm[MDL_TYPE_Q4_K] = dotmm_q4_K;
	k->vec_dot[MDL_TYPE_Q5_K] = dot_q5_K;
	k->vec_dot_mm[MDL_TYPE_Q5_K] = dotmm_q5_K;
	k->vec_dot[MDL_TYPE_Q6_K] = dot_q6_K;
	k->vec_dot_mm[MDL_TYPE_Q6_K] = dotmm_q6_K;
}

#endif
