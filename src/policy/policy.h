/*
 * policy.h - governance: policy bundles and their enforcement.
 *
 * A bundle is a directory of YAML files (docs/POLICY.md) holding rules of
 * five kinds: secret, pattern, import, scope and provenance. The engine
 * (struct pol_engine) holds the active bundle and swaps it atomically on a
 * successful reload; a reload that fails keeps the last good bundle.
 *
 * Enforcement points, all through this header:
 *   - pol_check_text: a whole text (prompt, retrieved context, final output);
 *   - struct pol_stream: streamed output, checked at line boundaries;
 *   - struct pol_guard: the token check during sampling, a byte automaton
 *     over banned literals and identifiers that answers "would these bytes
 *     complete a banned literal?" without changing its state;
 *   - pol_scope_allows / pol_scope_model_allows: who may see what.
 * Every finding is a struct pol_decision that the audit log can take
 * (pol_decision_json).
 *
 * Thread safety: a pol_engine may be used from many threads at once; checks
 * hold a reference to the bundle they started with, so a concurrent reload
 * never pulls rules from under a running check. A pol_guard or pol_stream
 * belongs to one thread at a time.
 */
#ifndef AIRLOCK_POLICY_H
#define AIRLOCK_POLICY_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Actions, severities, rule kinds                                     */
/* ------------------------------------------------------------------ */

/* What a finding makes the caller do; ordered from mildest to strongest. */
enum pol_action {
	POL_ALLOW = 0,		/* record only */
	POL_WARN,		/* annotate the response */
	POL_REDACT,		/* replace the span with [REDACTED:<rule id>] */
	POL_REGENERATE,		/* retry the generation under the token guard */
	POL_BLOCK,		/* refuse with the rule id and message */
	POL_ACTION__COUNT
};

enum pol_severity {
	POL_SEV_INFO = 0,
	POL_SEV_LOW,
	POL_SEV_MEDIUM,
	POL_SEV_HIGH,
	POL_SEV_CRITICAL,
	POL_SEV__COUNT
};

enum pol_kind {
	POL_KIND_SECRET = 0,
	POL_KIND_PATTERN,
	POL_KIND_IMPORT,
	POL_KIND_SCOPE,
	POL_KIND_PROVENANCE,
	POL_KIND__COUNT
};

/* Names as written in bundles ("block", "high", "secret"); never NULL. */
const char *pol_action_name(enum pol_action a);
const char *pol_severity_name(enum pol_severity s);
const char *pol_kind_name(enum pol_kind k);

/* ------------------------------------------------------------------ */
/* Decisions                                                           */
/* ------------------------------------------------------------------ */

/*
 * One finding. Strings are owned by the struct pol_result that holds the
 * decision (its arena), so a decision outlives bundle reloads.
 * Offsets are byte offsets into the checked text; line and col are 1-based
 * (col counts bytes).
 */
struct pol_decision {
	const char *rule_id;
	enum pol_kind kind;
	enum pol_action action;
	enum pol_severity severity;
	const char *message;	/* the rule's message or description */
	const char *path;	/* the checked file's path, or NULL */
	int line, col;		/* start of the finding */
	int end_line, end_col;	/* end (exclusive column) */
	size_t start, end;	/* byte span [start, end) of the finding */
	size_t red_start, red_end; /* span replaced when action == POL_REDACT */
	const char *detail;	/* e.g. "numpy==1.2 (denied: numpy<1.22)"; may be NULL */
};

/* The outcome of a check: decisions in text order, the worst action. */
struct pol_result {
	struct pol_decision *items;	/* n of them; owned */
	size_t n, cap;
	enum pol_action worst;	/* POL_ALLOW when there is no finding */
	char *redacted;		/* text with redact spans replaced, or NULL
				 * when nothing was redacted; owned */
	size_t redacted_len;
	int truncated;		/* 1 when the finding cap was reached */
	struct arena arena;	/* strings of the decisions */
};

/* Prepares an empty result. */
void pol_result_init(struct pol_result *r);
/* Empties r for reuse (keeps no decisions). */
void pol_result_reset(struct pol_result *r);
/* Frees everything r holds. */
void pol_result_release(struct pol_result *r);

/*
 * Appends d as one JSON object (rule_id, kind, action, severity, message,
 * path, line, col, end_line, end_col, detail; plus request_id when non-NULL)
 * to out. Never includes the matched text, so it is safe for the audit log.
 */
status_t pol_decision_json(const struct pol_decision *d, const char *request_id,
			   struct buf *out);
