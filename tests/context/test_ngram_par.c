/*
 * test_ngram_par.c - a repository's n-gram part sorted as sub-parts
 * (ctx_ngram_build_ex with a low split threshold): the same corpus built
 * whole and split must answer ctx_ngram_longest_match, ctx_ngram_complete
 * and ctx_ngram_overlaps alike, on many queries drawn from the corpus;
 * stamps record the sub-parts, stale ones are removed, and parts lists of
 * either shape open.
 *
 * The one difference allowed is documented: no match spans two sub-parts
 * (the seams between them), so a query whose answer over the whole
 * corpus uses a seam is skipped, and counted: the test fails if it skips
 * more than a few or compares too few.
 */
#include "../harness/harness.h"
#include "context/context.h"
#include "context/ctx_int.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

void test_ngram_split_same_answers(void **state);
void test_ngram_split_files(void **state);
void test_ngram_split_alloc_failures(void **state);
void test_ngram_build_beside_compaction(void **state);
void test_ngram_many_repos(void **state);
void test_compact_gives_pages_back(void **state);

static char nroot[1024];

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return n ? (uint32_t)(rng_state >> 33) % n : 0;
}

/*
 * A repository of 48 Python files whose lines repeat a lot (a few
 * templates over a few names), with some unique lines: continuations
 * with equal counts (ties), common suffixes with more than 256
 * occurrences, and unique strings all occur.
 */
static void make_repo(const char *repo)
{
	static const char *const names[] = { "alpha", "beta", "gamma", "delta", "eps" };
	static const char *const tmpl[] = {
		"    x = %s(x) + %d\n", "    if %s is None:\n        return %d\n",
		"    total += %s[%d]\n", "    return %s(%d)\n", "    log.info('%s', %d)\n",
		"    %s.append(%d)\n",
	};
	struct buf b;

	buf_init(&b, 0);
	for (int f = 0; f < 48; f++) {
		char rel[64];
		buf_reset(&b);
		for (int fn = 0; fn < 10; fn++) {
			int lines = 3 + (int)rnd(6);
			TH_OK(buf_printf(&b, "def %s_%d_%d(x):\n", names[rnd(5)], f, fn));
			for (int l = 0; l < lines; l++) {
				if (rnd(8) == 0)
					TH_OK(buf_printf(&b, "    uniq_%d_%d_%d = %u\n", f, fn, l, rnd(100000)));
				else
					TH_OK(buf_printf(&b, tmpl[rnd(6)], names[rnd(5)], (int)rnd(4)));
			}
			TH_OK(buf_printf(&b, "\n"));
		}
		snprintf(rel, sizeof rel, "%s/m%02d.py", repo, f);
		th_write_file(nroot, rel, buf_cstr(&b));
	}
	buf_release(&b);
}

/* A corpus opened whole and split, with the texts to check seams. */
struct pair {
	struct ctx_ngram *whole, *split;
	char *text;		/* the whole corpus text */
	size_t n;
	size_t seams[8];	/* offsets in text where a sub-part starts */
	size_t n_seams;
};

static char *read_file(const char *dir, const char *rel, size_t *n)
{
	char p[PATH_MAX], *data = NULL;

	snprintf(p, sizeof p, "%.1000s/%s", dir, rel);
	TH_OK(file_read_all(p, (size_t)1 << 30, &data, n, NULL));
	return data;
}

static size_t count_in(const char *t, size_t n, const char *s, size_t len)
{
	size_t c = 0;

	for (const char *p = t; len && p + len <= t + n; p++) {
		p = memmem(p, (size_t)(t + n - p), s, len);
		if (!p)
			break;
		c++;
	}
	return c;
}

/* 1 when an occurrence of s in the whole text spans a seam. */
static int spans_seam(const struct pair *pr, const char *s, size_t len)
{
	for (size_t k = 0; k < pr->n_seams; k++) {
		size_t z = pr->seams[k];
		for (size_t i = z > len ? z - len + 1 : 0; i < z && i + len <= pr->n; i++)
			if (!memcmp(pr->text + i, s, len))
				return 1;
	}
	return 0;
}

/* Occurrences of s inside one sub-part (none across a seam). */
static size_t inside(const struct pair *pr, const char *s, size_t len)
{
	size_t c = 0, from = 0;

	for (size_t k = 0; k <= pr->n_seams; k++) {
		size_t to = k < pr->n_seams ? pr->seams[k] : pr->n;
		c += count_in(pr->text + from, to - from, s, len);
		from = to;
	}
	return c;
}

