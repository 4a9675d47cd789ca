/*
 * test_context.c - the context engine: identifier splitting, gitignore
 * semantics, front matter (with a table of bad inputs), parsing per
 * language, incremental indexing and its bad inputs (binary, invalid
 * UTF-8, oversized and minified files, symlink loops, files deleted
 * mid-index, unreadable files, a locked store, interruption), the graph,
 * documents and owners, retrieval with a scope predicate, the n-gram
 * index.
 */
#include "../harness/harness.h"
#include "context/context.h"
#include "context/ctx_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

static char root[1024];	/* scratch dir of the running test */

static void wfile(const char *rel, const char *text)
{
	th_write_file(root, rel, text);
}

static void wbytes(const char *rel, const void *data, size_t n)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", root, rel);
	f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void new_root(void)
{
	str_copy(root, th_tmpdir(), sizeof root);
}

/* ---- identifier splitting ------------------------------------------ */

static int collect_tok(void *arg, const char *t, size_t n, size_t s, size_t e,
		       int coloc)
{
	struct buf *b = arg;

	(void)s; (void)e;
	if (b->len)
		buf_putc(b, ' ');
	if (coloc)
		buf_putc(b, '+');
	buf_append(b, t, n);
	return 0;
}

static void test_tokens(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "parseHttpRequest", "parse +parsehttprequest http request" },
		{ "parse_http_request", "parse +parse_http_request http request" },
		{ "HTTPRequestParser", "http +httprequestparser request parser" },
		{ "x = foo(bar2Baz);", "x foo bar2 +bar2baz baz" },
		{ "__init__", "init" },
		{ "", "" },
		{ "a.b->c", "a b c" },
		{ "getHTTP2Stream", "get +gethttp2stream http2 stream" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct buf b;
		buf_init(&b, 0);
		ctx_tokens_split(cases[i].in, strlen(cases[i].in), collect_tok, &b);
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_release(&b);
	}
}

/* ---- globs and .gitignore ------------------------------------------- */

static void test_glob(void **state)
{
	static const struct { const char *pat, *text; int want; } cases[] = {
		{ "*.c", "a.c", 1 },
		{ "*.c", "dir/a.c", 0 },		/* '*' stays in a segment */
		{ "**/a.c", "a.c", 1 },
		{ "**/a.c", "x/y/a.c", 1 },
		{ "src/**", "src/x/y.c", 1 },
		{ "src/**", "srcx/y.c", 0 },
		{ "a/**/b", "a/b", 1 },
		{ "a/**/b", "a/x/y/b", 1 },
		{ "a/**/b", "a/x/y/c", 0 },
		{ "a?c", "abc", 1 },
		{ "a?c", "a/c", 0 },
		{ "[a-c]x", "bx", 1 },
		{ "[!a-c]x", "bx", 0 },
		{ "[!a-c]x", "dx", 1 },
		{ "[]]x", "]x", 1 },
		{ "\\*x", "*x", 1 },
		{ "\\*x", "ax", 0 },
		{ "[abc", "a", 0 },			/* malformed class */
		{ "a**b", "axxb", 1 },			/* '**' not alone: '*' */
		{ "a**b", "ax/xb", 0 },
		{ "*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int got = ctx_glob_match(cases[i].pat, cases[i].text);
		if (got != cases[i].want)
			fail_msg("glob '%s' on '%s': got %d want %d", cases[i].pat,
				 cases[i].text, got, cases[i].want);
	}
}

static void test_gitignore(void **state)
{
	struct ctx_ignore *ig;
	static const char top[] =
		"# comment\n"
		"*.log\n"
		"!keep.log\n"
		"build/\n"
		"/only-root.txt\n"
		"docs/**/*.tmp\n"
		"trailing-space.txt   \n"
		"\\#hash\n";
	static const char sub[] = "!*.log\nlocal/\n/anchored.c\n";
	static const struct { const char *path; int dir, want; } cases[] = {
		{ "a.log", 0, 1 },
		{ "x/y/a.log", 0, 1 },
		{ "keep.log", 0, 0 },		/* negation */
		{ "build", 1, 1 },
		{ "build", 0, 0 },		/* dir-only */
		{ "x/build", 1, 1 },
		{ "only-root.txt", 0, 1 },
		{ "x/only-root.txt", 0, 0 },	/* anchored */
		{ "docs/a/b/c.tmp", 0, 1 },
		{ "docs/c.tmp", 0, 1 },
		{ "other/c.tmp", 0, 0 },
		{ "trailing-space.txt", 0, 1 },
		{ "#hash", 0, 1 },
		{ "sub/a.log", 0, 0 },		/* nested file re-includes */
		{ "sub/local", 1, 1 },
		{ "sub/anchored.c", 0, 1 },
		{ "sub/deeper/anchored.c", 0, 0 },
		{ "anchored.c", 0, 0 },
	};
	(void)state;
	TH_OK(ctx_ignore_new(&ig));
	TH_OK(ctx_ignore_add(ig, "", top, strlen(top)));
	TH_OK(ctx_ignore_add(ig, "sub", sub, strlen(sub)));
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int got = ctx_ignore_match(ig, cases[i].path, cases[i].dir);
		if (got != cases[i].want)
			fail_msg("ignore '%s' (dir %d): got %d want %d", cases[i].path,
				 cases[i].dir, got, cases[i].want);
	}
	ctx_ignore_pop(ig, "sub");
	assert_int_equal(ctx_ignore_match(ig, "sub/a.log", 0), 1);
	ctx_ignore_free(ig);
	ctx_ignore_free(NULL);
}

/* ---- front matter ---------------------------------------------------- */

static void test_frontmatter(void **state)
{
	static const char good[] =
		"---\n"
		"title: Use PostgreSQL\n"
		"status: accepted\n"
		"tags: [storage, db]\n"
		"paths:\n  - src/store/**\n  - '*.sql'\n"
		"date: 2024-03-01\n"
		"---\n# Heading\nbody\n";
	static const struct { const char *in; status_t st; int line; } bad[] = {
		{ "---\ntitle: x\n", ST_CORRUPT, 1 },			/* unclosed */
		{ "---\ntitle: [x\n---\n", ST_CORRUPT, 3 },		/* bad flow seq */
		{ "---\n- a\n- b\n---\n", ST_CORRUPT, 2 },		/* not a mapping */
		{ "---\n\"unterminated\n---\n", ST_CORRUPT, 3 },
		{ "---\nkey: : :\n  bad: indent\n---\n", ST_CORRUPT, 0 },
		{ "---\ntitle: &a x\nother: *b\n---\n", ST_CORRUPT, 0 },	/* unknown alias */
	};
	struct arena a;
	struct ctx_frontmatter fm;
	struct err e;
	(void)state;
	arena_init(&a, 0, 0);
	TH_OK(ctx_frontmatter_parse(good, strlen(good), &a, &fm, NULL));
	assert_string_equal(fm.title, "Use PostgreSQL");
	assert_string_equal(fm.status, "accepted");
	assert_string_equal(fm.tags, "storage,db");
	assert_string_equal(fm.paths, "src/store/**\n*.sql");
	assert_string_equal(fm.date, "2024-03-01");
	assert_string_equal(good + fm.body_offset, "# Heading\nbody\n");
	/* No front matter: nothing set, body from 0. */
	TH_OK(ctx_frontmatter_parse("# Title\n", 8, &a, &fm, NULL));
	assert_null(fm.title);
	assert_int_equal(fm.body_offset, 0);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err_clear(&e);
		status_t st = ctx_frontmatter_parse(bad[i].in, strlen(bad[i].in), &a, &fm, &e);
		if (st != bad[i].st)
			fail_msg("case %zu: got %s want %s (%s)", i, status_name(st),
				 status_name(bad[i].st), e.msg);
		assert_true(e.msg[0] != 0);
		if (bad[i].line)
			assert_int_equal(e.line, bad[i].line);
	}
	/* Allocation failures are reported, never crash. */
	for (long n = 0; n < 40; n++) {
		mem_fail_after(n, 0);
		status_t st = ctx_frontmatter_parse(good, strlen(good), &a, &fm, NULL);
		mem_fail_reset();
		assert_true(st == ST_OK || st == ST_NOMEM);
	}
	arena_release(&a);
}

/* ---- indexing -------------------------------------------------------- */

static struct config *cfg_with(const char *max_size, const char *batch)
{
	struct config *cfg = NULL;

	setenv("AIRLOCK_CONTEXT_MAX_FILE_SIZE", max_size, 1);
	setenv("AIRLOCK_CONTEXT_BATCH_FILES", batch, 1);
	TH_OK(config_load(NULL, &cfg, NULL));
	return cfg;
}

static void make_repo(void)
{
	wfile("repo/.gitignore", "*.log\nbuild/\n");
	wfile("repo/src/http.c",
	      "#include \"http.h\"\n"
	      "/* Parses one HTTP request line. */\n"
	      "int parse_http_request(const char *line, struct request *out)\n"
	      "{\n\treturn split_words(line, out);\n}\n"
	      "\nstatic int split_words(const char *s, struct request *r)\n{\n\treturn 0;\n}\n");
	wfile("repo/src/http.h", "struct request { int method; };\n"
				 "int parse_http_request(const char *line, struct request *out);\n");
	wfile("repo/src/server.c",
	      "#include \"http.h\"\n"
	      "void serve(void)\n{\n\tstruct request r;\n\tparse_http_request(\"GET /\", &r);\n}\n");
	wfile("repo/lib/util.py",
	      "import os\n\nclass Cache:\n    \"\"\"A cache.\"\"\"\n    def get(self, key):\n        return os.environ.get(key)\n\n"
	      "def load_config(path):\n    return Cache().get(path)\n");
	wfile("repo/web/app.ts",
	      "import { fetchUser } from './api';\n"
	      "export interface User { id: number }\n"
	      "export function renderUser(u: User): string { return fetchUser(u.id); }\n");
	wfile("repo/web/api.js", "const x = require('./db');\nfunction fetchUser(id) { return x.get(id); }\nmodule.exports = { fetchUser };\n");
	wfile("repo/go/main.go", "package main\nimport \"fmt\"\nfunc Hello() { fmt.Println(\"hi\") }\n");
	wfile("repo/rs/lib.rs", "use std::io;\npub struct Point { x: i32 }\npub fn norm(p: &Point) -> i32 { p.x.abs() }\n");
	wfile("repo/java/A.java", "import java.util.List;\npublic class A { void run() { helper(); } void helper() {} }\n");
	wfile("repo/cpp/v.cpp", "#include <vector>\nclass Vec { public: int size() const; };\nint Vec::size() const { return 0; }\n");
	wfile("repo/notes.txt", "plain text notes about parse_http_request\n");
	wfile("repo/debug.log", "ignored\n");
	wfile("repo/build/out.c", "int ignored_build;\n");
	wfile("repo/node_modules/x/index.js", "function vendored() {}\n");
	wfile("repo/dist/app.min.js", "function(){}\n");
	wfile("repo/gen.c", "// Code generated by tool. DO NOT EDIT.\nint generated;\n");
	wfile("repo/broken.c", "int f( { ]]] ;;; }}} \n struct { \n");
	wfile("repo/docs/adr/0001-http.md",
	      "---\ntitle: Parse HTTP strictly\nstatus: accepted\npaths: [\"src/**\"]\n---\n"
	      "# Parse strictly\nAll input goes through `parse_http_request`.\n");
	wfile("repo/incidents/2024-01-outage.md",
	      "# Outage\nThe `load_config` call failed.\n");
	wfile("repo/CODEOWNERS", "# owners\n* @platform\n/src/ @http-team @alice\n*.py @py-team\n");
	{
		unsigned char bin[64] = { 'E', 'L', 'F', 0, 1, 2 };
		wbytes("repo/blob.c", bin, sizeof bin);
	}
	{
		unsigned char bad[200];
		for (size_t i = 0; i < sizeof bad; i++)
			bad[i] = (unsigned char)(0xC0 + (i % 7));
		wbytes("repo/latin.c", bad, sizeof bad);
	}
}

struct fixture {
	struct ctx *c;
	struct config *cfg;
	char data[PATH_MAX], repo[PATH_MAX];
};

static void fixture_open(struct fixture *f, const char *max, const char *batch)
{
	struct err e;

	snprintf(f->data, sizeof f->data, "%s/data", root);
	snprintf(f->repo, sizeof f->repo, "%s/repo", root);
	f->cfg = cfg_with(max, batch);
	err_clear(&e);
	if (ctx_open(f->data, f->cfg, &f->c, &e) != ST_OK)
		fail_msg("ctx_open: %s", e.msg);
}

static void fixture_close(struct fixture *f)
{
	ctx_free(f->c);
	config_free(f->cfg);
	unsetenv("AIRLOCK_CONTEXT_MAX_FILE_SIZE");
	unsetenv("AIRLOCK_CONTEXT_BATCH_FILES");
}

static struct ctx_index_stats index_ok(struct fixture *f, const struct ctx_index_opts *o)
{
	struct ctx_index_stats s;
	struct ctx_index_opts d = { .name = "repo", .threads = 2 };
	struct err e;

	err_clear(&e);
	if (ctx_index_repo(f->c, f->repo, o ? o : &d, &s, &e) != ST_OK)
		fail_msg("index: %s", e.msg);
	return s;
}

static int has_hit(const struct ctx_result *r, const char *path, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->hits[i].path, path) == 0 &&
		    (!name || strcmp(r->hits[i].name, name) == 0))
			return 1;
	return 0;
}

static void test_grammars(void **state)
{
	struct err e;
	(void)state;
	err_clear(&e);
	if (ctx_grammars_check(&e) != ST_OK)
		fail_msg("grammars: %s", e.msg);
	if (ctx__queries_check(&e) != ST_OK)
		fail_msg("queries: %s", e.msg);
}

/* Symbols, edges and chunks of a parse as one comparable string. */
static void parsed_dump(const struct ctx__parsed *p, struct buf *b)
{
	char line[512];

	b->len = 0;
	for (size_t i = 0; i < p->syms.len; i++) {
		const struct ctx__sym *s = &VEC_AT(&p->syms, struct ctx__sym, i);
		snprintf(line, sizeof line, "sym %s %s %d-%d c%d|", s->kind, s->name,
			 s->start_line, s->end_line, s->chunk);
		buf_append(b, line, strlen(line));
	}
	for (size_t i = 0; i < p->edges.len; i++) {
		const struct ctx__edge *d = &VEC_AT(&p->edges, struct ctx__edge, i);
		snprintf(line, sizeof line, "edge %s %d %s %d|", d->kind, d->src_sym,
			 d->name, d->line);
		buf_append(b, line, strlen(line));
	}
	for (size_t i = 0; i < p->chunks.len; i++) {
		const struct ctx__chunk *c = &VEC_AT(&p->chunks, struct ctx__chunk, i);
		snprintf(line, sizeof line, "chunk %s %s %d-%d %zu|", c->kind, c->name,
			 c->start_line, c->end_line, c->len);
		buf_append(b, line, strlen(line));
	}
}

/* One parser kept across files and languages (as an indexing worker
 * keeps it) gives what a fresh parser per file gives, also after a file
 * with syntax errors. */
