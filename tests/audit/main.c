/* main.c - the audit module's test binary: runs each file's group. */
#include "audit_tests.h"

int main(void)
{
	int failed = 0;

	/* The failure paths log on purpose; keep the output to the results. */
	log_setup(LOG_OFF, LOG_FMT_HUMAN, NULL);

	failed += run_merkle_tests();
	failed += run_note_tests();
	failed += run_log_tests();
	failed += run_crash_tests();
	return failed ? 1 : 0;
}
