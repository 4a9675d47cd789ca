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
#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	const char *model = config_str(cli->cfg, "model.path");
	struct srv_options o;
	struct srv_store *store = NULL;
	struct srv_backend backend, *bp = NULL;
	struct srv *s = NULL;
	struct err e;
	struct sbx_report rep;
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
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (srv_store_open_dir(cli->data_dir, &store, &e)) {
		cli_error_err("store", &e);
		return cli_exit_for(e.st);
	}
	memset(&rep, 0, sizeof rep);
	if (srv_new(&o, store, model && *model ? &backend : NULL, &s, &e) ||
	    srv_bind(s, &e)) {
		cli_error_err("serve", &e);
		rc = cli_exit_for(e.st);
		goto out;
	}
	{
		const char *extra[1] = { model };
		if (sbx_lockdown_config(cli->cfg, cli->data_dir, extra,
					model && *model ? 1 : 0, allow_unsandboxed,
					&rep, &e) != ST_OK) {
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
	       bp ? backend.model_id : "no model",
	       o.tls_cert && *o.tls_cert ? "https" : "http",
	       (int)(strrchr(o.listen, ':') - o.listen), o.listen, srv_port(s),
	       rep.unsandboxed ? " (unsandboxed)" : "");
	fflush(stdout);
	sigwait(&set, &sig);
	LOG_INFO("server.stop", LF_INT("signal", sig));
out:
	srv_free(s);
	srv_backend_release(bp);
	srv_store_free(store);
	return rc;
}
