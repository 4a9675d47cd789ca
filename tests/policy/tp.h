/* tp.h - shared declarations of the policy test binary's files. */
#ifndef AIRLOCK_TEST_POLICY_TP_H
#define AIRLOCK_TEST_POLICY_TP_H

#include "../harness/harness.h"
#include "policy/policy.h"

/* Loads YAML text as a bundle without the built-in rules; fails the test on error. */
struct pol_bundle *tp_load(const char *yaml);

void test_guard_basic(void **state);
void test_guard_identifier(void **state);
void test_guard_agrees_with_offline_scan(void **state);
void test_guard_simulated_sampler(void **state);
void test_corpus_precision_recall(void **state);
void test_corpus_hyperscan_matches_pcre2(void **state);

#endif
