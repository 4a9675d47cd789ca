/*
 * srv_api.c - the generation endpoints: POST /v1/completions and
 * /v1/chat/completions (OpenAI) and POST /infill (llama.cpp), answered in
 * one JSON body or streamed as Server-Sent Events.
 *
 * A handler parses the body, builds the prompt's tokens through the
 * backend (plain text, FIM or chat template), submits a job to the
 * scheduler and then either waits for it or hands the connection a reader
 * that turns the job's text into SSE events as it arrives. Either way the
 * connection's thread watches its socket: a client that hangs up cancels
 * its job, and the scheduler frees the slot at its next step.
 */
#include "server/server_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* The name the index model answers under (no model file loaded). */
#define INDEX_MODEL_ID "airlock-index"

/* Waits are sliced so a vanished client is noticed within this time. */
#define WAIT_SLICE_MS 50
/* After the deadline the scheduler fails the job; this is the margin after
 * which a waiter stops trusting it to (a stuck backend step). */
#define HARD_MARGIN_NS (30ull * 1000000000ull)

static int no_model(struct srv_rctx *r)
{
	return srv__respond_error(r, 503, "server_error", "model_not_loaded", NULL,
				  "no model loaded: start the server with --model FILE"
				  " (or set model.path)");
}

/* Appends text's tokens (int32) to out. */
static status_t tokenize(struct srv_backend *b, const char *text, int bos,
			 struct vec *out, struct err *e)
{
	return b->ops->tokenize(b->impl, text, strlen(text), bos, out, e);
}

static status_t build_prompt(struct srv *s, const struct srv_identity *who,
			     struct srv_request *q, struct vec *toks, char *param,
			     size_t np, struct err *e)
{
	struct srv_backend *b = s->b;
	struct srv_chunk *chunks;
	size_t n_chunks;
	status_t st;

	switch (q->ep) {
	case SRV_EP_COMPLETIONS:
		if (q->prompt_tokens) {
			for (size_t i = 0; i < q->n_prompt_tokens; i++) {
				if (q->prompt_tokens[i] >= b->n_vocab) {
					str_copy(param, "prompt", np);
					return err_set(e, ST_INVAL,
						       "'prompt' token %d is outside the vocabulary (%d)",
						       (int)q->prompt_tokens[i], (int)b->n_vocab);
				}
				if ((st = vec_push(toks, &q->prompt_tokens[i])))
					return err_set(e, st, "out of memory");
			}
			return ST_OK;
		}
		if (q->suffix) {
			str_copy(param, "suffix", np);
			if ((st = srv__fim_chunks(s, who, q->repo, q->path, q->prompt,
						  q->suffix, b->n_ctx, NULL, 0, &q->arena,
						  &chunks, &n_chunks)))
				return err_set(e, st, "out of memory");
			return b->ops->prompt_fim(b->impl, q->prompt, q->suffix,
						  chunks, n_chunks, toks, e);
		}
		str_copy(param, "prompt", np);
		return tokenize(b, q->prompt, 1, toks, e);
	case SRV_EP_CHAT:
		str_copy(param, "messages", np);
		return b->ops->prompt_chat(b->impl, q->msgs, q->n_msgs, toks, e);
	case SRV_EP_INFILL: {
		struct buf pre;
		buf_init(&pre, 0);
		if (buf_puts(&pre, q->input_prefix) ||
		    (q->infill_prompt && buf_puts(&pre, q->infill_prompt))) {
			buf_release(&pre);
			return err_set(e, ST_NOMEM, "out of memory");
		}
		str_copy(param, "input_prefix", np);
		st = srv__fim_chunks(s, who, q->repo, q->path, buf_cstr(&pre),
				     q->input_suffix, b->n_ctx, q->extra, q->n_extra,
				     &q->arena, &chunks, &n_chunks);
		if (st != ST_OK) {
			buf_release(&pre);
			return err_set(e, st, "out of memory");
		}
		st = b->ops->prompt_fim(b->impl, buf_cstr(&pre), q->input_suffix,
					chunks, n_chunks, toks, e);
		buf_release(&pre);
		return st;
	}
	}
	return err_set(e, ST_INTERNAL, "unknown endpoint");
}

