/*
 * cmd_serve.c - `airlock serve`: opens the store and the model, starts the
 * HTTP server, and runs until SIGINT or SIGTERM.
 */
#include "cli/cli.h"
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
	sigset_t set;
	int sig = 0, rc = EXIT_OK;

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
	if (srv_new(&o, store, bp, &s, &e) || srv_start(s, &e)) {
		cli_error_err("serve", &e);
		rc = cli_exit_for(e.st);
		goto out;
	}
	printf("airlock: serving %s on %s://%.*s:%d\n",
	       bp ? backend.model_id : "no model",
	       o.tls_cert && *o.tls_cert ? "https" : "http",
	       (int)(strrchr(o.listen, ':') - o.listen), o.listen, srv_port(s));
	fflush(stdout);
	sigwait(&set, &sig);
	LOG_INFO("server.stop", LF_INT("signal", sig));
out:
	srv_free(s);
	srv_backend_release(bp);
	srv_store_free(store);
	return rc;
}
