/*
 * ngram.c - the index model: a suffix array over the indexed code
 * ("infini-gram" style), for completion without a model file and for
 * verbatim-overlap (provenance) checks.
 *
 * One part per repository, in <data>/context-ngram/, each file replaced
 * atomically when the repository's files changed:
 *   <id>.txt    the corpus: every code chunk's text followed by '\n', in
 *               (path, line) order; <id> is the repository's store id
 *   <id>.sa     "ALSA0001", u64 n, then n int32 suffix positions
 *               (libdivsufsort), all little-endian
 *   <id>.map    "ALMP0001", u64 entries, u64 names_len, then
 *               entries x {u64 offset, u32 name_off, u32 line}
 *               sorted by offset, then names: "repo\tpath\0"...
 *   <id>.stamp  hex digest of the repository's file list (path, content
 *               hash, skip reason; ctx__store_repo_digests) and PART_FORMAT,
 *               written last: a part whose stamp matches is not rebuilt
 *   parts       "ALNG0001\n", then the ids of the parts, one a line,
 *               written after the parts: the index a reader opens
 * A part is limited to 2 GiB (int32 positions). Queries consult every
 * part and combine (see ctx_ngram_complete). Before parts, the whole
 * index was one such triple, <data>/context-ngram.txt/.sa/.map: it is
 * still opened when there is no parts file, and the next build replaces
 * it with parts and removes it.
 *
 * A reference corpus for provenance checks (ctx_ngram_build_corpus) uses
 * the same three files under a chosen prefix, with whole files instead of
 * chunks, whitespace-normalised text (see norm_text), a NUL after each
 * file so no match spans two files, the map magic "ALMN0001" and names
 * "corpus\tpath\tlicence\0".
 */
#include "context/ctx_int.h"

#include <dirent.h>
#include <divsufsort.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SA_MAGIC "ALSA0001"
#define MAP_MAGIC "ALMP0001"
#define MAP_MAGIC_NORM "ALMN0001"	/* reference corpus, normalised text */
#define PARTS_MAGIC "ALNG0001"
#define PARTS_DIR "/context-ngram"
#define PARTS_MAX 65536		/* bound on a parts file's entries */
/* In every stamp: change it when a part's content or format changes for
 * unchanged files, so that every part is rebuilt. */
#define PART_FORMAT "airlock-ngram-part-1"

struct map_entry {
	uint64_t offset;
	uint32_t name_off;
	uint32_t line;
};

/* One suffix array with its text and map (a repository, or a corpus). */
struct part {
	struct fmap txt, sa, map;
	const uint8_t *t;
	size_t n;
	const int32_t *pos;
	const struct map_entry *ents;
	size_t n_ents;
	const char *names;
	size_t names_len;
	int normalised;		/* a reference corpus: queries are normalised */
};

struct ctx_ngram {
	struct part *parts;	/* n_parts, in repository id order */
	size_t n_parts;
	size_t n;		/* text bytes of all parts */
	int normalised;		/* all parts are reference corpora */
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

/* out = dir followed by name (name carries its own separator). */
static status_t path_of(char *out, size_t n, const char *dir, const char *name,
			struct err *e)
{
	if (snprintf(out, n, "%s%s", dir, name) >= (int)n)
		return err_set(e, ST_INVAL, "%s: path too long", dir);
	return ST_OK;
}

/* Sorts b's text and writes <prefix>.sa, .map (with map_magic), .txt.
 * The suffix array is sorted in place behind room for the .sa header,
 * so the file is written from that one buffer: no second copy of 4
 * bytes per text byte (68 MB for a 17 MB repository). */
#define SA_HDR 16	/* magic (8) and length (8) */
static status_t write_index(const char *prefix, const char *map_magic,
			    struct builder *b, struct err *e)
{
	char p[PATH_MAX];
	saidx_t *sa = NULL;
	struct buf hdr;
	status_t st;
	uint64_t n64;