static void test_parser_reuse(void **state)
{
	static const struct { const char *path, *text; } files[] = {
		{ "a.py", "import os\n\nclass Box:\n    def put(self, x):\n        return os.path.join(x)\n\n"
			  "def top(a):\n    \"\"\"Doc.\"\"\"\n    return Box().put(a)\n" },
		{ "b.c", "#include <stdio.h>\n/* adds */\nstatic int add(int a, int b) { return a + b; }\n"
			 "struct pt { int x; };\nint main(void) { printf(\"%d\", add(1, 2)); return 0; }\n" },
		{ "bad.js", "function ok() { return f(1); }\nfunction broken( { ;;; \nconst g = () => h();\n" },
		{ "c.js", "const fs = require('fs');\nclass K { m() { return fs.readFileSync('x'); } }\n"
			  "function run() { new K().m(); }\n" },
		{ "a.py", "import os\n\nclass Box:\n    def put(self, x):\n        return os.path.join(x)\n\n"
			  "def top(a):\n    \"\"\"Doc.\"\"\"\n    return Box().put(a)\n" },
	};
	struct ctx__parser *ps;
	struct buf fresh, kept;
	(void)state;

	buf_init(&fresh, 0);
	buf_init(&kept, 0);
	TH_OK(ctx__parser_new(&ps));
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		struct ctx__parsed a, b;
		const char *lang = ctx__lang_of(files[i].path);
		size_t n = strlen(files[i].text);

		ctx__parsed_init(&a);
		ctx__parsed_init(&b);
		TH_OK(ctx__parse(files[i].path, lang, files[i].text, n, &a, NULL));
		TH_OK(ctx__parse_with(ps, files[i].path, lang, files[i].text, n, &b, NULL));
		assert_string_equal(a.lang, b.lang);
		assert_int_equal(a.parse_error, b.parse_error);
		assert_true(a.syms.len > 0);
		parsed_dump(&a, &fresh);
		parsed_dump(&b, &kept);
		buf_putc(&fresh, 0);
		buf_putc(&kept, 0);
		assert_string_equal(fresh.data, kept.data);
		if (strcmp(files[i].path, "bad.js") == 0)
			assert_int_equal(b.parse_error, 1);
		ctx__parsed_release(&a);
		ctx__parsed_release(&b);
	}
	ctx__parser_free(ps);
	ctx__parser_free(NULL);
	buf_release(&fresh);
	buf_release(&kept);
}

/* Python's extraction by a walk of the tree gives what its query gives,
 * in the same order: every pattern of the query, near misses of each
 * (the same shapes one level off), nesting, and a file with syntax
 * errors. Symbols with signature and doc, edges, chunks. */
static void test_parse_walk_matches_query(void **state)
{
	static const char *const srcs[] = {
		"\"\"\"Module doc.\"\"\"\nimport os, sys as system\nimport a.b.c as abc, d.e\n"
		"from . import sibling\nfrom ..pkg.mod import (x, y as z)\nfrom m import *\n"
		"from __future__ import annotations\n"
		"LIMIT = 10\nLIMIT: int = 11\na = b = c()\nx, y = 1, 2\nobj.attr = f(1)\n"
		"if True:\n    INNER = 3\n    import inner_mod\n"
		"@decorator(arg)\n@other.deco\ndef top(a, b=g(1), *args, **kw) -> int:\n"
		"    \"\"\"Top doc.\"\"\"\n    def nested():\n        return h()\n"
		"    local = 1\n    return os.path.join(a, b).strip()()\n\n"
		"# comment before the class\nclass Box(Base, metaclass=Meta):\n"
		"    '''Box doc.'''\n    SIZE = 4\n    def put(self, x):\n        return self.items.append(x)\n"
		"    async def get(self):\n        await self.q.get()\n        return [k() for k in ks]\n"
		"    class Inner:\n        def deep(self): return (lambda: z())()\n\n"
		"def calls():\n    f()\n    a.b()\n    a.b.c()\n    f()()\n    a[0]()\n    (g)()\n"
		"    getattr(a, 'b')()\n    print(f'{fmt(1)}')\n    super().__init__()\n",
		"def broken(:\n    return f(\nclass K:\n    def m(self) return g()\nimport\nfrom import x\n"
		"VALID = h()\ndef after(): return i()\n",
		"",
		"x = 1",
	};
	struct ctx__parser *ps;
	struct buf walk, query;
	(void)state;

	buf_init(&walk, 0);
	buf_init(&query, 0);
	TH_OK(ctx__parser_new(&ps));
	for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
		struct ctx__parsed a, b;
		size_t n = strlen(srcs[i]);
		const struct ctx__parsed *both[2] = { &a, &b };
		struct buf *out[2] = { &walk, &query };

		ctx__parsed_init(&a);
		ctx__parsed_init(&b);
		ctx__parse_by_query = 0;
		TH_OK(ctx__parse_with(ps, "m.py", "python", srcs[i], n, &a, NULL));
		ctx__parse_by_query = 1;
		TH_OK(ctx__parse_with(ps, "m.py", "python", srcs[i], n, &b, NULL));
		ctx__parse_by_query = 0;
		for (int k = 0; k < 2; k++) {
			parsed_dump(both[k], out[k]);
			for (size_t j = 0; j < both[k]->syms.len; j++) {
				const struct ctx__sym *s = &VEC_AT(&both[k]->syms, struct ctx__sym, j);
				buf_printf(out[k], "sig %s doc %s|", s->signature, s->doc);
			}
			buf_putc(out[k], 0);
		}
		assert_string_equal(walk.data, query.data);
		assert_int_equal(a.parse_error, b.parse_error);
		if (i == 0) {
			/* What the query finds is there: not a vacuous match. */
			assert_non_null(strstr(walk.data, "sym constant LIMIT"));
			assert_non_null(strstr(walk.data, "sym class Inner"));
			assert_non_null(strstr(walk.data, "sym method deep"));
			assert_non_null(strstr(walk.data, "edge imports -1 a.b.c"));
			assert_non_null(strstr(walk.data, "edge calls"));
			assert_null(strstr(walk.data, "INNER"));
		}
		if (i == 1)
			assert_int_equal(a.parse_error, 1);
		ctx__parsed_release(&a);
		ctx__parsed_release(&b);
	}
	ctx__parser_free(ps);
	buf_release(&walk);
	buf_release(&query);
}

/* The dump of what the walk gives (by_query 0) or the query (1) for
 * one file, signatures and doc comments included. */
static void parsed_dump_with(struct ctx__parser *ps, const char *path, const char *lang,
			     const char *text, size_t n, int by_query, struct buf *out)
{
	struct ctx__parsed a;

	ctx__parsed_init(&a);
	ctx__parse_by_query = by_query;
	TH_OK(ctx__parse_with(ps, path, lang, text, n, &a, NULL));
	ctx__parse_by_query = 0;
	parsed_dump(&a, out);
	for (size_t j = 0; j < a.syms.len; j++) {
		const struct ctx__sym *s = &VEC_AT(&a.syms, struct ctx__sym, j);
		buf_printf(out, "sig %s doc %s|", s->signature, s->doc);
	}
	buf_printf(out, "err %d", a.parse_error);
	buf_putc(out, 0);
	ctx__parsed_release(&a);
}

/* Walks the files under dir (AIRLOCK_WALK_CHECK_ROOT) and compares the
 * walk with the query on each file of a parsed language; counts them. */
static void walk_check_dir(struct ctx__parser *ps, const char *dir, int depth,
			   size_t *files, size_t *bad)
{
	DIR *d = depth < 24 ? opendir(dir) : NULL;
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat sb;
		const char *lang;
		char *text = NULL;
		size_t n = 0;
		struct buf w, q;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
		    lstat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			walk_check_dir(ps, path, depth + 1, files, bad);
			continue;
		}
		lang = ctx__lang_of(path);
		if (!S_ISREG(sb.st_mode) || sb.st_size > (1 << 20) ||
		    strcmp(lang, "text") == 0 ||
		    file_read_all(path, 1 << 20, &text, &n, NULL) != ST_OK)
			continue;
		buf_init(&w, 0);
		buf_init(&q, 0);
		parsed_dump_with(ps, path, lang, text, n, 0, &w);
		parsed_dump_with(ps, path, lang, text, n, 1, &q);
		(*files)++;
		if (strcmp(w.data, q.data) != 0) {
			(*bad)++;
			print_message("walk and query differ: %s\n", path);
		}
		buf_release(&w);
		buf_release(&q);
		mem_free(text);
	}
	closedir(d);
}

/* The walk of the other languages finds what their queries find, in the
 * same order: one source per language using each pattern (and some that
 * look like them), then, with AIRLOCK_WALK_CHECK_ROOT set, every file
 * of a parsed language under it. */
static void test_parse_walk_matches_query_langs(void **state)
{
	static const struct { const char *path, *lang, *text, *want; } srcs[] = {
		{ "a.c", "c",
		  "#include <stdio.h>\n#include \"local.h\"\n#define N 4\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n"
		  "typedef struct node { int v; struct node *next; } node_t, *node_p;\n"
		  "typedef int (*cb_t)(void *);\nstruct fwd;\nunion u { int a; float b; };\n"
		  "enum color { RED, GREEN = 2 };\nint proto(int a);\nchar *pproto(void);\n"
		  "/* doc */\nstatic int add(int a, int b) { return helper(a) + s.fn(b) + p->g(); }\n"
		  "char *dup(const char *s) { node_t n; struct fwd *f; return strdup(s); }\n"
		  "int (*getf(void))(int) { return 0; }\nint x, later(void);\ntypedef int T1, T2;\n"
		  "int broken( { x(); }\n",
		  "sym function add" },
		{ "a.cpp", "cpp",
		  "#include <vector>\nnamespace ns { class Box : public Base { public: int get() const; void set(int v) { v_ = clamp(v); }\n"
		  "private: int v_; }; }\nint ns::Box::get() const { return std::max(v_, 0); }\n"
		  "struct P { int x; };\nusing Alias = std::vector<int>;\nenum class E { A, B };\n"
		  "Box &ref() { static Box b; return b; }\nint *ptr() { return nullptr; }\n"
		  "template <typename T> T id(T t) { return ns::conv<T>(t); }\nint main() { auto b = Box(); b.set(1); return id(2); }\n",
		  "sym method set" },
		{ "a.js", "javascript",
		  "import x from './x.js';\nconst fs = require('fs'), path = require(\"path\");\n"
		  "const f = () => g(), h = function () { return k(); }, n = 1;\nvar old = function named() {};\n"
		  "function* gen() { yield 1; }\nclass A extends B { constructor() { super(); this.m(); } method() { return new C(); } }\n"
		  "module.exports.run = function () { other('a', 1); require(`tpl`); };\n"
		  "obj.prop = () => 1;\nconst o = { key: () => 2, k2: function () {}, k3: 4, 'str': () => 5 };\n"
		  "function outer() { function inner() { return q.r.s(); } return inner; }\nfoo(/* c */ 'x');\n",
		  "edge imports -1 fs" },
		{ "a.ts", "typescript",
		  "import { T } from './t';\ninterface I { m(): void; p: number }\ntype U = string | T;\n"
		  "enum E { A }\nabstract class AC { abstract am(): void; cm(): U { return mk<U>(); } }\n"
		  "declare function sig(a: number): string;\nexport const arrow = (x: I): T => conv(x);\n"
		  "class K implements I { m() { new Map<string, T>(); } p = 1 }\n",
		  "sym interface I" },
		{ "a.tsx", "tsx",
		  "import React from 'react';\nexport function App(props: Props) { return <div onClick={() => go()}>{render(props)}</div>; }\n"
		  "const Btn = (p: P) => <button>{p.label}</button>;\n",
		  "sym function App" },
		{ "a.go", "go",
		  "package main\nimport (\n\t\"fmt\"\n\tio \"io\"\n)\nconst A, B = 1, 2\ntype T struct{ x int }\ntype I interface{ M() }\n"
		  "func (t *T) M() { fmt.Println(t.x) }\nfunc main() { var r io.Reader; t := T{}; t.M(); helper(r) }\n",
		  "sym method M" },
		{ "a.rs", "rust",
		  "use std::collections::HashMap;\nuse crate::a::{b, c};\nconst N: usize = 3;\nstatic S: &str = \"s\";\n"
		  "struct P { x: i32 }\nenum E { A, B(u8) }\nunion U { a: u32 }\ntrait Tr { fn req(&self); }\ntype Al = Vec<P>;\n"
		  "macro_rules! mm { () => {} }\nimpl Tr for P { fn req(&self) { println!(\"{}\", self.x); helper(); Vec::new(); self.m(); } }\n"
		  "fn main() { let m: HashMap<String, P> = HashMap::new(); mm!(); }\n",
		  "sym macro mm" },
		{ "A.java", "java",
		  "package p;\nimport java.util.List;\nimport java.util.*;\nimport static java.lang.Math.max;\n"
		  "public class A extends B implements I { A() { super(); } public int m(List<String> l) { return max(l.size(), helper()); } }\n"
		  "interface I { void x(); }\nenum E { X, Y }\nrecord R(int a) {}\nclass C { Object o = new ArrayList<String>(); }\n",
		  "sym class A" },
	};
	struct ctx__parser *ps;
	struct buf walk, query;
	const char *check_root = getenv("AIRLOCK_WALK_CHECK_ROOT");
	(void)state;

	buf_init(&walk, 0);
	buf_init(&query, 0);
	TH_OK(ctx__parser_new(&ps));
	for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
		size_t n = strlen(srcs[i].text);
		parsed_dump_with(ps, srcs[i].path, srcs[i].lang, srcs[i].text, n, 0, &walk);
		parsed_dump_with(ps, srcs[i].path, srcs[i].lang, srcs[i].text, n, 1, &query);
		assert_string_equal(walk.data, query.data);
		/* Not a vacuous match: what the query finds is there. */
		if (!strstr(walk.data, srcs[i].want) || !strstr(walk.data, "edge calls"))
			print_message("%s: %s\n", srcs[i].path, walk.data);
		assert_non_null(strstr(walk.data, srcs[i].want));
		assert_non_null(strstr(walk.data, "edge calls"));
		/* A cut file (syntax errors) as well. */
		parsed_dump_with(ps, srcs[i].path, srcs[i].lang, srcs[i].text, n / 2, 0, &walk);
		parsed_dump_with(ps, srcs[i].path, srcs[i].lang, srcs[i].text, n / 2, 1, &query);
		assert_string_equal(walk.data, query.data);
	}
	if (check_root && *check_root) {
		size_t files = 0, bad = 0;
		walk_check_dir(ps, check_root, 0, &files, &bad);
		print_message("walk check: %zu files under %s, %zu differ\n", files, check_root, bad);
		assert_int_equal(bad, 0);
	}
	ctx__parser_free(ps);
	buf_release(&walk);
	buf_release(&query);
}

/* The closing merge rewrites the whole FTS index, so in a large store
 * (1000 indexed files or more) it follows only a run that wrote an
 * eighth of the store; in a small store the rule of before (8 files
 * and a quarter of the repository, or 100) still applies. Either way
 * the new files are found. */
