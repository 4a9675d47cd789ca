/*
 * test_telemetry.c - the metrics registry against exact Prometheus text,
 * name and value validation, concurrent updates; the usage store's
 * totals, acceptance rate, percentiles and daily aggregate; the export
 * sinks (JSONL file, syslog datagrams on a Unix socket, the http sink's
 * egress allowlist check) and their bad configurations. The http sink's
 * delivery is tested in test_http_sink.c.
 */
#include "../harness/harness.h"
#include "telemetry/telemetry.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void test_exposition_exact(void **state)
{
	struct tel_registry *r;
	struct tel_metric *req, *q, *lat, *up;
	const char *lbl[] = { "endpoint", "code" };
	const char *v1[] = { "/v1/completions", "200" };
	const char *v2[] = { "/v1/chat", "500" };
	const char *weird[] = { "a\"b\\c\nd", "200" };
	const double b[] = { 0.1, 0.5, 1 };
	const char *el[] = { "endpoint" };
	const char *ev[] = { "/v1/chat" };
	struct buf out;

	(void)state;
	TH_OK(tel_registry_new(&r));
	TH_OK(tel_counter_new(r, "airlock_requests_total", "Requests served.", lbl, 2, &req, NULL));
	TH_OK(tel_gauge_new(r, "airlock_queue_depth", "Requests waiting.\nSecond \\ line.", NULL,
			    0, &q, NULL));
	TH_OK(tel_histogram_new(r, "airlock_latency_seconds", "Latency.", el, 1, b, 3, &lat, NULL));
	TH_OK(tel_gauge_new(r, "airlock_up", "Up.", NULL, 0, &up, NULL));
	TH_OK(tel_counter_add(req, v1, 1));
	TH_OK(tel_counter_add(req, v1, 2));
	TH_OK(tel_counter_add(req, v2, 1));
	TH_OK(tel_counter_add(req, weird, 0.5));
	TH_OK(tel_gauge_set(q, NULL, 7));
	TH_OK(tel_gauge_add(q, NULL, -2.25));
	TH_OK(tel_histogram_observe(lat, ev, 0.05));
	TH_OK(tel_histogram_observe(lat, ev, 0.3));
	TH_OK(tel_histogram_observe(lat, ev, 0.3));
	TH_OK(tel_histogram_observe(lat, ev, 7));
	TH_OK(tel_gauge_set(up, NULL, INFINITY));
	buf_init(&out, 0);
	TH_OK(tel_registry_expose(r, &out));
	assert_string_equal(buf_cstr(&out),
		"# HELP airlock_requests_total Requests served.\n"
		"# TYPE airlock_requests_total counter\n"
		"airlock_requests_total{endpoint=\"/v1/chat\",code=\"500\"} 1\n"
		"airlock_requests_total{endpoint=\"/v1/completions\",code=\"200\"} 3\n"
		"airlock_requests_total{endpoint=\"a\\\"b\\\\c\\nd\",code=\"200\"} 0.5\n"
		"# HELP airlock_queue_depth Requests waiting.\\nSecond \\\\ line.\n"
		"# TYPE airlock_queue_depth gauge\n"
		"airlock_queue_depth 4.75\n"
		"# HELP airlock_latency_seconds Latency.\n"
		"# TYPE airlock_latency_seconds histogram\n"
		"airlock_latency_seconds_bucket{endpoint=\"/v1/chat\",le=\"0.1\"} 1\n"
		"airlock_latency_seconds_bucket{endpoint=\"/v1/chat\",le=\"0.5\"} 3\n"
		"airlock_latency_seconds_bucket{endpoint=\"/v1/chat\",le=\"1\"} 3\n"
		"airlock_latency_seconds_bucket{endpoint=\"/v1/chat\",le=\"+Inf\"} 4\n"
		"airlock_latency_seconds_sum{endpoint=\"/v1/chat\"} 7.65\n"
		"airlock_latency_seconds_count{endpoint=\"/v1/chat\"} 4\n"
		"# HELP airlock_up Up.\n"
		"# TYPE airlock_up gauge\n"
		"airlock_up +Inf\n");
	buf_release(&out);
	tel_registry_free(r);
}

