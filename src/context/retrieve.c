/*
 * retrieve.c - hybrid retrieval at a cursor.
 *
 * Three retrievers each return a ranked list of chunks:
 *   symbol  definitions of the identifiers around the cursor (nearest
 *           first), of the names the file imports (through the graph), and
 *           one graph hop: what the lexically closest chunks call
 *   bm25    FTS5 over identifier-split tokens of the lines at the cursor
 *   docs    documents linked to the file (paths globs, symbol mentions)
 * Lists are fused by reciprocal rank (k = 60), deduplicated (one chunk
 * once, no two overlapping ranges of one file), filtered (never the file
 * being edited, only what the scope predicate allows) and packed into
 * the token budget in score order.
 */
#include "context/ctx_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RRF_K 60.0
#define WINDOW_BEFORE 40	/* lines of prefix looked at */
#define WINDOW_AFTER 15
#define BM25_BEFORE 12
#define BM25_AFTER 4
#define MAX_TERMS 40
/* Retriever weights in the fusion: a definition named at the cursor is
 * the surest signal, a lexical match next, a graph hop the weakest. */
#define W_SYMBOL 1.5
#define W_BM25 1.0
#define W_HOP 0.5
#define W_DOCS 1.0

void ctx_result_init(struct ctx_result *r)
{
	memset(r, 0, sizeof *r);
	arena_init(&r->arena, 0, 0);
}

void ctx_result_release(struct ctx_result *r)
{
	if (!r)
		return;
	mem_free(r->hits);
	arena_release(&r->arena);
	r->hits = NULL;
	r->n = r->cap = 0;
}

static const char *const stop[] = {
	"if", "else", "for", "while", "do", "return", "int", "char", "void", "const",
	"static", "struct", "unsigned", "long", "short", "double", "float", "bool",
	"true", "false", "null", "nullptr", "none", "self", "this", "new", "var",
	"let", "function", "def", "class", "import", "from", "include", "define",
	"public", "private", "protected", "the", "and", "or", "not", "in", "is",
	"of", "to", "size", "t", "break", "continue", "case", "switch", "default",
	"goto", "sizeof", "typedef", "enum", "union", "extern", "inline", "async",
	"await", "export", "module", "require", "package", "func", "fn", "pub",
	"mut", "impl", "use", "end", "elif", "pass", "lambda", "with", "as", "try",
	"catch", "except", "finally", "throw", "raise", "err", "error", "nil",
	"string", "i", "j", "k", "n", "s", "p", "e", "c", "x", "y", "ok", "st",
};

static int is_stop(const char *t, size_t n)
{
	for (size_t i = 0; i < sizeof stop / sizeof *stop; i++)
		if (strlen(stop[i]) == n && memcmp(stop[i], t, n) == 0)
			return 1;
	return 0;
}

/* Byte offset where the last `lines` lines of text begin. */
static size_t tail_start(const char *t, size_t n, int lines)
{
	size_t i = n;

	while (i > 0) {
		if (t[i - 1] == '\n' && --lines < 0)
			break;
		i--;
	}
	return i;
}

/* Byte length of the first `lines` lines of text. */
static size_t head_len(const char *t, size_t n, int lines)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] == '\n' && --lines <= 0)
			return i + 1;
	return n;
}

static int id_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int id_char(unsigned char c)
{
	return id_start(c) || (c >= '0' && c <= '9');
}

/* Identifiers of t (raw, case kept) in order; appended to out (arena). */
static status_t identifiers(const char *t, size_t n, struct vec *out,
			    struct vec *called, struct arena *a, int reverse)
{
	struct vec tmp, tmpc;
	status_t st = ST_OK;

	vec_init(&tmp, sizeof(char *));
	vec_init(&tmpc, sizeof(char *));
	for (size_t i = 0; i < n;) {
		if (!id_start((unsigned char)t[i]) ||
		    (i > 0 && id_char((unsigned char)t[i - 1]))) {
			i++;
			continue;
		}
		size_t s = i;
		while (i < n && id_char((unsigned char)t[i]))
			i++;
		if (i - s < 3 || i - s > 128 || is_stop(t + s, i - s))
			continue;
		char *id = arena_strndup(a, t + s, i - s);
		size_t j = i;
		while (j < n && (t[j] == ' ' || t[j] == '\t'))
			j++;
		if (!id || (st = vec_push(j < n && t[j] == '(' ? &tmpc : &tmp, &id))) {
			st = ST_NOMEM;
			break;
		}
	}
	for (size_t i = 0; st == ST_OK && i < tmp.len; i++)
		st = vec_push(out, vec_at(&tmp, reverse ? tmp.len - 1 - i : i));
	for (size_t i = 0; st == ST_OK && i < tmpc.len; i++)
		st = vec_push(called, vec_at(&tmpc, reverse ? tmpc.len - 1 - i : i));
	vec_release(&tmp);
	vec_release(&tmpc);
	return st;
}

