/*
 * sign.c - signed bundles.
 *
 * A signature covers the bundle's manifest: one line per regular file
 * ("<sha256 hex>  <relative path>\n"), hidden files and bundle.sig left
 * out, sorted by path. bundle.sig is three lines:
 *
 *   airlock-policy-signature v1
 *   key <public key, 64 hex digits>
 *   sig <Ed25519 signature, base64>
 *
 * and the signed message is "airlock-policy-manifest-v1\n" followed by the
 * manifest. The loader rebuilds the manifest from disk, checks the
 * signature, then checks each YAML file it parses against the manifest
 * from the very bytes it parses, so a file swapped between the two reads
 * is refused too.
 */
#include "policy/policy_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char sig_magic[] = "airlock-policy-signature v1";
static const char msg_prefix[] = "airlock-policy-manifest-v1\n";

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static status_t walk(const char *root, const char *rel, const struct pol_walk *w,
		     struct vec *out, int depth, struct err *e)
{
	char path[8400], sub[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;
	status_t rc = ST_OK;

	if (depth > 16)
		return ST_OK;
	snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
	if (!(d = opendir(path)))
		return err_set(e, ST_IO, "%s: %s", path, strerror(errno));
	while ((de = readdir(d))) {
		char *dup;
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		snprintf(path, sizeof path, "%s/%s", root, sub);
		if ((w->follow ? stat(path, &st) : lstat(path, &st)) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (w->keep(sub, de->d_name, 1) && (rc = walk(root, sub, w, out, depth + 1, e)))
				break;
		} else if (S_ISREG(st.st_mode) && w->keep(sub, de->d_name, 0)) {
			if (!(dup = mem_strdup(sub)) || vec_push(out, &dup)) {
				mem_free(dup);
				rc = err_set(e, ST_NOMEM, "out of memory");
				break;
			}
		}
	}
	closedir(d);
	return rc;
}

status_t pol__files_list(const char *dir, const struct pol_walk *w, struct vec *out,
			 struct err *e)
{
	status_t st;

	vec_init(out, sizeof(char *));
	if ((st = walk(dir, "", w, out, 0, e))) {
		pol__files_release(out);
		return st;
	}
	if (out->len)
		qsort(out->data, out->len, sizeof(char *), cmp_str);
	return ST_OK;
}

void pol__files_release(struct vec *files)
{
	for (size_t i = 0; i < files->len; i++)
		mem_free(VEC_AT(files, char *, i));
	vec_release(files);
}

/* A bundle's signature covers every regular file but the signature itself. */
static int sign_keep(const char *rel, const char *name, int is_dir)
{
	(void)name;
	return is_dir || strcmp(rel, POL_SIG_FILE) != 0;
}

status_t pol_manifest_build(const char *dir, char **out, size_t *len, struct err *e)
{
	struct vec files;
	struct buf m;
	status_t st;

	*out = NULL;
	static const struct pol_walk w = { sign_keep, 0 };

	buf_init(&m, 0);
	st = pol__files_list(dir, &w, &files, e);
	for (size_t i = 0; !st && i < files.len; i++) {
		char path[4096], hex[2 * SHA256_LEN + 1];
		uint8_t d[SHA256_LEN];
		snprintf(path, sizeof path, "%s/%s", dir, VEC_AT(&files, char *, i));
		if ((st = sha256_file(path, d, e)))
			break;
		if (buf_printf(&m, "%s  %s\n", hex_encode(d, sizeof d, hex), VEC_AT(&files, char *, i)))
			st = err_set(e, ST_NOMEM, "out of memory");
	}
	pol__files_release(&files);
	if (!st && buf_reserve(&m, 0))
		st = err_set(e, ST_NOMEM, "out of memory");
	if (st) {
		buf_release(&m);
		return st;
	}
	*out = buf_detach(&m, len);
	return ST_OK;
}

int pol__manifest_has(const char *manifest, const char *rel, const uint8_t d[SHA256_LEN])
{
	char line[4200], hex[2 * SHA256_LEN + 1];
	int n = snprintf(line, sizeof line, "%s  %s\n", hex_encode(d, SHA256_LEN, hex), rel);
	const char *p = manifest;

	if (n < 0 || (size_t)n >= sizeof line)
		return 0;
	while ((p = strstr(p, line))) {
		if (p == manifest || p[-1] == '\n')
			return 1;
		p++;
	}
	return 0;
}

static status_t signed_message(const char *manifest, size_t len, struct buf *msg)
{
	buf_init(msg, 0);
	if (buf_puts(msg, msg_prefix) || buf_append(msg, manifest, len)) {
		buf_release(msg);
		return ST_NOMEM;
	}
	return ST_OK;
}

status_t pol__sig_verify(const char *dir, const struct pol_load_opts *o,
			 char **manifest, int *signed_ok, char digest[2 * SHA256_LEN + 1],
			 struct err *e)
{
	char sigpath[4200], *text = NULL, *m = NULL;
	size_t tlen, mlen;
	uint8_t key[ED25519_KEY_LEN], sig[ED25519_SIG_LEN], dg[SHA256_LEN];
	struct buf msg;
	status_t st;
	const char *p, *l2, *l3;
	size_t siglen = sizeof sig;
	int trusted;

