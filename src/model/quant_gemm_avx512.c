/*
 * quant_gemm_avx512.c - the tiled matrix products (quant_gemm_x86.h) for
 * CPUs with AVX-512 VNNI: q8_0, q4_0, q5_0, q4_K, q5_K and q6_K weights,
 * tiles of up to G_R rows x G_T tokens with VPDPBUSD (VPDPWSSD for the
 * K-types) on 256-bit registers (the 32 registers of AVX-512 hold the
 * 2 x R x T accumulators; 512-bit operations gain nothing on CPUs that
 * split them in two). quant.c installs these only when the CPU has the
 * features, for products of two tokens or more.
 */
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#define GTARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define G_VNNI 1
#ifndef G_R
#define G_R 2
#define G_T 4
#endif

#include "model/quant_gemm_x86.h"

#include "model/quant_gemm_tiles.h"

#define G_INSTALL mdl__kernels_gemm_avx512
#include "model/quant_gemm_inst.h"

#endif