/* ---- fusion ---------------------------------------------------------- */

struct fused {
	int64_t chunk_id;
	double score;
	int sources;
};

struct fuse {
	struct hmap idx;	/* chunk id -> index + 1 into v */
	struct vec v;		/* struct fused */
};

static status_t fuse_add(struct fuse *f, int64_t id, int rank, double w, int src)
{
	void *p;
	struct fused *x;

	if (id <= 0)
		return ST_OK;
	if (hmap_get(&f->idx, &id, sizeof id, &p) == ST_OK) {
		x = &VEC_AT(&f->v, struct fused, (size_t)(intptr_t)p - 1);
	} else {
		struct fused nx = { id, 0, 0 };
		status_t st = vec_push(&f->v, &nx);
		if (st || (st = hmap_put(&f->idx, &id, sizeof id, (void *)(intptr_t)f->v.len)))
			return st;
		x = &VEC_AT(&f->v, struct fused, f->v.len - 1);
	}
	x->score += w / (RRF_K + rank);
	x->sources |= src;
	return ST_OK;
}

static int fused_cmp(const void *a, const void *b)
{
	const struct fused *x = a, *y = b;

	return x->score < y->score ? 1 : x->score > y->score ? -1 :
	       (x->chunk_id > y->chunk_id) - (x->chunk_id < y->chunk_id);
}

/* ---- the retrievers ---------------------------------------------------- */

struct qtok {
	struct buf *b;
	struct hmap *seen;
	int n;
};

static int add_term(void *arg, const char *tok, size_t n, size_t s, size_t e,
		    int coloc)
{
	struct qtok *q = arg;

	(void)s; (void)e; (void)coloc;
	if (n < 2 || is_stop(tok, n) || hmap_get(q->seen, tok, n, NULL) == ST_OK)
		return 0;
	if (hmap_put(q->seen, tok, n, NULL) != ST_OK)
		return 1;
	if (q->b->len)
		buf_puts(q->b, " OR ");
	buf_putc(q->b, '"');
	buf_append(q->b, tok, n);
	buf_putc(q->b, '"');
	return ++q->n >= MAX_TERMS;
}

/* An FTS5 query: OR of the distinct split tokens of text. */
static status_t bm25_query(const char *text, size_t n, struct buf *out)
{
	struct hmap seen;
	struct qtok q = { out, &seen, 0 };

	hmap_init(&seen);
	ctx_tokens_split(text, n, add_term, &q);
	hmap_release(&seen);
	return ST_OK;
}

static status_t run_bm25(struct ctx *c, const char *text, size_t n, int limit,
			 struct vec *out, struct err *e)
{
	struct buf q;
	status_t st = ST_OK;

	buf_init(&q, 1 << 16);
	bm25_query(text, n, &q);
	if (q.len)
		st = ctx__store_bm25(c, buf_cstr(&q), limit, out, e);
	buf_release(&q);
	return st;
}

status_t ctx_search(struct ctx *c, const char *query, int top_k,
		    ctx_allow_fn allow, void *allow_arg,
		    struct ctx_result *out, struct err *e)
{
	struct vec cands;
	status_t st;

	if (top_k <= 0)
		top_k = 10;
	vec_init(&cands, sizeof(struct ctx__cand));
	st = run_bm25(c, query, strlen(query), top_k * 4 + 20, &cands, e);
	for (size_t i = 0; st == ST_OK && i < cands.len && out->n < (size_t)top_k; i++) {
		struct ctx__cand *cd = &VEC_AT(&cands, struct ctx__cand, i);
		struct ctx_hit *h;
		if ((st = ctx__result_push(out, &h)))
			break;
		if ((st = ctx__store_chunk_hit(c, cd->chunk_id, out, h, e)))
			break;
		if (allow && !allow(allow_arg, h->repo, h->path)) {
			out->n--;
			continue;
		}
		h->score = cd->score;
		h->sources = CTX_SRC_BM25;
	}
	vec_release(&cands);
	return st;
}

static size_t count_tokens(const struct ctx_query *q, const char *t, size_t n)
{
	if (q->count_tokens)
		return q->count_tokens(q->count_arg, t, n);
	return (n + 3) / 4;
}

