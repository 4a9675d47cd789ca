/*
 * cmd_index.c - `airlock index PATH... [--name REPO]`: register and index
 * repositories, then rebuild the n-gram index. A progress bar on a
 * terminal, one summary line per repository otherwise; then one line
 * for the whole run (what the user waited for) with the n-gram rebuild's
 * share (and the store's compaction, which runs during its sort). Ctrl-C stops after
 * the current batch; what was written stays usable. The process locks
 * itself down (sbx_lockdown_config) once the store is open and before the
 * indexing threads start: it may then read only the repositories named and
 * write only the data directory.
 */
#include "cli/cli.h"
#include "context/context.h"
#include "sandbox/sandbox.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	const char *name = arg;
	int width = 30, fill = total ? (int)(done * (uint64_t)width / total) : width;

	fprintf(stderr, "\r%-16.16s [", name);
	for (int i = 0; i < width; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %llu/%llu files", (unsigned long long)done,
		(unsigned long long)total);
	fflush(stderr);
}

static void summary(const char *name, const struct ctx_index_stats *s)
{
	double secs = (double)s->elapsed_ns / 1e9;
	int any = 0;

	printf("%s: %llu files indexed, %llu unchanged, %llu deleted; "
	       "%llu chunks, %llu symbols, %llu edges, %llu documents; "
	       "%.2f MB in %.2f s (%.1f MB/s, %.0f files/s, %.2f s CPU)",
	       name, (unsigned long long)s->files_indexed,
	       (unsigned long long)s->files_unchanged,
	       (unsigned long long)s->files_deleted, (unsigned long long)s->chunks,
	       (unsigned long long)s->symbols, (unsigned long long)s->edges,
	       (unsigned long long)s->documents, (double)s->bytes / 1e6, secs,
	       secs > 0 ? (double)s->bytes / 1e6 / secs : 0.0,
	       secs > 0 ? (double)s->files_indexed / secs : 0.0,
	       (double)s->cpu_ns / 1e9);
	for (int r = 0; r < CTX_SKIP__COUNT; r++) {
		if (!s->skipped[r])
			continue;
		printf("%s%s=%llu", any ? " " : "; skipped: ", ctx_skip_name((enum ctx_skip)r),
		       (unsigned long long)s->skipped[r]);
		any = 1;
	}
	if (s->parse_errors)
		printf("; %llu with parse errors", (unsigned long long)s->parse_errors);
	if (s->interrupted)
		printf("; interrupted (run again to finish)");
	printf("\n");
}

/* The n-gram rebuild's part of the closing line. */
static void ngram_summary(const struct ctx_ngram_build_stats *s)
{
	double secs = (double)s->elapsed_ns / 1e9;

	printf("; n-gram index: %llu rebuilt (%llu sub-parts), %llu kept, %.1f MB sorted in "
	       "%.2f s (%.2f s CPU)", (unsigned long long)s->rebuilt,
	       (unsigned long long)s->subparts, (unsigned long long)s->kept,
	       (double)s->bytes / 1e6, secs, (double)s->cpu_ns / 1e9);
	if (s->compacted)
		printf(", the store's compaction meanwhile (%.2f s)", (double)s->compact_ns / 1e9);
}

