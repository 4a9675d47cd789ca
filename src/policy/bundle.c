/*
 * bundle.c - loading policy bundles: YAML files (libyaml's document API,
 * so every node keeps its line and column) into struct pol_rule, layering
 * (org -> team -> repository) with overrides, and the engine that holds
 * the active bundle and swaps it on reload.
 *
 * Every error names file:line:column and, once known, the rule id; the
 * loader stops at the first error so the message points at one thing.
 */
#include "policy/policy_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *const action_names[] = { "allow", "warn", "redact",
					    "regenerate", "block" };
static const char *const sev_names[] = { "info", "low", "medium", "high",
					 "critical" };
static const char *const kind_names[] = { "secret", "pattern", "import",
					  "scope", "provenance" };

const char *pol_action_name(enum pol_action a)
{
	return (unsigned)a < POL_ACTION__COUNT ? action_names[a] : "?";
}

const char *pol_severity_name(enum pol_severity s)
{
	return (unsigned)s < POL_SEV__COUNT ? sev_names[s] : "?";
}

const char *pol_kind_name(enum pol_kind k)
{
	return (unsigned)k < POL_KIND__COUNT ? kind_names[k] : "?";
}

static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Globs: '*' within a path segment, '**' across segments, '?', [...]  */
/* ------------------------------------------------------------------ */

static int glob_at(const char *p, const char *s, int depth)
{
	if (depth > 64)
		return 0;	/* bounds patterns like "*a*a*a*...": no blow-up */
	while (*p) {
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			if (*p == '/')
				p++;
			for (const char *t = s;; t++) {
				if (glob_at(p, t, depth + 1))
					return 1;
				if (!*t)
					return 0;
			}
		} else if (*p == '*') {
			p++;
			for (const char *t = s;; t++) {
				if (glob_at(p, t, depth + 1))
					return 1;
				if (!*t || *t == '/')
					return 0;
			}
		} else if (*p == '?') {
			if (!*s || *s == '/')
				return 0;
			p++, s++;
		} else if (*p == '[') {
			const char *q = p + 1;
			int neg = 0, hit = 0;
			if (*q == '!' || *q == '^')
				neg = 1, q++;
			while (*q && *q != ']') {
				if (q[1] == '-' && q[2] && q[2] != ']') {
					if (*s >= q[0] && *s <= q[2])
						hit = 1;
					q += 3;
				} else {
					if (*s == *q)
						hit = 1;
					q++;
				}
			}
			if (!*q || !*s || hit == neg)
				return 0;
			p = q + 1, s++;
		} else {
			if (*p != *s)
				return 0;
			p++, s++;
		}
	}
	return *s == 0;
}

/*
 * Matches path against a glob. A pattern without '/' matches the base
 * name too (as in .gitignore), so "*.env" matches "config/prod.env".
 */
int pol__glob_match(const char *pat, const char *path)
{
	const char *base;

	if (!pat || !path)
		return 0;
	if (glob_at(pat, path, 0))
		return 1;
	if (!strchr(pat, '/') && (base = strrchr(path, '/')))
		return glob_at(pat, base + 1, 0);
	return 0;
}

