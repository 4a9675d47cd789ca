/*
 * retrieve.c - hybrid retrieval at a cursor.
 *
 * Three retrievers each return ranked lists of chunks:
 *   symbol  definitions of the buffer's names (scored by calls and
 *           distance to the cursor; imported-but-unused names also as a
 *           list of their own), other chunks of the files those come
 *           from and the buffer imports, one graph hop: what the
 *           lexically closest chunks call, the siblings of the
 *           buffer's names (buf_release beside buf_init), echo: the
 *           buffer's calls whose surroundings resemble the cursor's
 *           (retrieve_echo.c), and the definitions of what the headers
 *           the buffer includes declare (retrieve_decl.c). Neighbour
 *           chunks are weighed by their names (a method's with its
 *           class's) against names at the cursor: those the suffix
 *           introduces, the enclosing function's, the query terms,
 *           the types declared for the identifiers at the cursor
 *   bm25    FTS5 over identifier-split tokens of the lines at the cursor
 *   docs    documents linked to the file (paths globs, symbol mentions)
 * Lists are fused by weighted reciprocal rank (ctx__tune), reweighed by
 * kind, repository, how much of each hit's name the query terms cover
 * and how much of its signature the identifiers at the cursor and their
 * declared types match (retrieve_sig.c), deduplicated (one chunk once,
 * no two overlapping ranges of one file), filtered (never the file being
 * edited, only what the scope predicate allows) and packed into the
 * token budget in score order.
 */
#include "context/ctx_int.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_BEFORE 40	/* lines of prefix looked at */
#define WINDOW_AFTER 15
#define BM25_BEFORE 12
#define BM25_AFTER 4
#define MAX_TERMS 16
#define HOP_CHUNKS 5		/* closest chunks whose callees are followed */
#define HOP_MAX 30		/* callee definitions taken */
#define IMPORT_HEAD 16384	/* bytes of the buffer searched for imports */
#define SIB_STEMS 8		/* stems whose siblings are looked up */
#define SIB_MAX 24		/* siblings of a stem; more: too broad, skipped */

/*
 * Fusion parameters: weighted reciprocal rank, w / (k + rank). The
 * defaults were chosen by coordinate search on the even-numbered tasks
 * of `make bench` (CONTEXT_BENCH_TUNE); the odd-numbered ones are held
 * out and reported beside them. A small k makes the first places of
 * each list count (k 4, neighbour 1 and bm25 0.75 against 10, 1.5 and
 * 1: recall@10 at 1M lines 0.606 -> 0.626, its held-out half 0.594 ->
 * 0.616; docs/internals/context.md); the neighbour list weighs more
 * than the lexical one because a name at the cursor whose definition is
 * known is usually not the one being typed, while the module it comes
 * from usually is.
 */
struct ctx__tune ctx__tune = {
	.rrf_k = 4.0,
	.w_symbol = 0.25,	/* definitions of the names of the buffer */
	.w_neighbour = 1.0,	/* other chunks of the files of the buffer's names */
	.w_bm25 = 0.75,		/* lexical similarity to the lines at the cursor */
	.w_hop = 1.0,		/* what the most similar code calls */
	.w_docs = 1.0,
	.w_other_repo = 0.5,	/* snippets of other repositories */
	.w_kind_text = 0.3,	/* text windows, relative to a function */
	.w_kind_type = 0.5,	/* whole types, relative to a function */
	.decay = 8.0,		/* lines at which a name's evidence halves */
	.w_ref = 0.05,		/* a mention relative to a call */
	.w_unused = 2.0,	/* an imported name not yet used in the buffer */
	.w_unused_list = 1.0,	/* weight of those names' own list */
	.pop = 0.0,		/* neighbour chunks and siblings: weight of log(1 + calls
				 * from other files); off, see context.md */
	.w_sibling = 1.0,	/* functions sharing a stem with the buffer's names */
	.postings = 1500,	/* chunks BM25 may score per query (bounds its cost; see context.md) */
	.name_terms = 0.1,	/* hits: weight of their name's overlap with the query terms */
	.adj = 2.0,		/* neighbour chunks: weight of nearness to the buffer's definitions */
	.w_fresh = 0.0,		/* hits: weight of their name's overlap with names the suffix introduces (off: see context.md) */
	.n_fresh = 1.0,		/* neighbour chunks: the same */
	.n_name = 1.0,		/* neighbour chunks: weight of their name's overlap with the BM25 terms */
	.w_echo = 1.0,		/* the buffer's calls whose surroundings resemble the cursor's */
	.encl = 1.0,		/* weight of the enclosing function's name among those names */
	.n_sig = 0.0,		/* neighbour chunks: weight of their signature's overlap with the cursor's identifiers */
	.sig_type = 1.0,	/* the declared types of those identifiers, relative to them */
	.w_sig = 0.5,		/* hits: weight of the same overlap of their signature */
	.sig_near = 3,		/* lines each side of the cursor whose identifiers are that evidence */
	.w_siglist = 0.0,	/* neighbour chunks ranked by that overlap alone, as a list */
	.n_type = 2.0,		/* weight of those declared types' parts among the names at the cursor */
	.w_decl = 2.0,		/* definitions of what the buffer's headers declare (retrieve_decl.c) */
	.d_adj = 0.5,		/* those: weight of nearness in the header to the buffer's names */
	.d_depth = 0.5,		/* those: factor per include level past the buffer's own */
	.py_from = 1.0,		/* Python: the names of `from PKG import a` tried as modules (1: on) */
	.n_class = 0.5,		/* neighbour chunks: weight of a method's class's overlap with the names at the cursor */
};
#define RRF_K ctx__tune.rrf_k
#define W_SYMBOL ctx__tune.w_symbol
#define W_NEIGHBOUR ctx__tune.w_neighbour
#define W_BM25 ctx__tune.w_bm25
#define W_HOP ctx__tune.w_hop
#define W_DOCS ctx__tune.w_docs
#define W_OTHER_REPO ctx__tune.w_other_repo
#define W_KIND_TEXT ctx__tune.w_kind_text
#define W_KIND_TYPE ctx__tune.w_kind_type
#define W_UNUSED ctx__tune.w_unused
#define W_UNUSED_LIST ctx__tune.w_unused_list
#define W_SIBLING ctx__tune.w_sibling
#define W_ECHO ctx__tune.w_echo

status_t ctx__tune_parse(const char *spec, struct err *e)
{
	static const struct { const char *name; size_t off; } keys[] = {
		{ "k", offsetof(struct ctx__tune, rrf_k) },
		{ "symbol", offsetof(struct ctx__tune, w_symbol) },
		{ "neighbour", offsetof(struct ctx__tune, w_neighbour) },
		{ "bm25", offsetof(struct ctx__tune, w_bm25) },
		{ "hop", offsetof(struct ctx__tune, w_hop) },
		{ "docs", offsetof(struct ctx__tune, w_docs) },
		{ "other_repo", offsetof(struct ctx__tune, w_other_repo) },
		{ "text", offsetof(struct ctx__tune, w_kind_text) },
		{ "type", offsetof(struct ctx__tune, w_kind_type) },
		{ "decay", offsetof(struct ctx__tune, decay) },
		{ "ref", offsetof(struct ctx__tune, w_ref) },
		{ "unused", offsetof(struct ctx__tune, w_unused) },
		{ "unused_list", offsetof(struct ctx__tune, w_unused_list) },
		{ "pop", offsetof(struct ctx__tune, pop) },
		{ "sibling", offsetof(struct ctx__tune, w_sibling) },
		{ "postings", offsetof(struct ctx__tune, postings) },
		{ "name_terms", offsetof(struct ctx__tune, name_terms) },
		{ "adj", offsetof(struct ctx__tune, adj) },
		{ "fresh", offsetof(struct ctx__tune, w_fresh) },
		{ "nfresh", offsetof(struct ctx__tune, n_fresh) },
		{ "nname", offsetof(struct ctx__tune, n_name) },
		{ "echo", offsetof(struct ctx__tune, w_echo) },
		{ "encl", offsetof(struct ctx__tune, encl) },
		{ "nsig", offsetof(struct ctx__tune, n_sig) },
		{ "sig_type", offsetof(struct ctx__tune, sig_type) },
		{ "sig", offsetof(struct ctx__tune, w_sig) },
		{ "sig_near", offsetof(struct ctx__tune, sig_near) },
		{ "siglist", offsetof(struct ctx__tune, w_siglist) },
		{ "ntype", offsetof(struct ctx__tune, n_type) },
		{ "decl", offsetof(struct ctx__tune, w_decl) },
		{ "dadj", offsetof(struct ctx__tune, d_adj) },
		{ "ddepth", offsetof(struct ctx__tune, d_depth) },
		{ "pyfrom", offsetof(struct ctx__tune, py_from) },
		{ "nclass", offsetof(struct ctx__tune, n_class) },
	};
	struct ctx__tune t = ctx__tune;
	const char *p = spec;

	while (p && *p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		size_t i;
		char num[32], *ep;
		double v;

		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end || (size_t)(end - eq - 1) >= sizeof num)
			return err_set(e, ST_INVAL, "tune: expected name=value at '%s'", p);
		for (i = 0; i < sizeof keys / sizeof *keys; i++)
			if (strlen(keys[i].name) == (size_t)(eq - p) &&
			    memcmp(keys[i].name, p, (size_t)(eq - p)) == 0)
				break;
		if (i == sizeof keys / sizeof *keys)
			return err_set(e, ST_INVAL, "tune: unknown parameter at '%s'", p);
		memcpy(num, eq + 1, (size_t)(end - eq - 1));
		num[end - eq - 1] = 0;
		v = strtod(num, &ep);
		if (ep == num || *ep || !(v >= 0 && v <= 1e6))
			return err_set(e, ST_INVAL, "tune: bad value '%s'", num);
		memcpy((char *)&t + keys[i].off, &v, sizeof v);
		p = *end ? end + 1 : end;
	}
	ctx__tune = t;
	return ST_OK;
}

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

