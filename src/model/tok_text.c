/*
 * tok_text.c - text to tokens and back: input checks, the split of the
 * text around special tokens written in it (longest first, as llama.cpp's
 * tokenizer_st_partition), BOS/EOS, the SentencePiece space handling,
 * and detokenisation with llama.cpp's optional clean-up of spaces.
 */
#include "model/tok_int.h"

#include <ctype.h>
#include <string.h>

struct frag {
	int32_t id;	/* token, or -1 for raw text */
	uint32_t off, len;	/* raw text: bytes in the input (< MDL_TOKENIZE_MAX_BYTES) */
};

struct frags {
	struct frag *a;
	size_t n, cap;
};

static status_t frags_push(struct frags *f, int32_t id, size_t off, size_t len)
{
	if (id < 0 && len == 0)
		return ST_OK;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct frag *p = mem_realloc_array(f->a, cap, sizeof *p);

		if (!p)
			return ST_NOMEM;
		f->a = p;
		f->cap = cap;
	}
	f->a[f->n].id = id;
	f->a[f->n].off = (uint32_t)off;
	f->a[f->n].len = (uint32_t)len;
	f->n++;
	return ST_OK;
}

/* Splits the raw fragments of in around occurrences of token id into out. */
static status_t split_special(const struct mdl_vocab *v, int32_t id, const char *text,
			      const struct frags *in, struct frags *out)
{
	const char *tt = v->blob + v->off[id];
	size_t tn = v->len[id];
	status_t st = ST_OK;

	out->n = 0;
	for (size_t k = 0; k < in->n && st == ST_OK; k++) {
		size_t off = in->a[k].off, len = in->a[k].len;

		if (in->a[k].id >= 0) {
			st = frags_push(out, in->a[k].id, 0, 0);
			continue;
		}
		while (st == ST_OK && len > 0) {
			const char *hit = memmem(text + off, len, tt, tn);
			size_t left, roff, rlen;

			if (!hit) {
				st = frags_push(out, -1, off, len);
				break;
			}
			left = (size_t)(hit - (text + off));
			if (v->flags[id] & TOK_LSTRIP)
				while (left > 0 && isspace((unsigned char)text[off + left - 1]))
					left--;
			st = frags_push(out, -1, off, left);
			if (st == ST_OK)
				st = frags_push(out, id, 0, 0);
			roff = (size_t)(hit - text) + tn;
			rlen = off + len - roff;
			if (v->flags[id] & TOK_RSTRIP)
				while (rlen > 0 && isspace((unsigned char)text[roff])) {
					roff++;
					rlen--;
				}
			off = roff;
			len = rlen;
		}
	}
	return st;
}

/* SPM: optional leading space, every space as U+2581, then the merges. */
static status_t spm_fragment(const struct mdl_vocab *v, const char *s, size_t n,
			     int space_prefix, struct mdl_tokens *out)
{
	size_t spaces = space_prefix ? 1 : 0, o = 0;
	char *t;
	status_t st;

	for (size_t i = 0; i < n; i++)
		spaces += s[i] == ' ';
	t = mem_alloc(n + 2 * spaces + 1);
	if (!t)
		return ST_NOMEM;
	if (space_prefix) {
		memcpy(t, "\xE2\x96\x81", 3);
		o = 3;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ') {
			memcpy(t + o, "\xE2\x96\x81", 3);
			o += 3;
		} else {
			t[o++] = s[i];
		}
	}
	st = mdl__spm_tokenize(v, t, o, out);
	mem_free(t);
	return st;
}