static void test_format_double(void **state)
{
	static const struct { double v; const char *want; } cases[] = {
		{ 0, "0" }, { 1, "1" }, { -3, "-3" }, { 0.1, "0.1" }, { 1e-09, "1e-09" },
		{ 123456789012, "1.23456789012e+11" }, { 40000, "40000" }, { 1e6, "1e+06" },
		{ 123456, "123456" }, { 0.0001, "0.0001" }, { 0.00001, "1e-05" }, { 2.5, "2.5" }, { 1.0 / 3, "0.3333333333333333" },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tel_format_double(cases[i].v, out, sizeof out);
		assert_string_equal(out, cases[i].want);
	}
	tel_format_double(NAN, out, sizeof out);
	assert_string_equal(out, "NaN");
	tel_format_double(-INFINITY, out, sizeof out);
	assert_string_equal(out, "-Inf");
}

static void test_bad_metrics(void **state)
{
	struct tel_registry *r;
	struct tel_metric *m, *h;
	const char *bad_lbl[] = { "__x" };
	const char *le[] = { "le" };
	const char *two[] = { "a", "a" };
	const char *one[] = { "a" };
	const double down[] = { 1, 0.5 };

	(void)state;
	TH_OK(tel_registry_new(&r));
	TH_ST(tel_counter_new(r, "", "h", NULL, 0, &m, NULL), ST_INVAL);
	TH_ST(tel_counter_new(r, "1abc", "h", NULL, 0, &m, NULL), ST_INVAL);
	TH_ST(tel_counter_new(r, "a-b", "h", NULL, 0, &m, NULL), ST_INVAL);
	TH_ST(tel_counter_new(r, "ok", "h", bad_lbl, 1, &m, NULL), ST_INVAL);
	TH_ST(tel_counter_new(r, "ok", "h", two, 2, &m, NULL), ST_INVAL);
	TH_ST(tel_histogram_new(r, "ok", "h", le, 1, NULL, 0, &m, NULL), ST_INVAL);
	TH_ST(tel_histogram_new(r, "ok", "h", NULL, 0, down, 2, &m, NULL), ST_INVAL);
	TH_OK(tel_counter_new(r, "ok:total", "h", one, 1, &m, NULL));
	TH_ST(tel_gauge_new(r, "ok:total", "h", NULL, 0, &m, NULL), ST_EXISTS);
	TH_ST(tel_counter_add(m, one, -1), ST_INVAL);
	TH_ST(tel_counter_add(m, one, NAN), ST_INVAL);
	TH_ST(tel_counter_add(m, NULL, 1), ST_INVAL);	/* missing label value */
	TH_ST(tel_gauge_set(m, one, 1), ST_INVAL);	/* wrong kind */
	TH_OK(tel_histogram_new(r, "h", "h", NULL, 0, NULL, 0, &h, NULL));
	TH_OK(tel_histogram_observe(h, NULL, 0.2));
	tel_registry_free(r);
}

/* Series are capped so label values from input cannot exhaust memory. */
static void test_series_limit(void **state)
{
	struct tel_registry *r;
	struct tel_metric *m;
	const char *lbl[] = { "user" };
	char v[32];
	const char *vals[] = { v };
	status_t st = ST_OK;
	int i;

	(void)state;
	TH_OK(tel_registry_new(&r));
	TH_OK(tel_counter_new(r, "c", "h", lbl, 1, &m, NULL));
	for (i = 0; i < 10001 && st == ST_OK; i++) {
		snprintf(v, sizeof v, "u%d", i);
		st = tel_counter_add(m, vals, 1);
	}
	assert_int_equal(i, 10001);
	TH_ST(st, ST_LIMIT);
	tel_registry_free(r);
}

struct thr {
	struct tel_metric *c, *h;
};

static void *hammer(void *p)
{
	struct thr *t = p;
	const char *v[] = { "x" };

	for (int i = 0; i < 10000; i++) {
		tel_counter_add(t->c, v, 1);
		tel_histogram_observe(t->h, NULL, 0.01);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct tel_registry *r;
	struct thr t;
	pthread_t th[4];
	const char *lbl[] = { "k" };
	struct buf out;

	(void)state;
	TH_OK(tel_registry_new(&r));
	TH_OK(tel_counter_new(r, "c_total", "c", lbl, 1, &t.c, NULL));
	TH_OK(tel_histogram_new(r, "h_seconds", "h", NULL, 0, NULL, 0, &t.h, NULL));
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, &t);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	buf_init(&out, 0);
	TH_OK(tel_registry_expose(r, &out));
	assert_non_null(strstr(buf_cstr(&out), "c_total{k=\"x\"} 40000\n"));
	assert_non_null(strstr(buf_cstr(&out), "h_seconds_count 40000\n"));
	assert_non_null(strstr(buf_cstr(&out), "h_seconds_bucket{le=\"0.005\"} 0\n"));
	assert_non_null(strstr(buf_cstr(&out), "h_seconds_bucket{le=\"0.01\"} 40000\n"));
	buf_release(&out);
	tel_registry_free(r);
}

