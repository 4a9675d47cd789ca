/*
 * ctx_lookup.c - the one shape of the context look-up commands (`docs`,
 * `owners`, `symbols`): parse `ARG [--repo R] [--json]`, open the context
 * store, run one query, print its hits as JSON or as tab-separated lines.
 * Exit 0 with hits, EXIT_FAIL with none (so scripts can test for them).
 */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>
#include <string.h>

void cli_ctx_result_json(const struct ctx_result *r)
{
	struct buf b;

	buf_init(&b, 0);
	if (ctx_result_json(r, &b) == ST_OK)
		fputs(buf_cstr(&b), stdout);
	buf_release(&b);
}

int cli_ctx_lookup(struct cli *cli, const struct cli_lookup *l, int argc, char **argv)
{
	const char *repo = NULL, *arg = NULL;
	int json = 0, rc = EXIT_OK;
	struct ctx *c = NULL;
	struct ctx_result r;
	struct err e;
	status_t st;

	for (int i = 1; i < argc; i++) {
		if (l->takes_repo && !strcmp(argv[i], "--repo") && i + 1 < argc)
			repo = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!arg && argv[i][0] != '-')
			arg = argv[i];
		else {
			cli_error(l->what, "unexpected argument '%s' (see airlock %s --help)",
				  argv[i], l->what);
			return EXIT_USAGE;
		}
	}
	if (!arg) {
		cli_error(l->what, "no %s given", l->noun);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = ctx_open(cli->data_dir, cli->cfg, &c, &e))) {
		cli_error_err(l->what, &e);
		return cli_exit_for(st);
	}
	ctx_result_init(&r);
	if ((st = l->run(c, repo, arg, &r, &e))) {
		cli_error_err(l->what, &e);
		rc = cli_exit_for(st);
	} else if (json) {
		cli_ctx_result_json(&r);
	} else {
		for (size_t i = 0; i < r.n; i++)
			l->print(&r.hits[i], arg);
	}
	if (!st && !r.n)
		rc = EXIT_FAIL;
	ctx_result_release(&r);
	ctx_free(c);
	return rc;
}
