/*
 * store.c - the context store on SQLite: the only file of the module that
 * speaks SQL. Everything above it calls the ctx__store_* functions of
 * ctx_int.h, which a PostgreSQL backend can implement the same way.
 *
 * Tables (migration 1):
 *   repositories(id, name, root, indexed_at)
 *   files(id, repo_id, path, hash, size, mtime, lang, skip)  skip: reason
 *   chunks(id, file_id, start_line, end_line, kind, name, text)
 *                text: TEXT, or a BLOB holding it deflated (migration 3;
 *                ctx_text() in SQL and chunk_text() here read both)
 *   chunks_plain view: id, ctx_text(text)
 *   chunks_fts   FTS5, external content = chunks_plain, tokenizer
 *                airlock_ident (identifier splitting); rows inserted
 *                by ctx__store_commit, deleted by a trigger
 *   symbols(id, file_id, chunk_id, name, kind, start_line, end_line,
 *           signature, doc)  doc: TEXT, or packed as chunk text is
 *                (read through ctx_text())
 *   edges(id, kind, src_type, src_id, dst_type, dst_id, dst_name,
 *         file_id, line)      kinds: defines (implicit in symbols),
 *                             calls, references, imports, documents, owns
 *   documents(id, file_id, kind, title, status, tags, services, paths,
 *             date, mentions)
 *   owners(id, repo_id, file_id, line, pattern, owner)
 * file_id on an edge is the file whose indexing produced it, so replacing
 * or deleting a file removes exactly its edges (ON DELETE CASCADE).
 */
#include "context/ctx_int.h"

#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <zlib.h>
#include <libdeflate.h>
#include <pthread.h>

static const char *const migrations[] = {
	"CREATE TABLE repositories(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" root TEXT NOT NULL, indexed_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE files(id INTEGER PRIMARY KEY,"
	" repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
	" path TEXT NOT NULL, hash BLOB, size INTEGER NOT NULL DEFAULT 0,"
	" mtime INTEGER NOT NULL DEFAULT 0, lang TEXT, skip TEXT,"
	" UNIQUE(repo_id, path));"
	"CREATE TABLE chunks(id INTEGER PRIMARY KEY,"
	" file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
	" start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, kind TEXT NOT NULL,"
	" name TEXT NOT NULL DEFAULT '', text TEXT NOT NULL);"
	"CREATE INDEX chunks_file ON chunks(file_id);"
	"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks',"
	" content_rowid='id', tokenize='airlock_ident');"
	"CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, row);"
	"CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN"
	" INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END;"
	"CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
	" INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END;"
	"CREATE TABLE symbols(id INTEGER PRIMARY KEY,"
	" file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
	" chunk_id INTEGER, name TEXT NOT NULL, kind TEXT NOT NULL,"
	" start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,"
	" signature TEXT NOT NULL DEFAULT '', doc TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX symbols_name ON symbols(name);"
	"CREATE INDEX symbols_file ON symbols(file_id);"
	"CREATE INDEX symbols_chunk ON symbols(chunk_id);"
	"CREATE TABLE edges(id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
	" src_type TEXT NOT NULL, src_id INTEGER NOT NULL, dst_type TEXT NOT NULL,"
	" dst_id INTEGER, dst_name TEXT,"
	" file_id INTEGER REFERENCES files(id) ON DELETE CASCADE, line INTEGER);"
	/* Only resolved edges (documents, owns) have a dst_id: a partial
	 * index keeps the many name edges out of it. */
	"CREATE INDEX edges_dst ON edges(dst_type, dst_id) WHERE dst_id IS NOT NULL;"
	"CREATE INDEX edges_name ON edges(dst_name);"
	"CREATE INDEX edges_file ON edges(file_id);"
	"CREATE TABLE documents(id INTEGER PRIMARY KEY,"
	" file_id INTEGER NOT NULL UNIQUE REFERENCES files(id) ON DELETE CASCADE,"
	" kind TEXT NOT NULL, title TEXT, status TEXT, tags TEXT, services TEXT,"
	" paths TEXT, date TEXT, mentions TEXT);"
	"CREATE TABLE owners(id INTEGER PRIMARY KEY,"
	" repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,"
	" file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
	" line INTEGER NOT NULL, pattern TEXT NOT NULL, owner TEXT NOT NULL);"
	"CREATE INDEX owners_repo ON owners(repo_id);",
	/* 2: edges of a file by line (callees of a chunk, calls near a
	 * call site); replaces the file-only index at no extra size. */
	"DROP INDEX edges_file;"
	"CREATE INDEX edges_file ON edges(file_id, line);",
	/* 3: chunk text may be stored deflated (a BLOB). The FTS index's
	 * content becomes the view chunks_plain, which inflates it (so
	 * FTS5's 'rebuild' and 'integrity-check' see the plain text), and
	 * is rebuilt from it once; the delete trigger hands FTS5 the plain
	 * text. The insert trigger goes: each INSERT that fired it opened
	 * a statement savepoint, and FTS5 writes its pending terms out at
	 * every one -- a segment per chunk. ctx__store_commit inserts a
	 * transaction's FTS rows together instead. Existing rows are
	 * packed here (ctx_pack); their freed pages are reused. */
	"DROP TRIGGER chunks_ai;"
	"DROP TRIGGER chunks_ad;"
	"UPDATE chunks SET text = ctx_pack(text) WHERE typeof(text) = 'text';"
	"CREATE VIEW chunks_plain AS SELECT id, ctx_text(text) AS text FROM chunks;"
	"DROP TABLE chunks_fts;"
	"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks_plain',"
	" content_rowid='id', tokenize='airlock_ident');"
	"INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');"
	"CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
	" INSERT INTO chunks_fts(chunks_fts, rowid, text)"
	" VALUES ('delete', old.id, ctx_text(old.text)); END;",
};

/* ---- packed chunk text ------------------------------------------------
 * A packed text is a BLOB: its length (4 bytes, little-endian), then a
 * raw deflate stream. Texts shorter than PACK_MIN, or that deflate saves
 * less than an eighth of, stay TEXT. Source code deflates to about 40 %;
 * chunk text is most of the store. */
#define PACK_MIN 96
#define PACK_MAX (1u << 24)	/* bound on a packed text's stated length */

static voidpf z_alloc(voidpf opaque, uInt n, uInt size)
{
	(void)opaque;
	return mem_alloc_array(n, size);
}

static void z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	mem_free(p);
}

/* Packing uses libdeflate (whole-buffer raw DEFLATE, which zlib's
 * inflate reads back): on chunk-sized texts its level 1 is about 1.6
 * times as fast as zlib's level 1 and packs a little smaller (40 % of
 * the text against 41 %). Its allocations go through mem_alloc, set
 * once for the process before the first compressor exists. */
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;

static void pack_init(void)
{
	libdeflate_set_memory_allocator(mem_alloc, mem_free);
}

static struct libdeflate_compressor *packer_new(void)
{
	pthread_once(&pack_once, pack_init);
	return libdeflate_alloc_compressor(1);
}

/* Bytes pack_into may write for a text of len bytes. */
static size_t pack_bound(struct libdeflate_compressor *z, size_t len)
{
	return 4 + libdeflate_deflate_compress_bound(z, len);
}

/* Packs text (PACK_MIN <= len < PACK_MAX) into out, which holds cap =
 * pack_bound(len) bytes, with z. Returns the packed size, or 0 when
 * packing does not save an eighth. */
static size_t pack_into(struct libdeflate_compressor *z, const char *text,
			size_t len, unsigned char *out, size_t cap)
{
	size_t n;

	if (cap < 5)
		return 0;
	n = libdeflate_deflate_compress(z, text, len, out + 4, cap - 4);
	if (!n)
		return 0;
	n += 4;
	if (n + n / 8 > len)
		return 0;
	out[0] = (unsigned char)len;
	out[1] = (unsigned char)(len >> 8);
	out[2] = (unsigned char)(len >> 16);
	out[3] = (unsigned char)(len >> 24);
	return n;
}

/* A packer is a libdeflate compressor (its match finder's tables are
 * large enough that making one per file shows in the profile) and the
 * buffer it packs into: a text is packed there and only what it packs
 * to is copied into the file's arena. Packing straight into the arena
 * reserved the compressor's bound, more than twice what is kept, and
 * the arena's large blocks were a third of the workers' malloc time. */
struct ctx__packer {
	struct libdeflate_compressor *z;
	unsigned char *buf;
	size_t cap;		/* bytes at buf */
};

status_t ctx__packer_new(struct ctx__packer **out)
{
	struct ctx__packer *pk = mem_calloc(1, sizeof *pk);

	*out = NULL;
	if (!pk)
		return ST_NOMEM;
	if (!(pk->z = packer_new())) {
		mem_free(pk);
		return ST_NOMEM;
	}
	*out = pk;
	return ST_OK;
}

void ctx__packer_free(struct ctx__packer *pk)
{
	if (!pk)
		return;
	libdeflate_free_compressor(pk->z);
	mem_free(pk->buf);
	mem_free(pk);
}

/* Packs text (len bytes) with pk into p's arena: *out and *out_len, or
 * *out NULL when it stays text (short, long, or deflate saves too
 * little). ST_NOMEM. */
static status_t pack_one(struct ctx__packer *pk, struct ctx__parsed *p, const char *text,
			 size_t len, const unsigned char **out, size_t *out_len)
{
	unsigned char *dst;
	size_t cap, n;

	*out = NULL;
	*out_len = 0;
	if (len < PACK_MIN || len >= PACK_MAX)
		return ST_OK;
	if (!pk->z && !(pk->z = packer_new()))
		return ST_NOMEM;
	cap = pack_bound(pk->z, len);
	if (cap > pk->cap) {
		size_t nc = cap < 65536 ? 65536 : cap;
		unsigned char *nb = mem_realloc(pk->buf, nc);
		if (!nb)
			return ST_NOMEM;
		pk->buf = nb;
		pk->cap = nc;
	}
	if (!(n = pack_into(pk->z, text, len, pk->buf, cap)))
		return ST_OK;
	if (!(dst = arena_alloc(&p->arena, n)))
		return ST_NOMEM;
	memcpy(dst, pk->buf, n);
	*out = dst;
	*out_len = n;
	return ST_OK;
}

status_t ctx__store_pack_with(struct ctx__packer *pk, struct ctx__parsed *p)
{
	struct ctx__packer own = { NULL, NULL, 0 };
	status_t st = ST_OK;

	if (!pk)
		pk = &own;
	for (size_t i = 0; i < p->chunks.len && st == ST_OK; i++) {
		struct ctx__chunk *ch = &VEC_AT(&p->chunks, struct ctx__chunk, i);
		const unsigned char *out;
		size_t n;
		if ((st = pack_one(pk, p, ch->text, ch->len, &out, &n)) == ST_OK && out) {
			ch->packed = out;
			ch->packed_len = n;
		}
	}
	/* Doc comments too: 7 % of the bench set's store as text. */
	for (size_t i = 0; i < p->syms.len && st == ST_OK; i++) {
		struct ctx__sym *sy = &VEC_AT(&p->syms, struct ctx__sym, i);
		if (sy->doc)
			st = pack_one(pk, p, sy->doc, strlen(sy->doc), &sy->doc_packed,
				      &sy->doc_packed_len);
	}
	if (own.z)
		libdeflate_free_compressor(own.z);
	mem_free(own.buf);
	return st;
}

status_t ctx__store_pack(struct ctx__parsed *p)
{
	return ctx__store_pack_with(NULL, p);
}

/* The stated length of a packed text; 0 when b cannot be one. */
static size_t packed_size(const unsigned char *b, size_t n)
{
	uint32_t len;

	if (!b || n < 5)
		return 0;
	len = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	      (uint32_t)b[3] << 24;
	return len < PACK_MAX ? len : 0;
}

/* Inflates packed text b (of packed_size len > 0) into dst (len + 1
 * bytes, NUL-terminated), with z (an inflate stream, raw, to be reset)
 * or, when z is NULL, a stream of its own. ST_CORRUPT when b does not
 * inflate to exactly len bytes. */
