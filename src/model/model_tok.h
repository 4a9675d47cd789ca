/*
 * model_tok.h - the text side of the model module: vocabularies and their
 * tokenizers (SentencePiece-style "llama" and byte-level BPE "gpt2" with
 * per-model regex pre-tokenizers), detokenisation, sampling, stop strings
 * across token boundaries, FIM prompts and chat templates.
 *
 * Included from model.h; declared here so that the tokenizer can be used
 * (and tested) from plain arrays before any model file is involved.
 *
 * Token ids are int32_t; MDL_TOKEN_NULL (-1) means "no such token".
 * A vocabulary does not change once built: any number of threads may
 * tokenize and detokenize with it at once. Samplers and streams belong to
 * one thread (one request) each.
 */
#ifndef AIRLOCK_MODEL_TOK_H
#define AIRLOCK_MODEL_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct mdl_gguf;

#define MDL_TOKEN_NULL (-1)

/*
 * Largest text mdl_tokenize accepts, bytes (ST_LIMIT beyond): some two
 * million tokens, past any context window, while keeping the work space
 * of the SentencePiece merges (tens of bytes per character) bounded.
 */
#define MDL_TOKENIZE_MAX_BYTES ((size_t)8 << 20)

/* ------------------------------------------------------------------ */
/* Vocabulary                                                          */
/* ------------------------------------------------------------------ */

enum mdl_vocab_kind {
	MDL_VOCAB_SPM = 1,	/* tokenizer.ggml.model "llama": score merges, byte fallback */
	MDL_VOCAB_BPE = 2,	/* tokenizer.ggml.model "gpt2": byte-level BPE with merges */
};

/* Token types, numbered as tokenizer.ggml.token_type stores them. */
enum mdl_token_type {
	MDL_TOKEN_UNDEFINED = 0,
	MDL_TOKEN_NORMAL = 1,
	MDL_TOKEN_UNKNOWN = 2,
	MDL_TOKEN_CONTROL = 3,
	MDL_TOKEN_USER_DEFINED = 4,
	MDL_TOKEN_UNUSED = 5,
	MDL_TOKEN_BYTE = 6,
};

/* Roles of special tokens. */
enum mdl_special {
	MDL_SPECIAL_BOS,
	MDL_SPECIAL_EOS,
	MDL_SPECIAL_EOT,	/* end of turn (<|im_end|>, <|eot_id|>, <EOT>) */
	MDL_SPECIAL_EOM,	/* end of message (<|eom_id|>) */
	MDL_SPECIAL_UNK,
	MDL_SPECIAL_SEP,
	MDL_SPECIAL_PAD,
	MDL_SPECIAL_FIM_PRE,	/* FIM prefix (<|fim_prefix|>, ▁<PRE>, ...) */
	MDL_SPECIAL_FIM_SUF,
	MDL_SPECIAL_FIM_MID,
	MDL_SPECIAL_FIM_PAD,
	MDL_SPECIAL_FIM_REP,	/* repository name (<|repo_name|>) */
	MDL_SPECIAL_FIM_SEP,	/* file separator (<|file_sep|>) */
	MDL_SPECIAL__COUNT
};

/* In mdl_vocab_spec.special[]: keep the model kind's default / detect by text. */
#define MDL_SPEC_UNSET (-2)

/*
 * A vocabulary described by arrays, as tokenizer.ggml.* stores it. All
 * pointers are borrowed for the duration of mdl_vocab_new only.
 */
struct mdl_vocab_spec {
	const char *model;		/* "llama" or "gpt2" */
	const char *pre;		/* pre-tokenizer name (tokenizer.ggml.pre); NULL: "default" */
	const char *name;		/* general.name or NULL (a few quirks key on it) */
	size_t n_tokens;
	const char *const *tokens;	/* [n_tokens] token texts, UTF-8 */
	const size_t *token_lens;	/* [n_tokens] byte lengths; NULL: strlen */
	const float *scores;		/* [n_tokens] or NULL (all 0) */
	const int32_t *types;		/* [n_tokens] enum mdl_token_type, or NULL (all normal) */
	size_t n_merges;
	const char *const *merges;	/* [n_merges] "left right" in rank order (gpt2 only) */
	const size_t *merge_lens;	/* [n_merges] byte lengths; NULL: strlen */
	int64_t special[MDL_SPECIAL__COUNT];	/* id; -1 none; MDL_SPEC_UNSET: default or found by text */
	int add_bos, add_eos;		/* -1: the kind's default, else 0 / 1 */
	int add_space_prefix;		/* -1: the kind's default (SPM: 1) */
	const char *chat_template;	/* tokenizer.chat_template or NULL */
	size_t chat_template_len;
};

