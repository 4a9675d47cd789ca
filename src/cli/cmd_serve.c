/*
 * cmd_serve.c - `airlock serve`: opens the store, binds the listening
 * socket, locks the process down (Landlock, seccomp: no outbound
 * connection, writes only in the data directory), then opens the model and
 * starts the HTTP server; runs until SIGINT or SIGTERM.
 *
 * The order matters: the sandbox applies only to a single-threaded process,
 * and the engine's contexts and libmicrohttpd start threads, so everything
 * that needs a permission the sandbox withdraws (binding, reading the TLS
 * files) happens before it and every thread after it.
 */
#include "audit/audit.h"
#include "cli/cli.h"
#include "context/context.h"
#include "policy/policy.h"
#include "sandbox/sandbox.h"
#include "server/server.h"
#include "telemetry/telemetry.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Telemetry sinks ask the sandbox, the one reader of egress.allow. */
static status_t egress_adapter(void *arg, const char *host, int port, struct err *e)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;

	return sbx_egress_check(arg, host, port, &sa, &len, e);
}

/* The usage store, the export sinks and the metrics registry. */
struct telem {
	struct sqlite3 *db;
	struct tel_sinks *sinks;
	struct tel_store *usage;
	struct tel_registry *reg;
	struct tel_std std;
};

static status_t telem_open(struct cli *cli, struct telem *t, struct err *e)
{
	char path[4096];
	status_t st;

	memset(t, 0, sizeof *t);
	snprintf(path, sizeof path, "%s/airlock.db", cli->data_dir);
	if ((st = db_open(path, &t->db, e)) ||
	    (st = tel_sinks_open_config(cli->cfg, cli->data_dir, egress_adapter,
					(void *)cli->cfg, &t->sinks, e)) ||
	    (st = tel_store_open(t->db, t->sinks, &t->usage, e)))
		return st;
	if ((st = tel_registry_new(&t->reg)))
		return err_set(e, st, "metrics registry: %s", status_str(st));
	if ((st = tel_std_register(t->reg, &t->std, e)))
		return st;
	/* The http sink's sent/dropped/failed counters, when it is on. */
	return tel_sinks_metrics_register(t->sinks, t->reg, e);
}

