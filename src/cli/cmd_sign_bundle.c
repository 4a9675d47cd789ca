/*
 * cmd_sign_bundle.c - `airlock sign-bundle DIR [--key FILE]`: signs an
 * unpacked bundle's SHA256SUMS (writes DIR/SHA256SUMS.sig). Used by
 * scripts/dist.sh; the default key is <data>/keys/bundle.key.
 */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <string.h>

int cmd_sign_bundle(struct cli *cli, int argc, char **argv)
{
	const char *dir = NULL, *key = NULL;
	char def[4096];
	struct err e;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else {
			cli_error("sign-bundle", "unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!dir) {
		cli_error("sign-bundle", "usage: airlock sign-bundle DIR [--key FILE]");
		return EXIT_USAGE;
	}
	if (!key) {
		snprintf(def, sizeof def, "%s/keys/bundle.key", cli->data_dir);
		key = def;
	}
	err_clear(&e);
	if (sbx_bundle_sign(dir, key, &e) != ST_OK) {
		cli_error_err("sign-bundle", &e);
		return cli_exit_for(e.st);
	}
	printf("%s/SHA256SUMS.sig written\n", dir);
	return EXIT_OK;
}
