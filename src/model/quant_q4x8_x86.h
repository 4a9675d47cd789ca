/*
 * quant_q4x8_x86.h - the q4_0x8 kernels (quant_q4x8.c) written once for
 * the x86 levels. Included by quant_q4x8.c with:
 *   QX_TARGET  the function target attribute of the level
 *   QX_VNNI    1: integer sums by VPDPBUSD; 0: VPMADDUBSW + VPMADDWD
 *   QX_TMAX    tokens per tile of the tiled kernel (registers allow)
 *   QX_(name)  the level's name for a function
 * Both integer forms give the same exact sums in the same lanes, and the
 * float operations are those of the scalar reference (quant_q4x8.c), so
 * every level gives the same bits.
 */

#define QX_KERNEL QX_TARGET static inline __attribute__((always_inline))

_Static_assert(QX_TMAX >= 1 && QX_TMAX <= 6, "QX_(gemm) has remainder tiles up to 5");

/* 4 activation bytes broadcast to all 8 lanes. */
QX_KERNEL __m256i QX_(bcast4)(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm256_set1_epi32(v);
}

/*
 * The 8 rows' exact integer sums of (nibble - 8) x activation over one
 * block: lo[c] and hi[c] hold the low and high nibbles of the block's
 * 32-byte chunk c (elements 4c..4c+3 and 4c+16..4c+19 of every row), y the
 * block's 32 activations, base the block's -8 x sum of activations (an
 * exact integer: the stored sums are integers), which starts the sums.
 * chains: 4 short integer chains (one token: nothing else to overlap
 * with) or 2 (several tokens, whose chains overlap); the sums are equal.
 */
QX_KERNEL __m256i QX_(isum)(const __m256i lo[4], const __m256i hi[4], const int8_t *y,
			    __m256i base, const int chains)
{
#if QX_VNNI
	const __m256i z = _mm256_setzero_si256();
	if (chains == 4) {
		__m256i a0 = _mm256_dpbusd_epi32(base, lo[0], QX_(bcast4)(y));
		__m256i a1 = _mm256_dpbusd_epi32(z, hi[0], QX_(bcast4)(y + 16));
		__m256i a2 = _mm256_dpbusd_epi32(z, lo[2], QX_(bcast4)(y + 8));
		__m256i a3 = _mm256_dpbusd_epi32(z, hi[2], QX_(bcast4)(y + 24));
		a0 = _mm256_dpbusd_epi32(a0, lo[1], QX_(bcast4)(y + 4));
		a1 = _mm256_dpbusd_epi32(a1, hi[1], QX_(bcast4)(y + 20));
		a2 = _mm256_dpbusd_epi32(a2, lo[3], QX_(bcast4)(y + 12));
		a3 = _mm256_dpbusd_epi32(a3, hi[3], QX_(bcast4)(y + 28));
		return _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
	}
	__m256i a0 = _mm256_dpbusd_epi32(base, lo[0], QX_(bcast4)(y));
	__m256i a1 = _mm256_dpbusd_epi32(z, hi[0], QX_(bcast4)(y + 16));
	a0 = _mm256_dpbusd_epi32(a0, lo[1], QX_(bcast4)(y + 4));
	a1 = _mm256_dpbusd_epi32(a1, hi[1], QX_(bcast4)(y + 20));
	a0 = _mm256_dpbusd_epi32(a0, lo[2], QX_(bcast4)(y + 8));
	a1 = _mm256_dpbusd_epi32(a1, hi[2], QX_(bcast4)(y + 24));
	a0 = _mm256_dpbusd_epi32(a0, lo[3], QX_(bcast4)(y + 12));
	a1 = _mm256_dpbusd_epi32(a1, hi[3], QX_(bcast4)(y + 28));
	return _mm256_add_epi32(a0, a1);
#else
	/* pairs of nibble x byte products (|.| <= 2 x 15 x 128) summed in
	 * 16 bits: eight of them stay below 2^15, so exact */
	(void)chains;
	__m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo[0], QX_(bcast4)(y)),
				      _mm256_maddubs_epi16(hi[0], QX_(bcast4)(y + 16)));
	__m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo[1], QX_(bcast4)(y + 4)),
				      _mm256_maddubs_epi16(hi[1], QX_(bcast4)(y + 20)));
	__m256i s2 = _mm256_add_epi16(_mm256_maddubs_epi16(lo[2], QX_(bcast4)(y + 8)),
				      _mm256_maddubs_epi16(hi[2], QX_(bcast4)(y + 24)));
	__m256i s3 = _mm256_add_epi16(_mm256_maddubs_epi16(lo[3], QX_(bcast4)(y + 12)),
				      _mm256_maddubs_epi16(hi[3], QX_(bcast4)(y + 28)));
	__m256i s = _mm256_add_epi16(_mm256_add_epi16(s0, s1), _mm256_add_epi16(s2, s3));
	return _mm256_add_epi32(base, _mm256_madd_epi16(s, _mm256_set1_epi16(1)));
