/*
 * test_text.c - the server's pure parts: UTF-8 and stop strings, SSE
 * framing, the error shape, the sampler, routing, and request validation
 * (a table of bad bodies with the error each must give).
 */
#include "harness.h"
#include "server/server_int.h"

#include <string.h>

static void test_utf8(void **state)
{
	struct buf b;

	(void)state;
	assert_int_equal(srv__utf8_complete_len("abc", 3), 3);
	assert_int_equal(srv__utf8_complete_len("a\xc3", 2), 1);
	assert_int_equal(srv__utf8_complete_len("a\xe2\x82", 3), 1);
	assert_int_equal(srv__utf8_complete_len("a\xe2\x82\xac", 4), 4);
	assert_int_equal(srv__utf8_complete_len("\xf0\x9f\x98", 3), 0);
	/* An invalid byte is not "incomplete": it is released (and repaired). */
	assert_int_equal(srv__utf8_complete_len("a\xff", 2), 2);
	buf_init(&b, 0);
	TH_OK(srv__utf8_sanitize("a\xff" "b\xc3(\xe2\x82\xac", 8, &b));
	assert_string_equal(buf_cstr(&b), "a\xef\xbf\xbd" "b\xef\xbf\xbd(\xe2\x82\xac");
	buf_reset(&b);
	TH_OK(srv__utf8_sanitize("\xed\xa0\x80", 3, &b));	/* a surrogate */
	assert_string_equal(buf_cstr(&b), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	buf_release(&b);
}

/* Feeds pieces one by one; returns what was released in total. */
static void run_pieces(const char *const *stop, size_t n_stop,
		       const char *const *pieces, size_t n, const char *want,
		       int want_stopped)
{
	struct srv_textproc t;
	struct buf out;

	buf_init(&out, 0);
	srv__textproc_init(&t, stop, n_stop);
	for (size_t i = 0; i < n && !t.stopped; i++)
		TH_OK(srv__textproc_feed(&t, pieces[i], strlen(pieces[i]), &out));
	assert_int_equal(t.stopped, want_stopped);
	TH_OK(srv__textproc_flush(&t, &out));
	assert_string_equal(buf_cstr(&out), want);
	srv__textproc_release(&t);
	buf_release(&out);
}

static void test_stop_strings(void **state)
{
	const char *stop1[] = { "\n\n" };
	const char *stop2[] = { "END", "}" };
	const char *p1[] = { "int x", ";\n", "\nint y" };
	const char *p2[] = { "ab", "E", "N", "D", "zz" };
	const char *p3[] = { "ab", "E", "N", "x" };
	const char *p4[] = { "a}", "b" };
	const char *p5[] = { "\xe2\x82", "\xac!" };

	(void)state;
	run_pieces(stop1, 1, p1, 3, "int x;", 1);
	run_pieces(stop2, 2, p2, 5, "ab", 1);
	run_pieces(stop2, 2, p3, 4, "abENx", 0);
	run_pieces(stop2, 2, p4, 2, "a", 1);
	run_pieces(NULL, 0, p5, 2, "\xe2\x82\xac!", 0);

	/* Held-back text is not released before it is known to be safe. */
	{
		struct srv_textproc t;
		struct buf out;
		buf_init(&out, 0);
		srv__textproc_init(&t, stop2, 2);
		TH_OK(srv__textproc_feed(&t, "xyEN", 4, &out));
		assert_string_equal(buf_cstr(&out), "xy");
		TH_OK(srv__textproc_feed(&t, "Q", 1, &out));
		assert_string_equal(buf_cstr(&out), "xyENQ");
		srv__textproc_release(&t);
		buf_release(&out);
	}
}

static void test_framing(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	TH_OK(srv__sse_event(&b, "{\"a\":1}", 7));
	TH_OK(srv__sse_done(&b));
	assert_string_equal(buf_cstr(&b), "data: {\"a\":1}\n\ndata: [DONE]\n\n");
	buf_reset(&b);
	TH_OK(srv__error_json(&b, "bad \"x\"\xff", "invalid_request_error", "x", NULL));
	assert_string_equal(buf_cstr(&b),
			    "{\"error\":{\"message\":\"bad \\\"x\\\"\xef\xbf\xbd\","
			    "\"type\":\"invalid_request_error\",\"param\":\"x\",\"code\":null}}");
	buf_release(&b);
}

static void test_sampler(void **state)
{
	float lg[8], copy[8];
	int32_t scratch[8];
	struct srv_rng a, b;
	int32_t seq1[20], seq2[20];

	(void)state;
	for (int i = 0; i < 8; i++)
		lg[i] = (float)i * 0.5f;
	lg[3] = 9;
	memcpy(copy, lg, sizeof lg);
	assert_int_equal(srv__sample(copy, 8, 0, 1, NULL, scratch), 3);
	/* Ties: the lowest id. */
	for (int i = 0; i < 8; i++)
		copy[i] = 1;
	assert_int_equal(srv__sample(copy, 8, 0, 1, NULL, scratch), 0);
	/* A tiny top_p keeps only the most likely token. */
	srv__rng_seed(&a, 7);
	for (int k = 0; k < 50; k++) {
		memcpy(copy, lg, sizeof lg);
		assert_int_equal(srv__sample(copy, 8, 1.0f, 0.01f, &a, scratch), 3);
	}
	/* Same seed, same draws. */
	srv__rng_seed(&a, 42);
	srv__rng_seed(&b, 42);
	for (int k = 0; k < 20; k++) {
		for (int i = 0; i < 8; i++)
			copy[i] = (float)(i % 3);
		seq1[k] = srv__sample(copy, 8, 1.5f, 1.0f, &a, scratch);
		for (int i = 0; i < 8; i++)
			copy[i] = (float)(i % 3);
		seq2[k] = srv__sample(copy, 8, 1.5f, 1.0f, &b, scratch);
		assert_int_equal(seq1[k], seq2[k]);
		assert_true(seq1[k] >= 0 && seq1[k] < 8);
	}
}

/* Both paths (linear draw, nucleus) follow the softmax: a seeded count. */
static void test_sampler_distribution(void **state)
{
	const float base[4] = { 0.6931472f, 0.0f, 0.0f, -30.0f };	/* 2:1:1:~0 */
	float lg[4];
	int32_t scratch[4];
	struct srv_rng r;
	const float top_ps[2] = { 1.0f, 0.99f };

	(void)state;
	for (int t = 0; t < 2; t++) {
		int count[4] = { 0 };
		srv__rng_seed(&r, 11);
		for (int k = 0; k < 4000; k++) {
			memcpy(lg, base, sizeof lg);
			count[srv__sample(lg, 4, 1.0f, top_ps[t], &r, scratch)]++;
		}
		/* Expected 2000, 1000, 1000, 0; bounds are > 5 sigma. */
		if (count[0] < 1800 || count[0] > 2200 || count[1] < 850 ||
		    count[1] > 1150 || count[2] < 850 || count[2] > 1150 || count[3] != 0)
			fail_msg("top_p %.2f: counts %d %d %d %d", top_ps[t], count[0],
				 count[1], count[2], count[3]);
	}
}

static void test_routes(void **state)
{
	static const struct { const char *m, *p; unsigned want; const char *arg; } v[] = {
		{ "GET", "/healthz", 200, NULL },
		{ "POST", "/healthz", 405, NULL },
		{ "GET", "/nope", 404, NULL },
		{ "POST", "/v1/completions", 200, NULL },
		{ "GET", "/v1/completions", 405, NULL },
		{ "POST", "/v1/chat/completions", 200, NULL },
		{ "POST", "/infill", 200, NULL },
		{ "DELETE", "/v1/admin/tokens/12", 200, "12" },
		{ "DELETE", "/v1/admin/tokens/", 404, NULL },
		{ "DELETE", "/v1/admin/tokens/1/x", 404, NULL },
		{ "GET", "/v1/admin/tokens", 200, NULL },
		{ "GET", "/v1/models/", 404, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		unsigned st = 200;
		const struct srv_route *r = srv__route_find(v[i].m, v[i].p, &st);
		if (v[i].want == 200) {
			assert_non_null(r);
			assert_string_equal(r->method, v[i].m);
		} else {
			assert_null(r);
			assert_int_equal(st, v[i].want);
		}
	}
	{
		unsigned st;
		const struct srv_route *r = srv__route_find("GET", "/v1/admin/users", &st);
		assert_int_equal(r->auth, SRV_AUTH_ADMIN);
		r = srv__route_find("GET", "/healthz", &st);
		assert_int_equal(r->auth, SRV_AUTH_NONE);
		r = srv__route_find("POST", "/infill", &st);
		assert_int_equal(r->auth, SRV_AUTH_USER);
	}
}

/* Bad bodies: each with the status, the field and part of the message. */
static void test_request_bad(void **state)
{
	static const struct {
		enum srv_endpoint ep;
		const char *body;
		status_t st;
		const char *param;
		const char *msg;
	} v[] = {
		{ SRV_EP_COMPLETIONS, "", ST_CORRUPT, "", "empty" },
		{ SRV_EP_COMPLETIONS, "{", ST_CORRUPT, "", "invalid JSON at line 1" },
		{ SRV_EP_COMPLETIONS, "[1]", ST_INVAL, "", "must be a JSON object" },
		{ SRV_EP_COMPLETIONS, "{}", ST_INVAL, "prompt", "'prompt' is required" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":1}", ST_INVAL, "prompt", "string or an array" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":[]}", ST_INVAL, "prompt", "must not be empty" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":[\"a\",\"b\"]}", ST_INVAL, "prompt", "batches" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":[1,-2]}", ST_INVAL, "prompt", "token ids" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"max_tokens\":\"5\"}", ST_INVAL, "max_tokens", "integer" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"max_tokens\":0}", ST_INVAL, "max_tokens", "between 1" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"max_tokens\":1.5}", ST_INVAL, "max_tokens", "integer" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"temperature\":3}", ST_INVAL, "temperature", "between 0 and 2" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"temperature\":\"hot\"}", ST_INVAL, "temperature", "number" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"top_p\":1.5}", ST_INVAL, "top_p", "between 0 and 1" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"stream\":1}", ST_INVAL, "stream", "true or false" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"stop\":5}", ST_INVAL, "stop", "string or an array" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"stop\":[\"x\",1]}", ST_INVAL, "stop", "string or an array" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", ST_INVAL, "stop", "at most 16" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"echo\":true}", ST_INVAL, "echo", "not supported" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"n\":2}", ST_INVAL, "n", "must be 1" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"logprobs\":5}", ST_INVAL, "logprobs", "not supported" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"best_of\":3}", ST_INVAL, "best_of", "must be 1" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"suffix\":7}", ST_INVAL, "suffix", "string" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":[1,2],\"suffix\":\"x\"}", ST_INVAL, "suffix", "text prompt" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"seed\":\"x\"}", ST_INVAL, "seed", "integer" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"stream_options\":1}", ST_INVAL, "stream_options", "object" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\",\"prompt\":\"b\"}", ST_CORRUPT, "", "duplicate" },
		{ SRV_EP_COMPLETIONS, "{\"prompt\":\"a\\u0000b\"}", ST_CORRUPT, "", "invalid JSON" },
		{ SRV_EP_CHAT, "{}", ST_INVAL, "messages", "is required" },
		{ SRV_EP_CHAT, "{\"messages\":[]}", ST_INVAL, "messages", "non-empty" },
		{ SRV_EP_CHAT, "{\"messages\":{}}", ST_INVAL, "messages", "non-empty" },
		{ SRV_EP_CHAT, "{\"messages\":[1]}", ST_INVAL, "messages", "string 'role'" },
		{ SRV_EP_CHAT, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", ST_INVAL, "messages", "role must be" },
		{ SRV_EP_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", ST_INVAL, "messages", "content must be" },
		{ SRV_EP_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", ST_INVAL, "messages", "content parts" },
		{ SRV_EP_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":-3}", ST_INVAL, "max_completion_tokens", "between" },
		{ SRV_EP_INFILL, "{\"input_prefix\":5}", ST_INVAL, "input_prefix", "string" },
		{ SRV_EP_INFILL, "{\"input_extra\":\"x\"}", ST_INVAL, "input_extra", "array" },
		{ SRV_EP_INFILL, "{\"input_extra\":[{\"text\":1}]}", ST_INVAL, "input_extra", "items need" },
		{ SRV_EP_INFILL, "{\"n_predict\":-5}", ST_INVAL, "n_predict", "between -1" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct srv_request q;
		char param[64];
		struct err e;
		status_t st;

		err_clear(&e);
		st = srv__request_parse(v[i].ep, v[i].body, strlen(v[i].body), &q,
					param, sizeof param, &e);
		if (st != v[i].st || strcmp(param, v[i].param) != 0 ||
		    !strstr(e.msg, v[i].msg))
			fail_msg("case %zu (%s): got %s param '%s' msg '%s'; want %s '%s' '%s'",
				 i, v[i].body, status_name(st), param, e.msg,
				 status_name(v[i].st), v[i].param, v[i].msg);
		srv__request_release(&q);
	}
}

static void test_request_good(void **state)
{
	struct srv_request q;
	char param[64];
	struct err e;
	const char *body =
		"{\"model\":\"m\",\"prompt\":[\"def f(\"],\"suffix\":\"\\n\",\"max_tokens\":7,"
		"\"temperature\":0,\"top_p\":0.5,\"stop\":[\"\\n\\n\",\"\"],\"seed\":3,"
		"\"stream\":true,\"stream_options\":{\"include_usage\":true},"
		"\"frequency_penalty\":1,\"user\":\"x\",\"echo\":false,\"logprobs\":null}";

	(void)state;
	TH_OK(srv__request_parse(SRV_EP_COMPLETIONS, body, strlen(body), &q, param,
				 sizeof param, &e));
	assert_string_equal(q.model, "m");
	assert_string_equal(q.prompt, "def f(");
	assert_string_equal(q.suffix, "\n");
	assert_int_equal(q.gp.max_tokens, 7);
	assert_true(q.gp.temperature == 0.0f);
	assert_true(q.gp.top_p == 0.5f);
	assert_int_equal(q.gp.n_stop, 1);
	assert_string_equal(q.gp.stop[0], "\n\n");
	assert_int_equal(q.gp.has_seed, 1);
	assert_int_equal(q.gp.seed, 3);
	assert_int_equal(q.gp.stream, 1);
	assert_int_equal(q.gp.include_usage, 1);
	srv__request_release(&q);

	body = "{\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
	       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
	       "{\"type\":\"text\",\"text\":\"b\"}]}],\"max_completion_tokens\":9}";
	TH_OK(srv__request_parse(SRV_EP_CHAT, body, strlen(body), &q, param,
				 sizeof param, &e));
	assert_int_equal(q.n_msgs, 2);
	assert_string_equal(q.msgs[0].role, "system");
	assert_string_equal(q.msgs[1].content, "ab");
	assert_int_equal(q.gp.max_tokens, 9);
	srv__request_release(&q);

	body = "{\"input_prefix\":\"a\",\"input_suffix\":\"b\",\"prompt\":\"c\","
	       "\"input_extra\":[{\"filename\":\"x.c\",\"text\":\"int x;\"},{\"text\":\"y\"}],"
	       "\"n_predict\":-1,\"samplers\":[\"top_k\"],\"cache_prompt\":true}";
	TH_OK(srv__request_parse(SRV_EP_INFILL, body, strlen(body), &q, param,
				 sizeof param, &e));
	assert_string_equal(q.input_prefix, "a");
	assert_string_equal(q.input_suffix, "b");
	assert_string_equal(q.infill_prompt, "c");
	assert_int_equal(q.n_extra, 2);
	assert_string_equal(q.extra[0].filename, "x.c");
	assert_string_equal(q.extra[1].filename, "");
	assert_int_equal(q.gp.max_tokens, -1);
	srv__request_release(&q);
}

/* Every allocation of a parse may fail: the parser reports it, leaks
 * nothing (ASan) and never crashes. */
static void test_request_alloc_failures(void **state)
{
	const char *body =
		"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}],"
		"\"stop\":[\"x\",\"y\"],\"max_tokens\":3}";
	int ok = 0;

	(void)state;
	for (long n = 0; n < 200 && !ok; n++) {
		struct srv_request q;
		char param[64];
		struct err e;
		status_t st;

		mem_fail_after(n, 1);
		st = srv__request_parse(SRV_EP_CHAT, body, strlen(body), &q, param,
					sizeof param, &e);
		mem_fail_reset();
		if (st == ST_OK)
			ok = 1;
		else
			assert_int_equal(st, ST_NOMEM);
		srv__request_release(&q);
	}
	assert_true(ok);
}

int run_server_text_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_stop_strings),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_sampler),
		cmocka_unit_test(test_sampler_distribution),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_request_bad),
		cmocka_unit_test(test_request_good),
		cmocka_unit_test(test_request_alloc_failures),
	};
	return cmocka_run_group_tests_name("server_text", tests, NULL, NULL);
}