static status_t inflate_to(z_stream *z, const unsigned char *b, size_t n,
			   char *dst, size_t len)
{
	z_stream own;
	int rc, ok;

	if (!z) {
		memset(&own, 0, sizeof own);
		own.zalloc = z_alloc;
		own.zfree = z_free;
		if (inflateInit2(&own, -15) != Z_OK)
			return ST_NOMEM;
		z = &own;
	} else if (inflateReset(z) != Z_OK) {
		return ST_CORRUPT;
	}
	z->next_in = (Bytef *)(uintptr_t)(b + 4);
	z->avail_in = (uInt)(n - 4);
	z->next_out = (Bytef *)dst;
	z->avail_out = (uInt)len;
	rc = inflate(z, Z_FINISH);
	ok = rc == Z_STREAM_END && z->total_out == len && z->avail_in == 0;
	if (z == &own)
		inflateEnd(&own);
	if (!ok)
		return rc == Z_MEM_ERROR ? ST_NOMEM : ST_CORRUPT;
	dst[len] = 0;
	return ST_OK;
}

/* The connection's inflate stream, made on first use (NULL: no memory). */
static z_stream *zin(struct ctx *c)
{
	z_stream *z;

	if (c->zin)
		return c->zin;
	if (!(z = mem_calloc(1, sizeof *z)))
		return NULL;
	z->zalloc = z_alloc;
	z->zfree = z_free;
	if (inflateInit2(z, -15) != Z_OK) {
		mem_free(z);
		return NULL;
	}
	c->zin = z;
	return z;
}

/* Inflates a packed text into *out (heap, NUL-terminated; the caller
 * frees it). ST_CORRUPT when b is not a packed text. */
static status_t unpack(const unsigned char *b, size_t n, char **out,
		       size_t *out_len)
{
	size_t len = packed_size(b, n);
	char *t;
	status_t st;

	*out = NULL;
	*out_len = 0;
	if (!len)
		return ST_CORRUPT;
	if (!(t = mem_alloc(len + 1)))
		return ST_NOMEM;
	if ((st = inflate_to(NULL, b, n, t, len))) {
		mem_free(t);
		return st;
	}
	*out = t;
	*out_len = len;
	return ST_OK;
}

/* ctx_pack(x): x packed when it is TEXT that packing pays for, else x
 * (migration 3 packs existing rows with it). */
static void sql_ctx_pack(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	const char *t;
	size_t len, cap, n;
	unsigned char *out;
	struct libdeflate_compressor *z;

	(void)argc;
	len = (size_t)sqlite3_value_bytes(argv[0]);
	if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || len < PACK_MIN || len >= PACK_MAX) {
		sqlite3_result_value(cx, argv[0]);
		return;
	}
	t = (const char *)sqlite3_value_text(argv[0]);
	if (!t || !(z = packer_new())) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	cap = pack_bound(z, len);
	out = mem_alloc(cap);
	n = out ? pack_into(z, t, len, out, cap) : 0;
	libdeflate_free_compressor(z);
	if (!out) {
		sqlite3_result_error_nomem(cx);
	} else if (!n) {
		mem_free(out);
		sqlite3_result_value(cx, argv[0]);
	} else {
		sqlite3_result_blob(cx, out, (int)n, mem_free);
	}
}

/* ctx_text(x): the plain text of a chunks.text value (a packed BLOB is
 * inflated; anything else is returned as it is). */
static void sql_ctx_text(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	char *t;
	size_t n;
	status_t st;

	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
		sqlite3_result_value(cx, argv[0]);
		return;
	}
	st = unpack(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]),
		    &t, &n);
	if (st == ST_NOMEM) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	if (st != ST_OK) {
		sqlite3_result_error(cx, "context: corrupt packed chunk text", -1);
		return;
	}
	sqlite3_result_text(cx, t, (int)n, mem_free);
}


static status_t sql_err(struct ctx *c, struct err *e, const char *what)
{
	int rc = sqlite3_errcode(c->db);
	status_t st = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? ST_BUSY :
		      rc == SQLITE_FULL ? ST_LIMIT :
		      rc == SQLITE_NOMEM ? ST_NOMEM :
		      rc == SQLITE_CORRUPT ? ST_CORRUPT : ST_IO;
	return err_set(e, st, "store: %s: %s", what, sqlite3_errmsg(c->db));
}

static status_t prep(struct ctx *c, const char *sql, sqlite3_stmt **s,
		     struct err *e)
{
	if (sqlite3_prepare_v2(c->db, sql, -1, s, NULL) != SQLITE_OK)
		return sql_err(c, e, "prepare");
	return ST_OK;
}

/* A cached statement for sql (a string constant): reset and unbound,
 * owned by the cache (release with done(), never finalize). */
static status_t prep_cached(struct ctx *c, const char *sql, sqlite3_stmt **s,
			    struct err *e)
{
	int i;

	for (i = 0; i < CTX_STMT_CACHE && c->stmt_sql[i]; i++) {
		if (c->stmt_sql[i] == sql) {
			*s = c->stmt[i];
			return ST_OK;
		}
	}
	if (sqlite3_prepare_v2(c->db, sql, -1, s, NULL) != SQLITE_OK)
		return sql_err(c, e, "prepare");
	if (i < CTX_STMT_CACHE) {
		c->stmt[i] = *s;
		c->stmt_sql[i] = sql;
	}
	return ST_OK;
}

/* Releases a statement from prep_cached (finalized if it was not cached). */
static void done(struct ctx *c, sqlite3_stmt *s)
{
	for (int i = 0; i < CTX_STMT_CACHE && c->stmt_sql[i]; i++) {
		if (c->stmt[i] == s) {
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return;
		}
	}
	sqlite3_finalize(s);
}

/* Statements on the query path (ctx_retrieve), cached; each must use
 * an index (ctx__store_plans_check, tested). */
static const char SQL_BM25[] =
	"SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1"
	" ORDER BY rank LIMIT ?2";
/* Chunks of a file, with how often other files call the functions
 * they define, counted up to CALLS_READ per chunk (a bound on the rows
 * read for names like __init__ or get; the prior saturates at
 * CALLS_MAX, and the calls from the file being edited are taken off
 * per query), and the names of those functions. */
#define CALLS_MAX 16
#define CALLS_READ "32"
static const char SQL_FILE_CHUNKS[] =
	"SELECT ch.id, (SELECT count(*) FROM (SELECT 1 FROM symbols s JOIN edges e"
	"  ON e.dst_name = s.name AND e.kind = 'calls' AND e.file_id != s.file_id"
	"  WHERE s.chunk_id = ch.id AND s.kind IN ('function', 'method') LIMIT " CALLS_READ ")),"
	" (SELECT group_concat(s.name, ' ') FROM symbols s WHERE s.chunk_id = ch.id"
	"  AND s.kind IN ('function', 'method'))"
	" FROM chunks ch WHERE ch.file_id = ?1";
/* The same without the counts (no prior wanted: much less to read). */
static const char SQL_FILE_CHUNK_IDS[] =
	"SELECT id, 0, NULL FROM chunks WHERE file_id = ?1";
static const char SQL_TERM_ROWS[] =
	"SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?1";
static const char SQL_DF[] =
	"SELECT doc FROM chunks_vocab WHERE term = ?1";
/* At most 64 symbols of a name are weighed: names like get or __init__
 * have thousands, and sorting them all is the query's worst case. */
static const char SQL_DEFS[] =
	"SELECT s.chunk_id, CASE s.kind WHEN 'prototype' THEN 0.5"
	" WHEN 'constant' THEN 0.6 ELSE 1.0 END AS w, s.file_id FROM"
	" (SELECT chunk_id, kind, file_id FROM symbols WHERE name = ?1"
	"  AND chunk_id IS NOT NULL LIMIT 64) s"
	" JOIN files f ON f.id = s.file_id JOIN repositories r ON r.id = f.repo_id"
	" WHERE NOT (f.path IS ?3 AND r.name IS ?2) ORDER BY w DESC LIMIT ?4";
/* Functions and methods whose names start with a prefix (a range of
 * symbols_name), never in repo/path, with how often other files call
 * them (up to CALLS_READ, as in SQL_FILE_CHUNKS). */
static const char SQL_PREFIX_DEFS[] =
	"SELECT s.name, s.chunk_id, s.file_id, (SELECT count(*) FROM (SELECT 1 FROM edges e"
	"  WHERE e.dst_name = s.name AND e.kind = 'calls' AND e.file_id != s.file_id"
	"  LIMIT " CALLS_READ "))"
	" FROM symbols s JOIN files f ON f.id = s.file_id JOIN repositories r ON r.id = f.repo_id"
	" WHERE s.name >= ?1 AND s.name < ?2 AND s.kind IN ('function', 'method')"
	" AND s.chunk_id IS NOT NULL AND NOT (f.path IS ?4 AND r.name IS ?3) LIMIT ?5";
static const char SQL_PREFIX_DEFS_UNCOUNTED[] =
	"SELECT s.name, s.chunk_id, s.file_id, 0"
	" FROM symbols s JOIN files f ON f.id = s.file_id JOIN repositories r ON r.id = f.repo_id"
	" WHERE s.name >= ?1 AND s.name < ?2 AND s.kind IN ('function', 'method')"
	" AND s.chunk_id IS NOT NULL AND NOT (f.path IS ?4 AND r.name IS ?3) LIMIT ?5";
static const char SQL_IMPORT_DEFS[] =
	"SELECT name, chunk_id FROM symbols WHERE file_id = ?1"
	" AND chunk_id IS NOT NULL AND kind != 'prototype'";
/* What the stored copy of a file calls, by name. */
static const char SQL_SELF_CALLS[] =
	"SELECT e.dst_name, count(*) FROM repositories r JOIN files f ON f.repo_id = r.id"
	" AND f.path = ?2 JOIN edges e ON e.file_id = f.id AND e.kind = 'calls'"
	" WHERE r.name = ?1 GROUP BY e.dst_name";
static const char SQL_CALLEES[] =
	"SELECT e.dst_name FROM chunks ch JOIN edges e ON e.file_id = ch.file_id"
	" AND e.kind = 'calls' AND e.line BETWEEN ch.start_line AND ch.end_line"
	" WHERE ch.id = ?1 ORDER BY e.line LIMIT 64";
static const char SQL_CHUNK_HIT[] =
	"SELECT ch.start_line, ch.end_line, ch.kind, ch.name, ch.text, f.path, rp.name,"
	" (SELECT signature FROM symbols WHERE chunk_id = ch.id ORDER BY start_line LIMIT 1),"
	" (SELECT ctx_text(doc) FROM symbols WHERE chunk_id = ch.id ORDER BY start_line LIMIT 1)"
	" FROM chunks ch JOIN files f ON f.id = ch.file_id"
	" JOIN repositories rp ON rp.id = f.repo_id WHERE ch.id = ?1";
/* The file by (repository, path) through files' unique index; with no
 * repository, by path alone (a scan, only for that rare call). */
static const char SQL_DOC_CHUNKS[] =
	"WITH me AS (SELECT f.id FROM repositories r JOIN files f ON f.repo_id = r.id"
	"  AND f.path = ?2 WHERE r.name = ?1"
	"  UNION ALL SELECT f.id FROM files f WHERE ?1 IS NULL AND f.path = ?2),"
	" d AS (SELECT DISTINCT e.src_id AS id FROM edges e WHERE e.kind = 'documents' AND ("
	"  (e.dst_type = 'file' AND e.dst_id IN (SELECT id FROM me)) OR"
	"  (e.dst_type = 'symbol' AND e.dst_id IN (SELECT s.id FROM symbols s WHERE s.file_id IN (SELECT id FROM me)))))"
	" SELECT (SELECT min(ch.id) FROM chunks ch WHERE ch.file_id = doc.file_id), 1.0"
	" FROM documents doc WHERE doc.id IN (SELECT id FROM d) LIMIT ?3";

/* A file's chunks with their names (a function's name, or '' for a
 * text window), for the evidence of names at the cursor; a method's
 * name after that of the innermost class holding it and a dot
 * (`Charset.get_body_encoding`), since the chunk names do not say. */
static const char SQL_CHUNK_NAMES[] =
	"SELECT ch.id, CASE WHEN ch.kind = 'method' THEN coalesce((SELECT s.name || '.'"
	"  FROM symbols s WHERE s.file_id = ch.file_id AND s.kind = 'class'"
	"  AND s.start_line <= ch.start_line AND s.end_line >= ch.end_line"
	"  ORDER BY s.start_line DESC LIMIT 1), '') ELSE '' END || ch.name"
	" FROM chunks ch WHERE ch.file_id = ?1";

