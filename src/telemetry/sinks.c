/*
 * sinks.c - export of usage events, off unless the operator names a sink:
 *
 *   jsonl   appends one JSON object per line to a file (0600)
 *   syslog  sends "<14>airlock[pid]: {json}" datagrams to a Unix socket
 *   http    OTLP/JSON logs POSTed to a collector on egress.allow, from a
 *           background queue (http_sink.c)
 *
 * Nothing here resolves names; the only IP socket is the http sink's,
 * to the one allowlisted address.
 */
#include "telemetry/telemetry_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

struct tel_sinks {
	pthread_mutex_t mu;
	int jsonl_fd;		/* -1: off */
	int syslog_fd;		/* -1: off */
	char jsonl_path[4096];
	char syslog_path[108];
	struct tel__http *http;	/* NULL: off; has its own lock */
};

void tel_sinks_close(struct tel_sinks *s)
{
	if (!s)
		return;
	tel__http_free(s->http);
	if (s->jsonl_fd >= 0)
		close(s->jsonl_fd);
	if (s->syslog_fd >= 0)
		close(s->syslog_fd);
	pthread_mutex_destroy(&s->mu);
	mem_free(s);
}

/* A literal IPv4 address (four decimal parts), an IPv6 literal, or localhost. */
static int host_literal(const char *h, int v6)
{
	unsigned char buf[16];

	if (v6)
		return inet_pton(AF_INET6, h, buf) == 1;
	return strcmp(h, "localhost") == 0 || inet_pton(AF_INET, h, buf) == 1;
}

