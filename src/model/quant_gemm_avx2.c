/*
 * quant_gemm_avx2.c - the tiled matrix products (quant_gemm_x86.h) for
 * CPUs with AVX2, FMA and F16C: q8_0, q4_0, q5_0, q4_K, q5_K and q6_K
 * weights, tiles of up to G_R rows x G_T tokens with VPMADDUBSW +
 * VPMADDWD (16 registers hold the 2 x R x T accumulators and the unpacked
 * weight blocks). quant.c installs these only when the CPU has the
 * features, for products of two tokens or more.
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

#define G_INSTALL mdl__kernels_gemm_avx2
#include "model/quant_gemm_inst.h"

#endif
