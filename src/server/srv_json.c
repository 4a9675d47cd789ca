/*
 * srv_json.c - request bodies: JSON parsing and validation of the
 * completion, chat and infill requests into struct srv_request.
 *
 * Unknown fields are ignored, as OpenAI's API does, so that clients which
 * send newer or vendor fields (llama.vim's "samplers", "cache_prompt") work.
 * Known fields of the wrong type or out of range are rejected with a
 * message naming the field. Fields we do not implement but that would
 * change the output (n > 1, echo, logprobs) are rejected, never ignored.
 */
#include "server/server_int.h"

#include <math.h>
#include <string.h>

struct pctx {
	struct srv_request *req;
	char *param;
	size_t nparam;
	struct err *e;
};

/* Rejects field: the message reads "'field' what". */
static status_t bad(struct pctx *c, const char *field, const char *what)
{
	str_copy(c->param, field, c->nparam);
	return err_set(c->e, ST_INVAL, "'%s' %s", field, what);
}

static status_t get_string(struct pctx *c, json_t *o, const char *key,
			   const char **out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return ST_OK;
	if (!json_is_string(v))
		return bad(c, key, "must be a string");
	*out = arena_strndup(&c->req->arena, json_string_value(v),
			     json_string_length(v));
	return *out ? ST_OK : err_set(c->e, ST_NOMEM, "out of memory");
}

static status_t get_number(struct pctx *c, json_t *o, const char *key,
			   double lo, double hi, float *out)
{
	json_t *v = json_object_get(o, key);
	double d;

	if (!v || json_is_null(v))
		return ST_OK;
	if (!json_is_number(v))
		return bad(c, key, "must be a number");
	d = json_number_value(v);
	if (!(d >= lo && d <= hi)) {
		str_copy(c->param, key, c->nparam);
		return err_set(c->e, ST_INVAL, "'%s' must be between %g and %g",
			       key, lo, hi);
	}
	*out = (float)d;
	return ST_OK;
}

static status_t get_int(struct pctx *c, json_t *o, const char *key,
			int64_t lo, int64_t hi, int64_t *out, int *present)
{
	json_t *v = json_object_get(o, key);
	int64_t x;

	if (!v || json_is_null(v))
		return ST_OK;
	if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
	    fabs(json_real_value(v)) < 9e15)
		x = (int64_t)json_real_value(v);
	else if (json_is_integer(v))
		x = json_integer_value(v);
	else
		return bad(c, key, "must be an integer");
	if (x < lo || x > hi) {
		str_copy(c->param, key, c->nparam);
		return err_set(c->e, ST_INVAL,
			       "'%s' must be between %lld and %lld", key,
			       (long long)lo, (long long)hi);
	}
	*out = x;
	if (present)
		*present = 1;
	return ST_OK;
}

static status_t get_bool(struct pctx *c, json_t *o, const char *key, int *out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return ST_OK;
	if (!json_is_boolean(v))
		return bad(c, key, "must be true or false");
	*out = json_is_true(v);
	return ST_OK;
}

static status_t get_stop(struct pctx *c, json_t *o)
{
	json_t *v = json_object_get(o, "stop"), *it;
	struct srv_gen_params *gp = &c->req->gp;
	size_t i;

	if (!v || json_is_null(v))
		return ST_OK;
	if (json_is_string(v)) {
		if (json_string_length(v) == 0)
			return ST_OK;
		if (json_string_length(v) > SRV_MAX_STOP_LEN)
			return bad(c, "stop", "strings must be at most 256 bytes");
		gp->stop[gp->n_stop++] = arena_strdup(&c->req->arena,
						      json_string_value(v));
		return gp->stop[0] ? ST_OK : err_set(c->e, ST_NOMEM, "out of memory");
	}
	if (!json_is_array(v))
		return bad(c, "stop", "must be a string or an array of strings");
	if (json_array_size(v) > SRV_MAX_STOP)
		return bad(c, "stop", "may hold at most 16 strings");
	json_array_foreach(v, i, it) {
		if (!json_is_string(it))
			return bad(c, "stop", "must be a string or an array of strings");
		if (json_string_length(it) > SRV_MAX_STOP_LEN)
			return bad(c, "stop", "strings must be at most 256 bytes");
		if (json_string_length(it) == 0)
			continue;
		if (!(gp->stop[gp->n_stop] = arena_strdup(&c->req->arena,
							  json_string_value(it))))
			return err_set(c->e, ST_NOMEM, "out of memory");
		gp->n_stop++;
	}
	return ST_OK;
}

