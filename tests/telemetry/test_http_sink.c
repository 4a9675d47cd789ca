/*
 * test_http_sink.c - the http (OTLP/JSON) export sink against a loopback
 * receiver running in a thread of the test: request line, headers and
 * body shape, batching by count and by time, IPv6, retry after a 500 and after a
 * connection closed without an answer, no retry after a 400, drop counting
 * when the receiver is down and the queue is full, the egress decision
 * asked before each connect, the bad URL and bad status-line tables, and
 * the sink delivering from inside the sandbox of `airlock serve` (forked
 * child) while every other port stays shut.
 *
 * Waits are on events (a request arrived, a counter moved) with a generous
 * cap that only turns a hang into a failure; nothing asserts a duration.
 */
#include "../harness/harness.h"
#include "sandbox/sandbox.h"
#include "telemetry/telemetry_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_CAP_MS 20000	/* a hang becomes a failure after this */
#define MAX_REQS 32

/* ------------------------------------------------------------------ */
/* Loopback receiver                                                   */
/* ------------------------------------------------------------------ */

struct req {
	char *head;	/* request line and headers (mem_alloc) */
	char *body;	/* (mem_alloc), NUL-terminated */
	size_t body_len;
};

struct receiver {
	int fd;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int release;	/* lets a held request (script -2) be answered */
	/* What to answer request i with: an HTTP status, -1 to close the
	 * connection without a word, -2 to hold it until release and then
	 * answer 500; 200 past the script. */
	int script[8];
	size_t n_script;
	struct req reqs[MAX_REQS];
	size_t n;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Reads one request (head and Content-Length body) from c; 0 on success. */
static int read_request(int c, struct req *r)
{
	struct buf in;
	char tmp[4096], *end, *cl;
	size_t head_len, want;
	ssize_t n;

	buf_init(&in, 64 << 20);
	for (;;) {
		if (in.data && (end = strstr(in.data, "\r\n\r\n")))
			break;
		n = recv(c, tmp, sizeof tmp, 0);
		if (n <= 0 || buf_append(&in, tmp, (size_t)n) != ST_OK) {
			buf_release(&in);
			return -1;
		}
	}
	head_len = (size_t)(end - in.data) + 4;
	cl = strcasestr(in.data, "\r\nContent-Length:");
	want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	while (in.len < head_len + want) {
		n = recv(c, tmp, sizeof tmp, 0);
		if (n <= 0 || buf_append(&in, tmp, (size_t)n) != ST_OK) {
			buf_release(&in);
			return -1;
		}
	}
	r->head = mem_alloc(head_len + 1);
	r->body = mem_alloc(want + 1);
	assert_non_null(r->head);
	assert_non_null(r->body);
	memcpy(r->head, in.data, head_len);
	r->head[head_len] = '\0';
	memcpy(r->body, in.data + head_len, want);
	r->body[want] = '\0';
	r->body_len = want;
	buf_release(&in);
	return 0;
}

static void *receiver_main(void *arg)
{
	struct receiver *rv = arg;

	for (;;) {
		struct pollfd p = { rv->fd, POLLIN, 0 };
		struct req r;
		size_t i;
		int c, code;

		pthread_mutex_lock(&rv->mu);
		if (rv->stop) {
			pthread_mutex_unlock(&rv->mu);
			return NULL;
		}
		pthread_mutex_unlock(&rv->mu);
		if (poll(&p, 1, 20) <= 0)
			continue;
		c = accept(rv->fd, NULL, NULL);
		if (c < 0)
			continue;
		memset(&r, 0, sizeof r);
		if (read_request(c, &r) != 0) {
			close(c);
			continue;
		}
		pthread_mutex_lock(&rv->mu);
		i = rv->n;
		code = i < rv->n_script ? rv->script[i] : 200;
		if (i < MAX_REQS)
			rv->reqs[rv->n++] = r;
		pthread_cond_broadcast(&rv->cv);
		if (code == -2) {
			while (!rv->release && !rv->stop)
				pthread_cond_wait(&rv->cv, &rv->mu);
			code = 500;
		}
		pthread_mutex_unlock(&rv->mu);
		if (code > 0) {
			char resp[128];
			int len = snprintf(resp, sizeof resp,
					   "HTTP/1.1 %d X\r\nContent-Length: 0\r\n"
					   "Connection: close\r\n\r\n", code);
			if (send(c, resp, (size_t)len, MSG_NOSIGNAL) < 0) {
				/* the sink gave up on this one; it shows in its counters */
			}
		}
		close(c);
		pthread_mutex_lock(&rv->mu);
		pthread_cond_broadcast(&rv->cv);
		pthread_mutex_unlock(&rv->mu);
		if (i >= MAX_REQS) {
			mem_free(r.head);
			mem_free(r.body);
		}
	}
}

/* A TCP listener on 127.0.0.1, ephemeral port; skips without loopback. */
static int loopback_listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		printf("# SKIP: cannot bind 127.0.0.1 (%s): no loopback here\n", strerror(errno));
		close(fd);
		skip();
	}
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A TCP listener on ::1, ephemeral port; -1 (with a note) without IPv6. */
static int loopback6_listener(uint16_t *port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	socklen_t al = sizeof a;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	a.sin6_addr = in6addr_loopback;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin6_port);
	return fd;
}

