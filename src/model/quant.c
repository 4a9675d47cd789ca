/*
 * quant.c - the tensor types of the model module in portable C: the type
 * table, half/bfloat16 conversion, dequantisation, the reference
 * quantisers, activation conversion and dot products (the oracle every
 * SIMD kernel is tested against), the matrix multiplication driver and the
 * run-time choice of kernels.
 *
 * The algorithms are those of ggml (llama.cpp), re-expressed here so that a
 * file we write reads back the same in llama.cpp and our dot products see
 * the same integers as its CPU backend. Where ggml's x86 build and its
 * portable reference differ (activation rounding), we follow the x86 build,
 * since that is what we are compared with.
 */
#include "model/quant.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(struct mdl_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(struct mdl_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(struct mdl_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(struct mdl_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(struct mdl_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(struct mdl_block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(struct mdl_block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(struct mdl_block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(struct mdl_block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(struct mdl_block_q8_K) == 292, "q8_K block");

/* ------------------------------------------------------------------ */
/* Type table                                                          */
/* ------------------------------------------------------------------ */

#define T_(id, nm, bs, sz, q, vd, w) \
	[id] = { .type = id, .name = nm, .block_size = bs, .type_size = sz, \
		 .quantized = q, .vec_dot_type = vd, .is_weight = w }

static const struct mdl_type_info type_table[MDL_TYPE_COUNT] = {
	T_(MDL_TYPE_F32, "f32", 1, 4, 0, MDL_TYPE_F32, 1),
	T_(MDL_TYPE_F16, "f16", 1, 2, 0, MDL_TYPE_F16, 1),
	T_(MDL_TYPE_Q4_0, "q4_0", MDL_QK, 18, 1, MDL_TYPE_Q8_0, 1),
	T_(MDL_TYPE_Q4_1, "q4_1", MDL_QK, 20, 1, MDL_TYPE_Q8_1, 1),
	T_(MDL_TYPE_Q5_0, "q5_0", MDL_QK, 22, 1, MDL_TYPE_Q8_0, 1),
	T_(MDL_TYPE_Q5_1, "q5_1", MDL_QK, 24, 1, MDL_TYPE_Q8_1, 1),
	T_(MDL_TYPE_Q8_0, "q8_0", MDL_QK, 34, 1, MDL_TYPE_Q8_0, 1),
	T_(MDL_TYPE_Q8_1, "q8_1", MDL_QK, 36, 1, MDL_TYPE_Q8_1, 0),
	T_(MDL_TYPE_Q4_K, "q4_K", MDL_QK_K, 144, 1, MDL_TYPE_Q8_K, 1),
	T_(MDL_TYPE_Q5_K, "q5_K", MDL_QK_K, 176, 1, MDL_TYPE_Q8_K, 1),
	T_(MDL_TYPE_Q6_K, "q6_K", MDL_QK_K, 210, 1, MDL_TYPE_Q8_K, 1),
	T_(MDL_TYPE_Q8_K, "q8_K", MDL_QK_K, 292, 1, MDL_TYPE_Q8_K, 0),
	T_(MDL_TYPE_BF16, "bf16", 1, 2, 0, MDL_TYPE_BF16, 1),
	/* sizes per row as q4_0's: 8 rows take 8 x 18 bytes per block */
	[MDL_TYPE_Q4_0X8] = { .type = MDL_TYPE_Q4_0X8, .name = "q4_0x8", .block_size = MDL_QK,
			      .type_size = 18, .quantized = 1, .vec_dot_type = MDL_TYPE_Q8_0,
			      .is_weight = 1, .internal = 1 },
};
#undef T_

const struct mdl_type_info *mdl_type_info(int type)
{
	if (type < 0 || type >= MDL_TYPE_COUNT || !type_table[type].name)
		return NULL;
	return &type_table[type];
}

int mdl_type_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int t = 0; t < MDL_TYPE_COUNT; t++)
		if (type_table[t].name && !type_table[t].internal &&
		    strcasecmp(type_table[t].name, name) == 0)
			return t;
	return -1;
}

size_t mdl_row_size(int type, int64_t n)
{
	const struct mdl_type_info *ti = mdl_type_info(type);
	if (!ti || n < 0 || n % ti->block_size)
		return 0;
	uint64_t blocks = (uint64_t)n / (uint64_t)ti->block_size;
	if (blocks > SIZE_MAX / ti->type_size)
		return 0;
	return (size_t)blocks * ti->type_size;
}

/* ------------------------------------------------------------------ */
/* Half and bfloat16                                                   */
/* ------------------------------------------------------------------ */

static inline uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float f32_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

float mdl_fp16_to_fp32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;

	if (exp == 0x1f)	/* inf, or NaN made quiet: payload moves up 13 bits */
		return f32_from_bits(sign | 0x7f800000 | (man ? 0x400000 : 0) | (man << 13));
	if (exp == 0) {
		if (man == 0)
			return f32_from_bits(sign);
		/* Subnormal: man * 2^-24, exact in float. */
		float v = (float)man * (1.0f / 16777216.0f);
		return sign ? -v : v;
	}
	return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t mdl_fp32_to_fp16(float f)
{
	uint32_t x = f32_bits(f);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7fffffff;

	if (ax > 0x7f800000)	/* NaN: quiet, keep the top payload bits */
		return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
	if (ax >= 0x38800000) {	/* normal half range (or overflow) */
		/* Re-bias the exponent, then round at bit 13 to nearest even;
		 * a carry out of the mantissa bumps the exponent correctly. */
		uint32_t v = ax - 0x38000000;
		v = (v + 0xfff + ((v >> 13) & 1)) >> 13;
		if (v >= 0x7c00)
			v = 0x7c00;
		return (uint16_t)(sign | v);
	}
	uint32_t e = ax >> 23;
	if (e < 102)		/* below 2^-25: rounds to zero */
		return (uint16_t)sign;
	/* Subnormal half: value in units of 2^-24, rounded to nearest even. */
	uint32_t m = (ax & 0x7fffff) | 0x800000;
	uint32_t shift = 126 - e;	/* 14 .. 24 */
	uint32_t r = m >> shift;
	uint32_t rem = m & ((1u << shift) - 1);
	uint32_t half = 1u << (shift - 1);
	if (rem > half || (rem == half && (r & 1)))
		r++;
	return (uint16_t)(sign | r);
}

float mdl_bf16_to_fp32(uint16_t h)
{
	return f32_from_bits((uint32_t)h << 16);
}

