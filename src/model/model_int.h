/*
 * model_int.h - structures private to the model module: the loaded model
 * (hyperparameters + pointers to its mapped weights) and the helpers the
 * forward pass shares with the loader and the synthesiser.
 */
#ifndef AIRLOCK_MODEL_INT_H
#define AIRLOCK_MODEL_INT_H

#include "model/model.h"

/* One layer's weights; bias tensors are NULL when absent. */
struct mdl_layer {
	const struct mdl_tensor *attn_norm;	/* (n_embd) f32 */
	const struct mdl_tensor *wq, *wk, *wv;	/* (n_embd) -> (n_head*hd), (n_head_kv*hd) */
	const struct mdl_tensor *bq, *bk, *bv;	/* biases (qwen2: required) */
	const struct mdl_tensor *wo;		/* (n_head*hd) -> (n_embd) */
	const struct mdl_tensor *bo;		/* (n_embd) optional bias */
	const struct mdl_tensor *ffn_norm;	/* (n_embd) f32 */
	const struct mdl_tensor *ffn_gate, *ffn_up;	/* (n_embd) -> (n_ff) */
	const struct mdl_tensor *ffn_down;	/* (n_ff) -> (n_embd) */
	const struct mdl_tensor *ffn_gate_b, *ffn_up_b;	/* (n_ff) optional biases */
	const struct mdl_tensor *ffn_down_b;	/* (n_embd) optional bias */
};

struct mdl_model {
	struct mdl_gguf *gguf;		/* owned */
	struct mdl_hparams hp;
	const struct mdl_tensor *tok_embd;	/* (n_vocab, n_embd) rows */
	const struct mdl_tensor *output_norm;	/* (n_embd) */
	const struct mdl_tensor *output;	/* (n_vocab, n_embd); tok_embd when tied */
	const struct mdl_tensor *rope_freqs;	/* (rope_dim/2) f32 or NULL */
	struct mdl_layer *layers;		/* n_layer */
	int64_t n_params;
	/* q4_0 matrices repacked at load (MDL_TYPE_Q4_0X8): copies of their
	 * tensor infos with type and data replaced, which the layer pointers
	 * above point to; each data buffer owned (mem_alloc) */
	struct mdl_tensor *repacked;		/* n_repacked */
	void **repacked_mem;			/* n_repacked: the allocation
						 * each copy's data sits in */
	int n_repacked;
	/* tied embeddings repacked: the output matrix's copy, from which
	 * mdl__embd_row reads the embedding rows too (so the file's pages
	 * of the table, released after repacking, are never touched again);
	 * NULL when the table was not repacked */
	const void *embd_x8;
};

/*
 * The raw bytes of metadata entry i of g, from its key's length field to
 * the end of its value (borrowed from the file), for the writer's
 * mdl_gguf_writer_copy_kv. ST_INVAL if i is out of range.
 */
status_t mdl__gguf_kv_raw(const struct mdl_gguf *g, size_t i, const uint8_t **p,
			  size_t *n);

/*
 * The file g is mapped from: returns its descriptor and sets *data and
 * *len to the mapping, or returns -1 for a file opened from memory.
 */
int mdl__gguf_map(const struct mdl_gguf *g, const uint8_t **data, size_t *len);

/*
 * The share of the resident bytes of the mapping holding addr that the
 * kernel maps with 2 MB entries (smaps' FilePmdMapped / Rss), or -1 when
 * /proc/self/smaps is unreadable or has no such mapping.
 */
double mdl__mapped_2mb_fraction(const void *addr);

/*
 * Puts the weights m uses in place on 2 MB pages where the kernel allows
 * (pages.c): faults them in through a MADV_HUGEPAGE mapping and, when
 * over a tenth are still on 4 KB pages, drops the file's unmapped cached
 * pages and reads them again. Best effort: nothing here can fail the load.
 */
void mdl__pages_settle(struct mdl_model *m);

/* Converts n elements of one row of a tensor of ggml type `type` to f32.
 * Returns ST_UNSUPPORTED for a type the engine cannot compute with. */
status_t mdl__row_to_f32(uint32_t type, const void *src, float *dst, int64_t n);
/* 1 when the engine computes with weights of this type (as read from a
 * file: the internal repacked type is not one). */
int mdl__type_supported(uint32_t type);
/* quant.h's mdl_q4_0_repack, and the type id of its result. */
status_t mdl__q4_0_repack(struct tpool *pool, const void *src, void *dst, int64_t rows,
			  int64_t cols);
int mdl__q4_0x8_type(void);
/*
 * Converts row id (0 <= id < n_vocab, checked by the caller) of m's token
 * embedding table to n_embd floats at dst: from the repacked copy when
 * there is one, else from the tensor's own rows. ST_UNSUPPORTED for a
 * type the engine cannot compute with.
 */
status_t mdl__embd_row(const struct mdl_model *m, int64_t id, float *dst);

#endif
