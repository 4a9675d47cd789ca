/* cmd_owners.c - `airlock owners PATH [--repo R]`: CODEOWNERS of a path. */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>
#include <string.h>

int cmd_owners(struct cli *cli, int argc, char **argv)
{
	const char *repo = NULL, *path = NULL;
	int rc = EXIT_OK;
	struct ctx *c = NULL;
	struct ctx_result r;
	struct err e;
	status_t st;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repo") && i + 1 < argc)
			repo = argv[++i];
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			cli_error("owners", "unexpected argument '%s' (see airlock owners --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!path) {
		cli_error("owners", "no PATH given");
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = ctx_open(cli->data_dir, cli->cfg, &c, &e))) {
		cli_error_err("owners", &e);
		return cli_exit_for(st);
	}
	ctx_result_init(&r);
	if ((st = ctx_owners_of(c, repo, path, &r, &e))) {
		cli_error_err("owners", &e);
		rc = cli_exit_for(st);
	} else {
		for (size_t i = 0; i < r.n; i++)
			printf("%s\t%s\t(%s/%s:%d %s)\n", r.hits[i].name, path, r.hits[i].repo,
			       r.hits[i].path, r.hits[i].start_line, r.hits[i].text);
		if (!r.n)
			rc = EXIT_FAIL;
	}
	ctx_result_release(&r);
	ctx_free(c);
	return rc;
}
