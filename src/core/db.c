/*
 * db.c - SQLite opened the one way (WAL, foreign keys, busy timeout,
 * incremental auto-vacuum) and per-module schema migrations recorded in
 * schema_version.
 */
#include "core/core.h"

#include <sqlite3.h>
#include <stdio.h>

status_t db_exec(sqlite3 *db, const char *sql, struct err *e)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	status_t st;

	if (rc == SQLITE_OK)
		return ST_OK;
	st = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? ST_BUSY :
	     rc == SQLITE_FULL ? ST_LIMIT :
	     rc == SQLITE_NOMEM ? ST_NOMEM :
	     rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? ST_CORRUPT :
	     rc == SQLITE_READONLY || rc == SQLITE_PERM ? ST_PERM : ST_IO;
	err_set(e, st, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return st;
}

status_t db_open(const char *path, sqlite3 **out, struct err *e)
{
	sqlite3 *db = NULL;
	int rc;
	status_t st;

	*out = NULL;
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, rc == SQLITE_CANTOPEN ? ST_IO : ST_CORRUPT,
			"%s: cannot open database: %s", path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return e ? e->st : ST_IO;
	}
	sqlite3_busy_timeout(db, 5000);
	/*
	 * Incremental auto-vacuum: free pages can be given back by moving
	 * pages from the end of the file into them (PRAGMA
	 * incremental_vacuum), work for the free pages only, instead of a
	 * VACUUM's rewrite of the whole file. The mode takes on a new file
	 * (asked before its first table); an older file keeps its mode
	 * until its next VACUUM, which converts it.
	 */
	st = db_exec(db,
		     "PRAGMA auto_vacuum=INCREMENTAL;"
		     "PRAGMA journal_mode=WAL;"
		     "PRAGMA synchronous=NORMAL;"
		     "PRAGMA foreign_keys=ON;"
		     /* no temporary files: /tmp is not writable in the sandbox */
		     "PRAGMA temp_store=MEMORY;"
		     "CREATE TABLE IF NOT EXISTS schema_version("
		     " module TEXT PRIMARY KEY, version INTEGER NOT NULL);",
		     e);
	if (st != ST_OK) {
		sqlite3_close(db);
		return st;
	}
	*out = db;
	return ST_OK;
}

void db_close(sqlite3 *db)
{
	if (db)
		sqlite3_close(db);
}

status_t db_migrate(sqlite3 *db, const char *module,
		    const char *const *migrations, size_t n, struct err *e)
{
	sqlite3_stmt *q = NULL;
	int64_t version = 0;
	status_t st = ST_OK;

	if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version WHERE module=?1",
			       -1, &q, NULL) != SQLITE_OK)
		return err_set(e, ST_IO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(q, 1, module, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (version > (int64_t)n)
		return err_set(e, ST_UNSUPPORTED,
			       "database schema of %s is version %lld, newer than this "
			       "binary's %zu", module, (long long)version, n);
	for (size_t i = (size_t)version; i < n; i++) {
		char sql[256];
		if ((st = db_exec(db, "BEGIN IMMEDIATE", e)) != ST_OK)
			return st;
		st = db_exec(db, migrations[i], e);
		if (st == ST_OK) {
			snprintf(sql, sizeof sql,
				 "INSERT INTO schema_version(module, version) VALUES('%s', %zu)"
				 " ON CONFLICT(module) DO UPDATE SET version=excluded.version",
				 module, i + 1);
			st = db_exec(db, sql, e);
		}
		if (st != ST_OK) {
			db_exec(db, "ROLLBACK", NULL);
			return st;
		}
		if ((st = db_exec(db, "COMMIT", e)) != ST_OK)
			return st;
	}
	return ST_OK;
}