int ctx__is_stop(const char *t, size_t n)
{
	/* Every identifier of the buffer passes here: the first byte
	 * rejects most before any strlen. */
	for (size_t i = 0; i < sizeof stop / sizeof *stop; i++)
		if (stop[i][0] == t[0] && strlen(stop[i]) == n && memcmp(stop[i], t, n) == 0)
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

int ctx__ident_next(const char *t, size_t n, size_t *i, size_t *s0)
{
	for (size_t k = *i; k < n; k++) {
		if (!ctx__id_start((unsigned char)t[k]) || (k > 0 && ctx__id_char((unsigned char)t[k - 1])))
			continue;
		size_t e = k;
		while (e < n && ctx__id_char((unsigned char)t[e]))
			e++;
		*s0 = k;
		*i = e;
		return 1;
	}
	*i = n;
	return 0;
}

/*
 * Names of the buffer scored as evidence for what is called at the
 * cursor: each occurrence adds (1 for a call, w_ref for a mention)
 * / (1 + distance in lines / decay). A name that occurs only on import
 * lines (imported, not yet used) gets w_unused: code imports what it is
 * about to call.
 */
struct bname {
	const char *name;
	double score;
	int uses;		/* occurrences outside import lines */
	int imp;		/* occurrences on import lines */
};

static int line_is_import(const char *t, size_t ls, size_t le)
{
	static const char *const kw[] = { "import ", "from ", "#include", "require(", "use " };

	while (ls < le && (t[ls] == ' ' || t[ls] == '\t'))
		ls++;
	for (size_t i = 0; i < sizeof kw / sizeof *kw; i++) {
		size_t n = strlen(kw[i]);
		if (i == 3) {	/* anywhere on the line: const x = require(...) */
			for (size_t j = ls; j + n <= le; j++)
				if (memcmp(t + j, kw[i], n) == 0)
					return 1;
		} else if (le - ls >= n && memcmp(t + ls, kw[i], n) == 0) {
			return 1;
		}
	}
	return 0;
}

/* side < 0: t is the prefix (distance counted back from its end);
 * side > 0: the suffix (distance from its start). */
static status_t score_names(const char *t, size_t n, int side, struct hmap *idx,
			    struct vec *v, struct arena *a)
{
	size_t lines = 0, li = 0, ls = 0, le;
	status_t st = ST_OK;
	int imp = 0;

	if (side < 0)
		for (size_t i = 0; i < n; i++)
			lines += t[i] == '\n';
	for (le = 0; le < n && t[le] != '\n'; le++)
		;
	imp = line_is_import(t, 0, le);
	for (size_t i = 0; i < n && st == ST_OK;) {
		if (t[i] == '\n') {
			li++;
			ls = ++i;
			for (le = ls; le < n && t[le] != '\n'; le++)
				;
			imp = line_is_import(t, ls, le);
			continue;
		}
		if (!ctx__id_start((unsigned char)t[i]) ||
		    (i > 0 && ctx__id_char((unsigned char)t[i - 1]))) {
			i++;
			continue;
		}
		size_t s0 = i, j;
		while (i < n && ctx__id_char((unsigned char)t[i]))
			i++;
		if (i - s0 < 3 || i - s0 > 128 || ctx__is_stop(t + s0, i - s0))
			continue;
		for (j = i; j < n && (t[j] == ' ' || t[j] == '\t'); j++)
			;
		double dist = side < 0 ? (double)(lines - li) : (double)li + 1.0;
		double w = (j < n && t[j] == '(' ? 1.0 : ctx__tune.w_ref) /
			   (1.0 + dist / ctx__tune.decay);
		struct bname *b;
		void *pv;
		if (hmap_get(idx, t + s0, i - s0, &pv) == ST_OK) {
			b = &VEC_AT(v, struct bname, (size_t)(intptr_t)pv - 1);
		} else {
			struct bname nb = { arena_strndup(a, t + s0, i - s0), 0, 0, 0 };
			if (!nb.name || (st = vec_push(v, &nb)) ||
			    (st = hmap_put(idx, t + s0, i - s0, (void *)(intptr_t)v->len))) {
				st = ST_NOMEM;
				break;
			}
			b = &VEC_AT(v, struct bname, v->len - 1);
		}
		if (imp) {
			b->imp++;
		} else {
			b->uses++;
			b->score += w;
		}
	}
	return st;
}

static int bname_cmp(const void *x, const void *y)
{
	const struct bname *a = x, *b = y;

	if (a->score != b->score)
		return a->score < b->score ? 1 : -1;
	return strcmp(a->name, b->name);
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

struct qterm {
	char t[64];
	size_t n;
	int64_t df;
	size_t order;
};

struct qtok {
	struct vec *terms;	/* struct qterm */
	struct hmap *seen;
};

static int add_term(void *arg, const char *tok, size_t n, size_t s, size_t e,
		    int coloc)
{
	struct qtok *q = arg;
	struct qterm t;

	(void)s; (void)e; (void)coloc;
	if (n < 2 || n >= sizeof t.t || ctx__is_stop(tok, n) ||
	    hmap_get(q->seen, tok, n, NULL) == ST_OK)
		return 0;
	if (hmap_put(q->seen, tok, n, NULL) != ST_OK)
		return 1;
	memcpy(t.t, tok, n);
	t.t[n] = 0;
	t.n = n;
	t.df = 0;
	t.order = q->terms->len;
	return vec_push(q->terms, &t) != ST_OK || q->terms->len >= 256;
}

static int term_cmp(const void *a, const void *b)
{
	const struct qterm *x = a, *y = b;

	if (x->df != y->df)
		return x->df < y->df ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/*
 * An FTS5 query: OR of the rarest distinct split tokens of text. Terms in
 * more than 1/16 of the chunks carry little evidence and make BM25 score
 * most of the corpus, so they are dropped; MAX_TERMS rarest remain.
 */
static status_t bm25_query(struct ctx *c, const char *text, size_t n,
			   struct buf *out, struct vec *chosen, struct err *e)
{
	struct hmap seen;
	struct vec terms;
	struct qtok q = { &terms, &seen };
	int64_t total = 0, postings = 0;
	status_t st;
	int used = 0;

	hmap_init(&seen);
	vec_init(&terms, sizeof(struct qterm));
	ctx_tokens_split(text, n, add_term, &q);
	st = ctx__store_nchunks(c, &total, e);
	for (size_t i = 0; st == ST_OK && i < terms.len; i++)
		st = ctx__store_df(c, VEC_AT(&terms, struct qterm, i).t,
				   &VEC_AT(&terms, struct qterm, i).df, e);
	if (st == ST_OK && terms.len > 1)
		qsort(terms.data, terms.len, sizeof(struct qterm), term_cmp);
	for (size_t i = 0; st == ST_OK && i < terms.len && used < MAX_TERMS; i++) {
		struct qterm *t = &VEC_AT(&terms, struct qterm, i);
		if (t->df == 0 || (total > 1000 && t->df > total / 16))
			continue;
		/* Bounded work: BM25 scores every chunk holding any term,
		 * so terms stop when their postings pass the bound (the
		 * rarest, most telling, come first). */
		if ((double)(postings + t->df) > ctx__tune.postings && used > 0)
			break;
		postings += t->df;
		if ((out->len && (st = buf_puts(out, " OR "))) ||
		    (st = buf_putc(out, '"')) || (st = buf_append(out, t->t, t->n)) ||
		    (st = buf_putc(out, '"')))
			break;
		if (st == ST_OK && chosen) {
			/* df becomes the idf weight for the caller. */
			struct qterm w = *t;
			double idf = log(((double)total - (double)t->df + 0.5) /
					 ((double)t->df + 0.5) + 1.0);
			w.df = (int64_t)(idf * 1000.0);
			st = vec_push(chosen, &w);
		}
		used++;
	}
	vec_release(&terms);
	hmap_release(&seen);
	return st;
}

/* BM25 for text; the FTS5 query used is left in match (may be NULL). */
static status_t run_bm25(struct ctx *c, const char *text, size_t n, int limit,
			 struct vec *out, struct vec *chosen, struct err *e)
{
	struct buf q;
	status_t st;

	buf_init(&q, 1 << 16);
	st = bm25_query(c, text, n, &q, chosen, e);
	if (st == ST_OK && q.len)
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
	st = run_bm25(c, query, strlen(query), top_k * 4 + 20, &cands, NULL, e);
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

struct nscore {
	struct hmap *allowed;	/* chunk ids of the neighbour files */
	struct hmap *score;	/* chunk id -> accumulated idf * 1000 */
	intptr_t w;
};

static void ns_row(void *arg, int64_t id)
{
	struct nscore *n = arg;
	void *v = NULL;

	if (hmap_get(n->allowed, &id, sizeof id, NULL) != ST_OK)
		return;
	hmap_get(n->score, &id, sizeof id, &v);
	hmap_put(n->score, &id, sizeof id, (void *)((intptr_t)v + n->w));
}

static int cand_cmp(const void *a, const void *b)
{
	const struct ctx__cand *x = a, *y = b;

	return x->score < y->score ? 1 : x->score > y->score ? -1 :
	       (x->chunk_id > y->chunk_id) - (x->chunk_id < y->chunk_id);
}

/* Where one of the buffer's names is defined, and its score. */
struct bdef {
	int64_t chunk_id, file_id;
	double w;
};

static double name_overlap(const struct hmap *tidf, const char *name);

struct cnames {
	struct hmap *boost;	/* chunk id -> name evidence * 1000 */
	const struct hmap *fresh, *tidf;
};

/* A chunk's name, a method's after its class and a dot
 * (ctx__store_chunk_names): the function's name is weighed as before,
 * the class's parts by the same evidence at n_class (`charset` or a
 * `Charset(...)` declared near the cursor for Charset.get_body_encoding). */
static status_t cn_row(void *arg, int64_t id, const char *name)
{
	struct cnames *cn = arg;
	const char *dot = strrchr(name, '.');
	double b = 0;

	if (dot && dot > name && ctx__tune.n_class > 0) {
		char cls[128];
		size_t l = (size_t)(dot - name) < sizeof cls - 1 ? (size_t)(dot - name) : sizeof cls - 1;
		memcpy(cls, name, l);
		cls[l] = 0;
		if (cn->fresh->len)
			b += ctx__tune.n_class * name_overlap(cn->fresh, cls);
		if (cn->tidf->len)
			b += ctx__tune.n_class * name_overlap(cn->tidf, cls);
	}
	if (dot)
		name = dot + 1;
	if (!name[0])
		return ST_OK;
	if (cn->fresh->len)
		b += ctx__tune.n_fresh * name_overlap(cn->fresh, name);
	if (cn->tidf->len)
		b += ctx__tune.n_name * name_overlap(cn->tidf, name);
	if (b <= 0)
		return ST_OK;
	return hmap_put(cn->boost, &id, sizeof id, (void *)(intptr_t)(b * 1000.0));
}

struct csig {
	struct hmap *boost;	/* chunk id -> signature evidence * 1000 (the best symbol's) */
	const struct hmap *sigw;	/* identifier -> weight * idf * 1000 */
};

/* A symbol's signature against the identifiers at the cursor: the
 * summed evidence of its distinct identifiers (the function's own name,
 * the one before its parameters, left out) over their number. */
static status_t cs_row(void *arg, int64_t id, const char *sig)
{
	struct csig *cs = arg;
	const char *seen[32];
	size_t seen_n[32], ns = 0, n = strlen(sig);
	double sum = 0, all = 0;
	void *v = NULL;

	for (size_t i = 0; i < n;) {
		if (!ctx__id_start((unsigned char)sig[i]) || (i > 0 && ctx__id_char((unsigned char)sig[i - 1]))) {
			i++;
			continue;
		}
		size_t s0 = i, j, d;
		while (i < n && ctx__id_char((unsigned char)sig[i]))
			i++;
		for (j = i; j < n && (sig[j] == ' ' || sig[j] == '\t'); j++)
			;
		if ((j < n && sig[j] == '(') || ctx__is_stop(sig + s0, i - s0))
			continue;
		for (d = 0; d < ns; d++)
			if (seen_n[d] == i - s0 && !memcmp(seen[d], sig + s0, i - s0))
				break;
		if (d < ns || ns == 32)
			continue;
		seen[ns] = sig + s0;
		seen_n[ns++] = i - s0;
		all += 1.0;
		if (hmap_get(cs->sigw, sig + s0, i - s0, &v) == ST_OK)
			sum += (double)(intptr_t)v / 1000.0;
	}
	if (sum <= 0)
		return ST_OK;
	intptr_t x = (intptr_t)(sum / all * 1000.0);
	v = NULL;
	hmap_get(cs->boost, &id, sizeof id, &v);
	if ((intptr_t)v >= x)
		return ST_OK;
	return hmap_put(cs->boost, &id, sizeof id, (void *)x);
}

static status_t neighbours(struct ctx *c, struct fuse *f, struct hmap *nfiles,
			   struct vec *chosen, const struct vec *defs,
			   const struct hmap *self, const struct hmap *fresh,
			   const struct hmap *tidf, const struct hmap *sigw,
			   const struct vec *decls, struct err *e)
{
	struct hmap dmap;	/* chunk id -> index + 1 into decls */
	struct vec dranked;
	struct hmap sboost;	/* chunk id -> evidence of its signature * 1000 */
	struct csig cs = { &sboost, sigw };
	int sigs = (ctx__tune.n_sig > 0 || ctx__tune.w_siglist > 0) && sigw->len;
	struct hmap boost;	/* chunk id -> evidence of its name * 1000 */
	struct cnames cn = { &boost, fresh, tidf };
	int names = (ctx__tune.n_fresh > 0 && fresh->len) || (ctx__tune.n_name > 0 && tidf->len);
	struct hmap cfile;	/* chunk id -> file id */
	int64_t fids[16];
	size_t nf = 0, it, kl;
	const void *key;
	void *v;
	struct hmap allowed, score;
	struct nscore ns = { &allowed, &score, 0 };
	struct vec ranked;
	status_t st;

	/* The files holding the most of the buffer's names, at most 16. */
	for (intptr_t want = 64; want > 0 && nf < 16; want /= 2) {
		it = 0;
		while (nf < 16 && hmap_next(nfiles, &it, &key, &kl, &v)) {
			intptr_t cnt = (intptr_t)v;
			if (cnt >= want && (want == 64 || cnt < want * 2))
				memcpy(&fids[nf++], key, sizeof fids[0]);
		}
	}
	hmap_init(&allowed);
	hmap_init(&score);
	hmap_init(&cfile);
	hmap_init(&boost);
	hmap_init(&sboost);
	hmap_init(&dmap);
	vec_init(&ranked, sizeof(struct ctx__cand));
	vec_init(&dranked, sizeof(struct ctx__cand));
	st = ST_OK;
	for (size_t i = 0; st == ST_OK && i < nf; i++) {
		size_t it2 = 0;
		hmap_release(&score);	/* scratch: this file's chunks */
		hmap_init(&score);
		st = ctx__store_file_chunks(c, &fids[i], 1, ctx__tune.pop > 0, self,
					    &score, e);
		while (st == ST_OK && hmap_next(&score, &it2, &key, &kl, &v))
			if ((st = hmap_put(&allowed, key, kl, v)) == ST_OK)
				st = hmap_put(&cfile, key, kl, (void *)(intptr_t)fids[i]);
		if (st == ST_OK && names)
			st = ctx__store_chunk_names(c, fids[i], cn_row, &cn, e);
		if (st == ST_OK && sigs)
			st = ctx__store_chunk_sigs(c, fids[i], cs_row, &cs, e);
	}
	hmap_release(&score);
	hmap_init(&score);
	/* What the buffer's headers declare, defined elsewhere: scored as
	 * the neighbour files' chunks are, ranked as a list of their own. */
	for (size_t i = 0; st == ST_OK && i < decls->len; i++) {
		const struct ctx__decl *d = &VEC_AT(decls, struct ctx__decl, i);
		if ((st = hmap_put(&dmap, &d->chunk_id, sizeof d->chunk_id, (void *)(intptr_t)(i + 1))))
			break;
		if (hmap_get(&allowed, &d->chunk_id, sizeof d->chunk_id, NULL) != ST_OK &&
		    (st = hmap_put(&allowed, &d->chunk_id, sizeof d->chunk_id, (void *)(intptr_t)1)))
			break;
		if (names && hmap_get(&boost, &d->chunk_id, sizeof d->chunk_id, NULL) != ST_OK)
			st = cn_row(&cn, d->chunk_id, d->name);
	}
	for (size_t i = 0; st == ST_OK && i < chosen->len; i++) {
		struct qterm *t = &VEC_AT(chosen, struct qterm, i);
		ns.w = (intptr_t)t->df;
		st = ctx__store_term_rows(c, t->t, ns_row, &ns, e);
	}
	/* Term overlap, times a prior for what is called often (a
	 * module's much-used functions are what a caller likely uses),
	 * times nearness to the definitions of the buffer's names: a
	 * module keeps related functions together (sha256_end after
	 * sha256_init and sha256_add), and a file's chunk ids follow its
	 * lines, so their difference counts the chunks between. */
	it = 0;
	while (st == ST_OK && hmap_next(&allowed, &it, &key, &kl, &v)) {
		struct ctx__cand cd = { 0, 0, 0 };
		void *ov = NULL, *bv = NULL, *sv = NULL;
		double calls = (double)((intptr_t)v - 1);
		memcpy(&cd.chunk_id, key, sizeof cd.chunk_id);
		hmap_get(&score, key, kl, &ov);
		hmap_get(&boost, key, kl, &bv);
		if (sigs)
			hmap_get(&sboost, key, kl, &sv);
		void *dv = NULL, *fv = NULL;
		const struct ctx__decl *dc = NULL;
		int nb = hmap_get(&cfile, key, kl, &fv) == ST_OK;	/* a neighbour file's */
		if (hmap_get(&dmap, key, kl, &dv) == ST_OK)
			dc = &VEC_AT(decls, struct ctx__decl, (size_t)(intptr_t)dv - 1);
		if (!ov && !bv && !sv && !(ctx__tune.pop > 0 && calls > 0) && !(dc && dc->near > 0))
			continue;
		cd.score = ((double)(intptr_t)ov + 1.0) * (1.0 + ctx__tune.pop * log1p(calls)) *
			   (1.0 + (double)(intptr_t)bv / 1000.0) *
			   (1.0 + ctx__tune.n_sig * (double)(intptr_t)sv / 1000.0);
		if (ctx__tune.adj > 0 && (nb || dc)) {
			int64_t fid = nb ? (int64_t)(intptr_t)fv : dc->file_id;
			double near = 0;
			for (size_t d = 0; d < defs->len; d++) {
				const struct bdef *bd = &VEC_AT(defs, struct bdef, d);
				if (bd->file_id == fid && bd->chunk_id != cd.chunk_id)
					near += bd->w / (1.0 + fabs((double)(bd->chunk_id - cd.chunk_id)));
			}
			cd.score *= 1.0 + ctx__tune.adj * near;
		}
		if (nb && (st = vec_push(&ranked, &cd)))
			break;
		if (dc) {
			cd.score *= (1.0 + ctx__tune.d_adj * dc->near) *
				    pow(ctx__tune.d_depth, (double)(dc->depth - 1));
			st = vec_push(&dranked, &cd);
		}
	}
	if (st == ST_OK && dranked.len > 1)
		qsort(dranked.data, dranked.len, sizeof(struct ctx__cand), cand_cmp);
	for (size_t i = 0; st == ST_OK && i < dranked.len && i < 30; i++)
		st = fuse_add(f, VEC_AT(&dranked, struct ctx__cand, i).chunk_id, (int)i,
			      ctx__tune.w_decl, CTX_SRC_SYMBOL);
	if (st == ST_OK && ranked.len > 1)
		qsort(ranked.data, ranked.len, sizeof(struct ctx__cand), cand_cmp);
	for (size_t i = 0; st == ST_OK && i < ranked.len && i < 30; i++)
		st = fuse_add(f, VEC_AT(&ranked, struct ctx__cand, i).chunk_id, (int)i,
			      W_NEIGHBOUR, CTX_SRC_SYMBOL | CTX_SRC_BM25);
	if (st == ST_OK && sigs && ctx__tune.w_siglist > 0) {
		ranked.len = 0;
		it = 0;
		while (st == ST_OK && hmap_next(&sboost, &it, &key, &kl, &v)) {
			struct ctx__cand cd = { 0, 0, 0 };
			memcpy(&cd.chunk_id, key, sizeof cd.chunk_id);
			cd.score = (double)(intptr_t)v;
			st = vec_push(&ranked, &cd);
		}
		if (st == ST_OK && ranked.len > 1)
			qsort(ranked.data, ranked.len, sizeof(struct ctx__cand), cand_cmp);
		for (size_t i = 0; st == ST_OK && i < ranked.len && i < 20; i++)
			st = fuse_add(f, VEC_AT(&ranked, struct ctx__cand, i).chunk_id, (int)i,
				      ctx__tune.w_siglist, CTX_SRC_SYMBOL);
	}
	vec_release(&ranked);
	vec_release(&dranked);
	hmap_release(&dmap);
	hmap_release(&sboost);
	hmap_release(&boost);
	hmap_release(&score);
	hmap_release(&cfile);
	hmap_release(&allowed);
	return st;
}

/* Callable definitions are what completion needs most; whole classes
 * and plain text windows are broader and weaker evidence. */
static double kind_weight(const char *kind)
{
	if (!strcmp(kind, "function") || !strcmp(kind, "method") || !strcmp(kind, "macro"))
		return 1.0;
	if (!strcmp(kind, "text"))
		return W_KIND_TEXT;
	if (!strcmp(kind, "class") || !strcmp(kind, "struct") || !strcmp(kind, "interface") ||
	    !strcmp(kind, "type"))
		return W_KIND_TYPE;
	return 1.0;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct ctx_hit *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->chunk_id > y->chunk_id) - (x->chunk_id < y->chunk_id);
}

/*
 * The import statements of head for the parser, every other line left
 * blank: a line that starts one (line_is_import) is copied without its
 * indentation (Python's imports inside functions parse as top-level
 * ones), with the lines that continue it (open brackets, a trailing
 * backslash; at most 64), so that Go's import blocks and Python's and
 * JavaScript's multi-line lists are whole. Lines keep their numbers.
 * Parsing the whole span up to the last import instead cost several ms
 * on large Python files, whose lazy imports sit deep in the file.
 * The statements' count goes to *count; out (caller's) is cut after the
 * last one. ST_NOMEM when out cannot grow.
 */
status_t ctx__import_text(const char *t, size_t n, struct buf *out, size_t *count)
{
	size_t ls = 0, keep = 0;

	buf_reset(out);
	*count = 0;
	while (ls < n) {
		size_t le = ls;
		while (le < n && t[le] != '\n')
			le++;
		if (!line_is_import(t, ls, le)) {
			if (buf_putc(out, '\n'))
				return ST_NOMEM;
			ls = le + 1;
			continue;
		}
		int depth = 0, lines = 0;
		size_t k = ls;
		while (k < le && (t[k] == ' ' || t[k] == '\t'))
			k++;
		(*count)++;
		for (;;) {
			char q = 0, last = 0;
			for (size_t i = k; i < le; i++) {
				char ch = t[i];
				if (q) {
					if (ch == '\\' && i + 1 < le)
						i++;
					else if (ch == q)
						q = 0;
				} else if (ch == '"' || ch == '\'' || ch == '`') {
					q = ch;
				} else if (ch == '(' || ch == '[' || ch == '{') {
					depth++;
				} else if (ch == ')' || ch == ']' || ch == '}') {
					depth--;
				}
				if (ch != ' ' && ch != '\t' && ch != '\r')
					last = ch;
			}
			if (buf_append(out, t + k, le - k) || buf_putc(out, '\n'))
				return ST_NOMEM;
			keep = out->len;
			if ((depth <= 0 && last != '\\') || ++lines >= 64 || le >= n)
				break;
			k = ls = le + 1;
			for (le = ls; le < n && t[le] != '\n'; le++)
				;
		}
		ls = le + 1;
	}
	out->len = keep;
	return ST_OK;
}

/*
 * Python's `from PKG import a, b` may import modules a and b of the
 * package (`from . import events`, then `events.get_event_loop()`),
 * which the parser records as an import of PKG alone. Each name is
 * tried as a module: PKG's path (relative ones from the buffer's
 * folder, one level up per dot after the first) then the name, matched
 * to the repository's files as other imports are. At most 32 names.
 */
static status_t py_from_modules(struct ctx *c, const struct ctx_query *q, const char *t, size_t n,
				struct hmap *names, struct hmap *files, struct err *e)
{
	status_t st = ST_OK;
	int tried = 0;

	for (size_t ls = 0, le; ls < n && st == ST_OK && tried < 32; ls = le + 1) {
		for (le = ls; le < n && t[le] != '\n'; le++)
			;
		if (le - ls < 5 || memcmp(t + ls, "from ", 5) != 0)
			continue;
		size_t i = ls + 5, m0, m1, dots = 0;
		char base[512];
		int bl = 0;
		while (i < le && t[i] == ' ')
			i++;
		for (m0 = i; i < le && t[i] == '.'; i++)
			dots++;
		while (i < le && (ctx__id_char((unsigned char)t[i]) || t[i] == '.'))
			i++;
		m1 = i;
		if (dots) {
			/* The buffer's folder, less one level per dot after the first. */
			const char *sl = strrchr(q->path, '/');
			size_t dl = sl ? (size_t)(sl - q->path) : 0;
			for (size_t d = 1; d < dots && dl > 0; d++) {
				while (dl > 0 && q->path[dl - 1] != '/')
					dl--;
				dl = dl > 0 ? dl - 1 : 0;
			}
			bl = snprintf(base, sizeof base, "%.*s%s", (int)dl, q->path, dl ? "/" : "");
			if (bl < 0 || (size_t)bl >= sizeof base - 130)
				continue;
			for (size_t k = m0 + dots; k < m1 && (size_t)bl + 2 < sizeof base; k++)
				base[bl++] = t[k] == '.' ? '/' : t[k];
			if (m1 > m0 + dots)
				base[bl++] = '/';
		} else {
			bl = snprintf(base, sizeof base, "%.*s.", (int)(m1 - m0), t + m0);
		}
		if (bl < 0 || (size_t)bl >= sizeof base - 130)
			continue;
		/* The names after `import` to the statement's end (its
		 * continuation lines follow it in t), `as` aliases left out. */
		size_t at = i;
		while (at + 8 <= le && memcmp(t + at, " import ", 8) != 0)
			at++;
		if (at + 8 > le)
			continue;
		int depth = 0, alias = 0;
		for (size_t k = at + 8; st == ST_OK && tried < 32 && k < n; k++) {
			if (t[k] == '(')
				depth++;
			else if (t[k] == ')')
				depth--;
			if (t[k] == '\n' && depth <= 0 && (k == 0 || t[k - 1] != '\\'))
				break;
			if (!ctx__id_start((unsigned char)t[k]) || ctx__id_char((unsigned char)t[k - 1]))
				continue;
			size_t s0 = k;
			while (k < n && ctx__id_char((unsigned char)t[k]))
				k++;
			if (k - s0 == 2 && !memcmp(t + s0, "as", 2)) {
				alias = 1;
			} else if (alias) {
				alias = 0;
			} else if (k - s0 < 128) {
				char mod[640];
				snprintf(mod, sizeof mod, "%.*s%.*s", bl, base, (int)(k - s0), t + s0);
				tried++;
				st = ctx__store_import_defs(c, q->repo, q->path, mod, names, files, e);
			}
			k--;
		}
	}
	return st;
}

/*
 * What the buffer imports (parsed from its head: imports come first in
 * every supported language), resolved to the definitions in the
 * imported files. The buffer, not the stored file, is the truth: it may
 * be new or edited. A C header also stands for its source file.
 */
static status_t buffer_imports(struct ctx *c, const struct ctx_query *q,
			       struct hmap *names, struct hmap *files,
			       struct hmap *headers, struct err *e)
{
	struct ctx__parsed p;
	struct buf text;	/* the head's import statements */
	size_t count = 0;
	size_t n = q->prefix_len < IMPORT_HEAD ? q->prefix_len : IMPORT_HEAD;
	const char *lang = ctx__lang_of(q->path);
	status_t st = ST_OK;
	int done = 0;

	if (!strcmp(lang, "text") || !n)
		return ST_OK;
	while (n < q->prefix_len && n > 0 && q->prefix[n - 1] != '\n')
		n--;
	buf_init(&text, 0);
	if ((st = ctx__import_text(q->prefix, n, &text, &count)) || !count) {
		buf_release(&text);
		return st ? err_set(e, st, "context: out of memory") : ST_OK;
	}
	if ((st = ctx__store_files_refresh(c, q->repo, e))) {
		buf_release(&text);
		return st;
	}
	ctx__parsed_init(&p);
	if (ctx__parse(q->path, lang, text.data, text.len, &p, NULL) != ST_OK) {
		ctx__parsed_release(&p);
		buf_release(&text);
		return ST_OK;	/* no imports known: not an error */
	}
	for (size_t i = 0; st == ST_OK && i < p.edges.len && done < 32; i++) {
		const struct ctx__edge *ed = &VEC_AT(&p.edges, struct ctx__edge, i);
		const char *nm = ed->name;
		size_t len = strlen(nm);
		while (*nm == '.' || *nm == '/')
			nm++;
		if (strcmp(ed->kind, "imports") != 0 || strlen(nm) < 2)
			continue;
		done++;
		/* Headers apart (the caller adds them to files): their
		 * declarations are followed to the definitions. */
		st = ctx__store_import_defs(c, q->repo, q->path, ed->name, names,
					    len > 2 && !strcmp(ed->name + len - 2, ".h") ? headers : files,
					    e);
		if (st == ST_OK && len > 2 && len < 255 && !strcmp(ed->name + len - 2, ".h")) {
			char src[256];
			memcpy(src, ed->name, len + 1);
			src[len - 1] = 'c';
			st = ctx__store_import_defs(c, q->repo, q->path, src, names, files, e);
		}
	}
	if (st == ST_OK && ctx__tune.py_from > 0 && !strcmp(lang, "python"))
		st = py_from_modules(c, q, text.data, text.len, names, files, e);
	ctx__parsed_release(&p);
	buf_release(&text);
	return st;
}

struct vote {
	const char *name;
	double score;
	size_t first;
};

static int vote_cmp(const void *a, const void *b)
{
	const struct vote *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->first > y->first) - (x->first < y->first);
}

/*
 * One hop through the graph: the callees of the chunks most similar to
 * the cursor (other files only: the stored copy of the file being edited
 * may hold the very line being typed), voted by the similarity rank of
 * each chunk that calls them; their definitions are candidates. What
 * similar code calls, this code likely calls.
 */
static status_t hop(struct ctx *c, const struct ctx_query *q, struct fuse *f,
		    const struct vec *bm25c, struct hmap *seen_ids,
		    struct arena *a, struct err *e)
{
	struct hmap idx;	/* name -> index + 1 into votes */
	struct vec votes, names, cands;
	status_t st = ST_OK;
	int used = 0, rank = 0;

	hmap_init(&idx);
	vec_init(&votes, sizeof(struct vote));
	vec_init(&names, sizeof(char *));
	vec_init(&cands, sizeof(struct ctx__cand));
	for (size_t i = 0; st == ST_OK && i < bm25c->len && used < HOP_CHUNKS; i++) {
		int mine = 0;
		names.len = 0;
		st = ctx__store_callees(c, VEC_AT(bm25c, struct ctx__cand, i).chunk_id,
					q->repo, q->path, &names, &mine, a, e);
		if (mine)
			continue;
		used++;
		for (size_t k = 0; st == ST_OK && k < names.len; k++) {
			const char *nm = VEC_AT(&names, char *, k);
			size_t n = strlen(nm);
			void *v;
			if (hmap_get(seen_ids, nm, n, NULL) == ST_OK)
				continue;	/* named at the cursor: looked up */
			if (hmap_get(&idx, nm, n, &v) == ST_OK) {
				struct vote *vt = &VEC_AT(&votes, struct vote, (size_t)(intptr_t)v - 1);
				vt->score += 1.0 / (double)(used + 1);
				continue;
			}
			struct vote vt = { nm, 1.0 / (double)(used + 1), votes.len };
			if ((st = vec_push(&votes, &vt)) ||
			    (st = hmap_put(&idx, nm, n, (void *)(intptr_t)votes.len)))
				break;
		}
	}
	if (st == ST_OK && votes.len > 1)
		qsort(votes.data, votes.len, sizeof(struct vote), vote_cmp);
	for (size_t i = 0; st == ST_OK && i < votes.len && rank < HOP_MAX; i++) {
		const char *nm = VEC_AT(&votes, struct vote, i).name;
		cands.len = 0;
		if ((st = ctx__store_defs(c, nm, q->repo, q->path, 2, &cands, e)))
			break;
		for (size_t j = 0; st == ST_OK && j < cands.len; j++)
			st = fuse_add(f, VEC_AT(&cands, struct ctx__cand, j).chunk_id,
				      rank, W_HOP, CTX_SRC_SYMBOL);
		if (cands.len)
			rank++;
	}
	vec_release(&cands);
	vec_release(&names);
	vec_release(&votes);
	hmap_release(&idx);
	return st;
}

/*
 * The length of the stem of a name's first len bytes: them without their
 * last part (parts as the tokenizer splits them), at least 3 letters or
 * digits long: buf_ of buf_append, mdl_sampler_ of mdl_sampler_new,
 * loadTestsFrom of loadTestsFromNames. 0 when there is none.
 */
static size_t name_stem(const char *n, size_t len)
{
	size_t cut = 0, alnum = 0;

	for (size_t i = 1; i < len; i++) {
		unsigned char a = (unsigned char)n[i - 1], b = (unsigned char)n[i];
		if (a == '_' && b != '_')
			cut = i;
		else if (b >= 'A' && b <= 'Z' && ((a >= 'a' && a <= 'z') || (a >= '0' && a <= '9')))
			cut = i;
	}
	for (size_t i = 0; i < cut; i++)
		alnum += n[i] != '_';
	return alnum >= 3 ? cut : 0;
}

struct stem {
	const char *s;		/* arena copy, NUL-terminated */
	double score;
};

struct sib {
	const char *name;
	int64_t chunk_id;
	double score;
};

struct sibq {
	struct vec *found;	/* struct sib */
	struct hmap *buffer;	/* the buffer's names */
	const struct hmap *self;	/* calls of the stored copy of the file being edited */
	struct arena *a;
	size_t all;		/* rows seen */
};

static status_t sib_row(void *arg, const char *name, int64_t chunk_id, int64_t file_id,
		       int calls)
{
	struct sibq *sq = arg;
	struct sib sb = { NULL, chunk_id, 0 };
	void *v;

	(void)file_id;
	/* Other files' calls only (see ctx__store_self_calls), at most 16. */
	if (hmap_get(sq->self, name, strlen(name), &v) == ST_OK)
		calls -= (int)(intptr_t)v;
	calls = calls < 0 ? 0 : calls > 16 ? 16 : calls;
	sb.score = 1.0 + ctx__tune.pop * log1p((double)calls);
	sq->all++;
	if (hmap_get(sq->buffer, name, strlen(name), NULL) == ST_OK)
		return ST_OK;	/* named in the buffer: the symbol list has it */
	if (!(sb.name = arena_strdup(sq->a, name)))
		return ST_NOMEM;
	return vec_push(sq->found, &sb);
}

static int stem_cmp(const void *a, const void *b)
{
	const struct stem *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->s, y->s);
}

static int sib_cmp(const void *a, const void *b)
{
	const struct sib *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->chunk_id > y->chunk_id) - (x->chunk_id < y->chunk_id);
}

