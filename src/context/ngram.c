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
 * A repository's corpus of twice SPLIT_BYTES or more is cut at file
 * boundaries into sub-parts sorted on the thread pool: sub-part 0 is
 * <id>.txt/.sa/.map, sub-part k is <id>-<k>.*, listed in parts as "<id>",
 * "<id>-1", ... in text order; the stamp adds their count after the
 * digest ("<k>\n", only when k > 1). Queries search a repository's
 * sub-parts as one corpus, except that no match spans two of them.
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
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SA_MAGIC "ALSA0001"
#define MAP_MAGIC "ALMP0001"
#define MAP_MAGIC_NORM "ALMN0001"	/* reference corpus, normalised text */
#define PARTS_MAGIC "ALNG0001"
#define PARTS_DIR "/context-ngram"
#define PARTS_MAX 65536		/* bound on a parts file's entries */
/*
 * A repository's corpus of twice SPLIT_BYTES or more is sorted in
 * sub-parts of about SPLIT_BYTES each (at least one per sorting thread,
 * none under SPLIT_BYTES), taken by the threads as they come free.
 * libdivsufsort's time per byte grows with the text: over the 17 MB of
 * Python in dist-packages, one thread sorted 2 MB pieces in 0.49 s, 8 MB
 * ones in 0.63 s and the whole in 0.78 s, and many small pieces also
 * share two threads (and the store's compaction beside them) evenly.
 * Against that, every query searches each part (see ctx_ngram_complete
 * for how a part that cannot win costs one search), and no match spans
 * two sub-parts.
 */
#define SPLIT_BYTES ((size_t)2 << 20)
#define SUBPARTS_MAX 64		/* sub-parts of one repository */
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
	/* Parts with the same group are the sub-parts of one repository's
	 * corpus, consecutive and in text order. */
	int64_t group;
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

/* One sorted piece of a builder: a whole corpus, or a sub-part of a
 * repository's (its text, map entries and names are slices of b's). */
struct sub {
	char prefix[PATH_MAX];	/* <prefix>.sa/.map/.txt */
	size_t t0, tn;		/* text bytes [t0, t0 + tn) */
	size_t e0, en;		/* map entries [e0, e0 + en) */
	size_t n0, nn;		/* names bytes [n0, n0 + nn) */
	saidx_t *sa;		/* SA_HDR bytes, then tn positions */
	status_t st;
	struct err e;
};

/* Sorts s's text and writes <prefix>.sa, .map (with map_magic), .txt.
 * The suffix array is sorted in place behind room for the .sa header,
 * so the file is written from that one buffer: no second copy of 4
 * bytes per text byte (68 MB for a 17 MB repository). Touches nothing
 * but s, b's bytes (read only) and the three files, so sub-parts of one
 * builder may be written at the same time. */
#define SA_HDR 16	/* magic (8) and length (8) */
static status_t write_sub(const struct builder *b, const char *map_magic,
			  struct sub *s, struct err *e)
{
	char p[PATH_MAX];
	const char *text = (b->text.data ? b->text.data : "") + s->t0;
	const struct map_entry *ents = s->en ? (const struct map_entry *)b->ents.data + s->e0 : NULL;
	struct buf hdr;
	status_t st;
	uint64_t n64 = s->tn;

	buf_init(&hdr, 0);
	if (s->tn && divsufsort((const sauchar_t *)text, s->sa + SA_HDR / sizeof *s->sa,
				(saidx_t)s->tn) != 0) {
		st = err_set(e, ST_INTERNAL, "n-gram index: divsufsort failed");
		goto out;
	}
	memcpy(s->sa, SA_MAGIC, 8);
	memcpy((char *)s->sa + 8, &n64, 8);
	if ((st = path_of(p, sizeof p, s->prefix, ".sa", e)) ||
	    (st = file_write_atomic(p, s->sa, SA_HDR + s->tn * sizeof *s->sa, 0644, e)))
		goto out;
	{
		uint64_t ne = s->en, nl = s->nn;
		if ((st = buf_append(&hdr, map_magic, 8)) || (st = buf_append(&hdr, &ne, 8)) ||
		    (st = buf_append(&hdr, &nl, 8)))
			goto out;
		/* Offsets and name offsets relative to the slice. */
		for (size_t i = 0; i < s->en; i++) {
			struct map_entry me = ents[i];
			me.offset -= s->t0;
			me.name_off -= (uint32_t)s->n0;
			if ((st = buf_append(&hdr, &me, sizeof me)))
				goto out;
		}
		if ((st = buf_append(&hdr, b->names.data ? b->names.data + s->n0 : "", s->nn)))
			goto out;
	}
	if ((st = path_of(p, sizeof p, s->prefix, ".map", e)) ||
	    (st = file_write_atomic(p, hdr.data, hdr.len, 0644, e)))
		goto out;
	/* The text last: a reader checks its length against the others. */
	if ((st = path_of(p, sizeof p, s->prefix, ".txt", e)) ||
	    (st = file_write_atomic(p, text, s->tn, 0644, e)))
		goto out;
out:
	if (st == ST_NOMEM)
		err_set(e, st, "n-gram index: out of memory");
	buf_release(&hdr);
	return st;
}

