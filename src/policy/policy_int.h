/*
 * policy_int.h - the structures behind policy.h, shared by the files of
 * src/policy/ only: compiled rules, the regex set (Hyperscan + PCRE2), the
 * literal automaton, tree-sitter queries and import extraction.
 */
#ifndef AIRLOCK_POLICY_INT_H
#define AIRLOCK_POLICY_INT_H

#include "policy/policy.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>

/* Bounds that keep untrusted text and bundles from costing unbounded time. */
#define POL_MAX_FINDINGS 10000
#define POL_PCRE_MATCH_LIMIT 200000u	/* backtracking steps per match */
#define POL_PCRE_DEPTH_LIMIT 5000u
#define POL_DEFAULT_MAX_LEN 1024	/* longest regex match considered, bytes */
#define POL_TS_MAX_TEXT (8u << 20)	/* larger texts skip tree-sitter rules */
#define POL_TS_TIMEOUT_US 2000000u
#define POL_MAX_RULES 20000
#define POL_MAX_FILE (16u << 20)	/* one bundle file */

enum pol_layer { POL_LAYER_ORG = 0, POL_LAYER_TEAM, POL_LAYER_REPO };

enum pol_pat { POL_PAT_NONE = 0, POL_PAT_LITERAL, POL_PAT_REGEX, POL_PAT_QUERY };

/* A list of strings owned by the bundle's arena. */
struct pol_strs {
	char **v;
	size_t n;
};

/* A dependency constraint: name glob plus optional "op version". */
struct pol_dep {
	char *name;
	char op[3];		/* "", "==", "!=", "<", "<=", ">", ">=" */
	char *version;		/* NULL when no constraint */
};

/* Scope lists of a scope rule. */
struct pol_scope_set {
	struct pol_strs repos, paths, models;
};

struct pol_query;

struct pol_rule {
	char *id;
	enum pol_kind kind;
	enum pol_action action;
	enum pol_severity severity;
	int enabled;
	char *description, *message;
	char *file;		/* where the rule is defined */
	int line, col;
	enum pol_layer layer;	/* the layer of its file */
	char *layer_team, *layer_repo;
	struct pol_strs languages, paths, exclude_paths;

	/* secret and regex patterns */
	char *regex;
	int rx_line, rx_col;	/* where the regex is written */
	pcre2_code *re;
	int group;		/* capture group holding the secret; 0: whole */
	size_t max_len;
	struct pol_strs keywords;	/* lower-case */
	double entropy;		/* minimum bits per byte of the secret; 0: off */
	pcre2_code **allow_re;
	size_t n_allow_re;
	struct pol_strs stopwords, allow_paths;
	char *family;
	int generic;		/* family "generic": yields to specific rules */

	/* pattern */
	enum pol_pat pat;
	char *literal;
	int identifier;
	int require;		/* finding when absent */
	struct pol_query *query;	/* one per language, chained */

	/* import */
	char *ecosystem;
	struct pol_dep *deny, *allow;
	size_t n_deny, n_allow;
	int has_allow;

	/* scope */
	char *scope_team;
	struct pol_scope_set s_allow, s_deny;

	/* provenance */
	char *corpus, *licence;
	size_t min_chars;
	int min_lines;
};

/* A team or repository layer changing a rule of an earlier layer. */
struct pol_override {
	size_t rule;		/* index into rules */
	enum pol_layer layer;
	char *team, *repo;
	int action;		/* -1: unchanged */
	int severity;
	int enabled;
};

/* Regex rules compiled together (secret rules and regex patterns). */
struct pol_rxset {
	size_t *rules;		/* rule index of each expression */
	size_t n;
	void *hs_db;		/* hs_database_t *, NULL without Hyperscan */
	void *hs_proto;		/* hs_scratch_t * prototype */
	pthread_mutex_t lock;
	void **scratch_pool;	/* free scratches */
	size_t n_pool, cap_pool;
};

/*
 * Literals. Plain ones: Aho-Corasick as a dense DFA (n_states x 256) with,
 * per state, its own rules (own[]) and a dictionary link to the nearest
 * proper suffix state that has rules of its own. Identifier literals: a
 * trie over the 64 identifier bytes, walked from the start of each
 * identifier, with the same own[] lists. Rule lists are -1 terminated runs
 * in the rules[] arrays.
 */
struct pol_lit {
	int32_t *delta;		/* (n_states, 256) */
	int32_t *own;		/* (n_states): index into ac_rules, -1 none */
	int32_t *dict;		/* (n_states): dictionary link, -1 none */
	uint8_t *has_out;	/* (n_states): 1 when own or dict is set */
	int32_t *ac_rules;
	size_t n_states;
	int32_t *id_next;	/* (n_id, 64) */
	int32_t *id_own;	/* (n_id): index into id_rules, -1 none */
	int32_t *id_rules;
	size_t n_id;
	size_t n_plain, n_ident;
};

