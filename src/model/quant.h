/*
 * quant.h - tensor element types of the model module: the type table, block
 * layouts, conversion to and from float, dot products and the matrix
 * multiplication the forward pass runs on.
 *
 * Private to src/model/ (other model files include it; nothing outside the
 * module does). Type ids and block layouts are those of GGUF files written
 * by llama.cpp/ggml, byte for byte, so weights are used in place from the
 * memory-mapped file.
 *
 * Every type is stored in blocks of `block_size` elements taking
 * `type_size` bytes; a row of n elements (n a multiple of block_size) takes
 * n / block_size * type_size bytes (mdl_row_size).
 *
 *   id  name  elems bytes layout of one block (all little-endian)
 *    0  f32       1     4 float
 *    1  f16       1     2 IEEE half
 *    2  q4_0     32    18 d:f16, qs[16]: x[j] = d*(lo nibble-8), x[j+16] = d*(hi-8)
 *    3  q4_1     32    20 d:f16, m:f16, qs[16]: x = d*q + m
 *    6  q5_0     32    22 d:f16, qh[4] (bit j = 5th bit of x[j]), qs[16]: d*(q-16)
 *    7  q5_1     32    24 d:f16, m:f16, qh[4], qs[16]: x = d*q + m
 *    8  q8_0     32    34 d:f16, qs[32] int8: x = d*q
 *    9  q8_1     32    36 d:f16, s:f16 (= d*sum(qs)), qs[32] int8 (activations)
 *   12  q4_K    256   144 d:f16, dmin:f16, scales[12] (8 x 6-bit scale, 8 x 6-bit
 *                         min), qs[128]: 8 sub-blocks of 32, x = d*sc*q - dmin*m
 *   13  q5_K    256   176 d, dmin, scales[12] as q4_K, qh[32], qs[128]
 *   14  q6_K    256   210 ql[128], qh[64], scales[16] int8, d:f16;
 *                         16 sub-blocks of 16: x = d*sc*(q-32), q 6 bits
 *   15  q8_K    256   292 d:f32, qs[256] int8, bsums[16] int16 (sums of 16 qs)
 *                         (activations only)
 *   30  bf16      1     2 upper half of an IEEE float
 *
 * Dot products follow llama.cpp's CPU backend so that logits agree with it:
 * the activations of a matrix product are first converted to the weight
 * type's "vec_dot type" (q4_0, q5_0, q8_0 -> q8_0; q4_1, q5_1 -> q8_1;
 * K-types -> q8_K; f16 -> f16; bf16 -> bf16; f32 -> f32) and the dot is
 * computed between a weight row and that converted row, in integers per
 * block where both are quantised.
 *
 * Kernels exist as scalar reference code (the test oracle) and as AVX2+FMA
 * and AVX-512 versions picked at run time from the CPU's features.
 */
#ifndef AIRLOCK_MODEL_QUANT_H
#define AIRLOCK_MODEL_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"

/* ------------------------------------------------------------------ */
/* Type table                                                          */
/* ------------------------------------------------------------------ */

/* ggml's type ids, as stored in GGUF tensor infos. */
enum mdl_type {
	MDL_TYPE_F32 = 0,
	MDL_TYPE_F16 = 1,
	MDL_TYPE_Q4_0 = 2,
	MDL_TYPE_Q4_1 = 3,
	MDL_TYPE_Q5_0 = 6,
	MDL_TYPE_Q5_1 = 7,
	MDL_TYPE_Q8_0 = 8,
	MDL_TYPE_Q8_1 = 9,
	MDL_TYPE_Q4_K = 12,
	MDL_TYPE_Q5_K = 13,
	MDL_TYPE_Q6_K = 14,
	MDL_TYPE_Q8_K = 15,
	MDL_TYPE_BF16 = 30,
	/* Internal, never in a file: q4_0 rows repacked at load time in
	 * groups of 8 interleaved rows (struct mdl_block_q4_0x8). */
	MDL_TYPE_Q4_0X8 = 39,
	MDL_TYPE_COUNT = 40	/* one past the highest id */
};

