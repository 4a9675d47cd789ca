/*
 * index.c - bringing a repository's index up to date.
 *
 *   walk      the tree, honouring .gitignore files and context.exclude,
 *             skipping vendored folders, symlinks and special files
 *   compare   with the stored files: same size and mtime -> unchanged
 *   batches   of files are read, checked (size, binary, UTF-8, generated),
 *             hashed and parsed in parallel on the thread pool; each batch
 *             is then written by a writer thread in ONE transaction while
 *             the pool parses the next one, so an interruption (Ctrl-C,
 *             kill -9, a locked store) loses at most that batch and the
 *             next run redoes it
 *   delete    files that are gone
 *   link      documents and owners to code
 */
#include "context/ctx_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

static const char *const skip_names[] = {
#define CTX_SKIP_NAME_(n, s) s,
	CTX_SKIP_MAP(CTX_SKIP_NAME_)
#undef CTX_SKIP_NAME_
};

const char *ctx_skip_name(enum ctx_skip r)
{
	return r < CTX_SKIP__COUNT ? skip_names[r] : "unknown";
}

status_t ctx_open(const char *data_dir, const struct config *cfg,
		  struct ctx **out, struct err *e)
{
	struct ctx *c;
	char path[PATH_MAX];
	status_t st;

	*out = NULL;
	if ((st = file_mkdirs(data_dir, 0700, e)))
		return st;
	if (snprintf(path, sizeof path, "%s/airlock.db", data_dir) >= (int)sizeof path)
		return err_set(e, ST_INVAL, "%s: path too long", data_dir);
	c = mem_calloc(1, sizeof *c);
	if (!c)
		return err_set(e, ST_NOMEM, "context: out of memory");
	c->cfg = cfg;
	if ((st = ctx__store_open(c, path, e))) {
		mem_free(c);
		return st;
	}
	*out = c;
	return ST_OK;
}

void ctx_free(struct ctx *c)
{
	if (!c)
		return;
	ctx__store_close(c);
	mem_free(c);
}

void ctx_set_busy_timeout(struct ctx *c, int ms)
{
	c->busy_ms = ms;
	sqlite3_busy_timeout(c->db, ms);
}

void ctx_set_size_limit(struct ctx *c, uint64_t max_bytes)
{
	char sql[96];
	int64_t page = 4096;
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			page = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	/* max_page_count 0 would mean "as is"; a huge value lifts the cap. */
	snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld",
		 max_bytes ? (long long)(max_bytes / (uint64_t)(page > 0 ? page : 4096)) + 1 :
			     (long long)4294967294LL);
	db_exec(c->db, sql, NULL);
}

/* CPU time of the process, all threads (0 when the clock is missing). */
static uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread (0 when the clock is missing). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- settings -------------------------------------------------------- */

static const char *const default_doc_roots[] = {
	"docs/adr", "docs/decisions", "adr", "decisions", "docs/standards",
	"standards", "docs/incidents", "incidents", "docs/runbooks", "runbooks",
	"docs/policies", "policies",
};
static const char *const vendored_dirs[] = {
	"node_modules", "vendor", "third_party", "third-party", "bower_components",
	".venv", "venv", "site-packages", "Pods",
};

struct settings {
	size_t max_size;
	int batch;
	const char *doc_roots[64];
	size_t n_roots;
	struct ctx_ignore *exclude;
};

static status_t settings_load(const struct ctx *c, struct settings *s)
{
	status_t st;

	s->max_size = 1 << 20;
	s->batch = 64;
	s->n_roots = 0;
	if ((st = ctx_ignore_new(&s->exclude)))
		return st;
	if (c->cfg) {
		size_t n = config_list_len(c->cfg, "context.doc_roots");
		s->max_size = (size_t)config_int(c->cfg, "context.max_file_size");
		s->batch = (int)config_int(c->cfg, "context.batch_files");
		for (size_t i = 0; i < n && s->n_roots < 64; i++)
			s->doc_roots[s->n_roots++] = config_list_item(c->cfg, "context.doc_roots", i);
		n = config_list_len(c->cfg, "context.exclude");
		for (size_t i = 0; i < n; i++) {
			const char *p = config_list_item(c->cfg, "context.exclude", i);
			if ((st = ctx_ignore_add(s->exclude, "", p, strlen(p))))
				return st;
		}
	} else {
		for (size_t i = 0; i < sizeof default_doc_roots / sizeof *default_doc_roots; i++)
			s->doc_roots[s->n_roots++] = default_doc_roots[i];
	}
	if (s->batch < 1)
		s->batch = 64;
	if (s->max_size == 0)
		s->max_size = 1 << 20;
	return ST_OK;
}

