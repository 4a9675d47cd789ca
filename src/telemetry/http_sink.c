/*
 * http_sink.c - the http export sink: usage events POSTed as OTLP/JSON
 * logs (ExportLogsServiceRequest) to a collector the operator named and
 * put on egress.allow.
 *
 * The request path only queues: tel__http_enqueue copies the event into a
 * bounded ring under a mutex and returns. One sender thread takes batches
 * (http_batch records, or whatever is queued once the oldest has waited
 * http_flush_ms), builds the body and POSTs it over a plain TCP socket
 * with its own minimal HTTP/1.1 client: one connection per POST
 * ("Connection: close", so no idle socket lingers towards the collector),
 * every step under one deadline, and the egress decision asked again
 * before every connect. A failed POST (no answer, 408, 429, 5xx) puts its
 * records back at the head of the queue and waits, doubling the wait up
 * to a cap; while it waits the queue keeps accepting, dropping the oldest
 * record when full. Every record is counted exactly once as sent or
 * dropped, or is still queued.
 *
 * Nothing here resolves a name: the URL carries a literal address (or
 * localhost, which is 127.0.0.1 by definition) and the socket address is
 * built from it directly.
 */
#include "telemetry/telemetry_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef AIRLOCK_VERSION
#define AIRLOCK_VERSION "0.0.0"
#endif

#define LINE_MAX_BYTES 4096	/* longest status line or interim head we read */
#define RESPONSE_MAX 8192	/* bytes read looking for the final status line */
#define BODY_MAX ((size_t)64 << 20)	/* one POST body; a batch past it fails */

/* ------------------------------------------------------------------ */
/* URL                                                                 */
/* ------------------------------------------------------------------ */

status_t tel__url_parse(const char *url, struct tel__url *out, struct err *e)
{
	char host[256];
	const char *p, *end;
	size_t n;
	status_t st;

	memset(out, 0, sizeof *out);
	if (!url || !*url)
		return err_set(e, ST_CONFIG, "telemetry http sink: no URL given "
			       "(telemetry.http_url)");
	if ((st = tel_url_split(url, host, sizeof host, &out->port, e)) != ST_OK)
		return st;
	if (strncmp(url, "https://", 8) == 0)
		return err_set(e, ST_UNSUPPORTED,
			       "telemetry http sink: '%s': https is not supported; name an "
			       "http:// collector inside the boundary", url);
	if (strlen(host) >= sizeof out->host)
		return err_set(e, ST_INVAL, "telemetry http sink: address too long in '%s'", url);
	str_copy(out->host, host, sizeof out->host);
	if (strcmp(host, "localhost") == 0 || strchr(host, ':') == NULL) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->sa;
		const char *a = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)out->port);
		if (inet_pton(AF_INET, a, &s4->sin_addr) != 1)
			return err_set(e, ST_INVAL, "telemetry http sink: bad address '%s'", host);
		out->salen = sizeof *s4;
		snprintf(out->hostport, sizeof out->hostport, "%s:%d", out->host, out->port);
		{
			const uint8_t *b = (const uint8_t *)&s4->sin_addr;
			if ((b[0] | b[1] | b[2] | b[3]) == 0 || b[0] >= 224)
				return err_set(e, ST_INVAL, "telemetry http sink: %s names no "
					       "single destination", host);
		}
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;
		static const uint8_t zero[16];

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)out->port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return err_set(e, ST_INVAL, "telemetry http sink: bad address '%s'", host);
		out->salen = sizeof *s6;
		snprintf(out->hostport, sizeof out->hostport, "[%s]:%d", out->host, out->port);
		if (memcmp(&s6->sin6_addr, zero, 16) == 0 || s6->sin6_addr.s6_addr[0] == 0xff)
			return err_set(e, ST_INVAL, "telemetry http sink: %s names no "
				       "single destination", host);
	}
	/* The request target: path and query as written, the fragment dropped. */
	p = url + 7;
	p += strcspn(p, "/?#");
	end = p + strcspn(p, "#");
	n = (size_t)(end - p);
	if (n == 0) {
		str_copy(out->target, "/v1/logs", sizeof out->target);
		return ST_OK;
	}
	if (n + 2 > sizeof out->target)
		return err_set(e, ST_INVAL, "telemetry http sink: path longer than %zu bytes",
			       sizeof out->target - 2);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return err_set(e, ST_INVAL,
				       "telemetry http sink: space, control or non-ASCII byte in "
				       "the path of '%s' (percent-encode it)", url);
	if (p[0] == '?') {
		out->target[0] = '/';
		memcpy(out->target + 1, p, n);
		out->target[n + 1] = '\0';
	} else {
		memcpy(out->target, p, n);
		out->target[n] = '\0';
	}
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Response status                                                     */
/* ------------------------------------------------------------------ */