uint16_t mdl_fp32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);
	if ((u & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((u >> 16) | 0x40);
	return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

#define FP16(h) mdl_fp16_to_fp32(h)

/* ------------------------------------------------------------------ */
/* Rounding helpers                                                    */
/* ------------------------------------------------------------------ */

/*
 * Round to nearest, ties to even, by adding 1.5 * 2^23 and reading the low
 * mantissa bits: ggml's nearest_int. Exact for |v| < 2^22; for anything
 * else (NaN, huge) it returns a garbage integer but never invokes the
 * undefined behaviour a float-to-int cast would.
 */
static inline int nearest_int(float v)
{
	float t = v + 12582912.0f;
	int32_t i;
	memcpy(&i, &t, 4);
	return (i & 0x007fffff) - 0x00400000;
}

/* (int)v truncated toward zero, clamped to [lo, hi]; NaN gives lo. */
static inline int trunc_clamp(float v, int lo, int hi)
{
	if (!(v > (float)lo))
		return lo;
	if (v >= (float)hi)
		return hi;
	return (int)v;
}

/* roundf(v) (ties away from zero) clamped to [lo, hi]; NaN gives 0. */
static inline int round_clamp(float v, int lo, int hi)
{
	if (v != v)
		return 0;
	if (v <= (float)lo)
		return lo;
	if (v >= (float)hi)
		return hi;
	return (int)roundf(v);
}

static inline int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ------------------------------------------------------------------ */
/* Dequantisation                                                      */
/* ------------------------------------------------------------------ */

static void dequant_q4_0(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q4_0 *b = src;
	for (int64_t i = 0; i < nb; i++, b++, y += MDL_QK) {
		float d = FP16(b->d);
		for (int j = 0; j < MDL_QK / 2; j++) {
			y[j] = (float)((b->qs[j] & 0xf) - 8) * d;
			y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
		}
	}
}

static void dequant_q4_1(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q4_1 *b = src;
	for (int64_t i = 0; i < nb; i++, b++, y += MDL_QK) {
		float d = FP16(b->d), m = FP16(b->m);
		for (int j = 0; j < MDL_QK / 2; j++) {
			y[j] = (float)(b->qs[j] & 0xf) * d + m;
			y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
		}
	}
}

static inline uint32_t load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void dequant_q5_0(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q5_0 *b = src;
	for (int64_t i = 0; i < nb; i++, b++, y += MDL_QK) {
		float d = FP16(b->d);
		uint32_t qh = load_u32(b->qh);
		for (int j = 0; j < MDL_QK / 2; j++) {
			int lo = (b->qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
			int hi = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
			y[j] = (float)(lo - 16) * d;
			y[j + 16] = (float)(hi - 16) * d;
		}
	}
}

static void dequant_q5_1(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q5_1 *b = src;
	for (int64_t i = 0; i < nb; i++, b++, y += MDL_QK) {
		float d = FP16(b->d), m = FP16(b->m);
		uint32_t qh = load_u32(b->qh);
		for (int j = 0; j < MDL_QK / 2; j++) {
			int lo = (b->qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
			int hi = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
			y[j] = (float)lo * d + m;
			y[j + 16] = (float)hi * d + m;
		}
	}
}

static void dequant_q8_0(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q8_0 *b = src;
	for (int64_t i = 0; i < nb; i++, b++, y += MDL_QK) {
		float d = FP16(b->d);
		for (int j = 0; j < MDL_QK; j++)
			y[j] = (float)b->qs[j] * d;
	}
}

static void dequant_q8_1(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q8_1 *b = src;
	for (int64_t i = 0; i < nb; i++, b++, y += MDL_QK) {
		float d = FP16(b->d);
		for (int j = 0; j < MDL_QK; j++)
			y[j] = (float)b->qs[j] * d;
	}
}

/*
 * The 12 bytes of K-type scales hold eight 6-bit scales and eight 6-bit
 * mins: sub-blocks 0-3 in the low 6 bits of bytes 0-3 (scales) and 4-7
 * (mins); sub-blocks 4-7 in the nibbles of bytes 8-11 with their top two
 * bits in the high bits of bytes 0-3 (scales) and 4-7 (mins).
 */
static inline void k_scale_min(int j, const uint8_t *s, int *sc, int *m)
{
	if (j < 4) {
		*sc = s[j] & 63;
		*m = s[j + 4] & 63;
	} else {
		*sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
		*m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
	}
}

static void dequant_q4_K(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q4_K *b = src;
	for (int64_t i = 0; i < nb; i++, b++) {
		float d = FP16(b->d), dmin = FP16(b->dmin);
		const uint8_t *q = b->qs;
		for (int c = 0; c < 4; c++, q += 32) {
			int sc, m;
			k_scale_min(2 * c, b->scales, &sc, &m);
			float d1 = d * (float)sc, m1 = dmin * (float)m;
			k_scale_min(2 * c + 1, b->scales, &sc, &m);
			float d2 = d * (float)sc, m2 = dmin * (float)m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)(q[l] & 0xf) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)(q[l] >> 4) - m2;
		}
	}
}

static void dequant_q5_K(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q5_K *b = src;
	for (int64_t i = 0; i < nb; i++, b++) {
		float d = FP16(b->d), dmin = FP16(b->dmin);
		const uint8_t *q = b->qs;
		for (int c = 0; c < 4; c++, q += 32) {
			int sc, m;
			k_scale_min(2 * c, b->scales, &sc, &m);
			float d1 = d * (float)sc, m1 = dmin * (float)m;
			k_scale_min(2 * c + 1, b->scales, &sc, &m);
			float d2 = d * (float)sc, m2 = dmin * (float)m;
			uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)((q[l] & 0xf) + (b->qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)((q[l] >> 4) + (b->qh[l] & u2 ? 16 : 0)) - m2;
		}
	}
}

/*
 * q6_K: each half of 128 elements uses 64 bytes of ql, 32 of qh and 8
 * scales. Element l + 32k of a half (l < 32, k < 4) has its low nibble in
 * ql[l + 32(k&1)] (low nibble for k < 2, high for k >= 2) and its top two
 * bits at bit 2k of qh[l]; its scale is scales[l/16 + 2k].
 */
static inline int q6_value(const uint8_t *ql, const uint8_t *qh, int l, int k)
{
	int lo = k < 2 ? ql[l + 32 * k] & 0xf : ql[l + 32 * (k - 2)] >> 4;
	return (lo | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
}

static void dequant_q6_K(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q6_K *b = src;
	for (int64_t i = 0; i < nb; i++, b++) {
		float d = FP16(b->d);
		for (int h = 0; h < 2; h++, y += 128) {
			const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
			const int8_t *sc = b->scales + 8 * h;
			for (int l = 0; l < 32; l++)
				for (int k = 0; k < 4; k++)
					y[l + 32 * k] = d * (float)sc[l / 16 + 2 * k] *
							(float)q6_value(ql, qh, l, k);
		}
	}
}

static void dequant_q8_K(const void *src, float *y, int64_t nb)
{
	const struct mdl_block_q8_K *b = src;
	for (int64_t i = 0; i < nb; i++, b++)
		for (int j = 0; j < MDL_QK_K; j++)
			*y++ = b->d * (float)b->qs[j];
}

status_t mdl_dequant_row(int type, const void *src, float *dst, int64_t n)
{
	const struct mdl_type_info *ti = mdl_type_info(type);
	if (!ti)
		return ST_UNSUPPORTED;
	if (n < 0 || n % ti->block_size)
		return ST_INVAL;
	int64_t nb = n / ti->block_size;
	switch (type) {
	case MDL_TYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		break;
	case MDL_TYPE_F16:
		mdl_fp16_to_fp32_row(src, dst, n);
		break;
	case MDL_TYPE_BF16: {
		const uint16_t *h = src;
		for (int64_t i = 0; i < n; i++)
			dst[i] = mdl_bf16_to_fp32(h[i]);
		break;
	}
	case MDL_TYPE_Q4_0: dequant_q4_0(src, dst, nb); break;
	case MDL_TYPE_Q4_1: dequant_q4_1(src, dst, nb); break;
	case MDL_TYPE_Q5_0: dequant_q5_0(src, dst, nb); break;
	case MDL_TYPE_Q5_1: dequant_q5_1(src, dst, nb); break;
	case MDL_TYPE_Q8_0: dequant_q8_0(src, dst, nb); break;
	case MDL_TYPE_Q8_1: dequant_q8_1(src, dst, nb); break;
	case MDL_TYPE_Q4_K: dequant_q4_K(src, dst, nb); break;
	case MDL_TYPE_Q5_K: dequant_q5_K(src, dst, nb); break;
	case MDL_TYPE_Q6_K: dequant_q6_K(src, dst, nb); break;
	case MDL_TYPE_Q8_K: dequant_q8_K(src, dst, nb); break;
	default:
		return ST_UNSUPPORTED;
	}
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Reference quantisers (model files)                                  */
/* ------------------------------------------------------------------ */

/* The value of largest magnitude (with its sign) and that magnitude. */
static inline float signed_absmax(const float *x, int n, float *amax_out)
{
	float amax = 0.0f, max = 0.0f;
	for (int j = 0; j < n; j++) {
		if (amax < fabsf(x[j])) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	}
	*amax_out = amax;
	return max;
}

static void quant_q4_0(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q4_0 *b = dst;
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK) {
		float amax;
		float max = signed_absmax(x, MDL_QK, &amax);
		/* The largest magnitude maps to -8, the one end q4_0 reaches. */
		float d = max / -8.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b->d = mdl_fp32_to_fp16(d);
		for (int j = 0; j < MDL_QK / 2; j++) {
			int lo = trunc_clamp(x[j] * id + 8.5f, 0, 15);
			int hi = trunc_clamp(x[j + 16] * id + 8.5f, 0, 15);
			b->qs[j] = (uint8_t)(lo | hi << 4);
		}
	}
}

static void minmax(const float *x, int n, float *mn, float *mx)
{
	float lo = FLT_MAX, hi = -FLT_MAX;
	for (int j = 0; j < n; j++) {
		if (x[j] < lo)
			lo = x[j];
		if (x[j] > hi)
			hi = x[j];
	}
	*mn = lo;
	*mx = hi;
}

static void quant_q4_1(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q4_1 *b = dst;
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK) {
		float mn, mx;
		minmax(x, MDL_QK, &mn, &mx);
		float d = (mx - mn) / 15.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b->d = mdl_fp32_to_fp16(d);
		b->m = mdl_fp32_to_fp16(mn);
		for (int j = 0; j < MDL_QK / 2; j++) {
			int lo = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 15);
			int hi = trunc_clamp((x[j + 16] - mn) * id + 0.5f, 0, 15);
			b->qs[j] = (uint8_t)(lo | hi << 4);
		}
	}
}

static inline void store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void quant_q5_0(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q5_0 *b = dst;
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK) {
		float amax;
		float max = signed_absmax(x, MDL_QK, &amax);
		float d = max / -16.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b->d = mdl_fp32_to_fp16(d);
		uint32_t qh = 0;
		for (int j = 0; j < MDL_QK / 2; j++) {
			int lo = trunc_clamp(x[j] * id + 16.5f, 0, 31);
			int hi = trunc_clamp(x[j + 16] * id + 16.5f, 0, 31);
			b->qs[j] = (uint8_t)((lo & 0xf) | (hi & 0xf) << 4);
			qh |= (uint32_t)(lo >> 4) << j;
			qh |= (uint32_t)(hi >> 4) << (j + 16);
		}
		store_u32(b->qh, qh);
	}
}

