/* test_sys.c - core: files, logging, thread pool, SQLite store. */
#include "harness.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void test_file_read_all(void **state)
{
	const char *dir = th_tmpdir();
	char path[4096];
	char *data;
	size_t len;
	struct err e;

	(void)state;
	snprintf(path, sizeof path, "%s", th_write_file(dir, "a.txt", "hello world"));
	TH_OK(file_read_all(path, 100, &data, &len, &e));
	assert_int_equal(len, 11);
	assert_string_equal(data, "hello world");
	mem_free(data);
	TH_ST(file_read_all(path, 5, &data, &len, &e), ST_LIMIT);
	assert_null(data);
	assert_non_null(strstr(e.msg, "limit"));
	TH_ST(file_read_all("/nonexistent/zz", 5, &data, &len, &e), ST_NOTFOUND);
	TH_ST(file_read_all(dir, 5, &data, &len, &e), ST_INVAL);
	/* An allocation failure is reported, not a crash. */
	mem_fail_after(0, 0);
	TH_ST(file_read_all(path, 100, &data, &len, &e), ST_NOMEM);
	mem_fail_reset();
	th_tmpdir_cleanup();
}

static void test_file_atomic_and_map(void **state)
{
	const char *dir = th_tmpdir();
	char path[4096], sub[4096];
	struct fmap m;
	struct stat st;
	struct err e;

	(void)state;
	snprintf(path, sizeof path, "%s/out.bin", dir);
	TH_OK(file_write_atomic(path, "v1", 2, 0600, &e));
	TH_OK(file_write_atomic(path, "version2", 8, 0600, &e));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	TH_OK(fmap_open(&m, path, &e));
	assert_int_equal(m.len, 8);
	assert_memory_equal(m.data, "version2", 8);
	fmap_release(&m);
	TH_ST(fmap_open(&m, "/nonexistent/q", &e), ST_NOTFOUND);
	snprintf(sub, sizeof sub, "%s/x/y/z", dir);
	TH_OK(file_mkdirs(sub, 0700, &e));
	assert_int_equal(stat(sub, &st), 0);
	snprintf(sub, sizeof sub, "%s/nodir/f", dir);
	TH_ST(file_write_atomic(sub, "x", 1, 0600, &e), ST_NOTFOUND);
	th_tmpdir_cleanup();
}

static void test_file_io_faults(void **state)
{
	const char *dir = th_tmpdir();
	char path[4096];
	char *data;
	size_t len;
	struct err e;

	(void)state;
	snprintf(path, sizeof path, "%s/f", dir);
	TH_OK(file_write_atomic(path, "old", 3, 0644, &e));
	/* A full disk during the write: error, and the old file is intact. */
	file_io_fail_after(0, ENOSPC, 1);
	TH_ST(file_write_atomic(path, "new contents", 12, 0644, &e), ST_LIMIT);
	file_io_fail_reset();
	TH_OK(file_read_all(path, 100, &data, &len, &e));
	assert_string_equal(data, "old");
	mem_free(data);
	/* The fsync fails (the write before it succeeds). */
	file_io_fail_after(1, EIO, 0);
	TH_ST(file_write_atomic(path, "new", 3, 0644, &e), ST_IO);
	file_io_fail_reset();
	TH_OK(file_read_all(path, 100, &data, &len, &e));
	assert_string_equal(data, "old");
	mem_free(data);
	th_tmpdir_cleanup();
}

static char *capture_log(enum log_format fmt, void (*emit)(void))
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	log_setup(LOG_DEBUG, fmt, f);
	emit();
	fclose(f);
	log_setup(LOG_INFO, LOG_FMT_HUMAN, NULL);
	return text;
}

static void emit_sample(void)
{
	LOG_INFO("test.event", LF_STR("user", "a\"b\n"), LF_INT("n", 42),
		 LF_BOOL("ok", 1), LF_REDACT("token", "s3cr3t-value"));
	LOG_DEBUG("test.debug", LF_DBL("x", 1.5));
}