struct mdl_vocab;

/* Sets every field of s to "absent / default" (special ids MDL_SPEC_UNSET). */
void mdl_vocab_spec_init(struct mdl_vocab_spec *s);

/*
 * Builds a vocabulary from arrays. Inconsistent input is ST_CORRUPT with
 * a message naming the token or merge: duplicate token texts, a merge
 * without a space or naming (as a part or as its result) a token that
 * does not exist, an SPM byte token not spelled <0xXX>, a special id
 * outside [0, n_tokens). An unknown model kind or pre-tokenizer is
 * ST_UNSUPPORTED. Empty token texts get the placeholder "[EMPTY_<id>]"
 * (as llama.cpp). *out is freed with mdl_vocab_free.
 */
status_t mdl_vocab_new(const struct mdl_vocab_spec *spec, struct mdl_vocab **out,
		       struct err *e);
/*
 * Reads tokenizer.ggml.* (model, pre, tokens, scores, token_type, merges,
 * *_token_id, add_bos_token, add_eos_token, add_space_prefix) and
 * tokenizer.chat_template from an opened GGUF (borrowed; nothing of it is
 * kept) and builds the vocabulary. Arrays of mismatched lengths or wrong
 * types are ST_CORRUPT naming the key; a missing tokenizer.ggml.model or
 * .tokens is ST_CORRUPT. A special id of 0xFFFFFFFF (converters write it
 * for "unset") keeps the default; other ids out of range are ST_CORRUPT.
 */
status_t mdl_vocab_from_gguf(const struct mdl_gguf *g, struct mdl_vocab **out,
			     struct err *e);
/* Opens the GGUF at path, reads its vocabulary and closes it again. */
status_t mdl_vocab_load(const char *path, struct mdl_vocab **out, struct err *e);
/* Frees v; NULL is accepted. */
void mdl_vocab_free(struct mdl_vocab *v);

/* The tokenizer kind of v (SPM or BPE). */
enum mdl_vocab_kind mdl_vocab_kind(const struct mdl_vocab *v);
/* Pre-tokenizer name as given ("llama-bpe", "default"); borrowed. */
const char *mdl_vocab_pre(const struct mdl_vocab *v);
/* Number of tokens; valid ids are 0 .. n - 1. */
int32_t mdl_vocab_n_tokens(const struct mdl_vocab *v);
/* Id of a special token, or MDL_TOKEN_NULL when the vocabulary has none. */
int32_t mdl_vocab_special(const struct mdl_vocab *v, enum mdl_special which);
/* Whether tokenizing with MDL_TOK_ADD_SPECIAL adds BOS / EOS. */
int mdl_vocab_add_bos(const struct mdl_vocab *v);
int mdl_vocab_add_eos(const struct mdl_vocab *v);
/* 1 when id ends generation (EOS, EOT, EOM and the model's end tokens). */
int mdl_vocab_is_eog(const struct mdl_vocab *v, int32_t id);
/* Type of token id (after the loader's fix-ups); UNDEFINED if out of range. */
enum mdl_token_type mdl_vocab_token_type(const struct mdl_vocab *v, int32_t id);
/* Stored text of token id (borrowed, not NUL-terminated); NULL if out of range. */
const char *mdl_vocab_token_text(const struct mdl_vocab *v, int32_t id, size_t *len);
/* Id of the token whose stored text is exactly text[0..len), or MDL_TOKEN_NULL. */
int32_t mdl_vocab_find(const struct mdl_vocab *v, const char *text, size_t len);
/* tokenizer.chat_template (borrowed, NUL-terminated) or NULL. */
const char *mdl_vocab_chat_template(const struct mdl_vocab *v);

/* ------------------------------------------------------------------ */
/* Token lists                                                         */
/* ------------------------------------------------------------------ */

