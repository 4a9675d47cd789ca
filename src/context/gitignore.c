/*
 * gitignore.c - .gitignore semantics: wildmatch globs ('*' stays inside a
 * path segment, '**' crosses them, '?', classes), negation, directory-only
 * and anchored patterns, nested .gitignore files (a deeper file's match
 * wins; within a file the last matching line wins).
 *
 * The glob matcher is iterative per star with git's abort signals, so a
 * pattern with many stars runs in polynomial time, never exponential.
 */
#include "context/ctx_int.h"

#include <string.h>

enum { WM_MATCH = 0, WM_NOMATCH = 1, WM_ABORT_ALL = 2, WM_ABORT_TO_STARSTAR = 3 };

/* Matches a class at p ('[' already consumed); *pp is left on ']'.
 * Returns 1 match, 0 no match, -1 malformed. */
static int match_class(const char **pp, unsigned char ch)
{
	const char *p = *pp;
	int neg = 0, ok = 0;
	unsigned char prev = 0;

	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	if (*p == ']') {
		ok |= ch == ']';
		prev = ']';
		p++;
	}
	for (; *p && *p != ']'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\' && p[1]) {
			c = (unsigned char)*++p;
		} else if (c == '-' && prev && p[1] && p[1] != ']') {
			unsigned char hi = (unsigned char)*++p;
			if (hi == '\\' && p[1])
				hi = (unsigned char)*++p;
			if (prev <= ch && ch <= hi)
				ok = 1;
			prev = 0;
			continue;
		}
		if (c == ch)
			ok = 1;
		prev = c;
	}
	if (*p != ']')
		return -1;
	*pp = p;
	return neg ? !ok : ok;
}

static int wm(const char *p, const char *t, const char *pstart, int depth)
{
	if (depth > 64)
		return WM_ABORT_ALL;
	for (; *p; p++, t++) {
		unsigned char pc = (unsigned char)*p;

		if (*t == 0 && pc != '*')
			return WM_ABORT_ALL;
		switch (pc) {
		case '?':
			if (*t == '/')
				return WM_NOMATCH;
			break;
		case '[': {
			const char *q = p + 1;
			int r;
			if (*t == '/')
				return WM_NOMATCH;
			r = match_class(&q, (unsigned char)*t);
			if (r < 0)
				return WM_ABORT_ALL;
			if (!r)
				return WM_NOMATCH;
			p = q;
			break;
		}
		case '\\':
			if (p[1])
				p++;
			if (*p != *t)
				return WM_NOMATCH;
			break;
		default:
			if (pc != (unsigned char)*t)
				return WM_NOMATCH;
			break;
		case '*': {
			const char *s = p;
			int cross = 0;
			while (p[1] == '*')
				p++;
			if (p > s) {
				/* '**' is special only as a whole segment. */
				if ((s == pstart || s[-1] == '/') &&
				    (p[1] == 0 || p[1] == '/')) {
					cross = 1;
					if (p[1] == '/') {
						int r = wm(p + 2, t, pstart, depth + 1);
						if (r == WM_MATCH)
							return r;
					}
				}
			}
			p++;
			if (*p == 0) {
				if (!cross && strchr(t, '/'))
					return WM_ABORT_TO_STARSTAR;
				return WM_MATCH;
			}
			for (;;) {
				int r;
				if (*t == 0)
					return WM_ABORT_ALL;
				r = wm(p, t, pstart, depth + 1);
				if (r != WM_NOMATCH) {
					if (!cross || r != WM_ABORT_TO_STARSTAR)
						return r;
				}
				if (!cross && *t == '/')
					return WM_ABORT_TO_STARSTAR;
				t++;
			}
		}
		}
	}
	return *t ? WM_NOMATCH : WM_MATCH;
}

int ctx_glob_match(const char *pattern, const char *text)
{
	return wm(pattern, text, pattern, 0) == WM_MATCH;
}

/* ---- pattern lists --------------------------------------------------- */