static void test_compact_relative_to_store(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	struct ctx_index_opts big = { .name = "big", .threads = 2 };
	struct ctx_index_opts small = { .name = "small", .threads = 2 };
	struct ctx_index_opts mid = { .name = "mid", .threads = 2 };
	struct ctx_result r;
	char rel[64], text[96];
	unsigned before;
	(void)state;

	new_root();
	for (int i = 0; i < 12; i++) {
		snprintf(rel, sizeof rel, "small/s%02d.txt", i);
		snprintf(text, sizeof text, "small file %d says quuxword%d\n", i, i);
		wfile(rel, text);
	}
	fixture_open(&f, "1M", "256");
	/* A small store: 12 files of a new repository are merged. */
	snprintf(f.repo, sizeof f.repo, "%s/small", root);
	s = index_ok(&f, &small);
	assert_int_equal(s.files_indexed, 12);
	assert_int_equal(f.c->compactions, 1);

	for (int i = 0; i < 1000; i++) {
		snprintf(rel, sizeof rel, "big/d%d/b%03d.txt", i / 100, i % 100);
		snprintf(text, sizeof text, "line of file %d\n", i);
		wfile(rel, text);
	}
	snprintf(f.repo, sizeof f.repo, "%s/big", root);
	s = index_ok(&f, &big);
	assert_int_equal(s.files_indexed, 1000);
	assert_int_equal(f.c->compactions, 2);

	/* 12 files beside 1012: not merged, though a quarter of their
	 * repository; 150 more beside 1024 are an eighth: merged. */
	for (int i = 0; i < 12; i++) {
		snprintf(rel, sizeof rel, "mid/m%03d.txt", i);
		snprintf(text, sizeof text, "mid file %d says zorpword%d\n", i, i);
		wfile(rel, text);
	}
	snprintf(f.repo, sizeof f.repo, "%s/mid", root);
	before = f.c->compactions;
	s = index_ok(&f, &mid);
	assert_int_equal(s.files_indexed, 12);
	assert_int_equal(f.c->compactions, before);
	ctx_result_init(&r);
	TH_OK(ctx_search(f.c, "zorpword7", 5, NULL, NULL, &r, NULL));
	assert_true(r.n >= 1);
	assert_true(has_hit(&r, "m007.txt", NULL));
	ctx_result_release(&r);

	for (int i = 12; i < 162; i++) {
		snprintf(rel, sizeof rel, "mid/m%03d.txt", i);
		snprintf(text, sizeof text, "mid file %d says zorpword%d\n", i, i);
		wfile(rel, text);
	}
	s = index_ok(&f, &mid);
	assert_int_equal(s.files_indexed, 150);
	assert_int_equal(f.c->compactions, before + 1);
	ctx_result_init(&r);
	TH_OK(ctx_search(f.c, "zorpword150", 5, NULL, NULL, &r, NULL));
	assert_true(has_hit(&r, "m150.txt", NULL));
	ctx_result_release(&r);
	fixture_close(&f);
}

/* Files of very different sizes in small batches on two threads (each
 * thread takes the next file, largest first): every file is written
 * once, with what one thread and one batch give. */
static void test_index_schedule(void **state)
{
	struct fixture f;
	struct ctx_index_stats one, two;
	struct ctx_index_opts o1 = { .name = "repo", .threads = 1 };
	struct ctx_index_opts o2 = { .name = "repo2", .threads = 2 };
	char rel[64];
	struct buf big;
	(void)state;

	new_root();
	buf_init(&big, 0);
	for (int i = 0; i < 400; i++) {
		char fn[96];
		snprintf(fn, sizeof fn, "int big_%d(int x) { return helper(x + %d); }\n", i, i);
		buf_append(&big, fn, strlen(fn));
	}
	buf_putc(&big, 0);
	for (int i = 0; i < 23; i++) {
		char text[160];
		snprintf(rel, sizeof rel, "repo/src/f%02d.c", i);
		if (i % 7 == 3) {
			wfile(rel, big.data);
			continue;
		}
		snprintf(text, sizeof text, "int fn_%d(void) { return call_%d(); }\n", i, i);
		wfile(rel, text);
	}
	buf_release(&big);

	fixture_open(&f, "1M", "64");
	one = index_ok(&f, &o1);
	fixture_close(&f);
	/* The same files as another repository, in batches of 4. */
	fixture_open(&f, "1M", "4");
	two = index_ok(&f, &o2);
	assert_int_equal(two.files_indexed, 23);
	assert_int_equal(two.files_indexed, one.files_indexed);
	assert_int_equal(two.chunks, one.chunks);
	assert_int_equal(two.symbols, one.symbols);
	assert_int_equal(two.edges, one.edges);
	assert_int_equal(two.symbols, 3 * 400 + 20);
	fixture_close(&f);
}

static void test_index_and_graph(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	struct ctx_result r;
	struct buf g;
	(void)state;

	new_root();
	make_repo();
	fixture_open(&f, "1M", "4");
	s = index_ok(&f, NULL);
	/* Indexed: 3 C + py + ts + js + go + rs + java + cpp + notes + broken
	 * + 2 docs + CODEOWNERS + .gitignore = 16 */
	assert_int_equal(s.files_indexed, 16);
	assert_int_equal(s.skipped[CTX_SKIP_IGNORED], 2);	/* debug.log, build/ */
	assert_int_equal(s.skipped[CTX_SKIP_VENDORED], 1);
	assert_int_equal(s.skipped[CTX_SKIP_GENERATED], 2);	/* .min.js, DO NOT EDIT */
	assert_int_equal(s.skipped[CTX_SKIP_BINARY], 1);
	assert_int_equal(s.skipped[CTX_SKIP_INVALID_UTF8], 1);
	assert_true(s.parse_errors >= 1);
	assert_int_equal(s.documents, 2);

	/* Symbols of each language. */
	static const struct { const char *name, *kind, *path; } syms[] = {
		{ "parse_http_request", "function", "src/http.c" },
		{ "request", "struct", "src/http.h" },
		{ "Cache", "class", "lib/util.py" },
		{ "get", "method", "lib/util.py" },
		{ "load_config", "function", "lib/util.py" },
		{ "User", "interface", "web/app.ts" },
		{ "renderUser", "function", "web/app.ts" },
		{ "fetchUser", "function", "web/api.js" },
		{ "Hello", "function", "go/main.go" },
		{ "Point", "struct", "rs/lib.rs" },
		{ "norm", "function", "rs/lib.rs" },
		{ "A", "class", "java/A.java" },
		{ "helper", "method", "java/A.java" },
		{ "Vec", "class", "cpp/v.cpp" },
		{ "size", "method", "cpp/v.cpp" },
	};
	for (size_t i = 0; i < sizeof syms / sizeof *syms; i++) {
		int found = 0;
		ctx_result_init(&r);
		TH_OK(ctx_symbols_find(f.c, syms[i].name, 10, &r, NULL));
		for (size_t k = 0; k < r.n; k++)
			if (!strcmp(r.hits[k].path, syms[i].path) && !strcmp(r.hits[k].kind, syms[i].kind))
				found = 1;
		if (!found)
			fail_msg("symbol %s (%s) not found in %s (%zu hits)", syms[i].name,
				 syms[i].kind, syms[i].path, r.n);
		ctx_result_release(&r);
	}
	/* Doc comment and signature kept. */
	ctx_result_init(&r);
	TH_OK(ctx_symbols_find(f.c, "parse_http_request", 10, &r, NULL));
	assert_string_equal(r.hits[0].path, "src/http.c");
	assert_non_null(strstr(r.hits[0].doc, "Parses one HTTP request line"));
	assert_string_equal(r.hits[0].signature,
			    "int parse_http_request(const char *line, struct request *out)");
	ctx_result_release(&r);

	/* The graph: defines, imports, calls, called-by, documented, owned. */
	buf_init(&g, 0);
	TH_OK(ctx_graph_file(f.c, "repo", "src/http.c", &g, NULL));
	assert_non_null(strstr(buf_cstr(&g), "defines\tsrc/http.c\tfunction parse_http_request"));
	assert_non_null(strstr(buf_cstr(&g), "imports\tsrc/http.c\thttp.h"));
	assert_non_null(strstr(buf_cstr(&g), "calls\tparse_http_request\tsplit_words"));
	assert_non_null(strstr(buf_cstr(&g), "called-by\tparse_http_request\tsrc/server.c:5"));
	assert_non_null(strstr(buf_cstr(&g), "documented-by\tsrc/http.c\tdocs/adr/0001-http.md"));
	assert_non_null(strstr(buf_cstr(&g), "owned-by\t@http-team\tsrc/http.c"));
	buf_reset(&g);
	TH_OK(ctx_graph_file(f.c, "repo", "web/api.js", &g, NULL));
	assert_non_null(strstr(buf_cstr(&g), "imports\tweb/api.js\t./db"));
	buf_release(&g);

	/* Owners: last matching line wins. */
	ctx_result_init(&r);
	TH_OK(ctx_owners_of(f.c, "repo", "src/http.c", &r, NULL));
	assert_int_equal(r.n, 2);
	assert_string_equal(r.hits[0].name, "@http-team");
	assert_string_equal(r.hits[1].name, "@alice");
	ctx_result_release(&r);
	ctx_result_init(&r);
	TH_OK(ctx_owners_of(f.c, "repo", "lib/util.py", &r, NULL));
	assert_int_equal(r.n, 1);
	assert_string_equal(r.hits[0].name, "@py-team");
	ctx_result_release(&r);
	ctx_result_init(&r);
	TH_OK(ctx_owners_of(f.c, "repo", "README", &r, NULL));
	assert_int_equal(r.n, 1);
	assert_string_equal(r.hits[0].name, "@platform");
	ctx_result_release(&r);

	/* Documents: by paths glob, by symbol mention. */
	ctx_result_init(&r);
	TH_OK(ctx_docs_for(f.c, "repo", "src/server.c", &r, NULL));
	assert_int_equal(r.n, 1);
	assert_string_equal(r.hits[0].kind, "adr");
	assert_string_equal(r.hits[0].name, "Parse HTTP strictly");
	assert_string_equal(r.hits[0].signature, "accepted");
	ctx_result_release(&r);
	ctx_result_init(&r);
	TH_OK(ctx_docs_for(f.c, "repo", "lib/util.py", &r, NULL));
	assert_int_equal(r.n, 1);
	assert_string_equal(r.hits[0].kind, "incident");
	ctx_result_release(&r);

	/* Search splits identifiers. */
	ctx_result_init(&r);
	TH_OK(ctx_search(f.c, "parseHttpRequest", 10, NULL, NULL, &r, NULL));
	assert_true(has_hit(&r, "src/http.c", NULL));
	ctx_result_release(&r);
	fixture_close(&f);
}

/* A long doc comment is stored packed (a BLOB, as long chunk text is)
 * and reads back whole, through the symbol lookup and through
 * retrieval's hits; a short one stays text. */
static void test_doc_packed(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	sqlite3_stmt *st;
	struct buf doc, src;
	(void)state;

	new_root();
	make_repo();
	buf_init(&doc, 0);
	buf_init(&src, 0);
	for (int i = 0; i < 12; i++)
		TH_OK(buf_printf(&doc, " * Line %d of the long comment on checksum_block: it sums "
				 "the words of one block.\n", i));
	TH_OK(buf_printf(&src, "/*\n%s */\nint checksum_block(const int *w, int n)\n{\n"
			 "\tint s = 0;\n\tfor (int i = 0; i < n; i++)\n\t\ts += w[i];\n"
			 "\treturn s;\n}\n", buf_cstr(&doc)));
	wfile("repo/src/sum.c", buf_cstr(&src));
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	assert_int_equal(sqlite3_prepare_v2(f.c->db, "SELECT typeof(doc) FROM symbols WHERE name = ?1",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, "checksum_block", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "blob");
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, "parse_http_request", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "text");
	sqlite3_finalize(st);

	ctx_result_init(&r);
	TH_OK(ctx_symbols_find(f.c, "checksum_block", 10, &r, NULL));
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.hits[0].doc, "Line 0 of the long comment"));
	assert_non_null(strstr(r.hits[0].doc, "Line 11 of the long comment"));
	ctx_result_release(&r);

	/* Retrieval's hit for the function carries the same doc. */
	memset(&q, 0, sizeof q);
	q.repo = "repo";
	q.path = "src/other.c";
	q.prefix = "int total(const int *w, int n)\n{\n\treturn checksum_block(";
	q.prefix_len = strlen(q.prefix);
	q.top_k = 10;
	q.sources = CTX_SRC_ALL;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	{
		int found = 0;
		for (size_t k = 0; k < r.n; k++)
			if (!strcmp(r.hits[k].path, "src/sum.c") && r.hits[k].doc &&
			    strstr(r.hits[k].doc, "Line 11 of the long comment"))
				found = 1;
		assert_true(found);
	}
	ctx_result_release(&r);
	buf_release(&doc);
	buf_release(&src);
	fixture_close(&f);
}

static void test_incremental(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	struct ctx_result r;
	char p[PATH_MAX];
	(void)state;

	new_root();
	make_repo();
	fixture_open(&f, "1M", "64");
	s = index_ok(&f, NULL);
	assert_int_equal(s.files_indexed, 16);
	/* Nothing changed: nothing read. */
	s = index_ok(&f, NULL);
	assert_int_equal(s.files_indexed, 0);
	assert_int_equal(s.files_deleted, 0);
	/* 16 + binary, invalid UTF-8 and generated-by-content, recorded
	 * (skips by name are decided without reading). */
	assert_int_equal(s.files_unchanged, 19);
	/* Touched but same content: hashed, not rewritten. */
	snprintf(p, sizeof p, "%s/repo/src/server.c", root);
	wfile("repo/src/server.c",
	      "#include \"http.h\"\n"
	      "void serve(void)\n{\n\tstruct request r;\n\tparse_http_request(\"GET /\", &r);\n}\n");
	{
		struct timespec ts[2] = { { 0, UTIME_NOW }, { 1, 0 } };
		utimensat(AT_FDCWD, p, ts, 0);
	}
	s = index_ok(&f, NULL);
	assert_int_equal(s.files_indexed, 0);
	/* Changed, added, deleted. */
	wfile("repo/src/server.c", "void serve_v2(void) { }\n");
	wfile("repo/src/new.c", "int brand_new(void) { return 1; }\n");
	snprintf(p, sizeof p, "%s/repo/go/main.go", root);
	assert_int_equal(unlink(p), 0);
	s = index_ok(&f, NULL);
	assert_int_equal(s.files_indexed, 2);
	assert_int_equal(s.files_deleted, 1);
	ctx_result_init(&r);
	TH_OK(ctx_symbols_find(f.c, "Hello", 10, &r, NULL));
	assert_int_equal(r.n, 0);
	TH_OK(ctx_symbols_find(f.c, "serve", 10, &r, NULL));
	assert_int_equal(r.n, 0);
	TH_OK(ctx_symbols_find(f.c, "serve_v2", 10, &r, NULL));
	assert_int_equal(r.n, 1);
	ctx_result_release(&r);
	fixture_close(&f);
}

