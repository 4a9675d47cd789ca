/*
 * test_note.c - signed notes and checkpoints against the reference
 * implementation's known answers (golang.org/x/mod/sumdb/note's example
 * key and note, and the C2SP signed-note spec's example), tampering,
 * wrong keys, and a table of malformed notes and keys with the error
 * each must give.
 */
#include "audit_tests.h"

#include <string.h>

/* The sumdb/note example key pair and signed note. */
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT "If you think cryptography is the answer to your problem,\n" \
		"then you don't know what your problem is.\n"
#define GO_SIG "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
/* The C2SP signed-note spec's example. */
#define SPEC_VKEY "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define SPEC_NOTE "This is an example message.\n\n\xe2\x80\x94 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"

static void test_known_answer(void **state)
{
	struct aud_signer s;
	struct aud_verifier v;
	struct buf out;
	char text[256];
	size_t tl;

	(void)state;
	TH_OK(aud_signer_parse(&s, GO_SKEY, NULL));
	assert_int_equal(s.key_id, 0xc74f20a3);
	aud_signer_format(&s, text, sizeof text);
	assert_string_equal(text, GO_SKEY);
	aud_verifier_format(&s, text, sizeof text);
	assert_string_equal(text, GO_VKEY);
	buf_init(&out, 0);
	TH_OK(aud_note_sign(&s, GO_TEXT, strlen(GO_TEXT), &out, NULL));
	/* Ed25519 is deterministic: byte for byte the reference's note. */
	assert_string_equal(buf_cstr(&out), GO_TEXT "\n" GO_SIG);
	TH_OK(aud_verifier_parse(&v, GO_VKEY, NULL));
	TH_OK(aud_note_open(&v, out.data, out.len, &tl, NULL));
	assert_int_equal(tl, strlen(GO_TEXT));
	buf_release(&out);

	TH_OK(aud_verifier_parse(&v, SPEC_VKEY, NULL));
	TH_OK(aud_note_open(&v, SPEC_NOTE, strlen(SPEC_NOTE), &tl, NULL));
	assert_int_equal(tl, strlen("This is an example message.\n"));
}

static void test_tamper_and_wrong_key(void **state)
{
	struct aud_verifier v, other;
	struct aud_signer s2;
	uint8_t seed[32] = { 7 };
	char note[512], vk[256];
	struct err e;
	size_t tl;

	(void)state;
	TH_OK(aud_verifier_parse(&v, GO_VKEY, NULL));
	snprintf(note, sizeof note, "%s\n%s", GO_TEXT, GO_SIG);
	/* Every single-byte change of the text breaks the signature. */
	for (size_t i = 0; i < strlen(GO_TEXT) - 1; i++) {
		note[i] ^= 0x01;
		err_clear(&e);
		status_t st = aud_note_open(&v, note, strlen(note), &tl, &e);
		assert_true(st == ST_VERIFY || st == ST_CORRUPT);
		note[i] ^= 0x01;
	}
	TH_OK(aud_note_open(&v, note, strlen(note), &tl, NULL));
	/* A different key with the same name: its signature is not ours. */
	TH_OK(aud_signer_init(&s2, "PeterNeumann", seed, NULL));
	aud_verifier_format(&s2, vk, sizeof vk);
	TH_OK(aud_verifier_parse(&other, vk, NULL));
	err_clear(&e);
	TH_ST(aud_note_open(&other, note, strlen(note), &tl, &e), ST_VERIFY);
	assert_non_null(strstr(e.msg, "no signature by key"));
	/* Same name and id but another public key: a bad signature. */
	other = v;
	other.pub[0] ^= 1;
	TH_ST(aud_note_open(&other, note, strlen(note), &tl, NULL), ST_VERIFY);
}

struct bad_case {
	const char *note;
	status_t want;
	const char *msg;	/* substring of the error */
};

static void test_bad_notes(void **state)
{
	static const struct bad_case cases[] = {
		{ "", ST_CORRUPT, "no blank line" },
		{ "hello\n", ST_CORRUPT, "no blank line" },
		{ "hello\n\n", ST_CORRUPT, "signatures must be lines" },
		{ "hello\n\n\xe2\x80\x94 PeterNeumann x08go", ST_CORRUPT, "signatures must be lines" },
		{ "hello\n\n- PeterNeumann AAAA\n", ST_CORRUPT, "does not start with" },
		{ "hello\n\n\xe2\x80\x94 PeterNeumann\n", ST_CORRUPT, "has no signature" },
		{ "hello\n\n\xe2\x80\x94 Peter+Neumann AAAAAAAA\n", ST_CORRUPT, "bad key name" },
		{ "hello\n\n\xe2\x80\x94 PeterNeumann !!!!\n", ST_CORRUPT, "not base64" },
		{ "hello\n\n\xe2\x80\x94 PeterNeumann AAAA\n", ST_CORRUPT, "not base64" },
		{ "he\x01llo\n\n\xe2\x80\x94 PeterNeumann AAAAAAAA\n", ST_CORRUPT, "control character" },
		{ "hello\n\n\xe2\x80\x94 other AAAAAAAA\n", ST_VERIFY, "no signature by key" },
		{ "hello\n\n\xe2\x80\x94 PeterNeumann x08go/ZJ\n", ST_VERIFY, "does not verify" },
	};
	struct aud_verifier v;

	(void)state;
	TH_OK(aud_verifier_parse(&v, GO_VKEY, NULL));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct err e;
		size_t tl;
		status_t st;

		err_clear(&e);
		st = aud_note_open(&v, cases[i].note, strlen(cases[i].note), &tl, &e);
		if (st != cases[i].want || !strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: got %s '%s', want %s '%s'", i, status_name(st), e.msg,
				 status_name(cases[i].want), cases[i].msg);
	}
}

