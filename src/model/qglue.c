/*
 * qglue.c - the engine's narrow bridge to the tensor formats of quant.h:
 * which weight types the forward pass computes with, and row conversion
 * to f32 (embedding rows, norm weights, biases).
 */
#include "model/model_int.h"
#include "model/quant.h"

int mdl__type_supported(uint32_t type)
{
	const struct mdl_type_info *ti = type < MDL_TYPE_COUNT ? mdl_type_info((int)type) : NULL;
	return ti && ti->is_weight;
}

status_t mdl__row_to_f32(uint32_t type, const void *src, float *dst, int64_t n)
{
	if (!mdl__type_supported(type))
		return ST_UNSUPPORTED;
	return mdl_dequant_row((int)type, src, dst, n);
}