/* The include names a file's indexing recorded (a header's own
 * includes, followed by the declarations list). */
static const char SQL_FILE_IMPORTS[] =
	"SELECT dst_name FROM edges WHERE file_id = ?1 AND kind = 'imports' LIMIT 64";
/* The prototypes of a header and the definitions of the same names in
 * the header's repository (never the file at ?2), in the header's line
 * order: what a module declares is defined in one of its .c files. */
static const char SQL_DECLS[] =
	"SELECT p.name, p.start_line, p.signature, d.chunk_id, d.file_id FROM symbols p"
	" JOIN symbols d ON d.name = p.name AND d.kind IN ('function', 'method')"
	"  AND d.chunk_id IS NOT NULL"
	" JOIN files df ON df.id = d.file_id"
	" WHERE p.file_id = ?1 AND p.kind = 'prototype'"
	" AND df.repo_id = (SELECT repo_id FROM files WHERE id = ?1) AND df.path IS NOT ?2"
	" ORDER BY p.start_line LIMIT 1024";

static const char *const hot_sql[] = {
	SQL_BM25, SQL_FILE_CHUNKS, SQL_TERM_ROWS, SQL_DF, SQL_DEFS, SQL_PREFIX_DEFS, SQL_IMPORT_DEFS,
	SQL_CALLEES, SQL_CHUNK_HIT, SQL_DOC_CHUNKS, SQL_SELF_CALLS, SQL_FILE_CHUNK_IDS,
	SQL_PREFIX_DEFS_UNCOUNTED,
	SQL_CHUNK_NAMES,
	SQL_FILE_IMPORTS, SQL_DECLS,
};

status_t ctx__store_plans_check(struct ctx *c, char *bad, size_t bad_size,
				struct err *e)
{
	status_t st = ST_OK;

	bad[0] = 0;
	for (size_t i = 0; st == ST_OK && i < sizeof hot_sql / sizeof *hot_sql; i++) {
		struct buf q;
		sqlite3_stmt *s;
		buf_init(&q, 0);
		if ((st = buf_printf(&q, "EXPLAIN QUERY PLAN %s", hot_sql[i]))) {
			buf_release(&q);
			break;
		}
		st = prep(c, buf_cstr(&q), &s, e);
		buf_release(&q);
		while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(s, 3);
			/* A full scan of a table. Not: a virtual table (FTS5
			 * MATCH), a CTE's or a bounded subquery's rows, and the by-path fallback
			 * that its constant guard (?1 IS NULL) skips. */
			char cte[80];
			if (!d || strncmp(d, "SCAN ", 5) != 0 || strstr(d, "VIRTUAL TABLE") ||
			    strncmp(d, "SCAN (subquery", 14) == 0 || bad[0])
				continue;
			snprintf(cte, sizeof cte, " %.*s AS (", (int)strcspn(d + 5, " "), d + 5);
			if (strstr(hot_sql[i], cte))
				continue;
			snprintf(cte, sizeof cte, ") %.*s ", (int)strcspn(d + 5, " "), d + 5);
			if (strstr(hot_sql[i], cte) ||
			    (hot_sql[i] == SQL_DOC_CHUNKS && strncmp(d, "SCAN f ", 7) == 0))
				continue;
			snprintf(bad, bad_size, "%s: %s", d, hot_sql[i]);
		}
		if (st == ST_OK)
			sqlite3_finalize(s);
	}
	return st;
}

/* Steps a statement that returns no rows; the error names what. */
static status_t step_once(struct ctx *c, sqlite3_stmt *s, const char *what,
			  struct err *e)
{
	int rc = sqlite3_step(s);

	return rc == SQLITE_DONE || rc == SQLITE_ROW ? ST_OK : sql_err(c, e, what);
}

/* step_once, then finalizes the statement. */
static status_t run(struct ctx *c, sqlite3_stmt *s, const char *what,
		    struct err *e)
{
	status_t st = step_once(c, s, what, e);

	sqlite3_finalize(s);
	return st;
}

/* run() for a statement from prep_cached (released with done()). */
static status_t run_cached(struct ctx *c, sqlite3_stmt *s, const char *what,
			   struct err *e)
{
	status_t st = step_once(c, s, what, e);

	done(c, s);
	return st;
}

/* Per-file writes of the indexer, prepared once per connection. */
static const char SQL_FILE_DELETE_PATH[] =
	"DELETE FROM files WHERE repo_id = ?1 AND path = ?2";
static const char SQL_FILE_INSERT[] =
	"INSERT INTO files(repo_id, path, hash, size, mtime, lang, skip)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_FILE_TOUCH[] = "UPDATE files SET mtime = ?2 WHERE id = ?1";
static const char SQL_FILE_DELETE[] = "DELETE FROM files WHERE id = ?1";

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* Binds a string that outlives the statement's next step (no copy): the
 * per-file rows, whose strings live in the parse's arena. The statements
 * are reset and their bindings cleared (done()) before it goes. */
static void bind_static(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

status_t ctx__store_open(struct ctx *c, const char *path, struct err *e)
{
	status_t st;

	static const struct {
		const char *name;
		void (*fn)(sqlite3_context *, int, sqlite3_value **);
	} fns[] = { { "ctx_text", sql_ctx_text }, { "ctx_pack", sql_ctx_pack } };

	if ((st = db_open(path, &c->db, e)))
		return st;
	vec_init(&c->fts_pending, sizeof(struct ctx__fts_row));
	for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
		if (sqlite3_create_function(c->db, fns[i].name, 1,
					    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
					    NULL, fns[i].fn, NULL, NULL) != SQLITE_OK) {
			st = err_set(e, ST_INTERNAL, "store: cannot register %s: %s",
				     fns[i].name, sqlite3_errmsg(c->db));
			db_close(c->db);
			c->db = NULL;
			return st;
		}
	}
	/* A page cache that holds the hot part of a large store (64 MB,
	 * filled on demand): queries otherwise re-read the same FTS and
	 * symbol pages from the file on every call. */
	if ((st = db_exec(c->db, "PRAGMA cache_size = -65536", e)) ||
	    (st = ctx__tokenizer_register(c->db, e))) {
		db_close(c->db);
		c->db = NULL;
		return st;
	}
	{
		/* A store that migration 3 is about to pack: its pages end
		 * up part empty, not free, so only a VACUUM gives the room
		 * back (once; best effort: a locked store stays larger). */
		sqlite3_stmt *s;
		int64_t before = 0;
		if (sqlite3_prepare_v2(c->db, "SELECT version FROM schema_version"
				       " WHERE module = 'context'", -1, &s, NULL) == SQLITE_OK) {
			if (sqlite3_step(s) == SQLITE_ROW)
				before = sqlite3_column_int64(s, 0);
			sqlite3_finalize(s);
		}
		if ((st = db_migrate(c->db, "context", migrations,
				     sizeof migrations / sizeof migrations[0], e))) {
			db_close(c->db);
			c->db = NULL;
			return st;
		}
		if (before >= 1 && before < 3 && db_exec(c->db, "VACUUM", NULL) != ST_OK)
			LOG_WARN("context.vacuum", LF_STR("error", sqlite3_errmsg(c->db)));
	}
	return ST_OK;
}

/* A second handle on c's store file, with its own connection: a reader
 * beside c's writes (in WAL mode it sees the last commit before its
 * read began). Its page cache is small: it is for one pass over rows. */
status_t ctx__store_reopen(const struct ctx *c, struct ctx **out, struct err *e)
{
	const char *path = sqlite3_db_filename(c->db, "main");
	struct ctx *c2;
	status_t st;

	*out = NULL;
	if (!path || !*path)
		return err_set(e, ST_UNSUPPORTED, "store: an in-memory store has no second handle");
	if (!(c2 = mem_calloc(1, sizeof *c2)))
		return err_set(e, ST_NOMEM, "context: out of memory");
	c2->cfg = c->cfg;
	if ((st = ctx__store_open(c2, path, e)) ||
	    (st = db_exec(c2->db, "PRAGMA cache_size = -2048", e))) {
		ctx_free(c2);
		return st;
	}
	*out = c2;
	return ST_OK;
}

void ctx__store_close(struct ctx *c)
{
	ctx__store_cache_free(c);
	vec_release(&c->fts_pending);
	if (c->zin) {
		inflateEnd(c->zin);
		mem_free(c->zin);
		c->zin = NULL;
	}
	for (int i = 0; i < CTX_STMT_CACHE; i++) {
		sqlite3_finalize(c->stmt[i]);
		c->stmt[i] = NULL;
		c->stmt_sql[i] = NULL;
	}
	db_close(c->db);
	c->db = NULL;
}

status_t ctx__store_begin(struct ctx *c, struct err *e)
{
	c->fts_pending.len = 0;
	return db_exec(c->db, "BEGIN IMMEDIATE", e);
}

static const char SQL_FTS_INSERT[] =
	"INSERT INTO chunks_fts(rowid, text) VALUES (?1, ?2)";

status_t ctx__store_commit(struct ctx *c, struct err *e)
{
	sqlite3_stmt *s;
	status_t st = ST_OK;

	/* One single-row statement each: no statement savepoint, so FTS5
	 * keeps the terms of the whole transaction in memory and writes
	 * them as one segment at the commit. */
	if (c->fts_pending.len) {
		if ((st = prep_cached(c, SQL_FTS_INSERT, &s, e)))
			return st;
		for (size_t i = 0; i < c->fts_pending.len; i++) {
			const struct ctx__fts_row *r = &VEC_AT(&c->fts_pending, struct ctx__fts_row, i);
			sqlite3_bind_int64(s, 1, r->id);
			sqlite3_bind_text(s, 2, r->text, (int)r->len, SQLITE_STATIC);
			if (sqlite3_step(s) != SQLITE_DONE) {
				st = sql_err(c, e, "fts");
				break;
			}
			sqlite3_reset(s);
		}
		done(c, s);
		c->fts_pending.len = 0;
		if (st)
			return st;
	}
	return db_exec(c->db, "COMMIT", e);
}

status_t ctx__store_compact(struct ctx *c, struct err *e)
{
	sqlite3_stmt *s;
	int64_t pages = 0, free_pages = 0;
	int incremental = 0;
	uint64_t t0 = time_mono_ns(), t1;
	status_t st;

	/*
	 * One segment: smaller (no superseded entries) and faster to query
	 * (one b-tree per term instead of one per segment). It rewrites the
	 * whole FTS index; leaving the segments of a run of 481 files
	 * beside 2,600 others to automerge saved 0.3 s of CPU there but
	 * made queries 10 % slower (docs/internals/context.md).
	 */
	c->compactions++;
	if ((st = db_exec(c->db, "INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')", e)))
		return st;
	t1 = time_mono_ns();
	if ((st = prep(c, "SELECT (SELECT page_count FROM pragma_page_count),"
			  " (SELECT freelist_count FROM pragma_freelist_count),"
			  " (SELECT auto_vacuum FROM pragma_auto_vacuum)", &s, e)))
		return st;
	if (sqlite3_step(s) == SQLITE_ROW) {
		pages = sqlite3_column_int64(s, 0);
		free_pages = sqlite3_column_int64(s, 1);
		incremental = sqlite3_column_int(s, 2) == 2;
	}
	sqlite3_finalize(s);
	/*
	 * Free pages (mostly the segments the merge above replaced) go back
	 * to the file system. A store in incremental auto-vacuum mode (see
	 * db_open) moves pages from the end of the file into them and
	 * truncates it: work for the free pages only (dist-packages' 1,094
	 * of 7,410 in 8 ms, where VACUUM's rewrite of the whole file took
	 * 160). An older store is VACUUMed when more than 1/8 of it is free
	 * (below that the next writes reuse them), which also converts it:
	 * db_open asked for the mode.
	 */
	if (incremental && free_pages > 0)
		st = db_exec(c->db, "PRAGMA incremental_vacuum", e);
	else if (!incremental && pages > 0 && free_pages * 8 > pages) {
		c->vacuums++;
		st = db_exec(c->db, "VACUUM", e);
	}
	LOG_DEBUG("context.compact", LF_INT("pages", pages), LF_INT("free", free_pages),
		  LF_INT("merge_ms", (int64_t)((t1 - t0) / 1000000)),
		  LF_INT("vacuum_ms", (int64_t)((time_mono_ns() - t1) / 1000000)));
	return st;
}

