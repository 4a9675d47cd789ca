/*
 * test_guard.c - the generation-time token guard: unit cases, and two
 * property tests. (1) On random byte streams cut into random tokens, the
 * guard's verdict on each token equals an independent offline scan of the
 * same bytes. (2) A simulated sampler drawing uniformly (the limit of a
 * high temperature) from a small vocabulary full of fragments of the
 * banned literals, 10,000 generations: with the guard, no output contains
 * a banned literal; without it, many do (so the test can fail).
 */
#include "tp.h"

#include <stdlib.h>
#include <string.h>

static const char guard_yaml[] =
	"rules:\n"
	"  - id: no-rm-rf\n    kind: pattern\n    literal: 'rm -rf'\n    action: block\n"
	"  - id: no-cpy-call\n    kind: pattern\n    literal: 'cpy('\n    action: regenerate\n"
	"  - id: no-strcpy\n    kind: pattern\n    literal: strcpy\n    identifier: true\n    action: block\n"
	"  - id: no-cp\n    kind: pattern\n    literal: cp\n    identifier: true\n    action: block\n"
	"  - id: todo\n    kind: pattern\n    literal: TODO\n    action: warn\n";

/* The offline reference: plain literals and whole identifiers, naively. */
static const char *const plain[] = { "rm -rf", "cpy(" };
static const char *const idents[] = { "strcpy", "cp" };

static int is_id(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$';
}

/*
 * Does a banned literal complete within bytes [p, n) of s? A plain literal
 * completes at its last byte; an identifier when the byte after it (a
 * non-identifier byte) arrives, or at the end of the output when at_end.
 */
static int offline_completes(const char *s, size_t p, size_t n, int at_end)
{
	for (size_t k = 0; k < 2; k++) {
		size_t m = strlen(plain[k]);
		for (size_t i = 0; i + m <= n; i++)
			if (i + m > p && !memcmp(s + i, plain[k], m))
				return 1;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		if (!is_id((unsigned char)s[i])) {
			i++;
			continue;
		}
		while (j < n && is_id((unsigned char)s[j]))
			j++;
		/* run [i, j): confirmed by byte j (inside [p, n)) or by the end */
		for (size_t k = 0; k < 2; k++)
			if (j - i == strlen(idents[k]) && !memcmp(s + i, idents[k], j - i) &&
			    ((j < n && j >= p) || (j == n && at_end)))
				return 1;
		i = j;
	}
	return 0;
}

static int offline_contains(const char *s, size_t n)
{
	return offline_completes(s, 0, n, 1);
}

static struct pol_guard *guard_new(struct pol_bundle **b)
{
	struct pol_guard *g;
	struct pol_ctx ctx = { .lang = "c" };

	*b = tp_load(guard_yaml);
	TH_OK(pol_guard_new_bundle(*b, &ctx, &g));
	return g;
}

void test_guard_basic(void **state)
{
	struct pol_bundle *b;
	struct pol_guard *g = guard_new(&b);

	(void)state;
	assert_int_equal(pol_guard_size(g), 4);	/* the warn rule is not banned */
	assert_int_equal(pol_guard_accepts(g, "rm -r", 5), 1);
	pol_guard_advance(g, "rm -r", 5);
	assert_int_equal(pol_guard_accepts(g, "f /", 3), 0);
	assert_string_equal(pol_guard_last_rule(g), "no-rm-rf");
	assert_int_equal(pol_guard_accepts(g, "m /", 3), 1);	/* no state change */
	assert_int_equal(pol_guard_accepts(g, "f /", 3), 0);
	pol_guard_reset(g);
	assert_int_equal(pol_guard_accepts(g, "TODO: x", 7), 1);
	assert_int_equal(pol_guard_accepts(g, "memcpy(", 7), 0);
	assert_string_equal(pol_guard_last_rule(g), "no-cpy-call");
	pol_guard_free(g);
	pol_bundle_free(b);
}

void test_guard_identifier(void **state)
{
	struct pol_bundle *b;
	struct pol_guard *g = guard_new(&b);

	(void)state;
	assert_int_equal(pol_guard_accepts(g, "str", 3), 1);
	pol_guard_advance(g, "str", 3);
	assert_int_equal(pol_guard_accepts(g, "cpy", 3), 1);	/* not yet a whole identifier */
	pol_guard_advance(g, "cpy", 3);
	assert_int_equal(pol_guard_accepts_end(g), 0);
	assert_int_equal(pol_guard_accepts(g, " ", 1), 0);
	assert_string_equal(pol_guard_last_rule(g), "no-strcpy");
	assert_int_equal(pol_guard_accepts(g, "_s", 2), 1);	/* strcpy_s is another name */
	pol_guard_advance(g, "_s", 2);
	assert_int_equal(pol_guard_accepts(g, " ", 1), 1);
	assert_int_equal(pol_guard_accepts_end(g), 1);
	pol_guard_reset(g);
	assert_int_equal(pol_guard_accepts(g, "my_strcpy x", 11), 1);
	assert_int_equal(pol_guard_accepts(g, "a cp b", 6), 0);
	assert_int_equal(pol_guard_accepts(g, "a cpp b", 7), 1);
	{
		const char *tok[] = { "cp", " ", "x", "(", "cpy(" };
		size_t len[] = { 2, 1, 1, 1, 4 };
		uint8_t mask[5];
		pol_guard_advance(g, "x = ", 4);
		pol_guard_advance(g, "cp", 2);
		pol_guard_mask(g, tok, len, 5, mask);
		assert_int_equal(mask[0], 1);	/* "cpcp" */
		assert_int_equal(mask[1], 0);	/* "cp " */
		assert_int_equal(mask[2], 1);	/* "cpx" */
		assert_int_equal(mask[3], 0);	/* "cp(" */
		assert_int_equal(mask[4], 0);	/* "cpcpy(" completes the plain "cpy(" */
	}
	pol_guard_free(g);
	pol_bundle_free(b);
}

