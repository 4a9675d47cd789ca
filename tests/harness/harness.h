/*
 * harness.h - helpers shared by airlock's test binaries (cmocka).
 *
 * Each tests/<module>/ folder builds one binary; its main() calls
 * cmocka_run_group_tests. These helpers find ../shared, make scratch
 * directories and skip cleanly when test data is absent.
 */
#ifndef AIRLOCK_TEST_HARNESS_H
#define AIRLOCK_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"

/*
 * Returns the path of the shared test data folder (AIRLOCK_SHARED, else
 * ../shared from the project root), or NULL when it is absent. Borrowed.
 */
const char *th_shared_dir(void);

/*
 * Builds "<shared>/<rel>" into out; when shared/ is absent, prints a clear
 * skip message and calls cmocka's skip(). Use as the first line of a test.
 */
void th_shared_path(const char *rel, char *out, size_t n);

/*
 * Creates a fresh empty directory under $TMPDIR for this test and returns
 * its path (static storage; valid until the next call). Removed by
 * th_tmpdir_cleanup (or left for inspection with AIRLOCK_KEEP_TMP=1).
 */
const char *th_tmpdir(void);
void th_tmpdir_cleanup(void);

/* Writes text to dir/name, making the directories name passes through;
 * returns the full path (static storage). */
const char *th_write_file(const char *dir, const char *name, const char *text);

/* Asserts st == ST_OK, printing the status name and e's message if not. */
#define TH_OK(expr)                                                      \
	do {                                                             \
		status_t th_st_ = (expr);                                \
		if (th_st_ != ST_OK)                                     \
			fail_msg("%s -> %s", #expr, status_name(th_st_)); \
	} while (0)
#define TH_ST(expr, want)                                                \
	do {                                                             \
		status_t th_st_ = (expr);                                \
		if (th_st_ != (want))                                    \
			fail_msg("%s -> %s, want %s", #expr,             \
				 status_name(th_st_), status_name(want)); \
	} while (0)

#endif