static void telem_close(struct telem *t)
{
	tel_store_close(t->usage);
	tel_sinks_close(t->sinks);
	db_close(t->db);
	tel_registry_free(t->reg);
}

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	const char *model = config_str(cli->cfg, "model.path");
	struct srv_options o;
	struct srv_store *store = NULL;
	struct srv_backend backend, *bp = NULL;
	struct srv *s = NULL;
	struct err e;
	struct sbx_report rep;
	struct telem tm;
	struct aud_log *audit = NULL;
	struct ctx *cx = NULL;
	struct ctx_ngram *ngram = NULL;
	struct pol_engine *policy = NULL;
	struct provenance *prov = NULL;
	struct aud_options ao;
	sigset_t set;
	int sig = 0, rc = EXIT_OK, allow_unsandboxed = 0;

	err_clear(&e);
	memset(&backend, 0, sizeof backend);
	srv_options_from_config(&o, cli->cfg);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			model = argv[++i];
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			o.listen = argv[++i];
		else if (strcmp(argv[i], "--no-prompt-cache") == 0)
			o.prompt_cache = 0;
		else if (strcmp(argv[i], "--allow-unsandboxed") == 0)
			allow_unsandboxed = 1;
		else {
			cli_error("serve", "unexpected argument '%s' (see airlock serve --help)",
				  argv[i]);
			return EXIT_USAGE;
		}
	}
	/*
	 * Every thread the server starts inherits this mask, so the signals
	 * reach only the sigwait below.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);	/* reload the policy bundle */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (srv_store_open_dir(cli->data_dir, &store, &e)) {
		cli_error_err("store", &e);
		return cli_exit_for(e.st);
	}
	memset(&rep, 0, sizeof rep);
	memset(&tm, 0, sizeof tm);
	if (srv_new(&o, store, model && *model ? &backend : NULL, &s, &e) ||
	    srv_bind(s, &e)) {
		cli_error_err("serve", &e);
		rc = cli_exit_for(e.st);
		goto out;
	}
	/* Sinks may need a socket the sandbox forbids later: open them now. */
	if (telem_open(cli, &tm, &e)) {
		cli_error_err("telemetry", &e);
		rc = cli_exit_for(e.st);
		goto out;
	}
	srv_set_telemetry(s, tm.reg, &tm.std, tm.usage);
	/* The audit log and its signing key live in the data directory. */
	aud_options_from_config(&ao, cli->cfg);
	if (aud_log_open(cli->data_dir, &ao, &audit, &e)) {
		cli_error_err("audit", &e);
		rc = cli_exit_for(e.st);
		goto out;
	}
	srv_set_audit(s, audit, config_bool(cli->cfg, "audit.store_content"));
	srv_set_audit_dir(s, cli->data_dir);
	/* The context engine: /v1/context, and without a model file the index
	 * model (when `airlock index` has built its n-gram index). */
	if (ctx_open(cli->data_dir, cli->cfg, &cx, &e) != ST_OK) {
		LOG_WARN("server.context", LF_STR("error", e.msg));
		cx = NULL;
	}
	if (!(model && *model) && ctx_ngram_open(cli->data_dir, &ngram, &e) != ST_OK) {
		LOG_INFO("server.index_model", LF_STR("state", "absent"), LF_STR("why", e.msg));
		ngram = NULL;
	}
	srv_set_context(s, cx, ngram);
	err_clear(&e);
	/* The policy bundle (files outside the data directory) is read now;
	 * a broken or unsigned bundle stops the server. */
	if (pol_engine_new(&policy) != ST_OK ||
	    pol_engine_configure(policy, cli->cfg, &e) != ST_OK) {
		cli_error_err("policy", &e);
		rc = cli_exit_for(e.st ? e.st : ST_NOMEM);
		goto out;
	}
	/* Provenance rules look up the reference corpora of the data
	 * directory (opened on first use, read-only); the handle lives as
	 * long as the engine. */
	if (provenance_attach(policy, cli->data_dir, &prov, &e) != ST_OK) {
		cli_error_err("provenance", &e);
		rc = cli_exit_for(e.st ? e.st : ST_NOMEM);
		goto out;
	}
	srv_set_policy(s, policy);
	srv_set_policy_config(s, cli->cfg);
	{
		/* The model, and what a policy reload reads again: the bundle
		 * and its trusted keys. */
		const char *extra[18];
		const char *bundle = config_str(cli->cfg, "policy.bundle");
		size_t n_extra = 0, n_keys = config_list_len(cli->cfg, "policy.trusted_keys");
		if (model && *model)
			extra[n_extra++] = model;
		if (bundle && *bundle)
			extra[n_extra++] = bundle;
		for (size_t i = 0; i < n_keys && n_extra < sizeof extra / sizeof extra[0]; i++)
			extra[n_extra++] = config_list_item(cli->cfg, "policy.trusted_keys", i);
		if (sbx_lockdown_config(cli->cfg, cli->data_dir, extra, n_extra,
					allow_unsandboxed, &rep, &e) != ST_OK) {
			cli_error_err("sandbox", &e);
			if (e.st == ST_UNSUPPORTED)
				fprintf(stderr, "airlock: sandbox: `airlock doctor` shows what"
					" this kernel lacks; --allow-unsandboxed runs without it\n");
			rc = cli_exit_for(e.st);
			goto out;
		}
		LOG_INFO("server.sandbox", LF_INT("landlock_abi", rep.landlock_abi),
			 LF_BOOL("landlock_fs", rep.landlock_fs),
			 LF_BOOL("landlock_net", rep.landlock_net),
			 LF_BOOL("seccomp", rep.seccomp),
			 LF_BOOL("unsandboxed", rep.unsandboxed),
			 LF_STR("missing", rep.missing));
	}
	if (model && *model) {
		if (srv_backend_open_model(model, (int)config_int(cli->cfg, "server.slots"),
					   (int32_t)config_int(cli->cfg, "model.n_ctx"),
					   (int)config_int(cli->cfg, "server.threads"),
					   config_str(cli->cfg, "model.kv_cache"),
					   &backend, &e)) {
			cli_error_err("model", &e);
			rc = cli_exit_for(e.st);
			goto out;
		}
		bp = &backend;
	}
	if (srv_start(s, &e)) {
		cli_error_err("serve", &e);
		rc = cli_exit_for(e.st);
		goto out;
	}
	printf("airlock: serving %s on %s://%.*s:%d%s\n",
	       bp ? backend.model_id : ngram ? "the index model (no model file)" : "no model",
	       o.tls_cert && *o.tls_cert ? "https" : "http",
	       (int)(strrchr(o.listen, ':') - o.listen), o.listen, srv_port(s),
	       rep.unsandboxed ? " (unsandboxed)" : "");
	fflush(stdout);
	/* Wait for a stop signal; each second, let the audit log write its
	 * time-based checkpoint. */
	for (;;) {
		struct timespec ts = { 1, 0 };
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGHUP) {
			/* srv_policy_reload logs and audits the outcome; a
			 * failure keeps the last good bundle. */
			err_clear(&e);
			srv_policy_reload(s, "signal:SIGHUP", NULL, &e);
			continue;
		}
		if (aud_log_tick(audit, &e) != ST_OK)
			LOG_ERROR("server.audit_checkpoint", LF_STR("error", e.msg));
	}
	LOG_INFO("server.stop", LF_INT("signal", sig));
out:
	srv_free(s);
	pol_engine_free(policy);
	provenance_free(prov);
	ctx_ngram_free(ngram);
	ctx_free(cx);
	aud_log_close(audit);
	telem_close(&tm);
	srv_backend_release(bp);
	srv_store_free(store);
	return rc;
}
