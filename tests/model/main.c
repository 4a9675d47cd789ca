/* main.c - the model test binary: runs every group, fails if any failed. */
#include "harness.h"

int run_model_gguf_tests(void);
int run_model_forward_tests(void);

int main(void)
{
	int failed = 0;

	failed += run_model_gguf_tests();
	failed += run_model_forward_tests();
	return failed ? 1 : 0;
}