	buf_init(&hdr, 0);
	sa = mem_alloc_array(b->text.len + 1 + SA_HDR / sizeof *sa, sizeof *sa);
	if (!sa) {
		st = err_set(e, ST_NOMEM, "n-gram index: out of memory");
		goto out;
	}
	if (b->text.len && divsufsort((const sauchar_t *)b->text.data, sa + SA_HDR / sizeof *sa,
				      (saidx_t)b->text.len) != 0) {
		st = err_set(e, ST_INTERNAL, "n-gram index: divsufsort failed");
		goto out;
	}
	n64 = b->text.len;
	memcpy(sa, SA_MAGIC, 8);
	memcpy((char *)sa + 8, &n64, 8);
	if ((st = path_of(p, sizeof p, prefix, ".sa", e)) ||
	    (st = file_write_atomic(p, sa, SA_HDR + b->text.len * sizeof *sa, 0644, e)))
		goto out;
	mem_free(sa);
	sa = NULL;
	{
		uint64_t ne = b->ents.len, nl = b->names.len;
		if ((st = buf_append(&hdr, map_magic, 8)) || (st = buf_append(&hdr, &ne, 8)) ||
		    (st = buf_append(&hdr, &nl, 8)) ||
		    (st = buf_append(&hdr, b->ents.data, b->ents.len * sizeof(struct map_entry))) ||
		    (st = buf_append(&hdr, b->names.data ? b->names.data : "", b->names.len)))
			goto out;
	}
	if ((st = path_of(p, sizeof p, prefix, ".map", e)) ||
	    (st = file_write_atomic(p, hdr.data, hdr.len, 0644, e)))
		goto out;
	/* The text last: a reader checks its length against the others. */
	if ((st = path_of(p, sizeof p, prefix, ".txt", e)) ||
	    (st = file_write_atomic(p, b->text.data ? b->text.data : "", b->text.len, 0644, e)))
		goto out;
out:
	mem_free(sa);
	buf_release(&hdr);
	return st;
}

static void builder_init(struct builder *b)
{
	buf_init(&b->text, (size_t)INT32_MAX);
	buf_init(&b->names, 0);
	vec_init(&b->ents, sizeof(struct map_entry));
	b->last[0] = 0;
	b->last_off = 0;
}

static void builder_release(struct builder *b)
{
	buf_release(&b->text);
	buf_release(&b->names);
	vec_release(&b->ents);
}

/* <dir>/<id><ext> */
static status_t part_path(char *out, size_t n, const char *dir, int64_t id,
			  const char *ext, struct err *e)
{
	if (snprintf(out, n, "%s/%lld%s", dir, (long long)id, ext) >= (int)n)
		return err_set(e, ST_INVAL, "%s: path too long", dir);
	return ST_OK;
}

static void part_release(struct part *g)
{
	fmap_release(&g->txt);
	fmap_release(&g->sa);
	fmap_release(&g->map);
}

static status_t part_open(const char *prefix, const char *notfound_hint,
			  struct part *g, struct err *e);

/* The stamp a part of repository d must carry to be current (hex). */
static void part_stamp(const struct ctx__repo_digest *d, char hex[2 * SHA256_LEN + 2])
{
	struct sha256 h;
	uint8_t dg[SHA256_LEN];

	sha256_begin(&h);
	sha256_add(&h, PART_FORMAT, sizeof PART_FORMAT);
	sha256_add(&h, d->digest, SHA256_LEN);
	sha256_end(&h, dg);
	hex_encode(dg, SHA256_LEN, hex);
	hex[2 * SHA256_LEN] = '\n';
	hex[2 * SHA256_LEN + 1] = 0;
}

/* 1 when the part of d in dir carries the current stamp and opens. */
static int part_current(const char *dir, const struct ctx__repo_digest *d,
			const char *stamp)
{
	char p[PATH_MAX], *got = NULL;
	size_t n = 0;
	int ok = 0;
	struct part g;

	if (part_path(p, sizeof p, dir, d->id, ".stamp", NULL) ||
	    file_read_all(p, 256, &got, &n, NULL) != ST_OK)
		return 0;
	if (n == strlen(stamp) && !memcmp(got, stamp, n) &&
	    !part_path(p, sizeof p, dir, d->id, "", NULL)) {
		memset(&g, 0, sizeof g);
		g.txt.fd = g.sa.fd = g.map.fd = -1;
		if (part_open(p, "", &g, NULL) == ST_OK)
			ok = 1;
		part_release(&g);
	}
	mem_free(got);
	return ok;
}

/* Removes the files "<id>.*" in dir whose id is not in keep (the parts of
 * repositories no longer in the store), and the single index of before. */
static void parts_prune(const char *data_dir, const char *dir, const struct vec *keep)
{
	static const char *const legacy[] = { ".txt", ".sa", ".map" };
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];

	while (d && (de = readdir(d)) != NULL) {
		const char *dot = strchr(de->d_name, '.');
		char num[32];
		int64_t id;
		int found = 0;
		if (!dot || dot == de->d_name || (size_t)(dot - de->d_name) >= sizeof num)
			continue;
		memcpy(num, de->d_name, (size_t)(dot - de->d_name));
		num[dot - de->d_name] = 0;
		if (parse_i64(num, 1, INT64_MAX, &id) != ST_OK)
			continue;
		for (size_t i = 0; i < keep->len && !found; i++)
			found = ((const struct ctx__repo_digest *)keep->data)[i].id == id;
		if (!found && snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p)
			unlink(p);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < 3; i++)
		if (snprintf(p, sizeof p, "%s/context-ngram%s", data_dir, legacy[i]) < (int)sizeof p)
			unlink(p);
}

