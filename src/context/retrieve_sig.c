/*
 * retrieve_sig.c - the identifiers at the cursor and the types of the
 * variables among them, as evidence for which function's signature the
 * line at the cursor calls.
 *
 * A line passes variables to what it calls, and a function's signature
 * names the types (and often the names) of what it takes: `struct
 * aud_stats as;` above the cursor, aud_log_stats(struct aud_log *log,
 * struct aud_stats *out) its callee. The evidence is the identifiers of
 * the lines next to the cursor and, for each, the identifiers its
 * declaration puts before it (`struct aud_stats as`, `const struct
 * vocab *v`), after a colon (`x: Foo`, a type hint) or first after an
 * equals sign (`r = Reader(...)`, `r = new Reader()`, `v = vocab_get()`).
 *
 * Only the buffer text is read (prefix and suffix): never the store.
 */
#include "context/ctx_int.h"

#include <string.h>

#define SIG_DECL 200		/* prefix lines searched for declarations */
#define SIG_DECL_BYTES 65536	/* and bytes: a minified line is not code to search */
#define SIG_NEAR_MAX 64		/* identifiers at the cursor looked up */


/* Adds name to out (name -> weight * 1000, the larger kept). */
static status_t put(struct hmap *out, const char *s, size_t n, double w,
		    int (*stop)(const char *, size_t), struct hmap *types)
{
	void *v = NULL;
	intptr_t x = (intptr_t)(w * 1000.0);
	status_t st;

	if (n < 2 || n > 128 || stop(s, n))
		return ST_OK;
	if (types && (st = hmap_put(types, s, n, NULL)))
		return st;
	hmap_get(out, s, n, &v);
	if ((intptr_t)v >= x)
		return ST_OK;
	return hmap_put(out, s, n, (void *)x);
}

/* Whether line [ls, le) holds identifier v of length n, and where. */
static size_t find_id(const char *t, size_t ls, size_t le, const char *v, size_t n)
{
	for (size_t i = ls; i + n <= le; i++) {
		if (memcmp(t + i, v, n) != 0 || (i > ls && ctx__id_char((unsigned char)t[i - 1])) ||
		    (i + n < le && ctx__id_char((unsigned char)t[i + n])))
			continue;
		return i;
	}
	return (size_t)-1;
}

/* The type words of the declaration of the identifier at t[at..at+n)
 * on line [ls, le): what precedes it back to a separator, what a colon
 * after it names, the first name after an equals sign. */
static status_t decl_types(const char *t, size_t ls, size_t le, size_t at, size_t n,
			   double w, struct hmap *out, int (*stop)(const char *, size_t),
			   struct hmap *types)
{
	status_t st = ST_OK;
	size_t i = at;
	int words = 0;

	/* Backwards to ( , ; { = or the line's start, 8 words at most. */
	while (i > ls && st == ST_OK && words < 8) {
		unsigned char ch = (unsigned char)t[i - 1];
		if (ch == '(' || ch == ',' || ch == ';' || ch == '{' || ch == '=' || ch == ')')
			break;
		if (ctx__id_char(ch)) {
			size_t e = i;
			while (i > ls && ctx__id_char((unsigned char)t[i - 1]))
				i--;
			if (ctx__id_start((unsigned char)t[i]))
				st = put(out, t + i, e - i, w, stop, types);
			words++;
			continue;
		}
		i--;
	}
	/* Forwards: `: Type` or `= [new] name`. */
	i = at + n;
	while (i < le && (t[i] == ' ' || t[i] == '\t'))
		i++;
	if (i < le && (t[i] == ':' || (t[i] == '=' && (i + 1 >= le || t[i + 1] != '=')))) {
		i++;
		for (int k = 0; k < 2 && st == ST_OK; k++) {
			while (i < le && !ctx__id_start((unsigned char)t[i]) && t[i] != '\n' &&
			       (t[i] == ' ' || t[i] == '\t' || t[i] == '*' || t[i] == '&'))
				i++;
			if (i >= le || !ctx__id_start((unsigned char)t[i]))
				break;
			size_t s0 = i;
			while (i < le && ctx__id_char((unsigned char)t[i]))
				i++;
			if ((i - s0 == 3 && !memcmp(t + s0, "new", 3)) ||
			    (i - s0 == 5 && !memcmp(t + s0, "await", 5)))
				continue;
			/* a dotted name: its last part (module.Reader) */
			while (i + 1 < le && t[i] == '.' && ctx__id_start((unsigned char)t[i + 1])) {
				s0 = ++i;
				while (i < le && ctx__id_char((unsigned char)t[i]))
					i++;
			}
			st = put(out, t + s0, i - s0, w, stop, types);
			break;
		}
	}
	return st;
}

