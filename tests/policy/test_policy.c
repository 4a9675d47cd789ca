/*
 * test_policy.c - the policy module's tests: bundle loading and its bad
 * inputs, each rule kind, layering, redaction, streaming, scope, signing,
 * reload, JSON, bounds on pathological input. Guard property tests are in
 * test_guard.c, the labelled secret corpus in test_corpus.c.
 */
#include "tp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

struct pol_bundle *tp_load(const char *yaml)
{
	struct pol_load_opts o = { .no_defaults = 1 };
	struct pol_bundle *b = NULL;
	struct err e;
	char line[1024];

	err_clear(&e);
	if (pol_bundle_load_mem("test.yaml", yaml, strlen(yaml), &o, &b, &e) != ST_OK)
		fail_msg("bundle did not load: %s", err_format(&e, line, sizeof line));
	return b;
}

/* Runs b over text; returns the result (caller releases). */
static void run(struct pol_bundle *b, const char *lang, const char *path, const char *text,
		struct pol_result *r)
{
	struct pol_ctx ctx = { .lang = lang, .path = path };

	pol_result_init(r);
	TH_OK(pol_bundle_check(b, &ctx, text, strlen(text), r, NULL));
}

static int count_rule(const struct pol_result *r, const char *id)
{
	int n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += !strcmp(r->items[i].rule_id, id);
	return n;
}

/* ------------------------------------------------------------------ */
/* Bad input table                                                     */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name, *yaml;
	status_t st;
	int line, col;
	const char *msg;	/* substring of the message */
} bad[] = {
	{ "invalid yaml", "rules:\n  - id: a\n    kind: [\n", ST_CORRUPT, 4, 1, "invalid YAML" },
	{ "tab indentation", "rules:\n\t- id: a\n", ST_CORRUPT, 2, 1, "invalid YAML" },
	{ "not a mapping", "- a\n- b\n", ST_CORRUPT, 1, 1, "must be a mapping" },
	{ "unknown top key", "version: 1\nrulez: []\n", ST_CORRUPT, 2, 1, "unknown top-level key 'rulez'" },
	{ "bad version", "version: 2\n", ST_CORRUPT, 1, 10, "'version' must be" },
	{ "unknown kind", "rules:\n  - id: r1\n    kind: magic\n", ST_CORRUPT, 3, 11,
	  "rule 'r1': unknown rule kind 'magic'" },
	{ "missing kind", "rules:\n  - id: r1\n", ST_CORRUPT, 2, 5, "rule 'r1': rule without 'kind'" },
	{ "missing id", "rules:\n  - kind: secret\n", ST_CORRUPT, 2, 5, "rule without 'id'" },
	{ "bad id", "rules:\n  - id: 'a b'\n    kind: secret\n", ST_CORRUPT, 2, 9, "rule id must be" },
	{ "regex does not compile", "rules:\n  - id: r2\n    kind: secret\n    regex: 'ab(c'\n",
	  ST_CORRUPT, 4, 12, "rule 'r2': regex does not compile at offset 4" },
	{ "regex matches empty", "rules:\n  - id: r3\n    kind: pattern\n    regex: 'a*'\n",
	  ST_CORRUPT, 4, 12, "rule 'r3': regex matches the empty string" },
#ifdef AIRLOCK_HAVE_HYPERSCAN
	{ "hyperscan rejects", "rules:\n  - id: r4\n    kind: pattern\n    regex: '(?(DEFINE)(?<x>a))b(?&x)'\n",
	  ST_CORRUPT, 4, 12, "rule 'r4': Hyperscan rejects the regex" },
#endif
	{ "query syntax error", "rules:\n  - id: q1\n    kind: pattern\n    languages: [c]\n"
	  "    query: '(call_expression function: (identifier @f'\n",
	  ST_CORRUPT, 5, 0, "rule 'q1': tree-sitter query" },
	{ "query unknown node", "rules:\n  - id: q2\n    kind: pattern\n    languages: [python]\n"
	  "    query: '(no_such_node) @m'\n", ST_CORRUPT, 5, 14, "rule 'q2': tree-sitter query unknown node type at offset 1" },
	{ "query without language", "rules:\n  - id: q3\n    kind: pattern\n    query: '(x) @m'\n",
	  ST_CORRUPT, 2, 5, "rule 'q3': a query rule needs 'languages'" },
	{ "query valid in one language only", "rules:\n  - id: q5\n    kind: pattern\n    languages: [c, python]\n"
	  "    query: '(call_expression) @m'\n", ST_CORRUPT, 5, 14,
	  "rule 'q5': tree-sitter query unknown node type at offset 1 (python)" },
	{ "query language without grammar", "rules:\n  - id: q6\n    kind: pattern\n    languages: [cobol]\n"
	  "    query: '(x) @m'\n", ST_CORRUPT, 4, 16, "rule 'q6': no tree-sitter grammar for language 'cobol'" },
	{ "query bad predicate", "rules:\n  - id: q4\n    kind: pattern\n    languages: [c]\n"
	  "    query: '((identifier) @m (#frob? @m \"x\"))'\n", ST_CORRUPT, 5, 12, "rule 'q4': query pattern 0: unknown predicate" },
	{ "duplicate id", "rules:\n  - id: d\n    kind: pattern\n    literal: x\n  - id: d\n    kind: pattern\n    literal: y\n",
	  ST_CORRUPT, 5, 9, "rule 'd': duplicate rule id (first defined at test.yaml:2:5)" },
	{ "duplicate key", "rules:\n  - id: k\n    kind: pattern\n    literal: x\n    literal: y\n",
	  ST_CORRUPT, 5, 5, "rule 'k': duplicate key 'literal'" },
	{ "two matchers", "rules:\n  - id: m\n    kind: pattern\n    literal: x\n    regex: y\n",
	  ST_CORRUPT, 2, 5, "rule 'm': a pattern rule needs exactly one of" },
	{ "bad action", "rules:\n  - id: a\n    kind: pattern\n    literal: x\n    action: nuke\n",
	  ST_CORRUPT, 5, 13, "rule 'a': action must be one of" },
	{ "bad severity", "rules:\n  - id: a\n    kind: pattern\n    literal: x\n    severity: 7\n",
	  ST_CORRUPT, 5, 15, "rule 'a': severity must be one of" },
	{ "unknown rule key", "rules:\n  - id: a\n    kind: pattern\n    literal: x\n    pattern: y\n",
	  ST_CORRUPT, 5, 5, "rule 'a': unknown key 'pattern'" },
	{ "identifier literal with space", "rules:\n  - id: a\n    kind: pattern\n    literal: 'a b'\n    identifier: true\n",
	  ST_CORRUPT, 4, 14, "non-identifier character" },
	{ "import without ecosystem", "rules:\n  - id: i\n    kind: import\n    deny: [x]\n", ST_CORRUPT, 2, 5,
	  "rule 'i': an import rule needs 'ecosystem'" },
	{ "bad dependency", "rules:\n  - id: i\n    kind: import\n    ecosystem: npm\n    deny: ['left-pad <']\n",
	  ST_CORRUPT, 5, 11, "bad dependency constraint" },
	{ "scope without team", "rules:\n  - id: s\n    kind: scope\n    allow: {repos: [a]}\n", ST_CORRUPT, 2, 5,
	  "rule 's': a scope rule needs 'team'" },
	{ "provenance without corpus", "rules:\n  - id: p\n    kind: provenance\n", ST_CORRUPT, 2, 5,
	  "rule 'p': a provenance rule needs 'corpus'" },
	{ "override of unknown rule", "layer: team\nteam: t\noverrides:\n  - id: nope\n    action: allow\n",
	  ST_CORRUPT, 4, 9, "rule 'nope': override of an unknown rule" },
	{ "team layer without team", "layer: team\n", ST_CORRUPT, 1, 1, "a team layer needs 'team'" },
	{ "entropy out of range", "rules:\n  - id: e\n    kind: secret\n    regex: abc\n    entropy: 9\n",
	  ST_CORRUPT, 5, 14, "'entropy' must be a number in" },
	{ "secret group too big", "rules:\n  - id: g\n    kind: secret\n    regex: 'a(b)'\n    secret_group: 2\n",
	  ST_CORRUPT, 5, 19, "secret_group 2 but the regex has 1 groups" },
	{ "bad allowlist regex", "rules:\n  - id: al\n    kind: secret\n    regex: abc\n    allowlist: {regexes: ['(']}\n",
	  ST_CORRUPT, 5, 26, "allowlist regex '(' does not compile" },
};

