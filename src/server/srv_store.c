/*
 * srv_store.c - identity: users, teams, roles and bearer tokens in the
 * project's SQLite database.
 *
 * A token is "alk_" followed by 64 hex digits of 256 random bits. It is
 * shown once and never stored: the tokens table keeps its SHA-256 (unique,
 * indexed: authentication is one lookup by hash), its first characters for
 * recognition, its expiry and its revocation time.
 */
#include "server/server.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

struct srv_store {
	sqlite3 *db;
	pthread_mutex_t mu;	/* one connection, used by one thread at a time */
};

static const char *const migrations[] = {
	"CREATE TABLE teams ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  max_concurrent INTEGER NOT NULL DEFAULT 0,"
	"  tokens_per_minute INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  team_id INTEGER REFERENCES teams(id),"
	"  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id),"
	"  hash BLOB NOT NULL UNIQUE,"
	"  prefix TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL DEFAULT 0,"
	"  revoked INTEGER NOT NULL DEFAULT 0);",
};

const char *srv_role_name(enum srv_role r)
{
	return r == SRV_ROLE_ADMIN ? "admin" : "member";
}

status_t srv_role_parse(const char *s, enum srv_role *out, struct err *e)
{
	if (s && strcmp(s, "admin") == 0)
		*out = SRV_ROLE_ADMIN;
	else if (s && strcmp(s, "member") == 0)
		*out = SRV_ROLE_MEMBER;
	else
		return err_set(e, ST_INVAL, "role must be admin or member, not '%.32s'",
			       s ? s : "");
	return ST_OK;
}

status_t srv_name_check(const char *what, const char *name, struct err *e)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 63)
		return err_set(e, ST_INVAL, "%s name must be 1 to 63 characters", what);
	if (!isalnum((unsigned char)name[0]))
		return err_set(e, ST_INVAL, "%s name must start with a letter or digit", what);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && !strchr("._@-", ch))
			return err_set(e, ST_INVAL,
				       "%s name may hold only letters, digits and . _ @ -",
				       what);
	}
	return ST_OK;
}

static int64_t now_s(void)
{
	return (int64_t)(time_wall_ns() / 1000000000ull);
}

static status_t sql_err(struct srv_store *s, struct err *e, const char *what)
{
	return err_set(e, ST_IO, "identity store: %s: %s", what, sqlite3_errmsg(s->db));
}

status_t srv_store_open(const char *db_path, struct srv_store **out,
			struct err *e)
{
	struct srv_store *s;
	status_t st;

	*out = NULL;
	if (!(s = mem_calloc(1, sizeof *s)))
		return err_set(e, ST_NOMEM, "out of memory");
	if ((st = db_open(db_path, &s->db, e)) != ST_OK) {
		mem_free(s);
		return st;
	}
	st = db_migrate(s->db, "server", migrations,
			sizeof migrations / sizeof migrations[0], e);
	/* Temporary tables in memory: a sandboxed server cannot write /tmp. */
	if (st == ST_OK)
		st = db_exec(s->db, "PRAGMA temp_store = MEMORY", e);
	if (st != ST_OK) {
		db_close(s->db);
		mem_free(s);
		return st;
	}
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return ST_OK;
}

status_t srv_store_open_dir(const char *data_dir, struct srv_store **out,
			    struct err *e)
{
	char path[4096];
	status_t st;

	*out = NULL;
	if ((st = file_mkdirs(data_dir, 0700, e)))
		return st;
	if ((size_t)snprintf(path, sizeof path, "%s/airlock.db", data_dir) >= sizeof path)
		return err_set(e, ST_INVAL, "data directory path too long");
	return srv_store_open(path, out, e);
}

void srv_store_free(struct srv_store *s)
{
	if (!s)
		return;
	db_close(s->db);
	pthread_mutex_destroy(&s->mu);
	mem_free(s);
}

/* Prepares sql; on failure fills e. */
static status_t prep(struct srv_store *s, const char *sql, sqlite3_stmt **st,
		     struct err *e)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return sql_err(s, e, "prepare");
	return ST_OK;
}

static void col_text(sqlite3_stmt *q, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	str_copy(out, t ? (const char *)t : "", n);
}

