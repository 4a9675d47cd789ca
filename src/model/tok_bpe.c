/*
 * tok_bpe.c - byte-level BPE ("gpt2" tokenizers): the per-model
 * pre-tokenizer (a chain of PCRE2 regexes in UTF mode with Unicode
 * properties, each splitting the pieces the previous one left, keeping
 * the text between matches as pieces of its own, as llama.cpp's
 * unicode_regex_split), then the merges of each piece by rank.
 *
 * The merges run on raw bytes: every symbol is a token id (initially the
 * token of one byte's byte-level character) and a pair merges into the
 * token the merge table names. This is the same as merging the byte-level
 * strings, because every merge's parts and result are tokens (checked
 * when the vocabulary is built).
 */
#include "model/tok_int.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Pre-tokenizers                                                      */
/* ------------------------------------------------------------------ */

/* The regex of GPT-2's byte-level pre-tokenizer. */
#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Llama 3 (and DBRX, Smaug, ChatGLM-4): numbers in groups of up to three. */
#define RX_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Qwen2: as Llama 3 with single digits. */
#define RX_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK ideographs and Hangul, kept apart by the DeepSeek tokenizers. */
#define RX_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
#define RX_FINNISH " ?[^(\\s|.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C)]+"

enum {
	PRE_ADD_BOS = 1,	/* the tokenizer adds BOS by default */
	PRE_IGNORE_MERGES = 2,	/* a word that is a whole token is not merged */
	PRE_NO_CLEAN = 4,	/* no clean-up of spaces when detokenizing */
	PRE_NO_BOS = 8,		/* the model has no BOS token */
};

struct pre_def {
	const char *names;	/* names in tokenizer.ggml.pre, separated by '|' */
	unsigned flags;
	const char *rx[TOK_MAX_RX];
};