static void test_log_formats(void **state)
{
	char *json, *human;

	(void)state;
	json = capture_log(LOG_FMT_JSON, emit_sample);
	assert_non_null(strstr(json, "\"event\":\"test.event\""));
	assert_non_null(strstr(json, "\"user\":\"a\\\"b\\u000a\""));
	assert_non_null(strstr(json, "\"n\":42"));
	assert_non_null(strstr(json, "\"ok\":true"));
	assert_non_null(strstr(json, "\"token\":\"[redacted 12 bytes]\""));
	assert_null(strstr(json, "s3cr3t"));
	assert_non_null(strstr(json, "\"x\":1.5"));
	free(json);
	human = capture_log(LOG_FMT_HUMAN, emit_sample);
	assert_non_null(strstr(human, "info  test.event user=\"a\\\"b\\x0a\" n=42"));
	assert_null(strstr(human, "s3cr3t"));
	{
		/* A newline inside a value never starts a new record. */
		int lines = 0;
		for (const char *c = human; *c; c++)
			lines += *c == '\n';
		assert_int_equal(lines, 2);
	}
	free(human);
	assert_int_equal(log_level_parse("warn"), LOG_WARN);
	assert_int_equal(log_level_parse("loud"), -1);
}

struct sum_arg {
	atomic_ullong sum;
	atomic_int calls;
	const int *data;
};

static void sum_fn(void *v, size_t b, size_t e, int worker)
{
	struct sum_arg *a = v;
	unsigned long long s = 0;

	(void)worker;
	for (size_t i = b; i < e; i++)
		s += (unsigned long long)a->data[i];
	atomic_fetch_add(&a->sum, s);
	atomic_fetch_add(&a->calls, 1);
}

struct mark_arg {
	atomic_int *hits;	/* (n) times each item ran */
	atomic_int seen_worker[8];	/* calls per worker id */
};

static void mark_fn(void *v, size_t b, size_t e, int worker)
{
	struct mark_arg *a = v;

	for (size_t i = b; i < e; i++)
		atomic_fetch_add(&a->hits[i], 1);
	if (worker >= 0 && worker < 8)
		atomic_fetch_add(&a->seen_worker[worker], 1);
}

/* Runs one job of n items and checks each ran exactly once, by ids of
 * this pool only. */
static void run_marked(struct tpool *p, size_t n, atomic_int *hits)
{
	struct mark_arg a;

	memset(&a, 0, sizeof a);
	a.hits = hits;
	for (size_t i = 0; i < n; i++)
		atomic_store(&hits[i], 0);
	tpool_parallel_for(p, n, 1, mark_fn, &a);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(atomic_load(&hits[i]), 1);
	for (int w = tpool_size(p); w < 8; w++)
		assert_int_equal(atomic_load(&a.seen_worker[w]), 0);
}

/*
 * Jobs back to back (workers still spinning between them), jobs after
 * pauses long enough for every thread to go to sleep, and a pool freed
 * while its workers spin and while they sleep: each item of each job runs
 * exactly once and nothing hangs.
 */
static void test_tpool_spin_sleep(void **state)
{
	enum { N = 64 };
	atomic_int hits[N];
	struct timespec pause_ts = { 0, 3 * 1000 * 1000 };	/* 3 ms: past the spin */

	(void)state;
	for (int threads = 2; threads <= 3; threads++) {
		struct tpool *p = tpool_new(threads);
		assert_non_null(p);
		for (int round = 0; round < 4000; round++)
			run_marked(p, (size_t)(round % N) + 1, hits);
		for (int round = 0; round < 5; round++) {
			nanosleep(&pause_ts, NULL);
			run_marked(p, N, hits);
			run_marked(p, 2, hits);
		}
		tpool_free(p);	/* workers spinning */
		p = tpool_new(threads);
		assert_non_null(p);
		run_marked(p, N, hits);
		nanosleep(&pause_ts, NULL);
		tpool_free(p);	/* workers asleep */
	}
}

struct chunk_arg {
	size_t n, grain, max_len;
	atomic_int too_short, too_long;
	atomic_size_t last_len;	/* of the chunk that ends at n */
};

static void chunk_fn(void *v, size_t b, size_t e, int worker)
{
	struct chunk_arg *a = v;

	(void)worker;
	if (e - b < a->grain && e != a->n)
		atomic_fetch_add(&a->too_short, 1);
	if (e - b > a->max_len)
		atomic_fetch_add(&a->too_long, 1);
	if (e == a->n)
		atomic_store(&a->last_len, e - b);
}

/*
 * Chunks are shares of what is left: none longer than n / (2 x threads),
 * none shorter than the grain but the one ending the range, and the
 * range ends with a chunk of at most the grain, so the threads finish
 * together.
 */
