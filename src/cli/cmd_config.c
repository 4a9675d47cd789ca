/* cmd_config.c - `airlock config check|show`: validate and print settings. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cmd_config(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	struct config *cfg = NULL;
	struct err e;
	struct buf out;

	if (!sub) {
		fputs(cli_command_find("config")->usage, stderr);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if (strcmp(sub, "check") == 0) {
		const char *path = argc > 2 ? argv[2] : cli->config_path;
		if (argc > 3) {
			cli_error("config check", "takes at most one FILE");
			return EXIT_USAGE;
		}
		if (!path) {
			cli_error("config check",
				  "no file given (pass FILE, --config FILE or AIRLOCK_CONFIG)");
			return EXIT_USAGE;
		}
		if (config_load(path, &cfg, &e) != ST_OK) {
			cli_error_err("config", &e);
			return EXIT_USAGE;
		}
		config_free(cfg);
		printf("%s: ok\n", path);
		return EXIT_OK;
	}
	if (strcmp(sub, "show") == 0) {
		if (argc > 2) {
			cli_error("config show", "takes no arguments");
			return EXIT_USAGE;
		}
		if (!cli->cfg) {
			/* main() could not load it: report why. */
			if (config_load(cli->config_path, &cfg, &e) != ST_OK) {
				cli_error_err("config", &e);
				return EXIT_USAGE;
			}
		}
		buf_init(&out, 0);
		printf("# effective configuration%s%s\n", cli->config_path ? " from " : "",
		       cli->config_path ? cli->config_path : " (no file: defaults and environment)");
		printf("# data directory: %s\n", cli->data_dir);
		if (config_dump(cli->cfg ? cli->cfg : cfg, &out) != ST_OK) {
			buf_release(&out);
			config_free(cfg);
			cli_error("config show", "out of memory");
			return EXIT_IO;
		}
		fputs(buf_cstr(&out), stdout);
		buf_release(&out);
		config_free(cfg);
		return EXIT_OK;
	}
	cli_error("config", "unknown subcommand '%s' (check, show)", sub);
	return EXIT_USAGE;
}
