/*
 * fuzz_import_text.c - the import statements of an editor buffer's head
 * (retrieval parses only those for imports), on arbitrary bytes. Must
 * never read past the buffer; the text it keeps has at most one line per
 * line of the input (other lines blank, so line numbers hold), and none
 * at all when it counts no statement.
 */
#include <stdint.h>
#include <stdlib.h>

#include "context/ctx_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t lines_of(const char *t, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += t[i] == '\n';
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	struct buf out;
	size_t count = 0;

	buf_init(&out, 0);
	if (ctx__import_text(t, size, &out, &count) != ST_OK)
		abort();	/* only running out of memory may fail */
	if (out.len > size + 1 || lines_of((const char *)out.data, out.len) > lines_of(t, size) + 1)
		abort();
	if (count == 0 && out.len != 0)
		abort();
	buf_release(&out);
	return 0;
}
