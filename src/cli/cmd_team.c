/* cmd_team.c - `airlock team add|list`: teams, the unit of quotas and scope. */
#include "cli/cli.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

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

static int team_add(struct cli *cli, struct srv_store *st, int argc, char **argv)
{
	const char *name = NULL;
	int64_t mc = 0, tpm = 0, id;
	struct err e;

	err_clear(&e);
	for (int i = 2; i < argc; i++) {
		int64_t *dst = strcmp(argv[i], "--max-concurrent") == 0 ? &mc :
			strcmp(argv[i], "--tokens-per-minute") == 0 ? &tpm : NULL;
		if (dst && i + 1 < argc) {
			if (parse_i64(argv[++i], 0, INT64_MAX, dst) != ST_OK) {
				cli_error("team add", "%s needs a non-negative integer",
					  argv[i - 1]);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-' || name) {
			cli_error("team add", "unexpected argument '%s' (see airlock team --help)",
				  argv[i]);
			return EXIT_USAGE;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		cli_error("team add", "missing NAME (see airlock team --help)");
		return EXIT_USAGE;
	}
	if (srv_team_add(st, name, mc, tpm, &id, &e)) {
		cli_error_err("team add", &e);
		return cli_exit_for(e.st);
	}
	audit_action(cli, "team.create", name);
	printf("team %s added (id %lld)\n", name, (long long)id);
	return EXIT_OK;
}

static int team_list(struct cli *cli, struct srv_store *st, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	struct srv_team *t = NULL;
	size_t n = 0;
	struct err e;

	err_clear(&e);
	if (srv_team_list(st, &t, &n, &e)) {
		cli_error_err("team list", &e);
		return cli_exit_for(e.st);
	}
	printf("%-6s %-24s %-15s %s\n", "ID", "NAME", "MAX_CONCURRENT", "TOKENS_PER_MINUTE");
	for (size_t i = 0; i < n; i++)
		printf("%-6lld %-24s %-15lld %lld\n", (long long)t[i].id, t[i].name,
		       (long long)t[i].max_concurrent, (long long)t[i].tokens_per_minute);
	mem_free(t);
	return EXIT_OK;
}

int cmd_team(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "add", team_add },
		{ "list", team_list },
	};
	return cli_store_subcommand(cli, "team", subs, sizeof subs / sizeof subs[0], argc, argv);
}