/* ---- usage store ---- */

#define DAY1 1764547200000000000ull	/* 2025-12-01T00:00:00Z */
#define DAY2 (DAY1 + 86400000000000ull)

static struct sqlite3 *open_db(const char *dir)
{
	char path[4200];
	struct sqlite3 *db;
	struct err e;

	snprintf(path, sizeof path, "%s/airlock.db", dir);
	err_clear(&e);
	if (db_open(path, &db, &e) != ST_OK)
		fail_msg("db_open: %s", e.msg);
	return db;
}

struct rows {
	char text[2048];
	size_t len;
};

static int row_cb(void *arg, const struct tel_daily *d)
{
	struct rows *r = arg;

	r->len += (size_t)snprintf(r->text + r->len, sizeof r->text - r->len,
				   "%s %s %s %s req=%lld tok=%lld/%lld shown=%lld acc=%lld lat=%.1f\n",
				   d->day, d->team, d->user, d->model, (long long)d->requests,
				   (long long)d->prompt_tokens, (long long)d->output_tokens,
				   (long long)d->shown, (long long)d->accepted, d->latency_avg_ms);
	return 0;
}

static void test_usage_store(void **state)
{
	const char *dir = th_tmpdir();
	struct sqlite3 *db = open_db(dir);
	struct tel_store *s;
	struct tel_summary sum;
	struct tel_filter pay = { .team = "pay" }, all = { 0 }, late = { .since_ns = DAY2 };
	struct rows rows = { { 0 }, 0 };

	(void)state;
	TH_OK(tel_store_open(db, NULL, &s, NULL));
	for (int i = 1; i <= 10; i++) {
		struct tel_usage u = { .time_ns = DAY1 + (uint64_t)i, .request_id = "r",
				       .user = i <= 6 ? "ana" : "bob", .team = i <= 8 ? "pay" : "ops",
				       .model = "qwen", .language = "c", .prompt_tokens = 100,
				       .output_tokens = 10, .latency_ms = i * 10.0,
				       .ttft_ms = i, .cache_hit = i % 2 };
		TH_OK(tel_usage_record(s, &u, NULL));
	}
	{
		struct tel_usage u = { .time_ns = DAY2, .user = "ana", .team = "pay", .model = "qwen",
				       .prompt_tokens = 5, .output_tokens = 1, .latency_ms = 1000,
				       .ttft_ms = -1 };
		TH_OK(tel_usage_record(s, &u, NULL));
	}
	for (int i = 0; i < 8; i++) {
		struct tel_feedback f = { .time_ns = DAY1 + 100, .user = "ana", .team = "pay",
					  .model = "qwen", .kind = TEL_FB_SHOWN };
		TH_OK(tel_feedback_record(s, &f, NULL));
		f.kind = i < 3 ? TEL_FB_ACCEPTED : i < 5 ? TEL_FB_PARTIAL : TEL_FB_REJECTED;
		TH_OK(tel_feedback_record(s, &f, NULL));
	}
	TH_OK(tel_usage_summary(s, &all, &sum, NULL));
	assert_int_equal(sum.requests, 11);
	assert_int_equal(sum.prompt_tokens, 1005);
	assert_int_equal(sum.cache_hits, 5);
	assert_int_equal(sum.shown, 8);
	assert_int_equal(sum.accepted, 3);
	assert_int_equal(sum.partial, 2);
	assert_int_equal(sum.rejected, 3);
	assert_true(fabs(sum.acceptance_rate - 5.0 / 8) < 1e-12);
	/* latencies 10..100 and 1000: nearest rank p50 = 6th = 60, p90 = 10th =
	 * 100, p99 = 11th = 1000 */
	assert_true(sum.latency_p50 == 60 && sum.latency_p90 == 100 && sum.latency_p99 == 1000);
	assert_true(sum.ttft_p50 == 5);	/* 10 known ttfts 1..10 */
	TH_OK(tel_usage_summary(s, &pay, &sum, NULL));
	assert_int_equal(sum.requests, 9);
	TH_OK(tel_usage_summary(s, &late, &sum, NULL));
	assert_int_equal(sum.requests, 1);
	assert_true(sum.acceptance_rate < 0);
	TH_OK(tel_usage_daily(s, &all, row_cb, &rows, NULL));
	assert_string_equal(rows.text,
		"2025-12-01 ops bob qwen req=2 tok=200/20 shown=0 acc=0 lat=95.0\n"
		"2025-12-01 pay ana qwen req=6 tok=600/60 shown=8 acc=5 lat=35.0\n"
		"2025-12-01 pay bob qwen req=2 tok=200/20 shown=0 acc=0 lat=75.0\n"
		"2025-12-02 pay ana qwen req=1 tok=5/1 shown=0 acc=0 lat=1000.0\n");
	tel_store_close(s);
	/* Reopening migrates nothing twice and keeps the data. */
	TH_OK(tel_store_open(db, NULL, &s, NULL));
	TH_OK(tel_usage_summary(s, &all, &sum, NULL));
	assert_int_equal(sum.requests, 11);
	tel_store_close(s);
	db_close(db);
	th_tmpdir_cleanup();
}