/* CPU time of the process (all threads), ns. */
static uint64_t process_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cmd_index(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL, *paths[256];
	int n_paths = 0, threads = 0, rc = EXIT_OK, tty = isatty(2), changed = 0;
	int allow_unsandboxed = 0, compact_due = 0;
	uint64_t t_run = 0, cpu_run = 0, run_bytes = 0;
	struct sbx_report rep;
	struct ctx *c = NULL;
	struct err e;
	status_t st;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			int64_t v;
			if (parse_i64(argv[++i], 0, 1024, &v) != ST_OK) {
				cli_error("index", "--threads: not a number in 0..1024: '%s'", argv[i]);
				return EXIT_USAGE;
			}
			threads = (int)v;
		} else if (strcmp(argv[i], "--allow-unsandboxed") == 0) {
			allow_unsandboxed = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_error("index", "unknown option '%s' (see airlock index --help)", argv[i]);
			return EXIT_USAGE;
		} else if (n_paths < 256) {
			paths[n_paths++] = argv[i];
		}
	}
	if (n_paths == 0) {
		cli_error("index", "no repository path given (see airlock index --help)");
		return EXIT_USAGE;
	}
	if (name && n_paths > 1) {
		cli_error("index", "--name applies to one path only");
		return EXIT_USAGE;
	}
	if (!threads)
		threads = (int)config_int(cli->cfg, "context.threads");
	err_clear(&e);
	if ((st = ctx_grammars_check(&e)) || (st = ctx_open(cli->data_dir, cli->cfg, &c, &e))) {
		cli_error_err("index", &e);
		return cli_exit_for(st);
	}
	/*
	 * Lock down now: the store is open (SQLite keeps temporary data in
	 * memory, see db_open), no thread runs yet (the pool starts in
	 * ctx_index_repo), and what is read from here on is beneath the
	 * repositories given. A path that does not exist is skipped by the
	 * policy and reported by ctx_index_repo as before.
	 */
	err_clear(&e);
	memset(&rep, 0, sizeof rep);
	if (sbx_lockdown_config(cli->cfg, cli->data_dir, paths, (size_t)n_paths,
				allow_unsandboxed, &rep, &e) != ST_OK) {
		cli_error_err("sandbox", &e);
		if (e.st == ST_UNSUPPORTED)
			fprintf(stderr, "airlock: sandbox: `airlock doctor` shows what"
				" this kernel lacks; --allow-unsandboxed runs without it\n");
		ctx_free(c);
		return cli_exit_for(e.st);
	}
	LOG_INFO("index.sandbox", LF_INT("landlock_abi", rep.landlock_abi),
		 LF_BOOL("landlock_fs", rep.landlock_fs),
		 LF_BOOL("landlock_net", rep.landlock_net),
		 LF_BOOL("seccomp", rep.seccomp),
		 LF_BOOL("unsandboxed", rep.unsandboxed),
		 LF_STR("missing", rep.missing));
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t_run = time_mono_ns();
	cpu_run = process_cpu_ns();
	for (int i = 0; i < n_paths && !interrupted; i++) {
		struct ctx_index_stats s;
		struct ctx_index_opts o = { 0 };
		const char *label = name ? name : paths[i];
		o.name = name;
		o.threads = threads;
		o.cancel = &interrupted;
		/* The store's closing compaction runs during the n-gram sort. */
		o.defer_compact = 1;
		if (tty) {
			o.progress = progress;
			o.progress_arg = (void *)label;
		}
		err_clear(&e);
		st = ctx_index_repo(c, paths[i], &o, &s, &e);
		if (tty)
			fprintf(stderr, "\r\033[K");
		if (st != ST_OK) {
			cli_error_err("index", &e);
			rc = cli_exit_for(st);
			continue;
		}
		summary(label, &s);
		if (s.interrupted)
			rc = EXIT_FAIL;
		changed |= s.files_indexed || s.files_deleted;
		compact_due |= s.compact_due;
		run_bytes += s.bytes;
	}
	/* The n-gram index is rebuilt whole, so only when code changed (or
	 * when it is missing). */
	if (!changed) {
		struct ctx_ngram *g = NULL;
		if (ctx_ngram_open(cli->data_dir, &g, NULL) != ST_OK)
			changed = 1;
		ctx_ngram_free(g);
	}
	struct ctx_ngram_build_stats ns;
	int built = 0;
	memset(&ns, 0, sizeof ns);
	if (!interrupted && changed) {
		struct ctx_ngram_build_opts no = { 0 };
		no.threads = threads;
		no.compact = compact_due;
		compact_due = 0;
		err_clear(&e);
		if ((st = ctx_ngram_build_ex(c, cli->data_dir, &no, &ns, &e)) != ST_OK) {
			cli_error_err("index: n-gram index", &e);
			if (rc == EXIT_OK)
				rc = cli_exit_for(st);
		} else {
			built = 1;
		}
	} else if (compact_due) {
		/* Interrupted before the n-gram index: the runs that were
		 * due one still get their compaction. */
		err_clear(&e);
		if (ctx_store_compact(c, &e) != ST_OK)
			LOG_WARN("context.compact", LF_STR("error", e.msg));
	}
	/* One closing line: what the user waited for (indexing, compaction
	 * and the n-gram index; the store's open and the sandbox setup
	 * before excluded), then the n-gram rebuild's share. */
	{
		double secs = (double)(time_mono_ns() - t_run) / 1e9;
		printf("total: %.1f MB in %.2f s (%.1f MB/s, %.2f s CPU)",
		       (double)run_bytes / 1e6, secs,
		       secs > 0 ? (double)run_bytes / 1e6 / secs : 0.0,
		       (double)(process_cpu_ns() - cpu_run) / 1e9);
		if (built)
			ngram_summary(&ns);
		printf("\n");
	}
	ctx_free(c);
	return rc;
}
