/*
 * crypto.c - SHA-256 and Ed25519 through nettle (the crypto stack GnuTLS
 * uses), randomness from the kernel, hex and base64, CRC-32C.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <nettle/eddsa.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

_Static_assert(sizeof(struct sha256) >= sizeof(struct sha256_ctx),
	       "struct sha256 too small for nettle's context");

void sha256_begin(struct sha256 *h)
{
	nettle_sha256_init((struct sha256_ctx *)h);
}

void sha256_add(struct sha256 *h, const void *p, size_t n)
{
	nettle_sha256_update((struct sha256_ctx *)h, n, p);
}

void sha256_end(struct sha256 *h, uint8_t out[SHA256_LEN])
{
	nettle_sha256_digest((struct sha256_ctx *)h, SHA256_DIGEST_SIZE, out);
}

void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	struct sha256 h;

	sha256_begin(&h);
	sha256_add(&h, p, n);
	sha256_end(&h, out);
}

status_t sha256_file(const char *path, uint8_t out[SHA256_LEN], struct err *e)
{
	unsigned char chunk[1 << 16];
	struct sha256 h;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(e, errno == ENOENT ? ST_NOTFOUND : ST_IO, "%s: %s",
			       path, strerror(errno));
	sha256_begin(&h);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return err_set(e, ST_IO, "%s: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		sha256_add(&h, chunk, (size_t)r);
	}
	close(fd);
	sha256_end(&h, out);
	return ST_OK;
}

void ed25519_public(const uint8_t priv[ED25519_KEY_LEN], uint8_t pub[ED25519_KEY_LEN])
{
	nettle_ed25519_sha512_public_key(pub, priv);
}

void ed25519_sign(const uint8_t priv[ED25519_KEY_LEN],
		  const uint8_t pub[ED25519_KEY_LEN], const void *msg, size_t n,
		  uint8_t sig[ED25519_SIG_LEN])
{
	nettle_ed25519_sha512_sign(pub, priv, n, msg, sig);
}

int ed25519_verify(const uint8_t pub[ED25519_KEY_LEN], const void *msg, size_t n,
		   const uint8_t sig[ED25519_SIG_LEN])
{
	return nettle_ed25519_sha512_verify(pub, n, msg, sig) ? 1 : 0;
}

status_t random_bytes(void *p, size_t n)
{
	unsigned char *c = p;

	while (n) {
		ssize_t r = getrandom(c, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ST_IO;
		}
		c += r;
		n -= (size_t)r;
	}
	return ST_OK;
}

char *hex_encode(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[c[i] >> 4];
		out[2 * i + 1] = digits[c[i] & 15];
	}
	out[2 * n] = 0;
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

status_t hex_decode(const char *s, size_t slen, void *out, size_t n)
{
	unsigned char *o = out;

	if (slen != 2 * n)
		return ST_CORRUPT;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ST_CORRUPT;
		o[i] = (unsigned char)(hi << 4 | lo);
	}
	return ST_OK;
}

size_t base64_encode(const void *p, size_t n, char *out)
{
	size_t len = BASE64_ENCODE_RAW_LENGTH(n);

	nettle_base64_encode_raw(out, n, p);
	out[len] = 0;
	return len;
}

status_t base64_decode(const char *s, size_t slen, void *out, size_t *outlen)
{
	struct base64_decode_ctx ctx;
	size_t cap = *outlen, done = 0;

	/* nettle's decoder skips whitespace; strict input is wanted here. */
	for (size_t i = 0; i < slen; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
			return ST_CORRUPT;
	}
	if (slen % 4 != 0)
		return ST_CORRUPT;
	nettle_base64_decode_init(&ctx);
	{
		/* Decode into a temporary of the upper bound, then copy. */
		size_t tmpcap = BASE64_DECODE_LENGTH(slen);
		uint8_t *tmp = mem_alloc(tmpcap ? tmpcap : 1);
		if (!tmp)
			return ST_NOMEM;
		done = tmpcap;
		if (!nettle_base64_decode_update(&ctx, &done, tmp, slen, s) ||
		    !nettle_base64_decode_final(&ctx) || done > cap) {
			mem_free(tmp);
			return done > cap ? ST_LIMIT : ST_CORRUPT;
		}
		memcpy(out, tmp, done);
		mem_free(tmp);
	}
	*outlen = done;
	return ST_OK;
}

/* CRC-32C, reflected polynomial 0x82F63B78, slicing by one byte. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *c = p;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *c++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
