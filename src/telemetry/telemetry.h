/*
 * telemetry.h - what airlock measures about itself, all kept local:
 *
 *  - a metrics registry (counters, gauges, histograms with labels,
 *    thread-safe) exposed in the Prometheus text format (version 0.0.4)
 *    for GET /metrics;
 *  - usage events and client feedback stored in SQLite (tables owned by
 *    this module, migrated through core's db_migrate) and aggregated per
 *    user, team, model and day for `airlock usage`;
 *  - export sinks, every one off until the operator names it: a JSONL
 *    file, syslog over a Unix socket, and HTTP POST (OTLP/JSON logs) to a
 *    collector inside the boundary, refused unless its destination is in
 *    egress.allow.
 */
#ifndef AIRLOCK_TELEMETRY_H
#define AIRLOCK_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

struct tel_registry;
struct tel_metric;	/* one metric family: name, help, label names, series */

#define TEL_MAX_LABELS 8
#define TEL_MAX_BUCKETS 32

/* Default latency buckets, seconds (as Prometheus client libraries). */
extern const double tel_default_buckets[11];

/* Creates an empty registry; *out freed with tel_registry_free. */
status_t tel_registry_new(struct tel_registry **out);
/* Frees the registry and every metric in it; NULL is accepted. */
void tel_registry_free(struct tel_registry *r);

/*
 * Registers a counter, gauge or histogram family. name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not
 * starting with "__", and not "le" for histograms); ST_INVAL otherwise,
 * ST_EXISTS when the name is taken. The registry owns the metric; *out is
 * borrowed until tel_registry_free. Histogram bounds must be strictly
 * increasing and finite (+Inf is implied).
 */
status_t tel_counter_new(struct tel_registry *r, const char *name, const char *help,
			 const char *const *labels, size_t n_labels, struct tel_metric **out,
			 struct err *e);
status_t tel_gauge_new(struct tel_registry *r, const char *name, const char *help,
		       const char *const *labels, size_t n_labels, struct tel_metric **out,
		       struct err *e);
status_t tel_histogram_new(struct tel_registry *r, const char *name, const char *help,
			   const char *const *labels, size_t n_labels, const double *bounds,
			   size_t n_bounds, struct tel_metric **out, struct err *e);

/*
 * Updates the series named by values (one per label, in order; NULL when
 * the family has no labels). Thread-safe. A counter only goes up
 * (ST_INVAL for a negative or NaN increment). ST_NOMEM when a new series
 * cannot be allocated; ST_LIMIT past 10000 series per family (to bound
 * memory against label values taken from input).
 */
status_t tel_counter_add(struct tel_metric *m, const char *const *values, double v);
status_t tel_gauge_set(struct tel_metric *m, const char *const *values, double v);
status_t tel_gauge_add(struct tel_metric *m, const char *const *values, double v);
status_t tel_histogram_observe(struct tel_metric *m, const char *const *values, double v);

/*
 * Appends the Prometheus text exposition of every family, in registration
 * order, series sorted by label values: "# HELP", "# TYPE", then samples
 * (histograms: _bucket with cumulative counts and le="+Inf", _sum,
 * _count). Label values and help text are escaped as the format requires.
 */
status_t tel_registry_expose(struct tel_registry *r, struct buf *out);

/*
 * Sets a counter mirrored from a count kept elsewhere (e.g. the audit
 * log's appends). ST_INVAL if v is below the current value: counters
 * never go down.
 */
status_t tel_counter_set(struct tel_metric *m, const char *const *values, double v);

/*
 * The families airlock exposes at GET /metrics, registered at once so
 * every part of the server names them the same way. Borrowed pointers
 * into the registry.
 */
struct tel_std {
	struct tel_metric *requests;		/* counter {endpoint, code} */
	struct tel_metric *request_seconds;	/* histogram {endpoint} */
	struct tel_metric *ttft_seconds;	/* histogram {model} */
	struct tel_metric *tokens;		/* counter {model, kind="prompt|output"} */
	struct tel_metric *queue_depth;		/* gauge */
	struct tel_metric *active_sequences;	/* gauge */
	struct tel_metric *prompt_cache;	/* counter {result="hit|miss"} */
	struct tel_metric *policy_decisions;	/* counter {rule, action} */
	struct tel_metric *index_chunks;	/* gauge {repo} */
	struct tel_metric *index_bytes;		/* gauge {repo} */
	struct tel_metric *audit_appends;	/* counter */
	struct tel_metric *audit_fsyncs;	/* counter */
	struct tel_metric *audit_fsync_seconds;	/* counter: total time in fsync */
};

