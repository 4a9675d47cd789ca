/*
 * fuzz_gitignore.c - the .gitignore matcher on arbitrary pattern files and
 * paths. Input: pattern text, a NUL byte, then paths separated by '\n'.
 * Must never crash, hang (wildmatch aborts keep it polynomial) or leak.
 */
#include <stdint.h>
#include <string.h>

#include "context/context.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	const char *nul = memchr(d, 0, size);
	size_t plen = nul ? (size_t)(nul - d) : size;
	struct ctx_ignore *ig = NULL;
	char path[512];

	if (size > 1 << 16 || ctx_ignore_new(&ig) != ST_OK)
		return 0;
	ctx_ignore_add(ig, "", d, plen);
	ctx_ignore_add(ig, "sub/dir", d, plen);
	for (size_t i = plen + 1; nul && i < size;) {
		size_t e = i;
		while (e < size && d[e] != '\n')
			e++;
		size_t n = e - i < sizeof path - 1 ? e - i : sizeof path - 1;
		memcpy(path, d + i, n);
		path[n] = 0;
		ctx_ignore_match(ig, path, 0);
		ctx_ignore_match(ig, path, 1);
		/* The raw pattern against the path, as CODEOWNERS uses it. */
		if (plen < sizeof path) {
			char pat[512];
			memcpy(pat, d, plen);
			pat[plen] = 0;
			ctx_glob_match(pat, path);
		}
		i = e + 1;
	}
	ctx_ignore_pop(ig, "sub");
	ctx_ignore_free(ig);
	return 0;
}