static void receiver_start_fd(struct receiver *rv, int fd, uint16_t port, const int *script,
			      size_t n_script)
{
	memset(rv, 0, sizeof *rv);
	rv->fd = fd;
	rv->port = port;
	pthread_mutex_init(&rv->mu, NULL);
	pthread_cond_init(&rv->cv, NULL);
	for (size_t i = 0; i < n_script && i < 8; i++)
		rv->script[i] = script[i];
	rv->n_script = n_script;
	assert_int_equal(pthread_create(&rv->thread, NULL, receiver_main, rv), 0);
}

static void receiver_start(struct receiver *rv, const int *script, size_t n_script)
{
	uint16_t port;
	int fd = loopback_listener(&port);

	receiver_start_fd(rv, fd, port, script, n_script);
}

static void receiver_stop(struct receiver *rv)
{
	pthread_mutex_lock(&rv->mu);
	rv->stop = 1;
	pthread_cond_broadcast(&rv->cv);
	pthread_mutex_unlock(&rv->mu);
	pthread_join(rv->thread, NULL);
	close(rv->fd);
	for (size_t i = 0; i < rv->n; i++) {
		mem_free(rv->reqs[i].head);
		mem_free(rv->reqs[i].body);
	}
	pthread_cond_destroy(&rv->cv);
	pthread_mutex_destroy(&rv->mu);
}