status_t ctx__sig_evidence(const char *pre, size_t plen, const char *suf, size_t slen,
			   int near_lines, double w_type, int (*stop)(const char *, size_t), struct hmap *out,
			   struct hmap *types)
{
	struct hmap near;	/* identifiers of the lines at the cursor */
	size_t it = 0, kl, ps = plen, se = 0;
	const void *k;
	status_t st = ST_OK;

	hmap_init(&near);
	for (int l = 0; l < near_lines && ps > 0; l++) {
		ps--;
		while (ps > 0 && pre[ps - 1] != '\n')
			ps--;
	}
	for (int l = 0; l < near_lines && se < slen; l++) {
		while (se < slen && suf[se] != '\n')
			se++;
		if (se < slen)
			se++;
	}
	for (int side = 0; side < 2 && st == ST_OK; side++) {
		const char *t = side ? suf : pre + ps;
		size_t n = side ? se : plen - ps;
		for (size_t i = 0, s0; st == ST_OK && ctx__ident_next(t, n, &i, &s0);) {
			if (i < n && t[i] == '(')
				continue;	/* a call: echo's and the symbols' */
			if (near.len >= SIG_NEAR_MAX)
				break;
			if (i - s0 <= 128 && (st = hmap_put(&near, t + s0, i - s0, NULL)) == ST_OK)
				st = put(out, t + s0, i - s0, 1.0, stop, NULL);
		}
	}
	/* Each near identifier's declaration: its first occurrence in the
	 * enclosing function (back to a line at indentation 0 or one that
	 * starts a def or function, that line included). */
	while (st == ST_OK && w_type > 0 && hmap_next(&near, &it, &k, &kl, NULL)) {
		const char *v = k;
		size_t le = plen, best_ls = 0, best_le = 0, best_at = (size_t)-1;
		int lines = 0;
		while (le > 0 && lines++ < SIG_DECL) {
			size_t ls = le, at;
			while (ls > 0 && pre[ls - 1] != '\n' && plen - ls < SIG_DECL_BYTES)
				ls--;
			if (plen - ls >= SIG_DECL_BYTES)
				break;
			if ((at = find_id(pre, ls, le, v, kl)) != (size_t)-1) {
				best_ls = ls;
				best_le = le;
				best_at = at;
			}
			size_t in = ls;
			while (in < le && (pre[in] == ' ' || pre[in] == '\t'))
				in++;
			if (in < le && ((in == ls && pre[in] != '{' && pre[in] != '}' && pre[in] != '#') ||
					(le - in > 4 && !memcmp(pre + in, "def ", 4)) ||
					(le - in > 10 && !memcmp(pre + in, "async def ", 10)) ||
					(le - in > 9 && !memcmp(pre + in, "function ", 9))))
				break;
			le = ls > 0 ? ls - 1 : 0;
		}
		if (best_at != (size_t)-1)
			st = decl_types(pre, best_ls, best_le, best_at, kl, w_type, out, stop, types);
	}
	hmap_release(&near);
	return st == ST_OK ? ST_OK : ST_NOMEM;
}
