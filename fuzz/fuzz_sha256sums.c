/* fuzz_sha256sums.c - libFuzzer target: a bundle's SHA256SUMS (sbx_sums_parse). */
#include "sandbox/sandbox.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static status_t check(void *arg, const uint8_t sum[SHA256_LEN], const char *path,
		      struct err *e)
{
	(void)sum; (void)e;
	/* Whatever is accepted is a clean relative path. */
	size_t n = strlen(path);

	if (path[0] == '/' || strcmp(path, "..") == 0 || strncmp(path, "../", 3) == 0 ||
	    strstr(path, "/../") || (n >= 3 && strcmp(path + n - 3, "/..") == 0) ||
	    strstr(path, "//") || strchr(path, '\\'))
		abort();
	(*(size_t *)arg)++;
	return ST_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	struct err e;

	sbx_sums_parse((const char *)data, size, check, &n, &e);
	return 0;
}