/* Waits until the receiver holds n requests (capped); returns how many. */
static size_t receiver_wait(struct receiver *rv, size_t n)
{
	struct timespec ts;
	size_t got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_CAP_MS / 1000;
	pthread_mutex_lock(&rv->mu);
	while (rv->n < n && pthread_cond_timedwait(&rv->cv, &rv->mu, &ts) == 0)
		;
	got = rv->n;
	pthread_mutex_unlock(&rv->mu);
	return got;
}

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
static uint16_t dead_port(void)
{
	uint16_t port;
	int fd = loopback_listener(&port);

	close(fd);
	return port;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Emits event number i: a usage-shaped object with "n": i. */
static void emit_n(struct tel_sinks *s, int i)
{
	char ev[256];
	int len = snprintf(ev, sizeof ev,
			   "{\"event\":\"usage\",\"time_ns\":%lld,\"user\":\"ana\",\"team\":null,"
			   "\"n\":%d,\"latency_ms\":3.5,\"cache_hit\":true}",
			   1764547200000000000LL + i, i);
	TH_OK(tel_sinks_emit(s, ev, (size_t)len, NULL));
}

typedef int (*stats_pred)(const struct tel_sink_stats *st, uint64_t want);
static int sent_at_least(const struct tel_sink_stats *st, uint64_t want)
{
	return st->http_sent >= want;
}
static int failed_at_least(const struct tel_sink_stats *st, uint64_t want)
{
	return st->http_failed >= want;
}
static int dropped_at_least(const struct tel_sink_stats *st, uint64_t want)
{
	return st->http_dropped >= want;
}

/* Polls the sink's counters until pred holds (capped); returns them. */
static struct tel_sink_stats stats_wait(struct tel_sinks *s, stats_pred pred, uint64_t want)
{
	struct tel_sink_stats st;

	for (int waited = 0; waited < WAIT_CAP_MS; waited += 5) {
		tel_sinks_stats(s, &st);
		if (pred(&st, want))
			return st;
		sleep_ms(5);
	}
	tel_sinks_stats(s, &st);
	return st;
}

static void open_http(struct tel_sinks **s, const char *url, const char *allow,
		      size_t queue, size_t batch, int64_t flush_ms, int64_t backoff_ms)
{
	static const char *names[] = { "http" };
	struct tel_sink_options o;
	const char *al[1] = { allow };
	struct err e;

	memset(&o, 0, sizeof o);
	o.names = names;
	o.n_names = 1;
	o.http_url = url;
	o.egress_allow = al;
	o.n_allow = 1;
	o.http_queue = queue;
	o.http_batch = batch;
	o.http_flush_ms = flush_ms;
	o.http_backoff_ms = backoff_ms;
	o.http_timeout_ms = 5000;
	o.http_close_ms = 2000;
	err_clear(&e);
	if (tel_sinks_open(&o, s, &e) != ST_OK)
		fail_msg("open %s: %s", url, e.msg);
	assert_non_null(*s);
}

/* The logRecords of an OTLP body (a new reference in *root). */
static json_t *log_records(const char *body, json_t **root)
{
	json_error_t je;
	json_t *r;

	*root = json_loads(body, 0, &je);
	if (!*root)
		fail_msg("body is not JSON (%s): %s", je.text, body);
	r = json_object_get(json_array_get(json_object_get(json_array_get(
		json_object_get(*root, "resourceLogs"), 0), "scopeLogs"), 0), "logRecords");
	if (!json_is_array(r))
		fail_msg("no resourceLogs[0].scopeLogs[0].logRecords in %s", body);
	return r;
}

/* The AnyValue of attribute key of a logRecord, or NULL. */
static json_t *attr(json_t *rec, const char *key)
{
	json_t *a = json_object_get(rec, "attributes"), *kv;
	size_t i;

	json_array_foreach(a, i, kv)
		if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
			return json_object_get(kv, "value");
	return NULL;
}

/* The "n" attributes of a body's records, as "0,1,2". */
static void record_ns(const char *body, char *out, size_t n)
{
	json_t *root, *recs = log_records(body, &root), *r;
	size_t i, len = 0;

	out[0] = '\0';
	json_array_foreach(recs, i, r) {
		const char *v = json_string_value(json_object_get(attr(r, "n"), "intValue"));
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "", v ? v : "?");
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static void test_http_urls(void **state)
{
	static const struct {
		const char *url;
		status_t want;
		const char *msg;
	} bad[] = {
		{ "", ST_CONFIG, "no URL given (telemetry.http_url)" },
		{ "ftp://10.0.0.5:4318/", ST_INVAL, "is not an http(s) URL" },
		{ "10.0.0.5:4318", ST_INVAL, "is not an http(s) URL" },
		{ "http://collector.internal:4318/v1/logs", ST_INVAL, "is a host name" },
		{ "http://1.2.3:4318/", ST_INVAL, "is a host name" },
		{ "http://10.0.0.5/v1/logs", ST_INVAL, "must name host:port explicitly" },
		{ "http://10.0.0.5:0/", ST_INVAL, "bad port" },
		{ "http://10.0.0.5:65536/", ST_INVAL, "bad port" },
		{ "http://10.0.0.5:43x/", ST_INVAL, "bad port" },
		{ "http://10.0.0.5:/", ST_INVAL, "bad host or port" },
		{ "http://:4318/", ST_INVAL, "bad host or port" },
		{ "http://u:p@10.0.0.5:4318/", ST_INVAL, "holds credentials" },
		{ "http://[::1:4318/", ST_INVAL, "must name [address]:port" },
		{ "http://[fe80::zz]:4318/", ST_INVAL, "is a host name" },
		{ "https://10.0.0.5:4318/v1/logs", ST_UNSUPPORTED, "https is not supported" },
		{ "http://10.0.0.5:4318/v1/logs x", ST_INVAL, "space, control or non-ASCII" },
		{ "http://10.0.0.5:4318/v1\r\nX-Injected: 1", ST_INVAL, "space, control" },
		{ "http://10.0.0.5:4318/v1/l\xc3\xb6gs", ST_INVAL, "non-ASCII" },
		{ "http://0.0.0.0:4318/", ST_INVAL, "names no single destination" },
		{ "http://224.0.0.1:4318/", ST_INVAL, "names no single destination" },
		{ "http://[::]:4318/", ST_INVAL, "names no single destination" },
		{ "http://[ff02::1]:4318/", ST_INVAL, "names no single destination" },
		{ "http://10.0.0.9:4318/v1/logs", ST_DENIED, "10.0.0.9:4318 is not in egress.allow" },
		{ "http://10.0.0.5:4319/v1/logs", ST_DENIED, "10.0.0.5:4319 is not in egress.allow" },
		{ "http://[::1]:4318/v1/logs", ST_DENIED, "[::1]:4318 is not in egress.allow" },
	};
	static const char *names[] = { "http" };
	const char *allow[] = { "10.0.0.5:4318", "[fd00::7]:4318", "127.0.0.1:4318" };
	struct tel_sink_options o;
	struct tel_sinks *s;
	struct tel__url u;
	struct err e;

	(void)state;
	memset(&o, 0, sizeof o);
	o.names = names;
	o.n_names = 1;
	o.egress_allow = allow;
	o.n_allow = 3;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		status_t st;

		o.http_url = bad[i].url;
		err_clear(&e);
		s = NULL;
		st = tel_sinks_open(&o, &s, &e);
		if (st != bad[i].want || !strstr(e.msg, bad[i].msg))
			fail_msg("'%s': got %s '%s', want %s '%s'", bad[i].url, status_name(st),
				 e.msg, status_name(bad[i].want), bad[i].msg);
		assert_null(s);
	}

	/* Good ones: the request target and the Host header they give. */
	TH_OK(tel__url_parse("http://10.0.0.5:4318", &u, NULL));
	assert_string_equal(u.target, "/v1/logs");
	assert_string_equal(u.hostport, "10.0.0.5:4318");
	TH_OK(tel__url_parse("http://10.0.0.5:4318/ingest/logs?tenant=a#frag", &u, NULL));
	assert_string_equal(u.target, "/ingest/logs?tenant=a");
	TH_OK(tel__url_parse("http://10.0.0.5:4318?tenant=a", &u, NULL));
	assert_string_equal(u.target, "/?tenant=a");
	TH_OK(tel__url_parse("http://[fd00::7]:4318/", &u, NULL));
	assert_string_equal(u.target, "/");
	assert_string_equal(u.hostport, "[fd00::7]:4318");
	assert_int_equal(u.sa.ss_family, AF_INET6);
	TH_OK(tel__url_parse("http://localhost:4318/v1/logs", &u, NULL));
	assert_int_equal(u.sa.ss_family, AF_INET);
	assert_int_equal(((struct sockaddr_in *)&u.sa)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(ntohs(((struct sockaddr_in *)&u.sa)->sin_port), 4318);
	/* Allowlisted, so the sink opens (and connects to nothing yet). */
	o.http_url = "http://[fd00::7]:4318/v1/logs";
	TH_OK(tel_sinks_open(&o, &s, NULL));
	assert_non_null(s);
	tel_sinks_close(s);
}

static void test_http_status_lines(void **state)
{
	static const struct {
		const char *in;
		size_t len;	/* 0: strlen */
		int code;	/* 0: needs more bytes */
	} good[] = {
		{ "HTTP/1.1 200 OK\r\n", 0, 200 },
		{ "HTTP/1.0 204 No Content\r\n\r\n", 0, 204 },
		{ "HTTP/1.1 500\r\n", 0, 500 },
		{ "HTTP/1.1 503 \r\n", 0, 503 },
		{ "HTTP/1.1 200 OK\n", 0, 200 },
		{ "HTTP/1.1 429 Too\tMany\r\n", 0, 429 },
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n", 0, 202 },
		{ "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n", 0, 200 },
		{ "HTTP/1.1 101 Switching Protocols\r\n", 0, 101 },
		{ "", 0, 0 },
		{ "HTT", 0, 0 },
		{ "HTTP/1.1 200 O", 0, 0 },
		{ "HTTP/1.1 100 Continue\r\n", 0, 0 },
		{ "HTTP/1.1 100 Continue\r\n\r\n", 0, 0 },
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", 0, 0 },
	};
	static const struct {
		const char *in;
		size_t len;
		const char *msg;
	} bad[] = {
		{ "SSH-2.0-OpenSSH_9.6\r\n", 0, "not an HTTP/1.x status line at byte 0" },
		{ "HTTP/2 200\r\n", 0, "not an HTTP/1.x status line at byte 0" },
		{ "http/1.1 200 OK\r\n", 0, "not an HTTP/1.x status line" },
		{ "\r\nHTTP/1.1 200 OK\r\n", 0, "not an HTTP/1.x status line at byte 0" },
		{ "HTTP/1.x 200 OK\r\n", 0, "malformed status line at byte 0" },
		{ "HTTP/1.1 20 OK\r\n", 0, "malformed status line" },
		{ "HTTP/1.1 2000 OK\r\n", 0, "malformed status line" },
		{ "HTTP/1.1  200 OK\r\n", 0, "malformed status line" },
		{ "HTTP/1.1 2x0 OK\r\n", 0, "malformed status line" },
		{ "HTTP/1.1\r\n", 0, "malformed status line" },
		{ "HTTP/1.1 099 Low\r\n", 0, "status code 99 out of range" },
		{ "HTTP/1.1 600 High\r\n", 0, "status code 600 out of range" },
		{ "HTTP/1.1 200 O\x01K\r\n", 0, "control character in the reason phrase at byte 14" },
		{ "HTTP/1.1 200 OK\r\r\n", 0, "control character in the reason phrase" },
		{ "HTTP/1.1 200 O\0K\r\n", 18, "control character in the reason phrase" },
		{ "HTTP/1.1 200 O\x7fK\r\n", 0, "control character" },
		{ "HTTP/1.1 100 Continue\r\n\r\nFOO 200\r\n", 0,
		  "not an HTTP/1.x status line at byte 25" },
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 abc\r\n", 0,
		  "malformed status line at byte 25" },
	};
	char big[6000];
	int code;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		size_t n = good[i].len ? good[i].len : strlen(good[i].in);
		status_t st;

		err_clear(&e);
		st = tel__http_status_parse(good[i].in, n, &code, &e);
		if (st != ST_OK || code != good[i].code)
			fail_msg("good[%zu]: got %s %d '%s', want OK %d", i, status_name(st), code,
				 e.msg, good[i].code);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = bad[i].len ? bad[i].len : strlen(bad[i].in);
		status_t st;

		err_clear(&e);
		st = tel__http_status_parse(bad[i].in, n, &code, &e);
		if (st != ST_CORRUPT || !strstr(e.msg, bad[i].msg))
			fail_msg("bad[%zu]: got %s '%s', want CORRUPT '%s'", i, status_name(st),
				 e.msg, bad[i].msg);
	}
	/* Length limits: a status line or an interim head past 4 KiB. */
	memset(big, 'a', sizeof big);
	memcpy(big, "HTTP/1.1 200 ", 13);
	err_clear(&e);
	TH_ST(tel__http_status_parse(big, sizeof big, &code, &e), ST_CORRUPT);
	assert_non_null(strstr(e.msg, "longer than 4096 bytes"));
	TH_OK(tel__http_status_parse(big, 4000, &code, NULL));
	assert_int_equal(code, 0);
	memcpy(big, "HTTP/1.1 100 Go\r\nX: ", 20);
	err_clear(&e);
	TH_ST(tel__http_status_parse(big, sizeof big, &code, &e), ST_CORRUPT);
	assert_non_null(strstr(e.msg, "interim head at byte 0 longer than 4096"));
}