static const struct pre_def pre_defs[] = {
	{ "default", 0,
	  { "[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" } },
	{ "llama3|llama-v3|llama-bpe|falcon3|dbrx|smaug-bpe", PRE_ADD_BOS | PRE_IGNORE_MERGES,
	  { RX_LLAMA3 } },
	{ "chatglm-bpe", PRE_NO_BOS, { RX_LLAMA3 } },
	{ "deepseek-llm", PRE_NO_CLEAN,
	  { "[\r\n]",
	    "\\s?[A-Za-z\xC2\xB5\xC3\x80-\xC3\x96\xC3\x98-\xC3\xB6\xC3\xB8-\xC6\xBA\xC6\xBC-\xC6\xBF\xC7\x84-\xCA\x93\xCA\x95-\xCA\xAF\xCD\xB0-\xCD\xB3\xCD\xB6\xCD\xB7\xCD\xBB-\xCD\xBD\xCD\xBF\xCE\x86\xCE\x88-\xCE\x8A\xCE\x8C\xCE\x8E-\xCE\xA1\xCE\xA3-\xCF\xB5\xCF\xB7-\xD2\x81\xD2\x8A-\xD4\xAF\xD4\xB1-\xD5\x96\xE1\x82\xA0-\xE1\x83\x85\xE1\x8E\xA0-\xE1\x8F\xB5\xE1\x8F\xB8-\xE1\x8F\xBD\xE1\xB2\x90-\xE1\xB2\xBA\xE1\xB2\xBD-\xE1\xB2\xBF\xE1\xB4\x80-\xE1\xB4\xAB\xE1\xB5\xAB-\xE1\xB5\xB7\xE1\xB5\xB9-\xE1\xB6\x9A\xE1\xB8\x80-\xE1\xBC\x95\xE1\xBC\x98-\xE1\xBC\x9D\xE1\xBC\xA0-\xE1\xBD\x85\xE1\xBD\x88-\xE1\xBD\x8D\xE1\xBD\x90-\xE1\xBD\x97\xE1\xBD\x99\xE1\xBD\x9B\xE1\xBD\x9D\xE1\xBD\x9F-\xE1\xBD\xBD\xE1\xBE\x80-\xE1\xBE\xB4\xE1\xBE\xB6-\xE1\xBE\xBC\xE1\xBE\xBE\xE1\xBF\x82-\xE1\xBF\x84\xE1\xBF\x86-\xE1\xBF\x8C\xE1\xBF\x90-\xE1\xBF\x93\xE1\xBF\x96-\xE1\xBF\x9B\xE1\xBF\xA0-\xE1\xBF\xAC\xE1\xBF\xB2-\xE1\xBF\xB4\xE1\xBF\xB6-\xE1\xBF\xBC\xE2\x84\x82\xE2\x84\x87\xE2\x84\x8A-\xE2\x84\x93\xE2\x84\x95\xE2\x84\x99-\xE2\x84\x9D\xE2\x84\xA4\xE2\x84\xA6\xE2\x84\xA8\xE2\x84\xAA-\xE2\x84\xAD\xE2\x84\xAF-\xE2\x84\xB4\xE2\x84\xB9\xE2\x84\xBC-\xE2\x84\xBF\xE2\x85\x85-\xE2\x85\x89\xE2\x85\x8E\xE2\x86\x83\xE2\x86\x84\xE2\xB0\x80-\xE2\xB1\xBB\xE2\xB1\xBE-\xE2\xB3\xA4\xE2\xB3\xAB-\xE2\xB3\xAE\xE2\xB3\xB2\xE2\xB3\xB3\xEA\x99\x80-\xEA\x99\xAD\xEA\x9A\x80-\xEA\x9A\x9B\xEA\x9C\xA2-\xEA\x9D\xAF\xEA\x9D\xB1-\xEA\x9E\x87\xEA\x9E\x8B-\xEA\x9E\x8E\xEA\xAD\xB0-\xEA\xAE\xBF\xEF\xAC\x80-\xEF\xAC\x86\xEF\xAC\x93-\xEF\xAC\x97\xEF\xBC\xA1-\xEF\xBC\xBA\xEF\xBD\x81-\xEF\xBD\x9A\xF0\x90\x90\x80-\xF0\x90\x91\x8F\xF0\x90\x92\xB0-\xF0\x90\x93\x93\xF0\x90\x93\x98-\xF0\x90\x93\xBB\xF0\x90\xB2\x80-\xF0\x90\xB2\xB2\xF0\x90\xB3\x80-\xF0\x90\xB3\xB2\xF0\x91\xA2\xA0-\xF0\x91\xA3\x9F\xF0\x9E\xA4\x80-\xF0\x9E\xA5\x83]+",
	    "\\s?[!-/:-~\xEF\xBC\x81-\xEF\xBC\x8F\xEF\xBC\x9A-\xEF\xBD\x9E\xE2\x80\x98-\xE2\x80\x9F\xE3\x80\x80-\xE3\x80\x82]+",
	    "\\s+$", RX_CJK, "\\p{N}+" } },
	{ "deepseek-v3", PRE_NO_CLEAN,
	  { "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
	    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+" } },
	{ "deepseek-coder", PRE_NO_CLEAN,
	  { "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK, "\\p{N}" } },
	{ "falcon", 0,
	  { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]" } },
	{ "starcoder|refact|codeshell|exaone|minerva-7b", 0, { "\\p{N}", RX_GPT2 } },
	{ "command-r|smollm", PRE_NO_CLEAN, { "\\p{N}", RX_GPT2 } },
	{ "gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|jina-v2-code|roberta-bpe|mpt|olmo|jais",
	  0, { RX_GPT2 } },
	{ "qwen2|deepseek-r1-qwen|stablelm2", PRE_NO_CLEAN, { RX_QWEN2 } },
	{ "megrez", 0, { RX_QWEN2 } },
	{ "poro-chat|viking", PRE_NO_CLEAN, { RX_FINNISH, "\\p{N}" } },
	{ "bloom|gpt3-finnish", 0, { RX_FINNISH } },
	{ "tekken", PRE_NO_CLEAN | PRE_ADD_BOS | PRE_IGNORE_MERGES,
	  { "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" } },
};

static int name_in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (*list) {
		const char *bar = strchr(list, '|');
		size_t k = bar ? (size_t)(bar - list) : strlen(list);

		if (k == n && memcmp(list, name, n) == 0)
			return 1;
		if (!bar)
			break;
		list = bar + 1;
	}
	return 0;
}

/* PCRE2 allocates through core's allocator, so fault injection reaches it. */
static void *rx_malloc(PCRE2_SIZE n, void *data)
{
	(void)data;
	return mem_alloc(n);
}

static void rx_free(void *p, void *data)
{
	(void)data;
	mem_free(p);
}

status_t mdl__bpe_setup(struct mdl_vocab *v, struct err *e)
{
	const struct pre_def *def = NULL;

	for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++)
		if (name_in_list(pre_defs[i].names, v->pre_name)) {
			def = &pre_defs[i];
			break;
		}
	if (!def)
		return err_set(e, ST_UNSUPPORTED,
			       "vocabulary: pre-tokenizer '%.64s' is not supported",
			       v->pre_name);
	if (def->flags & PRE_ADD_BOS)
		v->add_bos = 1;
	if (def->flags & PRE_IGNORE_MERGES)
		v->ignore_merges = 1;
	if (def->flags & PRE_NO_CLEAN)
		v->clean_spaces = 0;
	if (def->flags & PRE_NO_BOS)
		v->special[MDL_SPECIAL_BOS] = MDL_TOKEN_NULL;

	v->rx_gctx = pcre2_general_context_create(rx_malloc, rx_free, NULL);
	if (!v->rx_gctx)
		return err_set(e, ST_NOMEM, "vocabulary: regex context");
	v->rx_cctx = pcre2_compile_context_create(v->rx_gctx);
	if (!v->rx_cctx)
		return err_set(e, ST_NOMEM, "vocabulary: regex context");
	for (size_t i = 0; i < TOK_MAX_RX && def->rx[i]; i++) {
		int code;
		PCRE2_SIZE at;

		/*
		 * UCP: \s, \d and friends follow Unicode as the reference
		 * tokenizers' regex engines do; DOLLAR_ENDONLY: "$" is the end
		 * of the piece only, not before a final newline.
		 */
		v->rx[i] = pcre2_compile((PCRE2_SPTR)def->rx[i], PCRE2_ZERO_TERMINATED,
					 PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY |
					 PCRE2_NO_UTF_CHECK,
					 &code, &at, v->rx_cctx);
		if (!v->rx[i]) {
			PCRE2_UCHAR msg[160];

			pcre2_get_error_message(code, msg, sizeof msg);
			return err_set(e, code == PCRE2_ERROR_HEAP_FAILED ? ST_NOMEM : ST_INTERNAL,
				       "vocabulary: pre-tokenizer '%s' regex %zu: %s at %zu",
				       v->pre_name, i, (const char *)msg, (size_t)at);
		}
		/* JIT is a speed-up only; the interpreter gives the same matches. */
		(void)pcre2_jit_compile(v->rx[i], PCRE2_JIT_COMPLETE);
		v->n_rx = i + 1;
	}
	return ST_OK;
}

void mdl__bpe_release(struct mdl_vocab *v)
{
	for (size_t i = 0; i < v->n_rx; i++)
		pcre2_code_free(v->rx[i]);
	v->n_rx = 0;
	pcre2_compile_context_free(v->rx_cctx);
	pcre2_general_context_free(v->rx_gctx);
	v->rx_cctx = NULL;
	v->rx_gctx = NULL;
}

/* ------------------------------------------------------------------ */
/* Merging                                                             */
/* ------------------------------------------------------------------ */

struct sym {
	int32_t id;	/* token of the symbol's bytes, -1 none */
	int32_t prev, next;
	uint32_t n;	/* bytes; 0 once merged into the left neighbour */
};

struct bigram {
	int32_t left, right;	/* symbol indexes */
	int32_t lid, rid;	/* their tokens when queued (stale if changed) */
	int32_t rank;
};

/* Lower rank first, then the leftmost pair. */
static int bg_less(const void *xp, const void *yp)
{
	const struct bigram *x = xp, *y = yp;

	return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}

struct bpe_work {
	struct sym *syms;
	size_t cap;
	struct heap heap;	/* of struct bigram */
	char *enc;	/* byte-level text of a word */
	size_t enc_cap;
};

static status_t add_bigram(const struct mdl_vocab *v, struct bpe_work *w,
			   int32_t l, int32_t r)
{
	const struct tok_merge *m;
	struct bigram b;

	if (l < 0 || r < 0 || w->syms[l].id < 0 || w->syms[r].id < 0)
		return ST_OK;
	m = mdl__tok_merge_find(v, w->syms[l].id, w->syms[r].id);
	if (!m)
		return ST_OK;
	b.left = l;
	b.right = r;
	b.lid = w->syms[l].id;
	b.rid = w->syms[r].id;
	b.rank = m->rank;
	return heap_push(&w->heap, &b);
}

/* The byte-level spelling of word, for the whole-word lookup. */
static status_t encode_word(struct bpe_work *w, const char *s, size_t n, size_t *len)
{
	size_t need = n * 2, o = 0;

	if (need > w->enc_cap) {
		char *p = mem_realloc(w->enc, need);

		if (!p)
			return ST_NOMEM;
		w->enc = p;
		w->enc_cap = need;
	}
	for (size_t i = 0; i < n; i++)
		o += mdl__utf8_put(mdl__bpe_byte_cpt((unsigned char)s[i]), w->enc + o);
	*len = o;
	return ST_OK;
}

static status_t bpe_word(const struct mdl_vocab *v, struct bpe_work *w,
			 const char *s, size_t n, struct mdl_tokens *out)
{
	struct bigram b;
	status_t st;
	int32_t i;

	if (v->ignore_merges) {
		size_t k;
		int32_t id;

		st = encode_word(w, s, n, &k);
		if (st != ST_OK)
			return st;
		id = mdl__tok_find(v, w->enc, k);
		if (id >= 0)
			return mdl_tokens_push(out, id);
	}
	if (n > w->cap) {
		struct sym *p = mem_realloc_array(w->syms, n, sizeof *p);

		if (!p)
			return ST_NOMEM;
		w->syms = p;
		w->cap = n;
	}
	for (size_t k = 0; k < n; k++) {
		w->syms[k].id = v->byte_tok[(unsigned char)s[k]];
		w->syms[k].prev = (int32_t)k - 1;
		w->syms[k].next = k + 1 < n ? (int32_t)k + 1 : -1;
		w->syms[k].n = 1;
	}
	heap_clear(&w->heap);
	for (size_t k = 1; k < n; k++) {
		st = add_bigram(v, w, (int32_t)k - 1, (int32_t)k);
		if (st != ST_OK)
			return st;
	}
	while (heap_pop(&w->heap, &b)) {
		struct sym *l = &w->syms[b.left], *r = &w->syms[b.right];
		const struct tok_merge *m;

		if (l->n == 0 || r->n == 0 || l->id != b.lid || r->id != b.rid)
			continue;	/* outdated */
		m = mdl__tok_merge_find(v, l->id, r->id);
		l->n += r->n;
		l->id = m->result;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->syms[r->next].prev = b.left;
		st = add_bigram(v, w, l->prev, b.left);
		if (st == ST_OK)
			st = add_bigram(v, w, b.left, l->next);
		if (st != ST_OK)
			return st;
	}
	for (i = 0; i >= 0; i = w->syms[i].next) {
		/* a byte without a token has no output, as in llama.cpp */
		if (w->syms[i].id >= 0) {
			st = mdl_tokens_push(out, w->syms[i].id);
			if (st != ST_OK)
				return st;
		}
	}
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Splitting                                                           */
/* ------------------------------------------------------------------ */

struct split {
	const struct mdl_vocab *v;
	const char *text;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	struct bpe_work *w;
	struct mdl_tokens *out;
	struct err *e;
};

/*
 * Splits text[off, off + len) by regex k into matches and the gaps between
 * them, and hands each piece, in order, to regex k + 1; after the last
 * regex a piece is merged. Depth first, so no list of pieces is kept:
 * memory stays bounded by the longest piece whatever the text's length.
 */
static status_t split_piece(struct split *c, size_t off, size_t len, size_t k)
{
	PCRE2_SPTR subj = (PCRE2_SPTR)(c->text + off);
	size_t pos = 0, prev = 0;
	status_t st;

	if (len == 0)
		return ST_OK;
	if (k == c->v->n_rx) {
		st = bpe_word(c->v, c->w, c->text + off, len, c->out);
		if (st != ST_OK)
			return err_set(c->e, st, "tokenize: %s",
				       st == ST_LIMIT ? "more tokens than the list may hold"
						      : "out of memory");
		return ST_OK;
	}
	while (pos < len) {
		int rc = pcre2_match(c->v->rx[k], subj, len, pos, PCRE2_NO_UTF_CHECK, c->md, c->mc);
		PCRE2_SIZE *ov, s0, s1;

		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			PCRE2_UCHAR msg[160];

			pcre2_get_error_message(rc, msg, sizeof msg);
			return err_set(c->e, rc == PCRE2_ERROR_NOMEMORY ? ST_NOMEM : ST_LIMIT,
				       "tokenize: pre-tokenizer regex at byte %zu: %s", off + pos,
				       (const char *)msg);
		}
		ov = pcre2_get_ovector_pointer(c->md);
		s0 = ov[0];
		s1 = ov[1];
		if (s1 == s0) {
			/* an empty match moves on by one character */
			pos = s0 + mdl__utf8_len(subj[s0]);
			continue;
		}
		st = split_piece(c, off + prev, s0 - prev, k + 1);
		if (st == ST_OK)
			st = split_piece(c, off + s0, s1 - s0, k + 1);
		if (st != ST_OK)
			return st;
		prev = pos = s1;
	}
	return split_piece(c, off + prev, len - prev, k + 1);
}

status_t mdl__bpe_tokenize(const struct mdl_vocab *v, const char *text, size_t n,
			   struct mdl_tokens *out, struct err *e)
{
	struct bpe_work w = { 0 };
	struct split c = { v, text, NULL, NULL, &w, out, e };
	status_t st;

	if (n == 0)
		return ST_OK;
	heap_init(&w.heap, sizeof(struct bigram), bg_less);
	c.md = pcre2_match_data_create(4, v->rx_gctx);
	c.mc = pcre2_match_context_create(v->rx_gctx);
	if (!c.md || !c.mc)
		st = err_set(e, ST_NOMEM, "tokenize: regex match data");
	else
		st = split_piece(&c, 0, n, 0);
	pcre2_match_data_free(c.md);
	pcre2_match_context_free(c.mc);
	mem_free(w.syms);
	heap_release(&w.heap);
	mem_free(w.enc);
	return st;
}