struct mdl_type_info {
	int type;		/* enum mdl_type */
	const char *name;	/* ggml's name: "f32", "q4_0", "q4_K", ... */
	int block_size;		/* elements per block */
	size_t type_size;	/* bytes per block */
	int quantized;		/* 1 for the block-quantised types */
	int vec_dot_type;	/* type activations are converted to for dots */
	int is_weight;		/* 1 if usable as a weight in mdl_matmul
				   (q8_1 and q8_K are activation-only) */
	int internal;		/* 1 for a layout made at load time (q4_0x8):
				   never read from or written to a file, no
				   row functions, mdl_matmul only */
};

/*
 * Returns the description of type (static storage), or NULL when the id is
 * unknown or a type this module does not support (q2_K, iq*, ...).
 */
const struct mdl_type_info *mdl_type_info(int type);

/*
 * Returns the type id named name, compared without regard to case
 * ("q4_k" and "Q4_K" give 12), or -1 if no supported type has that name.
 */
int mdl_type_from_name(const char *name);

/*
 * Returns the number of bytes of a row of n elements of type, or 0 when
 * the type is unsupported, n < 0, n is not a multiple of the block size,
 * or the size would overflow.
 */
size_t mdl_row_size(int type, int64_t n);

/* ------------------------------------------------------------------ */
/* Block layouts (sizes checked by static assertions in quant.c)       */
/* ------------------------------------------------------------------ */

#define MDL_QK 32	/* elements per block of q4_0 .. q8_1 */
#define MDL_QK_K 256	/* elements per super-block of the K-types */

struct mdl_block_q4_0 { uint16_t d; uint8_t qs[MDL_QK / 2]; };
struct mdl_block_q4_1 { uint16_t d, m; uint8_t qs[MDL_QK / 2]; };
struct mdl_block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[MDL_QK / 2]; };
struct mdl_block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[MDL_QK / 2]; };
struct mdl_block_q8_0 { uint16_t d; int8_t qs[MDL_QK]; };
struct mdl_block_q8_1 { uint16_t d, s; int8_t qs[MDL_QK]; };
struct mdl_block_q4_K {
	uint16_t d, dmin;
	uint8_t scales[12];		/* 6-bit scales and mins, packed */
	uint8_t qs[MDL_QK_K / 2];
};
struct mdl_block_q5_K {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qh[MDL_QK_K / 8];
	uint8_t qs[MDL_QK_K / 2];
};
struct mdl_block_q6_K {
	uint8_t ql[MDL_QK_K / 2];	/* low 4 bits */
	uint8_t qh[MDL_QK_K / 4];	/* high 2 bits */
	int8_t scales[MDL_QK_K / 16];
	uint16_t d;
};
struct mdl_block_q8_K {
	float d;
	int8_t qs[MDL_QK_K];
	int16_t bsums[MDL_QK_K / 16];	/* sum of each group of 16 qs */
};
/*
 * One block column (32 elements) of 8 q4_0 rows, interleaved (the
 * internal type MDL_TYPE_Q4_0X8): d[r] is row r's scale; qs[c * 32 + r * 4
 * + i] is row r's qs[c * 4 + i] (c < 4, i < 4), so one 32-byte load holds
 * bytes c*4 .. c*4+3 of all 8 rows, 4 per 32-bit lane, lane r = row r: the
 * low nibbles are elements c*4 .. c*4+3, the high ones c*4+16 .. c*4+19.
 * A group of 8 rows of nb blocks is nb of these in order, 8 x 18 x nb
 * bytes: the size of the 8 rows it came from.
 */
struct mdl_block_q4_0x8 { uint16_t d[8]; uint8_t qs[8 * MDL_QK / 2]; };

/* ------------------------------------------------------------------ */
/* Half and bfloat16 conversions                                       */
/* ------------------------------------------------------------------ */