status_t ctx_ngram_build(struct ctx *c, const char *data_dir, struct err *e)
{
	struct vec repos;
	struct buf list;
	char dir[PATH_MAX], p[PATH_MAX], stamp[2 * SHA256_LEN + 2];
	size_t rebuilt = 0, kept = 0, bytes = 0;
	status_t st;

	vec_init(&repos, sizeof(struct ctx__repo_digest));
	buf_init(&list, 0);
	if ((st = path_of(dir, sizeof dir, data_dir, PARTS_DIR, e)) ||
	    (st = file_mkdirs(dir, 0700, e)) ||
	    (st = ctx__store_repo_digests(c, &repos, e)) ||
	    (st = buf_append(&list, PARTS_MAGIC "\n", 9)))
		goto out;
	for (size_t i = 0; i < repos.len && st == ST_OK; i++) {
		const struct ctx__repo_digest *d =
			&((const struct ctx__repo_digest *)repos.data)[i];
		struct builder b;
		part_stamp(d, stamp);
		if ((st = buf_printf(&list, "%lld\n", (long long)d->id)))
			break;
		if (part_current(dir, d, stamp)) {
			kept++;
			continue;
		}
		/* No stamp while the part is being replaced: an interrupted
		 * build leaves it stale, and the next one rebuilds it. */
		if ((st = part_path(p, sizeof p, dir, d->id, ".stamp", e)))
			break;
		unlink(p);
		builder_init(&b);
		st = ctx__store_corpus(c, d->id, add_chunk, &b, e);
		if (st == ST_LIMIT)
			err_set(e, st, "n-gram index: repository %s: corpus over 2 GiB", d->name);
		if (st == ST_OK)
			st = part_path(p, sizeof p, dir, d->id, "", e);
		if (st == ST_OK)
			st = write_index(p, MAP_MAGIC, &b, e);
		bytes += b.text.len;
		builder_release(&b);
		if (st == ST_OK && (st = part_path(p, sizeof p, dir, d->id, ".stamp", e)) == ST_OK)
			st = file_write_atomic(p, stamp, strlen(stamp), 0644, e);
		rebuilt++;
	}
	if (st == ST_OK && (st = path_of(p, sizeof p, dir, "/parts", e)) == ST_OK)
		st = file_write_atomic(p, list.data, list.len, 0644, e);
	if (st == ST_OK)
		parts_prune(data_dir, dir, &repos);
	LOG_DEBUG("ngram.build", LF_INT("rebuilt", (int64_t)rebuilt), LF_INT("kept", (int64_t)kept),
		 LF_INT("bytes", (int64_t)bytes), LF_INT("status", (int64_t)st));
out:
	vec_release(&repos);
	buf_release(&list);
	return st;
}

/* ---- open ------------------------------------------------------------ */

void ctx_ngram_free(struct ctx_ngram *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_parts; i++)
		part_release(&g->parts[i]);
	mem_free(g->parts);
	mem_free(g);
}

/* Opens <prefix>.txt/.sa/.map into g (its fds -1 or open); notfound_hint
 * completes the ST_NOTFOUND message. On failure g is left to release. */
static status_t part_open(const char *prefix, const char *notfound_hint,
			  struct part *g, struct err *e)
{
	char p[PATH_MAX];
	uint64_t n, ne, nl;
	status_t st;

	if ((st = path_of(p, sizeof p, prefix, ".txt", e)))
		return st;
	if (fmap_open(&g->txt, p, e) != ST_OK)
		return err_set(e, ST_NOTFOUND, "%s: %s", p, notfound_hint);
	if ((st = path_of(p, sizeof p, prefix, ".sa", e)) ||
	    (st = fmap_open(&g->sa, p, e)) ||
	    (st = path_of(p, sizeof p, prefix, ".map", e)) ||
	    (st = fmap_open(&g->map, p, e)))
		return st;
	st = err_set(e, ST_CORRUPT, "%s: n-gram index files disagree", prefix);
	if (g->sa.len < 16 || memcmp(g->sa.data, SA_MAGIC, 8) != 0)
		return st;
	memcpy(&n, g->sa.data + 8, 8);
	if (n != g->txt.len || n > INT32_MAX || g->sa.len != 16 + n * 4)
		return st;
	if (g->map.len < 24)
		return st;
	if (!memcmp(g->map.data, MAP_MAGIC_NORM, 8))
		g->normalised = 1;
	else if (memcmp(g->map.data, MAP_MAGIC, 8) != 0)
		return st;
	memcpy(&ne, g->map.data + 8, 8);
	memcpy(&nl, g->map.data + 16, 8);
	if (ne > g->map.len / sizeof(struct map_entry) ||
	    g->map.len != 24 + ne * sizeof(struct map_entry) + nl)
		return st;
	g->t = g->txt.data;
	g->n = (size_t)n;
	g->pos = (const int32_t *)(const void *)(g->sa.data + 16);
	g->ents = (const struct map_entry *)(const void *)(g->map.data + 24);
	g->n_ents = (size_t)ne;
	g->names = (const char *)g->map.data + 24 + ne * sizeof(struct map_entry);
	g->names_len = (size_t)nl;
	if (nl && g->names[nl - 1] != 0)
		return st;
	for (size_t i = 0; i < g->n_ents; i++)
		if (g->ents[i].name_off >= nl || g->ents[i].offset > n ||
		    (i && g->ents[i].offset < g->ents[i - 1].offset))
			return st;
	err_clear(e);
	return ST_OK;
}

