/*
 * telemetry_int.h - private to src/telemetry: the http (OTLP/JSON) export
 * sink that sinks.c drives, and the pieces of it the tests and the fuzz
 * target reach directly (URL parsing, the response status parser, the
 * OTLP body writer).
 */
#ifndef AIRLOCK_TELEMETRY_INT_H
#define AIRLOCK_TELEMETRY_INT_H

#include "telemetry/telemetry.h"

#include <sys/socket.h>

/* The destination of the http sink, taken apart once at open. */
struct tel__url {
	char host[64];		/* literal address without brackets, or "localhost" */
	int port;		/* 1..65535 */
	char hostport[80];	/* "10.0.0.5:4318", "[::1]:4318": Host header, log lines */
	char target[1024];	/* request target: path and query ("/v1/logs" when none) */
	struct sockaddr_storage sa;	/* the address to connect to; no resolver involved */
	socklen_t salen;
};

/*
 * Parses an http sink URL: "http://" address ":" port [path] [?query]
 * [#fragment, dropped]. The address is a literal IPv4 address, a bracketed
 * IPv6 literal, or localhost (127.0.0.1, not looked up). ST_INVAL with a
 * message for anything else (a host name, a missing port, credentials,
 * spaces or control characters in the path); ST_UNSUPPORTED for https.
 */
status_t tel__url_parse(const char *url, struct tel__url *out, struct err *e);

/*
 * Reads the status code of an HTTP/1.x response from the first n bytes
 * received (untrusted). Interim 1xx responses (but 101) are skipped.
 * ST_OK with *code 100..599 for a final status line, ST_OK with *code 0
 * when more bytes are needed, ST_CORRUPT (e names what and where) for
 * anything that is not an HTTP/1.x status line, or a line or an interim
 * head longer than 4 KiB.
 */
status_t tel__http_status_parse(const char *buf, size_t n, int *code, struct err *e);

/* One event waiting in the http sink's queue. */
struct tel__rec {
	char *json;		/* the event as the sinks receive it; owned (mem_free) */
	size_t n;		/* bytes */
	uint64_t enq_mono_ns;	/* when queued (CLOCK_MONOTONIC): the batch timer */
	uint64_t enq_wall_ns;	/* when queued (wall clock): observedTimeUnixNano */
};

/*
 * Appends an OTLP/JSON ExportLogsServiceRequest holding the k records to
 * out: one resourceLogs (service.name "airlock"), one scopeLogs, one
 * logRecord per record with timeUnixNano (the event's time_ns, else when
 * it was queued), observedTimeUnixNano, severity INFO, body the event name
 * and the event's other fields as attributes (strings, ints as decimal
 * strings, doubles, booleans; nulls left out). A record that is not a JSON
 * object keeps its text as the body. ST_NOMEM or ST_LIMIT from out.
 */
status_t tel__otlp_body(const struct tel__rec *recs, size_t k, struct buf *out);

struct tel__http;

/* Settings of the http sink; 0 picks the default in brackets. */
struct tel__http_options {
	size_t queue;		/* records held [1024]; full: the oldest is dropped */
	size_t batch;		/* records per POST [100] */
	int64_t flush_ms;	/* longest a record waits for a full batch [1000] */
	int64_t timeout_ms;	/* deadline of one POST: connect, send, status [5000] */
	int64_t backoff_ms;	/* first wait after a failed POST, doubling [500] */
	int64_t backoff_max_ms;	/* longest wait between attempts [30000] */
	int64_t close_ms;	/* how long closing may spend delivering [5000] */
};

/*
 * Creates the http sink for url: parses it, asks the egress decision
 * (check, or the textual allow list when check is NULL; allow is copied),
 * and allocates the queue. Nothing connects and no thread starts here:
 * the sender thread starts with the first record, so that a command that
 * locks itself down after opening the sinks runs it under the lockdown.
 * check/arg must outlive the sink. *out freed with tel__http_free.
 */
status_t tel__http_new(const char *url, const struct tel__http_options *o, tel_egress_fn check,
		       void *arg, const char *const *allow, size_t n_allow,
		       struct tel__http **out, struct err *e);

/*
 * Stops the sender, giving it close_ms to deliver what is queued; what is
 * left is counted as dropped. Frees h; NULL is accepted.
 */
void tel__http_free(struct tel__http *h);

/*
 * Queues a copy of json (n bytes); never touches the network. When the
 * queue is full the oldest record is dropped and counted. Starts the
 * sender thread on first use. ST_NOMEM (the record is counted as
 * dropped) or ST_IO when the thread cannot start (records stay queued).
 */
status_t tel__http_enqueue(struct tel__http *h, const char *json, size_t n, struct err *e);

/* Adds the sink's counters to out (fields prefixed http_). */
void tel__http_stats(struct tel__http *h, struct tel_sink_stats *out);

/* Registers the sink's families in r and keeps them up to date. */
status_t tel__http_metrics(struct tel__http *h, struct tel_registry *r, struct err *e);

#endif