/* Sorts b's whole text and writes <prefix>.sa, .map, .txt. */
static status_t write_index(const char *prefix, const char *map_magic,
			    struct builder *b, struct err *e)
{
	struct sub s;
	status_t st;

	memset(&s, 0, sizeof s);
	if (snprintf(s.prefix, sizeof s.prefix, "%s", prefix) >= (int)sizeof s.prefix)
		return err_set(e, ST_INVAL, "%s: path too long", prefix);
	s.tn = b->text.len;
	s.en = b->ents.len;
	s.nn = b->names.len;
	s.sa = mem_alloc_array(b->text.len + 1 + SA_HDR / sizeof *s.sa, sizeof *s.sa);
	if (!s.sa)
		return err_set(e, ST_NOMEM, "n-gram index: out of memory");
	st = write_sub(b, map_magic, &s, e);
	mem_free(s.sa);
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

/* <dir>/<id> for sub-part 0 (the whole corpus when it is not split),
 * <dir>/<id>-<k> for sub-part k > 0. */
static status_t sub_path(char *out, size_t n, const char *dir, int64_t id, int k,
			 const char *ext, struct err *e)
{
	int w = k ? snprintf(out, n, "%s/%lld-%d%s", dir, (long long)id, k, ext)
		  : snprintf(out, n, "%s/%lld%s", dir, (long long)id, ext);
	if (w < 0 || w >= (int)n)
		return err_set(e, ST_INVAL, "%s: path too long", dir);
	return ST_OK;
}

/* The number of sub-parts a stamp file records: "<stamp>" alone is one
 * (every part written before sub-parts), "<stamp><k>\n" is k (2..
 * SUBPARTS_MAX); 0 when got is not a stamp for stamp. */
static int stamp_subparts(const char *got, size_t n, const char *stamp)
{
	size_t sl = strlen(stamp);
	char num[8];
	int64_t k;

	if (n < sl || memcmp(got, stamp, sl) != 0)
		return 0;
	if (n == sl)
		return 1;
	if (n - sl < 2 || n - sl > sizeof num || got[n - 1] != '\n')
		return 0;
	memcpy(num, got + sl, n - sl - 1);
	num[n - sl - 1] = 0;
	if (parse_i64(num, 2, SUBPARTS_MAX, &k) != ST_OK)
		return 0;
	return (int)k;
}

/* The number of sub-parts of d's part in dir when it carries the current
 * stamp and all of them open; 0 when it must be rebuilt. */
static int part_current(const char *dir, const struct ctx__repo_digest *d,
			const char *stamp)
{
	char p[PATH_MAX], *got = NULL;
	size_t n = 0;
	int k = 0;

	if (sub_path(p, sizeof p, dir, d->id, 0, ".stamp", NULL) ||
	    file_read_all(p, 256, &got, &n, NULL) != ST_OK)
		return 0;
	k = stamp_subparts(got, n, stamp);
	mem_free(got);
	for (int i = 0; i < k; i++) {
		struct part g;
		status_t st;
		if (sub_path(p, sizeof p, dir, d->id, i, "", NULL))
			return 0;
		memset(&g, 0, sizeof g);
		g.txt.fd = g.sa.fd = g.map.fd = -1;
		st = part_open(p, "", &g, NULL);
		part_release(&g);
		if (st != ST_OK)
			return 0;
	}
	return k;
}

/* A repository in the parts list with its number of sub-parts. */
struct listed {
	int64_t id;
	int subparts;
};

/* Parses a file name "<id>.ext" or "<id>-<k>.ext" (k >= 1); 0 if not one. */
static int parse_part_name(const char *name, int64_t *id, int *k)
{
	const char *dot = strchr(name, '.'), *dash;
	char num[32];
	int64_t v;

	if (!dot || dot == name || (size_t)(dot - name) >= sizeof num)
		return 0;
	memcpy(num, name, (size_t)(dot - name));
	num[dot - name] = 0;
	*k = 0;
	dash = strchr(num, '-');
	if (dash) {
		if (parse_i64(dash + 1, 1, SUBPARTS_MAX - 1, &v) != ST_OK)
			return 0;
		*k = (int)v;
		num[dash - num] = 0;
	}
	return parse_i64(num, 1, INT64_MAX, id) == ST_OK;
}

/* Removes the files of parts that are not in keep (repositories no
 * longer in the store, sub-parts beyond a repository's count now), and
 * the single index of before. */
static void parts_prune(const char *data_dir, const char *dir, const struct vec *keep)
{
	static const char *const legacy[] = { ".txt", ".sa", ".map" };
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];

