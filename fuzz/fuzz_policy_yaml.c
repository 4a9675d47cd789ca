/* fuzz_policy_yaml.c - libFuzzer target: the policy bundle parser and compiler. */
#include "policy/policy.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_load_opts o = { .no_defaults = 1 };
	struct pol_bundle *b = NULL;
	struct pol_result r;
	struct pol_guard *g;
	struct err e;

	if (size > 65536)
		return 0;
	if (pol_bundle_load_mem("fuzz.yaml", (const char *)data, size, &o, &b, &e) != ST_OK)
		return 0;
	/* A bundle that loads must also run. */
	pol_result_init(&r);
	pol_bundle_check(b, NULL, "strcpy(a, b); eval(x) tk_Q8d7F6g5H4j3K2l1Zx9c\n", 47, &r, NULL);
	pol_result_release(&r);
	if (pol_guard_new_bundle(b, NULL, &g) == ST_OK) {
		pol_guard_accepts(g, "strcpy(", 7);
		pol_guard_free(g);
	}
	pol_bundle_scope_allows(b, "t", "r", "p");
	pol_bundle_free(b);
	return 0;
}