/* Registers the standard families in r (names in docs/internals/telemetry.md). */
status_t tel_std_register(struct tel_registry *r, struct tel_std *out, struct err *e);
/*
 * Records one finished request: count by endpoint and status code,
 * duration, time to first token (< 0: none), prompt and output tokens,
 * and the prompt-cache result (cache_hit < 0: not applicable).
 */
status_t tel_std_request(const struct tel_std *m, const char *endpoint, int code,
			 const char *model, double seconds, double ttft_seconds,
			 int64_t prompt_tokens, int64_t output_tokens, int cache_hit);

/* Formats v as Prometheus does (shortest round-trip, +Inf, -Inf, NaN). */
void tel_format_double(double v, char *out, size_t n);

/* ------------------------------------------------------------------ */
/* Usage events                                                        */
/* ------------------------------------------------------------------ */

struct sqlite3;
struct tel_store;
struct tel_sinks;

/* One served request. Strings are borrowed; NULL is stored as NULL. */
struct tel_usage {
	uint64_t time_ns;	/* 0: now */
	const char *request_id, *user, *team, *model, *language, *endpoint;
	int64_t prompt_tokens, output_tokens;
	double latency_ms;	/* request start to last byte */
	double ttft_ms;		/* request start to first token; < 0: unknown */
	int cache_hit;		/* prompt-cache hit: 1, miss: 0 */
};

enum tel_feedback_kind {
	TEL_FB_SHOWN,		/* the completion was displayed */
	TEL_FB_ACCEPTED,	/* taken whole */
	TEL_FB_REJECTED,	/* dismissed */
	TEL_FB_PARTIAL,		/* partly taken */
};

/* Client feedback on a completion (POST /v1/events). */
struct tel_feedback {
	uint64_t time_ns;	/* 0: now */
	const char *request_id, *user, *team, *model;
	enum tel_feedback_kind kind;
	int64_t accepted_chars;	/* for PARTIAL (and ACCEPTED); 0 if unknown */
};

/* Parses "shown", "accepted", "rejected", "partial"; ST_INVAL otherwise. */
status_t tel_feedback_kind_parse(const char *s, enum tel_feedback_kind *out);

/*
 * Opens the usage store on db (borrowed: the caller closes it after
 * tel_store_close), creating or migrating the telemetry tables. sinks
 * (borrowed, may be NULL) receive each event as a JSON line.
 */
status_t tel_store_open(struct sqlite3 *db, struct tel_sinks *sinks, struct tel_store **out,
			struct err *e);
void tel_store_close(struct tel_store *s);

/* Records a usage event (and hands it to the sinks). Thread-safe. */
status_t tel_usage_record(struct tel_store *s, const struct tel_usage *u, struct err *e);
/* Records client feedback (and hands it to the sinks). Thread-safe. */
status_t tel_feedback_record(struct tel_store *s, const struct tel_feedback *f, struct err *e);

/* Which events a summary covers; NULL/0 fields do not filter. */
struct tel_filter {
	const char *user, *team, *model;
	uint64_t since_ns, until_ns;
};

struct tel_summary {
	int64_t requests;
	int64_t prompt_tokens, output_tokens;
	int64_t cache_hits;
	int64_t shown, accepted, rejected, partial;
	double acceptance_rate;		/* (accepted + partial) / shown; < 0 if none shown */
	double latency_p50, latency_p90, latency_p99;	/* ms, nearest rank; 0 if none */
	double ttft_p50, ttft_p90;	/* ms */
};

/* Computes totals, acceptance rate and latency percentiles. */
status_t tel_usage_summary(struct tel_store *s, const struct tel_filter *f,
			   struct tel_summary *out, struct err *e);

/* One row of the per day, user, team and model aggregate. */
struct tel_daily {
	const char *day;	/* "YYYY-MM-DD" (UTC) */
	const char *user, *team, *model;	/* "" when unknown */
	int64_t requests, prompt_tokens, output_tokens;
	int64_t shown, accepted;
	double latency_avg_ms;
};

/*
 * Calls fn for each aggregate row matching f, ordered by day, team, user,
 * model; strings are borrowed for the call. fn returning non-zero stops.
 */
status_t tel_usage_daily(struct tel_store *s, const struct tel_filter *f,
			 int (*fn)(void *arg, const struct tel_daily *row), void *arg,
			 struct err *e);

/* ------------------------------------------------------------------ */
/* Export sinks (off by default)                                       */
/* ------------------------------------------------------------------ */

/*
 * The egress decision for a destination: ST_OK when host:port may be
 * reached, ST_DENIED otherwise. The server passes an adapter to the
 * sandbox's sbx_egress_check, the one place that reads egress.allow, so
 * the sink and the kernel rules agree.
 */