status_t tel_url_split(const char *url, char *host, size_t host_n, int *port, struct err *e)
{
	const char *p, *end, *colon;
	char num[8];
	size_t hl, n;
	int64_t v;
	int v6 = 0;

	if (url && strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (url && strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return err_set(e, ST_INVAL, "telemetry http sink: '%s' is not an http(s) URL",
			       url ? url : "");
	end = p + strcspn(p, "/?#");
	n = (size_t)(end - p);
	if (memchr(p, '@', n))
		return err_set(e, ST_INVAL, "telemetry http sink: '%s' holds credentials", url);
	if (n && p[0] == '[') {
		const char *rb = memchr(p, ']', n);
		if (!rb || rb + 1 >= end || rb[1] != ':')
			return err_set(e, ST_INVAL, "telemetry http sink: '%s' must name [address]:port",
				       url);
		v6 = 1;
		hl = (size_t)(rb - p - 1);
		colon = rb + 1;
		p++;
	} else {
		colon = memchr(p, ':', n);
		if (!colon)
			return err_set(e, ST_INVAL,
				       "telemetry http sink: '%s' must name host:port explicitly", url);
		hl = (size_t)(colon - p);
	}
	if (hl == 0 || hl >= host_n || (size_t)(end - colon - 1) >= sizeof num ||
	    end == colon + 1)
		return err_set(e, ST_INVAL, "telemetry http sink: bad host or port in '%s'", url);
	memcpy(host, p, hl);
	host[hl] = '\0';
	memcpy(num, colon + 1, (size_t)(end - colon - 1));
	num[end - colon - 1] = '\0';
	if (parse_i64(num, 1, 65535, &v) != ST_OK)
		return err_set(e, ST_INVAL, "telemetry http sink: bad port in '%s'", url);
	if (!host_literal(host, v6))
		return err_set(e, ST_INVAL,
			       "telemetry http sink: '%s' is a host name; name the address "
			       "(resolving it would itself leave the machine)", host);
	*port = (int)v;
	return ST_OK;
}

status_t tel_egress_check(const char *url, const char *const *allow, size_t n_allow,
			  struct err *e)
{
	char host[256], hostport[300];
	int port;
	status_t st;

	if ((st = tel_url_split(url, host, sizeof host, &port, e)) != ST_OK)
		return st;
	snprintf(hostport, sizeof hostport, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	for (size_t i = 0; i < n_allow; i++)
		if (allow[i] && strcmp(allow[i], hostport) == 0)
			return ST_OK;
	return err_set(e, ST_DENIED,
		       "telemetry http sink: %s is not in egress.allow; add it there to allow "
		       "export", hostport);
}

status_t tel_sinks_open(const struct tel_sink_options *o, struct tel_sinks **out,
			struct err *e)
{
	struct tel_sinks *s;
	status_t st = ST_OK;

	*out = NULL;
	if (!o || o->n_names == 0)
		return ST_OK;
	s = mem_calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ST_NOMEM, "telemetry sinks: out of memory");
	s->jsonl_fd = s->syslog_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	for (size_t i = 0; i < o->n_names && st == ST_OK; i++) {
		const char *name = o->names[i];

		if (strcmp(name, "jsonl") == 0) {
			if (!o->jsonl_path || !*o->jsonl_path) {
				st = err_set(e, ST_CONFIG, "telemetry jsonl sink: no file given "
					     "(telemetry.jsonl_path)");
				break;
			}
			str_copy(s->jsonl_path, o->jsonl_path, sizeof s->jsonl_path);
			s->jsonl_fd = open(o->jsonl_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
					   0600);
			if (s->jsonl_fd < 0)
				st = err_set(e, errno == EACCES ? ST_PERM : ST_IO,
					     "telemetry jsonl sink: %s: %s", o->jsonl_path,
					     strerror(errno));
		} else if (strcmp(name, "syslog") == 0) {
			struct sockaddr_un sa;
			const char *path = o->syslog_socket && *o->syslog_socket ? o->syslog_socket :
					   "/dev/log";

			memset(&sa, 0, sizeof sa);
			sa.sun_family = AF_UNIX;
			if (strlen(path) >= sizeof sa.sun_path) {
				st = err_set(e, ST_CONFIG, "telemetry syslog sink: socket path too long");
				break;
			}
			str_copy(sa.sun_path, path, sizeof sa.sun_path);
			str_copy(s->syslog_path, path, sizeof s->syslog_path);
			s->syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (s->syslog_fd < 0 ||
			    connect(s->syslog_fd, (struct sockaddr *)&sa, sizeof sa) != 0)
				st = err_set(e, ST_IO, "telemetry syslog sink: %s: %s", path,
					     strerror(errno));
		} else if (strcmp(name, "http") == 0) {
			struct tel__http_options ho = {
				.queue = o->http_queue, .batch = o->http_batch,
				.flush_ms = o->http_flush_ms, .timeout_ms = o->http_timeout_ms,
				.backoff_ms = o->http_backoff_ms, .close_ms = o->http_close_ms,
			};

			if (s->http) {
				st = err_set(e, ST_CONFIG, "telemetry.sinks: 'http' named twice");
				break;
			}
			st = tel__http_new(o->http_url, &ho, o->egress_check, o->egress_arg,
					   o->egress_allow, o->n_allow, &s->http, e);
		} else {
			st = err_set(e, ST_CONFIG,
				     "telemetry.sinks: unknown sink '%s' (jsonl, syslog, http)", name);
		}
	}
	if (st != ST_OK) {
		tel_sinks_close(s);
		return st;
	}
	*out = s;
	return ST_OK;
}

status_t tel_sinks_open_config(const struct config *cfg, const char *data_dir,
			       tel_egress_fn check, void *arg, struct tel_sinks **out,
			       struct err *e)
{
	struct tel_sink_options o;
	const char *names[8], *allow[64];
	char jsonl[4300];
	status_t st;

	memset(&o, 0, sizeof o);
	o.n_names = config_list_len(cfg, "telemetry.sinks");
	if (o.n_names > 8)
		return err_set(e, ST_CONFIG, "telemetry.sinks: too many sinks");
	for (size_t i = 0; i < o.n_names; i++)
		names[i] = config_list_item(cfg, "telemetry.sinks", i);
	o.names = names;
	o.n_allow = config_list_len(cfg, "egress.allow");
	if (o.n_allow > 64)
		o.n_allow = 64;
	for (size_t i = 0; i < o.n_allow; i++)
		allow[i] = config_list_item(cfg, "egress.allow", i);
	o.egress_allow = allow;
	if (config_str(cfg, "telemetry.jsonl_path")[0]) {
		str_copy(jsonl, config_str(cfg, "telemetry.jsonl_path"), sizeof jsonl);
	} else {
		char dir[4200];
		snprintf(dir, sizeof dir, "%s/telemetry", data_dir);
		if (o.n_names && (st = file_mkdirs(dir, 0700, e)) != ST_OK)
			return st;
		snprintf(jsonl, sizeof jsonl, "%s/events.jsonl", dir);
	}
	o.jsonl_path = jsonl;
	o.syslog_socket = config_str(cfg, "telemetry.syslog_socket");
	o.http_url = config_str(cfg, "telemetry.http_url");
	o.http_queue = (size_t)config_int(cfg, "telemetry.http_queue");
	o.http_batch = (size_t)config_int(cfg, "telemetry.http_batch");
	o.http_flush_ms = config_int(cfg, "telemetry.http_flush_interval");
	o.http_timeout_ms = config_int(cfg, "telemetry.http_timeout");
	o.http_close_ms = config_int(cfg, "telemetry.http_close_wait");
	o.egress_check = check;
	o.egress_arg = arg;
	return tel_sinks_open(&o, out, e);
}

status_t tel_sinks_emit(struct tel_sinks *s, const char *json, size_t n, struct err *e)
{
	status_t st = ST_OK;

	if (!s)
		return ST_OK;
	if (s->http && tel__http_enqueue(s->http, json, n, e) != ST_OK)
		st = ST_IO;
	pthread_mutex_lock(&s->mu);
	if (s->jsonl_fd >= 0) {
		/* One write per line: O_APPEND keeps concurrent lines whole. */
		char *line = mem_alloc(n + 1);
		if (!line) {
			st = err_set(e, ST_NOMEM, "telemetry jsonl sink: out of memory");
		} else {
			memcpy(line, json, n);
			line[n] = '\n';
			if (file_write_full(s->jsonl_fd, line, n + 1) != ST_OK)
				st = err_set(e, ST_IO, "telemetry jsonl sink: %s: %s", s->jsonl_path,
					     strerror(errno));
			mem_free(line);
		}
	}
	if (s->syslog_fd >= 0) {
		struct buf m;

		buf_init(&m, 1 << 16);
		if (buf_printf(&m, "<14>airlock[%ld]: ", (long)getpid()) != ST_OK ||
		    buf_append(&m, json, n) != ST_OK) {
			st = err_set(e, ST_LIMIT, "telemetry syslog sink: event too large");
		} else if (send(s->syslog_fd, m.data, m.len, MSG_NOSIGNAL) < 0) {
			st = err_set(e, ST_IO, "telemetry syslog sink: %s: %s", s->syslog_path,
				     strerror(errno));
		}
		buf_release(&m);
	}
	pthread_mutex_unlock(&s->mu);
	return st;
}

void tel_sinks_stats(struct tel_sinks *s, struct tel_sink_stats *out)
{
	memset(out, 0, sizeof *out);
	if (s && s->http)
		tel__http_stats(s->http, out);
}

status_t tel_sinks_metrics_register(struct tel_sinks *s, struct tel_registry *r,
				    struct err *e)
{
	if (!s || !s->http || !r)
		return ST_OK;
	return tel__http_metrics(s->http, r, e);
}