static void quant_q5_1(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q5_1 *b = dst;
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK) {
		float mn, mx;
		minmax(x, MDL_QK, &mn, &mx);
		float d = (mx - mn) / 31.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b->d = mdl_fp32_to_fp16(d);
		b->m = mdl_fp32_to_fp16(mn);
		uint32_t qh = 0;
		for (int j = 0; j < MDL_QK / 2; j++) {
			int lo = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 31);
			int hi = trunc_clamp((x[j + 16] - mn) * id + 0.5f, 0, 31);
			b->qs[j] = (uint8_t)((lo & 0xf) | (hi & 0xf) << 4);
			qh |= (uint32_t)(lo >> 4) << j;
			qh |= (uint32_t)(hi >> 4) << (j + 16);
		}
		store_u32(b->qh, qh);
	}
}

static float absmax(const float *x, int n)
{
	float amax = 0.0f;
	for (int j = 0; j < n; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	return amax;
}

static void quant_q8_0(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q8_0 *b = dst;
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK) {
		float d = absmax(x, MDL_QK) / 127.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b->d = mdl_fp32_to_fp16(d);
		for (int j = 0; j < MDL_QK; j++)
			b->qs[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
	}
}

static void quant_q8_1(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q8_1 *b = dst;
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK) {
		float d = absmax(x, MDL_QK) / 127.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b->d = mdl_fp32_to_fp16(d);
		int sum = 0;
		for (int j = 0; j < MDL_QK; j++) {
			b->qs[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
			sum += b->qs[j];
		}
		b->s = mdl_fp32_to_fp16((float)sum * d);
	}
}

/*
 * Chooses a scale and a (non-positive) offset for n values quantised to
 * [0, nmax] minimising the weighted squared error: first the plain
 * min..max mapping, then nstep + 1 trial scales around it, each refined by
 * least squares. Returns the scale, stores -offset in *the_min and the
 * levels in L. ggml's make_qkx2_quants (with squared error).
 */
static float fit_scale_min(int n, int nmax, const float *x, const float *w,
			   uint8_t *L, float *the_min, uint8_t *Laux,
			   float rmin, float rdelta, int nstep)
{
	float mn = x[0], mx = x[0];
	float sum_w = w[0], sum_x = sum_w * x[0];
	for (int i = 1; i < n; i++) {
		if (x[i] < mn)
			mn = x[i];
		if (x[i] > mx)
			mx = x[i];
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	if (mn > 0)
		mn = 0;
	if (mx == mn) {
		memset(L, 0, (size_t)n);
		*the_min = -mn;
		return 0.0f;
	}
	float iscale = (float)nmax / (mx - mn);
	float scale = 1.0f / iscale;
	float best = 0;
	for (int i = 0; i < n; i++) {
		int l = clampi(nearest_int(iscale * (x[i] - mn)), 0, nmax);
		L[i] = (uint8_t)l;
		float diff = scale * (float)l + mn - x[i];
		diff = diff * diff;
		best += w[i] * diff;
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * (float)is + (float)nmax) / (mx - mn);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(nearest_int(iscale * (x[i] - mn)), 0, nmax);
			Laux[i] = (uint8_t)l;
			sum_l += w[i] * (float)l;
			sum_l2 += w[i] * (float)l * (float)l;
			sum_xl += w[i] * (float)l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;
		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			float err = 0;
			for (int i = 0; i < n; i++) {
				float diff = this_scale * (float)Laux[i] + this_min - x[i];
				diff = diff * diff;
				err += w[i] * diff;
			}
			if (err < best) {
				memcpy(L, Laux, (size_t)n);
				best = err;
				scale = this_scale;
				mn = this_min;
			}
		}
	}
	*the_min = -mn;
	return scale;
}

/*
 * Shared by q4_K and q5_K (nmax 15 or 31): fits a scale and min per
 * sub-block of 32, quantises those to 6 bits against the super-block's
 * d and dmin, then re-quantises the values with the rounded scales.
 */
static void quant_k_scales(const float *x, int nmax, float rmin, int nstep,
			   uint16_t *d_out, uint16_t *dmin_out,
			   uint8_t scales[12], uint8_t L[MDL_QK_K])
{
	float mins[8], sc[8], w[32];
	uint8_t Laux[32];
	float max_scale = 0, max_min = 0;

	for (int j = 0; j < 8; j++) {
		const float *xs = x + 32 * j;
		float sum_x2 = 0;
		for (int l = 0; l < 32; l++)
			sum_x2 += xs[l] * xs[l];
		float av_x = sqrtf(sum_x2 / 32);
		for (int l = 0; l < 32; l++)
			w[l] = av_x + fabsf(xs[l]);
		sc[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], Laux,
				      rmin, 0.1f, nstep);
		if (sc[j] > max_scale)
			max_scale = sc[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}

	float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
	float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
	memset(scales, 0, 12);
	for (int j = 0; j < 8; j++) {
		/* ggml stores nearest_int() in a uint8_t before the MIN(63, .):
		 * keep that truncation so the bytes match. */
		int ls = (uint8_t)nearest_int(inv_scale * sc[j]);
		int lm = (uint8_t)nearest_int(inv_min * mins[j]);
		ls = ls < 63 ? ls : 63;
		lm = lm < 63 ? lm : 63;
		if (j < 4) {
			scales[j] = (uint8_t)ls;
			scales[j + 4] = (uint8_t)lm;
		} else {
			scales[j + 4] = (uint8_t)((ls & 0xf) | (lm & 0xf) << 4);
			scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
			scales[j] |= (uint8_t)((lm >> 4) << 6);
		}
	}
	*d_out = mdl_fp32_to_fp16(max_scale / 63.0f);
	*dmin_out = mdl_fp32_to_fp16(max_min / 63.0f);

	for (int j = 0; j < 8; j++) {
		int s, m;
		k_scale_min(j, scales, &s, &m);
		float d = FP16(*d_out) * (float)s;
		if (d == 0.0f)
			continue;
		float dm = FP16(*dmin_out) * (float)m;
		for (int l = 0; l < 32; l++)
			L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + dm) / d),
							0, nmax);
	}
}

static void quant_q4_K(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q4_K *b = dst;
	uint8_t L[MDL_QK_K];
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK_K) {
		quant_k_scales(x, 15, -1.0f, 20, &b->d, &b->dmin, b->scales, L);
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++)
				b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] |
							      L[64 * c + 32 + l] << 4);
	}
}