static void test_bad_keys(void **state)
{
	static const struct bad_case cases[] = {
		{ "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", ST_CORRUPT, "does not match" },
		{ "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", ST_CORRUPT, "8 hex digits" },
		{ "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", ST_CORRUPT, "8 hex digits" },
		{ "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", ST_CORRUPT, "0x01 and 32 bytes" },
		{ "PeterNeumann+c74f20a3", ST_CORRUPT, "want name+hash+key" },
		{ "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", ST_CORRUPT, "bad key name" },
		{ "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", ST_CORRUPT, "bad key name" },
	};
	struct aud_verifier v;
	struct aud_signer s;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		status_t st;

		err_clear(&e);
		st = aud_verifier_parse(&v, cases[i].note, &e);
		if (st != cases[i].want || !strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: got %s '%s', want %s '%s'", i, status_name(st), e.msg,
				 status_name(cases[i].want), cases[i].msg);
	}
	err_clear(&e);
	TH_ST(aud_signer_parse(&s, "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", &e), ST_CORRUPT);
	assert_non_null(strstr(e.msg, "does not match"));
	TH_ST(aud_signer_parse(&s, GO_VKEY, NULL), ST_CORRUPT);
}

static void test_checkpoint_roundtrip(void **state)
{
	struct aud_signer s;
	struct aud_verifier v;
	struct aud_checkpoint c = { "example.com/log", 12345, { 1, 2, 3 } }, got;
	struct buf body, note;
	char vk[256];
	struct err e;

	(void)state;
	TH_OK(aud_signer_parse(&s, GO_SKEY, NULL));
	aud_verifier_format(&s, vk, sizeof vk);
	TH_OK(aud_verifier_parse(&v, vk, NULL));
	buf_init(&body, 0);
	buf_init(&note, 0);
	TH_OK(aud_checkpoint_format(&c, &body));
	assert_string_equal(buf_cstr(&body),
			    "example.com/log\n12345\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
	TH_OK(aud_note_sign(&s, body.data, body.len, &note, NULL));
	TH_OK(aud_checkpoint_open(&v, note.data, note.len, &got, NULL));
	assert_string_equal(got.origin, "example.com/log");
	assert_int_equal(got.size, 12345);
	assert_memory_equal(got.root, c.root, 32);
	/* Swap the size for another: the signature no longer holds. */
	note.data[17] = '4';
	err_clear(&e);
	TH_ST(aud_checkpoint_open(&v, note.data, note.len, &got, &e), ST_VERIFY);
	buf_reset(&note);
	/* A signed body that is not a checkpoint is refused as such. */
	TH_OK(aud_note_sign(&s, "origin\n01\nAAAA\n", 15, &note, NULL));
	TH_ST(aud_checkpoint_open(&v, note.data, note.len, &got, NULL), ST_CORRUPT);
	buf_release(&body);
	buf_release(&note);
}

/* Signed, so the signature holds; the body is what is wrong. */
static void test_bad_checkpoint_bodies(void **state)
{
	static const struct { const char *body; const char *msg; } cases[] = {
		{ "\n5\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "bad origin line" },
		{ "origin\n", "bad origin line" },
		{ "origin\n\x35x\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "not a number" },
		{ "origin\n-5\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "not a number" },
		{ "origin\n05\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "bad tree size" },
		{ "origin\n99999999999999999999\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "out of range" },
		{ "origin\n5\n", "root hash" },
		{ "origin\n5\nAQID\n", "root hash" },
		{ "origin\n5\n!!!!\n", "root hash" },
	};
	struct aud_signer s;
	struct aud_verifier v;
	char vk[256];

	(void)state;
	TH_OK(aud_signer_parse(&s, GO_SKEY, NULL));
	aud_verifier_format(&s, vk, sizeof vk);
	TH_OK(aud_verifier_parse(&v, vk, NULL));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf note;
		struct aud_checkpoint c;
		struct err e;
		status_t st;

		buf_init(&note, 0);
		TH_OK(aud_note_sign(&s, cases[i].body, strlen(cases[i].body), &note, NULL));
		err_clear(&e);
		st = aud_checkpoint_open(&v, note.data, note.len, &c, &e);
		if (st != ST_CORRUPT || !strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: got %s '%s', want CORRUPT '%s'", i, status_name(st), e.msg,
				 cases[i].msg);
		buf_release(&note);
	}
}

int run_note_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_tamper_and_wrong_key),
		cmocka_unit_test(test_bad_notes),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_checkpoint_roundtrip),
		cmocka_unit_test(test_bad_checkpoint_bodies),
	};
	return cmocka_run_group_tests_name("note", tests, NULL, NULL);
}