/* ---- walk ------------------------------------------------------------ */

struct entry {
	char *path;		/* relative to the root */
	int64_t size, mtime;
};

struct walk {
	const char *root;
	struct ctx_ignore *ig;
	const struct settings *set;
	struct vec *out;	/* struct entry */
	struct ctx_index_stats *stats;
};

static int is_vendored(const char *name)
{
	for (size_t i = 0; i < sizeof vendored_dirs / sizeof *vendored_dirs; i++)
		if (strcmp(name, vendored_dirs[i]) == 0)
			return 1;
	return 0;
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int generated_name(const char *name)
{
	static const char *const suf[] = { ".min.js", ".min.css", ".map", ".pb.go",
					   "_pb2.py", ".pb.h", ".pb.cc", ".lock",
					   "package-lock.json", "go.sum", ".pyc", ".o", ".a",
					   ".so", ".class", ".jar" };
	for (size_t i = 0; i < sizeof suf / sizeof *suf; i++)
		if (ends_with(name, suf[i]))
			return 1;
	return 0;
}

static status_t walk_dir(struct walk *w, const char *rel, int depth)
{
	char abs[PATH_MAX], sub[PATH_MAX];
	DIR *d;
	struct dirent *de;
	status_t st = ST_OK;
	char *gi = NULL;
	size_t gilen = 0;

	if (depth > 64)
		return ST_OK;
	if (snprintf(abs, sizeof abs, "%s%s%s", w->root, *rel ? "/" : "", rel) >= (int)sizeof abs)
		return ST_OK;
	/* This folder's .gitignore applies to everything below it. */
	if (snprintf(sub, sizeof sub, "%s/.gitignore", abs) < (int)sizeof sub &&
	    file_read_all(sub, 1 << 20, &gi, &gilen, NULL) == ST_OK) {
		st = ctx_ignore_add(w->ig, rel, gi, gilen);
		mem_free(gi);
		if (st)
			return st;
	}
	d = opendir(abs);
	if (!d) {
		w->stats->skipped[CTX_SKIP_UNREADABLE]++;
		goto out;
	}
	while (st == ST_OK && (de = readdir(d))) {
		struct stat sb;
		const char *name = de->d_name;
		int is_dir;

		if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, ".git") ||
		    !strcmp(name, ".hg") || !strcmp(name, ".svn"))
			continue;
		if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", name) >= (int)sizeof sub)
			continue;
		if (snprintf(abs, sizeof abs, "%s/%s", w->root, sub) >= (int)sizeof abs)
			continue;
		if (lstat(abs, &sb) != 0) {
			w->stats->skipped[errno == ENOENT ? CTX_SKIP_VANISHED : CTX_SKIP_UNREADABLE]++;
			continue;
		}
		if (S_ISLNK(sb.st_mode)) {
			/* Not followed: no loops, no escaping the repository. */
			w->stats->skipped[CTX_SKIP_SYMLINK]++;
			continue;
		}
		is_dir = S_ISDIR(sb.st_mode);
		if (!is_dir && !S_ISREG(sb.st_mode)) {
			w->stats->skipped[CTX_SKIP_SPECIAL]++;
			continue;
		}
		if (ctx_ignore_match(w->ig, sub, is_dir)) {
			w->stats->skipped[CTX_SKIP_IGNORED]++;
			continue;
		}
		if (ctx_ignore_match(w->set->exclude, sub, is_dir)) {
			w->stats->skipped[CTX_SKIP_EXCLUDED]++;
			continue;
		}
		if (is_dir) {
			if (is_vendored(name)) {
				w->stats->skipped[CTX_SKIP_VENDORED]++;
				continue;
			}
			st = walk_dir(w, sub, depth + 1);
			continue;
		}
		w->stats->files_seen++;
		if (generated_name(name)) {
			w->stats->skipped[CTX_SKIP_GENERATED]++;
			continue;
		}
		if ((uint64_t)sb.st_size > w->set->max_size) {
			w->stats->skipped[CTX_SKIP_TOO_LARGE]++;
			continue;
		}
		{
			struct entry en = { mem_strdup(sub), (int64_t)sb.st_size,
					    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec };
			if (!en.path || (st = vec_push(w->out, &en))) {
				mem_free(en.path);
				st = ST_NOMEM;
			}
		}
	}
	closedir(d);
