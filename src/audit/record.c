/*
 * record.c - what a record says: the JSON payloads of request and admin
 * records (jansson). Hashes are lower-case hex; times are RFC 3339 UTC
 * with nanoseconds plus the raw ns value; text of prompts and outputs
 * goes in only when the operator turned audit.store_content on.
 */
#include "audit/audit_int.h"

#include <stdlib.h>

#include <jansson.h>
#include <string.h>
#include <time.h>

/* Formats ns since the epoch as "2026-01-02T03:04:05.123456789Z". */
static void rfc3339(uint64_t ns, char *out, size_t n)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned long long)(ns % 1000000000ull));
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return v ? json_object_set_new(o, k, json_string(v)) : 0;
}

static int set_hash(json_t *o, const char *k, const uint8_t *h)
{
	char hex[2 * SHA256_LEN + 1];

	if (!h)
		return 0;
	return json_object_set_new(o, k, json_string(hex_encode(h, SHA256_LEN, hex)));
}

/* Serialises o (consumed) into a heap string freed with mem_free. */
static status_t dump(json_t *o, int rc, char **out, size_t *len, struct err *e)
{
	char *s;

	if (rc != 0 || !o) {
		json_decref(o);
		return err_set(e, ST_INVAL, "audit record: a field is not valid UTF-8 or memory ran out");
	}
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return err_set(e, ST_NOMEM, "audit record: out of memory");
	*out = mem_strdup(s);
	free(s);
	if (!*out)
		return err_set(e, ST_NOMEM, "audit record: out of memory");
	*len = strlen(*out);
	return ST_OK;
}

status_t aud_request_json(const struct aud_request *r, int store_content, char **out,
			  size_t *len, struct err *e)
{
	json_t *o = json_object(), *a;
	uint64_t t = r->time_ns ? r->time_ns : time_wall_ns();
	char ts[64];
	int rc = 0;

	if (!o)
		return err_set(e, ST_NOMEM, "audit record: out of memory");
	rfc3339(t, ts, sizeof ts);
	rc |= set_str(o, "kind", "request");
	rc |= set_str(o, "id", r->id);
	rc |= set_str(o, "time", ts);
	rc |= json_object_set_new(o, "time_ns", json_integer((json_int_t)t));
	rc |= set_str(o, "user", r->user);
	rc |= set_str(o, "team", r->team);
	rc |= set_str(o, "endpoint", r->endpoint);
	rc |= set_str(o, "model", r->model);
	rc |= set_hash(o, "model_sha256", r->model_sha256);
	rc |= set_hash(o, "prompt_sha256", r->prompt_sha256);
	rc |= set_hash(o, "output_sha256", r->output_sha256);
	rc |= json_object_set_new(o, "prompt_tokens", json_integer(r->prompt_tokens));
	rc |= json_object_set_new(o, "output_tokens", json_integer(r->output_tokens));
	rc |= json_object_set_new(o, "latency_ms", json_integer(r->latency_ms));
	rc |= set_str(o, "status", r->status);
	a = json_array();
	for (size_t i = 0; a && i < r->n_decisions; i++) {
		json_t *d = json_object();
		rc |= set_str(d, "rule", r->decisions[i].rule_id);
		rc |= set_str(d, "action", r->decisions[i].action);
		rc |= json_array_append_new(a, d);
	}
	rc |= json_object_set_new(o, "decisions", a);
	a = json_array();
	for (size_t i = 0; a && i < r->n_sources; i++) {
		const struct aud_source *s = &r->sources[i];
		json_t *d = json_object();
		rc |= set_str(d, "repo", s->repo);
		rc |= set_str(d, "path", s->path);
		if (s->line_start)
			rc |= json_object_set_new(d, "lines",
						  json_pack("[II]", (json_int_t)s->line_start,
							    (json_int_t)s->line_end));
		rc |= set_str(d, "doc", s->doc_id);
		rc |= json_array_append_new(a, d);
	}
	rc |= json_object_set_new(o, "sources", a);
	if (store_content) {
		rc |= set_str(o, "prompt", r->prompt_text);
		rc |= set_str(o, "output", r->output_text);
	}
	return dump(o, rc, out, len, e);
}

status_t aud_log_request(struct aud_log *log, const struct aud_request *r,
			 uint64_t *seq_out, struct err *e)
{
	char *p;
	size_t n;
	status_t st;

	if ((st = aud_request_json(r, aud__log_store_content(log), &p, &n, e)) != ST_OK)
		return st;
	st = aud_log_append(log, AUD_T_REQUEST, p, n, seq_out, e);
	mem_free(p);
	return st;
}

status_t aud_log_admin(struct aud_log *log, const struct aud_admin *a, uint64_t *seq_out,
		       struct err *e)
{
	json_t *o = json_object();
	uint64_t t = a->time_ns ? a->time_ns : time_wall_ns();
	char ts[64], *p;
	size_t n;
	int rc = 0;
	status_t st;

	if (!o)
		return err_set(e, ST_NOMEM, "audit record: out of memory");
	rfc3339(t, ts, sizeof ts);
	rc |= set_str(o, "kind", "admin");
	rc |= set_str(o, "time", ts);
	rc |= json_object_set_new(o, "time_ns", json_integer((json_int_t)t));
	rc |= set_str(o, "actor", a->actor);
	rc |= set_str(o, "action", a->action);
	rc |= set_str(o, "target", a->target);
	rc |= set_str(o, "detail", a->detail);
	if ((st = dump(o, rc, &p, &n, e)) != ST_OK)
		return st;
	st = aud_log_append(log, AUD_T_ADMIN, p, n, seq_out, e);
	mem_free(p);
	return st;
}
