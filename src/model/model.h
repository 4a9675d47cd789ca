/*
 * model.h - the model module's public interface: GGUF files (read and
 * write), model loading, the forward pass with its KV cache, and (from the
 * other files of this folder) tokenizers, sampling and generation.
 *
 * GGUF file layout (v2 and v3; all integers little-endian):
 *
 *   | field            | type                | notes                          |
 *   | ---------------- | ------------------- | ------------------------------ |
 *   | magic            | 4 bytes "GGUF"      |                                |
 *   | version          | u32                 | 2 or 3 (1 used u32 counts)     |
 *   | n_tensors        | u64                 |                                |
 *   | n_kv             | u64                 |                                |
 *   | kv[n_kv]         | string key, u32 vtype, value                         |
 *   | tensor[n_tensors]| string name, u32 n_dims, u64 ne[n_dims], u32 type,   |
 *   |                  | u64 offset (relative to the data section, aligned)   |
 *   | padding          | to general.alignment (u32, default 32)               |
 *   | data             | tensor bytes                                         |
 *
 *   string = u64 length + bytes (not NUL-terminated);
 *   array value = u32 element vtype + u64 count + elements (may nest).
 *
 * Every count, length, offset and dimension is checked against the file
 * length and for overflow before it is used; see gguf.c.
 */
#ifndef AIRLOCK_MODEL_H
#define AIRLOCK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------ */
/* GGUF reading                                                        */
/* ------------------------------------------------------------------ */

/* Metadata value types, with their GGUF ids. */
enum mdl_gguf_vtype {
	MDL_GGUF_U8 = 0,
	MDL_GGUF_I8 = 1,
	MDL_GGUF_U16 = 2,
	MDL_GGUF_I16 = 3,
	MDL_GGUF_U32 = 4,
	MDL_GGUF_I32 = 5,
	MDL_GGUF_F32 = 6,
	MDL_GGUF_BOOL = 7,
	MDL_GGUF_STRING = 8,
	MDL_GGUF_ARRAY = 9,
	MDL_GGUF_U64 = 10,
	MDL_GGUF_I64 = 11,
	MDL_GGUF_F64 = 12,
};

/* Tensor element types, with their ggml ids (the ones GGUF files use). */
enum mdl_ggml_type {
	MDL_GGML_F32 = 0,
	MDL_GGML_F16 = 1,
	MDL_GGML_Q4_0 = 2,
	MDL_GGML_Q4_1 = 3,
	MDL_GGML_Q5_0 = 6,
	MDL_GGML_Q5_1 = 7,
	MDL_GGML_Q8_0 = 8,
	MDL_GGML_Q8_1 = 9,
	MDL_GGML_Q2_K = 10,
	MDL_GGML_Q3_K = 11,
	MDL_GGML_Q4_K = 12,
	MDL_GGML_Q5_K = 13,
	MDL_GGML_Q6_K = 14,
	MDL_GGML_Q8_K = 15,
	MDL_GGML_BF16 = 30,
};

/* Largest number of dimensions of a tensor (as ggml). */
#define MDL_MAX_DIMS 4

/* One tensor of an opened file. All pointers borrowed from the mdl_gguf. */
struct mdl_tensor {
	const char *name;	/* NUL-terminated copy of the name */
	uint32_t type;		/* ggml type id (enum mdl_ggml_type or other) */
	uint32_t n_dims;	/* 1..MDL_MAX_DIMS */
	int64_t ne[MDL_MAX_DIMS];	/* elements per dim; ne[0] innermost; unused dims 1 */
	uint64_t offset;	/* byte offset in the data section */
	size_t size;		/* bytes */
	const void *data;	/* in the mapped file (read-only) */
};

struct mdl_gguf;	/* an opened file: metadata + tensor index, data mapped */

/*
 * Opens and validates the GGUF file at path; the file is memory-mapped
 * read-only and stays mapped until mdl_gguf_free. Errors: ST_IO (cannot
 * open or map), ST_CORRUPT (malformed: the message names the key, tensor
 * or byte offset), ST_UNSUPPORTED (version or tensor type we do not know),
 * ST_NOMEM. *out is freed with mdl_gguf_free.
 */
status_t mdl_gguf_open(const char *path, struct mdl_gguf **out, struct err *e);
/*
 * As mdl_gguf_open, over len bytes at data, which are borrowed: they must
 * outlive the returned object. For tests and fuzzing.
 */