void ctx__store_rollback(struct ctx *c)
{
	c->fts_pending.len = 0;
	if (!sqlite3_get_autocommit(c->db))
		db_exec(c->db, "ROLLBACK", NULL);
}

status_t ctx__store_repo_put(struct ctx *c, const char *name, const char *root,
			     int64_t *id, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	/* Read first: a registered repository needs no write (and so no
	 * lock), which lets a run against a locked store degrade to
	 * counted skips instead of failing. */
	if ((st = prep(c, "SELECT id FROM repositories WHERE name = ?1 AND root = ?2", &s, e)))
		return st;
	bind_text(s, 1, name);
	bind_text(s, 2, root);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		return ST_OK;
	}
	sqlite3_finalize(s);
	if ((st = prep(c, "INSERT INTO repositories(name, root) VALUES (?1, ?2)"
			  " ON CONFLICT(name) DO UPDATE SET root = ?2", &s, e)))
		return st;
	bind_text(s, 1, name);
	bind_text(s, 2, root);
	if ((st = run(c, s, "repository", e)))
		return st;
	return ctx__store_repo_get(c, name, id, e);
}

status_t ctx__store_repo_root(struct ctx *c, const char *name, char *root,
			      size_t n, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep(c, "SELECT root FROM repositories WHERE name = ?1", &s, e)))
		return st;
	bind_text(s, 1, name);
	st = ST_NOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		str_copy(root, (const char *)sqlite3_column_text(s, 0), n);
		st = ST_OK;
	}
	sqlite3_finalize(s);
	return st;
}

status_t ctx__store_repo_get(struct ctx *c, const char *name, int64_t *id,
			     struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep(c, "SELECT id FROM repositories WHERE name = ?1", &s, e)))
		return st;
	bind_text(s, 1, name);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		st = ST_OK;
	} else {
		st = err_set(e, ST_NOTFOUND, "repository '%s' is not indexed", name);
	}
	sqlite3_finalize(s);
	return st;
}

status_t ctx__store_repo_done(struct ctx *c, int64_t id, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep(c, "UPDATE repositories SET indexed_at = ?2 WHERE id = ?1", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
	return run(c, s, "repository", e);
}

status_t ctx__store_files_load(struct ctx *c, int64_t repo, struct hmap *out,
			       struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	int rc;

	if ((st = prep(c, "SELECT id, path, hash, size, mtime FROM files WHERE repo_id = ?1", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, repo);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct ctx__file_rec *f = mem_calloc(1, sizeof *f);
		const char *path = (const char *)sqlite3_column_text(s, 1);
		if (!f) {
			st = ST_NOMEM;
			break;
		}
		f->id = sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 2) == SHA256_LEN) {
			memcpy(f->hash, sqlite3_column_blob(s, 2), SHA256_LEN);
			f->has_hash = 1;
		}
		f->size = sqlite3_column_int64(s, 3);
		f->mtime = sqlite3_column_int64(s, 4);
		if ((st = hmap_put(out, path, strlen(path), f))) {
			mem_free(f);
			break;
		}
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "files");
	sqlite3_finalize(s);
	return st;
}

