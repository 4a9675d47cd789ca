/*
 * srv_policy.c - the server's side of governance: the request's text is
 * checked before the model sees it (secrets redacted, blocked content
 * refused), a whole answer is checked before it is returned, retrieval
 * honours the team's scopes, a team may use a model only if its scope
 * allows it, and POST /v1/policy/check runs the active bundle over a text.
 * During generation: the token guard of a request (pol_guard) and the
 * sampler filter over it, and the line-by-line check of streamed answers
 * (pol_stream) with the whole-text check at their end.
 */
#include "server/server_int.h"
#include "policy/policy.h"

#include <string.h>

#include <microhttpd.h>

void srv_set_policy(struct srv *s, struct pol_engine *eng)
{
	s->policy = eng;
}

static void ctx_of(const struct srv *s, const struct srv_identity *who,
		   const char *repo, const char *path, struct pol_ctx *pc)
{
	memset(pc, 0, sizeof *pc);
	pc->team = who && who->team[0] ? who->team : NULL;
	pc->repo = repo;
	pc->path = path;
	pc->model = s->b ? s->b->model_id : NULL;
}

/*
 * A check that hit a matcher's bound (or a provenance index that could not
 * be read) still returns the findings it made; an operator must hear that
 * the check was incomplete.
 */
static void warn_incomplete(const char *where, const struct err *e)
{
	LOG_WARN("server.policy_incomplete", LF_STR("where", where),
		 LF_STR("reason", e && e->msg[0] ? e->msg : "a matcher limit was reached"));
}

/* Checks one text field: ST_DENIED (e names the rule) on block; on redact
 * *text becomes the redacted copy in a. */
static status_t check_field(struct srv *s, const struct pol_ctx *pc,
			    const char **text, struct arena *a, int *findings,
			    struct err *e)
{
	struct pol_result r;
	status_t st;

	if (!*text || !**text)
		return ST_OK;
	pol_result_init(&r);
	st = pol_check_text(s->policy, pc, *text, strlen(*text), &r, e);
	if (st != ST_OK && st != ST_LIMIT) {
		pol_result_release(&r);
		return st;
	}
	if (st == ST_LIMIT)
		warn_incomplete("prompt", e);
	st = ST_OK;
	*findings += (int)r.n;
	for (size_t i = 0; i < r.n; i++)
		LOG_INFO("server.policy", LF_STR("rule", r.items[i].rule_id),
			 LF_STR("action", pol_action_name(r.items[i].action)),
			 LF_STR("where", "prompt"));
	if (r.worst == POL_BLOCK) {
		for (size_t i = 0; i < r.n; i++)
			if (r.items[i].action == POL_BLOCK) {
				st = err_set(e, ST_DENIED, "denied by policy rule %s: %s",
					     r.items[i].rule_id,
					     r.items[i].message ? r.items[i].message : "");
				break;
			}
	} else if (r.redacted) {
		const char *copy = arena_strndup(a, r.redacted, r.redacted_len);
		if (!copy)
			st = err_set(e, ST_NOMEM, "out of memory");
		else
			*text = copy;
	}
	pol_result_release(&r);
	return st;
}

status_t srv__policy_request(struct srv *s, const struct srv_identity *who,
			     struct srv_request *q, struct err *e)
{
	struct pol_ctx pc;
	int n = 0;
	status_t st = ST_OK;

	if (!s->policy)
		return ST_OK;
	ctx_of(s, who, q->repo, q->path, &pc);
	if (s->b && !pol_scope_model_allows(s->policy, pc.team, s->b->model_id))
		return err_set(e, ST_DENIED, "team '%s' may not use model '%s'",
			       pc.team ? pc.team : "", s->b->model_id);
	if ((st = check_field(s, &pc, &q->prompt, &q->arena, &n, e)) ||
	    (st = check_field(s, &pc, &q->suffix, &q->arena, &n, e)) ||
	    (st = check_field(s, &pc, &q->input_prefix, &q->arena, &n, e)) ||
	    (st = check_field(s, &pc, &q->input_suffix, &q->arena, &n, e)) ||
	    (st = check_field(s, &pc, &q->infill_prompt, &q->arena, &n, e)))
		return st;
	for (size_t i = 0; i < q->n_msgs; i++)
		if ((st = check_field(s, &pc, &q->msgs[i].content, &q->arena, &n, e)))
			return st;
	for (size_t i = 0; i < q->n_extra; i++)
		if ((st = check_field(s, &pc, &q->extra[i].text, &q->arena, &n, e)))
			return st;
	return ST_OK;
}