static int seam_at(const struct pair *pr, size_t off)
{
	for (size_t k = 0; k < pr->n_seams; k++)
		if (pr->seams[k] == off)
			return 1;
	return 0;
}

static void same_location(const struct ctx_ngram_match *a, const struct ctx_ngram_match *b,
			  const char *what, int round)
{
	if (strcmp(a->path, b->path) != 0 || a->line != b->line || strcmp(a->repo, b->repo) != 0)
		fail_msg("%s, round %d: whole %s:%s:%d, split %s:%s:%d", what, round, a->repo,
			 a->path, a->line, b->repo, b->path, b->line);
}

static void check_longest(const struct pair *pr, int rounds, int *compared, int *skipped)
{
	char q[512];

	for (int r = 0; r < rounds; r++) {
		struct ctx_ngram_match a, b;
		size_t len = 4 + rnd(300), at = rnd((uint32_t)(pr->n - len));
		const char *s;
		memcpy(q, pr->text + at, len);
		if (rnd(2))
			q[rnd((uint32_t)len)] = '#';	/* breaks the match in two */
		if (rnd(3) == 0)
			memcpy(q, "@@", 2);
		TH_OK(ctx_ngram_longest_match(pr->whole, q, len, &a));
		TH_OK(ctx_ngram_longest_match(pr->split, q, len, &b));
		s = q + a.text_offset;
		if (a.length && inside(pr, s, a.length) == 0) {
			(*skipped)++;	/* found only across a seam */
			continue;
		}
		if (a.length != b.length || a.text_offset != b.text_offset)
			fail_msg("longest, round %d: whole %zu at %zu, split %zu at %zu", r,
				 a.length, a.text_offset, b.length, b.text_offset);
		assert_true(a.length > 0);
		if (count_in(pr->text, pr->n, s, a.length) == 1)
			same_location(&a, &b, "longest", r);
		(*compared)++;
	}
}

static void check_complete(const struct pair *pr, int rounds, int *compared, int *skipped,
			   int *ties)
{
	struct buf oa, ob;

	buf_init(&oa, 0);
	buf_init(&ob, 0);
	for (int r = 0; r < rounds; r++) {
		struct ctx_ngram_match a, b;
		size_t len = 1 + rnd(120), end = len + rnd((uint32_t)(pr->n - len)), mx = 1 + rnd(80);
		const char *q = pr->text + end - len, *sfx;
		size_t occ;
		buf_reset(&oa);
		buf_reset(&ob);
		TH_OK(ctx_ngram_complete(pr->whole, q, len, mx, &oa, &a));
		TH_OK(ctx_ngram_complete(pr->split, q, len, mx, &ob, &b));
		sfx = q + len - a.length;
		occ = count_in(pr->text, pr->n, sfx, a.length);
		/* Skipped: more occurrences than the vote takes (up to 256 in
		 * each part: the sample differs), one across a seam, or one
		 * whose continuation starts with the line end before a seam. */
		{
			int near = 0;
			for (size_t k = 0; k < pr->n_seams; k++) {
				size_t z = pr->seams[k];
				if (z >= a.length + 1 && !memcmp(pr->text + z - 1 - a.length, sfx, a.length))
					near = 1;
			}
			if (occ > 256 || spans_seam(pr, sfx, a.length) || near) {
				(*skipped)++;
				continue;
			}
		}
		if (a.length != b.length || a.text_offset != b.text_offset || oa.len != ob.len ||
		    memcmp(buf_cstr(&oa), buf_cstr(&ob), oa.len) != 0)
			fail_msg("complete, round %d ('%.*s', %zu bytes): whole '%s' (%zu), split '%s' (%zu)",
				 r, (int)a.length, sfx, mx, buf_cstr(&oa), a.length, buf_cstr(&ob),
				 b.length);
		/* A tie: another continuation as frequent as the answer. */
		if (oa.len) {
			char *both = mem_alloc(a.length + oa.len);
			assert_non_null(both);
			memcpy(both, sfx, a.length);
			memcpy(both + a.length, buf_cstr(&oa), oa.len);
			if (count_in(pr->text, pr->n, both, a.length + oa.len) == 1)
				same_location(&a, &b, "complete", r);
			else if (count_in(pr->text, pr->n, both, a.length + oa.len) * 2 <= occ)
				(*ties)++;	/* at most half the votes: others compete */
			mem_free(both);
		}
		(*compared)++;
	}
	buf_release(&oa);
	buf_release(&ob);
}