/*
 * Bytes from p to just past the empty line ending the head that starts
 * at p (its first line is the status line); 0 when it is not complete.
 */
static size_t head_end(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	size_t i;

	if (!nl)
		return 0;
	i = (size_t)(nl - p) + 1;
	while (i < n) {
		if (p[i] == '\n')
			return i + 1;
		if (p[i] == '\r') {
			if (i + 1 >= n)
				return 0;
			if (p[i + 1] == '\n')
				return i + 2;
		}
		nl = memchr(p + i, '\n', n - i);
		if (!nl)
			return 0;
		i = (size_t)(nl - p) + 1;
	}
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

status_t tel__http_status_parse(const char *buf, size_t n, int *code, struct err *e)
{
	static const char prefix[] = "HTTP/1.";
	size_t off = 0;

	*code = 0;
	for (;;) {
		const char *p = buf + off, *nl;
		size_t left = n - off, have, len, m;
		int c;

		nl = memchr(p, '\n', left < LINE_MAX_BYTES ? left : LINE_MAX_BYTES);
		have = nl ? (size_t)(nl - p) : left;
		m = have < sizeof prefix - 1 ? have : sizeof prefix - 1;
		if (memcmp(p, prefix, m) != 0)
			return err_set(e, ST_CORRUPT, "http response: not an HTTP/1.x status "
				       "line at byte %zu", off);
		if (!nl) {
			if (left >= LINE_MAX_BYTES)
				return err_set(e, ST_CORRUPT, "http response: status line at byte "
					       "%zu longer than %d bytes", off, LINE_MAX_BYTES);
			return ST_OK;
		}
		len = have;
		if (len && p[len - 1] == '\r')
			len--;
		/* "HTTP/1.x" SP 3DIGIT [SP reason]; a missing reason is accepted. */
		if (len < 12 || !is_digit(p[7]) || p[8] != ' ' || !is_digit(p[9]) ||
		    !is_digit(p[10]) || !is_digit(p[11]) || (len > 12 && p[12] != ' '))
			return err_set(e, ST_CORRUPT, "http response: malformed status line at "
				       "byte %zu", off);
		c = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		if (c < 100 || c > 599)
			return err_set(e, ST_CORRUPT, "http response: status code %d out of "
				       "range at byte %zu", c, off);
		for (size_t i = 13; i < len; i++)
			if (((unsigned char)p[i] < ' ' && p[i] != '\t') || p[i] == 0x7f)
				return err_set(e, ST_CORRUPT, "http response: control character "
					       "in the reason phrase at byte %zu", off + i);
		if (c >= 200 || c == 101) {
			*code = c;
			return ST_OK;
		}
		/* An interim response (100 Continue, 103 Early Hints): skip its head. */
		m = head_end(p, left < LINE_MAX_BYTES ? left : LINE_MAX_BYTES);
		if (m == 0) {
			if (left >= LINE_MAX_BYTES)
				return err_set(e, ST_CORRUPT, "http response: interim head at byte "
					       "%zu longer than %d bytes", off, LINE_MAX_BYTES);
			return ST_OK;
		}
		off += m;
		if (off == n)
			return ST_OK;
	}
}

/* ------------------------------------------------------------------ */
/* OTLP/JSON body                                                      */
/* ------------------------------------------------------------------ */

struct dump_ctx {
	struct buf *out;
	status_t st;	/* the first failed append */
};

static int dump_to_buf(const char *p, size_t n, void *arg)
{
	struct dump_ctx *d = arg;

	if (d->st == ST_OK)
		d->st = buf_append(d->out, p, n);
	return d->st == ST_OK ? 0 : -1;
}

/* OTLP AnyValue of v; NULL for a JSON null (left out) or on OOM (*oom). */
static json_t *any_value(json_t *v, int *oom)
{
	json_t *r = NULL;
	char num[32];

	switch (json_typeof(v)) {
	case JSON_NULL:
		return NULL;
	case JSON_STRING:
		r = json_pack("{s:O}", "stringValue", v);
		break;
	case JSON_INTEGER:
		/* Protobuf's JSON mapping writes 64-bit integers as strings. */
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		r = json_pack("{s:s}", "intValue", num);
		break;
	case JSON_REAL:
		r = json_pack("{s:f}", "doubleValue", json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		r = json_pack("{s:b}", "boolValue", json_is_true(v));
		break;
	default: {
		char *d = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (d)
			r = json_pack("{s:s}", "stringValue", d);
		free(d);
	}
	}
	if (!r)
		*oom = 1;
	return r;
}

static json_t *kv(const char *key, json_t *value)
{
	return json_pack("{s:s,s:o}", "key", key, "value", value);
}

/* One logRecord for r; NULL on OOM. */
static json_t *log_record(const struct tel__rec *r)
{
	json_t *ev = json_loadb(r->json, r->n, 0, NULL), *rec, *attrs, *v;
	const char *key;
	char tbuf[24], obuf[24];
	uint64_t t = r->enq_wall_ns;
	int oom = 0;

	if (ev && !json_is_object(ev)) {
		json_decref(ev);
		ev = NULL;
	}
	if (ev && json_is_integer(json_object_get(ev, "time_ns")) &&
	    json_integer_value(json_object_get(ev, "time_ns")) > 0)
		t = (uint64_t)json_integer_value(json_object_get(ev, "time_ns"));
	snprintf(tbuf, sizeof tbuf, "%llu", (unsigned long long)t);
	snprintf(obuf, sizeof obuf, "%llu", (unsigned long long)r->enq_wall_ns);
	attrs = json_array();
	if (ev && attrs) {
		json_object_foreach(ev, key, v) {
			json_t *a;

			if (strcmp(key, "event") == 0 || strcmp(key, "time_ns") == 0)
				continue;
			a = any_value(v, &oom);
			if (a && json_array_append_new(attrs, kv(key, a)) != 0)
				oom = 1;
		}
	}
	if (ev && json_is_string(json_object_get(ev, "event")))
		v = json_pack("{s:O}", "stringValue", json_object_get(ev, "event"));
	else if (ev)
		v = json_pack("{s:s}", "stringValue", "event");
	else
		/* Not an object: the text itself is the body (invalid UTF-8 fails). */
		v = json_pack("{s:s%}", "stringValue", r->json, r->n);
	json_decref(ev);
	if (!v) {
		v = json_pack("{s:s}", "stringValue", "(event is not valid UTF-8)");
		if (!v)
			oom = 1;
	}
	if (oom || !attrs) {
		json_decref(v);
		json_decref(attrs);
		return NULL;
	}
	rec = json_pack("{s:s,s:s,s:i,s:s,s:o,s:o}", "timeUnixNano", tbuf,
			"observedTimeUnixNano", obuf, "severityNumber", 9, "severityText", "INFO",
			"body", v, "attributes", attrs);
	return rec;
}

status_t tel__otlp_body(const struct tel__rec *recs, size_t k, struct buf *out)
{
	json_t *root, *records;
	status_t st = ST_OK;

	records = json_array();
	if (!records)
		return ST_NOMEM;
	for (size_t i = 0; i < k; i++) {
		json_t *r = log_record(&recs[i]);
		if (!r || json_array_append_new(records, r) != 0) {
			json_decref(records);
			return ST_NOMEM;
		}
	}
	root = json_pack("{s:[{s:{s:[{s:s,s:{s:s}},{s:s,s:{s:s}}]},"
			 "s:[{s:{s:s,s:s},s:o}]}]}",
			 "resourceLogs", "resource", "attributes",
			 "key", "service.name", "value", "stringValue", "airlock",
			 "key", "service.version", "value", "stringValue", AIRLOCK_VERSION,
			 "scopeLogs", "scope", "name", "airlock.telemetry", "version",
			 AIRLOCK_VERSION, "logRecords", records);
	if (!root)
		return ST_NOMEM;
	{
		struct dump_ctx d = { out, ST_OK };
		if (json_dump_callback(root, dump_to_buf, &d, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
			st = d.st != ST_OK ? d.st : ST_NOMEM;
	}
	json_decref(root);
	return st;
}

/* ------------------------------------------------------------------ */
/* The sink                                                            */
/* ------------------------------------------------------------------ */

struct tel__http {
	struct tel__url url;
	char url_text[1200];	/* for the textual allow check and messages */
	tel_egress_fn check;	/* NULL: compare with allow */
	void *check_arg;
	char **allow;		/* (n_allow) copied "host:port" entries */
	size_t n_allow;
	struct tel__http_options o;	/* defaults filled in */

	pthread_mutex_t mu;	/* everything below */
	pthread_cond_t cv;	/* records arrived, or stopping */
	struct tel__rec *ring;	/* (o.queue) */
	size_t head, n;		/* oldest at ring[head], n queued */
	struct tel__rec *batch;	/* (o.batch) being sent; owned by the thread */
	size_t inflight;	/* records in batch */
	pthread_t thread;
	int started, stopping;
	int failing;		/* the last POST failed: log the next success */
	uint64_t retry_at;	/* no POST before this time (mono ns) */
	int64_t backoff_ms;	/* next wait after a failure */
	uint64_t sent, dropped, failed, refused;

	struct tel_metric *m_sent, *m_dropped, *m_failed, *m_refused, *m_queued;
};

/* Counters: bumped under h->mu, mirrored in the registry when attached. */
static void count(uint64_t *c, struct tel_metric *m, uint64_t by)
{
	*c += by;
	if (m && by)
		tel_counter_add(m, NULL, (double)by);
}

static void queued_gauge(struct tel__http *h)
{
	if (h->m_queued)
		tel_gauge_set(h->m_queued, NULL, (double)(h->n + h->inflight));
}

static void rec_free(struct tel__rec *r)
{
	mem_free(r->json);
	r->json = NULL;
}

/* Drops the oldest queued record. */
static void drop_oldest(struct tel__http *h)
{
	rec_free(&h->ring[h->head]);
	h->head = (h->head + 1) % h->o.queue;
	h->n--;
	count(&h->dropped, h->m_dropped, 1);
}

status_t tel__http_new(const char *url, const struct tel__http_options *o, tel_egress_fn check,
		       void *arg, const char *const *allow, size_t n_allow,
		       struct tel__http **out, struct err *e)
{
	struct tel__http *h;
	pthread_condattr_t ca;
	status_t st;

	*out = NULL;
	h = mem_calloc(1, sizeof *h);
	if (!h)
		return err_set(e, ST_NOMEM, "telemetry http sink: out of memory");
	if ((st = tel__url_parse(url, &h->url, e)) != ST_OK) {
		mem_free(h);
		return st;
	}
	str_copy(h->url_text, url, sizeof h->url_text);
	if (check)
		st = check(arg, h->url.host, h->url.port, e);
	else
		st = tel_egress_check(url, allow, n_allow, e);
	if (st != ST_OK) {
		mem_free(h);
		return st;
	}
	h->check = check;
	h->check_arg = arg;
	if (o)
		h->o = *o;
	if (!h->o.queue)
		h->o.queue = 1024;
	if (!h->o.batch)
		h->o.batch = 100;
	if (h->o.batch > h->o.queue)
		h->o.batch = h->o.queue;
	if (h->o.flush_ms <= 0)
		h->o.flush_ms = 1000;
	if (h->o.timeout_ms <= 0)
		h->o.timeout_ms = 5000;
	if (h->o.backoff_ms <= 0)
		h->o.backoff_ms = 500;
	if (h->o.backoff_max_ms <= 0)
		h->o.backoff_max_ms = 30000;
	if (h->o.close_ms <= 0)
		h->o.close_ms = 5000;
	h->backoff_ms = h->o.backoff_ms;
	h->ring = mem_calloc(h->o.queue, sizeof *h->ring);
	h->batch = mem_calloc(h->o.batch, sizeof *h->batch);
	if (!check && n_allow) {
		h->allow = mem_calloc(n_allow, sizeof *h->allow);
		for (size_t i = 0; h->allow && i < n_allow; i++) {
			size_t l = allow[i] ? strlen(allow[i]) : 0;
			if (!(h->allow[i] = mem_alloc(l + 1)))
				break;
			memcpy(h->allow[i], allow[i] ? allow[i] : "", l + 1);
			h->n_allow = i + 1;
		}
	}
	if (!h->ring || !h->batch || (!check && h->n_allow != n_allow)) {
		mem_free(h->ring);
		mem_free(h->batch);
		for (size_t i = 0; i < h->n_allow; i++)
			mem_free(h->allow[i]);
		mem_free(h->allow);
		mem_free(h);
		return err_set(e, ST_NOMEM, "telemetry http sink: out of memory");
	}
	pthread_mutex_init(&h->mu, NULL);
	/* The batch timer and backoff are measured on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	LOG_INFO("telemetry.http_sink", LF_STR("dest", h->url.hostport),
		 LF_STR("target", h->url.target), LF_INT("queue", h->o.queue),
		 LF_INT("batch", h->o.batch));
	*out = h;
	return ST_OK;
}

/* Waits on h->cv until deadline (mono ns); h->mu is held. */
static void wait_until(struct tel__http *h, uint64_t deadline)
{
	struct timespec ts = { (time_t)(deadline / 1000000000ull),
			       (long)(deadline % 1000000000ull) };
	pthread_cond_timedwait(&h->cv, &h->mu, &ts);
}

/* ---- one POST ---- */

enum post_result {
	POST_OK,	/* 2xx */
	POST_RETRY,	/* nothing or 408/429/5xx came back: try again later */
	POST_REJECT,	/* the collector refused the batch (other statuses) */
	POST_REFUSED,	/* the egress decision or the sandbox said no */
};

/* Waits until fd is ready for ev or deadline passes: 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = time_mono_ns();
		struct pollfd p = { fd, ev, 0 };
		uint64_t ms;
		int r;

		if (now >= deadline)
			return 0;
		ms = (deadline - now + 999999) / 1000000;
		r = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r <= 0) {
				if (r == 0)
					errno = ETIMEDOUT;
				return -1;
			}
		} else if (w < 0 && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static enum post_result post(struct tel__http *h, const struct buf *body, uint64_t deadline,
			     int *status, char *why, size_t nwhy)
{
	char resp[RESPONSE_MAX];
	size_t got = 0;
	struct buf head;
	struct err e;
	status_t st;
	int fd, code = 0, r;
	enum post_result res = POST_RETRY;

	*status = 0;
	err_clear(&e);
	/* Every connect asks the egress decision again: the one place that
	 * reads egress.allow stays the judge of each connection. */
	if (h->check)
		st = h->check(h->check_arg, h->url.host, h->url.port, &e);
	else
		st = tel_egress_check(h->url_text, (const char *const *)h->allow, h->n_allow, &e);
	if (st != ST_OK) {
		snprintf(why, nwhy, "%s", e.msg);
		return POST_REFUSED;
	}
	buf_init(&head, 4096);
	if (buf_printf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: airlock/%s\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n", h->url.target, h->url.hostport,
		       AIRLOCK_VERSION, body->len) != ST_OK) {
		buf_release(&head);
		snprintf(why, nwhy, "out of memory");
		return POST_RETRY;
	}
	fd = socket(h->url.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, nwhy, "socket: %s", strerror(errno));
		buf_release(&head);
		return errno == EPERM || errno == EACCES ? POST_REFUSED : POST_RETRY;
	}
	if (connect(fd, (const struct sockaddr *)&h->url.sa, h->url.salen) != 0) {
		int err = errno;

		if (err == EINPROGRESS) {
			socklen_t len = sizeof err;
			r = wait_fd(fd, POLLOUT, deadline);
			if (r == 0)
				err = ETIMEDOUT;
			else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
		}
		if (err) {
			snprintf(why, nwhy, "connect to %s: %s%s", h->url.hostport, strerror(err),
				 err == EACCES || err == EPERM ? " (refused by the sandbox: is "
				 "the port on egress.allow?)" : "");
			res = err == EACCES || err == EPERM ? POST_REFUSED : POST_RETRY;
			goto out;
		}
	}
	if (send_all(fd, head.data, head.len, deadline) != 0 ||
	    send_all(fd, body->data ? body->data : "", body->len, deadline) != 0) {
		snprintf(why, nwhy, "send to %s: %s", h->url.hostport, strerror(errno));
		goto out;
	}
	/* Only the status line decides; the rest of the answer is not read. */
	while (code == 0) {
		ssize_t n;

		if (got == sizeof resp) {
			snprintf(why, nwhy, "%s: no final status in %zu bytes", h->url.hostport, got);
			goto out;
		}
		n = recv(fd, resp + got, sizeof resp - got, 0);
		if (n > 0) {
			got += (size_t)n;
			err_clear(&e);
			if (tel__http_status_parse(resp, got, &code, &e) != ST_OK) {
				snprintf(why, nwhy, "%s: %s", h->url.hostport, e.msg);
				goto out;
			}
		} else if (n == 0) {
			snprintf(why, nwhy, "%s closed the connection before a status line",
				 h->url.hostport);
			goto out;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r = wait_fd(fd, POLLIN, deadline);
			if (r <= 0) {
				snprintf(why, nwhy, "%s: %s waiting for the status line",
					 h->url.hostport, r == 0 ? "timed out" : strerror(errno));
				goto out;
			}
		} else if (errno != EINTR) {
			snprintf(why, nwhy, "recv from %s: %s", h->url.hostport, strerror(errno));
			goto out;
		}
	}
	*status = code;
	if (code >= 200 && code < 300) {
		res = POST_OK;
	} else {
		snprintf(why, nwhy, "%s answered %d", h->url.hostport, code);
		/* As OTLP/HTTP says: only these are worth repeating. */
		res = code == 408 || code == 429 || code >= 500 ? POST_RETRY : POST_REJECT;
	}
out:
	close(fd);
	buf_release(&head);
	return res;
}

/* ---- the sender thread ---- */

/* Moves up to o.batch records from the queue into h->batch. */
static size_t take_batch(struct tel__http *h)
{
	size_t k = h->n < h->o.batch ? h->n : h->o.batch;

	for (size_t i = 0; i < k; i++) {
		h->batch[i] = h->ring[h->head];
		h->ring[h->head].json = NULL;
		h->head = (h->head + 1) % h->o.queue;
	}
	h->n -= k;
	h->inflight = k;
	return k;
}

/* Frees the in-flight batch, counting it as sent or dropped. */
static void settle_batch(struct tel__http *h, int delivered)
{
	if (delivered)
		count(&h->sent, h->m_sent, h->inflight);
	else
		count(&h->dropped, h->m_dropped, h->inflight);
	for (size_t i = 0; i < h->inflight; i++)
		rec_free(&h->batch[i]);
	h->inflight = 0;
}

/*
 * Puts the in-flight batch back at the head of the queue. Its records are
 * the oldest, so where the queue filled up meanwhile they are the ones
 * dropped.
 */
static void requeue_batch(struct tel__http *h)
{
	size_t room = h->o.queue - h->n, keep = h->inflight < room ? h->inflight : room;
	size_t skip = h->inflight - keep;

	for (size_t i = 0; i < skip; i++)
		rec_free(&h->batch[i]);
	count(&h->dropped, h->m_dropped, skip);
	for (size_t i = h->inflight; i-- > skip;) {
		h->head = (h->head + h->o.queue - 1) % h->o.queue;
		h->ring[h->head] = h->batch[i];
		h->batch[i].json = NULL;
		h->n++;
	}
	h->inflight = 0;
}

/*
 * Sends the in-flight batch; h->mu is held on entry and exit, released
 * during the POST. Returns the outcome after counting it.
 */
static enum post_result send_batch(struct tel__http *h, uint64_t deadline)
{
	struct buf body;
	char why[768];
	int code = 0;
	enum post_result res;
	status_t st;

	queued_gauge(h);
	pthread_mutex_unlock(&h->mu);
	why[0] = '\0';
	buf_init(&body, BODY_MAX);
	st = tel__otlp_body(h->batch, h->inflight, &body);
	if (st != ST_OK) {
		snprintf(why, sizeof why, "cannot build the body: %s", status_str(st));
		res = POST_REJECT;
	} else {
		res = post(h, &body, deadline, &code, why, sizeof why);
	}
	buf_release(&body);
	pthread_mutex_lock(&h->mu);
	if (res != POST_OK)
		count(&h->failed, h->m_failed, 1);
	if (res == POST_REFUSED)
		count(&h->refused, h->m_refused, 1);
	switch (res) {
	case POST_OK:
		if (h->failing)
			LOG_INFO("telemetry.http_recovered", LF_STR("dest", h->url.hostport),
				 LF_INT("records", h->inflight));
		h->failing = 0;
		h->backoff_ms = h->o.backoff_ms;
		settle_batch(h, 1);
		break;
	case POST_RETRY:
		/* One warning per outage, not one per attempt. */
		if (!h->failing)
			LOG_WARN("telemetry.http_failed", LF_STR("error", why),
				 LF_INT("records", h->inflight), LF_INT("retry_ms", h->backoff_ms));
		else
			LOG_DEBUG("telemetry.http_failed", LF_STR("error", why),
				  LF_INT("retry_ms", h->backoff_ms));
		h->failing = 1;
		h->retry_at = time_mono_ns() + (uint64_t)h->backoff_ms * 1000000u;
		h->backoff_ms = h->backoff_ms * 2 > h->o.backoff_max_ms ? h->o.backoff_max_ms :
				h->backoff_ms * 2;
		requeue_batch(h);
		break;
	case POST_REJECT:
	case POST_REFUSED:
		LOG_WARN(res == POST_REFUSED ? "telemetry.http_refused" : "telemetry.http_rejected",
			 LF_STR("error", why), LF_INT("status", code),
			 LF_INT("dropped", h->inflight));
		h->failing = 1;
		settle_batch(h, 0);
		break;
	}
	queued_gauge(h);
	return res;
}

static void *sender_main(void *arg)
{
	struct tel__http *h = arg;
	uint64_t deadline;

	pthread_mutex_lock(&h->mu);
	while (!h->stopping) {
		uint64_t now = time_mono_ns(), wake = 0;

		if (h->n == 0) {
			pthread_cond_wait(&h->cv, &h->mu);
			continue;
		}
		if (h->n < h->o.batch)
			wake = h->ring[h->head].enq_mono_ns + (uint64_t)h->o.flush_ms * 1000000u;
		if (h->retry_at > wake)
			wake = h->retry_at;
		if (now < wake) {
			wait_until(h, wake);
			continue;
		}
		take_batch(h);
		send_batch(h, now + (uint64_t)h->o.timeout_ms * 1000000u);
	}
	/* Closing: deliver what is queued within close_ms, without backoff;
	 * the first failure gives up on the rest. */
	deadline = time_mono_ns() + (uint64_t)h->o.close_ms * 1000000u;
	while (h->n) {
		uint64_t now = time_mono_ns(), d = now + (uint64_t)h->o.timeout_ms * 1000000u;

		if (now >= deadline)
			break;
		take_batch(h);
		if (send_batch(h, d < deadline ? d : deadline) != POST_OK)
			break;
	}
	if (h->n)
		LOG_WARN("telemetry.http_close", LF_STR("dest", h->url.hostport),
			 LF_INT("dropped", h->n));
	while (h->n)
		drop_oldest(h);
	queued_gauge(h);
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

status_t tel__http_enqueue(struct tel__http *h, const char *json, size_t n, struct err *e)
{
	struct tel__rec r;
	status_t st = ST_OK;

	r.json = mem_alloc(n + 1);
	r.n = n;
	r.enq_mono_ns = time_mono_ns();
	r.enq_wall_ns = time_wall_ns();
	pthread_mutex_lock(&h->mu);
	if (!r.json) {
		count(&h->dropped, h->m_dropped, 1);
		pthread_mutex_unlock(&h->mu);
		return err_set(e, ST_NOMEM, "telemetry http sink: out of memory");
	}
	memcpy(r.json, json, n);
	r.json[n] = '\0';
	if (h->n == h->o.queue)
		drop_oldest(h);
	h->ring[(h->head + h->n) % h->o.queue] = r;
	h->n++;
	queued_gauge(h);
	if (!h->started && !h->stopping) {
		/*
		 * Started here rather than at open: the process locks itself down
		 * after opening the sinks and before its first request, and a
		 * thread inherits the lockdown only if created after it.
		 */
		int rc = pthread_create(&h->thread, NULL, sender_main, h);
		if (rc == 0)
			h->started = 1;
		else
			st = err_set(e, ST_IO, "telemetry http sink: cannot start its thread: %s",
				     strerror(rc));
	}
	if (h->n == 1 || h->n >= h->o.batch)
		pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return st;
}

void tel__http_free(struct tel__http *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stopping = 1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->started)
		pthread_join(h->thread, NULL);
	while (h->n)
		drop_oldest(h);
	LOG_INFO("telemetry.http_sink_closed", LF_STR("dest", h->url.hostport),
		 LF_INT("sent", h->sent), LF_INT("dropped", h->dropped),
		 LF_INT("failed_posts", h->failed), LF_INT("refused", h->refused));
	for (size_t i = 0; i < h->n_allow; i++)
		mem_free(h->allow[i]);
	mem_free(h->allow);
	mem_free(h->ring);
	mem_free(h->batch);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	mem_free(h);
}

void tel__http_stats(struct tel__http *h, struct tel_sink_stats *out)
{
	pthread_mutex_lock(&h->mu);
	out->http_sent += h->sent;
	out->http_dropped += h->dropped;
	out->http_failed += h->failed;
	out->http_refused += h->refused;
	out->http_queued += h->n + h->inflight;
	pthread_mutex_unlock(&h->mu);
}

status_t tel__http_metrics(struct tel__http *h, struct tel_registry *r, struct err *e)
{
	struct tel_metric *sent, *dropped, *failed, *refused, *queued;
	status_t st;

	if ((st = tel_counter_new(r, "airlock_telemetry_http_sent_records_total",
				  "Usage records the http export sink delivered (2xx).", NULL, 0,
				  &sent, e)) ||
	    (st = tel_counter_new(r, "airlock_telemetry_http_dropped_records_total",
				  "Usage records the http export sink discarded: queue full, "
				  "rejected, refused, or left at shutdown.", NULL, 0, &dropped, e)) ||
	    (st = tel_counter_new(r, "airlock_telemetry_http_failed_posts_total",
				  "POSTs of the http export sink without a 2xx answer.", NULL, 0,
				  &failed, e)) ||
	    (st = tel_counter_new(r, "airlock_telemetry_http_refused_connects_total",
				  "Connections of the http export sink the egress allowlist or "
				  "the sandbox refused.", NULL, 0, &refused, e)) ||
	    (st = tel_gauge_new(r, "airlock_telemetry_http_queued_records",
				"Usage records the http export sink holds.", NULL, 0, &queued, e)))
		return st;
	pthread_mutex_lock(&h->mu);
	h->m_sent = sent;
	h->m_dropped = dropped;
	h->m_failed = failed;
	h->m_refused = refused;
	h->m_queued = queued;
	/* Whatever happened before registration. */
	tel_counter_set(sent, NULL, (double)h->sent);
	tel_counter_set(dropped, NULL, (double)h->dropped);
	tel_counter_set(failed, NULL, (double)h->failed);
	tel_counter_set(refused, NULL, (double)h->refused);
	queued_gauge(h);
	pthread_mutex_unlock(&h->mu);
	return ST_OK;
}
