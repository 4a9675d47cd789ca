/*
 * server_int.h - the server's private parts, shared between its files and
 * its tests: request parsing, the text pipeline (UTF-8 and stop strings),
 * the sampler, SSE framing, jobs and the scheduler.
 */
#ifndef AIRLOCK_SERVER_INT_H
#define AIRLOCK_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>

#include "server/server.h"

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

enum srv_endpoint { SRV_EP_COMPLETIONS, SRV_EP_CHAT, SRV_EP_INFILL };

#define SRV_MAX_STOP 16		/* OpenAI allows 4; llama.cpp more */
#define SRV_MAX_STOP_LEN 256	/* bytes of one stop string */
#define SRV_MAX_MESSAGES 1024
#define SRV_MAX_EXTRA 256

/* Sampling and generation settings of one request. */
struct srv_gen_params {
	int32_t max_tokens;		/* -1: server default */
	float temperature;		/* <= 0: greedy */
	float top_p;			/* (0, 1] */
	uint64_t seed;
	int has_seed;
	const char *stop[SRV_MAX_STOP];	/* borrowed from the request's arena */
	size_t n_stop;
	int stream;
	int include_usage;		/* stream_options.include_usage */
	int echo;			/* completions: prompt text prepended */
};

/* A parsed request body; every string lives in arena. */
struct srv_request {
	struct arena arena;
	enum srv_endpoint ep;
	const char *model;		/* NULL when absent */
	/* completions */
	const char *prompt;		/* NULL when given as tokens */
	int32_t *prompt_tokens;		/* (n_prompt_tokens) or NULL */
	size_t n_prompt_tokens;
	const char *suffix;		/* non-NULL: fill-in-the-middle */
	/* chat */
	struct srv_chat_msg *msgs;
	size_t n_msgs;
	/* infill */
	const char *input_prefix;
	const char *input_suffix;
	const char *infill_prompt;	/* llama.cpp: text after the prefix */
	struct srv_chunk *extra;
	size_t n_extra;
	/* airlock's extension: where the cursor is, for retrieval */
	const char *repo;
	const char *path;
	struct srv_gen_params gp;
};

/*
 * Parses and validates the JSON body of ep into req (req is initialised by
 * this call and released with srv__request_release even on failure).
 * Unknown fields are ignored, as OpenAI does. On failure returns ST_CORRUPT
 * (malformed JSON) or ST_INVAL (a field of the wrong type or range), with
 * e's message fit for the client and param naming the field ("" if none).
 */
status_t srv__request_parse(enum srv_endpoint ep, const char *body, size_t len,
			    struct srv_request *req, char *param, size_t nparam,
			    struct err *e);
void srv__request_release(struct srv_request *req);

/* ------------------------------------------------------------------ */
/* Text pipeline                                                       */
/* ------------------------------------------------------------------ */

/*
 * Turns the bytes of generated tokens into text safe to send: holds back
 * an incomplete UTF-8 sequence and any tail that may start a stop string,
 * and cuts the output at the first stop string.
 */
struct srv_textproc {
	struct buf pending;		/* bytes not yet released */
	const char *const *stop;	/* borrowed */
	size_t n_stop;
	int stopped;			/* a stop string matched */
};

void srv__textproc_init(struct srv_textproc *t, const char *const *stop,
			size_t n_stop);
/*
 * Adds bytes; appends what is now safe to release to out. Returns ST_OK or
 * ST_NOMEM/ST_LIMIT. Sets t->stopped when a stop string matched (nothing
 * after its start is released, now or later).
 */
status_t srv__textproc_feed(struct srv_textproc *t, const char *p, size_t n,
			    struct buf *out);
/* Releases everything held back (end of generation) into out. */
status_t srv__textproc_flush(struct srv_textproc *t, struct buf *out);
void srv__textproc_release(struct srv_textproc *t);

/*
 * Appends p to out with every invalid UTF-8 sequence replaced by U+FFFD,
 * so that the result can go into JSON.
 */
