/* main.c - the sandbox test binary: lockdown, egress allowlist, bundle. */
#include "harness.h"

int run_sandbox_lockdown_tests(void);
int run_sandbox_egress_tests(void);
int run_sandbox_bundle_tests(void);

int main(void)
{
	int failed = 0;

	failed += run_sandbox_lockdown_tests();
	failed += run_sandbox_egress_tests();
	failed += run_sandbox_bundle_tests();
	return failed ? 1 : 0;
}
