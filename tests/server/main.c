/* main.c - the server test binary: runs every group, fails if any failed. */
#include "harness.h"

int run_server_text_tests(void);
int run_server_store_tests(void);
int run_server_http_tests(void);
int run_server_guard_prop_tests(void);

int main(void)
{
	int failed = 0;

	failed += run_server_text_tests();
	failed += run_server_store_tests();
	failed += run_server_http_tests();
	failed += run_server_guard_prop_tests();
	return failed ? 1 : 0;
}
