/*
 * cmd_verify_bundle.c - `airlock verify-bundle TARBALL|DIR --pubkey FILE`:
 * checks an offline bundle before it is installed: the Ed25519 signature
 * over SHA256SUMS with a public key the operator brought by a separate
 * channel, every file's checksum, and that nothing unlisted is inside.
 *
 * A tarball is listed first (only plain files and directories may be in
 * it), then unpacked by tar(1) into a fresh private temporary directory
 * (tar refuses absolute and '..' member names), verified there and removed.
 */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(path);
}

/*
 * Lists tarball with `tar -tvzf` and refuses any member that is not a plain
 * file or a directory: a symlink or hard link unpacked before verification
 * could point the extraction, or the verifier, outside tmp. Returns 0 or -1
 * (message printed).
 */
static int tar_members_plain(const char *tarball)
{
	char *args[] = { "tar", "-tvzf", (char *)tarball, NULL };
	posix_spawn_file_actions_t fa;
	char line[8192];
	int p[2], status, bad = 0;
	pid_t pid;
	FILE *f;

	if (pipe(p) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	if (posix_spawnp(&pid, "tar", &fa, NULL, args, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		cli_error("verify-bundle", "cannot run tar: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	f = fdopen(p[0], "r");
	while (f && fgets(line, sizeof line, f)) {
		if (!bad && line[0] != '-' && line[0] != 'd') {
			line[strcspn(line, "\n")] = '\0';
			cli_error("verify-bundle", "%s: member is not a plain file or "
				  "directory: %s", tarball, line);
			bad = 1;
		}
	}
	if (f)
		fclose(f);
	else
		close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		if (!bad)
			cli_error("verify-bundle", "%s: tar cannot read it", tarball);
		return -1;
	}
	return bad ? -1 : 0;
}

/* Unpacks tarball into tmp; returns 0 or -1 (message printed). */
static int untar(const char *tarball, const char *tmp)
{
	char *args[] = { "tar", "-xzf", (char *)tarball, "-C", (char *)tmp,
			 "--no-same-owner", "--no-same-permissions", NULL };
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, "tar", NULL, NULL, args, environ) != 0) {
		cli_error("verify-bundle", "cannot run tar: %s", strerror(errno));
		return -1;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		cli_error("verify-bundle", "%s: tar could not unpack it", tarball);
		return -1;
	}
	return 0;
}

/* The one top-level directory of an unpacked bundle, into out. */
static int single_dir(const char *tmp, char *out, size_t n)
{
	DIR *d = opendir(tmp);
	struct dirent *de;
	int count = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		count++;
		snprintf(out, n, "%s/%s", tmp, de->d_name);
	}
	closedir(d);
	return count == 1 ? 0 : -1;
}

int cmd_verify_bundle(struct cli *cli, int argc, char **argv)
{
	const char *target = NULL, *pubpath = NULL, *tmpbase;
	uint8_t pub[ED25519_KEY_LEN], fp[SHA256_LEN];
	char tmp[4096] = "", dir[8192], hex[2 * SHA256_LEN + 1];
	struct sbx_bundle_result res;
	struct stat st;
	struct err e;
	status_t s;
	int rc;

	(void)cli;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc)
			pubpath = argv[++i];
		else if (strncmp(argv[i], "--pubkey=", 9) == 0)
			pubpath = argv[i] + 9;
		else if (argv[i][0] != '-' && !target)
			target = argv[i];
		else {
			cli_error("verify-bundle", "unexpected argument '%s' (see "
				  "airlock verify-bundle --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!target || !pubpath) {
		cli_error("verify-bundle", "usage: airlock verify-bundle TARBALL|DIR "
			  "--pubkey FILE");
		return EXIT_USAGE;
	}
	err_clear(&e);
	if (sbx_key_load(pubpath, pub, &e) != ST_OK) {
		cli_error_err("verify-bundle", &e);
		return cli_exit_for(e.st);
	}
	if (stat(target, &st) != 0) {
		cli_error("verify-bundle", "%s: %s", target, strerror(errno));
		return EXIT_IO;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(dir, sizeof dir, "%s", target);
	} else {
		tmpbase = getenv("TMPDIR");
		snprintf(tmp, sizeof tmp, "%s/airlock-verify-XXXXXX",
			 tmpbase && *tmpbase ? tmpbase : "/tmp");
		if (!mkdtemp(tmp)) {
			cli_error("verify-bundle", "mkdtemp: %s", strerror(errno));
			return EXIT_IO;
		}
		if (tar_members_plain(target) != 0 || untar(target, tmp) != 0) {
			nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
			return EXIT_DATA;
		}
		if (single_dir(tmp, dir, sizeof dir) != 0) {
			cli_error("verify-bundle", "%s: a bundle holds exactly one "
				  "top-level directory", target);
			nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
			return EXIT_DATA;
		}
	}
	err_clear(&e);
	s = sbx_bundle_verify(dir, pub, &res, &e);
	if (tmp[0])
		nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	sha256(pub, sizeof pub, fp);
	hex_encode(fp, 8, hex);
	if (s != ST_OK) {
		cli_error_err("verify-bundle", &e);
		printf("%s: BAD (key %s)\n", target, hex);
		rc = cli_exit_for(s);
		return rc == EXIT_FAIL ? EXIT_DATA : rc;
	}
	printf("%s: OK: signature by key %s, %zu files match SHA256SUMS, "
	       "nothing unlisted\n", target, hex, res.n_files);
	return EXIT_OK;
}
