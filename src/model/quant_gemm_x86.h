/*
 * quant_gemm_x86.h - register-tiled matrix products for q8_0, q4_0 and
 * q5_0 weights against q8_0 activations (and q4_K, q5_K, q6_K against
 * q8_K, further down): a tile of R weight rows x T tokens keeps
 * 2 x R x T float accumulators in registers, so each loaded
 * (and unpacked) weight block serves T tokens and each activation block R
 * rows. Written once, included by quant_gemm_avx512.c (VPDPBUSD) and
 * quant_gemm_avx2.c (VPMADDUBSW + VPMADDWD), which define:
 *
 *   GTARGET        the function attribute enabling their instructions
 *   G_VNNI         1 for VPDPBUSD, 0 for VPMADDUBSW + VPMADDWD
 *   G_R, G_T       the largest tile: weight rows x tokens
 *
 * Every (row, token) result is made with exactly the float operations of
 * the type's row kernel (b32_n in quant_avx2.c and quant_avx512.c): the
 * same integer sums of four products in the same lanes per block, even
 * blocks into one accumulator and odd ones into another, the same scale
 * products in groups of 8 blocks, the same offset correction for q4_0 and
 * q5_0, the same tail and horizontal sum. So a token's output does not
 * depend on whether it was multiplied alone (the row kernel) or in a
 * batch (here), which the engine relies on (a prompt evaluated at once
 * equals it evaluated token by token). Only integer work is rearranged:
 * with VPDPBUSD, q8_0 moves the sign problem to the activations (y + 128
 * unsigned, less 128 x the weights' sums of four, computed once per row
 * and block), which gives the same exact sums without a sign operation
 * per (row, token) pair.
 */
#ifndef G_R
#error "define GTARGET, G_VNNI, G_R and G_T before including quant_gemm_x86.h"
#endif

#define GK GTARGET static inline __attribute__((always_inline))

/* As hsum_ps / hsum256 of the row kernels, operation for operation. */
GTARGET static inline float g_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

GTARGET static inline float g_fp16(uint16_t h)
{
	return _cvtsh_ss(h);
}

static inline uint16_t g_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t g_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* The f16 scales at the start of 8 blocks `stride` bytes apart, as floats. */
GTARGET static inline __m256 g_load_d8(const uint8_t *p, size_t stride)
{
	__m128i v = _mm_cvtsi32_si128(g_u16(p));
	v = _mm_insert_epi16(v, g_u16(p + stride), 1);
	v = _mm_insert_epi16(v, g_u16(p + 2 * stride), 2);
	v = _mm_insert_epi16(v, g_u16(p + 3 * stride), 3);
	v = _mm_insert_epi16(v, g_u16(p + 4 * stride), 4);
	v = _mm_insert_epi16(v, g_u16(p + 5 * stride), 5);
	v = _mm_insert_epi16(v, g_u16(p + 6 * stride), 6);
	v = _mm_insert_epi16(v, g_u16(p + 7 * stride), 7);
	return _mm256_cvtph_ps(v);
}

GTARGET static inline __m256i g_load(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* The 32 nibbles of 16 bytes in block element order (low, then high):
 * the bytes loaded into both halves, the upper half shifted down 4 bits
 * (bits from the next byte land in the high nibble, which the mask
 * drops). */
GTARGET static inline __m256i g_nibbles(const uint8_t *p)
{
	__m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
	q = _mm256_srlv_epi64(q, _mm256_set_epi64x(4, 4, 0, 0));
	return _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
}

/* Byte j becomes 16 where bit j of the 32-bit mask is set, else 0. */
GTARGET static inline __m256i g_bit16(uint32_t bits)
{
#if G_VNNI	/* AVX-512 BW/VL: a mask register expands to bytes in one step */
	return _mm256_and_si256(_mm256_movm_epi8((__mmask32)bits), _mm256_set1_epi8(16));
#else
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
					       0x0101010101010101ll, 0x0000000000000000ll);
	const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
	v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
	return _mm256_and_si256(v, _mm256_set1_epi8(16));
#endif
}