static void test_bad_paths(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	struct err e;
	char p[PATH_MAX], t[PATH_MAX];
	(void)state;

	new_root();
	make_repo();
	fixture_open(&f, "64k", "64");
	/* A repository that does not exist. */
	err_clear(&e);
	TH_ST(ctx_index_repo(f.c, "/nonexistent/airlock/repo", NULL, &s, &e), ST_NOTFOUND);
	assert_non_null(strstr(e.msg, "/nonexistent/airlock/repo"));
	/* Symlink loops and a symlink out of the tree: not followed. */
	snprintf(p, sizeof p, "%s/repo/loop", root);
	assert_int_equal(symlink(".", p), 0);
	snprintf(p, sizeof p, "%s/repo/src/up", root);
	assert_int_equal(symlink("../..", p), 0);
	snprintf(p, sizeof p, "%s/repo/etc-passwd", root);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	/* A FIFO is not read (it would block). */
	snprintf(p, sizeof p, "%s/repo/pipe", root);
	assert_int_equal(mkfifo(p, 0600), 0);
	/* Over the size limit: a 5 MB minified line, and a 40 kB minified
	 * line under it (generated). */
	{
		size_t n = 5u << 20;
		char *big = mem_alloc(n);
		assert_non_null(big);
		memset(big, 'x', n);
		wbytes("repo/huge.js", big, n);
		wbytes("repo/mini.js", big, 40000);
		mem_free(big);
	}
	/* Unreadable (only meaningful when not running as root). */
	wfile("repo/secret.c", "int secret;\n");
	snprintf(p, sizeof p, "%s/repo/secret.c", root);
	chmod(p, 0);
	s = index_ok(&f, NULL);
	assert_int_equal(s.skipped[CTX_SKIP_SYMLINK], 3);
	assert_int_equal(s.skipped[CTX_SKIP_SPECIAL], 1);
	assert_int_equal(s.skipped[CTX_SKIP_TOO_LARGE], 1);
	assert_int_equal(s.skipped[CTX_SKIP_GENERATED], 3);
	if (geteuid() != 0)
		assert_int_equal(s.skipped[CTX_SKIP_UNREADABLE], 1);
	/* Another folder with the same name does not take over its index. */
	wfile("other/repo/x.c", "int x;\n");
	snprintf(p, sizeof p, "%s/other/repo", root);
	{
		struct ctx_index_opts o = { .threads = 1 };
		err_clear(&e);
		TH_ST(ctx_index_repo(f.c, p, &o, &s, &e), ST_EXISTS);
		assert_non_null(strstr(e.msg, "--name"));
		o.name = "repo2";
		TH_OK(ctx_index_repo(f.c, p, &o, &s, NULL));
		assert_int_equal(s.files_indexed, 1);
	}
	(void)t;
	fixture_close(&f);
}

/* Deletes a file not yet read, then cancels after the second batch. */
struct midrun {
	char victim[PATH_MAX];
	int batches;
	volatile int cancel;
	int cancel_at;
};

static void midrun_progress(void *arg, uint64_t done, uint64_t total)
{
	struct midrun *m = arg;

	(void)done; (void)total;
	if (++m->batches == 1 && m->victim[0])
		unlink(m->victim);
	if (m->cancel_at && m->batches >= m->cancel_at)
		m->cancel = 1;
}

static void test_deleted_midrun_and_interrupt(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	struct midrun m = { .batches = 0 };
	struct ctx_index_opts o = { .name = "repo", .threads = 1 };
	(void)state;

	new_root();
	make_repo();
	fixture_open(&f, "1M", "1");
	/* Files come in directory order; the victim is one of many, and with
	 * batches of one, deleting after batch 1 reaches most of them. */
	for (int i = 0; i < 20; i++) {
		char n[64];
		snprintf(n, sizeof n, "repo/many/f%02d.c", i);
		wfile(n, "int f(void) { return 0; }\n");
	}
	snprintf(m.victim, sizeof m.victim, "%s/repo/many", root);
	o.progress = midrun_progress;
	o.progress_arg = &m;
	o.cancel = &m.cancel;
	m.cancel_at = 5;
	{
		struct err e;
		err_clear(&e);
		TH_OK(ctx_index_repo(f.c, f.repo, &o, &s, &e));
	}
	assert_int_equal(s.interrupted, 1);
	/* Progress reports a batch once written; the writer may have
	 * written one more by then, and writes none after the flag but the
	 * one it is in. */
	if (s.files_indexed < 4 || s.files_indexed > 6)
		fail_msg("files_indexed %llu, want 4 to 6", (unsigned long long)s.files_indexed);
	/* Second run: finishes; a deleted file is counted as vanished or
	 * was never seen, and the index holds no row for it. */
	{
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/repo/many/f07.c", root);
		m.cancel_at = 0;
		m.cancel = 0;
		m.batches = 0;
		str_copy(m.victim, p, sizeof m.victim);
		s = index_ok(&f, &o);
		assert_int_equal(s.interrupted, 0);
		s = index_ok(&f, &o);
		assert_int_equal(s.files_indexed, 0);
		struct ctx_result r;
		ctx_result_init(&r);
		TH_OK(ctx_search(f.c, "return", 100, NULL, NULL, &r, NULL));
		assert_false(has_hit(&r, "many/f07.c", NULL));
		ctx_result_release(&r);
	}
	fixture_close(&f);
}

static void test_locked_store(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	sqlite3 *db;
	char p[PATH_MAX];
	(void)state;

	new_root();
	make_repo();
	fixture_open(&f, "1M", "4");
	index_ok(&f, NULL);
	wfile("repo/src/late.c", "int late_symbol(void) { return 2; }\n");
	/* Another writer holds the lock for the whole run. */
	snprintf(p, sizeof p, "%.1000s/airlock.db", f.data);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ctx_set_busy_timeout(f.c, 20);
	s = index_ok(&f, NULL);
	assert_true(s.skipped[CTX_SKIP_STORE] >= 1);
	assert_int_equal(s.files_indexed, 0);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	/* The index is still usable; the next run repairs. */
	{
		struct ctx_result r;
		ctx_result_init(&r);
		TH_OK(ctx_symbols_find(f.c, "parse_http_request", 10, &r, NULL));
		assert_true(r.n >= 1);
		ctx_result_release(&r);
		s = index_ok(&f, NULL);
		assert_int_equal(s.files_indexed, 1);
		ctx_result_init(&r);
		TH_OK(ctx_symbols_find(f.c, "late_symbol", 10, &r, NULL));
		assert_int_equal(r.n, 1);
		ctx_result_release(&r);
	}
	fixture_close(&f);
}

/* A full store: batches fail, are counted and rolled back; the index
 * stays usable, and once there is room the next run completes it. */
static void test_full_store(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	struct ctx_result r;
	struct stat sb;
	char p[PATH_MAX];
	(void)state;

	new_root();
	make_repo();
	for (int i = 0; i < 40; i++) {
		char n[64], body[4096];
		size_t o = 0;
		snprintf(n, sizeof n, "repo/bulk/b%02d.c", i);
		for (int k = 0; k < 40; k++)
			o += (size_t)snprintf(body + o, sizeof body - o,
					      "int bulk_%d_%d(int x) { return x; }\n", i, k);
		wfile(n, body);
	}
	fixture_open(&f, "1M", "2");
	snprintf(p, sizeof p, "%.1000s/airlock.db", f.data);
	assert_int_equal(stat(p, &sb), 0);
	ctx_set_size_limit(f.c, (uint64_t)sb.st_size + 65536);
	s = index_ok(&f, NULL);
	assert_true(s.skipped[CTX_SKIP_STORE] >= 2);
	assert_true(s.files_indexed < 56);
	ctx_result_init(&r);
	TH_OK(ctx_search(f.c, "request", 10, NULL, NULL, &r, NULL));
	ctx_result_release(&r);
	ctx_set_size_limit(f.c, 0);
	s = index_ok(&f, NULL);
	assert_int_equal(s.skipped[CTX_SKIP_STORE], 0);
	s = index_ok(&f, NULL);
	assert_int_equal(s.files_indexed, 0);
	ctx_result_init(&r);
	TH_OK(ctx_symbols_find(f.c, "parse_http_request", 10, &r, NULL));
	assert_true(r.n >= 1);
	ctx_result_release(&r);
	ctx_result_init(&r);
	TH_OK(ctx_symbols_find(f.c, "bulk_39_39", 10, &r, NULL));
	assert_int_equal(r.n, 1);
	ctx_result_release(&r);
	fixture_close(&f);
}

/* ---- retrieval ------------------------------------------------------- */

static int deny_repo(void *arg, const char *repo, const char *path)
{
	(void)path;
	return strcmp(repo, (const char *)arg) != 0;
}

static void test_retrieve(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	struct ctx_index_opts o2 = { .name = "secret", .threads = 1 };
	char other[PATH_MAX];
	static const char prefix[] =
		"#include \"http.h\"\n"
		"void handle(const char *line)\n{\n\tstruct request req;\n\tif (parse_http_request(line, &req) != 0)\n";
	(void)state;

	new_root();
	make_repo();
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	/* A second repository that the caller's scope denies. */
	wfile("secret/src/http2.c", "int parse_http_request(const char *l, void *o) { return 9; }\n");
	snprintf(other, sizeof other, "%s/secret", root);
	{
		struct ctx_index_stats s;
		TH_OK(ctx_index_repo(f.c, other, &o2, &s, NULL));
	}
	memset(&q, 0, sizeof q);
	q.repo = "repo";
	q.path = "src/server.c";
	q.prefix = prefix;
	q.prefix_len = strlen(prefix);
	q.suffix = "\t\treturn;\n}\n";
	q.suffix_len = strlen(q.suffix);
	q.top_k = 8;
	ctx_result_init(&r);
	{
		struct err e;
		err_clear(&e);
		if (ctx_retrieve(f.c, &q, &r, &e) != ST_OK)
			fail_msg("retrieve: %s", e.msg);
	}
	assert_true(r.n >= 1);
	assert_string_equal(r.hits[0].path, "src/http.c");	/* the definition first */
	assert_true(r.hits[0].sources & CTX_SRC_SYMBOL);
	assert_true(has_hit(&r, "http2.c", NULL) || has_hit(&r, "src/http2.c", NULL));
	for (size_t i = 0; i < r.n; i++) {
		assert_false(strcmp(r.hits[i].repo, "repo") == 0 &&
			     strcmp(r.hits[i].path, "src/server.c") == 0);
		for (size_t j = 0; j < i; j++)
			assert_false(r.hits[i].chunk_id == r.hits[j].chunk_id);
		if (i)
			assert_true(r.hits[i].score <= r.hits[i - 1].score);
	}
	assert_true(has_hit(&r, "docs/adr/0001-http.md", NULL));	/* linked doc */
	ctx_result_release(&r);

	/* Scope: nothing from a denied repository. */
	q.allow = deny_repo;
	q.allow_arg = (void *)"secret";
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	assert_true(r.n >= 1);
	for (size_t i = 0; i < r.n; i++)
		assert_string_not_equal(r.hits[i].repo, "secret");
	ctx_result_release(&r);

	/* The token budget bounds the total. */
	q.token_budget = 40;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	{
		size_t tot = 0;
		for (size_t i = 0; i < r.n; i++)
			tot += (strlen(r.hits[i].text) + 3) / 4;
		assert_true(tot <= 40);
	}
	ctx_result_release(&r);

	/* Editing the file that defines it: never returned. */
	q.path = "src/http.c";
	q.token_budget = 0;
	q.allow = NULL;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	assert_false(has_hit(&r, "src/http.c", NULL));
	ctx_result_release(&r);

	/* A new file, not indexed: what its buffer imports is resolved. */
	{
		static const char py[] = "from lib.util import load_config\n\ndef run(path):\n    return ";
		struct ctx_query q2;
		memset(&q2, 0, sizeof q2);
		q2.repo = "repo";
		q2.path = "app/new_tool.py";
		q2.prefix = py;
		q2.prefix_len = strlen(py);
		q2.sources = CTX_SRC_SYMBOL;
		ctx_result_init(&r);
		TH_OK(ctx_retrieve(f.c, &q2, &r, NULL));
		assert_true(has_hit(&r, "lib/util.py", "load_config"));
		ctx_result_release(&r);
	}

	/* JSON output has the fields the CLI promises. */
	q.path = "src/server.c";
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	{
		struct buf b;
		buf_init(&b, 0);
		TH_OK(ctx_result_json(&r, &b));
		assert_non_null(strstr(buf_cstr(&b), "\"start_line\""));
		assert_non_null(strstr(buf_cstr(&b), "\"score\""));
		buf_release(&b);
	}
	ctx_result_release(&r);
	fixture_close(&f);
}

/* ---- ranking ----------------------------------------------------------- */

/*
 * A query in repo at the cursor of an editor buffer for path: the prefix
 * is buf up to mask, the suffix buf from resume on (both must be in buf).
 */
static void cursor_query(struct ctx_query *q, const char *path, const char *buf,
			 const char *mask, const char *resume, int top_k)
{
	memset(q, 0, sizeof *q);
	q->repo = "repo";
	q->path = path;
	q->prefix = buf;
	q->prefix_len = (size_t)(strstr(buf, mask) - buf);
	q->suffix = strstr(buf, resume);
	q->suffix_len = strlen(q->suffix);
	q->top_k = top_k;
}

/*
 * A fixture where the right definition must come first: the masked line
 * calls a function of another module. In the first case the buffer
 * imports it and has not used it yet; in the second it is called a few
 * lines above the cursor while a decoy elsewhere shares more words with
 * the lines at the cursor.
 */
static void test_ranking(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	static const char caller[] =
		"from pkg.pages import render_page, page_title\n"
		"from pkg.store import load_rows\n"
		"\n"
		"def show(request, rows_wanted):\n"
		"    rows = load_rows(request.table, rows_wanted)\n"
		"    title = page_title(rows)\n"
		"    # MASK\n"
		"    return title\n";
	(void)state;

	new_root();
	wfile("repo/pkg/__init__.py", "");
	wfile("repo/pkg/pages.py",
	      "def render_page(title, rows):\n    return '<h1>' + title + '</h1>' + ''.join(rows)\n\n"
	      "def page_title(rows):\n    return 'rows: %d' % len(rows)\n");
	wfile("repo/pkg/store.py",
	      "def load_rows(table, limit):\n    return table[:limit]\n\n"
	      "def count_rows(table):\n    return len(table)\n");
	wfile("repo/pkg/decoy.py",
	      "def show_request_rows_title(request, rows, title, rows_wanted):\n"
	      "    rows = request.rows_wanted(rows, title)\n    return title, rows, request\n");
	wfile("repo/app/view.py", caller);
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);

	cursor_query(&q, "app/view.py", caller, "    # MASK", "    return title", 5);
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	assert_true(r.n >= 1);
	assert_string_equal(r.hits[0].path, "pkg/pages.py");
	assert_string_equal(r.hits[0].name, "render_page");
	for (size_t i = 0; i < r.n; i++)
		assert_string_not_equal(r.hits[i].path, "app/view.py");
	ctx_result_release(&r);

	/* Called just above the cursor (and imported): first, ahead of
	 * the decoy that matches the words at the cursor. */
	{
		static const char c2[] =
			"import pkg.store\n"
			"\n"
			"def summary(request, rows_wanted, title):\n"
			"    n = count_rows(request.table)\n"
			"    rows = request.rows_wanted(n, title)\n";
		q.path = "app/summary.py";
		q.prefix = c2;
		q.prefix_len = strlen(c2);
		q.suffix = "    return rows\n";
		q.suffix_len = strlen(q.suffix);
		ctx_result_init(&r);
		TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
		assert_true(r.n >= 2);
		assert_string_equal(r.hits[0].path, "pkg/store.py");
		assert_string_equal(r.hits[0].name, "count_rows");
		ctx_result_release(&r);
	}

	/* Compaction (FTS optimize, VACUUM when sparse) keeps every answer. */
	{
		struct ctx_result r2;
		TH_OK(ctx__store_compact(f.c, NULL));
		ctx_result_init(&r2);
		TH_OK(ctx_search(f.c, "count rows", 5, NULL, NULL, &r2, NULL));
		assert_true(has_hit(&r2, "pkg/store.py", "count_rows"));
		ctx_result_release(&r2);
	}

	/* Every statement on the query path uses an index. */
	{
		char bad[512];
		TH_OK(ctx__store_plans_check(f.c, bad, sizeof bad, NULL));
		assert_string_equal(bad, "");
	}
	fixture_close(&f);
}

static int hit_rank_of(const struct ctx_result *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->hits[i].name, name) == 0)
			return (int)i + 1;
	return 0;
}