/*
 * IEEE half <-> float. Rounding is to nearest, ties to even; overflow gives
 * infinity, NaN stays NaN (made quiet, sign and payload bits kept as far as
 * they fit) and subnormals are converted exactly: what the F16C
 * instructions do.
 */
float mdl_fp16_to_fp32(uint16_t h);
uint16_t mdl_fp32_to_fp16(float f);
/*
 * bfloat16 <-> float: to nearest, ties to even; NaN becomes a quiet NaN;
 * subnormals are not flushed (ggml's conversion, bit for bit).
 */
float mdl_bf16_to_fp32(uint16_t h);
uint16_t mdl_fp32_to_bf16(float f);

/*
 * Rows of n halves <-> floats with the fastest instructions the CPU has
 * (F16C), giving exactly what the element functions give. For the
 * attention's f16 KV cache and similar bulk conversions.
 */
void mdl_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n);
void mdl_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n);

/*
 * Attention scores over an f16 cache: out[p] = dot(K + p * stride, q) *
 * scale for p < n_pos, each dot over n halves and equal bit for bit to
 * mdl_vec_dot(MDL_TYPE_F16, n, K + p * stride, q) * scale. stride is in
 * halves. One call per head and layer instead of one per cached row.
 */
void mdl_f16_dots(int64_t n_pos, int64_t n, const uint16_t *K, size_t stride,
		  const uint16_t *q, float scale, float *out);

/*
 * mdl_f16_dots for nq queries against the same rows at once: query h at q +
 * h * q_stride (halves) scores into out + h * out_stride (floats), each
 * score equal bit for bit to what mdl_f16_dots gives for that query alone.
 * The query heads sharing a KV head read (and convert) each cached row once.
 */
void mdl_f16_dots_n(int64_t n_pos, int64_t n, const uint16_t *K, size_t stride, int nq,
		    const uint16_t *q, size_t q_stride, float scale, float *out,
		    size_t out_stride);

/*
 * Weighted sum of f16 rows into o: for p = 0 .. n_pos-1 in order, o[j] =
 * o[j] + w[p] * V[p * stride + j] for j < n, each product and sum rounded
 * to float (no fused multiply-add), so every level gives the same bits as
 * the scalar loop. stride is in halves.
 */
void mdl_f16_wsum(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride,
		  const float *w, float *o);

/*
 * mdl_f16_wsum for nw weight rows over the same V rows at once: weights
 * w + h * w_stride into o + h * o_stride (floats), each o equal bit for bit
 * to what mdl_f16_wsum gives for that head alone; each V row is read and
 * converted once for a pair of heads.
 */
void mdl_f16_wsum_n(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride, int nw,
		    const float *w, size_t w_stride, float *o, size_t o_stride);

/*
 * Attention scores over a q8_0 cache: out[h * out_stride + p] =
 * mdl_vec_dot(MDL_TYPE_Q8_0, n, K + p * stride, q + h * q_stride) * scale
 * for query h < nq and row p < n_pos, bit for bit. K rows are q8_0 blocks,
 * the queries converted by mdl_quant_act_row(MDL_TYPE_Q8_0); stride and
 * q_stride are in bytes, n a multiple of 32.
 */
void mdl_q8_0_dots_n(int64_t n_pos, int64_t n, const void *K, size_t stride, int nq,
		     const void *q, size_t q_stride, float scale, float *out,
		     size_t out_stride);

/*
 * Weighted sums of q8_0 rows for nw heads: for p = 0 .. n_pos-1 in order,
 * o_h[j] = o_h[j] + (w_h[p] * d) * q[j], with d the scale of the block
 * of row p that holds column j and q its 8-bit value, each product and
 * sum rounded to float (no fused multiply-add), so every level gives the
 * bits of the scalar loop. Weights w + h * w_stride, outputs o + h *
 * o_stride (floats); stride in bytes, n a multiple of 32. Each row is read
 * and converted once for a pair of heads.
 */
