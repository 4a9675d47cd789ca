/*
 * cmd_policy.c - `airlock policy lint|check|test|sign|keygen`: validate,
 * apply, test and sign policy bundles from the command line.
 */
#include "cli/cli.h"
#include "policy/policy.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_KEYS 16
#define POL_CLI_MAX_INPUT ((size_t)256 << 20)

struct popts {
	const char *bundle, *team, *repo, *lang, *path, *key, *out;
	int json, no_defaults, no_hyperscan;
	struct pol_load_opts lo;
	uint8_t keys[MAX_KEYS][ED25519_KEY_LEN];
	const char *args[8];
	int n_args;
	const char *data_dir;		/* where reference corpora live */
	struct pol_engine *eng;		/* set when the bundle has provenance rules */
	struct provenance *prov;
};

static int usage(const char *msg)
{
	cli_error("policy", "%s (see airlock policy --help)", msg);
	return EXIT_USAGE;
}

/* Parses the options shared by the subcommands; positional args go to o->args. */
static int parse(struct popts *o, int argc, char **argv)
{
	struct err e;

	memset(o, 0, sizeof *o);
	o->lo.keys = (const uint8_t (*)[ED25519_KEY_LEN])o->keys;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (!strcmp(a, "--bundle")) dst = &o->bundle;
		else if (!strcmp(a, "--team")) dst = &o->team;
		else if (!strcmp(a, "--repo")) dst = &o->repo;
		else if (!strcmp(a, "--lang")) dst = &o->lang;
		else if (!strcmp(a, "--path")) dst = &o->path;
		else if (!strcmp(a, "--key")) dst = &o->key;
		else if (!strcmp(a, "--out")) dst = &o->out;
		else if (!strcmp(a, "--json")) { o->json = 1; continue; }
		else if (!strcmp(a, "--no-defaults")) { o->lo.no_defaults = 1; continue; }
		else if (!strcmp(a, "--no-hyperscan")) { o->lo.no_hyperscan = 1; continue; }
		else if (!strcmp(a, "--require-signature")) { o->lo.require_signature = 1; continue; }
		else if (!strcmp(a, "--trusted-key")) {
			if (i + 1 >= argc)
				return usage("--trusted-key needs a file");
			if (o->lo.n_keys >= MAX_KEYS)
				return usage("too many --trusted-key");
			err_clear(&e);
			if (pol_key_read(argv[++i], o->keys[o->lo.n_keys], &e)) {
				cli_error_err("policy", &e);
				return EXIT_USAGE;
			}
			o->lo.n_keys++;
			continue;
		} else if (a[0] == '-' && a[1]) {
			cli_error("policy", "unknown option '%s'", a);
			return EXIT_USAGE;
		} else {
			if (o->n_args >= 8)
				return usage("too many arguments");
			o->args[o->n_args++] = a;
			continue;
		}
		if (i + 1 >= argc) {
			cli_error("policy", "option %s needs a value", a);
			return EXIT_USAGE;
		}
		*dst = argv[++i];
	}
	return -1;
}

/* Loads --bundle DIR, or the built-in rules alone. */
static status_t load(struct popts *o, const char *dir, struct pol_bundle **b, struct err *e)
{
	if (dir)
		return pol_bundle_load(dir, &o->lo, b, e);
	return pol_bundle_load_mem("<builtin>", "version: 1\n", 11, &o->lo, b, e);
}

/*
 * When b has provenance rules, runs it in an engine with the reference
 * corpora of the data directory attached (the engine then owns b); else
 * checks use b directly. Released by engine_close.
 */
static status_t engine_open(struct popts *o, struct pol_bundle *b, struct err *e)
{
	struct pol_bundle_info info;
	status_t st;

	pol_bundle_info_get(b, &info);
	if (!info.n_by_kind[POL_KIND_PROVENANCE])
		return ST_OK;
	if ((st = pol_engine_new(&o->eng)))
		return err_set(e, st, "out of memory");
	if ((st = provenance_attach(o->eng, o->data_dir, &o->prov, e))) {
		pol_engine_free(o->eng);
		o->eng = NULL;
		return st;
	}
	pol_engine_set(o->eng, b);
	return ST_OK;
}

/* Frees b, or the engine that owns it. */
static void engine_close(struct popts *o, struct pol_bundle *b)
{
	if (o->eng) {
		pol_engine_free(o->eng);
		provenance_free(o->prov);
		o->eng = NULL;
		o->prov = NULL;
	} else {
		pol_bundle_free(b);
	}
}

static status_t run_check(struct popts *o, const struct pol_bundle *b,
			  const struct pol_ctx *ctx, const char *text, size_t len,
			  struct pol_result *r, struct err *e)
{
	if (o->eng)
		return pol_check_text(o->eng, ctx, text, len, r, e);
	return pol_bundle_check(b, ctx, text, len, r, e);
}

