/*
 * query.c - tree-sitter query pattern rules: S-expression queries with
 * text predicates (#eq?, #not-eq?, #match?, #not-match?, #any-of?,
 * #not-any-of?), compiled once per rule at load and run over a tree parsed
 * once per check.
 *
 * The grammars are compiled into the library (0.23.x, ABI 14, the newest
 * Debian's libtree-sitter 0.20.7 loads). libtree-sitter does not evaluate
 * text predicates itself; we do, after each match. A finding reports the
 * node captured as @match, else the match's first capture.
 */
#include "policy/policy_int.h"

#include <string.h>
#include <tree_sitter/api.h>

const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_cpp(void);
const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_javascript(void);
const TSLanguage *tree_sitter_typescript(void);
const TSLanguage *tree_sitter_tsx(void);
const TSLanguage *tree_sitter_go(void);
const TSLanguage *tree_sitter_rust(void);
const TSLanguage *tree_sitter_java(void);

static const struct {
	const char *name;
	const TSLanguage *(*fn)(void);
} grammars[] = {
	{ "c", tree_sitter_c },
	{ "cpp", tree_sitter_cpp },
	{ "python", tree_sitter_python },
	{ "javascript", tree_sitter_javascript },
	{ "typescript", tree_sitter_typescript },
	{ "tsx", tree_sitter_tsx },
	{ "go", tree_sitter_go },
	{ "rust", tree_sitter_rust },
	{ "java", tree_sitter_java },
};

static const TSLanguage *grammar(const char *lang, const char **name)
{
	for (size_t i = 0; lang && i < sizeof grammars / sizeof grammars[0]; i++)
		if (!strcmp(grammars[i].name, lang)) {
			if (name)
				*name = grammars[i].name;
			return grammars[i].fn();
		}
	return NULL;
}

int pol__query_lang_known(const char *lang)
{
	return grammar(lang, NULL) != NULL;
}

enum qop { Q_EQ, Q_NOT_EQ, Q_MATCH, Q_NOT_MATCH, Q_ANY_OF, Q_NOT_ANY_OF };

struct qpred {
	enum qop op;
	uint32_t cap;		/* left capture */
	int rhs_cap;		/* 1: compare with capture cap2 */
	uint32_t cap2;
	const char *str;	/* owned by the TSQuery */
	pcre2_code *re;
	const char **any;	/* n_any strings owned by the TSQuery */
	size_t n_any;
};

struct pol_query {
	struct pol_query *next;	/* the rule's query for another language */
	const char *lang_name;	/* static, from grammars[] */
	TSQuery *q;
	const TSLanguage *lang;
	struct qpred **preds;	/* (n_patterns) arrays */
	size_t *n_preds;
	uint32_t n_patterns;
	uint32_t match_cap;	/* capture named "match", or UINT32_MAX */
};

void pol__query_free(struct pol_query *q)
{
	if (!q)
		return;
	pol__query_free(q->next);
	for (uint32_t p = 0; p < q->n_patterns; p++) {
		for (size_t i = 0; q->preds && q->preds[p] && i < q->n_preds[p]; i++) {
			pcre2_code_free(q->preds[p][i].re);
			mem_free(q->preds[p][i].any);
		}
		if (q->preds)
			mem_free(q->preds[p]);
	}
	mem_free(q->preds);
	mem_free(q->n_preds);
	if (q->q)
		ts_query_delete(q->q);
	mem_free(q);
}

static const char *qerr_name(TSQueryError t)
{
	switch (t) {
	case TSQueryErrorSyntax: return "syntax error";
	case TSQueryErrorNodeType: return "unknown node type";
	case TSQueryErrorField: return "unknown field";
	case TSQueryErrorCapture: return "unknown capture";
	case TSQueryErrorStructure: return "impossible pattern structure";
	case TSQueryErrorLanguage: return "grammar version not supported";
	default: return "error";
	}
}

