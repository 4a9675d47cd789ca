/*
 * test_vocab.c - tokenizers: conformance with llama.cpp's test vectors
 * for every vocabulary in shared/vocab, the stories260K prompt, round
 * trips, small vocabularies built in code, and tables of bad input and of
 * inconsistent vocabulary metadata with the error each must give.
 */
#include "harness.h"
#include "model/model.h"
#include "model/model_tok.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Conformance                                                         */
/* ------------------------------------------------------------------ */

/*
 * Runs every case of a test-vector pair: texts in inp separated by lines
 * "__ggml_vocab_test__", expected ids in out (one line per text). With
 * round_trip, each text must also come back from its tokens. Prints the
 * pass count; returns the number of cases.
 */
static int run_cases(const struct mdl_vocab *v, const char *name, const char *inp_path,
		     const char *out_path, unsigned flags, int round_trip)
{
	struct err e = { 0 };
	char *inp, *outp;
	size_t il, ol, pos = 0;
	const char *sep = "\n__ggml_vocab_test__\n";
	size_t sl = strlen(sep);
	char *line;
	int n = 0, pass = 0, trip = 0;

	TH_OK(file_read_all(inp_path, 1 << 20, &inp, &il, &e));
	TH_OK(file_read_all(out_path, 1 << 20, &outp, &ol, &e));
	line = outp;
	while (pos < il) {
		char *nx = memmem(inp + pos, il - pos, sep, sl);
		size_t tl = nx ? (size_t)(nx - (inp + pos)) : il - pos;
		char *eol = strchr(line, '\n'), *ex;
		struct mdl_tokens t;
		struct buf got, back;
		size_t el;

		if (eol)
			*eol = 0;
		mdl_tokens_init(&t, 0);
		buf_init(&got, 0);
		buf_init(&back, 0);
		TH_OK(mdl_tokenize(v, inp + pos, tl, flags, &t, &e));
		for (size_t i = 0; i < t.len; i++)
			TH_OK(buf_printf(&got, "%s%d", i ? " " : "", t.ids[i]));
		ex = line;
		while (*ex == ' ')
			ex++;
		el = strlen(ex);
		while (el && ex[el - 1] == ' ')
			ex[--el] = 0;
		n++;
		if (strcmp(buf_cstr(&got), ex) == 0)
			pass++;
		else
			print_message("%s: case %d '%.*s'\n  got  %s\n  want %s\n", name, n,
				      (int)(tl > 60 ? 60 : tl), inp + pos, buf_cstr(&got), ex);
		if (round_trip) {
			TH_OK(mdl_detokenize(v, t.ids, t.len, MDL_DETOK_NO_CLEANUP, &back, &e));
			if (back.len == tl && (tl == 0 || memcmp(back.data, inp + pos, tl) == 0))
				trip++;
			else
				print_message("%s: case %d does not round-trip: '%s'\n", name, n,
					      buf_cstr(&back));
		}
		mdl_tokens_release(&t);
		buf_release(&got);
		buf_release(&back);
		line = eol ? eol + 1 : line + strlen(line);
		if (!nx)
			break;
		pos = (size_t)(nx - inp) + sl;
	}
	if (round_trip)
		print_message("%s: %d/%d cases pass, %d/%d round-trip\n", name, pass, n, trip, n);
	else
		print_message("%s: %d/%d cases pass\n", name, pass, n);
	mem_free(inp);
	mem_free(outp);
	assert_int_equal(pass, n);
	if (round_trip)
		assert_int_equal(trip, n);
	return n;
}

/*
 * llama.cpp's test vectors for vocab/<name>.gguf (tokenized without
 * BOS/EOS and without parsing control tokens, as test-tokenizer-0), then
 * the fixtures of tests/data/tokenizer recorded from llama.cpp with BOS/EOS
 * and control tokens parsed.
 */