int pol__strs_has(const struct pol_strs *s, const char *v)
{
	if (!v)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (pol__glob_match(s->v[i], v))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* YAML helpers                                                        */
/* ------------------------------------------------------------------ */

struct ld {
	struct pol_bundle *b;
	const char *file;	/* arena copy */
	yaml_document_t *doc;
	struct err *e;
	enum pol_layer layer;
	char *team, *repo;
	const char *rule_id;	/* rule being read, for messages */
	struct hmap *ids;	/* rule id -> index + 1 */
	struct vec *pending;	/* overrides waiting for their rule */
	int defaults;		/* 0/1 from `defaults:`, -1 unset */
};

struct pending_ovr {
	struct pol_override o;
	char *id;
	int line, col;
	const char *file;
};

static status_t ld_err(struct ld *l, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static status_t ld_err(struct ld *l, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (l->rule_id)
		return err_setat(l->e, ST_CORRUPT, l->file,
				 n ? (int)n->start_mark.line + 1 : 0,
				 n ? (int)n->start_mark.column + 1 : 0,
				 "rule '%s': %s", l->rule_id, msg);
	return err_setat(l->e, ST_CORRUPT, l->file,
			 n ? (int)n->start_mark.line + 1 : 0,
			 n ? (int)n->start_mark.column + 1 : 0, "%s", msg);
}

static yaml_node_t *ynode(struct ld *l, int idx)
{
	return yaml_document_get_node(l->doc, idx);
}

static const char *yscalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar as an arena string; error when n is not a scalar. */
static status_t ystr(struct ld *l, const yaml_node_t *n, const char *key, char **out)
{
	const char *s = yscalar(n);

	if (!s)
		return ld_err(l, n, "'%s' must be a string", key);
	if (strlen(s) != n->data.scalar.length)
		return ld_err(l, n, "'%s' contains a NUL byte", key);
	*out = arena_strdup(&l->b->arena, s);
	return *out ? ST_OK : err_set(l->e, ST_NOMEM, "out of memory");
}

static status_t ybool(struct ld *l, const yaml_node_t *n, const char *key, int *out)
{
	const char *s = yscalar(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
		return *out = 1, ST_OK;
	if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
		return *out = 0, ST_OK;
	return ld_err(l, n, "'%s' must be true or false", key);
}

static status_t yint(struct ld *l, const yaml_node_t *n, const char *key,
		     int64_t min, int64_t max, int64_t *out)
{
	const char *s = yscalar(n);

	if (!s || parse_i64(s, min, max, out) != ST_OK)
		return ld_err(l, n, "'%s' must be an integer in [%lld, %lld]", key,
			      (long long)min, (long long)max);
	return ST_OK;
}

static status_t ydouble(struct ld *l, const yaml_node_t *n, const char *key,
			double min, double max, double *out)
{
	const char *s = yscalar(n);
	char *end;
	double v;

	if (!s || !*s)
		return ld_err(l, n, "'%s' must be a number", key);
	errno = 0;
	v = strtod(s, &end);
	if (*end || errno || !(v >= min && v <= max))
		return ld_err(l, n, "'%s' must be a number in [%g, %g]", key, min, max);
	*out = v;
	return ST_OK;
}

/* A string or a sequence of strings. lower: store lower-cased. */
static status_t ystrs(struct ld *l, const yaml_node_t *n, const char *key,
		      struct pol_strs *out, int lower)
{
	size_t cnt;

	if (n->type == YAML_SCALAR_NODE) {
		out->v = arena_alloc(&l->b->arena, sizeof(char *));
		if (!out->v)
			return err_set(l->e, ST_NOMEM, "out of memory");
		out->n = 1;
		if (ystr(l, n, key, &out->v[0]))
			return l->e ? l->e->st : ST_CORRUPT;
	} else if (n->type == YAML_SEQUENCE_NODE) {
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		out->v = arena_calloc(&l->b->arena, cnt ? cnt : 1, sizeof(char *));
		if (!out->v)
			return err_set(l->e, ST_NOMEM, "out of memory");
		out->n = 0;
		for (size_t i = 0; i < cnt; i++) {
			yaml_node_t *it = ynode(l, n->data.sequence.items.start[i]);
			status_t st = ystr(l, it, key, &out->v[out->n]);
			if (st)
				return st;
			out->n++;
		}
	} else {
		return ld_err(l, n, "'%s' must be a string or a list of strings", key);
	}
	if (lower)
		for (size_t i = 0; i < out->n; i++)
			for (char *c = out->v[i]; *c; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
	return ST_OK;
}

/* Map iteration: calls fn(key, value) for each pair, refusing duplicates. */
typedef status_t (*pair_fn)(struct ld *l, const char *key, yaml_node_t *k,
			    yaml_node_t *v, void *arg);

static status_t ymap_each(struct ld *l, yaml_node_t *m, const char *what,
			  pair_fn fn, void *arg)
{
	yaml_node_pair_t *p, *q;

	if (!m || m->type != YAML_MAPPING_NODE)
		return ld_err(l, m, "%s must be a mapping", what);
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(l, p->key), *v = ynode(l, p->value);
		const char *ks = yscalar(k);
		status_t st;

		if (!ks || !v)
			return ld_err(l, k, "%s: keys must be strings", what);
		for (q = m->data.mapping.pairs.start; q < p; q++)
			if (yscalar(ynode(l, q->key)) &&
			    strcmp(yscalar(ynode(l, q->key)), ks) == 0)
				return ld_err(l, k, "duplicate key '%s'", ks);
		st = fn(l, ks, k, v, arg);
		if (st)
			return st;
	}
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Rules                                                               */
/* ------------------------------------------------------------------ */

struct rule_ld {
	struct pol_rule *r;
	yaml_node_t *regex_n, *literal_n, *query_n, *kind_n, *group_n, *lang_n;
	struct pol_strs deny, allow, allow_regexes;
	yaml_node_t *deny_n, *allow_n, *allow_re_n;
	int has_action, has_sev;
};

static status_t scope_set(struct ld *l, const char *key, yaml_node_t *k,
			  yaml_node_t *v, void *arg)
{
	struct pol_scope_set *s = arg;

	(void)k;
	if (!strcmp(key, "repos"))
		return ystrs(l, v, key, &s->repos, 0);
	if (!strcmp(key, "paths"))
		return ystrs(l, v, key, &s->paths, 0);
	if (!strcmp(key, "models"))
		return ystrs(l, v, key, &s->models, 0);
	return ld_err(l, k, "unknown key '%s' (repos, paths, models)", key);
}

static status_t secret_allow(struct ld *l, const char *key, yaml_node_t *k,
			     yaml_node_t *v, void *arg)
{
	struct rule_ld *rl = arg;

	if (!strcmp(key, "regexes")) {
		rl->allow_re_n = v;
		return ystrs(l, v, key, &rl->allow_regexes, 0);
	}
	if (!strcmp(key, "stopwords"))
		return ystrs(l, v, key, &rl->r->stopwords, 1);
	if (!strcmp(key, "paths"))
		return ystrs(l, v, key, &rl->r->allow_paths, 0);
	return ld_err(l, k, "unknown key '%s' (regexes, stopwords, paths)", key);
}

static status_t rule_pair(struct ld *l, const char *key, yaml_node_t *k,
			  yaml_node_t *v, void *arg)
{
	struct rule_ld *rl = arg;
	struct pol_rule *r = rl->r;
	int64_t iv;
	int idx;

	if (!strcmp(key, "id"))
		return ST_OK;	/* read first, by the caller */
	if (!strcmp(key, "kind"))
		return rl->kind_n = v, ST_OK;
	if (!strcmp(key, "description"))
		return ystr(l, v, key, &r->description);
	if (!strcmp(key, "message"))
		return ystr(l, v, key, &r->message);
	if (!strcmp(key, "severity")) {
		if (!yscalar(v) || (idx = name_index(sev_names, POL_SEV__COUNT, yscalar(v))) < 0)
			return ld_err(l, v, "severity must be one of info, low, medium, high, critical");
		r->severity = (enum pol_severity)idx;
		return rl->has_sev = 1, ST_OK;
	}
	if (!strcmp(key, "action")) {
		if (!yscalar(v) || (idx = name_index(action_names, POL_ACTION__COUNT, yscalar(v))) < 0)
			return ld_err(l, v, "action must be one of allow, warn, redact, block, regenerate");
		r->action = (enum pol_action)idx;
		return rl->has_action = 1, ST_OK;
	}
	if (!strcmp(key, "enabled"))
		return ybool(l, v, key, &r->enabled);
	if (!strcmp(key, "languages"))
		return rl->lang_n = v, ystrs(l, v, key, &r->languages, 1);
	if (!strcmp(key, "paths"))
		return ystrs(l, v, key, &r->paths, 0);
	if (!strcmp(key, "exclude_paths"))
		return ystrs(l, v, key, &r->exclude_paths, 0);
	if (!strcmp(key, "regex")) {
		rl->regex_n = v;
		return ystr(l, v, key, &r->regex);
	}
	if (!strcmp(key, "secret_group")) {
		rl->group_n = v;
		if (yint(l, v, key, 0, 99, &iv))
			return ST_CORRUPT;
		r->group = (int)iv;
		return ST_OK;
	}
	if (!strcmp(key, "max_length")) {
		if (yint(l, v, key, 1, 1 << 20, &iv))
			return ST_CORRUPT;
		r->max_len = (size_t)iv;
		return ST_OK;
	}
	if (!strcmp(key, "keywords"))
		return ystrs(l, v, key, &r->keywords, 1);
	if (!strcmp(key, "entropy"))
		return ydouble(l, v, key, 0.0, 8.0, &r->entropy);
	if (!strcmp(key, "allowlist"))
		return ymap_each(l, v, "allowlist", secret_allow, rl);
	if (!strcmp(key, "family"))
		return ystr(l, v, key, &r->family);
	if (!strcmp(key, "literal")) {
		rl->literal_n = v;
		return ystr(l, v, key, &r->literal);
	}
	if (!strcmp(key, "query")) {
		rl->query_n = v;
		return yscalar(v) ? ST_OK : ld_err(l, v, "'query' must be a string");
	}
	if (!strcmp(key, "identifier"))
		return ybool(l, v, key, &r->identifier);
	if (!strcmp(key, "require"))
		return ybool(l, v, key, &r->require);
	if (!strcmp(key, "ecosystem"))
		return ystr(l, v, key, &r->ecosystem);
	if (!strcmp(key, "deny"))
		return rl->deny_n = v, (r->kind == POL_KIND_SCOPE ||
			(rl->kind_n && yscalar(rl->kind_n) && !strcmp(yscalar(rl->kind_n), "scope")))
			? ymap_each(l, v, "deny", scope_set, &r->s_deny)
			: ystrs(l, v, key, &rl->deny, 0);
	if (!strcmp(key, "allow"))
		return rl->allow_n = v, (r->kind == POL_KIND_SCOPE ||
			(rl->kind_n && yscalar(rl->kind_n) && !strcmp(yscalar(rl->kind_n), "scope")))
			? ymap_each(l, v, "allow", scope_set, &r->s_allow)
			: ystrs(l, v, key, &rl->allow, 0);
	if (!strcmp(key, "team"))
		return ystr(l, v, key, &r->scope_team);
	if (!strcmp(key, "corpus"))
		return ystr(l, v, key, &r->corpus);
	if (!strcmp(key, "licence") || !strcmp(key, "license"))
		return ystr(l, v, key, &r->licence);
	if (!strcmp(key, "min_chars")) {
		if (yint(l, v, key, 1, 1 << 24, &iv))
			return ST_CORRUPT;
		r->min_chars = (size_t)iv;
		return ST_OK;
	}
	if (!strcmp(key, "min_lines")) {
		if (yint(l, v, key, 1, 1 << 20, &iv))
			return ST_CORRUPT;
		r->min_lines = (int)iv;
		return ST_OK;
	}
	return ld_err(l, k, "unknown key '%s'", key);
}

static status_t nomem(struct ld *l)
{
	return err_set(l->e, ST_NOMEM, "out of memory");
}

/* Checks the fields of a rule against its kind and compiles what it can. */
static status_t rule_finish(struct ld *l, struct rule_ld *rl, yaml_node_t *rn)
{
	struct pol_rule *r = rl->r;
	char msg[256];
	size_t off;
	status_t st;

	switch (r->kind) {
	case POL_KIND_SECRET:
		if (!r->regex)
			return ld_err(l, rn, "a secret rule needs 'regex'");
		break;
	case POL_KIND_PATTERN: {
		int n = !!rl->literal_n + !!rl->regex_n + !!rl->query_n;
		if (n != 1)
			return ld_err(l, rn, "a pattern rule needs exactly one of 'literal', 'regex', 'query'");
		r->pat = rl->literal_n ? POL_PAT_LITERAL : rl->regex_n ? POL_PAT_REGEX : POL_PAT_QUERY;
		if (r->pat == POL_PAT_LITERAL && !r->literal[0])
			return ld_err(l, rl->literal_n, "'literal' must not be empty");
		if (r->identifier && r->pat == POL_PAT_LITERAL) {
			for (const char *c = r->literal; *c; c++)
				if (!(*c == '_' || *c == '$' || (*c >= '0' && *c <= '9') ||
				      ((*c | 32) >= 'a' && (*c | 32) <= 'z')))
					return ld_err(l, rl->literal_n,
						      "identifier literal '%s' has a non-identifier character",
						      r->literal);
		}
		if (r->pat == POL_PAT_QUERY) {
			const yaml_node_t *qn = rl->query_n;
			int style = qn->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
				    qn->data.scalar.style == YAML_FOLDED_SCALAR_STYLE ? 2 :
				    qn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? 0 : 1;
			/* Node types differ between grammars: one query per language. */
			if (!r->languages.n)
				return ld_err(l, rn, "a query rule needs 'languages' (the grammars to query)");
			for (size_t i = 0; i < r->languages.n; i++) {
				if (!pol__query_lang_known(r->languages.v[i]))
					return ld_err(l, rl->lang_n, "no tree-sitter grammar for language '%s'",
						      r->languages.v[i]);
				st = pol__query_compile(l->b, r, r->languages.v[i], yscalar(qn),
							(int)qn->start_mark.line + 1,
							(int)qn->start_mark.column + 1, style, l->e);
				if (st)
					return st;
			}
		}
		break;
	}
	case POL_KIND_IMPORT: {
		static const char *const eco[] = { "c", "python", "npm", "go", "cargo", "maven" };
		if (!r->ecosystem)
			return ld_err(l, rn, "an import rule needs 'ecosystem'");
		if (name_index(eco, 6, r->ecosystem) < 0)
			return ld_err(l, rn, "unknown ecosystem '%s' (c, python, npm, go, cargo, maven)",
				      r->ecosystem);
		if (!rl->deny_n && !rl->allow_n)
			return ld_err(l, rn, "an import rule needs 'deny' or 'allow'");
		r->has_allow = rl->allow_n != NULL;
		r->n_deny = rl->deny.n;
		r->n_allow = rl->allow.n;
		r->deny = arena_calloc(&l->b->arena, r->n_deny + 1, sizeof *r->deny);
		r->allow = arena_calloc(&l->b->arena, r->n_allow + 1, sizeof *r->allow);
		if (!r->deny || !r->allow)
			return nomem(l);
		for (size_t i = 0; i < r->n_deny; i++)
			if (pol__dep_parse(&l->b->arena, rl->deny.v[i], &r->deny[i]))
				return ld_err(l, rl->deny_n, "bad dependency constraint '%s'", rl->deny.v[i]);
		for (size_t i = 0; i < r->n_allow; i++)
			if (pol__dep_parse(&l->b->arena, rl->allow.v[i], &r->allow[i]))
				return ld_err(l, rl->allow_n, "bad dependency constraint '%s'", rl->allow.v[i]);
		break;
	}
	case POL_KIND_SCOPE:
		if (!r->scope_team)
			return ld_err(l, rn, "a scope rule needs 'team'");
		if (!rl->allow_n && !rl->deny_n)
			return ld_err(l, rn, "a scope rule needs 'allow' or 'deny'");
		l->b->has_scope = 1;
		break;
	case POL_KIND_PROVENANCE:
		if (!r->corpus)
			return ld_err(l, rn, "a provenance rule needs 'corpus'");
		break;
	default:
		break;
	}
	if (r->regex) {
		r->rx_line = (int)rl->regex_n->start_mark.line + 1;
		r->rx_col = (int)rl->regex_n->start_mark.column + 1;
		if (r->kind != POL_KIND_SECRET && r->kind != POL_KIND_PATTERN)
			return ld_err(l, rl->regex_n, "'regex' is for secret and pattern rules");
		r->re = pol__re_compile(r->regex, 0, msg, sizeof msg, &off);
		if (!r->re) {
			const yaml_node_t *n = rl->regex_n;
			return err_setat(l->e, ST_CORRUPT, l->file, (int)n->start_mark.line + 1,
					 (int)n->start_mark.column + 1,
					 "rule '%s': regex does not compile at offset %zu: %s",
					 r->id, off, msg);
		}
		{
			uint32_t caps = 0;
			pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &caps);
			if (!rl->group_n)
				r->group = (r->kind == POL_KIND_SECRET && caps >= 1) ? 1 : 0;
			else if ((uint32_t)r->group > caps)
				return ld_err(l, rl->group_n, "secret_group %d but the regex has %u groups",
					      r->group, caps);
		}
	}
	if (rl->allow_regexes.n) {
		r->allow_re = arena_calloc(&l->b->arena, rl->allow_regexes.n, sizeof *r->allow_re);
		if (!r->allow_re)
			return nomem(l);
		for (size_t i = 0; i < rl->allow_regexes.n; i++) {
			r->allow_re[i] = pol__re_compile(rl->allow_regexes.v[i], 0, msg, sizeof msg, &off);
			if (!r->allow_re[i])
				return ld_err(l, rl->allow_re_n,
					      "allowlist regex '%s' does not compile at offset %zu: %s",
					      rl->allow_regexes.v[i], off, msg);
			r->n_allow_re++;
		}
	}
	r->generic = r->family && !strcmp(r->family, "generic");
	if (!r->max_len)
		r->max_len = r->kind == POL_KIND_SECRET ? POL_DEFAULT_MAX_LEN : 4096;
	if (!r->min_chars)
		r->min_chars = 150;
	if (!r->min_lines)
		r->min_lines = 10;
	return ST_OK;
}

static int id_valid(const char *s)
{
	if (!*s || strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!(*s == '-' || *s == '_' || *s == '.' || *s == '/' ||
		      (*s >= '0' && *s <= '9') || ((*s | 32) >= 'a' && (*s | 32) <= 'z')))
			return 0;
	return 1;
}

static status_t rule_add(struct ld *l, yaml_node_t *rn)
{
	struct pol_bundle *b = l->b;
	struct rule_ld rl;
	struct pol_rule *r;
	yaml_node_pair_t *p;
	yaml_node_t *idn = NULL;
	void *prev;
	status_t st;
	int k;

	if (!rn || rn->type != YAML_MAPPING_NODE)
		return ld_err(l, rn, "each rule must be a mapping");
	for (p = rn->data.mapping.pairs.start; p < rn->data.mapping.pairs.top; p++)
		if (yscalar(ynode(l, p->key)) && !strcmp(yscalar(ynode(l, p->key)), "id"))
			idn = ynode(l, p->value);
	if (!idn)
		return ld_err(l, rn, "rule without 'id'");
	if (!yscalar(idn) || !id_valid(yscalar(idn)))
		return ld_err(l, idn, "rule id must be 1-128 characters of [A-Za-z0-9._/-]");
	if (b->n_rules >= POL_MAX_RULES)
		return ld_err(l, rn, "more than %d rules", POL_MAX_RULES);
	if (b->n_rules == b->cap_rules) {
		size_t nc = b->cap_rules ? b->cap_rules * 2 : 32;
		struct pol_rule *nr = mem_realloc_array(b->rules, nc, sizeof *nr);
		if (!nr)
			return nomem(l);
		b->rules = nr;
		b->cap_rules = nc;
	}
	r = &b->rules[b->n_rules];
	memset(r, 0, sizeof *r);
	memset(&rl, 0, sizeof rl);
	rl.r = r;
	r->enabled = 1;
	r->severity = POL_SEV_MEDIUM;
	r->id = arena_strdup(&b->arena, yscalar(idn));
	if (!r->id)
		return nomem(l);
	l->rule_id = r->id;
	r->file = (char *)l->file;
	r->line = (int)rn->start_mark.line + 1;
	r->col = (int)rn->start_mark.column + 1;
	r->layer = l->layer;
	r->layer_team = l->team;
	r->layer_repo = l->repo;
	if (hmap_get(l->ids, r->id, strlen(r->id), &prev) == ST_OK) {
		const struct pol_rule *o = &b->rules[(size_t)(uintptr_t)prev - 1];
		return ld_err(l, idn, "duplicate rule id (first defined at %s:%d:%d)",
			      o->file, o->line, o->col);
	}
	/* The kind first: other keys are read in its light. */
	for (p = rn->data.mapping.pairs.start; p < rn->data.mapping.pairs.top; p++)
		if (yscalar(ynode(l, p->key)) && !strcmp(yscalar(ynode(l, p->key)), "kind"))
			rl.kind_n = ynode(l, p->value);
	if (!rl.kind_n)
		return ld_err(l, rn, "rule without 'kind'");
	if (!yscalar(rl.kind_n) || (k = name_index(kind_names, POL_KIND__COUNT, yscalar(rl.kind_n))) < 0)
		return ld_err(l, rl.kind_n, "unknown rule kind '%s' (secret, pattern, import, scope, provenance)",
			      yscalar(rl.kind_n) ? yscalar(rl.kind_n) : "?");
	r->kind = (enum pol_kind)k;
	st = ymap_each(l, rn, "rule", rule_pair, &rl);
	if (st)
		return st;
	if (!rl.has_action)
		r->action = r->kind == POL_KIND_SECRET ? POL_REDACT :
			    r->kind == POL_KIND_SCOPE ? POL_BLOCK : POL_WARN;
	if (!rl.has_sev)
		r->severity = r->kind == POL_KIND_SECRET ? POL_SEV_HIGH : POL_SEV_MEDIUM;
	st = rule_finish(l, &rl, rn);
	if (st) {
		/* Compiled parts belong to the rule even when it is not kept. */
		b->n_rules++;
		return st;
	}
	st = hmap_put(l->ids, r->id, strlen(r->id), (void *)(uintptr_t)(b->n_rules + 1));
	b->n_rules++;
	l->rule_id = NULL;
	return st ? nomem(l) : ST_OK;
}

/* overrides: [{id, action, severity, enabled}] in team and repo layers. */
static status_t ovr_pair(struct ld *l, const char *key, yaml_node_t *k,
			 yaml_node_t *v, void *arg)
{
	struct pending_ovr *po = arg;
	int idx;

	if (!strcmp(key, "id")) {
		if (!yscalar(v))
			return ld_err(l, v, "override 'id' must be a string");
		po->id = arena_strdup(&l->b->arena, yscalar(v));
		po->line = (int)v->start_mark.line + 1;
		po->col = (int)v->start_mark.column + 1;
		return po->id ? ST_OK : nomem(l);
	}
	if (!strcmp(key, "action")) {
		if (!yscalar(v) || (idx = name_index(action_names, POL_ACTION__COUNT, yscalar(v))) < 0)
			return ld_err(l, v, "action must be one of allow, warn, redact, block, regenerate");
		po->o.action = idx;
		return ST_OK;
	}
	if (!strcmp(key, "severity")) {
		if (!yscalar(v) || (idx = name_index(sev_names, POL_SEV__COUNT, yscalar(v))) < 0)
			return ld_err(l, v, "severity must be one of info, low, medium, high, critical");
		po->o.severity = idx;
		return ST_OK;
	}
	if (!strcmp(key, "enabled"))
		return ybool(l, v, key, &po->o.enabled);
	return ld_err(l, k, "unknown key '%s' in override (id, action, severity, enabled)", key);
}

static status_t allow_pair(struct ld *l, const char *key, yaml_node_t *k,
			   yaml_node_t *v, void *arg)
{
	struct pol_bundle *b = l->b;
	struct pol_strs res;
	char msg[256];
	size_t off;

	(void)arg;
	if (!strcmp(key, "stopwords"))
		return ystrs(l, v, key, &b->g_stopwords, 1);
	if (!strcmp(key, "paths"))
		return ystrs(l, v, key, &b->g_allow_paths, 0);
	if (!strcmp(key, "regexes")) {
		memset(&res, 0, sizeof res);
		if (ystrs(l, v, key, &res, 0))
			return ST_CORRUPT;
		b->g_allow_re = arena_calloc(&b->arena, res.n + 1, sizeof *b->g_allow_re);
		if (!b->g_allow_re)
			return nomem(l);
		for (size_t i = 0; i < res.n; i++) {
			b->g_allow_re[i] = pol__re_compile(res.v[i], 0, msg, sizeof msg, &off);
			if (!b->g_allow_re[i])
				return ld_err(l, v, "allowlist regex '%s' does not compile at offset %zu: %s",
					      res.v[i], off, msg);
			b->n_g_allow_re++;
		}
		return ST_OK;
	}
	return ld_err(l, k, "unknown key '%s' in allowlist (regexes, stopwords, paths)", key);
}

static status_t top_pair(struct ld *l, const char *key, yaml_node_t *k,
			 yaml_node_t *v, void *arg)
{
	int64_t iv;
	int bv;

	(void)arg;
	if (!strcmp(key, "version")) {
		if (yint(l, v, key, 1, 1, &iv))
			return ST_CORRUPT;
		return ST_OK;
	}
	if (!strcmp(key, "layer") || !strcmp(key, "team") || !strcmp(key, "repo") ||
	    !strcmp(key, "rules") || !strcmp(key, "overrides"))
		return ST_OK;	/* read in order by file_load */
	if (!strcmp(key, "defaults")) {
		if (ybool(l, v, key, &bv))
			return ST_CORRUPT;
		if (l->layer != POL_LAYER_ORG)
			return ld_err(l, v, "'defaults' belongs in an org layer");
		l->defaults = bv;
		return ST_OK;
	}
	if (!strcmp(key, "allowlist")) {
		if (l->layer != POL_LAYER_ORG)
			return ld_err(l, v, "'allowlist' belongs in an org layer");
		return ymap_each(l, v, "allowlist", allow_pair, NULL);
	}
	return ld_err(l, k, "unknown top-level key '%s' (version, layer, team, repo, defaults, allowlist, rules, overrides)",
		      key);
}

static yaml_node_t *map_get(struct ld *l, yaml_node_t *m, const char *key)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (yscalar(ynode(l, p->key)) && !strcmp(yscalar(ynode(l, p->key)), key))
			return ynode(l, p->value);
	return NULL;
}

/* Loads one YAML text: its layer header, rules and overrides. */
static status_t text_load(struct ld *l, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *n;
	status_t st = ST_OK;

	l->rule_id = NULL;
	l->layer = POL_LAYER_ORG;
	l->team = l->repo = NULL;
	if (!yaml_parser_initialize(&parser))
		return nomem(l);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		st = err_setat(l->e, ST_CORRUPT, l->file,
			       (int)parser.problem_mark.line + 1,
			       (int)parser.problem_mark.column + 1, "invalid YAML: %s%s%s",
			       parser.problem ? parser.problem : "parse error",
			       parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return st;
	}
	l->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root)
		goto out;	/* an empty file is an empty layer */
	if (root->type != YAML_MAPPING_NODE) {
		st = ld_err(l, root, "a policy file must be a mapping (version, layer, rules, ...)");
		goto out;
	}
	if ((n = map_get(l, root, "layer"))) {
		const char *s = yscalar(n);
		if (s && !strcmp(s, "org"))
			l->layer = POL_LAYER_ORG;
		else if (s && !strcmp(s, "team"))
			l->layer = POL_LAYER_TEAM;
		else if (s && (!strcmp(s, "repo") || !strcmp(s, "repository")))
			l->layer = POL_LAYER_REPO;
		else {
			st = ld_err(l, n, "layer must be org, team or repo");
			goto out;
		}
	}
	if ((n = map_get(l, root, "team")) && (st = ystr(l, n, "team", &l->team)))
		goto out;
	if ((n = map_get(l, root, "repo")) && (st = ystr(l, n, "repo", &l->repo)))
		goto out;
	if (l->layer == POL_LAYER_TEAM && !l->team) {
		st = ld_err(l, root, "a team layer needs 'team'");
		goto out;
	}
	if (l->layer == POL_LAYER_REPO && !l->repo) {
		st = ld_err(l, root, "a repo layer needs 'repo'");
		goto out;
	}
	if ((st = ymap_each(l, root, "policy file", top_pair, NULL)))
		goto out;
	if ((n = map_get(l, root, "rules"))) {
		if (n->type != YAML_SEQUENCE_NODE) {
			st = ld_err(l, n, "'rules' must be a list");
			goto out;
		}
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			if ((st = rule_add(l, ynode(l, *it))))
				goto out;
	}
	if ((n = map_get(l, root, "overrides"))) {
		if (n->type != YAML_SEQUENCE_NODE) {
			st = ld_err(l, n, "'overrides' must be a list");
			goto out;
		}
		if (l->layer == POL_LAYER_ORG) {
			st = ld_err(l, n, "'overrides' belong in team and repo layers");
			goto out;
		}
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			struct pending_ovr po;
			yaml_node_t *on = ynode(l, *it);
			memset(&po, 0, sizeof po);
			po.o.action = po.o.severity = po.o.enabled = -1;
			po.o.layer = l->layer;
			po.o.team = l->team;
			po.o.repo = l->repo;
			po.file = l->file;
			if ((st = ymap_each(l, on, "override", ovr_pair, &po)))
				goto out;
			if (!po.id) {
				st = ld_err(l, on, "override without 'id'");
				goto out;
			}
			if (vec_push(l->pending, &po)) {
				st = nomem(l);
				goto out;
			}
		}
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	l->doc = NULL;
	return st;
}

/* ------------------------------------------------------------------ */
/* Bundle                                                              */
/* ------------------------------------------------------------------ */

void pol_bundle_free(struct pol_bundle *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_rules; i++) {
		struct pol_rule *r = &b->rules[i];
		pcre2_code_free(r->re);
		for (size_t j = 0; j < r->n_allow_re; j++)
			pcre2_code_free(r->allow_re[j]);
		pol__query_free(r->query);
	}
	for (size_t j = 0; j < b->n_g_allow_re; j++)
		pcre2_code_free(b->g_allow_re[j]);
	pol__rx_release(&b->rx);
	pol__lit_release(&b->lit);
	mem_free(b->rules);
	mem_free(b->ovr);
	arena_release(&b->arena);
	mem_free(b);
}

