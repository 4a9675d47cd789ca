/*
 * test_store.c - the store's packed chunk texts: what is written packed
 * reads back plain (hits, FTS, the chunks_plain view), FTS5 stays
 * consistent through replacements (integrity-check), damaged packed
 * texts give an error instead of text, and a store written before
 * migration 3 (plain TEXT rows, FTS content = chunks) is migrated (rows
 * packed, FTS rebuilt) and keeps working.
 */
#include "../harness/harness.h"
#include "context/context.h"
#include "context/ctx_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

void test_store_packed_text(void **state);
void test_store_packed_bad_inputs(void **state);
void test_store_migration_3(void **state);
void test_store_pack_roundtrip(void **state);

static char sroot[1024];

static void sfile(const char *rel, const char *text)
{
	th_write_file(sroot, rel, text);
}

/* A C file of one function, long enough to be packed, naming word. */
static void big_file(const char *rel, const char *word)
{
	char body[4096];
	size_t o = 0;

	o += (size_t)snprintf(body + o, sizeof body - o, "int %s_entry(int x)\n{\n", word);
	for (int i = 0; i < 30; i++)
		o += (size_t)snprintf(body + o, sizeof body - o,
				      "\tx = helper_step(x, %d); /* %s */\n", i, word);
	snprintf(body + o, sizeof body - o, "\treturn x;\n}\n");
	sfile(rel, body);
}

static struct ctx *open_store(void)
{
	char data[PATH_MAX];
	struct ctx *c = NULL;
	struct err e;

	snprintf(data, sizeof data, "%s/data", sroot);
	err_clear(&e);
	if (ctx_open(data, NULL, &c, &e) != ST_OK)
		fail_msg("ctx_open: %s", e.msg);
	return c;
}

static struct ctx_index_stats index_repo(struct ctx *c)
{
	char repo[PATH_MAX];
	struct ctx_index_stats s;
	struct ctx_index_opts o = { .name = "repo", .threads = 2 };
	struct err e;

	snprintf(repo, sizeof repo, "%s/repo", sroot);
	err_clear(&e);
	if (ctx_index_repo(c, repo, &o, &s, &e) != ST_OK)
		fail_msg("index: %s", e.msg);
	return s;
}