#endif
}

/*
 * One group of 8 rows (nb blocks at g) against nt activation rows x_stride
 * bytes apart: y[t * y_stride + r] for r < 8, t < nt. nt is a constant
 * after inlining, so the accumulators live in registers.
 */
QX_KERNEL void QX_(tile)(int64_t nb, const struct mdl_block_q4_0x8 *g, const uint8_t *x,
			 size_t x_stride, const int nt, float *y, size_t y_stride)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	struct q4x8_act a[QX_TMAX];
	__m256 acc[QX_TMAX];
	_Pragma("GCC unroll 8")
	for (int t = 0; t < nt; t++) {
		a[t] = q4x8_act_at(x + (size_t)t * x_stride, nb);
		acc[t] = _mm256_setzero_ps();
	}
	for (int64_t b = 0; b < nb; b++) {
		__m256i lo[4], hi[4];
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			__m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(g[b].qs + c * 32));
			lo[c] = _mm256_and_si256(q, m4);
			hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
		}
		__m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)g[b].d));
		_Pragma("GCC unroll 8")
		for (int t = 0; t < nt; t++) {
			/* (float)(isum - 8 ysum): both exact, as the reference's
			 * (float)isum - 8 ysum */
			__m256i base = _mm256_set1_epi32(-8 * (int32_t)a[t].s[b]);
			__m256i is = QX_(isum)(lo, hi, a[t].y[b].qs, base, nt == 1 ? 4 : 2);
			__m256 p = _mm256_mul_ps(dw, _mm256_set1_ps(a[t].d[b]));
			acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), p, acc[t]);
		}
	}
	_Pragma("GCC unroll 8")
	for (int t = 0; t < nt; t++)
		_mm256_storeu_ps(y + (size_t)t * y_stride, acc[t]);
}

QX_TARGET static void QX_(gemm)(int64_t n, const void *w, size_t w_stride, int nr,
				const void *x, size_t x_stride, int nt, float *y,
				size_t y_stride)
{
	const int64_t nb = n / MDL_QK;
	for (int g = 0; g < nr / 8; g++) {
		const struct mdl_block_q4_0x8 *wg =
			(const void *)((const uint8_t *)w + (size_t)g * 8 * w_stride);
		float *yg = y + (size_t)g * 8;
		int t = 0;
		for (; t + QX_TMAX <= nt; t += QX_TMAX)
			QX_(tile)(nb, wg, (const uint8_t *)x + (size_t)t * x_stride, x_stride,
				  QX_TMAX, yg + (size_t)t * y_stride, y_stride);
		/* the last tokens: one tile of 1 .. QX_TMAX - 1 */
#define QX_REST(k)                                                              \
		case k:                                                         \
			QX_(tile)(nb, wg, (const uint8_t *)x + (size_t)t * x_stride,  \
				  x_stride, k, yg + (size_t)t * y_stride, y_stride); \
			break;
		switch (nt - t) {
#if QX_TMAX > 5
		QX_REST(5)
#endif
#if QX_TMAX > 4
		QX_REST(4)
#endif
#if QX_TMAX > 3
		QX_REST(3)
#endif
#if QX_TMAX > 2
		QX_REST(2)
#endif
		QX_REST(1)
		default:
			break;
		}
#undef QX_REST
	}
}

/* Decode: one token, a sequential stream through the groups, with the
 * page-ahead prefetch of the row kernels (quant_pf.h): the copies sit on
 * 2 MB pages, and it still gave 2-4 % (docs/internals/quant.md). */
QX_TARGET static void QX_(gemv)(int64_t n, const void *w, size_t w_stride, int nr,
				const void *x, float *out)
{
	const int64_t nb = n / MDL_QK;
	for (int g = 0; g < nr / 8; g++) {
		const uint8_t *wg = (const uint8_t *)w + (size_t)g * 8 * w_stride;
		mdl__gemv_prefetch_pages(wg, 8 * w_stride);
		QX_(tile)(nb, (const void *)wg, x, 0, 1, out + (size_t)g * 8, 0);
	}
}

#undef QX_KERNEL
