/*
 * cmd_context_bench.c - `airlock context-bench`: retrieval quality and
 * latency on the indexed code (masked-call tasks), for `make bench`.
 */
#include "cli/cli.h"
#include "context/context.h"

#include <stdio.h>
#include <string.h>

int cmd_context_bench(struct cli *cli, int argc, char **argv)
{
	int64_t tasks = 300;
	struct ctx *c = NULL;
	struct ctx_bench_result r;
	struct err e;
	status_t st;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tasks") && i + 1 < argc &&
		    parse_i64(argv[i + 1], 1, 1000000, &tasks) == ST_OK) {
			i++;
			continue;
		}
		cli_error("context-bench", "unexpected argument '%s'", argv[i]);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = ctx_open(cli->data_dir, cli->cfg, &c, &e)) ||
	    (st = ctx_bench_run(c, (size_t)tasks, &r, &e))) {
		cli_error_err("context-bench", &e);
		ctx_free(c);
		return cli_exit_for(st);
	}
	printf("tasks %zu (masked call to a function defined in another file)\n", r.tasks);
	printf("%-8s %9s %9s %9s %7s\n", "", "recall@1", "recall@5", "recall@10", "MRR");
	for (int m = 0; m < 2; m++)
		printf("%-8s %9.3f %9.3f %9.3f %7.3f\n", m ? "hybrid" : "bm25",
		       r.recall1[m], r.recall5[m], r.recall10[m], r.mrr[m]);
	printf("hybrid recall@10 / MRR: tuning half (even tasks, %zu) %.3f / %.3f; held-out half (odd, %zu) %.3f / %.3f\n",
	       r.split_tasks[0], r.split_recall10[0], r.split_mrr[0],
	       r.split_tasks[1], r.split_recall10[1], r.split_mrr[1]);
	printf("hybrid query latency: p50 %.2f ms, p99 %.2f ms (wall); p50 %.2f ms, p99 %.2f ms (CPU)\n",
	       r.p50_ms, r.p99_ms, r.cpu_p50_ms, r.cpu_p99_ms);
	ctx_free(c);
	return EXIT_OK;
}