/* Opens the parts under the prefixes prefixes[0..n) (one string each,
 * NUL-separated in one buffer) as one index. */
static status_t open_parts(const char *prefixes, size_t n, const char *notfound_hint,
			   struct ctx_ngram **out, struct err *e)
{
	struct ctx_ngram *g;
	const char *pf = prefixes;
	status_t st = ST_OK;

	*out = NULL;
	g = mem_calloc(1, sizeof *g);
	if (!g || (n && !(g->parts = mem_calloc(n, sizeof *g->parts)))) {
		mem_free(g);
		return err_set(e, ST_NOMEM, "n-gram index: out of memory");
	}
	g->normalised = n > 0;
	for (size_t i = 0; i < n; i++, pf += strlen(pf) + 1) {
		struct part *pt = &g->parts[i];
		pt->txt.fd = pt->sa.fd = pt->map.fd = -1;
		g->n_parts = i + 1;
		if ((st = part_open(pf, notfound_hint, pt, e)))
			break;
		g->n += pt->n;
		g->normalised &= pt->normalised;
	}
	if (st) {
		ctx_ngram_free(g);
		return st;
	}
	*out = g;
	return ST_OK;
}

status_t ctx_ngram_open(const char *data_dir, struct ctx_ngram **out,
			struct err *e)
{
	static const char hint[] = "n-gram index not built (run airlock index)";
	char dir[PATH_MAX], p[PATH_MAX], *text = NULL;
	struct buf prefixes;
	size_t len = 0, n = 0;
	status_t st;

	*out = NULL;
	if ((st = path_of(dir, sizeof dir, data_dir, PARTS_DIR, e)) ||
	    (st = path_of(p, sizeof p, dir, "/parts", e)))
		return st;
	if ((st = file_read_all(p, (size_t)PARTS_MAX * 24, &text, &len, NULL)) == ST_NOTFOUND) {
		/* No parts list: the single index of before, if there is one
		 * (ST_NOTFOUND naming context-ngram.txt otherwise). */
		if ((st = path_of(p, sizeof p, data_dir, "/context-ngram", e)))
			return st;
		return open_parts(p, 1, hint, out, e);
	}
	if (st != ST_OK)
		return err_set(e, st == ST_LIMIT ? ST_CORRUPT : st, "%s: cannot read the n-gram parts list", p);
	buf_init(&prefixes, 0);
	st = err_set(e, ST_CORRUPT, "%s/parts: bad n-gram parts list", dir);
	if (len < 9 || memcmp(text, PARTS_MAGIC "\n", 9) != 0 || text[len - 1] != '\n')
		goto out;
	for (char *l = text + 9, *nl; l < text + len; l = nl + 1) {
		int64_t id;
		nl = memchr(l, '\n', (size_t)(text + len - l));
		*nl = 0;
		if (parse_i64(l, 1, INT64_MAX, &id) != ST_OK || ++n > PARTS_MAX)
			goto out;
		if ((st = part_path(p, sizeof p, dir, id, "", e)))
			goto out;
		if (buf_append(&prefixes, p, strlen(p) + 1)) {
			st = err_set(e, ST_NOMEM, "n-gram index: out of memory");
			goto out;
		}
	}
	st = open_parts(prefixes.data, n, hint, out, e);
	/* A part listed but missing is damage, not an index never built. */
	if (st == ST_NOTFOUND)
		st = err_set(e, ST_CORRUPT, "%s/parts: a listed part is missing", dir);
out:
	mem_free(text);
	buf_release(&prefixes);
	return st;
}

status_t ctx_ngram_open_at(const char *prefix, struct ctx_ngram **out,
			   struct err *e)
{
	return open_parts(prefix, 1, "index not built", out, e);
}

size_t ctx_ngram_size(const struct ctx_ngram *g)
{
	return g ? g->n : 0;
}

/* ---- search ---------------------------------------------------------- */

/* Compares the suffix at position p with pat[0..m): <0, 0 (prefix), >0. */
static int cmp_suffix(const struct part *g, int32_t p, const char *pat,
		      size_t m)
{
	size_t avail = g->n - (size_t)p, k = avail < m ? avail : m;
	int r = memcmp(g->t + p, pat, k);

	if (r)
		return r;
	return avail < m ? -1 : 0;
}