void mdl_q8_0_wsum_n(int64_t n_pos, int64_t n, const void *V, size_t stride, int nw,
		     const float *w, size_t w_stride, float *o, size_t o_stride);

/*
 * Softmax of n floats in place: s[p] = exp(s[p] - max) / sum of those.
 * NaN scores are skipped by the maximum and stay NaN. The scalar level uses
 * expf; the SIMD levels a vectorised exp whose error is within 2 units in
 * the last place of expf's (tests/quant), so results differ from the
 * scalar level in the last bits. n must be at least 1.
 */
void mdl_softmax(int64_t n, float *s);

/*
 * g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i] for i < n:
 * the gated activation of a SwiGLU feed-forward. Same exp as mdl_softmax.
 */
void mdl_silu_mul(int64_t n, float *g, const float *u);

/* ------------------------------------------------------------------ */
/* Rows: quantise and dequantise                                       */
/* ------------------------------------------------------------------ */

/*
 * Converts n elements of type at src into floats at dst. n must be a
 * multiple of the type's block size. Returns ST_UNSUPPORTED for an unknown
 * type, ST_INVAL for a bad n; ST_OK otherwise. Any byte pattern is a valid
 * block (NaN/inf scales propagate; nothing is read past the row).
 */
status_t mdl_dequant_row(int type, const void *src, float *dst, int64_t n);

/*
 * Converts n floats into type, writing mdl_row_size(type, n) bytes at dst.
 * These are the reference quantisers of ggml (quantize_row_*_ref): what a
 * model file is written with, and deterministic. For q8_0/q8_1 use
 * mdl_quant_act_row to convert activations the way the dot products
 * expect. Errors as mdl_dequant_row.
 */
status_t mdl_quant_row(int type, const float *src, void *dst, int64_t n);

/* ------------------------------------------------------------------ */
/* Dot products                                                        */
/* ------------------------------------------------------------------ */

/*
 * Bytes needed to hold n activations converted for dots with weights of
 * type wtype (mdl_row_size of its vec_dot type); 0 if unsupported.
 */
size_t mdl_act_row_size(int wtype, int64_t n);

/*
 * Converts n activations x into the vec_dot type of weight type wtype at
 * dst (mdl_act_row_size(wtype, n) bytes), the way llama.cpp's x86 CPU
 * backend does (q8_0/q8_1: scale 127/amax, rounding to nearest even; q8_K:
 * its reference quantiser), so that dot products see the same integers.
 * Returns ST_UNSUPPORTED / ST_INVAL as mdl_dequant_row.
 */
status_t mdl_quant_act_row(int wtype, const float *x, void *dst, int64_t n);

/*
 * Returns the dot product of a row of n weights of type (w_row) with n
 * activations already converted by mdl_quant_act_row for that type
 * (x_vecdot). n must be a multiple of the block size and type a weight
 * type (mdl_type_info(type)->is_weight); otherwise returns NaN. Uses the
 * kernel of the current dispatch level.
 */
float mdl_vec_dot(int type, int64_t n, const void *w_row, const void *x_vecdot);

/* ------------------------------------------------------------------ */
/* Matrix multiplication                                               */
/* ------------------------------------------------------------------ */

/*
 * Bytes of scratch mdl_matmul needs for n_tokens rows of cols activations
 * with weights of type wtype (the activations converted to the vec_dot
 * type, with per-block figures the kernels use, each row rounded up to 64
 * bytes). 0 for f32 weights (nothing to convert) and for unsupported
 * arguments.
 */
size_t mdl_matmul_scratch_size(int wtype, int64_t cols, int64_t n_tokens);