static void test_bad_inputs(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct pol_load_opts o = { .no_defaults = 1 };
		struct pol_bundle *b = NULL;
		struct err e;
		char line[1024];
		status_t st;

		err_clear(&e);
		st = pol_bundle_load_mem("test.yaml", bad[i].yaml, strlen(bad[i].yaml), &o, &b, &e);
		err_format(&e, line, sizeof line);
		if (st != bad[i].st || !strstr(e.msg, bad[i].msg) || strcmp(e.file, "test.yaml") ||
		    e.line != bad[i].line || (bad[i].col && e.col != bad[i].col)) {
			print_message("case '%s': got %s '%s' (line %d col %d), want %s line %d col %d '%s'\n",
				      bad[i].name, status_name(st), line, e.line, e.col, status_name(bad[i].st),
				      bad[i].line, bad[i].col, bad[i].msg);
			failed++;
		}
		assert_null(b);
	}
	assert_int_equal(failed, 0);
}

/* The same regex is accepted by the PCRE2-only path. */
static void test_no_hyperscan_path_loads(void **state)
{
	const char *y = "rules:\n  - id: r\n    kind: pattern\n    regex: '(?<=x)abc(?=y)'\n";
	struct pol_load_opts o = { .no_defaults = 1, .no_hyperscan = 1 };
	struct pol_bundle *b;
	struct pol_result r;
	struct pol_ctx ctx = { 0 };

	(void)state;
	TH_OK(pol_bundle_load_mem("t.yaml", y, strlen(y), &o, &b, NULL));
	pol_result_init(&r);
	TH_OK(pol_bundle_check(b, &ctx, "xabcy xabcz", 11, &r, NULL));
	assert_int_equal(r.n, 1);
	assert_int_equal(r.items[0].col, 2);
	pol_result_release(&r);
	pol_bundle_free(b);
	/* And the Hyperscan path (prefilter mode) agrees. */
	b = tp_load(y);
	pol_result_init(&r);
	TH_OK(pol_bundle_check(b, &ctx, "xabcy xabcz", 11, &r, NULL));
	assert_int_equal(r.n, 1);
	pol_result_release(&r);
	pol_bundle_free(b);
}

/*
 * A text that ends at a page boundary with an unreadable page after it:
 * Hyperscan's AVX512VBMI literal matcher read past such a text's end and
 * faulted (regex.c scans it from a padded copy). Every length up to 200
 * ending there, with the built-in rules and a literal; from 6 bytes on the
 * literal is the text's tail and must be found.
 */
static void test_scan_at_page_end(void **state)
{
	const char *y = "rules:\n  - id: lit\n    kind: pattern\n    literal: 'rm -rf'\n"
			"    action: block\n";
	const char *fill = "\003.tpreqests=re\032\377?Or\012\012\012\012stques1\012";
	long pg = sysconf(_SC_PAGESIZE);
	struct pol_load_opts o = { 0 };	/* the built-in secret rules too */
	struct pol_bundle *b;
	char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	TH_OK(pol_bundle_load_mem("t.yaml", y, strlen(y), &o, &b, NULL));
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	for (size_t len = 1; len <= 200; len++) {
		char *t = m + pg - len;
		struct pol_ctx ctx = { 0 };
		struct pol_result r;
		int found = 0;
		for (size_t i = 0; i < len; i++)
			t[i] = fill[i % strlen(fill)];
		if (len >= 6)
			memcpy(t + len - 6, "rm -rf", 6);
		pol_result_init(&r);
		TH_OK(pol_bundle_check(b, &ctx, t, len, &r, NULL));
		for (size_t i = 0; i < r.n; i++)
			found |= !strcmp(r.items[i].rule_id, "lit");
		if (found != (len >= 6))
			fail_msg("length %zu: literal found %d", len, found);
		pol_result_release(&r);
	}
	munmap(m, (size_t)pg * 2);
	pol_bundle_free(b);
}