status_t mdl_gguf_open_mem(const void *data, size_t len, struct mdl_gguf **out,
			   struct err *e);
/* Frees g and unmaps its file; NULL is accepted. */
void mdl_gguf_free(struct mdl_gguf *g);

/* File format version (2 or 3). */
uint32_t mdl_gguf_version(const struct mdl_gguf *g);
/* Data alignment in bytes (general.alignment or 32). */
size_t mdl_gguf_alignment(const struct mdl_gguf *g);
/* Size of the whole file in bytes. */
size_t mdl_gguf_file_size(const struct mdl_gguf *g);

/* Number of metadata entries; entry i's key (NUL-terminated, borrowed) and type. */
size_t mdl_gguf_n_kv(const struct mdl_gguf *g);
const char *mdl_gguf_key(const struct mdl_gguf *g, size_t i);
enum mdl_gguf_vtype mdl_gguf_kv_type(const struct mdl_gguf *g, size_t i);

/* Returns the index of key, or -1 if absent. */
int64_t mdl_gguf_find(const struct mdl_gguf *g, const char *key);
/*
 * Typed getters. Absent key: ST_NOTFOUND (with a message naming it).
 * Wrong type: ST_CORRUPT naming the key and both types. get_int accepts
 * every integer type and bool (u64 values above INT64_MAX are ST_CORRUPT);
 * get_float accepts f32, f64 and integers.
 */
status_t mdl_gguf_get_int(const struct mdl_gguf *g, const char *key,
			  int64_t *out, struct err *e);
status_t mdl_gguf_get_float(const struct mdl_gguf *g, const char *key,
			    double *out, struct err *e);
status_t mdl_gguf_get_bool(const struct mdl_gguf *g, const char *key, int *out,
			   struct err *e);
/* *s is borrowed from the file and NOT NUL-terminated; *len its length. */
status_t mdl_gguf_get_str(const struct mdl_gguf *g, const char *key,
			  const char **s, size_t *len, struct err *e);
/* Element type and count of an array value. */
status_t mdl_gguf_get_arr(const struct mdl_gguf *g, const char *key,
			  enum mdl_gguf_vtype *elem, size_t *n, struct err *e);
/* Element i of an array (i out of range: ST_INVAL). Strings borrowed. */
status_t mdl_gguf_arr_str(const struct mdl_gguf *g, const char *key, size_t i,
			  const char **s, size_t *len, struct err *e);
status_t mdl_gguf_arr_int(const struct mdl_gguf *g, const char *key, size_t i,
			  int64_t *out, struct err *e);
status_t mdl_gguf_arr_float(const struct mdl_gguf *g, const char *key, size_t i,
			    double *out, struct err *e);

/* Number of tensors and tensor i (borrowed; NULL when i is out of range). */
size_t mdl_gguf_n_tensors(const struct mdl_gguf *g);
const struct mdl_tensor *mdl_gguf_tensor(const struct mdl_gguf *g, size_t i);
/* The tensor called name, or NULL. */
const struct mdl_tensor *mdl_gguf_tensor_find(const struct mdl_gguf *g,
					      const char *name);

/*
 * ggml type facts known to the reader (every type a GGUF file may hold,
 * whether or not the engine computes with it): name ("q4_K"), elements
 * per block and bytes per block. Returns 0 for an unknown id.
 */
int mdl_ggml_type_known(uint32_t type);
const char *mdl_ggml_type_name(uint32_t type);
int64_t mdl_ggml_type_block(uint32_t type);
int64_t mdl_ggml_type_size(uint32_t type);

/* Names a value type ("u32", "string"); "?" for unknown ids. */
const char *mdl_gguf_vtype_name(uint32_t t);

/* ------------------------------------------------------------------ */
/* GGUF writing (streamed: metadata first, then tensor data in order)  */
/* ------------------------------------------------------------------ */

struct mdl_gguf_writer;

/*
 * Starts a GGUF v3 file at path (written to path.tmp and renamed into
 * place by mdl_gguf_writer_finish). *out is freed by finish or abort.
 */
status_t mdl_gguf_writer_new(const char *path, struct mdl_gguf_writer **out,
			     struct err *e);
/*
 * Metadata setters: keys are copied; call before the first tensor data.
 * A key given twice is refused with ST_EXISTS (the writer stays usable).
 */