/* The range [*lo, *hi) of suffixes that start with pat; 1 if non-empty. */
static int sa_range(const struct part *g, const char *pat, size_t m,
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

static void locate(const struct part *g, size_t off,
		   struct ctx_ngram_match *m)
{
	size_t a = 0, b = g->n_ents;
	const struct map_entry *me;
	const char *name, *tab;

	m->repo[0] = m->path[0] = m->licence[0] = 0;
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
		/* Reference corpora append "\tlicence" to the path. */
		if (g->normalised) {
			char *t2 = strchr(m->path, '\t');
			if (t2) {
				*t2 = 0;
				str_copy(m->licence, tab + 1 + (t2 - m->path) + 1, sizeof m->licence);
			}
		}
	}
	m->line = (int)me->line;
	for (size_t i = (size_t)me->offset; i < off && i < g->n; i++)
		m->line += g->t[i] == '\n';
}

/*
 * The longest match in part g longer than *best bytes, or as long but
 * starting earlier in text than *best_i: updates *best, *best_i and
 * *best_pos (its position in g); 1 when it did.
 */
static int part_longest(const struct part *g, const char *text, size_t len,
			size_t *best, size_t *best_i, size_t *best_pos)
{
	size_t lo, hi, floor = *best ? *best - 1 : 0;
	int better = 0;

	/* Only a match longer than floor can win: at first one as long as
	 * the best (a tie wins when it starts earlier), then a longer one. */
	for (size_t i = 0; i + floor < len; i++) {
		size_t l = floor + 1;
		if (!sa_range(g, text + i, l, &lo, &hi))
			continue;
		while (i + l < len && sa_range(g, text + i, l + 1, &lo, &hi))
			l++;
		sa_range(g, text + i, l, &lo, &hi);
		if (l > *best || (l == *best && i < *best_i)) {
			*best = l;
			*best_i = i;
			*best_pos = (size_t)g->pos[lo];
			better = 1;
		}
		floor = l;
	}
	return better;
}

status_t ctx_ngram_longest_match(const struct ctx_ngram *g, const char *text,
				 size_t len, struct ctx_ngram_match *m)
{
	size_t best = 0, best_i = 0, best_pos = 0, best_part = 0;

	memset(m, 0, sizeof *m);
	if (!g || !g->n)
		return ST_OK;
	for (size_t k = 0; k < g->n_parts; k++)
		if (g->parts[k].n &&
		    part_longest(&g->parts[k], text, len, &best, &best_i, &best_pos))
			best_part = k;
	m->length = best;
	m->text_offset = best_i;
	if (best)
		locate(&g->parts[best_part], best_pos, m);
	return ST_OK;
}

/* Length of the longest suffix of prefix[0, len) (at most 4096 bytes)
 * that occurs in g, and its suffix-array range. */
static size_t part_suffix(const struct part *g, const char *prefix, size_t len,
			  size_t *lo_out, size_t *hi_out)
{
	size_t a = 0, b = len < 4096 ? len : 4096, lo, hi;

	*lo_out = *hi_out = 0;
	/* Monotone: when l bytes occur, l - 1 bytes do too. */
	while (a < b) {
		size_t mid = a + (b - a + 1) / 2;
		if (sa_range(g, prefix + len - mid, mid, &lo, &hi)) {
			a = mid;
			*lo_out = lo;
			*hi_out = hi;
		} else {
			b = mid - 1;
		}
	}
	return a;
}

/*
 * Over the parts, as over one corpus: the longest suffix of the prefix
 * that occurs in any part, then the most frequent continuation among its
 * occurrences (up to 256 in each part that has it), the first to reach
 * the top count winning a tie.
 */
status_t ctx_ngram_complete(const struct ctx_ngram *g, const char *prefix,
			    size_t len, size_t max_bytes, struct buf *out,
			    struct ctx_ngram_match *m)
{
	size_t a = 0, *sfx = NULL, *los = NULL, *his = NULL;
	struct hmap votes;
	size_t best_count = 0, best_len = 0, best_at = 0, best_part = 0;
	status_t st = ST_OK;

