/* fuzz_egress.c - libFuzzer target: egress.allow entries (sbx_endpoint_parse). */
#include "sandbox/sandbox.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbx_endpoint ep, again;
	struct err e;
	char *s;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sbx_endpoint_parse(s, &ep, &e) == ST_OK) {
		/* The canonical text parses to the same endpoint. */
		if (sbx_endpoint_parse(ep.text, &again, &e) != ST_OK ||
		    again.port != ep.port || again.family != ep.family ||
		    memcmp(again.addr, ep.addr, sizeof ep.addr) != 0)
			abort();
	}
	free(s);
	return 0;
}