static void test_tpool_chunks(void **state)
{
	static const size_t ns[] = { 7, 100, 1000, 9496, 100000 };
	static const size_t grains[] = { 1, 3, 100 };
	struct tpool *p = tpool_new(4);

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
			struct chunk_arg a = { .n = ns[i], .grain = grains[g] };
			a.max_len = ns[i] / 8 > grains[g] ? ns[i] / 8 : grains[g];
			atomic_init(&a.too_short, 0);
			atomic_init(&a.too_long, 0);
			atomic_init(&a.last_len, 0);
			tpool_parallel_for(p, ns[i], grains[g], chunk_fn, &a);
			assert_int_equal(atomic_load(&a.too_short), 0);
			if (ns[i] > grains[g]) {	/* else it ran inline, whole */
				assert_int_equal(atomic_load(&a.too_long), 0);
				assert_true(atomic_load(&a.last_len) >= 1);
				assert_true(atomic_load(&a.last_len) <= grains[g]);
			}
		}
	}
	tpool_free(p);
}

static void test_tpool(void **state)
{
	enum { N = 100000 };
	int *data = mem_alloc_array(N, sizeof *data);
	struct tpool *p = tpool_new(4);
	struct sum_arg a;

	(void)state;
	assert_non_null(data);
	assert_non_null(p);
	assert_int_equal(tpool_size(p), 4);
	for (int i = 0; i < N; i++)
		data[i] = i;
	for (int round = 0; round < 50; round++) {
		atomic_store(&a.sum, 0);
		atomic_store(&a.calls, 0);
		a.data = data;
		tpool_parallel_for(p, N, 100, sum_fn, &a);
		assert_int_equal(atomic_load(&a.sum), (unsigned long long)N * (N - 1) / 2);
		assert_true(atomic_load(&a.calls) >= 1);
	}
	/* Fewer items than the grain run inline; NULL pool runs inline. */
	atomic_store(&a.sum, 0);
	tpool_parallel_for(p, 10, 100, sum_fn, &a);
	assert_int_equal(atomic_load(&a.sum), 45);
	atomic_store(&a.sum, 0);
	tpool_parallel_for(NULL, N, 1, sum_fn, &a);
	assert_int_equal(atomic_load(&a.sum), (unsigned long long)N * (N - 1) / 2);
	tpool_free(p);
	tpool_free(NULL);
	mem_free(data);
}

static void test_db_migrate(void **state)
{
	static const char *const v1[] = {
		"CREATE TABLE t(a INTEGER);",
	};
	static const char *const v2[] = {
		"CREATE TABLE t(a INTEGER);",
		"ALTER TABLE t ADD COLUMN b TEXT;",
	};
	static const char *const bad[] = {
		"CREATE TABLE t(a INTEGER);",
		"ALTER TABLE t ADD COLUMN b TEXT;",
		"THIS IS NOT SQL;",
	};
	const char *dir = th_tmpdir();
	char path[4096];
	struct sqlite3 *db;
	struct err e;

	(void)state;
	snprintf(path, sizeof path, "%s/test.db", dir);
	TH_OK(db_open(path, &db, &e));
	TH_OK(db_migrate(db, "mod", v1, 1, &e));
	TH_OK(db_migrate(db, "mod", v2, 2, &e));	/* applies only step 2 */
	TH_OK(db_exec(db, "INSERT INTO t(a, b) VALUES(1, 'x')", &e));
	TH_ST(db_migrate(db, "mod", bad, 3, &e), ST_IO);
	assert_non_null(strstr(e.msg, "sqlite"));
	/* The failed step rolled back: version is still 2. */
	TH_ST(db_migrate(db, "mod", v1, 1, &e), ST_UNSUPPORTED);
	db_close(db);
	snprintf(path, sizeof path, "%s/nodir/x.db", dir);
	assert_int_not_equal(db_open(path, &db, &e), ST_OK);
	th_tmpdir_cleanup();
}

int run_core_sys_tests(void);
int run_core_sys_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_read_all),
		cmocka_unit_test(test_file_atomic_and_map),
		cmocka_unit_test(test_file_io_faults),
		cmocka_unit_test(test_log_formats),
		cmocka_unit_test(test_tpool),
		cmocka_unit_test(test_tpool_chunks),
		cmocka_unit_test(test_tpool_spin_sleep),
		cmocka_unit_test(test_db_migrate),
	};
	return cmocka_run_group_tests_name("core_sys", tests, NULL, NULL);
}