/* Runs q and gives the ranks of the hits named a and b (0: absent). */
static void ranks_of(struct ctx *c, const struct ctx_query *q, const char *a, int *ra,
		     const char *b, int *rb)
{
	struct ctx_result r;

	ctx_result_init(&r);
	TH_OK(ctx_retrieve(c, q, &r, NULL));
	*ra = hit_rank_of(&r, a);
	*rb = hit_rank_of(&r, b);
	ctx_result_release(&r);
}

/*
 * A signal that must decide: all four ranks present, a above b without
 * the evidence (a0, b0), b above a with it (a1, b1).
 */
static void expect_flip(const char *a, const char *b, int a0, int b0, int a1, int b1)
{
	assert_true(a0 > 0 && b0 > 0 && a1 > 0 && b1 > 0);
	if (a0 > b0)
		fail_msg("without the evidence %s at %d below %s at %d", a, a0, b, b0);
	if (b1 > a1)
		fail_msg("with it %s at %d below %s at %d", b, b1, a, a1);
}

/* Ranks of a decoy pair before and after a signal is switched on. */
struct flip {
	const char *a, *b;	/* a must win without the signal, b with it */
	int a0, b0;		/* ranks without */
};

/* Records where a and b rank now, before the signal is switched on. */
static void flip_before(struct flip *fl, struct ctx *c, const struct ctx_query *q,
			const char *a, const char *b)
{
	fl->a = a;
	fl->b = b;
	ranks_of(c, q, a, &fl->a0, b, &fl->b0);
}

/*
 * Ranks the pair again with the signal on, puts the tuning back to saved
 * (before any assertion can end the test) and checks that they swapped.
 */
static void flip_after(const struct flip *fl, struct ctx *c, const struct ctx_query *q,
		       const struct ctx__tune *saved)
{
	int a1, b1;
	ranks_of(c, q, fl->a, &a1, fl->b, &b1);
	ctx__tune = *saved;
	expect_flip(fl->a, fl->b, fl->a0, fl->b0, a1, b1);
}

/*
 * Siblings: a buffer that calls buf_init and buf_append is about to call
 * the rest of the buf_ interface (buf_release, defined in a file of its
 * own), not list_release, which matches nothing of the buffer either.
 */
static void test_siblings(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	int with, without;
	static const char caller[] =
		"int run(const char *s)\n"
		"{\n"
		"\tstruct buf b;\n"
		"\n"
		"\tbuf_init(&b);\n"
		"\tbuf_append(&b, s);\n"
		"\tprint_line(s);\n"
		"\t/* MASK */\n"
		"\treturn 0;\n"
		"}\n";
	(void)state;

	new_root();
	wfile("repo/lib/buf.c",
	      "void buf_init(struct buf *b)\n{\n\tb->n = 0;\n}\n\n"
	      "void buf_append(struct buf *b, const char *s)\n{\n\tb->n += strlen(s);\n}\n");
	wfile("repo/lib/buf_free.c",
	      "void buf_release(struct buf *b)\n{\n\tfree(b->data);\n\tb->data = 0;\n}\n");
	wfile("repo/lib/list.c",
	      "void list_release(struct list *l)\n{\n\tfree(l->data);\n\tl->data = 0;\n}\n\n"
	      "void list_init(struct list *l)\n{\n\tl->data = 0;\n}\n");
	wfile("repo/lib/print.c",
	      "void print_line(const char *s)\n{\n\tputs(s);\n}\n");
	wfile("repo/app/main.c", caller);
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);

	cursor_query(&q, "app/main.c", caller, "\t/* MASK", "\treturn 0;", 10);
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	with = hit_rank_of(&r, "buf_release");
	/* Right after the three names of the buffer, ahead of list_init
	 * (which shares "init" with the lines at the cursor). */
	assert_int_equal(with, 4);
	assert_true(hit_rank_of(&r, "list_init") > with);
	if (hit_rank_of(&r, "list_release"))
		assert_true(hit_rank_of(&r, "list_release") > with);
	ctx_result_release(&r);

	/* Without the sibling list (and the signature factor: it takes
	 * the struct buf declared above the cursor), only its text speaks
	 * for it. */
	ctx__tune.w_sibling = 0;
	ctx__tune.w_sig = 0;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	without = hit_rank_of(&r, "buf_release");
	if (without && without < hit_rank_of(&r, "list_init"))
		fail_msg("buf_release: rank %d without siblings, list_init %d", without,
			 hit_rank_of(&r, "list_init"));
	ctx_result_release(&r);
	ctx__tune = saved;

	/* A function added to a neighbour file after a query (which cached
	 * that file's chunks and call counts) is found once it is indexed;
	 * with these weights only the neighbour list can find it. */
	ctx__tune.w_sibling = ctx__tune.w_bm25 = ctx__tune.w_hop = 0;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	assert_int_equal(hit_rank_of(&r, "buf_reset_all"), 0);
	assert_true(hit_rank_of(&r, "buf_init") > 0);
	ctx_result_release(&r);
	wfile("repo/lib/buf.c",
	      "void buf_init(struct buf *b)\n{\n\tb->n = 0;\n}\n\n"
	      "void buf_append(struct buf *b, const char *s)\n{\n\tb->n += strlen(s);\n}\n\n"
	      "void buf_reset_all(struct buf *b)\n{\n\tb->n = 0;\n}\n");
	index_ok(&f, NULL);
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	ctx__tune = saved;
	with = hit_rank_of(&r, "buf_reset_all");
	assert_true(with > 0);
	assert_true(r.hits[with - 1].score > 0);	/* not a weightless list's */
	ctx_result_release(&r);
	fixture_close(&f);
}

/*
 * An import spread over lines (JS braces) is read whole: the module it
 * names decides which of two functions of the same name is meant.
 */
static void test_import_multiline(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	static const char caller[] =
		"import {\n"
		"  countRows,\n"
		"} from '../lib/store.js';\n"
		"\n"
		"export function show(table) {\n"
		"  const rows = table.rows;\n";
	(void)state;

	new_root();
	wfile("repo/a/decoy.js",
	      "export function countRows(t) {\n  return t.size;\n}\n");
	wfile("repo/lib/store.js",
	      "export function countRows(t) {\n  return t.length;\n}\n\n"
	      "export function loadRows(t) {\n  return t.rows;\n}\n");
	wfile("repo/app/view.js", caller);
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	memset(&q, 0, sizeof q);
	q.repo = "repo";
	q.path = "app/view.js";
	q.prefix = caller;
	q.prefix_len = strlen(caller);
	q.suffix = "  return n;\n}\n";
	q.suffix_len = strlen(q.suffix);
	q.top_k = 5;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	{
		int mine = 0, decoy = 0;
		for (size_t i = 0; i < r.n; i++) {
			if (strcmp(r.hits[i].name, "countRows") != 0)
				continue;
			if (!strcmp(r.hits[i].path, "lib/store.js") && !mine)
				mine = (int)i + 1;
			if (!strcmp(r.hits[i].path, "a/decoy.js") && !decoy)
				decoy = (int)i + 1;
		}
		assert_true(mine > 0);
		if (decoy && decoy < mine)
			fail_msg("countRows: the decoy's at %d, the imported one at %d", decoy, mine);
	}
	ctx_result_release(&r);
	fixture_close(&f);
}

/* The import statements of a buffer's head, other lines blank. */
static void test_import_text(void **state)
{
	static const struct { const char *text, *want; size_t count; } cases[] = {
		{ "int x;\nint y;\n", "", 0 },
		{ "#include \"a.h\"\n#include <b.h>\n\nint main(void)\n",
		  "#include \"a.h\"\n#include <b.h>\n", 2 },
		{ "import {\n  a,\n  b,\n} from './m.js';\n\nfoo();\n",
		  "import {\n  a,\n  b,\n} from './m.js';\n", 1 },
		{ "import (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n",
		  "import (\n\t\"fmt\"\n\t\"os\"\n)\n", 1 },
		/* Lazy imports come unindented; the lines between are blank. */
		{ "\"\"\"doc\"\"\"\nimport os\nx = 1\ny = 2\n\ndef f():\n    from a import b\n    return b\n",
		  "\nimport os\n\n\n\n\nfrom a import b\n", 2 },
		{ "from a import (b,\n    c)\nx = (1)\n", "from a import (b,\n    c)\n", 1 },
		{ "import a, \\\n    b\nx = 1\n", "import a, \\\n    b\n", 1 },
		/* A bracket inside a string does not hold the statement open. */
		{ "import \"a(b\"\nx := 1\n", "import \"a(b\"\n", 1 },
		{ "const fs = require('fs');", "const fs = require('fs');\n", 1 },
		/* Never past the text: an unclosed list ends with it. */
		{ "import {\n  a,", "import {\n  a,\n", 1 },
	};
	struct buf b;
	(void)state;

	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t count = 99;
		TH_OK(ctx__import_text(cases[i].text, strlen(cases[i].text), &b, &count));
		if (b.len != strlen(cases[i].want) || memcmp(b.data, cases[i].want, b.len) != 0)
			fail_msg("case %zu: got \"%.*s\" (%zu bytes), want \"%s\"", i, (int)b.len,
				 b.data ? (const char *)b.data : "", b.len, cases[i].want);
		assert_int_equal(count, cases[i].count);
	}
	buf_release(&b);
}

/*
 * Nearness: of a module's functions, the one defined right after those
 * the buffer calls (close_store after open_store and read_store) ranks
 * above one defined far from them (store_stats), which without nearness
 * comes first.
 */
static void test_nearness(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	int near, far;
	static const char caller[] =
		"int dump(const char *path)\n"
		"{\n"
		"\tstruct store s;\n"
		"\n"
		"\topen_store(&s, path);\n"
		"\tread_store(&s);\n"
		"\t/* MASK */\n"
		"\treturn 0;\n"
		"}\n";
	(void)state;

	new_root();
	wfile("repo/lib/store.c",
	      "int store_stats(struct store *s)\n{\n\treturn s->opens + s->reads;\n}\n\n"
	      "int print_banner(void)\n{\n\treturn puts(\"banner\");\n}\n\n"
	      "int parse_flags(int argc)\n{\n\treturn argc > 1;\n}\n\n"
	      "int open_store(struct store *s, const char *path)\n{\n\ts->fd = open(path, 0);\n\treturn s->fd;\n}\n\n"
	      "int read_store(struct store *s)\n{\n\treturn read(s->fd, s->buf, 64);\n}\n\n"
	      "int close_store(struct store *s)\n{\n\treturn close(s->fd);\n}\n");
	wfile("repo/app/dump.c", caller);
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/dump.c", caller, "\t/* MASK", "\treturn 0;", 10);

	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	near = hit_rank_of(&r, "close_store");
	far = hit_rank_of(&r, "store_stats");
	ctx_result_release(&r);
	assert_true(near > 0);
	if (far && far < near)
		fail_msg("close_store at %d, store_stats at %d", near, far);

	/* Without nearness, the other way round. */
	ctx__tune.adj = 0;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	near = hit_rank_of(&r, "close_store");
	far = hit_rank_of(&r, "store_stats");
	ctx_result_release(&r);
	ctx__tune = saved;
	assert_true(far > 0);
	if (near && near < far)
		fail_msg("without nearness: close_store at %d, store_stats at %d", near, far);
	fixture_close(&f);
}

/*
 * How often other files call a function counts as a prior, but the
 * stored copy of the file being edited is not another file: it may hold
 * the very call being typed. Here it calls close_store three times
 * (the buffer, rewritten, none), another file calls flush_store once:
 * with the prior on, flush_store must rank first (counting the stored
 * copy, close_store would, 3 calls to 1).
 */
static void test_self_calls(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	int flush, close, flush0, close0;
	static const char buffer[] =
		"int dump(const char *path)\n"
		"{\n"
		"\tstruct store s;\n"
		"\n"
		"\topen_store(&s, path);\n"
		"\tread_store(&s);\n"
		"\t/* MASK */\n"
		"\treturn 0;\n"
		"}\n";
	(void)state;

	new_root();
	wfile("repo/lib/store.c",
	      "int open_store(struct store *s, const char *path)\n{\n\ts->fd = open(path, 0);\n\treturn s->fd;\n}\n\n"
	      "int read_store(struct store *s)\n{\n\treturn read(s->fd, s->buf, 64);\n}\n\n"
	      "int close_store(struct store *s)\n{\n\treturn close(s->fd);\n}\n\n"
	      "int flush_store(struct store *s)\n{\n\treturn fsync(s->fd);\n}\n");
	wfile("repo/app/sync.c", "int sync_all(struct store *s)\n{\n\treturn flush_store(s);\n}\n");
	wfile("repo/app/dump.c",
	      "int dump(const char *path)\n{\n\tstruct store s;\n\n\topen_store(&s, path);\n"
	      "\tread_store(&s);\n\tclose_store(&s);\n\treturn 0;\n}\n\n"
	      "int again(struct store *s)\n{\n\tclose_store(s);\n\treturn close_store(s);\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/dump.c", buffer, "\t/* MASK", "\treturn 0;", 10);
	/* The neighbour list alone orders the two, by the prior (off by
	 * default): no nearness, no siblings, no graph hop (sync_all
	 * calls flush_store). */
	ctx__tune.adj = 0;
	ctx__tune.w_sibling = 0;
	ctx__tune.w_hop = 0;
	/* First without the prior: the file's chunks are cached without
	 * counts, and both are candidates all the same. */
	ctx__tune.pop = 0;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	flush0 = hit_rank_of(&r, "flush_store");
	close0 = hit_rank_of(&r, "close_store");
	ctx_result_release(&r);
	/* With it: the cached entry is read again, with the counts. Tied
	 * otherwise, close_store (defined first) would come first. */
	ctx__tune.pop = 4;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	flush = hit_rank_of(&r, "flush_store");
	close = hit_rank_of(&r, "close_store");
	ctx_result_release(&r);
	ctx__tune = saved;
	assert_true(flush0 > 0);
	assert_true(close0 > 0);
	assert_true(flush > 0);
	if (close && close < flush)
		fail_msg("close_store at %d above flush_store at %d", close, flush);
	fixture_close(&f);
}

/*
 * Echo ranks the buffer's calls by how much the lines around each look
 * like the lines around the cursor: lock_drop follows count_up after
 * lock_take, as the cursor does, though count_up and lock_take are
 * nearer. Buffer text only; a cursor inside a line leaves that line out.
 */
static void test_echo_calls(void **state)
{
	static const char buffer[] =
		"int f(void)\n"
		"{\n"
		"\tlock_take(&m);\n"
		"\tcount_up(&n);\n"
		"\tlock_drop(&m);\n"
		"\tlog_line(\"x\");\n"
		"\tlock_take(&m);\n"
		"\tcount_up(&n);\n"
		"\t/* MASK */\n"
		"\treturn 0;\n"
		"}\n";
	const char *mask = strstr(buffer, "\t/* MASK"), *resume = strstr(buffer, "\treturn 0;");
	struct vec called;
	struct arena a;
	(void)state;

	vec_init(&called, sizeof(struct ctx__called));
	arena_init(&a, 0, 0);
	TH_OK(ctx__echo_calls(buffer, (size_t)(mask - buffer), resume, strlen(resume), &called, &a));
	assert_int_equal(called.len, 4);	/* lock_take count_up lock_drop log_line */
	assert_string_equal(VEC_AT(&called, struct ctx__called, 0).name, "lock_drop");
	assert_true(VEC_AT(&called, struct ctx__called, 0).w > VEC_AT(&called, struct ctx__called, 1).w);
	/* Nothing at all, and a cursor in the middle of "\tlock_": no calls
	 * from the cursor's line, the others as before. */
	called.len = 0;
	TH_OK(ctx__echo_calls("", 0, "", 0, &called, &a));
	assert_int_equal(called.len, 0);
	TH_OK(ctx__echo_calls(buffer, (size_t)(mask - buffer) + 3, mask + 3,
			      strlen(mask + 3), &called, &a));
	assert_int_equal(called.len, 4);
	assert_string_equal(VEC_AT(&called, struct ctx__called, 0).name, "lock_drop");
	vec_release(&called);
	arena_release(&a);
}