out:
	ctx_ignore_pop(w->ig, rel);
	return st;
}

/* ---- per-file work (parallel) ---------------------------------------- */

enum outcome { OUT_WRITE, OUT_TOUCH, OUT_SKIP_RECORD, OUT_DROP };

struct item {
	struct entry *en;
	struct ctx__file_rec *rec;	/* stored state, NULL when new */
	enum outcome out;
	enum ctx_skip reason;
	uint8_t hash[SHA256_LEN];
	struct ctx__parsed parsed;
	status_t st;
};

struct worker_tools {
	struct ctx__parser *ps;
	struct ctx__packer *pk;
	char *text;			/* the file being read, kept across files */
	size_t cap;			/* bytes at text */
	int tried;			/* made (or failed to) once */
};

struct batch {
	const char *root;
	const struct settings *set;
	struct item *items;
	/* One parser and packer per pool worker (by worker index), made on
	 * first use and kept for the run; NULL entries make fresh ones. */
	struct worker_tools *tools;
	int n_tools;
	/* Items in the order they are taken: largest file first, each
	 * taken by whichever thread is free (next: the count taken), so a
	 * big file met late does not leave the other threads idle at the
	 * end of the batch. */
	const size_t *order;
	size_t n;
	atomic_size_t next;
};

/* Counts invalid UTF-8 sequences; replaces their bytes with '?'. */
static size_t utf8_repair(char *s, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 :
			   (c >> 3) == 30 ? 4 : 0;
		int ok = k > 0 && i + k <= n;
		for (size_t j = 1; ok && j < k; j++)
			ok = ((unsigned char)s[i + j] >> 6) == 2;
		if (ok && k == 2 && c < 0xC2)
			ok = 0;		/* overlong */
		if (!ok) {
			s[i++] = '?';
			bad++;
			continue;
		}
		i += k;
	}
	return bad;
}

static int generated_text(const char *t, size_t n)
{
	size_t head = n < 1024 ? n : 1024, lines = 1;

	if (memmem(t, head, "@generated", 10) || memmem(t, head, "DO NOT EDIT", 11) ||
	    memmem(t, head, "Code generated", 14) ||
	    memmem(t, head, "automatically generated", 23) ||
	    memmem(t, head, "Automatically generated", 23))
		return 1;
	for (size_t i = 0; i < n; i++)
		lines += t[i] == '\n';
	/* Minified: long lines throughout. */
	return n > 4096 && n / lines > 500;
}

/*
 * Reads the file at path, at most max bytes, into *buf (*cap bytes,
 * grown as needed and kept by the worker across files), NUL-terminated:
 * one read into place, where file_read_all copies through a stack
 * buffer into a new buffer grown by doubling, for every file. Statuses
 * as file_read_all gives them (ST_NOTFOUND, ST_LIMIT past max, ...).
 */
static status_t read_reused(const char *path, size_t max, char **buf, size_t *cap,
			    size_t *len, struct err *e)
{
	struct stat sb;
	size_t n = 0;
	status_t st = ST_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return err_set(e, errno == ENOENT || errno == ENOTDIR ? ST_NOTFOUND :
				  errno == EACCES || errno == EPERM ? ST_PERM : ST_IO,
			       "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
		close(fd);
		return err_set(e, ST_INVAL, "%s: not a readable file", path);
	}
	if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > max) {
		close(fd);
		return err_set(e, ST_LIMIT, "%s: file is %lld bytes, limit %zu", path,
			       (long long)sb.st_size, max);
	}
	for (;;) {
		ssize_t r;
		if (n + 1 >= *cap) {
			/* Room for the stated size, a byte to see the end
			 * by, and the NUL; more if the file grows. */
			size_t nc = *cap * 2;
			char *nb;
			if (nc < (size_t)sb.st_size + 2)
				nc = (size_t)sb.st_size + 2;
			if (nc < 4096)
				nc = 4096;
			if (!(nb = mem_realloc(*buf, nc))) {
				st = err_set(e, ST_NOMEM, "%s: out of memory", path);
				break;
			}
			*buf = nb;
			*cap = nc;
		}
		r = read(fd, *buf + n, *cap - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			st = err_set(e, ST_IO, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			st = err_set(e, ST_LIMIT, "%s: larger than the limit of %zu bytes", path, max);
			break;
		}
	}
	close(fd);
	if (st)
		return st;
	(*buf)[n] = 0;
	*len = n;
	return ST_OK;
}