status_t mdl_gguf_writer_set_u32(struct mdl_gguf_writer *w, const char *key,
				 uint32_t v);
status_t mdl_gguf_writer_set_i32(struct mdl_gguf_writer *w, const char *key,
				 int32_t v);
status_t mdl_gguf_writer_set_f32(struct mdl_gguf_writer *w, const char *key,
				 float v);
status_t mdl_gguf_writer_set_bool(struct mdl_gguf_writer *w, const char *key,
				  int v);
status_t mdl_gguf_writer_set_str(struct mdl_gguf_writer *w, const char *key,
				 const char *s, size_t len);
/*
 * Copies metadata entry i of src (any type, arrays included) into w; the
 * bytes are copied at once, src may be freed afterwards.
 */
status_t mdl_gguf_writer_copy_kv(struct mdl_gguf_writer *w,
				 const struct mdl_gguf *src, size_t i);
/*
 * Declares a tensor (in the order its data will be written). ne has
 * n_dims entries. Fails with ST_INVAL if ne[0] is not a multiple of the
 * type's block size.
 */
status_t mdl_gguf_writer_add_tensor(struct mdl_gguf_writer *w, const char *name,
				    uint32_t type, uint32_t n_dims,
				    const int64_t *ne);
/*
 * Appends data bytes for the current tensor (the first call writes the
 * header). Tensors are filled in declaration order; a tensor may take
 * several calls; when a tensor's bytes are complete the next call starts
 * the next tensor (after alignment padding).
 */
status_t mdl_gguf_writer_write(struct mdl_gguf_writer *w, const void *p,
			       size_t n, struct err *e);
/* Checks every tensor was filled, fsyncs and renames into place; frees w. */
status_t mdl_gguf_writer_finish(struct mdl_gguf_writer *w, struct err *e);
/* Discards the partial file and frees w; NULL is accepted. */
void mdl_gguf_writer_abort(struct mdl_gguf_writer *w);

/* ------------------------------------------------------------------ */
/* Synthetic models                                                    */
/* ------------------------------------------------------------------ */

struct mdl_synth_params {
	const char *arch;	/* "llama" or "qwen2" */
	int n_layer, n_embd, n_head, n_head_kv, n_ff;
	int n_ctx;		/* context_length metadata; 0 picks 2048 */
	uint32_t type;		/* ggml type of the 2-D weight matrices */
	int mix;		/* MDL_SYNTH_MIX_*: a per-tensor mix instead of one type */
	uint64_t seed;
	const char *vocab_from;	/* GGUF whose tokenizer.ggml.* is copied */
	int tied_output;	/* qwen2 only: no output.weight */
	double rope_base;	/* rope.freq_base; 0 picks 10000 (llama), 1e6 (qwen2) */
	double rope_scale;	/* linear RoPE scaling factor; 0 or 1: none */
	int rope_freqs;		/* llama only: write rope_freqs.weight (Llama 3 style) */
	int biases;		/* llama only: the optional attention and FFN biases */
};

/*
 * The mixes of llama.cpp's K-quant presets (its quantiser's rules for
 * dense llama/qwen2 models): Q4_K_M and Q5_K_M give q6_K to the output
 * matrix (the token embedding when it is tied; q8_0 when its rows are not
 * a multiple of 256) and to attn_v and ffn_down of the first and last
 * eighth of the layers and every third one between; everything else
 * q4_K / q5_K. Rows that are no multiple of 256 fall back as in
 * fallback: q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0. With a mix, type
 * is ignored.
 */
enum { MDL_SYNTH_MIX_NONE, MDL_SYNTH_MIX_Q4_K_M, MDL_SYNTH_MIX_Q5_K_M };

/*
 * Writes a model with seeded random weights to path, streamed (memory use
 * is a few rows, whatever the model size). The same params give the same
 * bytes. Errors: ST_INVAL (bad shape or type), ST_IO, plus those of
 * opening vocab_from.
 */
status_t mdl_synth_write(const struct mdl_synth_params *p, const char *path,
			 struct err *e);

/* ------------------------------------------------------------------ */
/* Model and forward pass                                              */
/* ------------------------------------------------------------------ */

enum mdl_arch { MDL_ARCH_LLAMA, MDL_ARCH_QWEN2 };