	if (m)
		memset(m, 0, sizeof *m);
	if (!g || !g->n || !len || !max_bytes)
		return ST_OK;
	sfx = mem_calloc(g->n_parts * 3, sizeof *sfx);
	if (!sfx)
		return ST_NOMEM;
	los = sfx + g->n_parts;
	his = los + g->n_parts;
	for (size_t k = 0; k < g->n_parts; k++) {
		if (g->parts[k].n)
			sfx[k] = part_suffix(&g->parts[k], prefix, len, &los[k], &his[k]);
		if (sfx[k] > a)
			a = sfx[k];
	}
	if (a == 0) {
		mem_free(sfx);
		return ST_OK;
	}
	/* The most frequent continuation to the end of the line. */
	hmap_init(&votes);
	for (size_t k = 0; k < g->n_parts && st == ST_OK; k++) {
		const struct part *pt = &g->parts[k];
		if (sfx[k] != a)
			continue;
		for (size_t i = los[k]; i < his[k] && i < los[k] + 256; i++) {
			size_t p = (size_t)pt->pos[i] + a, n = 0;
			void *v = NULL;
			while (p + n < pt->n && n < max_bytes && (pt->t[p + n] != '\n' || n == 0))
				n++;
			if (!n)
				continue;
			hmap_get(&votes, pt->t + p, n, &v);
			size_t cnt = (size_t)(uintptr_t)v + 1;
			if ((st = hmap_put(&votes, pt->t + p, n, (void *)(uintptr_t)cnt)))
				break;
			if (cnt > best_count) {
				best_count = cnt;
				best_len = n;
				best_at = p;
				best_part = k;
			}
		}
	}
	hmap_release(&votes);
	mem_free(sfx);
	if (st)
		return st;
	if (best_len && (st = buf_append(out, g->parts[best_part].t + best_at, best_len)))
		return st;
	if (m) {
		m->length = a;
		m->text_offset = len - a;
		locate(&g->parts[best_part], best_at >= a ? best_at - a : 0, m);
	}
	return ST_OK;
}

/* ---- reference corpora and overlaps ------------------------------------ */

#define CORPUS_MAX_FILE ((size_t)16 << 20)
#define CORPUS_MAX_DEPTH 64
#define OVERLAP_BUDGET ((uint64_t)64 << 20)
#define OVERLAP_MAX_TEXT ((size_t)64 << 20)

static int is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Whitespace normalisation: per line, leading and trailing blanks are
 * dropped and each run of blanks inside becomes one space; newlines are
 * kept, so line numbers do not change. Generated code is often re-indented
 * or re-spaced, and a copy is no less a copy for it. When offs is not
 * NULL, offs[k] receives the offset in t of normalised byte k.
 */
static status_t norm_text(const char *t, size_t n, struct buf *out, size_t *offs)
{
	size_t i = 0;

	while (i < n) {
		size_t le = i, j;
		int pending = 0, any = 0;
		while (le < n && t[le] != '\n')
			le++;
		for (j = i; j < le; j++) {
			if (is_blank((uint8_t)t[j])) {
				pending = any;
				continue;
			}
			if (pending) {
				if (offs)
					offs[out->len] = j - 1;
				if (buf_putc(out, ' '))
					return ST_NOMEM;
				pending = 0;
			}
			if (offs)
				offs[out->len] = j;
			if (buf_putc(out, t[j]))
				return ST_NOMEM;
			any = 1;
		}
		if (le < n) {
			if (offs)
				offs[out->len] = le;
			if (buf_putc(out, '\n'))
				return ST_NOMEM;
		}
		i = le + 1;
	}
	return ST_OK;
}

struct corpus_walk {
	struct builder b;
	const char *name, *licence;
	struct ctx_corpus_stats st;
	struct err *e;
};

static status_t corpus_file(struct corpus_walk *w, const char *full, const char *rel)
{
	struct map_entry me;
	char *data = NULL;
	size_t n = 0;
	status_t st;

	if (file_read_all(full, CORPUS_MAX_FILE, &data, &n, NULL) != ST_OK) {
		w->st.skipped++;
		return ST_OK;
	}
	if (memchr(data, 0, n)) {	/* binary */
		mem_free(data);
		w->st.skipped++;
		return ST_OK;
	}
	me.offset = w->b.text.len;
	me.name_off = (uint32_t)w->b.names.len;
	me.line = 1;
	if ((st = buf_printf(&w->b.names, "%s\t%s\t%s", w->name, rel, w->licence)) ||
	    (st = buf_putc(&w->b.names, 0)) || (st = vec_push(&w->b.ents, &me)) ||
	    (st = norm_text(data, n, &w->b.text, NULL)) ||
	    /* A NUL after each file: no match spans two files. */
	    (st = buf_putc(&w->b.text, 0))) {
		mem_free(data);
		if (st == ST_LIMIT)
			return err_set(w->e, ST_LIMIT, "reference corpus over 2 GiB");
		return err_set(w->e, st, "reference corpus: out of memory");
	}
	mem_free(data);
	w->st.files++;
	return ST_OK;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks dir (rel: its path for the index, "" at a root) in name order. */
static status_t corpus_dir(struct corpus_walk *w, const char *dir, const char *rel,
			   int depth)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	status_t st = ST_OK;

	if (depth > CORPUS_MAX_DEPTH)
		return ST_OK;
	d = opendir(dir);
	if (!d) {
		w->st.skipped++;
		return ST_OK;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;	/* hidden, and . / .. */
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nn = mem_realloc_array(names, nc, sizeof *nn);
			if (!nn) {
				st = ST_NOMEM;
				break;
			}
			names = nn;
			cap = nc;
		}
		if (!(names[n] = mem_alloc(strlen(de->d_name) + 1))) {
			st = ST_NOMEM;
			break;
		}
		memcpy(names[n], de->d_name, strlen(de->d_name) + 1);
		n++;
	}
	closedir(d);
	if (st == ST_OK && n)
		qsort(names, n, sizeof *names, cmp_cstr);
	for (size_t i = 0; i < n && st == ST_OK; i++) {
		char full[PATH_MAX], sub[PATH_MAX];
		struct stat sb;
		if (snprintf(full, sizeof full, "%s/%s", dir, names[i]) >= (int)sizeof full ||
		    snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]) >=
			    (int)sizeof sub || lstat(full, &sb) != 0) {
			w->st.skipped++;
			continue;
		}
		if (S_ISDIR(sb.st_mode))
			st = corpus_dir(w, full, sub, depth + 1);
		else if (S_ISREG(sb.st_mode) && (size_t)sb.st_size <= CORPUS_MAX_FILE)
			st = corpus_file(w, full, sub);
		else
			w->st.skipped++;	/* symlink, special, too large */
	}
	for (size_t i = 0; i < n; i++)
		mem_free(names[i]);
	mem_free(names);
	if (st == ST_NOMEM)
		return err_set(w->e, st, "reference corpus: out of memory");
	return st;
}

