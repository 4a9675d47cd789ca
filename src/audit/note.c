/*
 * note.c - signed notes (c2sp.org/signed-note) with Ed25519 keys, the key
 * text formats of the reference implementation (golang.org/x/mod/sumdb/
 * note), and checkpoints (c2sp.org/tlog-checkpoint) carried in them.
 *
 * A note is text ending in a newline, a blank line, then signature lines
 * "— <key name> <base64(key id (4 bytes, big-endian) || signature)>".
 */
#include "audit/audit.h"

#include <string.h>

#define EM_DASH "\xe2\x80\x94"	/* U+2014, starts every signature line */
#define NOTE_MAX (1u << 20)	/* bytes; checkpoints are far smaller */
#define NOTE_MAX_SIGS 16

uint32_t aud_key_id(const char *name, const uint8_t pub[ED25519_KEY_LEN])
{
	struct sha256 h;
	uint8_t d[SHA256_LEN];
	const uint8_t sep[2] = { 0x0a, 0x01 };	/* newline, Ed25519 type */

	sha256_begin(&h);
	sha256_add(&h, name, strlen(name));
	sha256_add(&h, sep, 2);
	sha256_add(&h, pub, ED25519_KEY_LEN);
	sha256_end(&h, d);
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

/* Key names: non-empty, no spaces, no '+', no control characters. */
static int name_ok(const char *name, size_t n)
{
	if (n == 0 || n >= sizeof ((struct aud_signer *)0)->name)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c == '+' || c == 0x7f)
			return 0;
	}
	/* Unicode spaces are not allowed either; the ones in UTF-8 that matter
	 * start with 0xc2 0xa0, 0xe2 0x80 0x8x/0xa8/0xa9/0xaf, 0xe3 0x80 0x80. */
	for (size_t i = 0; i + 1 < n; i++) {
		const unsigned char *u = (const unsigned char *)name + i;
		if ((u[0] == 0xc2 && u[1] == 0xa0) ||
		    (i + 2 < n && u[0] == 0xe2 && u[1] == 0x80 &&
		     (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf)) ||
		    (i + 2 < n && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80))
			return 0;
	}
	return 1;
}

status_t aud_signer_init(struct aud_signer *s, const char *name,
			 const uint8_t seed[ED25519_KEY_LEN], struct err *e)
{
	if (!name_ok(name, strlen(name)))
		return err_set(e, ST_INVAL, "key name '%s' is empty or holds a space or '+'", name);
	memset(s, 0, sizeof *s);
	str_copy(s->name, name, sizeof s->name);
	memcpy(s->seed, seed, ED25519_KEY_LEN);
	ed25519_public(s->seed, s->pub);
	s->key_id = aud_key_id(s->name, s->pub);
	return ST_OK;
}

/* Splits "a+b+c" key text at '+' into at most n fields (the last takes the
 * rest: base64 may itself hold '+'). Returns the field count. */
static int split_plus(const char *text, const char **f, size_t *fl, int n)
{
	int k = 0;
	const char *p = text;

	while (k < n - 1) {
		const char *q = strchr(p, '+');
		if (!q)
			break;
		f[k] = p;
		fl[k++] = (size_t)(q - p);
		p = q + 1;
	}
	f[k] = p;
	fl[k++] = strcspn(p, "\r\n");
	return k;
}

static status_t parse_hash(const char *p, size_t n, uint32_t *out)
{
	uint8_t b[4];

	if (n != 8 || hex_decode(p, n, b, 4) != ST_OK)
		return ST_CORRUPT;
	for (size_t i = 0; i < 8; i++)
		if (p[i] >= 'A' && p[i] <= 'F')
			return ST_CORRUPT;	/* lower-case only, as written */
	*out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return ST_OK;
}

/* Decodes base64(0x01 || 32 bytes). */
static status_t parse_key33(const char *p, size_t n, uint8_t key[ED25519_KEY_LEN])
{
	uint8_t b[40];
	size_t bl = sizeof b;

	if (base64_decode(p, n, b, &bl) != ST_OK || bl != 33 || b[0] != 0x01)
		return ST_CORRUPT;
	memcpy(key, b + 1, ED25519_KEY_LEN);
	return ST_OK;
}