static int exit_for_action(enum pol_action a)
{
	switch (a) {
	case POL_ALLOW: return EXIT_OK;
	case POL_WARN: return EXIT_FAIL;
	default: return EXIT_DENIED;
	}
}

static int policy_lint(struct popts *o)
{
	struct pol_bundle *b;
	struct pol_bundle_info in;
	struct err e;
	status_t st;

	if (o->n_args != 1)
		return usage("lint needs one bundle directory");
	err_clear(&e);
	if ((st = pol_bundle_load(o->args[0], &o->lo, &b, &e))) {
		cli_error_err("policy lint", &e);
		return cli_exit_for(st) == EXIT_OK ? EXIT_DATA : cli_exit_for(st);
	}
	pol_bundle_info_get(b, &in);
	printf("ok: %zu files, %zu rules (secret %zu, pattern %zu, import %zu, scope %zu, provenance %zu)\n",
	       in.n_files, in.n_rules, in.n_by_kind[POL_KIND_SECRET], in.n_by_kind[POL_KIND_PATTERN],
	       in.n_by_kind[POL_KIND_IMPORT], in.n_by_kind[POL_KIND_SCOPE],
	       in.n_by_kind[POL_KIND_PROVENANCE]);
	printf("digest: %s\nsigned: %s\nregex engine: %s\n", in.digest, in.signed_ok ? "yes" : "no",
	       in.hyperscan ? "hyperscan + pcre2" : "pcre2");
	if (in.n_by_kind[POL_KIND_PROVENANCE])
		printf("note: provenance rules compare with reference corpora built by "
		       "`airlock provenance index` in the data directory\n");
	pol_bundle_free(b);
	return EXIT_OK;
}

static status_t read_input(const char *path, char **text, size_t *len, struct err *e)
{
	struct buf b;
	char tmp[65536];
	size_t n;

	if (strcmp(path, "-"))
		return file_read_all(path, POL_CLI_MAX_INPUT, text, len, e);
	buf_init(&b, POL_CLI_MAX_INPUT);
	while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0)
		if (buf_append(&b, tmp, n)) {
			buf_release(&b);
			return err_set(e, ST_LIMIT, "standard input is larger than %zu bytes", POL_CLI_MAX_INPUT);
		}
	if (buf_reserve(&b, 0)) {
		buf_release(&b);
		return err_set(e, ST_NOMEM, "out of memory");
	}
	*text = buf_detach(&b, len);
	return ST_OK;
}

static void print_text(const char *name, const struct pol_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct pol_decision *d = &r->items[i];
		printf("%s:%d:%d: %s %s [%s] %s%s%s\n", name, d->line, d->col,
		       pol_action_name(d->action), pol_severity_name(d->severity), d->rule_id,
		       d->message, d->detail ? ": " : "", d->detail ? d->detail : "");
	}
}