struct collect {
	struct ctx_ngram_match m[64];
	size_t n;
};

static void collect_fn(void *arg, const struct ctx_ngram_match *m)
{
	struct collect *c = arg;

	if (c->n < 64)
		c->m[c->n++] = *m;
}

static void check_overlaps(const struct pair *pr, int rounds, int *compared, int *skipped)
{
	char *q = mem_alloc(4096);

	assert_non_null(q);
	for (int r = 0; r < rounds; r++) {
		struct collect a, b;
		size_t len = 300 + rnd(3000), at = rnd((uint32_t)(pr->n - len)), mc = 30 + rnd(40);
		int ml = rnd(2) ? 2 + (int)rnd(3) : 0, skip = 0;
		memcpy(q, pr->text + at, len);
		for (int k = 0; k < 6; k++)	/* a few breaks */
			q[rnd((uint32_t)len)] = '~';
		a.n = b.n = 0;
		TH_OK(ctx_ngram_overlaps(pr->whole, q, len, ml ? 0 : mc, ml, collect_fn, &a));
		TH_OK(ctx_ngram_overlaps(pr->split, q, len, ml ? 0 : mc, ml, collect_fn, &b));
		for (size_t k = 0; k < a.n; k++)
			if (spans_seam(pr, q + a.m[k].text_offset, a.m[k].length))
				skip = 1;
		if (skip) {
			(*skipped)++;
			continue;
		}
		if (a.n != b.n)
			fail_msg("overlaps, round %d: whole %zu matches, split %zu", r, a.n, b.n);
		assert_true(a.n > 0);
		for (size_t k = 0; k < a.n; k++) {
			if (a.m[k].text_offset != b.m[k].text_offset || a.m[k].length != b.m[k].length ||
			    a.m[k].lines != b.m[k].lines)
				fail_msg("overlaps, round %d, match %zu: whole %zu+%zu (%d lines), split "
					 "%zu+%zu (%d lines)", r, k, a.m[k].text_offset, a.m[k].length,
					 a.m[k].lines, b.m[k].text_offset, b.m[k].length, b.m[k].lines);
			if (count_in(pr->text, pr->n, q + a.m[k].text_offset, a.m[k].length) == 1)
				same_location(&a.m[k], &b.m[k], "overlaps", r);
		}
		(*compared)++;
	}
	mem_free(q);
}

static struct ctx *open_store(const char *data, struct config **cfg)
{
	struct ctx *c = NULL;
	struct err e;

	TH_OK(config_load(NULL, cfg, NULL));
	err_clear(&e);
	if (ctx_open(data, *cfg, &c, &e) != ST_OK)
		fail_msg("ctx_open: %s", e.msg);
	return c;
}

static void index_repo(struct ctx *c, const char *name)
{
	char p[PATH_MAX];
	struct ctx_index_opts o = { .name = name, .threads = 2 };
	struct ctx_index_stats s;
	struct err e;

	snprintf(p, sizeof p, "%s/%s", nroot, name);
	err_clear(&e);
	if (ctx_index_repo(c, p, &o, &s, &e) != ST_OK)
		fail_msg("index: %s", e.msg);
	assert_true(s.files_indexed > 0);
}

/* A fresh temporary root with repository "r" made from seed, indexed into
 * a store under root/data. */
static struct ctx *indexed_store(uint64_t seed, struct config **cfg)
{
	char data[PATH_MAX];
	struct ctx *c;

	str_copy(nroot, th_tmpdir(), sizeof nroot);
	rng_state = seed;
	make_repo("r");
	snprintf(data, sizeof data, "%s/data", nroot);
	c = open_store(data, cfg);
	index_repo(c, "r");
	return c;
}

static void build(struct ctx *c, const char *dir, int threads, size_t split,
		  struct ctx_ngram_build_stats *s)
{
	struct ctx_ngram_build_opts o = { .threads = threads, .split_bytes = split };
	struct err e;

	err_clear(&e);
	if (ctx_ngram_build_ex(c, dir, &o, s, &e) != ST_OK)
		fail_msg("n-gram build: %s", e.msg);
}