/* ------------------------------------------------------------------ */
/* Response bodies                                                     */
/* ------------------------------------------------------------------ */

struct gen {
	struct srv *s;
	enum srv_endpoint ep;
	char id[64];			/* "cmpl-...", "chatcmpl-..." */
	char model[128];
	int64_t created;
	int include_usage;
};

static json_t *usage_json(const struct srv_job *j)
{
	return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)j->n_prompt,
			 "completion_tokens", (int)j->n_gen, "total_tokens",
			 (int)(j->n_prompt + j->n_gen));
}

static const char *stop_type(enum srv_finish f)
{
	switch (f) {
	case SRV_FINISH_STOP: return "eos";
	case SRV_FINISH_WORD: return "word";
	case SRV_FINISH_LENGTH: return "limit";
	default: return "none";
	}
}

static json_t *timings_json(const struct srv_job *j)
{
	uint64_t tp = j->t_prompt_done_ns ? j->t_prompt_done_ns : j->t_done_ns;
	double prompt_ms = tp > j->t_submit_ns ? (double)(tp - j->t_submit_ns) / 1e6 : 0;
	double pred_ms = j->t_done_ns > tp ? (double)(j->t_done_ns - tp) / 1e6 : 0;

	return json_pack("{s:i, s:f, s:i, s:f}", "prompt_n",
			 (int)(j->n_prompt - j->n_cached), "prompt_ms", prompt_ms,
			 "predicted_n", (int)j->n_gen, "predicted_ms", pred_ms);
}

/* The final llama.cpp-style object of /infill (streamed or not). */
static json_t *infill_final(const struct gen *g, const struct srv_job *j,
			    const char *text)
{
	return json_pack("{s:s, s:b, s:s, s:i, s:i, s:i, s:s, s:b, s:o, s:i}",
			 "content", text, "stop", 1, "model", g->model,
			 "tokens_predicted", (int)j->n_gen,
			 "tokens_evaluated", (int)j->n_prompt,
			 "tokens_cached", (int)j->n_cached,
			 "stop_type", stop_type(j->finish), "truncated", 0,
			 "timings", timings_json(j), "id_slot", j->slot);
}

/* The whole response of a finished, successful, non-streamed job. */
static json_t *final_body(const struct gen *g, const struct srv_job *j,
			  const char *text)
{
	const char *fr = srv__finish_openai(j->finish);

	switch (g->ep) {
	case SRV_EP_COMPLETIONS:
		return json_pack("{s:s, s:s, s:I, s:s, s:[{s:s, s:i, s:n, s:s}], s:o}",
				 "id", g->id, "object", "text_completion",
				 "created", (json_int_t)g->created, "model", g->model,
				 "choices", "text", text, "index", 0, "logprobs",
				 "finish_reason", fr, "usage", usage_json(j));
	case SRV_EP_CHAT:
		return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:n, s:s}], s:o}",
				 "id", g->id, "object", "chat.completion",
				 "created", (json_int_t)g->created, "model", g->model,
				 "choices", "index", 0, "message", "role", "assistant",
				 "content", text, "logprobs", "finish_reason", fr,
				 "usage", usage_json(j));
	case SRV_EP_INFILL:
		return infill_final(g, j, text);
	}
	return NULL;
}

/* Appends one SSE event holding o (consumed) to out. */
static status_t put_event(json_t *o, struct buf *out)
{
	struct buf tmp;
	status_t st;

	if (!o)
		return ST_NOMEM;
	buf_init(&tmp, 0);
	st = srv__json_append(&tmp, o);
	json_decref(o);
	if (st == ST_OK)
		st = srv__sse_event(out, tmp.data, tmp.len);
	buf_release(&tmp);
	return st;
}

static json_t *completion_chunk(const struct gen *g, const char *text,
				const char *finish)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:[{s:s, s:i, s:n, s:s?}]}",
			 "id", g->id, "object", "text_completion", "created",
			 (json_int_t)g->created, "model", g->model, "choices",
			 "text", text, "index", 0, "logprobs", "finish_reason",
			 finish);
}

/* delta: consumed. */
static json_t *chat_chunk(const struct gen *g, json_t *delta, const char *finish)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s?}]}",
			 "id", g->id, "object", "chat.completion.chunk",
			 "created", (json_int_t)g->created, "model", g->model,
			 "choices", "index", 0, "delta", delta, "logprobs",
			 "finish_reason", finish);
}