status_t srv__utf8_sanitize(const char *p, size_t n, struct buf *out);
/* Length of the longest prefix of p[0..n) that does not end inside a
 * UTF-8 sequence that may still be completed. */
size_t srv__utf8_complete_len(const char *p, size_t n);

/* ------------------------------------------------------------------ */
/* Sampler                                                             */
/* ------------------------------------------------------------------ */

struct srv_rng {
	uint64_t s[2];
};
void srv__rng_seed(struct srv_rng *r, uint64_t seed);
/* Uniform in [0, 1). */
double srv__rng_next(struct srv_rng *r);

/*
 * Picks the next token from logits (n_vocab; modified in place): argmax
 * when temperature <= 0, else softmax at temperature, nucleus top_p, one
 * draw from rng. Ties pick the lowest id. scratch holds n_vocab ints.
 */
int32_t srv__sample(float *logits, int32_t n_vocab, float temperature,
		    float top_p, struct srv_rng *rng, int32_t *scratch);

/* ------------------------------------------------------------------ */
/* SSE and response framing                                            */
/* ------------------------------------------------------------------ */

/* Appends the compact JSON text of j to out. */
status_t srv__json_append(struct buf *out, const json_t *j);
/* Appends "data: <json>\n\n" to out. */
status_t srv__sse_event(struct buf *out, const char *json, size_t n);
/* Appends "data: [DONE]\n\n". */
status_t srv__sse_done(struct buf *out);
/*
 * Writes the OpenAI error JSON {"error":{"message","type","param","code"}}
 * into out (param/code may be NULL: JSON null).
 */
status_t srv__error_json(struct buf *out, const char *message,
			 const char *type, const char *param, const char *code);

/* ------------------------------------------------------------------ */
/* Jobs and the scheduler                                              */
/* ------------------------------------------------------------------ */

enum srv_job_state { SRV_JOB_QUEUED, SRV_JOB_RUNNING, SRV_JOB_DONE };

enum srv_finish {
	SRV_FINISH_NONE,
	SRV_FINISH_STOP,		/* end-of-generation token */
	SRV_FINISH_WORD,		/* a stop string */
	SRV_FINISH_LENGTH,		/* max_tokens or the context */
	SRV_FINISH_CANCELLED,		/* client went away */
	SRV_FINISH_ERROR,		/* see job->error */
	SRV_FINISH_POLICY,		/* the token guard refused every token;
					 * job->error names the rule */
};

struct pol_guard;

/*
 * One generation request, shared by the HTTP thread that submitted it and
 * the scheduler (two references). Inputs are fixed at submission; outputs
 * are guarded by mu and signalled on cv.
 */
struct srv_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int refs;
	atomic_int cancelled;		/* set by the HTTP side */

	/* inputs */
	char id[40];			/* request id */
	struct srv_identity who;
	int32_t *prompt;		/* (n_prompt) owned */
	int32_t n_prompt;
	int32_t max_tokens;		/* >= 1 */
	float temperature, top_p;
	uint64_t seed;
	char *stop[SRV_MAX_STOP];	/* owned copies */
	size_t n_stop;
	uint64_t deadline_ns;		/* time_mono_ns() clock; 0: none */
	uint64_t t_submit_ns;
	/* Token guard of this generation (owned; NULL: none). Used by the
	 * scheduler thread only once the job is submitted. */
	struct pol_guard *guard;

	/* outputs (under mu) */
	enum srv_job_state state;
	struct buf text;		/* released text not yet taken */
	int32_t n_gen;			/* tokens generated */
	int32_t n_cached;		/* prompt tokens reused from a slot */
	int slot;			/* -1 until running */
	enum srv_finish finish;
	struct err error;		/* when finish is ERROR */
	uint64_t t_first_ns;		/* first token sampled; 0: not yet */
	uint64_t t_prompt_done_ns;
	uint64_t t_done_ns;
};

