/*
 * srv_http.c - the HTTP side: libmicrohttpd in thread-per-connection mode,
 * request bodies with a size limit, routing, bearer authentication, the
 * small endpoints (health, readiness, models, status) and the server's life
 * cycle.
 *
 * Thread per connection because a completion holds its connection for the
 * whole generation and mostly waits on the scheduler: a blocking wait on a
 * condition variable in the connection's own thread is the simplest correct
 * shape, and MHD_OPTION_CONNECTION_LIMIT bounds the threads. The model work
 * itself happens on the one scheduler thread, not on connection threads.
 */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

/* Per connection, across the access handler's calls. */
struct conn {
	struct buf body;
	int too_big;
	int started;
};

/* ------------------------------------------------------------------ */
/* Routing                                                             */
/* ------------------------------------------------------------------ */

static int h_healthz(struct srv_rctx *r);
static int h_readyz(struct srv_rctx *r);
static int h_models(struct srv_rctx *r);
static int h_model_one(struct srv_rctx *r);
static int h_status(struct srv_rctx *r);

static const struct srv_route routes[] = {
	{ "GET", "/healthz", 0, SRV_AUTH_NONE, h_healthz },
	{ "GET", "/readyz", 0, SRV_AUTH_NONE, h_readyz },
	{ "GET", "/v1/models", 0, SRV_AUTH_USER, h_models },
	{ "GET", "/v1/models/", 1, SRV_AUTH_USER, h_model_one },
	{ "POST", "/v1/completions", 0, SRV_AUTH_USER, srv__h_completions },
	{ "POST", "/v1/chat/completions", 0, SRV_AUTH_USER, srv__h_chat },
	{ "POST", "/infill", 0, SRV_AUTH_USER, srv__h_infill },
	{ "GET", "/v1/status", 0, SRV_AUTH_USER, h_status },
	{ "GET", "/metrics", 0, SRV_AUTH_USER, srv__h_metrics },
	{ "POST", "/v1/events", 0, SRV_AUTH_USER, srv__h_events },
	{ "POST", "/v1/context", 0, SRV_AUTH_USER, srv__h_context },
	{ "POST", "/v1/policy/check", 0, SRV_AUTH_USER, srv__h_policy_check },
	{ "GET", "/v1/admin/users", 0, SRV_AUTH_ADMIN, srv__h_admin_users },
	{ "POST", "/v1/admin/users", 0, SRV_AUTH_ADMIN, srv__h_admin_user_add },
	{ "GET", "/v1/admin/teams", 0, SRV_AUTH_ADMIN, srv__h_admin_teams },
	{ "POST", "/v1/admin/teams", 0, SRV_AUTH_ADMIN, srv__h_admin_team_add },
	{ "GET", "/v1/admin/tokens", 0, SRV_AUTH_ADMIN, srv__h_admin_tokens },
	{ "POST", "/v1/admin/tokens", 0, SRV_AUTH_ADMIN, srv__h_admin_token_create },
	{ "DELETE", "/v1/admin/tokens/", 1, SRV_AUTH_ADMIN, srv__h_admin_token_revoke },
	{ "GET", "/v1/admin/audit/verify", 0, SRV_AUTH_ADMIN, srv__h_audit_verify },
	{ "GET", "/v1/admin/audit/records", 0, SRV_AUTH_ADMIN, srv__h_audit_records },
	{ "GET", "/v1/admin/audit/proof/", 1, SRV_AUTH_ADMIN, srv__h_audit_proof },
	{ "GET", "/v1/admin/audit/consistency", 0, SRV_AUTH_ADMIN, srv__h_audit_consistency },
	{ "GET", "/v1/admin/audit/checkpoint", 0, SRV_AUTH_ADMIN, srv__h_audit_checkpoint },
	{ "POST", "/v1/admin/policy/reload", 0, SRV_AUTH_ADMIN, srv__h_policy_reload },
};

const struct srv_route *srv__route_find(const char *method, const char *path,
					unsigned *status)
{
	int path_known = 0;

	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const struct srv_route *rt = &routes[i];
		size_t n = strlen(rt->path);
		int match = rt->prefix ?
			strncmp(path, rt->path, n) == 0 && path[n] && !strchr(path + n, '/') :
			strcmp(path, rt->path) == 0;
		if (!match)
			continue;
		path_known = 1;
		if (strcmp(method, rt->method) == 0)
			return rt;
	}
	*status = path_known ? 405 : 404;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

