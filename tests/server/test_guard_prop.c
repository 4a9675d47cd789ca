/*
 * test_guard_prop.c - the token guard as the server wires it, measured:
 * a synthetic model (1 layer, dim 32, the stories260K vocabulary of 512
 * SentencePiece tokens) served through srv_backend_open_model, sampled at
 * temperature 1.5 with no top-k/top-p truncation, with the server's token
 * filter (srv__guard_accept over a pol_guard) on the model's sampler.
 *
 *  - Unguarded, the same sampling writes the banned literal in some
 *    generations (asserted, so the test can fail), and at every token the
 *    guard's verdict equals an offline scan of the bytes so far.
 *  - Guarded, 10,000 generations never contain it, by a plain byte search
 *    and by the policy's own whole-text check of the same bytes.
 *
 * Under AddressSanitizer the counts are reduced (1,000 guarded generations)
 * so that `make check` stays quick; the release run does the full 10,000.
 */
#include "harness.h"
#include "model/model.h"
#include "policy/policy.h"
#include "server/server_int.h"

#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define PROP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROP_ASAN 1
#endif
#endif
#ifdef PROP_ASAN
#define N_GUARDED 1000
#define N_PLAIN 300
#else
#define N_GUARDED 10000
#define N_PLAIN 2000
#endif
#define GEN_TOKENS 6		/* tokens per generation */

static const char *const LIT = "he";

struct prop {
	struct srv_backend b;
	struct pol_bundle *bundle;
	struct pol_guard *g;
	struct srv_guard_filter gf;
	float *first;		/* (n_vocab) logits after the prompt, same for all */
	float *logits;		/* (n_vocab) */
	struct vec prompt;	/* int32_t */
	struct buf piece;
};

/* 1 when LIT occurs in text[0, len) ending after byte old (newly completed). */
static int newly_completed(const char *text, size_t old, size_t len)
{
	size_t n = strlen(LIT);

	for (size_t end = old + 1; end <= len; end++)
		if (end >= n && memcmp(text + end - n, LIT, n) == 0)
			return 1;
	return 0;
}

/*
 * One generation with seed; guarded installs the filter. The text is
 * left in out. With check_verdicts, each token's guard verdict is
 * compared with newly_completed on the bytes (unguarded runs only).
 * Returns the number of tokens where the filter refused everything (0/1).
 */
static int generate(struct prop *p, uint64_t seed, int guarded,
		    int check_verdicts, struct buf *out)
{
	struct srv_eval_item it;
	struct err e;
	void *smp = NULL;
	int32_t tok, pos = (int32_t)p->prompt.len;
	int denied = 0;

	buf_reset(out);
	pol_guard_reset(p->g);
	TH_OK(p->b.ops->sampler_new(p->b.impl, 1.5f, 1.0f, seed, &smp, &e));
	if (guarded)
		p->b.ops->sampler_set_filter(p->b.impl, smp, srv__guard_accept, &p->gf);
	memcpy(p->logits, p->first, (size_t)p->b.n_vocab * sizeof *p->logits);
	for (int k = 0; k < GEN_TOKENS; k++) {
		status_t st = p->b.ops->sampler_sample(p->b.impl, smp, p->logits, &tok, &e);
		size_t old = out->len;
		int eog;

		if (st == ST_DENIED && guarded) {
			denied = 1;
			break;
		}
		TH_OK(st);
		p->b.ops->sampler_accept(p->b.impl, smp, tok);
		eog = p->b.ops->token_is_eog(p->b.impl, tok);
		buf_reset(&p->piece);
		if (!eog)
			TH_OK(p->b.ops->token_piece(p->b.impl, tok, &p->piece));
		if (check_verdicts) {
			int verdict = eog ? pol_guard_accepts_end(p->g) :
				pol_guard_accepts(p->g, p->piece.data ? p->piece.data : "",
						  p->piece.len);
			assert_int_equal(buf_append(out, p->piece.data ? p->piece.data : "",
						    p->piece.len), ST_OK);
			if (verdict != !newly_completed(out->data, old, out->len))
				fail_msg("guard says %d for token %d after '%.*s' (text '%s')",
					 verdict, (int)tok, (int)old, out->data, buf_cstr(out));
		} else {
			assert_int_equal(buf_append(out, p->piece.data ? p->piece.data : "",
						    p->piece.len), ST_OK);
		}
		pol_guard_advance(p->g, p->piece.data ? p->piece.data : "", p->piece.len);
		if (eog || k + 1 == GEN_TOKENS)
			break;
		it.slot = 0;
		it.tokens = &tok;
		it.n_tokens = 1;
		it.pos = pos++;
		it.logits = p->logits;
		TH_OK(p->b.ops->eval(p->b.impl, &it, 1, &e));
	}
	p->b.ops->sampler_free(p->b.impl, smp);
	return denied;
}

/*
 * model.kv_cache reaches the engine: q8_0 opens a model whose heads are
 * 32 wide and is refused, naming the reason, for heads of 16; a name
 * that is not a cache type is refused.
 */