	while (d && (de = readdir(d)) != NULL) {
		int64_t id;
		int k, found = 0;
		if (!parse_part_name(de->d_name, &id, &k))
			continue;
		for (size_t i = 0; i < keep->len && !found; i++) {
			const struct listed *l = &((const struct listed *)keep->data)[i];
			found = l->id == id && k < l->subparts;
		}
		if (!found && snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p)
			unlink(p);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < 3; i++)
		if (snprintf(p, sizeof p, "%s/context-ngram%s", data_dir, legacy[i]) < (int)sizeof p)
			unlink(p);
}

/*
 * Splits b (one repository's corpus) into k sub-parts of about equal
 * text at file boundaries, so no file is cut in two; fewer when there
 * are not enough files. Fills subs[0..*n_out) with their slices; the
 * suffix arrays and prefixes are set by the caller.
 */
static void split_corpus(const struct builder *b, int k, struct sub *subs, int *n_out)
{
	const struct map_entry *ents = (const struct map_entry *)b->ents.data;
	size_t ne = b->ents.len, e = 0;
	int n = 0;

	for (int i = 0; i < k && e < ne; i++) {
		size_t target = b->text.len / (size_t)k * (size_t)(i + 1), e1 = e + 1;
		/* The first file boundary at or past the target. */
		while (e1 < ne && (ents[e1].offset < target ||
				   ents[e1].name_off == ents[e1 - 1].name_off))
			e1++;
		if (i == k - 1)
			e1 = ne;
		memset(&subs[n], 0, sizeof subs[n]);
		subs[n].e0 = e;
		subs[n].en = e1 - e;
		subs[n].t0 = ents[e].offset;
		subs[n].tn = (e1 < ne ? ents[e1].offset : b->text.len) - subs[n].t0;
		subs[n].n0 = ents[e].name_off;
		subs[n].nn = (e1 < ne ? ents[e1].name_off : b->names.len) - subs[n].n0;
		n++;
		e = e1;
	}
	if (n == 0) {		/* no entries: one empty part */
		memset(&subs[0], 0, sizeof subs[0]);
		n = 1;
	}
	*n_out = n;
}

/* CPU time of the process (all threads), ns. */
static uint64_t proc_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The rebuild of every stale repository's part, shared by the pool's
 * threads. The first thread to come reads the corpora, one repository
 * after another in store order, through rd, and cuts each into
 * sub-parts; every thread sorts and writes sub-parts as they are cut
 * (the reader too, once it has read all); the thread that writes a
 * repository's last sub-part writes its stamp and frees its corpus. So
 * the next corpus is read while the last is sorted, and many small
 * repositories (one sub-part each) are sorted on every thread at once.
 * Corpora read and not yet written are held to PIPE_BYTES of text (one
 * repository at least): at the bound the reader sorts, or waits, first.
 * The compaction, when asked, runs through the build's connection: on
 * another thread beside the reads when rd is a second connection (in
 * WAL mode its writes, a VACUUM's too, go beside a reader of another
 * connection), else on the reading thread after its reads. Each
 * connection is used by one thread at a time.
 */
#define PIPE_BYTES ((size_t)64 << 20)	/* ctx_ngram_build_opts.ahead_bytes */

struct rebuild {		/* one stale repository's part */
	const struct ctx__repo_digest *d;
	char stamp[2 * SHA256_LEN + 2];
	struct builder b;
	struct sub *subs;	/* n_subs, about 4 KB each; freed once written */
	int n_subs;
	saidx_t *sa;		/* every sub-part's slice, behind its header */
	int next_k;		/* under mu: next sub-part to hand out */
	atomic_int left;	/* sub-parts not yet written */
	size_t bytes;		/* text bytes read */
	status_t st;		/* under mu once read: reading, cutting, writing */
	struct err e;
};

struct pipe_job {
	const char *dir;
	struct rebuild *rb;
	size_t n_rb;
	int threads;
	size_t split;
	size_t ahead;		/* the bound on in_flight (PIPE_BYTES) */
	struct ctx *rd;		/* reads the corpora */
	struct ctx *compact;	/* not NULL: compact the store through it */
	atomic_int compact_taken;
	uint64_t compact_ns;
	atomic_int read_taken;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu: */
	size_t n_read;		/* rb[0, n_read) read (or failed) */
	size_t cur;		/* first of them that may have sub-parts to hand out */
	int reading_done;
	size_t in_flight;	/* text bytes read and not yet all written */
};

/* The number of sub-parts for a corpus of len bytes: about SPLIT_BYTES
 * each, one per thread at least, none smaller than split, 1 to
 * SUBPARTS_MAX. */
