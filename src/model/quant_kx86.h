/*
 * quant_kx86.h - the x86 kernels of the K-types (q4_K, q5_K, q6_K against
 * q8_K activations), written once and compiled into two files: included by
 * quant_avx2.c and by quant_avx512.c (with the one-token forms over many
 * rows, gemv_*, that mdl_matmul takes for decode), each defining first
 *   KTARGET       its target attribute,
 *   KERNEL        KTARGET static inline, always inlined,
 *   MADD_ACC(acc, p, s)  acc + the int16 pair products of p and s as int32
 *                 (AVX2: VPMADDWD then VPADDD; VNNI: one VPDPWSSD),
 *   K_SPLIT       1 to spread MADD_ACC over two accumulators when one row
 *                 is computed (VPDPWSSD on a single one chains every step
 *                 on its latency; the AVX2 pair measured faster without),
 *   ENTRY_POINTS(name)   dot_<name> and dotmm_<name> from <name>_n,
 * and the helpers fp16(), hsum_ps() and XROW().
 * Not a header of declarations: include it only there.
 */
/* ------------------------------------------------------------------ */
/* K-types                                                             */
/* ------------------------------------------------------------------ */

/* The scales of sub-blocks 2c and 2c+1 as 16 int16 lanes each, from the
 * 8 scales widened to int16 in both 128-bit halves of sc16. */
KTARGET static inline void k_scale_pair(__m256i sc16, int c, __m256i *s0, __m256i *s1)
{
	const __m256i lo = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * c)));
	const __m256i hi = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * c + 1)));
	*s0 = _mm256_shuffle_epi8(sc16, lo);
	*s1 = _mm256_shuffle_epi8(sc16, hi);
}

/*
 * The 6-bit scales and mins of a q4_K/q5_K block (mdl__k_unpack) in one
 * vector: scales in bytes 0-7, mins in bytes 8-15. Reads 16 bytes from s,
 * the 12 packed ones and 4 of the quants after them (in the block).
 * Scale j < 4 is s[j] & 63, j >= 4 (s[j+4] & 15) | (s[j-4] >> 6) << 4;
 * min j < 4 is s[j+4] & 63, j >= 4 (s[j+4] >> 4) | (s[j] >> 6) << 4.
 */
KTARGET static inline __m128i k_unpack_vec(const uint8_t *s)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)s);
	/* the low parts: s[0..3], s[8..11], s[4..7], s[8..11] (the last four
	 * shifted down 4 bits), masked to 6, 4, 6, 4 bits */
	__m128i lo = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11,
						       4, 5, 6, 7, 8, 9, 10, 11));
	lo = _mm_blend_epi16(lo, _mm_srli_epi16(lo, 4), 0xC0);
	lo = _mm_and_si128(lo, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15,
					     63, 63, 63, 63, 15, 15, 15, 15));
	/* the top two bits of s[0..3] and s[4..7] moved to bits 4-5 of bytes
	 * 4-7 and 12-15 (a 16-bit shift by 2 brings bits 6-7 of each byte to
	 * 4-5 of the same byte; zero bytes stay zero) */
	__m128i hi = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3,
						       -1, -1, -1, -1, 4, 5, 6, 7));
	hi = _mm_and_si128(_mm_srli_epi16(hi, 2), _mm_set1_epi8(0x30));
	return _mm_or_si128(lo, hi);
}

/*
 * The mins of a q4_K/q5_K block as 16 int16 lanes, each twice
 * ([m0, m0, m1, m1, ...]), so that VPMADDWD with the 16 bsums of q8_K gives
 * m[j] * (bsums[2j] + bsums[2j+1]) in lane j.
 */
KTARGET static inline __m256i k_mins16(__m128i scm)
{
	return _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
}

KERNEL void q4_K_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q4_K *a = w;
	int64_t nb = n / MDL_QK_K;
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	__m256 acc[4];
	for (int t = 0; t < nt; t++)
		acc[t] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		__m128i scm = k_unpack_vec(a[i].scales);
		__m128i sc8 = _mm_cvtepu8_epi16(scm);
		__m256i sc16 = _mm256_set_m128i(sc8, sc8);
		const uint8_t *q = a[i].qs;
		/* with K_SPLIT and one row, two integer accumulators:
		 * VPDPWSSD on a single one chains every step on its latency */
		__m256i sumi[4], sumj[4];
		for (int t = 0; t < nt; t++)
			sumi[t] = sumj[t] = _mm256_setzero_si256();
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++, q += 32) {
			__m256i qv = _mm256_loadu_si256((const __m256i *)q);
			__m256i lo = _mm256_and_si256(qv, low4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
			__m256i s0, s1;
			k_scale_pair(sc16, c, &s0, &s1);
			for (int t = 0; t < nt; t++) {
				const int8_t *y = XROW(struct mdl_block_q8_K, x, stride, t)[i].qs + 64 * c;
				__m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
				__m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
				sumi[t] = MADD_ACC(sumi[t], p0, s0);
				if (K_SPLIT && nt == 1)
					sumj[t] = MADD_ACC(sumj[t], p1, s1);
				else
					sumi[t] = MADD_ACC(sumi[t], p1, s1);
			}
		}
		float d = fp16(a[i].d), dmin = fp16(a[i].dmin);
		__m256i m16 = k_mins16(scm);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_K *b = XROW(struct mdl_block_q8_K, x, stride, t) + i;
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi[t], sumj[t])), acc[t]);
			/* the mins' part, dmin * dy * sum_j m_j * sum(y in j),
			 * as 8 lanes into the same accumulator, negated */
			__m256i mv = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)b->bsums));
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * b->d), _mm256_cvtepi32_ps(mv), acc[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(acc[t]);
}

