/*
 * fuzz_packed_text.c - packed chunk texts as the store reads them: any
 * bytes given to ctx_text() as a BLOB either inflate to exactly the
 * length they state or give an error, never a crash or a read past the
 * input; and any text packed by ctx_pack() reads back unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "context/context.h"
#include "context/ctx_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ctx *store;
static sqlite3_stmt *read_blob, *round_trip;

static void setup(void)
{
	char dir[] = "/tmp/fuzz-packed-XXXXXX";

	if (!mkdtemp(dir) || ctx_open(dir, NULL, &store, NULL) != ST_OK)
		abort();
	if (sqlite3_prepare_v2(store->db, "SELECT ctx_text(?1)", -1, &read_blob, NULL) ||
	    sqlite3_prepare_v2(store->db, "SELECT ctx_text(ctx_pack(?1))", -1, &round_trip, NULL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc;

	if (!store)
		setup();
	if (size > (1 << 20))
		return 0;
	sqlite3_bind_blob(read_blob, 1, data, (int)size, SQLITE_STATIC);
	rc = sqlite3_step(read_blob);
	if (rc == SQLITE_ROW) {
		size_t stated = size >= 4 ? ((size_t)data[0] | (size_t)data[1] << 8 |
					     (size_t)data[2] << 16 | (size_t)data[3] << 24) : 0;
		if ((size_t)sqlite3_column_bytes(read_blob, 0) != stated)
			abort();
	} else if (rc != SQLITE_ERROR && rc != SQLITE_NOMEM) {
		abort();
	}
	sqlite3_reset(read_blob);

	sqlite3_bind_text(round_trip, 1, (const char *)data, (int)size, SQLITE_STATIC);
	rc = sqlite3_step(round_trip);
	if (rc == SQLITE_ROW) {
		const void *out = sqlite3_column_blob(round_trip, 0);
		if ((size_t)sqlite3_column_bytes(round_trip, 0) != size ||
		    (size && memcmp(out, data, size) != 0))
			abort();
	} else if (rc != SQLITE_NOMEM) {
		abort();
	}
	sqlite3_reset(round_trip);
	return 0;
}