/* Appends the whole result as {"worst":..., "decisions":[...]} to out. */
status_t pol_result_json(const struct pol_result *r, const char *request_id,
			 struct buf *out);

/* ------------------------------------------------------------------ */
/* Bundles and the engine                                              */
/* ------------------------------------------------------------------ */

struct pol_bundle;
struct pol_engine;

/* How bundles are loaded. Zero-initialised means: signatures optional. */
struct pol_load_opts {
	int require_signature;	/* refuse bundles without a valid signature */
	/* Trusted Ed25519 public keys (n_keys of them). With require_signature
	 * the bundle's signature must verify under one of these; without it,
	 * a present signature must still verify (under these when given, else
	 * under the key named in the signature file). */
	const uint8_t (*keys)[ED25519_KEY_LEN];
	size_t n_keys;
	int no_defaults;	/* do not add the built-in secret rules */
	int no_hyperscan;	/* match regex rules with PCRE2 alone (the
				 * portable path; for tests and comparison) */
};

/*
 * Loads the bundle in directory dir (every *.yaml / *.yml file outside a
 * tests/ folder; see docs/POLICY.md), compiles its matchers and checks its
 * signature as opts says (opts may be NULL). dir may also be a single YAML
 * file. Errors are ST_CORRUPT (bad YAML, bad rule), ST_VERIFY (signature)
 * or ST_IO, with e naming file:line:column and the rule id.
 * *out is freed with pol_bundle_free.
 */
status_t pol_bundle_load(const char *dir, const struct pol_load_opts *opts,
			 struct pol_bundle **out, struct err *e);
/*
 * As pol_bundle_load, from YAML text in memory named name (for error
 * messages); no signature. The built-in secret rules are added unless
 * opts->no_defaults or the text says `defaults: false`.
 */
status_t pol_bundle_load_mem(const char *name, const char *text, size_t len,
			     const struct pol_load_opts *opts,
			     struct pol_bundle **out, struct err *e);
/* Frees b; NULL is accepted. */
void pol_bundle_free(struct pol_bundle *b);

/* A summary of a bundle, for lint and `airlock doctor`. */
struct pol_bundle_info {
	size_t n_rules;			/* all rules, built-in ones included */
	size_t n_by_kind[POL_KIND__COUNT];
	size_t n_files;			/* YAML files read */
	int signed_ok;			/* 1 when a signature verified */
	int hyperscan;			/* 1 when the regex rules run on Hyperscan */
	int provenance_active;		/* 1 when provenance rules have an index */
	char digest[2 * SHA256_LEN + 1];	/* hex SHA-256 of the manifest */
};
/* Fills out for bundle b (zeros for NULL). */
void pol_bundle_info_get(const struct pol_bundle *b, struct pol_bundle_info *out);

/*
 * Creates an engine with no bundle: every check finds nothing and
 * pol_scope_allows allows everything until pol_engine_set or a reload.
 * *out is freed with pol_engine_free.
 */
status_t pol_engine_new(struct pol_engine **out);
/* Frees eng and its bundle; checks must have finished. NULL is accepted. */
void pol_engine_free(struct pol_engine *eng);
/* Makes b the active bundle (the engine takes ownership of b). */
void pol_engine_set(struct pol_engine *eng, struct pol_bundle *b);
/*
 * Loads dir and, on success, swaps it in as the active bundle. On failure
 * the last good bundle stays active and e says why (the bundle's error).
 */
status_t pol_engine_reload(struct pol_engine *eng, const char *dir,
			   const struct pol_load_opts *opts, struct err *e);
/*
 * Loads the bundle the configuration names (policy.bundle; empty: the
 * built-in secret rules alone) with policy.require_signature and the keys
 * in policy.trusted_keys, and makes it active as pol_engine_reload does:
 * on failure the last good bundle stays and e says why. The server calls
 * this at start (refusing to start on failure) and on reload.
 */
status_t pol_engine_configure(struct pol_engine *eng, const struct config *cfg,
			      struct err *e);
/* Fills info for the active bundle; ST_NOTFOUND when there is none. */
status_t pol_engine_info(struct pol_engine *eng, struct pol_bundle_info *out);

/* ------------------------------------------------------------------ */
/* Checking text                                                       */
/* ------------------------------------------------------------------ */

/* Who is asking, about what. Every field may be NULL. */
struct pol_ctx {
	const char *team;	/* e.g. "payments"; selects team layers */
	const char *repo;	/* e.g. "billing-api"; selects repository layers */
	const char *lang;	/* "c", "cpp", "python", "javascript", "typescript",
				 * "go", "rust", "java", ...; NULL: from path */
	const char *path;	/* repository-relative path; rules' path globs */
	const char *model;	/* model name, for scope checks */
};

