/*
 * server.h - airlock's HTTP server: the OpenAI-compatible and llama.cpp
 * /infill APIs, identity (users, teams, roles, bearer tokens), and the
 * scheduler that batches every active request into each model step.
 *
 * Three parts, usable on their own:
 *   - the identity store (srv_store_*): users, teams and tokens in the
 *     project's SQLite database; used by the CLI and by the server;
 *   - the backend interface (struct srv_backend): the narrow contract through
 *     which an inference engine plugs into the scheduler;
 *   - the server (srv_*): HTTP with libmicrohttpd, routing, handlers, SSE.
 */
#ifndef AIRLOCK_SERVER_H
#define AIRLOCK_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------ */
/* Identity store                                                      */
/* ------------------------------------------------------------------ */

enum srv_role { SRV_ROLE_MEMBER = 0, SRV_ROLE_ADMIN = 1 };

/* Returns "admin" or "member". */
const char *srv_role_name(enum srv_role r);
/* Parses "admin" / "member"; ST_INVAL (with a message) for anything else. */
status_t srv_role_parse(const char *s, enum srv_role *out, struct err *e);

struct srv_store;

/*
 * Opens the identity tables in the SQLite database at db_path (created and
 * migrated when needed). The store is safe to use from several threads (one
 * connection behind a mutex). *out is freed with srv_store_free.
 */
status_t srv_store_open(const char *db_path, struct srv_store **out,
			struct err *e);
void srv_store_free(struct srv_store *s);
/*
 * As srv_store_open on <data_dir>/airlock.db, creating data_dir (0700) when
 * it does not exist.
 */
status_t srv_store_open_dir(const char *data_dir, struct srv_store **out,
			    struct err *e);

struct srv_team {
	int64_t id;
	char name[64];
	int64_t max_concurrent;		/* requests at once; 0: server default */
	int64_t tokens_per_minute;	/* prompt + generated; 0: server default */
	int64_t created;		/* Unix seconds */
};

struct srv_user {
	int64_t id;
	char name[64];
	int64_t team_id;		/* 0: no team */
	char team[64];			/* "" when no team */
	enum srv_role role;
	int64_t created;		/* Unix seconds */
};

struct srv_token_info {
	int64_t id;
	int64_t user_id;
	char user[64];
	char prefix[16];		/* first characters, to recognise a token */
	int64_t created;		/* Unix seconds */
	int64_t expires;		/* Unix seconds; 0: never */
	int64_t revoked;		/* Unix seconds; 0: not revoked */
};

/*
 * Names: 1-63 characters of [A-Za-z0-9._@-], starting with a letter or a
 * digit. Returns ST_INVAL with a message otherwise.
 */
status_t srv_name_check(const char *what, const char *name, struct err *e);

/* Adds a team; ST_EXISTS if the name is taken. *id may be NULL. */
status_t srv_team_add(struct srv_store *s, const char *name,
		      int64_t max_concurrent, int64_t tokens_per_minute,
		      int64_t *id, struct err *e);
/* Looks a team up by name (ST_NOTFOUND). */
status_t srv_team_get(struct srv_store *s, const char *name,
		      struct srv_team *out, struct err *e);
/*
 * Lists teams into *out (a heap array of *n entries, freed with mem_free by
 * the caller; NULL when empty).
 */
status_t srv_team_list(struct srv_store *s, struct srv_team **out, size_t *n,
		       struct err *e);

/*
 * Adds a user in team (NULL or "": none; the team must exist) with role.
 * ST_EXISTS if the name is taken, ST_NOTFOUND if the team is unknown.
 */
status_t srv_user_add(struct srv_store *s, const char *name, const char *team,
		      enum srv_role role, int64_t *id, struct err *e);
/* Looks a user up by name, with its team's name (ST_NOTFOUND). */
status_t srv_user_get(struct srv_store *s, const char *name,
		      struct srv_user *out, struct err *e);
/* Lists users as srv_team_list does. */
status_t srv_user_list(struct srv_store *s, struct srv_user **out, size_t *n,
		       struct err *e);

/* A token as shown to its owner once: "alk_" and 64 hex digits. */
#define SRV_TOKEN_LEN 68

/*
 * Creates a token for user: 256 random bits, returned in text (NUL-
 * terminated, SRV_TOKEN_LEN characters) and never stored; the store keeps
 * only its SHA-256. ttl_ms 0: no expiry. *id may be NULL.
 */
status_t srv_token_create(struct srv_store *s, const char *user, int64_t ttl_ms,
			  char text[SRV_TOKEN_LEN + 1], int64_t *id,
			  struct err *e);
/* Revokes token id (ST_NOTFOUND if there is none; revoking twice is OK). */
status_t srv_token_revoke(struct srv_store *s, int64_t id, struct err *e);
/* Lists tokens (never their value) as srv_team_list does. */
status_t srv_token_list(struct srv_store *s, struct srv_token_info **out,
			size_t *n, struct err *e);

