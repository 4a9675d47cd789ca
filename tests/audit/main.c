/* main.c - the audit module's test binary: runs each file's group. */
#include "audit_tests.h"

#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	int failed = 0;

	/* The failure paths log on purpose; keep the output to the results. */
	log_setup(LOG_OFF, LOG_FMT_HUMAN, NULL);
	/* The log fsyncs a lot; scratch logs on tmpfs keep the suite fast. */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 0);

	failed += run_merkle_tests();
	failed += run_note_tests();
	failed += run_log_tests();
	failed += run_crash_tests();
	return failed ? 1 : 0;
}