static void run_vocab(const char *name)
{
	char path[1024], p2[1100], p3[1100], label[128];
	struct err e = { 0 };
	struct mdl_vocab *v;

	snprintf(p2, sizeof p2, "vocab/%s.gguf", name);
	th_shared_path(p2, path, sizeof path);
	TH_OK(mdl_vocab_load(path, &v, &e));
	snprintf(p2, sizeof p2, "%s.inp", path);
	snprintf(p3, sizeof p3, "%s.out", path);
	snprintf(label, sizeof label, "conformance %s", name);
	assert_int_equal(run_cases(v, label, p2, p3, 0, 1), 46);
	snprintf(p3, sizeof p3, "tests/data/tokenizer/%s.special.out", name);
	snprintf(label, sizeof label, "special %s", name);
	assert_int_equal(run_cases(v, label, "tests/data/tokenizer/special.inp", p3,
				   MDL_TOK_ADD_SPECIAL | MDL_TOK_PARSE_SPECIAL, 0), 100);
	mdl_vocab_free(v);
}

#define VOCAB_TEST(fn, name) \
	static void fn(void **state) { (void)state; run_vocab(name); }
VOCAB_TEST(test_conf_llama_spm, "ggml-vocab-llama-spm")
VOCAB_TEST(test_conf_llama_bpe, "ggml-vocab-llama-bpe")
VOCAB_TEST(test_conf_qwen2, "ggml-vocab-qwen2")
VOCAB_TEST(test_conf_deepseek_coder, "ggml-vocab-deepseek-coder")
VOCAB_TEST(test_conf_starcoder, "ggml-vocab-starcoder")
VOCAB_TEST(test_conf_gpt2, "ggml-vocab-gpt-2")
VOCAB_TEST(test_conf_phi3, "ggml-vocab-phi-3")
VOCAB_TEST(test_conf_refact, "ggml-vocab-refact")

/* ------------------------------------------------------------------ */
/* Real vocabularies: specials, BOS, pieces                            */
/* ------------------------------------------------------------------ */

static struct mdl_vocab *load_shared(const char *rel)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_vocab *v = NULL;

	th_shared_path(rel, path, sizeof path);
	TH_OK(mdl_vocab_load(path, &v, &e));
	return v;
}

static void test_stories_prompt(void **state)
{
	static const int32_t want[] = { 1, 403, 407, 261, 378 };
	struct mdl_vocab *v = load_shared("models/stories260K.gguf");
	struct mdl_tokens t;
	struct buf b;
	struct err e = { 0 };
	(void)state;

	mdl_tokens_init(&t, 0);
	TH_OK(mdl_tokenize(v, "Once upon a time", 16, MDL_TOK_ADD_SPECIAL, &t, &e));
	assert_int_equal(t.len, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(t.ids[i], want[i]);
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_BOS), 1);
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_EOS), 2);
	assert_true(mdl_vocab_is_eog(v, 2));
	assert_false(mdl_vocab_is_eog(v, 403));
	buf_init(&b, 0);
	TH_OK(mdl_detokenize(v, t.ids, t.len, MDL_DETOK_REMOVE_SPECIAL, &b, &e));
	assert_string_equal(buf_cstr(&b), " Once upon a time");
	buf_reset(&b);
	TH_OK(mdl_detokenize(v, t.ids + 1, t.len - 1, 0, &b, &e));
	assert_string_equal(buf_cstr(&b), "Once upon a time");
	buf_reset(&b);
	TH_OK(mdl_detokenize(v, t.ids, t.len, MDL_DETOK_RENDER_SPECIAL, &b, &e));
	assert_string_equal(buf_cstr(&b), "<s> Once upon a time");
	{
		size_t k;
		const char *p = mdl_token_piece(v, 1, &k);

		assert_int_equal(k, 3);
		assert_memory_equal(p, "<s>", 3);
		mdl_token_output(v, 1, &k);	/* generation does not show control tokens */
		assert_int_equal(k, 0);
		p = mdl_token_output(v, 403, &k);
		assert_int_equal(k, 5);
		assert_memory_equal(p, " Once", 5);
	}
	/* byte fallback: a character the 512-token vocabulary lacks */
	t.len = 0;
	TH_OK(mdl_tokenize(v, "\xE7\x95\x8C", 3, 0, &t, &e));	/* U+754C */
	assert_int_equal(t.len, 4);	/* ▁ then <0xE7> <0x95> <0x8C> */
	assert_int_equal(t.ids[1], 3 + 0xE7);
	assert_int_equal(t.ids[2], 3 + 0x95);
	assert_int_equal(t.ids[3], 3 + 0x8C);
	buf_reset(&b);
	TH_OK(mdl_detokenize(v, t.ids, t.len, 0, &b, &e));
	assert_string_equal(buf_cstr(&b), "\xE7\x95\x8C");
	buf_release(&b);
	mdl_tokens_release(&t);
	mdl_vocab_free(v);
}