/*
 * Siblings: functions named like the buffer's names but for their last
 * part (buf_release beside buf_init and buf_append; loadTestsFromNames
 * beside loadTestsFromModule), which the buffer does not name yet. Code
 * that uses part of a module's interface is likely to use the rest of
 * it: init with release, begin with commit. A stem weighs the evidence
 * of the names that have it, shared among its siblings; stems with
 * more than SIB_MAX siblings say too little and are skipped.
 */
static status_t siblings(struct ctx *c, const struct ctx_query *q, struct fuse *f,
			 const struct vec *bn, struct hmap *nidx, const struct hmap *self,
			 struct arena *a, struct err *e)
{
	struct hmap sidx;	/* stem -> index + 1 into stems */
	struct vec stems, found, all;
	struct hmap dup;	/* names in all */
	status_t st = ST_OK;

	hmap_init(&sidx);
	hmap_init(&dup);
	vec_init(&stems, sizeof(struct stem));
	vec_init(&found, sizeof(struct sib));
	vec_init(&all, sizeof(struct sib));
	for (size_t i = 0; st == ST_OK && i < bn->len; i++) {
		const struct bname *b = &VEC_AT(bn, struct bname, i);
		size_t n = name_stem(b->name, strlen(b->name));
		void *pv;
		if (!n || b->score <= 0)
			continue;
		if (hmap_get(&sidx, b->name, n, &pv) == ST_OK) {
			VEC_AT(&stems, struct stem, (size_t)(intptr_t)pv - 1).score += b->score;
			continue;
		}
		struct stem sm = { arena_strndup(a, b->name, n), b->score };
		if (!sm.s || (st = vec_push(&stems, &sm)) ||
		    (st = hmap_put(&sidx, sm.s, n, (void *)(intptr_t)stems.len)))
			st = ST_NOMEM;
	}
	if (st == ST_OK && stems.len > 1)
		qsort(stems.data, stems.len, sizeof(struct stem), stem_cmp);
	for (size_t i = 0; st == ST_OK && i < stems.len && i < SIB_STEMS; i++) {
		const struct stem *sm = &VEC_AT(&stems, struct stem, i);
		struct sibq sq = { &found, nidx, self, a, 0 };
		found.len = 0;
		st = ctx__store_prefix_defs(c, sm->s, q->repo, q->path, SIB_MAX + 1,
					    ctx__tune.pop > 0, sib_row, &sq, e);
		if (st || sq.all > SIB_MAX || !found.len)
			continue;
		double tot = 0;
		for (size_t j = 0; j < found.len; j++)
			tot += VEC_AT(&found, struct sib, j).score;
		for (size_t j = 0; st == ST_OK && j < found.len; j++) {
			struct sib *sb = &VEC_AT(&found, struct sib, j);
			if (hmap_get(&dup, sb->name, strlen(sb->name), NULL) == ST_OK)
				continue;	/* one definition of a name */
			sb->score = sm->score * sb->score / tot;
			if ((st = hmap_put(&dup, sb->name, strlen(sb->name), NULL)))
				break;
			st = vec_push(&all, sb);
		}
	}
	if (st == ST_OK && all.len > 1)
		qsort(all.data, all.len, sizeof(struct sib), sib_cmp);
	for (size_t i = 0; st == ST_OK && i < all.len && i < 30; i++)
		st = fuse_add(f, VEC_AT(&all, struct sib, i).chunk_id, (int)i, W_SIBLING,
			      CTX_SRC_SYMBOL);
	vec_release(&all);
	vec_release(&found);
	vec_release(&stems);
	hmap_release(&dup);
	hmap_release(&sidx);
	return st;
}

