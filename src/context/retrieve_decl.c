/*
 * retrieve_decl.c - what the buffer's headers declare, and where it is
 * defined.
 *
 * A C file calls what its module's headers declare: `ctx__store_defs`
 * is declared in ctx_int.h, which retrieve.c includes, and defined in
 * store.c, a file the buffer neither includes nor gets a name from. So
 * the headers the buffer includes, and those they include in turn (a
 * module's private header includes its public one, which includes the
 * core's), are read for their prototypes, and each prototype is
 * followed to its definition in the repository. A header groups
 * related declarations, so each definition carries its prototype's
 * nearness, in the header, to the prototypes of the names the buffer
 * uses (ctx__store_prefix_defs beside ctx__store_defs). Scoring against
 * the lines at the cursor is retrieve.c's (the neighbour list's).
 */
#include "context/ctx_int.h"

#include <string.h>

#define DECL_HEADERS 24		/* headers read, the buffer's own first */
#define DECL_DEPTH 3		/* include levels followed from the buffer */

/* A header to read and how many includes away from the buffer. */
struct hdr {
	int64_t id;
	int depth;		/* 1: the buffer includes it */
};

struct names {
	struct vec *v;		/* const char *, arena copies */
	struct arena *a;
};

static int is_header(const char *n)
{
	size_t l = strlen(n);

	return (l > 2 && !strcmp(n + l - 2, ".h")) || (l > 4 && !strcmp(n + l - 4, ".hpp")) ||
	       (l > 3 && !strcmp(n + l - 3, ".hh"));
}

static status_t name_row(void *arg, const char *name)
{
	struct names *nm = arg;
	const char *s;

	if (!is_header(name))
		return ST_OK;
	if (!(s = arena_strdup(nm->a, name)))
		return ST_NOMEM;
	return vec_push(nm->v, &s);
}

/* One prototype row of a header (ctx__store_decls). */
struct prow {
	const char *name, *sig;	/* arena copies */
	int line;
	int64_t chunk_id, file_id;
};

struct prows {
	struct vec *v;		/* struct prow */
	struct arena *a;
};

static status_t prow_row(void *arg, const char *name, int line, const char *sig,
			 int64_t chunk_id, int64_t file_id)
{
	struct prows *pr = arg;
	struct prow r = { arena_strdup(pr->a, name), arena_strdup(pr->a, sig), line, chunk_id,
			  file_id };

	if (!r.name || !r.sig)
		return ST_NOMEM;
	return vec_push(pr->v, &r);
}

/*
 * One header's definitions into out: each row's nearness is the sum,
 * over the prototypes of the header that the buffer names (bscore:
 * name -> score * 1000), of the name's score / (1 + prototypes
 * between), its own name left out.
 */
static status_t header_decls(struct ctx *c, const struct ctx_query *q, const struct hdr *h,
			     const struct hmap *bscore, struct hmap *at, struct vec *out,
			     struct arena *a, struct err *e)
{
	struct vec rows, named;	/* struct prow; size_t: positions of named rows */
	struct vec pos;		/* size_t: each row's prototype position */
	struct prows pr = { &rows, a };
	status_t st;

