/*
 * bundle.c - the signed offline bundle: Ed25519 key files, the signature
 * over SHA256SUMS, and the verification a customer runs before installing.
 *
 * Bundle layout (made by scripts/dist.sh):
 *
 *   SHA256SUMS       "<sha256 hex>  <relative path>" for every other file
 *   SHA256SUMS.sig   base64 Ed25519 signature over the bytes of SHA256SUMS
 *   ...              everything listed
 *
 * Verification trusts nothing in the bundle until the signature checks out
 * with a public key the operator brought separately; then every listed
 * file must hash as listed, and any file not listed (or any symlink or
 * device) is a failure, so nothing can be slipped in beside the list.
 */
#include "sandbox/sandbox_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUMS_NAME "SHA256SUMS"
#define SIG_NAME "SHA256SUMS.sig"
#define SUMS_MAX ((size_t)16 << 20)
#define PATH_MAX_LEN 1024
#define WALK_DEPTH_MAX 32

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

status_t sbx_key_load(const char *path, uint8_t key[ED25519_KEY_LEN],
		      struct err *e)
{
	char *text = NULL;
	size_t len = 0, n = ED25519_KEY_LEN + 8;
	uint8_t raw[ED25519_KEY_LEN + 8];
	status_t st;

	st = file_read_all(path, 4096, &text, &len, e);
	if (st != ST_OK)
		return st;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
			   text[len - 1] == ' '))
		text[--len] = '\0';
	st = base64_decode(text, len, raw, &n);
	mem_free(text);
	if (st != ST_OK || n != ED25519_KEY_LEN) {
		memset(raw, 0, sizeof raw);
		return err_set(e, ST_CORRUPT, "%s: not a key file (one line of "
			       "base64, 32 bytes)", path);
	}
	memcpy(key, raw, ED25519_KEY_LEN);
	memset(raw, 0, sizeof raw);
	return ST_OK;
}

status_t sbx_key_generate(const char *path, int force, struct err *e)
{
	uint8_t priv[ED25519_KEY_LEN], pub[ED25519_KEY_LEN];
	char b64[64], pubpath[4096];
	struct stat stt;
	size_t n;
	status_t st;

	if (!force && lstat(path, &stt) == 0)
		return err_set(e, ST_EXISTS, "%s: key file exists", path);
	if ((size_t)snprintf(pubpath, sizeof pubpath, "%s.pub", path) >= sizeof pubpath)
		return err_set(e, ST_INVAL, "%s: path too long", path);
	st = random_bytes(priv, sizeof priv);
	if (st != ST_OK)
		return err_set(e, st, "key: no randomness from the kernel");
	ed25519_public(priv, pub);
	n = base64_encode(priv, sizeof priv, b64);
	b64[n++] = '\n';
	st = file_write_atomic(path, b64, n, 0600, e);
	memset(b64, 0, sizeof b64);
	memset(priv, 0, sizeof priv);
	if (st != ST_OK)
		return st;
	n = base64_encode(pub, sizeof pub, b64);
	b64[n++] = '\n';
	return file_write_atomic(pubpath, b64, n, 0644, e);
}

/* ------------------------------------------------------------------ */
/* SHA256SUMS                                                          */
/* ------------------------------------------------------------------ */