static void do_item(const struct batch *b, struct item *it,
		    struct worker_tools *wt)
{
	struct ctx__parser *ps = wt ? wt->ps : NULL;
	char abs[PATH_MAX], *text = NULL;
	size_t len = 0;
	struct err e;
	const char *kind;
	status_t st;

	ctx__parsed_init(&it->parsed);
	it->out = OUT_DROP;
	if (snprintf(abs, sizeof abs, "%s/%s", b->root, it->en->path) >= (int)sizeof abs) {
		it->reason = CTX_SKIP_UNREADABLE;
		return;
	}
	err_clear(&e);
	if (wt) {
		st = read_reused(abs, b->set->max_size, &wt->text, &wt->cap, &len, &e);
		text = wt->text;
	} else {
		st = file_read_all(abs, b->set->max_size, &text, &len, &e);
	}
	if (st != ST_OK) {
		it->reason = st == ST_NOTFOUND ? CTX_SKIP_VANISHED :
			     st == ST_LIMIT ? CTX_SKIP_TOO_LARGE : CTX_SKIP_UNREADABLE;
		if (st == ST_LIMIT)
			it->out = OUT_SKIP_RECORD;
		return;
	}
	sha256(text, len, it->hash);
	if (it->rec && it->rec->has_hash && memcmp(it->rec->hash, it->hash, SHA256_LEN) == 0) {
		it->out = OUT_TOUCH;
		goto done;
	}
	it->out = OUT_SKIP_RECORD;
	if (memchr(text, 0, len)) {
		it->reason = CTX_SKIP_BINARY;
		goto done;
	}
	{
		size_t bad = utf8_repair(text, len);
		if (bad > 8 || bad * 100 > len) {
			it->reason = CTX_SKIP_INVALID_UTF8;
			goto done;
		}
	}
	kind = ctx__doc_kind_for(it->en->path, b->set->doc_roots, b->set->n_roots);
	if (!kind && generated_text(text, len)) {
		it->reason = CTX_SKIP_GENERATED;
		goto done;
	}
	it->out = OUT_WRITE;
	if (kind) {
		st = ctx__doc_parse(it->en->path, kind, text, len, &it->parsed, &e);
	} else if (ctx__is_codeowners(it->en->path)) {
		st = ctx__chunk_lines(&it->parsed, text, len, "text", "CODEOWNERS");
		for (size_t i = 0, line = 1; st == ST_OK && i < len; line++) {
			size_t le = i;
			while (le < len && text[le] != '\n')
				le++;
			size_t s = i;
			while (s < le && (text[s] == ' ' || text[s] == '\t'))
				s++;
			if (s < le && text[s] != '#' && text[s] != '[' && text[s] != '^') {
				struct ctx__edge ed = { "owner_rule", -1,
							arena_strndup(&it->parsed.arena, text + s, le - s),
							(int)line };
				if (!ed.name || vec_push(&it->parsed.edges, &ed))
					st = ST_NOMEM;
			}
			i = le + 1;
		}
	} else {
		const char *lang = ctx__lang_of(it->en->path);
		st = ps ? ctx__parse_with(ps, it->en->path, lang, text, len, &it->parsed, &e) :
			  ctx__parse(it->en->path, lang, text, len, &it->parsed, &e);
	}
	if (st == ST_OK)
		st = ctx__store_pack_with(wt ? wt->pk : NULL, &it->parsed);
	it->st = st;
done:
	if (!wt)
		mem_free(text);
}

static void batch_fn(void *arg, size_t begin, size_t end, int worker)
{
	struct batch *b = arg;
	struct worker_tools *wt = NULL;
	size_t i;

	(void)begin;
	(void)end;
	if (worker >= 0 && worker < b->n_tools) {
		/* Each worker touches only its own slot. */
		wt = &b->tools[worker];
		if (!wt->tried) {
			wt->tried = 1;
			if (ctx__parser_new(&wt->ps) != ST_OK)
				wt->ps = NULL;
			if (ctx__packer_new(&wt->pk) != ST_OK)
				wt->pk = NULL;
		}
	}
	while ((i = atomic_fetch_add(&b->next, 1)) < b->n)
		do_item(b, &b->items[b->order[i]], wt);
}