/* The settings every endpoint shares. */
static status_t get_common(struct pctx *c, json_t *o, const char *max_key)
{
	struct srv_gen_params *gp = &c->req->gp;
	int64_t x = 0, n = 1;
	int has = 0;
	json_t *so;
	status_t st;

	if ((st = get_string(c, o, "model", &c->req->model)) ||
	    (st = get_number(c, o, "temperature", 0, 2, &gp->temperature)) ||
	    (st = get_number(c, o, "top_p", 0, 1, &gp->top_p)) ||
	    (st = get_bool(c, o, "stream", &gp->stream)) ||
	    (st = get_stop(c, o)))
		return st;
	if ((st = get_int(c, o, max_key, c->req->ep == SRV_EP_INFILL ? -1 : 1,
			  1 << 20, &x, &has)))
		return st;
	if (has)
		gp->max_tokens = x < 0 ? -1 : (int32_t)x;
	has = 0;
	/* llama.cpp and some clients send -1 for "random". */
	if ((st = get_int(c, o, "seed", INT64_MIN, INT64_MAX, &x, &has)))
		return st;
	if (has && x >= 0) {
		gp->seed = (uint64_t)x;
		gp->has_seed = 1;
	}
	if ((st = get_int(c, o, "n", 1, 128, &n, NULL)))
		return st;
	if (n != 1)
		return bad(c, "n", "must be 1 (one choice per request)");
	so = json_object_get(o, "stream_options");
	if (so && !json_is_null(so)) {
		if (!json_is_object(so))
			return bad(c, "stream_options", "must be an object");
		if ((st = get_bool(c, so, "include_usage", &gp->include_usage)))
			return st;
	}
	return ST_OK;
}

static status_t parse_prompt(struct pctx *c, json_t *o)
{
	struct srv_request *r = c->req;
	json_t *v = json_object_get(o, "prompt"), *it;
	size_t i;

	if (!v || json_is_null(v))
		return bad(c, "prompt", "is required (a string)");
	if (json_is_array(v) && json_array_size(v) == 1 &&
	    (json_is_string(json_array_get(v, 0)) ||
	     json_is_array(json_array_get(v, 0))))
		v = json_array_get(v, 0);
	if (json_is_string(v)) {
		r->prompt = arena_strndup(&r->arena, json_string_value(v),
					  json_string_length(v));
		return r->prompt ? ST_OK : err_set(c->e, ST_NOMEM, "out of memory");
	}
	if (!json_is_array(v))
		return bad(c, "prompt", "must be a string or an array of token ids");
	if (json_array_size(v) == 0)
		return bad(c, "prompt", "must not be empty");
	if (json_is_string(json_array_get(v, 0)))
		return bad(c, "prompt", "must hold one prompt (batches of prompts are not supported)");
	r->prompt_tokens = arena_calloc(&r->arena, json_array_size(v),
					sizeof *r->prompt_tokens);
	if (!r->prompt_tokens)
		return err_set(c->e, ST_NOMEM, "out of memory");
	json_array_foreach(v, i, it) {
		if (!json_is_integer(it) || json_integer_value(it) < 0 ||
		    json_integer_value(it) > INT32_MAX)
			return bad(c, "prompt", "must be a string or an array of token ids");
		r->prompt_tokens[i] = (int32_t)json_integer_value(it);
	}
	r->n_prompt_tokens = json_array_size(v);
	return ST_OK;
}

