/*
 * test_quant.c - tests of the model module's tensor types (src/model/quant.h):
 * the type table, half/bfloat16 conversion, each dequantiser against blocks
 * written byte by byte, quantise/dequantise error bounds, the scalar dot
 * products against dequantise-then-multiply, every SIMD kernel available on
 * this CPU against the scalar one, and the threaded matrix multiplication.
 */
#include <math.h>
#include <sys/mman.h>
#include <string.h>

#include "harness.h"
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
	rng_state = s * 0x9e3779b97f4a7c15ull + 1;
}

static uint64_t rng_next(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Uniform in [-1, 1). */
static float rng_float(void)
{
	return (float)((double)(rng_next() >> 40) / (double)(1ull << 23) - 1.0);
}

/* Values shaped like weights: mostly small, a few outliers per row. */
static void fill_weights(float *x, int64_t n, float scale)
{
	for (int64_t i = 0; i < n; i++) {
		float v = rng_float() + rng_float() + rng_float();
		if ((rng_next() & 63) == 0)
			v *= 4.0f;
		x[i] = v * scale;
	}
}

static void *xalloc(size_t n)
{
	void *p = mem_alloc(n ? n : 1);
	assert_non_null(p);
	return p;
}

#define ASSERT_FLOAT(got, want)                                                \
	do {                                                                   \
		float g_ = (got), w_ = (want);                                 \
		if (g_ != w_)                                                  \
			fail_msg("%s = %.9g, want %.9g", #got, (double)g_,     \
				 (double)w_);                                  \
	} while (0)

static const int weight_types[] = {
	MDL_TYPE_F32, MDL_TYPE_F16, MDL_TYPE_BF16, MDL_TYPE_Q4_0,
	MDL_TYPE_Q4_1, MDL_TYPE_Q5_0, MDL_TYPE_Q5_1, MDL_TYPE_Q8_0,
	MDL_TYPE_Q4_K, MDL_TYPE_Q5_K, MDL_TYPE_Q6_K,
};
#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

static const int all_types[] = {
	MDL_TYPE_F32, MDL_TYPE_F16, MDL_TYPE_BF16, MDL_TYPE_Q4_0,
	MDL_TYPE_Q4_1, MDL_TYPE_Q5_0, MDL_TYPE_Q5_1, MDL_TYPE_Q8_0,
	MDL_TYPE_Q8_1, MDL_TYPE_Q4_K, MDL_TYPE_Q5_K, MDL_TYPE_Q6_K,
	MDL_TYPE_Q8_K,
};
#define N_ALL_TYPES (sizeof all_types / sizeof all_types[0])

/* ------------------------------------------------------------------ */
/* Type table                                                          */
/* ------------------------------------------------------------------ */

static void test_type_table(void **state)
{
	static const struct {
		int id;
		const char *name;
		int block;
		size_t bytes;
		int vec_dot;
	} want[] = {
		{ 0, "f32", 1, 4, 0 },        { 1, "f16", 1, 2, 1 },
		{ 2, "q4_0", 32, 18, 8 },     { 3, "q4_1", 32, 20, 9 },
		{ 6, "q5_0", 32, 22, 8 },     { 7, "q5_1", 32, 24, 9 },
		{ 8, "q8_0", 32, 34, 8 },     { 9, "q8_1", 32, 36, 9 },
		{ 12, "q4_K", 256, 144, 15 }, { 13, "q5_K", 256, 176, 15 },
		{ 14, "q6_K", 256, 210, 15 }, { 15, "q8_K", 256, 292, 15 },
		{ 30, "bf16", 1, 2, 30 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct mdl_type_info *ti = mdl_type_info(want[i].id);
		assert_non_null(ti);
		assert_int_equal(ti->type, want[i].id);
		assert_string_equal(ti->name, want[i].name);
		assert_int_equal(ti->block_size, want[i].block);
		assert_int_equal(ti->type_size, want[i].bytes);
		assert_int_equal(ti->vec_dot_type, want[i].vec_dot);
		assert_int_equal(mdl_type_from_name(want[i].name), want[i].id);
	}
	assert_int_equal(mdl_type_info(MDL_TYPE_Q8_1)->is_weight, 0);
	assert_int_equal(mdl_type_info(MDL_TYPE_Q8_K)->is_weight, 0);
	assert_int_equal(mdl_type_info(MDL_TYPE_Q4_K)->is_weight, 1);

	/* Unknown and unsupported ids. */
	static const int bad[] = { -1, 4, 5, 10, 11, 16, 24, 29, 31, 38, 40, 1000 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_null(mdl_type_info(bad[i]));

	/* Names, case-insensitively. */
	assert_int_equal(mdl_type_from_name("q4_k"), 12);
	assert_int_equal(mdl_type_from_name("Q4_K"), 12);
	assert_int_equal(mdl_type_from_name("Q6_k"), 14);
	assert_int_equal(mdl_type_from_name("BF16"), 30);
	assert_int_equal(mdl_type_from_name("q2_K"), -1);
	assert_int_equal(mdl_type_from_name(""), -1);
	assert_int_equal(mdl_type_from_name("q4_0 "), -1);
	assert_int_equal(mdl_type_from_name(NULL), -1);

	/* Row sizes. */
	assert_int_equal(mdl_row_size(MDL_TYPE_F32, 896), 896 * 4);
	assert_int_equal(mdl_row_size(MDL_TYPE_Q8_0, 896), 28 * 34);
	assert_int_equal(mdl_row_size(MDL_TYPE_Q4_K, 4864), 19 * 144);
	assert_int_equal(mdl_row_size(MDL_TYPE_Q6_K, 0), 0);
	assert_int_equal(mdl_row_size(MDL_TYPE_Q4_K, 896), 0);	/* not a multiple */
	assert_int_equal(mdl_row_size(MDL_TYPE_Q4_0, 33), 0);
	assert_int_equal(mdl_row_size(MDL_TYPE_Q4_0, -32), 0);
	assert_int_equal(mdl_row_size(10, 256), 0);
	assert_int_equal(mdl_row_size(MDL_TYPE_F32, INT64_MAX), 0);	/* overflow */
	assert_int_equal(mdl_act_row_size(MDL_TYPE_Q4_0, 64), 2 * 34);
	assert_int_equal(mdl_act_row_size(MDL_TYPE_Q4_1, 64), 2 * 36);
	assert_int_equal(mdl_act_row_size(MDL_TYPE_Q6_K, 512), 2 * 292);
	assert_int_equal(mdl_act_row_size(MDL_TYPE_F16, 10), 20);
	assert_int_equal(mdl_act_row_size(MDL_TYPE_Q8_K, 256), 0);

	float f[32] = { 0 };
	uint8_t b[64];
	TH_ST(mdl_dequant_row(10, b, f, 32), ST_UNSUPPORTED);
	TH_ST(mdl_dequant_row(MDL_TYPE_Q4_0, b, f, 31), ST_INVAL);
	TH_ST(mdl_quant_row(MDL_TYPE_Q8_0, f, b, 33), ST_INVAL);
	TH_ST(mdl_quant_row(29, f, b, 32), ST_UNSUPPORTED);
	TH_ST(mdl_quant_act_row(MDL_TYPE_Q8_K, f, b, 256), ST_UNSUPPORTED);
	assert_true(isnan(mdl_vec_dot(MDL_TYPE_Q8_0, 31, b, b)));
	assert_true(isnan(mdl_vec_dot(MDL_TYPE_Q8_1, 32, b, b)));
}

/* ------------------------------------------------------------------ */
/* Half and bfloat16                                                   */
/* ------------------------------------------------------------------ */

static float bits_f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void test_fp16(void **state)
{
	static const struct {
		uint32_t f;	/* float bits */
		uint16_t h;
	} cases[] = {
		{ 0x00000000, 0x0000 }, { 0x80000000, 0x8000 },
		{ 0x3f800000, 0x3c00 }, /* 1 */
		{ 0xc0000000, 0xc000 }, /* -2 */
		{ 0x3dcccccd, 0x2e66 }, /* 0.1 */
		{ 0x477fe000, 0x7bff }, /* 65504, largest half */
		{ 0x477fefff, 0x7bff }, /* just under the rounding point */
		{ 0x477ff000, 0x7c00 }, /* 65520 ties up to infinity */
		{ 0x47800000, 0x7c00 }, /* 65536 */
		{ 0x7f7fffff, 0x7c00 }, /* FLT_MAX */
		{ 0x7f800000, 0x7c00 }, { 0xff800000, 0xfc00 },
		{ 0x7fc00000, 0x7e00 }, /* quiet NaN */
		{ 0x7f800001, 0x7e00 }, /* signalling NaN becomes quiet */
		{ 0xffc02000, 0xfe01 }, /* sign and top payload bits kept */
		{ 0x3f801000, 0x3c00 }, /* 1 + 2^-11: tie, to even (down) */
		{ 0x3f803000, 0x3c02 }, /* 1 + 3*2^-11: tie, to even (up) */
		{ 0x3f801001, 0x3c01 }, /* just above the tie */
		{ 0x38800000, 0x0400 }, /* 2^-14, smallest normal */
		{ 0x387fc000, 0x03ff }, /* largest subnormal */
		{ 0x387fe000, 0x0400 }, /* 1023.5 * 2^-24: tie, to even (up) */
		{ 0x387fdfff, 0x03ff }, /* just below that tie */
		{ 0x33800000, 0x0001 }, /* 2^-24, smallest subnormal */
		{ 0x33000000, 0x0000 }, /* 2^-25: tie, to even (zero) */
		{ 0x33000001, 0x0001 }, /* just above */
		{ 0x33c00000, 0x0002 }, /* 1.5*2^-24: tie, to even (2) */
		{ 0x34200000, 0x0002 }, /* 2.5*2^-24: tie, to even (2) */
		{ 0xb3c00000, 0x8002 },
		{ 0x32ffffff, 0x0000 }, { 0x00000001, 0x0000 },
		{ 0x80000001, 0x8000 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint16_t h = mdl_fp32_to_fp16(bits_f(cases[i].f));
		if (h != cases[i].h)
			fail_msg("fp16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h,
				 cases[i].h);
	}
	ASSERT_FLOAT(mdl_fp16_to_fp32(0x3c00), 1.0f);
	ASSERT_FLOAT(mdl_fp16_to_fp32(0xc000), -2.0f);
	ASSERT_FLOAT(mdl_fp16_to_fp32(0x7bff), 65504.0f);
	ASSERT_FLOAT(mdl_fp16_to_fp32(0x0001), 5.9604644775390625e-8f);
	ASSERT_FLOAT(mdl_fp16_to_fp32(0x83ff), -6.097555160522461e-5f);
	ASSERT_FLOAT(mdl_fp16_to_fp32(0x7c00), INFINITY);
	ASSERT_FLOAT(mdl_fp16_to_fp32(0xfc00), -INFINITY);
	assert_true(isnan(mdl_fp16_to_fp32(0x7e00)));
	assert_true(isnan(mdl_fp16_to_fp32(0x7c01)));
	{	/* a signalling NaN comes out quiet, payload kept */
		float f = mdl_fp16_to_fp32(0xfc01);
		uint32_t u;
		memcpy(&u, &f, 4);
		assert_int_equal(u, 0xffc02000u);
	}
	assert_true(signbit(mdl_fp16_to_fp32(0x8000)));

	/* Every half survives the round trip (NaNs come back quiet). */
	for (uint32_t h = 0; h < 0x10000; h++) {
		float f = mdl_fp16_to_fp32((uint16_t)h);
		uint16_t back = mdl_fp32_to_fp16(f);
		uint16_t want = (uint16_t)h;
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
			want |= 0x200;
		if (back != want)
			fail_msg("round trip of half 0x%04x gave 0x%04x", h, back);
	}
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("f16c"))) static uint16_t hw_fp16(float f)
{
	return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
#endif

/* The software conversion agrees with the F16C instruction on random bit
 * patterns concentrated on the half's range. */
static void test_fp16_vs_hardware(void **state)
{
#if defined(__x86_64__) || defined(__i386__)
	if (!cpu_features()->f16c)
		skip();
	rng_seed(7);
	for (int i = 0; i < 2000000; i++) {
		uint32_t u = (uint32_t)rng_next();
		if (i & 1)	/* exponents around the half range */
			u = (u & 0x807fffff) | (uint32_t)(96 + (rng_next() % 48)) << 23;
		uint16_t sw = mdl_fp32_to_fp16(bits_f(u)), hw = hw_fp16(bits_f(u));
		if (sw != hw)
			fail_msg("fp16(0x%08x): software 0x%04x, F16C 0x%04x", u, sw, hw);
	}
#else
	skip();
#endif
}

/* The row conversions give exactly the element conversions, at every
 * level, for every half and for random floats, at odd lengths. */
static void test_fp16_rows(void **state)
{
	uint16_t *h = xalloc(65536 * 2), *h2 = xalloc(65536 * 2);
	float *f = xalloc(65536 * 4);
	for (uint32_t i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		mdl_fp16_to_fp32_row(h, f, 65535);
		f[65535] = 0;
		for (uint32_t i = 0; i < 65535; i++) {
			float want = mdl_fp16_to_fp32((uint16_t)i);
			uint32_t gb, wb;
			memcpy(&gb, &f[i], 4);
			memcpy(&wb, &want, 4);
			if (gb != wb)
				fail_msg("%s: half 0x%04x row-converts to 0x%08x, want 0x%08x",
					 mdl_level_name((enum mdl_level)lvl), i, gb, wb);
		}
		rng_seed(3);
		for (int i = 0; i < 65536; i++) {
			uint32_t u = (uint32_t)rng_next();
			if (i & 1)
				u = (u & 0x807fffff) | (uint32_t)(96 + (rng_next() % 48)) << 23;
			f[i] = bits_f(u);
		}
		mdl_fp32_to_fp16_row(f, h2, 65533);
		for (int i = 0; i < 65533; i++)
			if (h2[i] != mdl_fp32_to_fp16(f[i]))
				fail_msg("%s: float %g row-converts to 0x%04x, want 0x%04x",
					 mdl_level_name((enum mdl_level)lvl), (double)f[i], h2[i],
					 mdl_fp32_to_fp16(f[i]));
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(h);
	mem_free(h2);
	mem_free(f);
}

/*
 * mdl_f16_dots_n and mdl_f16_wsum_n (several heads at once) at every level
 * equal, bit for bit, mdl_f16_dots and mdl_f16_wsum called for each head,
 * for head sizes 64 and 128 (the fast paths) and 40 and 96, 1 to 10 heads
 * (past the kernels' groups), 0 to 300 rows at a stride wider than a row.
 */
static void test_f16_attention_heads(void **state)
{
	enum { MAXN = 128, MAXP = 300, STRIDE = 2 * MAXN + 8, MAXH = 10 };
	static const int ns[] = { 64, 128, 40, 96 };
	static const int nps[] = { 0, 1, 7, 33, 300 };
	uint16_t *K = xalloc((size_t)MAXP * STRIDE * 2), *q = xalloc(MAXH * MAXN * 2);
	float *sc = xalloc((size_t)MAXH * MAXP * 4), *sc1 = xalloc(MAXP * 4);
	float *w = xalloc((size_t)MAXH * MAXP * 4), *o = xalloc(MAXH * MAXN * 4);
	float *o1 = xalloc(MAXN * 4), *o0 = xalloc(MAXH * MAXN * 4);
	(void)state;
	rng_seed(12);
	for (int i = 0; i < MAXP * STRIDE; i++)
		K[i] = mdl_fp32_to_fp16(rng_float() * 2 - 1);
	for (int i = 0; i < MAXH * MAXN; i++) {
		q[i] = mdl_fp32_to_fp16(rng_float() - 0.5f);
		o0[i] = rng_float();
	}
	for (int i = 0; i < MAXH * MAXP; i++)
		w[i] = rng_float() * 0.01f;
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
			for (size_t pi = 0; pi < sizeof nps / sizeof nps[0]; pi++)
				for (int nh = 1; nh <= MAXH; nh += nh < 3 ? 1 : 3) {
					int n = ns[ni], np = nps[pi];
					/* heads at q + 1 + h * (n + 8): odd offsets, gaps */
					mdl_f16_dots_n(np, n, K + 3, STRIDE, nh, q + 1, (size_t)n + 8, 0.125f,
						       sc, MAXP);
					memcpy(o, o0, (size_t)MAXH * MAXN * 4);
					mdl_f16_wsum_n(np, n, K + 5, STRIDE, nh, w, MAXP, o, MAXN);
					for (int h = 0; h < nh; h++) {
						mdl_f16_dots(np, n, K + 3, STRIDE, q + 1 + (size_t)h * (n + 8),
							     0.125f, sc1);
						if (np && memcmp(sc1, sc + (size_t)h * MAXP, (size_t)np * 4))
							fail_msg("%s: f16_dots_n n %d rows %d head %d of %d differs",
								 mdl_level_name((enum mdl_level)lvl), n, np, h, nh);
						memcpy(o1, o0 + (size_t)h * MAXN, (size_t)n * 4);
						mdl_f16_wsum(np, n, K + 5, STRIDE, w + (size_t)h * MAXP, o1);
						if (memcmp(o1, o + (size_t)h * MAXN, (size_t)n * 4))
							fail_msg("%s: f16_wsum_n n %d rows %d head %d of %d differs",
								 mdl_level_name((enum mdl_level)lvl), n, np, h, nh);
					}
				}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(K);
	mem_free(q);
	mem_free(sc);
	mem_free(sc1);
	mem_free(w);
	mem_free(o);
	mem_free(o1);
	mem_free(o0);
}

/*
 * The attention kernels over f16 rows, at every level, on random rows of
 * widths 1..72 and 128 (blocks of 64 and 8 and a tail) with 0..37 rows at
 * strides wider than a row: mdl_f16_dots equals mdl_vec_dot(F16) * scale
 * bit for bit, and mdl_f16_wsum equals the scalar loop (o + w * v, each
 * rounded, in row order) bit for bit, starting from a nonzero o.
 */
static void test_f16_attention_kernels(void **state)
{
	enum { MAXN = 128, MAXP = 37, STRIDE = MAXN + 8 };
	uint16_t *K = xalloc((size_t)MAXP * STRIDE * 2), *q = xalloc(MAXN * 2);
	float *w = xalloc(MAXP * 4), *got = xalloc(MAXN * 4), *want = xalloc(MAXN * 4);
	float *o0 = xalloc(MAXN * 4), *sc = xalloc(MAXP * 4);
	(void)state;
	rng_seed(11);
	for (int i = 0; i < MAXP * STRIDE; i++)
		K[i] = mdl_fp32_to_fp16(rng_float() * 2);
	for (int i = 0; i < MAXN; i++) {
		q[i] = mdl_fp32_to_fp16(rng_float());
		o0[i] = rng_float();
	}
	for (int i = 0; i < MAXP; i++)
		w[i] = rng_float() * 0.5f + 0.5f;
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		for (int n = 1; n <= MAXN; n = n < 72 ? n + 1 : n == 72 ? MAXN : MAXN + 1) {
			for (int np = 0; np <= MAXP; np += np < 3 ? 1 : 7) {
				mdl_quant_force_level((enum mdl_level)lvl);
				mdl_f16_dots(np, n, K, STRIDE, q, 0.125f, sc);
				for (int p = 0; p < np; p++) {
					float d = mdl_vec_dot(MDL_TYPE_F16, n, K + (size_t)p * STRIDE, q) * 0.125f;
					if (memcmp(&d, &sc[p], 4))
						fail_msg("%s: f16_dots n %d row %d: %.9g, vec_dot %.9g",
							 mdl_level_name((enum mdl_level)lvl), n, p,
							 (double)sc[p], (double)d);
				}
				memcpy(got, o0, (size_t)n * 4);
				mdl_f16_wsum(np, n, K, STRIDE, w, got);
				mdl_quant_force_level(MDL_LEVEL_SCALAR);
				memcpy(want, o0, (size_t)n * 4);
				mdl_f16_wsum(np, n, K, STRIDE, w, want);
				for (int j = 0; j < n; j++)
					if (memcmp(&got[j], &want[j], 4))
						fail_msg("%s: f16_wsum n %d rows %d col %d: %.9g, scalar %.9g",
							 mdl_level_name((enum mdl_level)lvl), n, np, j,
							 (double)got[j], (double)want[j]);
				if (lvl == 0 && np == MAXP)
					for (int j = 0; j < n; j++) {
						double ref = o0[j];
						for (int p = 0; p < np; p++)
							ref += (double)w[p] * mdl_fp16_to_fp32(K[(size_t)p * STRIDE + j]);
						assert_true(fabs(ref - want[j]) < 1e-4);
					}
			}
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(K);
	mem_free(q);
	mem_free(w);
	mem_free(got);
	mem_free(want);
	mem_free(o0);
	mem_free(sc);
}

/*
 * The attention kernels over a q8_0 cache, at every level, on random rows
 * of 1 to 4 blocks with 0..37 rows at strides wider than a row, for 1 to
 * 7 heads (one alone, or through the tiled kernel in tiles and their
 * edges): mdl_q8_0_dots_n equals mdl_vec_dot(Q8_0) * scale bit for bit,
 * and mdl_q8_0_wsum_n equals the scalar loop bit for bit (a pair of heads
 * and a single one take different paths), starting from a nonzero o and
 * within 1e-4 of the sum in double.
 */
static void test_q8_0_attention_kernels(void **state)
{
	enum { MAXN = 128, MAXP = 37, NH = 7 };
	const size_t rb = mdl_row_size(MDL_TYPE_Q8_0, MAXN), stride = rb + 34;
	uint8_t *K = xalloc((size_t)MAXP * stride), *q = xalloc((size_t)NH * rb);
	float *x = xalloc(MAXN * 4), *w = xalloc(NH * MAXP * 4), *sc = xalloc(NH * MAXP * 4);
	float *got = xalloc(NH * MAXN * 4), *want = xalloc(NH * MAXN * 4), *o0 = xalloc(NH * MAXN * 4);
	(void)state;
	rng_seed(12);
	for (int p = 0; p < MAXP; p++) {
		for (int i = 0; i < MAXN; i++)
			x[i] = rng_float() * 2;
		assert_int_equal(mdl_quant_act_row(MDL_TYPE_Q8_0, x, K + (size_t)p * stride, MAXN), ST_OK);
	}
	for (int h = 0; h < NH; h++) {
		for (int i = 0; i < MAXN; i++) {
			x[i] = rng_float();
			o0[h * MAXN + i] = rng_float();
		}
		assert_int_equal(mdl_quant_act_row(MDL_TYPE_Q8_0, x, q + (size_t)h * rb, MAXN), ST_OK);
		for (int p = 0; p < MAXP; p++)
			w[h * MAXP + p] = rng_float() * 0.5f + 0.5f;
	}
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		for (int n = 32; n <= MAXN; n += 32) {
			for (int np = 0; np <= MAXP; np += np < 3 ? 1 : 7) {
				for (int nh = 1; nh <= NH; nh++) {
					mdl_quant_force_level((enum mdl_level)lvl);
					mdl_q8_0_dots_n(np, n, K, stride, nh, q, rb, 0.125f, sc, MAXP);
					for (int h = 0; h < nh; h++)
						for (int p = 0; p < np; p++) {
							float d = mdl_vec_dot(MDL_TYPE_Q8_0, n, K + (size_t)p * stride,
									      q + (size_t)h * rb) * 0.125f;
							if (memcmp(&d, &sc[h * MAXP + p], 4))
								fail_msg("%s: q8_0_dots n %d head %d row %d: %.9g, "
									 "vec_dot %.9g",
									 mdl_level_name((enum mdl_level)lvl), n, h, p,
									 (double)sc[h * MAXP + p], (double)d);
						}
					memcpy(got, o0, sizeof(float) * NH * MAXN);
					mdl_q8_0_wsum_n(np, n, K, stride, nh, w, MAXP, got, MAXN);
					mdl_quant_force_level(MDL_LEVEL_SCALAR);
					memcpy(want, o0, sizeof(float) * NH * MAXN);
					mdl_q8_0_wsum_n(np, n, K, stride, nh, w, MAXP, want, MAXN);
					for (int h = 0; h < nh; h++)
						for (int j = 0; j < n; j++)
							if (memcmp(&got[h * MAXN + j], &want[h * MAXN + j], 4))
								fail_msg("%s: q8_0_wsum n %d rows %d head %d/%d col %d: "
									 "%.9g, scalar %.9g",
									 mdl_level_name((enum mdl_level)lvl), n, np, h,
									 nh, j, (double)got[h * MAXN + j],
									 (double)want[h * MAXN + j]);
					/* the heads past nh untouched */
					for (int i = nh * MAXN; i < NH * MAXN; i++)
						assert_true(!memcmp(&got[i], &o0[i], 4));
					if (lvl == 0 && np == MAXP) {
						float row[MAXN];
						for (int h = 0; h < nh; h++)
							for (int j = 0; j < n; j++) {
								double ref = o0[h * MAXN + j];
								for (int p = 0; p < np; p++) {
									mdl_dequant_row(MDL_TYPE_Q8_0, K + (size_t)p * stride,
											row, n);
									ref += (double)w[h * MAXP + p] * row[j];
								}
								assert_true(fabs(ref - want[h * MAXN + j]) < 1e-4);
							}
					}
				}
			}
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(K);
	mem_free(q);
	mem_free(x);
	mem_free(w);
	mem_free(sc);
	mem_free(got);
	mem_free(want);
	mem_free(o0);
}

static void test_bf16(void **state)
{
	static const struct {
		uint32_t f;
		uint16_t h;
	} cases[] = {
		{ 0x3f800000, 0x3f80 }, { 0xc0490fdb, 0xc049 }, /* -pi */
		{ 0x3f808000, 0x3f80 }, /* tie, to even (down) */
		{ 0x3f818000, 0x3f82 }, /* tie, to even (up) */
		{ 0x3f808001, 0x3f81 }, { 0x7f800000, 0x7f80 },
		{ 0x7f7fffff, 0x7f80 }, /* FLT_MAX rounds to infinity */
		{ 0x7fc00000, 0x7fc0 }, { 0x7f800001, 0x7fc0 }, /* NaN quiet */
		{ 0xff812345, 0xffc1 }, { 0x00010000, 0x0001 }, /* subnormal kept */
		{ 0x00008000, 0x0000 }, { 0x80018000, 0x8002 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint16_t h = mdl_fp32_to_bf16(bits_f(cases[i].f));
		if (h != cases[i].h)
			fail_msg("bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h,
				 cases[i].h);
	}
	ASSERT_FLOAT(mdl_bf16_to_fp32(0x3f80), 1.0f);
	ASSERT_FLOAT(mdl_bf16_to_fp32(0xc000), -2.0f);
	ASSERT_FLOAT(mdl_bf16_to_fp32(0xff80), -INFINITY);
	assert_true(isnan(mdl_bf16_to_fp32(0x7fc1)));
}

/* ------------------------------------------------------------------ */
/* Dequantisers against blocks written byte by byte                    */
/* ------------------------------------------------------------------ */

static void dequant(int type, const uint8_t *b, float *y, int64_t n)
{
	TH_OK(mdl_dequant_row(type, b, y, n));
}

static void test_dequant_simple(void **state)
{
	uint8_t b[64];
	float y[32];

	/* f32, f16, bf16 */
	float f[2] = { 1.5f, -0.25f };
	dequant(MDL_TYPE_F32, (const uint8_t *)f, y, 2);
	ASSERT_FLOAT(y[0], 1.5f);
	ASSERT_FLOAT(y[1], -0.25f);
	const uint8_t h[] = { 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c };
	dequant(MDL_TYPE_F16, h, y, 4);
	ASSERT_FLOAT(y[0], 1.0f);
	ASSERT_FLOAT(y[1], -2.0f);
	ASSERT_FLOAT(y[2], 5.9604644775390625e-8f);
	ASSERT_FLOAT(y[3], INFINITY);
	const uint8_t bf[] = { 0x80, 0x3f, 0x49, 0xc0 };
	dequant(MDL_TYPE_BF16, bf, y, 2);
	ASSERT_FLOAT(y[0], 1.0f);
	ASSERT_FLOAT(y[1], -3.140625f);

	/* q4_0: d = 0.5; x[j] = d*(low nibble - 8), x[j+16] = d*(high - 8). */
	memset(b, 0x88, 18);
	b[0] = 0x00, b[1] = 0x38;
	b[2] = 0x1f;
	b[3] = 0x80;
	b[17] = 0x0c;
	dequant(MDL_TYPE_Q4_0, b, y, 32);
	ASSERT_FLOAT(y[0], 3.5f);
	ASSERT_FLOAT(y[16], -3.5f);
	ASSERT_FLOAT(y[1], -4.0f);
	ASSERT_FLOAT(y[17], 0.0f);
	ASSERT_FLOAT(y[5], 0.0f);
	ASSERT_FLOAT(y[15], 2.0f);
	ASSERT_FLOAT(y[31], -4.0f);

	/* q4_1: d = 0.5, m = -1; x = d*q + m. */
	memset(b, 0x22, 20);
	b[0] = 0x00, b[1] = 0x38, b[2] = 0x00, b[3] = 0xbc;
	b[4] = 0x3f;
	dequant(MDL_TYPE_Q4_1, b, y, 32);
	ASSERT_FLOAT(y[0], 6.5f);
	ASSERT_FLOAT(y[16], 0.5f);
	ASSERT_FLOAT(y[1], 0.0f);
	ASSERT_FLOAT(y[31], 0.0f);

	/* q5_0: d = 1; qh bit j is the 5th bit of x[j]. */
	memset(b, 0, 22);
	b[0] = 0x00, b[1] = 0x3c;
	b[2] = 0x01, b[5] = 0x80;	/* bits 0 and 31 */
	b[6] = 0x0f;			/* qs[0] */
	b[21] = 0xf0;			/* qs[15] */
	dequant(MDL_TYPE_Q5_0, b, y, 32);
	ASSERT_FLOAT(y[0], 15.0f);
	ASSERT_FLOAT(y[16], -16.0f);
	ASSERT_FLOAT(y[15], -16.0f);
	ASSERT_FLOAT(y[31], 15.0f);
	ASSERT_FLOAT(y[5], -16.0f);

	/* q5_1: d = 0.25, m = 1; qh bit 16 set. */
	memset(b, 0, 24);
	b[0] = 0x00, b[1] = 0x34, b[2] = 0x00, b[3] = 0x3c;
	b[6] = 0x01;			/* qh bit 16 */
	b[8] = 0x5a;			/* qs[0] */
	dequant(MDL_TYPE_Q5_1, b, y, 32);
	ASSERT_FLOAT(y[0], 3.5f);
	ASSERT_FLOAT(y[16], 6.25f);
	ASSERT_FLOAT(y[1], 1.0f);

	/* q8_0: d = 0.5. */
	memset(b, 0, 34);
	b[0] = 0x00, b[1] = 0x38;
	b[2] = 0x80;			/* -128 */
	b[33] = 0x7f;
	b[10] = 0xfd;			/* -3 */
	dequant(MDL_TYPE_Q8_0, b, y, 32);
	ASSERT_FLOAT(y[0], -64.0f);
	ASSERT_FLOAT(y[31], 63.5f);
	ASSERT_FLOAT(y[8], -1.5f);
	ASSERT_FLOAT(y[9], 0.0f);

	/* q8_1: d = 2, s not used by dequantisation. */
	memset(b, 0, 36);
	b[0] = 0x00, b[1] = 0x40, b[2] = 0x12, b[3] = 0x34;
	b[4 + 3] = 0xfd;
	dequant(MDL_TYPE_Q8_1, b, y, 32);
	ASSERT_FLOAT(y[3], -6.0f);
	ASSERT_FLOAT(y[0], 0.0f);
}

/*
 * Scales of K-type sub-blocks 0, 1 and 5 used below:
 *   sub-block 0: scale 2, min 4; 1: scale 1, min 0; 5: scale 37, min 26;
 * others zero. With d = 1 and dmin = 0.5.
 */
static void k_scales(uint8_t *blk)
{
	blk[0] = 0x00, blk[1] = 0x3c;	/* d = 1 */
	blk[2] = 0x00, blk[3] = 0x38;	/* dmin = 0.5 */
	uint8_t *s = blk + 4;
	s[0] = 2;			/* scale 0 */
	s[4] = 4;			/* min 0 */
	s[1] = 1 | (37 >> 4) << 6;	/* scale 1, top bits of scale 5 */
	s[5] = 0 | (26 >> 4) << 6;	/* min 1, top bits of min 5 */
	s[9] = (37 & 0xf) | (26 & 0xf) << 4;
}

static void test_dequant_q4_K(void **state)
{
	uint8_t b[144];
	float y[256];
	memset(b, 0, sizeof b);
	k_scales(b);
	uint8_t *qs = b + 16;
	qs[0] = 0x37;			/* x[0] low 7, x[32] high 3 */
	qs[64 + 3] = 0x90;		/* x[128+3] low 0, x[160+3] high 9 */
	dequant(MDL_TYPE_Q4_K, b, y, 256);
	ASSERT_FLOAT(y[0], 1.0f * 2 * 7 - 0.5f * 4);
	ASSERT_FLOAT(y[1], -2.0f);
	ASSERT_FLOAT(y[32], 3.0f);
	ASSERT_FLOAT(y[163], 1.0f * 37 * 9 - 0.5f * 26);
	ASSERT_FLOAT(y[164], -13.0f);
	ASSERT_FLOAT(y[131], 0.0f);
	ASSERT_FLOAT(y[255], 0.0f);
}

static void test_dequant_q5_K(void **state)
{
	uint8_t b[176];
	float y[256];
	memset(b, 0, sizeof b);
	k_scales(b);
	uint8_t *qh = b + 16, *qs = b + 48;
	qs[0] = 0x37;
	qh[0] = 0x01;			/* 5th bit of x[0] (sub-block 0) */
	qs[64 + 3] = 0x90;
	qh[3] = 0x20;			/* 5th bit of x[160+3] (sub-block 5) */
	qh[4] = 0x02;			/* 5th bit of x[32+4] (sub-block 1) */
	dequant(MDL_TYPE_Q5_K, b, y, 256);
	ASSERT_FLOAT(y[0], 2.0f * 23 - 2.0f);
	ASSERT_FLOAT(y[32], 3.0f);
	ASSERT_FLOAT(y[36], 16.0f);
	ASSERT_FLOAT(y[163], 37.0f * 25 - 13.0f);
	ASSERT_FLOAT(y[1], -2.0f);
}

static void test_dequant_q6_K(void **state)
{
	uint8_t b[210];
	float y[256];
	memset(b, 0, sizeof b);
	uint8_t *ql = b, *qh = b + 128;
	int8_t *sc = (int8_t *)(b + 192);
	b[208] = 0x00, b[209] = 0x38;	/* d = 0.5 */
	sc[0] = 3, sc[1] = -2, sc[2] = 1, sc[4] = 4, sc[6] = -1, sc[8] = 5;
	ql[0] = 0x5a;
	qh[0] = 0xe7;			/* 2-bit highs: 3, 1, 2, 3 */
	ql[32] = 0x01;
	ql[64] = 0x0f;
	qh[32] = 0x02;
	dequant(MDL_TYPE_Q6_K, b, y, 256);
	ASSERT_FLOAT(y[0], 0.5f * 3 * 26);	/* 0xa | 3<<4 = 58 */
	ASSERT_FLOAT(y[64], 0.5f * 4 * 5);	/* 5 | 2<<4 = 37 */
	ASSERT_FLOAT(y[32], 0.5f * 1 * -15);	/* 1 | 1<<4 = 17 */
	ASSERT_FLOAT(y[96], 0.5f * -1 * 16);	/* 0 | 3<<4 = 48 */
	ASSERT_FLOAT(y[17], 0.5f * -2 * -32);
	ASSERT_FLOAT(y[128], 0.5f * 5 * 15);	/* 15 | 2<<4 = 47 */
	ASSERT_FLOAT(y[3], 0.5f * 3 * -32);
	ASSERT_FLOAT(y[255], 0.0f);		/* scale 0 */
}

static void test_dequant_q8_K(void **state)
{
	uint8_t b[292];
	float y[256];
	memset(b, 0, sizeof b);
	float d = 0.25f;
	memcpy(b, &d, 4);
	b[4 + 255] = (uint8_t)-100;
	b[4 + 7] = 3;
	dequant(MDL_TYPE_Q8_K, b, y, 256);
	ASSERT_FLOAT(y[255], -25.0f);
	ASSERT_FLOAT(y[7], 0.75f);
	ASSERT_FLOAT(y[0], 0.0f);
}

/* Several blocks in a row: each block uses its own scale. */
static void test_dequant_multi_block(void **state)
{
	uint8_t b[3 * 34];
	float y[96];
	memset(b, 0, sizeof b);
	for (int i = 0; i < 3; i++) {
		b[34 * i + 1] = (uint8_t)(0x3c + 4 * i);	/* 1, 2, 4 */
		b[34 * i + 2 + i] = 1;
	}
	dequant(MDL_TYPE_Q8_0, b, y, 96);
	ASSERT_FLOAT(y[0], 1.0f);
	ASSERT_FLOAT(y[33], 2.0f);
	ASSERT_FLOAT(y[66], 4.0f);
	ASSERT_FLOAT(y[65], 0.0f);
}

/* ------------------------------------------------------------------ */
/* Quantise -> dequantise                                              */
/* ------------------------------------------------------------------ */

/* Bound on the relative RMS error of each type on weight-like data. */
static double rmse_bound(int type)
{
	switch (type) {
	case MDL_TYPE_F32: return 0;
	case MDL_TYPE_F16: return 5e-4;
	case MDL_TYPE_BF16: return 4e-3;
	case MDL_TYPE_Q4_0: return 0.13;
	case MDL_TYPE_Q4_1: return 0.10;
	case MDL_TYPE_Q5_0: return 0.065;
	case MDL_TYPE_Q5_1: return 0.05;
	case MDL_TYPE_Q8_0: return 0.0085;
	case MDL_TYPE_Q8_1: return 0.0085;
	case MDL_TYPE_Q4_K: return 0.10;
	case MDL_TYPE_Q5_K: return 0.05;
	case MDL_TYPE_Q6_K: return 0.025;
	case MDL_TYPE_Q8_K: return 0.02;
	}
	return 0;
}

static void test_roundtrip(void **state)
{
	const int64_t n = 4096;
	float *x = xalloc(n * sizeof(float)), *y = xalloc(n * sizeof(float));
	uint8_t *q = xalloc(mdl_row_size(MDL_TYPE_F32, n));
	uint8_t *q2 = xalloc(mdl_row_size(MDL_TYPE_F32, n));
	for (size_t ti = 0; ti < N_ALL_TYPES; ti++) {
		int type = all_types[ti];
		size_t bytes = mdl_row_size(type, n);
		rng_seed(100 + (uint64_t)type);
		fill_weights(x, n, 0.02f);
		TH_OK(mdl_quant_row(type, x, q, n));
		TH_OK(mdl_quant_row(type, x, q2, n));
		if (memcmp(q, q2, bytes) != 0)
			fail_msg("%s: quantisation is not deterministic",
				 mdl_type_info(type)->name);
		TH_OK(mdl_dequant_row(type, q, y, n));
		double se = 0, sx = 0, maxerr = 0, amax = 0;
		for (int64_t i = 0; i < n; i++) {
			double e = (double)y[i] - (double)x[i];
			se += e * e;
			sx += (double)x[i] * x[i];
			if (fabs(e) > maxerr)
				maxerr = fabs(e);
			if (fabs(x[i]) > amax)
				amax = fabs(x[i]);
		}
		double rel = sqrt(se / sx);
		if (rel > rmse_bound(type))
			fail_msg("%s: relative RMS error %.5f > %.5f",
				 mdl_type_info(type)->name, rel, rmse_bound(type));
		/* No element is off by more than a fifth of the row's range
		 * (a broken block layout gives errors of the order of amax). */
		if (maxerr > 0.2 * amax)
			fail_msg("%s: max error %.5g with amax %.5g",
				 mdl_type_info(type)->name, maxerr, amax);
	}

	/* Zeros stay zeros, in every type. */
	memset(x, 0, n * sizeof(float));
	for (size_t ti = 0; ti < N_ALL_TYPES; ti++) {
		int type = all_types[ti];
		TH_OK(mdl_quant_row(type, x, q, n));
		TH_OK(mdl_dequant_row(type, q, y, n));
		for (int64_t i = 0; i < n; i++)
			if (y[i] != 0.0f)
				fail_msg("%s: zero became %g", mdl_type_info(type)->name,
					 (double)y[i]);
	}
	mem_free(x);
	mem_free(y);
	mem_free(q);
	mem_free(q2);
}

/*
 * Hostile data: any bytes dequantise without reading past the row (ASan
 * checks the bounds: the rows are allocated to their exact size), and
 * NaN, infinities and huge values quantise without undefined behaviour
 * (UBSan) into blocks that dequantise.
 */
static void test_hostile_values(void **state)
{
	const int64_t n = 512;
	float *y = xalloc(n * sizeof(float));
	float x[512];
	for (size_t ti = 0; ti < N_ALL_TYPES; ti++) {
		int type = all_types[ti];
		size_t rs = mdl_row_size(type, n);
		uint8_t *q = xalloc(rs);
		rng_seed((uint64_t)type);
		for (int rep = 0; rep < 20; rep++) {
			for (size_t k = 0; k < rs; k++)
				q[k] = (uint8_t)rng_next();
			TH_OK(mdl_dequant_row(type, q, y, n));
		}
		for (int c = 0; c < 4; c++) {
			for (int i = 0; i < n; i++)
				x[i] = rng_float();
			if (c == 0)
				x[3] = NAN;
			else if (c == 1)
				x[100] = INFINITY;
			else if (c == 2)
				x[7] = -INFINITY;
			else
				for (int i = 0; i < n; i += 3)
					x[i] = (i & 1 ? -3e38f : 3e38f);
			TH_OK(mdl_quant_row(type, x, q, n));
			TH_OK(mdl_dequant_row(type, q, y, n));
			if (mdl_type_info(type)->is_weight) {
				uint8_t *a = xalloc(mdl_act_row_size(type, n));
				TH_OK(mdl_quant_act_row(type, x, a, n));
				mem_free(a);
			}
		}
		mem_free(q);
	}
	mem_free(y);
}

/* Values that are exactly representable come back exactly. */
static void test_quant_exact(void **state)
{
	float x[256], y[256];
	uint8_t q[1200];

	/* q8_0: integers up to +-127 with amax 127 give d = 1. */
	for (int i = 0; i < 32; i++)
		x[i] = (float)(i * 8 - 127);
	x[31] = 127;
	TH_OK(mdl_quant_row(MDL_TYPE_Q8_0, x, q, 32));
	assert_int_equal(q[0], 0x00);
	assert_int_equal(q[1], 0x3c);
	TH_OK(mdl_dequant_row(MDL_TYPE_Q8_0, q, y, 32));
	for (int i = 0; i < 32; i++)
		ASSERT_FLOAT(y[i], x[i]);

	/* q4_0: the value of largest magnitude maps to -8 (d = max / -8). */
	for (int i = 0; i < 32; i++)
		x[i] = (float)((i % 16) - 8);	/* -8 .. 7, d = 1 */
	TH_OK(mdl_quant_row(MDL_TYPE_Q4_0, x, q, 32));
	assert_int_equal(q[0], 0x00);
	assert_int_equal(q[1], 0x3c);
	assert_int_equal(q[2], 0x00);	/* x[0] = -8 -> 0, x[16] = -8 -> 0 */
	assert_int_equal(q[17], 0xff);	/* x[15] = 7 -> 15 */
	TH_OK(mdl_dequant_row(MDL_TYPE_Q4_0, q, y, 32));
	for (int i = 0; i < 32; i++)
		ASSERT_FLOAT(y[i], x[i]);

	/* q8_K: the extreme maps to -127 * sign, d = max / -127. */
	for (int i = 0; i < 256; i++)
		x[i] = (float)((i % 255) - 127);
	TH_OK(mdl_quant_row(MDL_TYPE_Q8_K, x, q, 256));
	float d;
	memcpy(&d, q, 4);
	ASSERT_FLOAT(d, 1.0f);
	TH_OK(mdl_dequant_row(MDL_TYPE_Q8_K, q, y, 256));
	for (int i = 0; i < 256; i++)
		ASSERT_FLOAT(y[i], x[i]);
	int16_t bs;
	memcpy(&bs, q + 4 + 256, 2);
	assert_int_equal(bs, -127 * 16 + 120);	/* sum of -127 .. -112 */

	/* q6_K and q4_K on a ramp: dequantised values keep the ramp's order. */
	for (int i = 0; i < 256; i++)
		x[i] = (float)i / 256.0f - 0.3f;
	TH_OK(mdl_quant_row(MDL_TYPE_Q6_K, x, q, 256));
	TH_OK(mdl_dequant_row(MDL_TYPE_Q6_K, q, y, 256));
	for (int i = 1; i < 256; i++)
		if (y[i] < y[i - 1] && floorf((float)i / 16) == floorf((float)(i - 1) / 16))
			fail_msg("q6_K ramp not monotonic at %d: %g < %g", i,
				 (double)y[i], (double)y[i - 1]);
}

/* ------------------------------------------------------------------ */
/* Dot products                                                        */
/* ------------------------------------------------------------------ */

/*
 * Checks mdl_vec_dot of a row of type against the dequantised weights
 * times the dequantised converted activations, in double; the tolerance
 * scales with the sum of the magnitudes of the terms.
 */
static void check_dot(int type, int64_t n, const uint8_t *w, const uint8_t *xq,
		      double rel_tol, const char *what)
{
	const struct mdl_type_info *ti = mdl_type_info(type);
	float *a = xalloc((size_t)n * sizeof(float)), *b = xalloc((size_t)n * sizeof(float));
	TH_OK(mdl_dequant_row(type, w, a, n));
	TH_OK(mdl_dequant_row(ti->vec_dot_type, xq, b, n));
	double want = 0, mag = 0;
	for (int64_t i = 0; i < n; i++) {
		want += (double)a[i] * b[i];
		mag += fabs((double)a[i] * b[i]);
	}
	/* q8_1 carries d * sum(q) rounded to half precision, which the dot
	 * uses against the weights' offset m: allow that rounding. */
	double extra = 0;
	if (ti->vec_dot_type == MDL_TYPE_Q8_1) {
		for (int64_t i = 0; i < n / 32; i++) {
			uint16_t m, s;
			memcpy(&m, w + i * ti->type_size + 2, 2);
			memcpy(&s, xq + i * 36 + 2, 2);
			extra += fabs((double)mdl_fp16_to_fp32(m) * mdl_fp16_to_fp32(s)) * 1e-3;
		}
	}
	float got = mdl_vec_dot(type, n, w, xq);
	if (!(fabs(got - want) <= rel_tol * mag + extra + 1e-30))
		fail_msg("%s %s n=%lld: dot %.9g, want %.9g (|terms| %.6g)", what,
			 ti->name, (long long)n, (double)got, want, mag);
	mem_free(a);
	mem_free(b);
}

static void test_dot_scalar(void **state)
{
	mdl_quant_force_level(MDL_LEVEL_SCALAR);
	const int64_t n = 1024;
	float *w = xalloc(n * sizeof(float)), *x = xalloc(n * sizeof(float));
	uint8_t *wq = xalloc(n * 4), *xq = xalloc(n * 4);
	for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
		int type = weight_types[ti];
		for (int rep = 0; rep < 4; rep++) {
			rng_seed(1000 + (uint64_t)(type * 10 + rep));
			fill_weights(w, n, 0.05f);
			fill_weights(x, n, rep == 3 ? 1000.0f : 1.0f);
			TH_OK(mdl_quant_row(type, w, wq, n));
			TH_OK(mdl_quant_act_row(type, x, xq, n));
			check_dot(type, n, wq, xq, 2e-6, "scalar");
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(w);
	mem_free(x);
	mem_free(wq);
	mem_free(xq);
}

/*
 * The activation conversion is the one of llama.cpp's x86 build: q8_0 with
 * multiplier 127/amax and rounding to nearest even; q8_1 also carries
 * s = d * sum(q).
 */
static void test_act_quant(void **state)
{
	mdl_quant_force_level(MDL_LEVEL_SCALAR);
	float x[32];
	uint8_t q[36];
	for (int i = 0; i < 32; i++)
		x[i] = 0.0f;
	x[0] = 127.0f;
	x[1] = 2.5f;	/* tie: to even, 2 (ggml's reference rounds to 3) */
	x[2] = -3.5f;	/* tie: -4 */
	x[3] = 0.5f;	/* tie: 0 */
	x[4] = -127.0f;
	TH_OK(mdl_quant_act_row(MDL_TYPE_Q8_0, x, q, 32));
	assert_int_equal(q[0], 0x00);
	assert_int_equal(q[1], 0x3c);
	assert_int_equal((int8_t)q[2], 127);
	assert_int_equal((int8_t)q[3], 2);
	assert_int_equal((int8_t)q[4], -4);
	assert_int_equal((int8_t)q[5], 0);
	assert_int_equal((int8_t)q[6], -127);
	TH_OK(mdl_quant_row(MDL_TYPE_Q8_0, x, q, 32));
	assert_int_equal((int8_t)q[3], 3);

	TH_OK(mdl_quant_act_row(MDL_TYPE_Q4_1, x, q, 32));
	assert_int_equal((int8_t)q[4 + 1], 2);
	/* s = d * sum = 1 * (127 + 2 - 4 + 0 - 127) = -2 */
	assert_int_equal(q[2], 0x00);
	assert_int_equal(q[3], 0xc0);

	/* f16 and bf16 activations are plain conversions. */
	float y[4] = { 1.0f, -2.0f, 0.1f, 65520.0f };
	uint16_t h[4];
	TH_OK(mdl_quant_act_row(MDL_TYPE_F16, y, h, 4));
	assert_int_equal(h[0], 0x3c00);
	assert_int_equal(h[2], 0x2e66);
	assert_int_equal(h[3], 0x7c00);
	TH_OK(mdl_quant_act_row(MDL_TYPE_BF16, y, h, 4));
	assert_int_equal(h[1], 0xc000);
	mdl_quant_force_level(MDL_LEVEL_AVX512);
}

/* q8_K conversion at every level on the cases that take special paths:
 * zeros, +a and -a both present (the first one sets the sign), a spike. */
static void test_act_q8_K_cases(void **state)
{
	float x[512];
	uint8_t want[2 * 292], got[2 * 292];
	for (int c = 0; c < 5; c++) {
		for (int i = 0; i < 512; i++)
			x[i] = c == 0 ? 0.0f : 0.01f * (float)((i * 37) % 19 - 9);
		if (c == 1) {
			x[5] = -3.0f;
			x[9] = 3.0f;
		} else if (c == 2) {
			x[5] = 3.0f;
			x[9] = -3.0f;
		} else if (c == 3) {
			x[300] = 1e6f;
		} else if (c == 4) {
			for (int i = 0; i < 256; i++)
				x[i] = 0.0f;
		}
		mdl_quant_force_level(MDL_LEVEL_SCALAR);
		TH_OK(mdl_quant_act_row(MDL_TYPE_Q4_K, x, want, 512));
		for (int lvl = 1; lvl <= (int)mdl_quant_level_max(); lvl++) {
			mdl_quant_force_level((enum mdl_level)lvl);
			memset(got, 0x55, sizeof got);
			TH_OK(mdl_quant_act_row(MDL_TYPE_Q4_K, x, got, 512));
			if (memcmp(got, want, sizeof want) != 0)
				fail_msg("q8_K case %d differs at level %s", c,
					 mdl_level_name((enum mdl_level)lvl));
		}
	}
	/* the tie: the first of -3 and 3 gives the scale's sign */
	float d;
	x[5] = -3.0f;
	x[9] = 3.0f;
	TH_OK(mdl_quant_act_row(MDL_TYPE_Q4_K, x, got, 256));
	memcpy(&d, got, 4);
	ASSERT_FLOAT(d, 1.0f / (-127.0f / -3.0f));
	assert_int_equal((int8_t)got[4 + 5], -127);
	assert_int_equal((int8_t)got[4 + 9], 127);
	x[5] = 3.0f;
	x[9] = -3.0f;
	TH_OK(mdl_quant_act_row(MDL_TYPE_Q4_K, x, got, 256));
	memcpy(&d, got, 4);
	ASSERT_FLOAT(d, 1.0f / (-127.0f / 3.0f));
	assert_int_equal((int8_t)got[4 + 5], -127);
	mdl_quant_force_level(MDL_LEVEL_AVX512);
}

/* ------------------------------------------------------------------ */
/* SIMD kernels against the scalar ones                                */
/* ------------------------------------------------------------------ */

static void test_simd_vs_scalar(void **state)
{
	enum mdl_level max = mdl_quant_level_max();
	if (max == MDL_LEVEL_SCALAR)
		skip();
	static const int64_t blocks[] = { 1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 33 };
	const int64_t nmax = 33 * 256;
	float *w = xalloc(nmax * sizeof(float)), *x = xalloc(nmax * sizeof(float));
	uint8_t *wq = xalloc(nmax * 4), *xq = xalloc(nmax * 4), *xq2 = xalloc(nmax * 4);
	for (int lvl = MDL_LEVEL_AVX2; lvl <= (int)max; lvl++) {
		for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
			int type = weight_types[ti];
			const struct mdl_type_info *info = mdl_type_info(type);
			int bs = info->block_size == 1 ? 32 : info->block_size;
			for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
				int64_t n = blocks[bi] * bs;
				/* Element types also get lengths that are not a
				 * multiple of any vector width. */
				if (info->block_size == 1)
					n += (int64_t)bi;
				for (int rep = 0; rep < 3; rep++) {
					rng_seed((uint64_t)(type * 1000 + bi * 10 + rep));
					fill_weights(w, n, 0.05f);
					fill_weights(x, n, rep == 2 ? 30.0f : 1.0f);
					/* random bytes as weights: every bit pattern
					 * must give the same result */
					if (rep == 1 && info->quantized) {
						TH_OK(mdl_quant_row(type, w, wq, n));
						size_t rs = mdl_row_size(type, n);
						for (size_t k = 0; k < rs; k++)
							if (k % 7 != 0)
								wq[k] = (uint8_t)rng_next();
						/* keep the scales finite */
						float *tmp = xalloc((size_t)n * sizeof(float));
						TH_OK(mdl_dequant_row(type, wq, tmp, n));
						int finite = 1;
						for (int64_t k = 0; k < n; k++)
							if (!isfinite(tmp[k]))
								finite = 0;
						mem_free(tmp);
						if (!finite)
							TH_OK(mdl_quant_row(type, w, wq, n));
					} else {
						TH_OK(mdl_quant_row(type, w, wq, n));
					}
					mdl_quant_force_level(MDL_LEVEL_SCALAR);
					TH_OK(mdl_quant_act_row(type, x, xq, n));
					float want = mdl_vec_dot(type, n, wq, xq);
					mdl_quant_force_level((enum mdl_level)lvl);
					TH_OK(mdl_quant_act_row(type, x, xq2, n));
					size_t as = mdl_act_row_size(type, n);
					if (memcmp(xq, xq2, as) != 0)
						fail_msg("%s %s n=%lld: activation conversion "
							 "differs from scalar",
							 mdl_level_name(lvl), info->name,
							 (long long)n);
					float got = mdl_vec_dot(type, n, wq, xq);
					/* magnitude of the terms for the tolerance */
					float *a = xalloc((size_t)n * sizeof(float));
					float *b = xalloc((size_t)n * sizeof(float));
					TH_OK(mdl_dequant_row(type, wq, a, n));
					TH_OK(mdl_dequant_row(info->vec_dot_type, xq, b, n));
					double mag = 0;
					for (int64_t k = 0; k < n; k++)
						mag += fabs((double)a[k] * b[k]);
					mem_free(a);
					mem_free(b);
					if (!(fabs((double)got - want) <= 2e-6 * mag + 1e-30))
						fail_msg("%s %s n=%lld rep %d: dot %.9g, scalar "
							 "%.9g (|terms| %.6g)",
							 mdl_level_name(lvl), info->name,
							 (long long)n, rep, (double)got,
							 (double)want, mag);
				}
			}
		}
	}
	mdl_quant_force_level(max);
	mem_free(w);
	mem_free(x);
	mem_free(wq);
	mem_free(xq);
	mem_free(xq2);
}

static void test_force_level(void **state)
{
	enum mdl_level max = mdl_quant_level_max();
	assert_int_equal(mdl_quant_level(), max);
	assert_int_equal(mdl_quant_force_level(MDL_LEVEL_SCALAR), MDL_LEVEL_SCALAR);
	assert_int_equal(mdl_quant_level(), MDL_LEVEL_SCALAR);
	assert_int_equal(mdl_quant_force_level(MDL_LEVEL_AVX512), max);
	assert_int_equal(mdl_quant_level(), max);
	assert_string_equal(mdl_level_name(MDL_LEVEL_SCALAR), "scalar");
	assert_string_equal(mdl_level_name(MDL_LEVEL_AVX2), "avx2");
	assert_string_equal(mdl_level_name(MDL_LEVEL_AVX512), "avx512");
}

/* ------------------------------------------------------------------ */
/* Matrix multiplication                                               */
/* ------------------------------------------------------------------ */

/*
 * mdl_matmul equals per-row mdl_vec_dot bit for bit (including its
 * kernels of up to four tokens), on 1 and 3 threads, for widths of one
 * block, odd block counts and more, and token counts of 1, 3, 6 and 9.
 */
static void test_matmul(void **state)
{
	const int64_t rows = 37, tok_max = 9, col_max = 7 * 256;
	struct tpool *pool = tpool_new(3);
	assert_non_null(pool);
	float *wf = xalloc(rows * col_max * sizeof(float));
	float *X = xalloc(tok_max * col_max * sizeof(float));
	float *Y1 = xalloc(tok_max * rows * sizeof(float));
	float *Y3 = xalloc(tok_max * rows * sizeof(float));
	uint8_t *W = xalloc(rows * col_max * 4);
	uint8_t *xq = xalloc(col_max * 4);
	size_t scratch_size = mdl_matmul_scratch_size(MDL_TYPE_F16, col_max, tok_max);
	void *scratch = xalloc(scratch_size);
	assert_int_equal(mdl_matmul_scratch_size(MDL_TYPE_F32, 512, 5), 0);
	/* 16 blocks of 34 bytes, their 16 scales and 16 sums as floats,
	 * rounded to 64 */
	assert_int_equal(mdl_matmul_scratch_size(MDL_TYPE_Q8_0, 512, 3), 3 * 704);
	assert_int_equal(mdl_matmul_scratch_size(MDL_TYPE_Q4_K, 512, 2), 2 * 640);
	assert_int_equal(mdl_matmul_scratch_size(MDL_TYPE_Q4_0, 100, 1), 0);

	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
			int type = weight_types[ti];
			int bs = mdl_type_info(type)->block_size;
			const int64_t col_list[] = { bs, 3 * bs, bs == 1 ? 1000 : 7 * bs };
			for (size_t ci = 0; ci < 3; ci++) {
				int64_t cols = col_list[ci];
				size_t rs = mdl_row_size(type, cols);
				assert_true(mdl_matmul_scratch_size(type, cols, tok_max) <= scratch_size);
				rng_seed((uint64_t)(type * 10 + (int)ci) + 77);
				fill_weights(wf, rows * cols, 0.05f);
				fill_weights(X, tok_max * cols, 1.0f);
				for (int64_t r = 0; r < rows; r++)
					TH_OK(mdl_quant_row(type, wf + r * cols, W + r * rs, cols));
				static const int64_t nts[] = { 1, 3, 6, 9 };
				for (size_t ni = 0; ni < sizeof nts / sizeof nts[0]; ni++) {
					int64_t nt = nts[ni];
					memset(Y1, 0xff, tok_max * rows * sizeof(float));
					memset(Y3, 0xff, tok_max * rows * sizeof(float));
					mdl_matmul(NULL, type, W, rows, cols, X, nt, Y1, scratch);
					mdl_matmul(pool, type, W, rows, cols, X, nt, Y3, scratch);
					if (memcmp(Y1, Y3, (size_t)(nt * rows) * sizeof(float)) != 0)
						fail_msg("%s level %d cols %lld: 3 threads differ from 1",
							 mdl_type_info(type)->name, lvl, (long long)cols);
					for (int64_t t = 0; t < nt; t++) {
						TH_OK(mdl_quant_act_row(type, X + t * cols, xq, cols));
						for (int64_t r = 0; r < rows; r++) {
							float want = mdl_vec_dot(type, cols, W + r * rs, xq);
							if (memcmp(&Y1[t * rows + r], &want, sizeof want) != 0)
								fail_msg("%s level %d cols %lld: Y[%lld][%lld] = %.9g, want %.9g",
									 mdl_type_info(type)->name, lvl,
									 (long long)cols, (long long)t,
									 (long long)r, (double)Y1[t * rows + r],
									 (double)want);
						}
					}
				}
			}
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	tpool_free(pool);
	mem_free(wf);
	mem_free(X);
	mem_free(Y1);
	mem_free(Y3);
	mem_free(W);
	mem_free(xq);
	mem_free(scratch);
}

/* Weight rows as mdl_quant_row writes them (rep 0) or, for rep 1, with
 * random bytes in place of most of each row (scales kept finite). */
static void fill_weight_rows(int type, uint8_t *W, float *wf, int64_t rows, int64_t cols,
			     int rep)
{
	size_t rs = mdl_row_size(type, cols);
	float *tmp = xalloc((size_t)cols * sizeof(float));
	fill_weights(wf, rows * cols, 0.05f);
	for (int64_t r = 0; r < rows; r++) {
		uint8_t *w = W + (size_t)r * rs;
		TH_OK(mdl_quant_row(type, wf + r * cols, w, cols));
		if (rep == 0 || !mdl_type_info(type)->quantized)
			continue;
		for (size_t k = 0; k < rs; k++)
			if (k % 7 != 0)
				w[k] = (uint8_t)rng_next();
		TH_OK(mdl_dequant_row(type, w, tmp, cols));
		for (int64_t k = 0; k < cols; k++)
			if (!isfinite(tmp[k])) {
				TH_OK(mdl_quant_row(type, wf + r * cols, w, cols));
				break;
			}
	}
	mem_free(tmp);
}

/*
 * The tiled kernels behind mdl_matmul (quant_gemm_*.c, several rows x
 * several tokens per tile) at every level, on every edge of a tile: 37
 * and 5 rows (not multiples of any tile height), 1 to 17 tokens, rows of
 * 1, 8, 9 and 17 blocks (groups of 8 blocks and the tail after them),
 * quantised and random-byte weights, 1 and 2 threads. Each output equals
 * the level's single-row dot (mdl_vec_dot) bit for bit, so a token gives
 * the same result alone or in any batch, and is within float rounding of
 * the scalar reference.
 */
static void test_matmul_tiles(void **state)
{
	(void)state;
	const int64_t row_list[] = { 37, 5 }, tok_max = 17;
	struct tpool *pool = tpool_new(2);
	assert_non_null(pool);
	float *wf = xalloc(37 * 3 * 256 * sizeof(float));
	float *X = xalloc(tok_max * 3 * 256 * sizeof(float));
	float *Y1 = xalloc(tok_max * 37 * sizeof(float));
	float *Y2 = xalloc(tok_max * 37 * sizeof(float));
	uint8_t *W = xalloc(37 * 3 * 256 * 4);
	float *wd = xalloc(3 * 256 * sizeof(float)), *xd = xalloc(3 * 256 * sizeof(float));
	uint8_t *xq = xalloc(3 * 256 * 4);
	void *scratch = xalloc(mdl_matmul_scratch_size(MDL_TYPE_F16, 3 * 256, tok_max));
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
			int type = weight_types[ti];
			const struct mdl_type_info *info = mdl_type_info(type);
			int bs = info->block_size == 1 ? 32 : info->block_size;
			const int64_t blk32[] = { 1, 8, 9, 17 }, blk256[] = { 1, 3 };
			const int64_t *blks = bs == 256 ? blk256 : blk32;
			size_t nblks = bs == 256 ? 2 : 4;
			for (size_t bi = 0; bi < nblks; bi++) {
				int64_t cols = blks[bi] * bs;
				size_t rs = mdl_row_size(type, cols);
				for (int rep = 0; rep < 2; rep++) {
					int64_t rows = row_list[rep];
					rng_seed((uint64_t)(type * 100 + (int)bi * 10 + rep) + 5);
					fill_weight_rows(type, W, wf, rows, cols, rep);
					fill_weights(X, tok_max * cols, 1.0f);
					for (int64_t nt = 1; nt <= tok_max; nt++) {
						mdl_quant_force_level((enum mdl_level)lvl);
						memset(Y1, 0xff, (size_t)(tok_max * rows) * sizeof(float));
						memset(Y2, 0xff, (size_t)(tok_max * rows) * sizeof(float));
						mdl_matmul(NULL, type, W, rows, cols, X, nt, Y1, scratch);
						mdl_matmul(pool, type, W, rows, cols, X, nt, Y2, scratch);
						if (memcmp(Y1, Y2, (size_t)(nt * rows) * sizeof(float)) != 0)
							fail_msg("%s %s cols %lld tokens %lld: 2 threads differ "
								 "from 1", mdl_level_name(lvl), info->name,
								 (long long)cols, (long long)nt);
						/* every token is checked in the largest batch
						 * only, the last token in every one */
						for (int64_t t = nt == tok_max ? 0 : nt - 1; t < nt; t++) {
							mdl_quant_force_level((enum mdl_level)lvl);
							TH_OK(mdl_quant_act_row(type, X + t * cols, xq, cols));
							TH_OK(mdl_dequant_row(info->vec_dot_type, xq, xd, cols));
							for (int64_t r = 0; r < rows; r++) {
								const uint8_t *w = W + (size_t)r * rs;
								float got = Y1[t * rows + r];
								mdl_quant_force_level((enum mdl_level)lvl);
								float one = mdl_vec_dot(type, cols, w, xq);
								if (memcmp(&got, &one, sizeof got) != 0)
									fail_msg("%s %s cols %lld tokens %lld: Y[%lld][%lld] "
										 "= %.9g, alone %.9g",
										 mdl_level_name(lvl), info->name,
										 (long long)cols, (long long)nt,
										 (long long)t, (long long)r,
										 (double)got, (double)one);
								mdl_quant_force_level(MDL_LEVEL_SCALAR);
								float want = mdl_vec_dot(type, cols, w, xq);
								TH_OK(mdl_dequant_row(type, w, wd, cols));
								double mag = 0;
								for (int64_t k = 0; k < cols; k++)
									mag += fabs((double)wd[k] * xd[k]);
								if (!(fabs((double)got - want) <= 2e-6 * mag + 1e-30))
									fail_msg("%s %s cols %lld tokens %lld: Y[%lld][%lld] "
										 "= %.9g, scalar %.9g (|terms| %.6g)",
										 mdl_level_name(lvl), info->name,
										 (long long)cols, (long long)nt,
										 (long long)t, (long long)r,
										 (double)got, (double)want, mag);
							}
						}
					}
				}
			}
		}
	}
	mdl_quant_force_level(mdl_quant_level_max());
	tpool_free(pool);
	mem_free(wf);
	mem_free(X);
	mem_free(Y1);
	mem_free(Y2);
	mem_free(W);
	mem_free(wd);
	mem_free(xd);
	mem_free(xq);
	mem_free(scratch);
}

/* |a - b| / |b| in units of b's last place (float), for b != 0. */
static double ulps(float a, float b)
{
	int e;
	frexpf(b, &e);
	return fabs((double)a - (double)b) / ldexp(1.0, e - 24);
}

/*
 * mdl_softmax and mdl_silu_mul at every level against expf: the exp itself
 * through two-element softmaxes {0, x} (the second is e^x where 1 + e^x
 * rounds to 1), sweeping x over [-87, -18] in steps of 0.001, within 2
 * ulp; whole rows of random scores of lengths around the vector widths
 * within 2e-6 relative (the sums are added in another order); edges:
 * -inf scores give 0, a NaN score makes the row NaN as expf's does,
 * underflow gives 0; and SiLU over [-100, 100] within 1e-6 relative.
 */
static void test_softmax_silu(void **state)
{
	static const int64_t lens[] = { 1, 2, 7, 8, 9, 31, 32, 33, 100, 4096 };
	float *s = xalloc(4096 * sizeof(float)), *ref = xalloc(4096 * sizeof(float));
	float *u = xalloc(4096 * sizeof(float)), *g2 = xalloc(4096 * sizeof(float));
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		double worst = 0;
		for (int k = 18000; k <= 87000; k++) {
			float x = -(float)k * 0.001f, pair[2] = { 0.0f, x };
			mdl_softmax(2, pair);
			assert_true(pair[0] == 1.0f);
			double d = ulps(pair[1], expf(x));
			if (d > worst)
				worst = d;
			if (d > 2.0)
				fail_msg("level %d: exp(%.9g) = %.9g, expf %.9g (%.2f ulp)", lvl,
					 (double)x, (double)pair[1], (double)expf(x), d);
		}
		print_message("level %d: exp within %.2f ulp of expf\n", lvl, worst);
		for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
			int64_t n = lens[li];
			rng_seed((uint64_t)(n + 1000 * lvl));
			for (int64_t p = 0; p < n; p++)
				s[p] = ref[p] = (rng_float() - 0.5f) * 60.0f;
			mdl_softmax(n, s);
			mdl_quant_force_level(MDL_LEVEL_SCALAR);
			mdl_softmax(n, ref);
			mdl_quant_force_level((enum mdl_level)lvl);
			for (int64_t p = 0; p < n; p++)
				if (!(fabsf(s[p] - ref[p]) <= 2e-6f * ref[p] + 1e-37f))
					fail_msg("level %d n %lld: s[%lld] = %.9g, want %.9g", lvl,
						 (long long)n, (long long)p, (double)s[p], (double)ref[p]);
		}
		/* edges */
		float e1[9] = { 1.0f, -INFINITY, 0.5f, -200.0f, 2.0f, 0, 0, 0, 0 };
		mdl_softmax(9, e1);
		assert_true(e1[1] == 0.0f);
		assert_true(e1[3] == 0.0f);
		assert_true(e1[4] > e1[0] && e1[0] > e1[2] && e1[2] > e1[5]);
		float e2[11] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
		e2[9] = NAN;
		mdl_softmax(11, e2);
		for (int p = 0; p < 11; p++)
			assert_true(isnan(e2[p]));
		/* SiLU */
		for (int64_t i = 0; i < 4096; i++) {
			s[i] = (rng_float() - 0.5f) * 200.0f;
			u[i] = rng_float() + 0.5f;
		}
		s[0] = -100.0f;
		s[1] = 100.0f;
		s[2] = 0.0f;
		memcpy(g2, s, 4096 * sizeof(float));
		mdl_silu_mul(4093, s, u);	/* a tail of 5 past the last 8 */
		for (int64_t i = 0; i < 4096; i++) {
			float want = i < 4093 ? g2[i] / (1.0f + expf(-g2[i])) * u[i] : g2[i];
			if (!(fabsf(s[i] - want) <= 1e-6f * fabsf(want) + 1e-37f))
				fail_msg("level %d: silu(%.9g) * %.9g = %.9g, want %.9g", lvl,
					 (double)g2[i], (double)u[i], (double)s[i], (double)want);
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(s);
	mem_free(ref);
	mem_free(u);
	mem_free(g2);
}

/*
 * One-token mdl_matmul of the rows x cols weights W on 1 thread (Y1) and
 * on pool (Y3): every row must be bit for bit mdl_vec_dot of its row with
 * xq, X quantised at the current level lvl.
 */
static void expect_decode_rows(struct tpool *pool, int type, const uint8_t *W, int64_t rows,
			       int64_t cols, const float *X, const void *xq, float *Y1, float *Y3,
			       void *scratch, int lvl)
{
	size_t rs = mdl_row_size(type, cols);

	mdl_matmul(NULL, type, W, rows, cols, X, 1, Y1, scratch);
	mdl_matmul(pool, type, W, rows, cols, X, 1, Y3, scratch);
	for (int64_t r = 0; r < rows; r++) {
		float want = mdl_vec_dot(type, cols, W + r * rs, xq);
		if (memcmp(&Y1[r], &want, sizeof want) != 0 || memcmp(&Y3[r], &want, sizeof want) != 0)
			fail_msg("%s level %d cols %lld rows %lld: Y[%lld] = %.9g / %.9g "
				 "(1 / 3 threads), want %.9g", mdl_type_info(type)->name, lvl,
				 (long long)cols, (long long)rows, (long long)r, (double)Y1[r],
				 (double)Y3[r], (double)want);
	}
}

/*
 * mdl_matmul of one token (the decode path, with its own row kernels:
 * gemv of q8_0, q4_0, q5_0, q4_K, q5_K and q6_K) equals per-row
 * mdl_vec_dot bit for bit at every level, on 1 and 3 threads, for widths
 * below, at and past the kernels' groups of 8 blocks (1, 7, 8, 9, 17 and
 * 28 blocks, 28 being a 0.5B model's 896; for the K-types 28 super-blocks
 * of 256) and row counts that end inside and at the edge of a row block;
 * and each output is within 2e-6 x sum |terms| of the scalar level's dot.
 * Odd widths take random-byte weight blocks (fill_weight_rows), even ones
 * quantised rows.
 */
static void test_matmul_decode(void **state)
{
	const int64_t row_list[] = { 1, 5, 16, 17, 37 }, rows_max = 37;
	const int64_t nb_list[] = { 1, 7, 8, 9, 17, 28 };
	const int64_t col_max = 28 * 256;
	struct tpool *pool = tpool_new(3);
	assert_non_null(pool);
	float *wf = xalloc(rows_max * col_max * sizeof(float));
	float *X = xalloc(col_max * sizeof(float));
	float *Y1 = xalloc(rows_max * sizeof(float));
	float *Y3 = xalloc(rows_max * sizeof(float));
	uint8_t *W = xalloc(rows_max * col_max * 4);
	uint8_t *xq = xalloc(col_max * 4);
	float *wd = xalloc(col_max * sizeof(float)), *xd = xalloc(col_max * sizeof(float));
	float *want_s = xalloc(rows_max * sizeof(float));
	double *mag = xalloc(rows_max * sizeof(double));
	void *scratch = xalloc(mdl_matmul_scratch_size(MDL_TYPE_F16, col_max, 1));

	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
			int type = weight_types[ti];
			int bs = mdl_type_info(type)->block_size;
			for (size_t ci = 0; ci < sizeof nb_list / sizeof nb_list[0]; ci++) {
				int64_t cols = nb_list[ci] * (bs == 1 ? 32 : bs);
				size_t rs = mdl_row_size(type, cols);
				rng_seed((uint64_t)(type * 100 + (int)ci) + 5);
				fill_weight_rows(type, W, wf, rows_max, cols, (int)(nb_list[ci] & 1));
				fill_weights(X, cols, 1.0f);
				/* the scalar reference, and the size of its terms */
				mdl_quant_force_level(MDL_LEVEL_SCALAR);
				TH_OK(mdl_quant_act_row(type, X, xq, cols));
				TH_OK(mdl_dequant_row(mdl_type_info(type)->vec_dot_type, xq, xd, cols));
				for (int64_t r = 0; r < rows_max; r++) {
					want_s[r] = mdl_vec_dot(type, cols, W + r * rs, xq);
					TH_OK(mdl_dequant_row(type, W + r * rs, wd, cols));
					mag[r] = 0;
					for (int64_t k = 0; k < cols; k++)
						mag[r] += fabs((double)wd[k] * xd[k]);
				}
				mdl_quant_force_level((enum mdl_level)lvl);
				TH_OK(mdl_quant_act_row(type, X, xq, cols));
				for (size_t ri = 0; ri < sizeof row_list / sizeof row_list[0]; ri++) {
					int64_t rows = row_list[ri];
					memset(Y1, 0xff, rows_max * sizeof(float));
					memset(Y3, 0xff, rows_max * sizeof(float));
					expect_decode_rows(pool, type, W, rows, cols, X, xq, Y1, Y3,
							   scratch, lvl);
					for (int64_t r = 0; r < rows; r++) {
						if (!(fabs((double)Y1[r] - want_s[r]) <= 2e-6 * mag[r] + 1e-30))
							fail_msg("%s level %d cols %lld: Y[%lld] = %.9g, scalar %.9g "
								 "(|terms| %.6g)", mdl_type_info(type)->name, lvl,
								 (long long)cols, (long long)r, (double)Y1[r],
								 (double)want_s[r], mag[r]);
					}
					/* nothing written past the rows asked for */
					for (int64_t r = rows; r < rows_max; r++)
						assert_int_equal(((uint32_t *)(void *)Y1)[r], 0xffffffffu);
				}
			}
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	tpool_free(pool);
	mem_free(wf);
	mem_free(X);
	mem_free(Y1);
	mem_free(Y3);
	mem_free(W);
	mem_free(xq);
	mem_free(wd);
	mem_free(xd);
	mem_free(want_s);
	mem_free(mag);
	mem_free(scratch);
}

/*
 * The K-type kernels keep per-group sums of four byte products in int16
 * halves of int32 lanes at the AVX-512 level (quant_avx512.c, *_row), which
 * is exact only while |sum of four| <= 4 x 63 x 127: blocks at those
 * limits (all-ones weight bits, the largest scales, activations of +-127 in
 * runs of 4 to 64 of one sign and at random) must give, at every level, the
 * same bits from mdl_vec_dot, one-token mdl_matmul (gemv) and a 3-token
 * mdl_matmul (tiles); the SIMD levels must agree with each other bit for
 * bit, and with the scalar reference to float rounding.
 */
static void test_k_extremes(void **state)
{
	(void)state;
	static const int types[] = { MDL_TYPE_Q4_K, MDL_TYPE_Q5_K, MDL_TYPE_Q6_K };
	const int64_t cols = 2 * 256, rows = 5, ntok = 3;
	uint8_t *W = xalloc((size_t)rows * 2 * 210);
	float *X = xalloc((size_t)(ntok * cols) * sizeof(float));
	float *Y1 = xalloc((size_t)rows * sizeof(float)), *Y3 = xalloc((size_t)(ntok * rows) * sizeof(float));
	float *wd = xalloc((size_t)cols * sizeof(float)), *xd = xalloc((size_t)cols * sizeof(float));
	uint8_t *xq = xalloc((size_t)cols * 4);
	void *scratch = xalloc(mdl_matmul_scratch_size(MDL_TYPE_F16, cols, ntok));
	rng_seed(77);
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		int type = types[ti];
		size_t rs = mdl_row_size(type, cols), bsz = rs / 2;
		for (int pat = 0; pat < 6; pat++) {
			/* weights: every bit set, or 32-byte runs of 0x00, 0xff,
			 * 0x0f, 0xf0; scales as large as they go */
			for (int64_t r = 0; r < rows; r++) {
				uint8_t *w = W + (size_t)r * rs;
				for (size_t k = 0; k < rs; k++) {
					static const uint8_t run[] = { 0x00, 0xff, 0x0f, 0xf0 };
					w[k] = r == 0 ? 0xff : run[(rng_next() >> 7) & 3];
				}
				for (int b = 0; b < 2; b++) {
					uint8_t *blk = w + (size_t)b * bsz;
					const uint16_t one = 0x3c00;
					if (type == MDL_TYPE_Q6_K) {
						int8_t *sc = (int8_t *)(blk + 192);
						for (int j = 0; j < 16; j++)
							sc[j] = (int8_t)((r + j + pat) % 3 == 0 ? -128 :
									 (r + j) % 3 == 1 ? 127 : (int8_t)rng_next());
						memcpy(blk + 208, &one, 2);
					} else {
						memcpy(blk, &one, 2);
						memcpy(blk + 2, &one, 2);
						memset(blk + 4, r % 2 ? 0xff : (int)(rng_next() | 0xc0), 12);
					}
				}
			}
			/* activations: +-1 (so q8_K values +-127) in runs of 4 << pat
			 * (4 to 64) of one sign, or at random for pat 5 */
			for (int64_t t = 0; t < ntok; t++)
				for (int64_t k = 0; k < cols; k++) {
					int neg = pat == 5 ? (int)(rng_next() & 1) : (int)(((k + t * 32) >> (2 + pat)) & 1);
					X[t * cols + k] = neg ? -1.0f : 1.0f;
				}
			float simd_ref[5] = { 0 };
			int have_simd_ref = 0;
			for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
				mdl_quant_force_level((enum mdl_level)lvl);
				mdl_matmul(NULL, type, W, rows, cols, X, 1, Y1, scratch);
				mdl_matmul(NULL, type, W, rows, cols, X, ntok, Y3, scratch);
				TH_OK(mdl_quant_act_row(type, X, xq, cols));
				for (int64_t r = 0; r < rows; r++) {
					float one = mdl_vec_dot(type, cols, W + (size_t)r * rs, xq);
					if (memcmp(&one, &Y1[r], sizeof one) != 0 || memcmp(&one, &Y3[r], sizeof one) != 0)
						fail_msg("%s %s pattern %d row %lld: dot %.9g, decode %.9g, batch %.9g",
							 mdl_level_name(lvl), mdl_type_info(type)->name, pat,
							 (long long)r, (double)one, (double)Y1[r], (double)Y3[r]);
					if (lvl > MDL_LEVEL_SCALAR && have_simd_ref &&
					    memcmp(&one, &simd_ref[r], sizeof one) != 0)
						fail_msg("%s %s pattern %d row %lld: %.9g, the other SIMD level %.9g",
							 mdl_level_name(lvl), mdl_type_info(type)->name, pat,
							 (long long)r, (double)one, (double)simd_ref[r]);
					if (lvl > MDL_LEVEL_SCALAR)
						simd_ref[r] = one;
					mdl_quant_force_level(MDL_LEVEL_SCALAR);
					float want = mdl_vec_dot(type, cols, W + (size_t)r * rs, xq);
					TH_OK(mdl_dequant_row(type, W + (size_t)r * rs, wd, cols));
					TH_OK(mdl_dequant_row(MDL_TYPE_Q8_K, xq, xd, cols));
					double mag = 0;
					for (int64_t k = 0; k < cols; k++)
						mag += fabs((double)wd[k] * xd[k]);
					if (!(fabs((double)one - want) <= 2e-6 * mag + 1e-30))
						fail_msg("%s %s pattern %d row %lld: %.9g, scalar %.9g (|terms| %.6g)",
							 mdl_level_name(lvl), mdl_type_info(type)->name, pat,
							 (long long)r, (double)one, (double)want, mag);
					mdl_quant_force_level((enum mdl_level)lvl);
				}
				if (lvl > MDL_LEVEL_SCALAR)
					have_simd_ref = 1;
			}
		}
	}
	mdl_quant_force_level(mdl_quant_level_max());
	mem_free(W);
	mem_free(X);
	mem_free(Y1);
	mem_free(Y3);
	mem_free(wd);
	mem_free(xd);
	mem_free(xq);
	mem_free(scratch);
}

/*
 * The decode kernels prefetch ahead of the rows they read (quant_pf.h),
 * past the end of the matrix too: with a matrix that ends where its
 * mapping does, followed by inaccessible pages, one-token mdl_matmul of
 * every weight type at every level, on 1 and 3 threads, must neither fault
 * nor differ from per-row mdl_vec_dot. A prefetch that became a load
 * would crash here.
 */
static void test_matmul_decode_mapping_end(void **state)
{
	const int64_t cols = 896, rows = 70;	/* a 0.5B model's width */
	const size_t page = 4096, guard = 8 * page;
	struct tpool *pool = tpool_new(3);
	assert_non_null(pool);
	float *wf = xalloc(rows * cols * sizeof(float));
	float *X = xalloc(cols * sizeof(float));
	float *Y1 = xalloc(rows * sizeof(float)), *Y3 = xalloc(rows * sizeof(float));
	uint8_t *xq = xalloc(cols * 4);
	void *scratch = xalloc(mdl_matmul_scratch_size(MDL_TYPE_F16, cols, 1));
	size_t cap = ((size_t)rows * cols * 4 + page - 1) / page * page;
	uint8_t *map = mmap(NULL, cap + guard, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + cap, guard, PROT_NONE), 0);
	(void)state;

	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
			int type = weight_types[ti];
			size_t rs = mdl_row_size(type, cols);
			if (!rs)	/* K-types: 896 is not a multiple of 256 */
				continue;
			uint8_t *W = map + cap - (size_t)rows * rs;
			rng_seed((uint64_t)type + 77);
			fill_weight_rows(type, W, wf, rows, cols, 1);
			fill_weights(X, cols, 1.0f);
			TH_OK(mdl_quant_act_row(type, X, xq, cols));
			expect_decode_rows(pool, type, W, rows, cols, X, xq, Y1, Y3, scratch, lvl);
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	munmap(map, cap + guard);
	tpool_free(pool);
	mem_free(wf);
	mem_free(X);
	mem_free(Y1);
	mem_free(Y3);
	mem_free(xq);
	mem_free(scratch);
}

/*
 * mdl_matmul_multi over products of mixed types sharing X equals
 * mdl_matmul on each, bit for bit, on 1 and 3 threads.
 */
static void test_matmul_multi(void **state)
{
	static const int types[] = { MDL_TYPE_Q4_K, MDL_TYPE_Q8_0, MDL_TYPE_Q5_0,
				     MDL_TYPE_F32, MDL_TYPE_Q6_K, MDL_TYPE_F16 };
	static const int64_t rows[] = { 37, 16, 5, 40, 1, 17 };
	const int n_ops = 6;
	const int64_t cols = 512, tok_max = 6;
	struct tpool *pool = tpool_new(3);
	assert_non_null(pool);
	struct mdl_mm_op ops[6];
	float *want[6];
	float *wf = xalloc(40 * cols * sizeof(float));
	float *X = xalloc(tok_max * cols * sizeof(float));
	rng_seed(4242);
	fill_weights(X, tok_max * cols, 1.0f);
	for (int i = 0; i < n_ops; i++) {
		size_t rs = mdl_row_size(types[i], cols);
		uint8_t *W = xalloc(rows[i] * rs);
		fill_weights(wf, rows[i] * cols, 0.05f);
		for (int64_t r = 0; r < rows[i]; r++)
			TH_OK(mdl_quant_row(types[i], wf + r * cols, W + r * rs, cols));
		ops[i] = (struct mdl_mm_op){ .wtype = types[i], .W = W, .rows = rows[i],
					     .Y = xalloc(tok_max * rows[i] * sizeof(float)) };
		want[i] = xalloc(tok_max * rows[i] * sizeof(float));
	}
	/* q8_K, q8_0 and f16 regions: f32 reads X, the others share theirs */
	size_t need = mdl_matmul_multi_scratch_size(ops, n_ops, cols, tok_max);
	assert_int_equal(need, mdl_matmul_scratch_size(MDL_TYPE_Q4_K, cols, tok_max) +
				       mdl_matmul_scratch_size(MDL_TYPE_Q8_0, cols, tok_max) +
				       mdl_matmul_scratch_size(MDL_TYPE_F16, cols, tok_max));
	assert_int_equal(mdl_matmul_multi_scratch_size(ops, 0, cols, 1), 0);
	assert_int_equal(mdl_matmul_multi_scratch_size(ops, MDL_MM_MAX_OPS + 1, cols, 1), 0);
	assert_int_equal(mdl_matmul_multi_scratch_size(ops, n_ops, 100, 1), 0);
	void *scratch = xalloc(need);
	void *scratch1 = xalloc(mdl_matmul_scratch_size(MDL_TYPE_F16, cols, tok_max));

	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		for (int64_t nt = 1; nt <= tok_max; nt += 5) {
			for (int i = 0; i < n_ops; i++)
				mdl_matmul(NULL, types[i], ops[i].W, rows[i], cols, X, nt,
					   want[i], scratch1);
			for (int p = 0; p < 2; p++) {
				for (int i = 0; i < n_ops; i++)
					memset(ops[i].Y, 0xff, (size_t)(nt * rows[i]) * sizeof(float));
				mdl_matmul_multi(p ? pool : NULL, ops, n_ops, cols, X, nt, scratch);
				for (int i = 0; i < n_ops; i++)
					if (memcmp(ops[i].Y, want[i], (size_t)(nt * rows[i]) * sizeof(float)))
						fail_msg("level %d, %s op %d, %lld tokens, %s: differs "
							 "from mdl_matmul", lvl,
							 mdl_type_info(types[i])->name, i,
							 (long long)nt, p ? "3 threads" : "1 thread");
			}
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	for (int i = 0; i < n_ops; i++) {
		mem_free((void *)ops[i].W);
		mem_free(ops[i].Y);
		mem_free(want[i]);
	}
	tpool_free(pool);
	mem_free(wf);
	mem_free(X);
	mem_free(scratch);
	mem_free(scratch1);
}

/* ------------------------------------------------------------------ */
/* Agreement with ggml                                                 */
/* ------------------------------------------------------------------ */

/*
 * Fixtures printed by ggml's own code (llama.cpp commit
 * c392e5094deaf2d1a7c18683214f007fad3fe42b, ggml-quants.c and
 * ggml-cpu/ggml-cpu-quants.c built for x86-64 with AVX2/FMA/F16C and
 * -ffp-contract=off) on the rows fill_weights() makes from the same seeds:
 * FNV-1a 64 of the bytes its reference quantisers and its x86 activation
 * quantisers write, and the dot products of its x86 kernels.
 */
struct ggml_hash {
	int type, seed;
	uint64_t fnv;
};

static const struct ggml_hash ggml_weights[] = {
	{ 2, 1, 0x5eb9c9f5629ede32ull },
	{ 2, 2, 0x138a51014f82ba87ull },
	{ 2, 3, 0x85e43206097480c2ull },
	{ 3, 1, 0xbef9c962b0dbc681ull },
	{ 3, 2, 0x170949cf9a429293ull },
	{ 3, 3, 0xae4fe4ce57116e11ull },
	{ 6, 1, 0xbf1d3396b618855full },
	{ 6, 2, 0xe157c5edb4f4a6a1ull },
	{ 6, 3, 0xf05fdfcbad9451f2ull },
	{ 7, 1, 0x84c1bc9b50842c23ull },
	{ 7, 2, 0x8145048a9bdcc94cull },
	{ 7, 3, 0xce6b5f7fbf5cf353ull },
	{ 8, 1, 0x344fe3c514a87212ull },
	{ 8, 2, 0x82b5bc56307c9370ull },
	{ 8, 3, 0x6ac94a2e830ed6baull },
	{ 9, 1, 0x2a3c18ada188e12cull },
	{ 9, 2, 0x23cdb12acf8ebfc5ull },
	{ 9, 3, 0xb21fb796a4a7b233ull },
	{ 12, 1, 0x29af26e46cfa165dull },
	{ 12, 2, 0x09f973daddf38764ull },
	{ 12, 3, 0x6019d210600818e8ull },
	{ 13, 1, 0x1bc946560f319600ull },
	{ 13, 2, 0x9fbdcd9174f4f769ull },
	{ 13, 3, 0x25fda5966f476a0cull },
	{ 14, 1, 0xc72f9355c4ae91a0ull },
	{ 14, 2, 0xfd031e8996ed16dfull },
	{ 14, 3, 0xf66a5e5506c85368ull },
	{ 15, 1, 0xeb9ba32b4fcd8998ull },
	{ 15, 2, 0xf93bbc700f737eebull },
	{ 15, 3, 0xd7572a42ed76b29cull },
};

static const struct ggml_hash ggml_acts[] = {
	{ 8, 1, 0xacdb3fc162bf654bull },
	{ 8, 2, 0x18c95f13bb67ba37ull },
	{ 8, 3, 0x86ff06b36f9643edull },
	{ 9, 1, 0x4a20578fb9dc911full },
	{ 9, 2, 0x0547256e3a63b0feull },
	{ 9, 3, 0x5094714e7b83e4afull },
	{ 15, 1, 0x7206eb4c07173469ull },
	{ 15, 2, 0x36d68c9ecde5e2bcull },
	{ 15, 3, 0x162517826f82a57cull },
};

static const struct {
	int type, seed;
	float dot;
} ggml_dots[] = {
	{ 2, 1, 2.40715599f },
	{ 2, 2, 7.54489231f },
	{ 2, 3, -47.0231247f },
	{ 3, 1, -3.03651428f },
	{ 3, 2, -4.01879025f },
	{ 3, 3, 57.4960327f },
	{ 6, 1, -0.162452579f },
	{ 6, 2, 0.765368462f },
	{ 6, 3, -20.1376114f },
	{ 7, 1, 7.41819f },
	{ 7, 2, -1.77225685f },
	{ 7, 3, -78.1531143f },
	{ 8, 1, -1.29692721f },
	{ 8, 2, -4.06531048f },
	{ 8, 3, 16.9642506f },
	{ 12, 1, -4.5836482f },
	{ 12, 2, -4.95153379f },
	{ 12, 3, 12.5713425f },
	{ 13, 1, -2.39407158f },
	{ 13, 2, -4.12239408f },
	{ 13, 3, -33.3694954f },
	{ 14, 1, 1.10739517f },
	{ 14, 2, -3.32872581f },
	{ 14, 3, -21.2606564f },
};

static uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define GGML_N 4096

/* Our reference quantisers write the same bytes as ggml's. */
static void test_ggml_weights(void **state)
{
	float *w = xalloc(GGML_N * sizeof(float));
	uint8_t *q = xalloc(GGML_N * 4);
	for (size_t i = 0; i < sizeof ggml_weights / sizeof ggml_weights[0]; i++) {
		const struct ggml_hash *c = &ggml_weights[i];
		rng_seed((uint64_t)(5000 + c->seed * 100 + c->type));
		fill_weights(w, GGML_N, c->seed == 3 ? 300.0f : 0.02f);
		TH_OK(mdl_quant_row(c->type, w, q, GGML_N));
		uint64_t h = fnv1a(q, mdl_row_size(c->type, GGML_N));
		if (h != c->fnv)
			fail_msg("%s seed %d: bytes differ from ggml's (0x%016llx, want 0x%016llx)",
				 mdl_type_info(c->type)->name, c->seed,
				 (unsigned long long)h, (unsigned long long)c->fnv);
	}
	mem_free(w);
	mem_free(q);
}

/* Activations are converted as llama.cpp's x86 build does, at every
 * dispatch level. */
static void test_ggml_acts(void **state)
{
	static const int wtype_of[] = { [8] = MDL_TYPE_Q8_0, [9] = MDL_TYPE_Q4_1,
				     [15] = MDL_TYPE_Q4_K };
	float *x = xalloc(GGML_N * sizeof(float));
	uint8_t *q = xalloc(GGML_N * 4);
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		for (size_t i = 0; i < sizeof ggml_acts / sizeof ggml_acts[0]; i++) {
			const struct ggml_hash *c = &ggml_acts[i];
			rng_seed((uint64_t)(7000 + c->seed * 100 + c->type));
			fill_weights(x, GGML_N, c->seed == 3 ? 50.0f : 1.0f);
			TH_OK(mdl_quant_act_row(wtype_of[c->type], x, q, GGML_N));
			uint64_t h = fnv1a(q, mdl_row_size(c->type, GGML_N));
			if (h != c->fnv)
				fail_msg("%s %s seed %d: bytes differ from ggml's",
					 mdl_level_name((enum mdl_level)lvl),
					 mdl_type_info(c->type)->name, c->seed);
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(x);
	mem_free(q);
}

/* Dot products agree with ggml's to within float summation order. */
static void test_ggml_dots(void **state)
{
	float *w = xalloc(GGML_N * sizeof(float)), *x = xalloc(GGML_N * sizeof(float));
	float *a = xalloc(GGML_N * sizeof(float)), *b = xalloc(GGML_N * sizeof(float));
	uint8_t *wq = xalloc(GGML_N * 4), *xq = xalloc(GGML_N * 4);
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		for (size_t i = 0; i < sizeof ggml_dots / sizeof ggml_dots[0]; i++) {
			int type = ggml_dots[i].type, seed = ggml_dots[i].seed;
			rng_seed((uint64_t)(9000 + seed * 100 + type));
			fill_weights(w, GGML_N, 0.05f);
			fill_weights(x, GGML_N, seed == 3 ? 20.0f : 1.0f);
			TH_OK(mdl_quant_row(type, w, wq, GGML_N));
			TH_OK(mdl_quant_act_row(type, x, xq, GGML_N));
			TH_OK(mdl_dequant_row(type, wq, a, GGML_N));
			TH_OK(mdl_dequant_row(mdl_type_info(type)->vec_dot_type, xq, b, GGML_N));
			double mag = 0;
			for (int k = 0; k < GGML_N; k++)
				mag += fabs((double)a[k] * b[k]);
			float got = mdl_vec_dot(type, GGML_N, wq, xq);
			if (!(fabs((double)got - ggml_dots[i].dot) <= 1e-5 * mag))
				fail_msg("%s %s seed %d: dot %.9g, ggml %.9g (|terms| %.6g)",
					 mdl_level_name((enum mdl_level)lvl),
					 mdl_type_info(type)->name, seed, (double)got,
					 (double)ggml_dots[i].dot, mag);
		}
	}
	mdl_quant_force_level(MDL_LEVEL_AVX512);
	mem_free(w);
	mem_free(x);
	mem_free(a);
	mem_free(b);
	mem_free(wq);
	mem_free(xq);
}

/* ------------------------------------------------------------------ */
/* q4_0 repacked in groups of 8 rows (quant_q4x8.c)                    */
/* ------------------------------------------------------------------ */

/*
 * The internal type's table entry and its refusals: not found by name
 * (so no file or command can ask for it), no row functions, a NaN dot,
 * repacking only whole groups of 8 rows of whole blocks, a round trip
 * through mdl_q4_0x8_unpack giving the rows back byte for byte, and each
 * row read from its group (mdl_q4_0x8_row) as its q4_0 row dequantises.
 */
static void test_q4x8_layout(void **state)
{
	(void)state;
	const struct mdl_type_info *ti = mdl_type_info(MDL_TYPE_Q4_0X8);
	assert_non_null(ti);
	assert_string_equal(ti->name, "q4_0x8");
	assert_int_equal(ti->internal, 1);
	assert_int_equal(ti->is_weight, 1);
	assert_int_equal(ti->vec_dot_type, MDL_TYPE_Q8_0);
	assert_int_equal(mdl_type_info(MDL_TYPE_Q4_0)->internal, 0);
	assert_int_equal(mdl_type_from_name("q4_0x8"), -1);
	assert_int_equal(mdl_row_size(MDL_TYPE_Q4_0X8, 64), mdl_row_size(MDL_TYPE_Q4_0, 64));
	assert_int_equal(sizeof(struct mdl_block_q4_0x8), 8 * sizeof(struct mdl_block_q4_0));
	float f[32] = { 0 };
	uint8_t b[8 * 18 * 2] = { 0 }, c[sizeof b];
	TH_ST(mdl_dequant_row(MDL_TYPE_Q4_0X8, b, f, 32), ST_UNSUPPORTED);
	TH_ST(mdl_quant_row(MDL_TYPE_Q4_0X8, f, b, 32), ST_UNSUPPORTED);
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		assert_true(isnan(mdl_vec_dot(MDL_TYPE_Q4_0X8, 32, b, b)));
	}
	mdl_quant_force_level(mdl_quant_level_max());
	TH_ST(mdl_q4_0_repack(NULL, b, c, 7, 32), ST_INVAL);
	TH_ST(mdl_q4_0_repack(NULL, b, c, 0, 32), ST_INVAL);
	TH_ST(mdl_q4_0_repack(NULL, b, c, 8, 48), ST_INVAL);
	TH_ST(mdl_q4_0_repack(NULL, b, c, 8, 0), ST_INVAL);
	TH_ST(mdl_q4_0_repack(NULL, NULL, c, 8, 32), ST_INVAL);
	TH_ST(mdl_q4_0x8_unpack(b, c, 12, 32), ST_INVAL);

	/* round trip, and where two bytes of row 5 block 1 land */
	const int64_t rows = 24, cols = 3 * 32;
	size_t n = (size_t)rows * mdl_row_size(MDL_TYPE_Q4_0, cols);
	uint8_t *src = xalloc(n), *mid = xalloc(n), *back = xalloc(n);
	rng_seed(77);
	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t)rng_next();
	struct tpool *pool = tpool_new(3);
	assert_non_null(pool);
	TH_OK(mdl_q4_0_repack(pool, src, mid, rows, cols));
	TH_OK(mdl_q4_0x8_unpack(mid, back, rows, cols));
	assert_memory_equal(src, back, n);
	const struct mdl_block_q4_0 *row5 = (const void *)(src + 5 * mdl_row_size(MDL_TYPE_Q4_0, cols));
	const struct mdl_block_q4_0x8 *g0 = (const void *)mid;
	assert_int_equal(g0[1].d[5], row5[1].d);
	assert_int_equal(g0[1].qs[2 * 32 + 5 * 4 + 3], row5[1].qs[2 * 4 + 3]);
	/* rows read back from their groups as their q4_0 rows dequantise */
	float *want = xalloc((size_t)cols * sizeof(float)), *got = xalloc((size_t)cols * sizeof(float));
	for (int64_t r = 0; r < rows; r++) {
		size_t rb = mdl_row_size(MDL_TYPE_Q4_0, cols);
		TH_OK(mdl_dequant_row(MDL_TYPE_Q4_0, src + (size_t)r * rb, want, cols));
		mdl_q4_0x8_row(mid + (size_t)(r / 8) * 8 * rb, (int)(r % 8), cols, got);
		assert_memory_equal(want, got, (size_t)cols * sizeof(float));
	}
	mem_free(want);
	mem_free(got);
	tpool_free(pool);
	mem_free(src);
	mem_free(mid);
	mem_free(back);
}

/*
 * mdl_matmul on q4_0x8 weights at every level, 8 to 40 rows, rows of 1 to
 * 28 blocks, 1 to 17 tokens, quantised and random-byte weights (finite
 * scales): every output equal bit for bit to the scalar level's, to the
 * same token multiplied alone (the decode kernel) and on 3 threads to 1;
 * within 2e-6 x sum |terms| of the q4_0 dot of the row it came from. A
 * row count that is not a multiple of 8 leaves Y untouched.
 */
static void test_q4x8_matmul(void **state)
{
	(void)state;
	const int64_t blk_list[] = { 1, 7, 8, 9, 17, 28 }, row_list[] = { 8, 40, 16 };
	const int64_t tok_max = 17, rows_max = 40, cols_max = 28 * 32;
	struct tpool *pool = tpool_new(3);
	assert_non_null(pool);
	size_t wbytes = (size_t)rows_max * mdl_row_size(MDL_TYPE_Q4_0, cols_max);
	uint8_t *W = xalloc(wbytes), *P = xalloc(wbytes + 64);
	float *wf = xalloc((size_t)(rows_max * cols_max) * sizeof(float));
	float *X = xalloc((size_t)(tok_max * cols_max) * sizeof(float));
	float *Y = xalloc((size_t)(tok_max * rows_max + 16) * sizeof(float));
	float *Yr = xalloc((size_t)(tok_max * rows_max) * sizeof(float));
	float *Y1 = xalloc((size_t)(rows_max + 16) * sizeof(float));
	float *wd = xalloc((size_t)cols_max * sizeof(float)), *xd = xalloc((size_t)cols_max * sizeof(float));
	uint8_t *xq = xalloc((size_t)cols_max * 2);
	void *scratch = xalloc(mdl_matmul_scratch_size(MDL_TYPE_Q4_0X8, cols_max, tok_max));
	for (size_t bi = 0; bi < sizeof blk_list / sizeof blk_list[0]; bi++) {
		int64_t cols = blk_list[bi] * 32;
		size_t rs = mdl_row_size(MDL_TYPE_Q4_0, cols);
		for (int rep = 0; rep < 3; rep++) {
			int64_t rows = row_list[rep];
			rng_seed((uint64_t)(bi * 10 + (size_t)rep) + 901);
			fill_weight_rows(MDL_TYPE_Q4_0, W, wf, rows, cols, rep == 1);
			fill_weights(X, tok_max * cols, 1.0f);
			/* nothing past the rows: a sentinel after the packed copy */
			memset(P + (size_t)rows * rs, 0xa5, 64);
			TH_OK(mdl_q4_0_repack(rep ? pool : NULL, W, P, rows, cols));
			for (int64_t nt = 1; nt <= tok_max; nt += nt < 4 ? 1 : 5) {
				mdl_quant_force_level(MDL_LEVEL_SCALAR);
				mdl_matmul(NULL, MDL_TYPE_Q4_0X8, P, rows, cols, X, nt, Yr, scratch);
				for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
					mdl_quant_force_level((enum mdl_level)lvl);
					for (int th = 0; th < 2; th++) {
						memset(Y, 0xff, (size_t)(tok_max * rows_max + 16) * sizeof(float));
						mdl_matmul(th ? pool : NULL, MDL_TYPE_Q4_0X8, P, rows, cols, X,
							   nt, Y, scratch);
						for (int64_t i = 0; i < nt * rows; i++)
							if (memcmp(&Y[i], &Yr[i], sizeof(float)) != 0)
								fail_msg("%s cols %lld rows %lld tokens %lld "
									 "threads %d: Y[%lld] = %.9g, scalar "
									 "level %.9g", mdl_level_name(lvl),
									 (long long)cols, (long long)rows,
									 (long long)nt, th ? 3 : 1, (long long)i,
									 (double)Y[i], (double)Yr[i]);
						uint32_t tail;
						memcpy(&tail, &Y[nt * rows], 4);
						assert_int_equal(tail, 0xffffffffu);
					}
					/* each token alone (decode) as in the batch */
					for (int64_t t = 0; t < nt; t++) {
						memset(Y1, 0xff, (size_t)(rows_max + 16) * sizeof(float));
						mdl_matmul(pool, MDL_TYPE_Q4_0X8, P, rows, cols, X + t * cols, 1,
							   Y1, scratch);
						if (memcmp(Y1, Yr + t * rows, (size_t)rows * sizeof(float)) != 0)
							fail_msg("%s cols %lld rows %lld: token %lld of %lld "
								 "alone differs from the batch",
								 mdl_level_name(lvl), (long long)cols,
								 (long long)rows, (long long)t, (long long)nt);
					}
				}
				/* against q4_0's own scalar dot, to float rounding */
				mdl_quant_force_level(MDL_LEVEL_SCALAR);
				for (int64_t t = 0; t < nt; t++) {
					TH_OK(mdl_quant_act_row(MDL_TYPE_Q4_0, X + t * cols, xq, cols));
					TH_OK(mdl_dequant_row(MDL_TYPE_Q8_0, xq, xd, cols));
					for (int64_t r = 0; r < rows; r++) {
						const uint8_t *w = W + (size_t)r * rs;
						float want = mdl_vec_dot(MDL_TYPE_Q4_0, cols, w, xq);
						TH_OK(mdl_dequant_row(MDL_TYPE_Q4_0, w, wd, cols));
						double mag = 0;
						for (int64_t k = 0; k < cols; k++)
							mag += fabs((double)wd[k] * xd[k]);
						float got = Yr[t * rows + r];
						if (!(fabs((double)got - want) <= 2e-6 * mag + 1e-30))
							fail_msg("cols %lld rows %lld: Y[%lld][%lld] = %.9g, "
								 "q4_0 %.9g (|terms| %.6g)", (long long)cols,
								 (long long)rows, (long long)t, (long long)r,
								 (double)got, (double)want, mag);
					}
				}
			}
			for (int k = 0; k < 64; k++)
				assert_int_equal(P[(size_t)rows * rs + (size_t)k], 0xa5);
		}
	}
	/* 12 rows: not whole groups, refused (nothing written) */
	for (int lvl = 0; lvl <= (int)mdl_quant_level_max(); lvl++) {
		mdl_quant_force_level((enum mdl_level)lvl);
		memset(Y, 0xff, 12 * sizeof(float));
		mdl_matmul(pool, MDL_TYPE_Q4_0X8, P, 12, 32, X, 1, Y, scratch);
		for (int i = 0; i < 12; i++) {
			uint32_t u;
			memcpy(&u, &Y[i], 4);
			assert_int_equal(u, 0xffffffffu);
		}
	}
	mdl_quant_force_level(mdl_quant_level_max());
	tpool_free(pool);
	mem_free(W);
	mem_free(P);
	mem_free(wf);
	mem_free(X);
	mem_free(Y);
	mem_free(Yr);
	mem_free(Y1);
	mem_free(wd);
	mem_free(xd);
	mem_free(xq);
	mem_free(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_fp16),
		cmocka_unit_test(test_fp16_vs_hardware),
		cmocka_unit_test(test_fp16_rows),
		cmocka_unit_test(test_f16_attention_kernels),
		cmocka_unit_test(test_q8_0_attention_kernels),
		cmocka_unit_test(test_f16_attention_heads),
		cmocka_unit_test(test_bf16),
		cmocka_unit_test(test_dequant_simple),
		cmocka_unit_test(test_dequant_q4_K),
		cmocka_unit_test(test_dequant_q5_K),
		cmocka_unit_test(test_dequant_q6_K),
		cmocka_unit_test(test_dequant_q8_K),
		cmocka_unit_test(test_dequant_multi_block),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_quant_exact),
		cmocka_unit_test(test_dot_scalar),
		cmocka_unit_test(test_act_quant),
		cmocka_unit_test(test_act_q8_K_cases),
		cmocka_unit_test(test_force_level),
		cmocka_unit_test(test_simd_vs_scalar),
		cmocka_unit_test(test_matmul),
		cmocka_unit_test(test_matmul_tiles),
		cmocka_unit_test(test_matmul_decode),
		cmocka_unit_test(test_k_extremes),
		cmocka_unit_test(test_matmul_decode_mapping_end),
		cmocka_unit_test(test_softmax_silu),
		cmocka_unit_test(test_matmul_multi),
		cmocka_unit_test(test_q4x8_layout),
		cmocka_unit_test(test_q4x8_matmul),
		cmocka_unit_test(test_ggml_weights),
		cmocka_unit_test(test_ggml_acts),
		cmocka_unit_test(test_ggml_dots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