/* Who is asking: what each request carries to the later layers. */
struct srv_identity {
	int64_t user_id;
	char user[64];
	int64_t team_id;		/* 0: no team */
	char team[64];
	enum srv_role role;
	int64_t token_id;
	int64_t team_max_concurrent;	/* 0: server default */
	int64_t team_tokens_per_minute;	/* 0: server default */
};

/*
 * Resolves a bearer token's text to its identity. ST_AUTH with a message
 * that says why (unknown, expired, revoked) without echoing the token.
 * now is Unix seconds (0: the current time).
 */
status_t srv_store_authenticate(struct srv_store *s, const char *token,
				int64_t now, struct srv_identity *out,
				struct err *e);

/* ------------------------------------------------------------------ */
/* Backend: how an inference engine plugs into the scheduler           */
/* ------------------------------------------------------------------ */

/*
 * One item of a step: evaluate tokens[0..n_tokens) of the sequence held in
 * slot, at positions pos.., overwriting whatever that slot's KV cache held
 * at and after pos, and write the logits of the last token to logits.
 * The scheduler's items of one step have consecutive rows of one array
 * (item k's logits at items[0].logits + k * n_vocab), so a backend may
 * write them all in place.
 */
struct srv_eval_item {
	int slot;			/* 0 .. n_slots-1 */
	const int32_t *tokens;		/* (n_tokens) borrowed */
	int32_t n_tokens;		/* >= 1 */
	int32_t pos;			/* position of tokens[0] */
	float *logits;			/* out: (n_vocab) */
};

struct srv_chat_msg {
	const char *role;		/* "system", "user", "assistant" */
	const char *content;
};

/* A repository-level chunk of context for FIM (llama.cpp's input_extra). */
struct srv_chunk {
	const char *filename;		/* may be "" */
	const char *text;
};

struct srv_backend_ops {
	/*
	 * Evaluates n items, each on a distinct slot, as one step. Returns an
	 * error status (with e) if any item failed; the scheduler then fails
	 * the requests of the step.
	 */
	status_t (*eval)(void *impl, struct srv_eval_item *items, size_t n,
			 struct err *e);
	/* Appends the tokens of text to out (int32_t elements). */
	status_t (*tokenize)(void *impl, const char *text, size_t len,
			     int add_bos, struct vec *out, struct err *e);
	/* Appends the bytes token tok stands for to out. */
	status_t (*token_piece)(void *impl, int32_t tok, struct buf *out);
	/* Returns 1 when tok ends generation (EOS, EOT, <|im_end|> ...). */
	int (*token_is_eog)(void *impl, int32_t tok);
	/*
	 * Builds the fill-in-the-middle prompt of the model family into out;
	 * ST_UNSUPPORTED (with a message) when the model has no FIM tokens.
	 */
	status_t (*prompt_fim)(void *impl, const char *prefix,
			       const char *suffix, const struct srv_chunk *extra,
			       size_t n_extra, struct vec *out, struct err *e);
	/*
	 * Renders messages with the model's chat template and tokenizes the
	 * result into out; an unknown template is ST_UNSUPPORTED with a message
	 * naming it.
	 */
	status_t (*prompt_chat)(void *impl, const struct srv_chat_msg *msgs,
				size_t n, struct vec *out, struct err *e);
	/* Releases impl; called once by srv_backend_release. */
	void (*free)(void *impl);

	/*
	 * Optional per-request sampler (all four or none). Without them the
	 * scheduler's own sampler is used (greedy, temperature, top-p).
	 * sampler_new: *out is the sampler, freed with sampler_free.
	 * sampler_sample: picks *tok from n_vocab logits (not modified).
	 * sampler_accept: records an emitted token (penalty windows).
	 */
	status_t (*sampler_new)(void *impl, float temperature, float top_p,
				uint64_t seed, void **out, struct err *e);
	status_t (*sampler_sample)(void *impl, void *smp, const float *logits,
				   int32_t *tok, struct err *e);
	void (*sampler_accept)(void *impl, void *smp, int32_t tok);
	void (*sampler_free)(void *impl, void *smp);
	/*
	 * Optional: installs a token filter on sampler smp (the policy's token
	 * guard): accept returns nonzero when tok, whose output bytes are
	 * piece[0..len), may be emitted; the sampler checks its draw first and
	 * masks and redraws only when it is refused, and sampler_sample then
	 * fails with ST_DENIED when every token is refused. Without this op
	 * the scheduler checks and redraws itself.
	 */
	void (*sampler_set_filter)(void *impl, void *smp,
				   int (*accept)(void *ctx, int32_t tok,
						 const char *piece, size_t len),
				   void *ctx);
};

