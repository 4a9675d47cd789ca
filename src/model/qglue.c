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
	return ti && ti->is_weight && !ti->internal;
}

status_t mdl__row_to_f32(uint32_t type, const void *src, float *dst, int64_t n)
{
	if (!mdl__type_supported(type))
		return ST_UNSUPPORTED;
	return mdl_dequant_row((int)type, src, dst, n);
}

status_t mdl__q4_0_repack(struct tpool *pool, const void *src, void *dst, int64_t rows,
			  int64_t cols)
{
	return mdl_q4_0_repack(pool, src, dst, rows, cols);
}

int mdl__q4_0x8_type(void)
{
	return MDL_TYPE_Q4_0X8;
}

status_t mdl__embd_row(const struct mdl_model *m, int64_t id, float *dst)
{
	const struct mdl_tensor *t = m->tok_embd;
	int64_t cols = t->ne[0];
	size_t row_bytes = mdl_row_size((int)t->type, cols);
	if (m->embd_x8) {
		mdl_q4_0x8_row((const uint8_t *)m->embd_x8 + (size_t)(id / 8) * 8 * row_bytes,
			       (int)(id % 8), cols, dst);
		return ST_OK;
	}
	return mdl__row_to_f32(t->type, (const uint8_t *)t->data + (size_t)id * row_bytes, dst, cols);
}
