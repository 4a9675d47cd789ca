/*
 * test_bundle.c - bundle keys, signing and verification: a good bundle
 * verifies; each kind of tampering is caught and named; malformed
 * SHA256SUMS lines give the error each must.
 */
#include "harness.h"
#include "sandbox/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define H64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct {
	const char *text, *msg;
	int line;
} bad_sums[] = {
	{ "", "empty", 0 },
	{ H64 "  a", "missing newline", 1 },
	{ H64 "  a\nshort\n", "too short", 2 },
	{ "z3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a\n", "hex", 1 },
	{ H64 " a b\n", "two spaces", 1 },
	{ H64 "\tab\n", "two spaces", 1 },
	{ H64 "  /etc/passwd\n", "absolute", 1 },
	{ H64 "  ../x\n", "'..'", 1 },
	{ H64 "  a/../../x\n", "'..'", 1 },
	{ H64 "  ./x\n", "'.'", 1 },
	{ H64 "  a//b\n", "empty path component", 1 },
	{ H64 "  a/\n", "empty path component", 1 },
	{ H64 "  \\x\n", "backslash", 1 },
	{ H64 "  a\rb\n", "control", 1 },
	{ H64 "  SHA256SUMS\n", "lists itself", 1 },
	{ H64 "  SHA256SUMS.sig\n", "lists itself", 1 },
};

static void test_sums_bad(void **state)
{
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof bad_sums / sizeof *bad_sums; i++) {
		const char *t = bad_sums[i].text;
		status_t st;
		err_clear(&e);
		st = sbx_sums_parse(t, strlen(t), NULL, NULL, &e);
		if (st != ST_CORRUPT)
			fail_msg("case %zu: %s, want CORRUPT", i, status_name(st));
		if (!strstr(e.msg, bad_sums[i].msg))
			fail_msg("case %zu: message '%s' lacks '%s'", i, e.msg,
				 bad_sums[i].msg);
		assert_int_equal(e.line, bad_sums[i].line);
	}
	/* An embedded NUL. */
	{
		char t[] = H64 "  a\0b\n";
		err_clear(&e);
		TH_ST(sbx_sums_parse(t, sizeof t - 1, NULL, NULL, &e), ST_CORRUPT);
		assert_non_null(strstr(e.msg, "NUL"));
	}
}

static status_t count_cb(void *arg, const uint8_t sum[SHA256_LEN],
			 const char *path, struct err *e)
{
	(void)sum; (void)e;
	if (strcmp(path, "bin/airlock") == 0 || strcmp(path, "docs/a b.md") == 0 ||
	    strcmp(path, "x") == 0)
		(*(int *)arg)++;
	return ST_OK;
}

static void test_sums_good(void **state)
{
	const char *t = H64 "  bin/airlock\n" H64 " *docs/a b.md\n" H64 "  x\n";
	int n = 0;
	struct err e;

	(void)state;
	TH_OK(sbx_sums_parse(t, strlen(t), count_cb, &n, &e));
	assert_int_equal(n, 3);
}

/* Writes dir/rel with text, making parent directories. */
static void put(const char *dir, const char *rel, const char *text)
{
	char path[4096], *slash;
	struct err e;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	TH_OK(file_mkdirs(path, 0755, &e));
	*slash = '/';
	TH_OK(file_write_atomic(path, text, strlen(text), 0644, &e));
}

/* Builds SHA256SUMS over the given files. */
static void make_sums(const char *dir, const char *const *files, size_t n)
{
	struct buf b;
	struct err e;
	char path[4096], hex[2 * SHA256_LEN + 1];
	uint8_t sum[SHA256_LEN];

	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		TH_OK(sha256_file(path, sum, &e));
		buf_printf(&b, "%s  %s\n", hex_encode(sum, SHA256_LEN, hex), files[i]);
	}
	snprintf(path, sizeof path, "%s/SHA256SUMS", dir);
	TH_OK(file_write_atomic(path, b.data, b.len, 0644, &e));
	buf_release(&b);
}