/* Every list but the given ones off (weights 0), no reweighing by names. */
static void tune_only(double echo, double neighbour, double nfresh)
{
	ctx__tune.w_symbol = ctx__tune.w_bm25 = ctx__tune.w_hop = ctx__tune.w_docs = 0;
	ctx__tune.w_unused_list = ctx__tune.w_sibling = ctx__tune.name_terms = 0;
	ctx__tune.w_fresh = ctx__tune.n_name = ctx__tune.adj = ctx__tune.pop = ctx__tune.encl = 0;
	ctx__tune.w_sig = ctx__tune.n_sig = ctx__tune.w_siglist = ctx__tune.n_type = 0;
	ctx__tune.w_decl = ctx__tune.n_class = ctx__tune.d_adj = 0;
	ctx__tune.w_echo = echo;
	ctx__tune.w_neighbour = neighbour;
	ctx__tune.n_fresh = nfresh;
}

static double hit_score_of(const struct ctx_result *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->hits[i].name, name) == 0)
			return r->hits[i].score;
	return 0;
}

/*
 * The echo list reads the buffer, never the stored copy of the file
 * being edited: that copy calls close_store after read_store where the
 * cursor is (the very line being typed, in the bench), the buffer calls
 * flush_store after read_store elsewhere. Only flush_store may score.
 */
static void test_echo_ignores_stored_copy(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	static const char buffer[] =
		"int dump(const char *path)\n{\n\tstruct store s;\n\n\topen_store(&s, path);\n"
		"\tread_store(&s);\n\tflush_store(&s);\n\treturn 0;\n}\n\n"
		"int again(const char *path)\n{\n\tstruct store s;\n\n\topen_store(&s, path);\n"
		"\tread_store(&s);\n\t/* MASK */\n\treturn 0;\n}\n";
	(void)state;

	new_root();
	wfile("repo/lib/store.c",
	      "int open_store(struct store *s, const char *path)\n{\n\ts->fd = open(path, 0);\n\treturn s->fd;\n}\n\n"
	      "int read_store(struct store *s)\n{\n\treturn read(s->fd, s->buf, 64);\n}\n\n"
	      "int close_store(struct store *s)\n{\n\treturn close(s->fd);\n}\n\n"
	      "int flush_store(struct store *s)\n{\n\treturn fsync(s->fd);\n}\n");
	wfile("repo/app/dump.c",
	      "int dump(const char *path)\n{\n\tstruct store s;\n\n\topen_store(&s, path);\n"
	      "\tread_store(&s);\n\tclose_store(&s);\n\treturn 0;\n}\n\n"
	      "int again(const char *path)\n{\n\tstruct store s;\n\n\topen_store(&s, path);\n"
	      "\tread_store(&s);\n\tclose_store(&s);\n\treturn 0;\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/dump.c", buffer, "\t/* MASK", "\treturn 0;\n}\n", 10);
	q.suffix = strstr(strstr(buffer, "/* MASK"), "\treturn 0;");
	q.suffix_len = strlen(q.suffix);
	tune_only(1.0, 0, 0);
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	ctx__tune = saved;
	assert_int_equal(hit_rank_of(&r, "flush_store"), 1);
	assert_true(hit_score_of(&r, "flush_store") > 0);
	if (hit_score_of(&r, "close_store") != 0)
		fail_msg("close_store scored %g: read from the stored copy",
			 hit_score_of(&r, "close_store"));
	ctx_result_release(&r);
	fixture_close(&f);
}

/*
 * Names the suffix introduces weigh a neighbour file's chunks by their
 * names: `spec` below the cursor makes find_spec likelier than
 * find_path, which the stored copy of the file being edited calls there
 * (and which, tied otherwise, comes first: defined first). Both bodies
 * hold the same query terms, so only the evidence of names orders them.
 */
static void test_fresh_names(void **state)
{
	struct fixture f;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	struct flip fl;
	static const char buffer[] =
		"int load(const char *name)\n{\n\tfind_init();\n\t/* MASK */\n"
		"\treturn spec_loader(spec);\n}\n";
	(void)state;

	new_root();
	wfile("repo/lib/find.c",
	      "void find_init(void)\n{\n\tcache_reset();\n}\n\n"
	      "int find_path(const char *name)\n{\n\t/* a spec loader, by name */\n\treturn lookup(name, 1);\n}\n\n"
	      "int find_spec(const char *name)\n{\n\t/* a spec loader, by name */\n\treturn lookup(name, 2);\n}\n");
	wfile("repo/app/load.c",
	      "int load(const char *name)\n{\n\tfind_init();\n\tint spec = find_path(name);\n"
	      "\treturn spec_loader(spec);\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/load.c", buffer, "\t/* MASK", "\treturn spec_loader", 10);
	tune_only(0, 1.5, 0);
	flip_before(&fl, f.c, &q, "find_path", "find_spec");
	tune_only(0, 1.5, 1.0);
	flip_after(&fl, f.c, &q, &saved);
	fixture_close(&f);
}

/*
 * The name of the function the cursor is in counts among those names:
 * a wrapper is named like what it calls (index_size returns
 * ngram_size). The definition spans two lines and opens its body on a
 * line of its own; the stored copy of the file calls ngram_open there.
 */
static void test_enclosing_name(void **state)
{
	struct fixture f;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	struct flip fl;
	static const char buffer[] =
		"#include \"ngram.h\"\n\n"
		"static long index_size(const struct srv *s,\n\t\t       int flags)\n{\n"
		"\tngram_check(s->ngram);\n\t/* MASK */\n}\n";
	(void)state;

	new_root();
	wfile("repo/lib/ngram.c",
	      "void ngram_check(const struct ngram *g)\n{\n\tassert_ok(g);\n}\n\n"
	      "long ngram_open(const struct ngram *g)\n{\n\treturn g ? g->n : 0;\n}\n\n"
	      "long ngram_size(const struct ngram *g)\n{\n\treturn g ? g->n : 0;\n}\n");
	wfile("repo/app/srv.c",
	      "#include \"ngram.h\"\n\n"
	      "static long index_size(const struct srv *s,\n\t\t       int flags)\n{\n"
	      "\tngram_check(s->ngram);\n\treturn ngram_open(s->ngram);\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/srv.c", buffer, "\t/* MASK", "}\n", 10);
	q.suffix = strstr(buffer, "/* MASK */\n") + strlen("/* MASK */\n");
	q.suffix_len = strlen(q.suffix);
	tune_only(0, 1.5, 1.0);
	ctx__tune.encl = 0;
	flip_before(&fl, f.c, &q, "ngram_open", "ngram_size");
	ctx__tune.encl = 1.0;
	flip_after(&fl, f.c, &q, &saved);
	fixture_close(&f);
}

/*
 * Signature evidence from the buffer: the identifiers of the lines at
 * the cursor (calls left out) and the type words of their declarations
 * in C, a Python type hint, a constructor after `= new`.
 */
static void test_sig_evidence(void **state)
{
	static const struct {
		const char *pre, *suf;
		const char *want[4];	/* present */
		const char *absent[3];
	} cases[] = {
		{ "long f(const struct vocab *v)\n{\n\tint other;\n\n", "\treturn v->n;\n}\n",
		  { "vocab", NULL }, { "v", "int", NULL } },
		{ "void f(void)\n{\n\tstruct aud_stats as;\n", "\tuse_it(as.x);\n}\n",
		  { "aud_stats", NULL }, { "use_it", "as", NULL } },
		{ "def g(self, reader: StreamReader):\n    x = 1\n", "    reader.close()\n",
		  { "StreamReader", "reader", NULL }, { "close", NULL } },
		{ "function h() {\n  const rd = new Reader(opts);\n", "  rd.go();\n}\n",
		  { "Reader", "rd", "opts", NULL }, { "go", "const", NULL } },
	};
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct hmap out;
		hmap_init(&out);
		TH_OK(ctx__sig_evidence(cases[i].pre, strlen(cases[i].pre), cases[i].suf,
					strlen(cases[i].suf), 3, 1.0, ctx__is_stop, &out, NULL));
		for (size_t k = 0; cases[i].want[k]; k++)
			if (hmap_get(&out, cases[i].want[k], strlen(cases[i].want[k]), NULL) != ST_OK)
				fail_msg("case %zu: %s missing", i, cases[i].want[k]);
		for (size_t k = 0; cases[i].absent[k]; k++)
			if (hmap_get(&out, cases[i].absent[k], strlen(cases[i].absent[k]), NULL) == ST_OK)
				fail_msg("case %zu: %s present", i, cases[i].absent[k]);
		hmap_release(&out);
	}
	/* Edges: nothing at all, no newline, one long line of names. */
	{
		struct hmap out;
		size_t n = 200000;
		char *big = mem_alloc(n + 1);
		assert_non_null(big);
		for (size_t i = 0; i < n; i++)
			big[i] = i % 7 == 6 ? ' ' : (char)('a' + (i * 31 % 26));
		big[n] = 0;
		hmap_init(&out);
		TH_OK(ctx__sig_evidence("", 0, "", 0, 3, 1.0, ctx__is_stop, &out, NULL));
		assert_int_equal(out.len, 0);
		TH_OK(ctx__sig_evidence("struct foo x", 12, "x", 1, 3, 1.0, ctx__is_stop, &out, NULL));
		assert_true(hmap_get(&out, "foo", 3, NULL) == ST_OK);
		TH_OK(ctx__sig_evidence(big, n, big, n, 3, 1.0, ctx__is_stop, &out, NULL));
		assert_true(out.len <= 64 * 10 + 2);
		big[30000] = '\n';	/* a declaration line within reach */
		TH_OK(ctx__sig_evidence(big, n, big + 30001, n - 30001, 3, 1.0, ctx__is_stop,
					&out, NULL));
		assert_true(out.len <= 2 * 64 * 10 + 2);
		hmap_release(&out);
		mem_free(big);
	}
}

/*
 * The signature factor reads the buffer, never the stored copy of the
 * file being edited: that copy declares `struct disk_stats q` and calls
 * stats_read(&q) where the cursor is; the buffer declares `struct
 * net_stats q`. With the factor stats_take (which takes a net_stats)
 * must come first; without it stats_read does (the lower chunk id wins
 * the tie), so the test sees the signal.
 */
static void test_sig_ignores_stored_copy(void **state)
{
	struct fixture f;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	struct flip fl;
	static const char buffer[] =
		"#include \"stats.h\"\n\nlong run(void)\n{\n\tstruct net_stats q;\n"
		"\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n"
		"\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n"
		"\tq.n = 0;\n\t/* totals */\n\t/* MASK */\n\treturn q.n;\n}\n";
	(void)state;

	new_root();
	wfile("repo/lib/stats.c",
	      "long stats_read(struct disk_stats *d)\n{\n\t/* totals */\n\treturn d->n;\n}\n\n"
	      "long stats_take(struct net_stats *t)\n{\n\t/* totals */\n\treturn t->n;\n}\n");
	wfile("repo/app/run.c",
	      "#include \"stats.h\"\n\nlong run(void)\n{\n\tstruct disk_stats q;\n"
	      "\tq.n = 0;\n\t/* totals */\n\tstats_read(&q);\n\treturn q.n;\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/run.c", buffer, "\t/* MASK", "\treturn q.n", 10);
	tune_only(0, 1.5, 0);
	flip_before(&fl, f.c, &q, "stats_read", "stats_take");
	ctx__tune.w_sig = 0.5;
	ctx__tune.sig_near = 3;
	ctx__tune.sig_type = 1.0;
	flip_after(&fl, f.c, &q, &saved);
	fixture_close(&f);
}

/*
 * The declared types' parts among the names at the cursor come from
 * the buffer too: the stored copy of the file being edited declares
 * `struct disk_stats q` and calls disk_stats_get there; the buffer
 * declares `struct net_stats q`. With the weight net_stats_get must
 * come first, without it disk_stats_get does (the lower chunk id).
 */
static void test_type_names_ignore_stored_copy(void **state)
{
	struct fixture f;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	struct flip fl;
	static const char buffer[] =
		"#include \"stats.h\"\n\nlong run(void)\n{\n\tstruct net_stats q;\n"
		"\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n"
		"\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n\tq.n = 0;\n"
		"\tq.n = 0;\n\t/* totals */\n\t/* MASK */\n\treturn q.n;\n}\n";
	(void)state;

	new_root();
	wfile("repo/lib/stats.c",
	      "long disk_stats_get(long *d)\n{\n\t/* totals */\n\treturn *d;\n}\n\n"
	      "long net_stats_get(long *t)\n{\n\t/* totals */\n\treturn *t;\n}\n");
	wfile("repo/app/run.c",
	      "#include \"stats.h\"\n\nlong run(void)\n{\n\tstruct disk_stats q;\n"
	      "\tq.n = 0;\n\t/* totals */\n\tdisk_stats_get(&q.n);\n\treturn q.n;\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/run.c", buffer, "\t/* MASK", "\treturn q.n", 10);
	tune_only(0, 1.5, 1.0);	/* n_type 0 */
	ctx__tune.sig_near = 3;
	ctx__tune.sig_type = 1.0;
	flip_before(&fl, f.c, &q, "disk_stats_get", "net_stats_get");
	ctx__tune.n_type = 2.0;
	flip_after(&fl, f.c, &q, &saved);
	fixture_close(&f);
}

/*
 * What the buffer's headers declare is followed to its definition: the
 * buffer includes store.h (whose functions are defined in store_impl.c,
 * a file it neither includes nor names anything of) and util.h (whose
 * util.c the same stem makes a neighbour file). With the declarations
 * list (and the neighbour list) store_flush must come before
 * util_flush_pending, the decoy that shares more words with the lines
 * at the cursor; without it, the decoy comes first. The stored copy of the file being edited
 * defines run_helper, which store.h declares too: it never comes back,
 * nor does anything of that file.
 */
