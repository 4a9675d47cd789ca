/*
 * fuzz_http_status.c - libFuzzer target: what a collector answers the
 * http export sink (tel__http_status_parse), and the sink's URL parser.
 * The first byte picks the target. For a response, every prefix is fed
 * as recv() would deliver it: a prefix may only need more bytes or fail,
 * and once a final code is found every longer input gives the same code.
 */
#include "telemetry/telemetry_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;
	struct err e;
	int code, first = 0;

	if (size < 1 || size > 16384)
		return 0;
	if (data[0] & 1) {
		struct tel__url u;
		char *s = malloc(n + 1);

		if (!s)
			return 0;
		memcpy(s, p, n);
		s[n] = '\0';
		if (tel__url_parse(s, &u, &e) == ST_OK &&
		    (u.target[0] != '/' || strpbrk(u.target, " \r\n") || u.port < 1 ||
		     u.port > 65535))
			abort();
		free(s);
		return 0;
	}
	for (size_t k = 0; k <= n; k++) {
		err_clear(&e);
		if (tel__http_status_parse(p, k, &code, &e) != ST_OK) {
			if (first)
				abort();	/* a found code cannot turn into an error */
			break;
		}
		if (code && (code < 100 || code > 599))
			abort();
		if (first && code != first)
			abort();
		if (code)
			first = code;
	}
	return 0;
}
