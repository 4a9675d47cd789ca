/*
 * test_http.c - the real server over loopback, driven by a raw HTTP/1.0
 * client, with the toy backend: authentication (401/403), limits (413,
 * 429 with Retry-After, team quotas), the OpenAI and llama.cpp response and
 * SSE shapes, batching that does not change greedy output, prompt-cache
 * reuse, and a client disconnect freeing its slot.
 */
#include "harness.h"
#include "server/server_int.h"
#include "audit/audit.h"
#include "telemetry/telemetry.h"
#include "policy/policy.h"
#include "toy_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* A small client                                                      */
/* ------------------------------------------------------------------ */

struct resp {
	int status;
	char head[4096];
	struct buf body;
};

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 20 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* Sends a request; returns the connected socket. body may be NULL. */
static int send_req(int port, const char *method, const char *path,
		    const char *tok, const char *body)
{
	struct buf b;
	int fd = dial(port);

	buf_init(&b, 0);
	buf_printf(&b, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n", method, path);
	if (tok)
		buf_printf(&b, "Authorization: Bearer %s\r\n", tok);
	if (body)
		buf_printf(&b, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			   strlen(body));
	buf_puts(&b, "\r\n");
	if (body)
		buf_puts(&b, body);
	TH_OK(file_write_full(fd, b.data, b.len));
	buf_release(&b);
	return fd;
}

/* Reads the whole response (the server closes HTTP/1.0 connections). */
static void read_resp(int fd, struct resp *r)
{
	struct buf all;
	char tmp[4096];
	const char *sep;
	ssize_t n;

	buf_init(&all, 0);
	buf_init(&r->body, 0);
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_append(&all, tmp, (size_t)n);
	close(fd);
	sep = strstr(buf_cstr(&all), "\r\n\r\n");
	assert_non_null(sep);
	snprintf(r->head, sizeof r->head, "%.*s", (int)(sep - all.data), all.data);
	r->status = (int)strtol(r->head + 9, NULL, 10);
	buf_append(&r->body, sep + 4, all.len - (size_t)(sep + 4 - all.data));
	buf_release(&all);
}

static void req(int port, const char *method, const char *path, const char *tok,
		const char *body, struct resp *r)
{
	read_resp(send_req(port, method, path, tok, body), r);
}

static json_t *body_json(const struct resp *r)
{
	json_error_t je;
	json_t *j = json_loadb(r->body.data, r->body.len, 0, &je);

	if (!j)
		fail_msg("not JSON (%s): %s", je.text, buf_cstr(&r->body));
	return j;
}

/* Asserts the OpenAI error shape with this code; returns nothing. */
static void assert_error(const struct resp *r, int status, const char *code)
{
	json_t *j = body_json(r), *e = json_object_get(j, "error");

	if (r->status != status)
		fail_msg("status %d, want %d: %s", r->status, status, buf_cstr(&r->body));
	assert_non_null(e);
	assert_true(json_is_string(json_object_get(e, "message")));
	assert_true(json_is_string(json_object_get(e, "type")));
	assert_non_null(json_object_get(e, "param"));
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	json_decref(j);
}

/*
 * Splits an SSE body into its events' data, checking the framing: every
 * event is exactly "data: <payload>\n\n". Returns the count.
 */
static size_t sse_split(const char *body, char **out, size_t max)
{
	size_t n = 0;

	while (*body) {
		const char *end;
		if (strncmp(body, "data: ", 6) != 0)
			fail_msg("event does not start with 'data: ': %.40s", body);
		end = strstr(body, "\n\n");
		if (!end)
			fail_msg("event not ended by a blank line: %.40s", body);
		if (memchr(body, '\n', (size_t)(end - body)))
			fail_msg("event spans lines: %.60s", body);
		assert_true(n < max);
		out[n++] = mem_strndup(body + 6, (size_t)(end - body - 6));
		body = end + 2;
	}
	return n;
}

static void sse_free(char **ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mem_free(ev[i]);
}

/* ------------------------------------------------------------------ */
/* A server per test                                                   */
/* ------------------------------------------------------------------ */

struct fix {
	char dir[512];
	struct srv_store *store;
	struct srv_backend b;
	struct srv *s;
	int port;
	char admin[SRV_TOKEN_LEN + 1];
	char member[SRV_TOKEN_LEN + 1];
	int64_t member_id;
};

/* The policy engine the next fix_start connects (NULL: none). */
static struct pol_engine *fix_policy;

static void fix_start(struct fix *f, const struct toy_opts *to,
		      const struct srv_options *so_in)
{
	struct srv_options so;
	struct err e;

	memset(f, 0, sizeof *f);
	str_copy(f->dir, th_tmpdir(), sizeof f->dir);
	TH_OK(srv_store_open_dir(f->dir, &f->store, &e));
	TH_OK(srv_team_add(f->store, "core", 0, 0, NULL, &e));
	TH_OK(srv_team_add(f->store, "small", 1, 0, NULL, &e));
	TH_OK(srv_user_add(f->store, "root", "core", SRV_ROLE_ADMIN, NULL, &e));
	TH_OK(srv_user_add(f->store, "dev", "small", SRV_ROLE_MEMBER, NULL, &e));
	TH_OK(srv_token_create(f->store, "root", 0, f->admin, NULL, &e));
	TH_OK(srv_token_create(f->store, "dev", 0, f->member, &f->member_id, &e));
	if (so_in)
		so = *so_in;
	else
		srv_options_default(&so);
	so.listen = "127.0.0.1:0";
	if (to)
		TH_OK(toy_backend_init(&f->b, to));
	TH_OK(srv_new(&so, f->store, to ? &f->b : NULL, &f->s, &e));
	if (fix_policy)
		srv_set_policy(f->s, fix_policy);
	if (srv_start(f->s, &e) != ST_OK)
		fail_msg("srv_start: %s", e.msg);
	f->port = srv_port(f->s);
	assert_true(f->port > 0);
}

static void fix_stop(struct fix *f)
{
	srv_free(f->s);
	srv_backend_release(&f->b);
	srv_store_free(f->store);
	th_tmpdir_cleanup();
}

static const struct toy_opts toy_default = { .n_slots = 4, .n_ctx = 256 };

static json_t *status_of(struct fix *f)
{
	struct resp r;
	json_t *j;

	req(f->port, "GET", "/v1/status", f->admin, NULL, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	buf_release(&r.body);
	return j;
}

static long sched_field(struct fix *f, const char *k)
{
	json_t *j = status_of(f);
	long v = (long)json_integer_value(json_object_get(json_object_get(j, "scheduler"), k));

	json_decref(j);
	return v;
}

/* Polls the status until field == want; bounded (5 s at most). */
static void wait_field(struct fix *f, const char *k, long want)
{
	for (int i = 0; i < 500; i++) {
		if (sched_field(f, k) == want)
			return;
		usleep(10000);
	}
	fail_msg("scheduler %s never became %ld (is %ld)", k, want, sched_field(f, k));
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void test_health_and_auth(void **state)
{
	struct fix f;
	struct resp r;
	sqlite3 *db;
	char path[1024], tok[SRV_TOKEN_LEN + 1];
	struct err e;
	int64_t id;

	(void)state;
	fix_start(&f, &toy_default, NULL);
	req(f.port, "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	req(f.port, "GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);

	req(f.port, "GET", "/v1/models", NULL, NULL, &r);
	assert_error(&r, 401, "invalid_api_key");
	assert_non_null(strstr(r.head, "WWW-Authenticate: Bearer"));
	buf_release(&r.body);
	req(f.port, "GET", "/v1/models", "alk_nope", NULL, &r);
	assert_error(&r, 401, "invalid_api_key");
	buf_release(&r.body);

	req(f.port, "GET", "/v1/models", f.member, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(buf_cstr(&r.body), "\"id\":\"toy\""));
	buf_release(&r.body);
	req(f.port, "GET", "/v1/models/toy", f.member, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(buf_cstr(&r.body), "\"object\":\"model\""));
	buf_release(&r.body);
	req(f.port, "GET", "/v1/models/gpt-4", f.member, NULL, &r);
	assert_error(&r, 404, "model_not_found");
	buf_release(&r.body);

	/* Member on an admin route: 403; admin: 200. */
	req(f.port, "GET", "/v1/admin/users", f.member, NULL, &r);
	assert_error(&r, 403, "forbidden");
	buf_release(&r.body);
	req(f.port, "GET", "/v1/admin/users", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);

	/* Expired: moved into the past behind the server's back. */
	TH_OK(srv_token_create(f.store, "dev", 3600000, tok, &id, &e));
	req(f.port, "GET", "/v1/models", tok, NULL, &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	snprintf(path, sizeof path, "%s/airlock.db", f.dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	{
		char sql[128];
		snprintf(sql, sizeof sql, "UPDATE tokens SET expires = 1000 WHERE id = %lld",
			 (long long)id);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);
	req(f.port, "GET", "/v1/models", tok, NULL, &r);
	assert_error(&r, 401, "invalid_api_key");
	assert_non_null(strstr(buf_cstr(&r.body), "expired"));
	buf_release(&r.body);

	/* Revoked over HTTP by the admin. */
	{
		char p[64];
		snprintf(p, sizeof p, "/v1/admin/tokens/%lld", (long long)f.member_id);
		req(f.port, "GET", "/v1/models", f.member, NULL, &r);
		assert_int_equal(r.status, 200);
		buf_release(&r.body);
		req(f.port, "DELETE", p, f.admin, NULL, &r);
		assert_int_equal(r.status, 200);
		buf_release(&r.body);
		req(f.port, "GET", "/v1/models", f.member, NULL, &r);
		assert_error(&r, 401, "invalid_api_key");
		assert_non_null(strstr(buf_cstr(&r.body), "revoked"));
		buf_release(&r.body);
		req(f.port, "DELETE", "/v1/admin/tokens/99999", f.admin, NULL, &r);
		assert_error(&r, 404, "not_found");
		buf_release(&r.body);
	}
	fix_stop(&f);
}

static void test_admin_routes(void **state)
{
	struct fix f;
	struct resp r;
	json_t *j;
	char tok[SRV_TOKEN_LEN + 1];

	(void)state;
	fix_start(&f, NULL, NULL);
	req(f.port, "POST", "/v1/admin/teams", f.admin,
	    "{\"name\":\"web\",\"max_concurrent\":3}", &r);
	assert_int_equal(r.status, 201);
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/teams", f.admin, "{\"name\":\"web\"}", &r);
	assert_error(&r, 409, "already_exists");
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/users", f.admin,
	    "{\"name\":\"eve\",\"team\":\"web\",\"role\":\"boss\"}", &r);
	assert_error(&r, 400, "invalid_request");
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/users", f.admin,
	    "{\"name\":\"eve\",\"team\":\"web\"}", &r);
	assert_int_equal(r.status, 201);
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/tokens", f.admin,
	    "{\"user\":\"eve\",\"expires\":\"soon\"}", &r);
	assert_error(&r, 400, "invalid_request");
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/tokens", f.admin,
	    "{\"user\":\"eve\",\"expires\":\"30d\"}", &r);
	assert_int_equal(r.status, 201);
	j = body_json(&r);
	str_copy(tok, json_string_value(json_object_get(j, "token")), sizeof tok);
	json_decref(j);
	buf_release(&r.body);
	/* The new token works, and is a member's. */
	req(f.port, "GET", "/v1/models", tok, NULL, &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	req(f.port, "GET", "/v1/admin/tokens", tok, NULL, &r);
	assert_error(&r, 403, "forbidden");
	buf_release(&r.body);
	/* Listing never shows token values. */
	req(f.port, "GET", "/v1/admin/tokens", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_null(strstr(buf_cstr(&r.body), tok + 12));
	buf_release(&r.body);
	fix_stop(&f);
}

static void test_bad_requests(void **state)
{
	struct fix f, g;
	struct resp r;
	struct srv_options so;
	struct buf big;

	(void)state;
	srv_options_default(&so);
	so.max_body = 2048;
	fix_start(&f, &toy_default, &so);
	buf_init(&big, 0);
	buf_puts(&big, "{\"prompt\":\"");
	for (int i = 0; i < 3000; i++)
		buf_putc(&big, 'a');
	buf_puts(&big, "\"}");
	req(f.port, "POST", "/v1/completions", f.admin, big.data, &r);
	assert_error(&r, 413, "request_too_large");
	buf_release(&r.body);
	buf_release(&big);
	req(f.port, "POST", "/v1/completions", f.admin, "{\"prompt\":", &r);
	assert_error(&r, 400, "invalid_request");
	assert_non_null(strstr(buf_cstr(&r.body), "invalid JSON"));
	buf_release(&r.body);
	req(f.port, "POST", "/v1/completions", f.admin, "{\"prompt\":\"a\",\"top_p\":7}", &r);
	assert_error(&r, 400, "invalid_request");
	assert_non_null(strstr(buf_cstr(&r.body), "\"param\":\"top_p\""));
	buf_release(&r.body);
	req(f.port, "GET", "/nope", f.admin, NULL, &r);
	assert_error(&r, 404, "unknown_url");
	buf_release(&r.body);
	req(f.port, "GET", "/v1/completions", f.admin, NULL, &r);
	assert_error(&r, 405, "method_not_allowed");
	buf_release(&r.body);
	/* A prompt longer than the context: 400 with the numbers. */
	{
		struct buf p;
		buf_init(&p, 0);
		buf_puts(&p, "{\"prompt\":\"");
		for (int i = 0; i < 300; i++)
			buf_putc(&p, 'x');
		buf_puts(&p, "\"}");
		req(f.port, "POST", "/v1/completions", f.admin, p.data, &r);
		assert_error(&r, 400, "context_length_exceeded");
		assert_non_null(strstr(buf_cstr(&r.body), "300 tokens"));
		assert_non_null(strstr(buf_cstr(&r.body), "256"));
		buf_release(&r.body);
		buf_release(&p);
	}
	req(f.port, "POST", "/v1/completions", f.admin, "{\"prompt\":[70]}", &r);
	assert_error(&r, 400, "invalid_request");
	buf_release(&r.body);
	fix_stop(&f);

	/* Without a model: a clear error, never an answer. */
	fix_start(&g, NULL, NULL);
	req(g.port, "POST", "/v1/completions", g.admin, "{\"prompt\":\"a\"}", &r);
	assert_error(&r, 503, "model_not_loaded");
	assert_non_null(strstr(buf_cstr(&r.body), "no model loaded"));
	buf_release(&r.body);
	req(g.port, "GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 503);
	buf_release(&r.body);
	req(g.port, "GET", "/v1/models", g.admin, NULL, &r);
	assert_string_equal(buf_cstr(&r.body), "{\"object\":\"list\",\"data\":[]}\n");
	buf_release(&r.body);
	fix_stop(&g);
}

static char *complete_text(struct fix *f, const char *body, json_t **whole)
{
	struct resp r;
	json_t *j;
	char *text;

	req(f->port, "POST", "/v1/completions", f->admin, body, &r);
	if (r.status != 200)
		fail_msg("status %d: %s", r.status, buf_cstr(&r.body));
	j = body_json(&r);
	text = mem_strdup(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "choices"), 0), "text")));
	buf_release(&r.body);
	if (whole)
		*whole = j;
	else
		json_decref(j);
	return text;
}