void test_ngram_split_same_answers(void **state)
{
	char whole[PATH_MAX], split[PATH_MAX];
	struct config *cfg = NULL;
	struct ctx *c;
	struct ctx_ngram_build_stats s;
	struct pair pr;
	int cmp = 0, skip = 0, ties = 0;
	(void)state;

	c = indexed_store(7, &cfg);
	snprintf(whole, sizeof whole, "%s/whole", nroot);
	snprintf(split, sizeof split, "%s/split", nroot);
	build(c, whole, 1, 0, &s);
	assert_int_equal(s.subparts, 1);
	build(c, split, 3, 1, &s);	/* three sub-parts */
	assert_int_equal(s.rebuilt, 1);
	assert_int_equal(s.subparts, 3);

	memset(&pr, 0, sizeof pr);
	pr.text = read_file(whole, "context-ngram/1.txt", &pr.n);
	assert_true(pr.n > 60000);
	{
		/* The sub-parts' texts are the whole text cut in three. */
		size_t n0, n1, n2;
		char *t0 = read_file(split, "context-ngram/1.txt", &n0);
		char *t1 = read_file(split, "context-ngram/1-1.txt", &n1);
		char *t2 = read_file(split, "context-ngram/1-2.txt", &n2);
		assert_int_equal(n0 + n1 + n2, pr.n);
		assert_true(n0 > pr.n / 5 && n1 > pr.n / 5 && n2 > pr.n / 5);
		assert_memory_equal(t0, pr.text, n0);
		assert_memory_equal(t1, pr.text + n0, n1);
		assert_memory_equal(t2, pr.text + n0 + n1, n2);
		pr.seams[0] = n0;
		pr.seams[1] = n0 + n1;
		pr.n_seams = 2;
		mem_free(t0);
		mem_free(t1);
		mem_free(t2);
	}
	assert_true(seam_at(&pr, pr.seams[1]));
	TH_OK(ctx_ngram_open(whole, &pr.whole, NULL));
	TH_OK(ctx_ngram_open(split, &pr.split, NULL));
	assert_int_equal(ctx_ngram_size(pr.whole), ctx_ngram_size(pr.split));

	check_longest(&pr, 600, &cmp, &skip);
	assert_true(cmp >= 580);
	if (getenv("NGRAM_PAR_VERBOSE"))
		printf("longest: %d compared, %d skipped\n", cmp, skip);
	cmp = skip = 0;
	check_complete(&pr, 1500, &cmp, &skip, &ties);
	/* Enough of each kind compared: ties, and answers at all. */
	if (cmp < 900 || ties < 20)
		fail_msg("complete: %d compared, %d skipped, %d with ties", cmp, skip, ties);
	if (getenv("NGRAM_PAR_VERBOSE"))
		printf("complete: %d compared, %d skipped, %d contested\n", cmp, skip, ties);
	cmp = skip = 0;
	check_overlaps(&pr, 150, &cmp, &skip);
	assert_true(cmp >= 140);
	if (getenv("NGRAM_PAR_VERBOSE"))
		printf("overlaps: %d compared, %d skipped\n", cmp, skip);

	ctx_ngram_free(pr.whole);
	ctx_ngram_free(pr.split);
	mem_free(pr.text);
	ctx_free(c);
	config_free(cfg);
}

static int exists(const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct stat sb;

	snprintf(p, sizeof p, "%.1000s/%s", dir, rel);
	return stat(p, &sb) == 0;
}

static void put(const char *dir, const char *rel, const char *text)
{
	char p[PATH_MAX];

	snprintf(p, sizeof p, "%.1000s/%s", dir, rel);
	TH_OK(file_write_atomic(p, text, strlen(text), 0644, NULL));
}

