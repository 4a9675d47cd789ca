/*
 * cmd_context.c - `airlock context`: the ranked snippets retrieval gives
 * for a cursor in an editor buffer (prefix and suffix given as files, as
 * the buffer may differ from the file on disk).
 */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>
#include <string.h>

int cmd_context(struct cli *cli, int argc, char **argv)
{
	const char *repo = NULL, *path = NULL, *pf = NULL, *sf = NULL;
	char *prefix = NULL, *suffix = NULL;
	size_t plen = 0, slen = 0;
	int64_t top = config_int(cli->cfg, "context.top_k");
	int64_t budget = config_int(cli->cfg, "context.token_budget");
	int json = 0, rc = EXIT_OK;
	struct ctx *c = NULL;
	struct ctx_result r;
	struct ctx_query q;
	struct err e;
	status_t st;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--repo") && has) repo = argv[++i];
		else if (!strcmp(a, "--path") && has) path = argv[++i];
		else if (!strcmp(a, "--prefix-file") && has) pf = argv[++i];
		else if (!strcmp(a, "--suffix-file") && has) sf = argv[++i];
		else if ((!strcmp(a, "--top") || !strcmp(a, "--budget")) && has) {
			int64_t v;
			if (parse_i64(argv[++i], 0, 1 << 20, &v) != ST_OK) {
				cli_error("context", "%s: not a number: '%s'", a, argv[i]);
				return EXIT_USAGE;
			}
			if (a[2] == 't')
				top = v;
			else
				budget = v;
		} else if (!strcmp(a, "--json")) json = 1;
		else {
			cli_error("context", "unknown or incomplete option '%s' (see airlock context --help)", a);
			return EXIT_USAGE;
		}
	}
	if (!repo || !path || !pf) {
		cli_error("context", "--repo, --path and --prefix-file are required");
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = file_read_all(pf, 16 << 20, &prefix, &plen, &e)) ||
	    (sf && (st = file_read_all(sf, 16 << 20, &suffix, &slen, &e)))) {
		cli_error_err("context", &e);
		mem_free(prefix);
		return cli_exit_for(st);
	}
	if ((st = ctx_open(cli->data_dir, cli->cfg, &c, &e))) {
		cli_error_err("context", &e);
		mem_free(prefix);
		mem_free(suffix);
		return cli_exit_for(st);
	}
	memset(&q, 0, sizeof q);
	q.repo = repo;
	q.path = path;
	q.prefix = prefix;
	q.prefix_len = plen;
	q.suffix = suffix;
	q.suffix_len = slen;
	q.top_k = (int)top;
	q.token_budget = (size_t)budget;
	ctx_result_init(&r);
	st = ctx_retrieve(c, &q, &r, &e);
	if (st != ST_OK) {
		cli_error_err("context", &e);
		rc = cli_exit_for(st);
	} else if (json) {
		cli_ctx_result_json(&r);
	} else {
		for (size_t i = 0; i < r.n; i++) {
			const struct ctx_hit *h = &r.hits[i];
			printf("--- %s/%s:%d-%d %s %s (score %.4f)\n%s%s", h->repo, h->path,
			       h->start_line, h->end_line, h->kind, h->name, h->score,
			       h->text, h->text[0] && h->text[strlen(h->text) - 1] != '\n' ? "\n" : "");
		}
	}
	ctx_result_release(&r);
	ctx_free(c);
	mem_free(prefix);
	mem_free(suffix);
	return rc;
}
