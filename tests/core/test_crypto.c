/* test_crypto.c - SHA-256 (FIPS 180-2), Ed25519 (RFC 8032), encodings, CRC-32C. */
#include "harness.h"

#include <string.h>

static void hex_of(const uint8_t *p, size_t n, char *out)
{
	hex_encode(p, n, out);
}

static void test_sha256_fips(void **state)
{
	static const struct { const char *msg; const char *want; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	uint8_t d[SHA256_LEN];
	char hex[65];
	struct sha256 h;
	char chunk[1000];

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		sha256(v[i].msg, strlen(v[i].msg), d);
		hex_of(d, sizeof d, hex);
		assert_string_equal(hex, v[i].want);
	}
	/* One million 'a', fed incrementally. */
	memset(chunk, 'a', sizeof chunk);
	sha256_begin(&h);
	for (int i = 0; i < 1000; i++)
		sha256_add(&h, chunk, sizeof chunk);
	sha256_end(&h, d);
	hex_of(d, sizeof d, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_file(void **state)
{
	const char *dir = th_tmpdir();
	const char *p = th_write_file(dir, "f.txt", "abc");
	uint8_t d[SHA256_LEN];
	char hex[65];
	struct err e;

	(void)state;
	TH_OK(sha256_file(p, d, &e));
	hex_of(d, sizeof d, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	TH_ST(sha256_file("/nonexistent/x", d, &e), ST_NOTFOUND);
	th_tmpdir_cleanup();
}

/* RFC 8032 section 7.1, tests 1-3. */
static void test_ed25519_rfc8032(void **state)
{
	static const struct { const char *sk, *pk, *msg, *sig; } v[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
		  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
		{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
		  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
		  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint8_t sk[32], pk[32], want_pk[32], msg[8], sig[64], want_sig[64];
		size_t mlen = strlen(v[i].msg) / 2;
		char hex[129];

		TH_OK(hex_decode(v[i].sk, 64, sk, 32));
		TH_OK(hex_decode(v[i].pk, 64, want_pk, 32));
		TH_OK(hex_decode(v[i].msg, 2 * mlen, msg, mlen));
		TH_OK(hex_decode(v[i].sig, 128, want_sig, 64));
		ed25519_public(sk, pk);
		hex_of(pk, 32, hex);
		assert_string_equal(hex, v[i].pk);
		ed25519_sign(sk, pk, msg, mlen, sig);
		hex_of(sig, 64, hex);
		assert_string_equal(hex, v[i].sig);
		assert_int_equal(ed25519_verify(pk, msg, mlen, sig), 1);
		sig[5] ^= 1;	/* tampered signature */
		assert_int_equal(ed25519_verify(pk, msg, mlen, sig), 0);
		sig[5] ^= 1;
		msg[0] ^= 0x80;	/* tampered message (test 1 is empty: append one) */
		assert_int_equal(ed25519_verify(pk, msg, mlen ? mlen : 1, sig), 0);
	}
}

static void test_hex_base64(void **state)
{
	char out[64];
	uint8_t raw[32];
	size_t n;

	(void)state;
	base64_encode("foobar", 6, out);
	assert_string_equal(out, "Zm9vYmFy");
	base64_encode("fo", 2, out);
	assert_string_equal(out, "Zm8=");
	n = sizeof raw;
	TH_OK(base64_decode("Zm9vYg==", 8, raw, &n));
	assert_int_equal(n, 4);
	assert_memory_equal(raw, "foob", 4);
	n = sizeof raw;
	TH_ST(base64_decode("Zm9v!mFy", 8, raw, &n), ST_CORRUPT);
	n = sizeof raw;
	TH_ST(base64_decode("Zm9", 3, raw, &n), ST_CORRUPT);
	n = 2;
	TH_ST(base64_decode("Zm9vYmFy", 8, raw, &n), ST_LIMIT);
	TH_OK(hex_decode("00ff10", 6, raw, 3));
	assert_int_equal(raw[1], 0xff);
	TH_ST(hex_decode("0g", 2, raw, 1), ST_CORRUPT);
	TH_ST(hex_decode("abc", 3, raw, 1), ST_CORRUPT);
}

static void test_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C. */
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	/* Incremental equals one-shot. */
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
}

static void test_random(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	TH_OK(random_bytes(a, sizeof a));
	TH_OK(random_bytes(b, sizeof b));
	assert_memory_not_equal(a, b, sizeof a);
}

int run_core_crypto_tests(void);
int run_core_crypto_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_fips),
		cmocka_unit_test(test_sha256_file),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_hex_base64),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests_name("core_crypto", tests, NULL, NULL);
}