/*
 * One weight block prepared for the pair products: *v the values (q8_0:
 * signed, or their absolute values without VNNI; q4_0/q5_0: the stored
 * unsigned values), *c q8_0's companion (VNNI: -128 x its sums of four,
 * the start of each sum; otherwise the signs).
 */
GK void g_wprep(const int wt, const uint8_t *blk, __m256i *v, __m256i *c)
{
	if (wt == MDL_TYPE_Q8_0) {
		__m256i q = g_load(blk + 2);
#if G_VNNI
		*v = q;
		*c = _mm256_sub_epi32(_mm256_setzero_si256(),
				      _mm256_dpbusd_epi32(_mm256_setzero_si256(),
							  _mm256_set1_epi8((char)0x80), q));
#else
		*v = _mm256_sign_epi8(q, q);
		*c = q;
#endif
		return;
	}
	*c = _mm256_setzero_si256();
	if (wt == MDL_TYPE_Q4_0)
		*v = g_nibbles(blk + 2);
	else
		*v = _mm256_or_si256(g_nibbles(blk + 6), g_bit16(g_u32(blk + 2)));
}

/* An activation block's 32 values prepared for the pair products. */
GK __m256i g_xprep(const int wt, const uint8_t *qs)
{
	__m256i y = g_load(qs);
#if G_VNNI
	if (wt == MDL_TYPE_Q8_0)
		return _mm256_xor_si256(y, _mm256_set1_epi8((char)0x80));	/* y + 128 */
#else
	(void)wt;
#endif
	return y;
}

/* The exact sums of four products of a weight block and an activation
 * block, as 8 int32: the lanes of the row kernels. */
GK __m256i g_pair(const int wt, __m256i v, __m256i c, __m256i y)
{
#if G_VNNI
	if (wt == MDL_TYPE_Q8_0)
		return _mm256_dpbusd_epi32(c, y, v);
	(void)c;
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), v, y);
#else
	if (wt == MDL_TYPE_Q8_0)
		y = _mm256_sign_epi8(y, c);
	else
		(void)c;
	return _mm256_madd_epi16(_mm256_maddubs_epi16(v, y), _mm256_set1_epi16(1));
#endif
}

/*
 * The products of the weights' and the activations' scales of blocks i to
 * i + 7 for every (row, token) of a tile, into d[(r * G_T + t) * 8 + k];
 * for q4_0/q5_0 also their part of the offset correction, accumulated in
 * group order as the row kernels do.
 */
GK void g_scales(const size_t wbytes, const int off, const int R, const int T, int64_t i,
		 const uint8_t *w, size_t ws, const float *const *xd, const float *const *xsum,
		 float *d, __m256 corr[G_R][G_T])
{
	__m256 dw[G_R];
#pragma GCC unroll 16
	for (int r = 0; r < R; r++)
		dw[r] = g_load_d8(w + (size_t)r * ws + (size_t)i * wbytes, wbytes);
#pragma GCC unroll 16
	for (int t = 0; t < T; t++) {
		__m256 dx = _mm256_loadu_ps(xd[t] + i);
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			__m256 dv = _mm256_mul_ps(dw[r], dx);
			_mm256_store_ps(d + (r * G_T + t) * 8, dv);
			if (off)
				corr[r][t] = _mm256_fmadd_ps(dv, _mm256_loadu_ps(xsum[t] + i), corr[r][t]);
		}
	}
}

/*
 * Asks for bytes [off, off + len) of the G_R rows at pf, ws bytes apart, to
 * be brought into L2 (nothing when pf is NULL). A tile streams R short
 * rows side by side, which the hardware prefetcher does not follow far
 * enough ahead: at 8 tokens a q8_0 tile ran at 30 G multiply-adds/s with
 * the weights in DRAM against 62 in L3. So the first tile of each group
 * of rows fetches, block group by block group, the rows two tiles on
 * (G_PF). Into L2, not L1: fetching into L1 recovered only a third of
 * the gap (its few miss buffers fill), into L2 nearly all of it; the
 * distance (1 to 8 tiles) mattered less than the noise. Prefetches do
 * not fault, so pf may point past the matrix.
 */
