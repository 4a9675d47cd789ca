/*
 * cmd_provenance.c - `airlock provenance index|list`: reference corpora for
 * the policy module's provenance rules (code whose licence the company
 * does not accept). A corpus is indexed apart from the organisation's own
 * repositories, into <data>/provenance/<name>.txt/.sa/.map, so matches
 * against the organisation's code never count as provenance findings.
 */
#include "cli/cli.h"
#include "context/context.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define PROV_MAX_ROOTS 64

static int prov_index(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL, *licence = NULL, *roots[PROV_MAX_ROOTS];
	size_t n_roots = 0;
	char prefix[1200], dir[1100];
	struct ctx_corpus_stats s;
	struct err e;
	status_t st;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else if ((!strcmp(argv[i], "--licence") || !strcmp(argv[i], "--license")) && i + 1 < argc)
			licence = argv[++i];
		else if (argv[i][0] != '-' && n_roots < PROV_MAX_ROOTS)
			roots[n_roots++] = argv[i];
		else {
			cli_error("provenance index", "unexpected argument '%s' (see airlock provenance --help)",
				  argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!name || !licence || !n_roots) {
		cli_error("provenance index", "needs --name NAME --licence LABEL and at least one PATH");
		return EXIT_USAGE;
	}
	err_clear(&e);
	if ((st = provenance_corpus_prefix(cli->data_dir, name, prefix, sizeof prefix, &e))) {
		cli_error_err("provenance index", &e);
		return EXIT_USAGE;
	}
	snprintf(dir, sizeof dir, "%s/provenance", cli->data_dir);
	if (mkdir(cli->data_dir, 0700) && errno != EEXIST) {
		cli_error("provenance index", "%s: cannot create: %s", cli->data_dir, strerror(errno));
		return EXIT_IO;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		cli_error("provenance index", "%s: cannot create: %s", dir, strerror(errno));
		return EXIT_IO;
	}
	if ((st = ctx_ngram_build_corpus(roots, n_roots, name, licence, prefix, &s, &e))) {
		cli_error_err("provenance index", &e);
		return st == ST_INVAL ? EXIT_USAGE : cli_exit_for(st);
	}
	printf("corpus %s (%s): %llu files, %llu bytes, %llu skipped -> %s.*\n", name, licence,
	       (unsigned long long)s.files, (unsigned long long)s.bytes,
	       (unsigned long long)s.skipped, prefix);
	LOG_INFO("provenance.indexed", LF_STR("corpus", name), LF_INT("files", (int64_t)s.files),
		 LF_INT("bytes", (int64_t)s.bytes));
	return EXIT_OK;
}

static int prov_list(struct cli *cli)
{
	char dir[1100];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(dir, sizeof dir, "%s/provenance", cli->data_dir);
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d)) != NULL) {
			size_t l = strlen(de->d_name);
			char p[1400];
			struct stat sb;
			if (l < 5 || strcmp(de->d_name + l - 4, ".txt") || de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			if (stat(p, &sb))
				continue;
			printf("%.*s\t%lld bytes\n", (int)(l - 4), de->d_name, (long long)sb.st_size);
			n++;
		}
		closedir(d);
	}
	if (!n)
		printf("no reference corpora (airlock provenance index --name N --licence L PATH)\n");
	return EXIT_OK;
}

int cmd_provenance(struct cli *cli, int argc, char **argv)
{
	if (argc < 2) {
		cli_error("provenance", "missing subcommand (index, list; see airlock provenance --help)");
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "index"))
		return prov_index(cli, argc, argv);
	if (!strcmp(argv[1], "list"))
		return prov_list(cli);
	cli_error("provenance", "unknown subcommand '%s' (index, list)", argv[1]);
	return EXIT_USAGE;
}