static void test_parse_special(void **state)
{
	struct mdl_vocab *v = load_shared("vocab/ggml-vocab-llama-bpe.gguf");
	struct mdl_tokens t;
	struct err e = { 0 };
	const char *s = "<|start_header_id|>user<|end_header_id|>";
	(void)state;

	mdl_tokens_init(&t, 0);
	TH_OK(mdl_tokenize(v, s, strlen(s), MDL_TOK_PARSE_SPECIAL | MDL_TOK_ADD_SPECIAL, &t, &e));
	assert_int_equal(t.len, 4);
	assert_int_equal(t.ids[0], 128000);	/* <|begin_of_text|>: llama3 adds BOS */
	assert_int_equal(t.ids[1], 128006);
	assert_int_equal(t.ids[3], 128007);
	t.len = 0;
	/* without parse_special the same text is plain text */
	TH_OK(mdl_tokenize(v, s, strlen(s), 0, &t, &e));
	assert_true(t.len > 4);
	for (size_t i = 0; i < t.len; i++)
		assert_true(t.ids[i] < 128000);
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_EOT), 128009);
	assert_true(mdl_vocab_is_eog(v, 128009));
	assert_true(mdl_vocab_is_eog(v, 128001));
	mdl_tokens_release(&t);
	mdl_vocab_free(v);
}

/* ------------------------------------------------------------------ */
/* Vocabularies built in code                                          */
/* ------------------------------------------------------------------ */

/* A tiny SPM vocabulary: specials, the 256 byte tokens, a few pieces. */
static struct mdl_vocab *tiny_spm(void)
{
	static const char *words[] = { "\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "ab",
				       "c", "<tool>" };
	static const float wscore[] = { -1, -2, -2, -1.5f, -0.5f, -3, 0 };
	const char *tokens[3 + 256 + 7];
	char bytes[256][8];
	float scores[3 + 256 + 7] = { 0 };
	int32_t types[3 + 256 + 7];
	struct mdl_vocab_spec s;
	struct mdl_vocab *v = NULL;
	struct err e = { 0 };
	size_t n = 0;

	tokens[n] = "<unk>"; types[n++] = MDL_TOKEN_UNKNOWN;
	tokens[n] = "<s>"; types[n++] = MDL_TOKEN_CONTROL;
	tokens[n] = "</s>"; types[n++] = MDL_TOKEN_CONTROL;
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
		tokens[n] = bytes[b];
		types[n++] = MDL_TOKEN_BYTE;
	}
	for (size_t i = 0; i < 7; i++) {
		tokens[n] = words[i];
		scores[n] = wscore[i];
		types[n++] = i == 6 ? MDL_TOKEN_USER_DEFINED : MDL_TOKEN_NORMAL;
	}
	mdl_vocab_spec_init(&s);
	s.model = "llama";
	s.n_tokens = n;
	s.tokens = tokens;
	s.scores = scores;
	s.types = types;
	TH_OK(mdl_vocab_new(&s, &v, &e));
	return v;
}

#define W(i) (3 + 256 + (i))	/* id of words[i] in tiny_spm */