status_t mdl_tokenize(const struct mdl_vocab *v, const char *text, size_t len,
		      unsigned flags, struct mdl_tokens *out, struct err *e)
{
	struct frags a = { 0 }, b = { 0 };
	size_t saved = out->len, good;
	int bad, prev_special = 1;
	status_t st = ST_OK;
	const char *nul;

	if (len > MDL_TOKENIZE_MAX_BYTES)
		return err_set(e, ST_LIMIT, "tokenize: text of %zu bytes is over the limit of %zu",
			       len, MDL_TOKENIZE_MAX_BYTES);
	if (len && !text)
		return err_set(e, ST_INVAL, "tokenize: no text");
	nul = len ? memchr(text, 0, len) : NULL;
	if (nul)
		return err_set(e, ST_CORRUPT, "tokenize: NUL byte at offset %zu",
			       (size_t)(nul - text));
	good = mdl__utf8_valid_prefix(text, len, &bad);
	if (good != len)
		return err_set(e, ST_CORRUPT, "tokenize: invalid UTF-8 at byte offset %zu", good);

	if ((flags & MDL_TOK_ADD_SPECIAL) && v->add_bos) {
		st = mdl_tokens_push(out, v->special[MDL_SPECIAL_BOS]);
		if (st != ST_OK)
			goto fail;
	}

	if (len) {
		st = frags_push(&a, -1, 0, len);
		for (size_t k = 0; k < v->n_specials && st == ST_OK; k++) {
			int32_t id = v->specials[k];
			struct frags t;

			if (!(flags & MDL_TOK_PARSE_SPECIAL) &&
			    (v->type[id] == MDL_TOKEN_CONTROL || v->type[id] == MDL_TOKEN_UNKNOWN))
				continue;	/* only user-defined tokens without parse_special */
			st = split_special(v, id, text, &a, &b);
			t = a;
			a = b;
			b = t;
		}
		if (st != ST_OK)
			goto fail;
	}

	for (size_t k = 0; k < a.n && st == ST_OK; k++) {
		const struct frag *f = &a.a[k];

		if (f->id >= 0) {
			st = mdl_tokens_push(out, f->id);
			prev_special = 1;
		} else if (v->kind == MDL_VOCAB_SPM) {
			st = spm_fragment(v, text + f->off, f->len,
					  v->add_space_prefix && prev_special &&
					  !(flags & MDL_TOK_NO_SPACE_PREFIX),
					  out);
			prev_special = 0;
		} else {
			st = mdl__bpe_tokenize(v, text + f->off, f->len, out, e);
			if (st != ST_OK) {
				mem_free(a.a);
				mem_free(b.a);
				out->len = saved;
				return st;
			}
		}
	}
	if (st == ST_OK && (flags & MDL_TOK_ADD_SPECIAL) && v->add_eos)
		st = mdl_tokens_push(out, v->special[MDL_SPECIAL_EOS]);
	if (st != ST_OK)
		goto fail;
	mem_free(a.a);
	mem_free(b.a);
	return ST_OK;
fail:
	mem_free(a.a);
	mem_free(b.a);
	out->len = saved;
	return err_set(e, st, "tokenize: %s",
		       st == ST_LIMIT ? "more tokens than the list may hold" : status_str(st));
}

/* ------------------------------------------------------------------ */
/* Detokenizing                                                        */
/* ------------------------------------------------------------------ */

/* llama.cpp's clean-up of tokenization spaces, in place; returns the new length. */
static size_t clean_spaces(char *t, size_t total)
{
	size_t n, i, total1, total2, total3;

	/* " ?", " !", " .", " ," lose the space */
	total1 = total;
	n = total ? 1 : 0;
	for (i = 1; i < total1; i++) {
		char x = t[i];

		if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
			n--;
		t[n++] = x;
	}
	/* " ' " loses both spaces */
	total2 = n;
	n = total2 ? 1 : 0;
	for (i = 1; i < total2; i++) {
		char x = t[i];

		if (x == '\'' && i + 1 < total2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
			n--;
			t[++i] = '\0';
		}
		t[n++] = x;
	}
	/* " 's", " 'm", " 're", " 've" lose the space */
	total3 = n;
	n = total3 ? 1 : 0;
	for (i = 1; i < total3; i++) {
		char x = t[i];

		if (t[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
			char x1 = t[i + 1];

			if (x1 == 's' || x1 == 'm')
				n--;
			else if (i + 2 < total3 && ((x1 == 'r' && t[i + 2] == 'e') ||
						    (x1 == 'v' && t[i + 2] == 'e')))
				n--;
		}
		t[n++] = x;
	}
	return n;
}

status_t mdl_detokenize(const struct mdl_vocab *v, const int32_t *ids, size_t n,
			unsigned flags, struct buf *out, struct err *e)
{
	size_t start = out->len;
	int remove_space = v->add_space_prefix;
	status_t st;

	if ((flags & MDL_DETOK_REMOVE_SPECIAL) && v->add_bos && n > 0 &&
	    ids[0] == v->special[MDL_SPECIAL_BOS]) {
		remove_space = 0;
		ids++;
		n--;
	}
	if ((flags & MDL_DETOK_REMOVE_SPECIAL) && v->add_eos && n > 0 &&
	    ids[n - 1] == v->special[MDL_SPECIAL_EOS])
		n--;
	for (size_t i = 0; i < n; i++) {
		const char *p;
		size_t k;

		if (ids[i] < 0 || ids[i] >= v->n) {
			out->len = start;
			if (out->data)
				out->data[start] = 0;
			return err_set(e, ST_INVAL, "detokenize: token %d at %zu is outside the %d tokens",
				       ids[i], i, v->n);
		}
		if (!(flags & MDL_DETOK_RENDER_SPECIAL) &&
		    (v->type[ids[i]] == MDL_TOKEN_CONTROL || v->type[ids[i]] == MDL_TOKEN_UNKNOWN)) {
			remove_space = 0;
			continue;
		}
		p = mdl_token_piece(v, ids[i], &k);
		if (remove_space && k > 0 && p[0] == ' ') {
			p++;
			k--;
		}
		remove_space = 0;
		st = buf_append(out, p, k);
		if (st != ST_OK) {
			out->len = start;
			if (out->data)
				out->data[start] = 0;
			return err_set(e, st, "detokenize: text");
		}
	}
	if (v->clean_spaces && !(flags & MDL_DETOK_NO_CLEANUP) && out->len > start) {
		out->len = start + clean_spaces(out->data + start, out->len - start);
		out->data[out->len] = 0;
	}
	return ST_OK;
}