int srv__respond(struct srv_rctx *r, unsigned status, const char *ctype,
		 const char *body, size_t len)
{
	struct MHD_Response *resp;
	int ret;

	r->status = status;
	if (!r->c)
		return MHD_YES;
	resp = MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	if (r->retry_after > 0) {
		char ra[24];
		snprintf(ra, sizeof ra, "%d", r->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	ret = MHD_queue_response(r->c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int srv__respond_json(struct srv_rctx *r, unsigned status, const json_t *j)
{
	struct buf b;
	int ret;

	buf_init(&b, 0);
	if (srv__json_append(&b, j) != ST_OK || buf_putc(&b, '\n') != ST_OK) {
		buf_release(&b);
		return srv__respond(r, 500, "application/json",
				    "{\"error\":{\"message\":\"out of memory\","
				    "\"type\":\"server_error\",\"param\":null,"
				    "\"code\":null}}\n", 88);
	}
	ret = srv__respond(r, status, "application/json", b.data, b.len);
	buf_release(&b);
	return ret;
}

int srv__respond_error(struct srv_rctx *r, unsigned status, const char *type,
		       const char *code, const char *param, const char *message)
{
	struct buf b;
	int ret;

	buf_init(&b, 0);
	if (srv__error_json(&b, message, type, param, code) != ST_OK ||
	    buf_putc(&b, '\n') != ST_OK) {
		buf_release(&b);
		return MHD_NO;
	}
	ret = srv__respond(r, status, "application/json", b.data, b.len);
	buf_release(&b);
	LOG_INFO("server.error", LF_STR("id", r->id), LF_INT("status", status),
		 LF_STR("code", code ? code : ""));
	return ret;
}

int srv__respond_err(struct srv_rctx *r, const struct err *e, const char *param)
{
	const char *msg = e->msg[0] ? e->msg : status_str(e->st);

	switch (e->st) {
	case ST_INVAL: case ST_CORRUPT:
		return srv__respond_error(r, 400, "invalid_request_error",
					  "invalid_request", param, msg);
	case ST_LIMIT:
		return srv__respond_error(r, 400, "invalid_request_error",
					  "context_length_exceeded", param, msg);
	case ST_UNSUPPORTED:
		return srv__respond_error(r, 400, "invalid_request_error",
					  "unsupported", param, msg);
	case ST_NOTFOUND:
		return srv__respond_error(r, 404, "invalid_request_error",
					  "not_found", param, msg);
	case ST_EXISTS:
		return srv__respond_error(r, 409, "invalid_request_error",
					  "already_exists", param, msg);
	case ST_AUTH:
		return srv__respond_error(r, 401, "invalid_request_error",
					  "invalid_api_key", NULL, msg);
	case ST_PERM: case ST_DENIED:
		return srv__respond_error(r, 403, "permission_error",
					  "forbidden", NULL, msg);
	case ST_TIMEOUT:
		return srv__respond_error(r, 504, "server_error", "timeout",
					  NULL, msg);
	case ST_BUSY:
		return srv__respond_error(r, 429, "rate_limit_error",
					  "rate_limit_exceeded", NULL, msg);
	case ST_CANCELLED:
		return srv__respond_error(r, 503, "server_error", "shutting_down",
					  NULL, msg);
	default:
		return srv__respond_error(r, 500, "server_error", "internal_error",
					  NULL, msg);
	}
}

int srv__client_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	struct pollfd p;

	if (!c)
		return 0;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return 0;
	p.fd = ci->connect_fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* ------------------------------------------------------------------ */
/* Small endpoints                                                     */
/* ------------------------------------------------------------------ */

static int h_healthz(struct srv_rctx *r)
{
	static const char ok[] = "{\"status\":\"ok\"}\n";

	return srv__respond(r, 200, "application/json", ok, sizeof ok - 1);
}

static int h_readyz(struct srv_rctx *r)
{
	int ready = (r->s->b && r->s->sched) || srv__index_model(r->s);
	json_t *j;
	int ret;

	if (ready)
		j = json_pack("{s:s, s:s, s:s}", "status", "ready", "model",
			      r->s->b ? r->s->b->model_id : "airlock-index", "store", "open");
	else
		j = json_pack("{s:s, s:s}", "status", "not ready", "reason",
			      !r->s->store ? "store not open" : "no model loaded");
	if (!j)
		return MHD_NO;
	ret = srv__respond_json(r, ready ? 200 : 503, j);
	json_decref(j);
	return ret;
}

static int h_models(struct srv_rctx *r)
{
	json_t *j = json_pack("{s:s, s:[]}", "object", "list", "data");
	int ret;

	if (!j)
		return MHD_NO;
	if (r->s->b) {
		json_t *m = json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:i, s:i, s:i}}",
				      "id", r->s->b->model_id, "object", "model",
				      "created", (json_int_t)r->s->created,
				      "owned_by", "airlock", "meta", "kind",
				      r->s->b->kind, "n_ctx", (int)r->s->b->n_ctx,
				      "n_vocab", (int)r->s->b->n_vocab, "slots",
				      r->s->b->n_slots);
		if (m)
			json_array_append_new(json_object_get(j, "data"), m);
	} else if (srv__index_model(r->s)) {
		/* Said plainly: not a neural model, continuations of indexed code. */
		json_t *m = json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:I, s:s}}",
				      "id", "airlock-index", "object", "model",
				      "created", (json_int_t)r->s->created,
				      "owned_by", "airlock", "meta", "kind", "index-ngram",
				      "corpus_bytes", (json_int_t)srv__index_size(r->s),
				      "description", "continuations found in the indexed code"
				      " (no model file loaded)");
		if (m)
			json_array_append_new(json_object_get(j, "data"), m);
	}
	ret = srv__respond_json(r, 200, j);
	json_decref(j);
	return ret;
}