static status_t bundle_new(struct pol_bundle **out, struct err *e)
{
	struct pol_bundle *b = mem_calloc(1, sizeof *b);

	if (!b)
		return err_set(e, ST_NOMEM, "out of memory");
	arena_init(&b->arena, 0, 0);
	if (pthread_mutex_init(&b->rx.lock, NULL)) {
		mem_free(b);
		return err_set(e, ST_NOMEM, "mutex");
	}
	*out = b;
	return ST_OK;
}

/* Resolves overrides, adds the defaults, compiles the matchers. */
static status_t bundle_finish(struct ld *l, const struct pol_load_opts *o)
{
	struct pol_bundle *b = l->b;
	status_t st;

	if (l->defaults != 0 && !(o && o->no_defaults)) {
		l->file = "<builtin>/secrets.yaml";
		if ((st = text_load(l, pol__default_secrets, strlen(pol__default_secrets))))
			return st;
	}
	for (size_t i = 0; i < l->pending->len; i++) {
		struct pending_ovr *po = vec_at(l->pending, i);
		void *idx;
		if (hmap_get(l->ids, po->id, strlen(po->id), &idx) != ST_OK)
			return err_setat(l->e, ST_CORRUPT, po->file, po->line, po->col,
					 "rule '%s': override of an unknown rule", po->id);
		if (b->n_ovr == b->cap_ovr) {
			size_t nc = b->cap_ovr ? b->cap_ovr * 2 : 8;
			struct pol_override *no = mem_realloc_array(b->ovr, nc, sizeof *no);
			if (!no)
				return nomem(l);
			b->ovr = no;
			b->cap_ovr = nc;
		}
		po->o.rule = (size_t)(uintptr_t)idx - 1;
		b->ovr[b->n_ovr++] = po->o;
	}
	for (size_t i = 0; i < b->n_rules; i++)
		if (b->rules[i].pat == POL_PAT_QUERY)
			b->has_query = 1;
	b->no_hyperscan = o && o->no_hyperscan;
	if ((st = pol__rx_compile(b, l->e)))
		return st;
	return pol__lit_build(b, l->e);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), c = strlen(suf);
	return a >= c && strcmp(s + a - c, suf) == 0;
}

