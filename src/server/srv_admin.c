/*
 * srv_admin.c - admin routes over HTTP, the same operations as the
 * `airlock user|team|token` commands:
 *
 *   GET  /v1/admin/users            POST /v1/admin/users  {name, team?, role?}
 *   GET  /v1/admin/teams            POST /v1/admin/teams  {name, max_concurrent?,
 *                                                          tokens_per_minute?}
 *   GET  /v1/admin/tokens           POST /v1/admin/tokens {user, expires?: "30d"}
 *   DELETE /v1/admin/tokens/{id}
 *
 * The router lets only admins in. A created token is in the response once.
 */
#include "server/server_int.h"

#include <string.h>

#include <microhttpd.h>

/* Parses the body as a JSON object; on failure responds and returns NULL. */
static json_t *body_object(struct srv_rctx *r, int *ret)
{
	json_error_t je;
	json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	char msg[256];

	if (o && json_is_object(o))
		return o;
	json_decref(o);
	if (!o)
		snprintf(msg, sizeof msg, "invalid JSON at line %d column %d: %s",
			 je.line, je.column, je.text);
	else
		snprintf(msg, sizeof msg, "the request body must be a JSON object");
	*ret = srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
				  NULL, msg);
	return NULL;
}

/* A string member or NULL; a member of another type is an error. */
static int opt_string(struct srv_rctx *r, json_t *o, const char *key,
		      const char **out, int *ret)
{
	json_t *v = json_object_get(o, key);
	char msg[96];

	*out = NULL;
	if (!v || json_is_null(v))
		return 1;
	if (json_is_string(v)) {
		*out = json_string_value(v);
		return 1;
	}
	snprintf(msg, sizeof msg, "'%s' must be a string", key);
	*ret = srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
				  key, msg);
	return 0;
}

static int opt_int(struct srv_rctx *r, json_t *o, const char *key, int64_t *out,
		   int *ret)
{
	json_t *v = json_object_get(o, key);
	char msg[96];

	if (!v || json_is_null(v))
		return 1;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = json_integer_value(v);
		return 1;
	}
	snprintf(msg, sizeof msg, "'%s' must be a non-negative integer", key);
	*ret = srv__respond_error(r, 400, "invalid_request_error", "invalid_request",
				  key, msg);
	return 0;
}

static int respond_list(struct srv_rctx *r, json_t *arr)
{
	json_t *o = arr ? json_pack("{s:s, s:o}", "object", "list", "data", arr) : NULL;
	int ret;

	if (!o)
		return srv__respond_error(r, 500, "server_error", "internal_error",
					  NULL, "out of memory");
	ret = srv__respond_json(r, 200, o);
	json_decref(o);
	return ret;
}

static json_t *user_json(const struct srv_user *u)
{
	return json_pack("{s:I, s:s, s:s?, s:s, s:I}", "id", (json_int_t)u->id,
			 "name", u->name, "team", u->team[0] ? u->team : NULL,
			 "role", srv_role_name(u->role), "created",
			 (json_int_t)u->created);
}

int srv__h_admin_users(struct srv_rctx *r)
{
	struct srv_user *u = NULL;
	size_t n = 0;
	json_t *arr;
	struct err e;
	int ret;

	err_clear(&e);
	if (srv_user_list(r->s->store, &u, &n, &e))
		return srv__respond_err(r, &e, NULL);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, user_json(&u[i]));
	mem_free(u);
	ret = respond_list(r, arr);
	return ret;
}

int srv__h_admin_user_add(struct srv_rctx *r)
{
	const char *name, *team, *role;
	enum srv_role rl = SRV_ROLE_MEMBER;
	struct srv_user u;
	struct err e;
	json_t *o, *out;
	int ret = MHD_NO;

	err_clear(&e);
	if (!(o = body_object(r, &ret)))
		return ret;
	if (!opt_string(r, o, "name", &name, &ret) ||
	    !opt_string(r, o, "team", &team, &ret) ||
	    !opt_string(r, o, "role", &role, &ret))
		goto out;
	if (role && srv_role_parse(role, &rl, &e)) {
		ret = srv__respond_err(r, &e, "role");
		goto out;
	}
	if (srv_user_add(r->s->store, name, team, rl, NULL, &e) ||
	    srv_user_get(r->s->store, name, &u, &e)) {
		ret = srv__respond_err(r, &e, "name");
		goto out;
	}
	LOG_INFO("server.admin.user_add", LF_STR("id", r->id), LF_STR("by", r->who.user),
		 LF_STR("user", u.name), LF_STR("role", srv_role_name(u.role)));
	srv__audit_admin(r->s, r->who.user, "user.create", u.name);
	out = user_json(&u);
	ret = out ? srv__respond_json(r, 201, out) : MHD_NO;
	json_decref(out);
out:
	json_decref(o);
	return ret;
}

static json_t *team_json(const struct srv_team *t)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I}", "id", (json_int_t)t->id,
			 "name", t->name, "max_concurrent",
			 (json_int_t)t->max_concurrent, "tokens_per_minute",
			 (json_int_t)t->tokens_per_minute, "created",
			 (json_int_t)t->created);
}