/*
 * Echo (retrieve_echo.c): the buffer's calls ranked by how much the
 * lines around each resemble the lines around the cursor; their
 * definitions elsewhere, in that order. Buffer text only.
 */
#define ECHO_NAMES 12		/* names listed */
#define ECHO_TRIED 40		/* names looked up */
static status_t echo(struct ctx *c, const struct ctx_query *q, struct fuse *f,
		     const char *pre, size_t plen, const char *suf, size_t slen,
		     struct arena *a, struct err *e)
{
	struct vec called, cands;
	status_t st;
	int rank = 0;

	vec_init(&called, sizeof(struct ctx__called));
	vec_init(&cands, sizeof(struct ctx__cand));
	if ((st = ctx__echo_calls(pre, plen, suf, slen, &called, a)))
		st = err_set(e, st, "context: out of memory");
	for (size_t i = 0; st == ST_OK && i < called.len && i < ECHO_TRIED && rank < ECHO_NAMES; i++) {
		const char *nm = VEC_AT(&called, struct ctx__called, i).name;
		if (ctx__is_stop(nm, strlen(nm)))
			continue;
		cands.len = 0;
		if ((st = ctx__store_defs(c, nm, q->repo, q->path, 1, &cands, e)) || !cands.len)
			continue;
		st = fuse_add(f, VEC_AT(&cands, struct ctx__cand, 0).chunk_id, rank++, W_ECHO,
			      CTX_SRC_SYMBOL);
	}
	vec_release(&cands);
	vec_release(&called);
	return st;
}

