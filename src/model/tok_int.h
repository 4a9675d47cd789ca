/*
 * tok_int.h - private to the tokenizer files of src/model (tok_*.c): the
 * vocabulary's layout and the helpers the tokenizers share.
 */
#ifndef AIRLOCK_MODEL_TOK_INT_H
#define AIRLOCK_MODEL_TOK_INT_H

#include "model/model_tok.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Most regexes one pre-tokenizer chains (deepseek-llm has 6). */
#define TOK_MAX_RX 8

/* Per-token flags beside the type. */
enum {
	TOK_LSTRIP = 1,	/* eat whitespace left of the token when matched in text */
	TOK_RSTRIP = 2,	/* eat whitespace right of it */
	TOK_EOG = 4,	/* ends generation */
};

/* A BPE merge: (left id, right id) -> rank and the merged token. */
struct tok_merge {
	uint64_t key;	/* left << 32 | right; UINT64_MAX marks an empty slot */
	int32_t rank;	/* position in tokenizer.ggml.merges; lower merges first */
	int32_t result;	/* id of the merged text */
};

struct mdl_vocab {
	enum mdl_vocab_kind kind;
	char *pre_name;		/* tokenizer.ggml.pre as given */
	int32_t n;		/* number of tokens */

	char *blob;		/* all token texts, back to back */
	uint32_t *off, *len;	/* [n] text of token i: blob + off[i], len[i] bytes */
	float *score;		/* [n] SPM merge scores */
	uint8_t *type;		/* [n] enum mdl_token_type */
	uint8_t *flags;		/* [n] TOK_* */

	int32_t *tab;		/* open addressing text -> id; -1 empty */
	size_t tab_mask;	/* slots - 1 (power of two) */

	struct tok_merge *merges;	/* open addressing (BPE) */
	size_t merge_mask;
	size_t n_merges;

	int32_t byte_tok[256];	/* token of each raw byte (<0xXX> / byte-level char), -1 none */

	int32_t special[MDL_SPECIAL__COUNT];
	int add_bos, add_eos, add_space_prefix;
	int ignore_merges;	/* BPE: a whole word that is a token skips the merges */
	int clean_spaces;	/* detokenize: " ," -> "," etc. */

	int32_t *specials;	/* ids matched in text before tokenizing, longest first */
	size_t n_specials;

	char *pieces;		/* decoded text of every token, back to back */
	uint32_t *piece_off, *piece_len;	/* [n] */

	char *chat_template;	/* NUL-terminated copy or NULL */

	pcre2_code *rx[TOK_MAX_RX];	/* BPE pre-tokenizer regexes, applied in turn */
	size_t n_rx;
	pcre2_general_context *rx_gctx;
	pcre2_compile_context *rx_cctx;
};

/* Looks up text in the vocabulary; MDL_TOKEN_NULL if absent. */
int32_t mdl__tok_find(const struct mdl_vocab *v, const char *s, size_t n);
/* The merge of tokens (l, r); NULL if none. */
const struct tok_merge *mdl__tok_merge_find(const struct mdl_vocab *v, int32_t l,
					    int32_t r);

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static inline size_t mdl__utf8_len(unsigned char c)
{
	static const unsigned char lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
						  1, 1, 1, 1, 2, 2, 3, 4 };
	return lookup[c >> 4];
}

/*
 * Returns the length of the valid UTF-8 prefix of s[0..n) that ends on a
 * character boundary; *bad is set to 1 when the invalid byte found is not
 * merely an incomplete sequence at the very end.
 */
size_t mdl__utf8_valid_prefix(const char *s, size_t n, int *bad);

/* Byte-level BPE alphabet: the code point standing for raw byte b. */
uint32_t mdl__bpe_byte_cpt(unsigned char b);
/* Writes the UTF-8 of cp to out (4 bytes room); returns its length. */
size_t mdl__utf8_put(uint32_t cp, char *out);

/* Pre-tokenizer set-up for v->pre_name (BPE); fills rx and flags. */
status_t mdl__bpe_setup(struct mdl_vocab *v, struct err *e);
/* Frees the compiled regexes. */
void mdl__bpe_release(struct mdl_vocab *v);

/* Tokenizes one raw-text fragment with the SPM algorithm (text already escaped). */
status_t mdl__spm_tokenize(const struct mdl_vocab *v, const char *text, size_t n,
			   struct mdl_tokens *out);
/* Tokenizes one raw-text fragment with regex splitting and BPE merges. */
status_t mdl__bpe_tokenize(const struct mdl_vocab *v, const char *text, size_t n,
			   struct mdl_tokens *out, struct err *e);

#endif
