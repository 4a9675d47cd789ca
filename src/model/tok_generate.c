/*
 * tok_generate.c - the generation loop: evaluate the prompt in one batch,
 * then sample, stream the piece through the stop-string filter, and feed
 * the token back, until an end-of-generation token, a stop string, the
 * token budget or the context window ends it.
 */
#include "model/model.h"
#include "model/tok_int.h"

status_t mdl_generate(struct mdl_model *m, struct mdl_ctx *c,
		      const struct mdl_vocab *v, const int32_t *prompt,
		      size_t n_prompt, const struct mdl_gen_params *p,
		      mdl_gen_emit_fn emit, void *emit_ctx,
		      struct mdl_tokens *out_ids, enum mdl_gen_end *why,
		      struct err *e)
{
	struct mdl_sampler *smp = NULL;
	struct mdl_stream *stream = NULL;
	struct buf text;
	float *logits = NULL;
	int n_vocab = mdl_model_n_vocab(m), n_ctx = mdl_ctx_n_ctx(c);
	int32_t n_sample = n_vocab < v->n ? n_vocab : v->n;
	int pos, stopped = 0;
	status_t st;

	*why = MDL_GEN_LENGTH;
	buf_init(&text, 0);
	if (n_prompt == 0 || n_prompt >= (size_t)n_ctx)
		return err_set(e, ST_INVAL, "generate: prompt of %zu tokens for a context of %d",
			       n_prompt, n_ctx);
	if (p->n_predict <= 0)
		return err_set(e, ST_INVAL, "generate: n_predict %d must be > 0", p->n_predict);
	logits = mem_alloc_array((size_t)n_vocab, sizeof *logits);
	if (!logits)
		return err_set(e, ST_NOMEM, "generate: logits");
	st = mdl_sampler_new(&p->sampling, v, &smp, e);
	if (st == ST_OK)
		st = mdl_stream_new(p->stops, p->n_stops, &stream, e);
	if (st != ST_OK)
		goto done;
	mdl_sampler_set_filter(smp, p->accept, p->accept_ctx);
	for (size_t i = 0; i < n_prompt; i++)
		mdl_sampler_accept(smp, prompt[i]);

	st = mdl_eval(c, prompt, (int)n_prompt, 0, logits, 0, e);
	if (st != ST_OK)
		goto done;
	pos = (int)n_prompt;
	for (int32_t i = 0; i < p->n_predict; i++) {
		const char *piece;
		size_t len;
		int32_t id;

		st = mdl_sampler_sample(smp, logits, n_sample, &id, e);
		if (st != ST_OK)
			goto done;
		if (mdl_vocab_is_eog(v, id)) {
			*why = MDL_GEN_EOG;
			break;
		}
		mdl_sampler_accept(smp, id);
		if (out_ids && (st = mdl_tokens_push(out_ids, id)) != ST_OK) {
			err_set(e, st, "generate: token list");
			goto done;
		}
		piece = mdl_token_output(v, id, &len);
		buf_reset(&text);
		st = mdl_stream_feed(stream, piece, len, &text, &stopped);
		if (st != ST_OK) {
			err_set(e, st, "generate: text");
			goto done;
		}
		if (text.len && emit && emit(emit_ctx, text.data, text.len)) {
			st = err_set(e, ST_CANCELLED, "generate: cancelled");
			goto done;
		}
		if (stopped) {
			*why = MDL_GEN_STOP;
			break;
		}
		if (i + 1 == p->n_predict)
			break;
		if (pos >= n_ctx) {
			*why = MDL_GEN_CONTEXT;
			break;
		}
		st = mdl_eval(c, &id, 1, pos, logits, 0, e);
		if (st != ST_OK)
			goto done;
		pos++;
	}
	buf_reset(&text);
	st = mdl_stream_finish(stream, &text);
	if (st != ST_OK) {
		err_set(e, st, "generate: text");
		goto done;
	}
	if (text.len && emit && emit(emit_ctx, text.data, text.len))
		st = err_set(e, ST_CANCELLED, "generate: cancelled");
done:
	buf_release(&text);
	mdl_stream_free(stream);
	mdl_sampler_free(smp);
	mem_free(logits);
	return st;
}