struct pol_bundle {
	struct arena arena;
	struct pol_rule *rules;
	size_t n_rules, cap_rules;
	struct pol_override *ovr;
	size_t n_ovr, cap_ovr;
	struct pol_strs g_stopwords;	/* bundle-wide secret allowlist */
	pcre2_code **g_allow_re;
	size_t n_g_allow_re;
	struct pol_strs g_allow_paths;
	struct pol_rxset rx;
	struct pol_lit lit;
	int has_scope;
	int has_query;
	size_t n_files;
	int signed_ok;
	int no_hyperscan;
	char digest[2 * SHA256_LEN + 1];
	const struct pol_provenance_index *prov;	/* set by the engine */
	int refs;			/* engine references */
};

/* Per-rule settings after layers and overrides for one context. */
struct pol_eff {
	uint8_t on;		/* applies to this context */
	uint8_t action, severity;
};

/* The state of one check. */
struct pol_scan {
	const struct pol_bundle *b;
	const struct pol_ctx *ctx;
	const char *lang;
	const char *text;
	size_t len;
	struct pol_eff *eff;		/* (n_rules) */
	struct pol_result *r;
	size_t *lines;			/* byte offset of each line start */
	size_t n_lines;
	int line_base;			/* added to line numbers (stream) */
	int lines_only;			/* skip whole-text rules */
	uint8_t *present;		/* (n_rules) require rules seen */
	size_t *rule_of;		/* rule index of each new decision */
	size_t n0;			/* decisions in r before this check */
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	status_t st;			/* first error met */
};

/* bundle.c */
status_t pol__eff_compute(const struct pol_bundle *b, const struct pol_ctx *ctx,
			  const char *lang, struct pol_eff *eff);
int pol__glob_match(const char *pat, const char *path);
int pol__strs_has(const struct pol_strs *s, const char *v);

const struct pol_bundle *pol__engine_acquire(struct pol_engine *g);
void pol__engine_release(struct pol_engine *g, const struct pol_bundle *b);

/* regex.c */
status_t pol__rx_compile(struct pol_bundle *b, struct err *e);
void pol__rx_release(struct pol_rxset *rx);
void pol__rx_scan(struct pol_scan *s);
pcre2_code *pol__re_compile(const char *pat, int caseless, char *msg, size_t n,
			    size_t *erroff);
double pol__entropy(const char *p, size_t n);
const char *pol__hs_version(void);

/* literal.c */
status_t pol__lit_build(struct pol_bundle *b, struct err *e);
void pol__lit_release(struct pol_lit *l);
void pol__lit_scan(struct pol_scan *s);
void pol__require_scan(struct pol_scan *s);

/* query.c */
status_t pol__query_compile(struct pol_bundle *b, struct pol_rule *r,
			    const char *lang, const char *src, int line, int col,
			    int style, struct err *e);
void pol__query_free(struct pol_query *q);
void pol__query_scan(struct pol_scan *s);
int pol__query_lang_known(const char *lang);

/* import.c */
void pol__import_scan(struct pol_scan *s);
status_t pol__dep_parse(struct arena *a, const char *spec, struct pol_dep *d);

/* check.c */
void pol__add(struct pol_scan *s, size_t ri, size_t start, size_t end,
	      size_t red_start, size_t red_end, const char *detail);
void pol__scan_init(struct pol_scan *s);

/* sign.c */
status_t pol__sig_verify(const char *dir, const struct pol_load_opts *o,
			 char **manifest, int *signed_ok, char digest[2 * SHA256_LEN + 1],
			 struct err *e);
int pol__manifest_has(const char *manifest, const char *rel, const uint8_t d[SHA256_LEN]);

/*
 * The files of a bundle directory (sign.c): relative paths of the regular
 * files beneath dir that keep() accepts, sorted, in out (a vec of char *,
 * initialised here, freed with pol__files_release). keep() is asked about
 * directories too (is_dir 1); a rejected one is not entered. follow: stat
 * (symlinks followed) rather than lstat. Nesting stops at 16 levels.
 */
struct pol_walk {
	int (*keep)(const char *rel, const char *name, int is_dir);
	int follow;
};
status_t pol__files_list(const char *dir, const struct pol_walk *w, struct vec *out,
			 struct err *e);
void pol__files_release(struct vec *files);

/* defaults.c */
extern const char pol__default_secrets[];

#endif