static int64_t count(struct ctx *c, const char *sql)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(c->db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void fts_consistent(struct ctx *c)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, "INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')",
			      NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("FTS integrity-check: %s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
}

/* True when a search for word returns path with word in its text. */
static int found(struct ctx *c, const char *word, const char *path)
{
	struct ctx_result r;
	int hit = 0;

	ctx_result_init(&r);
	TH_OK(ctx_search(c, word, 10, NULL, NULL, &r, NULL));
	for (size_t i = 0; i < r.n; i++)
		if (strcmp(r.hits[i].path, path) == 0 && strstr(r.hits[i].text, word))
			hit = 1;
	ctx_result_release(&r);
	return hit;
}

void test_store_packed_text(void **state)
{
	struct ctx *c;
	struct ctx_index_stats s;
	(void)state;

	str_copy(sroot, th_tmpdir(), sizeof sroot);
	big_file("repo/src/big.c", "zebra");
	sfile("repo/src/small.c", "int tiny(void) { return 1; }\n");
	c = open_store();
	s = index_repo(c);
	assert_int_equal(s.files_indexed, 2);
	/* The long chunk is packed, the short one is not. */
	assert_int_equal(count(c, "SELECT count(*) FROM chunks WHERE typeof(text) = 'blob'"), 1);
	assert_int_equal(count(c, "SELECT count(*) FROM chunks WHERE typeof(text) = 'text'"), 1);
	/* The view and ctx_text() give the plain text back. */
	assert_int_equal(count(c, "SELECT count(*) FROM chunks_plain"
			       " WHERE text LIKE 'int zebra_entry(int x)%return x;%'"), 1);
	fts_consistent(c);
	assert_true(found(c, "zebra", "src/big.c"));
	assert_true(found(c, "tiny", "src/small.c"));

	/* Replaced: the old terms leave the FTS index (delete trigger with
	 * the inflated text), the new ones come in. */
	big_file("repo/src/big.c", "giraffe");
	s = index_repo(c);
	assert_int_equal(s.files_indexed, 1);
	fts_consistent(c);
	assert_false(found(c, "zebra", "src/big.c"));
	assert_true(found(c, "giraffe", "src/big.c"));
	assert_int_equal(count(c, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'zebra'"), 0);

	/* The n-gram corpus reads the plain text too. */
	{
		char data[PATH_MAX];
		struct ctx_ngram *g = NULL;
		struct ctx_ngram_match m;
		static const char probe[] = "x = helper_step(x, 17); /* giraffe */";
		snprintf(data, sizeof data, "%s/data", sroot);
		TH_OK(ctx_ngram_build(c, data, NULL));
		TH_OK(ctx_ngram_open(data, &g, NULL));
		TH_OK(ctx_ngram_longest_match(g, probe, strlen(probe), &m));
		assert_int_equal(m.length, strlen(probe));
		ctx_ngram_free(g);
	}

	/* Deleted: its rows go, FTS stays consistent. */
	{
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/repo/src/big.c", sroot);
		assert_int_equal(remove(p), 0);
	}
	s = index_repo(c);
	assert_int_equal(s.files_deleted, 1);
	fts_consistent(c);
	assert_int_equal(count(c, "SELECT count(*) FROM chunks WHERE typeof(text) = 'blob'"), 0);
	ctx_free(c);
}

/* ctx_text() on damaged packed texts: each is an error, never text. */
void test_store_packed_bad_inputs(void **state)
{
	struct ctx *c;
	sqlite3_stmt *s;
	unsigned char good[8192], bad[8200];
	size_t n;
	(void)state;

	str_copy(sroot, th_tmpdir(), sizeof sroot);
	big_file("repo/src/big.c", "zebra");
	c = open_store();
	index_repo(c);
	assert_int_equal(sqlite3_prepare_v2(c->db, "SELECT text FROM chunks WHERE typeof(text) = 'blob'",
					    -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = (size_t)sqlite3_column_bytes(s, 0);
	assert_true(n > 8 && n < sizeof good);
	memcpy(good, sqlite3_column_blob(s, 0), n);
	sqlite3_finalize(s);

	static const struct {
		const char *what;
		int kind;	/* how bad is made from good */
	} cases[] = {
		{ "shorter than a header", 0 },
		{ "stated length 0", 1 },
		{ "stated length past the bound", 2 },
		{ "stated length one more than the stream", 3 },
		{ "stated length one less than the stream", 4 },
		{ "stream cut in half", 5 },
		{ "a byte after the stream", 6 },
		{ "not a deflate stream", 7 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t bn = n;
		const char *msg;
		int rc;
		memcpy(bad, good, n);
		switch (cases[i].kind) {
		case 0: bn = 4; break;
		case 1: memset(bad, 0, 4); break;
		case 2: bad[3] = 0x7f; break;
		case 3: bad[0]++; if (!bad[0]) bad[1]++; break;
		case 4: if (!bad[0]) bad[1]--; bad[0]--; break;
		case 5: bn = 4 + (n - 4) / 2; break;
		case 6: bad[n] = 0; bn = n + 1; break;
		case 7: memset(bad + 4, 0xff, n - 4); break;
		}
		assert_int_equal(sqlite3_prepare_v2(c->db, "SELECT ctx_text(?1)", -1, &s, NULL), SQLITE_OK);
		sqlite3_bind_blob(s, 1, bad, (int)bn, SQLITE_STATIC);
		rc = sqlite3_step(s);
		msg = sqlite3_errmsg(c->db);
		if (rc != SQLITE_ERROR || !strstr(msg, "corrupt packed chunk text"))
			fail_msg("%s: rc %d, %s", cases[i].what, rc, msg);
		sqlite3_finalize(s);
	}
	/* The good one, plain text and NULL pass. */
	assert_int_equal(sqlite3_prepare_v2(c->db, "SELECT ctx_text(?1), ctx_text('plain'), ctx_text(NULL)",
					    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_blob(s, 1, good, (int)n, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_non_null(strstr((const char *)sqlite3_column_text(s, 0), "zebra_entry"));
	assert_string_equal((const char *)sqlite3_column_text(s, 1), "plain");
	assert_int_equal(sqlite3_column_type(s, 2), SQLITE_NULL);
	sqlite3_finalize(s);

	/* A damaged stored chunk reads as "" in a hit, never as garbage. */
	assert_int_equal(sqlite3_exec(c->db, "UPDATE chunks SET text = x'0500000001'"
				      " WHERE typeof(text) = 'blob'", NULL, NULL, NULL), SQLITE_OK);
	{
		struct ctx_result r;
		ctx_result_init(&r);
		TH_OK(ctx_search(c, "zebra", 10, NULL, NULL, &r, NULL));
		assert_true(r.n >= 1);
		for (size_t i = 0; i < r.n; i++)
			if (strcmp(r.hits[i].path, "src/big.c") == 0)
				assert_string_equal(r.hits[i].text, "");
		ctx_result_release(&r);
	}
	ctx_free(c);
}

/* A store as migration 2 left it: plain TEXT rows, FTS over chunks. */
static void make_v2(struct ctx *c)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db,
		"DROP TRIGGER chunks_ad;"
		"DROP TABLE chunks_fts;"
		"DROP VIEW chunks_plain;"
		"UPDATE chunks SET text = ctx_text(text);"
		"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks',"
		" content_rowid='id', tokenize='airlock_ident');"
		"INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');"
		"CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN"
		" INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END;"
		"CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
		" INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END;"
		"UPDATE schema_version SET version = 2 WHERE module = 'context';",
		NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("make v2: %s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
}

void test_store_migration_3(void **state)
{
	struct ctx *c;
	struct ctx_index_stats s;
	(void)state;

	str_copy(sroot, th_tmpdir(), sizeof sroot);
	big_file("repo/src/big.c", "zebra");
	big_file("repo/src/other.c", "okapi");
	c = open_store();
	index_repo(c);
	make_v2(c);
	assert_int_equal(count(c, "SELECT count(*) FROM chunks WHERE typeof(text) = 'blob'"), 0);
	ctx_free(c);

	c = open_store();
	assert_int_equal(count(c, "SELECT version FROM schema_version WHERE module = 'context'"), 3);
	/* The migration packed the old rows. */
	assert_int_equal(count(c, "SELECT count(*) FROM chunks WHERE typeof(text) = 'blob'"), 2);
	assert_int_equal(count(c, "SELECT count(*) FROM chunks WHERE typeof(text) = 'text'"), 0);
	fts_consistent(c);
	assert_true(found(c, "zebra", "src/big.c"));
	assert_true(found(c, "okapi", "src/other.c"));
	/* Rows are replaced through the new trigger. */
	big_file("repo/src/big.c", "giraffe");
	s = index_repo(c);
	assert_int_equal(s.files_indexed, 1);
	fts_consistent(c);
	assert_false(found(c, "zebra", "src/big.c"));
	assert_true(found(c, "giraffe", "src/big.c"));
	assert_true(found(c, "okapi", "src/other.c"));
	assert_int_equal(count(c, "SELECT count(*) FROM chunks WHERE typeof(text) = 'blob'"), 2);
	ctx_free(c);
}

/* Packing round trip through the SQL functions, at every kind of size:
 * below PACK_MIN (kept as text), chunk sizes up to and past the 8 KB
 * chunk cap, a 200 KB text whose repeats lie further back than any
 * chunk (the packer and zlib's inflate must agree on distances), and
 * bytes that do not compress (kept as text). */
void test_store_pack_roundtrip(void **state)
{
	static const size_t sizes[] = { 1, 95, 96, 97, 200, 700, 4095, 8192, 9000, 200000 };
	struct ctx *c;
	sqlite3_stmt *s;
	char *text;
	uint32_t x = 12345;
	(void)state;

	str_copy(sroot, th_tmpdir(), sizeof sroot);
	c = open_store();
	text = mem_alloc(200001);
	assert_non_null(text);
	assert_int_equal(sqlite3_prepare_v2(c->db, "SELECT typeof(ctx_pack(?1)),"
					    " ctx_text(ctx_pack(?1)) = ?1, length(ctx_pack(?1))",
					    -1, &s, NULL), SQLITE_OK);
	for (int noise = 0; noise < 2; noise++) {
		for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
			size_t n = sizes[k];
			int packed;
			for (size_t i = 0; i < n; i++) {
				x = x * 1103515245u + 12345u;
				if (noise)	/* bytes at random (no NUL) */
					text[i] = (char)(1 + (x >> 16) % 255);
				else		/* code-like: a few lines repeated with changes */
					text[i] = "\tx = helper_step(x, 17); /* zebra */\n"[i % 37] ^
						  (char)((i / 37) % 7 == 3 && i % 37 == 20);
			}
			text[n] = 0;
			sqlite3_bind_text(s, 1, text, (int)n, SQLITE_STATIC);
			assert_int_equal(sqlite3_step(s), SQLITE_ROW);
			packed = strcmp((const char *)sqlite3_column_text(s, 0), "blob") == 0;
			assert_int_equal(sqlite3_column_int(s, 1), 1);
			if (packed != (!noise && n >= 96))
				fail_msg("size %zu, noise %d: packed %d", n, noise, packed);
			if (packed)	/* saves at least an eighth */
				assert_true((size_t)sqlite3_column_int64(s, 2) * 9 <= n * 8);
			sqlite3_reset(s);
		}
	}
	sqlite3_finalize(s);
	mem_free(text);
	ctx_free(c);
}