/* GET /v1/models/{id}: the model object, as OpenAI's retrieve. */
static int h_model_one(struct srv_rctx *r)
{
	json_t *all, *m = NULL;
	size_t i;
	int ret;

	all = json_pack("{s:s, s:[]}", "object", "list", "data");
	if (!all)
		return MHD_NO;
	if (r->s->b)
		json_array_append_new(json_object_get(all, "data"),
				      json_pack("{s:s, s:s, s:I, s:s}", "id", r->s->b->model_id,
						"object", "model", "created",
						(json_int_t)r->s->created, "owned_by", "airlock"));
	else if (srv__index_model(r->s))
		json_array_append_new(json_object_get(all, "data"),
				      json_pack("{s:s, s:s, s:I, s:s}", "id", "airlock-index",
						"object", "model", "created",
						(json_int_t)r->s->created, "owned_by", "airlock"));
	json_array_foreach(json_object_get(all, "data"), i, m) {
		if (strcmp(json_string_value(json_object_get(m, "id")), r->arg) == 0)
			break;
		m = NULL;
	}
	if (m)
		ret = srv__respond_json(r, 200, m);
	else {
		char msg[200];
		snprintf(msg, sizeof msg, "no model '%.100s' here", r->arg);
		ret = srv__respond_error(r, 404, "invalid_request_error", "model_not_found",
					 "model", msg);
	}
	json_decref(all);
	return ret;
}

static int h_status(struct srv_rctx *r)
{
	struct srv_stats st;
	struct srv_slot_info slots[64];
	json_t *j, *arr;
	int n = 0, ret;

	srv_stats_get(r->s, &st);
	if (r->s->sched)
		n = srv__sched_slots(r->s->sched, slots, 64);
	if (n > 64)
		n = 64;
	arr = json_array();
	for (int i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:i, s:b, s:i}", "slot", i,
						     "busy", slots[i].busy,
						     "cached_tokens", (int)slots[i].n_cached));
	j = json_pack("{s:s?, s:I, s:{s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
		      "model", r->s->b ? r->s->b->model_id : NULL,
		      "uptime_s", (json_int_t)((time_mono_ns() - r->s->t_start_ns) / 1000000000ull),
		      "scheduler",
		      "slots_total", st.slots_total, "slots_busy", st.slots_busy,
		      "queued", st.queued,
		      "requests_done", (json_int_t)st.requests_done,
		      "requests_cancelled", (json_int_t)st.requests_cancelled,
		      "requests_rejected", (json_int_t)st.requests_rejected,
		      "prompt_tokens", (json_int_t)st.prompt_tokens,
		      "prompt_tokens_cached", (json_int_t)st.prompt_tokens_cached,
		      "generated_tokens", (json_int_t)st.generated_tokens,
		      "steps", (json_int_t)st.steps,
		      "slots", arr ? arr : json_array());
	if (!j)
		return MHD_NO;
	ret = srv__respond_json(r, 200, j);
	json_decref(j);
	return ret;
}