#define G_PF (2 * G_R)
/*
 * Products of more tokens than this do not prefetch in the tiles: at 32
 * tokens per call that made q8_0 rows of 896 at times 15 % faster, at
 * times 15 % slower than without, under load. They fetch the next call's
 * rows instead (g_prefetch_next), which measured 13-20 % faster for q8_0
 * and the same or a few % faster for q4_0 at 64 tokens.
 */
#define G_PF_TOKENS 16

GK void g_prefetch(const uint8_t *pf, size_t ws, size_t off, size_t len)
{
	if (!pf || !len)
		return;
#pragma GCC unroll 16
	for (int r = 0; r < G_R; r++) {
		const char *p = (const char *)pf + (size_t)r * ws + off;
		for (size_t b = 0; b < len; b += 64)
			_mm_prefetch(p + b, _MM_HINT_T1);
		_mm_prefetch(p + len - 1, _MM_HINT_T1);
	}
}

/*
 * Asks for len bytes at p to be brought into L2. Products of more than
 * G_PF_TOKENS tokens spread the rows of the next call (in mdl_matmul the
 * next block of rows, adjacent) over the tiles of this one, which hides
 * the wait on them behind a whole call.
 */
GK void g_prefetch_next(const uint8_t *p, size_t len)
{
	for (size_t b = 0; b < len; b += 64)
		_mm_prefetch((const char *)p + b, _MM_HINT_T1);
}

/*
 * One tile: rows w, w + ws, ... (R of them) against tokens x, x + xs, ...
 * (T of them; mdl_matmul's q8_0 scratch rows, scales and sums after the
 * blocks), results at y[t * ys + r].
 */
GK void g_tile(const int wt, const size_t wbytes, const int R, const int T, int64_t nb,
	       const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, float *y, size_t ys,
	       const uint8_t *pf)
{
	const int off = wt == MDL_TYPE_Q4_0 ? 8 : wt == MDL_TYPE_Q5_0 ? 16 : 0;
	const size_t xb = sizeof(struct mdl_block_q8_0);
	const float *xd[G_T], *xsum[G_T];
	__m256 acc0[G_R][G_T], acc1[G_R][G_T], corr[G_R][G_T];
	float ctail[G_R][G_T];
#pragma GCC unroll 16
	for (int t = 0; t < T; t++) {
		xd[t] = (const float *)(const void *)(x + (size_t)t * xs + mdl__q8_0_scales_offset(nb));
		xsum[t] = xd[t] + nb;
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			acc0[r][t] = acc1[r][t] = corr[r][t] = _mm256_setzero_ps();
			ctail[r][t] = 0;
		}
	}
	/*
	 * Products of scales, 8 blocks x (row, token) at a time, stored and
	 * broadcast back from memory (a load folded into the FMA, where a
	 * register broadcast costs two shuffles). They are computed one
	 * group of 8 blocks ahead into the other half of dbuf, so that the
	 * gathers of the f16 scales and the stores are not on the critical
	 * path of the group that uses them. dp hides the array's stack
	 * address from the compiler, which otherwise keeps one pointer per
	 * element in spilled registers.
	 */
	float dbuf[2 * G_R * G_T * 8] __attribute__((aligned(32)));
	float *dp = dbuf;
	__asm__("" : "+r"(dp));
	const int64_t ng = nb / 8;
	if (ng > 0)
		g_scales(wbytes, off, R, T, 0, w, ws, xd, xsum, dp, corr);
	int64_t i = 0;
	for (int64_t g = 0; g < ng; g++, i += 8) {
		float *cur = dp + (g & 1) * (G_R * G_T * 8);
		if (g + 1 < ng)
			g_scales(wbytes, off, R, T, i + 8, w, ws, xd, xsum,
				 dp + ((g + 1) & 1) * (G_R * G_T * 8), corr);
		g_prefetch(pf, ws, (size_t)i * wbytes, 8 * wbytes);
#pragma GCC unroll 4
		for (int k = 0; k < 8; k += 2) {
			__m256i v0[G_R], c0[G_R], v1[G_R], c1[G_R];
#pragma GCC unroll 16
			for (int r = 0; r < R; r++) {
				const uint8_t *blk = w + (size_t)r * ws + (size_t)(i + k) * wbytes;
				g_wprep(wt, blk, &v0[r], &c0[r]);
				g_wprep(wt, blk + wbytes, &v1[r], &c1[r]);
			}
#pragma GCC unroll 16
			for (int t = 0; t < T; t++) {
				const uint8_t *b = x + (size_t)t * xs + (size_t)(i + k) * xb;
				__m256i y0 = g_xprep(wt, b + 2);
				__m256i y1 = g_xprep(wt, b + xb + 2);
#pragma GCC unroll 16
				for (int r = 0; r < R; r++) {
					__m256i p0 = g_pair(wt, v0[r], c0[r], y0);
					__m256i p1 = g_pair(wt, v1[r], c1[r], y1);
					acc0[r][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(cur + (r * G_T + t) * 8 + k),
								     _mm256_cvtepi32_ps(p0), acc0[r][t]);
					acc1[r][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(cur + (r * G_T + t) * 8 + k + 1),
								     _mm256_cvtepi32_ps(p1), acc1[r][t]);
				}
			}
		}
	}
	g_prefetch(pf, ws, (size_t)i * wbytes, (size_t)(nb - i) * wbytes);
	for (; i < nb; i++) {
		__m256i v0[G_R], c0[G_R];
		float d0[G_R];
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			const uint8_t *blk = w + (size_t)r * ws + (size_t)i * wbytes;
			g_wprep(wt, blk, &v0[r], &c0[r]);
			d0[r] = g_fp16(g_u16(blk));
		}
