/*
 * fuzz_tokenizer.c - libFuzzer target: tokenizes arbitrary bytes with a
 * byte-level BPE and a SentencePiece-style vocabulary built in code (or,
 * with AIRLOCK_FUZZ_VOCAB=FILE.gguf, that file's vocabulary), checks that
 * valid text is accepted and comes back unchanged from its tokens, and
 * feeds the pieces through the stop-string stream.
 */
#include "model/model.h"
#include "model/model_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mdl_vocab *vocab_bpe, *vocab_spm, *vocab_file;

/* GPT-2 byte alphabet character of byte b, as UTF-8 into out. */
static size_t byte_char(unsigned b, char *out)
{
	unsigned cp = b, m = 0;

	if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
		for (unsigned x = 0; x < b; x++)
			if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE))
				m++;
		cp = 256 + m;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xC0 | (cp >> 6));
	out[1] = (char)(0x80 | (cp & 0x3F));
	return 2;
}

static void build_vocabs(void)
{
	static char bytes[256][8];
	const char *tok[256 + 8];
	size_t len[256 + 8];
	int32_t type[256 + 8];
	float score[256 + 8] = { 0 };
	static const char *bpe_extra[] = { "\xC4\xA0t", "he", "\xC4\xA0the", "in", "<|endoftext|>", "<tool>" };
	static const char *bpe_merges[] = { "\xC4\xA0 t", "h e", "\xC4\xA0t he", "i n" };
	static const char *spm_extra[] = { "\xE2\x96\x81", "\xE2\x96\x81t", "he", "\xE2\x96\x81the", "<tool>" };
	struct mdl_vocab_spec s;
	struct err e;
	size_t n = 0;
	const char *path = getenv("AIRLOCK_FUZZ_VOCAB");

	for (unsigned b = 0; b < 256; b++) {
		len[n] = byte_char(b, bytes[b]);
		tok[n] = bytes[b];
		type[n++] = MDL_TOKEN_NORMAL;
	}
	for (size_t i = 0; i < 6; i++) {
		tok[n] = bpe_extra[i];
		len[n] = strlen(bpe_extra[i]);
		type[n++] = i == 4 ? MDL_TOKEN_CONTROL : i == 5 ? MDL_TOKEN_USER_DEFINED : MDL_TOKEN_NORMAL;
	}
	mdl_vocab_spec_init(&s);
	s.model = "gpt2";
	s.pre = "llama-bpe";
	s.tokens = tok;
	s.token_lens = len;
	s.types = type;
	s.n_tokens = n;
	s.merges = bpe_merges;
	s.n_merges = 4;
	s.special[MDL_SPECIAL_BOS] = 256 + 4;
	s.special[MDL_SPECIAL_EOS] = 256 + 4;
	if (mdl_vocab_new(&s, &vocab_bpe, &e) != ST_OK)
		abort();

	n = 0;
	tok[n] = "<unk>"; len[n] = 5; type[n++] = MDL_TOKEN_UNKNOWN;
	tok[n] = "<s>"; len[n] = 3; type[n++] = MDL_TOKEN_CONTROL;
	tok[n] = "</s>"; len[n] = 4; type[n++] = MDL_TOKEN_CONTROL;
	for (unsigned b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
		tok[n] = bytes[b];
		len[n] = 6;
		type[n++] = MDL_TOKEN_BYTE;
	}
	for (size_t i = 0; i < 5; i++) {
		tok[n] = spm_extra[i];
		len[n] = strlen(spm_extra[i]);
		score[n] = -(float)i;
		type[n++] = i == 4 ? MDL_TOKEN_USER_DEFINED : MDL_TOKEN_NORMAL;
	}
	mdl_vocab_spec_init(&s);
	s.model = "llama";
	s.tokens = tok;
	s.token_lens = len;
	s.types = type;
	s.scores = score;
	s.n_tokens = n;
	if (mdl_vocab_new(&s, &vocab_spm, &e) != ST_OK)
		abort();
	if (path && mdl_vocab_load(path, &vocab_file, &e) != ST_OK) {
		fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, e.msg);
		abort();
	}
}

static int valid_text(const uint8_t *p, size_t n)
{
	struct mdl_tokens t;
	struct err e;
	int ok;

	/* the library's own check, through an empty-output tokenize */
	mdl_tokens_init(&t, 0);
	ok = memchr(p, 0, n) == NULL &&
	     mdl_tokenize(vocab_spm, (const char *)p, n, 0, &t, &e) != ST_CORRUPT;
	mdl_tokens_release(&t);
	return ok;
}

static void check(const struct mdl_vocab *v, const uint8_t *data, size_t size,
		  unsigned flags, int must_round_trip)
{
	struct mdl_tokens t;
	struct buf back;
	struct mdl_stream *st = NULL;
	const char *stops[] = { "\n\n", "the" };
	struct err e;
	status_t rc;

	mdl_tokens_init(&t, 0);
	buf_init(&back, 0);
	rc = mdl_tokenize(v, (const char *)data, size, flags, &t, &e);
	if (rc == ST_OK) {
		if (mdl_detokenize(v, t.ids, t.len, MDL_DETOK_NO_CLEANUP, &back, &e) != ST_OK)
			abort();
		if (must_round_trip && (back.len != size || (size && memcmp(back.data, data, size))))
			abort();
		if (mdl_stream_new(stops, 2, &st, &e) == ST_OK) {
			struct buf out, cat;
			int stopped = 0;

			/* streamed text equals the pieces joined, unless a stop came */
			buf_init(&out, 0);
			buf_init(&cat, 0);
			for (size_t i = 0; i < t.len && !stopped; i++) {
				size_t k;
				const char *p = mdl_token_piece(v, t.ids[i], &k);

				if (buf_append(&cat, p, k) != ST_OK ||
				    mdl_stream_feed(st, p, k, &out, &stopped) != ST_OK)
					abort();
			}
			if (mdl_stream_finish(st, &out) != ST_OK)
				abort();
			if (!stopped && (out.len != cat.len || (out.len && memcmp(out.data, cat.data, out.len))))
				abort();
			buf_release(&out);
			buf_release(&cat);
			mdl_stream_free(st);
		}
	} else if (rc != ST_CORRUPT && rc != ST_LIMIT && rc != ST_NOMEM) {
		fprintf(stderr, "tokenize: %s: %s\n", status_name(rc), e.msg);
		abort();
	}
	buf_release(&back);
	mdl_tokens_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int valid;

	if (!vocab_bpe)
		build_vocabs();
	if (size > 1 << 16)
		return 0;
	valid = valid_text(data, size);
	/* plain text: every valid input comes back unchanged */
	check(vocab_bpe, data, size, 0, valid);
	/*
	 * SPM: round trip undefined where the text holds U+2581 (it stands for
	 * a space) or a special token (the space added after it stays).
	 */
	check(vocab_spm, data, size, 0, valid && !memmem(data, size, "<tool>", 6) &&
	      !memmem(data, size, "\xE2\x96\x81", 3));
	/* with control tokens parsed, the round trip needs rendered specials: only no crash */
	check(vocab_bpe, data, size, MDL_TOK_PARSE_SPECIAL | MDL_TOK_ADD_SPECIAL, 0);
	check(vocab_spm, data, size, MDL_TOK_PARSE_SPECIAL | MDL_TOK_ADD_SPECIAL, 0);
	if (vocab_file)
		check(vocab_file, data, size, MDL_TOK_PARSE_SPECIAL, 0);
	return 0;
}