/* ------------------------------------------------------------------ */
/* Rule kinds                                                          */
/* ------------------------------------------------------------------ */

static void test_secret_rule_and_redaction(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n"
		"  - id: tok\n    kind: secret\n    regex: '\\b(tk_[A-Za-z0-9]{20})\\b'\n"
		"    entropy: 3.0\n    keywords: [tk_]\n"
		"    allowlist: {stopwords: [sample], regexes: ['^tk_0+$']}\n");
	struct pol_result r;
	const char *text = "a = 'tk_Q8d7F6g5H4j3K2l1Zx9c'\nb = 'tk_00000000000000000000'\n"
			   "c = 'tk_aaaaaaaaaaaaaaaaaaaa'\nd = 'tk_sampleAbCdEfGh123456'\n";

	(void)state;
	run(b, "python", "app.py", text, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule_id, "tok");
	assert_int_equal(r.items[0].line, 1);
	assert_int_equal(r.items[0].col, 6);
	assert_int_equal(r.items[0].action, POL_REDACT);
	assert_int_equal(r.worst, POL_REDACT);
	assert_non_null(r.redacted);
	assert_string_equal(r.redacted,
			    "a = '[REDACTED:tok]'\nb = 'tk_00000000000000000000'\n"
			    "c = 'tk_aaaaaaaaaaaaaaaaaaaa'\nd = 'tk_sampleAbCdEfGh123456'\n");
	pol_result_release(&r);
	pol_bundle_free(b);
}

static void test_pattern_literal_regex(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n"
		"  - id: no-strcpy\n    kind: pattern\n    literal: strcpy\n    identifier: true\n"
		"    languages: [c, cpp]\n    action: block\n    message: use strlcpy\n"
		"  - id: no-verify-false\n    kind: pattern\n    literal: 'verify=False'\n    languages: [python]\n"
		"  - id: no-eval\n    kind: pattern\n    regex: '\\beval\\s*\\('\n    severity: high\n");
	struct pol_result r;

	(void)state;
	run(b, "c", "x.c", "char a[4];\nstrcpy(a, b); my_strcpy(a); strcpy_s(a);\n x = eval (y);\n", &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.items[0].rule_id, "no-strcpy");
	assert_int_equal(r.items[0].line, 2);
	assert_int_equal(r.items[0].col, 1);
	assert_int_equal(r.items[0].end_col, 7);
	assert_string_equal(r.items[0].message, "use strlcpy");
	assert_string_equal(r.items[1].rule_id, "no-eval");
	assert_int_equal(r.items[1].line, 3);
	assert_int_equal(r.items[1].col, 6);
	assert_int_equal(r.worst, POL_BLOCK);
	assert_null(r.redacted);
	pol_result_release(&r);
	/* Language filter: the C rule does not apply to Python. */
	run(b, "python", "x.py", "strcpy(a)\nrequests.get(u, verify=False)\n", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule_id, "no-verify-false");
	assert_int_equal(r.items[0].col, 17);
	pol_result_release(&r);
	pol_bundle_free(b);
}

static void test_pattern_query(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n"
		"  - id: no-gets\n    kind: pattern\n    languages: [c, cpp]\n"
		"    query: '(call_expression function: (identifier) @f (#any-of? @f \"gets\" \"strcpy\")) @match'\n"
		"  - id: py-eval\n    kind: pattern\n    languages: [python]\n"
		"    query: |\n      (call function: (identifier) @fn (#eq? @fn \"eval\"))\n"
		"  - id: py-sql-concat\n    kind: pattern\n    languages: [python]\n"
		"    query: '(call function: (attribute attribute: (identifier) @m (#eq? @m \"execute\")) "
		"arguments: (argument_list (binary_operator left: (string) @s (#match? @s \"(?i)select\")))) @match'\n");
	struct pol_result r;

	(void)state;
	run(b, "c", "a.c", "int main(void) {\n  char b[8];\n  gets(b);\n  /* gets(b) */ puts(b);\n}\n", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule_id, "no-gets");
	assert_int_equal(r.items[0].line, 3);
	assert_int_equal(r.items[0].col, 3);
	pol_result_release(&r);
	run(b, "cpp", "a.cc", "namespace x { void f() { char b[8]; gets(b); std::gets(b); } }\n", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.items[0].col, 37);
	pol_result_release(&r);
	run(b, "python", "a.py",
	    "x = eval(s)\ny = literal_eval(s)\ncur.execute(\"SELECT * FROM t WHERE id=\" + uid)\n"
	    "cur.execute(\"SELECT * FROM t WHERE id=%s\", (uid,))\n", &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.items[0].rule_id, "py-eval");
	assert_int_equal(r.items[0].col, 5);
	assert_string_equal(r.items[1].rule_id, "py-sql-concat");
	assert_int_equal(r.items[1].line, 3);
	pol_result_release(&r);
	pol_bundle_free(b);
}

static void test_require_pattern(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n  - id: spdx\n    kind: pattern\n    regex: 'SPDX-License-Identifier:'\n    require: true\n");
	struct pol_result r;

	(void)state;
	run(b, "c", "a.c", "/* SPDX-License-Identifier: MIT */\nint x;\n", &r);
	assert_int_equal(r.n, 0);
	pol_result_release(&r);
	run(b, "c", "a.c", "int x;\n", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule_id, "spdx");
	assert_string_equal(r.items[0].detail, "required pattern is absent");
	pol_result_release(&r);
	pol_bundle_free(b);
}