void srv_set_observer(struct srv *s, srv_observer_fn fn, void *ctx)
{
	s->observer = fn;
	s->observer_ctx = ctx;
}

void srv__observe(struct srv *s, struct srv_request_record *rec)
{
	if (!rec->model)
		rec->model = "";
	if (!rec->finish)
		rec->finish = "";
	srv__telemetry_record(s, rec);
	if (s->observer)
		s->observer(s->observer_ctx, rec);
}

void srv_stats_get(struct srv *s, struct srv_stats *out)
{
	memset(out, 0, sizeof *out);
	if (s && s->sched)
		srv__sched_stats(s->sched, out);
}

/* ------------------------------------------------------------------ */
/* The access handler                                                  */
/* ------------------------------------------------------------------ */

static void request_id(char out[40])
{
	uint8_t raw[12];
	char hex[25];

	if (random_bytes(raw, sizeof raw) != ST_OK)
		memset(raw, 0, sizeof raw);
	hex_encode(raw, sizeof raw, hex);
	snprintf(out, 40, "req_%s", hex);
}

/* Authenticates r; on failure queues the 401/403 and returns 0. */
static int authenticate(struct srv_rctx *r, enum srv_auth_level need, int *ret)
{
	const char *h = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	struct err e;

	err_clear(&e);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		*ret = srv__respond_error(r, 401, "invalid_request_error",
					  "invalid_api_key", NULL,
					  "missing bearer token: send 'Authorization: Bearer <token>'"
					  " (create one with `airlock token create`)");
		return 0;
	}
	h += 7;
	while (*h == ' ')
		h++;
	if (srv_store_authenticate(r->s->store, h, 0, &r->who, &e) != ST_OK) {
		*ret = srv__respond_err(r, &e, NULL);
		return 0;
	}
	if (need == SRV_AUTH_ADMIN && r->who.role != SRV_ROLE_ADMIN) {
		*ret = srv__respond_error(r, 403, "permission_error", "forbidden",
					  NULL, "this route needs the admin role");
		return 0;
	}
	return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct srv *s = cls;
	struct conn *cn = *con_cls;
	struct srv_rctx r;
	const struct srv_route *rt;
	unsigned status = 0;
	int ret;

	(void)version;
	if (!cn) {
		const char *cl;
		if (!(cn = mem_calloc(1, sizeof *cn)))
			return MHD_NO;
		buf_init(&cn->body, s->o.max_body + 1);
		*con_cls = cn;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			int64_t n;
			if (parse_i64(cl, 0, INT64_MAX, &n) == ST_OK &&
			    (uint64_t)n > s->o.max_body)
				cn->too_big = 1;
		}
		if (!cn->too_big)
			return MHD_YES;
	}
	if (*upload_size) {
		if (cn->body.len + *upload_size > s->o.max_body ||
		    buf_append(&cn->body, upload, *upload_size) != ST_OK) {
			/*
			 * A body without Content-Length (chunked) that passes the
			 * limit: libmicrohttpd cannot answer in the middle of an
			 * upload, and reading on would let a client stream
			 * forever. Close the connection.
			 */
			LOG_WARN("server.body_too_large", LF_STR("path", url),
				 LF_INT("limit", s->o.max_body));
			return MHD_NO;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (cn->started)
		return MHD_YES;
	cn->started = 1;

	memset(&r, 0, sizeof r);
	r.s = s;
	r.c = c;
	r.method = method;
	r.path = url;
	r.arg = "";
	r.body = buf_cstr(&cn->body);
	r.body_len = cn->body.len;
	r.t_start_ns = time_mono_ns();
	request_id(r.id);

	if (cn->too_big) {
		char msg[128];
		snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes",
			 s->o.max_body);
		ret = srv__respond_error(&r, 413, "invalid_request_error",
					 "request_too_large", NULL, msg);
		goto done;
	}
	rt = srv__route_find(method, url, &status);
	if (!rt) {
		char msg[160];
		snprintf(msg, sizeof msg, status == 404 ? "unknown route %.100s" :
			 "method %.10s is not allowed here", status == 404 ? url : method);
		ret = srv__respond_error(&r, status, "invalid_request_error",
					 status == 404 ? "unknown_url" : "method_not_allowed",
					 NULL, msg);
		goto done;
	}
	if (rt->prefix)
		r.arg = url + strlen(rt->path);
	if (rt->auth != SRV_AUTH_NONE && !authenticate(&r, rt->auth, &ret))
		goto done;
	ret = rt->fn(&r);
done:
	if (!r.record_deferred) {
		r.rec.id = r.id;
		r.rec.method = method;
		r.rec.path = url;
		r.rec.status = r.status;
		r.rec.who = &r.who;
		r.rec.total_ms = (double)(time_mono_ns() - r.t_start_ns) / 1e6;
		srv__observe(s, &r.rec);
	}
	LOG_INFO("server.request", LF_STR("id", r.id), LF_STR("method", method),
		 LF_STR("path", url), LF_INT("status", r.status),
		 LF_STR("user", r.who.user), LF_STR("team", r.who.team),
		 LF_INT("ms", (time_mono_ns() - r.t_start_ns) / 1000000));
	return ret == MHD_YES ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	(void)cls; (void)c; (void)toe;
	if (cn) {
		buf_release(&cn->body);
		mem_free(cn);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	LOG_WARN("server.http", LF_STR("msg", msg));
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

void srv_options_default(struct srv_options *o)
{
	memset(o, 0, sizeof *o);
	o->listen = "127.0.0.1:8080";
	o->max_body = 4u << 20;
	o->request_timeout_ms = 120000;
	o->queue_size = 64;
	o->batch_tokens = 512;
	o->prompt_cache = 1;
	o->max_connections = 256;
	o->idle_timeout_s = 30;
	o->max_tokens_default = 256;
}

void srv_options_from_config(struct srv_options *o, const struct config *c)
{
	srv_options_default(o);
	o->listen = config_str(c, "server.listen");
	o->tls_cert = config_str(c, "server.tls_cert");
	o->tls_key = config_str(c, "server.tls_key");
	o->max_body = (size_t)config_int(c, "server.max_body");
	o->request_timeout_ms = config_int(c, "server.request_timeout");
	o->queue_size = (int)config_int(c, "server.queue_size");
	o->batch_tokens = (int)config_int(c, "server.batch_tokens");
	o->prompt_cache = config_bool(c, "server.prompt_cache");
	o->team_max_concurrent = config_int(c, "server.team_max_concurrent");
	o->team_tokens_per_minute = config_int(c, "server.team_tokens_per_minute");
	o->max_connections = (int)config_int(c, "server.max_connections");
	o->idle_timeout_s = (int)(config_int(c, "server.idle_timeout") / 1000);
	o->max_tokens_default = (int)config_int(c, "server.max_tokens");
	o->threads = (int)config_int(c, "server.threads");
}

/* Parses "a.b.c.d:port", "[v6]:port" or "localhost:port" (no DNS). */
static status_t parse_listen(const char *s, struct sockaddr_storage *ss,
			     int *v6, struct err *e)
{
	char host[128];
	const char *colon, *h = s;
	size_t hl;
	int64_t port;

	memset(ss, 0, sizeof *ss);
	*v6 = 0;
	if (!s || !*s)
		return err_set(e, ST_CONFIG, "server.listen is empty");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return err_set(e, ST_CONFIG, "server.listen '%s': expected [v6-address]:port", s);
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
		*v6 = 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return err_set(e, ST_CONFIG, "server.listen '%s': expected address:port", s);
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof host)
		return err_set(e, ST_CONFIG, "server.listen '%s': address too long", s);
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (parse_i64(colon + 1, 0, 65535, &port) != ST_OK)
		return err_set(e, ST_CONFIG, "server.listen '%s': bad port", s);
	if (strcmp(host, "localhost") == 0 || hl == 0)
		str_copy(host, "127.0.0.1", sizeof host);
	if (*v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return err_set(e, ST_CONFIG, "server.listen '%s': not an IPv6 address", s);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return err_set(e, ST_CONFIG,
				       "server.listen '%s': not an IPv4 address (names are not resolved)", s);
	}
	return ST_OK;
}

status_t srv_new(const struct srv_options *o, struct srv_store *store,
		 struct srv_backend *backend, struct srv **out, struct err *e)
{
	struct srv *s;

	*out = NULL;
	if (!store)
		return err_set(e, ST_INVAL, "server: no identity store");
	if (!(s = mem_calloc(1, sizeof *s)))
		return err_set(e, ST_NOMEM, "out of memory");
	s->o = *o;
	if (s->o.max_body < 1024)
		s->o.max_body = 1024;
	if (s->o.max_tokens_default < 1)
		s->o.max_tokens_default = 256;
	if (s->o.max_connections < 1)
		s->o.max_connections = 256;
	if (s->o.idle_timeout_s < 1)
		s->o.idle_timeout_s = 30;
	s->store = store;
	s->b = backend;
	s->listen_fd = -1;
	s->created = (int64_t)(time_wall_ns() / 1000000000ull);
	s->t_start_ns = time_mono_ns();
	*out = s;
	return ST_OK;
}

status_t srv_bind(struct srv *s, struct err *e)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int v6, fd, one = 1;
	status_t st;

	if (s->listen_fd >= 0)
		return ST_OK;
	if ((st = parse_listen(s->o.listen, &ss, &v6, e)))
		return st;
	if (s->o.tls_cert && *s->o.tls_cert) {
		if (!s->o.tls_key || !*s->o.tls_key)
			return err_set(e, ST_CONFIG, "server.tls_cert is set but server.tls_key is not");
		if ((st = file_read_all(s->o.tls_cert, 1 << 20, &s->tls_cert_pem, NULL, e)) ||
		    (st = file_read_all(s->o.tls_key, 1 << 20, &s->tls_key_pem, NULL, e)))
			return st == ST_NOMEM ? st : err_set(e, ST_CONFIG, "TLS: %s", e ? e->msg : "");
	} else if (s->o.tls_key && *s->o.tls_key) {
		return err_set(e, ST_CONFIG, "server.tls_key is set but server.tls_cert is not");
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(e, ST_IO, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
		st = err_set(e, ST_IO, "cannot listen on %s: %s", s->o.listen, strerror(errno));
		close(fd);
		return st;
	}
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
				((struct sockaddr_in *)&ss)->sin_port);
	s->listen_fd = fd;
	s->listen_v6 = v6;
	return ST_OK;
}