typedef status_t (*tel_egress_fn)(void *arg, const char *host, int port, struct err *e);

struct tel_sink_options {
	const char *const *names;	/* "jsonl", "syslog", "http" */
	size_t n_names;
	const char *jsonl_path;		/* file for jsonl */
	const char *syslog_socket;	/* Unix datagram socket for syslog */
	const char *http_url;		/* http://host:port/path for http */
	tel_egress_fn egress_check;	/* NULL: compare with egress_allow below */
	void *egress_arg;
	const char *const *egress_allow;	/* "host:port" entries (literal) */
	size_t n_allow;
	/* The http sink's queue and timing; 0 picks the default in brackets. */
	size_t http_queue;		/* records held in memory [1024]; full: oldest dropped */
	size_t http_batch;		/* records per POST [100] */
	int64_t http_flush_ms;		/* longest a record waits for a full batch [1000] */
	int64_t http_timeout_ms;	/* deadline of one POST: connect, send, status [5000] */
	int64_t http_backoff_ms;	/* first wait after a failed POST, doubling [500] */
	int64_t http_close_ms;		/* how long closing may spend delivering [5000] */
};

/* Counters of the sinks (only the http sink keeps any). */
struct tel_sink_stats {
	uint64_t http_sent;	/* records delivered (2xx) */
	uint64_t http_dropped;	/* records discarded: queue full, rejected by the
				 * collector (4xx), refused by egress, left at close */
	uint64_t http_failed;	/* POSTs that did not get a 2xx answer */
	uint64_t http_refused;	/* connects the egress decision refused */
	uint64_t http_queued;	/* records waiting or being sent */
};

/*
 * Opens the named sinks. Nothing is opened when no sink is named.
 * Unknown names are ST_CONFIG. The http sink's URL must be
 * http://ADDRESS:PORT[/path] with a literal address (ST_INVAL otherwise,
 * ST_UNSUPPORTED for https) and its destination must pass the egress
 * decision (ST_DENIED); opening it neither connects nor starts a thread:
 * its sender thread starts with the first event, so a process that locks
 * itself down after opening the sinks runs the sender under the lockdown.
 * egress_arg must outlive the sinks (each connect asks again). *out freed
 * with tel_sinks_close (NULL when no sink is named).
 */
status_t tel_sinks_open(const struct tel_sink_options *o, struct tel_sinks **out,
			struct err *e);
/*
 * Reads telemetry.* (and egress.allow, used when check is NULL) from cfg,
 * data_dir for defaults; check/arg as in tel_sink_options.
 */
status_t tel_sinks_open_config(const struct config *cfg, const char *data_dir,
			       tel_egress_fn check, void *arg, struct tel_sinks **out,
			       struct err *e);
/*
 * Closes the sinks: the http sink gets up to http_close_ms to deliver
 * what it holds (plus one POST's timeout when one is under way); what is
 * left is dropped and counted. NULL is accepted.
 */
void tel_sinks_close(struct tel_sinks *s);
/*
 * Writes one JSON object (no newline) to every sink. Thread-safe. A
 * failing sink is reported (ST_IO) but never blocks the others. The http
 * sink only queues the event (a background thread batches and POSTs), so
 * no caller ever waits on the network.
 */
status_t tel_sinks_emit(struct tel_sinks *s, const char *json, size_t n, struct err *e);

/* Fills out with the sinks' counters (zeros for s NULL or without http). */
void tel_sinks_stats(struct tel_sinks *s, struct tel_sink_stats *out);

/*
 * Registers the http sink's counters in r, for GET /metrics:
 * airlock_telemetry_http_{sent,dropped}_records_total,
 * airlock_telemetry_http_failed_posts_total,
 * airlock_telemetry_http_refused_connects_total and the gauge
 * airlock_telemetry_http_queued_records. Nothing is registered without an
 * http sink. r must outlive s. Errors as tel_counter_new.
 */
status_t tel_sinks_metrics_register(struct tel_sinks *s, struct tel_registry *r,
				    struct err *e);

/*
 * Splits "http(s)://host:port/..." into host (brackets of an IPv6 literal
 * removed) and port. The host must be a literal address or "localhost":
 * resolving a name would itself be egress. ST_INVAL otherwise.
 */
status_t tel_url_split(const char *url, char *host, size_t host_n, int *port, struct err *e);

/*
 * Checks that the host:port of url is listed in allow (entries compared
 * as text, "[v6]:port" for IPv6); ST_DENIED with a message naming it
 * otherwise, ST_INVAL for a URL tel_url_split refuses.
 */
status_t tel_egress_check(const char *url, const char *const *allow, size_t n_allow,
			  struct err *e);

#endif
