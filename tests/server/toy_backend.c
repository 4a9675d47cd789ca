/* toy_backend.c - see toy_backend.h. */
#include "toy_backend.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

struct toy {
	struct toy_opts o;
	int32_t *kv;		/* (n_slots, n_ctx) tokens whose "KV" is held */
	int32_t *filled;	/* (n_slots) valid positions */
	long calls, tokens;
	pthread_mutex_t mu;
};

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789 .,;:-_+*/=()[]{}<>!?'\"\n#$%";

static status_t toy_eval(void *impl, struct srv_eval_item *it, size_t n,
			 struct err *e)
{
	struct toy *t = impl;

	if (t->o.step_us)
		usleep((useconds_t)t->o.step_us);
	for (size_t k = 0; k < n; k++) {
		int32_t *kv = t->kv + (size_t)it[k].slot * (size_t)t->o.n_ctx;
		uint64_t h = 1469598103934665603ull;
		int32_t end = it[k].pos + it[k].n_tokens, next;

		if (it[k].slot < 0 || it[k].slot >= t->o.n_slots)
			return err_set(e, ST_INVAL, "toy: bad slot %d", it[k].slot);
		/* A gap would mean the scheduler skipped tokens it never had. */
		if (it[k].pos > t->filled[it[k].slot] || end > t->o.n_ctx ||
		    it[k].n_tokens < 1)
			return err_set(e, ST_INTERNAL, "toy: slot %d pos %d but %d filled",
				       it[k].slot, it[k].pos, t->filled[it[k].slot]);
		memcpy(kv + it[k].pos, it[k].tokens, (size_t)it[k].n_tokens * sizeof *kv);
		t->filled[it[k].slot] = end;
		for (int32_t i = 0; i < end; i++)
			h = (h ^ (uint64_t)kv[i]) * 1099511628211ull;
		next = 1 + (int32_t)(h % (TOY_VOCAB - 1));
		if (t->o.eos_after > 0 && end >= t->o.eos_after)
			next = TOY_EOS;
		for (int i = 0; i < TOY_VOCAB; i++)
			it[k].logits[i] = (float)((h >> (i % 48)) & 3) * 0.1f;
		it[k].logits[next] = 10.0f;
		pthread_mutex_lock(&t->mu);
		t->calls += k == 0;
		t->tokens += it[k].n_tokens;
		pthread_mutex_unlock(&t->mu);
	}
	return ST_OK;
}

static status_t toy_tokenize(void *impl, const char *text, size_t len, int bos,
			     struct vec *out, struct err *e)
{
	(void)impl; (void)bos;
	for (size_t i = 0; i < len; i++) {
		const char *p = memchr(alphabet, text[i], sizeof alphabet - 1);
		int32_t tok = p ? (int32_t)(p - alphabet) + 1 : TOY_VOCAB - 1;
		if (vec_push(out, &tok))
			return err_set(e, ST_NOMEM, "out of memory");
	}
	return ST_OK;
}

static status_t toy_piece(void *impl, int32_t tok, struct buf *out)
{
	(void)impl;
	if (tok <= 0 || tok >= TOY_VOCAB)
		return ST_OK;
	return buf_putc(out, alphabet[tok - 1]);
}

static int toy_is_eog(void *impl, int32_t tok)
{
	(void)impl;
	return tok == TOY_EOS;
}

/* FIM: "<" prefix "|" suffix ">" as text. */
static status_t toy_fim(void *impl, const char *prefix, const char *suffix,
			const struct srv_chunk *extra, size_t n_extra,
			struct vec *out, struct err *e)
{
	status_t st;

	for (size_t i = 0; i < n_extra; i++)
		if ((st = toy_tokenize(impl, extra[i].text, strlen(extra[i].text), 0, out, e)))
			return st;
	if ((st = toy_tokenize(impl, "<", 1, 0, out, e)) ||
	    (st = toy_tokenize(impl, prefix, strlen(prefix), 0, out, e)) ||
	    (st = toy_tokenize(impl, "|", 1, 0, out, e)) ||
	    (st = toy_tokenize(impl, suffix, strlen(suffix), 0, out, e)))
		return st;
	return toy_tokenize(impl, ">", 1, 0, out, e);
}

static status_t toy_chat(void *impl, const struct srv_chat_msg *m, size_t n,
			 struct vec *out, struct err *e)
{
	status_t st;

	for (size_t i = 0; i < n; i++) {
		if ((st = toy_tokenize(impl, m[i].role, strlen(m[i].role), 0, out, e)) ||
		    (st = toy_tokenize(impl, ":", 1, 0, out, e)) ||
		    (st = toy_tokenize(impl, m[i].content, strlen(m[i].content), 0, out, e)))
			return st;
	}
	return toy_tokenize(impl, "\n", 1, 0, out, e);
}

static void toy_free(void *impl)
{
	struct toy *t = impl;

	if (!t)
		return;
	mem_free(t->kv);
	mem_free(t->filled);
	pthread_mutex_destroy(&t->mu);
	mem_free(t);
}

/* No sampler ops: the scheduler's own sampler is what these tests cover. */
static const struct srv_backend_ops toy_ops = {
	.eval = toy_eval,
	.tokenize = toy_tokenize,
	.token_piece = toy_piece,
	.token_is_eog = toy_is_eog,
	.prompt_fim = toy_fim,
	.prompt_chat = toy_chat,
	.free = toy_free,
};

status_t toy_backend_init(struct srv_backend *b, const struct toy_opts *o)
{
	struct toy *t = mem_calloc(1, sizeof *t);

	memset(b, 0, sizeof *b);
	if (!t)
		return ST_NOMEM;
	t->o = *o;
	t->kv = mem_calloc((size_t)o->n_slots * (size_t)o->n_ctx, sizeof *t->kv);
	t->filled = mem_calloc((size_t)o->n_slots, sizeof *t->filled);
	pthread_mutex_init(&t->mu, NULL);
	if (!t->kv || !t->filled) {
		toy_free(t);
		return ST_NOMEM;
	}
	b->ops = &toy_ops;
	b->impl = t;
	str_copy(b->model_id, "toy", sizeof b->model_id);
	str_copy(b->kind, "test", sizeof b->kind);
	b->n_vocab = TOY_VOCAB;
	b->n_ctx = o->n_ctx;
	b->n_slots = o->n_slots;
	return ST_OK;
}

void toy_backend_counts(struct srv_backend *b, long *calls, long *tokens)
{
	struct toy *t = b->impl;

	pthread_mutex_lock(&t->mu);
	*calls = t->calls;
	*tokens = t->tokens;
	pthread_mutex_unlock(&t->mu);
}