static status_t parse_completions(struct pctx *c, json_t *o)
{
	json_t *v;
	status_t st;

	if ((st = parse_prompt(c, o)) || (st = get_string(c, o, "suffix", &c->req->suffix)) ||
	    (st = get_string(c, o, "repo", &c->req->repo)) ||
	    (st = get_string(c, o, "path", &c->req->path)) ||
	    (st = get_bool(c, o, "echo", &c->req->gp.echo)))
		return st;
	if (c->req->gp.echo)
		return bad(c, "echo", "is not supported (use false)");
	v = json_object_get(o, "logprobs");
	if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 0) &&
	    !json_is_false(v))
		return bad(c, "logprobs", "is not supported");
	v = json_object_get(o, "best_of");
	if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
		return bad(c, "best_of", "must be 1");
	if (c->req->suffix && c->req->prompt_tokens)
		return bad(c, "suffix", "needs a text prompt");
	return get_common(c, o, "max_tokens");
}

/* Message content: a string, or an array of {"type":"text","text":...}. */
static status_t message_content(struct pctx *c, json_t *v, const char **out)
{
	struct buf b;
	json_t *part;
	size_t i;

	if (!v || json_is_null(v)) {
		*out = "";
		return ST_OK;
	}
	if (json_is_string(v)) {
		*out = arena_strndup(&c->req->arena, json_string_value(v),
				     json_string_length(v));
		return *out ? ST_OK : err_set(c->e, ST_NOMEM, "out of memory");
	}
	if (!json_is_array(v))
		return bad(c, "messages", "content must be a string or an array of text parts");
	buf_init(&b, 0);
	json_array_foreach(v, i, part) {
		json_t *t = json_object_get(part, "type");
		json_t *x = json_object_get(part, "text");
		if (!json_is_object(part) || !json_is_string(t) ||
		    strcmp(json_string_value(t), "text") != 0 || !json_is_string(x)) {
			buf_release(&b);
			return bad(c, "messages", "content parts must be {\"type\":\"text\",\"text\":...}");
		}
		if (buf_append(&b, json_string_value(x), json_string_length(x))) {
			buf_release(&b);
			return err_set(c->e, ST_NOMEM, "out of memory");
		}
	}
	*out = arena_strdup(&c->req->arena, buf_cstr(&b));
	buf_release(&b);
	return *out ? ST_OK : err_set(c->e, ST_NOMEM, "out of memory");
}

static status_t parse_chat(struct pctx *c, json_t *o)
{
	struct srv_request *r = c->req;
	json_t *v = json_object_get(o, "messages"), *m;
	size_t i;
	status_t st;

	if (!v || json_is_null(v))
		return bad(c, "messages", "is required (an array of messages)");
	if (!json_is_array(v) || json_array_size(v) == 0)
		return bad(c, "messages", "must be a non-empty array");
	if (json_array_size(v) > SRV_MAX_MESSAGES)
		return bad(c, "messages", "may hold at most 1024 messages");
	r->msgs = arena_calloc(&r->arena, json_array_size(v), sizeof *r->msgs);
	if (!r->msgs)
		return err_set(c->e, ST_NOMEM, "out of memory");
	json_array_foreach(v, i, m) {
		json_t *role = json_object_get(m, "role");
		const char *rs;
		if (!json_is_object(m) || !json_is_string(role))
			return bad(c, "messages", "items must be objects with a string 'role'");
		rs = json_string_value(role);
		if (strcmp(rs, "system") && strcmp(rs, "user") &&
		    strcmp(rs, "assistant") && strcmp(rs, "developer"))
			return bad(c, "messages", "role must be system, developer, user or assistant");
		/* "developer" is OpenAI's newer name for the system role. */
		r->msgs[i].role = strcmp(rs, "developer") == 0 ? "system" :
			arena_strdup(&r->arena, rs);
		if (!r->msgs[i].role)
			return err_set(c->e, ST_NOMEM, "out of memory");
		if ((st = message_content(c, json_object_get(m, "content"),
					  &r->msgs[i].content)))
			return st;
	}
	r->n_msgs = json_array_size(v);
	if (json_object_get(o, "max_completion_tokens"))
		return get_common(c, o, "max_completion_tokens");
	return get_common(c, o, "max_tokens");
}

