/*
 * tok_spm.c - the SentencePiece-style tokenizer ("llama" vocabularies) as
 * llama.cpp runs it: the text (spaces already written as U+2581) starts
 * as one symbol per UTF-8 character; the adjacent pair whose joined text
 * is the token with the highest score is merged, repeatedly (ties: the
 * leftmost pair); symbols that are not tokens fall back to byte tokens
 * <0xXX>.
 */
#include "model/tok_int.h"

#include <string.h>

struct ssym {
	const char *text;
	uint32_t n;	/* bytes; 0 once merged into the left neighbour */
	int32_t prev, next;
};

struct sbigram {
	int32_t left, right;
	float score;
	uint32_t size;	/* bytes of the pair when queued (stale if changed) */
};

/* Higher score first, then the leftmost pair. */
static int sb_before(const void *xp, const void *yp)
{
	const struct sbigram *x = xp, *y = yp;

	return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static status_t try_pair(const struct mdl_vocab *v, struct ssym *s, struct heap *h,
			 int32_t l, int32_t r)
{
	struct sbigram b;
	int32_t id;

	if (l < 0 || r < 0)
		return ST_OK;
	/* symbols are consecutive in the text, so the pair is one span */
	id = mdl__tok_find(v, s[l].text, s[l].n + s[r].n);
	if (id < 0)
		return ST_OK;
	b.left = l;
	b.right = r;
	b.score = v->score[id];
	b.size = s[l].n + s[r].n;
	return heap_push(h, &b);
}

status_t mdl__spm_tokenize(const struct mdl_vocab *v, const char *text, size_t n,
			   struct mdl_tokens *out)
{
	struct ssym *s;
	struct heap h;
	struct sbigram b;
	size_t ns = 0, off = 0;
	status_t st = ST_OK;

	if (n == 0)
		return ST_OK;
	heap_init(&h, sizeof(struct sbigram), sb_before);
	s = mem_alloc_array(n, sizeof *s);
	if (!s)
		return ST_NOMEM;
	while (off < n) {
		size_t k = mdl__utf8_len((unsigned char)text[off]);

		if (k > n - off)
			k = n - off;
		s[ns].text = text + off;
		s[ns].n = (uint32_t)k;
		s[ns].prev = (int32_t)ns - 1;
		off += k;
		s[ns].next = off == n ? -1 : (int32_t)ns + 1;
		ns++;
	}
	for (size_t i = 1; i < ns && st == ST_OK; i++)
		st = try_pair(v, s, &h, (int32_t)i - 1, (int32_t)i);
	while (st == ST_OK && heap_pop(&h, &b)) {
		struct ssym *l = &s[b.left], *r = &s[b.right];

		if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
			continue;	/* outdated */
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			s[r->next].prev = b.left;
		st = try_pair(v, s, &h, l->prev, b.left);
		if (st == ST_OK)
			st = try_pair(v, s, &h, b.left, l->next);
	}
	for (int32_t i = 0; st == ST_OK && i >= 0; i = s[i].next) {
		int32_t id = mdl__tok_find(v, s[i].text, s[i].n);

		if (id >= 0) {
			st = mdl_tokens_push(out, id);
			continue;
		}
		/* not a token: its bytes, each as <0xXX> (or unknown without one) */
		for (uint32_t k = 0; k < s[i].n && st == ST_OK; k++) {
			int32_t bt = v->byte_tok[(unsigned char)s[i].text[k]];

			if (bt < 0)
				bt = v->special[MDL_SPECIAL_UNK];
			if (bt >= 0)
				st = mdl_tokens_push(out, bt);
		}
	}
	mem_free(s);
	heap_release(&h);
	return st;
}