/*
 * Guesses a language name from a path's extension ("x.py" -> "python");
 * NULL when unknown. Borrowed static string.
 */
const char *pol_lang_from_path(const char *path);

/*
 * Runs every rule that applies to ctx over text[0, len) and appends the
 * findings to r (in text order), computing r->worst and, when some finding
 * redacts, r->redacted. ctx may be NULL. Bounded: regex matching has PCRE2
 * match and depth limits; at most 10,000 findings are kept (r->truncated).
 * Errors: ST_NOMEM, ST_LIMIT (a matcher hit its limit; findings so far are
 * kept), never on untrusted text content.
 */
status_t pol_check_text(struct pol_engine *eng, const struct pol_ctx *ctx,
			const char *text, size_t len, struct pol_result *r,
			struct err *e);
/* As pol_check_text against a given bundle (no engine). */
status_t pol_bundle_check(const struct pol_bundle *b, const struct pol_ctx *ctx,
			  const char *text, size_t len, struct pol_result *r,
			  struct err *e);

/*
 * The incremental checker for streamed output: feed bytes as they come;
 * each complete line is checked with the line-level rules (secret, regex
 * and literal patterns) and findings carry line numbers of the whole
 * stream. Whole-text rules (tree-sitter queries, imports, provenance) run
 * on the final text with pol_check_text.
 */
struct pol_stream;
/*
 * Creates a stream checker under the engine's active bundle (referenced
 * until pol_stream_free). ctx's strings are copied. Errors: ST_NOMEM.
 */
status_t pol_stream_new(struct pol_engine *eng, const struct pol_ctx *ctx,
			struct pol_stream **out);
/*
 * Appends n bytes; findings of the lines they complete are appended to r
 * (offsets and line numbers of the whole stream). Lines longer than 1 MiB
 * are checked in 1 MiB pieces. Errors: ST_NOMEM.
 */
status_t pol_stream_feed(struct pol_stream *s, const char *bytes, size_t n,
			 struct pol_result *r);
/* Checks the last, unterminated line (call once, at the end of output). */
status_t pol_stream_finish(struct pol_stream *s, struct pol_result *r);
/*
 * Moves the output that is safe to send onto the end of out: every line
 * checked so far, with redact spans replaced by [REDACTED:<rule id>]. A
 * line is held back until it is complete (or pol_stream_finish), so a
 * secret split across tokens is never sent in part.
 */
status_t pol_stream_take(struct pol_stream *s, struct buf *out);
/* Frees s (NULL is accepted) and drops its bundle reference. */
void pol_stream_free(struct pol_stream *s);

/* ------------------------------------------------------------------ */
/* Generation-time token guard                                         */
/* ------------------------------------------------------------------ */

/*
 * A byte-level automaton over the banned literals that apply to ctx (pattern
 * rules with `literal:` and action block or regenerate): plain literals
 * match anywhere (Aho-Corasick), identifier literals only as a whole
 * identifier ([A-Za-z0-9_$] runs), which is known when the identifier ends.
 * The state is one AC state and one trie node: copying it is free, so
 * asking about a token costs O(token bytes).
 */
struct pol_guard;
/*
 * Creates a guard for the output of one generation in context ctx (copied
 * where needed; may be NULL). *out is freed with pol_guard_free and holds a
 * reference to the engine's active bundle, so a reload does not pull the
 * literals from under it. Without a bundle the guard accepts everything.
 * Errors: ST_NOMEM.
 */
status_t pol_guard_new(struct pol_engine *eng, const struct pol_ctx *ctx,
		       struct pol_guard **out);
/* As pol_guard_new over bundle b, which is borrowed and must outlive *out. */
status_t pol_guard_new_bundle(const struct pol_bundle *b,
			      const struct pol_ctx *ctx, struct pol_guard **out);
/* Frees g (NULL is accepted) and drops its bundle reference. */
void pol_guard_free(struct pol_guard *g);
/*
 * Returns 1 when appending bytes[0, n) to the output so far completes no
 * banned literal, else 0. Does not change g.
 */
int pol_guard_accepts(const struct pol_guard *g, const char *bytes, size_t n);
/*
 * Returns 1 when the output may end here (an identifier being written is
 * not a banned one), else 0. Ask before emitting end-of-generation.
 */