void test_ngram_split_files(void **state)
{
	char out[PATH_MAX];
	struct config *cfg = NULL;
	struct ctx *c;
	struct ctx_ngram_build_stats s;
	struct ctx_ngram *g = NULL;
	struct err e;
	char *stamp;
	size_t n;
	(void)state;

	c = indexed_store(11, &cfg);
	snprintf(out, sizeof out, "%s/out", nroot);

	/* Split in two: the stamp records it, a second build keeps it. */
	build(c, out, 2, 1, &s);
	assert_int_equal(s.subparts, 2);
	stamp = read_file(out, "context-ngram/1.stamp", &n);
	assert_int_equal(n, 65 + 2);
	assert_memory_equal(stamp + 65, "2\n", 2);
	mem_free(stamp);
	build(c, out, 2, 1, &s);
	assert_int_equal(s.rebuilt, 0);
	assert_int_equal(s.kept, 1);
	/* A missing sub-part makes it stale: rebuilt. */
	{
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%.1000s/context-ngram/1-1.sa", out);
		assert_int_equal(unlink(p), 0);
	}
	build(c, out, 2, 1, &s);
	assert_int_equal(s.rebuilt, 1);
	assert_true(exists(out, "context-ngram/1-1.sa"));

	/* Three, then one (a threshold above the corpus): the sub-parts
	 * beyond the count are removed, the stamp is the plain one. */
	build(c, out, 3, 1, &s);
	assert_int_equal(s.rebuilt, 0);	/* current: kept as it is */
	assert_int_equal(s.kept, 1);
	put(out, "context-ngram/1.stamp", "x\n");
	build(c, out, 3, 1, &s);
	assert_int_equal(s.subparts, 3);
	assert_true(exists(out, "context-ngram/1-2.txt"));
	/* Stale: the stamp no longer matches (as after a change). */
	put(out, "context-ngram/1.stamp", "x\n");
	build(c, out, 2, (size_t)1 << 30, &s);
	assert_int_equal(s.subparts, 1);
	assert_false(exists(out, "context-ngram/1-1.txt"));
	assert_false(exists(out, "context-ngram/1-2.sa"));
	assert_false(exists(out, "context-ngram/1-2.map"));
	stamp = read_file(out, "context-ngram/1.stamp", &n);
	assert_int_equal(n, 65);
	mem_free(stamp);
	TH_OK(ctx_ngram_open(out, &g, NULL));
	ctx_ngram_free(g);

	/* Parts lists: sub-parts must follow their repository in order. */
	put(out, "context-ngram/1.stamp", "x\n");
	build(c, out, 3, 1, &s);
	assert_int_equal(s.subparts, 3);
	{
		static const struct { const char *list; status_t st; } lists[] = {
			{ "ALNG0001\n1\n1-1\n1-2\n", ST_OK },
			{ "ALNG0001\n1\n", ST_OK },	/* as written before sub-parts */
			{ "ALNG0001\n1-1\n", ST_CORRUPT },
			{ "ALNG0001\n1\n1-2\n", ST_CORRUPT },
			{ "ALNG0001\n1\n1-1\n1-1\n", ST_CORRUPT },
			{ "ALNG0001\n1\n1-0\n", ST_CORRUPT },
			{ "ALNG0001\n1\n1-x\n", ST_CORRUPT },
			{ "ALNG0001\n1\n1-1-1\n", ST_CORRUPT },
			{ "ALNG0001\n1\n1-3\n", ST_CORRUPT },
			{ "ALNG0001\n1\n1-99999\n", ST_CORRUPT },
		};
		for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
			put(out, "context-ngram/parts", lists[i].list);
			err_clear(&e);
			g = NULL;
			if (ctx_ngram_open(out, &g, &e) != lists[i].st)
				fail_msg("parts list %zu: got '%s', want %s", i, e.msg,
					 status_name(lists[i].st));
			ctx_ngram_free(g);
		}
	}
	ctx_free(c);
	config_free(cfg);
}

/* Every allocation of a split build (with the compaction) failing in
 * turn: ST_NOMEM or success, nothing leaked (ASan), and the next build
 * whole again. */
void test_ngram_split_alloc_failures(void **state)
{
	char out[PATH_MAX];
	struct config *cfg = NULL;
	struct ctx *c;
	struct ctx_ngram_build_stats s;
	struct ctx_ngram_build_opts o = { .threads = 3, .split_bytes = 1, .compact = 1 };
	struct ctx_ngram *g = NULL;
	unsigned long before, total;
	int failed = 0;
	(void)state;

	c = indexed_store(5, &cfg);
	snprintf(out, sizeof out, "%s/out", nroot);
	before = mem_alloc_count();
	TH_OK(ctx_ngram_build_ex(c, out, &o, &s, NULL));
	total = mem_alloc_count() - before;
	assert_int_equal(s.subparts, 3);
	for (unsigned long n = 0; n < total; n += 1 + total / 200) {
		status_t st;
		put(out, "context-ngram/1.stamp", "x\n");	/* stale: rebuilt */
		mem_fail_after((long)n, 1);
		st = ctx_ngram_build_ex(c, out, &o, &s, NULL);
		mem_fail_reset();
		if (st != ST_OK && st != ST_NOMEM)
			fail_msg("allocation %lu of %lu: %s", n, total, status_name(st));
		failed += st == ST_NOMEM;
	}
	assert_true(failed > 0);
	put(out, "context-ngram/1.stamp", "x\n");
	TH_OK(ctx_ngram_build_ex(c, out, &o, &s, NULL));
	assert_int_equal(s.subparts, 3);
	TH_OK(ctx_ngram_open(out, &g, NULL));
	assert_true(ctx_ngram_size(g) > 60000);
	ctx_ngram_free(g);
	ctx_free(c);
	config_free(cfg);
}