/* Compiles the predicates of pattern p; returns a message on error. */
static const char *preds_compile(struct pol_query *q, uint32_t p)
{
	uint32_t n, len;
	const TSQueryPredicateStep *st = ts_query_predicates_for_pattern(q->q, p, &n);
	struct qpred *v;
	size_t cnt = 0;

	for (uint32_t i = 0; i < n; i++)
		if (st[i].type == TSQueryPredicateStepTypeDone)
			cnt++;
	v = mem_calloc(cnt ? cnt : 1, sizeof *v);
	if (!v)
		return "out of memory";
	q->preds[p] = v;
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		const char *name;
		struct qpred *d = &v[q->n_preds[p]];

		while (j < n && st[j].type != TSQueryPredicateStepTypeDone)
			j++;
		/* steps i..j-1: name, args */
		if (j == i || st[i].type != TSQueryPredicateStepTypeString)
			return "predicate without a name";
		name = ts_query_string_value_for_id(q->q, st[i].value_id, &len);
		if (j - i < 3 || st[i + 1].type != TSQueryPredicateStepTypeCapture)
			return "predicate needs a capture and an argument";
		d->cap = st[i + 1].value_id;
		if (!strcmp(name, "eq?") || !strcmp(name, "not-eq?")) {
			d->op = name[0] == 'e' ? Q_EQ : Q_NOT_EQ;
			if (j - i != 3)
				return "#eq? takes two arguments";
			if (st[i + 2].type == TSQueryPredicateStepTypeCapture) {
				d->rhs_cap = 1;
				d->cap2 = st[i + 2].value_id;
			} else {
				d->str = ts_query_string_value_for_id(q->q, st[i + 2].value_id, &len);
			}
		} else if (!strcmp(name, "match?") || !strcmp(name, "not-match?")) {
			char msg[128];
			size_t off;
			d->op = name[0] == 'm' ? Q_MATCH : Q_NOT_MATCH;
			if (j - i != 3 || st[i + 2].type != TSQueryPredicateStepTypeString)
				return "#match? takes a capture and a regex string";
			d->str = ts_query_string_value_for_id(q->q, st[i + 2].value_id, &len);
			d->re = pol__re_compile(d->str, 0, msg, sizeof msg, &off);
			if (!d->re)
				return "#match? regex does not compile";
		} else if (!strcmp(name, "any-of?") || !strcmp(name, "not-any-of?")) {
			d->op = name[0] == 'a' ? Q_ANY_OF : Q_NOT_ANY_OF;
			d->any = mem_calloc(j - i, sizeof *d->any);
			if (!d->any)
				return "out of memory";
			for (uint32_t k = i + 2; k < j; k++) {
				if (st[k].type != TSQueryPredicateStepTypeString)
					return "#any-of? takes strings";
				d->any[d->n_any++] = ts_query_string_value_for_id(q->q, st[k].value_id, &len);
			}
		} else {
			return name[0] ? "unknown predicate (eq?, not-eq?, match?, not-match?, any-of?, not-any-of?)"
				       : "empty predicate";
		}
		q->n_preds[p]++;
		i = j + 1;
	}
	return NULL;
}