/*
 * Y = X * W^T for a batch of tokens:
 *   W        rows x cols weights of type wtype, row-major, each row
 *            mdl_row_size(wtype, cols) bytes (borrowed; usually mmapped)
 *   X        n_tokens x cols floats, row-major
 *   Y        n_tokens x rows floats, row-major: Y[t*rows + r] = dot(W[r], X[t])
 *   scratch  at least mdl_matmul_scratch_size(wtype, cols, n_tokens) bytes,
 *            aligned to 4 bytes at least (64 is best; mem_alloc's 16 is
 *            fine); may be NULL when that size is 0.
 * X is converted once into scratch (in parallel over tokens), then rows
 * are split over pool's threads (pool may be NULL: runs on the caller).
 * Allocates nothing. The caller guarantees: wtype is a weight type
 * (mdl_type_info(wtype)->is_weight), cols a multiple of its block size,
 * Y does not overlap X or W. One call at a time per pool.
 */
void mdl_matmul(struct tpool *pool, int wtype, const void *W, int64_t rows,
		int64_t cols, const float *X, int64_t n_tokens, float *Y,
		void *scratch);

/*
 * Several products of the same activations, as Q, K and V, or the gate and
 * up projections, of a layer: X is converted once per activation type and
 * all rows of all products are split over the threads in one parallel-for
 * (one wake-up and one wait instead of one per product). Results are those
 * of mdl_matmul on each op, bit for bit.
 */
#define MDL_MM_MAX_OPS 8

struct mdl_mm_op {
	int wtype;		/* weight type (mdl_type_info(wtype)->is_weight) */
	const void *W;		/* rows x cols weights (borrowed) */
	int64_t rows;
	float *Y;		/* n_tokens x rows outputs */
};

/*
 * Bytes of scratch mdl_matmul_multi needs for ops (1 to MDL_MM_MAX_OPS of
 * them, all cols wide) and n_tokens tokens; 0 when nothing needs
 * converting (all f32) or the arguments are bad.
 */
size_t mdl_matmul_multi_scratch_size(const struct mdl_mm_op *ops, int n_ops,
				     int64_t cols, int64_t n_tokens);

/*
 * Y_i = X * W_i^T for each op i, with X n_tokens x cols floats and scratch
 * of mdl_matmul_multi_scratch_size bytes; otherwise as mdl_matmul (same
 * preconditions, nothing allocated). Does nothing if an op is invalid.
 */
void mdl_matmul_multi(struct tpool *pool, const struct mdl_mm_op *ops, int n_ops,
		      int64_t cols, const float *X, int64_t n_tokens, void *scratch);

/* ------------------------------------------------------------------ */
/* q4_0 repacked in groups of 8 rows (quant_q4x8.c)                    */
/* ------------------------------------------------------------------ */

/*
 * Rewrites rows x cols q4_0 weights (src, row-major, mdl_row_size(q4_0,
 * cols) bytes a row) as MDL_TYPE_Q4_0X8 at dst (the same number of bytes):
 * rows 8g .. 8g+7 become group g. Groups are split over pool's threads
 * (pool may be NULL). ST_INVAL unless rows is a positive multiple of 8 and
 * cols a positive multiple of 32; src and dst must not overlap. The
 * result multiplies through mdl_matmul(MDL_TYPE_Q4_0X8, ...), which needs
 * rows a multiple of 8; the 8 rows' results agree with q4_0's to float
 * rounding (another float order), and a token's result is the same bit
 * for bit alone or in a batch, on any number of threads.
 */
status_t mdl_q4_0_repack(struct tpool *pool, const void *src, void *dst, int64_t rows,
			 int64_t cols);

/*
 * The inverse of mdl_q4_0_repack (for tests and tools): q4_0x8 groups back
 * into plain q4_0 rows. Same preconditions and errors.
 */
status_t mdl_q4_0x8_unpack(const void *src, void *dst, int64_t rows, int64_t cols);

/*
 * Dequantises row r (0 to 7) of one q4_0x8 group of cols columns at group
 * (cols / 32 blocks) into dst: the floats mdl_dequant_row(MDL_TYPE_Q4_0)
 * gives for the row it came from. For looking up rows of a repacked
 * embedding table.
 */