static void test_spm_tiny(void **state)
{
	struct mdl_vocab *v = tiny_spm();
	struct mdl_tokens t;
	struct buf b;
	struct err e = { 0 };
	(void)state;

	mdl_tokens_init(&t, 0);
	TH_OK(mdl_tokenize(v, "ab", 2, MDL_TOK_ADD_SPECIAL, &t, &e));
	assert_int_equal(t.len, 2);
	assert_int_equal(t.ids[0], 1);
	assert_int_equal(t.ids[1], W(4));	/* "▁ab" scores best */
	t.len = 0;
	TH_OK(mdl_tokenize(v, "ab", 2, MDL_TOK_NO_SPACE_PREFIX, &t, &e));
	assert_int_equal(t.len, 1);
	assert_int_equal(t.ids[0], W(3));
	t.len = 0;
	/* user-defined token matched in text; text after a special token gets
	 * the space prefix again (as llama.cpp) */
	TH_OK(mdl_tokenize(v, "a<tool>c", 8, 0, &t, &e));
	assert_int_equal(t.len, 5);
	assert_int_equal(t.ids[0], W(0));
	assert_int_equal(t.ids[1], W(1));
	assert_int_equal(t.ids[2], W(6));
	assert_int_equal(t.ids[3], W(0));
	assert_int_equal(t.ids[4], W(5));
	t.len = 0;
	/* "z" is no token: byte fallback */
	TH_OK(mdl_tokenize(v, "z", 1, MDL_TOK_NO_SPACE_PREFIX, &t, &e));
	assert_int_equal(t.len, 1);
	assert_int_equal(t.ids[0], 3 + 'z');
	/* control tokens in text only with parse_special */
	t.len = 0;
	TH_OK(mdl_tokenize(v, "</s>", 4, MDL_TOK_PARSE_SPECIAL | MDL_TOK_NO_SPACE_PREFIX, &t, &e));
	assert_int_equal(t.len, 1);
	assert_int_equal(t.ids[0], 2);
	t.len = 0;
	TH_OK(mdl_tokenize(v, "</s>", 4, MDL_TOK_NO_SPACE_PREFIX, &t, &e));
	assert_int_equal(t.len, 4);
	buf_init(&b, 0);
	TH_OK(mdl_detokenize(v, t.ids, t.len, 0, &b, &e));
	assert_string_equal(buf_cstr(&b), "</s>");
	buf_release(&b);
	assert_int_equal(mdl_vocab_find(v, "ab", 2), W(3));
	assert_int_equal(mdl_vocab_find(v, "zz", 2), MDL_TOKEN_NULL);
	mdl_tokens_release(&t);
	mdl_vocab_free(v);
}

/* A tiny byte-level BPE vocabulary (gpt-2 pre-tokenizer). */
static struct mdl_vocab *tiny_bpe(const char *pre, struct err *e, status_t *st)
{
	/* the 256 byte characters, then a few merged tokens and two control ones */
	static char bytes[256][4];
	const char *tokens[256 + 8];
	size_t lens[256 + 8];
	int32_t types[256 + 8];
	static const char *merges[] = { "h e", "he l", "l l", "l o", "\xC4\xA0 w", "hel lo" };
	struct mdl_vocab_spec s;
	struct mdl_vocab *v = NULL;
	size_t n = 0;
	static const char *extra[] = { "he", "hel", "ll", "\xC4\xA0w", "lo", "hello",
				       "<|endoftext|>", "<|fim_prefix|>" };

	for (int b = 0; b < 256; b++) {
		uint32_t cp;
		size_t k;
		unsigned c = (unsigned)b;
		unsigned m = 0;

		if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE) {
			cp = c;
		} else {
			for (unsigned x = 0; x < c; x++)
				if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE))
					m++;
			cp = 256 + m;
		}
		if (cp < 0x80) {
			bytes[b][0] = (char)cp;
			k = 1;
		} else {
			bytes[b][0] = (char)(0xC0 | (cp >> 6));
			bytes[b][1] = (char)(0x80 | (cp & 0x3F));
			k = 2;
		}
		tokens[n] = bytes[b];
		lens[n] = k;
		types[n++] = MDL_TOKEN_NORMAL;
	}
	for (size_t i = 0; i < 8; i++) {
		tokens[n] = extra[i];
		lens[n] = strlen(extra[i]);
		types[n++] = i >= 6 ? MDL_TOKEN_CONTROL : MDL_TOKEN_NORMAL;
	}
	mdl_vocab_spec_init(&s);
	s.model = "gpt2";
	s.pre = pre;
	s.n_tokens = n;
	s.tokens = tokens;
	s.token_lens = lens;
	s.types = types;
	s.n_merges = 6;
	s.merges = merges;
	s.special[MDL_SPECIAL_BOS] = 256 + 6;
	s.special[MDL_SPECIAL_EOS] = 256 + 6;
	*st = mdl_vocab_new(&s, &v, e);
	return v;
}