/*
 * Appends the SSE events for a piece of text (may be ""): for chat, a
 * first event with the assistant role; when j is finished (final != 0),
 * the closing events. The shapes follow OpenAI's streams: content chunks,
 * then a chunk with only finish_reason, then usage (when asked), then
 * [DONE]; /infill follows llama.cpp: content chunks, then one object with
 * "stop": true and the counts, and no [DONE].
 */
static status_t stream_events(const struct gen *g, const struct srv_job *j,
			      const char *text, int first, int final,
			      struct buf *out)
{
	status_t st = ST_OK;

	switch (g->ep) {
	case SRV_EP_COMPLETIONS:
		if (*text)
			st = put_event(completion_chunk(g, text, NULL), out);
		if (st == ST_OK && final)
			st = put_event(completion_chunk(g, "", srv__finish_openai(j->finish)), out);
		break;
	case SRV_EP_CHAT:
		if (first)
			st = put_event(chat_chunk(g, json_pack("{s:s, s:s}", "role",
							       "assistant", "content", ""),
						  NULL), out);
		if (st == ST_OK && *text)
			st = put_event(chat_chunk(g, json_pack("{s:s}", "content", text),
						  NULL), out);
		if (st == ST_OK && final)
			st = put_event(chat_chunk(g, json_object(),
						  srv__finish_openai(j->finish)), out);
		break;
	case SRV_EP_INFILL:
		if (final)
			st = put_event(infill_final(g, j, text), out);
		else if (*text)
			st = put_event(json_pack("{s:s, s:b, s:i, s:i}", "content", text,
						 "stop", 0, "id_slot", j->slot, "index", 0),
				       out);
		return st;
	}
	if (st == ST_OK && final && g->include_usage)
		st = put_event(json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", g->id,
					 "object", g->ep == SRV_EP_CHAT ?
					 "chat.completion.chunk" : "text_completion",
					 "created", (json_int_t)g->created, "model",
					 g->model, "choices", "usage", usage_json(j)),
			       out);
	/* llama.cpp's own endpoints end without [DONE]; OpenAI's with it. */
	if (st == ST_OK && final)
		st = srv__sse_done(out);
	return st;
}

/* An error after the stream started: OpenAI sends it as an event. */
static status_t stream_error_msg(const char *msg, const char *code,
				 struct buf *out)
{
	struct buf tmp;
	status_t st;

	buf_init(&tmp, 0);
	st = srv__error_json(&tmp, msg, "server_error", NULL, code);
	if (st == ST_OK)
		st = srv__sse_event(out, tmp.data, tmp.len);
	buf_release(&tmp);
	return st;
}

static status_t stream_error(const struct srv_job *j, struct buf *out)
{
	struct buf tmp;
	status_t st;

	buf_init(&tmp, 0);
	st = srv__error_json(&tmp, j->error.msg[0] ? j->error.msg : "generation failed",
			     "server_error", NULL,
			     j->error.st == ST_TIMEOUT ? "timeout" : "internal_error");
	if (st == ST_OK)
		st = srv__sse_event(out, tmp.data, tmp.len);
	buf_release(&tmp);
	return st;
}

/* ------------------------------------------------------------------ */
/* Streaming                                                           */
/* ------------------------------------------------------------------ */

struct stream {
	struct gen g;
	struct MHD_Connection *c;
	struct srv_job *j;
	struct buf out;			/* framed bytes not yet sent */
	size_t off;			/* of out, already sent */
	struct buf take;		/* text taken from the job */
	int first;			/* nothing sent yet (chat role delta) */
	int finished;			/* closing events are in out */
	uint64_t hard_ns;
	/* for the observer: what the request was, when it began */
	char req_id[40];
	char path[32];
	struct srv_identity who;
	uint64_t t_start_ns;
	/* for the audit record */
	char *body;			/* copy of the request body */
	size_t body_len;
	struct sha256 out_hash;		/* of all text sent */
	struct buf content;		/* all text sent, when the audit keeps it */
	int audited;
	struct srv_stream_policy pol;	/* line-by-line policy on the output */
};

