/*
 * fuzz_import_span.c - the import span of an editor buffer (retrieval
 * reads only that much of it for imports), on arbitrary bytes. Must never
 * read past the buffer, and the span must end at a line's end or at the
 * end of the buffer.
 */
#include <stdint.h>
#include <stdlib.h>

#include "context/ctx_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	size_t n = ctx__import_span(t, size);

	if (n > size || (n > 0 && n < size && t[n - 1] != '\n'))
		abort();
	return 0;
}
