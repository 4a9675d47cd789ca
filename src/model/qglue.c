/*
 * qglue.c - the forward pass's bridge to the quantised tensor formats.
 * Until the quantised kernels are wired in, no quantised type is
 * computed with (the loader reports ST_UNSUPPORTED naming the tensor).
 */
#include "model/model_int.h"

int mdl__quant_supported(uint32_t type)
{
	(void)type;
	return 0;
}

status_t mdl__quant_row_to_f32(uint32_t type, const void *src, float *dst, int64_t n)
{
	(void)src;
	(void)dst;
	(void)n;
	(void)type;
	return ST_UNSUPPORTED;
}