/* dir a's and dir b's file rel: the same bytes, not none. */
static void same_file(const char *a, const char *b, const char *rel)
{
	size_t na, nb;
	char *da = read_file(a, rel, &na);
	char *db = read_file(b, rel, &nb);

	assert_int_equal(na, nb);
	assert_true(na > 0);
	assert_memory_equal(da, db, na);
	mem_free(da);
	mem_free(db);
}

/*
 * With the compaction due, the corpus is read through a second
 * connection while the first compacts (FTS merge, VACUUM of the pages
 * that deleted files freed): the files are byte for byte those of a
 * build without it, and the store still reads whole afterwards.
 */
void test_ngram_build_beside_compaction(void **state)
{
	char plain[PATH_MAX], beside[PATH_MAX], repo[PATH_MAX];
	struct config *cfg = NULL;
	struct ctx *c;
	struct ctx_ngram_build_stats sa, sb;
	struct ctx_ngram_build_opts ob = { .threads = 2, .split_bytes = 1, .compact = 1 };
	struct ctx_index_opts io = { .name = "r", .threads = 2, .defer_compact = 1 };
	struct ctx_index_stats is;
	struct err e;
	(void)state;

	c = indexed_store(17, &cfg);
	/* Half the files gone: their rows' pages are freed. */
	for (int f = 0; f < 48; f += 2) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/r/m%02d.py", nroot, f);
		assert_int_equal(unlink(p), 0);
	}
	snprintf(repo, sizeof repo, "%s/r", nroot);
	err_clear(&e);
	if (ctx_index_repo(c, repo, &io, &is, &e) != ST_OK)
		fail_msg("index: %s", e.msg);
	assert_int_equal(is.files_deleted, 24);
	assert_true(is.compact_due);

	snprintf(plain, sizeof plain, "%s/plain", nroot);
	snprintf(beside, sizeof beside, "%s/beside", nroot);
	build(c, plain, 2, 1, &sa);
	assert_int_equal(sa.compacted, 0);
	err_clear(&e);
	if (ctx_ngram_build_ex(c, beside, &ob, &sb, &e) != ST_OK)
		fail_msg("n-gram build: %s", e.msg);
	assert_int_equal(sb.compacted, 1);
	assert_int_equal(sb.rebuilt, 1);
	assert_int_equal(sb.subparts, sa.subparts);
	assert_int_equal(sb.subparts, 2);
	for (int k = 0; k < 2; k++) {
		static const char *const ext[] = { "txt", "sa", "map" };
		for (int x = 0; x < 3; x++) {
			char rel[64];
			if (k)
				snprintf(rel, sizeof rel, "context-ngram/1-%d.%s", k, ext[x]);
			else
				snprintf(rel, sizeof rel, "context-ngram/1.%s", ext[x]);
			same_file(plain, beside, rel);
		}
	}
	/* The compacted store still gives the same corpus. */
	put(beside, "context-ngram/1.stamp", "x\n");
	build(c, beside, 2, 1, &sb);
	assert_int_equal(sb.rebuilt, 1);
	same_file(plain, beside, "context-ngram/1.sa");
	ctx_free(c);
	config_free(cfg);
}

/* Every file under dir/context-ngram/ of a and b: the same names, the
 * same bytes. Returns how many were compared. */
static int same_dirs(const char *a, const char *b)
{
	char pa[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int n = 0, nb = 0;

	snprintf(pa, sizeof pa, "%.1000s/context-ngram", a);
	d = opendir(pa);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char rel[PATH_MAX];
		char *da, *db;
		size_t na, nbytes;
		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof rel, "context-ngram/%.200s", de->d_name);
		da = read_file(a, rel, &na);
		db = read_file(b, rel, &nbytes);
		if (na != nbytes || memcmp(da, db, na) != 0)
			fail_msg("%s differs", rel);
		mem_free(da);
		mem_free(db);
		n++;
	}
	closedir(d);
	snprintf(pa, sizeof pa, "%.1000s/context-ngram", b);
	d = opendir(pa);
	assert_non_null(d);
	while ((de = readdir(d)))
		nb += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, nb);
	return n;
}