#pragma GCC unroll 16
		for (int t = 0; t < T; t++) {
			const uint8_t *b = x + (size_t)t * xs + (size_t)i * xb;
			__m256i y0 = g_xprep(wt, b + 2);
			float dx = g_fp16(g_u16(b));
#pragma GCC unroll 16
			for (int r = 0; r < R; r++) {
				__m256i p0 = g_pair(wt, v0[r], c0[r], y0);
				float dd = d0[r] * dx;
				acc0[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(p0),
							     acc0[r][t]);
				if (off)
					ctail[r][t] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(dd),
										 _mm_set_ss(xsum[t][i]),
										 _mm_set_ss(ctail[r][t])));
			}
		}
	}
#pragma GCC unroll 16
	for (int t = 0; t < T; t++) {
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			float out = g_hsum(_mm256_add_ps(acc0[r][t], acc1[r][t]));
			if (off)
				out -= (float)off * (g_hsum(corr[r][t]) + ctail[r][t]);
			y[(size_t)t * ys + (size_t)r] = out;
		}
	}
}

/* ------------------------------------------------------------------ */
/* q4_K against q8_K activations                                       */
/* ------------------------------------------------------------------ */

/* acc + the int16 pair products of p and s, as int32. */
GTARGET static inline __m256i g_madd_acc(__m256i acc, __m256i p, __m256i s)
{
#if G_VNNI
	return _mm256_dpwssd_epi32(acc, p, s);
#else
	return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
#endif
}

/*
 * A q4_K tile (q5 = 0) or q5_K tile (q5 = 1: the same with the fifth bits
 * of q5_K_n or'd in) with the arithmetic of q4_K_n / q5_K_n
 * (quant_kx86.h): per block and
 * (row, token) pair one integer accumulator of the scaled sums of four
 * (the same lanes; integer sums are exact, so how they are grouped does
 * not matter), then the same two FMAs into one float accumulator and the
 * same horizontal sum.
 */