static const struct {
	const char *path, *lang, *text;
	const char *details[4];
} import_cases[] = {
	{ "a.py", NULL, "import os, pickle\nfrom yaml import load\nfrom . import local\nimport numpy as np\n",
	  { "pickle is denied (pickle)", "yaml is not on the approved list", NULL } },
	{ "requirements.txt", NULL, "numpy==1.26.0\nrequests==2.19.1  # old\n-r other.txt\npyyaml>=6\n",
	  { "requests 2.19.1 is denied (requests<2.31)", "pyyaml 6 is not on the approved list", NULL } },
	{ "pyproject.toml", NULL, "[project]\nname = \"x\"\ndependencies = [\n  \"requests>=2.20\",\n  \"Pickle_Mixin==1.0\",\n]\n"
	  "[tool.poetry.dependencies]\npython = \"^3.11\"\nnumpy = \"^1.26\"\nflask = {version = \"2.0\"}\n",
	  { "requests 2.20 is denied (requests<2.31)", "Pickle_Mixin 1.0 is not on the approved list",
	    "flask 2.0 is not on the approved list", NULL } },
	{ "web/package.json", NULL, "{\n  \"dependencies\": {\n    \"left-pad\": \"^1.3.0\",\n    \"react\": \"^18.2.0\"\n  },\n"
	  "  \"devDependencies\": {\"event-stream\": \"3.3.6\"}\n}\n",
	  { "left-pad 1.3.0 is denied (left-pad)", "event-stream 3.3.6 is denied (event-stream==3.3.6)", NULL } },
	{ "app.ts", "typescript", "import React from 'react';\nimport pad from \"left-pad\";\nconst es = require('event-stream');\n"
	  "import { x } from './local';\nimport '@scope/pkg/sub';\n",
	  { "left-pad is denied (left-pad)", "@scope/pkg is denied (@scope/*)", NULL } },
	{ "go.mod", NULL, "module x\n\ngo 1.22\n\nrequire (\n\tgithub.com/evil/lib v1.2.3\n\tgolang.org/x/text v0.14.0\n)\n"
	  "require github.com/ok/lib v0.1.0\n", { "github.com/evil/lib 1.2.3 is denied (github.com/evil/*)", NULL } },
	{ "main.go", "go", "package main\n\nimport (\n\t\"fmt\"\n\tevil \"github.com/evil/lib\"\n)\nimport \"os\"\n",
	  { "github.com/evil/lib is denied (github.com/evil/*)", NULL } },
	{ "Cargo.toml", NULL, "[package]\nname = \"x\"\n\n[dependencies]\nserde = \"1.0\"\nopenssl = { version = \"0.10.30\", features = [\"v110\"] }\n",
	  { "openssl 0.10.30 is denied (openssl<0.10.55)", NULL } },
	{ "src/lib.rs", "rust", "use std::io;\nuse openssl::ssl;\nextern crate md5;\nuse crate::x;\n",
	  { "md5 is denied (md5)", NULL } },
	{ "pom.xml", NULL, "<project><dependencies>\n<dependency>\n  <groupId>org.apache.logging.log4j</groupId>\n"
	  "  <artifactId>log4j-core</artifactId>\n  <version>2.14.1</version>\n</dependency>\n</dependencies></project>\n",
	  { "org.apache.logging.log4j:log4j-core 2.14.1 is denied (org.apache.logging.log4j:log4j-core<2.17.1)", NULL } },
	{ "A.java", "java", "package a;\nimport java.util.List;\nimport static org.junit.Assert.*;\nimport sun.misc.Unsafe;\n",
	  { "sun.misc.Unsafe is denied (sun.*)", NULL } },
	{ "a.c", "c", "#include <stdio.h>\n#  include \"openssl/md5.h\"\n", { "openssl/md5.h is denied (openssl/md5.h)", NULL } },
};

static void test_import_rules(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n"
		"  - id: py-deps\n    kind: import\n    ecosystem: python\n"
		"    deny: [pickle, 'requests<2.31']\n    allow: [os, numpy, requests, local]\n"
		"  - id: npm-deps\n    kind: import\n    ecosystem: npm\n    deny: [left-pad, 'event-stream==3.3.6', '@scope/*']\n"
		"  - id: go-deps\n    kind: import\n    ecosystem: go\n    deny: ['github.com/evil/*']\n"
		"  - id: rust-deps\n    kind: import\n    ecosystem: cargo\n    deny: ['openssl<0.10.55', md5]\n"
		"  - id: java-deps\n    kind: import\n    ecosystem: maven\n"
		"    deny: ['org.apache.logging.log4j:log4j-core<2.17.1', 'sun.*']\n"
		"  - id: c-deps\n    kind: import\n    ecosystem: c\n    deny: [openssl/md5.h]\n");

	(void)state;
	for (size_t i = 0; i < sizeof import_cases / sizeof import_cases[0]; i++) {
		struct pol_result r;
		size_t want = 0;
		run(b, import_cases[i].lang, import_cases[i].path, import_cases[i].text, &r);
		while (want < 4 && import_cases[i].details[want])
			want++;
		if (r.n != want) {
			for (size_t k = 0; k < r.n; k++)
				print_message("  got %s: %s\n", r.items[k].rule_id, r.items[k].detail);
			fail_msg("%s: %zu findings, want %zu", import_cases[i].path, r.n, want);
		}
		for (size_t k = 0; k < want; k++)
			if (strcmp(r.items[k].detail, import_cases[i].details[k]))
				fail_msg("%s: finding %zu is '%s', want '%s'", import_cases[i].path, k,
					 r.items[k].detail, import_cases[i].details[k]);
		pol_result_release(&r);
	}
	pol_bundle_free(b);
}