static void quant_q5_K(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q5_K *b = dst;
	uint8_t L[MDL_QK_K];
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK_K) {
		quant_k_scales(x, 31, -0.5f, 15, &b->d, &b->dmin, b->scales, L);
		memset(b->qh, 0, sizeof b->qh);
		for (int c = 0; c < 4; c++) {
			for (int l = 0; l < 32; l++) {
				int l1 = L[64 * c + l], l2 = L[64 * c + 32 + l];
				if (l1 > 15) {
					l1 -= 16;
					b->qh[l] |= (uint8_t)(1u << (2 * c));
				}
				if (l2 > 15) {
					l2 -= 16;
					b->qh[l] |= (uint8_t)(2u << (2 * c));
				}
				b->qs[32 * c + l] = (uint8_t)(l1 | l2 << 4);
			}
		}
	}
}

/*
 * Symmetric scale for n values quantised to [-nmax, nmax - 1] minimising
 * the squared error weighted by x^2: the max-magnitude mapping, then 18
 * nearby trial scales refined by least squares. Stores levels + nmax in
 * L. ggml's make_qx_quants with rmse_type 1 and no importance weights.
 */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L)
{
	float amax = 0, max = 0;
	for (int i = 0; i < n; i++) {
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	}
	if (amax < 1e-15f) {
		memset(L, 0, (size_t)n);
		return 0.0f;
	}
	float iscale = -(float)nmax / max;
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
		L[i] = (int8_t)(l + nmax);
		float w = x[i] * x[i];
		sumlx += w * x[i] * (float)l;
		suml2 += w * (float)l * (float)l;
	}
	float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;
	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		iscale = -((float)nmax + 0.1f * (float)is) / max;
		sumlx = suml2 = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
			float w = x[i] * x[i];
			sumlx += w * x[i] * (float)l;
			suml2 += w * (float)l * (float)l;
		}
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < n; i++) {
				int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
				L[i] = (int8_t)(l + nmax);
			}
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

static void quant_q6_K(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q6_K *b = dst;
	int8_t L[MDL_QK_K];
	float sc[16];
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK_K) {
		float max_scale = 0, max_abs_scale = 0;
		for (int ib = 0; ib < 16; ib++) {
			sc[ib] = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
			if (fabsf(sc[ib]) > max_abs_scale) {
				max_abs_scale = fabsf(sc[ib]);
				max_scale = sc[ib];
			}
		}
		if (max_abs_scale < 1e-15f) {
			memset(b, 0, sizeof *b);
			continue;
		}
		float iscale = -128.0f / max_scale;
		b->d = mdl_fp32_to_fp16(1.0f / iscale);
		for (int ib = 0; ib < 16; ib++) {
			int s = nearest_int(iscale * sc[ib]);
			b->scales[ib] = (int8_t)(s < 127 ? s : 127);
		}
		for (int j = 0; j < 16; j++) {
			float d = FP16(b->d) * (float)b->scales[j];
			if (d == 0.0f)
				continue;
			for (int l = 0; l < 16; l++)
				L[16 * j + l] = (int8_t)(clampi(nearest_int(x[16 * j + l] / d),
								-32, 31) + 32);
		}
		for (int h = 0; h < 2; h++) {
			uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
			const int8_t *Lh = L + 128 * h;
			for (int l = 0; l < 32; l++) {
				int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
				ql[l] = (uint8_t)((q1 & 0xf) | (q3 & 0xf) << 4);
				ql[l + 32] = (uint8_t)((q2 & 0xf) | (q4 & 0xf) << 4);
				qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 |
						  (q3 >> 4) << 4 | (q4 >> 4) << 6);
			}
		}
	}
}

/* q8_K: one float scale per 256, levels in [-127, 127] (not -128, so that
 * sign tricks in SIMD kernels stay exact), and sums of each 16. */
static void quant_q8_K(const float *x, void *dst, int64_t nb)
{
	struct mdl_block_q8_K *b = dst;
	for (int64_t i = 0; i < nb; i++, b++, x += MDL_QK_K) {
		float amax;
		float max = signed_absmax(x, MDL_QK_K, &amax);
		if (amax == 0.0f) {
			memset(b, 0, sizeof *b);
			continue;
		}
		float iscale = -127.0f / max;
		for (int j = 0; j < MDL_QK_K; j++) {
			int v = nearest_int(iscale * x[j]);
			b->qs[j] = (int8_t)(v < 127 ? v : 127);
		}
		for (int j = 0; j < 16; j++) {
			int sum = 0;
			for (int l = 0; l < 16; l++)
				sum += b->qs[16 * j + l];
			b->bsums[j] = (int16_t)sum;
		}
		b->d = 1.0f / iscale;
	}
}

static void quant_f16(const float *x, void *dst, int64_t n)
{
	uint16_t *h = dst;
	for (int64_t i = 0; i < n; i++)
		h[i] = mdl_fp32_to_fp16(x[i]);
}

static void quant_bf16(const float *x, void *dst, int64_t n)
{
	uint16_t *h = dst;
	for (int64_t i = 0; i < n; i++)
		h[i] = mdl_fp32_to_bf16(x[i]);
}

status_t mdl_quant_row(int type, const float *src, void *dst, int64_t n)
{
	const struct mdl_type_info *ti = mdl_type_info(type);
	if (!ti)
		return ST_UNSUPPORTED;
	if (n < 0 || n % ti->block_size)
		return ST_INVAL;
	int64_t nb = n / ti->block_size;
	switch (type) {
	case MDL_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
	case MDL_TYPE_F16: mdl_fp32_to_fp16_row(src, dst, n); break;
	case MDL_TYPE_BF16: quant_bf16(src, dst, n); break;
	case MDL_TYPE_Q4_0: quant_q4_0(src, dst, nb); break;
	case MDL_TYPE_Q4_1: quant_q4_1(src, dst, nb); break;
	case MDL_TYPE_Q5_0: quant_q5_0(src, dst, nb); break;
	case MDL_TYPE_Q5_1: quant_q5_1(src, dst, nb); break;
	case MDL_TYPE_Q8_0: quant_q8_0(src, dst, nb); break;
	case MDL_TYPE_Q8_1: quant_q8_1(src, dst, nb); break;
	case MDL_TYPE_Q4_K: quant_q4_K(src, dst, nb); break;
	case MDL_TYPE_Q5_K: quant_q5_K(src, dst, nb); break;
	case MDL_TYPE_Q6_K: quant_q6_K(src, dst, nb); break;
	case MDL_TYPE_Q8_K: quant_q8_K(src, dst, nb); break;
	default: return ST_UNSUPPORTED;
	}
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Activation conversion (scalar kernels)                              */
/* ------------------------------------------------------------------ */

/*
 * q8_0 as llama.cpp's x86 build makes it for dot products: the multiplier
 * is 127/amax (not 1/d) and values are rounded to nearest even (not away
 * from zero). rintf rounds to nearest even in the default rounding mode.
 */
static void act_q8_0(const float *x, void *dst, int64_t n)
{
	struct mdl_block_q8_0 *b = dst;
	for (int64_t i = 0; i < n / MDL_QK; i++, b++, x += MDL_QK) {
		float amax = absmax(x, MDL_QK);
		float id = amax != 0.0f ? 127.0f / amax : 0.0f;
		b->d = mdl_fp32_to_fp16(amax / 127.0f);
		for (int j = 0; j < MDL_QK; j++)
			b->qs[j] = (int8_t)nearest_int(x[j] * id);
	}
}

static void act_q8_1(const float *x, void *dst, int64_t n)
{
	struct mdl_block_q8_1 *b = dst;
	for (int64_t i = 0; i < n / MDL_QK; i++, b++, x += MDL_QK) {
		float amax = absmax(x, MDL_QK);
		float d = amax / 127.0f;
		float id = amax != 0.0f ? 127.0f / amax : 0.0f;
		b->d = mdl_fp32_to_fp16(d);
		int sum = 0;
		for (int j = 0; j < MDL_QK; j++) {
			b->qs[j] = (int8_t)nearest_int(x[j] * id);
			sum += b->qs[j];
		}
		b->s = mdl_fp32_to_fp16(d * (float)sum);
	}
}

static void act_q8_K(const float *x, void *dst, int64_t n)
{
	quant_q8_K(x, dst, n / MDL_QK_K);
}

void mdl__act_q8_K_scalar(const float *x, struct mdl_block_q8_K *dst)
{
	quant_q8_K(x, dst, 1);
}

static void act_f32(const float *x, void *dst, int64_t n)
{
	memcpy(dst, x, (size_t)n * sizeof(float));
}

/* ------------------------------------------------------------------ */
/* Dot products (scalar kernels)                                       */
/* ------------------------------------------------------------------ */

static float dot_f32(int64_t n, const void *w, const void *x)
{
	const float *a = w, *b = x;
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)(a[i] * b[i]);
	return (float)sum;
}