/* ------------------------------------------------------------------ */
/* Body                                                                */
/* ------------------------------------------------------------------ */

static void test_otlp_body(void **state)
{
	static const char usage[] =
		"{\"event\":\"usage\",\"time_ns\":1764547200000000000,\"day\":\"2025-12-01\","
		"\"request_id\":\"r1\",\"user\":\"ana\",\"team\":null,\"prompt_tokens\":12,"
		"\"latency_ms\":3.5,\"cache_hit\":true}";
	static const char text[] = "not json \"quoted\"";
	struct tel__rec recs[2] = {
		{ (char *)usage, sizeof usage - 1, 1, 1764547299000000001ull },
		{ (char *)text, sizeof text - 1, 2, 1764547299000000002ull },
	};
	struct buf out;
	json_t *root, *rl, *r, *v;

	(void)state;
	buf_init(&out, 0);
	TH_OK(tel__otlp_body(recs, 2, &out));
	r = log_records(buf_cstr(&out), &root);
	rl = json_array_get(json_object_get(root, "resourceLogs"), 0);
	v = json_array_get(json_object_get(json_object_get(rl, "resource"), "attributes"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "key")), "service.name");
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "value"),
							      "stringValue")), "airlock");
	v = json_object_get(json_array_get(json_object_get(rl, "scopeLogs"), 0), "scope");
	assert_string_equal(json_string_value(json_object_get(v, "name")), "airlock.telemetry");
	assert_int_equal(json_array_size(r), 2);

	v = json_array_get(r, 0);
	assert_string_equal(json_string_value(json_object_get(v, "timeUnixNano")),
			    "1764547200000000000");
	assert_string_equal(json_string_value(json_object_get(v, "observedTimeUnixNano")),
			    "1764547299000000001");
	assert_string_equal(json_string_value(json_object_get(v, "severityText")), "INFO");
	assert_int_equal(json_integer_value(json_object_get(v, "severityNumber")), 9);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "body"),
							      "stringValue")), "usage");
	assert_string_equal(json_string_value(json_object_get(attr(v, "user"), "stringValue")),
			    "ana");
	assert_string_equal(json_string_value(json_object_get(attr(v, "request_id"),
							      "stringValue")), "r1");
	/* 64-bit integers are strings in OTLP/JSON. */
	assert_string_equal(json_string_value(json_object_get(attr(v, "prompt_tokens"),
							      "intValue")), "12");
	assert_true(json_real_value(json_object_get(attr(v, "latency_ms"), "doubleValue")) == 3.5);
	assert_true(json_is_true(json_object_get(attr(v, "cache_hit"), "boolValue")));
	/* Nulls are left out; the event name and time are not repeated. */
	assert_null(attr(v, "team"));
	assert_null(attr(v, "event"));
	assert_null(attr(v, "time_ns"));
	assert_int_equal(json_array_size(json_object_get(v, "attributes")), 6);

	/* Not a JSON object: the text is the body, the queue time its time. */
	v = json_array_get(r, 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "body"),
							      "stringValue")), text);
	assert_string_equal(json_string_value(json_object_get(v, "timeUnixNano")),
			    "1764547299000000002");
	assert_int_equal(json_array_size(json_object_get(v, "attributes")), 0);
	json_decref(root);
	buf_release(&out);
}