/* Policy files: *.yaml and *.yml, outside tests/ folders (rule tests). */
static int yaml_keep(const char *rel, const char *name, int is_dir)
{
	(void)rel;
	if (is_dir)
		return strcmp(name, "tests") != 0;
	return has_suffix(name, ".yaml") || has_suffix(name, ".yml");
}

static const struct pol_walk yaml_walk = { yaml_keep, 1 };

static status_t load_common(struct ld *l, struct pol_bundle *b, struct hmap *ids,
			    struct vec *pending, struct err *e)
{
	memset(l, 0, sizeof *l);
	l->b = b;
	l->e = e;
	l->ids = ids;
	l->pending = pending;
	l->defaults = -1;
	hmap_init(ids);
	vec_init(pending, sizeof(struct pending_ovr));
	return ST_OK;
}

status_t pol_bundle_load_mem(const char *name, const char *text, size_t len,
			     const struct pol_load_opts *opts,
			     struct pol_bundle **out, struct err *e)
{
	struct pol_bundle *b;
	struct hmap ids;
	struct vec pending;
	struct ld l;
	status_t st;
	uint8_t d[SHA256_LEN];

	*out = NULL;
	if ((st = bundle_new(&b, e)))
		return st;
	load_common(&l, b, &ids, &pending, e);
	l.file = arena_strdup(&b->arena, name ? name : "<memory>");
	if (!l.file)
		st = err_set(e, ST_NOMEM, "out of memory");
	else if (!(st = text_load(&l, text, len)))
		st = bundle_finish(&l, opts);
	hmap_release(&ids);
	vec_release(&pending);
	if (st) {
		pol_bundle_free(b);
		return st;
	}
	sha256(text, len, d);
	hex_encode(d, sizeof d, b->digest);
	b->n_files = 1;
	*out = b;
	return ST_OK;
}