/* Checks one relative path; returns NULL or what is wrong with it. */
static const char *path_problem(const char *p, size_t n)
{
	size_t i, start = 0;

	if (n == 0)
		return "empty path";
	if (n >= PATH_MAX_LEN)
		return "path too long";
	if (p[0] == '/')
		return "absolute path";
	for (i = 0; i <= n; i++) {
		if (i < n) {
			unsigned char c = (unsigned char)p[i];
			if (c < 0x20 || c == 0x7f)
				return "control character in path";
			if (c == '\\')
				return "backslash in path";
			if (c != '/')
				continue;
		}
		if (i == start)
			return "empty path component";
		if ((i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return "'.' or '..' in path";
		start = i + 1;
	}
	return NULL;
}

status_t sbx_sums_parse(const char *text, size_t len,
			status_t (*fn)(void *arg, const uint8_t sum[SHA256_LEN],
				       const char *path, struct err *e),
			void *arg, struct err *e)
{
	size_t pos = 0;
	int line = 0;
	char path[PATH_MAX_LEN];

	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;
		uint8_t sum[SHA256_LEN];
		const char *why;
		status_t st;

		line++;
		pos += ll + (nl ? 1 : 0);
		if (!nl)
			return err_setat(e, ST_CORRUPT, SUMS_NAME, line, (int)ll + 1,
					 "missing newline at end of file");
		if (ll < 2 * SHA256_LEN + 3)
			return err_setat(e, ST_CORRUPT, SUMS_NAME, line, 1,
					 "line too short for '<sha256>  <path>'");
		if (hex_decode(l, 2 * SHA256_LEN, sum, SHA256_LEN) != ST_OK)
			return err_setat(e, ST_CORRUPT, SUMS_NAME, line, 1,
					 "checksum is not 64 hex digits");
		if (l[64] != ' ' || (l[65] != ' ' && l[65] != '*'))
			return err_setat(e, ST_CORRUPT, SUMS_NAME, line, 65,
					 "expected two spaces (or ' *') after the checksum");
		if (memchr(l + 66, '\0', ll - 66))
			return err_setat(e, ST_CORRUPT, SUMS_NAME, line, 67,
					 "NUL byte in path");
		why = path_problem(l + 66, ll - 66);
		if (why)
			return err_setat(e, ST_CORRUPT, SUMS_NAME, line, 67, "%s", why);
		memcpy(path, l + 66, ll - 66);
		path[ll - 66] = '\0';
		if (strcmp(path, SUMS_NAME) == 0 || strcmp(path, SIG_NAME) == 0)
			return err_setat(e, ST_CORRUPT, SUMS_NAME, line, 67,
					 "lists itself or its signature");
		if (fn) {
			st = fn(arg, sum, path, e);
			if (st != ST_OK)
				return st;
		}
	}
	if (line == 0)
		return err_set(e, ST_CORRUPT, SUMS_NAME ": empty");
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Sign and verify                                                     */
/* ------------------------------------------------------------------ */

status_t sbx_bundle_sign(const char *dir, const char *key_path, struct err *e)
{
	uint8_t priv[ED25519_KEY_LEN], pub[ED25519_KEY_LEN], sig[ED25519_SIG_LEN];
	char path[4096], b64[128];
	char *sums = NULL;
	size_t len, n;
	status_t st;

	st = sbx_key_load(key_path, priv, e);
	if (st != ST_OK)
		return st;
	snprintf(path, sizeof path, "%s/" SUMS_NAME, dir);
	st = file_read_all(path, SUMS_MAX, &sums, &len, e);
	if (st == ST_OK)
		st = sbx_sums_parse(sums, len, NULL, NULL, e);
	if (st != ST_OK) {
		mem_free(sums);
		memset(priv, 0, sizeof priv);
		return st;
	}
	ed25519_public(priv, pub);
	ed25519_sign(priv, pub, sums, len, sig);
	memset(priv, 0, sizeof priv);
	mem_free(sums);
	n = base64_encode(sig, sizeof sig, b64);
	b64[n++] = '\n';
	snprintf(path, sizeof path, "%s/" SIG_NAME, dir);
	return file_write_atomic(path, b64, n, 0644, e);
}

struct verify_ctx {
	const char *dir;
	struct hmap listed;	/* relative path -> (void *)1 */
	size_t n;
};

static status_t check_entry(void *arg, const uint8_t sum[SHA256_LEN],
			    const char *rel, struct err *e)
{
	struct verify_ctx *v = arg;
	uint8_t got[SHA256_LEN];
	char path[PATH_MAX_LEN + 4096];
	struct stat st;
	status_t s;

	if (hmap_get(&v->listed, rel, strlen(rel), NULL) == ST_OK)
		return err_set(e, ST_CORRUPT, SUMS_NAME ": '%s' listed twice", rel);
	s = hmap_put(&v->listed, rel, strlen(rel), (void *)1);
	if (s != ST_OK)
		return err_set(e, s, "bundle: out of memory");
	snprintf(path, sizeof path, "%s/%s", v->dir, rel);
	if (lstat(path, &st) != 0)
		return err_set(e, ST_VERIFY, "%s: listed but missing", rel);
	if (!S_ISREG(st.st_mode))
		return err_set(e, ST_VERIFY, "%s: not a regular file", rel);
	s = sha256_file(path, got, e);
	if (s != ST_OK)
		return s;
	if (memcmp(got, sum, SHA256_LEN) != 0)
		return err_set(e, ST_VERIFY, "%s: checksum mismatch", rel);
	v->n++;
	return ST_OK;
}

/* Walks dir/rel and fails on anything not listed. */
static status_t walk_unlisted(struct verify_ctx *v, const char *rel, int depth,
			      struct err *e)
{
	char path[PATH_MAX_LEN + 4096], sub[PATH_MAX_LEN];
	struct dirent *de;
	struct stat st;
	status_t s = ST_OK;
	DIR *d;

	if (depth > WALK_DEPTH_MAX)
		return err_set(e, ST_VERIFY, "%s: directories nested too deep", rel);
	snprintf(path, sizeof path, "%s%s%s", v->dir, *rel ? "/" : "", rel);
	d = opendir(path);
	if (!d)
		return err_set(e, ST_IO, "%s: %s", path, strerror(errno));
	while (s == ST_OK && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "",
				     de->d_name) >= sizeof sub) {
			s = err_set(e, ST_VERIFY, "%s: path too long", rel);
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			s = err_set(e, ST_IO, "%s: %s", sub, strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			s = walk_unlisted(v, sub, depth + 1, e);
		} else if (!S_ISREG(st.st_mode)) {
			s = err_set(e, ST_VERIFY, "%s: symlink or special file in "
				    "the bundle", sub);
		} else if (depth == 0 && (strcmp(sub, SUMS_NAME) == 0 ||
					  strcmp(sub, SIG_NAME) == 0)) {
			continue;
		} else if (hmap_get(&v->listed, sub, strlen(sub), NULL) != ST_OK) {
			s = err_set(e, ST_VERIFY, "%s: in the bundle but not in "
				    SUMS_NAME, sub);
		}
	}
	closedir(d);
	return s;
}

status_t sbx_bundle_verify(const char *dir, const uint8_t pub[ED25519_KEY_LEN],
			   struct sbx_bundle_result *res, struct err *e)
{
	struct verify_ctx v = { .dir = dir };
	uint8_t sig[ED25519_SIG_LEN + 8];
	char path[4096], *sigtext = NULL, *sums = NULL;
	size_t siglen = 0, sumslen = 0, n = sizeof sig;
	status_t st;

	if (res)
		memset(res, 0, sizeof *res);
	hmap_init(&v.listed);
	snprintf(path, sizeof path, "%s/" SIG_NAME, dir);
	st = file_read_all(path, 4096, &sigtext, &siglen, e);
	if (st != ST_OK) {
		if (st == ST_NOTFOUND || st == ST_IO)
			st = err_set(e, ST_VERIFY, SIG_NAME ": missing or unreadable");
		goto out;
	}
	while (siglen > 0 && (sigtext[siglen - 1] == '\n' || sigtext[siglen - 1] == '\r'))
		sigtext[--siglen] = '\0';
	if (base64_decode(sigtext, siglen, sig, &n) != ST_OK || n != ED25519_SIG_LEN) {
		st = err_set(e, ST_VERIFY, SIG_NAME ": not a base64 Ed25519 signature");
		goto out;
	}
	snprintf(path, sizeof path, "%s/" SUMS_NAME, dir);
	st = file_read_all(path, SUMS_MAX, &sums, &sumslen, e);
	if (st != ST_OK) {
		if (st == ST_NOTFOUND || st == ST_IO)
			st = err_set(e, ST_VERIFY, SUMS_NAME ": missing or unreadable");
		goto out;
	}
	if (!ed25519_verify(pub, sums, sumslen, sig)) {
		st = err_set(e, ST_VERIFY, SUMS_NAME ": signature does not verify "
			     "with this public key");
		goto out;
	}
	st = sbx_sums_parse(sums, sumslen, check_entry, &v, e);
	if (st == ST_OK)
		st = walk_unlisted(&v, "", 0, e);
out:
	if (res) {
		res->n_files = v.n;
		if (st != ST_OK && e)
			str_copy(res->bad, e->msg, sizeof res->bad);
	}
	hmap_release(&v.listed);
	mem_free(sigtext);
	mem_free(sums);
	return st;
}
