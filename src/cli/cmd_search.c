/* cmd_search.c - `airlock search QUERY`: BM25 over the indexed chunks. */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>
#include <string.h>

int cmd_search(struct cli *cli, int argc, char **argv)
{
	struct buf query;
	int64_t top = 10;
	int json = 0, rc = EXIT_OK;
	struct ctx *c = NULL;
	struct ctx_result r;
	struct err e;
	status_t st;

	buf_init(&query, 1 << 16);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--top") && i + 1 < argc) {
			if (parse_i64(argv[++i], 1, 1000, &top) != ST_OK) {
				cli_error("search", "--top: not a number in 1..1000: '%s'", argv[i]);
				buf_release(&query);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else {
			if (query.len)
				buf_putc(&query, ' ');
			buf_puts(&query, argv[i]);
		}
	}
	if (!query.len) {
		cli_error("search", "no query given (see airlock search --help)");
		buf_release(&query);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = ctx_open(cli->data_dir, cli->cfg, &c, &e))) {
		cli_error_err("search", &e);
		buf_release(&query);
		return cli_exit_for(st);
	}
	ctx_result_init(&r);
	if ((st = ctx_search(c, buf_cstr(&query), (int)top, NULL, NULL, &r, &e))) {
		cli_error_err("search", &e);
		rc = cli_exit_for(st);
	} else if (json) {
		cli_ctx_result_json(&r);
	} else {
		for (size_t i = 0; i < r.n; i++)
			printf("%s/%s:%d-%d\t%s\t%s\t%.3f\n", r.hits[i].repo, r.hits[i].path,
			       r.hits[i].start_line, r.hits[i].end_line, r.hits[i].kind,
			       r.hits[i].name, r.hits[i].score);
		if (!r.n)
			rc = EXIT_FAIL;
	}
	ctx_result_release(&r);
	ctx_free(c);
	buf_release(&query);
	return rc;
}