status_t srv_team_add(struct srv_store *s, const char *name,
		      int64_t max_concurrent, int64_t tokens_per_minute,
		      int64_t *id, struct err *e)
{
	sqlite3_stmt *q = NULL;
	status_t st;
	int rc;

	if ((st = srv_name_check("team", name, e)))
		return st;
	if (max_concurrent < 0 || tokens_per_minute < 0)
		return err_set(e, ST_INVAL, "team limits must not be negative");
	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, "INSERT INTO teams(name, max_concurrent, tokens_per_minute,"
		       " created) VALUES (?, ?, ?, ?)", &q, e)))
		goto out;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, max_concurrent);
	sqlite3_bind_int64(q, 3, tokens_per_minute);
	sqlite3_bind_int64(q, 4, now_s());
	rc = sqlite3_step(q);
	if (rc == SQLITE_CONSTRAINT)
		st = err_set(e, ST_EXISTS, "team '%s' already exists", name);
	else if (rc != SQLITE_DONE)
		st = sql_err(s, e, "add team");
	else if (id)
		*id = sqlite3_last_insert_rowid(s->db);
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	return st;
}

static void team_row(sqlite3_stmt *q, struct srv_team *t)
{
	memset(t, 0, sizeof *t);
	t->id = sqlite3_column_int64(q, 0);
	col_text(q, 1, t->name, sizeof t->name);
	t->max_concurrent = sqlite3_column_int64(q, 2);
	t->tokens_per_minute = sqlite3_column_int64(q, 3);
	t->created = sqlite3_column_int64(q, 4);
}

#define TEAM_COLS "id, name, max_concurrent, tokens_per_minute, created"

status_t srv_team_get(struct srv_store *s, const char *name,
		      struct srv_team *out, struct err *e)
{
	sqlite3_stmt *q = NULL;
	status_t st;
	int rc;

	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, "SELECT " TEAM_COLS " FROM teams WHERE name = ?", &q, e)))
		goto out;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		team_row(q, out);
	else if (rc == SQLITE_DONE)
		st = err_set(e, ST_NOTFOUND, "no team named '%.63s'", name);
	else
		st = sql_err(s, e, "get team");
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	return st;
}

/*
 * Runs a SELECT and collects its rows into a heap array of elem-sized
 * entries, each filled by row().
 */
static status_t list_rows(struct srv_store *s, const char *sql, size_t elem,
			  void (*row)(sqlite3_stmt *, void *), void **out,
			  size_t *n, struct err *e)
{
	sqlite3_stmt *q = NULL;
	struct vec v;
	void *tmp = NULL;
	status_t st;
	int rc;

	*out = NULL;
	*n = 0;
	vec_init(&v, elem);
	if (!(tmp = mem_alloc(elem)))
		return err_set(e, ST_NOMEM, "out of memory");
	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, sql, &q, e)))
		goto out;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		row(q, tmp);
		if ((st = vec_push(&v, tmp))) {
			err_set(e, st, "out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		st = sql_err(s, e, "list");
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	mem_free(tmp);
	if (st != ST_OK) {
		vec_release(&v);
		return st;
	}
	*out = v.data;
	*n = v.len;
	return ST_OK;
}

static void team_row_v(sqlite3_stmt *q, void *p) { team_row(q, p); }

status_t srv_team_list(struct srv_store *s, struct srv_team **out, size_t *n,
		       struct err *e)
{
	return list_rows(s, "SELECT " TEAM_COLS " FROM teams ORDER BY name",
			 sizeof **out, team_row_v, (void **)out, n, e);
}

status_t srv_user_add(struct srv_store *s, const char *name, const char *team,
		      enum srv_role role, int64_t *id, struct err *e)
{
	struct srv_team t = { 0 };
	sqlite3_stmt *q = NULL;
	status_t st;
	int rc;

	if ((st = srv_name_check("user", name, e)))
		return st;
	if (team && *team && (st = srv_team_get(s, team, &t, e)))
		return st;
	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, "INSERT INTO users(name, team_id, role, created)"
		       " VALUES (?, ?, ?, ?)", &q, e)))
		goto out;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (t.id)
		sqlite3_bind_int64(q, 2, t.id);
	else
		sqlite3_bind_null(q, 2);
	sqlite3_bind_text(q, 3, srv_role_name(role), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, now_s());
	rc = sqlite3_step(q);
	if (rc == SQLITE_CONSTRAINT)
		st = err_set(e, ST_EXISTS, "user '%s' already exists", name);
	else if (rc != SQLITE_DONE)
		st = sql_err(s, e, "add user");
	else if (id)
		*id = sqlite3_last_insert_rowid(s->db);
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	return st;
}