static float dot_f16(int64_t n, const void *w, const void *x)
{
	const uint16_t *a = w, *b = x;
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)(FP16(a[i]) * FP16(b[i]));
	return (float)sum;
}

static float dot_bf16(int64_t n, const void *w, const void *x)
{
	const uint16_t *a = w, *b = x;
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)(mdl_bf16_to_fp32(a[i]) * mdl_bf16_to_fp32(b[i]));
	return (float)sum;
}

static float dot_q4_0(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q4_0 *a = w;
	const struct mdl_block_q8_0 *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK; i++) {
		int s = 0;
		for (int j = 0; j < 16; j++)
			s += ((a[i].qs[j] & 0xf) - 8) * b[i].qs[j] +
			     ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
		sum += (float)s * FP16(a[i].d) * FP16(b[i].d);
	}
	return sum;
}

static float dot_q4_1(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q4_1 *a = w;
	const struct mdl_block_q8_1 *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK; i++) {
		int s = 0;
		for (int j = 0; j < 16; j++)
			s += (a[i].qs[j] & 0xf) * b[i].qs[j] +
			     (a[i].qs[j] >> 4) * b[i].qs[j + 16];
		/* sum(d*q + m)(dy*y) = d*dy*sum(q*y) + m*(dy*sum(y)) */
		sum += FP16(a[i].d) * FP16(b[i].d) * (float)s +
		       FP16(a[i].m) * FP16(b[i].s);
	}
	return sum;
}

