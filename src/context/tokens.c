/*
 * tokens.c - identifier splitting, and the FTS5 tokenizer built on it.
 *
 * Code search needs `parseHttpRequest`, `parse_http_request` and
 * `HTTPRequestParser` to share the tokens parse / http / request. The
 * FTS5 table over chunks uses the tokenizer "airlock_ident" registered
 * here, so the chunk text is stored once (external content) and split at
 * index and query time alike.
 */
#include "context/ctx_int.h"

#include <string.h>
#include <sqlite3.h>

#define TOK_MAX 64

static int is_word(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || ch >= 0x80;
}
static int is_upper(unsigned char ch) { return ch >= 'A' && ch <= 'Z'; }
static int is_lower(unsigned char ch) { return ch >= 'a' && ch <= 'z'; }
static int is_digit(unsigned char ch) { return ch >= '0' && ch <= '9'; }

static int emit(const char *text, size_t s, size_t e, int coloc,
		int (*fn)(void *, const char *, size_t, size_t, size_t, int),
		void *arg)
{
	char tok[TOK_MAX];
	size_t n = e - s;

	if (n == 0)
		return 0;
	if (n > TOK_MAX)
		n = TOK_MAX;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[s + i];
		tok[i] = is_upper(ch) ? (char)(ch + 32) : (char)ch;
	}
	return fn(arg, tok, n, s, e, coloc);
}

void ctx_tokens_split(const char *text, size_t len,
		      int (*fn)(void *, const char *, size_t, size_t, size_t,
				int),
		      void *arg)
{
	size_t i = 0;

	while (i < len) {
		size_t ws, we, j, ps[16], pe[16];
		int np = 0;

		while (i < len && !is_word((unsigned char)text[i]))
			i++;
		if (i >= len)
			break;
		ws = i;
		while (i < len && is_word((unsigned char)text[i]))
			i++;
		we = i;
		/* Parts: split at '_', lower->Upper, UPPER->Upper+lower. */
		j = ws;
		while (j < we) {
			size_t s;
			while (j < we && text[j] == '_')
				j++;
			if (j >= we)
				break;
			s = j++;
			while (j < we && text[j] != '_') {
				unsigned char a = (unsigned char)text[j - 1];
				unsigned char b = (unsigned char)text[j];
				if (is_upper(b) && (is_lower(a) || is_digit(a)))
					break;
				if (is_upper(a) && is_upper(b) && j + 1 < we &&
				    is_lower((unsigned char)text[j + 1]))
					break;
				j++;
			}
			if (np == 16) {
				pe[15] = j;	/* fold the tail into the last part */
			} else {
				ps[np] = s;
				pe[np++] = j;
			}
		}
		for (int k = 0; k < np; k++) {
			if (emit(text, ps[k], pe[k], 0, fn, arg))
				return;
			/* The whole identifier shares the first part's position. */
			if (k == 0 && np > 1 && emit(text, ws, we, 1, fn, arg))
				return;
		}
	}
}

/* ---- FTS5 tokenizer ------------------------------------------------- */

struct fts_cb {
	void *ctx;
	int (*x)(void *, int, const char *, int, int, int);
	int rc;
};

static int fts_tok(void *arg, const char *tok, size_t n, size_t s, size_t e,
		   int coloc)
{
	struct fts_cb *cb = arg;

	cb->rc = cb->x(cb->ctx, coloc ? FTS5_TOKEN_COLOCATED : 0, tok, (int)n,
		       (int)s, (int)e);
	return cb->rc != SQLITE_OK;
}

static int fts_create(void *p, const char **azArg, int nArg,
		      Fts5Tokenizer **out)
{
	static int dummy;
	(void)p; (void)azArg; (void)nArg;
	*out = (Fts5Tokenizer *)&dummy;
	return SQLITE_OK;
}

static void fts_delete(Fts5Tokenizer *t) { (void)t; }

static int fts_tokenize(Fts5Tokenizer *t, void *pCtx, int flags,
			const char *text, int n,
			int (*x)(void *, int, const char *, int, int, int))
{
	struct fts_cb cb = { pCtx, x, SQLITE_OK };

	(void)t;
	if (n <= 0)
		return SQLITE_OK;
	if (flags & FTS5_TOKENIZE_QUERY) {
		/* Queries come pre-split (see retrieve.c): each term is one
		 * token, so no term becomes a phrase (detail=column has none). */
		char tok[TOK_MAX];
		size_t k = (size_t)n < TOK_MAX ? (size_t)n : TOK_MAX;
		for (size_t i = 0; i < k; i++)
			tok[i] = is_upper((unsigned char)text[i]) ? (char)(text[i] + 32) : text[i];
		return x(pCtx, 0, tok, (int)k, 0, n);
	}
	ctx_tokens_split(text, (size_t)n, fts_tok, &cb);
	return cb.rc;
}

status_t ctx__tokenizer_register(sqlite3 *db, struct err *e)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	fts5_tokenizer tk = { fts_create, fts_delete, fts_tokenize };

	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		return err_set(e, ST_UNSUPPORTED, "sqlite: FTS5 missing: %s",
			       sqlite3_errmsg(db));
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	if (!api)
		return err_set(e, ST_UNSUPPORTED, "sqlite: no fts5_api");
	if (api->xCreateTokenizer(api, "airlock_ident", NULL, &tk, NULL) !=
	    SQLITE_OK)
		return err_set(e, ST_INTERNAL, "sqlite: cannot register tokenizer");
	return ST_OK;
}
