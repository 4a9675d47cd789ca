/*
 * quant_avx512.c - AVX-512 (F/BW/VL with VNNI) kernels of the tensor
 * types, built with target attributes and chosen at run time by quant.c.
 */
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)

void mdl__kernels_avx512(struct mdl__kernels *k)
{
	(void)k;
}

#endif
