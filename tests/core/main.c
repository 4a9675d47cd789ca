/* main.c - the core test binary: runs every group, fails if any failed. */
#include "harness.h"

int run_core_basic_tests(void);
int run_core_crypto_tests(void);
int run_core_sys_tests(void);
int run_core_config_tests(void);

int main(void)
{
	int failed = 0;

	failed += run_core_basic_tests();
	failed += run_core_crypto_tests();
	failed += run_core_sys_tests();
	failed += run_core_config_tests();
	return failed ? 1 : 0;
}