static int sub_count(size_t len, int threads, size_t split)
{
	size_t k = len / SPLIT_BYTES;

	if (k < (size_t)threads)
		k = (size_t)threads;
	if (k > len / split)
		k = len / split;
	if (k > SUBPARTS_MAX)
		k = SUBPARTS_MAX;
	return k < 1 ? 1 : (int)k;
}

/* Cuts r's corpus into sub-parts with their slices of one suffix array
 * (each behind room for its header: they need the space of the whole,
 * 16 bytes more each) and paths. */
static status_t prepare_subs(const struct pipe_job *j, struct rebuild *r, struct err *e)
{
	int k = sub_count(r->b.text.len, j->threads, j->split), n;
	status_t st = ST_OK;

	if (!(r->subs = mem_calloc((size_t)k, sizeof *r->subs)))
		return err_set(e, ST_NOMEM, "n-gram index: out of memory");
	split_corpus(&r->b, k, r->subs, &n);
	r->n_subs = n;
	r->sa = mem_alloc_array(r->b.text.len + 1 + (size_t)n * (SA_HDR / sizeof *r->sa),
				sizeof *r->sa);
	if (!r->sa)
		return err_set(e, ST_NOMEM, "n-gram index: out of memory");
	for (int i = 0; i < n && st == ST_OK; i++) {
		r->subs[i].sa = r->sa + r->subs[i].t0 + (size_t)i * (SA_HDR / sizeof *r->sa);
		st = sub_path(r->subs[i].prefix, sizeof r->subs[i].prefix, j->dir, r->d->id, i, "", e);
	}
	return st;
}

/* Compacts the store through j->compact, unless another thread has. */
static void compact_once(struct pipe_job *j)
{
	struct err ce;
	uint64_t t0;

	if (!j->compact || atomic_exchange(&j->compact_taken, 1))
		return;
	t0 = time_mono_ns();
	err_clear(&ce);
	if (ctx__store_compact(j->compact, &ce) != ST_OK)
		LOG_WARN("context.compact", LF_STR("error", ce.msg));
	j->compact_ns = time_mono_ns() - t0;
	/* A VACUUM's copy of the store (an older store's, see
	 * ctx__store_compact; in memory, see db_open) was freed in small
	 * blocks the allocator keeps: give them back to the system for the
	 * suffix arrays' slices still to be touched. */
	malloc_trim(0);
}

/* Hands out the next sub-part cut and not yet taken (under mu): 1 and
 * *ri, *k when there is one. */
static int take_sub(struct pipe_job *j, size_t *ri, int *k)
{
	while (j->cur < j->n_read) {
		struct rebuild *r = &j->rb[j->cur];
		if (r->st == ST_OK && r->next_k < r->n_subs) {
			*ri = j->cur;
			*k = r->next_k++;
			return 1;
		}
		j->cur++;
	}
	return 0;
}

/* The stamp of r's part, written after all its sub-parts: its digest,
 * then the count of sub-parts when more than one. */
static status_t write_stamp(const char *dir, const struct rebuild *r, struct err *e)
{
	char p[PATH_MAX];
	struct buf sb;
	status_t st;

	buf_init(&sb, 0);
	if ((st = buf_append(&sb, r->stamp, strlen(r->stamp))) == ST_OK && r->n_subs > 1)
		st = buf_printf(&sb, "%d\n", r->n_subs);
	if (st == ST_OK && (st = sub_path(p, sizeof p, dir, r->d->id, 0, ".stamp", e)) == ST_OK)
		st = file_write_atomic(p, sb.data, sb.len, 0644, e);
	else if (st == ST_NOMEM)
		err_set(e, st, "n-gram index: out of memory");
	buf_release(&sb);
	return st;
}

/* Sorts and writes sub-part k of rb[ri]; the last of a repository's
 * also writes its stamp and frees its corpus. */