/*
 * Several stale repositories in one build: each corpus read while the
 * one before is sorted, with the read-ahead held to one repository (the
 * reader sorts, or waits, before each next read) and without a bound.
 * The files are byte for byte those of rebuilding each repository
 * alone, and a second build keeps every part.
 */
void test_ngram_many_repos(void **state)
{
	char one[PATH_MAX], all[PATH_MAX], loose[PATH_MAX];
	struct config *cfg = NULL;
	struct ctx *c;
	struct ctx_ngram_build_stats s;
	struct ctx_ngram_build_opts tight = { .threads = 2, .split_bytes = 1, .ahead_bytes = 1,
					      .compact = 1 };
	struct ctx_ngram_build_opts wide = { .threads = 3, .split_bytes = 1 };
	struct ctx_ngram *g = NULL;
	static const char *const names[] = { "r2", "r3", "r4" };
	int files;
	(void)state;

	c = indexed_store(23, &cfg);
	for (int i = 0; i < 3; i++) {
		make_repo(names[i]);
		index_repo(c, names[i]);
	}
	snprintf(one, sizeof one, "%s/one", nroot);
	snprintf(all, sizeof all, "%s/all", nroot);
	snprintf(loose, sizeof loose, "%s/loose", nroot);

	/* Each repository alone: all built, then each made stale in turn. */
	build(c, one, 2, 1, &s);
	assert_int_equal(s.rebuilt, 4);
	for (int id = 1; id <= 4; id++) {
		char rel[64];
		snprintf(rel, sizeof rel, "context-ngram/%d.stamp", id);
		put(one, rel, "x\n");
		build(c, one, 2, 1, &s);
		assert_int_equal(s.rebuilt, 1);
		assert_int_equal(s.kept, 3);
		assert_int_equal(s.subparts, 2);
	}

	TH_OK(ctx_ngram_build_ex(c, all, &tight, &s, NULL));
	assert_int_equal(s.rebuilt, 4);
	assert_int_equal(s.subparts, 8);
	assert_int_equal(s.compacted, 1);
	files = same_dirs(one, all);
	assert_int_equal(files, 4 * (1 + 2 * 3) + 1);	/* stamps, sub-parts, parts */

	/* Three threads (three sub-parts each), the read-ahead unbounded. */
	TH_OK(ctx_ngram_build_ex(c, loose, &wide, &s, NULL));
	assert_int_equal(s.rebuilt, 4);
	assert_int_equal(s.subparts, 12);
	TH_OK(ctx_ngram_build_ex(c, loose, &wide, &s, NULL));
	assert_int_equal(s.rebuilt, 0);
	assert_int_equal(s.kept, 4);
	TH_OK(ctx_ngram_open(loose, &g, NULL));
	{
		struct ctx_ngram *h = NULL;
		TH_OK(ctx_ngram_open(one, &h, NULL));
		assert_int_equal(ctx_ngram_size(g), ctx_ngram_size(h));
		ctx_ngram_free(h);
	}
	ctx_ngram_free(g);
	ctx_free(c);
	config_free(cfg);
}

/* page_count, freelist_count and auto_vacuum of the store under data,
 * read through a connection of its own (it sees the last commit). */
static void store_pages(const char *data, int64_t *pages, int64_t *free_pages, int *mode)
{
	char p[PATH_MAX + 16];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	snprintf(p, sizeof p, "%s/airlock.db", data);
	assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT page_count FROM pragma_page_count),"
					    " (SELECT freelist_count FROM pragma_freelist_count),"
					    " (SELECT auto_vacuum FROM pragma_auto_vacuum)", -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	*pages = sqlite3_column_int64(s, 0);
	*free_pages = sqlite3_column_int64(s, 1);
	*mode = sqlite3_column_int(s, 2);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* Re-indexes repository r after deletions (the compaction left to the
 * caller); deleted: how many files it should find gone. Returns whether
 * a compaction is due. */
static int reindex_r(struct ctx *c, uint64_t deleted)
{
	char repo[PATH_MAX];
	struct ctx_index_opts io = { .name = "r", .threads = 2, .defer_compact = 1 };
	struct ctx_index_stats is;
	struct err e;

	snprintf(repo, sizeof repo, "%s/r", nroot);
	err_clear(&e);
	if (ctx_index_repo(c, repo, &io, &is, &e) != ST_OK)
		fail_msg("index: %s", e.msg);
	assert_int_equal(is.files_deleted, deleted);
	return is.compact_due;
}

/* Deletes half of repository r's files and re-indexes it (the compaction
 * due, not run), then compacts. before: the store's pages and free pages
 * right before the compaction; after: after it, and *mode its
 * auto_vacuum then. */