	*manifest = NULL;
	*signed_ok = 0;
	if ((st = pol_manifest_build(dir, &m, &mlen, e)))
		return st;
	sha256(m, mlen, dg);
	hex_encode(dg, sizeof dg, digest);
	snprintf(sigpath, sizeof sigpath, "%s/%s", dir, POL_SIG_FILE);
	if (access(sigpath, F_OK) != 0) {
		mem_free(m);
		if (o && o->require_signature)
			return err_setat(e, ST_VERIFY, sigpath, 0, 0,
					 "bundle is not signed and signatures are required "
					 "(sign it with `airlock policy sign`)");
		return ST_OK;
	}
	if ((st = file_read_all(sigpath, 4096, &text, &tlen, e)))
		goto out;
	st = ST_VERIFY;
	p = text;
	if (strncmp(p, sig_magic, sizeof sig_magic - 1) || p[sizeof sig_magic - 1] != '\n') {
		err_setat(e, st, sigpath, 1, 1, "not an airlock policy signature (want '%s')", sig_magic);
		goto out;
	}
	l2 = p + sizeof sig_magic;
	if (strncmp(l2, "key ", 4) || strlen(l2) < 4 + 64 || l2[68] != '\n' ||
	    hex_decode(l2 + 4, 64, key, sizeof key)) {
		err_setat(e, st, sigpath, 2, 1, "expected 'key <64 hex digits>'");
		goto out;
	}
	l3 = l2 + 69;
	{
		size_t n = strcspn(l3 + (strncmp(l3, "sig ", 4) ? 0 : 4), "\n");
		if (strncmp(l3, "sig ", 4) || base64_decode(l3 + 4, n, sig, &siglen) ||
		    siglen != sizeof sig) {
			err_setat(e, st, sigpath, 3, 1, "expected 'sig <base64 Ed25519 signature>'");
			goto out;
		}
	}
	trusted = !(o && o->n_keys);
	for (size_t i = 0; o && i < o->n_keys; i++)
		if (!memcmp(o->keys[i], key, sizeof key))
			trusted = 1;
	if (o && o->require_signature && !o->n_keys) {
		err_setat(e, st, sigpath, 2, 1, "signatures are required but no trusted key is configured");
		goto out;
	}
	if (!trusted) {
		err_setat(e, st, sigpath, 2, 5, "bundle is signed by a key that is not trusted");
		goto out;
	}
	if (signed_message(m, mlen, &msg)) {
		st = err_set(e, ST_NOMEM, "out of memory");
		goto out;
	}
	if (!ed25519_verify(key, msg.data, msg.len, sig)) {
		buf_release(&msg);
		err_setat(e, st, sigpath, 3, 5,
			  "bad signature: the files changed since signing, or it was made with another key");
		goto out;
	}
	buf_release(&msg);
	*signed_ok = 1;
	*manifest = m;
	m = NULL;
	st = ST_OK;
out:
	mem_free(text);
	mem_free(m);
	return st;
}

status_t pol_bundle_sign(const char *dir, const uint8_t priv[ED25519_KEY_LEN], struct err *e)
{
	char *m, path[4200], hex[2 * ED25519_KEY_LEN + 1], b64[128];
	uint8_t pub[ED25519_KEY_LEN], sig[ED25519_SIG_LEN];
	struct buf msg, out;
	size_t mlen;
	status_t st;

	if ((st = pol_manifest_build(dir, &m, &mlen, e)))
		return st;
	st = signed_message(m, mlen, &msg);
	mem_free(m);
	if (st)
		return err_set(e, st, "out of memory");
	ed25519_public(priv, pub);
	ed25519_sign(priv, pub, msg.data, msg.len, sig);
	buf_release(&msg);
	base64_encode(sig, sizeof sig, b64);
	buf_init(&out, 0);
	if (buf_printf(&out, "%s\nkey %s\nsig %s\n", sig_magic, hex_encode(pub, sizeof pub, hex), b64)) {
		buf_release(&out);
		return err_set(e, ST_NOMEM, "out of memory");
	}
	snprintf(path, sizeof path, "%s/%s", dir, POL_SIG_FILE);
	st = file_write_atomic(path, out.data, out.len, 0644, e);
	buf_release(&out);
	return st;
}

status_t pol_keygen(const char *key_path, struct err *e)
{
	uint8_t priv[ED25519_KEY_LEN], pub[ED25519_KEY_LEN];
	char pubpath[4200], hex[2 * ED25519_KEY_LEN + 2];
	status_t st;

	snprintf(pubpath, sizeof pubpath, "%s.pub", key_path);
	if (access(key_path, F_OK) == 0 || access(pubpath, F_OK) == 0)
		return err_set(e, ST_EXISTS, "%s or %s already exists; not overwriting", key_path, pubpath);
	if ((st = random_bytes(priv, sizeof priv)))
		return err_set(e, st, "no randomness for the key");
	ed25519_public(priv, pub);
	hex_encode(priv, sizeof priv, hex);
	hex[2 * ED25519_KEY_LEN] = '\n';
	st = file_write_atomic(key_path, hex, sizeof hex - 1, 0600, e);
	memset(priv, 0, sizeof priv);
	memset(hex, 0, sizeof hex);
	if (st)
		return st;
	hex_encode(pub, sizeof pub, hex);
	hex[2 * ED25519_KEY_LEN] = '\n';
	return file_write_atomic(pubpath, hex, sizeof hex - 1, 0644, e);
}

status_t pol_key_read(const char *path, uint8_t key[ED25519_KEY_LEN], struct err *e)
{
	char *text;
	size_t n, got = ED25519_KEY_LEN;
	status_t st;

	if ((st = file_read_all(path, 1024, &text, &n, e)))
		return st;
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	/* Hex (policy keygen) or base64 (airlock keygen) of the 32 bytes. */
	if (n == 2 * ED25519_KEY_LEN)
		st = hex_decode(text, n, key, ED25519_KEY_LEN);
	else if (n == 44)
		st = base64_decode(text, n, key, &got) || got != ED25519_KEY_LEN ? ST_CORRUPT : ST_OK;
	else
		st = ST_CORRUPT;
	memset(text, 0, n);
	mem_free(text);
	if (st)
		return err_setat(e, ST_CORRUPT, path, 1, 1,
				 "not a key file (want 32 bytes as 64 hex digits or base64)");
	return ST_OK;
}