/* ------------------------------------------------------------------ */
/* Layers, scope                                                       */
/* ------------------------------------------------------------------ */

static void test_layers_and_overrides(void **state)
{
	const char *dir = th_tmpdir();
	struct pol_bundle *b;
	struct pol_result r;
	struct pol_load_opts o = { .no_defaults = 1 };
	struct pol_ctx ctx = { .lang = "c" };
	const char *text = "eval(x); strcpy(a, b); system(cmd);\n";

	(void)state;
	th_write_file(dir, "org.yaml", "layer: org\nrules:\n"
		      "  - id: no-strcpy\n    kind: pattern\n    literal: strcpy\n    action: block\n"
		      "  - id: no-eval\n    kind: pattern\n    literal: eval\n    action: warn\n");
	th_write_file(dir, "payments.yaml", "layer: team\nteam: payments\nrules:\n"
		      "  - id: pay-no-system\n    kind: pattern\n    literal: system\n    action: block\n"
		      "overrides:\n  - id: no-strcpy\n    action: warn\n");
	th_write_file(dir, "legacy.yaml", "layer: repo\nrepo: legacy\noverrides:\n  - id: no-eval\n    enabled: false\n");
	TH_OK(pol_bundle_load(dir, &o, &b, NULL));

	pol_result_init(&r);
	TH_OK(pol_bundle_check(b, &ctx, text, strlen(text), &r, NULL));
	assert_int_equal(r.n, 2);
	assert_int_equal(r.worst, POL_BLOCK);
	pol_result_release(&r);

	ctx.team = "payments";
	pol_result_init(&r);
	TH_OK(pol_bundle_check(b, &ctx, text, strlen(text), &r, NULL));
	assert_int_equal(r.n, 3);
	assert_string_equal(r.items[1].rule_id, "no-strcpy");
	assert_int_equal(r.items[1].action, POL_WARN);	/* team override */
	assert_string_equal(r.items[2].rule_id, "pay-no-system");
	pol_result_release(&r);

	ctx.repo = "legacy";
	pol_result_init(&r);
	TH_OK(pol_bundle_check(b, &ctx, text, strlen(text), &r, NULL));
	assert_int_equal(r.n, 2);	/* no-eval switched off for the repository */
	assert_int_equal(count_rule(&r, "no-eval"), 0);
	pol_result_release(&r);
	pol_bundle_free(b);
	th_tmpdir_cleanup();
}

static void test_paths_filter(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n  - id: p\n    kind: pattern\n    literal: TODO\n    paths: ['src/**']\n"
		"    exclude_paths: ['src/vendor/**', '*.md']\n");
	struct pol_result r;

	(void)state;
	run(b, NULL, "src/a/b.c", "TODO", &r);
	assert_int_equal(r.n, 1);
	pol_result_release(&r);
	run(b, NULL, "src/vendor/x.c", "TODO", &r);
	assert_int_equal(r.n, 0);
	pol_result_release(&r);
	run(b, NULL, "lib/x.c", "TODO", &r);
	assert_int_equal(r.n, 0);
	pol_result_release(&r);
	run(b, NULL, "src/README.md", "TODO", &r);
	assert_int_equal(r.n, 0);
	pol_result_release(&r);
	pol_bundle_free(b);
}

static void test_scope(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n"
		"  - id: s-pay\n    kind: scope\n    team: payments\n"
		"    allow: {repos: ['billing-*', shared], models: ['qwen2.5-coder-*']}\n"
		"    deny: {repos: [billing-secrets]}\n"
		"  - id: s-pay-keys\n    kind: scope\n    team: payments\n    deny: {paths: ['keys/**']}\n"
		"  - id: s-all\n    kind: scope\n    team: '*'\n    allow: {repos: [shared]}\n"
		"    deny: {repos: [shared], paths: ['internal/**']}\n");
	struct pol_engine *eng;

	(void)state;
	TH_OK(pol_engine_new(&eng));
	/* No bundle: everything allowed. */
	assert_int_equal(pol_scope_allows(eng, "x", "y", NULL), 1);
	pol_engine_set(eng, b);
	assert_int_equal(pol_scope_allows(eng, "payments", "billing-api", "src/a.c"), 1);
	assert_int_equal(pol_scope_allows(eng, "payments", "billing-secrets", "a"), 0);	/* deny wins */
	assert_int_equal(pol_scope_allows(eng, "payments", "billing-api", "keys/prod.pem"), 0);
	assert_int_equal(pol_scope_allows(eng, "payments", "billing-api", NULL), 1);
	assert_int_equal(pol_scope_allows(eng, "payments", "hr-db", "a"), 0);	/* default deny */
	assert_int_equal(pol_scope_allows(eng, "web", "shared", "lib/a.c"), 1);
	assert_int_equal(pol_scope_allows(eng, "web", "shared", "internal/a.c"), 0);
	assert_int_equal(pol_scope_allows(eng, "web", "billing-api", "a"), 0);
	assert_int_equal(pol_scope_allows(eng, NULL, "billing-api", "a"), 0);
	assert_int_equal(pol_scope_model_allows(eng, "payments", "qwen2.5-coder-7b"), 1);
	assert_int_equal(pol_scope_model_allows(eng, "payments", "llama-3-70b"), 0);
	assert_int_equal(pol_scope_model_allows(eng, "web", "qwen2.5-coder-7b"), 0);
	pol_engine_free(eng);
}

/* ------------------------------------------------------------------ */
/* Engine, reload, signing                                             */
/* ------------------------------------------------------------------ */

