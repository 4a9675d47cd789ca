/* cmd_user.c - `airlock user add|list`: the people who may use the server. */
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

static int user_add(struct cli *cli, struct srv_store *st, int argc, char **argv)
{
	const char *name = NULL, *team = NULL, *role = "member";
	enum srv_role r;
	struct err e;
	int64_t id;

	err_clear(&e);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--team") == 0 && i + 1 < argc)
			team = argv[++i];
		else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
			role = argv[++i];
		else if (argv[i][0] == '-' || name) {
			cli_error("user add", "unexpected argument '%s' (see airlock user --help)",
				  argv[i]);
			return EXIT_USAGE;
		} else
			name = argv[i];
	}
	if (!name) {
		cli_error("user add", "missing NAME (see airlock user --help)");
		return EXIT_USAGE;
	}
	if (srv_role_parse(role, &r, &e) ||
	    srv_user_add(st, name, team, r, &id, &e)) {
		cli_error_err("user add", &e);
		return cli_exit_for(e.st);
	}
	audit_action(cli, "user.create", name);
	printf("user %s added (id %lld, role %s%s%s)\n", name, (long long)id,
	       srv_role_name(r), team ? ", team " : "", team ? team : "");
	return EXIT_OK;
}

static int user_list(struct cli *cli, struct srv_store *st, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	struct srv_user *u = NULL;
	size_t n = 0;
	struct err e;

	err_clear(&e);
	if (srv_user_list(st, &u, &n, &e)) {
		cli_error_err("user list", &e);
		return cli_exit_for(e.st);
	}
	printf("%-6s %-24s %-20s %s\n", "ID", "NAME", "TEAM", "ROLE");
	for (size_t i = 0; i < n; i++)
		printf("%-6lld %-24s %-20s %s\n", (long long)u[i].id, u[i].name,
		       u[i].team[0] ? u[i].team : "-", srv_role_name(u[i].role));
	mem_free(u);
	return EXIT_OK;
}

int cmd_user(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "add", user_add },
		{ "list", user_list },
	};
	return cli_store_subcommand(cli, "user", subs, sizeof subs / sizeof subs[0], argc, argv);
}