status_t ctx_retrieve(struct ctx *c, const struct ctx_query *q,
		      struct ctx_result *out, struct err *e)
{
	int k = q->top_k > 0 ? q->top_k : 10;
	int src = q->sources ? q->sources : CTX_SRC_ALL;
	const char *pre = q->prefix ? q->prefix : "", *suf = q->suffix ? q->suffix : "";
	size_t plen = q->prefix ? q->prefix_len : 0, slen = q->suffix ? q->suffix_len : 0;
	struct fuse f;
	struct vec ids, cands, callees;
	struct hmap imports, seen_ids;
	struct arena a;
	size_t used = 0;
	status_t st = ST_OK;

	hmap_init(&f.idx);
	vec_init(&f.v, sizeof(struct fused));
	vec_init(&ids, sizeof(char *));
	vec_init(&cands, sizeof(struct ctx__cand));
	vec_init(&callees, sizeof(char *));
	hmap_init(&imports);
	hmap_init(&seen_ids);
	arena_init(&a, 0, 0);

	/* (2) BM25 over the lines at the cursor. */
	if (src & CTX_SRC_BM25) {
		size_t ps = tail_start(pre, plen, BM25_BEFORE), sl = head_len(suf, slen, BM25_AFTER);
		struct buf t;
		buf_init(&t, 0);
		if (buf_append(&t, pre + ps, plen - ps) || buf_putc(&t, '\n') ||
		    buf_append(&t, suf, sl))
			st = ST_NOMEM;
		if (st == ST_OK)
			st = run_bm25(c, buf_cstr(&t), t.len, 50, &cands, e);
		buf_release(&t);
		for (size_t i = 0; st == ST_OK && i < cands.len; i++)
			st = fuse_add(&f, VEC_AT(&cands, struct ctx__cand, i).chunk_id,
				      (int)i, W_BM25, CTX_SRC_BM25);
	}

	/* (1) Symbols: identifiers nearest the cursor first, alternating
	 * before and after it. */
	if (st == ST_OK && (src & CTX_SRC_SYMBOL)) {
		struct vec before, after, cb, ca;
		size_t ps = tail_start(pre, plen, WINDOW_BEFORE), sl = head_len(suf, slen, WINDOW_AFTER);
		int rank = 0;
		vec_init(&before, sizeof(char *));
		vec_init(&after, sizeof(char *));
		vec_init(&cb, sizeof(char *));
		vec_init(&ca, sizeof(char *));
		if ((st = identifiers(pre + ps, plen - ps, &before, &cb, &a, 1)) == ST_OK)
			st = identifiers(suf, sl, &after, &ca, &a, 0);
		/* Called names first, then the rest; nearest the cursor first,
		 * alternating before and after it. */
		for (size_t i = 0; st == ST_OK && (i < cb.len || i < ca.len); i++) {
			if (i < cb.len)
				st = vec_push(&ids, vec_at(&cb, i));
			if (st == ST_OK && i < ca.len)
				st = vec_push(&ids, vec_at(&ca, i));
		}
		for (size_t i = 0; st == ST_OK && (i < before.len || i < after.len); i++) {
			if (i < before.len)
				st = vec_push(&ids, vec_at(&before, i));
			if (st == ST_OK && i < after.len)
				st = vec_push(&ids, vec_at(&after, i));
		}
		vec_release(&before);
		vec_release(&after);
		vec_release(&cb);
		vec_release(&ca);
		if (st == ST_OK && q->repo && q->path)
			st = ctx__store_import_defs(c, q->repo, q->path, &imports, e);
		/* Identifiers defined in imported files outrank the rest. */
		for (int pass = 0; pass < 2 && st == ST_OK; pass++) {
			for (size_t i = 0; st == ST_OK && i < ids.len && rank < 60; i++) {
				const char *id = VEC_AT(&ids, char *, i);
				void *pv;
				int imported = hmap_get(&imports, id, strlen(id), &pv) == ST_OK;
				if (imported != (pass == 0) ||
				    hmap_get(&seen_ids, id, strlen(id), NULL) == ST_OK)
					continue;
				if ((st = hmap_put(&seen_ids, id, strlen(id), NULL)))
					break;
				if (imported) {
					st = fuse_add(&f, (int64_t)(intptr_t)pv, rank++, W_SYMBOL, CTX_SRC_SYMBOL);
					continue;
				}
				cands.len = 0;
				if ((st = ctx__store_defs(c, id, 3, &cands, e)))
					break;
				/* Bodies before prototypes: the store orders them. */
				for (size_t j = 0; st == ST_OK && j < cands.len; j++)
					st = fuse_add(&f, VEC_AT(&cands, struct ctx__cand, j).chunk_id,
						      rank + (int)j, W_SYMBOL, CTX_SRC_SYMBOL);
				if (cands.len)
					rank++;
			}
		}
		/* One hop: callees of the lexically closest chunks, defined
		 * elsewhere; what similar code calls, this code likely calls. */
		if (st == ST_OK && (src & CTX_SRC_BM25)) {
			size_t nf = f.v.len;
			struct fused *top = mem_alloc_array(nf + 1, sizeof *top);
			struct hmap cnt;
			int hop_rank = 0;
			if (!top)
				st = ST_NOMEM;
			hmap_init(&cnt);
			if (st == ST_OK && nf) {
				memcpy(top, f.v.data, nf * sizeof *top);
				qsort(top, nf, sizeof *top, fused_cmp);
			}
			for (size_t i = 0; st == ST_OK && i < nf && i < 5; i++)
				st = ctx__store_callees(c, top[i].chunk_id, &callees, &a, e);
			for (size_t i = 0; st == ST_OK && i < callees.len && hop_rank < 30; i++) {
				const char *nm = VEC_AT(&callees, char *, i);
				if (hmap_get(&cnt, nm, strlen(nm), NULL) == ST_OK ||
				    hmap_get(&seen_ids, nm, strlen(nm), NULL) == ST_OK)
					continue;
				if ((st = hmap_put(&cnt, nm, strlen(nm), NULL)))
					break;
				cands.len = 0;
				if ((st = ctx__store_defs(c, nm, 2, &cands, e)))
					break;
				for (size_t j = 0; st == ST_OK && j < cands.len; j++)
					st = fuse_add(&f, VEC_AT(&cands, struct ctx__cand, j).chunk_id,
						      hop_rank, W_HOP, CTX_SRC_SYMBOL);
				if (cands.len)
					hop_rank++;
			}
			hmap_release(&cnt);
			mem_free(top);
		}
	}