struct srv_backend {
	const struct srv_backend_ops *ops;
	void *impl;
	char model_id[128];		/* shown in /v1/models, "model" fields */
	char kind[32];			/* "gguf", ... shown in /v1/models */
	int32_t n_vocab;
	int32_t n_ctx;			/* tokens per slot */
	int n_slots;			/* sequences held at once */
	uint8_t model_sha256[SHA256_LEN];	/* of the model file, for audit */
	int has_model_sha256;		/* 0: not known (model_sha256 unset) */
};

/* Calls ops->free on impl (b may be NULL) and clears b. */
void srv_backend_release(struct srv_backend *b);

/*
 * Opens the GGUF model at path as a backend with n_slots sequences of
 * n_ctx tokens each (0: the model's own context length, capped by the
 * config) and n_threads threads (0: all CPUs), its KV cache of kv_cache
 * elements ("f16", "f32" or "q8_0"; NULL: f16). The caller owns *out
 * and releases it with srv_backend_release. ST_INVAL for another
 * kv_cache, or q8_0 with a head size that is not a multiple of 32.
 */
status_t srv_backend_open_model(const char *path, int n_slots, int32_t n_ctx,
				int n_threads, const char *kv_cache,
				struct srv_backend *out, struct err *e);

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

struct srv_options {
	const char *listen;		/* "127.0.0.1:8080", "[::1]:0" */
	const char *tls_cert;		/* PEM file or NULL/"": plain HTTP */
	const char *tls_key;
	size_t max_body;		/* bytes; larger bodies get 413 */
	int64_t request_timeout_ms;	/* deadline of one request */
	int queue_size;			/* waiting requests; more: 429 */
	int batch_tokens;		/* prompt tokens per slot per step */
	int prompt_cache;		/* 0: never reuse a slot's KV */
	int64_t team_max_concurrent;	/* default per team; 0: unlimited */
	int64_t team_tokens_per_minute;	/* default per team; 0: unlimited */
	int max_connections;
	int idle_timeout_s;		/* a stalled client is dropped after */
	int max_tokens_default;		/* max_tokens when the request has none */
	int threads;			/* scheduler's sampling threads; 0: all CPUs */
};

/* Fills o with the built-in defaults (those of config_schema.c). */
void srv_options_default(struct srv_options *o);
/* Fills o from the configuration's server.* settings. */
void srv_options_from_config(struct srv_options *o, const struct config *c);

struct srv;

/*
 * Creates a server over store (borrowed; required) and backend (borrowed;
 * NULL: no model loaded, completion requests fail with a clear error; it
 * may be filled in after this call, up to srv_start). Nothing listens until
 * srv_bind or srv_start. *out is freed with srv_free.
 */
status_t srv_new(const struct srv_options *o, struct srv_store *store,
		 struct srv_backend *backend, struct srv **out, struct err *e);
/*
 * Does what needs the file system or a bind permission and starts no
 * thread: reads the TLS certificate and key, binds and listens on the
 * address. A caller may lock the process down (sandbox) between srv_bind
 * and srv_start. Errors: ST_CONFIG (bad listen address, TLS files), ST_IO
 * (bind failed). Idempotent.
 */
status_t srv_bind(struct srv *s, struct err *e);
/*
 * Binds (if srv_bind was not called) and starts the HTTP threads and the
 * scheduler. Errors: those of srv_bind, ST_IO (the daemon did not start,
 * e.g. a TLS key that does not match), ST_NOMEM.
 */
status_t srv_start(struct srv *s, struct err *e);
/* The bound TCP port (useful after listening on port 0); 0 if not bound. */
int srv_port(const struct srv *s);
/* Stops listening, cancels every request, joins threads; idempotent. */
void srv_stop(struct srv *s);
/* Stops (if needed) and frees; NULL is accepted. */
void srv_free(struct srv *s);

/*
 * What the server knows about one finished request, for the layers that
 * record it (audit, usage). Every pointer is borrowed for the call only.
 * Never carries prompt or output text.
 */
struct srv_request_record {
	const char *id;			/* request id (X-Request-Id) */
	const char *method;
	const char *path;
	unsigned status;		/* HTTP status (200 for a stream that started) */
	const struct srv_identity *who;	/* all zero for unauthenticated routes */
	const char *model;		/* "" when the request generated nothing */
	int32_t prompt_tokens;
	int32_t cached_tokens;		/* of them, reused from the prompt cache */
	int32_t completion_tokens;
	const char *finish;		/* "stop", "length", "content_filter", "cancelled", "error", "" */
	double ttft_ms;			/* submission to first token; 0: none */
	double total_ms;		/* request start to its end */
};

typedef void (*srv_observer_fn)(void *ctx, const struct srv_request_record *rec);