#define AUDIT_REFUSED "the audit log cannot record this request: the answer is withheld"

/* Records the finished stream in the audit log (once); 0 when it failed. */
static int stream_audit(struct stream *st, const char *outcome)
{
	uint8_t h[SHA256_LEN];
	struct err e;

	if (st->audited)
		return 1;
	st->audited = 1;
	sha256_end(&st->out_hash, h);
	err_clear(&e);
	return srv__audit_request(st->g.s, st->req_id, &st->who, st->path, st->body,
				  st->body_len,
				  st->g.s->audit_content ? buf_cstr(&st->content) : NULL,
				  st->content.len, h, st->j,
				  (double)(time_mono_ns() - st->t_start_ns) / 1e6,
				  outcome, &e) == ST_OK;
}

/* Fills the generation fields of rec from a finished (or abandoned) job. */
static void record_job(struct srv_request_record *rec, const struct gen *g,
		       struct srv_job *j)
{
	pthread_mutex_lock(&j->mu);
	/* The backend's copy: rec outlives g (the handler's frame). */
	rec->model = g->s->b ? g->s->b->model_id :
		srv__index_model(g->s) ? INDEX_MODEL_ID : "";
	rec->prompt_tokens = j->n_prompt;
	rec->cached_tokens = j->n_cached;
	rec->completion_tokens = j->n_gen;
	rec->finish = j->state == SRV_JOB_DONE ? srv__finish_openai(j->finish) :
		j->t_submit_ns ? "cancelled" : "";
	rec->ttft_ms = j->t_first_ns > j->t_submit_ns ?
		(double)(j->t_first_ns - j->t_submit_ns) / 1e6 : 0;
	pthread_mutex_unlock(&j->mu);
}