static void test_bpe_tiny(void **state)
{
	struct err e = { 0 };
	status_t st;
	struct mdl_vocab *v = tiny_bpe("gpt-2", &e, &st);
	struct mdl_tokens t;
	struct buf b;
	(void)state;

	TH_OK(st);
	mdl_tokens_init(&t, 0);
	TH_OK(mdl_tokenize(v, "hello w", 7, 0, &t, &e));
	/* "hello" merges fully; " w" is Ġw */
	assert_int_equal(t.len, 2);
	assert_int_equal(t.ids[0], 256 + 5);
	assert_int_equal(t.ids[1], 256 + 3);
	buf_init(&b, 0);
	TH_OK(mdl_detokenize(v, t.ids, t.len, 0, &b, &e));
	assert_string_equal(buf_cstr(&b), "hello w");
	assert_int_equal(mdl_vocab_special(v, MDL_SPECIAL_FIM_PRE), 256 + 7);
	assert_true(mdl_vocab_is_eog(v, 256 + 6));
	/* every byte has a token: arbitrary UTF-8 round-trips */
	t.len = 0;
	buf_reset(&b);
	TH_OK(mdl_tokenize(v, "\xC3\xA9t\xC3\xA9 \xF0\x9F\xA6\x99!", 11, 0, &t, &e));
	TH_OK(mdl_detokenize(v, t.ids, t.len, 0, &b, &e));
	assert_string_equal(buf_cstr(&b), "\xC3\xA9t\xC3\xA9 \xF0\x9F\xA6\x99!");
	buf_release(&b);
	mdl_tokens_release(&t);
	mdl_vocab_free(v);
	v = tiny_bpe("no-such-pre", &e, &st);
	assert_null(v);
	assert_int_equal(st, ST_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "no-such-pre"));
}

/* Every pre-tokenizer we name compiles and splits text. */
static void test_all_pre(void **state)
{
	static const char *pres[] = {
		"default", "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe",
		"chatglm-bpe", "deepseek-llm", "deepseek-v3", "deepseek-coder", "falcon",
		"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "command-r",
		"smollm", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en",
		"jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo",
		"jais", "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "poro-chat",
		"viking", "bloom", "gpt3-finnish", "tekken",
	};
	const char *text = "hello world's 12345 \xC3\xA9t\xC3\xA9\n\n  x\xE6\x88\x91!! ";
	(void)state;

	for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
		struct err e = { 0 };
		status_t st;
		struct mdl_vocab *v = tiny_bpe(pres[i], &e, &st);
		struct mdl_tokens t;
		struct buf b;

		if (st != ST_OK)
			fail_msg("pre-tokenizer %s: %s", pres[i], e.msg);
		mdl_tokens_init(&t, 0);
		buf_init(&b, 0);
		TH_OK(mdl_tokenize(v, text, strlen(text), 0, &t, &e));
		TH_OK(mdl_detokenize(v, t.ids, t.len, MDL_DETOK_NO_CLEANUP, &b, &e));
		if (strcmp(buf_cstr(&b), text) != 0)
			fail_msg("pre-tokenizer %s: round trip gave '%s'", pres[i], buf_cstr(&b));
		buf_release(&b);
		mdl_tokens_release(&t);
		mdl_vocab_free(v);
	}
}

/* ------------------------------------------------------------------ */
/* Bad input                                                           */
/* ------------------------------------------------------------------ */