void mdl_q4_0x8_row(const void *group, int r, int64_t cols, float *dst);

/* ------------------------------------------------------------------ */
/* Kernel dispatch                                                     */
/* ------------------------------------------------------------------ */

enum mdl_level {
	MDL_LEVEL_SCALAR = 0,	/* portable C, the reference */
	MDL_LEVEL_AVX2 = 1,	/* AVX2 + FMA + F16C */
	MDL_LEVEL_AVX512 = 2	/* AVX-512 F/BW/VL (+VNNI, BF16 where present) */
};

/* The best level this CPU supports. */
enum mdl_level mdl_quant_level_max(void);
/* The level in use (the best one unless forced). */
enum mdl_level mdl_quant_level(void);
/*
 * Forces the kernels of level (capped at mdl_quant_level_max()) and
 * returns the level now in use. For tests and benchmarks; not to be called
 * while a matmul runs.
 */
enum mdl_level mdl_quant_force_level(enum mdl_level level);
/* "scalar", "avx2", "avx512". */
const char *mdl_level_name(enum mdl_level level);

/* ------------------------------------------------------------------ */
/* Internal to quant*.c: kernel tables                                 */
/* ------------------------------------------------------------------ */

/* Dot of n elements (a multiple of the block size) of two converted rows. */
typedef float (*mdl__vec_dot_fn)(int64_t n, const void *w, const void *x);
/* Conversion of n activations into the vec_dot type. */
typedef void (*mdl__quant_act_fn)(const float *x, void *dst, int64_t n);

/*
 * Dots of one weight row with nt (1 to 4) converted activation rows laid
 * out as in mdl_matmul's scratch (x, x + x_stride, ...), each equal bit for
 * bit to what the type's vec_dot gives, into out[0..nt-1]. The weights are
 * unpacked once for all rows. Rows of q8_0 activations with nb blocks
 * carry, after their blocks at mdl__q8_0_scales_offset(nb), nb floats of
 * the blocks' scales then nb floats of the sums of their values
 * (mdl_matmul writes them once per product rather than every kernel
 * computing them again for every weight row).
 */
typedef void (*mdl__vec_dot_mm_fn)(int64_t n, const void *w, const void *x,
				   size_t x_stride, int nt, float *out);

/*
 * A tile-by-tile matrix product: y[t * y_stride + r] = dot(weight row r,
 * activation row t) for r < nr, t < nt, weight rows w_stride bytes apart
 * and activation rows x_stride apart (laid out as for vec_dot_mm), each
 * result equal bit for bit to what the type's vec_dot_mm gives for it.
 * Weights are loaded once per group of tokens and activations once per
 * group of rows (quant_gemm_x86.h).
 */
typedef void (*mdl__gemm_fn)(int64_t n, const void *w, size_t w_stride, int nr,
			     const void *x, size_t x_stride, int nt, float *y, size_t y_stride);

/*
 * One converted activation row x (laid out as in mdl_matmul's scratch)
 * against nr weight rows w_stride bytes apart: out[r] = the dot of row r
 * with x for r < nr, each equal bit for bit to what the type's vec_dot
 * gives. The decode-time form of the product (one token), taking several
 * rows per pass so that they share the activation loads.
 */
typedef void (*mdl__gemv_fn)(int64_t n, const void *w, size_t w_stride, int nr,
			     const void *x, float *out);

/* Rows of n halves to floats and back (mdl_fp16_to_fp32_row, ...). */
typedef void (*mdl__h2f_fn)(const uint16_t *src, float *dst, int64_t n);
typedef void (*mdl__f2h_fn)(const float *src, uint16_t *dst, int64_t n);

/* Attention over an f16 cache (mdl_f16_dots, mdl_f16_wsum). */
typedef void (*mdl__f16_dots_fn)(int64_t n_pos, int64_t n, const uint16_t *K, size_t stride,
				 int nq, const uint16_t *q, size_t q_stride, float scale,
				 float *out, size_t out_stride);