static float dot_q5_0(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q5_0 *a = w;
	const struct mdl_block_q8_0 *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK; i++) {
		uint32_t qh = load_u32(a[i].qh);
		int s = 0;
		for (int j = 0; j < 16; j++) {
			int lo = ((a[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4) - 16;
			int hi = ((a[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
			s += lo * b[i].qs[j] + hi * b[i].qs[j + 16];
		}
		sum += (float)s * FP16(a[i].d) * FP16(b[i].d);
	}
	return sum;
}

static float dot_q5_1(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q5_1 *a = w;
	const struct mdl_block_q8_1 *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK; i++) {
		uint32_t qh = load_u32(a[i].qh);
		int s = 0;
		for (int j = 0; j < 16; j++) {
			int lo = (a[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
			int hi = (a[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
			s += lo * b[i].qs[j] + hi * b[i].qs[j + 16];
		}
		sum += FP16(a[i].d) * FP16(b[i].d) * (float)s +
		       FP16(a[i].m) * FP16(b[i].s);
	}
	return sum;
}

static float dot_q8_0(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q8_0 *a = w;
	const struct mdl_block_q8_0 *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK; i++) {
		int s = 0;
		for (int j = 0; j < MDL_QK; j++)
			s += a[i].qs[j] * b[i].qs[j];
		sum += (float)s * FP16(a[i].d) * FP16(b[i].d);
	}
	return sum;
}

/*
 * K-types: within a super-block everything is integer; per block
 *   sum = d*dy * sum_j sc_j * sum(q*y)  -  dmin*dy * sum_j m_j * sum(y)
 * where the sums of y per 16 come precomputed in q8_K's bsums.
 */
static float dot_q4_K(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q4_K *a = w;
	const struct mdl_block_q8_K *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK_K; i++) {
		const uint8_t *q = a[i].qs;
		const int8_t *y = b[i].qs;
		int isum = 0, msum = 0;
		for (int c = 0; c < 4; c++, q += 32, y += 64) {
			int sc1, m1, sc2, m2, s1 = 0, s2 = 0;
			k_scale_min(2 * c, a[i].scales, &sc1, &m1);
			k_scale_min(2 * c + 1, a[i].scales, &sc2, &m2);
			for (int l = 0; l < 32; l++) {
				s1 += (q[l] & 0xf) * y[l];
				s2 += (q[l] >> 4) * y[l + 32];
			}
			isum += sc1 * s1 + sc2 * s2;
			msum += m1 * (b[i].bsums[4 * c] + b[i].bsums[4 * c + 1]) +
				m2 * (b[i].bsums[4 * c + 2] + b[i].bsums[4 * c + 3]);
		}
		sum += FP16(a[i].d) * b[i].d * (float)isum;
		sum -= FP16(a[i].dmin) * b[i].d * (float)msum;
	}
	return sum;
}

static float dot_q5_K(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q5_K *a = w;
	const struct mdl_block_q8_K *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK_K; i++) {
		const uint8_t *q = a[i].qs, *qh = a[i].qh;
		const int8_t *y = b[i].qs;
		int isum = 0, msum = 0;
		for (int c = 0; c < 4; c++, q += 32, y += 64) {
			int sc1, m1, sc2, m2, s1 = 0, s2 = 0;
			k_scale_min(2 * c, a[i].scales, &sc1, &m1);
			k_scale_min(2 * c + 1, a[i].scales, &sc2, &m2);
			for (int l = 0; l < 32; l++) {
				int v1 = (q[l] & 0xf) | ((qh[l] >> (2 * c)) & 1) << 4;
				int v2 = (q[l] >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4;
				s1 += v1 * y[l];
				s2 += v2 * y[l + 32];
			}
			isum += sc1 * s1 + sc2 * s2;
			msum += m1 * (b[i].bsums[4 * c] + b[i].bsums[4 * c + 1]) +
				m2 * (b[i].bsums[4 * c + 2] + b[i].bsums[4 * c + 3]);
		}
		sum += FP16(a[i].d) * b[i].d * (float)isum;
		sum -= FP16(a[i].dmin) * b[i].d * (float)msum;
	}
	return sum;
}

static float dot_q6_K(int64_t n, const void *w, const void *x)
{
	const struct mdl_block_q6_K *a = w;
	const struct mdl_block_q8_K *b = x;
	float sum = 0;
	for (int64_t i = 0; i < n / MDL_QK_K; i++) {
		int isum = 0;
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = a[i].ql + 64 * h, *qh = a[i].qh + 32 * h;
			const int8_t *sc = a[i].scales + 8 * h;
			const int8_t *y = b[i].qs + 128 * h;
			for (int k = 0; k < 4; k++) {
				for (int g = 0; g < 2; g++) {
					int s = 0;
					for (int l = 16 * g; l < 16 * g + 16; l++)
						s += q6_value(ql, qh, l, k) * y[l + 32 * k];
					isum += sc[g + 2 * k] * s;
				}
			}
		}
		sum += FP16(a[i].d) * b[i].d * (float)isum;
	}
	return sum;
}

static void h2f_row(const uint16_t *src, float *dst, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] = mdl_fp16_to_fp32(src[i]);
}

static void f2h_row(const float *src, uint16_t *dst, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] = mdl_fp32_to_fp16(src[i]);
}

static void f16_dots(int64_t n_pos, int64_t n, const uint16_t *K, size_t stride,
		     int nq, const uint16_t *q, size_t q_stride, float scale,
		     float *out, size_t out_stride)
{
	for (int h = 0; h < nq; h++)
		for (int64_t p = 0; p < n_pos; p++)
			out[(size_t)h * out_stride + (size_t)p] =
				dot_f16(n, K + (size_t)p * stride, q + (size_t)h * q_stride) * scale;
}

/* The reference softmax: expf, a sum in double. */
static void softmax_ref(int64_t n, float *s)
{
	float m = -INFINITY;
	for (int64_t p = 0; p < n; p++)
		if (s[p] > m)
			m = s[p];
	double sum = 0;
	for (int64_t p = 0; p < n; p++) {
		s[p] = expf(s[p] - m);
		sum += s[p];
	}
	float inv = (float)(1.0 / sum);
	for (int64_t p = 0; p < n; p++)
		s[p] = s[p] * inv;
}

static void silu_mul_ref(int64_t n, float *g, const float *u)
{
	for (int64_t i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void f16_wsum(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride,
		     int nw, const float *w, size_t w_stride, float *o, size_t o_stride)
{
	for (int h = 0; h < nw; h++)
	for (int64_t p = 0; p < n_pos; p++) {
		const uint16_t *v = V + (size_t)p * stride;
		float a = w[(size_t)h * w_stride + (size_t)p];
		float *oh = o + (size_t)h * o_stride;
		for (int64_t j = 0; j < n; j++) {
			float prod = a * FP16(v[j]);
			oh[j] = oh[j] + prod;
		}
	}
}

static void q8_0_wsum(int64_t n_pos, int64_t n, const void *V, size_t stride,
		      int nw, const float *w, size_t w_stride, float *o, size_t o_stride)
{
	for (int h = 0; h < nw; h++)
	for (int64_t p = 0; p < n_pos; p++) {
		const struct mdl_block_q8_0 *b =
			(const void *)((const uint8_t *)V + (size_t)p * stride);
		float wp = w[(size_t)h * w_stride + (size_t)p];
		float *oh = o + (size_t)h * o_stride;
		for (int64_t k = 0; k < n / MDL_QK; k++) {
			float a = wp * FP16(b[k].d);
			for (int j = 0; j < MDL_QK; j++) {
				float prod = a * (float)b[k].qs[j];
				oh[k * MDL_QK + j] = oh[k * MDL_QK + j] + prod;
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static struct mdl__kernels kern_levels[3];
static enum mdl_level level_max = MDL_LEVEL_SCALAR;
static const struct mdl__kernels *kern_cur;
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

static enum mdl_level detect_level(void)
{
	const struct cpu_features *f = cpu_features();
	if (!f->avx2 || !f->fma || !f->f16c)
		return MDL_LEVEL_SCALAR;
	/* VNNI is what makes the AVX-512 integer kernels worth having. */
	if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni)
		return MDL_LEVEL_AVX512;
	return MDL_LEVEL_AVX2;
}

static void kern_init(void)
{
	struct mdl__kernels *k = &kern_levels[MDL_LEVEL_SCALAR];
	k->fp16_to_fp32_row = h2f_row;
	k->fp32_to_fp16_row = f2h_row;
	k->f16_dots = f16_dots;
	k->f16_wsum = f16_wsum;
	k->q8_0_wsum = q8_0_wsum;
	k->softmax = softmax_ref;
	k->silu_mul = silu_mul_ref;
	k->vec_dot[MDL_TYPE_F32] = dot_f32;
	k->vec_dot[MDL_TYPE_F16] = dot_f16;
	k->vec_dot[MDL_TYPE_BF16] = dot_bf16;
	k->vec_dot[MDL_TYPE_Q4_0] = dot_q4_0;
	k->vec_dot[MDL_TYPE_Q4_1] = dot_q4_1;
	k->vec_dot[MDL_TYPE_Q5_0] = dot_q5_0;
	k->vec_dot[MDL_TYPE_Q5_1] = dot_q5_1;
	k->vec_dot[MDL_TYPE_Q8_0] = dot_q8_0;
	k->vec_dot[MDL_TYPE_Q4_K] = dot_q4_K;
	k->vec_dot[MDL_TYPE_Q5_K] = dot_q5_K;
	k->vec_dot[MDL_TYPE_Q6_K] = dot_q6_K;
	k->quant_act[MDL_TYPE_F32] = act_f32;
	k->quant_act[MDL_TYPE_F16] = quant_f16;
	k->quant_act[MDL_TYPE_BF16] = quant_bf16;
	k->quant_act[MDL_TYPE_Q8_0] = act_q8_0;
	k->quant_act[MDL_TYPE_Q8_1] = act_q8_1;
	k->quant_act[MDL_TYPE_Q8_K] = act_q8_K;

	level_max = detect_level();
	kern_levels[MDL_LEVEL_AVX2] = kern_levels[MDL_LEVEL_SCALAR];
	kern_levels[MDL_LEVEL_AVX512] = kern_levels[MDL_LEVEL_SCALAR];
#if defined(__x86_64__) || defined(__i386__)
	if (level_max >= MDL_LEVEL_AVX2) {
		mdl__kernels_avx2(&kern_levels[MDL_LEVEL_AVX2]);
		mdl__kernels_gemm_avx2(&kern_levels[MDL_LEVEL_AVX2]);
		kern_levels[MDL_LEVEL_AVX512] = kern_levels[MDL_LEVEL_AVX2];
	}
	if (level_max >= MDL_LEVEL_AVX512) {
		mdl__kernels_avx512(&kern_levels[MDL_LEVEL_AVX512]);
		mdl__kernels_gemm_avx512(&kern_levels[MDL_LEVEL_AVX512]);
	}
#endif
	for (int l = MDL_LEVEL_SCALAR; l <= (int)level_max; l++)
		mdl__kernels_q4x8(&kern_levels[l], (enum mdl_level)l);
	__atomic_store_n(&kern_cur, &kern_levels[level_max], __ATOMIC_RELEASE);
}

static inline const struct mdl__kernels *kernels(void)
{
	const struct mdl__kernels *k = __atomic_load_n(&kern_cur, __ATOMIC_ACQUIRE);
	if (!k) {
		pthread_once(&kern_once, kern_init);
		k = __atomic_load_n(&kern_cur, __ATOMIC_ACQUIRE);
	}
	return k;
}

enum mdl_level mdl_quant_level_max(void)
{
	kernels();
	return level_max;
}

enum mdl_level mdl_quant_level(void)
{
	return (enum mdl_level)(kernels() - kern_levels);
}

enum mdl_level mdl_quant_force_level(enum mdl_level level)
{
	kernels();
	if ((int)level < MDL_LEVEL_SCALAR)
		level = MDL_LEVEL_SCALAR;
	if (level > level_max)
		level = level_max;
	__atomic_store_n(&kern_cur, &kern_levels[level], __ATOMIC_RELEASE);
	return level;
}

const char *mdl_level_name(enum mdl_level level)
{
	switch (level) {
	case MDL_LEVEL_SCALAR: return "scalar";
	case MDL_LEVEL_AVX2: return "avx2";
	case MDL_LEVEL_AVX512: return "avx512";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* Public dot products and activation conversion                       */
/* ------------------------------------------------------------------ */

void mdl_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n)
{
	kernels()->fp16_to_fp32_row(src, dst, n);
}

void mdl_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n)
{
	kernels()->fp32_to_fp16_row(src, dst, n);
}

void mdl_f16_dots(int64_t n_pos, int64_t n, const uint16_t *K, size_t stride,
		  const uint16_t *q, float scale, float *out)
{
	kernels()->f16_dots(n_pos, n, K, stride, 1, q, 0, scale, out, 0);
}

void mdl_f16_dots_n(int64_t n_pos, int64_t n, const uint16_t *K, size_t stride, int nq,
		    const uint16_t *q, size_t q_stride, float scale, float *out,
		    size_t out_stride)
{
	kernels()->f16_dots(n_pos, n, K, stride, nq, q, q_stride, scale, out, out_stride);
}

void mdl_f16_wsum(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride,
		  const float *w, float *o)
{
	kernels()->f16_wsum(n_pos, n, V, stride, 1, w, 0, o, 0);
}

void mdl_f16_wsum_n(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride, int nw,
		    const float *w, size_t w_stride, float *o, size_t o_stride)
{
	kernels()->f16_wsum(n_pos, n, V, stride, nw, w, w_stride, o, o_stride);
}

/*
 * Completes a row of nb q8_0 activation blocks in mdl_matmul's scratch
 * layout: after the blocks, at mdl__q8_0_scales_offset(nb), their scales
 * as floats, then the sums of their values (what the kernels of several
 * rows read instead of converting them again for every weight row).
 */
static void q8_0_scratch_tail(uint8_t *row, int64_t nb)
{
	const struct mdl_block_q8_0 *b = (const void *)row;
	float *d = (float *)(void *)(row + mdl__q8_0_scales_offset(nb));
	for (int64_t i = 0; i < nb; i++) {
		int sum = 0;
		for (int k = 0; k < MDL_QK; k++)
			sum += b[i].qs[k];
		d[i] = mdl_fp16_to_fp32(b[i].d);
		d[nb + i] = (float)sum;
	}
}

void mdl_q8_0_dots_n(int64_t n_pos, int64_t n, const void *K, size_t stride, int nq,
		     const void *q, size_t q_stride, float scale, float *out,
		     size_t out_stride)
{
	const struct mdl__kernels *k = kernels();
	int64_t nb = n / MDL_QK;
	size_t xs = mdl_matmul_scratch_size(MDL_TYPE_Q8_0, n, 1);
	/*
	 * Through the level's tiled kernel where it has one: the queries
	 * copied into mdl_matmul's scratch layout (blocks, then their scales
	 * and the sums of their values as floats), each K row then loaded
	 * once per few heads. Its results equal the dot's bit for bit (the
	 * kernels' contract, tests/quant).
	 */
	if (k->gemm[MDL_TYPE_Q8_0] && nq > 1 && nq <= 16 && xs && xs <= 1024) {
		uint8_t xq[16 * 1024] __attribute__((aligned(64)));
		for (int h = 0; h < nq; h++) {
			uint8_t *row = xq + (size_t)h * xs;
			memcpy(row, (const uint8_t *)q + (size_t)h * q_stride,
			       (size_t)nb * sizeof(struct mdl_block_q8_0));
			q8_0_scratch_tail(row, nb);
		}
		/* rows in runs of 64: the K rows of a run stay in L1 */
		for (int64_t p0 = 0; p0 < n_pos; p0 += 64) {
			int nr = n_pos - p0 < 64 ? (int)(n_pos - p0) : 64;
			k->gemm[MDL_TYPE_Q8_0](n, (const uint8_t *)K + (size_t)p0 * stride, stride, nr,
					       xq, xs, nq, out + p0, out_stride);
		}
		for (int h = 0; h < nq; h++)
			for (int64_t p = 0; p < n_pos; p++)
				out[(size_t)h * out_stride + (size_t)p] *= scale;
		return;
	}
	/* the level's dot kernel without mdl_vec_dot's checks per call */
	mdl__vec_dot_fn dot = k->vec_dot[MDL_TYPE_Q8_0];
	for (int64_t p = 0; p < n_pos; p++) {
		const void *kp = (const uint8_t *)K + (size_t)p * stride;
		for (int h = 0; h < nq; h++)
			out[(size_t)h * out_stride + (size_t)p] =
				dot(n, kp, (const uint8_t *)q + (size_t)h * q_stride) * scale;
	}
}

void mdl_q8_0_wsum_n(int64_t n_pos, int64_t n, const void *V, size_t stride, int nw,
		     const float *w, size_t w_stride, float *o, size_t o_stride)
{
	kernels()->q8_0_wsum(n_pos, n, V, stride, nw, w, w_stride, o, o_stride);
}

void mdl_softmax(int64_t n, float *s)
{
	kernels()->softmax(n, s);
}

void mdl_silu_mul(int64_t n, float *g, const float *u)
{
	kernels()->silu_mul(n, g, u);
}

size_t mdl_act_row_size(int wtype, int64_t n)
{
	const struct mdl_type_info *ti = mdl_type_info(wtype);
	if (!ti || !ti->is_weight)
		return 0;
	return mdl_row_size(ti->vec_dot_type, n);
}

status_t mdl_quant_act_row(int wtype, const float *x, void *dst, int64_t n)
{
	const struct mdl_type_info *ti = mdl_type_info(wtype);
	if (!ti || !ti->is_weight)
		return ST_UNSUPPORTED;
	if (n < 0 || n % ti->block_size)
		return ST_INVAL;
	kernels()->quant_act[ti->vec_dot_type](x, dst, n);
	return ST_OK;
}

float mdl_vec_dot(int type, int64_t n, const void *w_row, const void *x_vecdot)
{
	const struct mdl_type_info *ti = mdl_type_info(type);
	if (!ti || !ti->is_weight || n < 0 || n % ti->block_size)
		return NAN;
	return kernels()->vec_dot[type](n, w_row, x_vecdot);
}

/* ------------------------------------------------------------------ */
/* Matrix multiplication                                               */
/* ------------------------------------------------------------------ */

/*
 * Tiling of the product: the parallel-for hands out blocks of MM_ROW_BLOCK
 * weight rows; within its share a thread walks tokens in tiles of
 * MM_TOKEN_BLOCK so that one tile of converted activations (at most
 * 32 x 5 KB for a 4,864-wide row in q8_0) stays in L2 while the weight rows
 * pass over it. Weights are then read from memory once per token tile
 * rather than activations once per row block.
 */
#define MM_ROW_BLOCK 16
#define MM_TOKEN_BLOCK 32

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Bytes of one converted activation row in mdl_matmul's scratch: the row
 * (for q8_0 with its blocks' scales, then sums of values, as floats after
 * it), rounded up to 64. */
static size_t mm_row_stride(int wtype, int64_t cols)
{
	const struct mdl_type_info *ti = mdl_type_info(wtype);
	size_t row = mdl_act_row_size(wtype, cols);
	if (!row)
		return 0;
	if (ti->vec_dot_type == MDL_TYPE_Q8_0)	/* + scales, sums */
		row = mdl__q8_0_scales_offset(cols / MDL_QK) + (size_t)(cols / MDL_QK) * 2 * sizeof(float);
	return align64(row);
}

/*
 * Activation types needing a conversion among ops (f32 weights read X
 * itself), each once, in first-seen order; returns their number. With
 * offsets != NULL, also where each one's rows start in the scratch.
 * Returns -1 on a bad op or an overflowing size.
 */
static int mm_layout(const struct mdl_mm_op *ops, int n_ops, int64_t cols,
		     int64_t n_tokens, int vtypes[MDL_MM_MAX_OPS],
		     size_t offsets[MDL_MM_MAX_OPS + 1])
{
	int nv = 0;
	size_t off = 0;
	if (n_ops < 1 || n_ops > MDL_MM_MAX_OPS || n_tokens < 0)
		return -1;
	for (int i = 0; i < n_ops; i++) {
		const struct mdl_type_info *ti = mdl_type_info(ops[i].wtype);
		if (!ti || !ti->is_weight || !mm_row_stride(ops[i].wtype, cols))
			return -1;
		if (ti->internal && ops[i].rows % 8)	/* q4_0x8: whole groups */
			return -1;
		if (ops[i].wtype == MDL_TYPE_F32)
			continue;
		int v = 0;
		while (v < nv && vtypes[v] != ti->vec_dot_type)
			v++;
		if (v < nv)
			continue;
		size_t row = mm_row_stride(ops[i].wtype, cols);
		if ((uint64_t)n_tokens > (SIZE_MAX - off) / row)
			return -1;
		if (offsets)
			offsets[nv] = off;
		vtypes[nv++] = ti->vec_dot_type;
		off += row * (size_t)n_tokens;
	}
	if (offsets)
		offsets[nv] = off;
	return nv;
}

size_t mdl_matmul_multi_scratch_size(const struct mdl_mm_op *ops, int n_ops,
				     int64_t cols, int64_t n_tokens)
{
	int vtypes[MDL_MM_MAX_OPS];
	size_t offsets[MDL_MM_MAX_OPS + 1];
	int nv = mm_layout(ops, n_ops, cols, n_tokens, vtypes, offsets);
	return nv < 0 ? 0 : offsets[nv];
}

size_t mdl_matmul_scratch_size(int wtype, int64_t cols, int64_t n_tokens)
{
	struct mdl_mm_op op = { .wtype = wtype };
	return mdl_matmul_multi_scratch_size(&op, 1, cols, n_tokens);
}

/* One product of a job, as mm_dot_part sees it. */
struct mm_op {
	mdl__vec_dot_fn dot;
	mdl__vec_dot_mm_fn dotmm;	/* may be NULL */
	mdl__gemm_fn gemm;		/* may be NULL; used for 2+ tokens */
	mdl__gemv_fn gemv;		/* may be NULL; used for 1 token */
	const uint8_t *W;
	size_t w_stride;	/* bytes per weight row */
	int64_t rows;
	float *Y;
	const uint8_t *Xq;	/* converted activations (or X for f32) */
	size_t x_stride;	/* bytes per converted row */
	size_t first_block;	/* index of its first row block in the job */
};

struct mm_job {
	const struct mdl__kernels *k;
	int64_t cols, n_tokens;
	const float *X;
	struct mm_op ops[MDL_MM_MAX_OPS];
	int n_ops;
	/* conversions: one per activation type, over all tokens */
	int vtypes[MDL_MM_MAX_OPS];
	uint8_t *vq[MDL_MM_MAX_OPS];
	size_t vstride[MDL_MM_MAX_OPS];
	int nv;
};

/* Work items [begin, end): conversion v = item / n_tokens of token
 * item % n_tokens. */
static void mm_quant_part(void *arg, size_t begin, size_t end, int worker)
{
	struct mm_job *j = arg;
	for (size_t item = begin; item < end; item++) {
		size_t v = item / (size_t)j->n_tokens, t = item % (size_t)j->n_tokens;
		mdl__quant_act_fn fn = j->k->quant_act[j->vtypes[v]];
		uint8_t *row = j->vq[v] + t * j->vstride[v];
		fn(j->X + t * (size_t)j->cols, row, j->cols);
		if (j->vtypes[v] == MDL_TYPE_Q8_0)
			q8_0_scratch_tail(row, j->cols / MDL_QK);
	}
}

/* Rows [r0, r1) of one product, all tokens. */
static void mm_dot_rows(const struct mm_job *j, const struct mm_op *o,
			int64_t r0, int64_t r1)
{
	for (int64_t t0 = 0; t0 < j->n_tokens; t0 += MM_TOKEN_BLOCK) {
		int64_t t1 = t0 + MM_TOKEN_BLOCK < j->n_tokens ? t0 + MM_TOKEN_BLOCK : j->n_tokens;
		for (int64_t rb = r0; rb < r1; rb += MM_ROW_BLOCK) {
			int64_t re = rb + MM_ROW_BLOCK < r1 ? rb + MM_ROW_BLOCK : r1;
			/* A tiled kernel takes the whole block of rows x tile of
			 * tokens, loading each weight block once per few tokens. */
			if (o->gemm && t1 - t0 > 1) {
				o->gemm(j->cols, o->W + (size_t)rb * o->w_stride, o->w_stride,
					(int)(re - rb), o->Xq + (size_t)t0 * o->x_stride, o->x_stride,
					(int)(t1 - t0), o->Y + (size_t)t0 * (size_t)o->rows + (size_t)rb,
					(size_t)o->rows);
				continue;
			}
			if (o->gemv && t1 - t0 == 1) {
				o->gemv(j->cols, o->W + (size_t)rb * o->w_stride, o->w_stride,
					(int)(re - rb), o->Xq + (size_t)t0 * o->x_stride,
					o->Y + (size_t)t0 * (size_t)o->rows + (size_t)rb);
				continue;
			}
			for (int64_t r = rb; r < re; r++) {
				const uint8_t *w = o->W + (size_t)r * o->w_stride;
				int64_t t = t0;
				/* Up to four tokens a call where the kernel exists:
				 * the weight row is loaded and unpacked once for all. */
				if (o->dotmm) {
					for (; t < t1; t += 4) {
						float out[4];
						int nt = t1 - t < 4 ? (int)(t1 - t) : 4;
						o->dotmm(j->cols, w, o->Xq + (size_t)t * o->x_stride,
							 o->x_stride, nt, out);
						for (int k = 0; k < nt; k++)
							o->Y[(size_t)(t + k) * (size_t)o->rows + (size_t)r] = out[k];
					}
				}
				for (; t < t1; t++)
					o->Y[(size_t)t * (size_t)o->rows + (size_t)r] =
						o->dot(j->cols, w, o->Xq + (size_t)t * o->x_stride);
			}
		}
	}
}

/* Work items [begin, end): row blocks of all products, one after another. */
static void mm_dot_part(void *arg, size_t begin, size_t end, int worker)
{
	struct mm_job *j = arg;
	for (int i = 0; i < j->n_ops; i++) {
		const struct mm_op *o = &j->ops[i];
		size_t nblk = (size_t)((o->rows + MM_ROW_BLOCK - 1) / MM_ROW_BLOCK);
		size_t b0 = begin > o->first_block ? begin - o->first_block : 0;
		size_t b1 = end - o->first_block < nblk ? end - o->first_block : nblk;
		if (end <= o->first_block || b0 >= nblk)
			continue;
		int64_t r1 = (int64_t)b1 * MM_ROW_BLOCK;
		mm_dot_rows(j, o, (int64_t)b0 * MM_ROW_BLOCK, r1 < o->rows ? r1 : o->rows);
	}
}

void mdl_matmul_multi(struct tpool *pool, const struct mdl_mm_op *ops, int n_ops,
		      int64_t cols, const float *X, int64_t n_tokens, void *scratch)
{
	struct mm_job j = { .k = kernels(), .cols = cols, .n_tokens = n_tokens, .X = X };
	size_t offsets[MDL_MM_MAX_OPS + 1];
	if (n_tokens <= 0)
		return;
	j.nv = mm_layout(ops, n_ops, cols, n_tokens, j.vtypes, offsets);
	if (j.nv < 0)
		return;
	for (int v = 0; v < j.nv; v++) {
		j.vq[v] = (uint8_t *)scratch + offsets[v];
		j.vstride[v] = (offsets[v + 1] - offsets[v]) / (size_t)n_tokens;
	}
	size_t blocks = 0;
	for (int i = 0; i < n_ops; i++) {
		struct mm_op *o = &j.ops[j.n_ops];
		if (ops[i].rows <= 0)
			continue;
		int vt = type_table[ops[i].wtype].vec_dot_type;
		o->dot = j.k->vec_dot[ops[i].wtype];
		o->dotmm = j.k->vec_dot_mm[ops[i].wtype];
		o->gemm = j.k->gemm[ops[i].wtype];
		o->gemv = j.k->gemv[ops[i].wtype];
		o->W = ops[i].W;
		o->w_stride = mdl_row_size(ops[i].wtype, cols);
		o->rows = ops[i].rows;
		o->Y = ops[i].Y;
		if (ops[i].wtype == MDL_TYPE_F32) {
			o->Xq = (const uint8_t *)X;
			o->x_stride = (size_t)cols * sizeof(float);
		} else {
			int v = 0;
			while (j.vtypes[v] != vt)
				v++;
			o->Xq = j.vq[v];
			o->x_stride = j.vstride[v];
		}
		o->first_block = blocks;
		blocks += (size_t)((o->rows + MM_ROW_BLOCK - 1) / MM_ROW_BLOCK);
		j.n_ops++;
	}
	size_t n_conv = (size_t)j.nv * (size_t)n_tokens;
	if (n_conv == 1)
		mm_quant_part(&j, 0, 1, 0);
	else if (n_conv > 1)
		tpool_parallel_for(pool, n_conv, 1, mm_quant_part, &j);
	if (blocks)
		tpool_parallel_for(pool, blocks, 1, mm_dot_part, &j);
}

void mdl_matmul(struct tpool *pool, int wtype, const void *W, int64_t rows,
		int64_t cols, const float *X, int64_t n_tokens, float *Y,
		void *scratch)
{
	struct mdl_mm_op op = { .wtype = wtype, .W = W, .rows = rows, .Y = Y };
	mdl_matmul_multi(pool, &op, 1, cols, X, n_tokens, scratch);
}