static int policy_check(struct popts *o)
{
	struct pol_bundle *b;
	struct pol_result r;
	struct pol_ctx ctx;
	struct err e;
	char *text;
	size_t len;
	status_t st;
	int rc;

	if (o->n_args != 1)
		return usage("check needs one FILE (or - for standard input)");
	err_clear(&e);
	if ((st = load(o, o->bundle, &b, &e))) {
		cli_error_err("policy check", &e);
		return cli_exit_for(st) == EXIT_OK ? EXIT_DATA : cli_exit_for(st);
	}
	if ((st = engine_open(o, b, &e))) {
		pol_bundle_free(b);
		cli_error_err("policy check", &e);
		return cli_exit_for(st);
	}
	if ((st = read_input(o->args[0], &text, &len, &e))) {
		engine_close(o, b);
		cli_error_err("policy check", &e);
		return cli_exit_for(st);
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.team = o->team;
	ctx.repo = o->repo;
	ctx.lang = o->lang;
	ctx.path = o->path ? o->path : strcmp(o->args[0], "-") ? o->args[0] : NULL;
	pol_result_init(&r);
	st = run_check(o, b, &ctx, text, len, &r, &e);
	{
		/* A corpus not built yet: the other rules' findings stand and
		 * a warning says how to build it. A damaged one fails the check. */
		struct err pe;
		status_t pst;
		err_clear(&pe);
		if ((pst = provenance_take_error(o->prov, &pe))) {
			st = pst == ST_NOTFOUND ? ST_LIMIT : pst;
			e = pe;
		}
	}
	if (st && st != ST_LIMIT) {
		cli_error_err("policy check", &e);
		rc = cli_exit_for(st);
	} else {
		if (st == ST_LIMIT)
			cli_error("policy check", "warning: %s", e.msg);
		if (o->json) {
			struct buf out;
			buf_init(&out, 0);
			if (pol_result_json(&r, NULL, &out) == ST_OK)
				printf("%s\n", buf_cstr(&out));
			buf_release(&out);
		} else {
			print_text(ctx.path ? ctx.path : "<stdin>", &r);
		}
		rc = exit_for_action(r.worst);
	}
	pol_result_release(&r);
	mem_free(text);
	engine_close(o, b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* policy test: Semgrep-style annotated files under DIR/tests/         */
/* ------------------------------------------------------------------ */

struct expect {
	char id[130];
	int line;	/* the line it applies to */
	int at;		/* the line of the annotation itself */
	int ok;		/* 1: "ok:" (no finding), 0: "ruleid:" */
};

/* Finds "ruleid: ID" or "ok: ID" in a comment line. */
static int annotation(const char *p, const char *e, struct expect *x)
{
	const char *c = p;
	size_t n;

	while (c < e && (*c == ' ' || *c == '\t'))
		c++;
	if (e - c >= 2 && (!memcmp(c, "//", 2) || !memcmp(c, "/*", 2) || !memcmp(c, "--", 2)))
		c += 2;
	else if (e - c >= 4 && !memcmp(c, "<!--", 4))
		c += 4;
	else if (c < e && (*c == '#' || *c == ';'))
		c++;
	else
		return 0;
	while (c < e && *c == ' ')
		c++;
	if (e - c > 7 && !memcmp(c, "ruleid:", 7))
		x->ok = 0, c += 7;
	else if (e - c > 3 && !memcmp(c, "ok:", 3))
		x->ok = 1, c += 3;
	else
		return 0;
	while (c < e && *c == ' ')
		c++;
	n = 0;
	while (c + n < e && n + 1 < sizeof x->id && c[n] != ' ' && c[n] != '\t' &&
	       c[n] != '\r' && c[n] != '*' && c[n] != ',')
		n++;
	while (n && (c[n - 1] == '-' || c[n - 1] == '>'))
		n--;	/* a closing "-->" */
	memcpy(x->id, c, n);
	x->id[n] = 0;
	return n > 0;
}

static int test_file(struct pol_bundle *b, const char *path, const char *rel, struct popts *o)
{
	struct expect *xs = NULL;
	size_t nx = 0, cx = 0;
	struct pol_result r;
	struct pol_ctx ctx;
	struct err e;
	char *text;
	size_t len;
	int line = 1, fails = 0, pending_from = -1;
	const char *p, *end;

	err_clear(&e);
	if (file_read_all(path, POL_CLI_MAX_INPUT, &text, &len, &e)) {
		cli_error_err("policy test", &e);
		return 1;
	}
	/* Annotations apply to the next line that is not an annotation. */
	for (p = text, end = text + len; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct expect x;
		if (annotation(p, le, &x)) {
			if (nx == cx) {
				size_t nc = cx ? cx * 2 : 16;
				struct expect *nxs = mem_realloc_array(xs, nc, sizeof *nxs);
				if (!nxs)
					break;
				xs = nxs;
				cx = nc;
			}
			x.line = -1;
			x.at = line;
			if (pending_from < 0)
				pending_from = (int)nx;
			xs[nx++] = x;
		} else if (pending_from >= 0) {
			for (size_t i = (size_t)pending_from; i < nx; i++)
				xs[i].line = line;
			pending_from = -1;
		}
		p = nl ? nl + 1 : end;
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.path = rel;
	ctx.team = o->team;
	ctx.repo = o->repo;
	pol_result_init(&r);
	run_check(o, b, &ctx, text, len, &r, &e);
	{
		status_t pst = provenance_take_error(o->prov, &e);
		if (pst == ST_NOTFOUND)	/* an expected finding will be missed */
			cli_error("policy test", "warning: %s", e.msg);
		else if (pst) {
			cli_error_err("policy test", &e);
			fails++;
		}
	}
	for (size_t i = 0; i < nx; i++) {
		int hit = 0;
		for (size_t k = 0; k < r.n; k++)
			if (r.items[k].line == xs[i].line && !strcmp(r.items[k].rule_id, xs[i].id))
				hit = 1;
		if (!xs[i].ok && !hit) {
			printf("FAIL %s:%d: expected a finding of %s, got none\n", rel, xs[i].line, xs[i].id);
			fails++;
		} else if (xs[i].ok && hit) {
			printf("FAIL %s:%d: %s fired on a line marked ok\n", rel, xs[i].line, xs[i].id);
			fails++;
		}
	}
	for (size_t k = 0; k < r.n; k++) {
		int want = 0;
		/* The annotation comments themselves name rules; not findings. */
		for (size_t i = 0; i < nx; i++)
			if (xs[i].at == r.items[k].line)
				want = 1;
		for (size_t i = 0; i < nx; i++)
			if (!xs[i].ok && xs[i].line == r.items[k].line && !strcmp(r.items[k].rule_id, xs[i].id))
				want = 1;
		for (size_t i = 0; i < nx; i++)
			if (xs[i].ok && xs[i].line == r.items[k].line && !strcmp(r.items[k].rule_id, xs[i].id))
				want = 1;	/* already reported above */
		if (!want) {
			printf("FAIL %s:%d: unexpected finding of %s\n", rel, r.items[k].line,
			       r.items[k].rule_id);
			fails++;
		}
	}
	if (!fails)
		printf("ok   %s (%zu annotations)\n", rel, nx);
	pol_result_release(&r);
	mem_free(xs);
	mem_free(text);
	return fails;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int test_dir(struct pol_bundle *b, const char *root, const char *rel, struct popts *o,
		    int *files, int *failed, int depth)
{
	char path[8400], sub[4096];
	char *names[4096];
	size_t n = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
	if (depth > 16 || !(d = opendir(path)))
		return -1;
	while ((de = readdir(d)) && n < 4096)
		if (de->d_name[0] != '.' && (names[n] = mem_strdup(de->d_name)))
			n++;
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
		snprintf(path, sizeof path, "%s/%s", root, sub);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			test_dir(b, root, sub, o, files, failed, depth + 1);
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			(*files)++;
			if (test_file(b, path, sub, o))
				(*failed)++;
		}
		mem_free(names[i]);
	}
	return 0;
}

static int policy_test(struct popts *o)
{
	struct pol_bundle *b;
	struct err e;
	char tests[4200];
	int files = 0, failed = 0;
	status_t st;

	if (o->n_args != 1)
		return usage("test needs one bundle directory");
	err_clear(&e);
	if ((st = pol_bundle_load(o->args[0], &o->lo, &b, &e))) {
		cli_error_err("policy test", &e);
		return cli_exit_for(st) == EXIT_OK ? EXIT_DATA : cli_exit_for(st);
	}
	if ((st = engine_open(o, b, &e))) {
		pol_bundle_free(b);
		cli_error_err("policy test", &e);
		return cli_exit_for(st);
	}
	snprintf(tests, sizeof tests, "%s/tests", o->args[0]);
	if (test_dir(b, tests, "", o, &files, &failed, 0) < 0 || !files) {
		engine_close(o, b);
		cli_error("policy test", "no test files under %s", tests);
		return EXIT_FAIL;
	}
	engine_close(o, b);
	printf("%d files: %d passed, %d failed\n", files, files - failed, failed);
	return failed ? EXIT_FAIL : EXIT_OK;
}

static int policy_sign(struct popts *o)
{
	uint8_t key[ED25519_KEY_LEN];
	struct err e;
	status_t st;

	if (o->n_args != 1 || !o->key)
		return usage("sign needs a bundle directory and --key FILE");
	err_clear(&e);
	if ((st = pol_key_read(o->key, key, &e)) || (st = pol_bundle_sign(o->args[0], key, &e))) {
		memset(key, 0, sizeof key);
		cli_error_err("policy sign", &e);
		return cli_exit_for(st);
	}
	memset(key, 0, sizeof key);
	printf("signed %s/%s\n", o->args[0], POL_SIG_FILE);
	return EXIT_OK;
}

static int policy_keygen(struct popts *o)
{
	const char *out = o->out ? o->out : o->n_args ? o->args[0] : "policy.key";
	struct err e;
	status_t st;

	err_clear(&e);
	if ((st = pol_keygen(out, &e))) {
		cli_error_err("policy keygen", &e);
		return cli_exit_for(st);
	}
	printf("private key: %s (keep it secret)\npublic key:  %s.pub\n", out, out);
	return EXIT_OK;
}

int cmd_policy(struct cli *cli, int argc, char **argv)
{
	struct popts *o;
	int rc;

	if (argc < 2)
		return usage("missing subcommand (lint, check, test, sign, keygen)");
	o = mem_calloc(1, sizeof *o);
	if (!o)
		return EXIT_IO;
	rc = parse(o, argc, argv);
	o->data_dir = cli->data_dir;	/* after parse, which zeroes o */
	if (rc < 0) {
		const char *sub = argv[1];
		if (!strcmp(sub, "lint"))
			rc = policy_lint(o);
		else if (!strcmp(sub, "check"))
			rc = policy_check(o);
		else if (!strcmp(sub, "test"))
			rc = policy_test(o);
		else if (!strcmp(sub, "sign"))
			rc = policy_sign(o);
		else if (!strcmp(sub, "keygen"))
			rc = policy_keygen(o);
		else
			rc = usage("unknown subcommand");
	}
	mem_free(o);
	return rc;
}