static void test_decl_follows_header(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	int flush0, decoy0, flush1, decoy1;
	static const char buffer[] =
		"#include \"store.h\"\n#include \"util.h\"\n\n"
		"long run(struct store *st)\n{\n\tint pending = 0;\n\n"
		"\tst->fd = 0;\n\t/* flush the pending writes */\n\t/* MASK */\n"
		"\treturn pending;\n}\n";
	(void)state;

	new_root();
	wfile("repo/lib/store.h",
	      "struct store { int fd; };\nint store_open(struct store *s);\n"
	      "int store_flush(struct store *s);\nint store_stat(struct store *s);\n"
	      "int store_unlink(const char *path);\nint store_rename(const char *a, const char *b);\n"
	      "void run_helper(void);\n");
	wfile("repo/lib/store_impl.c",
	      "int store_open(struct store *s)\n{\n\treturn s->fd = 3;\n}\n\n"
	      "int store_unlink(const char *path)\n{\n\treturn unlink(path);\n}\n\n"
	      "int store_rename(const char *a, const char *b)\n{\n\treturn rename(a, b);\n}\n\n"
	      "int store_stat(struct store *s)\n{\n\treturn s->fd;\n}\n\n"
	      "int store_flush(struct store *s)\n{\n\treturn fsync(s->fd);\n}\n");
	wfile("repo/lib/util.h", "#define UTIL_MAX 64\n");
	wfile("repo/lib/util.c",
	      "int util_flush_pending(int fd)\n{\n\t/* flush the pending writes */\n\treturn fd;\n}\n");
	wfile("repo/app/run.c",
	      "#include \"store.h\"\n#include \"util.h\"\n\n"
	      "void run_helper(void)\n{\n}\n\n"
	      "long run(struct store *st)\n{\n\tint pending = 0;\n\n"
	      "\tstore_open(st);\n\t/* flush the pending writes */\n\tstore_flush(st);\n"
	      "\treturn pending;\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/run.c", buffer, "\t/* MASK", "\treturn pending", 10);
	tune_only(0, 1.5, 0);
	ranks_of(f.c, &q, "store_flush", &flush0, "util_flush_pending", &decoy0);
	ctx__tune.w_decl = 2.0;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	ctx__tune = saved;
	flush1 = hit_rank_of(&r, "store_flush");
	decoy1 = hit_rank_of(&r, "util_flush_pending");
	for (size_t i = 0; i < r.n; i++)
		if (!strcmp(r.hits[i].path, "app/run.c"))
			fail_msg("hit %zu (%s) is in the file being edited", i, r.hits[i].name);
	assert_int_equal(hit_rank_of(&r, "run_helper"), 0);
	ctx_result_release(&r);
	assert_true(decoy0 > 0 && flush1 > 0);
	if (flush0 && flush0 < decoy0)
		fail_msg("without the list store_flush at %d above the decoy at %d", flush0, decoy0);
	if (decoy1 && decoy1 < flush1)
		fail_msg("with it store_flush at %d below the decoy at %d", flush1, decoy1);
	fixture_close(&f);
}

/*
 * `from . import events` imports the module events (the parser records
 * an import of the package alone): its functions are the neighbours of
 * a buffer that calls `events.something()`. The buffer also imports
 * helper from .other, whose other function is the decoy. With the
 * names tried as modules, get_running_loop (named like the variable
 * the suffix introduces) must come first; without, the decoy is found
 * and get_running_loop is not above it. Nothing of the file being
 * edited comes back.
 */
static void test_py_from_modules(void **state)
{
	struct fixture f;
	struct ctx_result r;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	int right0, decoy0, right1, decoy1;
	static const char buffer[] =
		"from . import events\nfrom .other import helper\n\n\n"
		"def run(loop):\n    helper(loop)\n    # MASK\n    return running_loop\n";
	(void)state;

	new_root();
	wfile("repo/pkg/events.py",
	      "def set_event_policy(p):\n    return p\n\n\n"
	      "def get_running_loop():\n    return _current\n");
	wfile("repo/pkg/other.py",
	      "def helper(x):\n    return x\n\n\n"
	      "def close_loop(loop):\n    loop.close()\n    return loop\n");
	wfile("repo/pkg/app.py",
	      "from . import events\nfrom .other import helper\n\n\n"
	      "def get_running_loop():\n    return None\n\n\n"
	      "def run(loop):\n    helper(loop)\n    running_loop = events.get_running_loop()\n"
	      "    return running_loop\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "pkg/app.py", buffer, "    # MASK", "    return running_loop", 10);
	tune_only(0, 1.5, 1.0);
	ctx__tune.py_from = 0;
	ranks_of(f.c, &q, "get_running_loop", &right0, "close_loop", &decoy0);
	ctx__tune.py_from = 1;
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	ctx__tune = saved;
	right1 = hit_rank_of(&r, "get_running_loop");
	decoy1 = hit_rank_of(&r, "close_loop");
	for (size_t i = 0; i < r.n; i++)
		if (!strcmp(r.hits[i].path, "pkg/app.py"))
			fail_msg("hit %zu (%s) is in the file being edited", i, r.hits[i].name);
	ctx_result_release(&r);
	assert_true(decoy0 > 0);
	assert_int_equal(right1, 1);
	if (right0 && right0 < decoy0)
		fail_msg("without: get_running_loop at %d above the decoy at %d", right0, decoy0);
	(void)decoy1;

	/* Odd import lines: read within bounds, never an error. */
	{
		static const char *const odd[] = {
			"from", "from ", "from .", "from . import", "from . import ",
			"from ....................... import a, b as, (c,\n d)",
			"from .x.y import (a as b, c", "from x import *", "from  import  a",
			"from . import a \\\n, b",
		};
		char big[3000];
		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = 0;
		memcpy(big, "from .", 6);
		memcpy(big + 1500, " import x", 9);
		for (size_t i = 0; i <= sizeof odd / sizeof *odd; i++) {
			char b[4096];
			snprintf(b, sizeof b, "%s\n\ndef run():\n    # MASK\n    return 1\n",
				 i < sizeof odd / sizeof *odd ? odd[i] : big);
			cursor_query(&q, "pkg/app.py", b, "    # MASK", "    return 1", 10);
			ctx_result_init(&r);
			TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
			ctx_result_release(&r);
		}
	}
	fixture_close(&f);
}

/*
 * A method's class weighs its chunk in the neighbour list: the buffer
 * declares `cs = Charset(...)` near the cursor; Charset.body_encoding_get
 * and Alpha.get_body_encoding have the same name parts and bodies, and
 * Alpha's, defined first, wins the tie without the class's evidence.
 * With it Charset's must come first. The stored copy of the file being
 * edited calls Alpha's where the cursor is and is never read.
 */
static void test_method_class(void **state)
{
	struct fixture f;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	struct flip fl;
	static const char buffer[] =
		"from .alpha import Alpha\nfrom .charset import Charset\n\n\n"
		"def run(name):\n    cs = Charset(name)\n    print(cs)\n    # MASK\n"
		"    return enc\n";
	(void)state;

	new_root();
	{
		/* Classes over 80 lines: their methods are chunks of their own. */
		char pad[4096] = "";
		for (int i = 0; i < 30; i++) {
			size_t l = strlen(pad);
			snprintf(pad + l, sizeof pad - l, "    def m%d(self):\n        return %d\n\n", i, i);
		}
		char text[8192];
		snprintf(text, sizeof text, "class Alpha:\n    def __init__(self, name):\n"
			 "        self.name = name\n\n%s    def get_body_encoding(self):\n"
			 "        return self.name\n", pad);
		wfile("repo/pkg/alpha.py", text);
		snprintf(text, sizeof text, "class Charset:\n    def __init__(self, name):\n"
			 "        self.name = name\n\n%s    def body_encoding_get(self):\n"
			 "        return self.name\n", pad);
		wfile("repo/pkg/charset.py", text);
	}
	wfile("repo/pkg/app.py",
	      "from .alpha import Alpha\nfrom .charset import Charset\n\n\n"
	      "def run(name):\n    a = Alpha(name)\n    print(a)\n    enc = a.get_body_encoding()\n"
	      "    return enc\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "pkg/app.py", buffer, "    # MASK", "    return enc", 10);
	tune_only(0, 1.5, 1.0);
	ctx__tune.n_type = 2.0;
	ctx__tune.sig_near = 3;
	ctx__tune.sig_type = 1.0;
	flip_before(&fl, f.c, &q, "get_body_encoding", "body_encoding_get");
	ctx__tune.n_class = 0.5;
	flip_after(&fl, f.c, &q, &saved);
	fixture_close(&f);
}

/*
 * A header groups related declarations: store.h declares store_beta
 * right after store_open, which the buffer calls, and store_alpha seven
 * declarations above it. Both are defined in a file the buffer names
 * nothing of, with the same words; store_alpha, defined first, wins the
 * tie without the nearness in the header, store_beta with it.
 */
static void test_decl_nearness(void **state)
{
	struct fixture f;
	struct ctx_query q;
	struct ctx__tune saved = ctx__tune;
	struct flip fl;
	static const char buffer[] =
		"#include \"store.h\"\n\nlong run(struct store *st)\n{\n"
		"\tstore_open(st);\n\t/* MASK */\n\treturn 0;\n}\n";
	(void)state;

	new_root();
	wfile("repo/lib/store.h",
	      "struct store { int fd; };\nint store_alpha(struct store *s);\n"
	      "int other_one(int x);\nint other_two(int x);\nint other_three(int x);\n"
	      "int other_four(int x);\nint other_five(int x);\nint other_six(int x);\n"
	      "int store_open(struct store *s);\nint store_beta(struct store *s);\n");
	/* One file, store_alpha first: its chunk id is the lower. */
	wfile("repo/lib/impl.c", "int store_alpha(struct store *s)\n{\n\treturn s->fd;\n}\n\n"
	      "int store_beta(struct store *s)\n{\n\treturn s->fd;\n}\n");
	wfile("repo/lib/other.c", "int other_one(int x)\n{\n\treturn x;\n}\n\n"
	      "int other_two(int x)\n{\n\treturn x;\n}\n\nint other_three(int x)\n{\n\treturn x;\n}\n\n"
	      "int other_four(int x)\n{\n\treturn x;\n}\n\nint other_five(int x)\n{\n\treturn x;\n}\n\n"
	      "int other_six(int x)\n{\n\treturn x;\n}\n");
	wfile("repo/lib/open.c", "int store_open(struct store *s)\n{\n\treturn s->fd = 3;\n}\n");
	wfile("repo/app/run.c",
	      "#include \"store.h\"\n\nlong run(struct store *st)\n{\n"
	      "\tstore_open(st);\n\tstore_alpha(st);\n\treturn 0;\n}\n");
	fixture_open(&f, "1M", "64");
	index_ok(&f, NULL);
	cursor_query(&q, "app/run.c", buffer, "\t/* MASK", "\treturn 0;", 10);
	tune_only(0, 0, 0);
	ctx__tune.w_decl = 2.0;
	ctx__tune.d_depth = 0.5;
	flip_before(&fl, f.c, &q, "store_alpha", "store_beta");
	ctx__tune.d_adj = 0.5;
	flip_after(&fl, f.c, &q, &saved);
	fixture_close(&f);
}

/* Fusion parameters: bad settings are refused whole, naming the part. */
static void test_tune_parse(void **state)
{
	static const struct { const char *spec; const char *msg; } bad[] = {
		{ "k", "expected name=value" },
		{ "nope=1", "unknown parameter" },
		{ "k=", "bad value" },
		{ "k=abc", "bad value" },
		{ "k=-1", "bad value" },
		{ "k=1e9", "bad value" },
		{ "k=nan", "bad value" },
		{ "k=5,symbol", "expected name=value" },
		{ "k=123456789012345678901234567890123", "expected name=value" },
	};
	struct ctx__tune saved = ctx__tune;
	struct err e;
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err_clear(&e);
		assert_int_equal(ctx__tune_parse(bad[i].spec, &e), ST_INVAL);
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("'%s': got '%s', want '%s'", bad[i].spec, e.msg, bad[i].msg);
		assert_true(ctx__tune.rrf_k == saved.rrf_k);
	}
	TH_OK(ctx__tune_parse("k=7,hop=0.25", NULL));
	assert_true(ctx__tune.rrf_k == 7.0 && ctx__tune.w_hop == 0.25);
	ctx__tune = saved;
}

/* ---- n-gram index ---------------------------------------------------- */

static void test_ngram(void **state)
{
	struct fixture f;
	struct ctx_ngram *g = NULL;
	struct ctx_ngram_match m;
	struct buf out;
	struct err e;
	static const char gen[] =
		"something new\nstatic int split_words(const char *s, struct request *r)\nmore";
	(void)state;

	new_root();
	make_repo();
	fixture_open(&f, "1M", "64");
	err_clear(&e);
	TH_ST(ctx_ngram_open(f.data, &g, &e), ST_NOTFOUND);
	index_ok(&f, NULL);
	TH_OK(ctx_ngram_build(f.c, f.data, NULL));
	TH_OK(ctx_ngram_open(f.data, &g, NULL));
	assert_true(ctx_ngram_size(g) > 100);

	TH_OK(ctx_ngram_longest_match(g, gen, strlen(gen), &m));
	assert_true(m.length >= strlen("static int split_words(const char *s, struct request *r)\n"));
	assert_int_equal(m.text_offset, strlen("something new") );
	assert_string_equal(m.repo, "repo");
	assert_string_equal(m.path, "src/http.c");
	assert_int_equal(m.line, 7);

	buf_init(&out, 0);
	TH_OK(ctx_ngram_complete(g, "int parse_http_request(const char *line, ", 41, 200, &out, &m));
	assert_string_equal(buf_cstr(&out), "struct request *out)");
	assert_true(m.length >= 20);
	buf_reset(&out);
	TH_OK(ctx_ngram_complete(g, "\x01\x02", 2, 100, &out, &m));
	assert_int_equal(out.len, 0);
	buf_release(&out);
	ctx_ngram_free(g);

	/* Damaged index files are refused with ST_CORRUPT, never read past
	 * their end: each case damages a fresh build. */
	{
		static const struct { const char *file; long off; int trunc; const char *bytes; } bad[] = {
			{ "context-ngram/1.sa", 0, 0, "XXXX" },		/* magic */
			{ "context-ngram/1.sa", 8, 0, "\x01" },		/* length disagrees */
			{ "context-ngram/1.sa", 20, 1, NULL },		/* truncated */
			{ "context-ngram/1.map", 0, 0, "ALMP9" },		/* magic */
			{ "context-ngram/1.map", 8, 0, "\xff\xff" },	/* entry count */
			{ "context-ngram/1.map", 16, 0, "\x7f" },	/* names length */
			{ "context-ngram/1.map", 24 + 8, 0, "\xff\xff\xff\x7f" }, /* name offset */
			{ "context-ngram/1.map", 10, 1, NULL },		/* truncated header */
			{ "context-ngram/1.txt", 5, 1, NULL },		/* text shorter than the array */
			{ "context-ngram/parts", 0, 0, "XLNG" },		/* parts magic */
			{ "context-ngram/parts", 9, 0, "x" },		/* not an id */
			{ "context-ngram/parts", 9, 0, "0" },		/* id out of range */
			{ "context-ngram/parts", 9, 0, "7" },		/* a listed part missing */
			{ "context-ngram/parts", 10, 1, NULL },		/* unterminated line */
			{ "context-ngram/parts", 4, 1, NULL },		/* truncated magic */
			{ "context-ngram/1.txt", 0, 1, NULL },		/* text empty */
		};
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			char p[PATH_MAX];
			struct err be;
			TH_OK(ctx_ngram_build(f.c, f.data, NULL));
			snprintf(p, sizeof p, "%.1000s/%s", f.data, bad[i].file);
			if (bad[i].trunc) {
				assert_int_equal(truncate(p, bad[i].off), 0);
			} else {
				int fd = open(p, O_WRONLY);
				assert_true(fd >= 0);
				assert_int_equal(pwrite(fd, bad[i].bytes, strlen(bad[i].bytes), bad[i].off),
						 (ssize_t)strlen(bad[i].bytes));
				close(fd);
			}
			g = NULL;
			err_clear(&be);
			status_t st = ctx_ngram_open(f.data, &g, &be);
			if (st != ST_CORRUPT)
				fail_msg("case %zu (%s): got %s (%s)", i, bad[i].file, status_name(st), be.msg);
			assert_null(g);
		}
	}
	fixture_close(&f);
}

static ino_t ino_of(const char *data, const char *rel)
{
	char p[PATH_MAX];
	struct stat sb;

	snprintf(p, sizeof p, "%.1000s/%s", data, rel);
	if (stat(p, &sb) != 0)
		fail_msg("stat %s: %s", p, strerror(errno));
	return sb.st_ino;
}