#define USER_COLS "u.id, u.name, coalesce(u.team_id, 0), coalesce(t.name, ''), " \
	"u.role, u.created FROM users u LEFT JOIN teams t ON t.id = u.team_id"

static void user_row(sqlite3_stmt *q, void *p)
{
	struct srv_user *u = p;
	char role[16];

	memset(u, 0, sizeof *u);
	u->id = sqlite3_column_int64(q, 0);
	col_text(q, 1, u->name, sizeof u->name);
	u->team_id = sqlite3_column_int64(q, 2);
	col_text(q, 3, u->team, sizeof u->team);
	col_text(q, 4, role, sizeof role);
	u->role = strcmp(role, "admin") == 0 ? SRV_ROLE_ADMIN : SRV_ROLE_MEMBER;
	u->created = sqlite3_column_int64(q, 5);
}

status_t srv_user_get(struct srv_store *s, const char *name,
		      struct srv_user *out, struct err *e)
{
	sqlite3_stmt *q = NULL;
	status_t st;
	int rc;

	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, "SELECT " USER_COLS " WHERE u.name = ?", &q, e)))
		goto out;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		user_row(q, out);
	else if (rc == SQLITE_DONE)
		st = err_set(e, ST_NOTFOUND, "no user named '%.63s'", name);
	else
		st = sql_err(s, e, "get user");
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	return st;
}

status_t srv_user_list(struct srv_store *s, struct srv_user **out, size_t *n,
		       struct err *e)
{
	return list_rows(s, "SELECT " USER_COLS " ORDER BY u.name", sizeof **out,
			 user_row, (void **)out, n, e);
}

status_t srv_token_create(struct srv_store *s, const char *user, int64_t ttl_ms,
			  char text[SRV_TOKEN_LEN + 1], int64_t *id,
			  struct err *e)
{
	uint8_t raw[32], hash[SHA256_LEN];
	char hex[65], prefix[16];
	struct srv_user u;
	sqlite3_stmt *q = NULL;
	int64_t now = now_s();
	status_t st;

	text[0] = '\0';
	if (ttl_ms < 0)
		return err_set(e, ST_INVAL, "token lifetime must not be negative");
	if ((st = srv_user_get(s, user, &u, e)))
		return st;
	if ((st = random_bytes(raw, sizeof raw)))
		return err_set(e, st, "no randomness for a token");
	hex_encode(raw, sizeof raw, hex);
	snprintf(text, SRV_TOKEN_LEN + 1, "alk_%s", hex);
	sha256(text, SRV_TOKEN_LEN, hash);
	snprintf(prefix, sizeof prefix, "%.12s", text);
	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, "INSERT INTO tokens(user_id, hash, prefix, created, expires)"
		       " VALUES (?, ?, ?, ?, ?)", &q, e)))
		goto out;
	sqlite3_bind_int64(q, 1, u.id);
	sqlite3_bind_blob(q, 2, hash, sizeof hash, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, now);
	sqlite3_bind_int64(q, 5, ttl_ms ? now + (ttl_ms + 999) / 1000 : 0);
	if (sqlite3_step(q) != SQLITE_DONE)
		st = sql_err(s, e, "create token");
	else if (id)
		*id = sqlite3_last_insert_rowid(s->db);
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	memset(raw, 0, sizeof raw);
	if (st != ST_OK)
		memset(text, 0, SRV_TOKEN_LEN + 1);
	return st;
}

