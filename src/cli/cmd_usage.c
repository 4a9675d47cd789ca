/*
 * cmd_usage.c - `airlock usage`: what the assistant was used for, from the
 * local usage store: requests, tokens, acceptance rate, latency
 * percentiles, and the per day, team, user and model breakdown.
 */
#include "cli/cli.h"
#include "telemetry/telemetry.h"

#include <string.h>
#include <time.h>

static status_t parse_since(const char *s, uint64_t *ns)
{
	struct tm tm;
	const char *end;
	int64_t ms;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d", &tm)) != NULL && *end == '\0') {
		*ns = (uint64_t)timegm(&tm) * 1000000000ull;
		return ST_OK;
	}
	if (parse_duration_ms(s, &ms) == ST_OK && ms >= 0) {
		uint64_t now = time_wall_ns(), d = (uint64_t)ms * 1000000ull;
		*ns = d < now ? now - d : 0;
		return ST_OK;
	}
	return ST_INVAL;
}

static int print_row(void *arg, const struct tel_daily *d)
{
	(void)arg;
	printf("%-10s  %-12s %-14s %-16s %8lld %10lld %10lld %7lld %7lld %9.1f\n", d->day,
	       d->team[0] ? d->team : "-", d->user[0] ? d->user : "-",
	       d->model[0] ? d->model : "-", (long long)d->requests,
	       (long long)d->prompt_tokens, (long long)d->output_tokens, (long long)d->shown,
	       (long long)d->accepted, d->latency_avg_ms);
	return 0;
}

int cmd_usage(struct cli *cli, int argc, char **argv)
{
	struct tel_filter f;
	struct tel_summary s;
	struct tel_store *store = NULL;
	struct sqlite3 *db = NULL;
	char path[4200];
	int daily = 0, rc = EXIT_OK;
	struct err e;

	memset(&f, 0, sizeof f);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--team") == 0 && v) {
			f.team = v;
			i++;
		} else if (strcmp(a, "--user") == 0 && v) {
			f.user = v;
			i++;
		} else if (strcmp(a, "--model") == 0 && v) {
			f.model = v;
			i++;
		} else if (strcmp(a, "--since") == 0 && v) {
			if (parse_since(v, &f.since_ns) != ST_OK) {
				cli_error("usage", "--since: '%s' is not YYYY-MM-DD or an age (7d)", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (strcmp(a, "--daily") == 0) {
			daily = 1;
		} else {
			cli_error("usage", "unknown option '%s' (see airlock usage --help)", a);
			return EXIT_USAGE;
		}
	}
	snprintf(path, sizeof path, "%s/airlock.db", cli->data_dir);
	err_clear(&e);
	if (db_open(path, &db, &e) != ST_OK || tel_store_open(db, NULL, &store, &e) != ST_OK ||
	    tel_usage_summary(store, &f, &s, &e) != ST_OK) {
		cli_error_err("usage", &e);
		rc = cli_exit_for(e.st);
		goto out;
	}
	printf("requests        %lld\n", (long long)s.requests);
	printf("tokens          %lld prompt, %lld output\n", (long long)s.prompt_tokens,
	       (long long)s.output_tokens);
	printf("prompt cache    %lld hits\n", (long long)s.cache_hits);
	if (s.acceptance_rate >= 0)
		printf("acceptance      %.1f%% (%lld shown: %lld accepted, %lld partial, %lld "
		       "rejected)\n", 100 * s.acceptance_rate, (long long)s.shown,
		       (long long)s.accepted, (long long)s.partial, (long long)s.rejected);
	else
		printf("acceptance      - (no completion shown)\n");
	printf("latency ms      p50 %.1f  p90 %.1f  p99 %.1f\n", s.latency_p50, s.latency_p90,
	       s.latency_p99);
	printf("first token ms  p50 %.1f  p90 %.1f\n", s.ttft_p50, s.ttft_p90);
	if (daily) {
		printf("\n%-10s  %-12s %-14s %-16s %8s %10s %10s %7s %7s %9s\n", "day", "team", "user",
		       "model", "requests", "prompt", "output", "shown", "accept", "avg ms");
		if (tel_usage_daily(store, &f, print_row, NULL, &e) != ST_OK) {
			cli_error_err("usage", &e);
			rc = cli_exit_for(e.st);
		}
	}
out:
	tel_store_close(store);
	db_close(db);
	return rc;
}