struct bundle {
	char root[2048], dir[4096], key[4096], pub[4096], other[4096];
};

static const char *const files[] = { "bin/airlock", "docs/SECURITY.md",
				     "grammars/tree-sitter-c/src/parser.c",
				     "sbom.cdx.json" };

static void make_bundle(struct bundle *b)
{
	struct err e;

	snprintf(b->root, sizeof b->root, "%s", th_tmpdir());
	snprintf(b->dir, sizeof b->dir, "%s/airlock-1.0", b->root);
	snprintf(b->key, sizeof b->key, "%s/keys/bundle.key", b->root);
	snprintf(b->pub, sizeof b->pub, "%s/keys/bundle.key.pub", b->root);
	snprintf(b->other, sizeof b->other, "%s/keys/other.key", b->root);
	put(b->dir, files[0], "\177ELF binary");
	put(b->dir, files[1], "# Security\n");
	put(b->dir, files[2], "int x;\n");
	put(b->dir, files[3], "{}\n");
	make_sums(b->dir, files, 4);
	snprintf(b->root + strlen(b->root), sizeof b->root - strlen(b->root), "/keys");
	TH_OK(file_mkdirs(b->root, 0700, &e));
	TH_OK(sbx_key_generate(b->key, 0, &e));
	TH_OK(sbx_key_generate(b->other, 0, &e));
	TH_OK(sbx_bundle_sign(b->dir, b->key, &e));
}

static status_t verify(const struct bundle *b, const char *pubpath,
		       struct err *e)
{
	uint8_t pub[ED25519_KEY_LEN];
	struct sbx_bundle_result r;

	err_clear(e);
	TH_OK(sbx_key_load(pubpath, pub, e));
	return sbx_bundle_verify(b->dir, pub, &r, e);
}

static void test_keys(void **state)
{
	struct bundle b;
	struct err e;
	struct stat st;
	uint8_t k[ED25519_KEY_LEN];
	const char *t;

	(void)state;
	make_bundle(&b);
	assert_int_equal(stat(b.key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	TH_ST(sbx_key_generate(b.key, 0, &e), ST_EXISTS);
	TH_OK(sbx_key_load(b.pub, k, &e));
	t = th_write_file(b.root, "junk.key", "not base64 at all!\n");
	TH_ST(sbx_key_load(t, k, &e), ST_CORRUPT);
	t = th_write_file(b.root, "short.key", "AAAA\n");
	TH_ST(sbx_key_load(t, k, &e), ST_CORRUPT);
	TH_ST(sbx_key_load("/nonexistent/key", k, &e), ST_NOTFOUND);
}

static void test_verify_good(void **state)
{
	struct bundle b;
	struct sbx_bundle_result r;
	uint8_t pub[ED25519_KEY_LEN];
	struct err e;

	(void)state;
	make_bundle(&b);
	TH_OK(sbx_key_load(b.pub, pub, &e));
	err_clear(&e);
	if (sbx_bundle_verify(b.dir, pub, &r, &e) != ST_OK)
		fail_msg("verify: %s", e.msg);
	assert_int_equal(r.n_files, 4);
	assert_string_equal(r.bad, "");
}

static void test_verify_tampered(void **state)
{
	struct bundle b;
	struct err e;
	char path[8192], other_pub[4200];

	(void)state;
	/* Wrong key. */
	make_bundle(&b);
	snprintf(other_pub, sizeof other_pub, "%s.pub", b.other);
	TH_ST(verify(&b, other_pub, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "signature does not verify"));

	/* One byte of a file changed. */
	make_bundle(&b);
	put(b.dir, files[1], "# Security!\n");
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_string_equal(e.msg, "docs/SECURITY.md: checksum mismatch");

	/* SHA256SUMS edited to match a changed file (signature breaks). */
	make_bundle(&b);
	put(b.dir, files[1], "# Security!\n");
	make_sums(b.dir, files, 4);
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "signature"));

	/* A file slipped in beside the list. */
	make_bundle(&b);
	put(b.dir, "bin/helper", "#!/bin/sh\n");
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_string_equal(e.msg, "bin/helper: in the bundle but not in SHA256SUMS");

	/* A listed file removed. */
	make_bundle(&b);
	snprintf(path, sizeof path, "%s/%s", b.dir, files[3]);
	assert_int_equal(unlink(path), 0);
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_string_equal(e.msg, "sbom.cdx.json: listed but missing");

	/* A listed file replaced by a symlink. */
	make_bundle(&b);
	snprintf(path, sizeof path, "%s/%s", b.dir, files[3]);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_string_equal(e.msg, "sbom.cdx.json: not a regular file");

	/* An unlisted symlink. */
	make_bundle(&b);
	snprintf(path, sizeof path, "%s/docs/link", b.dir);
	assert_int_equal(symlink("SECURITY.md", path), 0);
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "docs/link: symlink or special file"));

	/* Signature missing, or garbage. */
	make_bundle(&b);
	snprintf(path, sizeof path, "%s/SHA256SUMS.sig", b.dir);
	assert_int_equal(unlink(path), 0);
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "SHA256SUMS.sig"));
	th_write_file(b.dir, "SHA256SUMS.sig", "AAAA\n");
	TH_ST(verify(&b, b.pub, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "not a base64 Ed25519 signature"));

	/* Signing a malformed SHA256SUMS is refused. */
	make_bundle(&b);
	th_write_file(b.dir, "SHA256SUMS", H64 "  ../escape\n");
	TH_ST(sbx_bundle_sign(b.dir, b.key, &e), ST_CORRUPT);
}

