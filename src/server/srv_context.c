/*
 * srv_context.c - the server's side of the context engine: POST
 * /v1/context (the snippets retrieved for a cursor) and the index model,
 * which answers completion requests from the n-gram index of the indexed
 * code when no model file is loaded: honest continuations of what the
 * organisation's code already contains, labelled as such in /v1/models.
 */
#include "server/server_int.h"
#include "context/context.h"

#include <string.h>

#include <microhttpd.h>

void srv_set_context(struct srv *s, struct ctx *c, struct ctx_ngram *ngram)
{
	s->ctx = c;
	s->ngram = ngram;
	pthread_mutex_init(&s->ctx_mu, NULL);
	s->ctx_mu_init = 1;
}

static int bad_field(struct srv_rctx *r, const char *field, const char *msg)
{
	return srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
				  field, msg);
}

/*
 * POST /v1/context: {"repo", "path", "prefix", "suffix"?, "top_k"?,
 * "token_budget"?} -> {"object": "list", "data": [snippets]}.
 */
int srv__h_context(struct srv_rctx *r)
{
	json_error_t je;
	json_t *o, *repo, *path, *prefix, *suffix, *top, *budget;
	struct ctx_query q;
	struct ctx_result res;
	struct buf out;
	struct err e;
	struct srv_scope scope = { r->s, r->who.team[0] ? r->who.team : NULL };
	status_t st;
	int ret;

	if (!r->s->ctx)
		return srv__respond_error(r, 404, "invalid_request_error", "unknown_url",
					  NULL, "the context engine is not enabled on this server");
	o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return bad_field(r, NULL, "the body must be a JSON object");
	}
	repo = json_object_get(o, "repo");
	path = json_object_get(o, "path");
	prefix = json_object_get(o, "prefix");
	suffix = json_object_get(o, "suffix");
	top = json_object_get(o, "top_k");
	budget = json_object_get(o, "token_budget");
	if (repo && !json_is_null(repo) && !json_is_string(repo)) {
		ret = bad_field(r, "repo", "'repo' must be a string");
		goto out;
	}
	if (path && !json_is_null(path) && !json_is_string(path)) {
		ret = bad_field(r, "path", "'path' must be a string");
		goto out;
	}
	if (!json_is_string(prefix)) {
		ret = bad_field(r, "prefix", "'prefix' is required (the text before the cursor)");
		goto out;
	}
	if (suffix && !json_is_null(suffix) && !json_is_string(suffix)) {
		ret = bad_field(r, "suffix", "'suffix' must be a string");
		goto out;
	}
	if (top && !json_is_null(top) &&
	    (!json_is_integer(top) || json_integer_value(top) < 1 || json_integer_value(top) > 100)) {
		ret = bad_field(r, "top_k", "'top_k' must be an integer from 1 to 100");
		goto out;
	}
	if (budget && !json_is_null(budget) &&
	    (!json_is_integer(budget) || json_integer_value(budget) < 0)) {
		ret = bad_field(r, "token_budget", "'token_budget' must be a non-negative integer");
		goto out;
	}
	memset(&q, 0, sizeof q);
	q.repo = json_is_string(repo) ? json_string_value(repo) : NULL;
	q.path = json_is_string(path) ? json_string_value(path) : NULL;
	q.prefix = json_string_value(prefix);
	q.prefix_len = json_string_length(prefix);
	if (json_is_string(suffix)) {
		q.suffix = json_string_value(suffix);
		q.suffix_len = json_string_length(suffix);
	}
	q.top_k = json_is_integer(top) ? (int)json_integer_value(top) : 10;
	q.token_budget = json_is_integer(budget) ? (size_t)json_integer_value(budget) : 0;
	/* The team's scopes (policy module) decide what it may see. */
	q.allow = srv__scope_allows;
	q.allow_arg = &scope;
	ctx_result_init(&res);
	buf_init(&out, 0);
	err_clear(&e);
	pthread_mutex_lock(&r->s->ctx_mu);
	st = ctx_retrieve(r->s->ctx, &q, &res, &e);
	pthread_mutex_unlock(&r->s->ctx_mu);
	if (st == ST_OK &&
	    (buf_puts(&out, "{\"object\":\"list\",\"data\":") ||
	     ctx_result_json(&res, &out) || buf_puts(&out, "}\n")))
		st = err_set(&e, ST_NOMEM, "out of memory");
	if (st != ST_OK)
		ret = srv__respond_err(r, &e, NULL);
	else
		ret = srv__respond(r, 200, "application/json", out.data, out.len);
	buf_release(&out);
	ctx_result_release(&res);