status_t pol__query_compile(struct pol_bundle *b, struct pol_rule *r,
			    const char *lang, const char *src, int line, int col,
			    int style, struct err *e)
{
	struct pol_query *q = mem_calloc(1, sizeof *q);
	uint32_t off = 0;
	TSQueryError et = TSQueryErrorNone;
	uint32_t len = (uint32_t)strlen(src);
	const char *msg;

	(void)b;
	if (!q)
		return err_set(e, ST_NOMEM, "out of memory");
	q->next = r->query;
	r->query = q;
	q->lang = grammar(lang, &q->lang_name);
	q->match_cap = UINT32_MAX;
	q->q = ts_query_new(q->lang, src, len, &off, &et);
	if (!q->q) {
		/* Map the offset to a position in the YAML file: same line for
		 * a flow scalar (after its quote), later lines for a block. */
		int nl = 0, lc = 0;
		for (uint32_t i = 0; i < off && i < len; i++) {
			if (src[i] == '\n')
				nl++, lc = 0;
			else
				lc++;
		}
		if (style == 2)
			line += 1 + nl, col = 1;
		else if (nl == 0)
			col += lc + (style == 1);
		else
			line += nl, col = lc + 1;
		return err_setat(e, ST_CORRUPT, r->file, line, col,
				 "rule '%s': tree-sitter query %s at offset %u (%s)", r->id,
				 qerr_name(et), off, q->lang_name);
	}
	q->n_patterns = ts_query_pattern_count(q->q);
	if (ts_query_capture_count(q->q) == 0)
		return err_setat(e, ST_CORRUPT, r->file, line, col,
				 "rule '%s': the query needs a capture (e.g. @match) to report", r->id);
	for (uint32_t i = 0; i < ts_query_capture_count(q->q); i++) {
		uint32_t n;
		const char *name = ts_query_capture_name_for_id(q->q, i, &n);
		if (n == 5 && !memcmp(name, "match", 5))
			q->match_cap = i;
	}
	q->preds = mem_calloc(q->n_patterns ? q->n_patterns : 1, sizeof *q->preds);
	q->n_preds = mem_calloc(q->n_patterns ? q->n_patterns : 1, sizeof *q->n_preds);
	if (!q->preds || !q->n_preds)
		return err_set(e, ST_NOMEM, "out of memory");
	for (uint32_t p = 0; p < q->n_patterns; p++)
		if ((msg = preds_compile(q, p)))
			return err_setat(e, ST_CORRUPT, r->file, line, col,
					 "rule '%s': query pattern %u: %s", r->id, p, msg);
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Matching                                                            */
/* ------------------------------------------------------------------ */

static int cap_text(const struct pol_scan *s, const TSQueryMatch *m, uint32_t cap,
		    const char **p, size_t *n)
{
	for (uint16_t i = 0; i < m->capture_count; i++)
		if (m->captures[i].index == cap) {
			uint32_t a = ts_node_start_byte(m->captures[i].node);
			uint32_t b = ts_node_end_byte(m->captures[i].node);
			if (b > s->len || a > b)
				return 0;
			*p = s->text + a;
			*n = b - a;
			return 1;
		}
	return 0;
}

static int preds_hold(struct pol_scan *s, const struct pol_query *q, const TSQueryMatch *m)
{
	for (size_t i = 0; i < q->n_preds[m->pattern_index]; i++) {
		const struct qpred *d = &q->preds[m->pattern_index][i];
		const char *t, *t2;
		size_t n, n2;
		int ok = 0;

		if (!cap_text(s, m, d->cap, &t, &n))
			continue;	/* capture absent (quantified): vacuous */
		switch (d->op) {
		case Q_EQ:
		case Q_NOT_EQ:
			if (d->rhs_cap) {
				if (!cap_text(s, m, d->cap2, &t2, &n2))
					continue;
			} else {
				t2 = d->str, n2 = strlen(d->str);
			}
			ok = n == n2 && !memcmp(t, t2, n);
			if (d->op == Q_NOT_EQ)
				ok = !ok;
			break;
		case Q_MATCH:
		case Q_NOT_MATCH:
			ok = pcre2_match(d->re, (PCRE2_SPTR)t, n, 0, 0, s->md, s->mctx) >= 0;
			if (d->op == Q_NOT_MATCH)
				ok = !ok;
			break;
		case Q_ANY_OF:
		case Q_NOT_ANY_OF:
			for (size_t k = 0; k < d->n_any && !ok; k++)
				ok = strlen(d->any[k]) == n && !memcmp(d->any[k], t, n);
			if (d->op == Q_NOT_ANY_OF)
				ok = !ok;
			break;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

void pol__query_scan(struct pol_scan *s)
{
	const struct pol_bundle *b = s->b;
	TSParser *parser = NULL;
	TSTree *tree = NULL;
	TSQueryCursor *cur = NULL;

	if (!b->has_query || s->len > POL_TS_MAX_TEXT)
		return;
	for (size_t ri = 0; ri < b->n_rules; ri++) {
		const struct pol_rule *r = &b->rules[ri];
		const struct pol_query *q = r->query;
		TSQueryMatch m;

		while (q && (!s->lang || strcmp(q->lang_name, s->lang)))
			q = q->next;
		if (!q || !s->eff[ri].on)
			continue;
		if (!tree) {
			parser = ts_parser_new();
			cur = ts_query_cursor_new();
			if (!parser || !cur || !ts_parser_set_language(parser, q->lang)) {
				s->st = ST_NOMEM;
				break;
			}
			ts_parser_set_timeout_micros(parser, POL_TS_TIMEOUT_US);
			tree = ts_parser_parse_string(parser, NULL, s->text, (uint32_t)s->len);
			if (!tree) {
				s->st = ST_LIMIT;	/* parse timed out */
				break;
			}
		}
		ts_query_cursor_set_match_limit(cur, 4096);
		ts_query_cursor_exec(cur, q->q, ts_tree_root_node(tree));
		while (ts_query_cursor_next_match(cur, &m) && s->r->n < POL_MAX_FINDINGS) {
			TSNode node;
			uint16_t k = 0;
			if (!m.capture_count || !preds_hold(s, q, &m))
				continue;
			for (uint16_t i = 0; i < m.capture_count; i++)
				if (m.captures[i].index == q->match_cap)
					k = i;
			node = m.captures[k].node;
			pol__add(s, ri, ts_node_start_byte(node), ts_node_end_byte(node),
				 ts_node_start_byte(node), ts_node_end_byte(node), NULL);
		}
	}
	if (tree)
		ts_tree_delete(tree);
	if (cur)
		ts_query_cursor_delete(cur);
	if (parser)
		ts_parser_delete(parser);
}