ENTRY_POINTS(q4_K)

KERNEL void q5_K_n(int64_t n, const void *w, const void *x, size_t stride,
		   const int nt, float *out)
{
	const struct mdl_block_q5_K *a = w;
	int64_t nb = n / MDL_QK_K;
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	const __m256i sixteen = _mm256_set1_epi8(16);
	__m256 acc[4];
	for (int t = 0; t < nt; t++)
		acc[t] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		__m128i scm = k_unpack_vec(a[i].scales);
		__m128i sc8 = _mm_cvtepu8_epi16(scm);
		__m256i sc16 = _mm256_set_m128i(sc8, sc8);
		const uint8_t *q = a[i].qs;
		__m256i qh = _mm256_loadu_si256((const __m256i *)a[i].qh);
		/* with K_SPLIT and one row, two integer accumulators:
		 * VPDPWSSD on a single one chains every step on its latency */
		__m256i sumi[4], sumj[4];
		for (int t = 0; t < nt; t++)
			sumi[t] = sumj[t] = _mm256_setzero_si256();
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++, q += 32) {
			/* the 5th bits: bit 2c of qh[l] for the low nibbles,
			 * bit 2c+1 for the high ones; qh moves down 2 bits a
			 * chunk, so they are bits 0 and 1, shifted up to bit 4
			 * (the 16-bit shifts carry bits across bytes only into
			 * positions the masks drop) */
			__m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), sixteen);
			__m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 3), sixteen);
			qh = _mm256_srli_epi16(qh, 2);
			__m256i qv = _mm256_loadu_si256((const __m256i *)q);
			__m256i lo = _mm256_or_si256(_mm256_and_si256(qv, low4), h0);
			__m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), low4), h1);
			__m256i s0, s1;
			k_scale_pair(sc16, c, &s0, &s1);
			for (int t = 0; t < nt; t++) {
				const int8_t *y = XROW(struct mdl_block_q8_K, x, stride, t)[i].qs + 64 * c;
				__m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
				__m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
				sumi[t] = MADD_ACC(sumi[t], p0, s0);
				if (K_SPLIT && nt == 1)
					sumj[t] = MADD_ACC(sumj[t], p1, s1);
				else
					sumi[t] = MADD_ACC(sumi[t], p1, s1);
			}
		}
		float d = fp16(a[i].d), dmin = fp16(a[i].dmin);
		__m256i m16 = k_mins16(scm);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_K *b = XROW(struct mdl_block_q8_K, x, stride, t) + i;
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi[t], sumj[t])), acc[t]);
			/* the mins' part, dmin * dy * sum_j m_j * sum(y in j),
			 * as 8 lanes into the same accumulator, negated */
			__m256i mv = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)b->bsums));
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * b->d), _mm256_cvtepi32_ps(mv), acc[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(acc[t]);
}

ENTRY_POINTS(q5_K)

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
		/* with K_SPLIT and one row, two integer accumulators:
		 * VPDPWSSD on a single one chains every step on its latency */
		__m256i sumi[4], sumj[4];
		for (int t = 0; t < nt; t++)
			sumi[t] = sumj[t] = _mm256_setzero_si256();
		_Pragma("GCC unroll 2")
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
			/* the half's 8 scales as int16 in both 128-bit lanes;
			 * vector k takes scale 2k in its low lane (elements
			 * 0-15) and 2k+1 in its high lane (16-31) */
			__m128i sc8 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(sc + 8 * h)));
			__m256i sch = _mm256_set_m128i(sc8, sc8);
			_Pragma("GCC unroll 4")
			for (int k = 0; k < 4; k++)
				s[k] = _mm256_shuffle_epi8(sch, _mm256_set_m128i(
					_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * k + 1))),
					_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * k)))));
			for (int t = 0; t < nt; t++) {
				const int8_t *y = XROW(struct mdl_block_q8_K, x, stride, t)[i].qs + 128 * h;
				_Pragma("GCC unroll 4")
				for (int k = 0; k < 4; k++) {
					__m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y + 32 * k)));
					if (K_SPLIT && nt == 1 && (k & 1))
						sumj[t] = MADD_ACC(sumj[t], p, s[k]);
					else
						sumi[t] = MADD_ACC(sumi[t], p, s[k]);
				}
			}
		}
		__m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
		float d = fp16(a[i].d);
		for (int t = 0; t < nt; t++) {
			const struct mdl_block_q8_K *b = XROW(struct mdl_block_q8_K, x, stride, t) + i;
			__m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums));
			__m256i v = _mm256_sub_epi32(_mm256_add_epi32(sumi[t], sumj[t]), _mm256_slli_epi32(corr, 5));
			acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(v), acc[t]);
		}
	}
	for (int t = 0; t < nt; t++)
		out[t] = hsum_ps(acc[t]);
}

ENTRY_POINTS(q6_K)

/* one row's dot into *out; a level may define its own one-row kernels */
#ifndef K_ROW1
#define K_ROW1(name, n, w, x, out) name##_n((n), (w), (x), 0, 1, (out))
#endif

#define GEMV_K(name)                                                            \
	KTARGET static void gemv_##name(int64_t n, const void *w, size_t wstride, \
					int nr, const void *x, float *out)     \
	{                                                                      \
		for (int r = 0; r < nr; r++)                                   \
			K_ROW1(name, n, (const uint8_t *)w + (size_t)r * wstride, x, out + r); \
	}
GEMV_K(q4_K)
GEMV_K(q5_K)
GEMV_K(q6_K)
