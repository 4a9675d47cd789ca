/*
 * tok_vocab.c - the vocabulary: built from arrays (tokens, scores, types,
 * merges, special ids), checked for consistency, with the tables every
 * tokenizer needs (text -> id, merge ranks, byte tokens, special tokens
 * matched in text, decoded pieces) and the defaults and fix-ups llama.cpp
 * applies when loading the same metadata, so that ids agree with it.
 */
#include "model/tok_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Token lists                                                         */
/* ------------------------------------------------------------------ */

void mdl_tokens_init(struct mdl_tokens *t, size_t max)
{
	t->ids = NULL;
	t->len = t->cap = 0;
	t->max = max ? max : ((size_t)16 << 20);
}

static status_t tokens_reserve(struct mdl_tokens *t, size_t extra)
{
	size_t want, cap;
	int32_t *p;

	if (extra > t->max || t->len > t->max - extra)
		return ST_LIMIT;
	want = t->len + extra;
	if (want <= t->cap)
		return ST_OK;
	cap = t->cap ? t->cap : 16;
	while (cap < want)
		cap *= 2;
	p = mem_realloc_array(t->ids, cap, sizeof *p);
	if (!p)
		return ST_NOMEM;
	t->ids = p;
	t->cap = cap;
	return ST_OK;
}

status_t mdl_tokens_push(struct mdl_tokens *t, int32_t id)
{
	status_t st = tokens_reserve(t, 1);

	if (st != ST_OK)
		return st;
	t->ids[t->len++] = id;
	return ST_OK;
}

status_t mdl_tokens_append(struct mdl_tokens *t, const int32_t *ids, size_t n)
{
	status_t st;

	if (n == 0)
		return ST_OK;
	st = tokens_reserve(t, n);
	if (st != ST_OK)
		return st;
	memcpy(t->ids + t->len, ids, n * sizeof *ids);
	t->len += n;
	return ST_OK;
}

void mdl_tokens_release(struct mdl_tokens *t)
{
	mem_free(t->ids);
	t->ids = NULL;
	t->len = t->cap = 0;
}

/* ------------------------------------------------------------------ */
/* UTF-8 and the byte-level alphabet                                   */
/* ------------------------------------------------------------------ */

size_t mdl__utf8_valid_prefix(const char *s, size_t n, int *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	*bad = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t k, need;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			cp = c & 0x07;
		} else {
			*bad = 1;
			return i;
		}
		for (k = 1; k <= need; k++) {
			if (i + k >= n) {
				/* incomplete at the end: bad only if what is there is wrong */
				return i;
			}
			if ((p[i + k] & 0xC0) != 0x80) {
				*bad = 1;
				return i;
			}
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
			*bad = 1;
			return i;
		}
		i += need + 1;
	}
	return i;
}

size_t mdl__utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes take code points 256, 257, ... in byte
 * order, so that every byte has a visible, non-space character.
 */
uint32_t mdl__bpe_byte_cpt(unsigned char b)
{
	unsigned n = 0;

	if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
		return b;
	for (unsigned c = 0; c < b; c++)
		if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) ||
		      c >= 0xAE))
			n++;
	return 256 + n;
}

/* The raw byte code point cp stands for in the byte-level alphabet, or -1. */
static int bpe_cpt_byte(uint32_t cp)
{
	if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) ||
	    (cp >= 0xAE && cp <= 0xFF))
		return (int)cp;
	if (cp >= 256 && cp < 256 + 68) {
		unsigned n = 0;

		for (unsigned c = 0; c < 256; c++) {
			if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) ||
			    c >= 0xAE)
				continue;
			if (n == cp - 256)
				return (int)c;
			n++;
		}
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Lookup tables                                                       */
/* ------------------------------------------------------------------ */

int32_t mdl__tok_find(const struct mdl_vocab *v, const char *s, size_t n)
{
	size_t i = (size_t)hash_bytes(s, n) & v->tab_mask;

	for (;;) {
		int32_t id = v->tab[i];

		if (id < 0)
			return MDL_TOKEN_NULL;
		if (v->len[id] == n && memcmp(v->blob + v->off[id], s, n) == 0)
			return id;
		i = (i + 1) & v->tab_mask;
	}
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;

	while (c < n)
		c *= 2;
	return c;
}

