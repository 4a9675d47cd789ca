/* audit_tests.h - the groups of the audit test binary, one per file. */
#ifndef AIRLOCK_AUDIT_TESTS_H
#define AIRLOCK_AUDIT_TESTS_H

#include "../harness/harness.h"
#include "audit/audit.h"

int run_merkle_tests(void);
int run_note_tests(void);
int run_log_tests(void);
int run_crash_tests(void);

#endif