struct novl {
	const struct hmap *tidf;
	struct hmap seen;
	double sum, all;
};

static int novl_part(void *arg, const char *tok, size_t n, size_t s, size_t e, int coloc)
{
	struct novl *o = arg;
	void *v;

	(void)s; (void)e;
	if (coloc || hmap_get(&o->seen, tok, n, NULL) == ST_OK)
		return 0;	/* parts only, each once */
	if (hmap_put(&o->seen, tok, n, NULL) != ST_OK)
		return 1;
	o->all += 1.0;
	if (hmap_get(o->tidf, tok, n, &v) == ST_OK)
		o->sum += (double)(intptr_t)v / 1000.0;
	return 0;
}

/*
 * How much of a hit's name the lines at the cursor speak of: the idf of
 * its parts that are query terms, over the number of its parts
 * (tel_usage_summary where the lines say "usage"). A name is a far more
 * precise summary than the chunk's whole text, which BM25 already saw.
 */
static double name_overlap(const struct hmap *tidf, const char *name)
{
	struct novl o = { tidf, { 0 }, 0, 0 };

	hmap_init(&o.seen);
	ctx_tokens_split(name, strlen(name), novl_part, &o);
	hmap_release(&o.seen);
	return o.all > 0 ? o.sum / o.all : 0;
}