status_t pol_bundle_load(const char *dir, const struct pol_load_opts *opts,
			 struct pol_bundle **out, struct err *e)
{
	struct pol_bundle *b = NULL;
	struct vec files;
	struct hmap ids;
	struct vec pending;
	struct ld l;
	struct stat sb;
	char *manifest = NULL, *text = NULL;
	status_t st;

	*out = NULL;
	vec_init(&files, sizeof(char *));
	if (stat(dir, &sb) != 0)
		return err_set(e, ST_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		size_t n;
		if ((st = file_read_all(dir, POL_MAX_FILE, &text, &n, e)))
			return st;
		st = pol_bundle_load_mem(dir, text, n, opts, out, e);
		mem_free(text);
		if (!st && opts && opts->require_signature) {
			pol_bundle_free(*out);
			*out = NULL;
			return err_setat(e, ST_VERIFY, dir, 0, 0,
					 "a signed bundle must be a directory (bundle.sig beside the files)");
		}
		return st;
	}
	if ((st = bundle_new(&b, e)))
		return st;
	load_common(&l, b, &ids, &pending, e);
	if ((st = pol__sig_verify(dir, opts, &manifest, &b->signed_ok, b->digest, e)))
		goto out;
	if ((st = pol__files_list(dir, &yaml_walk, &files, e)))
		goto out;
	for (size_t i = 0; i < files.len; i++) {
		char path[4096];
		size_t n;
		uint8_t d[SHA256_LEN];
		const char *rel = VEC_AT(&files, char *, i);

		snprintf(path, sizeof path, "%s/%s", dir, rel);
		if (!(l.file = arena_strdup(&b->arena, path))) {
			st = err_set(e, ST_NOMEM, "out of memory");
			goto out;
		}
		if ((st = file_read_all(path, POL_MAX_FILE, &text, &n, e)))
			goto out;
		if (manifest) {
			sha256(text, n, d);
			if (!pol__manifest_has(manifest, rel, d)) {
				st = err_setat(e, ST_VERIFY, path, 0, 0,
					       "file is not covered by the bundle signature (changed or added after signing)");
				goto out;
			}
		}
		st = text_load(&l, text, n);
		mem_free(text);
		text = NULL;
		if (st)
			goto out;
		b->n_files++;
	}
	st = bundle_finish(&l, opts);
out:
	pol__files_release(&files);
	hmap_release(&ids);
	vec_release(&pending);
	mem_free(manifest);
	mem_free(text);
	if (st) {
		pol_bundle_free(b);
		return st;
	}
	*out = b;
	return ST_OK;
}