status_t ctx_ngram_build_corpus(const char *const *roots, size_t n_roots,
				const char *name, const char *licence,
				const char *prefix, struct ctx_corpus_stats *stats,
				struct err *e)
{
	struct corpus_walk w;
	status_t st = ST_OK;

	if (!name || !name[0] || strchr(name, '\t') || strchr(name, '\n'))
		return err_set(e, ST_INVAL, "reference corpus: bad name");
	if (!licence || strchr(licence, '\t') || strchr(licence, '\n') || strlen(licence) >= 64)
		return err_set(e, ST_INVAL, "reference corpus: bad licence label (at most 63 bytes, no tabs)");
	memset(&w, 0, sizeof w);
	builder_init(&w.b);
	w.name = name;
	w.licence = licence;
	w.e = e;
	for (size_t i = 0; i < n_roots && st == ST_OK; i++) {
		struct stat sb;
		const char *base;
		if (stat(roots[i], &sb) != 0) {
			st = err_set(e, ST_NOTFOUND, "%s: no such file or directory", roots[i]);
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			st = corpus_dir(&w, roots[i], "", 0);
		} else {
			base = strrchr(roots[i], '/');
			st = corpus_file(&w, roots[i], base ? base + 1 : roots[i]);
		}
	}
	if (st == ST_OK && w.b.names.len > UINT32_MAX)
		st = err_set(e, ST_LIMIT, "reference corpus: too many files");
	if (st == ST_OK)
		st = write_index(prefix, MAP_MAGIC_NORM, &w.b, e);
	w.st.bytes = w.b.text.len;
	if (stats)
		*stats = w.st;
	builder_release(&w.b);
	return st;
}

/* The byte at depth d of the suffix at SA index i; -1 past its end. */
static int sa_key(const struct part *g, size_t i, size_t d)
{
	size_t p = (size_t)(uint32_t)g->pos[i];

	/* An out-of-range entry (damaged file) sorts as an ended suffix. */
	if (p >= g->n || d >= g->n - p)
		return -1;
	return g->t[p + d];
}

/*
 * Narrows [*lo, *hi), suffixes sharing a prefix of length d, to those
 * whose byte at depth d is c; 1 when some remain. Within the range the
 * bytes at depth d are sorted, so this is two binary searches.
 */
static int sa_narrow(const struct part *g, size_t *lo, size_t *hi, size_t d,
		     int c, uint64_t *work)
{
	size_t a = *lo, b = *hi, l;

	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (sa_key(g, mid, d) < c)
			a = mid + 1;
		else
			b = mid;
		(*work)++;
	}
	l = a;
	b = *hi;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (sa_key(g, mid, d) <= c)
			a = mid + 1;
		else
			b = mid;
		(*work)++;
	}
	*lo = l;
	*hi = a;
	return a > l;
}

/* Length of the longest prefix of q[0, n) in the corpus; *at one SA index. */
static size_t sa_match(const struct part *g, const uint8_t *q, size_t n,
		       size_t *at, uint64_t *work)
{
	size_t lo = 0, hi = g->n, d = 0;

	while (d < n) {
		size_t l2 = lo, h2 = hi;
		if (!sa_narrow(g, &l2, &h2, d, q[d], work))
			break;
		lo = l2;
		hi = h2;
		d++;
	}
	*at = lo;
	return d;
}

