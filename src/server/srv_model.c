/*
 * srv_model.c - the backend over airlock's own inference engine (the model
 * module): one engine context whose KV cache holds one sequence per slot,
 * the model's vocabulary for tokens and text, its FIM tokens and chat
 * template for prompts, and the module's sampler.
 *
 * A step is one mdl_eval_batch over the tokens of every busy slot: the
 * weights are read once for all sequences (the point of batching on
 * memory-bound hardware), attention runs over each token's own sequence.
 */
#include "server/server.h"
#include "model/model.h"
#include "model/model_tok.h"

#include <string.h>

struct mb {
	struct mdl_model *m;
	struct mdl_vocab *v;
	struct mdl_ctx *ctx;		/* n_slots sequences of n_ctx positions */
	int n_slots;
	int n_vocab;			/* ids the vocabulary and sampler know */
	int n_logits;			/* logits per token the model writes */
	/* scratch of one step, grown as needed: (cap) each */
	int32_t *tok, *seq, *pos;
	int8_t *want;
	size_t cap;
	float *out;			/* (n_slots, n_logits) logits, item order */
	enum mdl_chat_template tmpl;	/* MDL_CHAT_UNKNOWN: see tmpl_err */
	struct err tmpl_err;
};

static status_t mb_grow(struct mb *b, size_t n, struct err *e)
{
	size_t cap = b->cap ? b->cap : 256;
	int32_t *t, *q, *p;
	int8_t *w;

	if (n <= b->cap)
		return ST_OK;
	while (cap < n)
		cap *= 2;
	t = mem_realloc_array(b->tok, cap, sizeof *t);
	if (t)
		b->tok = t;
	q = mem_realloc_array(b->seq, cap, sizeof *q);
	if (q)
		b->seq = q;
	p = mem_realloc_array(b->pos, cap, sizeof *p);
	if (p)
		b->pos = p;
	w = mem_realloc_array(b->want, cap, sizeof *w);
	if (w)
		b->want = w;
	if (!t || !q || !p || !w)
		return err_set(e, ST_NOMEM, "model backend: out of memory for a batch");
	b->cap = cap;
	return ST_OK;
}

static status_t mb_eval(void *impl, struct srv_eval_item *it, size_t n,
			struct err *e)
{
	struct mb *b = impl;
	struct mdl_batch batch;
	size_t total = 0, k = 0;
	status_t st;

	for (size_t i = 0; i < n; i++) {
		if (it[i].slot < 0 || it[i].slot >= b->n_slots || it[i].n_tokens < 1)
			return err_set(e, ST_INTERNAL, "model backend: bad item for slot %d",
				       it[i].slot);
		total += (size_t)it[i].n_tokens;
	}
	if (n > (size_t)b->n_slots || total > INT32_MAX)
		return err_set(e, ST_INTERNAL, "model backend: batch too large");
	if ((st = mb_grow(b, total, e)))
		return st;
	for (size_t i = 0; i < n; i++) {
		for (int32_t t = 0; t < it[i].n_tokens; t++, k++) {
			b->tok[k] = it[i].tokens[t];
			b->seq[k] = it[i].slot;
			b->pos[k] = it[i].pos + t;
			b->want[k] = t == it[i].n_tokens - 1;
		}
	}
	batch.n = (int)total;
	batch.token = b->tok;
	batch.seq = b->seq;
	batch.pos = b->pos;
	batch.logits = b->want;
	/*
	 * One logits row per item, in item order. The scheduler's rows are
	 * usually one array in item order already: then the engine writes
	 * them in place (8 rows of a 150k vocabulary are 5 MB a step).
	 */
	for (k = 1; k < n; k++)
		if (it[k].logits != it[0].logits + k * (size_t)b->n_vocab)
			break;
	if (k == n && b->n_logits == b->n_vocab)
		return mdl_eval_batch(b->ctx, &batch, it[0].logits, e);
	if ((st = mdl_eval_batch(b->ctx, &batch, b->out, e)))
		return st;
	for (size_t i = 0; i < n; i++)
		memcpy(it[i].logits, b->out + i * (size_t)b->n_logits,
		       (size_t)b->n_vocab * sizeof *b->out);
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

static void mb_sampler_set_filter(void *impl, void *smp,
				  int (*accept)(void *ctx, int32_t tok,
						const char *piece, size_t len),
				  void *ctx)
{
	(void)impl;
	mdl_sampler_set_filter(smp, accept, ctx);
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
	mdl_ctx_free(b->ctx);
	mem_free(b->tok);
	mem_free(b->seq);
	mem_free(b->pos);
	mem_free(b->want);
	mem_free(b->out);
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
	.sampler_set_filter = mb_sampler_set_filter,
};

status_t srv_backend_open_model(const char *path, int n_slots, int32_t n_ctx,
				int n_threads, const char *kv_cache,
				struct srv_backend *out, struct err *e)
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
	b->n_vocab = b->n_logits = mdl_model_n_vocab(b->m);
	if (mdl_vocab_n_tokens(b->v) < b->n_vocab)
		b->n_vocab = mdl_vocab_n_tokens(b->v);
	if (n_ctx <= 0 || n_ctx > mdl_model_n_ctx_train(b->m))
		n_ctx = mdl_model_n_ctx_train(b->m);
	{
		struct mdl_ctx_params cp;
		memset(&cp, 0, sizeof cp);
		cp.n_ctx = n_ctx;
		cp.n_threads = n_threads;
		cp.n_seq = n_slots;
		/* f16 cache as llama.cpp's default: half the memory and reads;
		 * q8_0 about half of that again */
		cp.kv_f16 = 1;
		if (kv_cache && mdl_ctx_params_set_kv(&cp, kv_cache) != ST_OK) {
			st = err_set(e, ST_INVAL, "KV cache type '%s': f16, f32 or q8_0", kv_cache);
			goto fail;
		}
		if ((st = mdl_ctx_new_params(b->m, &cp, &b->ctx, e)))
			goto fail;
	}
	if (!(b->out = mem_alloc_array((size_t)n_slots * (size_t)b->n_logits,
				       sizeof *b->out))) {
		st = err_set(e, ST_NOMEM, "out of memory");
		goto fail;
	}
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
	{
		/*
		 * The audit records name the model by its digest: computed
		 * once here, reading the whole file (seconds for a large
		 * model, once per start, and logged so the delay is visible).
		 */
		uint64_t t0 = time_mono_ns();
		char hex[2 * SHA256_LEN + 1];
		if ((st = sha256_file(path, out->model_sha256, e)) != ST_OK)
			goto fail_out;
		out->has_model_sha256 = 1;
		LOG_INFO("server.model_digest", LF_STR("sha256",
			 hex_encode(out->model_sha256, SHA256_LEN, hex)),
			 LF_INT("ms", (int64_t)((time_mono_ns() - t0) / 1000000)));
	}
	LOG_INFO("server.model", LF_STR("model", out->model_id),
		 LF_STR("arch", mdl_arch_name(mdl_model_hparams(b->m)->arch)),
		 LF_INT("n_ctx", n_ctx), LF_INT("slots", n_slots),
		 LF_BOOL("fim", mdl_vocab_has_fim(b->v)),
		 LF_STR("chat", mdl_chat_template_name(b->tmpl)));
	return ST_OK;
fail_out:
	memset(out, 0, sizeof *out);
fail:
	mb_free(b);
	return st;
}