static int by_size_desc(const void *x, const void *y, void *arg)
{
	const struct item *items = arg;
	int64_t a = items[*(const size_t *)x].en->size;
	int64_t b = items[*(const size_t *)y].en->size;

	return a > b ? -1 : a < b;
}

/* Writes one batch in one transaction. Returns ST_OK or the store error
 * (the batch is then rolled back and its files counted as skipped). */
static status_t write_batch(struct ctx *c, int64_t repo, struct item *items,
			    size_t n, struct ctx_index_stats *stats,
			    struct err *e)
{
	status_t st;
	struct ctx_index_stats local = { 0 };

	if ((st = ctx__store_begin(c, e)))
		return st;
	for (size_t i = 0; i < n && st == ST_OK; i++) {
		struct item *it = &items[i];
		switch (it->out) {
		case OUT_TOUCH:
			st = ctx__store_file_touch(c, it->rec->id, it->en->mtime, e);
			local.files_unchanged++;
			break;
		case OUT_SKIP_RECORD:
			/* Recorded so that an unchanged skipped file is not
			 * read again; its old content (if any) goes. */
			st = ctx__store_file_write(c, repo, it->en->path, it->hash, it->en->size,
						   it->en->mtime, ctx_skip_name(it->reason),
						   NULL, NULL, e);
			local.skipped[it->reason]++;
			break;
		case OUT_WRITE:
			if (it->st != ST_OK) {
				LOG_WARN("context.parse", LF_STR("path", it->en->path),
					 LF_STR("status", status_name(it->st)));
				local.parse_errors++;
				/* Keep the text: re-chunk plainly. */
				ctx__parsed_release(&it->parsed);
				ctx__parsed_init(&it->parsed);
				local.skipped[CTX_SKIP_UNREADABLE]++;
				break;
			}
			if (it->parsed.parse_error)
				local.parse_errors++;
			st = ctx__store_file_write(c, repo, it->en->path, it->hash, it->en->size,
						   it->en->mtime, NULL, &it->parsed, NULL, e);
			local.files_indexed++;
			local.bytes += (uint64_t)it->en->size;
			break;
		case OUT_DROP:
			local.skipped[it->reason]++;
			if (it->reason == CTX_SKIP_VANISHED && it->rec)
				it->rec->seen = 0;	/* deleted below */
			break;
		}
	}
	if (st == ST_OK)
		st = ctx__store_commit(c, e);
	if (st != ST_OK) {
		ctx__store_rollback(c);
		return st;
	}
	stats->files_unchanged += local.files_unchanged;
	stats->files_indexed += local.files_indexed;
	stats->bytes += local.bytes;
	stats->parse_errors += local.parse_errors;
	for (int k = 0; k < CTX_SKIP__COUNT; k++)
		stats->skipped[k] += local.skipped[k];
	return ST_OK;
}

/*
 * The writer: one thread that writes the parsed batches in order, each
 * in its own transaction, while the pool parses the next ones. Up to
 * WRITE_AHEAD batches are parsed and not yet written, so a batch that
 * takes the writer longer than the next one takes the pool does not
 * leave the pool idle (with one, the pool waited for every slow write).
 * The store connection is used by the writer thread only, from start to
 * stop; the caller touches a slot again only once it is written.
 */
#define WRITE_AHEAD 2
/* A store of this many indexed files or more is optimized only after a
 * run that wrote an eighth of it (see the end of ctx_index_repo). */
#define COMPACT_STORE_FILES 1000

struct wslot {
	struct item *items;
	size_t n, end;			/* batch size; todo index past it */
	struct ctx_index_stats stats;	/* what write_batch counted */
	struct err e;
	status_t st;
	int skipped;			/* cancelled before it was written */
};

struct writer {
	struct ctx *c;
	int64_t repo;
	volatile int *cancel;
	struct wslot slot[WRITE_AHEAD];
	size_t pushed, written, finished;	/* batches, counted from 0 */
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int threaded;
	uint64_t cpu_ns;		/* the writer's CPU, all batches */
	uint64_t wait_ns;		/* wall time the caller waited for it */
};

/* Writes slot sl (or skips it once cancelled: at most one batch is
 * written after the flag, the one being written when it came). */
