/*
 * fuzz_policy_scan.c - libFuzzer target: the scanners on arbitrary text.
 * The built-in secret rules plus pattern, query and import rules run over
 * the input, with the language and path picked by its first byte; the
 * token guard is walked over the same bytes.
 */
#include "policy/policy.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char bundle[] =
	"rules:\n"
	"  - id: lit\n    kind: pattern\n    literal: 'rm -rf'\n    action: block\n"
	"  - id: ident\n    kind: pattern\n    literal: strcpy\n    identifier: true\n    action: block\n"
	"  - id: rx\n    kind: pattern\n    regex: '(a|aa)+b'\n"
	"  - id: q-c\n    kind: pattern\n    languages: [c]\n"
	"    query: '(call_expression function: (identifier) @f (#match? @f \"^(gets|system)$\"))'\n"
	"  - id: q-py\n    kind: pattern\n    languages: [python]\n    query: '(call function: (identifier) @f (#eq? @f \"eval\"))'\n"
	"  - id: imp\n    kind: import\n    ecosystem: python\n    deny: ['requests<2.31']\n    allow: [os, requests]\n"
	"  - id: imp-npm\n    kind: import\n    ecosystem: npm\n    deny: [left-pad]\n";

static const struct {
	const char *lang, *path;
} ctxs[] = {
	{ "c", "a.c" }, { "python", "a.py" }, { "javascript", "a.js" }, { NULL, "requirements.txt" },
	{ NULL, "package.json" }, { NULL, "go.mod" }, { NULL, "Cargo.toml" }, { NULL, "pom.xml" },
	{ NULL, "pyproject.toml" }, { "go", "a.go" }, { "rust", "a.rs" }, { "java", "A.java" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pol_bundle *b;
	struct pol_result r;
	struct pol_ctx ctx;
	struct pol_guard *g;

	if (!b) {
		struct pol_load_opts o = { 0 };
		if (pol_bundle_load_mem("fuzz.yaml", bundle, strlen(bundle), &o, &b, NULL) != ST_OK)
			return 0;
	}
	if (!size)
		return 0;
	memset(&ctx, 0, sizeof ctx);
	ctx.lang = ctxs[data[0] % (sizeof ctxs / sizeof ctxs[0])].lang;
	ctx.path = ctxs[data[0] % (sizeof ctxs / sizeof ctxs[0])].path;
	pol_result_init(&r);
	pol_bundle_check(b, &ctx, (const char *)data + 1, size - 1, &r, NULL);
	pol_result_release(&r);
	if (pol_guard_new_bundle(b, &ctx, &g) == ST_OK) {
		for (size_t i = 1; i < size; i += 3) {
			size_t n = size - i < 3 ? size - i : 3;
			pol_guard_accepts(g, (const char *)data + i, n);
			pol_guard_advance(g, (const char *)data + i, n);
		}
		pol_guard_accepts_end(g);
		pol_guard_free(g);
	}
	return 0;
}
