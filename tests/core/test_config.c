/* test_config.c - configuration: schema defaults, YAML, environment, errors. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void test_defaults(void **state)
{
	struct config *c;
	struct err e;

	(void)state;
	TH_OK(config_load(NULL, &c, &e));
	assert_string_equal(config_str(c, "server.listen"), "127.0.0.1:8080");
	assert_int_equal(config_int(c, "server.max_body"), 4 << 20);
	assert_int_equal(config_int(c, "server.request_timeout"), 120000);
	assert_int_equal(config_bool(c, "audit.store_content"), 0);
	assert_int_equal(config_list_len(c, "egress.allow"), 0);
	assert_int_equal(config_source(c, "server.listen"), CFG_SRC_DEFAULT);
	config_free(c);
	/* Every schema default is itself valid (config_load checks them). */
}

static void test_file_and_env(void **state)
{
	const char *dir = th_tmpdir();
	const char *path = th_write_file(dir, "airlock.yaml",
		"# comment\n"
		"server:\n"
		"  listen: 0.0.0.0:9000\n"
		"  max_body: 16M\n"
		"audit:\n"
		"  store_content: yes\n"
		"egress:\n"
		"  allow: [\"127.0.0.1:5432\", \"10.0.0.5:8000\"]\n"
		"log.level: debug\n");
	struct config *c;
	struct err e;
	struct buf out;

	(void)state;
	setenv("AIRLOCK_SERVER_THREADS", "3", 1);
	TH_OK(config_load(path, &c, &e));
	unsetenv("AIRLOCK_SERVER_THREADS");
	assert_string_equal(config_str(c, "server.listen"), "0.0.0.0:9000");
	assert_int_equal(config_source(c, "server.listen"), CFG_SRC_FILE);
	assert_int_equal(config_int(c, "server.max_body"), 16 << 20);
	assert_int_equal(config_bool(c, "audit.store_content"), 1);
	assert_int_equal(config_list_len(c, "egress.allow"), 2);
	assert_string_equal(config_list_item(c, "egress.allow", 1), "10.0.0.5:8000");
	assert_null(config_list_item(c, "egress.allow", 2));
	assert_string_equal(config_str(c, "log.level"), "debug");
	assert_int_equal(config_int(c, "server.threads"), 3);
	assert_int_equal(config_source(c, "server.threads"), CFG_SRC_ENV);
	buf_init(&out, 0);
	TH_OK(config_dump(c, &out));
	assert_non_null(strstr(buf_cstr(&out), "listen: \"0.0.0.0:9000\"  # file"));
	assert_non_null(strstr(buf_cstr(&out), "threads: 3  # env"));
	buf_release(&out);
	config_free(c);
	th_tmpdir_cleanup();
}

/* Each bad file gives one error at the right place. */
static void test_bad_configs(void **state)
{
	static const struct { const char *yaml; const char *want; } bad[] = {
		{ "server:\n  listn: x\n", ":2:3: unknown setting 'server.listn'" },
		{ "server:\n  threads: many\n", ":2:12: server.threads: 'many' is not an integer" },
		{ "server:\n  threads: 5000\n", ":2:12: server.threads: '5000' is not an integer in [0, 1024]" },
		{ "audit:\n  store_content: maybe\n", ":2:18: audit.store_content: 'maybe' is not a boolean" },
		{ "log:\n  level: loud\n", ":2:10: log.level: 'loud' is not one of debug|info|warn|error|off" },
		{ "server:\n  max_body: 12parsecs\n", ":2:13: server.max_body: '12parsecs' is not a size" },
		{ "server:\n  max_body: 1\n", ":2:13: server.max_body: 1 is out of range" },
		{ "server:\n  request_timeout: soon\n", ":2:20: server.request_timeout: 'soon' is not a duration" },
		{ "server: [1, 2]\n", ":1:9: 'server' is a section: expected a mapping" },
		{ "server:\n  listen: [a, b]\n", ":2:11: server.listen: expected a single value" },
		{ "server:\n  listen: a\n  listen: b\n", ":3:3: duplicate key 'listen'" },
		{ "- just\n- a list\n", ":1:1: config: the top level must be a mapping" },
		{ "server:\n  listen: \"unterminated\n", "invalid YAML" },
		{ "server:\n\tlisten: x\n", "invalid YAML" },
		{ "egress:\n  allow: [{a: 1}]\n", "egress.allow: list items must be plain values" },
	};
	const char *dir = th_tmpdir();
	char line[1024];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *path = th_write_file(dir, "bad.yaml", bad[i].yaml);
		struct config *c = NULL;
		struct err e;

		err_clear(&e);
		TH_ST(config_load(path, &c, &e), ST_CONFIG);
		assert_null(c);
		err_format(&e, line, sizeof line);
		if (!strstr(line, bad[i].want))
			fail_msg("case %zu: got '%s', want '%s'", i, line, bad[i].want);
		assert_non_null(strstr(line, "bad.yaml"));
	}
	th_tmpdir_cleanup();
}

static void test_missing_and_env_errors(void **state)
{
	struct config *c;
	struct err e;

	(void)state;
	TH_ST(config_load("/nonexistent/airlock.yaml", &c, &e), ST_CONFIG);
	assert_non_null(strstr(e.msg, "not found"));
	setenv("AIRLOCK_MODEL_N_CTX", "7", 1);
	TH_ST(config_load(NULL, &c, &e), ST_CONFIG);
	unsetenv("AIRLOCK_MODEL_N_CTX");
	assert_non_null(strstr(e.msg, "AIRLOCK_MODEL_N_CTX"));
}

static void test_config_alloc_failures(void **state)
{
	const char *dir = th_tmpdir();
	const char *path = th_write_file(dir, "ok.yaml", "server:\n  listen: a:1\n");
	struct config *c;
	struct err e;
	int failures = 0;

	(void)state;
	/* Fail each allocation in turn: always a clean ST_NOMEM (or success
	 * once n passes the total), never a crash or leak (ASan checks). */
	for (long n = 0; n < 400; n++) {
		status_t st;
		c = NULL;
		mem_fail_after(n, 1);
		st = config_load(path, &c, &e);
		mem_fail_reset();
		if (st == ST_OK) {
			config_free(c);
			continue;
		}
		failures++;
		assert_null(c);
		assert_true(st == ST_NOMEM || st == ST_CONFIG);
	}
	assert_true(failures > 10);
	th_tmpdir_cleanup();
}

int run_core_config_tests(void);
int run_core_config_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_env),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_missing_and_env_errors),
		cmocka_unit_test(test_config_alloc_failures),
	};
	return cmocka_run_group_tests_name("core_config", tests, NULL, NULL);
}