void test_guard_agrees_with_offline_scan(void **state)
{
	static const char alpha[] = "strcpy_ (rm-f/xa\n";
	struct pol_bundle *b;
	struct pol_guard *g = guard_new(&b);
	char buf[512];
	unsigned seed = 12345;
	long checks = 0, rejects = 0;

	(void)state;
	for (int trial = 0; trial < 2000; trial++) {
		size_t n = 0;
		pol_guard_reset(g);
		while (n < 400) {
			size_t t = 1 + (size_t)(rand_r(&seed) % 7), p = n;
			int acc, want;
			for (size_t i = 0; i < t; i++)
				buf[n++] = rand_r(&seed) % 50 == 0 ? (char)(rand_r(&seed) % 256)
								    : alpha[rand_r(&seed) % (sizeof alpha - 1)];
			acc = pol_guard_accepts(g, buf + p, t);
			want = !offline_completes(buf, p, n, 0);
			if (acc != want)
				fail_msg("trial %d: token at %zu (len %zu): guard %d, offline %d", trial, p, t,
					 acc, want);
			checks++;
			rejects += !acc;
			/* Advance either way: the state must stay right after a match. */
			pol_guard_advance(g, buf + p, t);
		}
		if (pol_guard_accepts_end(g) != !offline_completes(buf, n, n, 1))
			fail_msg("trial %d: end verdict differs", trial);
	}
	print_message("guard vs offline scan: %ld tokens checked, %ld rejected\n", checks, rejects);
	assert_true(rejects > 100);
	pol_guard_free(g);
	pol_bundle_free(b);
}

void test_guard_simulated_sampler(void **state)
{
	static const char *const vocab[] = {
		"s", "t", "r", "c", "p", "y", "st", "str", "strc", "cpy", "py", "rcp", "strcpy",
		"(", ")", " ", "_", "x", "a", "\n", "rm", " -", "rf", "-rf", "-", "f", "m", "o",
		"memcpy", "strcpy(", "y(", "rm -rf", " rm", "cp", ";", "=", "b", "0", "1", "{",
	};
	enum { NV = sizeof vocab / sizeof vocab[0], STEPS = 32 };
	size_t lens[NV];
	uint8_t mask[NV];
	struct pol_bundle *b;
	struct pol_guard *g = guard_new(&b);
	unsigned seed = 777;
	long rejected = 0, unguarded_hits = 0;
	char out[STEPS * 8 + 64 * 8];

	(void)state;
	for (size_t i = 0; i < NV; i++)
		lens[i] = strlen(vocab[i]);
	for (int gen = 0; gen < 10000; gen++) {
		size_t n = 0, un = 0;
		char raw[STEPS * 8];
		pol_guard_reset(g);
		for (int step = 0; step < STEPS + 64; step++) {
			size_t t = (size_t)rand_r(&seed) % NV;
			if (step < STEPS) {	/* the same draws, unguarded */
				memcpy(raw + un, vocab[t], lens[t]);
				un += lens[t];
			}
			if (step >= STEPS && pol_guard_accepts_end(g))
				break;
			if (!pol_guard_accepts(g, vocab[t], lens[t])) {
				size_t ok = 0, pick;
				rejected++;
				pol_guard_mask(g, vocab, lens, NV, mask);
				for (size_t i = 0; i < NV; i++)
					ok += mask[i];
				assert_true(ok > 0);
				pick = (size_t)rand_r(&seed) % ok;
				for (t = 0; t < NV; t++)
					if (mask[t] && pick-- == 0)
						break;
			}
			pol_guard_advance(g, vocab[t], lens[t]);
			memcpy(out + n, vocab[t], lens[t]);
			n += lens[t];
		}
		assert_int_equal(pol_guard_accepts_end(g), 1);
		if (offline_contains(out, n))
			fail_msg("generation %d emitted a banned literal: '%.*s'", gen, (int)n, out);
		unguarded_hits += offline_contains(raw, un);
	}
	print_message("simulated sampler: 10000 generations, %ld tokens rejected; "
		      "%ld unguarded generations contained a banned literal\n", rejected, unguarded_hits);
	assert_true(unguarded_hits > 1000);
	pol_guard_free(g);
	pol_bundle_free(b);
}
