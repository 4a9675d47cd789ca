/*
 * srv_model.c - the backend over airlock's own inference engine (the model
 * module): one engine context (KV cache) per slot, the model's vocabulary
 * for tokens and text, its FIM tokens and chat template for prompts, and
 * the module's sampler.
 *
 * mdl_eval evaluates one sequence per context, so a step evaluates the
 * busy slots one after the other, each on all threads; the scheduler's
 * batching still joins new requests between steps and spreads prompts over
 * steps. True cross-sequence batching (one weight pass for all slots) needs
 * a batched mdl_eval and fits behind the same eval operation.
 */
#include "server/server.h"
#include "model/model.h"
#include "model/model_tok.h"

#include <string.h>

struct mb {
	struct mdl_model *m;
	struct mdl_vocab *v;
	struct mdl_ctx **ctx;		/* (n_slots) */
	int n_slots;
	int n_vocab;
	enum mdl_chat_template tmpl;	/* MDL_CHAT_UNKNOWN: see tmpl_err */
	struct err tmpl_err;
};

static status_t mb_eval(void *impl, struct srv_eval_item *it, size_t n,
			struct err *e)
{
	struct mb *b = impl;
	status_t st;

	for (size_t k = 0; k < n; k++) {
		if (it[k].slot < 0 || it[k].slot >= b->n_slots)
			return err_set(e, ST_INTERNAL, "model backend: bad slot %d", it[k].slot);
		st = mdl_eval(b->ctx[it[k].slot], it[k].tokens, it[k].n_tokens,
			      it[k].pos, it[k].logits, 0, e);
		if (st != ST_OK)
			return st;
	}
	return ST_OK;
}

/* Moves the ids of t onto the end of out. */
static status_t to_vec(const struct mdl_tokens *t, struct vec *out, struct err *e)
{
	for (size_t i = 0; i < t->len; i++)
		if (vec_push(out, &t->ids[i]))
			return err_set(e, ST_NOMEM, "out of memory");
	return ST_OK;
}

static status_t mb_tokenize(void *impl, const char *text, size_t len, int bos,
			    struct vec *out, struct err *e)
{
	struct mb *b = impl;
	struct mdl_tokens t;
	status_t st;

	mdl_tokens_init(&t, 0);
	/* As llama.cpp's server: control tokens written in a raw prompt count. */
	st = mdl_tokenize(b->v, text, len, (bos ? MDL_TOK_ADD_SPECIAL : 0) |
			  MDL_TOK_PARSE_SPECIAL, &t, e);
	if (st == ST_OK)
		st = to_vec(&t, out, e);
	mdl_tokens_release(&t);
	return st;
}

static status_t mb_piece(void *impl, int32_t tok, struct buf *out)
{
	struct mb *b = impl;
	const char *p;
	size_t len = 0;

	/* Control tokens (FIM markers, <|endoftext|> ...) are not text. */
	if (mdl_vocab_token_type(b->v, tok) == MDL_TOKEN_CONTROL)
		return ST_OK;
	p = mdl_token_piece(b->v, tok, &len);
	return len ? buf_append(out, p, len) : ST_OK;
}

static int mb_is_eog(void *impl, int32_t tok)
{
	struct mb *b = impl;

	return mdl_vocab_is_eog(b->v, tok);
}

static status_t mb_fim(void *impl, const char *prefix, const char *suffix,
		       const struct srv_chunk *extra, size_t n_extra,
		       struct vec *out, struct err *e)
{
	struct mb *b = impl;
	struct mdl_fim_input in;
	struct mdl_fim_file *files = NULL;
	struct mdl_tokens t;
	status_t st;

	memset(&in, 0, sizeof in);
	if (n_extra) {
		if (!(files = mem_calloc(n_extra, sizeof *files)))
			return err_set(e, ST_NOMEM, "out of memory");
		for (size_t i = 0; i < n_extra; i++) {
			files[i].path = extra[i].filename;
			files[i].text = extra[i].text;
			files[i].text_len = strlen(extra[i].text);
		}
	}
	in.prefix = prefix;
	in.prefix_len = strlen(prefix);
	in.suffix = suffix;
	in.suffix_len = strlen(suffix);
	in.files = files;
	in.n_files = n_extra;
	mdl_tokens_init(&t, 0);
	st = mdl_fim_prompt(b->v, &in, &t, e);
	if (st == ST_OK)
		st = to_vec(&t, out, e);
	mdl_tokens_release(&t);
	mem_free(files);
	return st;
}

static status_t mb_chat(void *impl, const struct srv_chat_msg *msgs, size_t n,
			struct vec *out, struct err *e)
{
	struct mb *b = impl;
	struct mdl_chat_msg *m;
	struct buf text;
	struct mdl_tokens t;
	status_t st;