status_t srv_start(struct srv *s, struct err *e)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	status_t st;

	if (s->d)
		return ST_OK;
	if ((st = srv_bind(s, e)))
		return st;
	if (s->listen_v6)
		flags |= MHD_USE_IPv6;
	if (s->tls_cert_pem)
		flags |= MHD_USE_TLS;
	if (s->b && !s->sched) {
		struct srv_sched_opts so = {
			.threads = s->o.threads,
			.queue_size = s->o.queue_size,
			.batch_tokens = s->o.batch_tokens,
			.prompt_cache = s->o.prompt_cache,
			.team_max_concurrent = s->o.team_max_concurrent,
			.team_tokens_per_minute = s->o.team_tokens_per_minute,
		};
		if ((st = srv__sched_new(s->b, &so, &s->sched, e)))
			return st;
	}
	/* The socket bound by srv_bind: binding needs no permission now. */
	if (flags & MHD_USE_TLS)
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
					MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
					MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
					MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
					MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.idle_timeout_s,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert_pem,
					MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem,
					MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
					MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
					MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
					MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
					MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.idle_timeout_s,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					MHD_OPTION_END);
	if (!s->d)
		return err_set(e, ST_IO, "cannot serve on %s (bad TLS certificate or key?)",
			       s->o.listen);
	/* libmicrohttpd owns the socket now and closes it when stopped. */
	s->listen_fd = -1;
	LOG_INFO("server.listen", LF_STR("addr", s->o.listen), LF_INT("port", s->port),
		 LF_BOOL("tls", (flags & MHD_USE_TLS) != 0),
		 LF_STR("model", s->b ? s->b->model_id : "(none)"));
	return ST_OK;
}

int srv_port(const struct srv *s)
{
	return s && (s->d || s->listen_fd >= 0) ? s->port : 0;
}

void srv_stop(struct srv *s)
{
	if (!s)
		return;
	/* The scheduler first: failing every job ends every wait of a
	 * connection thread, so that stopping the daemon can join them; the
	 * scheduler object outlives those threads. */
	srv__sched_stop(s->sched);
	if (s->d) {
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
	srv__sched_free(s->sched);
	s->sched = NULL;
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		s->listen_fd = -1;
	}
}

void srv_free(struct srv *s)
{
	if (!s)
		return;
	srv_stop(s);
	mem_free(s->tls_cert_pem);
	mem_free(s->tls_key_pem);
	if (s->ctx_mu_init)
		pthread_mutex_destroy(&s->ctx_mu);
	mem_free(s);
}

void srv_backend_release(struct srv_backend *b)
{
	if (!b)
		return;
	if (b->ops && b->ops->free)
		b->ops->free(b->impl);
	memset(b, 0, sizeof *b);
}
