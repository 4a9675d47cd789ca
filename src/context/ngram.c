/*
 * ngram.c - the index model: a suffix array over the indexed code
 * ("infini-gram" style), for completion without a model file and for
 * verbatim-overlap (provenance) checks.
 *
 * Files in the data directory, each replaced atomically on rebuild:
 *   context-ngram.txt   the corpus: every code chunk's text followed by
 *                       '\n', in (repository, path, line) order
 *   context-ngram.sa    "ALSA0001", u64 n, then n int32 suffix positions
 *                       (libdivsufsort), all little-endian
 *   context-ngram.map   "ALMP0001", u64 entries, u64 names_len, then
 *                       entries x {u64 offset, u32 name_off, u32 line}
 *                       sorted by offset, then names: "repo\tpath\0"...
 * The corpus is limited to 2 GiB (int32 positions).
 */
#include "context/ctx_int.h"

#include <divsufsort.h>
#include <limits.h>
#include <string.h>

#define SA_MAGIC "ALSA0001"
#define MAP_MAGIC "ALMP0001"

struct map_entry {
	uint64_t offset;
	uint32_t name_off;
	uint32_t line;
};

struct ctx_ngram {
	struct fmap txt, sa, map;
	const uint8_t *t;
	size_t n;
	const int32_t *pos;
	const struct map_entry *ents;
	size_t n_ents;
	const char *names;
	size_t names_len;
};

/* ---- build ----------------------------------------------------------- */

struct builder {
	struct buf text;
	struct vec ents;	/* struct map_entry */
	struct buf names;
	char last[1280];
	uint32_t last_off;
};

static status_t add_chunk(void *arg, const char *repo, const char *path,
			  int line, const char *text, size_t len)
{
	struct builder *b = arg;
	char key[1280];
	struct map_entry me;
	status_t st;

	snprintf(key, sizeof key, "%s\t%s", repo, path);
	if (strcmp(key, b->last) != 0) {
		b->last_off = (uint32_t)b->names.len;
		str_copy(b->last, key, sizeof b->last);
		if ((st = buf_append(&b->names, key, strlen(key) + 1)))
			return st;
	}
	me.offset = b->text.len;
	me.name_off = b->last_off;
	me.line = (uint32_t)(line > 0 ? line : 1);
	if ((st = vec_push(&b->ents, &me)) || (st = buf_append(&b->text, text, len)) ||
	    (st = buf_putc(&b->text, '\n')))
		return st;
	return ST_OK;
}

static status_t path_of(char *out, size_t n, const char *dir, const char *name,
			struct err *e)
{
	if (snprintf(out, n, "%s/%s", dir, name) >= (int)n)
		return err_set(e, ST_INVAL, "%s: path too long", dir);
	return ST_OK;
}

status_t ctx_ngram_build(struct ctx *c, const char *data_dir, struct err *e)
{
	struct builder b;
	char p[PATH_MAX];
	saidx_t *sa = NULL;
	struct buf hdr;
	status_t st;
	uint64_t n64;

	buf_init(&b.text, (size_t)INT32_MAX);
	buf_init(&b.names, 0);
	buf_init(&hdr, 0);
	vec_init(&b.ents, sizeof(struct map_entry));
	b.last[0] = 0;
	b.last_off = 0;
	if ((st = ctx__store_corpus(c, add_chunk, &b, e))) {
		if (st == ST_LIMIT)
			err_set(e, st, "n-gram index: corpus over 2 GiB");
		goto out;
	}
	sa = mem_alloc_array(b.text.len + 1, sizeof *sa);
	if (!sa) {
		st = err_set(e, ST_NOMEM, "n-gram index: out of memory");
		goto out;
	}
	if (b.text.len && divsufsort((const sauchar_t *)b.text.data, sa,
				     (saidx_t)b.text.len) != 0) {
		st = err_set(e, ST_INTERNAL, "n-gram index: divsufsort failed");
		goto out;
	}
	n64 = b.text.len;
	if ((st = buf_append(&hdr, SA_MAGIC, 8)) || (st = buf_append(&hdr, &n64, 8)) ||
	    (st = buf_append(&hdr, sa, b.text.len * sizeof *sa)))
		goto out;
	if ((st = path_of(p, sizeof p, data_dir, "context-ngram.sa", e)) ||
	    (st = file_write_atomic(p, hdr.data, hdr.len, 0644, e)))
		goto out;
	buf_reset(&hdr);
	{
		uint64_t ne = b.ents.len, nl = b.names.len;
		if ((st = buf_append(&hdr, MAP_MAGIC, 8)) || (st = buf_append(&hdr, &ne, 8)) ||
		    (st = buf_append(&hdr, &nl, 8)) ||
		    (st = buf_append(&hdr, b.ents.data, b.ents.len * sizeof(struct map_entry))) ||
		    (st = buf_append(&hdr, b.names.data ? b.names.data : "", b.names.len)))
			goto out;
	}
	if ((st = path_of(p, sizeof p, data_dir, "context-ngram.map", e)) ||
	    (st = file_write_atomic(p, hdr.data, hdr.len, 0644, e)))
		goto out;
	/* The text last: a reader checks its length against the others. */
	if ((st = path_of(p, sizeof p, data_dir, "context-ngram.txt", e)) ||
	    (st = file_write_atomic(p, b.text.data ? b.text.data : "", b.text.len, 0644, e)))
		goto out;
out:
	mem_free(sa);
	buf_release(&hdr);
	buf_release(&b.text);
	buf_release(&b.names);
	vec_release(&b.ents);
	return st;
}