/* Hyperparameters read from the metadata. */
struct mdl_hparams {
	enum mdl_arch arch;
	int n_vocab;
	int n_ctx_train;
	int n_embd;		/* model width */
	int n_layer;
	int n_head;
	int n_head_kv;
	int n_ff;
	int head_dim;		/* n_embd / n_head, or attention.key_length */
	float norm_eps;		/* RMSNorm epsilon */
	float rope_freq_base;
	float rope_freq_scale;	/* 1 / linear scaling factor */
	int rope_neox;		/* 1: NeoX (halves) ordering; 0: interleaved pairs */
	int rope_dim;		/* dims rotated (rope.dimension_count or head_dim) */
};

struct mdl_model;
struct mdl_ctx;

/*
 * Opens the GGUF at path, reads and checks the hyperparameters and the
 * tensors the architecture needs (names, shapes, types). Weights stay
 * memory-mapped. Errors: ST_CORRUPT / ST_UNSUPPORTED naming the key or
 * tensor, plus those of mdl_gguf_open. Freed with mdl_model_free.
 */
status_t mdl_model_load(const char *path, struct mdl_model **out, struct err *e);
/*
 * As mdl_model_load over an already opened file, which the model then owns
 * (it is freed here on failure too).
 */
status_t mdl_model_from_gguf(struct mdl_gguf *g, struct mdl_model **out,
			     struct err *e);

/*
 * Loading options; zero-initialised is the default. By default q4_0 weight
 * matrices with a multiple of 8 rows are repacked at load time into groups
 * of 8 interleaved rows (faster products; the file's pages of those
 * tensors are then released, so memory use stays that of the file), unless
 * the environment has AIRLOCK_MODEL_REPACK=0. A model loaded from a path
 * also has the weights it uses in place faulted in on 2 MB pages where the
 * kernel allows, re-reading the file's cached pages once when over a tenth
 * sit on 4 KB pages (decode reads all weights per token, a few per cent
 * faster on 2 MB pages; docs/internals/quant.md), unless the environment
 * has AIRLOCK_MODEL_HUGEPAGES=0. mdl_model_load and mdl_model_from_gguf
 * consult the environment; the _params forms do not.
 */
struct mdl_load_params {
	int no_repack;		/* 1: weights stay as in the file */
	int no_hugepages;	/* 1: the file's page cache is left as it is */
};
/*
 * mdl_model_load / mdl_model_from_gguf with options p (NULL: defaults,
 * the environment not consulted). Same ownership and errors.
 */
status_t mdl_model_load_params(const char *path, const struct mdl_load_params *p,
			       struct mdl_model **out, struct err *e);
status_t mdl_model_from_gguf_params(struct mdl_gguf *g, const struct mdl_load_params *p,
				    struct mdl_model **out, struct err *e);
/*
 * The share of the weights' resident file pages that the kernel maps with
 * 2 MB entries, 0..1, or -1 when it cannot tell (no /proc/self/smaps, or
 * a model opened from memory).
 */
double mdl_model_weights_2mb_fraction(const struct mdl_model *m);
/* Number of weight matrices of m repacked at load (0 with no_repack). */
int mdl_model_n_repacked(const struct mdl_model *m);
/* Frees m and unmaps its file; NULL is accepted. Contexts go first. */
void mdl_model_free(struct mdl_model *m);
/* The model's file (borrowed; lives as long as m). */
const struct mdl_gguf *mdl_model_gguf(const struct mdl_model *m);
/* The hyperparameters (borrowed; live as long as m). */
const struct mdl_hparams *mdl_model_hparams(const struct mdl_model *m);
/* Vocabulary size (rows of token_embd.weight). */
int mdl_model_n_vocab(const struct mdl_model *m);
/* Context length the model was trained with (<arch>.context_length). */
int mdl_model_n_ctx_train(const struct mdl_model *m);
/* Total number of weight elements. */
int64_t mdl_model_n_params(const struct mdl_model *m);
/* "llama", "qwen2". */
const char *mdl_arch_name(enum mdl_arch a);

/*
 * An evaluation context: f32 KV cache for n_ctx positions of one sequence
 * and scratch buffers for batches of up to 256 tokens, all allocated here
 * once; n_threads workers (<= 0: all CPUs). The model must outlive it.
 * Errors: ST_INVAL (n_ctx out of 1..2^20), ST_NOMEM. Freed with
 * mdl_ctx_free (NULL accepted).
 */