struct mdl_tokens {
	int32_t *ids;
	size_t len, cap;
	size_t max;	/* pushes past max fail with ST_LIMIT */
};

/* Prepares t (caller-owned, empty); max 0 picks 16M tokens. */
void mdl_tokens_init(struct mdl_tokens *t, size_t max);
/* Appends one id / n ids; ST_LIMIT past t->max, ST_NOMEM (t unchanged). */
status_t mdl_tokens_push(struct mdl_tokens *t, int32_t id);
status_t mdl_tokens_append(struct mdl_tokens *t, const int32_t *ids, size_t n);
/* Frees the ids; t is empty and may be reused. */
void mdl_tokens_release(struct mdl_tokens *t);

/* ------------------------------------------------------------------ */
/* Tokenizing and detokenizing                                         */
/* ------------------------------------------------------------------ */

enum {
	MDL_TOK_ADD_SPECIAL = 1,	/* add BOS / EOS where the vocabulary says so */
	MDL_TOK_PARSE_SPECIAL = 2,	/* control tokens written in the text become tokens */
	MDL_TOK_NO_SPACE_PREFIX = 4,	/* SPM: do not add the leading space (FIM parts) */
};

/*
 * Tokenizes text[0..len) and appends the ids to out, as llama.cpp's
 * llama_tokenize does. User-defined tokens in the text are always matched;
 * control tokens only with MDL_TOK_PARSE_SPECIAL. Errors: ST_CORRUPT for
 * invalid UTF-8 or a NUL byte (the message gives the byte offset),
 * ST_LIMIT for text over MDL_TOKENIZE_MAX_BYTES or out->max, ST_NOMEM.
 * On error out keeps what it held before the call.
 */
status_t mdl_tokenize(const struct mdl_vocab *v, const char *text, size_t len,
		      unsigned flags, struct mdl_tokens *out, struct err *e);

/*
 * The bytes token id stands for: byte tokens as their byte, BPE tokens
 * decoded from the byte-level alphabet, "▁" as space; control and unknown
 * tokens as their text. Borrowed from v; "" for ids out of range.
 */
const char *mdl_token_piece(const struct mdl_vocab *v, int32_t id, size_t *len);

/*
 * As mdl_token_piece, but "" for control and unknown tokens: the text
 * generation shows (and the token filter judges) for token id.
 */
const char *mdl_token_output(const struct mdl_vocab *v, int32_t id, size_t *len);

enum {
	MDL_DETOK_REMOVE_SPECIAL = 1,	/* drop the BOS / EOS the tokenizer would add */
	MDL_DETOK_RENDER_SPECIAL = 2,	/* write control tokens' text (else nothing) */
	MDL_DETOK_NO_CLEANUP = 4,	/* skip the " ," / " 's" clean-up some BPE vocabularies ask for */
};

/*
 * Appends the text of ids[0..n) to out (llama_detokenize: the leading
 * space an SPM tokenizer added is removed). Ids out of range are
 * ST_INVAL; out's own limit gives ST_LIMIT.
 */
status_t mdl_detokenize(const struct mdl_vocab *v, const int32_t *ids, size_t n,
			unsigned flags, struct buf *out, struct err *e);

/* ------------------------------------------------------------------ */
/* Sampling                                                            */
/* ------------------------------------------------------------------ */

struct mdl_sampler_params {
	float temp;		/* <= 0: greedy (argmax after penalties) */
	int32_t top_k;		/* <= 0: off */
	float top_p;		/* >= 1: off */
	float min_p;		/* <= 0: off */
	float repeat_penalty;	/* 1: off; > 1 discourages tokens in the window */
	float presence_penalty;	/* 0: off; subtracted once per token present */
	float frequency_penalty;	/* 0: off; subtracted per occurrence */
	int32_t penalty_last_n;	/* window of accepted tokens the penalties see */
	uint64_t seed;		/* same seed, same logits: same tokens */
};

/*
 * Token filter (the policy module's byte-level checker): returns nonzero
 * when token (whose bytes are piece[0..len)) may be emitted.
 */
typedef int (*mdl_token_accept_fn)(void *ctx, int32_t token, const char *piece,
				   size_t len);

struct mdl_sampler;

/* llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05, window 64. */
void mdl_sampler_params_default(struct mdl_sampler_params *p);
/*
 * Creates a sampler over the vocabulary v (borrowed; for pieces given to
 * the filter). Bad parameters (NaN, negative penalties) are ST_INVAL.
 */
status_t mdl_sampler_new(const struct mdl_sampler_params *p,
			 const struct mdl_vocab *v, struct mdl_sampler **out,
			 struct err *e);
/* Frees s; NULL is accepted. */
void mdl_sampler_free(struct mdl_sampler *s);
/* Installs (or with fn NULL removes) the token filter. */
void mdl_sampler_set_filter(struct mdl_sampler *s, mdl_token_accept_fn fn,
			    void *ctx);
/*
 * Picks the next token from n_vocab logits (not modified). Penalties,
 * then top-k, top-p, min-p, temperature and a draw from the seeded
 * generator. With a filter the drawn token is checked first; only if it
 * is refused are the refused candidates masked and the draw repeated.
 * Errors: ST_DENIED when the filter refuses every token, ST_INVAL for
 * n_vocab <= 0 or larger than the vocabulary, ST_NOMEM.
 */
status_t mdl_sampler_sample(struct mdl_sampler *s, const float *logits,
			    int32_t n_vocab, int32_t *out, struct err *e);
/* Records token in the penalty window (call for each emitted token). */
void mdl_sampler_accept(struct mdl_sampler *s, int32_t token);
/* Forgets the window and reseeds the generator. */
void mdl_sampler_reset(struct mdl_sampler *s);

/* ------------------------------------------------------------------ */
/* Streaming text with stop strings                                    */
/* ------------------------------------------------------------------ */

/*
 * Turns generated pieces into text safe to show: bytes that may begin a
 * stop string are held back until they cannot, a completed stop string
 * ends the stream (it and whatever follows are dropped), and a UTF-8
 * character split across pieces is held until it is whole.
 */
struct mdl_stream;

/*
 * Creates a stream ending at any of stops[0..n) (copied; n may be 0).
 * Empty strings are ST_INVAL. *out is freed with mdl_stream_free.
 */
status_t mdl_stream_new(const char *const *stops, size_t n_stops,
			struct mdl_stream **out, struct err *e);
/* Frees s and what it holds back; NULL is accepted. */
void mdl_stream_free(struct mdl_stream *s);
/*
 * Feeds one piece; appends what may now be shown to out. *stopped is set
 * to 1 when a stop string completed (further feeds append nothing).
 */
status_t mdl_stream_feed(struct mdl_stream *s, const char *piece, size_t len,
			 struct buf *out, int *stopped);
/* At the end of generation: appends everything still held back. */
status_t mdl_stream_finish(struct mdl_stream *s, struct buf *out);

/* ------------------------------------------------------------------ */
/* FIM and chat prompts                                                */
/* ------------------------------------------------------------------ */

/* One file of repository context for a FIM prompt. */
struct mdl_fim_file {
	const char *path;	/* NUL-terminated */
	const char *text;
	size_t text_len;
};

struct mdl_fim_input {
	const char *prefix;	/* code before the cursor */
	size_t prefix_len;
	const char *suffix;	/* code after the cursor */
	size_t suffix_len;
	const char *repo;	/* repository name or NULL (used with <|repo_name|>) */
	const char *path;	/* current file's path or NULL */
	const struct mdl_fim_file *files;	/* extra context, may be NULL */
	size_t n_files;
};

/* 1 when the vocabulary has FIM prefix, suffix and middle tokens. */
int mdl_vocab_has_fim(const struct mdl_vocab *v);
/*
 * Appends the prefix-suffix-middle prompt for in to out: [BOS] [repo and
 * file context] PRE prefix SUF suffix MID, with the vocabulary's own FIM
 * tokens (Qwen2.5-Coder, DeepSeek-Coder, CodeLlama, StarCoder). Prefix
 * and suffix are tokenized as plain text (control tokens in them stay
 * text). ST_UNSUPPORTED, naming the model kind, when v has no FIM tokens.
 */
status_t mdl_fim_prompt(const struct mdl_vocab *v, const struct mdl_fim_input *in,
			struct mdl_tokens *out, struct err *e);