static int exists(const char *data, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof p, "%.1000s/%s", data, rel);
	return access(p, F_OK) == 0;
}

static void index_named(struct fixture *f, const char *dir, const char *name)
{
	struct ctx_index_stats s;
	struct ctx_index_opts o = { .name = name, .threads = 2 };
	char p[PATH_MAX];
	struct err e;

	snprintf(p, sizeof p, "%s/%s", root, dir);
	err_clear(&e);
	if (ctx_index_repo(f->c, p, &o, &s, &e) != ST_OK)
		fail_msg("index %s: %s", dir, e.msg);
}

static void complete_is(const struct ctx_ngram *g, const char *prefix,
			const char *want, const char *want_repo)
{
	struct buf out;
	struct ctx_ngram_match m;

	buf_init(&out, 0);
	TH_OK(ctx_ngram_complete(g, prefix, strlen(prefix), 200, &out, &m));
	assert_string_equal(buf_cstr(&out), want);
	assert_string_equal(m.repo, want_repo);
	buf_release(&out);
}

/* One suffix array per repository: queries see every repository; a
 * build rebuilds only the repositories whose files changed (and any
 * part that is damaged or was left half-written); the single index of
 * before is still read, then replaced by parts on the next build. */
static void test_ngram_parts(void **state)
{
	struct fixture f;
	struct ctx_ngram *g = NULL;
	struct ctx_ngram_match m;
	struct err e;
	ino_t a_sa, a_txt, b_sa;
	static const char a_prefix[] = "int alpha_compute(int x)\n{\n\treturn ";
	static const char b_prefix[] = "def beta_transform(items):\n    return ";
	(void)state;

	new_root();
	wfile("a/alpha.c", "int alpha_compute(int x)\n{\n\treturn x * 31 + 7;\n}\n");
	wfile("b/beta.py", "def beta_transform(items):\n    return [i * 2 for i in items]\n");
	fixture_open(&f, "1M", "64");
	index_named(&f, "a", "ra");
	index_named(&f, "b", "rb");
	TH_OK(ctx_ngram_build(f.c, f.data, NULL));
	TH_OK(ctx_ngram_open(f.data, &g, NULL));
	complete_is(g, a_prefix, "x * 31 + 7;", "ra");
	complete_is(g, b_prefix, "[i * 2 for i in items]", "rb");
	TH_OK(ctx_ngram_longest_match(g, "zz[i * 2 for i in items]zz", 26, &m));
	assert_int_equal(m.length, 22);
	assert_int_equal(m.text_offset, 2);
	assert_string_equal(m.repo, "rb");
	assert_string_equal(m.path, "beta.py");
	assert_int_equal(m.line, 2);
	/* Matches in both parts: the longer wins, wherever it is. */
	{
		static const char both[] = "return x * 31 + 7;zz[i * 2 for i in items]";
		TH_OK(ctx_ngram_longest_match(g, both, strlen(both), &m));
		assert_int_equal(m.length, 22);
		assert_int_equal(m.text_offset, 20);
		assert_string_equal(m.repo, "rb");
		TH_OK(ctx_ngram_longest_match(g, both, 18, &m));
		assert_int_equal(m.length, 18);
		assert_int_equal(m.text_offset, 0);
		assert_string_equal(m.repo, "ra");
		assert_string_equal(m.path, "alpha.c");
		assert_int_equal(m.line, 3);
	}
	ctx_ngram_free(g);

	/* Re-indexing b rebuilds b's part only. */
	a_sa = ino_of(f.data, "context-ngram/1.sa");
	a_txt = ino_of(f.data, "context-ngram/1.txt");
	b_sa = ino_of(f.data, "context-ngram/2.sa");
	wfile("b/beta.py", "def beta_transform(items):\n    return sorted(items, reverse=True)\n");
	index_named(&f, "b", "rb");
	TH_OK(ctx_ngram_build(f.c, f.data, NULL));
	assert_true(ino_of(f.data, "context-ngram/1.sa") == a_sa);
	assert_true(ino_of(f.data, "context-ngram/1.txt") == a_txt);
	assert_true(ino_of(f.data, "context-ngram/2.sa") != b_sa);
	TH_OK(ctx_ngram_open(f.data, &g, NULL));
	complete_is(g, b_prefix, "sorted(items, reverse=True)", "rb");
	complete_is(g, a_prefix, "x * 31 + 7;", "ra");
	ctx_ngram_free(g);

	/* Nothing changed: nothing rebuilt. A part without its stamp (a
	 * build interrupted while writing it) is rebuilt; so are the files
	 * of a repository the store does not have. */
	b_sa = ino_of(f.data, "context-ngram/2.sa");
	th_write_file(f.data, "context-ngram/9.sa", "stray");
	TH_OK(ctx_ngram_build(f.c, f.data, NULL));
	assert_true(ino_of(f.data, "context-ngram/1.sa") == a_sa);
	assert_true(ino_of(f.data, "context-ngram/2.sa") == b_sa);
	assert_false(exists(f.data, "context-ngram/9.sa"));
	{
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%.1000s/context-ngram/1.stamp", f.data);
		assert_int_equal(unlink(p), 0);
	}
	TH_OK(ctx_ngram_build(f.c, f.data, NULL));
	assert_true(ino_of(f.data, "context-ngram/1.sa") != a_sa);
	assert_true(ino_of(f.data, "context-ngram/2.sa") == b_sa);

	/* The single index of before (here: a's part, copied there) is
	 * opened while there are no parts ... */
	{
		static const char *const ext[] = { ".txt", ".sa", ".map" };
		char from[PATH_MAX], to[PATH_MAX];
		for (size_t i = 0; i < 3; i++) {
			char *data = NULL;
			size_t n = 0;
			snprintf(from, sizeof from, "%.1000s/context-ngram/1%s", f.data, ext[i]);
			snprintf(to, sizeof to, "%.1000s/context-ngram%s", f.data, ext[i]);
			TH_OK(file_read_all(from, 1 << 20, &data, &n, NULL));
			TH_OK(file_write_atomic(to, data, n, 0644, NULL));
			mem_free(data);
		}
		snprintf(to, sizeof to, "%.1000s/context-ngram/parts", f.data);
		assert_int_equal(unlink(to), 0);
	}
	TH_OK(ctx_ngram_open(f.data, &g, NULL));
	complete_is(g, a_prefix, "x * 31 + 7;", "ra");
	ctx_ngram_free(g);
	/* ... and the next build replaces it by parts. */
	TH_OK(ctx_ngram_build(f.c, f.data, NULL));
	assert_false(exists(f.data, "context-ngram.txt"));
	assert_false(exists(f.data, "context-ngram.sa"));
	assert_false(exists(f.data, "context-ngram.map"));
	TH_OK(ctx_ngram_open(f.data, &g, NULL));
	complete_is(g, b_prefix, "sorted(items, reverse=True)", "rb");
	ctx_ngram_free(g);

	/* Neither parts nor the old files: never built. */
	{
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%.1000s/context-ngram/parts", f.data);
		assert_int_equal(unlink(p), 0);
	}
	err_clear(&e);
	TH_ST(ctx_ngram_open(f.data, &g, &e), ST_NOTFOUND);
	assert_non_null(strstr(e.msg, "not built"));
	assert_null(g);
	fixture_close(&f);
}

/* Every allocation of an index run and a retrieval, failed in turn:
 * each run reports or skips, never crashes or leaks (ASan), and a clean
 * run afterwards leaves a complete index. */
static void test_alloc_failures(void **state)
{
	struct fixture f;
	struct ctx_index_stats s;
	struct ctx_index_opts o = { .name = "repo", .threads = 1 };
	unsigned long before, total;
	struct ctx_result r;
	struct ctx_query q;
	static const char prefix[] = "#include \"http.h\"\nvoid g(void)\n{\n\tparse_http_request(";
	static const char pyprefix[] = "from . import mod\nfrom .mod import (a,\n b as c)\n\n"
				       "def g(x):\n    return mod.";
	(void)state;

	new_root();
	wfile("repo/src/http.c", "/* doc */\nint parse_http_request(const char *l) { return split_words(l); }\n");
	wfile("repo/src/http.h", "#include \"w.h\"\nint parse_http_request(const char *l);\n");
	wfile("repo/src/w.h", "int split_words(const char *s);\n");
	wfile("repo/src/mod.py", "class K:\n    def a(self):\n        return 1\n\n\ndef b():\n    return 2\n");
	wfile("repo/src/w.c", "int split_words(const char *s) { return 0; }\n");
	wfile("repo/docs/adr/1.md", "---\ntitle: t\npaths: [src/]\n---\nUse `split_words`.\n");
	wfile("repo/CODEOWNERS", "* @a\n");
	fixture_open(&f, "1M", "2");
	before = mem_alloc_count();
	TH_OK(ctx_index_repo(f.c, f.repo, &o, &s, NULL));
	total = mem_alloc_count() - before;
	for (unsigned long n = 0; n < total; n += 1 + total / 150) {
		char p[PATH_MAX];
		/* Change a file so that every run has work to do. */
		snprintf(p, sizeof p, "int split_words(const char *s) { return %lu; }\n", n);
		wfile("repo/src/w.c", p);
		mem_fail_after((long)n, 1);
		status_t st = ctx_index_repo(f.c, f.repo, &o, &s, NULL);
		mem_fail_reset();
		if (st != ST_OK && st != ST_NOMEM)
			fail_msg("allocation %lu: %s", n, status_name(st));
	}
	/* A C buffer (its header's declarations followed) and a Python
	 * one (from-imports tried as modules). */
	for (int lang = 0; lang < 2; lang++) {
		memset(&q, 0, sizeof q);
		q.repo = "repo";
		q.path = lang ? "src/g.py" : "src/g.c";
		q.prefix = lang ? pyprefix : prefix;
		q.prefix_len = strlen(q.prefix);
		before = mem_alloc_count();
		ctx_result_init(&r);
		TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
		ctx_result_release(&r);
		total = mem_alloc_count() - before;
		for (unsigned long n = 0; n < total; n++) {
			ctx_result_init(&r);
			mem_fail_after((long)n, 1);
			status_t st = ctx_retrieve(f.c, &q, &r, NULL);
			mem_fail_reset();
			ctx_result_release(&r);
			if (st != ST_OK && st != ST_NOMEM)
				fail_msg("retrieve allocation %lu: %s", n, status_name(st));
		}
	}
	memset(&q, 0, sizeof q);
	q.repo = "repo";
	q.path = "src/g.c";
	q.prefix = prefix;
	q.prefix_len = strlen(prefix);
	/* A clean run repairs whatever a failed one left undone. */
	wfile("repo/src/w.c", "int split_words(const char *s) { return -1; }\n");
	TH_OK(ctx_index_repo(f.c, f.repo, &o, &s, NULL));
	ctx_result_init(&r);
	TH_OK(ctx_retrieve(f.c, &q, &r, NULL));
	assert_true(has_hit(&r, "src/http.c", "parse_http_request"));
	ctx_result_release(&r);
	ctx_result_init(&r);
	TH_OK(ctx_docs_for(f.c, "repo", "src/w.c", &r, NULL));
	assert_int_equal(r.n, 1);
	ctx_result_release(&r);
	fixture_close(&f);
}

static int teardown(void **state)
{
	(void)state;
	th_tmpdir_cleanup();
	return 0;
}

/* test_ngram_par.c */
void test_ngram_split_same_answers(void **state);
void test_ngram_split_files(void **state);
void test_ngram_split_alloc_failures(void **state);
void test_ngram_build_beside_compaction(void **state);
void test_ngram_many_repos(void **state);
void test_compact_gives_pages_back(void **state);

/* test_provenance.c */
void test_provenance_overlaps(void **state);
void test_provenance_bad_inputs(void **state);
void test_provenance_matches_naive(void **state);

/* test_store.c */
void test_store_packed_text(void **state);
void test_store_packed_bad_inputs(void **state);
void test_store_migration_3(void **state);
void test_store_pack_roundtrip(void **state);

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_gitignore),
		cmocka_unit_test(test_frontmatter),
		cmocka_unit_test(test_grammars),
		cmocka_unit_test(test_parser_reuse),
		cmocka_unit_test(test_parse_walk_matches_query),
		cmocka_unit_test(test_parse_walk_matches_query_langs),
		cmocka_unit_test(test_compact_relative_to_store),
		cmocka_unit_test_teardown(test_index_schedule, teardown),
		cmocka_unit_test_teardown(test_index_and_graph, teardown),
		cmocka_unit_test_teardown(test_doc_packed, teardown),
		cmocka_unit_test_teardown(test_incremental, teardown),
		cmocka_unit_test_teardown(test_bad_paths, teardown),
		cmocka_unit_test_teardown(test_deleted_midrun_and_interrupt, teardown),
		cmocka_unit_test_teardown(test_locked_store, teardown),
		cmocka_unit_test_teardown(test_full_store, teardown),
		cmocka_unit_test_teardown(test_retrieve, teardown),
		cmocka_unit_test_teardown(test_ranking, teardown),
		cmocka_unit_test_teardown(test_siblings, teardown),
		cmocka_unit_test_teardown(test_import_multiline, teardown),
		cmocka_unit_test(test_import_text),
		cmocka_unit_test_teardown(test_nearness, teardown),
		cmocka_unit_test_teardown(test_self_calls, teardown),
		cmocka_unit_test(test_echo_calls),
		cmocka_unit_test_teardown(test_echo_ignores_stored_copy, teardown),
		cmocka_unit_test_teardown(test_fresh_names, teardown),
		cmocka_unit_test_teardown(test_enclosing_name, teardown),
		cmocka_unit_test(test_sig_evidence),
		cmocka_unit_test_teardown(test_sig_ignores_stored_copy, teardown),
		cmocka_unit_test_teardown(test_type_names_ignore_stored_copy, teardown),
		cmocka_unit_test_teardown(test_decl_follows_header, teardown),
		cmocka_unit_test_teardown(test_py_from_modules, teardown),
		cmocka_unit_test_teardown(test_method_class, teardown),
		cmocka_unit_test_teardown(test_decl_nearness, teardown),
		cmocka_unit_test(test_tune_parse),
		cmocka_unit_test_teardown(test_ngram, teardown),
		cmocka_unit_test_teardown(test_ngram_parts, teardown),
		cmocka_unit_test_teardown(test_ngram_split_same_answers, teardown),
		cmocka_unit_test_teardown(test_ngram_split_files, teardown),
		cmocka_unit_test_teardown(test_ngram_split_alloc_failures, teardown),
		cmocka_unit_test_teardown(test_ngram_build_beside_compaction, teardown),
		cmocka_unit_test_teardown(test_ngram_many_repos, teardown),
		cmocka_unit_test_teardown(test_compact_gives_pages_back, teardown),
		cmocka_unit_test_teardown(test_provenance_overlaps, teardown),
		cmocka_unit_test_teardown(test_provenance_bad_inputs, teardown),
		cmocka_unit_test_teardown(test_provenance_matches_naive, teardown),
		cmocka_unit_test_teardown(test_alloc_failures, teardown),
		cmocka_unit_test_teardown(test_store_packed_text, teardown),
		cmocka_unit_test_teardown(test_store_packed_bad_inputs, teardown),
		cmocka_unit_test_teardown(test_store_migration_3, teardown),
		cmocka_unit_test_teardown(test_store_pack_roundtrip, teardown),
	};
	log_setup(LOG_ERROR, LOG_FMT_HUMAN, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