static void stream_cancel(struct stream *st)
{
	atomic_store(&st->j->cancelled, 1);
	if (st->g.s->sched)
		srv__sched_kick(st->g.s->sched);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct stream *st = cls;
	struct srv_job *j = st->j;

	(void)pos;
	for (;;) {
		enum srv_job_state state;
		enum srv_finish fin;
		status_t rc = ST_OK;

		if (st->off < st->out.len) {
			size_t n = st->out.len - st->off;
			if (n > max)
				n = max;
			memcpy(dst, st->out.data + st->off, n);
			st->off += n;
			if (st->off == st->out.len) {
				buf_reset(&st->out);
				st->off = 0;
			}
			return (ssize_t)n;
		}
		if (st->finished)
			return MHD_CONTENT_READER_END_OF_STREAM;

		srv__job_wait_locked(j, WAIT_SLICE_MS, 1);
		buf_reset(&st->take);
		if (j->text.len) {
			rc = buf_append(&st->take, j->text.data, j->text.len);
			buf_reset(&j->text);
		}
		state = j->state;
		fin = j->finish;
		pthread_mutex_unlock(&j->mu);

		if (rc != ST_OK)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (st->pol.ps && !(state == SRV_JOB_DONE &&
				    (fin == SRV_FINISH_CANCELLED || fin == SRV_FINISH_ERROR))) {
			/* Only complete, checked lines leave; a block ends the
			 * stream with an error event naming the rule. */
			struct err pe;
			err_clear(&pe);
			rc = srv__stream_policy_filter(st->g.s, &st->pol, &st->take,
						       state == SRV_JOB_DONE, &pe);
			if (rc == ST_DENIED) {
				if (state != SRV_JOB_DONE)
					stream_cancel(st);
				rc = stream_audit(st, "blocked") ?
					stream_error_msg(pe.msg, "forbidden", &st->out) :
					stream_error_msg(AUDIT_REFUSED, "audit_unavailable",
							 &st->out);
				st->finished = 1;
				st->first = 0;
				if (rc != ST_OK)
					return MHD_CONTENT_READER_END_WITH_ERROR;
				continue;
			}
			if (rc != ST_OK)
				return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (st->take.len) {
			sha256_add(&st->out_hash, st->take.data, st->take.len);
			if (st->g.s->audit_content &&
			    buf_append(&st->content, st->take.data, st->take.len))
				return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (state == SRV_JOB_DONE) {
			if (fin == SRV_FINISH_CANCELLED)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			if (!stream_audit(st, fin == SRV_FINISH_ERROR ? "error" : "ok")) {
				/* The record is not on disk: no normal end. */
				rc = stream_error_msg(AUDIT_REFUSED, "audit_unavailable", &st->out);
			} else if (fin == SRV_FINISH_ERROR) {
				if (st->take.len)
					rc = stream_events(&st->g, j, buf_cstr(&st->take),
							   st->first, 0, &st->out);
				if (rc == ST_OK)
					rc = stream_error(j, &st->out);
			} else {
				rc = stream_events(&st->g, j, buf_cstr(&st->take),
						   st->first, 1, &st->out);
			}
			st->finished = 1;
			st->first = 0;
			if (rc != ST_OK)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			continue;
		}
		if (st->take.len || st->first) {
			if (st->g.ep != SRV_EP_CHAT && !st->take.len)
				;	/* nothing to say yet */
			else if (stream_events(&st->g, j, buf_cstr(&st->take),
					       st->first, 0, &st->out) != ST_OK)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			else
				st->first = 0;
			if (st->out.len)
				continue;
		}
		if (srv__client_gone(st->c) || time_mono_ns() > st->hard_ns) {
			stream_cancel(st);
			if (time_mono_ns() > st->hard_ns + HARD_MARGIN_NS)
				return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	/* Called when the response ends for any reason, including a client
	 * that hung up mid-write: the job must not outlive its reader. */
	int done;

	pthread_mutex_lock(&st->j->mu);
	done = st->j->state == SRV_JOB_DONE;
	pthread_mutex_unlock(&st->j->mu);
	if (!done)
		stream_cancel(st);
	stream_audit(st, "cancelled");
	{
		struct srv_request_record rec;
		memset(&rec, 0, sizeof rec);
		record_job(&rec, &st->g, st->j);
		rec.id = st->req_id;
		rec.method = "POST";
		rec.path = st->path;
		rec.status = 200;
		rec.who = &st->who;
		rec.total_ms = (double)(time_mono_ns() - st->t_start_ns) / 1e6;
		srv__observe(st->g.s, &rec);
	}
	srv__job_unref(st->j);
	buf_release(&st->out);
	buf_release(&st->take);
	buf_release(&st->content);
	srv__stream_policy_release(&st->pol);
	mem_free(st->body);
	mem_free(st);
}

static int start_stream(struct srv_rctx *r, const struct gen *g,
			const struct srv_request *q, struct srv_job *j)
{
	struct MHD_Response *resp;
	struct stream *st;
	int ret;

	if (!(st = mem_calloc(1, sizeof *st))) {
		atomic_store(&j->cancelled, 1);
		srv__job_unref(j);
		return MHD_NO;
	}
	st->g = *g;
	st->c = r->c;
	st->j = j;
	st->first = 1;
	st->hard_ns = j->deadline_ns ? j->deadline_ns + HARD_MARGIN_NS : UINT64_MAX / 2;
	str_copy(st->req_id, r->id, sizeof st->req_id);
	str_copy(st->path, r->path, sizeof st->path);
	st->who = r->who;
	st->t_start_ns = r->t_start_ns;
	r->record_deferred = 1;
	buf_init(&st->out, 0);
	buf_init(&st->take, 0);
	buf_init(&st->content, 0);
	sha256_begin(&st->out_hash);
	st->body_len = r->body_len;
	if (srv__stream_policy_init(r->s, &r->who, q, &st->pol) != ST_OK ||
	    !(st->body = mem_strndup(r->body ? r->body : "", r->body_len))) {
		atomic_store(&j->cancelled, 1);
		st->audited = 1;
		stream_free(st);
		return MHD_NO;
	}
	r->status = 200;
	if (!r->c) {
		stream_free(st);
		return MHD_YES;
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
						 stream_read, st, stream_free);
	if (!resp) {
		stream_free(st);
		return MHD_NO;
	}
	{
		/*
		 * Events are small writes spaced by token steps: without
		 * TCP_NODELAY, Nagle's algorithm and the client's delayed ACK
		 * hold each one back by tens of milliseconds.
		 */
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
		int one = 1;
		if (ci)
			setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	ret = MHD_queue_response(r->c, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ------------------------------------------------------------------ */
/* One request, start to end                                           */
/* ------------------------------------------------------------------ */

static int respond_done(struct srv_rctx *r, const struct gen *g,
			struct srv_job *j)
{
	struct buf text;
	json_t *o;
	int ret;

	if (j->finish == SRV_FINISH_ERROR)
		return srv__respond_err(r, &j->error, NULL);
	buf_init(&text, 0);
	if (buf_append(&text, j->text.data ? j->text.data : "", j->text.len)) {
		buf_release(&text);
		return MHD_NO;
	}
	o = final_body(g, j, buf_cstr(&text));
	buf_release(&text);
	if (!o)
		return srv__respond_error(r, 500, "server_error", "internal_error",
					  NULL, "out of memory");
	ret = srv__respond_json(r, 200, o);
	json_decref(o);
	return ret;
}

/* ------------------------------------------------------------------ */
/* The index model: completions from the n-gram index, no model file   */
/* ------------------------------------------------------------------ */

/*
 * Answers a completion or infill request from the index model, in the
 * same shapes as a model's answer. Token counts are estimates (4 bytes a
 * token): the index has no tokenizer.
 */
static int index_generate(struct srv_rctx *r, struct srv_request *q,
			  enum srv_endpoint ep)
{
	struct srv *s = r->s;
	struct srv_gen_params gp = q->gp;
	struct srv_textproc tp;
	struct buf prefix, raw, text;
	struct srv_job *j = NULL;
	struct gen g;
	struct err pe;
	int32_t one = 0, max_tokens;
	int ret;

	err_clear(&pe);
	if (ep == SRV_EP_CHAT)
		return srv__respond_error(r, 400, "invalid_request_error", "unsupported",
					  "messages", "the index model completes code; chat needs"
					  " a model file (airlock serve --model FILE)");
	if (ep == SRV_EP_COMPLETIONS && !q->prompt)
		return srv__respond_error(r, 400, "invalid_request_error", "unsupported",
					  "prompt", "the index model takes a text prompt, not token ids");
	buf_init(&prefix, 0);
	buf_init(&raw, 0);
	buf_init(&text, 0);
	if (ep == SRV_EP_COMPLETIONS ? buf_puts(&prefix, q->prompt) :
	    (buf_puts(&prefix, q->input_prefix) ||
	     (q->infill_prompt && buf_puts(&prefix, q->infill_prompt)))) {
		ret = MHD_NO;
		goto out;
	}
	max_tokens = gp.max_tokens < 0 ? s->o.max_tokens_default : gp.max_tokens;
	if (srv__index_complete(s, buf_cstr(&prefix), prefix.len,
				(size_t)max_tokens * 4 < 65536 ? (size_t)max_tokens * 4 : 65536,
				&raw) != ST_OK) {
		ret = srv__respond_error(r, 500, "server_error", "internal_error", NULL,
					 "the index model failed");
		goto out;
	}
	srv__textproc_init(&tp, gp.stop, gp.n_stop);
	if (srv__textproc_feed(&tp, raw.data ? raw.data : "", raw.len, &text) ||
	    srv__textproc_flush(&tp, &text)) {
		srv__textproc_release(&tp);
		ret = MHD_NO;
		goto out;
	}
	if (srv__job_new(&one, 1, &gp, max_tokens, &j)) {
		srv__textproc_release(&tp);
		ret = MHD_NO;
		goto out;
	}
	j->n_prompt = (int32_t)((prefix.len + 3) / 4);
	j->n_gen = (int32_t)((text.len + 3) / 4);
	j->finish = tp.stopped ? SRV_FINISH_WORD :
		raw.len >= (size_t)max_tokens * 4 ? SRV_FINISH_LENGTH : SRV_FINISH_STOP;
	srv__textproc_release(&tp);
	j->state = SRV_JOB_DONE;
	j->t_submit_ns = r->t_start_ns;
	j->t_first_ns = j->t_prompt_done_ns = j->t_done_ns = time_mono_ns();
	str_copy(j->id, r->id, sizeof j->id);
	j->who = r->who;
	if (buf_append(&j->text, text.data ? text.data : "", text.len)) {
		ret = MHD_NO;
		goto out;
	}
	memset(&g, 0, sizeof g);
	g.s = s;
	g.ep = ep;
	snprintf(g.id, sizeof g.id, "%s%s", ep == SRV_EP_COMPLETIONS ? "cmpl-" : "",
		 r->id + 4);
	str_copy(g.model, INDEX_MODEL_ID, sizeof g.model);
	g.created = (int64_t)(time_wall_ns() / 1000000000ull);
	g.include_usage = gp.include_usage;
	record_job(&r->rec, &g, j);
	if (gp.stream) {
		/* The whole answer is ready: the stream sends it, records it in
		 * the audit log and ends. */
		atomic_fetch_add(&j->refs, 1);
		ret = start_stream(r, &g, q, j);
	} else if (srv__policy_output(s, &r->who, q, &j->text, &pe) != ST_OK) {
		srv__audit_request(s, r->id, &r->who, r->path, r->body, r->body_len,
				   NULL, 0, NULL, j, (double)(time_mono_ns() - r->t_start_ns) / 1e6,
				   "blocked", NULL);
		ret = srv__respond_err(r, &pe, NULL);
	} else if (srv__audit_request(s, r->id, &r->who, r->path, r->body, r->body_len,
				      j->text.data ? j->text.data : "", j->text.len, NULL, j,
				      (double)(time_mono_ns() - r->t_start_ns) / 1e6,
				      "ok", NULL) != ST_OK) {
		ret = srv__respond_error(r, 503, "server_error", "audit_unavailable",
					 NULL, AUDIT_REFUSED);
	} else {
		ret = respond_done(r, &g, j);
	}
out:
	srv__job_unref(j);
	buf_release(&prefix);
	buf_release(&raw);
	buf_release(&text);
	return ret;
}

static int generate(struct srv_rctx *r, enum srv_endpoint ep)
{
	struct srv *s = r->s;
	struct srv_request q;
	struct srv_job *j = NULL;
	struct vec toks;
	struct gen g;
	char param[64];
	struct err e;
	int32_t max_tokens;
	uint64_t hard_ns;
	int ret, retry = 0;
	status_t st;

	err_clear(&e);
	vec_init(&toks, sizeof(int32_t));
	st = srv__request_parse(ep, r->body, r->body_len, &q, param, sizeof param, &e);
	if (st != ST_OK) {
		ret = srv__respond_err(r, &e, param);
		goto out;
	}
	/* Governance before anything reaches a model. */
	if ((st = srv__policy_request(s, &r->who, &q, &e))) {
		ret = srv__respond_err(r, &e, NULL);
		goto out;
	}
	if (!s->b || !s->sched) {
		ret = srv__index_model(s) ? index_generate(r, &q, ep) : no_model(r);
		goto out;
	}
	param[0] = '\0';
	if ((st = build_prompt(s, &r->who, &q, &toks, param, sizeof param, &e))) {
		ret = srv__respond_err(r, &e, param);
		goto out;
	}
	if (toks.len == 0) {
		ret = srv__respond_error(r, 400, "invalid_request_error",
					 "invalid_request", "prompt",
					 "the prompt is empty after tokenization");
		goto out;
	}
	if ((int64_t)toks.len + 1 > s->b->n_ctx) {
		char msg[200];
		snprintf(msg, sizeof msg,
			 "the prompt has %zu tokens; this model's context holds %d"
			 " (prompt + output)", toks.len, (int)s->b->n_ctx);
		ret = srv__respond_error(r, 400, "invalid_request_error",
					 "context_length_exceeded", param, msg);
		goto out;
	}
	max_tokens = q.gp.max_tokens < 0 ? s->o.max_tokens_default : q.gp.max_tokens;
	if ((int64_t)max_tokens > s->b->n_ctx - (int64_t)toks.len)
		max_tokens = s->b->n_ctx - (int32_t)toks.len;
	if (!q.gp.has_seed)
		random_bytes(&q.gp.seed, sizeof q.gp.seed);
	if ((st = srv__job_new(toks.data, toks.len, &q.gp, max_tokens, &j))) {
		ret = srv__respond_error(r, 500, "server_error", "internal_error",
					 NULL, "out of memory");
		goto out;
	}
	str_copy(j->id, r->id, sizeof j->id);
	j->who = r->who;
	if (srv__policy_guard(s, &r->who, &q, &j->guard) != ST_OK) {
		ret = srv__respond_error(r, 500, "server_error", "internal_error",
					 NULL, "out of memory");
		goto out;
	}
	if (s->o.request_timeout_ms > 0)
		j->deadline_ns = time_mono_ns() +
			(uint64_t)s->o.request_timeout_ms * 1000000ull;

	memset(&g, 0, sizeof g);
	g.s = s;
	g.ep = ep;
	snprintf(g.id, sizeof g.id, "%s%s", ep == SRV_EP_CHAT ? "chatcmpl-" :
		 ep == SRV_EP_COMPLETIONS ? "cmpl-" : "", r->id + 4);
	str_copy(g.model, s->b->model_id, sizeof g.model);
	g.created = (int64_t)(time_wall_ns() / 1000000000ull);
	g.include_usage = q.gp.include_usage;

	if ((st = srv__sched_submit(s->sched, j, &retry, &e))) {
		r->retry_after = retry;
		ret = srv__respond_err(r, &e, param);
		goto out;
	}
	LOG_INFO("server.generate", LF_STR("id", r->id), LF_INT("prompt_tokens", toks.len),
		 LF_INT("max_tokens", max_tokens), LF_BOOL("stream", q.gp.stream));
	if (q.gp.stream) {
		ret = start_stream(r, &g, &q, j);
		j = NULL;	/* the stream owns the reference now */
		goto out;
	}
	hard_ns = j->deadline_ns ? j->deadline_ns + HARD_MARGIN_NS : UINT64_MAX / 2;
	for (;;) {
		int done;
		srv__job_wait_locked(j, WAIT_SLICE_MS, 0);
		done = j->state == SRV_JOB_DONE;
		pthread_mutex_unlock(&j->mu);
		if (done)
			break;
		if (!atomic_load(&j->cancelled) &&
		    (srv__client_gone(r->c) ||
		     time_mono_ns() > hard_ns)) {
			atomic_store(&j->cancelled, 1);
			srv__sched_kick(s->sched);
		}
		if (atomic_load(&j->cancelled) &&
		    time_mono_ns() > hard_ns + HARD_MARGIN_NS) {
			/* The scheduler is stuck: give the connection back. */
			ret = MHD_NO;
			goto out;
		}
	}
	{
		const char *outcome = j->finish == SRV_FINISH_CANCELLED ? "cancelled" :
			j->finish == SRV_FINISH_ERROR ? "error" : "ok";
		struct err ae, pe;
		status_t ast;

		err_clear(&ae);
		err_clear(&pe);
		/* The whole answer under the policy (the scheduler is done with
		 * j->text once the job is finished). */
		if (j->finish != SRV_FINISH_CANCELLED && j->finish != SRV_FINISH_ERROR &&
		    srv__policy_output(s, &r->who, &q, &j->text, &pe) != ST_OK)
			outcome = "blocked";
		/* On disk before the answer leaves. */
		ast = srv__audit_request(s, r->id, &r->who, r->path, r->body, r->body_len,
					 j->text.data ? j->text.data : "", j->text.len, NULL,
					 j, (double)(time_mono_ns() - r->t_start_ns) / 1e6,
					 outcome, &ae);
		if (j->finish == SRV_FINISH_CANCELLED)
			ret = MHD_NO;	/* nobody to answer */
		else if (strcmp(outcome, "blocked") == 0)
			ret = srv__respond_err(r, &pe, NULL);
		else if (ast != ST_OK)
			ret = srv__respond_error(r, 503, "server_error", "audit_unavailable",
						 NULL, AUDIT_REFUSED);
		else
			ret = respond_done(r, &g, j);
	}
out:
	if (j)
		record_job(&r->rec, &g, j);
	srv__job_unref(j);
	vec_release(&toks);
	srv__request_release(&q);
	return ret;
}

int srv__h_completions(struct srv_rctx *r)
{
	return generate(r, SRV_EP_COMPLETIONS);
}

int srv__h_chat(struct srv_rctx *r)
{
	return generate(r, SRV_EP_CHAT);
}

int srv__h_infill(struct srv_rctx *r)
{
	return generate(r, SRV_EP_INFILL);
}
