/*
 * test_egress.c - egress.allow entries: what parses (and to which canonical
 * form), what is refused with which message, and the check callers make.
 */
#include "harness.h"
#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const struct {
	const char *in, *canon;
} good[] = {
	{ "127.0.0.1:5432", "127.0.0.1:5432" },
	{ "localhost:8000", "127.0.0.1:8000" },
	{ "LOCALHOST:1", "127.0.0.1:1" },
	{ "10.1.2.3:65535", "10.1.2.3:65535" },
	{ "[::1]:443", "[::1]:443" },
	{ "[fd00:0:0::7]:9000", "[fd00::7]:9000" },
	{ "[::ffff:10.0.0.1]:80", "10.0.0.1:80" },
};

static const struct {
	const char *in, *msg;	/* msg: a substring the error must contain */
} bad[] = {
	{ "", "empty" },
	{ "db.internal:5432", "host name" },
	{ "example.com:443", "never makes DNS lookups" },
	{ "my-host:80", "host name" },
	{ "127.0.0.1", "expected HOST:PORT" },
	{ "127.0.0.1:", "missing port" },
	{ "127.0.0.1:0", "out of range" },
	{ "127.0.0.1:65536", "out of range" },
	{ "127.0.0.1:123456", "bad port" },
	{ "127.0.0.1:80x", "bad port" },
	{ "127.0.0.1:-1", "bad port" },
	{ "127.0.0.1:+80", "bad port" },
	{ "::1:443", "brackets" },
	{ "[::1]443", "expected ':PORT'" },
	{ "[::1:443", "missing ']'" },
	{ "[127.0.0.1]:80", "brackets are for IPv6" },
	{ "[]:80", "empty host" },
	{ ":80", "empty host" },
	{ "0.0.0.0:80", "unspecified" },
	{ "[::]:80", "unspecified" },
	{ "224.0.0.1:80", "multicast" },
	{ "255.255.255.255:80", "broadcast" },
	{ "[ff02::1]:80", "multicast" },
	{ "127.1:80", "not an IP address" },
	{ "0127.0.0.1:80", "not an IP address" },
	{ "[fe80::1%eth0]:80", "host name" },
	{ "127.0.0.1 :80", "space or control" },
	{ "127.0.0.1:80\n", "space or control" },
	{ "1.2.3.4:5:6", "brackets" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
	  "too long" },
};

static void test_endpoint_good(void **state)
{
	struct sbx_endpoint ep;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		err_clear(&e);
		if (sbx_endpoint_parse(good[i].in, &ep, &e) != ST_OK)
			fail_msg("'%s': %s", good[i].in, e.msg);
		assert_string_equal(ep.text, good[i].canon);
	}
}

static void test_endpoint_bad(void **state)
{
	struct sbx_endpoint ep;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		status_t st;
		err_clear(&e);
		st = sbx_endpoint_parse(bad[i].in, &ep, &e);
		if (st != ST_CONFIG)
			fail_msg("'%s': %s, want CONFIG", bad[i].in, status_name(st));
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].in, e.msg,
				 bad[i].msg);
		assert_int_equal(ep.port, 0);
	}
	TH_ST(sbx_endpoint_parse(NULL, &ep, &e), ST_CONFIG);
}

static struct config *load(const char *yaml)
{
	struct config *c = NULL;
	struct err e;
	const char *path = th_write_file(th_tmpdir(), "c.yaml", yaml);

	err_clear(&e);
	if (config_load(path, &c, &e) != ST_OK)
		fail_msg("config: %s", e.msg);
	return c;
}

static void test_egress_check(void **state)
{
	struct config *c;
	struct sockaddr_storage sa;
	socklen_t sl = 0;
	struct err e;

	(void)state;
	c = load("egress:\n  allow: [\"localhost:5432\", \"[::1]:8000\", \"10.0.0.5:443\"]\n");
	err_clear(&e);
	TH_OK(sbx_egress_check(c, "127.0.0.1", 5432, &sa, &sl, &e));
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(sl, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 5432);
	assert_int_equal(ntohl(((struct sockaddr_in *)&sa)->sin_addr.s_addr), 0x7f000001);
	TH_OK(sbx_egress_check(c, "localhost", 5432, NULL, NULL, &e));
	TH_OK(sbx_egress_check(c, "::1", 8000, &sa, &sl, &e));
	assert_int_equal(sa.ss_family, AF_INET6);
	TH_OK(sbx_egress_check(c, "[::1]", 8000, NULL, NULL, &e));
	TH_OK(sbx_egress_check(c, "10.0.0.5", 443, NULL, NULL, &e));

	TH_ST(sbx_egress_check(c, "127.0.0.1", 5433, NULL, NULL, &e), ST_DENIED);
	assert_non_null(strstr(e.msg, "127.0.0.1:5433 is not on egress.allow"));
	TH_ST(sbx_egress_check(c, "::1", 5432, NULL, NULL, &e), ST_DENIED);
	TH_ST(sbx_egress_check(c, "10.0.0.6", 443, NULL, NULL, &e), ST_DENIED);
	TH_ST(sbx_egress_check(c, "db.internal", 5432, NULL, NULL, &e), ST_INVAL);
	assert_non_null(strstr(e.msg, "DNS"));
	TH_ST(sbx_egress_check(c, "127.0.0.1", 0, NULL, NULL, &e), ST_INVAL);
	TH_ST(sbx_egress_check(c, "127.0.0.1", 70000, NULL, NULL, &e), ST_INVAL);
	TH_ST(sbx_egress_check(c, NULL, 80, NULL, NULL, &e), ST_INVAL);
	config_free(c);

	/* An empty list allows nothing. */
	c = load("log:\n  level: warn\n");
	TH_ST(sbx_egress_check(c, "127.0.0.1", 5432, NULL, NULL, &e), ST_DENIED);
	config_free(c);

	/* A bad entry fails the check loudly rather than being skipped. */
	c = load("egress:\n  allow: [\"127.0.0.1:1\", \"upstream:80\"]\n");
	TH_ST(sbx_egress_check(c, "127.0.0.1", 2, NULL, NULL, &e), ST_CONFIG);
	assert_non_null(strstr(e.msg, "egress.allow[1]"));
	config_free(c);
}

int run_sandbox_egress_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_good),
		cmocka_unit_test(test_endpoint_bad),
		cmocka_unit_test(test_egress_check),
	};
	int rc = cmocka_run_group_tests_name("sandbox_egress", tests, NULL, NULL);
	th_tmpdir_cleanup();
	return rc;
}