	vec_init(&rows, sizeof(struct prow));
	vec_init(&named, sizeof(size_t));
	vec_init(&pos, sizeof(size_t));
	st = ctx__store_decls(c, h->id, q->path, prow_row, &pr, e);
	for (size_t i = 0, p = 0; st == ST_OK && i < rows.len; i++) {
		const struct prow *r = &VEC_AT(&rows, struct prow, i);
		/* Rows of one prototype (several definitions) share a place. */
		if (i > 0 && VEC_AT(&rows, struct prow, i - 1).line != r->line)
			p++;
		if ((st = vec_push(&pos, &p)) == ST_OK &&
		    hmap_get(bscore, r->name, strlen(r->name), NULL) == ST_OK)
			st = vec_push(&named, &i);
	}
	for (size_t i = 0; st == ST_OK && i < rows.len; i++) {
		const struct prow *r = &VEC_AT(&rows, struct prow, i);
		size_t pi = VEC_AT(&pos, size_t, i);
		double near = 0;
		void *v;
		for (size_t k = 0; k < named.len; k++) {
			size_t j = VEC_AT(&named, size_t, k);
			const struct prow *o = &VEC_AT(&rows, struct prow, j);
			size_t pj = VEC_AT(&pos, size_t, j);
			if (!strcmp(o->name, r->name) ||
			    hmap_get(bscore, o->name, strlen(o->name), &v) != ST_OK)
				continue;
			near += (double)(intptr_t)v / 1000.0 /
				(1.0 + (double)(pi > pj ? pi - pj : pj - pi));
		}
		if (hmap_get(at, &r->chunk_id, sizeof r->chunk_id, &v) == ST_OK) {
			struct ctx__decl *d = &VEC_AT(out, struct ctx__decl, (size_t)(intptr_t)v - 1);
			if (near > d->near)
				d->near = near;
			continue;	/* declared before, as near or nearer the buffer */
		}
		struct ctx__decl d = { r->chunk_id, r->file_id, r->name, r->sig, near, h->depth,
				       hmap_get(bscore, r->name, strlen(r->name), NULL) == ST_OK };
		if ((st = vec_push(out, &d)) ||
		    (st = hmap_put(at, &r->chunk_id, sizeof r->chunk_id, (void *)(intptr_t)out->len)))
			break;
	}
	vec_release(&pos);
	vec_release(&named);
	vec_release(&rows);
	return st;
}

status_t ctx__decls(struct ctx *c, const struct ctx_query *q, const struct hmap *headers,
		    const struct hmap *bscore, struct vec *out, struct arena *a, struct err *e)
{
	struct vec queue;	/* struct hdr, breadth first */
	struct hmap seen;	/* header file id -> 1 */
	struct hmap at;		/* definition chunk id -> index + 1 into out */
	struct vec incs;	/* const char *: a header's includes */
	struct hmap scratch, found;
	size_t it = 0, kl;
	const void *k;
	void *v;
	status_t st = ST_OK;

	if (!q->repo || !headers->len)
		return ST_OK;
	vec_init(&queue, sizeof(struct hdr));
	vec_init(&incs, sizeof(const char *));
	hmap_init(&seen);
	hmap_init(&at);
	hmap_init(&scratch);
	hmap_init(&found);
	while (st == ST_OK && queue.len < DECL_HEADERS && hmap_next(headers, &it, &k, &kl, &v)) {
		struct hdr h = { 0, 1 };
		memcpy(&h.id, k, sizeof h.id);
		if ((st = vec_push(&queue, &h)) == ST_OK)
			st = hmap_put(&seen, &h.id, sizeof h.id, NULL);
	}
	for (size_t i = 0; st == ST_OK && i < queue.len; i++) {
		struct hdr h = VEC_AT(&queue, struct hdr, i);
		struct names nm = { &incs, a };
		st = header_decls(c, q, &h, bscore, &at, out, a, e);
		if (st || h.depth >= DECL_DEPTH || queue.len >= DECL_HEADERS)
			continue;
		incs.len = 0;
		if ((st = ctx__store_file_imports(c, h.id, name_row, &nm, e)))
			break;
		for (size_t j = 0; st == ST_OK && j < incs.len && queue.len < DECL_HEADERS; j++) {
			size_t it2 = 0;
			hmap_release(&found);
			hmap_init(&found);
			hmap_release(&scratch);
			hmap_init(&scratch);
			st = ctx__store_import_defs(c, q->repo, q->path, VEC_AT(&incs, const char *, j),
						    &scratch, &found, e);
			while (st == ST_OK && queue.len < DECL_HEADERS &&
			       hmap_next(&found, &it2, &k, &kl, &v)) {
				struct hdr n = { 0, h.depth + 1 };
				memcpy(&n.id, k, sizeof n.id);
				if (hmap_get(&seen, &n.id, sizeof n.id, NULL) == ST_OK)
					continue;
				if ((st = hmap_put(&seen, &n.id, sizeof n.id, NULL)) == ST_OK)
					st = vec_push(&queue, &n);
			}
		}
	}
	if (st == ST_NOMEM)
		st = err_set(e, st, "context: out of memory");
	hmap_release(&found);
	hmap_release(&scratch);
	hmap_release(&at);
	hmap_release(&seen);
	vec_release(&incs);
	vec_release(&queue);
	return st;
}