status_t mdl_ctx_new(struct mdl_model *m, int n_ctx, int n_threads,
		     struct mdl_ctx **out, struct err *e);

/* Options of a context; zero-initialise and set what you need. */
struct mdl_ctx_params {
	int n_ctx;		/* positions in the KV cache (required) */
	int n_threads;		/* <= 0: all CPUs */
	int n_batch;		/* tokens per internal batch; 0: min(n_ctx, 256) */
	int kv_f16;		/* 1: KV cache in f16 (half the memory and bytes
				 * read; numbers as llama.cpp's default cache) */
	int kv_q8;		/* 1: KV cache in q8_0, blocks of 32 values with
				 * an f16 scale (34 bytes per 32: 0.53 of f16),
				 * written and read as llama.cpp's q8_0 cache
				 * (-ctk q8_0 -ctv q8_0); over kv_f16. ST_INVAL
				 * when head_dim is not a multiple of 32 */
	int n_seq;		/* sequences (KV slots) of n_ctx positions; 0: 1 */
	int flash;		/* 1: one-pass attention (online softmax); with
				 * kv_f16 its accumulator is f16, as llama.cpp's
				 * flash attention computes */
};
/*
 * Sets p's KV cache element type from its name, as the command line and
 * the configuration give it: "f16" (kv_f16), "f32" (neither) or "q8_0"
 * (kv_q8). ST_INVAL, p unchanged, for any other name or NULL.
 */
status_t mdl_ctx_params_set_kv(struct mdl_ctx_params *p, const char *name);
/* As mdl_ctx_new with all options. */
status_t mdl_ctx_new_params(struct mdl_model *m, const struct mdl_ctx_params *p,
			    struct mdl_ctx **out, struct err *e);
/* Frees c (cache, scratch, threads); NULL is accepted. */
void mdl_ctx_free(struct mdl_ctx *c);
/* Positions per sequence, and number of sequences, of c. */
int mdl_ctx_n_ctx(const struct mdl_ctx *c);
int mdl_ctx_n_seq(const struct mdl_ctx *c);
/* Number of positions sequence seq holds in the cache (0 if out of range). */
int mdl_ctx_seq_len(const struct mdl_ctx *c, int seq);
/* Forgets positions n.. of sequence seq (n >= its length: no change). */
status_t mdl_ctx_seq_keep(struct mdl_ctx *c, int seq, int n, struct err *e);
/*
 * Makes sequence dst hold a copy of the first n positions of src (prompt
 * prefix reuse); dst's later positions are forgotten. ST_INVAL when a
 * sequence is out of range or n exceeds src's length.
 */
status_t mdl_ctx_seq_copy(struct mdl_ctx *c, int src, int dst, int n, struct err *e);

/*
 * Evaluates tokens[0..n) at positions pos..pos+n-1 of sequence 0 (the
 * cache must hold positions 0..pos-1 from earlier calls; later positions
 * are forgotten). Writes n_vocab logits of the last token to logits, or
 * with all_logits n * n_vocab (token-major). Batches larger than the
 * context's scratch are split internally. Errors: ST_INVAL (token id out
 * of range, pos + n > n_ctx, n <= 0). Allocates nothing.
 */
status_t mdl_eval(struct mdl_ctx *c, const int32_t *tokens, int n, int pos,
		  float *logits, int all_logits, struct err *e);

/*
 * A batch of tokens of several sequences (all arrays of n entries): token
 * i belongs to sequence seq[i] (NULL: all 0) at position pos[i]; logits[i]
 * != 0 asks for its logits (logits NULL: none). Within a batch each sequence's tokens must
 * continue it at consecutive positions (the first at most its current
 * length; positions after it are forgotten).
 */
struct mdl_batch {
	int n;
	const int32_t *token;
	const int32_t *seq;
	const int32_t *pos;
	const int8_t *logits;
};

/*
 * Evaluates a batch: the matrix products run over all its tokens at once,
 * attention over each token's own sequence. Writes n_vocab floats for each
 * token that asked, in batch order. Errors (ST_INVAL naming the index):
 * token, sequence or position out of range or out of order; nothing is
 * evaluated then. Allocates nothing.
 */
status_t mdl_eval_batch(struct mdl_ctx *c, const struct mdl_batch *b, float *logits,
			struct err *e);

/* Tokenizers, sampling, FIM and chat prompts, generation. */
#include "model/model_tok.h"

#endif
