/*
 * tok_gguf.c - reads a vocabulary from GGUF metadata into the arrays of
 * struct mdl_vocab_spec and builds it with mdl_vocab_new.
 *
 *   | key                                   | type      | use                       |
 *   | ------------------------------------- | --------- | ------------------------- |
 *   | tokenizer.ggml.model                  | string    | "llama" or "gpt2"         |
 *   | tokenizer.ggml.pre                    | string    | BPE pre-tokenizer name    |
 *   | tokenizer.ggml.tokens                 | [string]  | token texts (required)    |
 *   | tokenizer.ggml.scores                 | [f32]     | SPM scores, same length   |
 *   | tokenizer.ggml.token_type             | [i32]     | token types, same length  |
 *   | tokenizer.ggml.merges                 | [string]  | "a b", BPE, by rank       |
 *   | tokenizer.ggml.<role>_token_id        | u32       | special ids (see below)   |
 *   | tokenizer.ggml.add_bos_token / _eos_  | bool      | add BOS / EOS             |
 *   | tokenizer.ggml.add_space_prefix       | bool      | SPM leading space         |
 *   | tokenizer.chat_template               | string    | Jinja text (detected)     |
 *   | general.name                          | string    | model-specific quirks     |
 */
#include "model/model.h"
#include "model/tok_int.h"

#include <string.h>

#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"

/* Special-id keys; later rows (deprecated names) win, as in llama.cpp. */
static const struct {
	const char *key;
	enum mdl_special role;
} id_keys[] = {
	{ "tokenizer.ggml.bos_token_id", MDL_SPECIAL_BOS },
	{ "tokenizer.ggml.eos_token_id", MDL_SPECIAL_EOS },
	{ "tokenizer.ggml.eot_token_id", MDL_SPECIAL_EOT },
	{ "tokenizer.ggml.eom_token_id", MDL_SPECIAL_EOM },
	{ "tokenizer.ggml.unknown_token_id", MDL_SPECIAL_UNK },
	{ "tokenizer.ggml.seperator_token_id", MDL_SPECIAL_SEP },
	{ "tokenizer.ggml.padding_token_id", MDL_SPECIAL_PAD },
	{ "tokenizer.ggml.fim_pre_token_id", MDL_SPECIAL_FIM_PRE },
	{ "tokenizer.ggml.fim_suf_token_id", MDL_SPECIAL_FIM_SUF },
	{ "tokenizer.ggml.fim_mid_token_id", MDL_SPECIAL_FIM_MID },
	{ "tokenizer.ggml.fim_pad_token_id", MDL_SPECIAL_FIM_PAD },
	{ "tokenizer.ggml.fim_rep_token_id", MDL_SPECIAL_FIM_REP },
	{ "tokenizer.ggml.fim_sep_token_id", MDL_SPECIAL_FIM_SEP },
	{ "tokenizer.ggml.prefix_token_id", MDL_SPECIAL_FIM_PRE },
	{ "tokenizer.ggml.suffix_token_id", MDL_SPECIAL_FIM_SUF },
	{ "tokenizer.ggml.middle_token_id", MDL_SPECIAL_FIM_MID },
};

/* A NUL-terminated copy of a string value, or NULL when absent. */
static status_t get_cstr(const struct mdl_gguf *g, const char *key, char **out,
			 struct err *e)
{
	const char *s;
	size_t n;
	status_t st;

	*out = NULL;
	if (mdl_gguf_find(g, key) < 0)
		return ST_OK;
	st = mdl_gguf_get_str(g, key, &s, &n, e);
	if (st != ST_OK)
		return st;
	*out = mem_strndup(s, n);
	return *out ? ST_OK : err_set(e, ST_NOMEM, "vocabulary: %s", key);
}

/* Optional bool: leaves *out alone when absent. */
static status_t get_flag(const struct mdl_gguf *g, const char *key, int *out,
			 struct err *e)
{
	if (mdl_gguf_find(g, key) < 0)
		return ST_OK;
	return mdl_gguf_get_bool(g, key, out, e);
}

/* Length of an optional array that must match n_tokens; 0 when absent. */
static status_t check_arr(const struct mdl_gguf *g, const char *key, size_t want,
			  int *present, struct err *e)
{
	enum mdl_gguf_vtype t;
	size_t n;
	status_t st;

	*present = 0;
	if (mdl_gguf_find(g, key) < 0)
		return ST_OK;
	st = mdl_gguf_get_arr(g, key, &t, &n, e);
	if (st != ST_OK)
		return st;
	if (n != want)
		return err_set(e, ST_CORRUPT, "vocabulary: %s has %zu entries for %zu tokens",
			       key, n, want);
	*present = 1;
	return ST_OK;
}

status_t mdl_vocab_from_gguf(const struct mdl_gguf *g, struct mdl_vocab **out,
			     struct err *e)
{
	struct mdl_vocab_spec s;
	char *model = NULL, *pre = NULL, *name = NULL, *tmpl = NULL;
	const char **tokens = NULL, **merges = NULL;
	size_t *tlens = NULL, *mlens = NULL, n = 0, nm = 0;
	float *scores = NULL;
	int32_t *types = NULL;
	enum mdl_gguf_vtype t;
	int have;
	status_t st;