/* ------------------------------------------------------------------ */
/* Delivery                                                            */
/* ------------------------------------------------------------------ */

static void test_http_batches(void **state)
{
	struct receiver rv;
	struct tel_sinks *s;
	struct tel_sink_stats st;
	struct tel_registry *reg;
	struct buf m;
	char url[128], allow[64], want[128], ns[64];

	(void)state;
	receiver_start(&rv, NULL, 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/logs", rv.port);
	snprintf(allow, sizeof allow, "127.0.0.1:%u", rv.port);
	/* Batches of 3; the timer is far away, so only the count sends. */
	open_http(&s, url, allow, 16, 3, 600000, 10);
	TH_OK(tel_registry_new(&reg));
	TH_OK(tel_sinks_metrics_register(s, reg, NULL));
	for (int i = 0; i < 7; i++)
		emit_n(s, i);
	assert_int_equal(receiver_wait(&rv, 2), 2);
	st = stats_wait(s, sent_at_least, 6);
	assert_int_equal(st.http_sent, 6);
	assert_int_equal(st.http_queued, 1);
	assert_int_equal(st.http_dropped, 0);
	assert_int_equal(st.http_failed, 0);
	for (size_t i = 0; i < 2; i++) {
		const struct req *r = &rv.reqs[i];

		assert_true(strncmp(r->head, "POST /v1/logs HTTP/1.1\r\n", 24) == 0);
		snprintf(want, sizeof want, "\r\nHost: 127.0.0.1:%u\r\n", rv.port);
		assert_non_null(strstr(r->head, want));
		assert_non_null(strstr(r->head, "\r\nContent-Type: application/json\r\n"));
		assert_non_null(strstr(r->head, "\r\nConnection: close\r\n"));
		snprintf(want, sizeof want, "\r\nContent-Length: %zu\r\n", r->body_len);
		assert_non_null(strstr(r->head, want));
		assert_int_equal(strlen(r->body), r->body_len);
		record_ns(r->body, ns, sizeof ns);
		assert_string_equal(ns, i == 0 ? "0,1,2" : "3,4,5");
	}
	/* Closing flushes the short last batch. */
	tel_sinks_close(s);
	assert_int_equal(receiver_wait(&rv, 3), 3);
	record_ns(rv.reqs[2].body, ns, sizeof ns);
	assert_string_equal(ns, "6");
	buf_init(&m, 0);
	TH_OK(tel_registry_expose(reg, &m));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_sent_records_total 7\n"));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_dropped_records_total 0\n"));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_failed_posts_total 0\n"));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_queued_records 0\n"));
	buf_release(&m);
	tel_registry_free(reg);
	receiver_stop(&rv);
}

static void test_http_flush_timer(void **state)
{
	struct receiver rv;
	struct tel_sinks *s;
	char url[128], allow[64], ns[64];

	(void)state;
	receiver_start(&rv, NULL, 0);
	snprintf(url, sizeof url, "http://localhost:%u/collect?t=1", rv.port);
	snprintf(allow, sizeof allow, "localhost:%u", rv.port);
	/* A batch of 100 never fills: the 20 ms timer sends the two. */
	open_http(&s, url, allow, 16, 100, 20, 10);
	emit_n(s, 0);
	emit_n(s, 1);
	assert_int_equal(receiver_wait(&rv, 1), 1);
	assert_true(strncmp(rv.reqs[0].head, "POST /collect?t=1 HTTP/1.1\r\n", 28) == 0);
	record_ns(rv.reqs[0].body, ns, sizeof ns);
	assert_string_equal(ns, "0,1");
	tel_sinks_close(s);
	receiver_stop(&rv);
}

