/*
 * srv_audit_http.c - the admin routes that read the audit log over HTTP,
 * the equivalents of `airlock audit verify|list|proof|consistency|
 * checkpoint`: whole-log verification, filtered records as JSON lines,
 * inclusion and consistency proofs against the running log's latest
 * checkpoint, and the latest signed checkpoint itself.
 */
#include "server/server_int.h"
#include "audit/audit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

/* At most this many records per /v1/admin/audit/records answer. */
#define AUDIT_RECORDS_MAX 100000

void srv_set_audit_dir(struct srv *s, const char *data_dir)
{
	str_copy(s->audit_dir, data_dir ? data_dir : "", sizeof s->audit_dir);
}

static const char *qarg(struct srv_rctx *r, const char *key)
{
	const char *v = r->c ? MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, key) :
		NULL;
	return v && *v ? v : NULL;
}

static int bad_param(struct srv_rctx *r, const char *param, const char *msg)
{
	return srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
				  param, msg);
}

/* The routes need the log: a server without one answers 404. */
static int no_log(struct srv_rctx *r)
{
	return srv__respond_error(r, 404, "invalid_request_error", "not_found", NULL,
				  "the audit log is not enabled on this server");
}

int srv__h_audit_verify(struct srv_rctx *r)
{
	struct aud_verify_report rep;
	struct buf out;
	struct err e;
	status_t st;
	int ret;

	if (!r->s->audit_dir[0])
		return no_log(r);
	err_clear(&e);
	memset(&rep, 0, sizeof rep);
	st = aud_verify(r->s->audit_dir, NULL, 0, NULL, &rep, &e);
	/* A log that fails verification is an answer (ok:false), not an error. */
	if (st != ST_OK && st != ST_VERIFY)
		return srv__respond_err(r, &e, NULL);
	buf_init(&out, 0);
	err_clear(&e);
	if (aud_verify_report_json(&rep, &out, &e) != ST_OK || buf_putc(&out, '\n') != ST_OK) {
		buf_release(&out);
		return srv__respond_err(r, &e, NULL);
	}
	ret = srv__respond(r, 200, "application/json", out.data, out.len);
	buf_release(&out);
	return ret;
}

struct records_arg {
	struct buf out;
	int64_t limit;
	int64_t n;
	int failed;
};

static int records_cb(void *arg, const struct aud_record *rec, const char *line, size_t len)
{
	struct records_arg *a = arg;

	(void)rec;
	if (a->n >= a->limit)
		return 1;
	if (buf_append(&a->out, line, len) != ST_OK || buf_putc(&a->out, '\n') != ST_OK) {
		a->failed = 1;
		return 1;
	}
	a->n++;
	return 0;
}

int srv__h_audit_records(struct srv_rctx *r)
{
	struct aud_query q;
	struct records_arg a;
	const char *v;
	struct err e;
	int ret;

	if (!r->s->audit_dir[0])
		return no_log(r);
	aud_query_init(&q);
	q.user = qarg(r, "user");
	q.team = qarg(r, "team");
	q.action = qarg(r, "action");
	if ((v = qarg(r, "since")) && parse_time_ns(v, &q.since_ns) != ST_OK)
		return bad_param(r, "since", "'since' must be a date (2026-01-31), a time "
				 "(2026-01-31T12:00:00Z) or a duration such as 7d or 12h");
	if ((v = qarg(r, "until")) && parse_time_ns(v, &q.until_ns) != ST_OK)
		return bad_param(r, "until", "'until' must be a date (2026-01-31), a time "
				 "(2026-01-31T12:00:00Z) or a duration such as 7d or 12h");
	memset(&a, 0, sizeof a);
	a.limit = 1000;
	if ((v = qarg(r, "limit")) && parse_i64(v, 1, AUDIT_RECORDS_MAX, &a.limit) != ST_OK)
		return bad_param(r, "limit", "'limit' must be an integer from 1 to 100000");
	buf_init(&a.out, 0);
	err_clear(&e);
	if (aud_query_run(r->s->audit_dir, &q, records_cb, &a, &e) != ST_OK) {
		buf_release(&a.out);
		return srv__respond_err(r, &e, NULL);
	}
	if (a.failed) {
		buf_release(&a.out);
		return srv__respond_error(r, 500, "server_error", "internal_error", NULL,
					  "out of memory");
	}
	ret = srv__respond(r, 200, "application/x-ndjson", a.out.data ? a.out.data : "",
			   a.out.len);
	buf_release(&a.out);
	return ret;
}

static int respond_buf_json(struct srv_rctx *r, struct buf *out)
{
	if (buf_putc(out, '\n') != ST_OK)
		return srv__respond_error(r, 500, "server_error", "internal_error", NULL,
					  "out of memory");
	return srv__respond(r, 200, "application/json", out->data, out->len);
}

int srv__h_audit_proof(struct srv_rctx *r)
{
	int64_t idx;
	struct buf out;
	struct err e;
	int ret;

	if (!r->s->audit)
		return no_log(r);
	if (parse_i64(r->arg, 0, INT64_MAX, &idx) != ST_OK)
		return bad_param(r, NULL, "the record index in the path must be a "
				 "non-negative integer");
	buf_init(&out, 0);
	err_clear(&e);
	if (aud_log_inclusion_json(r->s->audit, (uint64_t)idx, &out, &e) != ST_OK)
		ret = srv__respond_err(r, &e, NULL);
	else
		ret = respond_buf_json(r, &out);
	buf_release(&out);
	return ret;
}

int srv__h_audit_consistency(struct srv_rctx *r)
{
	const char *vo = qarg(r, "old"), *vn = qarg(r, "new");
	int64_t s1, s2;
	struct buf out;
	struct err e;
	int ret;

	if (!r->s->audit)
		return no_log(r);
	if (!vo || parse_i64(vo, 0, INT64_MAX, &s1) != ST_OK)
		return bad_param(r, "old", "'old' (a tree size) is required and must be a "
				 "non-negative integer");
	if (!vn || parse_i64(vn, 0, INT64_MAX, &s2) != ST_OK)
		return bad_param(r, "new", "'new' (a tree size) is required and must be a "
				 "non-negative integer");
	if (s1 > s2)
		return bad_param(r, "old", "'old' must not be larger than 'new'");
	buf_init(&out, 0);
	err_clear(&e);
	if (aud_log_consistency_json(r->s->audit, (uint64_t)s1, (uint64_t)s2, &out, &e) != ST_OK)
		ret = srv__respond_err(r, &e, NULL);
	else
		ret = respond_buf_json(r, &out);
	buf_release(&out);
	return ret;
}

int srv__h_audit_checkpoint(struct srv_rctx *r)
{
	struct buf note;
	struct err e;
	int ret;

	if (!r->s->audit_dir[0])
		return no_log(r);
	buf_init(&note, 0);
	err_clear(&e);
	if (aud_checkpoint_latest(r->s->audit_dir, &note, &e) != ST_OK)
		ret = srv__respond_err(r, &e, NULL);
	else
		ret = srv__respond(r, 200, "text/plain; charset=utf-8",
				   note.data ? note.data : "", note.len);
	buf_release(&note);
	return ret;
}