/* ---- open ------------------------------------------------------------ */

void ctx_ngram_free(struct ctx_ngram *g)
{
	if (!g)
		return;
	fmap_release(&g->txt);
	fmap_release(&g->sa);
	fmap_release(&g->map);
	mem_free(g);
}

status_t ctx_ngram_open(const char *data_dir, struct ctx_ngram **out,
			struct err *e)
{
	struct ctx_ngram *g;
	char p[PATH_MAX];
	uint64_t n, ne, nl;
	status_t st;

	*out = NULL;
	g = mem_calloc(1, sizeof *g);
	if (!g)
		return err_set(e, ST_NOMEM, "n-gram index: out of memory");
	g->txt.fd = g->sa.fd = g->map.fd = -1;
	if ((st = path_of(p, sizeof p, data_dir, "context-ngram.txt", e)))
		goto fail;
	if (fmap_open(&g->txt, p, e) != ST_OK) {
		st = err_set(e, ST_NOTFOUND, "%s: n-gram index not built (run airlock index)", p);
		goto fail;
	}
	if ((st = path_of(p, sizeof p, data_dir, "context-ngram.sa", e)) ||
	    (st = fmap_open(&g->sa, p, e)) ||
	    (st = path_of(p, sizeof p, data_dir, "context-ngram.map", e)) ||
	    (st = fmap_open(&g->map, p, e)))
		goto fail;
	st = err_set(e, ST_CORRUPT, "%s: n-gram index files disagree", data_dir);
	if (g->sa.len < 16 || memcmp(g->sa.data, SA_MAGIC, 8) != 0)
		goto fail;
	memcpy(&n, g->sa.data + 8, 8);
	if (n != g->txt.len || n > INT32_MAX || g->sa.len != 16 + n * 4)
		goto fail;
	if (g->map.len < 24 || memcmp(g->map.data, MAP_MAGIC, 8) != 0)
		goto fail;
	memcpy(&ne, g->map.data + 8, 8);
	memcpy(&nl, g->map.data + 16, 8);
	if (ne > g->map.len / sizeof(struct map_entry) ||
	    g->map.len != 24 + ne * sizeof(struct map_entry) + nl)
		goto fail;
	g->t = g->txt.data;
	g->n = (size_t)n;
	g->pos = (const int32_t *)(const void *)(g->sa.data + 16);
	g->ents = (const struct map_entry *)(const void *)(g->map.data + 24);
	g->n_ents = (size_t)ne;
	g->names = (const char *)g->map.data + 24 + ne * sizeof(struct map_entry);
	g->names_len = (size_t)nl;
	if (nl && g->names[nl - 1] != 0)
		goto fail;
	for (size_t i = 0; i < g->n_ents; i++)
		if (g->ents[i].name_off >= nl || g->ents[i].offset > n ||
		    (i && g->ents[i].offset < g->ents[i - 1].offset))
			goto fail;
	err_clear(e);
	*out = g;
	return ST_OK;
fail:
	ctx_ngram_free(g);
	return st;
}

size_t ctx_ngram_size(const struct ctx_ngram *g)
{
	return g ? g->n : 0;
}

/* ---- search ---------------------------------------------------------- */

/* Compares the suffix at position p with pat[0..m): <0, 0 (prefix), >0. */
static int cmp_suffix(const struct ctx_ngram *g, int32_t p, const char *pat,
		      size_t m)
{
	size_t avail = g->n - (size_t)p, k = avail < m ? avail : m;
	int r = memcmp(g->t + p, pat, k);

	if (r)
		return r;
	return avail < m ? -1 : 0;
}