/* Inserts the chunks, symbols, edges, document or owner rules of p. */
static status_t write_parsed(struct ctx *c, int64_t repo, int64_t fid,
			     const struct ctx__parsed *p, struct err *e)
{
	sqlite3_stmt *sc = NULL, *ss = NULL, *se = NULL;
	int64_t *chunk_ids = NULL, *sym_ids = NULL;
	status_t st;

	chunk_ids = mem_calloc(p->chunks.len + 1, sizeof *chunk_ids);
	sym_ids = mem_calloc(p->syms.len + 1, sizeof *sym_ids);
	if (!chunk_ids || !sym_ids) {
		st = err_set(e, ST_NOMEM, "store: out of memory");
		goto out;
	}
	if ((st = prep_cached(c, "INSERT INTO chunks(file_id, start_line, end_line, kind, name, text)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &sc, e)) ||
	    (st = prep_cached(c, "INSERT INTO symbols(file_id, chunk_id, name, kind, start_line,"
			  " end_line, signature, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &ss, e)) ||
	    (st = prep_cached(c, "INSERT INTO edges(kind, src_type, src_id, dst_type, dst_name,"
			  " file_id, line) VALUES (?1, ?2, ?3, 'name', ?4, ?5, ?6)", &se, e)))
		goto out;
	for (size_t i = 0; i < p->chunks.len; i++) {
		const struct ctx__chunk *ch = &VEC_AT(&p->chunks, struct ctx__chunk, i);
		sqlite3_bind_int64(sc, 1, fid);
		sqlite3_bind_int(sc, 2, ch->start_line);
		sqlite3_bind_int(sc, 3, ch->end_line);
		bind_static(sc, 4, ch->kind);
		bind_static(sc, 5, ch->name);
		if (ch->packed)
			sqlite3_bind_blob(sc, 6, ch->packed, (int)ch->packed_len, SQLITE_STATIC);
		else
			sqlite3_bind_text(sc, 6, ch->text, (int)ch->len, SQLITE_STATIC);
		if (sqlite3_step(sc) != SQLITE_DONE) {
			st = sql_err(c, e, "chunk");
			goto out;
		}
		sqlite3_reset(sc);
		chunk_ids[i] = sqlite3_last_insert_rowid(c->db);
		{
			struct ctx__fts_row r = { chunk_ids[i], ch->text, ch->len };
			if ((st = vec_push(&c->fts_pending, &r))) {
				st = err_set(e, st, "store: out of memory");
				goto out;
			}
		}
	}
	for (size_t i = 0; i < p->syms.len; i++) {
		const struct ctx__sym *sy = &VEC_AT(&p->syms, struct ctx__sym, i);
		sqlite3_bind_int64(ss, 1, fid);
		if (sy->chunk >= 0)
			sqlite3_bind_int64(ss, 2, chunk_ids[sy->chunk]);
		else
			sqlite3_bind_null(ss, 2);
		bind_static(ss, 3, sy->name);
		bind_static(ss, 4, sy->kind);
		sqlite3_bind_int(ss, 5, sy->start_line);
		sqlite3_bind_int(ss, 6, sy->end_line);
		bind_static(ss, 7, sy->signature);
		if (sy->doc_packed)
			sqlite3_bind_blob(ss, 8, sy->doc_packed, (int)sy->doc_packed_len,
					  SQLITE_STATIC);
		else
			bind_static(ss, 8, sy->doc);
		if (sqlite3_step(ss) != SQLITE_DONE) {
			st = sql_err(c, e, "symbol");
			goto out;
		}
		sqlite3_reset(ss);
		sym_ids[i] = sqlite3_last_insert_rowid(c->db);
	}
	for (size_t i = 0; i < p->edges.len; i++) {
		const struct ctx__edge *ed = &VEC_AT(&p->edges, struct ctx__edge, i);
		if (strcmp(ed->kind, "owner_rule") == 0) {
			/* "pattern owner owner ..." of a CODEOWNERS line. */
			sqlite3_stmt *so;
			const char *sp = ed->name;
			size_t pl = strcspn(sp, " \t");
			char *pat = mem_strndup(sp, pl);
			if (!pat) {
				st = ST_NOMEM;
				goto out;
			}
			sp += pl;
			while (*sp) {
				size_t ol;
				while (*sp == ' ' || *sp == '\t')
					sp++;
				ol = strcspn(sp, " \t");
				if (!ol)
					break;
				if ((st = prep(c, "INSERT INTO owners(repo_id, file_id, line, pattern, owner)"
						  " VALUES (?1, ?2, ?3, ?4, ?5)", &so, e))) {
					mem_free(pat);
					goto out;
				}
				sqlite3_bind_int64(so, 1, repo);
				sqlite3_bind_int64(so, 2, fid);
				sqlite3_bind_int(so, 3, ed->line);
				bind_text(so, 4, pat);
				sqlite3_bind_text(so, 5, sp, (int)ol, SQLITE_TRANSIENT);
				if ((st = run(c, so, "owner", e))) {
					mem_free(pat);
					goto out;
				}
				sp += ol;
			}
			mem_free(pat);
			continue;
		}
		bind_static(se, 1, ed->kind);
		if (ed->src_sym >= 0) {
			bind_static(se, 2, "symbol");
			sqlite3_bind_int64(se, 3, sym_ids[ed->src_sym]);
		} else {
			bind_static(se, 2, "file");
			sqlite3_bind_int64(se, 3, fid);
		}
		bind_static(se, 4, ed->name);
		sqlite3_bind_int64(se, 5, fid);
		sqlite3_bind_int(se, 6, ed->line);
		if (sqlite3_step(se) != SQLITE_DONE) {
			st = sql_err(c, e, "edge");
			goto out;
		}
		sqlite3_reset(se);
	}
	if (p->is_doc) {
		sqlite3_stmt *sd;
		const struct ctx_frontmatter *fm = &p->doc.fm;
		if ((st = prep(c, "INSERT INTO documents(file_id, kind, title, status, tags,"
				  " services, paths, date, mentions) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
			       &sd, e)))
			goto out;
		sqlite3_bind_int64(sd, 1, fid);
		bind_text(sd, 2, p->doc.kind);
		bind_text(sd, 3, fm->title);
		bind_text(sd, 4, fm->status);
		bind_text(sd, 5, fm->tags);
		bind_text(sd, 6, fm->services);
		bind_text(sd, 7, fm->paths);
		bind_text(sd, 8, fm->date);
		bind_text(sd, 9, p->doc.mentions);
		st = run(c, sd, "document", e);
	}
out:
	if (sc)
		done(c, sc);
	if (ss)
		done(c, ss);
	if (se)
		done(c, se);
	mem_free(chunk_ids);
	mem_free(sym_ids);
	return st;
}

status_t ctx__store_file_write(struct ctx *c, int64_t repo, const char *path,
			       const uint8_t hash[SHA256_LEN], int64_t size,
			       int64_t mtime, const char *skip,
			       const struct ctx__parsed *p, int64_t *file_id,
			       struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	int64_t fid;

	/* Replacing the row cascades to the old chunks, symbols, edges. */
	if ((st = prep_cached(c, SQL_FILE_DELETE_PATH, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, repo);
	bind_text(s, 2, path);
	if ((st = run_cached(c, s, "file", e)))
		return st;
	if ((st = prep_cached(c, SQL_FILE_INSERT, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, repo);
	bind_text(s, 2, path);
	if (hash)
		sqlite3_bind_blob(s, 3, hash, SHA256_LEN, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 3);
	sqlite3_bind_int64(s, 4, size);
	sqlite3_bind_int64(s, 5, mtime);
	bind_text(s, 6, p ? p->lang : NULL);
	bind_text(s, 7, skip);
	if ((st = run_cached(c, s, "file", e)))
		return st;
	fid = sqlite3_last_insert_rowid(c->db);
	if (file_id)
		*file_id = fid;
	if (p)
		st = write_parsed(c, repo, fid, p, e);
	return st;
}

status_t ctx__store_file_touch(struct ctx *c, int64_t file_id, int64_t mtime,
			       struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep_cached(c, SQL_FILE_TOUCH, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, file_id);
	sqlite3_bind_int64(s, 2, mtime);
	return run_cached(c, s, "file", e);
}

status_t ctx__store_file_delete(struct ctx *c, int64_t file_id, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep_cached(c, SQL_FILE_DELETE, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, file_id);
	return run_cached(c, s, "file", e);
}

/* True when a gitignore-style pattern covers path or one of its folders. */
static int pattern_covers(struct ctx_ignore *ig, const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n >= sizeof tmp)
		return 0;
	if (ctx_ignore_match(ig, path, 0))
		return 1;
	memcpy(tmp, path, n + 1);
	for (size_t i = n; i-- > 0;) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = 0;
		if (ctx_ignore_match(ig, tmp, 1))
			return 1;
	}
	return 0;
}

struct link_file {
	int64_t id;
	char *path;
};

status_t ctx__store_link(struct ctx *c, int64_t repo, struct err *e)
{
	sqlite3_stmt *s = NULL, *ins = NULL;
	struct vec files;
	status_t st;
	int rc;

	vec_init(&files, sizeof(struct link_file));
	if ((st = prep(c, "DELETE FROM edges WHERE kind IN ('documents', 'owns') AND file_id IN"
			  " (SELECT id FROM files WHERE repo_id = ?1)", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, repo);
	if ((st = run(c, s, "edges", e)))
		return st;
	if ((st = prep(c, "SELECT id, path FROM files WHERE repo_id = ?1 AND skip IS NULL", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, repo);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct link_file f = { sqlite3_column_int64(s, 0),
				       mem_strdup((const char *)sqlite3_column_text(s, 1)) };
		if (!f.path || vec_push(&files, &f)) {
			mem_free(f.path);
			st = ST_NOMEM;
			break;
		}
	}
	sqlite3_finalize(s);
	s = NULL;
	if (st)
		goto out;
	if ((st = prep(c, "INSERT INTO edges(kind, src_type, src_id, dst_type, dst_id, file_id)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &ins, e)))
		goto out;

	/* Documents -> files by path globs; -> symbols by mentions. */
	if ((st = prep(c, "SELECT d.id, d.file_id, d.paths, d.mentions FROM documents d"
			  " JOIN files f ON f.id = d.file_id WHERE f.repo_id = ?1", &s, e)))
		goto out;
	sqlite3_bind_int64(s, 1, repo);
	while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW) {
		int64_t did = sqlite3_column_int64(s, 0), dfile = sqlite3_column_int64(s, 1);
		const char *paths = (const char *)sqlite3_column_text(s, 2);
		const char *men = (const char *)sqlite3_column_text(s, 3);
		struct ctx_ignore *ig = NULL;
		if (paths && *paths) {
			if ((st = ctx_ignore_new(&ig)) ||
			    (st = ctx_ignore_add(ig, "", paths, strlen(paths)))) {
				ctx_ignore_free(ig);
				break;
			}
			for (size_t i = 0; i < files.len && st == ST_OK; i++) {
				struct link_file *f = &VEC_AT(&files, struct link_file, i);
				if (f->id == dfile || !pattern_covers(ig, f->path))
					continue;
				bind_text(ins, 1, "documents");
				bind_text(ins, 2, "document");
				sqlite3_bind_int64(ins, 3, did);
				bind_text(ins, 4, "file");
				sqlite3_bind_int64(ins, 5, f->id);
				sqlite3_bind_int64(ins, 6, dfile);
				if (sqlite3_step(ins) != SQLITE_DONE)
					st = sql_err(c, e, "edge");
				sqlite3_reset(ins);
			}
			ctx_ignore_free(ig);
		}
		while (st == ST_OK && men && *men) {
			size_t n = strcspn(men, "\n");
			sqlite3_stmt *q;
			if (n && (st = prep(c, "INSERT INTO edges(kind, src_type, src_id, dst_type, dst_id, file_id)"
					       " SELECT 'documents', 'document', ?1, 'symbol', s.id, ?2"
					       " FROM symbols s JOIN files f ON f.id = s.file_id"
					       " WHERE s.name = ?3 AND f.repo_id = ?4 LIMIT 20", &q, e)) == ST_OK) {
				sqlite3_bind_int64(q, 1, did);
				sqlite3_bind_int64(q, 2, dfile);
				sqlite3_bind_text(q, 3, men, (int)n, SQLITE_TRANSIENT);
				sqlite3_bind_int64(q, 4, repo);
				st = run(c, q, "edge", e);
			}
			men += n;
			if (*men)
				men++;
		}
	}
	sqlite3_finalize(s);
	s = NULL;
	if (st)
		goto out;

	/* Owners: for each file the last matching CODEOWNERS line wins. */
	{
		struct vec rules;	/* struct link_file: id = owners.id, path = pattern */
		struct vec lines;	/* int64 line numbers, parallel */
		int64_t ofile = 0;
		vec_init(&rules, sizeof(struct link_file));
		vec_init(&lines, sizeof(int64_t));
		if ((st = prep(c, "SELECT id, pattern, line, file_id FROM owners WHERE repo_id = ?1"
				  " ORDER BY file_id, line, id", &s, e)) == ST_OK) {
			sqlite3_bind_int64(s, 1, repo);
			while (sqlite3_step(s) == SQLITE_ROW) {
				struct link_file r = { sqlite3_column_int64(s, 0),
						       mem_strdup((const char *)sqlite3_column_text(s, 1)) };
				int64_t ln = sqlite3_column_int64(s, 2);
				ofile = sqlite3_column_int64(s, 3);
				/* Reserve both first: a half-done push would leave the
				 * path owned twice. */
				if (!r.path || vec_reserve(&rules, rules.len + 1) ||
				    vec_reserve(&lines, lines.len + 1) ||
				    vec_push(&rules, &r) || vec_push(&lines, &ln)) {
					mem_free(r.path);
					st = ST_NOMEM;
					break;
				}
			}
			sqlite3_finalize(s);
			s = NULL;
		}
		for (size_t i = 0; st == ST_OK && rules.len && i < files.len; i++) {
			struct link_file *f = &VEC_AT(&files, struct link_file, i);
			int64_t best = -1;
			for (size_t k = rules.len; k-- > 0;) {
				struct link_file *r = &VEC_AT(&rules, struct link_file, k);
				struct ctx_ignore *ig = NULL;
				int hit;
				if ((st = ctx_ignore_new(&ig)) ||
				    (st = ctx_ignore_add(ig, "", r->path, strlen(r->path)))) {
					ctx_ignore_free(ig);
					break;
				}
				hit = pattern_covers(ig, f->path);
				ctx_ignore_free(ig);
				if (hit) {
					best = VEC_AT(&lines, int64_t, k);
					break;
				}
			}
			for (size_t k = 0; st == ST_OK && best >= 0 && k < rules.len; k++) {
				if (VEC_AT(&lines, int64_t, k) != best)
					continue;
				bind_text(ins, 1, "owns");
				bind_text(ins, 2, "owner");
				sqlite3_bind_int64(ins, 3, VEC_AT(&rules, struct link_file, k).id);
				bind_text(ins, 4, "file");
				sqlite3_bind_int64(ins, 5, f->id);
				sqlite3_bind_int64(ins, 6, ofile);
				if (sqlite3_step(ins) != SQLITE_DONE)
					st = sql_err(c, e, "edge");
				sqlite3_reset(ins);
			}
		}
		for (size_t k = 0; k < rules.len; k++)
			mem_free(VEC_AT(&rules, struct link_file, k).path);
		vec_release(&rules);
		vec_release(&lines);
	}
out:
	sqlite3_finalize(s);
	sqlite3_finalize(ins);
	for (size_t i = 0; i < files.len; i++)
		mem_free(VEC_AT(&files, struct link_file, i).path);
	vec_release(&files);
	return st;
}

static int64_t count(struct ctx *c, const char *sql, int64_t repo)
{
	sqlite3_stmt *s;
	int64_t n = 0;

	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(s, 1, repo);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

status_t ctx__store_count(struct ctx *c, int64_t repo,
			  struct ctx_index_stats *st, struct err *e)
{
	(void)e;
	st->chunks = (uint64_t)count(c, "SELECT count(*) FROM chunks JOIN files f ON f.id = file_id WHERE f.repo_id = ?1", repo);
	st->symbols = (uint64_t)count(c, "SELECT count(*) FROM symbols JOIN files f ON f.id = file_id WHERE f.repo_id = ?1", repo);
	st->edges = (uint64_t)count(c, "SELECT count(*) FROM edges JOIN files f ON f.id = file_id WHERE f.repo_id = ?1", repo);
	st->documents = (uint64_t)count(c, "SELECT count(*) FROM documents JOIN files f ON f.id = file_id WHERE f.repo_id = ?1", repo);
	return ST_OK;
}

/* ---- retrieval queries ---------------------------------------------- */

static status_t collect_rows(struct ctx *c, sqlite3_stmt *s, struct vec *out,
			     struct err *e)
{
	int rc;
	status_t st = ST_OK;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct ctx__cand cd = { sqlite3_column_int64(s, 0),
					sqlite3_column_double(s, 1),
					sqlite3_column_count(s) > 2 ? sqlite3_column_int64(s, 2) : 0 };
		if ((st = vec_push(out, &cd)))
			break;
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "query");
	return st;
}

static status_t collect(struct ctx *c, sqlite3_stmt *s, struct vec *out,
			struct err *e)
{
	status_t st = collect_rows(c, s, out, e);

	done(c, s);
	return st;
}

status_t ctx__store_bm25(struct ctx *c, const char *match, int limit,
			 struct vec *out, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep_cached(c, SQL_BM25, &s, e)))
		return st;
	bind_text(s, 1, match);
	sqlite3_bind_int(s, 2, limit);
	return collect(c, s, out, e);
}

/* A file's chunks and their call counts, as cached in c->pop. */
struct ctx__fchunks {
	int counted;		/* calls and names read (else 0 and NULL) */
	size_t n;
	int64_t *id;
	int32_t *calls;		/* up to CALLS_READ */
	char **names;		/* the functions a chunk defines, space-separated; or NULL */
};

static void fchunks_free(struct ctx__fchunks *fc)
{
	for (size_t i = 0; fc->names && i < fc->n; i++)
		mem_free(fc->names[i]);
	mem_free(fc->names);
	mem_free(fc->id);
	mem_free(fc->calls);
	mem_free(fc);
}

/* Room for one more row in fc (capacity *cap, doubled when full), the
 * calls column too when calls is set. ST_NOMEM when memory runs out: the
 * arrays that did grow stay in fc, which the caller frees. */
static status_t fchunks_grow(struct ctx__fchunks *fc, size_t *cap, int calls, struct err *e)
{
	if (fc->n < *cap)
		return ST_OK;
	size_t nc = *cap ? *cap * 2 : 16;
	int64_t *ni = mem_realloc_array(fc->id, nc, sizeof *ni);
	if (ni)
		fc->id = ni;
	int32_t *nk = ni && calls ? mem_realloc_array(fc->calls, nc, sizeof *nk) : NULL;
	if (nk)
		fc->calls = nk;
	char **nn = ni && (nk || !calls) ? mem_realloc_array(fc->names, nc, sizeof *nn) : NULL;
	if (!nn)
		return err_set(e, ST_NOMEM, "store: out of memory");
	fc->names = nn;
	*cap = nc;
	return ST_OK;
}

static void pop_cache_clear(struct ctx *c)
{
	size_t it = 0, kl;
	const void *k;
	void *v;

	while (hmap_next(&c->pop, &it, &k, &kl, &v))
		fchunks_free(v);
	hmap_release(&c->pop);
	hmap_init(&c->pop);
}

/* Reads one file's chunks and call counts (SQL_FILE_CHUNKS). */
static status_t file_chunks_read(struct ctx *c, sqlite3_stmt *s, int64_t file,
				 struct ctx__fchunks **out, struct err *e)
{
	struct ctx__fchunks *fc = mem_calloc(1, sizeof *fc);
	size_t cap = 0;
	status_t st = ST_OK;
	int rc;

	if (!fc)
		return err_set(e, ST_NOMEM, "store: out of memory");
	sqlite3_bind_int64(s, 1, file);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t calls = sqlite3_column_int64(s, 1);
		const char *nm = (const char *)sqlite3_column_text(s, 2);
		if ((st = fchunks_grow(fc, &cap, 1, e)))
			break;
		fc->id[fc->n] = sqlite3_column_int64(s, 0);
		fc->calls[fc->n] = (int32_t)(calls < INT32_MAX - 1 ? calls : INT32_MAX - 1);
		fc->names[fc->n] = NULL;
		if (nm && !(fc->names[fc->n] = mem_strdup(nm))) {
			st = err_set(e, ST_NOMEM, "store: out of memory");
			break;
		}
		fc->n++;
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "file chunks");
	sqlite3_reset(s);
	if (st) {
		fchunks_free(fc);
		return st;
	}
	*out = fc;
	return ST_OK;
}

/* A chunk's calls from other files, less those from the file being
 * edited (self: name -> calls from its stored copy), at most CALLS_MAX. */
static int32_t chunk_calls(const struct ctx__fchunks *fc, size_t j, const struct hmap *self)
{
	int64_t n = fc->calls[j];
	const char *p = fc->names[j];

	while (self && self->len && p && *p) {
		size_t l = strcspn(p, " ");
		void *v;
		if (hmap_get(self, p, l, &v) == ST_OK)
			n -= (intptr_t)v;
		p += l;
		p += *p == ' ';
	}
	return (int32_t)(n < 0 ? 0 : n > CALLS_MAX ? CALLS_MAX : n);
}

/*
 * Empties the neighbour files' cache (c->pop) when it is stale or large.
 * It holds while no chunk was added (max id); a deletion alone may leave
 * ids that no longer exist, which the callers' chunk lookups skip.
 */
static status_t pop_cache_check(struct ctx *c, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep_cached(c, "SELECT max(id) FROM chunks", &s, e)))
		return st;
	int64_t gen = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	done(c, s);
	if (gen != c->pop_gen || c->pop.len > 4096) {
		pop_cache_clear(c);
		c->pop_gen = gen;
	}
	return ST_OK;
}

status_t ctx__store_file_chunks(struct ctx *c, const int64_t *files,
				size_t n_files, int counted, const struct hmap *self,
				struct hmap *out, struct err *e)
{
	sqlite3_stmt *s;
	status_t st = ST_OK;

	if ((st = pop_cache_check(c, e)))
		return st;
	if ((st = prep_cached(c, counted ? SQL_FILE_CHUNKS : SQL_FILE_CHUNK_IDS, &s, e)))
		return st;
	for (size_t i = 0; st == ST_OK && i < n_files; i++) {
		struct ctx__fchunks *fc = NULL, *old = NULL;
		int cached = 1;
		void *v;
		if (hmap_get(&c->pop, &files[i], sizeof files[i], &v) == ST_OK) {
			fc = v;
			if (counted && !fc->counted) {	/* read again, with counts */
				old = fc;
				fc = NULL;
			}
		}
		if (!fc) {
			if ((st = file_chunks_read(c, s, files[i], &fc, e)))
				break;
			fc->counted = counted;
			/* Not cached (an old entry stays): used once and
			 * freed below. */
			cached = hmap_put(&c->pop, &files[i], sizeof files[i], fc) == ST_OK;
			if (cached && old)
				fchunks_free(old);
		}
		for (size_t j = 0; st == ST_OK && j < fc->n; j++)
			st = hmap_put(out, &fc->id[j], sizeof fc->id[j],
				      (void *)(intptr_t)(chunk_calls(fc, j, self) + 1));
		if (!cached)
			fchunks_free(fc);
	}
	done(c, s);
	return st;
}

status_t ctx__store_self_calls(struct ctx *c, const char *repo, const char *path,
			       struct hmap *out, struct err *e)
{
	sqlite3_stmt *s;
	status_t st = ST_OK;
	int rc = SQLITE_DONE;

	if (!repo || !path)
		return ST_OK;
	if ((st = prep_cached(c, SQL_SELF_CALLS, &s, e)))
		return st;
	bind_text(s, 1, repo);
	bind_text(s, 2, path);
	while (st == ST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(s, 0);
		int64_t k = sqlite3_column_int64(s, 1);
		if (n && (st = hmap_put(out, n, strlen(n),
					(void *)(intptr_t)(k < INT32_MAX ? k : INT32_MAX))))
			st = err_set(e, st, "store: out of memory");
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "self calls");
	done(c, s);
	return st;
}

status_t ctx__store_term_rows(struct ctx *c, const char *term,
			      void (*fn)(void *arg, int64_t chunk_id),
			      void *arg, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	char q[80];

	/* A single quoted token (the query tokenizer keeps it whole). */
	if (snprintf(q, sizeof q, "\"%s\"", term) >= (int)sizeof q || strchr(term, '"'))
		return ST_OK;
	if ((st = prep_cached(c, SQL_TERM_ROWS, &s, e)))
		return st;
	bind_text(s, 1, q);
	while (sqlite3_step(s) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(s, 0));
	done(c, s);
	return ST_OK;
}

status_t ctx__store_df(struct ctx *c, const char *term, int64_t *df,
		       struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	void *v;
	size_t n = strlen(term);

	if (hmap_get(&c->df, term, n, &v) == ST_OK) {
		*df = (int64_t)(intptr_t)v - 1;
		return ST_OK;
	}
	if ((st = prep_cached(c, SQL_DF, &s, e)))
		return st;
	bind_text(s, 1, term);
	*df = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	done(c, s);
	if (c->df.len > 100000) {	/* bounded: start over */
		hmap_release(&c->df);
		hmap_init(&c->df);
	}
	/* A failed insert only loses the cache entry. */
	if (*df < INTPTR_MAX)
		(void)hmap_put(&c->df, term, n, (void *)(intptr_t)(*df + 1));
	return ST_OK;
}

status_t ctx__store_nfiles(struct ctx *c, int64_t *n, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep(c, "SELECT count(*) FROM files WHERE skip IS NULL", &s, e)))
		return st;
	*n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return ST_OK;
}

status_t ctx__store_nchunks(struct ctx *c, int64_t *n, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep_cached(c, "SELECT max(id) FROM chunks", &s, e)))
		return st;
	*n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	done(c, s);
	/* The chunks changed since the frequencies were cached. */
	if (*n != c->df_gen) {
		hmap_release(&c->df);
		hmap_init(&c->df);
		c->df_gen = *n;
	}
	return ST_OK;
}

status_t ctx__store_defs(struct ctx *c, const char *name, const char *repo,
			 const char *path, int limit, struct vec *out,
			 struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	/* Bodies before prototypes and constants; never the file itself. */
	if ((st = prep_cached(c, SQL_DEFS, &s, e)))
		return st;
	bind_text(s, 1, name);
	bind_text(s, 2, repo);
	bind_text(s, 3, path);
	sqlite3_bind_int(s, 4, limit);
	return collect(c, s, out, e);
}

status_t ctx__store_prefix_defs(struct ctx *c, const char *prefix,
				const char *repo, const char *path, int limit,
				int counted, ctx__def_fn fn, void *arg, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	char hi[130];
	size_t n = strlen(prefix);
	int rc;

	/* [prefix, prefix with its last byte + 1): every name it starts. */
	if (n == 0 || n >= sizeof hi || (unsigned char)prefix[n - 1] == 0xff)
		return ST_OK;
	memcpy(hi, prefix, n + 1);
	hi[n - 1] = (char)((unsigned char)hi[n - 1] + 1);
	if ((st = prep_cached(c, counted ? SQL_PREFIX_DEFS : SQL_PREFIX_DEFS_UNCOUNTED, &s, e)))
		return st;
	bind_text(s, 1, prefix);
	bind_text(s, 2, hi);
	bind_text(s, 3, repo);
	bind_text(s, 4, path);
	sqlite3_bind_int(s, 5, limit);
	while (st == ST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		st = fn(arg, (const char *)sqlite3_column_text(s, 0),
			sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
			sqlite3_column_int(s, 3));
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "prefix defs");
	done(c, s);
	return st;
}

/* A value that changes whenever the database may have: a commit by
 * another connection (data_version) or a row written through this one
 * (total_changes). 0 when it cannot be read (never equal to a mark). */
static int64_t store_mark(struct ctx *c)
{
	sqlite3_stmt *s;
	int64_t dv = -1;

	if (prep_cached(c, "PRAGMA data_version", &s, NULL) != ST_OK)
		return 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		dv = sqlite3_column_int64(s, 0);
	done(c, s);
	if (dv < 0)
		return 0;
	return (int64_t)(((uint64_t)dv << 40) ^ (uint64_t)sqlite3_total_changes64(c->db)) | 1;
}

/* Refreshes the cached file list of repo when it changed (or is new). */
status_t ctx__store_files_refresh(struct ctx *c, const char *repo, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	int64_t gen = 0, cnt = 0, mark = store_mark(c);

	/* Nothing was written since the list was checked: it holds (the
	 * count below reads every file of the repository). */
	if (mark && mark == c->fc_mark && c->fc_repo && strcmp(c->fc_repo, repo) == 0 &&
	    c->fc_gen >= 0)
		return ST_OK;
	c->fc_mark = 0;

	if ((st = prep_cached(c, "SELECT coalesce(max(f.id), 0), coalesce(sum(f.skip IS NULL), 0), max(r.id) FROM files f"
			      " JOIN repositories r ON r.id = f.repo_id WHERE r.name = ?1", &s, e)))
		return st;
	bind_text(s, 1, repo);
	if (sqlite3_step(s) == SQLITE_ROW) {
		gen = sqlite3_column_int64(s, 0);
		cnt = sqlite3_column_int64(s, 1);
	}
	done(c, s);
	if (c->fc_repo && strcmp(c->fc_repo, repo) == 0 && c->fc_gen == gen &&
	    (int64_t)c->fc_n == cnt) {
		c->fc_mark = mark;
		return ST_OK;
	}
	for (size_t i = 0; i < c->fc_n; i++)
		mem_free(c->fc_path[i]);
	mem_free(c->fc_path);
	mem_free(c->fc_id);
	mem_free(c->fc_repo);
	c->fc_path = NULL;
	c->fc_id = NULL;
	c->fc_n = 0;
	c->fc_repo = mem_strdup(repo);
	c->fc_path = mem_calloc((size_t)cnt + 1, sizeof *c->fc_path);
	c->fc_id = mem_calloc((size_t)cnt + 1, sizeof *c->fc_id);
	if (!c->fc_repo || !c->fc_path || !c->fc_id)
		return err_set(e, ST_NOMEM, "store: out of memory");
	if ((st = prep_cached(c, "SELECT f.id, f.path FROM files f JOIN repositories r ON r.id = f.repo_id"
			      " WHERE r.name = ?1 AND f.skip IS NULL", &s, e)))
		return st;
	bind_text(s, 1, repo);
	while (st == ST_OK && c->fc_n < (size_t)cnt && sqlite3_step(s) == SQLITE_ROW) {
		char *pth = mem_strdup((const char *)sqlite3_column_text(s, 1));
		if (!pth) {
			st = ST_NOMEM;
			break;
		}
		c->fc_id[c->fc_n] = sqlite3_column_int64(s, 0);
		c->fc_path[c->fc_n++] = pth;
	}
	done(c, s);
	c->fc_gen = st == ST_OK ? gen : -1;
	c->fc_mark = st == ST_OK ? mark : 0;
	return st;
}

void ctx__store_cache_free(struct ctx *c)
{
	pop_cache_clear(c);
	c->pop_gen = 0;
	hmap_release(&c->df);
	hmap_init(&c->df);
	c->df_gen = 0;
	for (size_t i = 0; i < c->fc_n; i++)
		mem_free(c->fc_path[i]);
	mem_free(c->fc_path);
	mem_free(c->fc_id);
	mem_free(c->fc_repo);
	c->fc_path = NULL;
	c->fc_id = NULL;
	c->fc_repo = NULL;
	c->fc_n = 0;
	c->fc_mark = 0;
}

/* True when the first n bytes of path are want (w bytes) or end with
 * "/" want. */
static int tail_is(const char *path, size_t n, const char *want, size_t w)
{
	if (n < w || memcmp(path + n - w, want, w) != 0)
		return 0;
	return n == w || path[n - w - 1] == '/';
}

status_t ctx__store_import_defs(struct ctx *c, const char *repo,
				const char *path, const char *import,
				struct hmap *names, struct hmap *files,
				struct err *e)
{
	/* The import's target files: matched to files of the repository by
	 * their path's tail ("http.h"; email/parser.py for email.parser;
	 * utils/x.js for ./utils/x; a package's __init__). */
	char dotted[512], plain[512], pkg[540];
	sqlite3_stmt *s;
	status_t st;
	int found = 0;

	while (import[0] == '.' || import[0] == '/')
		import++;
	if (strlen(import) < 2 || strlen(import) >= sizeof dotted)
		return ST_OK;
	str_copy(plain, import, sizeof plain);
	str_copy(dotted, import, sizeof dotted);
	if (!strchr(dotted, '/'))
		for (char *p = dotted; *p; p++)
			if (*p == '.' || *p == ':')
				*p = '/';
	snprintf(pkg, sizeof pkg, "%s/__init__", dotted);
	if (!c->fc_repo || strcmp(c->fc_repo, repo) != 0)
		return ST_OK;	/* not refreshed for this repository */
	if ((st = prep_cached(c, SQL_IMPORT_DEFS, &s, e)))
		return st;
	size_t lp = strlen(plain), ld = strlen(dotted), lk = strlen(pkg);
	for (size_t i = 0; st == ST_OK && i < c->fc_n && found < 8; i++) {
		const char *fp = c->fc_path[i];
		int64_t fid = c->fc_id[i];
		size_t fl = strlen(fp), ns = fl;
		/* The path without its extension (a dot after the last '/'). */
		while (ns > 0 && fp[ns - 1] != '.' && fp[ns - 1] != '/')
			ns--;
		ns = ns > 0 && fp[ns - 1] == '.' ? ns - 1 : fl;
		if (!tail_is(fp, fl, plain, lp) && !tail_is(fp, ns, dotted, ld) &&
		    !tail_is(fp, ns, pkg, lk))
			continue;
		if (path && strcmp(fp, path) == 0)
			continue;
		found++;
		if (files && hmap_get(files, &fid, sizeof fid, NULL) != ST_OK &&
		    (st = hmap_put(files, &fid, sizeof fid, (void *)(intptr_t)1)))
			break;
		sqlite3_bind_int64(s, 1, fid);
		while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW) {
			const char *n = (const char *)sqlite3_column_text(s, 0);
			int64_t id = sqlite3_column_int64(s, 1);
			st = hmap_put(names, n, strlen(n), (void *)(intptr_t)id);
		}
		sqlite3_reset(s);
	}
	done(c, s);
	return st;
}

status_t ctx__store_callees(struct ctx *c, int64_t chunk_id, const char *repo,
			    const char *path, struct vec *names, int *mine,
			    struct arena *a, struct err *e)
{
	sqlite3_stmt *s;
	status_t st = ST_OK;
	int rc;

	*mine = 0;
	if ((st = prep_cached(c, "SELECT f.path IS ?2 AND r.name IS ?3 FROM chunks ch"
			  " JOIN files f ON f.id = ch.file_id JOIN repositories r ON r.id = f.repo_id"
			  " WHERE ch.id = ?1", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, chunk_id);
	bind_text(s, 2, path);
	bind_text(s, 3, repo);
	if (sqlite3_step(s) == SQLITE_ROW)
		*mine = sqlite3_column_int(s, 0);
	done(c, s);
	if (*mine)
		return ST_OK;
	/* In call order, so the first callees of a chunk come first. */
	if ((st = prep_cached(c, SQL_CALLEES, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, chunk_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char *n = arena_strdup(a, (const char *)sqlite3_column_text(s, 0));
		if (!n || (st = vec_push(names, &n))) {
			st = ST_NOMEM;
			break;
		}
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "callees");
	done(c, s);
	return st;
}

status_t ctx__store_doc_chunks(struct ctx *c, const char *repo,
			       const char *path, int limit, struct vec *out,
			       struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep_cached(c, SQL_DOC_CHUNKS, &s, e)))
		return st;
	bind_text(s, 1, repo);
	bind_text(s, 2, path);
	sqlite3_bind_int(s, 3, limit);
	return collect(c, s, out, e);
}

status_t ctx__result_push(struct ctx_result *r, struct ctx_hit **h)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 16;
		struct ctx_hit *nh = mem_realloc_array(r->hits, nc, sizeof *nh);
		if (!nh)
			return ST_NOMEM;
		r->hits = nh;
		r->cap = nc;
	}
	*h = &r->hits[r->n++];
	memset(*h, 0, sizeof **h);
	(*h)->name = (*h)->signature = (*h)->doc = (*h)->text = "";
	(*h)->kind = (*h)->repo = (*h)->path = "";
	return ST_OK;
}

static const char *col(struct ctx_result *r, sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return arena_strdup(&r->arena, t ? t : "");
}

/* A chunks.text column, inflated when packed into r's arena with the
 * connection's inflate stream (NULL: out of memory; a corrupt one reads
 * as ""). */
static const char *chunk_text(struct ctx *c, struct ctx_result *r,
			      sqlite3_stmt *s, int i)
{
	const unsigned char *b;
	size_t n, len;
	char *out;
	status_t st;

	if (sqlite3_column_type(s, i) != SQLITE_BLOB)
		return col(r, s, i);
	b = sqlite3_column_blob(s, i);
	n = (size_t)sqlite3_column_bytes(s, i);
	if (!(len = packed_size(b, n)))
		return "";
	if (!zin(c) || !(out = arena_alloc(&r->arena, len + 1)))
		return NULL;
	st = inflate_to(c->zin, b, n, out, len);
	if (st == ST_NOMEM)
		return NULL;
	return st == ST_OK ? out : "";
}

status_t ctx__store_chunk_hit(struct ctx *c, int64_t chunk_id,
			      struct ctx_result *r, struct ctx_hit *h,
			      struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep_cached(c, SQL_CHUNK_HIT, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, chunk_id);
	if (sqlite3_step(s) != SQLITE_ROW) {
		done(c, s);
		return err_set(e, ST_NOTFOUND, "chunk %lld", (long long)chunk_id);
	}
	h->chunk_id = chunk_id;
	h->start_line = sqlite3_column_int(s, 0);
	h->end_line = sqlite3_column_int(s, 1);
	h->kind = col(r, s, 2);
	h->name = col(r, s, 3);
	h->text = chunk_text(c, r, s, 4);
	h->path = col(r, s, 5);
	h->repo = col(r, s, 6);
	h->signature = col(r, s, 7);
	h->doc = col(r, s, 8);
	done(c, s);
	if (!h->kind || !h->name || !h->text || !h->path || !h->repo ||
	    !h->signature || !h->doc)
		return err_set(e, ST_NOMEM, "store: out of memory");
	return ST_OK;
}

/* ---- lookups for the CLI --------------------------------------------- */

status_t ctx_symbols_find(struct ctx *c, const char *name, int limit,
			  struct ctx_result *out, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep(c, "SELECT s.kind, s.name, s.start_line, s.end_line, s.signature, ctx_text(s.doc),"
			  " f.path, r.name, s.chunk_id FROM symbols s JOIN files f ON f.id = s.file_id"
			  " JOIN repositories r ON r.id = f.repo_id WHERE s.name = ?1"
			  " ORDER BY s.kind = 'prototype', r.name, f.path, s.start_line LIMIT ?2", &s, e)))
		return st;
	bind_text(s, 1, name);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : 100);
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct ctx_hit *h;
		if ((st = ctx__result_push(out, &h)))
			break;
		h->kind = col(out, s, 0);
		h->name = col(out, s, 1);
		h->start_line = sqlite3_column_int(s, 2);
		h->end_line = sqlite3_column_int(s, 3);
		h->signature = col(out, s, 4);
		h->doc = col(out, s, 5);
		h->path = col(out, s, 6);
		h->repo = col(out, s, 7);
		h->chunk_id = sqlite3_column_int64(s, 8);
		h->text = h->signature;
		h->score = 1.0;
		h->sources = CTX_SRC_SYMBOL;
	}
	sqlite3_finalize(s);
	return st;
}

