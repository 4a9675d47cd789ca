/* cmd_symbols.c - `airlock symbols NAME`: where NAME is defined. */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>
#include <string.h>

int cmd_symbols(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	int json = 0, rc = EXIT_OK;
	struct ctx *c = NULL;
	struct ctx_result r;
	struct err e;
	status_t st;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!name)
			name = argv[i];
		else {
			cli_error("symbols", "one NAME only (see airlock symbols --help)");
			return EXIT_USAGE;
		}
	}
	if (!name) {
		cli_error("symbols", "no NAME given");
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = ctx_open(cli->data_dir, cli->cfg, &c, &e))) {
		cli_error_err("symbols", &e);
		return cli_exit_for(st);
	}
	ctx_result_init(&r);
	if ((st = ctx_symbols_find(c, name, 100, &r, &e))) {
		cli_error_err("symbols", &e);
		rc = cli_exit_for(st);
	} else if (json) {
		struct buf b;
		buf_init(&b, 0);
		if (ctx_result_json(&r, &b) == ST_OK)
			fputs(buf_cstr(&b), stdout);
		buf_release(&b);
	} else {
		for (size_t i = 0; i < r.n; i++)
			printf("%s/%s:%d-%d\t%s\t%s\n", r.hits[i].repo, r.hits[i].path,
			       r.hits[i].start_line, r.hits[i].end_line, r.hits[i].kind,
			       r.hits[i].signature);
		if (!r.n)
			rc = EXIT_FAIL;
	}
	ctx_result_release(&r);
	ctx_free(c);
	return rc;
}
