/*
 * qglue.c - the engine's narrow bridge to the tensor formats of quant.h:
 * which weight types the forward pass computes with, and row conversion
 * to f32 (embedding rows, norm weights, biases).
 */
#include "model/model_int.h"
#include "model/quant.h"

#include <pthread.h>

int mdl__type_supported(uint32_t type)
{
	const struct mdl_type_info *ti = type < MDL_TYPE_COUNT ? mdl_type_info((int)type) : NULL;
	return ti && ti->is_weight && !ti->internal;
}

/*
 * Tied embedding tables whose rows were repacked (model.c): the forward
 * pass looks up embedding rows as q4_0 rows at table + id * row_bytes, so
 * a repacked table keeps type q4_0 and its address range is registered
 * here; a row address inside one is read from its group. (The rows of the
 * file are then never touched again, so their pages do not come back.)
 * A handful of models at most are loaded at once.
 */
#define EMBD_MAX 16

static struct embd_table {
	const uint8_t *base;	/* group 0; NULL: free slot */
	size_t size;		/* bytes */
	size_t row_bytes;	/* of one q4_0 row */
	int64_t cols;
} embd_tables[EMBD_MAX];
static pthread_mutex_t embd_mu = PTHREAD_MUTEX_INITIALIZER;

int mdl__embd_register(const void *base, size_t size, int64_t cols)
{
	int ok = 0;
	pthread_mutex_lock(&embd_mu);
	for (int i = 0; i < EMBD_MAX && !ok; i++)
		if (!embd_tables[i].base) {
			embd_tables[i] = (struct embd_table){ base, size,
							      mdl_row_size(MDL_TYPE_Q4_0, cols), cols };
			ok = 1;
		}
	pthread_mutex_unlock(&embd_mu);
	return ok;
}

void mdl__embd_unregister(const void *base)
{
	pthread_mutex_lock(&embd_mu);
	for (int i = 0; i < EMBD_MAX; i++)
		if (embd_tables[i].base == base)
			embd_tables[i].base = NULL;
	pthread_mutex_unlock(&embd_mu);
}

status_t mdl__row_to_f32(uint32_t type, const void *src, float *dst, int64_t n)
{
	if (!mdl__type_supported(type))
		return ST_UNSUPPORTED;
	if (type == MDL_TYPE_Q4_0) {
		struct embd_table t = { 0 };
		const uint8_t *p = src;
		pthread_mutex_lock(&embd_mu);
		for (int i = 0; i < EMBD_MAX; i++)
			if (embd_tables[i].base && p >= embd_tables[i].base &&
			    p < embd_tables[i].base + embd_tables[i].size)
				t = embd_tables[i];
		pthread_mutex_unlock(&embd_mu);
		if (t.base) {
			size_t row = (size_t)(p - t.base) / t.row_bytes;
			if (n != t.cols)
				return ST_INVAL;
			mdl_q4_0x8_row(t.base + row / 8 * 8 * t.row_bytes, (int)(row % 8), n, dst);
			return ST_OK;
		}
	}
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
