/*
 * test_store.c - identity: teams, users, roles, tokens (hash only, expiry,
 * revocation) and authentication's answers.
 */
#include "harness.h"
#include "server/server.h"

#include <sqlite3.h>
#include <string.h>

static void test_identity(void **state)
{
	struct srv_store *s;
	struct srv_identity who;
	struct srv_user *users;
	struct srv_token_info *toks;
	size_t n;
	char tok[SRV_TOKEN_LEN + 1], tok2[SRV_TOKEN_LEN + 1], bad[SRV_TOKEN_LEN + 1];
	int64_t id, id2;
	struct err e;
	int64_t now = (int64_t)(time_wall_ns() / 1000000000ull);

	(void)state;
	TH_OK(srv_store_open_dir(th_tmpdir(), &s, &e));
	TH_OK(srv_team_add(s, "core", 2, 1000, NULL, &e));
	TH_ST(srv_team_add(s, "core", 0, 0, NULL, &e), ST_EXISTS);
	TH_ST(srv_team_add(s, "bad name", 0, 0, NULL, &e), ST_INVAL);
	TH_ST(srv_team_add(s, "", 0, 0, NULL, &e), ST_INVAL);
	TH_ST(srv_team_add(s, "-x", 0, 0, NULL, &e), ST_INVAL);
	TH_OK(srv_user_add(s, "alice", "core", SRV_ROLE_ADMIN, NULL, &e));
	TH_OK(srv_user_add(s, "bob", NULL, SRV_ROLE_MEMBER, NULL, &e));
	TH_ST(srv_user_add(s, "bob", NULL, SRV_ROLE_MEMBER, NULL, &e), ST_EXISTS);
	TH_ST(srv_user_add(s, "carol", "nosuch", SRV_ROLE_MEMBER, NULL, &e), ST_NOTFOUND);
	assert_non_null(strstr(e.msg, "nosuch"));
	TH_OK(srv_user_list(s, &users, &n, &e));
	assert_int_equal(n, 2);
	assert_string_equal(users[0].name, "alice");
	assert_string_equal(users[0].team, "core");
	assert_int_equal(users[0].role, SRV_ROLE_ADMIN);
	assert_string_equal(users[1].team, "");
	mem_free(users);

	TH_OK(srv_token_create(s, "alice", 0, tok, &id, &e));
	assert_int_equal(strlen(tok), SRV_TOKEN_LEN);
	assert_memory_equal(tok, "alk_", 4);
	TH_OK(srv_token_create(s, "bob", 3600 * 1000, tok2, &id2, &e));
	assert_string_not_equal(tok, tok2);
	TH_ST(srv_token_create(s, "nobody", 0, bad, NULL, &e), ST_NOTFOUND);

	TH_OK(srv_store_authenticate(s, tok, 0, &who, &e));
	assert_string_equal(who.user, "alice");
	assert_string_equal(who.team, "core");
	assert_int_equal(who.role, SRV_ROLE_ADMIN);
	assert_int_equal(who.team_max_concurrent, 2);
	assert_int_equal(who.team_tokens_per_minute, 1000);
	assert_int_equal(who.token_id, id);

	/* Unknown, malformed, expired, revoked: all 401-class, each says why. */
	memcpy(bad, tok, sizeof bad);
	bad[10] = bad[10] == 'a' ? 'b' : 'a';
	TH_ST(srv_store_authenticate(s, bad, 0, &who, &e), ST_AUTH);
	assert_string_equal(e.msg, "invalid token");
	TH_ST(srv_store_authenticate(s, "Bearer", 0, &who, &e), ST_AUTH);
	TH_ST(srv_store_authenticate(s, "", 0, &who, &e), ST_AUTH);
	TH_OK(srv_store_authenticate(s, tok2, now, &who, &e));
	TH_ST(srv_store_authenticate(s, tok2, now + 3601, &who, &e), ST_AUTH);
	assert_non_null(strstr(e.msg, "expired"));
	assert_string_equal(who.user, "");
	TH_OK(srv_token_revoke(s, id, &e));
	TH_OK(srv_token_revoke(s, id, &e));
	TH_ST(srv_token_revoke(s, 999, &e), ST_NOTFOUND);
	TH_ST(srv_store_authenticate(s, tok, 0, &who, &e), ST_AUTH);
	assert_non_null(strstr(e.msg, "revoked"));

	TH_OK(srv_token_list(s, &toks, &n, &e));
	assert_int_equal(n, 2);
	assert_true(toks[0].revoked > 0);
	assert_int_equal(toks[1].revoked, 0);
	assert_true(toks[1].expires > 0);
	assert_memory_equal(toks[1].prefix, tok2, 12);
	mem_free(toks);
	srv_store_free(s);
	th_tmpdir_cleanup();
}

/* The database holds no token text: only its SHA-256. */
static void test_token_not_stored(void **state)
{
	struct srv_store *s;
	char tok[SRV_TOKEN_LEN + 1], path[4096], *db;
	size_t len;
	struct err e;
	const char *dir = th_tmpdir();

	(void)state;
	TH_OK(srv_store_open_dir(dir, &s, &e));
	TH_OK(srv_user_add(s, "u", NULL, SRV_ROLE_MEMBER, NULL, &e));
	TH_OK(srv_token_create(s, "u", 0, tok, NULL, &e));
	srv_store_free(s);
	snprintf(path, sizeof path, "%s/airlock.db", dir);
	{
		/* Fold the WAL into the main file so one read sees everything. */
		sqlite3 *d;
		assert_int_equal(sqlite3_open(path, &d), SQLITE_OK);
		sqlite3_wal_checkpoint_v2(d, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_close(d);
	}
	TH_OK(file_read_all(path, 1 << 24, &db, &len, &e));
	assert_null(memmem(db, len, tok + 12, 20));
	mem_free(db);
	th_tmpdir_cleanup();
}

int run_server_store_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_token_not_stored),
	};
	return cmocka_run_group_tests_name("server_store", tests, NULL, NULL);
}