status_t aud_signer_parse(struct aud_signer *s, const char *text, struct err *e)
{
	const char *f[5];
	size_t fl[5];
	uint8_t seed[ED25519_KEY_LEN];
	char name[128];
	uint32_t id;

	if (split_plus(text, f, fl, 5) != 5 || fl[0] != 7 || memcmp(f[0], "PRIVATE", 7) != 0 ||
	    fl[1] != 3 || memcmp(f[1], "KEY", 3) != 0)
		return err_set(e, ST_CORRUPT, "signer key: want PRIVATE+KEY+name+hash+key");
	if (!name_ok(f[2], fl[2]))
		return err_set(e, ST_CORRUPT, "signer key: bad key name");
	if (parse_hash(f[3], fl[3], &id) != ST_OK)
		return err_set(e, ST_CORRUPT, "signer key: key hash is not 8 hex digits");
	if (parse_key33(f[4], fl[4], seed) != ST_OK)
		return err_set(e, ST_CORRUPT, "signer key: key is not base64 of 0x01 and 32 bytes");
	memcpy(name, f[2], fl[2]);
	name[fl[2]] = '\0';
	aud_signer_init(s, name, seed, NULL);
	if (s->key_id != id)
		return err_set(e, ST_CORRUPT, "signer key: key hash %08x does not match the key (%08x)",
			       id, s->key_id);
	return ST_OK;
}

static void format_key(const char *prefix, const char *name, uint32_t id,
		       const uint8_t key[ED25519_KEY_LEN], char *out, size_t n)
{
	uint8_t b[33];
	char b64[64];

	b[0] = 0x01;
	memcpy(b + 1, key, ED25519_KEY_LEN);
	base64_encode(b, sizeof b, b64);
	snprintf(out, n, "%s%s+%08x+%s", prefix, name, id, b64);
}

void aud_signer_format(const struct aud_signer *s, char *out, size_t n)
{
	format_key("PRIVATE+KEY+", s->name, s->key_id, s->seed, out, n);
}

void aud_verifier_format(const struct aud_signer *s, char *out, size_t n)
{
	format_key("", s->name, s->key_id, s->pub, out, n);
}

status_t aud_verifier_parse(struct aud_verifier *v, const char *text, struct err *e)
{
	const char *f[3];
	size_t fl[3];

	memset(v, 0, sizeof *v);
	if (split_plus(text, f, fl, 3) != 3)
		return err_set(e, ST_CORRUPT, "verifier key: want name+hash+key");
	if (!name_ok(f[0], fl[0]))
		return err_set(e, ST_CORRUPT, "verifier key: bad key name");
	if (parse_hash(f[1], fl[1], &v->key_id) != ST_OK)
		return err_set(e, ST_CORRUPT, "verifier key: key hash is not 8 hex digits");
	if (parse_key33(f[2], fl[2], v->pub) != ST_OK)
		return err_set(e, ST_CORRUPT,
			       "verifier key: key is not base64 of 0x01 and 32 bytes");
	memcpy(v->name, f[0], fl[0]);
	v->name[fl[0]] = '\0';
	if (aud_key_id(v->name, v->pub) != v->key_id)
		return err_set(e, ST_CORRUPT, "verifier key: key hash %08x does not match the key",
			       v->key_id);
	return ST_OK;
}

/* Text must be valid as note text: ends in '\n', no control characters
 * but newline, not ending in a blank line. */
static status_t text_ok(const char *text, size_t n, struct err *e)
{
	if (n == 0 || text[n - 1] != '\n')
		return err_set(e, ST_CORRUPT, "note text must end in a newline");
	if (n >= 2 && text[n - 2] == '\n')
		return err_set(e, ST_CORRUPT, "note text must not end in a blank line");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\n') || c == 0x7f)
			return err_set(e, ST_CORRUPT, "note holds control character 0x%02x at byte %zu",
				       c, i);
	}
	return ST_OK;
}

status_t aud_note_sign(const struct aud_signer *s, const char *text, size_t n,
		       struct buf *out, struct err *e)
{
	uint8_t sig[4 + ED25519_SIG_LEN];
	char b64[4 * ((sizeof sig + 2) / 3) + 1];
	status_t st;

	if ((st = text_ok(text, n, e)) != ST_OK)
		return st;
	sig[0] = (uint8_t)(s->key_id >> 24);
	sig[1] = (uint8_t)(s->key_id >> 16);
	sig[2] = (uint8_t)(s->key_id >> 8);
	sig[3] = (uint8_t)s->key_id;
	ed25519_sign(s->seed, s->pub, text, n, sig + 4);
	base64_encode(sig, sizeof sig, b64);
	if ((st = buf_append(out, text, n)) != ST_OK ||
	    (st = buf_printf(out, "\n" EM_DASH " %s %s\n", s->name, b64)) != ST_OK)
		return err_set(e, st, "note: out of memory");
	return ST_OK;
}