static void write_slot(struct writer *w, struct wslot *sl)
{
	uint64_t t0 = thread_cpu_ns();

	err_clear(&sl->e);
	memset(&sl->stats, 0, sizeof sl->stats);
	sl->skipped = w->cancel && *w->cancel;
	sl->st = sl->skipped ? ST_OK :
		 write_batch(w->c, w->repo, sl->items, sl->n, &sl->stats, &sl->e);
	w->cpu_ns += thread_cpu_ns() - t0;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct wslot *sl;
		while (w->written == w->pushed && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->written == w->pushed)
			break;		/* stopped, nothing left */
		sl = &w->slot[w->written % WRITE_AHEAD];
		pthread_mutex_unlock(&w->mu);
		write_slot(w, sl);
		pthread_mutex_lock(&w->mu);
		w->written++;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void writer_start(struct writer *w, struct ctx *c, int64_t repo,
			 volatile int *cancel)
{
	memset(w, 0, sizeof *w);
	w->c = c;
	w->repo = repo;
	w->cancel = cancel;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	/* No thread: each batch is written inline when pushed. */
	w->threaded = pthread_create(&w->th, NULL, writer_main, w) == 0;
}

/* Waits for the oldest batch not yet finished, frees its parse results,
 * adds its counts, counts a failed write. */
static void writer_finish_one(struct writer *w, const struct ctx_index_opts *o,
			      struct ctx_index_stats *stats, size_t total)
{
	struct wslot *sl = &w->slot[w->finished % WRITE_AHEAD];
	uint64_t t0 = time_mono_ns();

	pthread_mutex_lock(&w->mu);
	while (w->written == w->finished)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	w->wait_ns += time_mono_ns() - t0;
	for (size_t i = 0; i < sl->n; i++)
		ctx__parsed_release(&sl->items[i].parsed);
	if (sl->skipped) {
		stats->interrupted = 1;
	} else if (sl->st != ST_OK) {
		/* Locked or full: count, keep going; the next run repairs. */
		LOG_WARN("context.batch", LF_STR("error", sl->e.msg),
			 LF_INT("files", sl->n));
		stats->skipped[CTX_SKIP_STORE] += sl->n;
		for (size_t i = 0; i < sl->n; i++)
			if (sl->items[i].rec)
				sl->items[i].rec->seen = 1;
	} else {
		stats->files_unchanged += sl->stats.files_unchanged;
		stats->files_indexed += sl->stats.files_indexed;
		stats->bytes += sl->stats.bytes;
		stats->parse_errors += sl->stats.parse_errors;
		for (int k = 0; k < CTX_SKIP__COUNT; k++)
			stats->skipped[k] += sl->stats.skipped[k];
	}
	if (o->progress && !sl->skipped)
		o->progress(o->progress_arg, sl->end, total);
	w->finished++;
}

/* Hands a parsed batch to the writer, first finishing the oldest one
 * when WRITE_AHEAD are pending. */
static void writer_push(struct writer *w, struct item *items, size_t n, size_t end,
			const struct ctx_index_opts *o, struct ctx_index_stats *stats,
			size_t total)
{
	struct wslot *sl;

	size_t written;

	/* Batches already written are finished now (progress stays
	 * current); the oldest is waited for only when WRITE_AHEAD are
	 * pending. */
	pthread_mutex_lock(&w->mu);
	written = w->written;
	pthread_mutex_unlock(&w->mu);
	while (w->finished < written)
		writer_finish_one(w, o, stats, total);
	if (w->pushed - w->finished == WRITE_AHEAD)
		writer_finish_one(w, o, stats, total);
	sl = &w->slot[w->pushed % WRITE_AHEAD];
	sl->items = items;
	sl->n = n;
	sl->end = end;
	if (!w->threaded) {
		write_slot(w, sl);
		w->pushed++;
		w->written++;
		writer_finish_one(w, o, stats, total);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->pushed++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Finishes every pending batch and ends the writer thread. */
static void writer_stop(struct writer *w, const struct ctx_index_opts *o,
			struct ctx_index_stats *stats, size_t total)
{
	while (w->finished < w->pushed)
		writer_finish_one(w, o, stats, total);
	if (w->threaded) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

status_t ctx_index_repo(struct ctx *c, const char *path,
			const struct ctx_index_opts *o,
			struct ctx_index_stats *stats_out, struct err *e)
{
	struct ctx_index_stats stats = { 0 };
	struct ctx_index_opts defo = { 0 };
	struct settings set = { 0 };
	struct vec entries, todo;
	struct hmap files;
	struct tpool *pool = NULL;
	struct worker_tools *tools = NULL;
	int n_tools = 0;
	size_t *order = NULL;
	char root[PATH_MAX], name[256];
	struct stat sb;
	int64_t repo;
	uint64_t t0 = time_mono_ns(), cpu0 = cpu_now_ns();
	uint64_t writer_cpu = 0, writer_wait = 0, t_end = 0, cpu_end = 0, t_compact = 0;
	status_t st;
	size_t it;
	const void *k;
	size_t kl;
	void *v;

	if (!o)
		o = &defo;
	if (!realpath(path, root) || stat(root, &sb) != 0)
		return err_set(e, ST_NOTFOUND, "%s: no such directory", path);
	if (!S_ISDIR(sb.st_mode))
		return err_set(e, ST_INVAL, "%s: not a directory", path);
	if (o->name && *o->name) {
		str_copy(name, o->name, sizeof name);
	} else {
		const char *sl = strrchr(root, '/');
		str_copy(name, sl && sl[1] ? sl + 1 : root, sizeof name);
	}
	vec_init(&entries, sizeof(struct entry));
	vec_init(&todo, sizeof(struct item));
	hmap_init(&files);
	if (!(o->name && *o->name)) {
		/* A name derived from the folder must not silently take over
		 * another repository's index (two checkouts named "app"). */
		char old[PATH_MAX];
		if (ctx__store_repo_root(c, name, old, sizeof old, NULL) == ST_OK &&
		    strcmp(old, root) != 0) {
			st = err_set(e, ST_EXISTS, "%s: repository '%s' is already %s; "
				     "give this one another name (--name)", path, name, old);
			goto out;
		}
	}
	if ((st = settings_load(c, &set)) ||
	    (st = ctx__store_repo_put(c, name, root, &repo, e)) ||
	    (st = ctx__store_files_load(c, repo, &files, e)))
		goto out;
	{
		struct walk w = { root, NULL, &set, &entries, &stats };
		if ((st = ctx_ignore_new(&w.ig)))
			goto out;
		st = walk_dir(&w, "", 0);
		ctx_ignore_free(w.ig);
		if (st)
			goto out;
	}

	/* Unchanged by size and mtime: nothing to read. */
	for (size_t i = 0; i < entries.len; i++) {
		struct entry *en = &VEC_AT(&entries, struct entry, i);
		struct ctx__file_rec *rec = NULL;
		struct item itm;
		if (hmap_get(&files, en->path, strlen(en->path), (void **)&rec) == ST_OK) {
			rec->seen = 1;
			if (rec->size == en->size && rec->mtime == en->mtime) {
				stats.files_unchanged++;
				continue;
			}
		}
		memset(&itm, 0, sizeof itm);
		itm.en = en;
		itm.rec = rec;
		if ((st = vec_push(&todo, &itm)))
			goto out;
	}

	pool = tpool_new(o->threads);
	n_tools = pool ? tpool_size(pool) : 1;
	tools = mem_calloc((size_t)n_tools, sizeof *tools);
	if (!tools)
		n_tools = 0;		/* a fresh parser and packer per file */
	order = mem_alloc_array((size_t)set.batch, sizeof *order);
	if (!order) {
		st = err_set(e, ST_NOMEM, "%s: out of memory", path);
		goto out;
	}
	{
		/* Parse batch k + 1 (and k + 2) while batch k is written. */
		struct writer w;
		writer_start(&w, c, repo, o->cancel);
		for (size_t b0 = 0; b0 < todo.len; b0 += (size_t)set.batch) {
			size_t n = todo.len - b0 < (size_t)set.batch ? todo.len - b0 : (size_t)set.batch;
			struct item *items = &VEC_AT(&todo, struct item, b0);
			struct batch bt = { root, &set, items, tools, n_tools, order, n, 0 };

			if (o->cancel && *o->cancel) {
				stats.interrupted = 1;
				break;
			}
			for (size_t i = 0; i < n; i++)
				order[i] = i;
			qsort_r(order, n, sizeof *order, by_size_desc, items);
			/* One call per thread; each takes files until none are left. */
			tpool_parallel_for(pool, (size_t)(pool ? tpool_size(pool) : 1), 1,
					   batch_fn, &bt);
			writer_push(&w, items, n, b0 + n, o, &stats, todo.len);
		}
		writer_stop(&w, o, &stats, todo.len);
		writer_cpu = w.cpu_ns;
		writer_wait = w.wait_ns;
	}
	t_end = time_mono_ns();
	cpu_end = cpu_now_ns();

	/* Deleted files: only after a complete walk. */
	if (!stats.interrupted) {
		struct err de;
		err_clear(&de);
		if (ctx__store_begin(c, &de) == ST_OK) {
			status_t ds = ST_OK;
			it = 0;
			while (ds == ST_OK && hmap_next(&files, &it, &k, &kl, &v)) {
				struct ctx__file_rec *rec = v;
				if (rec->seen)
					continue;
				ds = ctx__store_file_delete(c, rec->id, &de);
				stats.files_deleted++;
			}
			if (ds == ST_OK)
				ds = ctx__store_link(c, repo, &de);
			if (ds == ST_OK)
				ds = ctx__store_repo_done(c, repo, &de);
			if (ds == ST_OK)
				ds = ctx__store_commit(c, &de);
			if (ds != ST_OK) {
				ctx__store_rollback(c);
				stats.files_deleted = 0;
				LOG_WARN("context.link", LF_STR("error", de.msg));
				stats.skipped[CTX_SKIP_STORE]++;
			}
		} else {
			stats.skipped[CTX_SKIP_STORE]++;
		}
	}
	/* After a run that wrote much (a first index, a large change):
	 * merge the FTS segments and give back free pages. Small runs
	 * leave it to FTS5's automerge: optimizing costs the size of the
	 * whole index. In a large store (COMPACT_STORE_FILES or more) a
	 * run must also be an eighth of it: a repository of 135 files
	 * indexed into a store of 2,700 otherwise spent a quarter of its
	 * CPU merging the others' segments. Best effort: a failure leaves
	 * a larger store. */
	int64_t in_store = 0;
	uint64_t wrote = stats.files_indexed + stats.files_deleted;
	if (!stats.interrupted &&
	    (wrote >= 100 || (wrote >= 8 && wrote * 4 >= stats.files_seen)) &&
	    ctx__store_nfiles(c, &in_store, NULL) == ST_OK &&
	    (in_store < COMPACT_STORE_FILES || (int64_t)wrote * 8 >= in_store)) {
		struct err ce;
		if (o->defer_compact) {
			stats.compact_due = 1;	/* the caller runs it */
		} else {
			t_compact = time_mono_ns();
			err_clear(&ce);
			if (ctx__store_compact(c, &ce) != ST_OK)
				LOG_WARN("context.compact", LF_STR("error", ce.msg));
		}
	}
	ctx__store_count(c, repo, &stats, NULL);
	/* Where the run's time went (see docs/internals/context.md). */
	LOG_DEBUG("index.phases", LF_INT("parallel_ms", (int64_t)((t_end - t0) / 1000000)),
		  LF_INT("parallel_cpu_ms", (int64_t)((cpu_end - cpu0) / 1000000)),
		  LF_INT("writer_cpu_ms", (int64_t)(writer_cpu / 1000000)),
		  LF_INT("writer_wait_ms", (int64_t)(writer_wait / 1000000)),
		  LF_INT("end_ms", (int64_t)((time_mono_ns() - t_end) / 1000000)),
		  LF_INT("end_cpu_ms", (int64_t)((cpu_now_ns() - cpu_end) / 1000000)),
		  LF_INT("compact_ms", (int64_t)(t_compact ? (time_mono_ns() - t_compact) / 1000000 : 0)));
out:
	tpool_free(pool);
	for (int i = 0; i < n_tools; i++) {
		ctx__parser_free(tools[i].ps);
		ctx__packer_free(tools[i].pk);
		mem_free(tools[i].text);
	}
	mem_free(tools);
	mem_free(order);
	for (size_t i = 0; i < entries.len; i++)
		mem_free(VEC_AT(&entries, struct entry, i).path);
	vec_release(&entries);
	vec_release(&todo);
	it = 0;
	while (hmap_next(&files, &it, &k, &kl, &v))
		mem_free(v);
	hmap_release(&files);
	ctx_ignore_free(set.exclude);
	stats.elapsed_ns = time_mono_ns() - t0;
	stats.cpu_ns = cpu_now_ns() - cpu0;
	if (stats_out)
		*stats_out = stats;
	return st;
}

/* The closing compaction, for a caller that deferred it. */
status_t ctx_store_compact(struct ctx *c, struct err *e)
{
	return ctx__store_compact(c, e);
}
