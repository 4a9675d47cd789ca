/*
 * cmd_docs.c - `airlock docs PATH [--repo R] [--json]`: the decisions,
 * standards, dependency policies, incidents and runbooks that apply to a
 * path.
 */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>

static status_t docs_run(struct ctx *c, const char *repo, const char *path,
			 struct ctx_result *r, struct err *e)
{
	return ctx_docs_for(c, repo, path, r, e);
}

static void docs_print(const struct ctx_hit *h, const char *path)
{
	(void)path;
	printf("%s\t%s\t%s\t%s/%s\n", h->kind, h->signature[0] ? h->signature : "-",
	       h->name, h->repo, h->path);
}

int cmd_docs(struct cli *cli, int argc, char **argv)
{
	static const struct cli_lookup l = { "docs", "PATH", 1, docs_run, docs_print };
	return cli_ctx_lookup(cli, &l, argc, argv);
}
