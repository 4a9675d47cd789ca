/* cmd_owners.c - `airlock owners PATH [--repo R] [--json]`: CODEOWNERS of a path. */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>

static status_t owners_run(struct ctx *c, const char *repo, const char *path,
			   struct ctx_result *r, struct err *e)
{
	return ctx_owners_of(c, repo, path, r, e);
}

static void owners_print(const struct ctx_hit *h, const char *path)
{
	printf("%s\t%s\t(%s/%s:%d %s)\n", h->name, path, h->repo, h->path,
	       h->start_line, h->text);
}

int cmd_owners(struct cli *cli, int argc, char **argv)
{
	static const struct cli_lookup l = { "owners", "PATH", 1, owners_run, owners_print };
	return cli_ctx_lookup(cli, &l, argc, argv);
}