static status_t parse_infill(struct pctx *c, json_t *o)
{
	struct srv_request *r = c->req;
	json_t *v, *ch;
	size_t i;
	status_t st;

	r->gp.temperature = 0.8f;	/* llama.cpp's defaults */
	r->gp.top_p = 0.95f;
	if ((st = get_string(c, o, "input_prefix", &r->input_prefix)) ||
	    (st = get_string(c, o, "input_suffix", &r->input_suffix)) ||
	    (st = get_string(c, o, "prompt", &r->infill_prompt)) ||
	    (st = get_string(c, o, "repo", &r->repo)) ||
	    (st = get_string(c, o, "path", &r->path)))
		return st;
	if (!r->input_prefix)
		r->input_prefix = "";
	if (!r->input_suffix)
		r->input_suffix = "";
	v = json_object_get(o, "input_extra");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v))
			return bad(c, "input_extra", "must be an array of {filename, text}");
		if (json_array_size(v) > SRV_MAX_EXTRA)
			return bad(c, "input_extra", "may hold at most 256 chunks");
		r->extra = arena_calloc(&r->arena, json_array_size(v) + 1,
					sizeof *r->extra);
		if (!r->extra)
			return err_set(c->e, ST_NOMEM, "out of memory");
		json_array_foreach(v, i, ch) {
			struct pctx sub = *c;
			const char *fn = NULL, *tx = NULL;
			if (!json_is_object(ch))
				return bad(c, "input_extra", "must be an array of {filename, text}");
			if ((st = get_string(&sub, ch, "filename", &fn)) ||
			    (st = get_string(&sub, ch, "text", &tx)))
				return bad(c, "input_extra", "items need string 'filename' and 'text'");
			r->extra[i].filename = fn ? fn : "";
			r->extra[i].text = tx ? tx : "";
		}
		r->n_extra = json_array_size(v);
	}
	return get_common(c, o, "n_predict");
}

status_t srv__request_parse(enum srv_endpoint ep, const char *body, size_t len,
			    struct srv_request *req, char *param, size_t nparam,
			    struct err *e)
{
	struct pctx c = { req, param, nparam, e };
	json_error_t je;
	json_t *o;
	status_t st;

	memset(req, 0, sizeof *req);
	arena_init(&req->arena, 0, 0);
	req->ep = ep;
	req->gp.max_tokens = -1;
	req->gp.temperature = 1.0f;
	req->gp.top_p = 1.0f;
	if (nparam)
		param[0] = '\0';
	if (len == 0)
		return err_set(e, ST_CORRUPT, "the request body is empty; send a JSON object");
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return err_set(e, ST_CORRUPT, "invalid JSON at line %d column %d: %s",
			       je.line, je.column, je.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(e, ST_INVAL, "the request body must be a JSON object");
	}
	switch (ep) {
	case SRV_EP_COMPLETIONS: st = parse_completions(&c, o); break;
	case SRV_EP_CHAT: st = parse_chat(&c, o); break;
	case SRV_EP_INFILL: st = parse_infill(&c, o); break;
	default: st = err_set(e, ST_INTERNAL, "unknown endpoint"); break;
	}
	json_decref(o);
	return st;
}

void srv__request_release(struct srv_request *req)
{
	if (req)
		arena_release(&req->arena);
}