static void test_bad_text(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		status_t st;
		const char *msg;
	} cases[] = {
		{ "ab\xFF", 3, ST_CORRUPT, "invalid UTF-8 at byte offset 2" },
		{ "\xC3", 1, ST_CORRUPT, "invalid UTF-8 at byte offset 0" },
		{ "a\xC0\x80", 3, ST_CORRUPT, "invalid UTF-8 at byte offset 1" },	/* overlong NUL */
		{ "\xED\xA0\x80", 3, ST_CORRUPT, "invalid UTF-8 at byte offset 0" },	/* surrogate */
		{ "\xF4\x90\x80\x80", 4, ST_CORRUPT, "invalid UTF-8 at byte offset 0" },	/* > U+10FFFF */
		{ "a\0b", 3, ST_CORRUPT, "NUL byte at offset 1" },
	};
	struct mdl_vocab *v = tiny_spm();
	struct err e;
	struct mdl_tokens t;
	(void)state;

	mdl_tokens_init(&t, 0);
	TH_OK(mdl_tokens_push(&t, 7));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err_clear(&e);
		TH_ST(mdl_tokenize(v, cases[i].text, cases[i].len, 0, &t, &e), cases[i].st);
		assert_non_null(strstr(e.msg, cases[i].msg));
		assert_int_equal(t.len, 1);	/* output untouched */
	}
	/* huge input: refused before any work */
	err_clear(&e);
	TH_ST(mdl_tokenize(v, "x", MDL_TOKENIZE_MAX_BYTES + 1, 0, &t, &e), ST_LIMIT);
	/* a token list with a cap */
	mdl_tokens_release(&t);
	mdl_tokens_init(&t, 2);
	TH_ST(mdl_tokenize(v, "zzzz", 4, 0, &t, &e), ST_LIMIT);
	assert_int_equal(t.len, 0);
	{
		int32_t bad = 100000;
		struct buf b;

		buf_init(&b, 0);
		TH_ST(mdl_detokenize(v, &bad, 1, 0, &b, &e), ST_INVAL);
		buf_release(&b);
	}
	mdl_tokens_release(&t);
	mdl_vocab_free(v);
}