status_t srv__policy_output(struct srv *s, const struct srv_identity *who,
			    const struct srv_request *q, struct buf *text,
			    struct err *e)
{
	struct pol_ctx pc;
	struct pol_result r;
	status_t st;

	if (!s->policy || !text->len)
		return ST_OK;
	ctx_of(s, who, q->repo, q->path, &pc);
	pol_result_init(&r);
	st = pol_check_text(s->policy, &pc, text->data, text->len, &r, e);
	if (st != ST_OK && st != ST_LIMIT) {
		pol_result_release(&r);
		return st;
	}
	if (st == ST_LIMIT)
		warn_incomplete("output", e);
	st = ST_OK;
	for (size_t i = 0; i < r.n; i++) {
		LOG_INFO("server.policy", LF_STR("rule", r.items[i].rule_id),
			 LF_STR("action", pol_action_name(r.items[i].action)),
			 LF_STR("where", "output"));
		if (r.items[i].action == POL_BLOCK && st == ST_OK)
			st = err_set(e, ST_DENIED, "the answer was withheld by policy rule %s: %s",
				     r.items[i].rule_id,
				     r.items[i].message ? r.items[i].message : "");
	}
	if (st == ST_OK && r.redacted) {
		buf_reset(text);
		st = buf_append(text, r.redacted, r.redacted_len);
	}
	pol_result_release(&r);
	return st;
}

status_t srv__policy_guard(struct srv *s, const struct srv_identity *who,
			   const struct srv_request *q, struct pol_guard **out)
{
	struct pol_ctx pc;
	struct pol_guard *g = NULL;
	status_t st;

	*out = NULL;
	if (!s->policy)
		return ST_OK;
	ctx_of(s, who, q->repo, q->path, &pc);
	if ((st = pol_guard_new(s->policy, &pc, &g)) != ST_OK)
		return st;
	/* No banned literal applies: no filter, no cost per token. */
	if (pol_guard_size(g) == 0) {
		pol_guard_free(g);
		return ST_OK;
	}
	*out = g;
	return ST_OK;
}

int srv__guard_accept(void *ctx, int32_t tok, const char *piece, size_t len)
{
	const struct srv_guard_filter *f = ctx;

	if (f->b->ops->token_is_eog(f->b->impl, tok))
		return pol_guard_accepts_end(f->g);
	return pol_guard_accepts(f->g, piece, len);
}

status_t srv__stream_policy_init(struct srv *s, const struct srv_identity *who,
				 const struct srv_request *q,
				 struct srv_stream_policy *sp)
{
	struct pol_ctx pc;

	memset(sp, 0, sizeof *sp);
	buf_init(&sp->all, 0);
	if (!s->policy)
		return ST_OK;
	ctx_of(s, who, q ? q->repo : NULL, q ? q->path : NULL, &pc);
	if (pc.team)
		str_copy(sp->team, pc.team, sizeof sp->team);
	if ((pc.repo && !(sp->repo = mem_strdup(pc.repo))) ||
	    (pc.path && !(sp->path = mem_strdup(pc.path))) ||
	    !(sp->r = mem_alloc(sizeof *sp->r)))
		goto nomem;
	pol_result_init(sp->r);
	if (pol_stream_new(s->policy, &pc, &sp->ps) != ST_OK)
		goto nomem;
	return ST_OK;
nomem:
	srv__stream_policy_release(sp);
	return ST_NOMEM;
}

/* ST_DENIED naming the first block decision of r from index from on. */
static status_t first_block(const struct pol_result *r, size_t from,
			    const char *where, struct err *e)
{
	for (size_t i = from; i < r->n; i++) {
		LOG_INFO("server.policy", LF_STR("rule", r->items[i].rule_id),
			 LF_STR("action", pol_action_name(r->items[i].action)),
			 LF_STR("where", where));
	}
	for (size_t i = from; i < r->n; i++)
		if (r->items[i].action == POL_BLOCK)
			return err_set(e, ST_DENIED, "the answer was stopped by policy"
				       " rule %s: %s", r->items[i].rule_id,
				       r->items[i].message ? r->items[i].message : "");
	return ST_OK;
}

status_t srv__stream_policy_filter(struct srv *s, struct srv_stream_policy *sp,
				   struct buf *text, int final, struct err *e)
{
	size_t from;
	status_t st;