static void test_http_ipv6(void **state)
{
	struct receiver rv;
	struct tel_sinks *s;
	char url[128], allow[64], want[64], ns[64];
	uint16_t port = 0;
	int fd = loopback6_listener(&port);

	(void)state;
	if (fd < 0) {
		printf("# SKIP: no IPv6 loopback here\n");
		skip();
	}
	receiver_start_fd(&rv, fd, port, NULL, 0);
	snprintf(url, sizeof url, "http://[::1]:%u/v1/logs", port);
	snprintf(allow, sizeof allow, "[::1]:%u", port);
	open_http(&s, url, allow, 16, 1, 600000, 10);
	emit_n(s, 5);
	assert_int_equal(receiver_wait(&rv, 1), 1);
	snprintf(want, sizeof want, "\r\nHost: [::1]:%u\r\n", port);
	assert_non_null(strstr(rv.reqs[0].head, want));
	record_ns(rv.reqs[0].body, ns, sizeof ns);
	assert_string_equal(ns, "5");
	tel_sinks_close(s);
	receiver_stop(&rv);
}

static void test_http_retry(void **state)
{
	static const int script[] = { 500, -1, 429, 200 };
	struct receiver rv;
	struct tel_sinks *s;
	struct tel_sink_stats st;
	char url[128], allow[64], ns[64];

	(void)state;
	/* A 500, a connection closed without a word, a 429: each is retried
	 * (backoff 10 ms) with the same records, then delivered. */
	receiver_start(&rv, script, 4);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/logs", rv.port);
	snprintf(allow, sizeof allow, "127.0.0.1:%u", rv.port);
	open_http(&s, url, allow, 16, 2, 600000, 10);
	emit_n(s, 0);
	emit_n(s, 1);
	assert_int_equal(receiver_wait(&rv, 4), 4);
	st = stats_wait(s, sent_at_least, 2);
	assert_int_equal(st.http_sent, 2);
	assert_int_equal(st.http_failed, 3);
	assert_int_equal(st.http_dropped, 0);
	assert_int_equal(st.http_queued, 0);
	for (size_t i = 0; i < 4; i++) {
		record_ns(rv.reqs[i].body, ns, sizeof ns);
		assert_string_equal(ns, "0,1");
	}
	tel_sinks_close(s);
	receiver_stop(&rv);
}

static void test_http_reject(void **state)
{
	static const int script[] = { 400 };
	struct receiver rv;
	struct tel_sinks *s;
	struct tel_sink_stats st;
	char url[128], allow[64];

	(void)state;
	/* A 400 means the collector will not take this batch: dropped, counted,
	 * not repeated; the next batch goes through. */
	receiver_start(&rv, script, 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/logs", rv.port);
	snprintf(allow, sizeof allow, "127.0.0.1:%u", rv.port);
	open_http(&s, url, allow, 16, 2, 600000, 10);
	emit_n(s, 0);
	emit_n(s, 1);
	st = stats_wait(s, dropped_at_least, 2);
	assert_int_equal(st.http_dropped, 2);
	assert_int_equal(st.http_failed, 1);
	assert_int_equal(st.http_sent, 0);
	emit_n(s, 2);
	emit_n(s, 3);
	st = stats_wait(s, sent_at_least, 2);
	assert_int_equal(st.http_sent, 2);
	assert_int_equal(receiver_wait(&rv, 2), 2);
	tel_sinks_close(s);
	receiver_stop(&rv);
}

static void test_http_receiver_down(void **state)
{
	struct tel_sinks *s;
	struct tel_sink_stats st;
	struct tel_registry *reg;
	struct buf m;
	char url[128], allow[64];
	uint16_t port = dead_port();

	(void)state;
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/logs", port);
	snprintf(allow, sizeof allow, "127.0.0.1:%u", port);
	/* Queue of 4, batches of 2, and a long backoff after the first
	 * refused connect, so the sender tries once while 10 records arrive. */
	open_http(&s, url, allow, 4, 2, 600000, 600000);
	TH_OK(tel_registry_new(&reg));
	TH_OK(tel_sinks_metrics_register(s, reg, NULL));
	for (int i = 0; i < 10; i++)
		emit_n(s, i);
	/* Every record is accounted for at any moment. */
	tel_sinks_stats(s, &st);
	assert_int_equal(st.http_sent + st.http_dropped + st.http_queued, 10);
	st = stats_wait(s, failed_at_least, 1);
	assert_int_equal(st.http_failed, 1);
	assert_int_equal(st.http_refused, 0);	/* the allowlist said yes; nobody answered */
	assert_int_equal(st.http_sent, 0);
	/* The failed batch went back to the head; the queue holds the newest 4. */
	assert_int_equal(st.http_queued, 4);
	assert_int_equal(st.http_dropped, 6);
	/* Closing tries once more, fails, and counts the rest as dropped. */
	tel_sinks_close(s);
	buf_init(&m, 0);
	TH_OK(tel_registry_expose(reg, &m));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_dropped_records_total 10\n"));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_sent_records_total 0\n"));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_failed_posts_total 2\n"));
	assert_non_null(strstr(buf_cstr(&m), "\nairlock_telemetry_http_queued_records 0\n"));
	buf_release(&m);
	tel_registry_free(reg);
}