static void test_completion_shapes(void **state)
{
	struct fix f;
	struct resp r;
	json_t *j, *ch, *u;
	char *text, *ev[128];
	struct buf streamed;
	size_t n;

	(void)state;
	fix_start(&f, &toy_default, NULL);
	text = complete_text(&f, "{\"prompt\":\"hello\",\"max_tokens\":12,\"temperature\":0}", &j);
	assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
	assert_string_equal(json_string_value(json_object_get(j, "model")), "toy");
	assert_memory_equal(json_string_value(json_object_get(j, "id")), "cmpl-", 5);
	ch = json_array_get(json_object_get(j, "choices"), 0);
	assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "length");
	u = json_object_get(j, "usage");
	assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), 5);
	assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 12);
	assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), 17);
	json_decref(j);
	assert_int_equal(strlen(text), 12);

	/* Streamed: same text, OpenAI framing, usage chunk, [DONE]. */
	req(f.port, "POST", "/v1/completions", f.admin,
	    "{\"prompt\":\"hello\",\"max_tokens\":12,\"temperature\":0,\"stream\":true,"
	    "\"stream_options\":{\"include_usage\":true}}", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: text/event-stream"));
	n = sse_split(buf_cstr(&r.body), ev, 128);
	assert_true(n >= 3);
	assert_string_equal(ev[n - 1], "[DONE]");
	buf_init(&streamed, 0);
	for (size_t i = 0; i + 2 < n; i++) {
		json_t *c = json_loads(ev[i], 0, NULL);
		json_t *c0 = json_array_get(json_object_get(c, "choices"), 0);
		assert_non_null(c0);
		buf_puts(&streamed, json_string_value(json_object_get(c0, "text")));
		json_decref(c);
	}
	{
		json_t *last = json_loads(ev[n - 3], 0, NULL);
		json_t *usage = json_loads(ev[n - 2], 0, NULL);
		assert_string_equal(json_string_value(json_object_get(
			json_array_get(json_object_get(last, "choices"), 0), "finish_reason")),
			"length");
		assert_int_equal(json_array_size(json_object_get(usage, "choices")), 0);
		assert_int_equal(json_integer_value(json_object_get(
			json_object_get(usage, "usage"), "completion_tokens")), 12);
		json_decref(last);
		json_decref(usage);
	}
	assert_string_equal(buf_cstr(&streamed), text);
	buf_release(&streamed);
	sse_free(ev, n);
	buf_release(&r.body);

	/* A stop string taken from the greedy output cuts it there. */
	{
		char body[256], *cut;
		snprintf(body, sizeof body,
			 "{\"prompt\":\"hello\",\"max_tokens\":12,\"temperature\":0,"
			 "\"stop\":\"%.2s\"}", text + 5);
		cut = complete_text(&f, body, &j);
		assert_true(strlen(cut) <= 5);
		assert_memory_equal(cut, text, strlen(cut));
		assert_string_equal(json_string_value(json_object_get(
			json_array_get(json_object_get(j, "choices"), 0), "finish_reason")), "stop");
		json_decref(j);
		mem_free(cut);
	}
	mem_free(text);

	/* Chat, streamed: a role delta first, finish_reason last, [DONE]. */
	req(f.port, "POST", "/v1/chat/completions", f.admin,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5,"
	    "\"temperature\":0,\"stream\":true}", &r);
	assert_int_equal(r.status, 200);
	n = sse_split(buf_cstr(&r.body), ev, 128);
	assert_true(n >= 3);
	{
		json_t *first = json_loads(ev[0], 0, NULL);
		json_t *last = json_loads(ev[n - 2], 0, NULL);
		json_t *d = json_object_get(json_array_get(json_object_get(first, "choices"), 0), "delta");
		assert_string_equal(json_string_value(json_object_get(first, "object")),
				    "chat.completion.chunk");
		assert_string_equal(json_string_value(json_object_get(d, "role")), "assistant");
		assert_string_equal(json_string_value(json_object_get(
			json_array_get(json_object_get(last, "choices"), 0), "finish_reason")),
			"length");
		json_decref(first);
		json_decref(last);
	}
	assert_string_equal(ev[n - 1], "[DONE]");
	sse_free(ev, n);
	buf_release(&r.body);

	/* Chat, whole. */
	req(f.port, "POST", "/v1/chat/completions", f.admin,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}", &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_array_get(json_object_get(j, "choices"), 0), "message"), "role")), "assistant");
	json_decref(j);
	buf_release(&r.body);

	/* /infill streamed: llama.cpp's framing, no [DONE], stop:true last. */
	req(f.port, "POST", "/infill", f.member,
	    "{\"input_prefix\":\"int a\",\"input_suffix\":\";\",\"n_predict\":6,"
	    "\"temperature\":0,\"stream\":true,\"input_extra\":[{\"filename\":\"b.c\",\"text\":\"int b;\"}]}",
	    &r);
	assert_int_equal(r.status, 200);
	n = sse_split(buf_cstr(&r.body), ev, 128);
	assert_true(n >= 1);
	{
		json_t *last = json_loads(ev[n - 1], 0, NULL);
		for (size_t i = 0; i + 1 < n; i++) {
			json_t *mid = json_loads(ev[i], 0, NULL);
			assert_true(json_is_false(json_object_get(mid, "stop")));
			assert_true(json_is_string(json_object_get(mid, "content")));
			json_decref(mid);
		}
		assert_true(json_is_true(json_object_get(last, "stop")));
		assert_int_equal(json_integer_value(json_object_get(last, "tokens_predicted")), 6);
		assert_string_equal(json_string_value(json_object_get(last, "stop_type")), "limit");
		assert_non_null(json_object_get(last, "timings"));
		json_decref(last);
	}
	sse_free(ev, n);
	buf_release(&r.body);
	fix_stop(&f);
}