static void test_backend_kv_cache(void **state)
{
	char vocab[4096], path[4096];
	struct mdl_synth_params sp = {
		.arch = "llama", .n_layer = 1, .n_embd = 64, .n_head = 2,
		.n_head_kv = 2, .n_ff = 64, .n_ctx = 64, .type = 0, .seed = 7,
	};
	struct srv_backend b;
	struct err e;

	(void)state;
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	sp.vocab_from = vocab;
	snprintf(path, sizeof path, "%s/kv.gguf", th_tmpdir());
	TH_OK(mdl_synth_write(&sp, path, &e));
	TH_OK(srv_backend_open_model(path, 1, 64, 1, "q8_0", &b, &e));
	srv_backend_release(&b);
	TH_OK(srv_backend_open_model(path, 1, 64, 1, "f32", &b, &e));
	srv_backend_release(&b);
	TH_ST(srv_backend_open_model(path, 1, 64, 1, "bf16", &b, &e), ST_INVAL);
	assert_non_null(strstr(e.msg, "KV cache type 'bf16'"));
	sp.n_embd = 32;		/* heads of 16 */
	TH_OK(mdl_synth_write(&sp, path, &e));
	TH_ST(srv_backend_open_model(path, 1, 64, 1, "q8_0", &b, &e), ST_INVAL);
	assert_non_null(strstr(e.msg, "multiple of 32"));
	th_tmpdir_cleanup();
}

static void test_guard_property(void **state)
{
	char vocab[4096], path[4096];
	struct mdl_synth_params sp = {
		.arch = "llama", .n_layer = 1, .n_embd = 32, .n_head = 2,
		.n_head_kv = 2, .n_ff = 64, .n_ctx = 64, .type = 0, .seed = 7,
	};
	struct pol_load_opts lo = { .no_defaults = 1 };
	const char *yaml = "rules:\n  - id: no-he\n    kind: pattern\n"
		"    literal: 'he'\n    action: block\n";
	struct srv_eval_item it;
	struct prop p;
	struct buf text;
	struct err e;
	int plain_hits = 0, denied = 0;

	(void)state;
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	memset(&p, 0, sizeof p);
	sp.vocab_from = vocab;
	snprintf(path, sizeof path, "%s/synth.gguf", th_tmpdir());
	TH_OK(mdl_synth_write(&sp, path, &e));
	TH_OK(srv_backend_open_model(path, 1, 64, 1, NULL, &p.b, &e));
	assert_true(p.b.has_model_sha256);
	TH_OK(pol_bundle_load_mem("prop.yaml", yaml, strlen(yaml), &lo, &p.bundle, &e));
	TH_OK(pol_guard_new_bundle(p.bundle, NULL, &p.g));
	assert_int_equal(pol_guard_size(p.g), 1);
	p.gf.b = &p.b;
	p.gf.g = p.g;
	p.first = mem_alloc_array((size_t)p.b.n_vocab, sizeof *p.first);
	p.logits = mem_alloc_array((size_t)p.b.n_vocab, sizeof *p.logits);
	assert_non_null(p.first);
	assert_non_null(p.logits);
	vec_init(&p.prompt, sizeof(int32_t));
	buf_init(&p.piece, 0);
	buf_init(&text, 0);
	TH_OK(p.b.ops->tokenize(p.b.impl, "Once", 4, 1, &p.prompt, &e));
	it.slot = 0;
	it.tokens = p.prompt.data;
	it.n_tokens = (int32_t)p.prompt.len;
	it.pos = 0;
	it.logits = p.first;
	TH_OK(p.b.ops->eval(p.b.impl, &it, 1, &e));

	/* Unguarded: the literal occurs, and the verdicts match the scan. */
	for (int i = 0; i < N_PLAIN; i++) {
		generate(&p, (uint64_t)i + 1, 0, 1, &text);
		plain_hits += strstr(buf_cstr(&text), LIT) != NULL;
	}
	print_message("unguarded: '%s' in %d of %d generations\n", LIT, plain_hits, N_PLAIN);
	assert_true(plain_hits > 0);

	/* Guarded: never, by a byte scan and by the whole-text check. */
	for (int i = 0; i < N_GUARDED; i++) {
		struct pol_result r;
		denied += generate(&p, (uint64_t)i + 1, 1, 0, &text);
		if (strstr(buf_cstr(&text), LIT))
			fail_msg("generation %d contains '%s': '%s'", i, LIT, buf_cstr(&text));
		pol_result_init(&r);
		TH_OK(pol_bundle_check(p.bundle, NULL, text.data ? text.data : "",
				       text.len, &r, &e));
		if (r.n)
			fail_msg("generation %d: the text check finds %s in '%s'", i,
				 r.items[0].rule_id, buf_cstr(&text));
		pol_result_release(&r);
	}
	print_message("guarded: %d generations without '%s' (%d stopped by the filter)\n",
		      N_GUARDED, LIT, denied);

	buf_release(&text);
	buf_release(&p.piece);
	vec_release(&p.prompt);
	mem_free(p.first);
	mem_free(p.logits);
	pol_guard_free(p.g);
	pol_bundle_free(p.bundle);
	srv_backend_release(&p.b);
	th_tmpdir_cleanup();
}

int run_server_guard_prop_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard_property),
		cmocka_unit_test(test_backend_kv_cache),
	};
	log_setup(LOG_OFF, LOG_FMT_HUMAN, NULL);
	return cmocka_run_group_tests_name("server_guard_prop", tests, NULL, NULL);
}