/*
 * Calls fn once for every request when it ends (for a stream: when the
 * stream ends, however it ends), from connection threads, possibly
 * concurrently. Set before srv_start; fn NULL removes it.
 */
void srv_set_observer(struct srv *s, srv_observer_fn fn, void *ctx);

struct tel_registry;
struct tel_std;
struct tel_store;

/*
 * Connects the telemetry module (all borrowed, each may be NULL): with reg
 * and std, GET /metrics serves reg in Prometheus text format and every
 * finished request is counted in std's families; with usage, each
 * generation request becomes a usage event and POST /v1/events records
 * client feedback. Set before srv_start.
 */
void srv_set_telemetry(struct srv *s, struct tel_registry *reg,
		       const struct tel_std *std, struct tel_store *usage);

struct aud_log;

/*
 * Connects the audit log (borrowed; NULL: none). Every generation request
 * is then recorded (id, user, team, endpoint, model, SHA-256 of the request
 * body and of the output, token counts, latency, outcome) and the record
 * is on disk before the response completes: when the append fails the
 * client gets an error instead of the answer. Admin actions are recorded
 * too. store_content adds the request body and the output text (the audit
 * module keeps them only if it is configured to). Set before srv_start.
 */
void srv_set_audit(struct srv *s, struct aud_log *log, int store_content);

struct ctx;
struct ctx_ngram;

/*
 * Connects the context engine (borrowed; each may be NULL): with c, POST
 * /v1/context returns the snippets retrieved for a cursor; with ngram and
 * no model loaded, completion and infill requests are answered by the
 * index model (continuations found in the indexed code), which /v1/models
 * names "airlock-index". Set before srv_start.
 */
void srv_set_context(struct srv *s, struct ctx *c, struct ctx_ngram *ngram);

/*
 * Records an admin action taken outside the server (the CLI) in the audit
 * log of data_dir: opens it, appends, closes. ST_BUSY when a running
 * server holds the log (its admin routes record such actions themselves).
 * actor names who did it (NULL: "cli:" and the login name).
 */
status_t srv_audit_admin_offline(const char *data_dir, const struct config *cfg,
				 const char *actor, const char *action,
				 const char *target, struct err *e);

/*
 * Names the data directory whose audit log the admin routes under
 * /v1/admin/audit/ read (verify, records, checkpoint; proofs use the log
 * of srv_set_audit). Copied; NULL or "": those routes answer 404. Set
 * before srv_start.
 */
void srv_set_audit_dir(struct srv *s, const char *data_dir);

struct pol_engine;

/*
 * Connects the policy engine (borrowed; NULL: none). Then each request's
 * text is checked before the model (redact rules replace the span, block
 * rules refuse with 403 naming the rule), banned literals are masked out of
 * sampling (the token guard), streamed answers are checked line by line
 * before each line is sent, a whole answer is checked before it is returned, retrieval honours the team's scopes, a team's model
 * scope is enforced, and POST /v1/policy/check is served. Set before
 * srv_start.
 */
void srv_set_policy(struct srv *s, struct pol_engine *eng);

/*
 * Names the configuration (borrowed; must outlive the server) whose
 * policy.bundle, policy.require_signature and policy.trusted_keys a reload
 * loads. Without it (or without srv_set_policy) reloads are ST_UNSUPPORTED.
 */
void srv_set_policy_config(struct srv *s, const struct config *cfg);

/* What a successful reload made active. */
struct srv_policy_reload_info {
	size_t n_rules;				/* built-in rules included */
	char digest[2 * SHA256_LEN + 1];	/* hex SHA-256 of the manifest */
};

/*
 * Reloads the configured policy bundle (POST /v1/admin/policy/reload and
 * SIGHUP). On success the new bundle is active for every request that
 * starts after the swap and info (may be NULL) describes it. On failure
 * the last good bundle stays active and e says why, naming
 * file:line:column for a broken bundle (err_format prints it).
 * Either way an admin record "policy.reload" by actor goes to the audit
 * log, its detail holding the outcome. Safe from any thread.
 */
status_t srv_policy_reload(struct srv *s, const char *actor,
			   struct srv_policy_reload_info *info, struct err *e);

/* Scheduler counters, as /v1/status shows them. */
struct srv_stats {
	int slots_total;
	int slots_busy;
	int queued;
	uint64_t requests_done;
	uint64_t requests_cancelled;
	uint64_t requests_rejected;	/* 429 from queue or quota */
	uint64_t prompt_tokens;		/* evaluated, after cache reuse */
	uint64_t prompt_tokens_cached;	/* skipped thanks to the cache */
	uint64_t generated_tokens;
	uint64_t steps;
};
/* Copies the scheduler's counters into out (zeros without a model). */
void srv_stats_get(struct srv *s, struct srv_stats *out);

#endif