struct par {
	struct fix *f;
	const char *body;
	char *text;
};

static void *par_run(void *arg)
{
	struct par *p = arg;

	p->text = complete_text(p->f, p->body, NULL);
	return NULL;
}

/* Identical greedy requests: same output alone and batched with others. */
static void test_batching_is_transparent(void **state)
{
	static const char *bodies[] = {
		"{\"prompt\":\"the quick brown fox\",\"max_tokens\":40,\"temperature\":0}",
		"{\"prompt\":\"jumps over\",\"max_tokens\":40,\"temperature\":0}",
		"{\"prompt\":\"the lazy dog, twice over\",\"max_tokens\":40,\"temperature\":0}",
		"{\"prompt\":\"the quick brown fox\",\"max_tokens\":40,\"temperature\":0}",
		"{\"prompt\":\"sampled\",\"max_tokens\":40,\"temperature\":1.2,\"seed\":5}",
	};
	enum { N = sizeof bodies / sizeof bodies[0] };
	struct toy_opts to = { .n_slots = 3, .n_ctx = 256, .step_us = 300 };
	struct srv_options so;
	char *alone[N];
	struct par p[N];
	pthread_t th[N];
	struct fix f;

	(void)state;
	srv_options_default(&so);
	so.prompt_cache = 0;	/* alone vs batched only, cache tested apart */
	fix_start(&f, &to, &so);
	for (int i = 0; i < N; i++)
		alone[i] = complete_text(&f, bodies[i], NULL);
	for (int i = 0; i < N; i++) {
		p[i] = (struct par){ &f, bodies[i], NULL };
		assert_int_equal(pthread_create(&th[i], NULL, par_run, &p[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N; i++) {
		assert_string_equal(p[i].text, alone[i]);
		assert_int_equal(strlen(alone[i]), 40);
		mem_free(p[i].text);
		mem_free(alone[i]);
	}
	fix_stop(&f);
}

/* A prompt extending the last one evaluates only its new tokens, and the
 * output is what a cold evaluation gives. */
static void test_prompt_cache(void **state)
{
	struct fix f, g;
	struct srv_options so;
	char *warm, *cold;
	long calls, toks_before, toks_after;
	const char *b1 = "{\"prompt\":\"int main(void) { return\",\"max_tokens\":4,\"temperature\":0}";
	const char *b2 = "{\"prompt\":\"int main(void) { return 0;\",\"max_tokens\":4,\"temperature\":0}";

	(void)state;
	fix_start(&f, &toy_default, NULL);
	mem_free(complete_text(&f, b1, NULL));
	toy_backend_counts(&f.b, &calls, &toks_before);
	warm = complete_text(&f, b2, NULL);
	toy_backend_counts(&f.b, &calls, &toks_after);
	/* 3 new prompt tokens + 3 generated ones fed back. */
	assert_int_equal(toks_after - toks_before, 3 + 3);
	assert_int_equal(sched_field(&f, "prompt_tokens_cached"), 23);
	fix_stop(&f);

	srv_options_default(&so);
	so.prompt_cache = 0;
	fix_start(&g, &toy_default, &so);
	mem_free(complete_text(&g, b1, NULL));
	toy_backend_counts(&g.b, &calls, &toks_before);
	cold = complete_text(&g, b2, NULL);
	toy_backend_counts(&g.b, &calls, &toks_after);
	assert_int_equal(toks_after - toks_before, 26 + 3);
	assert_string_equal(warm, cold);
	mem_free(warm);
	mem_free(cold);
	fix_stop(&g);
}

/* Queue full: 429 with Retry-After. Disconnects free the slot. The long
 * generations are greedy, so that none ends early on a drawn end token. */
static void test_queue_and_disconnect(void **state)
{
	struct toy_opts to = { .n_slots = 1, .n_ctx = 4096, .step_us = 2000 };
	struct srv_options so;
	struct resp r;
	struct fix f;
	int a, b;
	char buf[256];

	(void)state;
	srv_options_default(&so);
	so.queue_size = 1;
	fix_start(&f, &to, &so);
	a = send_req(f.port, "POST", "/v1/completions", f.admin,
		     "{\"prompt\":\"a\",\"max_tokens\":4000,\"stream\":true,\"temperature\":0}");
	assert_true(read(a, buf, sizeof buf) > 0);	/* streaming has begun */
	wait_field(&f, "slots_busy", 1);
	b = send_req(f.port, "POST", "/v1/completions", f.admin,
		     "{\"prompt\":\"b\",\"max_tokens\":4000,\"stream\":true,\"temperature\":0}");
	wait_field(&f, "queued", 1);
	req(f.port, "POST", "/v1/completions", f.admin, "{\"prompt\":\"c\"}", &r);
	assert_error(&r, 429, "rate_limit_exceeded");
	assert_non_null(strstr(r.head, "Retry-After: 1"));
	buf_release(&r.body);

	close(a);
	/* b takes the freed slot, then goes too. */
	wait_field(&f, "queued", 0);
	wait_field(&f, "slots_busy", 1);
	close(b);
	wait_field(&f, "slots_busy", 0);
	assert_int_equal(sched_field(&f, "requests_cancelled"), 2);
	assert_true(sched_field(&f, "requests_rejected") >= 1);
	fix_stop(&f);
}

/* A team at its concurrency limit gets 429; other teams do not. */
static void test_team_quota(void **state)
{
	struct toy_opts to = { .n_slots = 2, .n_ctx = 4096, .step_us = 2000 };
	struct resp r;
	struct fix f;
	int a;
	char buf[256];

	(void)state;
	fix_start(&f, &to, NULL);
	/* "dev" is in team "small" (max_concurrent 1). */
	a = send_req(f.port, "POST", "/infill", f.member,
		     "{\"input_prefix\":\"x\",\"n_predict\":4000,\"stream\":true}");
	assert_true(read(a, buf, sizeof buf) > 0);
	req(f.port, "POST", "/infill", f.member, "{\"input_prefix\":\"y\"}", &r);
	assert_error(&r, 429, "rate_limit_exceeded");
	assert_non_null(strstr(buf_cstr(&r.body), "small"));
	buf_release(&r.body);
	req(f.port, "POST", "/v1/completions", f.admin,
	    "{\"prompt\":\"z\",\"max_tokens\":2}", &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	close(a);
	wait_field(&f, "slots_busy", 0);
	fix_stop(&f);
}

/* A team over its tokens per minute gets 429 with a Retry-After. */
static void test_team_tokens_per_minute(void **state)
{
	struct resp r;
	struct fix f;
	struct err e;
	char tok[SRV_TOKEN_LEN + 1];

	(void)state;
	fix_start(&f, &toy_default, NULL);
	TH_OK(srv_team_add(f.store, "thrifty", 0, 10, NULL, &e));
	TH_OK(srv_user_add(f.store, "pat", "thrifty", SRV_ROLE_MEMBER, NULL, &e));
	TH_OK(srv_token_create(f.store, "pat", 0, tok, NULL, &e));
	/* 12 prompt tokens + 4 generated: over 10 once admitted. */
	req(f.port, "POST", "/v1/completions", tok,
	    "{\"prompt\":\"hello, world\",\"max_tokens\":4}", &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	req(f.port, "POST", "/v1/completions", tok, "{\"prompt\":\"x\"}", &r);
	assert_error(&r, 429, "rate_limit_exceeded");
	assert_non_null(strstr(buf_cstr(&r.body), "10 tokens per minute"));
	{
		const char *ra = strstr(r.head, "Retry-After: ");
		assert_non_null(ra);
		long secs = strtol(ra + 13, NULL, 10);
		assert_true(secs >= 1 && secs <= 60);
	}
	buf_release(&r.body);
	/* Other teams are not affected. */
	req(f.port, "POST", "/v1/completions", f.admin, "{\"prompt\":\"x\",\"max_tokens\":1}", &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	fix_stop(&f);
}

struct seen {
	pthread_mutex_t mu;
	int n;
	char path[8][32];
	char user[8][64];
	char finish[8][16];
	unsigned status[8];
	int32_t prompt[8], completion[8];
};

static void observe(void *ctx, const struct srv_request_record *rec)
{
	struct seen *w = ctx;

	pthread_mutex_lock(&w->mu);
	if (w->n < 8) {
		str_copy(w->path[w->n], rec->path, sizeof w->path[0]);
		str_copy(w->user[w->n], rec->who->user, sizeof w->user[0]);
		str_copy(w->finish[w->n], rec->finish, sizeof w->finish[0]);
		w->status[w->n] = rec->status;
		w->prompt[w->n] = rec->prompt_tokens;
		w->completion[w->n] = rec->completion_tokens;
	}
	w->n++;
	pthread_mutex_unlock(&w->mu);
}

static int seen_count(struct seen *w)
{
	int n;

	pthread_mutex_lock(&w->mu);
	n = w->n;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* One record per request, streams included, with who and how much. */
static void test_observer(void **state)
{
	struct seen w = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct resp r;
	struct fix f;

	(void)state;
	fix_start(&f, &toy_default, NULL);
	/* Set after start here, before any request: nothing reads it yet. */
	srv_set_observer(f.s, observe, &w);
	req(f.port, "POST", "/v1/completions", f.member,
	    "{\"prompt\":\"hello\",\"max_tokens\":3}", &r);
	buf_release(&r.body);
	req(f.port, "POST", "/infill", f.admin,
	    "{\"input_prefix\":\"x\",\"n_predict\":2,\"stream\":true}", &r);
	buf_release(&r.body);
	req(f.port, "GET", "/v1/models", NULL, NULL, &r);
	buf_release(&r.body);
	for (int i = 0; i < 500 && seen_count(&w) < 3; i++)
		usleep(10000);
	assert_int_equal(w.n, 3);
	assert_string_equal(w.path[0], "/v1/completions");
	assert_string_equal(w.user[0], "dev");
	assert_string_equal(w.finish[0], "length");
	assert_int_equal(w.prompt[0], 5);
	assert_int_equal(w.completion[0], 3);
	assert_int_equal(w.status[0], 200);
	/* The stream reports when it ends, so it may come after /v1/models. */
	for (int i = 1; i < 3; i++) {
		if (strcmp(w.path[i], "/infill") == 0) {
			assert_string_equal(w.user[i], "root");
			assert_int_equal(w.completion[i], 2);
		} else {
			assert_string_equal(w.path[i], "/v1/models");
			assert_int_equal(w.status[i], 401);
			assert_string_equal(w.user[i], "");
		}
	}
	fix_stop(&f);
}

/* /metrics in Prometheus text; usage events and feedback in the store. */
static void test_metrics_and_events(void **state)
{
	struct tel_registry *reg;
	struct tel_std std;
	struct tel_store *usage;
	struct tel_summary sum;
	struct tel_filter flt;
	struct sqlite3 *db;
	char path[1024], rid[64];
	struct resp r;
	struct fix f;
	struct err e;
	const char *p;

	(void)state;
	fix_start(&f, &toy_default, NULL);
	snprintf(path, sizeof path, "%s/airlock.db", f.dir);
	TH_OK(db_open(path, &db, &e));
	TH_OK(tel_store_open(db, NULL, &usage, &e));
	TH_OK(tel_registry_new(&reg));
	TH_OK(tel_std_register(reg, &std, &e));
	/* Before requests arrive (the test's requests all come after). */
	srv_set_telemetry(f.s, reg, &std, usage);

	req(f.port, "POST", "/v1/completions", f.member,
	    "{\"prompt\":\"hello\",\"max_tokens\":3}", &r);
	assert_int_equal(r.status, 200);
	p = strstr(r.head, "X-Request-Id: ");
	assert_non_null(p);
	snprintf(rid, sizeof rid, "%.28s", p + 14);
	buf_release(&r.body);
	req(f.port, "GET", "/nope/1", f.member, NULL, &r);
	buf_release(&r.body);

	req(f.port, "GET", "/metrics", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	buf_release(&r.body);
	req(f.port, "GET", "/metrics", f.member, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(buf_cstr(&r.body),
		"airlock_http_requests_total{endpoint=\"/v1/completions\",code=\"200\"} 1"));
	assert_non_null(strstr(buf_cstr(&r.body),
		"airlock_http_requests_total{endpoint=\"unmatched\",code=\"404\"} 1"));
	if (!strstr(buf_cstr(&r.body), "airlock_tokens_total{model=\"toy\",kind=\"output\"} 3"))
		fail_msg("metrics: %s", buf_cstr(&r.body));
	assert_non_null(strstr(buf_cstr(&r.body), "airlock_active_sequences 0"));
	buf_release(&r.body);

	{
		char body[256];
		snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"event\":\"shown\"}", rid);
		req(f.port, "POST", "/v1/events", f.member, body, &r);
		assert_int_equal(r.status, 200);
		buf_release(&r.body);
		snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"event\":\"accepted\"}", rid);
		req(f.port, "POST", "/v1/events", f.member, body, &r);
		assert_int_equal(r.status, 200);
		buf_release(&r.body);
		req(f.port, "POST", "/v1/events", f.member,
		    "{\"request_id\":\"x\",\"event\":\"liked\"}", &r);
		assert_error(&r, 400, "invalid_request");
		assert_non_null(strstr(buf_cstr(&r.body), "\"param\":\"event\""));
		buf_release(&r.body);
	}
	memset(&flt, 0, sizeof flt);
	TH_OK(tel_usage_summary(usage, &flt, &sum, &e));
	assert_int_equal(sum.requests, 1);
	assert_int_equal(sum.output_tokens, 3);
	assert_int_equal(sum.shown, 1);
	assert_int_equal(sum.accepted, 1);
	srv_free(f.s);
	f.s = NULL;
	tel_store_close(usage);
	db_close(db);
	tel_registry_free(reg);
	fix_stop(&f);
}

/* Every generation is in the audit log by the time its answer arrives. */
static void test_audit_records(void **state)
{
	struct aud_options ao;
	struct aud_log *log;
	struct resp r;
	struct fix f;
	struct err e;

	(void)state;
	fix_start(&f, &toy_default, NULL);
	aud_options_default(&ao);
	TH_OK(aud_log_open(f.dir, &ao, &log, &e));
	srv_set_audit(f.s, log, 0);
	req(f.port, "POST", "/v1/completions", f.member,
	    "{\"prompt\":\"hello\",\"max_tokens\":3}", &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	assert_int_equal(aud_log_size(log), 1);
	req(f.port, "POST", "/v1/chat/completions", f.member,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2,\"stream\":true}", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(buf_cstr(&r.body), "[DONE]"));
	buf_release(&r.body);
	assert_int_equal(aud_log_size(log), 2);
	/* Refused before generation: not a generation record. */
	req(f.port, "POST", "/v1/completions", f.member, "{\"prompt\":5}", &r);
	buf_release(&r.body);
	assert_int_equal(aud_log_size(log), 2);
	req(f.port, "POST", "/v1/admin/teams", f.admin, "{\"name\":\"audited\"}", &r);
	assert_int_equal(r.status, 201);
	buf_release(&r.body);
	assert_int_equal(aud_log_size(log), 3);
	srv_free(f.s);	/* no request may append after the log closes */
	f.s = NULL;
	aud_log_close(log);
	fix_stop(&f);
}

/* The audit log over HTTP: admin only, the CLI's answers, bad parameters 400. */
static void test_audit_routes(void **state)
{
	static const struct { const char *path; const char *param; } bad[] = {
		{ "/v1/admin/audit/records?since=yesterday", "since" },
		{ "/v1/admin/audit/records?until=2026-13-45", "until" },
		{ "/v1/admin/audit/records?limit=0", "limit" },
		{ "/v1/admin/audit/records?limit=abc", "limit" },
		{ "/v1/admin/audit/consistency?old=1", "new" },
		{ "/v1/admin/audit/consistency?new=2", "old" },
		{ "/v1/admin/audit/consistency?old=x&new=2", "old" },
		{ "/v1/admin/audit/consistency?old=3&new=2", "old" },
		{ "/v1/admin/audit/proof/-1", NULL },
		{ "/v1/admin/audit/proof/one", NULL },
	};
	struct aud_options ao;
	struct aud_log *log;
	struct resp r;
	struct fix f;
	struct err e;
	json_t *j;

	(void)state;
	fix_start(&f, NULL, NULL);
	/* Without a log the routes say so. */
	req(f.port, "GET", "/v1/admin/audit/verify", f.admin, NULL, &r);
	assert_error(&r, 404, "not_found");
	buf_release(&r.body);
	aud_options_default(&ao);
	TH_OK(aud_log_open(f.dir, &ao, &log, &e));
	srv_set_audit(f.s, log, 0);
	srv_set_audit_dir(f.s, f.dir);
	req(f.port, "POST", "/v1/admin/teams", f.admin, "{\"name\":\"a1\"}", &r);
	assert_int_equal(r.status, 201);
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/teams", f.admin, "{\"name\":\"a2\"}", &r);
	assert_int_equal(r.status, 201);
	buf_release(&r.body);
	TH_OK(aud_log_checkpoint(log, &e));
	req(f.port, "POST", "/v1/admin/teams", f.admin, "{\"name\":\"a3\"}", &r);
	assert_int_equal(r.status, 201);
	buf_release(&r.body);
	TH_OK(aud_log_checkpoint(log, &e));

	req(f.port, "GET", "/v1/admin/audit/verify", NULL, NULL, &r);
	assert_error(&r, 401, "invalid_api_key");
	buf_release(&r.body);
	req(f.port, "GET", "/v1/admin/audit/records", f.member, NULL, &r);
	assert_error(&r, 403, "forbidden");
	buf_release(&r.body);

	req(f.port, "GET", "/v1/admin/audit/verify", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	buf_release(&r.body);

	/* Records are JSON lines; filters and limit apply. */
	req(f.port, "GET", "/v1/admin/audit/records?user=root&action=team.create", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "application/x-ndjson"));
	{
		int lines = 0;
		for (size_t i = 0; i < r.body.len; i++)
			lines += r.body.data[i] == '\n';
		assert_int_equal(lines, 3);
		assert_non_null(strstr(buf_cstr(&r.body), "\"a2\""));
	}
	buf_release(&r.body);
	req(f.port, "GET", "/v1/admin/audit/records?limit=1", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(buf_cstr(&r.body), "\"seq\":0"));
	assert_null(strstr(buf_cstr(&r.body), "\"seq\":1"));
	buf_release(&r.body);
	req(f.port, "GET", "/v1/admin/audit/records?user=nobody&since=7d", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	buf_release(&r.body);

	req(f.port, "GET", "/v1/admin/audit/proof/1", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_int_equal(json_integer_value(json_object_get(j, "leafIdx")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "treeSize")), 3);
	json_decref(j);
	buf_release(&r.body);
	req(f.port, "GET", "/v1/admin/audit/consistency?old=2&new=3", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_int_equal(json_integer_value(json_object_get(j, "size1")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "size2")), 3);
	json_decref(j);
	buf_release(&r.body);
	req(f.port, "GET", "/v1/admin/audit/checkpoint", f.admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "text/plain"));
	assert_non_null(strstr(buf_cstr(&r.body), "\n3\n"));
	buf_release(&r.body);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		req(f.port, "GET", bad[i].path, f.admin, NULL, &r);
		assert_error(&r, 400, "invalid_request");
		if (bad[i].param) {
			char want[64];
			snprintf(want, sizeof want, "\"param\":\"%s\"", bad[i].param);
			if (!strstr(buf_cstr(&r.body), want))
				fail_msg("%s: %s", bad[i].path, buf_cstr(&r.body));
		}
		buf_release(&r.body);
	}
	/* A record past the checkpoint has no proof yet. */
	req(f.port, "GET", "/v1/admin/audit/proof/99", f.admin, NULL, &r);
	assert_true(r.status == 400 || r.status == 404);
	buf_release(&r.body);
	srv_free(f.s);
	f.s = NULL;
	aud_log_close(log);
	fix_stop(&f);
}

static int count_cb(void *arg, const struct aud_record *rec, const char *line, size_t len)
{
	(void)rec;
	if (strstr(line, "policy.reload") && memmem(line, len, "failed", 6))
		((int *)arg)[1]++;
	((int *)arg)[0]++;
	return 0;
}

/*
 * Reloading the policy bundle: a broken bundle on disk is refused with
 * file:line:column and the old rules keep applying; a good one replaces
 * them; every attempt is in the audit log.
 */
static void test_policy_reload(void **state)
{
	struct pol_engine *eng;
	struct aud_options ao;
	struct aud_query q;
	struct aud_log *log;
	struct config *cfg;
	char bdir[1200], yaml[1300], text[1400];
	int counts[2] = { 0, 0 };
	struct resp r;
	struct fix f;
	struct err e;
	json_t *j;

	(void)state;
	fix_policy = NULL;
	fix_start(&f, &toy_default, NULL);
	snprintf(bdir, sizeof bdir, "%s/bundle", f.dir);
	assert_int_equal(mkdir(bdir, 0700), 0);
	snprintf(yaml, sizeof yaml, "%s/org.yaml", bdir);
	th_write_file(bdir, "org.yaml",
		      "rules:\n  - id: no-alpha\n    kind: pattern\n    literal: alphaword\n"
		      "    action: block\n");
	snprintf(text, sizeof text, "policy:\n  bundle: %s\n", bdir);
	err_clear(&e);
	TH_OK(config_load(th_write_file(f.dir, "airlock.yaml", text), &cfg, &e));
	TH_OK(pol_engine_new(&eng));
	TH_OK(pol_engine_configure(eng, cfg, &e));
	aud_options_default(&ao);
	TH_OK(aud_log_open(f.dir, &ao, &log, &e));
	srv_set_audit(f.s, log, 0);
	srv_set_policy(f.s, eng);

	/* No configuration to reload from yet. */
	req(f.port, "POST", "/v1/admin/policy/reload", f.admin, "", &r);
	assert_error(&r, 404, "not_found");
	buf_release(&r.body);
	srv_set_policy_config(f.s, cfg);

	req(f.port, "POST", "/v1/completions", f.member,
	    "{\"prompt\":\"say alphaword\",\"max_tokens\":2}", &r);
	assert_error(&r, 403, "forbidden");
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/policy/reload", f.member, "", &r);
	assert_error(&r, 403, "forbidden");
	buf_release(&r.body);
	req(f.port, "POST", "/v1/admin/policy/reload", NULL, "", &r);
	assert_error(&r, 401, "invalid_api_key");
	buf_release(&r.body);

	/* Broken: line 3 has an unterminated flow sequence. */
	th_write_file(bdir, "org.yaml",
		      "rules:\n  - id: no-beta\n    kind: [pattern\n    literal: betaword\n");
	req(f.port, "POST", "/v1/admin/policy/reload", f.admin, "", &r);
	assert_error(&r, 422, "policy_reload_failed");
	j = body_json(&r);
	{
		const char *msg = json_string_value(json_object_get(json_object_get(j, "error"),
								    "message"));
		char want[1400];
		snprintf(want, sizeof want, "%s:", yaml);
		if (!msg || strncmp(msg, want, strlen(want)) != 0 ||
		    !(msg[strlen(want)] >= '1' && msg[strlen(want)] <= '9'))
			fail_msg("reload error does not name file:line: %s", msg ? msg : "(null)");
	}
	json_decref(j);
	buf_release(&r.body);
	/* The old rules still apply. */
	req(f.port, "POST", "/v1/completions", f.member,
	    "{\"prompt\":\"say alphaword\",\"max_tokens\":2}", &r);
	assert_error(&r, 403, "forbidden");
	buf_release(&r.body);

	/* A good bundle replaces them. */
	th_write_file(bdir, "org.yaml",
		      "rules:\n  - id: no-beta\n    kind: pattern\n    literal: betaword\n"
		      "    action: block\n");
	req(f.port, "POST", "/v1/admin/policy/reload", f.admin, "", &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_true(json_is_true(json_object_get(j, "reloaded")));
	assert_int_equal(strlen(json_string_value(json_object_get(j, "digest"))), 64);
	json_decref(j);
	buf_release(&r.body);
	req(f.port, "POST", "/v1/completions", f.member,
	    "{\"prompt\":\"say alphaword\",\"max_tokens\":2}", &r);
	assert_int_equal(r.status, 200);
	buf_release(&r.body);
	req(f.port, "POST", "/v1/completions", f.member,
	    "{\"prompt\":\"say betaword\",\"max_tokens\":2}", &r);
	assert_error(&r, 403, "forbidden");
	buf_release(&r.body);

	/* Both attempts are admin records; one says it failed. */
	aud_query_init(&q);
	q.action = "policy.reload";
	TH_OK(aud_query_run(f.dir, &q, count_cb, counts, &e));
	assert_int_equal(counts[0], 2);
	assert_int_equal(counts[1], 1);

	srv_free(f.s);
	f.s = NULL;
	aud_log_close(log);
	pol_engine_free(eng);
	config_free(cfg);
	fix_stop(&f);
}

/* A client that stalls in the middle of its body is dropped. */
static void test_stalled_client(void **state)
{
	struct srv_options so;
	struct fix f;
	char buf[512];
	ssize_t n;
	int fd;
	const char *head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 100\r\n\r\n{\"prompt\":";

	(void)state;
	srv_options_default(&so);
	so.idle_timeout_s = 1;
	fix_start(&f, &toy_default, &so);
	fd = dial(f.port);
	TH_OK(file_write_full(fd, head, strlen(head)));
	/* The server closes the connection (EOF) instead of waiting forever;
	 * the socket's 20 s receive timeout bounds the test. */
	n = read(fd, buf, sizeof buf);
	assert_true(n >= 0);
	if (n > 0)	/* an error answer is acceptable, then EOF */
		n = read(fd, buf, sizeof buf);
	assert_int_equal(n, 0);
	close(fd);
	fix_stop(&f);
}

/* The request deadline ends a generation: 504 whole, an error event streamed.
 * Greedy: the toy's end token (never its top pick) could otherwise be
 * drawn before the deadline and end the generation normally. */
static void test_deadline(void **state)
{
	struct toy_opts to = { .n_slots = 2, .n_ctx = 4096, .step_us = 2000 };
	struct srv_options so;
	struct resp r;
	struct fix f;
	char *ev[4096];
	size_t n;

	(void)state;
	srv_options_default(&so);
	so.request_timeout_ms = 150;
	fix_start(&f, &to, &so);
	req(f.port, "POST", "/v1/completions", f.admin,
	    "{\"prompt\":\"a\",\"max_tokens\":4000,\"temperature\":0}", &r);
	assert_error(&r, 504, "timeout");
	buf_release(&r.body);
	req(f.port, "POST", "/v1/chat/completions", f.admin,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
	    "\"max_tokens\":4000,\"stream\":true,\"temperature\":0}", &r);
	assert_int_equal(r.status, 200);
	n = sse_split(buf_cstr(&r.body), ev, 4096);
	assert_true(n >= 1);
	if (!strstr(ev[n - 1], "\"code\":\"timeout\""))
		fail_msg("%zu events, the last: %.300s", n, ev[n - 1]);
	sse_free(ev, n);
	buf_release(&r.body);
	wait_field(&f, "slots_busy", 0);
	fix_stop(&f);
}

/* ------------------------------------------------------------------ */
/* Policy during generation                                            */
/* ------------------------------------------------------------------ */

/* An engine whose active bundle is yaml (no built-in rules). */
static struct pol_engine *engine_of(const char *yaml)
{
	struct pol_load_opts lo = { .no_defaults = 1 };
	struct pol_engine *eng;
	struct pol_bundle *b;
	struct err e;

	TH_OK(pol_engine_new(&eng));
	if (pol_bundle_load_mem("test.yaml", yaml, strlen(yaml), &lo, &b, &e) != ST_OK)
		fail_msg("bundle: %s", e.msg);
	pol_engine_set(eng, b);
	return eng;
}

/* Appends a block rule for literal lit (identifier when ident) to y. */
static void rule_add(struct buf *y, int n, const char *lit, int ident)
{
	char line[256];

	snprintf(line, sizeof line, "  - id: ban-%d\n    kind: pattern\n"
		 "    identifier: %s\n    action: block\n    literal: \"",
		 n, ident ? "true" : "false");
	buf_puts(y, line);
	for (; *lit; lit++)	/* a YAML double-quoted scalar */
		buf_puts(y, *lit == '"' ? "\\\"" : *lit == '\n' ? "\\n" :
			 *lit == '\\' ? "\\\\" : (char[2]){ *lit, 0 });
	buf_puts(y, "\"\n");
}

/* Generates under the current fix_policy; returns the text and the finish
 * reason (copied into fin). */
static char *guarded_text(const char *body, char *fin, size_t fin_len)
{
	struct fix f;
	json_t *j;
	char *text;

	fix_start(&f, &toy_default, NULL);
	text = complete_text(&f, body, &j);
	str_copy(fin, json_string_value(json_object_get(json_array_get(
		json_object_get(j, "choices"), 0), "finish_reason")), fin_len);
	json_decref(j);
	fix_stop(&f);
	return text;
}

/*
 * Streams body; returns the concatenated text; *err_msg gets the message
 * of an error event (or NULL), fin the finish reason of the last chunk.
 */
static char *stream_text(struct fix *f, const char *body, char **err_msg,
			 char *fin, size_t fin_len)
{
	struct resp r;
	char *ev[256];
	struct buf out;
	size_t n;

	*err_msg = NULL;
	fin[0] = 0;
	req(f->port, "POST", "/v1/completions", f->admin, body, &r);
	assert_int_equal(r.status, 200);
	n = sse_split(buf_cstr(&r.body), ev, 256);
	buf_init(&out, 0);
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_loads(ev[i], 0, NULL), *c0;
		if (!c)
			continue;	/* [DONE] */
		if (json_object_get(c, "error")) {
			*err_msg = mem_strdup(json_string_value(json_object_get(
				json_object_get(c, "error"), "message")));
		} else if ((c0 = json_array_get(json_object_get(c, "choices"), 0))) {
			buf_puts(&out, json_string_value(json_object_get(c0, "text")));
			if (json_is_string(json_object_get(c0, "finish_reason")))
				str_copy(fin, json_string_value(json_object_get(c0,
					 "finish_reason")), fin_len);
		}
		json_decref(c);
	}
	sse_free(ev, n);
	buf_release(&r.body);
	{
		char *t = mem_strdup(buf_cstr(&out));
		buf_release(&out);
		return t;
	}
}

static int is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

/*
 * The token guard in the scheduler's sampling: a banned literal that the
 * unguarded (greedy) output contains never appears under the guard, the
 * output is the same up to the refused token, and when every possible
 * next token (end of generation included) is refused the generation ends
 * with finish_reason "content_filter".
 */
static void test_token_guard(void **state)
{
	const char *body = "{\"prompt\":\"guard me\",\"max_tokens\":60,\"temperature\":0}";
	char fin[32], lit[4], *plain, *guarded;
	struct buf y;
	size_t at = 0, len;
	int found = 0;

	(void)state;
	fix_policy = NULL;
	plain = guarded_text(body, fin, sizeof fin);
	len = strlen(plain);
	assert_int_equal(len, 60);
	/* A 3-byte literal the unguarded output does contain. */
	lit[3] = 0;
	for (at = 2; at + 3 <= len; at++) {
		memcpy(lit, plain + at, 3);
		if (!strpbrk(lit, "'\"\n\\")) {
			found = 1;
			break;
		}
	}
	assert_true(found);
	buf_init(&y, 0);
	buf_puts(&y, "defaults: false\nrules:\n");
	rule_add(&y, 0, lit, 0);
	fix_policy = engine_of(buf_cstr(&y));
	guarded = guarded_text(body, fin, sizeof fin);
	if (strstr(guarded, lit))
		fail_msg("banned literal '%s' in guarded output '%s'", lit, guarded);
	/* Identical up to the token that would have completed the literal. */
	assert_memory_equal(guarded, plain, at + 2);
	/* Greedy over the rest: the toy's runner-up may be end-of-text. */
	if (strcmp(fin, "length") != 0 && strcmp(fin, "stop") != 0)
		fail_msg("finish_reason %s", fin);
	mem_free(guarded);
	pol_engine_free(fix_policy);
	fix_policy = NULL;
	buf_release(&y);

	/*
	 * Every next token refused: for an output that starts with two
	 * identifier bytes c0 c1, the identifier "c0c1" is banned (so the
	 * output may not end there), so is every "c0c1x" for an identifier
	 * byte x, and every other byte of the toy's alphabet on its own.
	 */
	mem_free(plain);
	plain = NULL;
	{
		struct fix f;
		char b2[128], id[3] = { 0 };
		int k, n = 0;

		fix_start(&f, &toy_default, NULL);
		for (k = 0; k < 200; k++) {
			snprintf(b2, sizeof b2, "{\"prompt\":\"p%d\",\"max_tokens\":4,"
				 "\"temperature\":0}", k);
			plain = complete_text(&f, b2, NULL);
			if (strlen(plain) >= 2 && is_ident(plain[0]) && is_ident(plain[1]))
				break;
			mem_free(plain);
			plain = NULL;
		}
		fix_stop(&f);
		assert_non_null(plain);
		id[0] = plain[0];
		id[1] = plain[1];
		buf_init(&y, 0);
		buf_puts(&y, "defaults: false\nrules:\n");
		rule_add(&y, n++, id, 1);
		for (const char *x = "abcdefghijklmnopqrstuvwxyz0123456789_$"; *x; x++) {
			char l3[4] = { plain[0], plain[1], *x, 0 };
			rule_add(&y, n++, l3, 0);
		}
		for (const char *x = " .,;:-+*/=()[]{}<>!?'\"\n#%"; *x; x++) {
			char l1[2] = { *x, 0 };
			rule_add(&y, n++, l1, 0);
		}
		/*
		 * The generation stops after c0 c1 (content_filter), and the
		 * text then ends in the banned identifier: the final check
		 * withholds it, naming the rule.
		 */
		fix_policy = engine_of(buf_cstr(&y));
		fix_start(&f, &toy_default, NULL);
		{
			struct seen w = { .mu = PTHREAD_MUTEX_INITIALIZER };
			struct resp r;
			srv_set_observer(f.s, observe, &w);
			req(f.port, "POST", "/v1/completions", f.admin, b2, &r);
			assert_error(&r, 403, "forbidden");
			assert_non_null(strstr(buf_cstr(&r.body), "policy rule ban-0"));
			buf_release(&r.body);
			for (int i = 0; i < 500 && seen_count(&w) < 1; i++)
				usleep(10000);
			assert_int_equal(w.n, 1);
			assert_string_equal(w.finish[0], "content_filter");
			assert_int_equal(w.completion[0], 2);
		}
		fix_stop(&f);
		pol_engine_free(fix_policy);
		fix_policy = NULL;
		buf_release(&y);
		mem_free(plain);
	}
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * Streamed answers under pol_stream: a redact rule's match is replaced
 * before it is sent; a block rule (a regex, which the token guard does not
 * enforce) stops the stream with an error event naming the rule, and
 * nothing of the offending line was sent. Only complete lines are sent
 * before the end.
 */
static void test_stream_policy(void **state)
{
	char fin[32], *plain = NULL, *sent, *err, b2[160], lit[3] = { 0 }, yaml[512];
	struct fix f;
	size_t at = 0;
	int k;

	(void)state;
	fix_policy = NULL;
	fix_start(&f, &toy_default, NULL);
	/* A stream whose text has a line break and, after it, two
	 * alphanumeric bytes not seen before them. */
	for (k = 0; k < 200; k++) {
		const char *nl, *p;
		snprintf(b2, sizeof b2, "{\"prompt\":\"s%d\",\"max_tokens\":60,"
			 "\"temperature\":0,\"stream\":true}", k);
		plain = stream_text(&f, b2, &err, fin, sizeof fin);
		assert_null(err);
		nl = strchr(plain, '\n');
		for (p = nl ? nl + 1 : NULL; p && p[0] && p[1]; p++) {
			if (is_alnum(p[0]) && is_alnum(p[1])) {
				memcpy(lit, p, 2);
				if (strstr(plain, lit) == p) {
					at = (size_t)(p - plain);
					break;
				}
			}
		}
		if (at)
			break;
		mem_free(plain);
		plain = NULL;
	}
	fix_stop(&f);
	assert_non_null(plain);

	/* Redact: the literal never leaves, its placeholder does. */
	snprintf(yaml, sizeof yaml, "defaults: false\nrules:\n  - id: red-lit\n"
		 "    kind: pattern\n    literal: '%s'\n    action: redact\n", lit);
	fix_policy = engine_of(yaml);
	fix_start(&f, &toy_default, NULL);
	sent = stream_text(&f, b2, &err, fin, sizeof fin);
	assert_null(err);
	assert_null(strstr(sent, lit));
	assert_non_null(strstr(sent, "[REDACTED:red-lit]"));
	assert_memory_equal(sent, plain, at);
	mem_free(sent);
	fix_stop(&f);
	pol_engine_free(fix_policy);

	/* Block (a regex): the stream stops with an error naming the rule;
	 * what was sent is the complete lines before the offending one. */
	snprintf(yaml, sizeof yaml, "defaults: false\nrules:\n  - id: no-lit\n"
		 "    kind: pattern\n    regex: '[%c][%c]'\n    action: block\n",
		 lit[0], lit[1]);
	fix_policy = engine_of(yaml);
	fix_start(&f, &toy_default, NULL);
	sent = stream_text(&f, b2, &err, fin, sizeof fin);
	assert_non_null(err);
	if (!strstr(err, "no-lit"))
		fail_msg("error event does not name the rule: %s", err);
	assert_null(strstr(sent, lit));
	assert_true(strlen(sent) <= at);
	assert_memory_equal(sent, plain, strlen(sent));
	assert_true(strlen(sent) == 0 || sent[strlen(sent) - 1] == '\n');
	assert_string_equal(fin, "");
	mem_free(sent);
	mem_free(err);
	fix_stop(&f);
	pol_engine_free(fix_policy);
	fix_policy = NULL;
	mem_free(plain);
}

int run_server_http_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_and_auth),
		cmocka_unit_test(test_admin_routes),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_completion_shapes),
		cmocka_unit_test(test_batching_is_transparent),
		cmocka_unit_test(test_prompt_cache),
		cmocka_unit_test(test_queue_and_disconnect),
		cmocka_unit_test(test_team_quota),
		cmocka_unit_test(test_team_tokens_per_minute),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_stalled_client),
		cmocka_unit_test(test_observer),
		cmocka_unit_test(test_metrics_and_events),
		cmocka_unit_test(test_audit_records),
		cmocka_unit_test(test_audit_routes),
		cmocka_unit_test(test_policy_reload),
		cmocka_unit_test(test_token_guard),
		cmocka_unit_test(test_stream_policy),
	};
	log_setup(LOG_OFF, LOG_FMT_HUMAN, NULL);
	return cmocka_run_group_tests_name("server_http", tests, NULL, NULL);
}