/* The range [*lo, *hi) of suffixes that start with pat; 1 if non-empty. */
static int sa_range(const struct ctx_ngram *g, const char *pat, size_t m,
		    size_t *lo, size_t *hi)
{
	size_t a = 0, b = g->n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (cmp_suffix(g, g->pos[mid], pat, m) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	b = g->n;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (cmp_suffix(g, g->pos[mid], pat, m) <= 0)
			a = mid + 1;
		else
			b = mid;
	}
	*hi = a;
	return *hi > *lo;
}

static void locate(const struct ctx_ngram *g, size_t off,
		   struct ctx_ngram_match *m)
{
	size_t a = 0, b = g->n_ents;
	const struct map_entry *me;
	const char *name, *tab;

	m->repo[0] = m->path[0] = 0;
	m->line = 0;
	if (!g->n_ents)
		return;
	while (b - a > 1) {
		size_t mid = a + (b - a) / 2;
		if (g->ents[mid].offset <= off)
			a = mid;
		else
			b = mid;
	}
	me = &g->ents[a];
	name = g->names + me->name_off;
	tab = strchr(name, '\t');
	if (tab) {
		size_t rl = (size_t)(tab - name);
		if (rl >= sizeof m->repo)
			rl = sizeof m->repo - 1;
		memcpy(m->repo, name, rl);
		m->repo[rl] = 0;
		str_copy(m->path, tab + 1, sizeof m->path);
	}
	m->line = (int)me->line;
	for (size_t i = (size_t)me->offset; i < off && i < g->n; i++)
		m->line += g->t[i] == '\n';
}

status_t ctx_ngram_longest_match(const struct ctx_ngram *g, const char *text,
				 size_t len, struct ctx_ngram_match *m)
{
	size_t best = 0, best_i = 0, best_pos = 0, lo, hi;

	memset(m, 0, sizeof *m);
	if (!g || !g->n)
		return ST_OK;
	for (size_t i = 0; i + best < len; i++) {
		size_t l = best + 1;
		/* Only a longer match than the best so far matters. */
		if (!sa_range(g, text + i, l, &lo, &hi))
			continue;
		while (i + l < len && sa_range(g, text + i, l + 1, &lo, &hi))
			l++;
		sa_range(g, text + i, l, &lo, &hi);
		best = l;
		best_i = i;
		best_pos = (size_t)g->pos[lo];
	}
	m->length = best;
	m->text_offset = best_i;
	if (best)
		locate(g, best_pos, m);
	return ST_OK;
}

status_t ctx_ngram_complete(const struct ctx_ngram *g, const char *prefix,
			    size_t len, size_t max_bytes, struct buf *out,
			    struct ctx_ngram_match *m)
{
	size_t a = 0, b = len < 4096 ? len : 4096, lo = 0, hi = 0, best_lo = 0, best_hi = 0;
	struct hmap votes;
	size_t best_count = 0, best_len = 0, best_at = 0;
	status_t st = ST_OK;

	if (m)
		memset(m, 0, sizeof *m);
	if (!g || !g->n || !len || !max_bytes)
		return ST_OK;
	/* Longest suffix of the prefix present in the corpus (monotone:
	 * when l bytes occur, l - 1 bytes do too). */
	while (a < b) {
		size_t mid = a + (b - a + 1) / 2;
		if (sa_range(g, prefix + len - mid, mid, &lo, &hi)) {
			a = mid;
			best_lo = lo;
			best_hi = hi;
		} else {
			b = mid - 1;
		}
	}
	if (a == 0)
		return ST_OK;
	/* The most frequent continuation to the end of the line. */
	hmap_init(&votes);
	for (size_t i = best_lo; i < best_hi && i < best_lo + 256 && st == ST_OK; i++) {
		size_t p = (size_t)g->pos[i] + a, n = 0;
		void *v = NULL;
		while (p + n < g->n && n < max_bytes && (g->t[p + n] != '\n' || n == 0))
			n++;
		if (!n)
			continue;
		hmap_get(&votes, g->t + p, n, &v);
		size_t cnt = (size_t)(uintptr_t)v + 1;
		if ((st = hmap_put(&votes, g->t + p, n, (void *)(uintptr_t)cnt)))
			break;
		if (cnt > best_count) {
			best_count = cnt;
			best_len = n;
			best_at = p;
		}
	}
	hmap_release(&votes);
	if (st)
		return st;
	if (best_len && (st = buf_append(out, g->t + best_at, best_len)))
		return st;
	if (m) {
		m->length = a;
		m->text_offset = len - a;
		locate(g, best_at >= a ? best_at - a : 0, m);
	}
	return ST_OK;
}