struct fresh {
	struct ctx *c;
	struct hmap *parts;	/* part -> weight * 1000 */
	double w;		/* of the line */
	int64_t total;		/* chunks */
	int stop;		/* stop words count too */
};

static int fresh_part(void *arg, const char *tok, size_t n, size_t s, size_t e, int coloc)
{
	struct fresh *fr = arg;
	void *v = NULL;
	char t[64];
	int64_t df = 0;

	(void)s; (void)e;
	if (coloc || n < 2 || n >= sizeof t || (!fr->stop && ctx__is_stop(tok, n)))
		return 0;
	memcpy(t, tok, n);
	t[n] = 0;
	/* A part's weight is its idf: mdl_ or ctx_ say little, spec much. */
	if (ctx__store_df(fr->c, t, &df, NULL) != ST_OK || df <= 0)
		return 0;
	double idf = log(((double)fr->total - (double)df + 0.5) / ((double)df + 0.5) + 1.0);
	intptr_t w = (intptr_t)(fr->w * idf * 1000.0);
	hmap_get(fr->parts, tok, n, &v);
	if ((intptr_t)v >= w)
		return 0;
	return hmap_put(fr->parts, tok, n, (void *)w) != ST_OK;
}

/*
 * Names the lines after the cursor introduce: identifiers of the first
 * FRESH_LINES lines of the suffix that the prefix never mentions. The
 * line being typed is the likeliest place they come from (the variable
 * its call assigns: `spec = find_spec(...)` above `spec.loader`), so a
 * function named by their parts is a likelier callee. Their parts go to
 * parts (part -> weight * 1000, the weight halving line by line).
 */
#define FRESH_LINES 4

static size_t indent_of(const char *t, size_t ls, size_t le)
{
	size_t i = ls;

	while (i < le && (t[i] == ' ' || t[i] == '\t'))
		i++;
	return i - ls;
}

/*
 * The name of the function the cursor is in, from the buffer: the
 * nearest line above, less indented than the code at the cursor, that
 * defines one (`def name(`, `function name(`, or a line at indentation
 * 0 naming `name(`, as C and Go definitions are), within 400 lines.
 * Wrappers are named like what they call (srv__index_size returns
 * ctx_ngram_size). NULL when there is none; *n its length.
 */
