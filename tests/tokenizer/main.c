/* main.c - the tokenizer test binary: runs every group, fails if any failed. */
#include "harness.h"

int run_tokenizer_vocab_tests(void);
int run_tokenizer_sample_tests(void);

int main(void)
{
	int failed = 0;

	failed += run_tokenizer_vocab_tests();
	failed += run_tokenizer_sample_tests();
	return failed ? 1 : 0;
}