/* A malformed list that is nevertheless signed still fails to verify. */
static void test_verify_signed_garbage(void **state)
{
	struct bundle b;
	struct err e;
	uint8_t priv[ED25519_KEY_LEN], pub[ED25519_KEY_LEN], sig[ED25519_SIG_LEN];
	char b64[128], path[8192];
	const char *sums = H64 "  ../../etc/passwd\n";
	size_t n;

	(void)state;
	make_bundle(&b);
	th_write_file(b.dir, "SHA256SUMS", sums);
	TH_OK(sbx_key_load(b.key, priv, &e));
	ed25519_public(priv, pub);
	ed25519_sign(priv, pub, sums, strlen(sums), sig);
	n = base64_encode(sig, sizeof sig, b64);
	b64[n] = '\0';
	snprintf(path, sizeof path, "%s/SHA256SUMS.sig", b.dir);
	TH_OK(file_write_atomic(path, b64, n, 0644, &e));
	TH_ST(verify(&b, b.pub, &e), ST_CORRUPT);
	assert_non_null(strstr(e.msg, "'..'"));
}

/* Every allocation of a verification may fail: a clean error, no leak. */
static void test_verify_alloc_failures(void **state)
{
	struct bundle b;
	struct sbx_bundle_result r;
	uint8_t pub[ED25519_KEY_LEN];
	struct err e;
	int ok_seen = 0;

	(void)state;
	make_bundle(&b);
	TH_OK(sbx_key_load(b.pub, pub, &e));
	for (long n = 0; n < 200 && !ok_seen; n++) {
		status_t st;
		err_clear(&e);
		mem_fail_after(n, 0);
		st = sbx_bundle_verify(b.dir, pub, &r, &e);
		mem_fail_reset();
		if (st == ST_OK)
			ok_seen = 1;
		else if (st != ST_NOMEM && st != ST_IO && st != ST_VERIFY)
			fail_msg("allocation %ld failing: %s (%s)", n, status_name(st), e.msg);
	}
	assert_true(ok_seen);
}

int run_sandbox_bundle_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sums_bad),
		cmocka_unit_test(test_sums_good),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_verify_good),
		cmocka_unit_test(test_verify_tampered),
		cmocka_unit_test(test_verify_signed_garbage),
		cmocka_unit_test(test_verify_alloc_failures),
	};
	int rc = cmocka_run_group_tests_name("sandbox_bundle", tests, NULL, NULL);
	th_tmpdir_cleanup();
	return rc;
}