	if (!sp->ps)
		return ST_OK;
	from = sp->r->n;
	if (text->len && (buf_append(&sp->all, text->data, text->len) ||
			  pol_stream_feed(sp->ps, text->data, text->len, sp->r)))
		return err_set(e, ST_NOMEM, "out of memory");
	if (final && (st = pol_stream_finish(sp->ps, sp->r)) != ST_OK && st != ST_LIMIT)
		return err_set(e, st, "checking the stream: %s", status_str(st));
	if ((st = first_block(sp->r, from, "stream", e)) != ST_OK)
		return st;
	buf_reset(text);
	if (pol_stream_take(sp->ps, text))
		return err_set(e, ST_NOMEM, "out of memory");
	if (final && sp->all.len) {
		/* Point 4: the whole text, for the rules no line shows
		 * (tree-sitter queries, imports, provenance). */
		struct pol_ctx pc;
		struct pol_result whole;

		memset(&pc, 0, sizeof pc);
		pc.team = sp->team[0] ? sp->team : NULL;
		pc.repo = sp->repo;
		pc.path = sp->path;
		pc.model = s->b ? s->b->model_id : NULL;
		pol_result_init(&whole);
		st = pol_check_text(s->policy, &pc, sp->all.data, sp->all.len, &whole, e);
		if (st == ST_OK || st == ST_LIMIT)
			st = whole.worst == POL_BLOCK ?
				first_block(&whole, 0, "output", e) : ST_OK;
		pol_result_release(&whole);
		if (st != ST_OK)
			buf_reset(text);
	}
	return st;
}

void srv__stream_policy_release(struct srv_stream_policy *sp)
{
	pol_stream_free(sp->ps);
	if (sp->r) {
		pol_result_release(sp->r);
		mem_free(sp->r);
	}
	buf_release(&sp->all);
	mem_free(sp->repo);
	mem_free(sp->path);
	memset(sp, 0, sizeof *sp);
}

int srv__scope_allows(void *arg, const char *repo, const char *path)
{
	const struct srv_scope *sc = arg;

	return !sc->s->policy || pol_scope_allows(sc->s->policy, sc->team, repo, path);
}

/* POST /v1/policy/check: {"text", "lang"?, "path"?, "repo"?}. */
int srv__h_policy_check(struct srv_rctx *r)
{
	json_error_t je;
	json_t *o, *text, *lang, *path, *repo;
	struct pol_ctx pc;
	struct pol_result res;
	struct buf out;
	struct err e;
	status_t st;
	int ret;

	if (!r->s->policy)
		return srv__respond_error(r, 404, "invalid_request_error", "unknown_url",
					  NULL, "no policy engine on this server");
	o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	text = o ? json_object_get(o, "text") : NULL;
	lang = o ? json_object_get(o, "lang") : NULL;
	path = o ? json_object_get(o, "path") : NULL;
	repo = o ? json_object_get(o, "repo") : NULL;
	if (!o || !json_is_object(o) || !json_is_string(text) ||
	    (lang && !json_is_null(lang) && !json_is_string(lang)) ||
	    (path && !json_is_null(path) && !json_is_string(path)) ||
	    (repo && !json_is_null(repo) && !json_is_string(repo))) {
		json_decref(o);
		return srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
					  "text", "the body must be {\"text\": string, \"lang\"?,"
					  " \"path\"?, \"repo\"?: strings}");
	}
	ctx_of(r->s, &r->who, json_is_string(repo) ? json_string_value(repo) : NULL,
	       json_is_string(path) ? json_string_value(path) : NULL, &pc);
	pc.lang = json_is_string(lang) ? json_string_value(lang) : NULL;
	pol_result_init(&res);
	buf_init(&out, 0);
	err_clear(&e);
	st = pol_check_text(r->s->policy, &pc, json_string_value(text),
			    json_string_length(text), &res, &e);
	if (st == ST_LIMIT)
		st = ST_OK;
	if (st == ST_OK && (pol_result_json(&res, r->id, &out) || buf_putc(&out, '\n')))
		st = err_set(&e, ST_NOMEM, "out of memory");
	ret = st == ST_OK ? srv__respond(r, 200, "application/json", out.data, out.len) :
		srv__respond_err(r, &e, NULL);
	buf_release(&out);
	pol_result_release(&res);
	json_decref(o);
	return ret;
}
