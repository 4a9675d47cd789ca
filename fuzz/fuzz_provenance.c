/*
 * fuzz_provenance.c - the provenance overlap search (ctx_ngram_overlaps)
 * on arbitrary text against a small reference corpus built once: never a
 * crash or a read past either text, and every reported span lies inside
 * the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context/context.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ctx_ngram *corpus;
static size_t in_size;

static void check_span(void *arg, const struct ctx_ngram_match *m)
{
	(void)arg;
	if (m->text_offset > in_size || m->length > in_size - m->text_offset || !m->length)
		abort();
}

static void setup(void)
{
	char dir[] = "/tmp/fuzz-provenance-XXXXXX", file[64], prefix[64];
	const char *roots[1] = { dir };
	FILE *f;

	if (!mkdtemp(dir))
		abort();
	snprintf(file, sizeof file, "%s/a.c", dir);
	snprintf(prefix, sizeof prefix, "%s/idx", dir);
	f = fopen(file, "w");
	if (!f)
		abort();
	for (int i = 0; i < 64; i++)
		fprintf(f, "  x%d = y(%d);\n\tif (x%d)  return z;\n", i % 9, i, i % 5);
	fclose(f);
	if (ctx_ngram_build_corpus(roots, 1, "fuzz", "X", prefix, NULL, NULL) ||
	    ctx_ngram_open_at(prefix, &corpus, NULL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	status_t st;

	if (!corpus)
		setup();
	in_size = size;
	st = ctx_ngram_overlaps(corpus, (const char *)data, size, 24, 2, check_span, NULL);
	if (st != ST_OK && st != ST_NOMEM && st != ST_LIMIT)
		abort();
	return 0;
}