/* Full non-blank lines of q inside [i, e) (the end of q ends a line). */
static int full_lines(const uint8_t *q, size_t n, size_t i, size_t e)
{
	int lines = 0;
	size_t s = i;

	if (i > 0 && q[i - 1] != '\n') {	/* first line starts before i */
		while (s < e && q[s] != '\n')
			s++;
		s++;
	}
	while (s < e) {
		size_t le = s;
		while (le < e && q[le] != '\n')
			le++;
		if ((le < e || e == n) && le > s)
			lines++;
		s = le + 1;
	}
	return lines;
}

/* ctx_ngram_overlaps over one part: q[0, n) the (normalised) text, offs
 * its map to the original or NULL, k, s and w as explained there. */
static status_t part_overlaps(const struct part *g, const uint8_t *q, size_t n,
			      const size_t *offs, size_t k, size_t s, size_t w,
			      size_t min_chars, int min_lines,
			      void (*fn)(void *arg, const struct ctx_ngram_match *m),
			      void *arg, uint64_t *work)
{
	size_t pos = 0;
	status_t st = ST_OK;

	for (size_t q0 = 0; q0 + w <= n; q0 += s) {
		size_t at, first;
		if (q0 < pos)
			continue;
		if (*work > OVERLAP_BUDGET) {
			st = ST_LIMIT;
			break;
		}
		if (sa_match(g, q + q0, w, &at, work) < w)
			continue;
		first = q0 + 1 >= s ? q0 + 1 - s : 0;
		if (first < pos)
			first = pos;
		for (size_t i = first; i <= q0; i++) {
			size_t l = sa_match(g, q + i, n - i, &at, work), cpos;
			int lines;
			struct ctx_ngram_match m;
			if (l < k)
				continue;
			lines = full_lines(q, n, i, i + l);
			if (!((min_chars && l >= min_chars) || (min_lines > 0 && lines >= min_lines))) {
				if (*work > OVERLAP_BUDGET)
					break;
				continue;
			}
			memset(&m, 0, sizeof m);
			cpos = (size_t)(uint32_t)g->pos[at];
			/* A match that starts with the end of the line before
			 * is reported from the next line. */
			while (l > 1 && q[i] == '\n') {
				i++;
				l--;
				cpos++;
			}
			locate(g, cpos, &m);
			m.lines = lines;
			if (offs) {
				m.text_offset = offs[i];
				m.length = offs[i + l - 1] + 1 - offs[i];
			} else {
				m.text_offset = i;
				m.length = l;
			}
			fn(arg, &m);
			pos = i + l;
			break;
		}
	}
	return st;
}

status_t ctx_ngram_overlaps(const struct ctx_ngram *g, const char *text,
			    size_t len, size_t min_chars, int min_lines,
			    void (*fn)(void *arg, const struct ctx_ngram_match *m),
			    void *arg)
{
	struct buf nb;
	size_t *offs = NULL;
	const uint8_t *q;
	size_t n, k, s, w;
	uint64_t work = 0;
	status_t st = ST_OK;

	if (!g || !g->n || !len || (!min_chars && min_lines <= 0))
		return ST_OK;
	if (len > OVERLAP_MAX_TEXT)
		return ST_LIMIT;	/* the offset map alone would be 8 x len */
	buf_init(&nb, 0);
	if (g->normalised) {
		offs = mem_alloc_array(len + 1, sizeof *offs);
		if (!offs || norm_text(text, len, &nb, offs)) {
			st = ST_NOMEM;
			goto out;
		}
		q = (const uint8_t *)(nb.data ? nb.data : "");
		n = nb.len;
	} else {
		q = (const uint8_t *)text;
		n = len;
	}
	/* The shortest overlap that can qualify: min_chars bytes, or
	 * min_lines non-blank lines of at least two bytes each. */
	k = min_chars ? min_chars : SIZE_MAX;
	if (min_lines > 0 && (size_t)min_lines * 2 < k)
		k = (size_t)min_lines * 2;
	/*
	 * Every overlap of length >= k contains a window [q0, q0 + w) with q0
	 * a multiple of s (the first multiple at or after its start): so only
	 * those windows are probed, and the starts in the stride before a
	 * window that occurs are tried in turn (leftmost qualifying wins).
	 * After an overlap is reported the scan resumes at its end.
	 */
	s = k / 2 ? k / 2 : 1;
	w = k - s + 1;
	/* Each part in turn (the work bound is shared): a reference
	 * corpus is one part; an index's overlaps come part by part. */
	for (size_t pi = 0; pi < g->n_parts && st == ST_OK; pi++)
		if (g->parts[pi].n)
			st = part_overlaps(&g->parts[pi], q, n, offs, k, s, w, min_chars,
					   min_lines, fn, arg, &work);
out:
	mem_free(offs);
	buf_release(&nb);
	return st;
}
