/*
 * cmd_keygen.c - `airlock keygen [--force] [FILE]`: makes an Ed25519 key
 * pair for signing offline bundles: FILE (private, 0600) and FILE.pub.
 * The default FILE is <data>/keys/bundle.key.
 */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <string.h>

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
	char def[4200], keys[4096], hex[2 * SHA256_LEN + 1];
	const char *path = NULL;
	uint8_t pub[ED25519_KEY_LEN], fp[SHA256_LEN];
	char pubpath[4300];
	int force = 0;
	struct err e;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			cli_error("keygen", "unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	err_clear(&e);
	if (!path) {
		snprintf(keys, sizeof keys, "%s/keys", cli->data_dir);
		if (file_mkdirs(keys, 0700, &e) != ST_OK) {
			cli_error_err("keygen", &e);
			return cli_exit_for(e.st);
		}
		snprintf(def, sizeof def, "%s/bundle.key", keys);
		path = def;
	}
	if (sbx_key_generate(path, force, &e) != ST_OK) {
		cli_error_err("keygen", &e);
		return cli_exit_for(e.st);
	}
	snprintf(pubpath, sizeof pubpath, "%s.pub", path);
	if (sbx_key_load(pubpath, pub, &e) != ST_OK) {
		cli_error_err("keygen", &e);
		return cli_exit_for(e.st);
	}
	sha256(pub, sizeof pub, fp);
	printf("private key %s (keep it secret)\npublic key  %s (key %s)\n",
	       path, pubpath, hex_encode(fp, 8, hex));
	return EXIT_OK;
}