/* Adds a merge unless the pair is already there (the first rank wins). */
static void merge_put(struct mdl_vocab *v, int32_t l, int32_t r, int32_t rank,
		      int32_t result)
{
	uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
	size_t i = (size_t)mix64(key) & v->merge_mask;

	while (v->merges[i].key != UINT64_MAX) {
		if (v->merges[i].key == key)
			return;
		i = (i + 1) & v->merge_mask;
	}
	v->merges[i].key = key;
	v->merges[i].rank = rank;
	v->merges[i].result = result;
	v->n_merges++;
}

const struct tok_merge *mdl__tok_merge_find(const struct mdl_vocab *v, int32_t l,
					    int32_t r)
{
	uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
	size_t i;

	if (!v->merges)
		return NULL;
	i = (size_t)mix64(key) & v->merge_mask;
	while (v->merges[i].key != UINT64_MAX) {
		if (v->merges[i].key == key)
			return &v->merges[i];
		i = (i + 1) & v->merge_mask;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Building                                                            */
/* ------------------------------------------------------------------ */

void mdl_vocab_spec_init(struct mdl_vocab_spec *s)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < MDL_SPECIAL__COUNT; i++)
		s->special[i] = MDL_SPEC_UNSET;
	s->add_bos = s->add_eos = s->add_space_prefix = -1;
}

static const char *const special_key_names[MDL_SPECIAL__COUNT] = {
	"bos", "eos", "eot", "eom", "unk", "sep", "pad",
	"fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep",
};

/*
 * Texts that identify special tokens when the metadata does not name
 * them (llama.cpp does the same), in order of preference. CodeLlama's FIM
 * tokens carry SentencePiece's space mark; StarCoder's use underscores.
 */
static const struct {
	enum mdl_special role;
	const char *texts[10];
} special_texts[] = {
	{ MDL_SPECIAL_EOT, { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
			     "<|endoftext|>", "<EOT>", "\xE2\x96\x81<EOT>",
			     "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>" } },
	{ MDL_SPECIAL_EOM, { "<|eom_id|>" } },
	{ MDL_SPECIAL_FIM_PRE, { "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
				 "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>", "\xE2\x96\x81<PRE>" } },
	{ MDL_SPECIAL_FIM_SUF, { "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
				 "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>", "<SUF>", "\xE2\x96\x81<SUF>" } },
	{ MDL_SPECIAL_FIM_MID, { "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
				 "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>", "\xE2\x96\x81<MID>" } },
	{ MDL_SPECIAL_FIM_PAD, { "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>" } },
	{ MDL_SPECIAL_FIM_REP, { "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<repo_name>", "<REPO>" } },
	{ MDL_SPECIAL_FIM_SEP, { "<|file_sep|>", "<file_sep>" } },
};

/* Texts of tokens that end generation whatever their role. */
static const char *const eog_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|eom_id|>", "<EOT>",
};

/*
 * End tokens of code models that llama.cpp leaves to the metadata: they
 * end generation too but keep their type (CodeLlama's "▁<EOT>",
 * DeepSeek-Coder-Instruct's "<|EOT|>").
 */
static const char *const eog_texts_extra[] = { "\xE2\x96\x81<EOT>", "<|EOT|>" };

/*
 * Texts we look for that llama.cpp does not (CodeLlama's "▁<PRE>",
 * StarCoder's "<fim_prefix>"): the role is taken, the type is left alone
 * so that tokenization still agrees with llama.cpp.
 */
static int extra_text(const char *t)
{
	static const char *const extra[] = { "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
					      "<fim_pad>", "<repo_name>", "<file_sep>" };

	if (strncmp(t, "\xE2\x96\x81", 3) == 0)
		return 1;
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		if (strcmp(t, extra[i]) == 0)
			return 1;
	return 0;
}

static int32_t find_cstr(const struct mdl_vocab *v, const char *s)
{
	return mdl__tok_find(v, s, strlen(s));
}

/* Turns a token llama.cpp would treat as control into one. */
static void make_control(struct mdl_vocab *v, int32_t id)
{
	if (v->type[id] != MDL_TOKEN_CONTROL) {
		LOG_DEBUG("model.vocab.control_fixup", LF_INT("token", id));
		v->type[id] = MDL_TOKEN_CONTROL;
	}
}

