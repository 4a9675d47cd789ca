/*
 * srv_policy_reload.c - reloading the configured policy bundle while the
 * server runs: POST /v1/admin/policy/reload and SIGHUP (through
 * srv_policy_reload). A reload that fails keeps the last good bundle
 * active (the engine swaps only on success) and says why; every attempt,
 * good or bad, is an admin record in the audit log.
 */
#include "server/server_int.h"
#include "audit/audit.h"
#include "policy/policy.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

/*
 * One reload at a time, process-wide: the engine itself is safe against
 * concurrent checks, but two reloads racing (a SIGHUP during an HTTP
 * reload) would make the audit trail's order of outcomes ambiguous.
 */
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;

void srv_set_policy_config(struct srv *s, const struct config *cfg)
{
	s->policy_cfg = cfg;
}

status_t srv_policy_reload(struct srv *s, const char *actor,
			   struct srv_policy_reload_info *info, struct err *e)
{
	struct pol_bundle_info bi;
	struct aud_admin a;
	struct err ie, ae;
	const char *bundle;
	char detail[1024], why[900];
	status_t st;

	if (info)
		memset(info, 0, sizeof *info);
	if (!s->policy || !s->policy_cfg)
		return err_set(e, ST_UNSUPPORTED,
			       "this server has no policy configuration to reload");
	bundle = config_str(s->policy_cfg, "policy.bundle");
	if (!bundle || !*bundle)
		bundle = "(built-in rules)";
	pthread_mutex_lock(&reload_mu);
	err_clear(&ie);
	st = pol_engine_configure(s->policy, s->policy_cfg, &ie);
	if (st == ST_OK) {
		memset(&bi, 0, sizeof bi);
		pol_engine_info(s->policy, &bi);
		snprintf(detail, sizeof detail, "ok: %zu rules, digest %s", bi.n_rules, bi.digest);
		if (info) {
			info->n_rules = bi.n_rules;
			str_copy(info->digest, bi.digest, sizeof info->digest);
		}
		LOG_INFO("server.policy_reload", LF_STR("by", actor), LF_STR("bundle", bundle),
			 LF_INT("rules", (int64_t)bi.n_rules), LF_STR("digest", bi.digest));
	} else {
		err_format(&ie, why, sizeof why);
		snprintf(detail, sizeof detail, "failed, last good bundle kept: %s", why);
		LOG_WARN("server.policy_reload", LF_STR("by", actor), LF_STR("bundle", bundle),
			 LF_STR("error", why), LF_STR("kept", "last good bundle"));
	}
	if (s->audit) {
		memset(&a, 0, sizeof a);
		a.actor = actor;
		a.action = "policy.reload";
		a.target = bundle;
		a.detail = detail;
		err_clear(&ae);
		if (aud_log_admin(s->audit, &a, NULL, &ae) != ST_OK)
			LOG_ERROR("server.audit", LF_STR("action", "policy.reload"),
				  LF_STR("error", ae.msg));
	}
	pthread_mutex_unlock(&reload_mu);
	if (st != ST_OK && e)
		*e = ie;
	return st;
}

int srv__h_policy_reload(struct srv_rctx *r)
{
	struct srv_policy_reload_info info;
	char why[900];
	struct err e;
	json_t *out;
	int ret;

	err_clear(&e);
	if (srv_policy_reload(r->s, r->who.user, &info, &e) != ST_OK) {
		err_format(&e, why, sizeof why);
		if (e.st == ST_UNSUPPORTED)
			return srv__respond_error(r, 404, "invalid_request_error", "not_found",
						  NULL, why);
		/* The request was fine; the bundle on disk is not. */
		return srv__respond_error(r, 422, "invalid_request_error",
					  "policy_reload_failed", NULL, why);
	}
	out = json_pack("{s:b, s:I, s:s}", "reloaded", 1, "rules", (json_int_t)info.n_rules,
			"digest", info.digest);
	ret = out ? srv__respond_json(r, 200, out) : MHD_NO;
	json_decref(out);
	return ret;
}