static void shrink_and_compact(struct ctx *c, const char *data, int64_t before[2],
			       int64_t after[2], int *mode)
{
	for (int f = 0; f < 48; f += 2) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/r/m%02d.py", nroot, f);
		assert_int_equal(unlink(p), 0);
	}
	assert_true(reindex_r(c, 24));
	store_pages(data, &before[0], &before[1], mode);
	TH_OK(ctx_store_compact(c, NULL));
	store_pages(data, &after[0], &after[1], mode);
}

/*
 * The compaction gives the free pages back. A new store is in
 * incremental auto-vacuum mode, so they go without a VACUUM; an older
 * store (auto_vacuum NONE, as every store made before the mode) is
 * VACUUMed when more than 1/8 is free, which converts it. Either way no
 * page is left free, the file is smaller, and what the store answers is
 * the same as before.
 */
void test_compact_gives_pages_back(void **state)
{
	char data[PATH_MAX], ng[2][PATH_MAX], first[sizeof nroot];
	struct config *cfg = NULL;
	struct ctx *c;
	struct ctx_ngram_build_stats bs;
	int64_t b[2], a[2];
	int mode;
	(void)state;

	c = indexed_store(23, &cfg);
	snprintf(data, sizeof data, "%s/data", nroot);
	store_pages(data, &b[0], &b[1], &mode);
	assert_int_equal(mode, 2);	/* INCREMENTAL */
	shrink_and_compact(c, data, b, a, &mode);
	assert_true(b[1] > 0);		/* the deleted files' pages */
	assert_int_equal(mode, 2);
	assert_int_equal(a[1], 0);
	assert_true(a[0] < b[0]);
	assert_int_equal(c->vacuums, 0);	/* no rewrite of the whole file */
	{
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/r/m01.py", nroot);
		assert_int_equal(unlink(p), 0);
	}
	reindex_r(c, 1);
	TH_OK(ctx_store_compact(c, NULL));
	store_pages(data, &a[0], &a[1], &mode);
	assert_int_equal(a[1], 0);
	assert_int_equal(c->vacuums, 0);
	snprintf(ng[0], sizeof ng[0], "%s/ng-new", nroot);
	build(c, ng[0], 2, 1, &bs);
	ctx_free(c);
	config_free(cfg);
	cfg = NULL;

	/* The same repository and change in a store made with auto_vacuum
	 * NONE: a table exists before the store's first open, so the mode
	 * db_open asks for waits for a VACUUM. */
	str_copy(first, nroot, sizeof first);
	if (snprintf(nroot, sizeof nroot, "%s/old", first) >= (int)sizeof nroot)
		fail_msg("%s: path too long", first);
	TH_OK(file_mkdirs(nroot, 0700, NULL));
	rng_state = 23;
	make_repo("r");
	snprintf(data, sizeof data, "%s/data", nroot);
	TH_OK(file_mkdirs(data, 0700, NULL));
	{
		char p[PATH_MAX + 16];
		sqlite3 *db = NULL;
		snprintf(p, sizeof p, "%s/airlock.db", data);
		assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA auto_vacuum=NONE; CREATE TABLE legacy(x);",
					      NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	c = open_store(data, &cfg);
	index_repo(c, "r");
	store_pages(data, &b[0], &b[1], &mode);
	assert_int_equal(mode, 0);
	shrink_and_compact(c, data, b, a, &mode);
	assert_true(b[1] * 8 > b[0]);	/* over 1/8 free: the VACUUM runs */
	assert_int_equal(mode, 2);	/* and converts the store */
	assert_int_equal(c->vacuums, 1);
	assert_int_equal(a[1], 0);
	assert_true(a[0] < b[0]);
	{
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/r/m01.py", nroot);
		assert_int_equal(unlink(p), 0);
	}
	reindex_r(c, 1);
	TH_OK(ctx_store_compact(c, NULL));	/* converted: no VACUUM now */
	store_pages(data, &a[0], &a[1], &mode);
	assert_int_equal(a[1], 0);
	assert_int_equal(c->vacuums, 1);
	snprintf(ng[1], sizeof ng[1], "%s/ng-old", nroot);
	build(c, ng[1], 2, 1, &bs);
	/* Both stores hold the same rows: the same n-gram corpus. */
	same_file(ng[0], ng[1], "context-ngram/1.txt");
	ctx_free(c);
	config_free(cfg);
}
