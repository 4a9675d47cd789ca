/*
 * quant_avx2.c - AVX2 + FMA + F16C kernels of the tensor types. Each
 * function carries a target attribute, so the file builds without any
 * -m flag and the code only runs when quant.c finds those features.
 */
#include "model/quant.h"

#if defined(__x86_64__) || defined(__i386__)

void mdl__kernels_avx2(struct mdl__kernels *k)
{
	(void)k;
}

#endif