/* ---- sinks ---- */

static void test_sinks(void **state)
{
	const char *dir = th_tmpdir();
	char jsonl[4200], sock[200], got[512];
	const char *names[] = { "jsonl", "syslog" };
	struct tel_sink_options o = { .names = names, .n_names = 2, .jsonl_path = jsonl,
				      .syslog_socket = sock };
	struct tel_sinks *s;
	struct sockaddr_un sa;
	struct sqlite3 *db;
	struct tel_store *st;
	int fd;
	ssize_t n;
	char *text;
	size_t len;

	(void)state;
	snprintf(jsonl, sizeof jsonl, "%s/events.jsonl", dir);
	snprintf(sock, sizeof sock, "/tmp/airlock-sink-%ld.sock", (long)getpid());
	unlink(sock);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	str_copy(sa.sun_path, sock, sizeof sa.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);

	TH_OK(tel_sinks_open(&o, &s, NULL));
	db = open_db(dir);
	TH_OK(tel_store_open(db, s, &st, NULL));
	{
		struct tel_feedback f = { .time_ns = DAY1, .request_id = "r1", .user = "ana",
					  .kind = TEL_FB_PARTIAL, .accepted_chars = 12 };
		TH_OK(tel_feedback_record(st, &f, NULL));
	}
	n = recv(fd, got, sizeof got - 1, 0);
	assert_true(n > 0);
	got[n] = '\0';
	assert_non_null(strstr(got, "<14>airlock["));
	assert_non_null(strstr(got, "]: {\"event\":\"feedback\",\"time_ns\":1764547200000000000,"
				    "\"day\":\"2025-12-01\",\"request_id\":\"r1\",\"user\":\"ana\","
				    "\"team\":null,\"model\":null,\"kind\":\"partial\","
				    "\"accepted_chars\":12}"));
	TH_OK(file_read_all(jsonl, 1 << 20, &text, &len, NULL));
	assert_int_equal(text[len - 1], '\n');
	text[len - 1] = '\0';
	assert_string_equal(text, strstr(got, "{"));
	mem_free(text);
	tel_store_close(st);
	db_close(db);
	tel_sinks_close(s);
	close(fd);
	unlink(sock);
	th_tmpdir_cleanup();
}

static status_t deny_all(void *arg, const char *host, int port, struct err *e)
{
	(void)arg;
	return err_set(e, ST_DENIED, "denied %s:%d", host, port);
}

