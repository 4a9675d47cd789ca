/*
 * srv_telemetry.c - the server's side of telemetry: GET /metrics
 * (Prometheus text), the standard families updated for every finished
 * request, usage events for generation requests, and POST /v1/events for
 * the client's feedback (shown, accepted, rejected, partial).
 */
#include "server/server_int.h"
#include "audit/audit.h"
#include "telemetry/telemetry.h"

#include <string.h>

#include <microhttpd.h>

void srv_set_telemetry(struct srv *s, struct tel_registry *reg,
		       const struct tel_std *std, struct tel_store *usage)
{
	s->metrics = reg;
	s->std = std;
	s->usage = usage;
}

void srv__telemetry_record(struct srv *s, const struct srv_request_record *rec)
{
	const struct srv_route *rt;
	const char *endpoint;
	unsigned dummy;
	int generated = rec->model && *rec->model;
	struct err e;

	if (!s->std && !s->usage)
		return;
	/* Label by route, never by the raw path: unknown paths would make
	 * the label set unbounded. */
	rt = srv__route_find(rec->method, rec->path, &dummy);
	endpoint = rt ? rt->path : "unmatched";
	if (s->std)
		tel_std_request(s->std, endpoint, (int)rec->status, generated ? rec->model : "",
				rec->total_ms / 1e3,
				generated && rec->ttft_ms > 0 ? rec->ttft_ms / 1e3 : -1,
				rec->prompt_tokens, rec->completion_tokens,
				generated ? rec->cached_tokens > 0 : -1);
	if (s->usage && generated) {
		struct tel_usage u;
		memset(&u, 0, sizeof u);
		u.request_id = rec->id;
		u.user = rec->who && rec->who->user[0] ? rec->who->user : NULL;
		u.team = rec->who && rec->who->team[0] ? rec->who->team : NULL;
		u.model = rec->model;
		u.endpoint = endpoint;
		u.prompt_tokens = rec->prompt_tokens;
		u.output_tokens = rec->completion_tokens;
		u.latency_ms = rec->total_ms;
		u.ttft_ms = rec->ttft_ms > 0 ? rec->ttft_ms : -1;
		u.cache_hit = rec->cached_tokens > 0;
		err_clear(&e);
		if (tel_usage_record(s->usage, &u, &e) != ST_OK)
			LOG_WARN("server.usage", LF_STR("id", rec->id), LF_STR("error", e.msg));
	}
}

int srv__h_metrics(struct srv_rctx *r)
{
	struct srv_stats st;
	struct buf out;
	int ret;

	if (!r->s->metrics)
		return srv__respond_error(r, 404, "invalid_request_error", "unknown_url",
					  NULL, "metrics are not enabled on this server");
	srv_stats_get(r->s, &st);
	if (r->s->std) {
		tel_gauge_set(r->s->std->queue_depth, NULL, st.queued);
		tel_gauge_set(r->s->std->active_sequences, NULL, st.slots_busy);
		if (r->s->audit) {
			/* The audit log keeps its own counts; copy them in. */
			struct aud_stats as;
			aud_log_stats(r->s->audit, &as);
			tel_counter_set(r->s->std->audit_appends, NULL, (double)as.appends);
			tel_counter_set(r->s->std->audit_fsyncs, NULL, (double)as.fsyncs);
			tel_counter_set(r->s->std->audit_fsync_seconds, NULL,
					(double)as.fsync_ns_total / 1e9);
		}
	}
	buf_init(&out, 0);
	if (tel_registry_expose(r->s->metrics, &out) != ST_OK) {
		buf_release(&out);
		return srv__respond_error(r, 500, "server_error", "internal_error", NULL,
					  "cannot write the metrics");
	}
	ret = srv__respond(r, 200, "text/plain; version=0.0.4; charset=utf-8",
			   out.data ? out.data : "", out.len);
	buf_release(&out);
	return ret;
}

/*
 * POST /v1/events: {"request_id": "...", "event": "shown|accepted|
 * rejected|partial", "accepted_chars"?: N, "model"?: "..."}. The user and
 * team are the caller's.
 */
int srv__h_events(struct srv_rctx *r)
{
	json_error_t je;
	json_t *o, *id, *ev, *ac, *model;
	struct tel_feedback f;
	struct err e;
	int ret;

	if (!r->s->usage)
		return srv__respond_error(r, 404, "invalid_request_error", "unknown_url",
					  NULL, "usage events are not enabled on this server");
	o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
					  NULL, "the body must be a JSON object");
	}
	memset(&f, 0, sizeof f);
	id = json_object_get(o, "request_id");
	ev = json_object_get(o, "event");
	ac = json_object_get(o, "accepted_chars");
	model = json_object_get(o, "model");
	if (!json_is_string(id) || json_string_length(id) == 0 ||
	    json_string_length(id) > 64) {
		ret = srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
					 "request_id", "'request_id' must be the X-Request-Id of a completion");
		goto out;
	}
	if (!json_is_string(ev) ||
	    tel_feedback_kind_parse(json_string_value(ev), &f.kind) != ST_OK) {
		ret = srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
					 "event", "'event' must be shown, accepted, rejected or partial");
		goto out;
	}
	if (ac && !json_is_null(ac) && (!json_is_integer(ac) || json_integer_value(ac) < 0)) {
		ret = srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
					 "accepted_chars", "'accepted_chars' must be a non-negative integer");
		goto out;
	}
	if (model && !json_is_null(model) && !json_is_string(model)) {
		ret = srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
					 "model", "'model' must be a string");
		goto out;
	}
	f.request_id = json_string_value(id);
	f.user = r->who.user[0] ? r->who.user : NULL;
	f.team = r->who.team[0] ? r->who.team : NULL;
	f.model = json_is_string(model) ? json_string_value(model) :
		r->s->b ? r->s->b->model_id : NULL;
	f.accepted_chars = json_is_integer(ac) ? json_integer_value(ac) : 0;
	err_clear(&e);
	if (tel_feedback_record(r->s->usage, &f, &e) != ST_OK) {
		ret = srv__respond_err(r, &e, NULL);
		goto out;
	}
	ret = srv__respond(r, 200, "application/json", "{\"recorded\":true}\n", 18);
out:
	json_decref(o);
	return ret;
}