status_t ctx_owners_of(struct ctx *c, const char *repo, const char *path,
		       struct ctx_result *out, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	int64_t cur_repo = -1, best_line = -1;
	size_t first = out->n;

	/* Evaluated at query time so that paths not indexed (new files)
	 * get owners too; the last matching line per repository wins. */
	if ((st = prep(c, "SELECT o.repo_id, o.line, o.pattern, o.owner, f.path, r.name FROM owners o"
			  " JOIN files f ON f.id = o.file_id JOIN repositories r ON r.id = o.repo_id"
			  " WHERE (?1 IS NULL OR r.name = ?1) ORDER BY o.repo_id, o.line DESC, o.id", &s, e)))
		return st;
	bind_text(s, 1, repo);
	while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW) {
		int64_t rid = sqlite3_column_int64(s, 0), line = sqlite3_column_int64(s, 1);
		const char *pat = (const char *)sqlite3_column_text(s, 2);
		struct ctx_ignore *ig = NULL;
		struct ctx_hit *h;
		int hit;
		if (rid != cur_repo) {
			cur_repo = rid;
			best_line = -1;
		}
		if (best_line >= 0 && line != best_line)
			continue;
		if (best_line < 0) {
			if ((st = ctx_ignore_new(&ig)) ||
			    (st = ctx_ignore_add(ig, "", pat, strlen(pat)))) {
				ctx_ignore_free(ig);
				break;
			}
			hit = pattern_covers(ig, path);
			ctx_ignore_free(ig);
			if (!hit)
				continue;
			best_line = line;
		}
		if ((st = ctx__result_push(out, &h)))
			break;
		h->start_line = h->end_line = (int)line;
		h->text = col(out, s, 2);
		h->name = col(out, s, 3);
		h->path = col(out, s, 4);
		h->repo = col(out, s, 5);
		h->kind = "owner";
		h->score = 1.0;
	}
	sqlite3_finalize(s);
	(void)first;
	return st;
}