static void detect_specials(struct mdl_vocab *v)
{
	for (size_t r = 0; r < sizeof special_texts / sizeof special_texts[0]; r++) {
		enum mdl_special role = special_texts[r].role;

		if (v->special[role] != MDL_TOKEN_NULL)
			continue;
		for (size_t k = 0; k < 10 && special_texts[r].texts[k]; k++) {
			int32_t id = find_cstr(v, special_texts[r].texts[k]);

			if (id >= 0) {
				v->special[role] = id;
				if (!extra_text(special_texts[r].texts[k]))
					make_control(v, id);
				break;
			}
		}
	}

	if (v->special[MDL_SPECIAL_FIM_PAD] >= 0)
		v->flags[v->special[MDL_SPECIAL_FIM_PAD]] |= TOK_EOG;
	if (v->special[MDL_SPECIAL_FIM_REP] >= 0)
		v->flags[v->special[MDL_SPECIAL_FIM_REP]] |= TOK_EOG;
	if (v->special[MDL_SPECIAL_FIM_SEP] >= 0)
		v->flags[v->special[MDL_SPECIAL_FIM_SEP]] |= TOK_EOG;
	for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++) {
		int32_t id = find_cstr(v, eog_texts[k]);

		if (id >= 0) {
			v->flags[id] |= TOK_EOG;
			make_control(v, id);
		}
	}
	for (size_t k = 0; k < sizeof eog_texts_extra / sizeof eog_texts_extra[0]; k++) {
		int32_t id = find_cstr(v, eog_texts_extra[k]);

		if (id >= 0)
			v->flags[id] |= TOK_EOG;
	}
	if (v->special[MDL_SPECIAL_EOS] >= 0)
		v->flags[v->special[MDL_SPECIAL_EOS]] |= TOK_EOG;
	if (v->special[MDL_SPECIAL_EOT] >= 0)
		v->flags[v->special[MDL_SPECIAL_EOT]] |= TOK_EOG;
	if (v->special[MDL_SPECIAL_EOM] >= 0)
		v->flags[v->special[MDL_SPECIAL_EOM]] |= TOK_EOG;
}