int pol_guard_accepts_end(const struct pol_guard *g);
/* Moves the state past bytes[0, n) (the token the sampler emitted). Use
 * it for every emitted token, also one the guard would have rejected. */
void pol_guard_advance(struct pol_guard *g, const char *bytes, size_t n);
/* Back to the start of an output (for the next generation). */
void pol_guard_reset(struct pol_guard *g);
/* Number of banned literals in force (0: the guard never rejects). */
size_t pol_guard_size(const struct pol_guard *g);
/*
 * The full mask, for when the sampled token was rejected: mask[i] =
 * pol_guard_accepts(g, tok[i], tok_len[i]) for i < n_vocab.
 */
void pol_guard_mask(const struct pol_guard *g, const char *const *tok,
		    const size_t *tok_len, size_t n_vocab, uint8_t *mask);
/*
 * The rule id of the literal the last rejected query would have completed
 * (for the audit record); borrowed, valid while g lives; NULL if none.
 */
const char *pol_guard_last_rule(const struct pol_guard *g);

/* ------------------------------------------------------------------ */
/* Scope                                                               */
/* ------------------------------------------------------------------ */

/*
 * Returns 1 when team may retrieve context from repo/path under the active
 * bundle's scope rules, else 0. Without any scope rule everything is
 * allowed; once a scope rule exists, whatever no rule allows is denied,
 * and a matching deny overrides any allow. path may be NULL (the whole
 * repository).
 */
int pol_scope_allows(struct pol_engine *eng, const char *team, const char *repo,
		     const char *path);
/* As pol_scope_allows, for a model name. */
int pol_scope_model_allows(struct pol_engine *eng, const char *team,
			   const char *model);
/* The same two questions against a given bundle (NULL: allowed). */
int pol_bundle_scope_allows(const struct pol_bundle *b, const char *team,
			    const char *repo, const char *path);
int pol_bundle_scope_model_allows(const struct pol_bundle *b, const char *team,
				  const char *model);

/* ------------------------------------------------------------------ */
/* Provenance (interface; the index comes from the context module)     */
/* ------------------------------------------------------------------ */

/*
 * A verbatim overlap between checked text and a reference corpus, as the
 * corpus index reports it.
 */
struct pol_overlap {
	size_t start, end;	/* span in the checked text, bytes */
	const char *source_path;	/* corpus file (borrowed from the index) */
	int source_line;	/* 1-based line in that file */
	const char *licence;	/* SPDX id or the corpus's label */
};

/*
 * What a provenance index provides. find reports every overlap of at
 * least min_chars bytes or min_lines lines between text and the corpus
 * named corpus, calling emit for each; it returns a status.
 */
struct pol_provenance_index {
	status_t (*find)(void *self, const char *corpus, const char *text,
			 size_t len, size_t min_chars, int min_lines,
			 void (*emit)(void *arg, const struct pol_overlap *o),
			 void *arg);
	void *self;
};

/*
 * Attaches idx (borrowed; must outlive eng) to the engine: provenance
 * rules of every bundle it runs use it. Without an index, provenance rules
 * load and lint but find nothing, and pol_bundle_info says
 * provenance_active = 0.
 */
void pol_engine_set_provenance(struct pol_engine *eng,
			       const struct pol_provenance_index *idx);

/* ------------------------------------------------------------------ */
/* Signing                                                             */
/* ------------------------------------------------------------------ */

/* Name of the signature file inside a bundle directory. */
#define POL_SIG_FILE "bundle.sig"

/*
 * Builds the manifest of directory dir: one line "<sha256 hex>  <relpath>\n"
 * per regular file (hidden files and the signature file excluded), sorted
 * by path. This is what a signature covers. *out is freed with mem_free.
 */
status_t pol_manifest_build(const char *dir, char **out, size_t *len,
			    struct err *e);
/*
 * Signs dir's manifest with the private key (32-byte seed) and writes
 * dir/bundle.sig.
 */
status_t pol_bundle_sign(const char *dir, const uint8_t priv[ED25519_KEY_LEN],
			 struct err *e);
/*
 * Creates a key pair: key_path gets the private key (hex seed, mode 0600),
 * key_path.pub the public key (hex). Refuses to overwrite (ST_EXISTS).
 */
status_t pol_keygen(const char *key_path, struct err *e);
/*
 * Reads a key file written by pol_keygen (hex) or `airlock keygen`
 * (base64): private seed or public key, 32 bytes.
 */
status_t pol_key_read(const char *path, uint8_t key[ED25519_KEY_LEN],
		      struct err *e);

#endif