GK void g_tile_q4_K(const int q5, const int R, const int T, int64_t nb, const uint8_t *w,
		    size_t ws, const uint8_t *x, size_t xs, float *y, size_t ys, const uint8_t *pf)
{
	/* q4_K and q5_K share d, dmin and the scales; q5_K's qh comes next */
	const size_t bbytes = q5 ? sizeof(struct mdl_block_q5_K) : sizeof(struct mdl_block_q4_K);
	const size_t qs_at = q5 ? offsetof(struct mdl_block_q5_K, qs) : offsetof(struct mdl_block_q4_K, qs);
	const __m256i low4 = _mm256_set1_epi8(0x0f), sixteen = _mm256_set1_epi8(16);
	__m256 acc[G_R][G_T];
#pragma GCC unroll 16
	for (int r = 0; r < R; r++)
#pragma GCC unroll 16
		for (int t = 0; t < T; t++)
			acc[r][t] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		g_prefetch(pf, ws, (size_t)i * bbytes, bbytes);
		__m256i sc16[G_R], sumi[G_R][G_T], qh[G_R];
		uint8_t m[G_R][8];
		const uint8_t *a[G_R];
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			a[r] = w + (size_t)r * ws + (size_t)i * bbytes;
			uint8_t sc[8] __attribute__((aligned(8)));
			mdl__k_unpack(a[r] + offsetof(struct mdl_block_q4_K, scales), sc, m[r]);
			if (q5)
				qh[r] = g_load(a[r] + offsetof(struct mdl_block_q5_K, qh));
			__m128i sc8 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc));
			sc16[r] = _mm256_set_m128i(sc8, sc8);
#pragma GCC unroll 16
			for (int t = 0; t < T; t++)
				sumi[r][t] = _mm256_setzero_si256();
		}
#pragma GCC unroll 4
		for (int c = 0; c < 4; c++) {
			__m256i lo[G_R], hi[G_R], s0[G_R], s1[G_R];
			const __m256i i0 = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * c)));
			const __m256i i1 = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * c + 1)));
#pragma GCC unroll 16
			for (int r = 0; r < R; r++) {
				__m256i qv = g_load(a[r] + qs_at + 32 * c);
				lo[r] = _mm256_and_si256(qv, low4);
				hi[r] = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
				if (q5) {	/* as q5_K_n: bits 2c and 2c + 1 of qh */
					lo[r] = _mm256_or_si256(lo[r], _mm256_and_si256(
						_mm256_slli_epi16(qh[r], 4), sixteen));
					hi[r] = _mm256_or_si256(hi[r], _mm256_and_si256(
						_mm256_slli_epi16(qh[r], 3), sixteen));
					qh[r] = _mm256_srli_epi16(qh[r], 2);
				}
				s0[r] = _mm256_shuffle_epi8(sc16[r], i0);
				s1[r] = _mm256_shuffle_epi8(sc16[r], i1);
			}
#pragma GCC unroll 16
			for (int t = 0; t < T; t++) {
				const struct mdl_block_q8_K *b =
					(const struct mdl_block_q8_K *)(const void *)(x + (size_t)t * xs) + i;
				__m256i y0 = g_load(b->qs + 64 * c), y1 = g_load(b->qs + 64 * c + 32);
#pragma GCC unroll 16
				for (int r = 0; r < R; r++) {
					__m256i p0 = _mm256_maddubs_epi16(lo[r], y0);
					__m256i p1 = _mm256_maddubs_epi16(hi[r], y1);
					sumi[r][t] = g_madd_acc(sumi[r][t], p0, s0[r]);
					sumi[r][t] = g_madd_acc(sumi[r][t], p1, s1[r]);
				}
			}
		}
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			float d = g_fp16(g_u16(a[r])), dmin = g_fp16(g_u16(a[r] + 2));
			__m128i m8 = _mm_loadl_epi64((const __m128i *)m[r]);
			__m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