/* Sort order of special tokens: longer first (matched first); ties by id. */
static int cmp_special(const void *a, const void *b, void *arg)
{
	const struct mdl_vocab *v = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	if (v->len[x] != v->len[y])
		return v->len[x] > v->len[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static status_t build_specials(struct mdl_vocab *v)
{
	size_t n = 0;

	for (int32_t i = 0; i < v->n; i++)
		if (v->type[i] == MDL_TOKEN_CONTROL || v->type[i] == MDL_TOKEN_USER_DEFINED ||
		    v->type[i] == MDL_TOKEN_UNKNOWN)
			n++;
	v->specials = mem_alloc_array(n ? n : 1, sizeof *v->specials);
	if (!v->specials)
		return ST_NOMEM;
	for (int32_t i = 0; i < v->n; i++)
		if (v->type[i] == MDL_TOKEN_CONTROL || v->type[i] == MDL_TOKEN_USER_DEFINED ||
		    v->type[i] == MDL_TOKEN_UNKNOWN)
			v->specials[v->n_specials++] = i;
	qsort_r(v->specials, v->n_specials, sizeof *v->specials, cmp_special, v);
	return ST_OK;
}

/* Phi-3's converter leaves out that its added tokens eat following spaces. */
static void apply_name_quirks(struct mdl_vocab *v, const char *name)
{
	char low[128];
	size_t i;
	int32_t id;

	if (!name)
		return;
	for (i = 0; name[i] && i + 1 < sizeof low; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = 0;
	if (!strstr(low, "phi-3") && !strstr(low, "phi3"))
		return;
	for (size_t k = 0; k < v->n_specials; k++)
		v->flags[v->specials[k]] |= TOK_RSTRIP;
	if ((id = find_cstr(v, "</s>")) >= 0)
		v->flags[id] |= TOK_RSTRIP;
	if ((id = find_cstr(v, "<unk>")) >= 0)
		v->flags[id] &= (uint8_t)~TOK_RSTRIP;
	if ((id = find_cstr(v, "<s>")) >= 0)
		v->flags[id] &= (uint8_t)~TOK_RSTRIP;
	if ((id = find_cstr(v, "<|endoftext|>")) >= 0)
		v->flags[id] &= (uint8_t)~TOK_RSTRIP;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Writes the decoded text of token id into out (room: 4 * len + 64). */
static size_t decode_piece(const struct mdl_vocab *v, int32_t id, char *out)
{
	const char *t = v->blob + v->off[id];
	size_t n = v->len[id], o = 0;

	switch (v->type[id]) {
	case MDL_TOKEN_CONTROL:
	case MDL_TOKEN_UNKNOWN:
	case MDL_TOKEN_USER_DEFINED:
		memcpy(out, t, n);
		return n;
	case MDL_TOKEN_BYTE:
		if (v->kind == MDL_VOCAB_SPM) {
			out[0] = (char)(hexval(t[3]) * 16 + hexval(t[4]));
			return 1;
		}
		return 0;
	case MDL_TOKEN_NORMAL:
		break;
	default:
		return 0;
	}
	if (v->kind == MDL_VOCAB_SPM) {
		for (size_t i = 0; i < n;) {
			if (i + 3 <= n && memcmp(t + i, "\xE2\x96\x81", 3) == 0) {
				out[o++] = ' ';
				i += 3;
			} else {
				out[o++] = t[i++];
			}
		}
		return o;
	}
	/* byte-level: each character stands for one raw byte */
	for (size_t i = 0; i < n;) {
		const unsigned char *p = (const unsigned char *)t + i;
		size_t k = mdl__utf8_len(p[0]);
		uint32_t cp;
		int b;

		if (k > n - i)
			k = n - i;
		switch (k) {
		case 1: cp = p[0]; break;
		case 2: cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F); break;
		case 3: cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F); break;
		default: cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F); break;
		}
		b = bpe_cpt_byte(cp);
		if (b >= 0) {
			out[o++] = (char)b;
		} else {
			/* not of the alphabet: kept as it is */
			memcpy(out + o, p, k);
			o += k;
		}
		i += k;
	}
	return o;
}

static status_t build_pieces(struct mdl_vocab *v)
{
	size_t total = 0, o = 0;
	char *tmp;
	size_t maxlen = 0;

	for (int32_t i = 0; i < v->n; i++) {
		total += v->len[i];
		if (v->len[i] > maxlen)
			maxlen = v->len[i];
	}
	/* decoded pieces never grow past the stored text (one byte per char) */
	v->pieces = mem_alloc(total + 1);
	v->piece_off = mem_alloc_array((size_t)v->n, sizeof *v->piece_off);
	v->piece_len = mem_alloc_array((size_t)v->n, sizeof *v->piece_len);
	tmp = mem_alloc(maxlen + 64);
	if (!v->pieces || !v->piece_off || !v->piece_len || !tmp) {
		mem_free(tmp);
		return ST_NOMEM;
	}
	for (int32_t i = 0; i < v->n; i++) {
		size_t k = decode_piece(v, i, tmp);

		memcpy(v->pieces + o, tmp, k);
		v->piece_off[i] = (uint32_t)o;
		v->piece_len[i] = (uint32_t)k;
		o += k;
	}
	mem_free(tmp);
	return ST_OK;
}

static status_t build_byte_tokens(struct mdl_vocab *v)
{
	for (int b = 0; b < 256; b++) {
		char s[8];
		int32_t id;

		if (v->kind == MDL_VOCAB_SPM) {
			static const char hex[] = "0123456789ABCDEF";

			s[0] = '<'; s[1] = '0'; s[2] = 'x';
			s[3] = hex[b >> 4]; s[4] = hex[b & 15]; s[5] = '>';
			id = mdl__tok_find(v, s, 6);
			if (id < 0) {
				s[0] = (char)b;
				id = mdl__tok_find(v, s, 1);
			}
		} else {
			size_t k = mdl__utf8_put(mdl__bpe_byte_cpt((unsigned char)b), s);

			id = mdl__tok_find(v, s, k);
		}
		v->byte_tok[b] = id;
	}
	return ST_OK;
}

static status_t build_merges(struct mdl_vocab *v, const struct mdl_vocab_spec *s,
			     struct err *e)
{
	v->merge_mask = pow2_at_least(s->n_merges * 2 + 1) - 1;
	v->merges = mem_alloc_array(v->merge_mask + 1, sizeof *v->merges);
	if (!v->merges)
		return err_set(e, ST_NOMEM, "vocabulary: merge table of %zu entries",
			       s->n_merges);
	for (size_t i = 0; i <= v->merge_mask; i++)
		v->merges[i].key = UINT64_MAX;
	for (size_t i = 0; i < s->n_merges; i++) {
		const char *m = s->merges[i];
		size_t n = s->merge_lens ? s->merge_lens[i] : (m ? strlen(m) : 0);
		const char *sp = n > 1 ? memchr(m + 1, ' ', n - 1) : NULL;
		int32_t l, r, res;
		char *joined;

		if (!m || !sp)
			return err_set(e, ST_CORRUPT,
				       "vocabulary: merge %zu has no space between its two parts", i);
		l = mdl__tok_find(v, m, (size_t)(sp - m));
		r = mdl__tok_find(v, sp + 1, n - (size_t)(sp - m) - 1);
		if (l < 0 || r < 0)
			return err_set(e, ST_CORRUPT,
				       "vocabulary: merge %zu '%.*s' names a token that does not exist",
				       i, (int)(n > 80 ? 80 : n), m);
		joined = mem_alloc(n);
		if (!joined)
			return err_set(e, ST_NOMEM, "vocabulary: merges");
		memcpy(joined, m, (size_t)(sp - m));
		memcpy(joined + (sp - m), sp + 1, n - (size_t)(sp - m) - 1);
		res = mdl__tok_find(v, joined, n - 1);
		mem_free(joined);
		if (res < 0)
			return err_set(e, ST_CORRUPT,
				       "vocabulary: merge %zu '%.*s' makes a token that does not exist",
				       i, (int)(n > 80 ? 80 : n), m);
		merge_put(v, l, r, (int32_t)i, res);
	}
	return ST_OK;
}

static status_t build_tokens(struct mdl_vocab *v, const struct mdl_vocab_spec *s,
			     struct err *e)
{
	size_t total = 0, o = 0;
	char empty[32];

	for (size_t i = 0; i < s->n_tokens; i++) {
		size_t n = s->token_lens ? s->token_lens[i] : (s->tokens[i] ? strlen(s->tokens[i]) : 0);

		if (!s->tokens[i] && n)
			return err_set(e, ST_CORRUPT, "vocabulary: token %zu has no text", i);
		if (n > UINT32_MAX / 8)
			return err_set(e, ST_CORRUPT, "vocabulary: token %zu is %zu bytes long", i, n);
		total += n ? n : sizeof empty;
		if (total > UINT32_MAX / 2)
			return err_set(e, ST_LIMIT, "vocabulary: token texts over 2 GiB");
	}
	v->blob = mem_alloc(total + 1);
	v->off = mem_alloc_array(s->n_tokens, sizeof *v->off);
	v->len = mem_alloc_array(s->n_tokens, sizeof *v->len);
	v->score = mem_calloc(s->n_tokens, sizeof *v->score);
	v->type = mem_alloc(s->n_tokens);
	v->flags = mem_calloc(s->n_tokens, 1);
	v->tab_mask = pow2_at_least(s->n_tokens * 2 + 1) - 1;
	v->tab = mem_alloc_array(v->tab_mask + 1, sizeof *v->tab);
	if (!v->blob || !v->off || !v->len || !v->score || !v->type || !v->flags || !v->tab)
		return err_set(e, ST_NOMEM, "vocabulary of %zu tokens", s->n_tokens);
	memset(v->tab, 0xff, (v->tab_mask + 1) * sizeof *v->tab);

	for (size_t i = 0; i < s->n_tokens; i++) {
		const char *t = s->tokens[i];
		size_t n = s->token_lens ? s->token_lens[i] : (t ? strlen(t) : 0);
		size_t slot;

		if (n == 0) {
			/* as llama.cpp: an empty token gets a placeholder text */
			int k = snprintf(empty, sizeof empty, "[EMPTY_%zu]", i);

			t = empty;
			n = (size_t)k;
		}
		memcpy(v->blob + o, t, n);
		v->off[i] = (uint32_t)o;
		v->len[i] = (uint32_t)n;
		o += n;
		v->score[i] = s->scores ? s->scores[i] : 0.0f;
		if (s->types) {
			int32_t ty = s->types[i];

			v->type[i] = (uint8_t)(ty >= MDL_TOKEN_NORMAL && ty <= MDL_TOKEN_BYTE
					       ? ty : MDL_TOKEN_UNDEFINED);
		} else {
			v->type[i] = MDL_TOKEN_NORMAL;
		}
		if (v->type[i] == MDL_TOKEN_BYTE && s->model && strcmp(s->model, "llama") == 0 &&
		    !(n == 6 && memcmp(t, "<0x", 3) == 0 && hexval(t[3]) >= 0 &&
		      hexval(t[4]) >= 0 && t[5] == '>'))
			return err_set(e, ST_CORRUPT,
				       "vocabulary: byte token %zu is '%.*s', not <0xXX>", i,
				       (int)(n > 40 ? 40 : n), t);

		slot = (size_t)hash_bytes(t, n) & v->tab_mask;
		while (v->tab[slot] >= 0) {
			int32_t j = v->tab[slot];

			if (v->len[j] == n && memcmp(v->blob + v->off[j], t, n) == 0)
				return err_set(e, ST_CORRUPT,
					       "vocabulary: tokens %d and %zu have the same text '%.*s'",
					       j, i, (int)(n > 40 ? 40 : n), t);
			slot = (slot + 1) & v->tab_mask;
		}
		v->tab[slot] = (int32_t)i;
	}
	return ST_OK;
}

status_t mdl_vocab_new(const struct mdl_vocab_spec *s, struct mdl_vocab **out,
		       struct err *e)
{
	struct mdl_vocab *v;
	status_t st;
	int is_spm;

	*out = NULL;
	if (!s->model)
		return err_set(e, ST_CORRUPT, "vocabulary: no tokenizer model given");
	if (strcmp(s->model, "llama") == 0)
		is_spm = 1;
	else if (strcmp(s->model, "gpt2") == 0)
		is_spm = 0;
	else
		return err_set(e, ST_UNSUPPORTED,
			       "vocabulary: tokenizer model '%.64s' is not supported (llama, gpt2)",
			       s->model);
	if (s->n_tokens == 0 || !s->tokens)
		return err_set(e, ST_CORRUPT, "vocabulary: no tokens");
	if (s->n_tokens > (size_t)INT32_MAX / 4)
		return err_set(e, ST_CORRUPT, "vocabulary: %zu tokens is too many", s->n_tokens);
	if (!is_spm && (s->n_merges == 0 || !s->merges))
		return err_set(e, ST_CORRUPT, "vocabulary: a gpt2 tokenizer needs merges");

	v = mem_calloc(1, sizeof *v);
	if (!v)
		return err_set(e, ST_NOMEM, "vocabulary");
	v->kind = is_spm ? MDL_VOCAB_SPM : MDL_VOCAB_BPE;
	v->n = (int32_t)s->n_tokens;
	v->pre_name = mem_strdup(s->pre && *s->pre ? s->pre : "default");
	if (!v->pre_name) {
		st = err_set(e, ST_NOMEM, "vocabulary");
		goto fail;
	}
	if (s->chat_template) {
		v->chat_template = mem_strndup(s->chat_template,
					       s->chat_template_len ? s->chat_template_len
								    : strlen(s->chat_template));
		if (!v->chat_template) {
			st = err_set(e, ST_NOMEM, "vocabulary");
			goto fail;
		}
	}

	st = build_tokens(v, s, e);
	if (st != ST_OK)
		goto fail;

	/* defaults of the tokenizer kind, as llama.cpp */
	for (int i = 0; i < MDL_SPECIAL__COUNT; i++)
		v->special[i] = MDL_TOKEN_NULL;
	if (is_spm) {
		v->special[MDL_SPECIAL_BOS] = 1;
		v->special[MDL_SPECIAL_EOS] = 2;
		v->special[MDL_SPECIAL_UNK] = 0;
		v->add_bos = 1;
		v->add_space_prefix = 1;
	} else {
		v->special[MDL_SPECIAL_BOS] = 11;
		v->special[MDL_SPECIAL_EOS] = 11;
		v->clean_spaces = 1;
		st = mdl__bpe_setup(v, e);	/* may set add_bos, clean_spaces, ignore_merges */
		if (st != ST_OK)
			goto fail;
	}
	for (int i = 0; i < MDL_SPECIAL__COUNT; i++) {
		int64_t id = s->special[i];

		if (id == MDL_SPEC_UNSET)
			continue;
		if (id < -1 || id >= (int64_t)s->n_tokens) {
			st = err_set(e, ST_CORRUPT,
				     "vocabulary: %s token id %lld is outside the %zu tokens",
				     special_key_names[i], (long long)id, s->n_tokens);
			goto fail;
		}
		v->special[i] = (int32_t)id;
	}
	for (int i = 0; i < MDL_SPECIAL__COUNT; i++)
		if (v->special[i] >= v->n)
			v->special[i] = MDL_TOKEN_NULL;
	if (s->add_bos >= 0)
		v->add_bos = !!s->add_bos;
	if (s->add_eos >= 0)
		v->add_eos = !!s->add_eos;
	if (s->add_space_prefix >= 0)
		v->add_space_prefix = !!s->add_space_prefix;
	if (v->add_bos && v->special[MDL_SPECIAL_BOS] < 0) {
		st = err_set(e, ST_CORRUPT, "vocabulary: adds BOS but has no BOS token");
		goto fail;
	}
	if (v->add_eos && v->special[MDL_SPECIAL_EOS] < 0) {
		st = err_set(e, ST_CORRUPT, "vocabulary: adds EOS but has no EOS token");
		goto fail;
	}

	if (!is_spm) {
		st = build_merges(v, s, e);
		if (st != ST_OK)
			goto fail;
	}
	build_byte_tokens(v);
	detect_specials(v);
	st = build_specials(v);
	if (st == ST_OK)
		st = build_pieces(v);
	if (st != ST_OK) {
		err_set(e, st, "vocabulary: tables");
		goto fail;
	}
	apply_name_quirks(v, s->name);
	*out = v;
	return ST_OK;
fail:
	mdl_vocab_free(v);
	return st;
}

void mdl_vocab_free(struct mdl_vocab *v)
{
	if (!v)
		return;
	mdl__bpe_release(v);
	mem_free(v->pre_name);
	mem_free(v->blob);
	mem_free(v->off);
	mem_free(v->len);
	mem_free(v->score);
	mem_free(v->type);
	mem_free(v->flags);
	mem_free(v->tab);
	mem_free(v->merges);
	mem_free(v->specials);
	mem_free(v->pieces);
	mem_free(v->piece_off);
	mem_free(v->piece_len);
	mem_free(v->chat_template);
	mem_free(v);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

enum mdl_vocab_kind mdl_vocab_kind(const struct mdl_vocab *v)
{
	return v->kind;
}

const char *mdl_vocab_pre(const struct mdl_vocab *v)
{
	return v->pre_name;
}

int32_t mdl_vocab_n_tokens(const struct mdl_vocab *v)
{
	return v->n;
}

int32_t mdl_vocab_special(const struct mdl_vocab *v, enum mdl_special which)
{
	if ((unsigned)which >= MDL_SPECIAL__COUNT)
		return MDL_TOKEN_NULL;
	return v->special[which];
}

int mdl_vocab_add_bos(const struct mdl_vocab *v)
{
	return v->add_bos;
}

int mdl_vocab_add_eos(const struct mdl_vocab *v)
{
	return v->add_eos;
}

int mdl_vocab_is_eog(const struct mdl_vocab *v, int32_t id)
{
	return id >= 0 && id < v->n && (v->flags[id] & TOK_EOG);
}

enum mdl_token_type mdl_vocab_token_type(const struct mdl_vocab *v, int32_t id)
{
	if (id < 0 || id >= v->n)
		return MDL_TOKEN_UNDEFINED;
	return (enum mdl_token_type)v->type[id];
}

const char *mdl_vocab_token_text(const struct mdl_vocab *v, int32_t id, size_t *len)
{
	if (id < 0 || id >= v->n) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = v->len[id];
	return v->blob + v->off[id];
}

int32_t mdl_vocab_find(const struct mdl_vocab *v, const char *text, size_t len)
{
	return mdl__tok_find(v, text, len);
}

const char *mdl_vocab_chat_template(const struct mdl_vocab *v)
{
	return v->chat_template;
}

const char *mdl_token_piece(const struct mdl_vocab *v, int32_t id, size_t *len)
{
	if (id < 0 || id >= v->n) {
		*len = 0;
		return "";
	}
	*len = v->piece_len[id];
	return v->pieces + v->piece_off[id];
}

const char *mdl_token_output(const struct mdl_vocab *v, int32_t id, size_t *len)
{
	if (id >= 0 && id < v->n &&
	    (v->type[id] == MDL_TOKEN_CONTROL || v->type[id] == MDL_TOKEN_UNKNOWN)) {
		*len = 0;
		return "";
	}
	return mdl_token_piece(v, id, len);
}