status_t ctx_docs_for(struct ctx *c, const char *repo, const char *path,
		      struct ctx_result *out, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	/* Linked through the graph, or by paths globs for unindexed paths. */
	if ((st = prep(c,
		"SELECT d.kind, d.title, d.status, f.path, r.name, d.paths,"
		" (SELECT group_concat(ctx_text(text), '') FROM (SELECT text FROM chunks WHERE file_id = f.id"
		"   ORDER BY start_line LIMIT 1)),"
		" EXISTS (SELECT 1 FROM edges e JOIN files t ON t.id = e.dst_id AND e.dst_type = 'file'"
		"   WHERE e.kind = 'documents' AND e.src_id = d.id AND t.path = ?2)"
		" OR EXISTS (SELECT 1 FROM edges e JOIN symbols sy ON sy.id = e.dst_id AND e.dst_type = 'symbol'"
		"   JOIN files t ON t.id = sy.file_id WHERE e.kind = 'documents' AND e.src_id = d.id AND t.path = ?2)"
		" FROM documents d JOIN files f ON f.id = d.file_id JOIN repositories r ON r.id = f.repo_id"
		" WHERE (?1 IS NULL OR r.name = ?1) ORDER BY d.kind, f.path", &s, e)))
		return st;
	bind_text(s, 1, repo);
	bind_text(s, 2, path);
	while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW) {
		const char *paths = (const char *)sqlite3_column_text(s, 5);
		int linked = sqlite3_column_int(s, 7);
		struct ctx_hit *h;
		if (!linked && paths && *paths) {
			struct ctx_ignore *ig = NULL;
			if ((st = ctx_ignore_new(&ig)) ||
			    (st = ctx_ignore_add(ig, "", paths, strlen(paths)))) {
				ctx_ignore_free(ig);
				break;
			}
			linked = pattern_covers(ig, path);
			ctx_ignore_free(ig);
		}
		if (!linked)
			continue;
		if ((st = ctx__result_push(out, &h)))
			break;
		h->kind = col(out, s, 0);
		h->name = col(out, s, 1);
		h->signature = col(out, s, 2);	/* status */
		h->path = col(out, s, 3);
		h->repo = col(out, s, 4);
		h->text = col(out, s, 6);
		h->start_line = 1;
		h->score = 1.0;
		h->sources = CTX_SRC_DOCS;
	}
	sqlite3_finalize(s);
	return st;
}