enum mdl_chat_template {
	MDL_CHAT_UNKNOWN = 0,
	MDL_CHAT_CHATML,	/* Qwen: <|im_start|>role\n...<|im_end|>\n */
	MDL_CHAT_LLAMA3,	/* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
	MDL_CHAT_LLAMA2,	/* [INST] <<SYS>>...<</SYS>> ... [/INST] (CodeLlama-Instruct) */
	MDL_CHAT_MISTRAL_V1,	/* " [INST] ... [/INST]" */
	MDL_CHAT_MISTRAL_V3,	/* "[INST] ... [/INST]" */
	MDL_CHAT_MISTRAL_V7,	/* [SYSTEM_PROMPT] ... [INST] ... */
	MDL_CHAT_DEEPSEEK,	/* DeepSeek-Coder-Instruct: ### Instruction: / ### Response: */
	MDL_CHAT_DEEPSEEK3,	/* <｜User｜> / <｜Assistant｜> */
	MDL_CHAT_PHI3,		/* <|user|>\n...<|end|>\n */
};

struct mdl_chat_msg {
	const char *role;	/* "system", "user", "assistant" */
	const char *content;
};

/* Template name ("chatml", "llama3", ...); "unknown" for MDL_CHAT_UNKNOWN. */
const char *mdl_chat_template_name(enum mdl_chat_template t);
/* Looks a template up by name; ST_NOTFOUND if unknown. */
status_t mdl_chat_template_parse(const char *name, enum mdl_chat_template *out);
/*
 * Detects the chat template of v from tokenizer.chat_template (or, without
 * one, from its special tokens). ST_UNSUPPORTED with the start of the
 * template in the message when it is not one we render.
 */
status_t mdl_chat_detect(const struct mdl_vocab *v, enum mdl_chat_template *out,
			 struct err *e);
/*
 * Renders msgs[0..n) with template t into out (text; tokenize it with
 * MDL_TOK_ADD_SPECIAL | MDL_TOK_PARSE_SPECIAL). add_assistant appends the
 * start of the assistant's turn. Unknown roles are ST_INVAL.
 */
status_t mdl_chat_render(enum mdl_chat_template t, const struct mdl_chat_msg *msgs,
			 size_t n, int add_assistant, struct buf *out,
			 struct err *e);

/* ------------------------------------------------------------------ */
/* Generation                                                          */
/* ------------------------------------------------------------------ */

struct mdl_model;
struct mdl_ctx;

/* Why generation ended. */
enum mdl_gen_end {
	MDL_GEN_EOG = 1,	/* the model produced an end-of-generation token */
	MDL_GEN_STOP,		/* a stop string completed */
	MDL_GEN_LENGTH,		/* n_predict tokens were produced */
	MDL_GEN_CONTEXT,	/* the context window is full */
};

struct mdl_gen_params {
	int32_t n_predict;	/* most tokens to produce (> 0) */
	struct mdl_sampler_params sampling;
	const char *const *stops;	/* stop strings, may be NULL */
	size_t n_stops;
	mdl_token_accept_fn accept;	/* token filter or NULL */
	void *accept_ctx;
};

/*
 * Receives text as it becomes safe to show (see mdl_stream); returns
 * nonzero to cancel generation.
 */
typedef int (*mdl_gen_emit_fn)(void *ctx, const char *text, size_t len);

/*
 * Evaluates prompt[0..n_prompt) from position 0 of c (a context of m),
 * then samples up to p->n_predict tokens, streaming their text through
 * emit (may be NULL) and appending the ids to out_ids (may be NULL). The
 * end-of-generation token itself is neither emitted nor appended.
 * *why says why it ended. Errors: those of mdl_eval and the sampler,
 * ST_INVAL for an empty prompt or one longer than the context,
 * ST_CANCELLED when emit asked to stop.
 */
status_t mdl_generate(struct mdl_model *m, struct mdl_ctx *c,
		      const struct mdl_vocab *v, const int32_t *prompt,
		      size_t n_prompt, const struct mdl_gen_params *p,
		      mdl_gen_emit_fn emit, void *emit_ctx,
		      struct mdl_tokens *out_ids, enum mdl_gen_end *why,
		      struct err *e);

#endif
