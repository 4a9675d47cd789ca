/*
 * cmd_docs.c - `airlock docs PATH [--repo R]`: the decisions, standards,
 * dependency policies, incidents and runbooks that apply to a path.
 */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>
#include <string.h>

int cmd_docs(struct cli *cli, int argc, char **argv)
{
	const char *repo = NULL, *path = NULL;
	int json = 0, rc = EXIT_OK;
	struct ctx *c = NULL;
	struct ctx_result r;
	struct err e;
	status_t st;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repo") && i + 1 < argc)
			repo = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			cli_error("docs", "unexpected argument '%s' (see airlock docs --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!path) {
		cli_error("docs", "no PATH given");
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = ctx_open(cli->data_dir, cli->cfg, &c, &e))) {
		cli_error_err("docs", &e);
		return cli_exit_for(st);
	}
	ctx_result_init(&r);
	if ((st = ctx_docs_for(c, repo, path, &r, &e))) {
		cli_error_err("docs", &e);
		rc = cli_exit_for(st);
	} else if (json) {
		struct buf b;
		buf_init(&b, 0);
		if (ctx_result_json(&r, &b) == ST_OK)
			fputs(buf_cstr(&b), stdout);
		buf_release(&b);
	} else {
		for (size_t i = 0; i < r.n; i++)
			printf("%s\t%s\t%s\t%s/%s\n", r.hits[i].kind,
			       r.hits[i].signature[0] ? r.hits[i].signature : "-",
			       r.hits[i].name, r.hits[i].repo, r.hits[i].path);
		if (!r.n)
			rc = EXIT_FAIL;
	}
	ctx_result_release(&r);
	ctx_free(c);
	return rc;
}