typedef void (*mdl__f16_wsum_fn)(int64_t n_pos, int64_t n, const uint16_t *V, size_t stride,
				 int nw, const float *w, size_t w_stride, float *o, size_t o_stride);
/* Weighted sums over a q8_0 cache (mdl_q8_0_wsum_n). */
typedef void (*mdl__q8_wsum_fn)(int64_t n_pos, int64_t n, const void *V, size_t stride,
				int nw, const float *w, size_t w_stride, float *o, size_t o_stride);
/* mdl_softmax, mdl_silu_mul */
typedef void (*mdl__softmax_fn)(int64_t n, float *s);
typedef void (*mdl__silu_mul_fn)(int64_t n, float *g, const float *u);

/* Offset of the float scales after n_blocks q8_0 blocks (4-aligned). */
static inline size_t mdl__q8_0_scales_offset(int64_t n_blocks)
{
	return ((size_t)n_blocks * sizeof(struct mdl_block_q8_0) + 3) & ~(size_t)3;
}

/*
 * The eight 6-bit scales and mins of a q4_K/q5_K block, unpacked four at a
 * time from the three 32-bit words of the 12 scale bytes (layout in
 * quant.c, k_scale_min): sc and m each get 8 bytes. Shared by the x86
 * row and tiled kernels.
 */
static inline void mdl__k_unpack(const uint8_t *s, uint8_t sc[8], uint8_t m[8])
{
	uint32_t s0, s1, s2, v[4];

	memcpy(&s0, s, 4);
	memcpy(&s1, s + 4, 4);
	memcpy(&s2, s + 8, 4);
	v[0] = s0 & 0x3f3f3f3fu;
	v[1] = (s2 & 0x0f0f0f0fu) | ((s0 >> 6) & 0x03030303u) << 4;
	v[2] = s1 & 0x3f3f3f3fu;
	v[3] = ((s2 >> 4) & 0x0f0f0f0fu) | ((s1 >> 6) & 0x03030303u) << 4;
	memcpy(sc, v, 8);
	memcpy(m, v + 2, 8);
}

struct mdl__kernels {
	mdl__h2f_fn fp16_to_fp32_row;
	mdl__f2h_fn fp32_to_fp16_row;
	mdl__f16_dots_fn f16_dots;
	mdl__f16_wsum_fn f16_wsum;
	mdl__q8_wsum_fn q8_0_wsum;
	mdl__softmax_fn softmax;
	mdl__silu_mul_fn silu_mul;
	mdl__vec_dot_fn vec_dot[MDL_TYPE_COUNT];	/* by weight type */
	mdl__vec_dot_mm_fn vec_dot_mm[MDL_TYPE_COUNT];	/* optional (NULL) */
	mdl__gemm_fn gemm[MDL_TYPE_COUNT];		/* optional (NULL): 2+ tokens */
	mdl__gemv_fn gemv[MDL_TYPE_COUNT];		/* optional (NULL): 1 token */
	mdl__quant_act_fn quant_act[MDL_TYPE_COUNT];	/* by vec_dot type */
};

/* The scalar q8_K conversion of one block of 256 (for SIMD fallbacks). */
void mdl__act_q8_K_scalar(const float *x, struct mdl_block_q8_K *dst);

/* Fills in the kernels of each level over the ones already in k. */
void mdl__kernels_avx2(struct mdl__kernels *k);
void mdl__kernels_avx512(struct mdl__kernels *k);
/* The tiled products (quant_gemm_*.c) of each level. */
void mdl__kernels_gemm_avx2(struct mdl__kernels *k);
void mdl__kernels_gemm_avx512(struct mdl__kernels *k);
/* The q4_0x8 kernels (quant_q4x8.c) of level, over the ones in k. */
void mdl__kernels_q4x8(struct mdl__kernels *k, enum mdl_level level);

#endif