#pragma GCC unroll 16
			for (int t = 0; t < T; t++) {
				const struct mdl_block_q8_K *b =
					(const struct mdl_block_q8_K *)(const void *)(x + (size_t)t * xs) + i;
				acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d),
							    _mm256_cvtepi32_ps(sumi[r][t]), acc[r][t]);
				__m256i mv = _mm256_madd_epi16(m16, g_load(b->bsums));
				acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * b->d),
							    _mm256_cvtepi32_ps(mv), acc[r][t]);
			}
		}
	}
#pragma GCC unroll 16
	for (int t = 0; t < T; t++)
#pragma GCC unroll 16
		for (int r = 0; r < R; r++)
			y[(size_t)t * ys + (size_t)r] = g_hsum(acc[r][t]);
}

/*
 * A q6_K tile with the arithmetic of q6_K_n (quant_kx86.h): per block and
 * (row, token) pair one integer accumulator of the scaled sums of the
 * unsigned 6-bit values times the activations, less 32 x the scaled
 * bsums, then the same FMA into one float accumulator and the same
 * horizontal sum. The 6-bit values of a row are rebuilt per 32 of them
 * from the reloaded ql/qh bytes (kept in L1), so only two vectors per
 * row are live while the T tokens pass.
 */
GK void g_tile_q6_K(const int R, const int T, int64_t nb, const uint8_t *w, size_t ws,
		    const uint8_t *x, size_t xs, float *y, size_t ys, const uint8_t *pf)
{
	const __m256i low4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
	__m256 acc[G_R][G_T];
#pragma GCC unroll 16
	for (int r = 0; r < R; r++)
#pragma GCC unroll 16
		for (int t = 0; t < T; t++)
			acc[r][t] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		g_prefetch(pf, ws, (size_t)i * sizeof(struct mdl_block_q6_K),
			   sizeof(struct mdl_block_q6_K));
		__m256i sumi[G_R][G_T];
		const struct mdl_block_q6_K *a[G_R];
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			a[r] = (const struct mdl_block_q6_K *)(const void *)(w + (size_t)r * ws) + i;
#pragma GCC unroll 16
			for (int t = 0; t < T; t++)
				sumi[r][t] = _mm256_setzero_si256();
		}
#pragma GCC unroll 2
		for (int h = 0; h < 2; h++) {
#pragma GCC unroll 4
			for (int k = 0; k < 4; k++) {
				/* vector k of the half: scale 2k in its low 128-bit lane
				 * (elements 0-15), 2k+1 in its high lane */
				const __m256i sel = _mm256_set_m128i(
					_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * k + 1))),
					_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * k))));
				__m256i q[G_R], sk[G_R];
#pragma GCC unroll 16
				for (int r = 0; r < R; r++) {
					__m256i l = g_load(a[r]->ql + 64 * h + 32 * (k & 1));
					__m256i qh = g_load(a[r]->qh + 32 * h);
					if (k >= 2)
						l = _mm256_srli_epi16(l, 4);
					if (k)
						qh = _mm256_srli_epi16(qh, 2 * k);
					q[r] = _mm256_or_si256(_mm256_and_si256(l, low4),
							       _mm256_slli_epi16(_mm256_and_si256(qh, three), 4));
					__m128i sc8 = _mm_cvtepi8_epi16(
						_mm_loadl_epi64((const __m128i *)(a[r]->scales + 8 * h)));
					sk[r] = _mm256_shuffle_epi8(_mm256_set_m128i(sc8, sc8), sel);
				}
#pragma GCC unroll 16
				for (int t = 0; t < T; t++) {
					const struct mdl_block_q8_K *b =
						(const struct mdl_block_q8_K *)(const void *)(x + (size_t)t * xs) + i;
					__m256i yv = g_load(b->qs + 128 * h + 32 * k);
#pragma GCC unroll 16
					for (int r = 0; r < R; r++)
						sumi[r][t] = g_madd_acc(sumi[r][t],
									_mm256_maddubs_epi16(q[r], yv), sk[r]);
				}
			}
		}
