/*
 * fuzz_frontmatter.c - document front matter (YAML through libyaml) on
 * arbitrary bytes: never a crash or leak; errors are ST_CORRUPT/ST_LIMIT.
 */
#include <stdint.h>
#include <stdlib.h>

#include "context/context.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct ctx_frontmatter fm;
	struct err e;
	status_t st;

	arena_init(&a, 0, 1 << 24);
	st = ctx_frontmatter_parse((const char *)data, size, &a, &fm, &e);
	if (st != ST_OK && st != ST_CORRUPT && st != ST_LIMIT && st != ST_NOMEM)
		abort();
	if (st == ST_OK && fm.body_offset > size)
		abort();
	arena_release(&a);
	return 0;
}
