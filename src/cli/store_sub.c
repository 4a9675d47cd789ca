/*
 * store_sub.c - the one shape of the account commands (`team`, `user`,
 * `token`): `airlock WHAT SUB ...` picks SUB from a table, opens the
 * server's account store in the data directory and runs it.
 */
#include "cli/cli.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

int cli_store_subcommand(struct cli *cli, const char *what, const struct cli_sub *subs,
			 size_t n, int argc, char **argv)
{
	const struct cli_sub *sub = NULL;
	struct srv_store *st;
	struct err e;
	int rc;

	for (size_t i = 0; argc >= 2 && i < n && !sub; i++)
		if (!strcmp(argv[1], subs[i].name))
			sub = &subs[i];
	if (!sub) {
		char names[128] = "";
		size_t len = 0;
		for (size_t i = 0; i < n && len < sizeof names; i++)
			len += (size_t)snprintf(names + len, sizeof names - len, "%s'%s'",
						i == 0 ? "" : i + 1 == n ? " or " : ", ",
						subs[i].name);
		cli_error(what, "expected %s (see airlock %s --help)", names, what);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if (srv_store_open_dir(cli->data_dir, &st, &e)) {
		cli_error_err("store", &e);
		return cli_exit_for(e.st);
	}
	rc = sub->fn(cli, st, argc, argv);
	srv_store_free(st);
	return rc;
}