int srv__h_admin_teams(struct srv_rctx *r)
{
	struct srv_team *t = NULL;
	size_t n = 0;
	json_t *arr;
	struct err e;

	err_clear(&e);
	if (srv_team_list(r->s->store, &t, &n, &e))
		return srv__respond_err(r, &e, NULL);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, team_json(&t[i]));
	mem_free(t);
	return respond_list(r, arr);
}

int srv__h_admin_team_add(struct srv_rctx *r)
{
	const char *name;
	int64_t mc = 0, tpm = 0;
	struct srv_team t;
	struct err e;
	json_t *o, *out;
	int ret = MHD_NO;

	err_clear(&e);
	if (!(o = body_object(r, &ret)))
		return ret;
	if (!opt_string(r, o, "name", &name, &ret) ||
	    !opt_int(r, o, "max_concurrent", &mc, &ret) ||
	    !opt_int(r, o, "tokens_per_minute", &tpm, &ret))
		goto out;
	if (srv_team_add(r->s->store, name, mc, tpm, NULL, &e) ||
	    srv_team_get(r->s->store, name, &t, &e)) {
		ret = srv__respond_err(r, &e, "name");
		goto out;
	}
	LOG_INFO("server.admin.team_add", LF_STR("id", r->id), LF_STR("by", r->who.user),
		 LF_STR("team", t.name));
	srv__audit_admin(r->s, r->who.user, "team.create", t.name);
	out = team_json(&t);
	ret = out ? srv__respond_json(r, 201, out) : MHD_NO;
	json_decref(out);
out:
	json_decref(o);
	return ret;
}

static json_t *token_json(const struct srv_token_info *t)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}", "id", (json_int_t)t->id,
			 "user", t->user, "prefix", t->prefix, "created",
			 (json_int_t)t->created, "expires", (json_int_t)t->expires,
			 "revoked", (json_int_t)t->revoked);
}

int srv__h_admin_tokens(struct srv_rctx *r)
{
	struct srv_token_info *t = NULL;
	size_t n = 0;
	json_t *arr;
	struct err e;

	err_clear(&e);
	if (srv_token_list(r->s->store, &t, &n, &e))
		return srv__respond_err(r, &e, NULL);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, token_json(&t[i]));
	mem_free(t);
	return respond_list(r, arr);
}

int srv__h_admin_token_create(struct srv_rctx *r)
{
	const char *user, *expires;
	char text[SRV_TOKEN_LEN + 1];
	int64_t ttl = 0, id = 0;
	struct err e;
	json_t *o, *out;
	int ret = MHD_NO;

	err_clear(&e);
	if (!(o = body_object(r, &ret)))
		return ret;
	if (!opt_string(r, o, "user", &user, &ret) ||
	    !opt_string(r, o, "expires", &expires, &ret))
		goto out;
	if (!user) {
		ret = srv__respond_error(r, 400, "invalid_request_error",
					 "invalid_request", "user", "'user' is required");
		goto out;
	}
	if (expires && (parse_duration_ms(expires, &ttl) != ST_OK || ttl <= 0)) {
		ret = srv__respond_error(r, 400, "invalid_request_error",
					 "invalid_request", "expires",
					 "'expires' must be a duration such as 30d, 12h or 90m");
		goto out;
	}
	if (srv_token_create(r->s->store, user, ttl, text, &id, &e)) {
		ret = srv__respond_err(r, &e, "user");
		goto out;
	}
	LOG_INFO("server.admin.token_create", LF_STR("id", r->id),
		 LF_STR("by", r->who.user), LF_STR("user", user), LF_INT("token_id", id));
	{
		char target[96];
		snprintf(target, sizeof target, "token %lld of %.63s", (long long)id, user);
		srv__audit_admin(r->s, r->who.user, "token.create", target);
	}
	out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "user", user,
			"token", text);
	memset(text, 0, sizeof text);
	ret = out ? srv__respond_json(r, 201, out) : MHD_NO;
	json_decref(out);
out:
	json_decref(o);
	return ret;
}

int srv__h_admin_token_revoke(struct srv_rctx *r)
{
	int64_t id;
	struct err e;
	json_t *out;
	int ret;

	err_clear(&e);
	if (parse_i64(r->arg, 1, INT64_MAX, &id) != ST_OK)
		return srv__respond_error(r, 400, "invalid_request_error",
					  "invalid_request", NULL,
					  "the token id in the path must be a positive integer");
	if (srv_token_revoke(r->s->store, id, &e))
		return srv__respond_err(r, &e, NULL);
	LOG_INFO("server.admin.token_revoke", LF_STR("id", r->id),
		 LF_STR("by", r->who.user), LF_INT("token_id", id));
	{
		char target[32];
		snprintf(target, sizeof target, "token %lld", (long long)id);
		srv__audit_admin(r->s, r->who.user, "token.revoke", target);
	}
	out = json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", 1);
	ret = out ? srv__respond_json(r, 200, out) : MHD_NO;
	json_decref(out);
	return ret;
}