static void test_reload_keeps_last_good(void **state)
{
	const char *dir = th_tmpdir();
	struct pol_load_opts o = { .no_defaults = 1 };
	struct pol_engine *eng;
	struct pol_bundle_info in;
	struct pol_result r;
	struct err e;

	(void)state;
	TH_OK(pol_engine_new(&eng));
	TH_ST(pol_engine_info(eng, &in), ST_NOTFOUND);
	th_write_file(dir, "p.yaml", "rules:\n  - id: a\n    kind: pattern\n    literal: foo\n");
	TH_OK(pol_engine_reload(eng, dir, &o, NULL));
	th_write_file(dir, "p.yaml", "rules:\n  - id: a\n    kind: pattern\n    regex: '(('\n");
	err_clear(&e);
	TH_ST(pol_engine_reload(eng, dir, &o, &e), ST_CORRUPT);
	assert_non_null(strstr(e.msg, "rule 'a': regex does not compile"));
	assert_non_null(strstr(e.file, "p.yaml"));
	pol_result_init(&r);
	TH_OK(pol_check_text(eng, NULL, "foo", 3, &r, NULL));
	assert_int_equal(r.n, 1);	/* the old bundle still runs */
	pol_result_release(&r);
	TH_OK(pol_engine_info(eng, &in));
	assert_int_equal(in.n_rules, 1);
	pol_engine_free(eng);
	th_tmpdir_cleanup();
}

struct reload_arg {
	struct pol_engine *eng;
	_Atomic int *stop;
	_Atomic long checks, found;	/* this thread's */
};

static void *checker(void *p)
{
	struct reload_arg *a = p;

	while (!*a->stop) {
		struct pol_result r;
		struct pol_guard *g;
		pol_result_init(&r);
		if (pol_check_text(a->eng, NULL, "foo bar", 7, &r, NULL) == ST_OK) {
			a->checks++;
			a->found += (long)r.n;
		}
		pol_result_release(&r);
		if (pol_guard_new(a->eng, NULL, &g) == ST_OK) {
			pol_guard_accepts(g, "foo", 3);
			pol_guard_free(g);
		}
	}
	return NULL;
}

/* Checks running on other threads while bundles are swapped: no check
 * sees a freed bundle (ASan would say), each sees one bundle or another. */
static void test_reload_concurrent(void **state)
{
	const char *dir = th_tmpdir();
	struct pol_load_opts o = { .no_defaults = 1 };
	struct reload_arg a = { 0 }, th[2] = { { 0 } };
	_Atomic int stop = 0;
	pthread_t t[2];

	(void)state;
	TH_OK(pol_engine_new(&a.eng));
	th_write_file(dir, "p.yaml", "rules:\n  - id: a\n    kind: pattern\n    literal: foo\n    action: block\n");
	TH_OK(pol_engine_reload(a.eng, dir, &o, NULL));
	for (int i = 0; i < 2; i++) {
		th[i].eng = a.eng;
		th[i].stop = &stop;
		assert_int_equal(pthread_create(&t[i], NULL, checker, &th[i]), 0);
	}
	for (int i = 0; i < 30; i++) {
		th_write_file(dir, "p.yaml", i % 2 ? "rules:\n  - id: a\n    kind: pattern\n    literal: foo\n"
					   : "rules:\n  - id: b\n    kind: pattern\n    literal: bar\n");
		TH_OK(pol_engine_reload(a.eng, dir, &o, NULL));
	}
	/* Let each thread finish at least one check, however busy the machine. */
	for (int k = 0; k < 10000 && (th[0].checks == 0 || th[1].checks == 0); k++)
		usleep(1000);
	stop = 1;
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		a.checks += th[i].checks;
		a.found += th[i].found;
	}
	assert_true(a.checks > 0);
	assert_int_equal(a.found, a.checks);	/* exactly one rule fires in every bundle */
	pol_engine_free(a.eng);
	th_tmpdir_cleanup();
}

static void test_engine_configure(void **state)
{
	const char *dir = th_tmpdir();
	char bdir[4096], cfgtext[8192];
	struct config *cfg;
	struct pol_engine *eng;
	struct pol_bundle_info in;
	struct err e;

	(void)state;
	snprintf(bdir, sizeof bdir, "%s/b", dir);
	mkdir(bdir, 0755);
	th_write_file(bdir, "p.yaml", "defaults: false\nrules:\n  - id: a\n    kind: pattern\n    literal: foo\n");
	snprintf(cfgtext, sizeof cfgtext, "policy:\n  bundle: %s\n", bdir);
	TH_OK(config_load(th_write_file(dir, "c.yaml", cfgtext), &cfg, NULL));
	TH_OK(pol_engine_new(&eng));
	TH_OK(pol_engine_configure(eng, cfg, NULL));
	TH_OK(pol_engine_info(eng, &in));
	assert_int_equal(in.n_rules, 1);
	config_free(cfg);
	/* Signatures required, bundle unsigned: refused, the old one stays. */
	snprintf(cfgtext, sizeof cfgtext, "policy:\n  bundle: %s\n  require_signature: true\n", bdir);
	TH_OK(config_load(th_write_file(dir, "c.yaml", cfgtext), &cfg, NULL));
	err_clear(&e);
	TH_ST(pol_engine_configure(eng, cfg, &e), ST_VERIFY);
	TH_OK(pol_engine_info(eng, &in));
	assert_int_equal(in.n_rules, 1);
	config_free(cfg);
	/* No bundle configured: the built-in rules. */
	TH_OK(config_load(NULL, &cfg, NULL));
	TH_OK(pol_engine_configure(eng, cfg, NULL));
	TH_OK(pol_engine_info(eng, &in));
	assert_true(in.n_by_kind[POL_KIND_SECRET] >= 20);
	config_free(cfg);
	pol_engine_free(eng);
	th_tmpdir_cleanup();
}