status_t ctx_graph_file(struct ctx *c, const char *repo, const char *path,
			struct buf *out, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep(c,
		"WITH me AS (SELECT f.id FROM files f JOIN repositories r ON r.id = f.repo_id"
		"  WHERE r.name = ?1 AND f.path = ?2)"
		" SELECT 'defines', ?2, s.kind || ' ' || s.name FROM symbols s WHERE s.file_id IN (SELECT id FROM me)"
		" UNION ALL SELECT e.kind, CASE e.src_type WHEN 'symbol' THEN"
		"  (SELECT name FROM symbols WHERE id = e.src_id) ELSE ?2 END, e.dst_name"
		"  FROM edges e WHERE e.file_id IN (SELECT id FROM me) AND e.dst_name IS NOT NULL"
		" UNION ALL SELECT 'called-by', s.name, f2.path || ':' || e.line FROM symbols s"
		"  JOIN edges e ON e.kind = 'calls' AND e.dst_name = s.name JOIN files f2 ON f2.id = e.file_id"
		"  WHERE s.file_id IN (SELECT id FROM me) AND e.file_id NOT IN (SELECT id FROM me)"
		" UNION ALL SELECT 'documented-by', ?2, df.path FROM edges e JOIN documents d ON d.id = e.src_id"
		"  JOIN files df ON df.id = d.file_id WHERE e.kind = 'documents' AND e.dst_type = 'file'"
		"  AND e.dst_id IN (SELECT id FROM me)"
		" UNION ALL SELECT 'owned-by', o.owner, ?2 FROM edges e JOIN owners o ON o.id = e.src_id"
		"  WHERE e.kind = 'owns' AND e.dst_id IN (SELECT id FROM me)", &s, e)))
		return st;
	bind_text(s, 1, repo);
	bind_text(s, 2, path);
	while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW)
		st = buf_printf(out, "%s\t%s\t%s\n", sqlite3_column_text(s, 0),
				sqlite3_column_text(s, 1), sqlite3_column_text(s, 2));
	sqlite3_finalize(s);
	return st;
}

/*
 * Each repository's id, name and a digest of what its n-gram corpus is
 * made of: the name, then every file's path, content hash and skip
 * reason in path order. Chunk text follows from a file's content, so an
 * unchanged digest means an unchanged corpus (for one chunker: the
 * caller adds its format version).
 */
status_t ctx__store_repo_digests(struct ctx *c, struct vec *out, struct err *e)
{
	sqlite3_stmt *r = NULL, *f = NULL;
	status_t st;

	if ((st = prep(c, "SELECT id, name FROM repositories ORDER BY id", &r, e)) ||
	    (st = prep(c, "SELECT path, hash, skip FROM files WHERE repo_id = ?1"
			  " ORDER BY path", &f, e)))
		goto out;
	while (st == ST_OK && sqlite3_step(r) == SQLITE_ROW) {
		struct ctx__repo_digest d;
		struct sha256 h;
		const char *name = (const char *)sqlite3_column_text(r, 1);
		memset(&d, 0, sizeof d);
		d.id = sqlite3_column_int64(r, 0);
		str_copy(d.name, name ? name : "", sizeof d.name);
		sha256_begin(&h);
		sha256_add(&h, name ? name : "", name ? strlen(name) + 1 : 1);
		sqlite3_reset(f);
		sqlite3_bind_int64(f, 1, d.id);
		while (sqlite3_step(f) == SQLITE_ROW) {
			for (int k = 0; k < 3; k++) {
				/* Each column with its length, so no two
				 * lists hash alike by shifting bytes. */
				uint32_t n = (uint32_t)sqlite3_column_bytes(f, k);
				const void *p = sqlite3_column_blob(f, k);
				uint8_t t = (uint8_t)sqlite3_column_type(f, k);
				sha256_add(&h, &t, 1);
				sha256_add(&h, &n, 4);
				if (n && p)
					sha256_add(&h, p, n);
			}
		}
		sha256_end(&h, d.digest);
		st = vec_push(out, &d);
		if (st)
			st = err_set(e, st, "store: out of memory");
	}
out:
	sqlite3_finalize(f);
	sqlite3_finalize(r);
	return st;
}

/* Text of one repository's chunks in corpus order, for the n-gram index. */
status_t ctx__store_corpus(struct ctx *c, int64_t repo, ctx__corpus_fn fn,
			   void *arg, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	if ((st = prep(c, "SELECT r.name, f.path, ch.start_line, ch.text FROM files f"
			  " JOIN repositories r ON r.id = f.repo_id JOIN chunks ch ON ch.file_id = f.id"
			  " WHERE f.repo_id = ?1 AND f.skip IS NULL AND ch.kind NOT IN ('adr', 'standard',"
			  " 'incident', 'runbook', 'dependency-policy', 'document')"
			  " ORDER BY f.path, ch.start_line", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, repo);
	/* Packed texts are inflated into one buffer, grown as needed. */
	char *buf = NULL;
	size_t cap = 0;
	while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW) {
		const char *text;
		size_t n;
		if (sqlite3_column_type(s, 3) == SQLITE_BLOB) {
			const unsigned char *b = sqlite3_column_blob(s, 3);
			size_t bn = (size_t)sqlite3_column_bytes(s, 3);
			n = packed_size(b, bn);
			if (n + 1 > cap) {
				char *nb = mem_realloc(buf, n + 1);
				if (!nb) {
					st = err_set(e, ST_NOMEM, "store: out of memory");
					break;
				}
				buf = nb;
				cap = n + 1;
			}
			st = !n ? ST_CORRUPT : !zin(c) ? ST_NOMEM : inflate_to(c->zin, b, bn, buf, n);
			if (st) {
				st = err_set(e, st, "store: chunk of %s: %s",
					     (const char *)sqlite3_column_text(s, 1),
					     st == ST_NOMEM ? "out of memory" : "corrupt packed text");
				break;
			}
			text = buf;
		} else {
			text = (const char *)sqlite3_column_text(s, 3);
			n = (size_t)sqlite3_column_bytes(s, 3);
		}
		st = fn(arg, (const char *)sqlite3_column_text(s, 0),
			(const char *)sqlite3_column_text(s, 1),
			sqlite3_column_int(s, 2), text ? text : "", n);
	}
	mem_free(buf);
	sqlite3_finalize(s);
	return st;
}

status_t ctx__store_tasks(struct ctx *c, size_t limit, ctx__task_fn fn,
			  void *arg, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;

	/* Deterministic pseudo-random order; one task per callee name. */
	if ((st = prep(c,
		"WITH uniq AS (SELECT name FROM symbols WHERE kind IN ('function', 'method')"
		"  GROUP BY name HAVING count(*) = 1 AND length(name) >= 4)"
		" SELECT r.name, r.root, fd.path, s.start_line, s.chunk_id, fc.path, e.line"
		" FROM edges e JOIN uniq u ON u.name = e.dst_name"
		" JOIN symbols s ON s.name = e.dst_name AND s.kind IN ('function', 'method')"
		" JOIN files fc ON fc.id = e.file_id"
		" JOIN files fd ON fd.id = s.file_id AND fd.repo_id = fc.repo_id AND fd.id != fc.id"
		" JOIN repositories r ON r.id = fc.repo_id"
		" WHERE e.kind = 'calls' AND s.chunk_id IS NOT NULL"
		" GROUP BY e.dst_name ORDER BY (e.id * 2654435761) % 1000003 LIMIT ?1", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (int64_t)limit);
	while (st == ST_OK && sqlite3_step(s) == SQLITE_ROW) {
		struct ctx__task t;
		str_copy(t.repo, (const char *)sqlite3_column_text(s, 0), sizeof t.repo);
		str_copy(t.root, (const char *)sqlite3_column_text(s, 1), sizeof t.root);
		str_copy(t.def_path, (const char *)sqlite3_column_text(s, 2), sizeof t.def_path);
		t.def_start = sqlite3_column_int(s, 3);
		t.def_chunk = sqlite3_column_int64(s, 4);
		str_copy(t.call_path, (const char *)sqlite3_column_text(s, 5), sizeof t.call_path);
		t.call_line = sqlite3_column_int(s, 6);
		st = fn(arg, &t);
	}
	sqlite3_finalize(s);
	return st;
}

/* ---- names and signatures of chunks (retrieve.c, retrieve_sig.c) --- */

static const char SQL_CHUNK_SIGS[] =
	"SELECT chunk_id, signature FROM symbols WHERE file_id = ?1"
	" AND chunk_id IS NOT NULL AND signature != ''";

/* Cache keys in c->pop, apart from a file's chunks (its id): its chunk
 * names (the negated id) and its signatures. */
#define NAMES_KEY(f) (-(f))
#define SIGS_KEY(f) (-(f) - ((int64_t)1 << 48))

/* The (chunk id, text) rows sql (one file id parameter) gives for a file,
 * as a cache entry whose calls are unused (NULL); what names the rows in
 * errors. */
static status_t id_texts_read(struct ctx *c, const char *sql, const char *what,
			      int64_t file_id, struct ctx__fchunks **out, struct err *e)
{
	struct ctx__fchunks *fc = mem_calloc(1, sizeof *fc);
	sqlite3_stmt *s;
	size_t cap = 0;
	status_t st;
	int rc = SQLITE_DONE;

	if (!fc)
		return err_set(e, ST_NOMEM, "store: out of memory");
	if ((st = prep_cached(c, sql, &s, e))) {
		fchunks_free(fc);
		return st;
	}
	sqlite3_bind_int64(s, 1, file_id);
	while (st == ST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(s, 1);
		if ((st = fchunks_grow(fc, &cap, 0, e)))
			break;
		fc->id[fc->n] = sqlite3_column_int64(s, 0);
		if (!(fc->names[fc->n] = mem_strdup(n ? n : ""))) {
			st = err_set(e, ST_NOMEM, "store: out of memory");
			break;
		}
		fc->n++;
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, what);
	done(c, s);
	if (st) {
		fchunks_free(fc);
		return st;
	}
	*out = fc;
	return ST_OK;
}

/* Calls fn on each (chunk id, text) row of id_texts_read, read once per
 * file and kept in c->pop under key, so that they are dropped with the
 * neighbour files' chunks when the chunks change or the cache grows. */
static status_t id_texts_each(struct ctx *c, const char *sql, const char *what,
			      int64_t key, int64_t file_id,
			      status_t (*fn)(void *arg, int64_t chunk_id, const char *text),
			      void *arg, struct err *e)
{
	struct ctx__fchunks *fc = NULL;
	status_t st;
	int cached = 1;
	void *v;

	if ((st = pop_cache_check(c, e)))
		return st;
	if (hmap_get(&c->pop, &key, sizeof key, &v) == ST_OK) {
		fc = v;
	} else {
		if ((st = id_texts_read(c, sql, what, file_id, &fc, e)))
			return st;
		/* Not cached (out of memory): used once and freed below. */
		cached = hmap_put(&c->pop, &key, sizeof key, fc) == ST_OK;
	}
	for (size_t i = 0; st == ST_OK && i < fc->n; i++)
		st = fn(arg, fc->id[i], fc->names[i]);
	if (!cached)
		fchunks_free(fc);
	return st;
}

status_t ctx__store_chunk_names(struct ctx *c, int64_t file_id,
				status_t (*fn)(void *arg, int64_t chunk_id, const char *name),
				void *arg, struct err *e)
{
	return id_texts_each(c, SQL_CHUNK_NAMES, "chunk names", NAMES_KEY(file_id), file_id,
			     fn, arg, e);
}

status_t ctx__store_chunk_sigs(struct ctx *c, int64_t file_id,
			       status_t (*fn)(void *arg, int64_t chunk_id, const char *sig),
			       void *arg, struct err *e)
{
	return id_texts_each(c, SQL_CHUNK_SIGS, "chunk signatures", SIGS_KEY(file_id), file_id,
			     fn, arg, e);
}

status_t ctx__store_file_imports(struct ctx *c, int64_t file_id,
				 status_t (*fn)(void *arg, const char *name), void *arg,
				 struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	int rc;

	if ((st = prep_cached(c, SQL_FILE_IMPORTS, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, file_id);
	while (st == ST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(s, 0);
		if (n)
			st = fn(arg, n);
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "file imports");
	done(c, s);
	return st;
}

status_t ctx__store_decls(struct ctx *c, int64_t header_id, const char *path,
			  ctx__decl_fn fn, void *arg, struct err *e)
{
	sqlite3_stmt *s;
	status_t st;
	int rc;

	if ((st = prep_cached(c, SQL_DECLS, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, header_id);
	bind_text(s, 2, path);
	while (st == ST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *sig = (const char *)sqlite3_column_text(s, 2);
		st = fn(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
			sig ? sig : "", sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4));
	}
	if (st == ST_OK && rc != SQLITE_DONE)
		st = sql_err(c, e, "declarations");
	done(c, s);
	return st;
}