status_t aud_note_open(const struct aud_verifier *v, const char *note, size_t n,
		       size_t *text_len, struct err *e)
{
	size_t split = 0, i, nsig = 0;
	int good = 0;
	status_t st;

	if (n > NOTE_MAX)
		return err_set(e, ST_CORRUPT, "note is larger than %u bytes", NOTE_MAX);
	if (memchr(note, '\0', n))
		return err_set(e, ST_CORRUPT, "note holds a NUL byte");
	/* The text ends at the last "\n\n": the blank line before signatures. */
	for (i = n; i >= 2; i--) {
		if (note[i - 1] == '\n' && note[i - 2] == '\n') {
			split = i - 1;
			break;
		}
	}
	if (split == 0)
		return err_set(e, ST_CORRUPT, "note has no blank line before its signatures");
	if ((st = text_ok(note, split, e)) != ST_OK)
		return st;
	if (n == split + 1 || note[n - 1] != '\n')
		return err_set(e, ST_CORRUPT, "note signatures must be lines ending in a newline");

	for (i = split + 1; i < n;) {
		const char *line = note + i, *nl = memchr(line, '\n', n - i);
		size_t ll = (size_t)(nl - line), nl_len, sl;
		const char *name, *sp, *sigb;
		uint8_t sig[4 + ED25519_SIG_LEN + 8];
		size_t siglen = sizeof sig;
		uint32_t id;

		if (++nsig > NOTE_MAX_SIGS)
			return err_set(e, ST_CORRUPT, "note has more than %d signatures",
				       NOTE_MAX_SIGS);
		if (ll < 4 || memcmp(line, EM_DASH " ", 4) != 0)
			return err_set(e, ST_CORRUPT, "signature line %zu does not start with '— '",
				       nsig);
		name = line + 4;
		sp = memchr(name, ' ', ll - 4);
		if (!sp)
			return err_set(e, ST_CORRUPT, "signature line %zu has no signature", nsig);
		nl_len = (size_t)(sp - name);
		sigb = sp + 1;
		sl = (size_t)(line + ll - sigb);
		if (!name_ok(name, nl_len))
			return err_set(e, ST_CORRUPT, "signature line %zu has a bad key name", nsig);
		if (base64_decode(sigb, sl, sig, &siglen) != ST_OK || siglen < 5)
			return err_set(e, ST_CORRUPT, "signature line %zu is not base64 of key id "
				       "and signature", nsig);
		id = (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 | (uint32_t)sig[2] << 8 |
		     sig[3];
		i += ll + 1;
		/* Signatures by other keys are ignored; only name AND id match. */
		if (nl_len != strlen(v->name) || memcmp(name, v->name, nl_len) != 0 ||
		    id != v->key_id)
			continue;
		if (siglen != 4 + ED25519_SIG_LEN || !ed25519_verify(v->pub, note, split, sig + 4))
			return err_set(e, ST_VERIFY, "signature by %s does not verify", v->name);
		good = 1;
	}
	if (!good)
		return err_set(e, ST_VERIFY, "note has no signature by key %s+%08x", v->name,
			       v->key_id);
	*text_len = split;
	return ST_OK;
}

status_t aud_checkpoint_format(const struct aud_checkpoint *c, struct buf *out)
{
	char b64[48];

	base64_encode(c->root, AUD_HASH_LEN, b64);
	return buf_printf(out, "%s\n%llu\n%s\n", c->origin, (unsigned long long)c->size, b64);
}

status_t aud_checkpoint_open(const struct aud_verifier *v, const char *note, size_t n,
			     struct aud_checkpoint *c, struct err *e)
{
	size_t tl, l1, l2, l3, rl = AUD_HASH_LEN + 4;
	const char *p;
	char num[32];
	int64_t size;
	uint8_t root[AUD_HASH_LEN + 4];
	status_t st;

	if ((st = aud_note_open(v, note, n, &tl, e)) != ST_OK)
		return st;
	memset(c, 0, sizeof *c);
	p = note;
	l1 = strcspn(p, "\n");
	if (l1 == 0 || l1 >= sizeof c->origin || l1 + 1 >= tl)
		return err_set(e, ST_CORRUPT, "checkpoint: bad origin line");
	memcpy(c->origin, p, l1);
	p += l1 + 1;
	l2 = strcspn(p, "\n");
	if (l2 == 0 || l2 >= sizeof num || (size_t)(p + l2 - note) >= tl ||
	    (l2 > 1 && p[0] == '0'))
		return err_set(e, ST_CORRUPT, "checkpoint: bad tree size line");
	memcpy(num, p, l2);
	num[l2] = '\0';
	for (size_t i = 0; i < l2; i++)
		if (num[i] < '0' || num[i] > '9')
			return err_set(e, ST_CORRUPT, "checkpoint: tree size is not a number");
	if (parse_i64(num, 0, INT64_MAX, &size) != ST_OK)
		return err_set(e, ST_CORRUPT, "checkpoint: tree size out of range");
	p += l2 + 1;
	l3 = strcspn(p, "\n");
	if ((size_t)(p + l3 - note) >= tl ||
	    base64_decode(p, l3, root, &rl) != ST_OK || rl != AUD_HASH_LEN)
		return err_set(e, ST_CORRUPT, "checkpoint: root hash is not base64 of 32 bytes");
	c->size = (uint64_t)size;
	memcpy(c->root, root, AUD_HASH_LEN);
	return ST_OK;
}