static void test_http_retry_overflow(void **state)
{
	static const int script[] = { -2 };
	struct receiver rv;
	struct tel_sinks *s;
	struct tel_sink_stats st;
	char url[128], allow[64], ns[64];

	(void)state;
	/* The collector holds the first POST (records 0, 1) while 6 more
	 * arrive in a queue of 4, then answers 500: the returned batch is the
	 * oldest, so it is what the full queue drops. */
	receiver_start(&rv, script, 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/logs", rv.port);
	snprintf(allow, sizeof allow, "127.0.0.1:%u", rv.port);
	open_http(&s, url, allow, 4, 2, 600000, 600000);
	emit_n(s, 0);
	emit_n(s, 1);
	assert_int_equal(receiver_wait(&rv, 1), 1);
	for (int i = 2; i < 8; i++)
		emit_n(s, i);
	tel_sinks_stats(s, &st);
	assert_int_equal(st.http_dropped, 2);	/* 2 and 3, pushed out by 6 and 7 */
	assert_int_equal(st.http_queued, 6);	/* 4..7 queued, 0 and 1 in flight */
	pthread_mutex_lock(&rv.mu);
	rv.release = 1;
	pthread_cond_broadcast(&rv.cv);
	pthread_mutex_unlock(&rv.mu);
	st = stats_wait(s, failed_at_least, 1);
	assert_int_equal(st.http_failed, 1);
	assert_int_equal(st.http_dropped, 4);
	assert_int_equal(st.http_queued, 4);
	assert_int_equal(st.http_sent, 0);
	/* Closing delivers the survivors (the collector answers 200 now). */
	tel_sinks_close(s);
	assert_int_equal(receiver_wait(&rv, 3), 3);
	record_ns(rv.reqs[1].body, ns, sizeof ns);
	assert_string_equal(ns, "4,5");
	record_ns(rv.reqs[2].body, ns, sizeof ns);
	assert_string_equal(ns, "6,7");
	receiver_stop(&rv);
}

/* An egress decision the test can turn off after the sink opened. */
struct gate {
	int open;
	int asked;
};

static status_t gate_check(void *arg, const char *host, int port, struct err *e)
{
	struct gate *g = arg;

	__atomic_add_fetch(&g->asked, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&g->open, __ATOMIC_SEQ_CST))
		return ST_OK;
	return err_set(e, ST_DENIED, "egress to %s:%d is not on egress.allow", host, port);
}