#pragma GCC unroll 16
		for (int r = 0; r < R; r++) {
			__m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[r]->scales));
			float d = g_fp16(a[r]->d);
#pragma GCC unroll 16
			for (int t = 0; t < T; t++) {
				const struct mdl_block_q8_K *b =
					(const struct mdl_block_q8_K *)(const void *)(x + (size_t)t * xs) + i;
				__m256i corr = _mm256_madd_epi16(sc16, g_load(b->bsums));
				__m256i v = _mm256_sub_epi32(sumi[r][t], _mm256_slli_epi32(corr, 5));
				acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d),
							    _mm256_cvtepi32_ps(v), acc[r][t]);
			}
		}
	}
#pragma GCC unroll 16
	for (int t = 0; t < T; t++)
#pragma GCC unroll 16
		for (int r = 0; r < R; r++)
			y[(size_t)t * ys + (size_t)r] = g_hsum(acc[r][t]);
}

/* Signature of one tile size of one type. */
typedef void (*g_tile_fn)(int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
			  size_t xs, float *y, size_t ys, const uint8_t *pf);

#define G_TILE(name, wt, R, T)                                                              \
	GTARGET __attribute__((noinline)) static void name##_##R##x##T(                      \
		int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, float *y, \
		size_t ys, const uint8_t *pf)                                                 \
	{                                                                                     \
		if (wt == MDL_TYPE_Q4_K)                                                      \
			g_tile_q4_K(0, R, T, nb / 8, w, ws, x, xs, y, ys, pf);                \
		else if (wt == MDL_TYPE_Q5_K)                                                 \
			g_tile_q4_K(1, R, T, nb / 8, w, ws, x, xs, y, ys, pf);                \
		else if (wt == MDL_TYPE_Q6_K)                                                 \
			g_tile_q6_K(R, T, nb / 8, w, ws, x, xs, y, ys, pf);                   \
		else                                                                          \
			g_tile(wt, name##_bytes, R, T, nb, w, ws, x, xs, y, ys, pf);          \
	}

/*
 * The tiles of one type, every size up to G_R x G_T (the smaller ones for
 * the edges of a product), and its entry point of type mdl__gemm_fn.
 * Tokens are the outer loop: a group of G_T activation rows stays in L1
 * while the weight rows of the call pass over it.
 */
#define G_TYPE(name, wt)                                                                    \
	G_TILES(name, wt)                                                                   \
	GTARGET static void name(int64_t n, const void *w, size_t ws, int nr, const void *x,\
				 size_t xs, int nt, float *y, size_t ys)                    \
	{                                                                                   \
		static const g_tile_fn tiles[G_R][G_T] = G_TABLE(name);                     \
		int64_t nb = n / MDL_QK;                                                    \
		/* larger products: the next call's rows, a share per tile */             \
		const size_t nbytes = (size_t)nr * ws;                                      \
		const size_t share = nbytes / ((size_t)((nt + G_T - 1) / G_T) *             \
					       (size_t)((nr + G_R - 1) / G_R)) + 1;         \
		size_t ahead = 0;                                                           \
		for (int t = 0; t < nt; t += G_T) {                                         \
			int tt = nt - t < G_T ? nt - t : G_T;                               \
			for (int r = 0; r < nr; r += G_R) {                                 \
				int rr = nr - r < G_R ? nr - r : G_R;                       \
				const uint8_t *wr = (const uint8_t *)w + (size_t)r * ws;    \
				if (nt > G_PF_TOKENS && ahead < nbytes) {                   \
					g_prefetch_next((const uint8_t *)w + nbytes + ahead, \
							share);                              \
					ahead += share;                                      \
				}                                                            \
				tiles[rr - 1][tt - 1](nb, wr, ws,                           \
						      (const uint8_t *)x + (size_t)t * xs, xs, \
						      y + (size_t)t * ys + (size_t)r, ys,   \
						      t || nt > G_PF_TOKENS ? NULL :        \
						      wr + (size_t)G_PF * ws);              \
			}                                                                   \
		}                                                                           \
	}