static const char *enclosing_name(const char *pre, size_t plen, const char *suf, size_t slen,
				  size_t *n)
{
	size_t le = plen, ind = 0;
	int lines = 0, seen = 0;

	/* The cursor's indentation: the deeper of the nearest non-blank
	 * lines above and below. */
	for (size_t ls = 0, e2; ls < slen; ls = e2 + 1) {
		for (e2 = ls; e2 < slen && suf[e2] != '\n'; e2++)
			;
		if (indent_of(suf, ls, e2) < e2 - ls) {
			ind = indent_of(suf, ls, e2);
			break;
		}
	}
	while (le > 0 && lines < 400) {
		size_t ls = le;
		while (ls > 0 && pre[ls - 1] != '\n')
			ls--;
		size_t in = indent_of(pre, ls, le);
		lines++;
		if (in < le - ls) {	/* not blank */
			if (!seen++ && in > ind)
				ind = in;
			else if (in < ind || (in == 0 && ind == 0 && seen > 1)) {
				const char *t = pre + ls + in;
				size_t len = le - ls - in;
				int kw = (len > 4 && !memcmp(t, "def ", 4)) ||
					 (len > 10 && !memcmp(t, "async def ", 10)) ||
					 (len > 9 && !memcmp(t, "function ", 9));
				for (size_t i = 0; (kw || in == 0) && i < len; i++) {
					if (!ctx__id_start((unsigned char)t[i]) ||
					    (i > 0 && ctx__id_char((unsigned char)t[i - 1])))
						continue;
					size_t s0 = i;
					while (i < len && ctx__id_char((unsigned char)t[i]))
						i++;
					if (i < len && t[i] == '(' && !ctx__is_stop(t + s0, i - s0)) {
						*n = i - s0;
						return t + s0;
					}
				}
				/* A brace alone opens the body (K&R, Allman): go on;
				 * any other top-level line ends the search. */
				if (in == 0 && !(t[0] == '{' && len <= 2))
					return NULL;
			}
		}
		le = ls > 0 ? ls - 1 : 0;
	}
	return NULL;
}
static status_t fresh_names(struct ctx *c, const char *pre, size_t plen, const char *suf, size_t slen,
			    struct hmap *parts)
{
	struct hmap seen;	/* identifiers of the prefix */
	size_t n = head_len(suf, slen, FRESH_LINES), li = 0;
	int64_t total = 0;
	status_t st = ctx__store_nchunks(c, &total, NULL);

	hmap_init(&seen);
	for (size_t i = 0, s0; st == ST_OK && ctx__ident_next(pre, plen, &i, &s0);)
		st = hmap_put(&seen, pre + s0, i - s0, NULL);
	for (size_t i = 0, at = 0, s0; st == ST_OK && ctx__ident_next(suf, n, &i, &s0); at = i) {
		for (; at < s0; at++)
			li += suf[at] == '\n';
		if (i - s0 < 2 || ctx__is_stop(suf + s0, i - s0) ||
		    hmap_get(&seen, suf + s0, i - s0, NULL) == ST_OK)
			continue;
		struct fresh fr = { c, parts, 1.0 / (double)(1u << li), total, 0 };
		ctx_tokens_split(suf + s0, i - s0, fresh_part, &fr);
	}
	hmap_release(&seen);
	if (st == ST_OK && ctx__tune.encl > 0) {
		size_t en = 0;
		const char *es = enclosing_name(pre, plen, suf, slen, &en);
		struct fresh fr = { c, parts, ctx__tune.encl, total, 1 };
		if (es)
			ctx_tokens_split(es, en, fresh_part, &fr);
	}
	return st;
}

/*
 * The signature evidence of the buffer (retrieve_sig.c), each
 * identifier weighed by its idf (its lower-cased whole form, as the
 * tokenizer indexes it): `aud_stats` says much, `buf` little.
 */