	if (b->tmpl == MDL_CHAT_UNKNOWN) {
		if (e)
			*e = b->tmpl_err;
		return ST_UNSUPPORTED;
	}
	if (!(m = mem_calloc(n, sizeof *m)))
		return err_set(e, ST_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		m[i].role = msgs[i].role;
		m[i].content = msgs[i].content;
	}
	buf_init(&text, 0);
	mdl_tokens_init(&t, 0);
	st = mdl_chat_render(b->tmpl, m, n, 1, &text, e);
	if (st == ST_OK)
		st = mdl_tokenize(b->v, buf_cstr(&text), text.len,
				  MDL_TOK_ADD_SPECIAL | MDL_TOK_PARSE_SPECIAL, &t, e);
	if (st == ST_OK)
		st = to_vec(&t, out, e);
	mdl_tokens_release(&t);
	buf_release(&text);
	mem_free(m);
	return st;
}

static status_t mb_sampler_new(void *impl, float temperature, float top_p,
			       uint64_t seed, void **out, struct err *e)
{
	struct mb *b = impl;
	struct mdl_sampler_params p;

	/* OpenAI's knobs only: no top-k, min-p or penalties unless asked. */
	mdl_sampler_params_default(&p);
	p.temp = temperature;
	p.top_k = 0;
	p.top_p = top_p;
	p.min_p = 0;
	p.repeat_penalty = 1;
	p.presence_penalty = 0;
	p.frequency_penalty = 0;
	p.seed = seed;
	return mdl_sampler_new(&p, b->v, (struct mdl_sampler **)out, e);
}

static status_t mb_sample(void *impl, void *smp, const float *logits,
			  int32_t *tok, struct err *e)
{
	struct mb *b = impl;

	return mdl_sampler_sample(smp, logits, b->n_vocab, tok, e);
}

static void mb_accept(void *impl, void *smp, int32_t tok)
{
	(void)impl;
	mdl_sampler_accept(smp, tok);
}

static void mb_sampler_free(void *impl, void *smp)
{
	(void)impl;
	mdl_sampler_free(smp);
}

static void mb_free(void *impl)
{
	struct mb *b = impl;

	if (!b)
		return;
	for (int i = 0; b->ctx && i < b->n_slots; i++)
		mdl_ctx_free(b->ctx[i]);
	mem_free(b->ctx);
	mdl_vocab_free(b->v);
	mdl_model_free(b->m);
	mem_free(b);
}

static const struct srv_backend_ops mb_ops = {
	.eval = mb_eval,
	.tokenize = mb_tokenize,
	.token_piece = mb_piece,
	.token_is_eog = mb_is_eog,
	.prompt_fim = mb_fim,
	.prompt_chat = mb_chat,
	.free = mb_free,
	.sampler_new = mb_sampler_new,
	.sampler_sample = mb_sample,
	.sampler_accept = mb_accept,
	.sampler_free = mb_sampler_free,
};

status_t srv_backend_open_model(const char *path, int n_slots, int32_t n_ctx,
				int n_threads, struct srv_backend *out,
				struct err *e)
{
	struct mb *b;
	const char *base;
	status_t st;

	memset(out, 0, sizeof *out);
	if (n_slots < 1)
		n_slots = 1;
	if (!(b = mem_calloc(1, sizeof *b)))
		return err_set(e, ST_NOMEM, "out of memory");
	b->n_slots = n_slots;
	if ((st = mdl_model_load(path, &b->m, e)) ||
	    (st = mdl_vocab_from_gguf(mdl_model_gguf(b->m), &b->v, e)))
		goto fail;
	b->n_vocab = mdl_model_n_vocab(b->m);
	if (mdl_vocab_n_tokens(b->v) < b->n_vocab)
		b->n_vocab = mdl_vocab_n_tokens(b->v);
	if (n_ctx <= 0 || n_ctx > mdl_model_n_ctx_train(b->m))
		n_ctx = mdl_model_n_ctx_train(b->m);
	if (!(b->ctx = mem_calloc((size_t)n_slots, sizeof *b->ctx))) {
		st = err_set(e, ST_NOMEM, "out of memory");
		goto fail;
	}
	for (int i = 0; i < n_slots; i++)
		if ((st = mdl_ctx_new(b->m, n_ctx, n_threads, &b->ctx[i], e)))
			goto fail;
	err_clear(&b->tmpl_err);
	if (mdl_chat_detect(b->v, &b->tmpl, &b->tmpl_err) != ST_OK)
		b->tmpl = MDL_CHAT_UNKNOWN;
	if (b->tmpl == MDL_CHAT_UNKNOWN && !b->tmpl_err.msg[0])
		err_set(&b->tmpl_err, ST_UNSUPPORTED, "this model has no chat template we render");
	out->ops = &mb_ops;
	out->impl = b;
	base = strrchr(path, '/');
	str_copy(out->model_id, base ? base + 1 : path, sizeof out->model_id);
	str_copy(out->kind, "gguf", sizeof out->kind);
	out->n_vocab = b->n_vocab;
	out->n_ctx = n_ctx;
	out->n_slots = n_slots;
	LOG_INFO("server.model", LF_STR("model", out->model_id),
		 LF_STR("arch", mdl_arch_name(mdl_model_hparams(b->m)->arch)),
		 LF_INT("n_ctx", n_ctx), LF_INT("slots", n_slots),
		 LF_BOOL("fim", mdl_vocab_has_fim(b->v)),
		 LF_STR("chat", mdl_chat_template_name(b->tmpl)));
	return ST_OK;
fail:
	mb_free(b);
	return st;
}