static void test_sink_config_errors(void **state)
{
	const char *none[] = { "carrier-pigeon" };
	const char *http[] = { "http" };
	const char *sys[] = { "syslog" };
	const char *allow[] = { "10.0.0.5:4318" };
	struct tel_sink_options o;
	struct tel_sinks *s;
	struct err e;

	(void)state;
	memset(&o, 0, sizeof o);
	TH_OK(tel_sinks_open(&o, &s, NULL));
	assert_null(s);	/* off by default */
	o.names = none;
	o.n_names = 1;
	err_clear(&e);
	TH_ST(tel_sinks_open(&o, &s, &e), ST_CONFIG);
	assert_non_null(strstr(e.msg, "unknown sink 'carrier-pigeon'"));
	o.names = http;
	o.http_url = "http://10.0.0.9:4318/v1/logs";
	err_clear(&e);
	TH_ST(tel_sinks_open(&o, &s, &e), ST_DENIED);
	assert_non_null(strstr(e.msg, "10.0.0.9:4318 is not in egress.allow"));
	o.http_url = "http://10.0.0.5:4318/v1/logs";
	o.egress_allow = allow;
	o.n_allow = 1;
	err_clear(&e);
	TH_OK(tel_sinks_open(&o, &s, &e));
	assert_non_null(s);	/* opened; nothing is sent until an event arrives */
	tel_sinks_close(s);
	/* The server's egress decision, when given, is the one that counts. */
	o.egress_check = deny_all;
	err_clear(&e);
	TH_ST(tel_sinks_open(&o, &s, &e), ST_DENIED);
	assert_string_equal(e.msg, "denied 10.0.0.5:4318");
	o.egress_check = NULL;
	{
		static const struct { const char *url; status_t want; const char *msg; } u[] = {
			{ "http://10.0.0.5/v1", ST_INVAL, "host:port explicitly" },
			{ "ftp://10.0.0.5:4318/", ST_INVAL, "not an http(s) URL" },
			{ "http://user@10.0.0.5:4318/", ST_INVAL, "credentials" },
			{ "http://collector.internal:4318/", ST_INVAL, "is a host name" },
			{ "http://10.0.0.5:0/", ST_INVAL, "bad port" },
			{ "http://10.0.0.5:99999/", ST_INVAL, "bad port" },
			{ "http://10.0.0.5:/", ST_INVAL, "bad host or port" },
			{ "http://[::1:4318/", ST_INVAL, "[address]:port" },
			{ "http://[::1]:4318/", ST_DENIED, "[::1]:4318 is not in egress.allow" },
			{ "https://10.0.0.5:4318", ST_OK, "" },
		};
		for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
			status_t st;

			err_clear(&e);
			st = tel_egress_check(u[i].url, allow, 1, &e);
			if (st != u[i].want || !strstr(e.msg, u[i].msg))
				fail_msg("%s: got %s '%s', want %s '%s'", u[i].url, status_name(st),
					 e.msg, status_name(u[i].want), u[i].msg);
		}
	}
	o.names = sys;
	o.syslog_socket = "/nonexistent/dir/log";
	err_clear(&e);
	TH_ST(tel_sinks_open(&o, &s, &e), ST_IO);
	assert_non_null(strstr(e.msg, "/nonexistent/dir/log"));
}

static void test_std_families(void **state)
{
	struct tel_registry *r;
	struct tel_std m;
	struct buf out;
	const char *ra[] = { "secrets.aws", "redact" };

	(void)state;
	TH_OK(tel_registry_new(&r));
	TH_OK(tel_std_register(r, &m, NULL));
	TH_OK(tel_std_request(&m, "/v1/completions", 200, "qwen", 0.2, 0.04, 120, 16, 1));
	TH_OK(tel_counter_add(m.policy_decisions, ra, 1));
	TH_OK(tel_counter_set(m.audit_appends, NULL, 10));
	TH_ST(tel_counter_set(m.audit_appends, NULL, 9), ST_INVAL);
	buf_init(&out, 0);
	TH_OK(tel_registry_expose(r, &out));
	assert_non_null(strstr(buf_cstr(&out),
		"airlock_http_requests_total{endpoint=\"/v1/completions\",code=\"200\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&out),
		"airlock_http_request_duration_seconds_bucket{endpoint=\"/v1/completions\","
		"le=\"0.1\"} 0\n"
		"airlock_http_request_duration_seconds_bucket{endpoint=\"/v1/completions\","
		"le=\"0.25\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&out),
		"airlock_time_to_first_token_seconds_bucket{model=\"qwen\",le=\"0.05\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&out),
		"airlock_tokens_total{model=\"qwen\",kind=\"output\"} 16\n"
		"airlock_tokens_total{model=\"qwen\",kind=\"prompt\"} 120\n"));
	assert_non_null(strstr(buf_cstr(&out),
		"airlock_prompt_cache_requests_total{result=\"hit\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&out),
		"airlock_policy_decisions_total{rule=\"secrets.aws\",action=\"redact\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&out), "\nairlock_audit_appends_total 10\n"));
	/* A family without labels shows 0 before anything happened. */
	assert_non_null(strstr(buf_cstr(&out),
		"# HELP airlock_queue_depth Requests waiting for the scheduler.\n"
		"# TYPE airlock_queue_depth gauge\nairlock_queue_depth 0\n# HELP"));
	buf_release(&out);
	tel_registry_free(r);
}

int run_telemetry_http_tests(void);

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition_exact),
		cmocka_unit_test(test_format_double),
		cmocka_unit_test(test_bad_metrics),
		cmocka_unit_test(test_series_limit),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_std_families),
		cmocka_unit_test(test_usage_store),
		cmocka_unit_test(test_sinks),
		cmocka_unit_test(test_sink_config_errors),
	};

	int failed;

	log_setup(LOG_OFF, LOG_FMT_HUMAN, NULL);
	failed = cmocka_run_group_tests_name("telemetry", tests, NULL, NULL);
	failed += run_telemetry_http_tests();
	return failed ? 1 : 0;
}
