/* cmd_symbols.c - `airlock symbols NAME [--json]`: where NAME is defined. */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>

static status_t symbols_run(struct ctx *c, const char *repo, const char *name,
			    struct ctx_result *r, struct err *e)
{
	(void)repo;
	return ctx_symbols_find(c, name, 100, r, e);
}

static void symbols_print(const struct ctx_hit *h, const char *name)
{
	(void)name;
	printf("%s/%s:%d-%d\t%s\t%s\n", h->repo, h->path, h->start_line, h->end_line,
	       h->kind, h->signature);
}

int cmd_symbols(struct cli *cli, int argc, char **argv)
{
	static const struct cli_lookup l = { "symbols", "NAME", 0, symbols_run, symbols_print };
	return cli_ctx_lookup(cli, &l, argc, argv);
}
