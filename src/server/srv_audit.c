/*
 * srv_audit.c - the server's side of the audit log: one record per
 * generation request, appended (durably, by default) before the response
 * completes, and one per admin action.
 */
#include "server/server_int.h"
#include "audit/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void srv_set_audit(struct srv *s, struct aud_log *log, int store_content)
{
	s->audit = log;
	s->audit_content = store_content;
}

status_t srv__audit_request(struct srv *s, const char *id,
			    const struct srv_identity *who, const char *endpoint,
			    const char *body, size_t body_len, const char *out,
			    size_t out_len, const uint8_t *out_hash,
			    const struct srv_job *j, double latency_ms,
			    const char *outcome, struct err *e)
{
	uint8_t ph[SHA256_LEN], oh[SHA256_LEN];
	struct aud_request a;
	struct buf ptext, otext;
	status_t st;

	if (!s->audit)
		return ST_OK;
	sha256(body, body_len, ph);
	if (out)
		sha256(out, out_len, oh);
	else if (out_hash)
		memcpy(oh, out_hash, sizeof oh);
	memset(&a, 0, sizeof a);
	a.id = id;
	a.user = who->user[0] ? who->user : NULL;
	a.team = who->team[0] ? who->team : NULL;
	a.endpoint = endpoint;
	a.model = s->b ? s->b->model_id : srv__index_model(s) ? "airlock-index" : NULL;
	a.model_sha256 = s->b && s->b->has_model_sha256 ? s->b->model_sha256 : NULL;
	a.prompt_sha256 = ph;
	a.output_sha256 = out || out_hash ? oh : NULL;
	a.prompt_tokens = j->n_prompt;
	a.output_tokens = j->n_gen;
	a.latency_ms = (int64_t)latency_ms;
	a.status = outcome;
	buf_init(&ptext, 0);
	buf_init(&otext, 0);
	if (s->audit_content) {
		/* The audit module keeps text only with audit.store_content;
		 * it must be valid UTF-8 for the JSON record. */
		srv__utf8_sanitize(body, body_len, &ptext);
		a.prompt_text = buf_cstr(&ptext);
		if (out) {
			srv__utf8_sanitize(out, out_len, &otext);
			a.output_text = buf_cstr(&otext);
		}
	}
	st = aud_log_request(s->audit, &a, NULL, e);
	buf_release(&ptext);
	buf_release(&otext);
	if (st != ST_OK)
		LOG_ERROR("server.audit", LF_STR("id", id), LF_STR("error", e ? e->msg : ""));
	return st;
}

void srv__audit_admin(struct srv *s, const char *actor, const char *action,
		      const char *target)
{
	struct aud_admin a;
	struct err e;

	if (!s->audit)
		return;
	memset(&a, 0, sizeof a);
	a.actor = actor;
	a.action = action;
	a.target = target;
	err_clear(&e);
	if (aud_log_admin(s->audit, &a, NULL, &e) != ST_OK)
		LOG_ERROR("server.audit", LF_STR("action", action), LF_STR("error", e.msg));
}

status_t srv_audit_admin_offline(const char *data_dir, const struct config *cfg,
				 const char *actor, const char *action,
				 const char *target, struct err *e)
{
	struct aud_options o;
	struct aud_log *log;
	struct aud_admin a;
	char who[96];
	status_t st;

	if (!actor) {
		const char *login = getenv("USER");
		snprintf(who, sizeof who, "cli:%.64s", login && *login ? login : "unknown");
		actor = who;
	}
	aud_options_from_config(&o, cfg);
	if ((st = aud_log_open(data_dir, &o, &log, e)))
		return st;
	memset(&a, 0, sizeof a);
	a.actor = actor;
	a.action = action;
	a.target = target;
	st = aud_log_admin(log, &a, NULL, e);
	aud_log_close(log);
	return st;
}