/* Inconsistent vocabularies given as arrays. */
static void test_bad_spec(void **state)
{
	static const char *toks[] = { "a", "b", "ab", "a" };
	static const char *m_nospace[] = { "ab" };
	static const char *m_unknown[] = { "a x" };
	static const char *m_result[] = { "b a" };
	static const char *m_ok[] = { "a b" };
	static const char *bytetok[] = { "<unk>", "<0xZZ>" };
	static const int32_t bytetype[] = { MDL_TOKEN_UNKNOWN, MDL_TOKEN_BYTE };
	struct {
		const char *model;
		const char *const *tokens;
		size_t n;
		const char *const *merges;
		size_t n_merges;
		const int32_t *types;
		int64_t bos;
		status_t st;
		const char *msg;
	} cases[] = {
		{ "bert", toks, 3, NULL, 0, NULL, MDL_SPEC_UNSET, ST_UNSUPPORTED, "'bert' is not supported" },
		{ NULL, toks, 3, NULL, 0, NULL, MDL_SPEC_UNSET, ST_CORRUPT, "no tokenizer model" },
		{ "llama", toks, 0, NULL, 0, NULL, MDL_SPEC_UNSET, ST_CORRUPT, "no tokens" },
		{ "llama", toks, 4, NULL, 0, NULL, MDL_SPEC_UNSET, ST_CORRUPT, "same text 'a'" },
		{ "llama", toks, 3, NULL, 0, NULL, 3, ST_CORRUPT, "bos token id 3 is outside" },
		{ "llama", toks, 3, NULL, 0, NULL, -7, ST_CORRUPT, "bos token id -7 is outside" },
		{ "gpt2", toks, 3, NULL, 0, NULL, 0, ST_CORRUPT, "needs merges" },
		{ "gpt2", toks, 3, m_nospace, 1, NULL, 0, ST_CORRUPT, "merge 0 has no space" },
		{ "gpt2", toks, 3, m_unknown, 1, NULL, 0, ST_CORRUPT, "names a token that does not exist" },
		{ "gpt2", toks, 3, m_result, 1, NULL, 0, ST_CORRUPT, "makes a token that does not exist" },
		{ "llama", bytetok, 2, NULL, 0, bytetype, 0, ST_CORRUPT, "not <0xXX>" },
		{ "gpt2", toks, 3, m_ok, 1, NULL, 0, ST_OK, "" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mdl_vocab_spec s;
		struct mdl_vocab *v = NULL;
		struct err e;

		err_clear(&e);
		mdl_vocab_spec_init(&s);
		s.model = cases[i].model;
		s.tokens = cases[i].tokens;
		s.n_tokens = cases[i].n;
		s.merges = cases[i].merges;
		s.n_merges = cases[i].n_merges;
		s.types = cases[i].types;
		s.special[MDL_SPECIAL_BOS] = cases[i].bos;
		s.special[MDL_SPECIAL_EOS] = cases[i].bos == MDL_SPEC_UNSET || cases[i].bos < 0 ||
						     cases[i].bos >= 3 ? MDL_SPEC_UNSET : cases[i].bos;
		TH_ST(mdl_vocab_new(&s, &v, &e), cases[i].st);
		if (cases[i].st == ST_OK) {
			assert_non_null(v);
		} else {
			assert_null(v);
			if (!strstr(e.msg, cases[i].msg))
				fail_msg("case %zu: message '%s' lacks '%s'", i, e.msg, cases[i].msg);
		}
		mdl_vocab_free(v);
	}
}

/* ------------------------------------------------------------------ */
/* Inconsistent GGUF metadata (files built in memory)                  */
/* ------------------------------------------------------------------ */

struct gb {
	struct buf b;
	uint64_t n_kv;
};

static void gb_u32(struct buf *b, uint32_t v) { TH_OK(buf_append(b, &v, 4)); }
static void gb_u64(struct buf *b, uint64_t v) { TH_OK(buf_append(b, &v, 8)); }
static void gb_str(struct buf *b, const char *s)
{
	gb_u64(b, strlen(s));
	TH_OK(buf_append(b, s, strlen(s)));
}
static void gb_key(struct gb *g, const char *k, uint32_t type)
{
	gb_str(&g->b, k);
	gb_u32(&g->b, type);
	g->n_kv++;
}
static void gb_kv_str(struct gb *g, const char *k, const char *v)
{
	gb_key(g, k, MDL_GGUF_STRING);
	gb_str(&g->b, v);
}
static void gb_kv_u32(struct gb *g, const char *k, uint32_t v)
{
	gb_key(g, k, MDL_GGUF_U32);
	gb_u32(&g->b, v);
}
static void gb_kv_strs(struct gb *g, const char *k, const char *const *s, size_t n)
{
	gb_key(g, k, MDL_GGUF_ARRAY);
	gb_u32(&g->b, MDL_GGUF_STRING);
	gb_u64(&g->b, n);
	for (size_t i = 0; i < n; i++)
		gb_str(&g->b, s[i]);
}
static void gb_kv_i32s(struct gb *g, const char *k, const int32_t *v, size_t n, uint32_t t)
{
	gb_key(g, k, MDL_GGUF_ARRAY);
	gb_u32(&g->b, t);
	gb_u64(&g->b, n);
	for (size_t i = 0; i < n; i++)
		TH_OK(buf_append(&g->b, &v[i], 4));
}

/* Builds a GGUF from the kv bytes in body and loads its vocabulary. */
static status_t load_built(struct gb *g, struct err *e)
{
	struct buf f;
	struct mdl_gguf *gg = NULL;
	struct mdl_vocab *v = NULL;
	status_t st;

	buf_init(&f, 0);
	TH_OK(buf_append(&f, "GGUF", 4));
	gb_u32(&f, 3);
	gb_u64(&f, 0);
	gb_u64(&f, g->n_kv);
	TH_OK(buf_append(&f, g->b.data, g->b.len));
	while (f.len % 32)
		TH_OK(buf_putc(&f, 0));
	st = mdl_gguf_open_mem(f.data, f.len, &gg, e);
	if (st == ST_OK)
		st = mdl_vocab_from_gguf(gg, &v, e);
	mdl_vocab_free(v);
	mdl_gguf_free(gg);
	buf_release(&f);
	return st;
}

static void test_bad_gguf(void **state)
{
	static const char *toks[] = { "<unk>", "<s>", "</s>", "a" };
	static const int32_t types3[] = { 2, 3, 3 };
	static const int32_t types4[] = { 2, 3, 3, 1 };
	static const int32_t badtype[] = { 2, 3, 3, 9 };
	static const char *merges[] = { "a b" };
	(void)state;

	for (int c = 0; c < 8; c++) {
		struct gb g = { .n_kv = 0 };
		struct err e;
		status_t want = ST_CORRUPT;
		const char *msg = "";

		buf_init(&g.b, 0);
		err_clear(&e);
		switch (c) {
		case 0:	/* fine */
			gb_kv_str(&g, "tokenizer.ggml.model", "llama");
			gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 4);
			gb_kv_i32s(&g, "tokenizer.ggml.token_type", types4, 4, MDL_GGUF_I32);
			gb_kv_u32(&g, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
			want = ST_OK;
			break;
		case 1:
			gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 4);
			msg = "no tokenizer.ggml.model";
			break;
		case 2:
			gb_kv_str(&g, "tokenizer.ggml.model", "llama");
			msg = "no tokenizer.ggml.tokens";
			break;
		case 3:
			gb_kv_str(&g, "tokenizer.ggml.model", "llama");
			gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 4);
			gb_kv_i32s(&g, "tokenizer.ggml.token_type", types3, 3, MDL_GGUF_I32);
			msg = "token_type has 3 entries for 4 tokens";
			break;
		case 4:
			gb_kv_str(&g, "tokenizer.ggml.model", "llama");
			gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 4);
			gb_kv_u32(&g, "tokenizer.ggml.bos_token_id", 40);
			msg = "bos token id 40 is outside";
			break;
		case 5:
			gb_kv_str(&g, "tokenizer.ggml.model", "gpt2");
			gb_kv_str(&g, "tokenizer.ggml.pre", "gpt-2");
			gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 4);
			gb_kv_strs(&g, "tokenizer.ggml.merges", merges, 1);
			msg = "names a token that does not exist";
			break;
		case 6:
			gb_kv_str(&g, "tokenizer.ggml.model", "llama");
			gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 4);
			gb_kv_i32s(&g, "tokenizer.ggml.token_type", badtype, 4, MDL_GGUF_I32);
			msg = "token 3 has type 9";
			break;
		case 7:
			gb_kv_str(&g, "tokenizer.ggml.model", "llama");
			gb_kv_i32s(&g, "tokenizer.ggml.tokens", types4, 4, MDL_GGUF_I32);
			msg = "want string";
			break;
		}
		TH_ST(load_built(&g, &e), want);
		if (!strstr(e.msg, msg))
			fail_msg("case %d: message '%s' lacks '%s'", c, e.msg, msg);
		buf_release(&g.b);
	}
}