	*out = NULL;
	mdl_vocab_spec_init(&s);
	if (mdl_gguf_find(g, "tokenizer.ggml.model") < 0)
		return err_set(e, ST_CORRUPT, "vocabulary: the file has no tokenizer.ggml.model");
	if (mdl_gguf_find(g, KEY_TOKENS) < 0)
		return err_set(e, ST_CORRUPT, "vocabulary: the file has no " KEY_TOKENS);
	if ((st = get_cstr(g, "tokenizer.ggml.model", &model, e)) != ST_OK ||
	    (st = get_cstr(g, "tokenizer.ggml.pre", &pre, e)) != ST_OK ||
	    (st = get_cstr(g, "general.name", &name, e)) != ST_OK ||
	    (st = get_cstr(g, "tokenizer.chat_template", &tmpl, e)) != ST_OK)
		goto done;
	s.model = model;
	s.pre = pre;
	s.name = name;
	s.chat_template = tmpl;

	st = mdl_gguf_get_arr(g, KEY_TOKENS, &t, &n, e);
	if (st != ST_OK)
		goto done;
	if (t != MDL_GGUF_STRING) {
		st = err_set(e, ST_CORRUPT, "vocabulary: " KEY_TOKENS " is an array of %s, want string",
			     mdl_gguf_vtype_name(t));
		goto done;
	}
	if (n == 0 || n > (size_t)INT32_MAX / 4) {
		st = err_set(e, ST_CORRUPT, "vocabulary: " KEY_TOKENS " has %zu entries", n);
		goto done;
	}
	tokens = mem_alloc_array(n, sizeof *tokens);
	tlens = mem_alloc_array(n, sizeof *tlens);
	if (!tokens || !tlens) {
		st = err_set(e, ST_NOMEM, "vocabulary: %zu tokens", n);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		st = mdl_gguf_arr_str(g, KEY_TOKENS, i, &tokens[i], &tlens[i], e);
		if (st != ST_OK)
			goto done;
	}
	s.n_tokens = n;
	s.tokens = tokens;
	s.token_lens = tlens;

	if ((st = check_arr(g, KEY_SCORES, n, &have, e)) != ST_OK)
		goto done;
	if (have) {
		scores = mem_alloc_array(n, sizeof *scores);
		if (!scores) {
			st = err_set(e, ST_NOMEM, "vocabulary: scores");
			goto done;
		}
		for (size_t i = 0; i < n; i++) {
			double d;

			st = mdl_gguf_arr_float(g, KEY_SCORES, i, &d, e);
			if (st != ST_OK)
				goto done;
			scores[i] = (float)d;
		}
		s.scores = scores;
	}
	if ((st = check_arr(g, KEY_TYPES, n, &have, e)) != ST_OK)
		goto done;
	if (have) {
		types = mem_alloc_array(n, sizeof *types);
		if (!types) {
			st = err_set(e, ST_NOMEM, "vocabulary: token types");
			goto done;
		}
		for (size_t i = 0; i < n; i++) {
			int64_t v;

			st = mdl_gguf_arr_int(g, KEY_TYPES, i, &v, e);
			if (st != ST_OK)
				goto done;
			if (v < 0 || v > 6) {
				st = err_set(e, ST_CORRUPT, "vocabulary: token %zu has type %lld",
					     i, (long long)v);
				goto done;
			}
			types[i] = (int32_t)v;
		}
		s.types = types;
	}

	if (mdl_gguf_find(g, KEY_MERGES) >= 0) {
		st = mdl_gguf_get_arr(g, KEY_MERGES, &t, &nm, e);
		if (st != ST_OK)
			goto done;
		if (t != MDL_GGUF_STRING && nm > 0) {
			st = err_set(e, ST_CORRUPT, "vocabulary: " KEY_MERGES " is an array of %s, want string",
				     mdl_gguf_vtype_name(t));
			goto done;
		}
		merges = mem_alloc_array(nm ? nm : 1, sizeof *merges);
		mlens = mem_alloc_array(nm ? nm : 1, sizeof *mlens);
		if (!merges || !mlens) {
			st = err_set(e, ST_NOMEM, "vocabulary: %zu merges", nm);
			goto done;
		}
		for (size_t i = 0; i < nm; i++) {
			st = mdl_gguf_arr_str(g, KEY_MERGES, i, &merges[i], &mlens[i], e);
			if (st != ST_OK)
				goto done;
		}
		s.n_merges = nm;
		s.merges = merges;
		s.merge_lens = mlens;
	}

	for (size_t k = 0; k < sizeof id_keys / sizeof id_keys[0]; k++) {
		int64_t v;

		if (mdl_gguf_find(g, id_keys[k].key) < 0)
			continue;
		st = mdl_gguf_get_int(g, id_keys[k].key, &v, e);
		if (st != ST_OK)
			goto done;
		/* converters write 0xFFFFFFFF (or -1) for "not set" */
		if (v == 0xFFFFFFFFLL || v == -1)
			continue;
		s.special[id_keys[k].role] = v;
	}
	if ((st = get_flag(g, "tokenizer.ggml.add_bos_token", &s.add_bos, e)) != ST_OK ||
	    (st = get_flag(g, "tokenizer.ggml.add_eos_token", &s.add_eos, e)) != ST_OK ||
	    (st = get_flag(g, "tokenizer.ggml.add_space_prefix", &s.add_space_prefix, e)) != ST_OK)
		goto done;

	st = mdl_vocab_new(&s, out, e);
done:
	mem_free(model);
	mem_free(pre);
	mem_free(name);
	mem_free(tmpl);
	mem_free(tokens);
	mem_free(tlens);
	mem_free(merges);
	mem_free(mlens);
	mem_free(scores);
	mem_free(types);
	return st;
}

status_t mdl_vocab_load(const char *path, struct mdl_vocab **out, struct err *e)
{
	struct mdl_gguf *g;
	status_t st;

	*out = NULL;
	st = mdl_gguf_open(path, &g, e);
	if (st != ST_OK)
		return st;
	st = mdl_vocab_from_gguf(g, out, e);
	mdl_gguf_free(g);
	return st;
}
