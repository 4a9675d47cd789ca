#include "audit_tests.h"
int run_note_tests(void) { return 0; }
int run_log_tests(void) { return 0; }
int run_crash_tests(void) { return 0; }
