/*
 * cmd_token.c - `airlock token create|revoke|list`: bearer tokens. A new
 * token is printed once, alone on stdout, and never stored in clear.
 */
#include "cli/cli.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Records the action in the audit log; a running server holds the log, and
 * then a warning says the record is missing. */
static void audit_action(struct cli *cli, const char *action, const char *target)
{
	struct err e;

	err_clear(&e);
	if (srv_audit_admin_offline(cli->data_dir, cli->cfg, NULL, action, target, &e))
		cli_error("warning", "not in the audit log: %s%s", e.msg,
			  e.st == ST_BUSY ? " (use the server's admin routes)" : "");
}

static int token_create(struct cli *cli, struct srv_store *st, int argc, char **argv)
{
	const char *user = NULL, *expires = NULL;
	char text[SRV_TOKEN_LEN + 1];
	int64_t ttl = 0, id;
	struct err e;

	err_clear(&e);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc)
			expires = argv[++i];
		else {
			cli_error("token create", "unexpected argument '%s' (see airlock token --help)",
				  argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!user) {
		cli_error("token create", "missing --user USER");
		return EXIT_USAGE;
	}
	if (expires && (parse_duration_ms(expires, &ttl) != ST_OK || ttl <= 0)) {
		cli_error("token create", "--expires '%s': expected a duration such as 30d, 12h, 90m",
			  expires);
		return EXIT_USAGE;
	}
	if (srv_token_create(st, user, ttl, text, &id, &e)) {
		cli_error_err("token create", &e);
		return cli_exit_for(e.st);
	}
	{
		char target[96];
		snprintf(target, sizeof target, "token %lld of %.63s", (long long)id, user);
		audit_action(cli, "token.create", target);
	}
	/* The token alone on stdout (scripts capture it); the rest on stderr. */
	printf("%s\n", text);
	fflush(stdout);
	memset(text, 0, sizeof text);
	fprintf(stderr, "token %lld for %s%s%s; shown once, store it now\n",
		(long long)id, user, expires ? ", expires in " : "", expires ? expires : "");
	return EXIT_OK;
}

static int token_revoke(struct cli *cli, struct srv_store *st, int argc, char **argv)
{
	int64_t id;
	struct err e;

	err_clear(&e);
	if (argc != 3 || parse_i64(argv[2], 1, INT64_MAX, &id) != ST_OK) {
		cli_error("token revoke", "expected one token ID (see airlock token list)");
		return EXIT_USAGE;
	}
	if (srv_token_revoke(st, id, &e)) {
		cli_error_err("token revoke", &e);
		return cli_exit_for(e.st);
	}
	{
		char target[32];
		snprintf(target, sizeof target, "token %lld", (long long)id);
		audit_action(cli, "token.revoke", target);
	}
	printf("token %lld revoked\n", (long long)id);
	return EXIT_OK;
}

static void fmt_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm))
		str_copy(out, "-", n);
	else
		strftime(out, n, "%Y-%m-%dT%H:%MZ", &tm);
}

static int token_list(struct cli *cli, struct srv_store *st, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	struct srv_token_info *t = NULL;
	size_t n = 0;
	struct err e;
	int64_t now = (int64_t)(time_wall_ns() / 1000000000ull);

	err_clear(&e);
	if (srv_token_list(st, &t, &n, &e)) {
		cli_error_err("token list", &e);
		return cli_exit_for(e.st);
	}
	printf("%-6s %-20s %-14s %-18s %-18s %s\n", "ID", "USER", "PREFIX", "CREATED",
	       "EXPIRES", "STATE");
	for (size_t i = 0; i < n; i++) {
		char c[32], x[32];
		fmt_time(t[i].created, c, sizeof c);
		fmt_time(t[i].expires, x, sizeof x);
		printf("%-6lld %-20s %-14s %-18s %-18s %s\n", (long long)t[i].id,
		       t[i].user, t[i].prefix, c, x,
		       t[i].revoked ? "revoked" :
		       t[i].expires && t[i].expires <= now ? "expired" : "active");
	}
	mem_free(t);
	return EXIT_OK;
}

int cmd_token(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "create", token_create },
		{ "revoke", token_revoke },
		{ "list", token_list },
	};
	return cli_store_subcommand(cli, "token", subs, sizeof subs / sizeof subs[0], argc, argv);
}