static void test_signing(void **state)
{
	const char *dir = th_tmpdir();
	char bdir[4096], key[4096], pubf[4096], key2[4096];
	uint8_t priv[ED25519_KEY_LEN], pub[ED25519_KEY_LEN], pub2[ED25519_KEY_LEN];
	struct pol_load_opts o = { .no_defaults = 1, .require_signature = 1 };
	struct pol_bundle *b = NULL;
	struct err e;

	(void)state;
	snprintf(bdir, sizeof bdir, "%s/bundle", dir);
	snprintf(key, sizeof key, "%s/k", dir);
	snprintf(key2, sizeof key2, "%s/k2", dir);
	snprintf(pubf, sizeof pubf, "%s/k.pub", dir);
	mkdir(bdir, 0755);
	th_write_file(bdir, "p.yaml", "rules:\n  - id: a\n    kind: pattern\n    literal: foo\n");
	TH_OK(pol_keygen(key, NULL));
	TH_ST(pol_keygen(key, NULL), ST_EXISTS);
	TH_OK(pol_keygen(key2, NULL));
	TH_OK(pol_key_read(key, priv, NULL));
	TH_OK(pol_key_read(pubf, pub, NULL));
	{
		uint8_t d[ED25519_KEY_LEN];
		ed25519_public(priv, d);
		assert_memory_equal(d, pub, sizeof d);
		snprintf(pubf, sizeof pubf, "%s/k2.pub", dir);
		TH_OK(pol_key_read(pubf, pub2, NULL));
	}
	o.keys = (const uint8_t (*)[ED25519_KEY_LEN])pub;
	o.n_keys = 1;
	/* Unsigned: refused when signatures are required. */
	err_clear(&e);
	TH_ST(pol_bundle_load(bdir, &o, &b, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "not signed"));
	/* Signed: accepted. */
	TH_OK(pol_bundle_sign(bdir, priv, NULL));
	TH_OK(pol_bundle_load(bdir, &o, &b, NULL));
	{
		struct pol_bundle_info in;
		pol_bundle_info_get(b, &in);
		assert_int_equal(in.signed_ok, 1);
	}
	pol_bundle_free(b);
	/* A trusted-key mismatch. */
	o.keys = (const uint8_t (*)[ED25519_KEY_LEN])pub2;
	err_clear(&e);
	TH_ST(pol_bundle_load(bdir, &o, &b, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "not trusted"));
	assert_int_equal(e.line, 2);
	o.keys = (const uint8_t (*)[ED25519_KEY_LEN])pub;
	/* A changed file: bad signature, named in the signature file. */
	th_write_file(bdir, "p.yaml", "rules:\n  - id: a\n    kind: pattern\n    literal: bar\n");
	err_clear(&e);
	TH_ST(pol_bundle_load(bdir, &o, &b, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "bad signature"));
	assert_non_null(strstr(e.file, "bundle.sig"));
	assert_int_equal(e.line, 3);
	/* Even without require_signature, a wrong signature is refused. */
	o.require_signature = 0;
	TH_ST(pol_bundle_load(bdir, &o, &b, NULL), ST_VERIFY);
	/* A garbled signature file. */
	th_write_file(bdir, "bundle.sig", "hello\n");
	err_clear(&e);
	TH_ST(pol_bundle_load(bdir, &o, &b, &e), ST_VERIFY);
	assert_int_equal(e.line, 1);
	assert_null(b);
	th_tmpdir_cleanup();
}

/* ------------------------------------------------------------------ */
/* Streaming, JSON, bounds                                             */
/* ------------------------------------------------------------------ */

static void test_stream_matches_whole(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n  - id: lit\n    kind: pattern\n    literal: forbidden\n"
		"  - id: rx\n    kind: pattern\n    regex: 'x[0-9]+y'\n"
		"  - id: sec\n    kind: secret\n    regex: '\\b(tk_[A-Za-z0-9]{20})\\b'\n");
	const char *text = "ok line\nthis is forbidden\nx123y and x9y\nkey tk_Q8d7F6g5H4j3K2l1Zx9c here\nforbid";
	struct pol_engine *eng;
	struct pol_stream *s;
	struct pol_result whole, part;
	struct pol_ctx ctx = { .lang = "text" };
	size_t len = strlen(text);

	(void)state;
	TH_OK(pol_engine_new(&eng));
	pol_engine_set(eng, b);
	pol_result_init(&whole);
	TH_OK(pol_check_text(eng, &ctx, text, len, &whole, NULL));
	assert_int_equal(whole.n, 4);
	/* Fed in 3-byte pieces, the stream reports the same findings. */
	TH_OK(pol_stream_new(eng, &ctx, &s));
	pol_result_init(&part);
	{
		struct buf safe;
		buf_init(&safe, 0);
		for (size_t i = 0; i < len; i += 3) {
			TH_OK(pol_stream_feed(s, text + i, len - i < 3 ? len - i : 3, &part));
			TH_OK(pol_stream_take(s, &safe));
			/* Only whole lines are released. */
			assert_true(safe.len == 0 || safe.data[safe.len - 1] == '\n');
		}
		TH_OK(pol_stream_finish(s, &part));
		TH_OK(pol_stream_take(s, &safe));
		assert_string_equal(buf_cstr(&safe), "ok line\nthis is forbidden\nx123y and x9y\n"
				    "key [REDACTED:sec] here\nforbid");
		buf_release(&safe);
	}
	assert_int_equal(part.n, whole.n);
	for (size_t i = 0; i < part.n; i++) {
		assert_string_equal(part.items[i].rule_id, whole.items[i].rule_id);
		assert_int_equal(part.items[i].line, whole.items[i].line);
		assert_int_equal(part.items[i].col, whole.items[i].col);
		assert_int_equal(part.items[i].start, whole.items[i].start);
	}
	pol_stream_free(s);
	pol_result_release(&whole);
	pol_result_release(&part);
	pol_engine_free(eng);
}