/*
 * Creates a job owning a copy of prompt, with one reference (the caller's).
 * The scheduler takes its own reference at submission.
 */
status_t srv__job_new(const int32_t *prompt, size_t n_prompt,
		      const struct srv_gen_params *gp, int32_t max_tokens,
		      struct srv_job **out);
void srv__job_unref(struct srv_job *j);
/*
 * Waits until the job finished, or has text when text_wakes, or timeout_ms
 * passed; returns with j->mu held. The caller unlocks.
 */
void srv__job_wait_locked(struct srv_job *j, int timeout_ms, int text_wakes);
const char *srv__finish_openai(enum srv_finish f);

struct srv_sched_opts {
	int threads;			/* sampling threads; <= 0: all CPUs */
	int queue_size;
	int batch_tokens;
	int prompt_cache;
	int64_t team_max_concurrent;
	int64_t team_tokens_per_minute;
};

struct srv_sched;

/* Starts the scheduler thread over backend (borrowed). */
status_t srv__sched_new(struct srv_backend *b, const struct srv_sched_opts *o,
			struct srv_sched **out, struct err *e);
/*
 * Queues j. ST_BUSY when the queue is full or the team is over a quota,
 * with *retry_after_s the seconds a client should wait; e says which.
 */
status_t srv__sched_submit(struct srv_sched *s, struct srv_job *j,
			   int *retry_after_s, struct err *e);
/* Wakes the scheduler (after a job's cancelled flag is set). */
void srv__sched_kick(struct srv_sched *s);
/*
 * Stops the thread and fails every job left (their waiters wake up); later
 * submissions fail. The object stays valid until srv__sched_free.
 */
void srv__sched_stop(struct srv_sched *s);
/* Stops (if needed) and frees; NULL is accepted. */
void srv__sched_free(struct srv_sched *s);
void srv__sched_stats(struct srv_sched *s, struct srv_stats *out);

/* Per-slot view for /v1/status. */
struct srv_slot_info {
	int busy;
	int32_t n_cached;		/* tokens whose KV the slot holds */
	char job_id[40];
};
/* Fills up to n entries of out; returns the number of slots. */
int srv__sched_slots(struct srv_sched *s, struct srv_slot_info *out, int n);

/* ------------------------------------------------------------------ */
/* HTTP: the server object, request context, routing, responses         */
/* ------------------------------------------------------------------ */

struct MHD_Daemon;
struct MHD_Connection;

struct srv {
	struct srv_options o;
	struct srv_store *store;	/* borrowed */
	struct srv_backend *b;		/* borrowed; NULL: no model */
	struct srv_sched *sched;	/* NULL without a model */
	struct MHD_Daemon *d;
	char *tls_cert_pem, *tls_key_pem;
	int port;
	int listen_fd;			/* bound by srv_bind; -1 once MHD owns it */
	int listen_v6;
	int64_t created;		/* Unix seconds, for /v1/models */
	srv_observer_fn observer;
	void *observer_ctx;
	struct tel_registry *metrics;	/* borrowed; NULL: no /metrics */
	const struct tel_std *std;
	struct tel_store *usage;	/* borrowed; NULL: no usage events */
	struct aud_log *audit;		/* borrowed; NULL: no audit records */
	struct pol_engine *policy;	/* borrowed; NULL: no policy checks */
	const struct config *policy_cfg;	/* borrowed; what a reload loads */
	struct ctx *ctx;		/* borrowed; NULL: no /v1/context */
	struct ctx_ngram *ngram;	/* borrowed; the index model */
	pthread_mutex_t ctx_mu;		/* one retrieval at a time on ctx */
	int ctx_mu_init;
	int audit_content;
	char audit_dir[1024];		/* data dir of the audit log; "": none */
	uint64_t t_start_ns;
};

enum srv_auth_level { SRV_AUTH_NONE, SRV_AUTH_USER, SRV_AUTH_ADMIN };