static void test_http_refused_connect(void **state)
{
	static const char *names[] = { "http" };
	struct receiver rv;
	struct tel_sink_options o;
	struct tel_sinks *s;
	struct tel_sink_stats st;
	struct gate g = { 1, 0 };
	char url[128];

	(void)state;
	receiver_start(&rv, NULL, 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/logs", rv.port);
	memset(&o, 0, sizeof o);
	o.names = names;
	o.n_names = 1;
	o.http_url = url;
	o.egress_check = gate_check;
	o.egress_arg = &g;
	o.http_batch = 2;
	o.http_flush_ms = 600000;
	o.http_backoff_ms = 10;
	TH_OK(tel_sinks_open(&o, &s, NULL));
	assert_int_equal(g.asked, 1);
	/* The decision changes: the next connect is refused, not made. */
	__atomic_store_n(&g.open, 0, __ATOMIC_SEQ_CST);
	emit_n(s, 0);
	emit_n(s, 1);
	st = stats_wait(s, dropped_at_least, 2);
	assert_int_equal(st.http_refused, 1);
	assert_int_equal(st.http_failed, 1);
	assert_int_equal(st.http_dropped, 2);
	assert_int_equal(st.http_sent, 0);
	assert_int_equal(g.asked, 2);
	/* Allowed again: delivered. */
	__atomic_store_n(&g.open, 1, __ATOMIC_SEQ_CST);
	emit_n(s, 2);
	emit_n(s, 3);
	st = stats_wait(s, sent_at_least, 2);
	assert_int_equal(st.http_sent, 2);
	tel_sinks_close(s);
	pthread_mutex_lock(&rv.mu);
	assert_int_equal(rv.n, 1);	/* the refused batch never reached it */
	pthread_mutex_unlock(&rv.mu);
	receiver_stop(&rv);
}

/* Every allocation of open failing in turn: ST_NOMEM, nothing leaked
 * (ASan); an event that cannot be copied is counted as dropped. */
static void test_http_out_of_memory(void **state)
{
	static const char *names[] = { "http" };
	const char *allow[] = { "10.0.0.5:4318", "10.0.0.6:4318" };
	struct tel_sink_options o;
	struct tel_sinks *s = NULL;
	struct tel_sink_stats st;
	struct err e;
	status_t rc = ST_NOMEM;
	long k;

	(void)state;
	memset(&o, 0, sizeof o);
	o.names = names;
	o.n_names = 1;
	o.http_url = "http://10.0.0.5:4318/v1/logs";
	o.egress_allow = allow;
	o.n_allow = 2;
	for (k = 0; k < 100 && rc == ST_NOMEM; k++) {
		err_clear(&e);
		mem_fail_after(k, 0);
		rc = tel_sinks_open(&o, &s, &e);
		mem_fail_reset();
		if (rc == ST_NOMEM)
			assert_null(s);
	}
	TH_OK(rc);
	assert_true(k > 3);	/* sinks, sink, ring, batch, allow copies */
	/* The copy of the event fails before the sender thread would start. */
	mem_fail_after(0, 1);
	TH_ST(tel_sinks_emit(s, "{}", 2, &e), ST_IO);
	mem_fail_reset();
	assert_non_null(strstr(e.msg, "out of memory"));
	tel_sinks_stats(s, &st);
	assert_int_equal(st.http_dropped, 1);
	assert_int_equal(st.http_queued, 0);
	tel_sinks_close(s);
}

/* ------------------------------------------------------------------ */
/* Under the sandbox                                                   */
/* ------------------------------------------------------------------ */

static status_t sbx_adapter(void *arg, const char *host, int port, struct err *e)
{
	return sbx_egress_check(arg, host, port, NULL, NULL, e);
}

/* Child: serve's order (sinks, lockdown, then the first event). Writes
 * one line per failed expectation to fd. */
static void sandboxed_child(int fd, const char *cfg_path, const char *data, uint16_t port,
			    uint16_t other)
{
	struct config *cfg;
	struct sbx_policy p;
	struct sbx_report rep;
	struct tel_sinks *s;
	struct tel_sink_stats st;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct err e;
	char line[768];
	int c;

#define CHILD_FAIL(...)                                                         \
	do {                                                                    \
		int n_ = snprintf(line, sizeof line, __VA_ARGS__);              \
		if (n_ > 0 && write(fd, line, (size_t)n_) < 0) { /* nothing */ } \
	} while (0)

	log_setup(LOG_OFF, LOG_FMT_HUMAN, NULL);
	err_clear(&e);
	if (config_load(cfg_path, &cfg, &e) != ST_OK) {
		CHILD_FAIL("config: %s\n", e.msg);
		_exit(1);
	}
	/* The kernel rules let exactly the sink's port out. */
	if (sbx_policy_from_config(&p, cfg, data, &e) != ST_OK)
		CHILD_FAIL("policy: %s\n", e.msg);
	else if (p.n_connect != 1 || p.connect_ports[0] != port)
		CHILD_FAIL("connect ports: %zu (first %u), want only %u\n", p.n_connect,
			   (unsigned)p.connect_ports[0], (unsigned)port);
	if (tel_sinks_open_config(cfg, data, sbx_adapter, cfg, &s, &e) != ST_OK) {
		CHILD_FAIL("sinks: %s\n", e.msg);
		_exit(1);
	}
	if (sbx_lockdown_config(cfg, data, NULL, 0, 0, &rep, &e) != ST_OK) {
		CHILD_FAIL("lockdown: %s\n", e.msg);
		_exit(1);
	}
	/* Any other port is shut, by the kernel. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(other);
	if (connect(c, (struct sockaddr *)&a, sizeof a) == 0 || errno != EACCES)
		CHILD_FAIL("connect to the other port: %s, want EACCES\n", strerror(errno));
	close(c);
	emit_n(s, 0);
	emit_n(s, 1);
	st = stats_wait(s, sent_at_least, 2);
	if (st.http_sent != 2)
		CHILD_FAIL("sent %llu, failed %llu, refused %llu, dropped %llu; want 2 sent\n",
			   (unsigned long long)st.http_sent, (unsigned long long)st.http_failed,
			   (unsigned long long)st.http_refused,
			   (unsigned long long)st.http_dropped);
	tel_sinks_close(s);
	config_free(cfg);
	_exit(0);
#undef CHILD_FAIL
}

static void test_http_sandboxed(void **state)
{
	struct receiver rv;
	const char *dir;
	char yaml[512], cfg_path[4200], data[4200], out[4096], ns[64];
	uint16_t other;
	int pfd[2], status, l2;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	(void)state;
	if (sbx_landlock_abi() < 4 || !sbx_seccomp_available()) {
		printf("# SKIP: needs Landlock ABI >= 4 (have %d) and seccomp\n",
		       sbx_landlock_abi());
		skip();
	}
	receiver_start(&rv, NULL, 0);
	l2 = loopback_listener(&other);	/* a live port that is not allowlisted */
	dir = th_tmpdir();
	snprintf(data, sizeof data, "%s/data", dir);
	TH_OK(file_mkdirs(data, 0700, NULL));
	snprintf(yaml, sizeof yaml,
		 "telemetry:\n"
		 "  sinks: [http]\n"
		 "  http_url: \"http://127.0.0.1:%u/v1/logs\"\n"
		 "  http_batch: 2\n"
		 "  http_flush_interval: 10m\n"
		 "egress:\n"
		 "  allow: [\"127.0.0.1:%u\"]\n", rv.port, rv.port);
	str_copy(cfg_path, th_write_file(dir, "airlock.yaml", yaml), sizeof cfg_path);
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		sandboxed_child(pfd[1], cfg_path, data, rv.port, other);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(l2);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len)
		fail_msg("sandboxed child (status %d):\n%s", status, out);
	assert_int_equal(receiver_wait(&rv, 1), 1);
	record_ns(rv.reqs[0].body, ns, sizeof ns);
	assert_string_equal(ns, "0,1");
	receiver_stop(&rv);
	th_tmpdir_cleanup();
}

int run_telemetry_http_tests(void);
int run_telemetry_http_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_urls),
		cmocka_unit_test(test_http_status_lines),
		cmocka_unit_test(test_otlp_body),
		cmocka_unit_test(test_http_batches),
		cmocka_unit_test(test_http_flush_timer),
		cmocka_unit_test(test_http_ipv6),
		cmocka_unit_test(test_http_retry),
		cmocka_unit_test(test_http_reject),
		cmocka_unit_test(test_http_receiver_down),
		cmocka_unit_test(test_http_retry_overflow),
		cmocka_unit_test(test_http_refused_connect),
		cmocka_unit_test(test_http_out_of_memory),
		cmocka_unit_test(test_http_sandboxed),
	};

	return cmocka_run_group_tests_name("telemetry_http", tests, NULL, NULL);
}
