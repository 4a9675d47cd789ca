/*
 * fuzz_gguf.c - libFuzzer target: the GGUF reader and the model loader.
 * Opens the input as a GGUF file in memory, then reads every metadata
 * value through the typed getters and every tensor's bytes, and tries to
 * load it as a model (without evaluating it).
 */
#include "model/model.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mdl_gguf *g;
	struct err e;
	volatile uint64_t sink = 0;

	if (mdl_gguf_open_mem(data, size, &g, &e) != ST_OK)
		return 0;
	for (size_t i = 0; i < mdl_gguf_n_kv(g); i++) {
		const char *key = mdl_gguf_key(g, i);
		int64_t v;
		double d;
		int b;
		const char *s;
		size_t n;
		enum mdl_gguf_vtype et;
		if (mdl_gguf_get_int(g, key, &v, NULL) == ST_OK)
			sink += (uint64_t)v;
		if (mdl_gguf_get_float(g, key, &d, NULL) == ST_OK)
			sink += (uint64_t)(d == d);
		if (mdl_gguf_get_bool(g, key, &b, NULL) == ST_OK)
			sink += (uint64_t)b;
		if (mdl_gguf_get_str(g, key, &s, &n, NULL) == ST_OK && n)
			sink += (uint8_t)s[n - 1];
		if (mdl_gguf_get_arr(g, key, &et, &n, NULL) == ST_OK) {
			for (size_t k = 0; k < n && k < 4096; k++) {
				if (mdl_gguf_arr_str(g, key, k, &s, &n, NULL) == ST_OK && n)
					sink += (uint8_t)s[0] + (uint8_t)s[n - 1];
				if (mdl_gguf_arr_int(g, key, k, &v, NULL) == ST_OK)
					sink += (uint64_t)v;
				if (mdl_gguf_arr_float(g, key, k, &d, NULL) == ST_OK)
					sink += (uint64_t)(d == d);
				mdl_gguf_get_arr(g, key, &et, &n, NULL);
			}
		}
	}
	for (size_t i = 0; i < mdl_gguf_n_tensors(g); i++) {
		const struct mdl_tensor *t = mdl_gguf_tensor(g, i);
		if (mdl_gguf_tensor_find(g, t->name) != t)
			__builtin_trap();
		if (t->size)
			sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
	}
	struct mdl_model *m;
	if (mdl_model_from_gguf(g, &m, &e) == ST_OK) {	/* takes g */
		const struct mdl_hparams *hp = mdl_model_hparams(m);
		struct mdl_ctx *c;
		if (hp->n_layer <= 2 && hp->n_embd <= 64 && hp->n_ff <= 128 && hp->n_vocab <= 64 &&
		    (int64_t)hp->n_head * hp->head_dim <= 256 &&
		    mdl_ctx_new(m, 4, 1, &c, &e) == ST_OK) {
			static float logits[2 * 64];
			int32_t toks[2] = { 0, hp->n_vocab - 1 };
			if (mdl_eval(c, toks, 2, 0, logits, 1, &e) == ST_OK)
				sink += (uint64_t)(logits[0] == logits[0]);
			mdl_ctx_free(c);
		}
		mdl_model_free(m);
	}
	(void)sink;
	return 0;
}