void pol_bundle_info_get(const struct pol_bundle *b, struct pol_bundle_info *out)
{
	memset(out, 0, sizeof *out);
	if (!b)
		return;
	out->n_rules = b->n_rules;
	for (size_t i = 0; i < b->n_rules; i++)
		out->n_by_kind[b->rules[i].kind]++;
	out->n_files = b->n_files;
	out->signed_ok = b->signed_ok;
	out->hyperscan = b->rx.hs_db != NULL;
	out->provenance_active = b->prov != NULL;
	memcpy(out->digest, b->digest, sizeof out->digest);
}

/* ------------------------------------------------------------------ */
/* Effective rules for a context                                       */
/* ------------------------------------------------------------------ */

static int layer_applies(enum pol_layer layer, const char *team, const char *repo,
			 const struct pol_ctx *ctx)
{
	switch (layer) {
	case POL_LAYER_ORG:
		return 1;
	case POL_LAYER_TEAM:
		return ctx && ctx->team && team && strcmp(team, ctx->team) == 0;
	case POL_LAYER_REPO:
		return ctx && ctx->repo && repo && strcmp(repo, ctx->repo) == 0;
	}
	return 0;
}

status_t pol__eff_compute(const struct pol_bundle *b, const struct pol_ctx *ctx,
			  const char *lang, struct pol_eff *eff)
{
	const char *path = ctx ? ctx->path : NULL;

	for (size_t i = 0; i < b->n_rules; i++) {
		const struct pol_rule *r = &b->rules[i];
		int on = r->enabled && layer_applies(r->layer, r->layer_team, r->layer_repo, ctx);

		if (on && r->languages.n) {
			on = 0;
			for (size_t j = 0; lang && j < r->languages.n; j++)
				if (!strcmp(r->languages.v[j], lang))
					on = 1;
		}
		if (on && r->paths.n && path)
			on = pol__strs_has(&r->paths, path);
		if (on && r->exclude_paths.n && path && pol__strs_has(&r->exclude_paths, path))
			on = 0;
		eff[i].on = (uint8_t)on;
		eff[i].action = (uint8_t)r->action;
		eff[i].severity = (uint8_t)r->severity;
	}
	/* Overrides in layer order: org rules, then team, then repository. */
	for (int layer = POL_LAYER_TEAM; layer <= POL_LAYER_REPO; layer++) {
		for (size_t k = 0; k < b->n_ovr; k++) {
			const struct pol_override *o = &b->ovr[k];
			if ((int)o->layer != layer || !layer_applies(o->layer, o->team, o->repo, ctx))
				continue;
			if (o->action >= 0)
				eff[o->rule].action = (uint8_t)o->action;
			if (o->severity >= 0)
				eff[o->rule].severity = (uint8_t)o->severity;
			if (o->enabled == 0)
				eff[o->rule].on = 0;
		}
	}
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Engine                                                              */
/* ------------------------------------------------------------------ */

struct pol_engine {
	pthread_mutex_t lock;
	struct pol_bundle *active;
	const struct pol_provenance_index *prov;
};

status_t pol_engine_new(struct pol_engine **out)
{
	struct pol_engine *g = mem_calloc(1, sizeof *g);

	*out = NULL;
	if (!g)
		return ST_NOMEM;
	if (pthread_mutex_init(&g->lock, NULL)) {
		mem_free(g);
		return ST_NOMEM;
	}
	*out = g;
	return ST_OK;
}

/* Takes a reference to the active bundle (NULL when none). */
const struct pol_bundle *pol__engine_acquire(struct pol_engine *g)
{
	struct pol_bundle *b;

	pthread_mutex_lock(&g->lock);
	b = g->active;
	if (b)
		b->refs++;
	pthread_mutex_unlock(&g->lock);
	return b;
}

void pol__engine_release(struct pol_engine *g, const struct pol_bundle *cb)
{
	struct pol_bundle *b = (struct pol_bundle *)cb;
	int last;

	if (!b)
		return;
	pthread_mutex_lock(&g->lock);
	last = --b->refs == 0;
	pthread_mutex_unlock(&g->lock);
	if (last)
		pol_bundle_free(b);
}

void pol_engine_set(struct pol_engine *g, struct pol_bundle *b)
{
	struct pol_bundle *old;

	if (b) {
		b->refs = 1;
		b->prov = g->prov;
	}
	pthread_mutex_lock(&g->lock);
	old = g->active;
	g->active = b;
	pthread_mutex_unlock(&g->lock);
	pol__engine_release(g, old);
}

status_t pol_engine_reload(struct pol_engine *g, const char *dir,
			   const struct pol_load_opts *opts, struct err *e)
{
	struct pol_bundle *b;
	status_t st = pol_bundle_load(dir, opts, &b, e);

	if (st) {
		char line[700];
		LOG_WARN("policy.reload_failed", LF_STR("dir", dir),
			 LF_STR("error", err_format(e, line, sizeof line)));
		return st;
	}
	LOG_INFO("policy.reloaded", LF_STR("dir", dir), LF_INT("rules", b->n_rules),
		 LF_STR("digest", b->digest));
	pol_engine_set(g, b);
	return ST_OK;
}

#define POL_MAX_TRUSTED 32

status_t pol_engine_configure(struct pol_engine *g, const struct config *cfg,
			      struct err *e)
{
	uint8_t keys[POL_MAX_TRUSTED][ED25519_KEY_LEN];
	struct pol_load_opts o;
	struct pol_bundle *b;
	const char *dir = config_str(cfg, "policy.bundle");
	size_t n = config_list_len(cfg, "policy.trusted_keys");
	status_t st;

	memset(&o, 0, sizeof o);
	if (n > POL_MAX_TRUSTED)
		return err_set(e, ST_CONFIG, "policy.trusted_keys: more than %d keys", POL_MAX_TRUSTED);
	for (size_t i = 0; i < n; i++)
		if ((st = pol_key_read(config_list_item(cfg, "policy.trusted_keys", i), keys[i], e)))
			return st;
	o.keys = (const uint8_t (*)[ED25519_KEY_LEN])keys;
	o.n_keys = n;
	o.require_signature = config_bool(cfg, "policy.require_signature");
	if (dir && dir[0])
		return pol_engine_reload(g, dir, &o, e);
	if (o.require_signature)
		return err_set(e, ST_CONFIG, "policy.require_signature is on but policy.bundle is empty");
	if ((st = pol_bundle_load_mem("<builtin>", "version: 1\n", 11, &o, &b, e)))
		return st;
	pol_engine_set(g, b);
	return ST_OK;
}

status_t pol_engine_info(struct pol_engine *g, struct pol_bundle_info *out)
{
	const struct pol_bundle *b = pol__engine_acquire(g);

	if (!b) {
		memset(out, 0, sizeof *out);
		return ST_NOTFOUND;
	}
	pol_bundle_info_get(b, out);
	pol__engine_release(g, b);
	return ST_OK;
}

void pol_engine_set_provenance(struct pol_engine *g,
			       const struct pol_provenance_index *idx)
{
	pthread_mutex_lock(&g->lock);
	g->prov = idx;
	if (g->active)
		g->active->prov = idx;
	pthread_mutex_unlock(&g->lock);
}

void pol_engine_free(struct pol_engine *g)
{
	if (!g)
		return;
	pol__engine_release(g, g->active);
	pthread_mutex_destroy(&g->lock);
	mem_free(g);
}