	/* (3) Documents linked to the file. */
	if (st == ST_OK && (src & CTX_SRC_DOCS) && q->path) {
		cands.len = 0;
		st = ctx__store_doc_chunks(c, q->repo, q->path, 5, &cands, e);
		for (size_t i = 0; st == ST_OK && i < cands.len; i++)
			st = fuse_add(&f, VEC_AT(&cands, struct ctx__cand, i).chunk_id,
				      (int)i, W_DOCS, CTX_SRC_DOCS);
	}

	/* Fuse, filter, dedupe, pack. */
	if (st == ST_OK && f.v.len > 1)
		qsort(f.v.data, f.v.len, sizeof(struct fused), fused_cmp);
	for (size_t i = 0; st == ST_OK && i < f.v.len && out->n < (size_t)k; i++) {
		struct fused *x = &VEC_AT(&f.v, struct fused, i);
		struct ctx_hit *h;
		int drop = 0;
		size_t tok;
		if ((st = ctx__result_push(out, &h)))
			break;
		if ((st = ctx__store_chunk_hit(c, x->chunk_id, out, h, e))) {
			if (st == ST_NOTFOUND) {	/* deleted meanwhile */
				out->n--;
				st = ST_OK;
				continue;
			}
			break;
		}
		if (q->path && strcmp(h->path, q->path) == 0 &&
		    (!q->repo || strcmp(h->repo, q->repo) == 0))
			drop = 1;
		else if (q->allow && !q->allow(q->allow_arg, h->repo, h->path))
			drop = 1;
		for (size_t j = 0; !drop && j + 1 < out->n; j++) {
			const struct ctx_hit *o = &out->hits[j];
			if (strcmp(o->path, h->path) == 0 && strcmp(o->repo, h->repo) == 0 &&
			    o->start_line <= h->end_line && h->start_line <= o->end_line)
				drop = 1;
		}
		tok = count_tokens(q, h->text, strlen(h->text));
		if (!drop && q->token_budget && used + tok > q->token_budget)
			drop = 1;	/* a smaller one further down may fit */
		if (drop) {
			out->n--;
			continue;
		}
		used += tok;
		h->score = x->score;
		h->sources = x->sources;
	}

	arena_release(&a);
	hmap_release(&seen_ids);
	hmap_release(&imports);
	vec_release(&callees);
	vec_release(&cands);
	vec_release(&ids);
	vec_release(&f.v);
	hmap_release(&f.idx);
	return st;
}