struct rule {
	char *pat;		/* leading '/' and trailing '/' removed */
	char *base;		/* directory of the .gitignore, "" at the root */
	int negate, dir_only, anchored;
};

struct ctx_ignore {
	struct rule *r;
	size_t n, cap;
};

status_t ctx_ignore_new(struct ctx_ignore **out)
{
	*out = mem_calloc(1, sizeof **out);
	return *out ? ST_OK : ST_NOMEM;
}

static void rule_free(struct rule *r)
{
	mem_free(r->pat);
	mem_free(r->base);
}

void ctx_ignore_free(struct ctx_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++)
		rule_free(&ig->r[i]);
	mem_free(ig->r);
	mem_free(ig);
}

static status_t add_line(struct ctx_ignore *ig, const char *base,
			 const char *s, size_t n)
{
	struct rule r = { 0 };
	size_t k;

	/* Trailing spaces are dropped unless escaped; CR from CRLF too. */
	while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) {
		if (n >= 2 && s[n - 2] == '\\' && s[n - 1] == ' ')
			break;
		n--;
	}
	if (n == 0 || s[0] == '#')
		return ST_OK;
	if (s[0] == '!') {
		r.negate = 1;
		s++;
		n--;
	}
	if (n && s[n - 1] == '/') {
		r.dir_only = 1;
		n--;
	}
	if (n == 0)
		return ST_OK;
	for (k = 0; k < n; k++)
		if (s[k] == '/')
			r.anchored = 1;
	if (s[0] == '/') {
		s++;
		n--;
	}
	if (n == 0)
		return ST_OK;
	if (ig->n == ig->cap) {
		size_t nc = ig->cap ? ig->cap * 2 : 16;
		struct rule *nr = mem_realloc_array(ig->r, nc, sizeof *nr);
		if (!nr)
			return ST_NOMEM;
		ig->r = nr;
		ig->cap = nc;
	}
	r.pat = mem_strndup(s, n);
	r.base = mem_strdup(base);
	if (!r.pat || !r.base) {
		rule_free(&r);
		return ST_NOMEM;
	}
	ig->r[ig->n++] = r;
	return ST_OK;
}

status_t ctx_ignore_add(struct ctx_ignore *ig, const char *base,
			const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t e = i;
		status_t st;
		while (e < len && text[e] != '\n')
			e++;
		/* NUL inside a line: git stops there; so do we. */
		size_t n = strnlen(text + i, e - i);
		if ((st = add_line(ig, base, text + i, n)))
			return st;
		i = e + 1;
	}
	return ST_OK;
}

/* True when base is dir or lies under it. */
static int under(const char *base, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 0)
		return 1;
	return strncmp(base, dir, n) == 0 && (base[n] == 0 || base[n] == '/');
}

void ctx_ignore_pop(struct ctx_ignore *ig, const char *base)
{
	size_t w = 0;

	for (size_t i = 0; i < ig->n; i++) {
		if (under(ig->r[i].base, base)) {
			rule_free(&ig->r[i]);
			continue;
		}
		ig->r[w++] = ig->r[i];
	}
	ig->n = w;
}

int ctx_ignore_match(const struct ctx_ignore *ig, const char *path, int is_dir)
{
	const char *slash = strrchr(path, '/');
	const char *basename = slash ? slash + 1 : path;

	/* Rules were added root first; the last match wins, which also
	 * makes a deeper .gitignore override a shallower one. */
	for (size_t i = ig ? ig->n : 0; i-- > 0;) {
		const struct rule *r = &ig->r[i];
		const char *rel = path;
		size_t bl = strlen(r->base);

		if (r->dir_only && !is_dir)
			continue;
		if (bl) {
			if (strncmp(path, r->base, bl) != 0 || path[bl] != '/')
				continue;
			rel = path + bl + 1;
		}
		if (r->anchored ? ctx_glob_match(r->pat, rel) :
				  ctx_glob_match(r->pat, basename))
			return !r->negate;
	}
	return 0;
}