status_t srv_token_revoke(struct srv_store *s, int64_t id, struct err *e)
{
	sqlite3_stmt *q = NULL;
	status_t st;

	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, "UPDATE tokens SET revoked = CASE WHEN revoked = 0"
		       " THEN ? ELSE revoked END WHERE id = ?", &q, e)))
		goto out;
	sqlite3_bind_int64(q, 1, now_s());
	sqlite3_bind_int64(q, 2, id);
	if (sqlite3_step(q) != SQLITE_DONE)
		st = sql_err(s, e, "revoke token");
	else if (sqlite3_changes(s->db) == 0)
		st = err_set(e, ST_NOTFOUND, "no token with id %lld", (long long)id);
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	return st;
}

static void token_row(sqlite3_stmt *q, void *p)
{
	struct srv_token_info *t = p;

	memset(t, 0, sizeof *t);
	t->id = sqlite3_column_int64(q, 0);
	t->user_id = sqlite3_column_int64(q, 1);
	col_text(q, 2, t->user, sizeof t->user);
	col_text(q, 3, t->prefix, sizeof t->prefix);
	t->created = sqlite3_column_int64(q, 4);
	t->expires = sqlite3_column_int64(q, 5);
	t->revoked = sqlite3_column_int64(q, 6);
}

status_t srv_token_list(struct srv_store *s, struct srv_token_info **out,
			size_t *n, struct err *e)
{
	return list_rows(s, "SELECT k.id, k.user_id, u.name, k.prefix, k.created,"
			 " k.expires, k.revoked FROM tokens k JOIN users u"
			 " ON u.id = k.user_id ORDER BY k.id",
			 sizeof **out, token_row, (void **)out, n, e);
}

status_t srv_store_authenticate(struct srv_store *s, const char *token,
				int64_t now, struct srv_identity *out,
				struct err *e)
{
	uint8_t hash[SHA256_LEN];
	sqlite3_stmt *q = NULL;
	int64_t expires, revoked;
	status_t st;
	int rc;

	memset(out, 0, sizeof *out);
	if (!token || strlen(token) != SRV_TOKEN_LEN || strncmp(token, "alk_", 4) != 0)
		return err_set(e, ST_AUTH, "invalid token");
	if (!now)
		now = now_s();
	sha256(token, SRV_TOKEN_LEN, hash);
	pthread_mutex_lock(&s->mu);
	if ((st = prep(s, "SELECT k.id, k.expires, k.revoked, u.id, u.name, u.role,"
		       " coalesce(t.id, 0), coalesce(t.name, ''),"
		       " coalesce(t.max_concurrent, 0), coalesce(t.tokens_per_minute, 0)"
		       " FROM tokens k JOIN users u ON u.id = k.user_id"
		       " LEFT JOIN teams t ON t.id = u.team_id WHERE k.hash = ?",
		       &q, e)))
		goto out;
	sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		st = err_set(e, ST_AUTH, "invalid token");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		st = sql_err(s, e, "authenticate");
		goto out;
	}
	out->token_id = sqlite3_column_int64(q, 0);
	expires = sqlite3_column_int64(q, 1);
	revoked = sqlite3_column_int64(q, 2);
	if (revoked) {
		st = err_set(e, ST_AUTH, "token %lld was revoked",
			     (long long)out->token_id);
		goto out;
	}
	if (expires && now >= expires) {
		st = err_set(e, ST_AUTH, "token %lld has expired",
			     (long long)out->token_id);
		goto out;
	}
	out->user_id = sqlite3_column_int64(q, 3);
	col_text(q, 4, out->user, sizeof out->user);
	{
		char role[16];
		col_text(q, 5, role, sizeof role);
		out->role = strcmp(role, "admin") == 0 ? SRV_ROLE_ADMIN : SRV_ROLE_MEMBER;
	}
	out->team_id = sqlite3_column_int64(q, 6);
	col_text(q, 7, out->team, sizeof out->team);
	out->team_max_concurrent = sqlite3_column_int64(q, 8);
	out->team_tokens_per_minute = sqlite3_column_int64(q, 9);
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->mu);
	if (st != ST_OK) {
		int64_t keep = out->token_id;
		memset(out, 0, sizeof *out);
		out->token_id = keep;
	}
	return st;
}
