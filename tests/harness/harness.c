/* harness.c - shared test helpers: shared data, scratch directories. */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char shared_buf[4096];
static char tmp_buf[4096];

const char *th_shared_dir(void)
{
	const char *env = getenv("AIRLOCK_SHARED");
	const char *cands[] = { env, "../shared", "../../shared", NULL };
	struct stat st;

	for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
		if (!cands[i] || !cands[i][0])
			continue;
		if (stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (!realpath(cands[i], shared_buf))
				continue;
			return shared_buf;
		}
	}
	return NULL;
}

void th_shared_path(const char *rel, char *out, size_t n)
{
	const char *d = th_shared_dir();
	struct stat st;

	if (!d) {
		print_message("SKIP: ../shared is absent (set AIRLOCK_SHARED); "
			      "test needs %s\n", rel);
		skip();
	}
	snprintf(out, n, "%s/%s", d, rel);
	if (stat(out, &st) != 0) {
		print_message("SKIP: %s not found in shared data\n", rel);
		skip();
	}
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

void th_tmpdir_cleanup(void)
{
	const char *keep = getenv("AIRLOCK_KEEP_TMP");

	if (tmp_buf[0] && !(keep && *keep == '1'))
		nftw(tmp_buf, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	tmp_buf[0] = 0;
}

const char *th_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	th_tmpdir_cleanup();
	snprintf(tmp_buf, sizeof tmp_buf, "%s/airlock-test-XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(tmp_buf))
		fail_msg("mkdtemp: %s", strerror(errno));
	return tmp_buf;
}

const char *th_write_file(const char *dir, const char *name, const char *text)
{
	static char path[4096];
	char parent[4096];
	struct err e;
	FILE *f;
	char *sl;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	str_copy(parent, path, sizeof parent);
	sl = strrchr(parent, '/');
	if (sl && sl != parent) {
		*sl = 0;
		if (file_mkdirs(parent, 0755, &e) != ST_OK)
			fail_msg("mkdir %s: %s", parent, e.msg);
	}
	f = fopen(path, "wb");
	if (!f)
		fail_msg("fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	return path;
}