/* What a handler gets: the request and who sent it. */
struct srv_rctx {
	struct srv *s;
	struct MHD_Connection *c;	/* NULL in unit tests of handlers */
	const char *method;
	const char *path;
	const char *arg;		/* path rest after a prefix route, or "" */
	const char *body;		/* NUL-terminated */
	size_t body_len;
	char id[40];			/* request id, "req_" + 24 hex */
	struct srv_identity who;	/* zero for unauthenticated routes */
	unsigned status;		/* the status sent, for the access log */
	int retry_after;		/* > 0: a Retry-After header, seconds */
	int record_deferred;		/* a stream reports the request itself */
	struct srv_request_record rec;	/* generation fields, for the observer */
	uint64_t t_start_ns;
};

typedef int (*srv_handler_fn)(struct srv_rctx *r);

struct srv_route {
	const char *method;
	const char *path;
	int prefix;			/* path is a prefix; the rest is r->arg */
	enum srv_auth_level auth;
	srv_handler_fn fn;
};

/*
 * Finds the route of method and path. Returns it, or NULL with *status 404
 * (no such path) or 405 (path known, method not).
 */
const struct srv_route *srv__route_find(const char *method, const char *path,
					unsigned *status);

/*
 * Responses; each returns MHD's result for the access handler. Bodies are
 * copied. srv__respond_error writes the OpenAI error shape.
 */
int srv__respond(struct srv_rctx *r, unsigned status, const char *ctype,
		 const char *body, size_t len);
int srv__respond_json(struct srv_rctx *r, unsigned status, const json_t *j);
int srv__respond_error(struct srv_rctx *r, unsigned status, const char *type,
		       const char *code, const char *param, const char *message);
/* Maps an error status to the HTTP status, type and code of its response. */
int srv__respond_err(struct srv_rctx *r, const struct err *e, const char *param);

/*
 * Appends the audit record of a finished generation (srv_audit.c): body
 * is the request body, out the whole output text (or NULL with out_hash
 * its SHA-256), outcome "ok", "error", "cancelled". ST_OK when no audit
 * log is set.
 */
status_t srv__audit_request(struct srv *s, const char *id,
			    const struct srv_identity *who, const char *endpoint,
			    const char *body, size_t body_len, const char *out,
			    size_t out_len, const uint8_t *out_hash,
			    const struct srv_job *j, double latency_ms,
			    const char *outcome, struct err *e);
/* GET /v1/admin/audit/... (srv_audit_http.c). */
int srv__h_audit_verify(struct srv_rctx *r);
int srv__h_audit_records(struct srv_rctx *r);
int srv__h_audit_proof(struct srv_rctx *r);
int srv__h_audit_consistency(struct srv_rctx *r);
int srv__h_audit_checkpoint(struct srv_rctx *r);
/* POST /v1/admin/policy/reload (srv_policy_reload.c). */
int srv__h_policy_reload(struct srv_rctx *r);

/* Appends an admin record; failures are logged, not returned. */
void srv__audit_admin(struct srv *s, const char *actor, const char *action,
		      const char *target);

/* Counts rec in the metrics and the usage store (srv_telemetry.c). */
void srv__telemetry_record(struct srv *s, const struct srv_request_record *rec);
/* Hands rec (with r's id, method, path, status, identity) to the observer. */
void srv__observe(struct srv *s, struct srv_request_record *rec);

/* Returns 1 when the client of c has closed its side of the connection. */
int srv__client_gone(struct MHD_Connection *c);

/* Handlers (srv_api.c, srv_admin.c). */
int srv__h_completions(struct srv_rctx *r);
int srv__h_chat(struct srv_rctx *r);
int srv__h_infill(struct srv_rctx *r);
int srv__h_metrics(struct srv_rctx *r);
int srv__h_context(struct srv_rctx *r);
int srv__h_policy_check(struct srv_rctx *r);
/*
 * Policy on a request (srv_policy.c): ST_DENIED with the rule when it is
 * refused; redacted fields are replaced in q (copies in q's arena).
 */