static status_t sig_weights(struct ctx *c, const char *pre, size_t plen, const char *suf,
			    size_t slen, struct hmap *out, struct hmap *fresh, struct err *e)
{
	struct hmap raw, types;
	size_t it = 0, kl;
	const void *k;
	void *v;
	int64_t total = 0;
	status_t st;

	hmap_init(&raw);
	hmap_init(&types);
	if ((st = ctx__sig_evidence(pre, plen, suf, slen, (int)ctx__tune.sig_near, ctx__tune.sig_type,
				    ctx__is_stop, &raw, &types)))
		st = err_set(e, st, "context: out of memory");
	if (st == ST_OK)
		st = ctx__store_nchunks(c, &total, e);
	/* The declared types' parts also name what comes next
	 * (srv__request_release of a struct srv_request). */
	while (st == ST_OK && ctx__tune.n_type > 0 && hmap_next(&types, &it, &k, &kl, &v)) {
		struct fresh fr = { c, fresh, ctx__tune.n_type, total, 0 };
		ctx_tokens_split(k, kl, fresh_part, &fr);
	}
	it = 0;
	while (st == ST_OK && hmap_next(&raw, &it, &k, &kl, &v)) {
		char t[65];
		int64_t df = 0;
		size_t n = kl < 64 ? kl : 64;
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = ((const unsigned char *)k)[i];
			t[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : (char)ch;
		}
		t[n] = 0;
		if (ctx__store_df(c, t, &df, NULL) != ST_OK || df <= 0)
			continue;
		double idf = log(((double)total - (double)df + 0.5) / ((double)df + 0.5) + 1.0);
		st = hmap_put(out, k, kl, (void *)(intptr_t)((double)(intptr_t)v * idf));
	}
	hmap_release(&raw);
	hmap_release(&types);
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
	struct vec cands, bm25c;
	struct hmap imports, seen_ids;
	struct arena a;
	struct vec chosen;	/* struct qterm: the BM25 terms, df = idf * 1000 */
	struct hmap tidf;	/* the same: term -> idf * 1000 */
	struct hmap fresh;	/* parts of the names the suffix introduces -> weight * 1000 */
	struct hmap sigw;	/* identifiers at the cursor and their types -> weight * idf * 1000 */
	size_t used = 0;
	status_t st = ST_OK;

	hmap_init(&f.idx);
	vec_init(&f.v, sizeof(struct fused));
	vec_init(&cands, sizeof(struct ctx__cand));
	vec_init(&bm25c, sizeof(struct ctx__cand));
	hmap_init(&imports);
	hmap_init(&seen_ids);
	arena_init(&a, 0, 0);
	vec_init(&chosen, sizeof(struct qterm));
	hmap_init(&tidf);
	hmap_init(&fresh);
	hmap_init(&sigw);

	/* (2) BM25 over the lines at the cursor. */
	if (src & CTX_SRC_BM25) {
		size_t ps = tail_start(pre, plen, BM25_BEFORE), sl = head_len(suf, slen, BM25_AFTER);
		struct buf t;
		buf_init(&t, 0);
		if (buf_append(&t, pre + ps, plen - ps) || buf_putc(&t, '\n') ||
		    buf_append(&t, suf, sl))
			st = ST_NOMEM;
		if (st == ST_OK)
			st = run_bm25(c, buf_cstr(&t), t.len, 50, &cands, &chosen, e);
		buf_release(&t);
		for (size_t i = 0; st == ST_OK && i < cands.len; i++)
			st = fuse_add(&f, VEC_AT(&cands, struct ctx__cand, i).chunk_id,
				      (int)i, W_BM25, CTX_SRC_BM25);
		for (size_t i = 0; st == ST_OK && i < cands.len; i++)
			st = vec_push(&bm25c, vec_at(&cands, i));
	}

	for (size_t i = 0; st == ST_OK && i < chosen.len; i++) {
		const struct qterm *t = &VEC_AT(&chosen, struct qterm, i);
		st = hmap_put(&tidf, t->t, t->n, (void *)(intptr_t)t->df);
	}
	if (st == ST_OK && (ctx__tune.w_fresh > 0 || ctx__tune.n_fresh > 0) && (src & CTX_SRC_SYMBOL) &&
	    (st = fresh_names(c, pre, plen, suf, slen, &fresh)))
		st = err_set(e, st, "context: out of memory");

	if (st == ST_OK && (ctx__tune.n_sig > 0 || ctx__tune.w_sig > 0 || ctx__tune.w_siglist > 0 ||
			    ctx__tune.n_type > 0) &&
	    (src & CTX_SRC_SYMBOL))
		st = sig_weights(c, pre, plen, suf, slen, &sigw, &fresh, e);

	/* (1) Symbols: the names of the buffer scored by calls and
	 * mentions near the cursor (score_names), their definitions in
	 * that order; the definition the file imports first. */
	if (st == ST_OK && (src & CTX_SRC_SYMBOL)) {
		struct hmap nidx;	/* name -> index + 1 into bn */
		struct vec bn;		/* struct bname */
		struct hmap nfiles;	/* file id -> count of the buffer's names defined there */
		struct hmap ifiles;	/* file id -> 1: files the buffer imports */
		struct vec defs;	/* struct bdef: where the buffer's names are defined */
		struct hmap self;	/* name -> calls from the stored copy of the file */
		struct hmap headers;	/* file id -> 1: headers the buffer includes */
		struct hmap bscore;	/* the buffer's names -> score * 1000 */
		struct vec decls;	/* struct ctx__decl */
		int rank = 0, urank = 0;
		hmap_init(&nidx);
		vec_init(&bn, sizeof(struct bname));
		hmap_init(&nfiles);
		hmap_init(&ifiles);
		vec_init(&defs, sizeof(struct bdef));
		hmap_init(&self);
		hmap_init(&headers);
		hmap_init(&bscore);
		vec_init(&decls, sizeof(struct ctx__decl));
		/* How often other files call a function is a prior; the
		 * stored copy of the file being edited is not one of them (it
		 * may hold the very call being typed; the buffer speaks for
		 * the file, through its names' scores). */
		if (ctx__tune.pop > 0)
			st = ctx__store_self_calls(c, q->repo, q->path, &self, e);
		if (st == ST_OK)
			st = score_names(pre, plen, -1, &nidx, &bn, &a);
		if (st == ST_OK)
			st = score_names(suf, slen, 1, &nidx, &bn, &a);
		if (st == ST_OK && q->repo && q->path)
			st = buffer_imports(c, q, &imports, &ifiles, &headers, e);
		for (size_t i = 0; i < bn.len; i++) {
			struct bname *b = &VEC_AT(&bn, struct bname, i);
			if (b->imp && !b->uses)
				b->score = W_UNUSED;
		}
		if (st == ST_OK && bn.len > 1)
			qsort(bn.data, bn.len, sizeof(struct bname), bname_cmp);
		for (size_t i = 0; st == ST_OK && i < bn.len && rank < 40; i++) {
			const char *id = VEC_AT(&bn, struct bname, i).name;
			void *pv;
			if ((st = hmap_put(&seen_ids, id, strlen(id), NULL)))
				break;
			const struct bname *bm = &VEC_AT(&bn, struct bname, i);
			/* Imported, not yet used: also a list of its own. */
			double uw = bm->imp && !bm->uses ? W_UNUSED_LIST : 0;
			cands.len = 0;
			/* The definition the file imports comes first. */
			if (hmap_get(&imports, id, strlen(id), &pv) == ST_OK &&
			    ((st = fuse_add(&f, (int64_t)(intptr_t)pv, rank, W_SYMBOL,
					    CTX_SRC_SYMBOL)) ||
			     (uw > 0 && (st = fuse_add(&f, (int64_t)(intptr_t)pv, urank,
						       uw, CTX_SRC_SYMBOL)))))
				break;
			if ((st = ctx__store_defs(c, id, q->repo, q->path, 2, &cands, e)))
				break;
			for (size_t j = 0; st == ST_OK && j < cands.len; j++) {
				struct ctx__cand *cd = &VEC_AT(&cands, struct ctx__cand, j);
				void *cnt = NULL;
				st = fuse_add(&f, cd->chunk_id, rank + (int)j, W_SYMBOL, CTX_SRC_SYMBOL);
				if (st == ST_OK && uw > 0)
					st = fuse_add(&f, cd->chunk_id, urank + (int)j, uw, CTX_SRC_SYMBOL);
				if (st == ST_OK && j == 0) {
					struct bdef bd = { cd->chunk_id, cd->file_id, bm->score };
					st = vec_push(&defs, &bd);
				}
				if (st == ST_OK && j == 0) {
					hmap_get(&nfiles, &cd->file_id, sizeof cd->file_id, &cnt);
					st = hmap_put(&nfiles, &cd->file_id, sizeof cd->file_id,
						      (void *)((intptr_t)cnt + 1));
				}
			}
			if (cands.len)
				rank++;
			if (uw > 0)
				urank++;
		}
		if (st == ST_OK && W_SIBLING > 0)
			st = siblings(c, q, &f, &bn, &nidx, &self, &a, e);
		for (size_t i = 0; st == ST_OK && ctx__tune.w_decl > 0 && i < bn.len; i++) {
			const struct bname *b = &VEC_AT(&bn, struct bname, i);
			if (b->score > 0)
				st = hmap_put(&bscore, b->name, strlen(b->name),
					      (void *)(intptr_t)(b->score * 1000.0));
		}
		if (st == ST_OK && ctx__tune.w_decl > 0)
			st = ctx__decls(c, q, &headers, &bscore, &decls, &a, e);
		if (st == ST_OK && W_ECHO > 0)
			st = echo(c, q, &f, pre, plen, suf, slen, &a, e);
		hmap_release(&nidx);
		vec_release(&bn);
		/* Within the neighbour files: what else they define that shares
		 * rare terms with the lines at the cursor (idf-weighted term
		 * overlap over the terms' posting lists). */
		{
			size_t it = 0, kl;
			const void *k2;
			void *v2;
			while (st == ST_OK && hmap_next(&headers, &it, &k2, &kl, &v2))
				if (hmap_get(&ifiles, k2, kl, NULL) != ST_OK)
					st = hmap_put(&ifiles, k2, kl, (void *)(intptr_t)1);
			it = 0;
			while (st == ST_OK && hmap_next(&ifiles, &it, &k2, &kl, &v2))
				if (hmap_get(&nfiles, k2, kl, NULL) != ST_OK)
					st = hmap_put(&nfiles, k2, kl, (void *)(intptr_t)1);
		}
		if (st == ST_OK && chosen.len && (nfiles.len || decls.len))
			st = neighbours(c, &f, &nfiles, &chosen, &defs, &self, &fresh, &tidf, &sigw,
					&decls, e);
		vec_release(&decls);
		hmap_release(&bscore);
		hmap_release(&headers);
		hmap_release(&nfiles);
		hmap_release(&ifiles);
		hmap_release(&self);
		vec_release(&defs);
		/* One hop: callees of the lexically closest chunks, defined
		 * elsewhere; what similar code calls, this code likely calls. */
		if (st == ST_OK && (src & CTX_SRC_BM25))
			st = hop(c, q, &f, &bm25c, &seen_ids, &a, e);
	}

	/* (3) Documents linked to the file. */
	if (st == ST_OK && (src & CTX_SRC_DOCS) && q->path) {
		cands.len = 0;
		st = ctx__store_doc_chunks(c, q->repo, q->path, 5, &cands, e);
		for (size_t i = 0; st == ST_OK && i < cands.len; i++)
			st = fuse_add(&f, VEC_AT(&cands, struct ctx__cand, i).chunk_id,
				      (int)i, W_DOCS, CTX_SRC_DOCS);
	}

	/* Fuse, filter, dedupe; prefer the repository being edited; pack. */
	if (st == ST_OK && f.v.len > 1)
		qsort(f.v.data, f.v.len, sizeof(struct fused), fused_cmp);
	for (size_t i = 0; st == ST_OK && i < f.v.len && out->n < (size_t)k * 3; i++) {
		struct fused *x = &VEC_AT(&f.v, struct fused, i);
		struct ctx_hit *h;
		int drop = 0;
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
		if (drop) {
			out->n--;
			continue;
		}
		h->score = x->score * (q->repo && strcmp(h->repo, q->repo) != 0 ? W_OTHER_REPO : 1.0) *
			   kind_weight(h->kind);
		if (ctx__tune.name_terms > 0 && tidf.len && h->name[0])
			h->score *= 1.0 + ctx__tune.name_terms * name_overlap(&tidf, h->name);
		if (ctx__tune.w_fresh > 0 && fresh.len && h->name[0])
			h->score *= 1.0 + ctx__tune.w_fresh * name_overlap(&fresh, h->name);
		if (ctx__tune.w_sig > 0 && sigw.len && h->signature && h->signature[0]) {
			struct hmap one;
			struct csig cs = { &one, &sigw };
			void *sv = NULL;
			int64_t zero = 0;
			hmap_init(&one);
			if ((st = cs_row(&cs, zero, h->signature)) == ST_OK &&
			    hmap_get(&one, &zero, sizeof zero, &sv) == ST_OK)
				h->score *= 1.0 + ctx__tune.w_sig * (double)(intptr_t)sv / 1000.0;
			hmap_release(&one);
			if (st)
				break;
		}
		h->sources = x->sources;
	}
	if (st == ST_OK && out->n > 1)
		qsort(out->hits, out->n, sizeof *out->hits, hit_cmp);
	{
		size_t w = 0;
		for (size_t i = 0; st == ST_OK && i < out->n && w < (size_t)k; i++) {
			struct ctx_hit *h = &out->hits[i];
			size_t tok;
			int drop = 0;
			for (size_t j = 0; !drop && j < w; j++) {
				const struct ctx_hit *o = &out->hits[j];
				if (strcmp(o->path, h->path) == 0 && strcmp(o->repo, h->repo) == 0 &&
				    o->start_line <= h->end_line && h->start_line <= o->end_line)
					drop = 1;
			}
			tok = count_tokens(q, h->text, strlen(h->text));
			/* Over budget: skip it; a smaller one further down may fit. */
			if (drop || (q->token_budget && used + tok > q->token_budget))
				continue;
			used += tok;
			out->hits[w++] = *h;
		}
		out->n = w;
	}

	vec_release(&chosen);
	hmap_release(&tidf);
	hmap_release(&fresh);
	hmap_release(&sigw);
	arena_release(&a);
	hmap_release(&seen_ids);
	hmap_release(&imports);
	vec_release(&cands);
	vec_release(&bm25c);
	vec_release(&f.v);
	hmap_release(&f.idx);
	return st;
}
