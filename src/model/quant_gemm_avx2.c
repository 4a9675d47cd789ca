/*
 * quant_gemm_avx2.c - the tiled matrix products (quant_gemm_x86.h) for
 * CPUs with AVX2, FMA and F16C: q8_0, q4_0 and q5_0 weights, tiles of up
 * to G_R rows x G_T tokens with VPMADDUBSW + VPMADDWD (16 registers hold
 * the 2 x R x T accumulators and the unpacked weight blocks). quant.c
 * installs these only when the CPU has the features, for products of two
 * tokens or more.
 */
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#define GTARGET __attribute__((target("avx2,fma,f16c")))
#define G_VNNI 0
#define G_R 2
#define G_T 2

#include "model/quant_gemm_x86.h"

#include "model/quant_gemm_tiles.h"

static const size_t gemm_q8_0_bytes = sizeof(struct mdl_block_q8_0);
static const size_t gemm_q4_0_bytes = sizeof(struct mdl_block_q4_0);
static const size_t gemm_q5_0_bytes = sizeof(struct mdl_block_q5_0);
static const size_t gemm_q4_K_bytes = sizeof(struct mdl_block_q4_K);

G_TYPE(gemm_q8_0, MDL_TYPE_Q8_0)
G_TYPE(gemm_q4_0, MDL_TYPE_Q4_0)
G_TYPE(gemm_q5_0, MDL_TYPE_Q5_0)
G_TYPE(gemm_q4_K, MDL_TYPE_Q4_K)

void mdl__kernels_gemm_avx2(struct mdl__kernels *k)
{
	k->gemm[MDL_TYPE_Q8_0] = gemm_q8_0;
	k->gemm[MDL_TYPE_Q4_0] = gemm_q4_0;
	k->gemm[MDL_TYPE_Q5_0] = gemm_q5_0;
	k->gemm[MDL_TYPE_Q4_K] = gemm_q4_K;
}

#endif