status_t srv__policy_request(struct srv *s, const struct srv_identity *who,
			     struct srv_request *q, struct err *e);
/* Policy on a whole answer: ST_DENIED when withheld; text may be redacted. */
/*
 * Creates the token guard of a generation for who (srv_policy.c): *out is
 * NULL when there is no policy or no banned literal applies. ST_NOMEM.
 */
status_t srv__policy_guard(struct srv *s, const struct srv_identity *who,
			   const struct srv_request *q, struct pol_guard **out);
/*
 * The sampler's token filter over a job's guard (srv_policy.c): ctx is a
 * struct srv_guard_filter; an end-of-generation token is judged by
 * pol_guard_accepts_end, any other by its bytes.
 */
struct srv_guard_filter {
	struct srv_backend *b;
	struct pol_guard *g;
};
int srv__guard_accept(void *ctx, int32_t tok, const char *piece, size_t len);
/*
 * Policy over a streamed answer (srv_policy.c): enforcement point 3
 * (pol_stream: each complete line is checked before it is sent) and 4
 * (the whole text at the end, for the rules that need it).
 */
struct pol_stream;
struct srv_stream_policy {
	struct pol_stream *ps;		/* NULL: no policy */
	struct pol_result *r;		/* findings so far (owned) */
	struct buf all;			/* every byte generated, for the end */
	char team[64];
	char *repo, *path;		/* owned copies; may be NULL */
};
/* Prepares sp for a stream of q by who; ST_NOMEM. */
status_t srv__stream_policy_init(struct srv *s, const struct srv_identity *who,
				 const struct srv_request *q,
				 struct srv_stream_policy *sp);
/*
 * Feeds text (raw generated bytes) and replaces it with what may be sent
 * now: the complete lines checked so far, redactions applied. With final,
 * the last line is checked too and then the whole text. ST_DENIED (e names
 * the rule) when a block rule fires: nothing more may be sent.
 */
status_t srv__stream_policy_filter(struct srv *s, struct srv_stream_policy *sp,
				   struct buf *text, int final, struct err *e);
void srv__stream_policy_release(struct srv_stream_policy *sp);
status_t srv__policy_output(struct srv *s, const struct srv_identity *who,
			    const struct srv_request *q, struct buf *text,
			    struct err *e);
/* ctx_allow_fn over the policy's scopes; arg is a struct srv_scope. */
struct srv_scope {
	struct srv *s;
	const char *team;
};
int srv__scope_allows(void *arg, const char *repo, const char *path);
/*
 * The chunks of a FIM prompt: context retrieved for the cursor (when the
 * request names its repo or path and the context engine is connected),
 * then the client's own (input_extra). Strings are copied into a; *out is
 * allocated in a. On a retrieval error only the client's chunks are used.
 */
status_t srv__fim_chunks(struct srv *s, const struct srv_identity *who,
			 const char *repo, const char *path, const char *prefix,
			 const char *suffix, int32_t n_ctx,
			 const struct srv_chunk *client, size_t n_client,
			 struct arena *a, struct srv_chunk **out, size_t *n_out);
/* The index model (srv_context.c): present, completion, corpus bytes. */
int srv__index_model(const struct srv *s);
status_t srv__index_complete(struct srv *s, const char *prefix, size_t len,
			     size_t max_bytes, struct buf *out);
size_t srv__index_size(const struct srv *s);
int srv__h_events(struct srv_rctx *r);
int srv__h_admin_users(struct srv_rctx *r);
int srv__h_admin_user_add(struct srv_rctx *r);
int srv__h_admin_teams(struct srv_rctx *r);
int srv__h_admin_team_add(struct srv_rctx *r);
int srv__h_admin_tokens(struct srv_rctx *r);
int srv__h_admin_token_create(struct srv_rctx *r);
int srv__h_admin_token_revoke(struct srv_rctx *r);

#endif
