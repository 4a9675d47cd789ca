/*
 * bench.c - the retrieval benchmark (figures, not pass/fail): masked-call
 * completion tasks on whatever code is indexed, scored for BM25 alone and
 * for the hybrid, plus query latency.
 */
#include "context/ctx_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench {
	struct ctx *c;
	struct ctx_bench_result *r;
	struct vec lat;		/* double, ms */
	struct vec cpu;		/* double, ms of this thread's CPU time */
	double rr[2];
	int dump;		/* CONTEXT_BENCH_DUMP set: one line per task on
				 * stderr; a value over 10: hybrid list length */
};

/* CPU time of this thread: on a shared machine, wall time measures the
 * neighbours as much as the query. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int hit_rank(const struct ctx_result *res, const struct ctx__task *t)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct ctx_hit *h = &res->hits[i];
		if (h->chunk_id == t->def_chunk ||
		    (strcmp(h->repo, t->repo) == 0 && strcmp(h->path, t->def_path) == 0 &&
		     h->start_line <= t->def_start && t->def_start <= h->end_line))
			return (int)i + 1;
	}
	return 0;
}

static status_t one_task(void *arg, const struct ctx__task *t)
{
	struct bench *b = arg;
	char p[PATH_MAX * 2];
	char *text = NULL;
	size_t len = 0, ls = 0, le;
	int line = 1;

	snprintf(p, sizeof p, "%s/%s", t->root, t->call_path);
	if (file_read_all(p, 8 << 20, &text, &len, NULL) != ST_OK)
		return ST_OK;	/* changed since indexing: not a task */
	while (ls < len && line < t->call_line) {
		if (text[ls++] == '\n')
			line++;
	}
	le = ls;
	while (le < len && text[le] != '\n')
		le++;
	if (le < len)
		le++;
	int ranks[2] = { 0, 0 };
	double task_cpu = 0;
	char top[2048] = "";	/* the hybrid's first hits, for the dump */
	for (int mode = 0; mode < 2; mode++) {
		struct ctx_query q;
		struct ctx_result res;
		uint64_t t0, c0;
		int rank;

		memset(&q, 0, sizeof q);
		q.repo = t->repo;
		q.path = t->call_path;
		q.prefix = text;
		q.prefix_len = ls;
		q.suffix = text + le;
		q.suffix_len = len - le;
		q.top_k = mode == 1 && b->dump > 10 ? b->dump : 10;
		q.sources = mode == 0 ? CTX_SRC_BM25 : CTX_SRC_ALL;
		ctx_result_init(&res);
		t0 = time_mono_ns();
		c0 = cpu_ns();
		if (ctx_retrieve(b->c, &q, &res, NULL) == ST_OK) {
			double ms = (double)(time_mono_ns() - t0) / 1e6;
			double cms = (double)(cpu_ns() - c0) / 1e6;
			if (mode == 1) {
				vec_push(&b->lat, &ms);
				vec_push(&b->cpu, &cms);
				task_cpu = cms;
			}
			rank = hit_rank(&res, t);
			ranks[mode] = rank;
			/* The first three hits; twelve with a deep dump. */
			for (size_t i = 0; b->dump && mode == 1 && i < res.n &&
				    i < (b->dump > 10 ? 12u : 3u); i++) {
				size_t l = strlen(top);
				snprintf(top + l, sizeof top - l, "%s%s:%s", i ? " " : "",
					 res.hits[i].path, res.hits[i].name);
			}
			if (rank > 10)	/* from a deeper list, for the dump only */
				rank = 0;
			if (rank && mode == 1) {
				b->r->split_recall10[b->r->tasks % 2] += rank <= 10;
				b->r->split_mrr[b->r->tasks % 2] += 1.0 / rank;
			}
			if (rank) {
				b->r->recall1[mode] += rank <= 1;
				b->r->recall5[mode] += rank <= 5;
				b->r->recall10[mode] += rank <= 10;
				b->r->mrr[mode] += 1.0 / rank;
			}
		}
		ctx_result_release(&res);
	}
	/* Diagnostics: task number, BM25 and hybrid rank (0: not found),
	 * where the call and the definition are, the masked line, the
	 * hybrid query's CPU milliseconds and its first three hits. */
	if (b->dump) {
		size_t n = le - ls;
		while (n && (text[ls + n - 1] == '\n' || text[ls + n - 1] == '\r'))
			n--;
		fprintf(stderr, "task\t%zu\t%d\t%d\t%s\t%s:%d\t%s:%d\t%.*s\t%.2f\t%s\n",
			b->r->tasks, ranks[0], ranks[1], t->repo, t->call_path,
			t->call_line, t->def_path, t->def_start, (int)(n < 200 ? n : 200),
			text + ls, task_cpu, top);
	}
	b->r->split_tasks[b->r->tasks % 2]++;
	b->r->tasks++;
	mem_free(text);
	return ST_OK;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

status_t ctx_bench_run(struct ctx *c, size_t max_tasks,
		       struct ctx_bench_result *r, struct err *e)
{
	struct bench b = { c, r, { 0 }, { 0 }, { 0, 0 }, 0 };
	status_t st;

	memset(r, 0, sizeof *r);
	/* Tuning aid: fusion weights from the environment (see retrieve.c). */
	if (getenv("CONTEXT_BENCH_TUNE") &&
	    (st = ctx__tune_parse(getenv("CONTEXT_BENCH_TUNE"), e)))
		return st;
	if (getenv("CONTEXT_BENCH_DUMP")) {
		int64_t v = 0;
		(void)parse_i64(getenv("CONTEXT_BENCH_DUMP"), 0, 1000, &v);
		b.dump = v > 10 && v <= 1000 ? (int)v : 1;
	}
	/* Steady state, as a server answers: each language's extraction
	 * query is compiled once per process, on its first parse (about
	 * 5-15 ms of CPU each), which would otherwise land in the p99 of
	 * the first query of each language. Compile them before timing. */
	if ((st = ctx__queries_check(e)))
		return st;
	vec_init(&b.lat, sizeof(double));
	vec_init(&b.cpu, sizeof(double));
	st = ctx__store_tasks(c, max_tasks, one_task, &b, e);
	if (st == ST_OK && r->tasks) {
		double n = (double)r->tasks;
		for (int m = 0; m < 2; m++) {
			r->recall1[m] /= n;
			r->recall5[m] /= n;
			r->recall10[m] /= n;
			r->mrr[m] /= n;
		}
		for (int h = 0; h < 2; h++) {
			if (r->split_tasks[h]) {
				r->split_recall10[h] /= (double)r->split_tasks[h];
				r->split_mrr[h] /= (double)r->split_tasks[h];
			}
		}
	}
	if (b.lat.len) {
		double *l = b.lat.data;
		qsort(l, b.lat.len, sizeof *l, dbl_cmp);
		r->p50_ms = l[b.lat.len / 2];
		r->p99_ms = l[(size_t)((double)(b.lat.len - 1) * 0.99)];
	}
	if (b.cpu.len) {
		double *l = b.cpu.data;
		qsort(l, b.cpu.len, sizeof *l, dbl_cmp);
		r->cpu_p50_ms = l[b.cpu.len / 2];
		r->cpu_p99_ms = l[(size_t)((double)(b.cpu.len - 1) * 0.99)];
	}
	vec_release(&b.lat);
	vec_release(&b.cpu);
	return st;
}