static void run_sub(struct pipe_job *j, size_t ri, int k)
{
	struct rebuild *r = &j->rb[ri];
	status_t st = ST_OK;

	err_clear(&r->subs[k].e);
	r->subs[k].st = write_sub(&r->b, MAP_MAGIC, &r->subs[k], &r->subs[k].e);
	if (atomic_fetch_sub(&r->left, 1) != 1)
		return;
	for (int i = 0; i < r->n_subs && st == ST_OK; i++)
		if ((st = r->subs[i].st))
			err_set(&r->e, st, "%s", r->subs[i].e.msg);
	if (st == ST_OK)
		st = write_stamp(j->dir, r, &r->e);
	mem_free(r->sa);
	r->sa = NULL;
	mem_free(r->subs);
	r->subs = NULL;
	builder_release(&r->b);
	pthread_mutex_lock(&j->mu);
	r->st = st;
	j->in_flight -= r->bytes;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

/* Reads and cuts every stale repository's corpus in turn, stopping at
 * the first that fails. */
static void read_all(struct pipe_job *j)
{
	for (size_t i = 0; i < j->n_rb; i++) {
		struct rebuild *r = &j->rb[i];
		status_t st;
		size_t ri;
		int k;
		pthread_mutex_lock(&j->mu);
		while (j->in_flight >= j->ahead) {
			if (take_sub(j, &ri, &k)) {
				pthread_mutex_unlock(&j->mu);
				run_sub(j, ri, k);
				pthread_mutex_lock(&j->mu);
			} else {
				pthread_cond_wait(&j->cv, &j->mu);
			}
		}
		pthread_mutex_unlock(&j->mu);
		err_clear(&r->e);
		st = ctx__store_corpus(j->rd, r->d->id, add_chunk, &r->b, &r->e);
		if (st == ST_LIMIT)
			err_set(&r->e, st, "n-gram index: repository %s: corpus over 2 GiB",
				r->d->name);
		r->bytes = r->b.text.len;
		if (st == ST_OK)
			st = prepare_subs(j, r, &r->e);
		if (st == ST_OK)
			atomic_store(&r->left, r->n_subs);
		pthread_mutex_lock(&j->mu);
		r->st = st;
		if (st == ST_OK)
			j->in_flight += r->bytes;
		j->n_read = i + 1;
		pthread_cond_broadcast(&j->cv);
		pthread_mutex_unlock(&j->mu);
		if (st)
			break;
	}
	pthread_mutex_lock(&j->mu);
	j->reading_done = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static void pipe_fn(void *arg, size_t begin, size_t end, int worker)
{
	struct pipe_job *j = arg;
	size_t ri;
	int k, got;

	(void)begin;
	(void)end;
	(void)worker;
	if (!atomic_exchange(&j->read_taken, 1)) {
		read_all(j);
		compact_once(j);	/* if no other thread has */
	} else if (j->rd != j->compact) {
		compact_once(j);	/* beside the reads */
	}
	for (;;) {
		pthread_mutex_lock(&j->mu);
		while (!(got = take_sub(j, &ri, &k)) && !j->reading_done)
			pthread_cond_wait(&j->cv, &j->mu);
		pthread_mutex_unlock(&j->mu);
		if (!got)
			break;
		run_sub(j, ri, k);
	}
}

status_t ctx_ngram_build(struct ctx *c, const char *data_dir, struct err *e)
{
	return ctx_ngram_build_ex(c, data_dir, NULL, NULL, e);
}

/* Runs the rebuild of rb[0, n) (see struct pipe_job) on pool (the
 * calling thread alone when NULL), compacting through c when compact. */
static void rebuild_parts(struct ctx *c, struct ctx *reader, const char *dir,
			  struct rebuild *rb, size_t n, struct tpool *pool, int threads,
			  size_t split, size_t ahead, int compact,
			  struct ctx_ngram_build_stats *bs)
{
	struct pipe_job j;

	memset(&j, 0, sizeof j);
	j.dir = dir;
	j.rb = rb;
	j.n_rb = n;
	j.threads = threads;
	j.split = split;
	j.ahead = ahead;
	j.rd = reader ? reader : c;
	j.compact = compact ? c : NULL;
	atomic_init(&j.compact_taken, 0);
	atomic_init(&j.read_taken, 0);
	pthread_mutex_init(&j.mu, NULL);
	pthread_cond_init(&j.cv, NULL);
	tpool_parallel_for(pool, (size_t)(pool ? tpool_size(pool) : 1), 1, pipe_fn, &j);
	compact_once(&j);	/* the job ran every share: a no-op */
	pthread_cond_destroy(&j.cv);
	pthread_mutex_destroy(&j.mu);
	if (j.compact) {
		bs->compacted = 1;
		bs->compact_ns = j.compact_ns;
	}
}

status_t ctx_ngram_build_ex(struct ctx *c, const char *data_dir,
			    const struct ctx_ngram_build_opts *o,
			    struct ctx_ngram_build_stats *stats, struct err *e)
{
	struct ctx_ngram_build_opts defo = { 0 };
	struct ctx_ngram_build_stats bs;
	struct vec repos, keep;
	struct buf list;
	struct tpool *pool = NULL;
	struct ctx *reader = NULL;	/* a second connection, see struct pipe_job */
	struct rebuild *rb = NULL;	/* the stale repositories' parts, n_rb */
	size_t n_rb = 0;
	char dir[PATH_MAX], p[PATH_MAX];
	size_t split = SPLIT_BYTES;
	uint64_t t0 = time_mono_ns(), cpu0 = proc_cpu_ns();
	int compact, threads;
	status_t st;

	if (!o)
		o = &defo;
	if (o->split_bytes)
		split = o->split_bytes;
	threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
	compact = o->compact;
	memset(&bs, 0, sizeof bs);
	vec_init(&repos, sizeof(struct ctx__repo_digest));
	vec_init(&keep, sizeof(struct listed));
	buf_init(&list, 0);
	if ((st = path_of(dir, sizeof dir, data_dir, PARTS_DIR, e)) ||
	    (st = file_mkdirs(dir, 0700, e)) ||
	    (st = ctx__store_repo_digests(c, &repos, e)) ||
	    (st = buf_append(&list, PARTS_MAGIC "\n", 9)))
		goto out;
	if (repos.len && !(rb = mem_calloc(repos.len, sizeof *rb))) {
		st = err_set(e, ST_NOMEM, "n-gram index: out of memory");
		goto out;
	}
	/* Which parts are stale. No stamp while a part is being replaced:
	 * an interrupted build leaves it stale, and the next one rebuilds
	 * it. */
	for (size_t i = 0; i < repos.len && st == ST_OK; i++) {
		const struct ctx__repo_digest *d =
			&((const struct ctx__repo_digest *)repos.data)[i];
		struct listed l = { d->id, 0 };
		struct rebuild *r = &rb[n_rb];
		part_stamp(d, r->stamp);
		if ((l.subparts = part_current(dir, d, r->stamp)) == 0) {
			if ((st = sub_path(p, sizeof p, dir, d->id, 0, ".stamp", e)))
				break;
			unlink(p);
			r->d = d;
			builder_init(&r->b);
			atomic_init(&r->left, 0);
			n_rb++;
		} else {
			bs.kept++;
		}
		if ((st = vec_push(&keep, &l)))
			err_set(e, st, "n-gram index: out of memory");
	}
	if (st == ST_OK && n_rb) {
		if (threads > 1)
			pool = tpool_new(threads);
		/* With a pool, the corpora are read through a second
		 * connection, beside the compaction through c. */
		if (pool && ctx__store_reopen(c, &reader, NULL) != ST_OK)
			reader = NULL;
		/* One thread gains nothing from reading ahead: one corpus
		 * at a time, as the bound's minimum. */
		rebuild_parts(c, reader, dir, rb, n_rb, pool, threads, split,
			      !pool ? 1 : o->ahead_bytes ? o->ahead_bytes : PIPE_BYTES,
			      compact, &bs);
		compact = 0;
		for (size_t i = 0, r = 0; i < keep.len && r < n_rb; i++) {
			struct listed *l = &VEC_AT(&keep, struct listed, i);
			if (l->id != rb[r].d->id)
				continue;
			bs.rebuilt++;
			bs.bytes += rb[r].bytes;
			bs.subparts += (uint64_t)rb[r].n_subs;
			if (st == ST_OK && (st = rb[r].st))
				err_set(e, st, "%s", rb[r].e.msg);
			l->subparts = rb[r].n_subs;
			r++;
		}
	}
	for (size_t i = 0; i < keep.len && st == ST_OK; i++) {
		const struct listed *l = &VEC_AT(&keep, struct listed, i);
		for (int s = 0; s < l->subparts && st == ST_OK; s++)
			st = s ? buf_printf(&list, "%lld-%d\n", (long long)l->id, s)
			       : buf_printf(&list, "%lld\n", (long long)l->id);
		if (st == ST_NOMEM)
			err_set(e, st, "n-gram index: out of memory");
	}
	if (st == ST_OK && (st = path_of(p, sizeof p, dir, "/parts", e)) == ST_OK)
		st = file_write_atomic(p, list.data, list.len, 0644, e);
	if (st == ST_OK)
		parts_prune(data_dir, dir, &keep);
	LOG_DEBUG("ngram.build", LF_INT("rebuilt", (int64_t)bs.rebuilt), LF_INT("kept", (int64_t)bs.kept),
		  LF_INT("subparts", (int64_t)bs.subparts), LF_INT("bytes", (int64_t)bs.bytes),
		  LF_INT("status", (int64_t)st));
out:
	/* Asked for and not yet done (no part rebuilt, or an error before):
	 * the compaction still runs, alone. */
	if (compact) {
		struct err ce;
		uint64_t tc = time_mono_ns();
		err_clear(&ce);
		if (ctx__store_compact(c, &ce) != ST_OK)
			LOG_WARN("context.compact", LF_STR("error", ce.msg));
		bs.compacted = 1;
		bs.compact_ns = time_mono_ns() - tc;
	}
	for (size_t i = 0; i < n_rb; i++) {
		builder_release(&rb[i].b);
		mem_free(rb[i].subs);
		mem_free(rb[i].sa);
	}
	mem_free(rb);
	ctx_free(reader);
	tpool_free(pool);
	vec_release(&repos);
	vec_release(&keep);
	buf_release(&list);
	bs.elapsed_ns = time_mono_ns() - t0;
	bs.cpu_ns = proc_cpu_ns() - cpu0;
	if (stats)
		*stats = bs;
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
static status_t open_parts(const char *prefixes, size_t n, const int64_t *groups,
			   const char *notfound_hint, struct ctx_ngram **out, struct err *e)
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
		pt->group = groups ? groups[i] : -(int64_t)i - 1;
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
	struct vec groups;	/* int64_t, one a part */
	size_t len = 0, n = 0;
	int last_k = 0;
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
		return open_parts(p, 1, NULL, hint, out, e);
	}
	if (st != ST_OK)
		return err_set(e, st == ST_LIMIT ? ST_CORRUPT : st, "%s: cannot read the n-gram parts list", p);
	buf_init(&prefixes, 0);
	vec_init(&groups, sizeof(int64_t));
	st = err_set(e, ST_CORRUPT, "%s/parts: bad n-gram parts list", dir);
	if (len < 9 || memcmp(text, PARTS_MAGIC "\n", 9) != 0 || text[len - 1] != '\n')
		goto out;
	/* A line is "<id>", or "<id>-<k>" for sub-part k of the repository,
	 * which must follow sub-part k - 1. */
	for (char *l = text + 9, *nl; l < text + len; l = nl + 1) {
		int64_t id;
		int k;
		char name[48];
		nl = memchr(l, '\n', (size_t)(text + len - l));
		*nl = 0;
		if ((size_t)(nl - l) + 2 > sizeof name || ++n > PARTS_MAX)
			goto out;
		snprintf(name, sizeof name, "%s.", l);
		if (!parse_part_name(name, &id, &k) ||
		    (k && (n < 2 || groups.len < 1 ||
			   ((const int64_t *)groups.data)[groups.len - 1] != id ||
			   k != last_k + 1)))
			goto out;
		last_k = k;
		/* A path too long is a bad list too (st stays ST_CORRUPT:
		 * a later bad line must not find it ST_OK). */
		if (sub_path(p, sizeof p, dir, id, k, "", NULL))
			goto out;
		if (buf_append(&prefixes, p, strlen(p) + 1) || vec_push(&groups, &id)) {
			st = err_set(e, ST_NOMEM, "n-gram index: out of memory");
			goto out;
		}
	}
	st = open_parts(prefixes.data, n, (const int64_t *)groups.data, hint, out, e);
	/* A part listed but missing is damage, not an index never built. */
	if (st == ST_NOTFOUND)
		st = err_set(e, ST_CORRUPT, "%s/parts: a listed part is missing", dir);
out:
	mem_free(text);
	buf_release(&prefixes);
	vec_release(&groups);
	return st;
}

status_t ctx_ngram_open_at(const char *prefix, struct ctx_ngram **out,
			   struct err *e)
{
	return open_parts(prefix, 1, NULL, "index not built", out, e);
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
	/* Absent: no second search. */
	if (a == g->n || cmp_suffix(g, g->pos[a], pat, m) != 0) {
		*hi = a;
		return 0;
	}
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
 * that occurs in g, and its suffix-array range; 0 when it is shorter
 * than least (another part's), found with one search. */
static size_t part_suffix(const struct part *g, const char *prefix, size_t len,
			  size_t least, size_t *lo_out, size_t *hi_out)
{
	size_t a = 0, b = len < 4096 ? len : 4096, lo, hi;

	*lo_out = *hi_out = 0;
	if (least > b)
		return 0;
	if (least) {
		if (!sa_range(g, prefix + len - least, least, &lo, &hi))
			return 0;
		a = least;
		*lo_out = lo;
		*hi_out = hi;
	}
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

/* A continuation voted for by ctx_ngram_complete. */
struct vote {
	const uint8_t *key;	/* in a part's text; len bytes */
	size_t len;
	int term;		/* byte after it: '\n', -1 end of text, 256 none (max_bytes) */
	size_t count;
	size_t part, at;	/* its last occurrence seen */
};

/* 1 when a's occurrences come before b's in a suffix array (the two keys
 * differ): byte order, a key that ends sorting by the byte after it. */
static int vote_before(const struct vote *a, const struct vote *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int r = memcmp(a->key, b->key, n);

	if (r)
		return r < 0;
	if (a->len < b->len)
		return a->term < b->key[n];
	return a->key[n] < b->term;
}

/*
 * Over the parts, as over one corpus: the longest suffix of the prefix
 * that occurs in any part, then the most frequent continuation among its
 * occurrences (up to 256 in each part that has it). A tie goes to the
 * continuation that comes first in byte order (as the suffix array
 * orders them): within one part that is the one to reach the top count
 * first, and it does not depend on how the corpus is split into parts.
 * The match is located at the winner's last occurrence seen. A part
 * where the longest suffix so far does not occur cannot vote, and costs
 * one search (part_suffix's least).
 */
status_t ctx_ngram_complete(const struct ctx_ngram *g, const char *prefix,
			    size_t len, size_t max_bytes, struct buf *out,
			    struct ctx_ngram_match *m)
{
	size_t a = 0, *sfx = NULL, *los = NULL, *his = NULL;
	struct hmap index;	/* key -> votes index + 1 */
	struct vec votes;	/* struct vote */
	const struct vote *best = NULL;
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
			sfx[k] = part_suffix(&g->parts[k], prefix, len, a, &los[k], &his[k]);
		if (sfx[k] > a)
			a = sfx[k];
	}
	if (a == 0) {
		mem_free(sfx);
		return ST_OK;
	}
	/* The most frequent continuation to the end of the line. */
	hmap_init(&index);
	vec_init(&votes, sizeof(struct vote));
	for (size_t k = 0; k < g->n_parts && st == ST_OK; k++) {
		const struct part *pt = &g->parts[k];
		if (sfx[k] != a)
			continue;
		for (size_t i = los[k]; i < his[k] && i < los[k] + 256; i++) {
			size_t p = (size_t)pt->pos[i] + a, n = 0;
			void *v = NULL;
			struct vote *vt;
			while (p + n < pt->n && n < max_bytes && (pt->t[p + n] != '\n' || n == 0))
				n++;
			if (!n)
				continue;
			if (hmap_get(&index, pt->t + p, n, &v) != ST_OK) {
				struct vote nv = { pt->t + p, n, n == max_bytes ? 256 :
						   p + n == pt->n ? -1 : '\n', 0, k, p };
				if ((st = vec_push(&votes, &nv)) ||
				    (st = hmap_put(&index, pt->t + p, n, (void *)(uintptr_t)votes.len)))
					break;
				v = (void *)(uintptr_t)votes.len;
			}
			vt = &VEC_AT(&votes, struct vote, (size_t)(uintptr_t)v - 1);
			vt->count++;
			vt->part = k;
			vt->at = p;
		}
	}
	for (size_t i = 0; i < votes.len && st == ST_OK; i++) {
		const struct vote *vt = &VEC_AT(&votes, struct vote, i);
		if (!best || vt->count > best->count ||
		    (vt->count == best->count && vote_before(vt, best)))
			best = vt;
	}
	mem_free(sfx);
	if (st == ST_OK && best)
		st = buf_append(out, best->key, best->len);
	if (st == ST_OK && m) {
		m->length = a;
		m->text_offset = len - a;
		/* No continuation (the suffix ends every line it is on):
		 * located at the start of the first part, as always. */
		locate(&g->parts[best ? best->part : 0],
		       best && best->at >= a ? best->at - a : 0, m);
	}
	hmap_release(&index);
	vec_release(&votes);
	return st;
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

/* sa_match over the sub-parts parts[0, np) of one corpus: the longest
 * (the first part on a tie), *which gets its part. */
static size_t group_match(const struct part *parts, size_t np, const uint8_t *q,
			  size_t n, size_t *which, size_t *at, uint64_t *work)
{
	size_t best = 0;

	*which = 0;
	*at = 0;
	for (size_t k = 0; k < np; k++) {
		size_t a2, l;
		if (!parts[k].n)
			continue;
		l = sa_match(&parts[k], q, n, &a2, work);
		if (l > best || k == 0) {
			best = l;
			*which = k;
			*at = a2;
		}
	}
	return best;
}

/* ctx_ngram_overlaps over one corpus, the sub-parts parts[0, np): q[0, n)
 * the (normalised) text, offs its map to the original or NULL, k, s and
 * w as explained there. */
static status_t part_overlaps(const struct part *parts, size_t np, const uint8_t *q, size_t n,
			      const size_t *offs, size_t k, size_t s, size_t w,
			      size_t min_chars, int min_lines,
			      void (*fn)(void *arg, const struct ctx_ngram_match *m),
			      void *arg, uint64_t *work)
{
	size_t pos = 0;
	status_t st = ST_OK;

	for (size_t q0 = 0; q0 + w <= n; q0 += s) {
		size_t at, first, which;
		if (q0 < pos)
			continue;
		if (*work > OVERLAP_BUDGET) {
			st = ST_LIMIT;
			break;
		}
		if (group_match(parts, np, q + q0, w, &which, &at, work) < w)
			continue;
		first = q0 + 1 >= s ? q0 + 1 - s : 0;
		if (first < pos)
			first = pos;
		for (size_t i = first; i <= q0; i++) {
			size_t l = group_match(parts, np, q + i, n - i, &which, &at, work), cpos;
			const struct part *g = &parts[which];
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
	/* Each repository in turn (the work bound is shared): a reference
	 * corpus is one part; an index's overlaps come repository by
	 * repository, its sub-parts searched together as one corpus. */
	for (size_t pi = 0, pj; pi < g->n_parts && st == ST_OK; pi = pj) {
		for (pj = pi + 1; pj < g->n_parts && g->parts[pj].group == g->parts[pi].group; pj++)
			;
		st = part_overlaps(&g->parts[pi], pj - pi, q, n, offs, k, s, w, min_chars,
				   min_lines, fn, arg, &work);
	}
out:
	mem_free(offs);
	buf_release(&nb);
	return st;
}