/* Every allocation failing in turn: clean errors, nothing leaked (ASan). */
static void test_alloc_faults(void **state)
{
	struct mdl_vocab *v = tiny_spm();
	int saw_fail = 0;
	(void)state;

	for (long k = 0; k < 200; k++) {
		struct mdl_tokens t;
		struct err e;
		status_t st;

		err_clear(&e);
		mdl_tokens_init(&t, 0);
		mem_fail_after(k, 0);
		st = mdl_tokenize(v, "ab ab <tool> abc", 16, MDL_TOK_ADD_SPECIAL, &t, &e);
		mem_fail_reset();
		if (st != ST_OK) {
			assert_int_equal(st, ST_NOMEM);
			assert_int_equal(t.len, 0);
			saw_fail = 1;
		}
		mdl_tokens_release(&t);
		if (st == ST_OK)
			break;
	}
	assert_true(saw_fail);
	mdl_vocab_free(v);

	for (long k = 0; k < 400; k++) {
		struct err e;
		status_t st;

		err_clear(&e);
		mem_fail_after(k, 0);
		v = NULL;
		{
			struct mdl_vocab *w = tiny_bpe("llama-bpe", &e, &st);

			mem_fail_reset();
			if (st == ST_OK) {
				mdl_vocab_free(w);
				break;
			}
			assert_null(w);
			assert_int_equal(st, ST_NOMEM);
		}
	}
}

int run_tokenizer_vocab_tests(void);
int run_tokenizer_vocab_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_llama_spm),
		cmocka_unit_test(test_conf_llama_bpe),
		cmocka_unit_test(test_conf_qwen2),
		cmocka_unit_test(test_conf_deepseek_coder),
		cmocka_unit_test(test_conf_starcoder),
		cmocka_unit_test(test_conf_gpt2),
		cmocka_unit_test(test_conf_phi3),
		cmocka_unit_test(test_conf_refact),
		cmocka_unit_test(test_stories_prompt),
		cmocka_unit_test(test_parse_special),
		cmocka_unit_test(test_spm_tiny),
		cmocka_unit_test(test_bpe_tiny),
		cmocka_unit_test(test_all_pre),
		cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_bad_gguf),
		cmocka_unit_test(test_alloc_faults),
	};
	return cmocka_run_group_tests_name("tokenizer", tests, NULL, NULL);
}