out:
	json_decref(o);
	return ret;
}

/* ------------------------------------------------------------------ */
/* The index model                                                     */
/* ------------------------------------------------------------------ */

int srv__index_model(const struct srv *s)
{
	return s->ngram != NULL;
}

/*
 * Completes prefix from the n-gram index into out (at most max_bytes; the
 * index stops at the end of the line). Thread-safe: the index is a
 * read-only map.
 */
status_t srv__index_complete(struct srv *s, const char *prefix, size_t len,
			     size_t max_bytes, struct buf *out)
{
	return ctx_ngram_complete(s->ngram, prefix, len, max_bytes, out, NULL);
}

size_t srv__index_size(const struct srv *s)
{
	return s->ngram ? ctx_ngram_size(s->ngram) : 0;
}

/* ------------------------------------------------------------------ */
/* Retrieved context in FIM prompts                                    */
/* ------------------------------------------------------------------ */

status_t srv__fim_chunks(struct srv *s, const struct srv_identity *who,
			 const char *repo, const char *path, const char *prefix,
			 const char *suffix, int32_t n_ctx,
			 const struct srv_chunk *client, size_t n_client,
			 struct arena *a, struct srv_chunk **out, size_t *n_out)
{
	struct ctx_result res;
	struct ctx_query q;
	struct srv_chunk *all;
	size_t n = 0;
	struct err e;

	struct srv_scope scope = { s, who && who->team[0] ? who->team : NULL };

	*out = NULL;
	*n_out = 0;
	ctx_result_init(&res);
	if (s->ctx && (repo || path)) {
		memset(&q, 0, sizeof q);
		q.repo = repo;
		q.path = path;
		q.prefix = prefix;
		q.prefix_len = strlen(prefix);
		q.suffix = suffix;
		q.suffix_len = suffix ? strlen(suffix) : 0;
		q.top_k = 5;
		/* A quarter of the context for retrieved code, the rest for the
		 * buffer and the answer. */
		q.token_budget = (size_t)(n_ctx > 0 ? n_ctx / 4 : 512);
		q.allow = srv__scope_allows;	/* the team's scopes */
		q.allow_arg = &scope;
		err_clear(&e);
		pthread_mutex_lock(&s->ctx_mu);
		if (ctx_retrieve(s->ctx, &q, &res, &e) != ST_OK) {
			LOG_WARN("server.retrieve", LF_STR("error", e.msg));
			ctx_result_release(&res);
			ctx_result_init(&res);
		}
		pthread_mutex_unlock(&s->ctx_mu);
	}
	if (!(all = arena_calloc(a, res.n + n_client + 1, sizeof *all))) {
		ctx_result_release(&res);
		return ST_NOMEM;
	}
	for (size_t i = 0; i < res.n; i++) {
		const struct ctx_hit *h = &res.hits[i];
		all[n].filename = arena_printf(a, "%s/%s", h->repo ? h->repo : "",
					       h->path ? h->path : "");
		all[n].text = arena_strdup(a, h->text ? h->text : "");
		if (!all[n].filename || !all[n].text) {
			ctx_result_release(&res);
			return ST_NOMEM;
		}
		n++;
	}
	ctx_result_release(&res);
	/* The client's chunks last: nearest the cursor, as it chose them. */
	for (size_t i = 0; i < n_client; i++)
		all[n++] = client[i];
	*out = all;
	*n_out = n;
	return ST_OK;
}