static void test_json(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n  - id: q\n    kind: pattern\n    literal: bad\n    message: \"say \\\"no\\\"\\n\"\n    action: block\n");
	struct pol_result r;
	struct buf out;

	(void)state;
	run(b, NULL, "a/b.c", "x\n  bad\n", &r);
	buf_init(&out, 0);
	TH_OK(pol_result_json(&r, "req-1", &out));
	assert_string_equal(buf_cstr(&out),
			    "{\"worst\":\"block\",\"truncated\":false,\"decisions\":[{\"request_id\":\"req-1\","
			    "\"rule_id\":\"q\",\"kind\":\"pattern\",\"action\":\"block\",\"severity\":\"medium\","
			    "\"message\":\"say \\\"no\\\"\\u000a\",\"path\":\"a/b.c\",\"line\":2,\"col\":3,"
			    "\"end_line\":2,\"end_col\":6}]}");
	buf_release(&out);
	pol_result_release(&r);
	pol_bundle_free(b);
}

/* Catastrophic backtracking and huge lines stay bounded. */
static void test_pathological_inputs(void **state)
{
	struct pol_bundle *b = tp_load(
		"rules:\n  - id: evil\n    kind: pattern\n    regex: '(a+)+$'\n    max_length: 100000\n");
	struct pol_load_opts o = { .no_hyperscan = 1, .no_defaults = 1 };
	struct pol_bundle *b2;
	struct pol_result r;
	struct pol_ctx ctx = { 0 };
	size_t n = 30000;
	char *t = mem_alloc(n + 2);
	status_t st;

	(void)state;
	memset(t, 'a', n);
	t[n] = '!';
	t[n + 1] = 0;
	TH_OK(pol_bundle_load_mem("e.yaml", "rules:\n  - id: evil\n    kind: pattern\n    regex: '(a+)+$'\n", 58,
				  &o, &b2, NULL));
	pol_result_init(&r);
	st = pol_bundle_check(b2, &ctx, t, n + 1, &r, NULL);
	assert_true(st == ST_OK || st == ST_LIMIT);
	assert_int_equal(r.n, 0);
	pol_result_release(&r);
	pol_bundle_free(b2);
	pol_bundle_free(b);
	mem_free(t);

	/* A 16 MB line through the default rules: checked, not stuck. */
	{
		struct pol_bundle *d;
		size_t big = (size_t)16 << 20;
		struct pol_load_opts od = { 0 };
		char *x = mem_alloc(big + 1);
		assert_non_null(x);
		for (size_t i = 0; i < big; i++)
			x[i] = "abcdefghijKLMNOP0123456789_=+/"[(i * 7 + i / 13) % 30];
		x[big] = 0;
		TH_OK(pol_bundle_load_mem("d.yaml", "version: 1\n", 11, &od, &d, NULL));
		pol_result_init(&r);
		st = pol_bundle_check(d, &ctx, x, big, &r, NULL);
		assert_true(st == ST_OK || st == ST_LIMIT);
		pol_result_release(&r);
		pol_bundle_free(d);
		mem_free(x);
	}
}

/* Every allocation failure while loading and checking is reported, not a crash. */
static void test_alloc_failures(void **state)
{
	const char *y = "rules:\n  - id: a\n    kind: pattern\n    literal: foo\n"
			"  - id: b\n    kind: secret\n    regex: '\\b(tk_[A-Za-z0-9]{20})\\b'\n";
	struct pol_load_opts o = { .no_defaults = 1 };
	int ok_seen = 0;

	(void)state;
	for (long n = 0; n < 400 && !ok_seen; n++) {
		struct pol_bundle *b = NULL;
		struct pol_result r;
		status_t st;
		mem_fail_after(n, 0);
		st = pol_bundle_load_mem("f.yaml", y, strlen(y), &o, &b, NULL);
		if (st == ST_OK) {
			pol_result_init(&r);
			st = pol_bundle_check(b, NULL, "foo tk_Q8d7F6g5H4j3K2l1Zx9c", 27, &r, NULL);
			mem_fail_reset();
			if (st == ST_OK) {
				assert_int_equal(r.n, 2);
				ok_seen = 1;
			} else {
				assert_int_equal(st, ST_NOMEM);
			}
			pol_result_release(&r);
			pol_bundle_free(b);
		} else {
			mem_fail_reset();
			assert_int_equal(st, ST_NOMEM);
			assert_null(b);
		}
	}
	mem_fail_reset();
	assert_true(ok_seen);
}

static void test_builtin_rules_load(void **state)
{
	struct pol_bundle *b;
	struct pol_bundle_info in;
	struct pol_load_opts o = { 0 };

	(void)state;
	TH_OK(pol_bundle_load_mem("x.yaml", "version: 1\n", 11, &o, &b, NULL));
	pol_bundle_info_get(b, &in);
	assert_true(in.n_by_kind[POL_KIND_SECRET] >= 20);
	pol_bundle_free(b);
	TH_OK(pol_bundle_load_mem("x.yaml", "defaults: false\n", 16, &o, &b, NULL));
	pol_bundle_info_get(b, &in);
	assert_int_equal(in.n_rules, 0);
	pol_bundle_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_no_hyperscan_path_loads),
		cmocka_unit_test(test_scan_at_page_end),
		cmocka_unit_test(test_builtin_rules_load),
		cmocka_unit_test(test_secret_rule_and_redaction),
		cmocka_unit_test(test_pattern_literal_regex),
		cmocka_unit_test(test_pattern_query),
		cmocka_unit_test(test_require_pattern),
		cmocka_unit_test(test_import_rules),
		cmocka_unit_test(test_layers_and_overrides),
		cmocka_unit_test(test_paths_filter),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_reload_keeps_last_good),
		cmocka_unit_test(test_signing),
		cmocka_unit_test(test_engine_configure),
		cmocka_unit_test(test_reload_concurrent),
		cmocka_unit_test(test_stream_matches_whole),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_pathological_inputs),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_guard_basic),
		cmocka_unit_test(test_guard_identifier),
		cmocka_unit_test(test_guard_agrees_with_offline_scan),
		cmocka_unit_test(test_guard_simulated_sampler),
		cmocka_unit_test(test_corpus_precision_recall),
		cmocka_unit_test(test_corpus_hyperscan_matches_pcre2),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
