/*
 * metrics.c - the metrics registry and its Prometheus text exposition.
 *
 * Each family has its own mutex and a hash map from the label values
 * (joined with 0xff, which cannot occur in UTF-8) to its series, so
 * updates of different families never contend and a scrape locks one
 * family at a time.
 */
#include "telemetry/telemetry.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 10000

const double tel_default_buckets[11] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					 0.5,   1,    2.5,   5,    10 };

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct series {
	char **values;		/* n_labels label values */
	char *key;		/* joined values, for sorting */
	double value;		/* counter, gauge */
	uint64_t *buckets;	/* histogram: n_bounds counts (not cumulative) */
	uint64_t count;
	double sum;
};

struct tel_metric {
	struct tel_metric *next;
	enum kind kind;
	char *name, *help;
	char *labels[TEL_MAX_LABELS];
	size_t n_labels;
	double bounds[TEL_MAX_BUCKETS];
	size_t n_bounds;
	pthread_mutex_t mu;
	struct hmap series;	/* key -> struct series * */
};

struct tel_registry {
	pthread_mutex_t mu;
	struct tel_metric *head, *tail;
};

status_t tel_registry_new(struct tel_registry **out)
{
	struct tel_registry *r = mem_calloc(1, sizeof *r);

	*out = r;
	if (!r)
		return ST_NOMEM;
	pthread_mutex_init(&r->mu, NULL);
	return ST_OK;
}

static void series_free(struct series *s, size_t n_labels)
{
	if (!s)
		return;
	for (size_t i = 0; i < n_labels; i++)
		mem_free(s->values[i]);
	mem_free(s->values);
	mem_free(s->key);
	mem_free(s->buckets);
	mem_free(s);
}

static void metric_free(struct tel_metric *m)
{
	size_t it = 0, kl;
	const void *k;
	void *v;

	if (!m)
		return;
	while (hmap_next(&m->series, &it, &k, &kl, &v))
		series_free(v, m->n_labels);
	hmap_release(&m->series);
	for (size_t i = 0; i < m->n_labels; i++)
		mem_free(m->labels[i]);
	mem_free(m->name);
	mem_free(m->help);
	pthread_mutex_destroy(&m->mu);
	mem_free(m);
}

void tel_registry_free(struct tel_registry *r)
{
	struct tel_metric *m, *n;

	if (!r)
		return;
	for (m = r->head; m; m = n) {
		n = m->next;
		metric_free(m);
	}
	pthread_mutex_destroy(&r->mu);
	mem_free(r);
}

static status_t series_get(struct tel_metric *m, const char *const *values,
			   struct series **out);

static int name_ok(const char *s, int colon)
{
	if (!s || !*s)
		return 0;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static status_t family_new(struct tel_registry *r, enum kind kind, const char *name,
			   const char *help, const char *const *labels, size_t n_labels,
			   const double *bounds, size_t n_bounds, struct tel_metric **out,
			   struct err *e)
{
	struct tel_metric *m, *x;

	*out = NULL;
	if (!name_ok(name, 1))
		return err_set(e, ST_INVAL, "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]*",
			       name ? name : "");
	if (n_labels > TEL_MAX_LABELS)
		return err_set(e, ST_INVAL, "metric %s: more than %d labels", name, TEL_MAX_LABELS);
	for (size_t i = 0; i < n_labels; i++) {
		if (!name_ok(labels[i], 0) || strncmp(labels[i], "__", 2) == 0 ||
		    (kind == K_HISTOGRAM && strcmp(labels[i], "le") == 0))
			return err_set(e, ST_INVAL, "metric %s: bad label name '%s'", name,
				       labels[i] ? labels[i] : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				return err_set(e, ST_INVAL, "metric %s: label '%s' twice", name,
					       labels[i]);
	}
	if (n_bounds > TEL_MAX_BUCKETS)
		return err_set(e, ST_INVAL, "metric %s: more than %d buckets", name,
			       TEL_MAX_BUCKETS);
	for (size_t i = 0; i < n_bounds; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return err_set(e, ST_INVAL,
				       "metric %s: bucket bounds must be finite and increasing", name);
	m = mem_calloc(1, sizeof *m);
	if (!m)
		return err_set(e, ST_NOMEM, "metric %s: out of memory", name);
	m->kind = kind;
	m->name = mem_strdup(name);
	m->help = mem_strdup(help ? help : "");
	m->n_labels = n_labels;
	hmap_init(&m->series);
	pthread_mutex_init(&m->mu, NULL);
	for (size_t i = 0; i < n_labels; i++)
		if (!(m->labels[i] = mem_strdup(labels[i])))
			goto oom;
	if (!m->name || !m->help)
		goto oom;
	if (n_bounds)
		memcpy(m->bounds, bounds, n_bounds * sizeof *bounds);
	m->n_bounds = n_bounds;

	if (n_labels == 0) {
		/* A family without labels has its one series from the start, so a
		 * scrape shows 0 rather than nothing (as the reference clients). */
		struct series *s;
		if (series_get(m, NULL, &s) != ST_OK)
			goto oom;
	}
	pthread_mutex_lock(&r->mu);
	for (x = r->head; x; x = x->next) {
		if (strcmp(x->name, name) == 0) {
			pthread_mutex_unlock(&r->mu);
			metric_free(m);
			return err_set(e, ST_EXISTS, "metric %s is already registered", name);
		}
	}
	if (r->tail)
		r->tail->next = m;
	else
		r->head = m;
	r->tail = m;
	pthread_mutex_unlock(&r->mu);
	*out = m;
	return ST_OK;
oom:
	metric_free(m);
	return err_set(e, ST_NOMEM, "metric %s: out of memory", name);
}

status_t tel_counter_new(struct tel_registry *r, const char *name, const char *help,
			 const char *const *labels, size_t n_labels, struct tel_metric **out,
			 struct err *e)
{
	return family_new(r, K_COUNTER, name, help, labels, n_labels, NULL, 0, out, e);
}

status_t tel_gauge_new(struct tel_registry *r, const char *name, const char *help,
		       const char *const *labels, size_t n_labels, struct tel_metric **out,
		       struct err *e)
{
	return family_new(r, K_GAUGE, name, help, labels, n_labels, NULL, 0, out, e);
}

status_t tel_histogram_new(struct tel_registry *r, const char *name, const char *help,
			   const char *const *labels, size_t n_labels, const double *bounds,
			   size_t n_bounds, struct tel_metric **out, struct err *e)
{
	if (!bounds) {
		bounds = tel_default_buckets;
		n_bounds = sizeof tel_default_buckets / sizeof tel_default_buckets[0];
	}
	return family_new(r, K_HISTOGRAM, name, help, labels, n_labels, bounds, n_bounds, out, e);
}

/* Finds or creates the series for values; call with m->mu held. */
static status_t series_get(struct tel_metric *m, const char *const *values, struct series **out)
{
	struct buf key;
	struct series *s = NULL;
	void *v;
	status_t st;

	buf_init(&key, 1 << 20);
	for (size_t i = 0; i < m->n_labels; i++) {
		if (!values || !values[i]) {
			buf_release(&key);
			return ST_INVAL;
		}
		if ((st = buf_puts(&key, values[i])) != ST_OK ||
		    (st = buf_putc(&key, (char)0xff)) != ST_OK) {
			buf_release(&key);
			return st;
		}
	}
	if (hmap_get(&m->series, buf_cstr(&key), key.len, &v) == ST_OK) {
		buf_release(&key);
		*out = v;
		return ST_OK;
	}
	if (m->series.len >= MAX_SERIES) {
		buf_release(&key);
		return ST_LIMIT;
	}
	st = ST_NOMEM;
	s = mem_calloc(1, sizeof *s);
	if (!s)
		goto fail;
	s->values = mem_calloc(m->n_labels ? m->n_labels : 1, sizeof(char *));
	s->key = mem_strndup(buf_cstr(&key), key.len);
	if (!s->values || !s->key)
		goto fail;
	for (size_t i = 0; i < m->n_labels; i++)
		if (!(s->values[i] = mem_strdup(values[i])))
			goto fail;
	if (m->kind == K_HISTOGRAM &&
	    !(s->buckets = mem_calloc(m->n_bounds ? m->n_bounds : 1, sizeof(uint64_t))))
		goto fail;
	if ((st = hmap_put(&m->series, s->key, key.len, s)) != ST_OK)
		goto fail;
	buf_release(&key);
	*out = s;
	return ST_OK;
fail:
	series_free(s, m->n_labels);
	buf_release(&key);
	return st;
}

static status_t update(struct tel_metric *m, enum kind want, const char *const *values,
		       double v, int op)
{
	struct series *s;
	status_t st;

	if (!m || m->kind != want)
		return ST_INVAL;
	if (want == K_COUNTER && !(v >= 0))
		return ST_INVAL;
	pthread_mutex_lock(&m->mu);
	if ((st = series_get(m, values, &s)) == ST_OK) {
		if (want == K_HISTOGRAM) {
			for (size_t i = 0; i < m->n_bounds; i++) {
				if (v <= m->bounds[i]) {
					s->buckets[i]++;
					break;
				}
			}
			s->count++;
			s->sum += v;
		} else if (op == 's') {
			s->value = v;
		} else if (op == 'c') {
			if (v < s->value)
				st = ST_INVAL;
			else
				s->value = v;
		} else {
			s->value += v;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return st;
}

status_t tel_counter_add(struct tel_metric *m, const char *const *values, double v)
{
	return update(m, K_COUNTER, values, v, '+');
}

status_t tel_counter_set(struct tel_metric *m, const char *const *values, double v)
{
	return update(m, K_COUNTER, values, v, 'c');
}

status_t tel_gauge_set(struct tel_metric *m, const char *const *values, double v)
{
	return update(m, K_GAUGE, values, v, 's');
}

status_t tel_gauge_add(struct tel_metric *m, const char *const *values, double v)
{
	return update(m, K_GAUGE, values, v, '+');
}

status_t tel_histogram_observe(struct tel_metric *m, const char *const *values, double v)
{
	return update(m, K_HISTOGRAM, values, v, 'o');
}

/* ---- exposition ---- */

void tel_format_double(double v, char *out, size_t n)
{
	if (isnan(v)) {
		snprintf(out, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Fast path: small integers (counts) print as themselves. */
	if (v == (double)(long long)v && v > -1e6 && v < 1e6) {
		snprintf(out, n, "%lld", (long long)v);
		return;
	}
	/*
	 * As Go's strconv.FormatFloat(v, 'g', -1, 64), which the reference
	 * Prometheus clients use: the fewest significant digits that read
	 * back as v, in exponent form when the exponent is < -4 or >= 6.
	 */
	for (int p = 1; p <= 17; p++) {
		char e[64];
		int exp;

		snprintf(e, sizeof e, "%.*e", p - 1, v);
		if (strtod(e, NULL) != v)
			continue;
		exp = (int)strtol(strchr(e, 'e') + 1, NULL, 10);
		if (exp < -4 || exp >= 6)
			snprintf(out, n, "%s", e);
		else
			snprintf(out, n, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, v);
		return;
	}
	snprintf(out, n, "%.17g", v);
}

static status_t put_escaped(struct buf *b, const char *s, int quote)
{
	status_t st = ST_OK;

	for (; *s && st == ST_OK; s++) {
		if (*s == '\\')
			st = buf_puts(b, "\\\\");
		else if (*s == '\n')
			st = buf_puts(b, "\\n");
		else if (quote && *s == '"')
			st = buf_puts(b, "\\\"");
		else
			st = buf_putc(b, *s);
	}
	return st;
}

/* Writes {l1="v1",...} (nothing when there are no labels). */
static status_t put_labels(struct buf *b, const struct tel_metric *m, const struct series *s)
{
	status_t st = ST_OK;

	if (m->n_labels == 0)
		return ST_OK;
	st = buf_putc(b, '{');
	for (size_t i = 0; i < m->n_labels && st == ST_OK; i++) {
		if (i)
			st = buf_putc(b, ',');
		if (st == ST_OK && (st = buf_puts(b, m->labels[i])) == ST_OK)
			st = buf_puts(b, "=\"");
		if (st == ST_OK)
			st = put_escaped(b, s->values[i], 1);
		if (st == ST_OK)
			st = buf_putc(b, '"');
	}
	if (st == ST_OK)
		st = buf_putc(b, '}');
	return st;
}

static int cmp_series(const void *a, const void *b)
{
	const struct series *x = *(const struct series *const *)a;
	const struct series *y = *(const struct series *const *)b;

	return strcmp(x->key, y->key);
}

/* Appends the decimal digits of v (printf costs more than the rest). */
static status_t put_u64(struct buf *b, uint64_t v)
{
	char d[24];
	int i = (int)sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_append(b, d + i, sizeof d - (size_t)i);
}

/* Appends name, suffix, the label text (without its closing brace when
 * le is given) and le. */
static status_t put_sample_head(struct buf *b, const char *name, const char *suffix,
				const struct buf *lab, const char *le)
{
	status_t st;

	if ((st = buf_puts(b, name)) != ST_OK || (st = buf_puts(b, suffix)) != ST_OK)
		return st;
	if (!le)
		return lab->len ? buf_append(b, lab->data, lab->len) : ST_OK;
	if (lab->len) {
		if ((st = buf_append(b, lab->data, lab->len - 1)) != ST_OK ||
		    (st = buf_puts(b, ",le=\"")) != ST_OK)
			return st;
	} else if ((st = buf_puts(b, "{le=\"")) != ST_OK) {
		return st;
	}
	if ((st = buf_puts(b, le)) != ST_OK)
		return st;
	return buf_puts(b, "\"}");
}

static status_t expose_one(struct tel_metric *m, struct buf *b)
{
	static const char *const kinds[] = { "counter", "gauge", "histogram" };
	char les[TEL_MAX_BUCKETS + 1][32];
	struct series **all;
	struct buf lab;
	size_t n = 0, it = 0, kl;
	const void *k;
	void *v;
	status_t st;
	char num[64];

	if ((st = buf_printf(b, "# HELP %s ", m->name)) != ST_OK ||
	    (st = put_escaped(b, m->help, 0)) != ST_OK ||
	    (st = buf_printf(b, "\n# TYPE %s %s\n", m->name, kinds[m->kind])) != ST_OK)
		return st;
	all = mem_alloc_array(m->series.len ? m->series.len : 1, sizeof *all);
	if (!all)
		return ST_NOMEM;
	while (hmap_next(&m->series, &it, &k, &kl, &v))
		all[n++] = v;
	qsort(all, n, sizeof *all, cmp_series);
	/* Bucket bounds are formatted once per scrape, not once per line. */
	for (size_t j = 0; j < m->n_bounds; j++)
		tel_format_double(m->bounds[j], les[j], sizeof les[j]);
	snprintf(les[m->n_bounds], sizeof les[0], "+Inf");
	buf_init(&lab, 0);
	for (size_t i = 0; i < n && st == ST_OK; i++) {
		struct series *s = all[i];

		buf_reset(&lab);
		if ((st = put_labels(&lab, m, s)) != ST_OK)
			break;
		if (m->kind != K_HISTOGRAM) {
			tel_format_double(s->value, num, sizeof num);
			if ((st = put_sample_head(b, m->name, "", &lab, NULL)) == ST_OK &&
			    (st = buf_putc(b, ' ')) == ST_OK && (st = buf_puts(b, num)) == ST_OK)
				st = buf_putc(b, '\n');
			continue;
		}
		uint64_t cum = 0;
		for (size_t j = 0; j <= m->n_bounds && st == ST_OK; j++) {
			cum = j < m->n_bounds ? cum + s->buckets[j] : s->count;
			if ((st = put_sample_head(b, m->name, "_bucket", &lab, les[j])) == ST_OK &&
			    (st = buf_putc(b, ' ')) == ST_OK && (st = put_u64(b, cum)) == ST_OK)
				st = buf_putc(b, '\n');
		}
		tel_format_double(s->sum, num, sizeof num);
		if (st == ST_OK && (st = put_sample_head(b, m->name, "_sum", &lab, NULL)) == ST_OK &&
		    (st = buf_putc(b, ' ')) == ST_OK && (st = buf_puts(b, num)) == ST_OK)
			st = buf_putc(b, '\n');
		if (st == ST_OK && (st = put_sample_head(b, m->name, "_count", &lab, NULL)) == ST_OK &&
		    (st = buf_putc(b, ' ')) == ST_OK && (st = put_u64(b, s->count)) == ST_OK)
			st = buf_putc(b, '\n');
	}
	buf_release(&lab);
	mem_free(all);
	return st;
}

status_t tel_registry_expose(struct tel_registry *r, struct buf *out)
{
	struct tel_metric *m;
	status_t st = ST_OK;

	pthread_mutex_lock(&r->mu);
	for (m = r->head; m && st == ST_OK; m = m->next) {
		pthread_mutex_lock(&m->mu);
		st = expose_one(m, out);
		pthread_mutex_unlock(&m->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return st;
}

/* ---- the standard families ---- */

status_t tel_std_register(struct tel_registry *r, struct tel_std *m, struct err *e)
{
	static const char *const ep_code[] = { "endpoint", "code" };
	static const char *const ep[] = { "endpoint" };
	static const char *const model[] = { "model" };
	static const char *const model_kind[] = { "model", "kind" };
	static const char *const result[] = { "result" };
	static const char *const rule_action[] = { "rule", "action" };
	static const char *const repo[] = { "repo" };
	/* first tokens and requests: 10 ms .. 60 s */
	static const double secs[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
	status_t st;

	memset(m, 0, sizeof *m);
	if ((st = tel_counter_new(r, "airlock_http_requests_total",
				  "HTTP requests served, by endpoint and status code.", ep_code, 2,
				  &m->requests, e)) ||
	    (st = tel_histogram_new(r, "airlock_http_request_duration_seconds",
				    "Time from request to last byte.", ep, 1, secs,
				    sizeof secs / sizeof secs[0], &m->request_seconds, e)) ||
	    (st = tel_histogram_new(r, "airlock_time_to_first_token_seconds",
				    "Time from request to the first generated token.", model, 1, secs,
				    sizeof secs / sizeof secs[0], &m->ttft_seconds, e)) ||
	    (st = tel_counter_new(r, "airlock_tokens_total",
				  "Tokens processed: kind=prompt (read) or output (generated); "
				  "tokens/s is its rate.", model_kind, 2, &m->tokens, e)) ||
	    (st = tel_gauge_new(r, "airlock_queue_depth", "Requests waiting for the scheduler.",
				NULL, 0, &m->queue_depth, e)) ||
	    (st = tel_gauge_new(r, "airlock_active_sequences", "Sequences being generated.", NULL,
				0, &m->active_sequences, e)) ||
	    (st = tel_counter_new(r, "airlock_prompt_cache_requests_total",
				  "Prompt KV-cache lookups by result (hit, miss).", result, 1,
				  &m->prompt_cache, e)) ||
	    (st = tel_counter_new(r, "airlock_policy_decisions_total",
				  "Policy decisions by rule and action.", rule_action, 2,
				  &m->policy_decisions, e)) ||
	    (st = tel_gauge_new(r, "airlock_index_chunks", "Indexed chunks per repository.", repo,
				1, &m->index_chunks, e)) ||
	    (st = tel_gauge_new(r, "airlock_index_bytes", "Indexed text per repository, bytes.",
				repo, 1, &m->index_bytes, e)) ||
	    (st = tel_counter_new(r, "airlock_audit_appends_total", "Audit records appended.",
				  NULL, 0, &m->audit_appends, e)) ||
	    (st = tel_counter_new(r, "airlock_audit_fsyncs_total",
				  "Audit log fsyncs (one serves a group of appends).", NULL, 0,
				  &m->audit_fsyncs, e)) ||
	    (st = tel_counter_new(r, "airlock_audit_fsync_seconds_total",
				  "Time spent in audit log fsyncs; divide by fsyncs for latency.",
				  NULL, 0, &m->audit_fsync_seconds, e)))
		return st;
	return ST_OK;
}

status_t tel_std_request(const struct tel_std *m, const char *endpoint, int code,
			 const char *model, double seconds, double ttft_seconds,
			 int64_t prompt_tokens, int64_t output_tokens, int cache_hit)
{
	char c[16];
	const char *ec[2] = { endpoint ? endpoint : "", c };
	const char *ev[1] = { endpoint ? endpoint : "" };
	const char *mv[1] = { model ? model : "" };
	const char *mp[2] = { mv[0], "prompt" }, *mo[2] = { mv[0], "output" };
	const char *hit[1] = { cache_hit ? "hit" : "miss" };
	status_t st;

	snprintf(c, sizeof c, "%d", code);
	if ((st = tel_counter_add(m->requests, ec, 1)) ||
	    (st = tel_histogram_observe(m->request_seconds, ev, seconds)))
		return st;
	if (ttft_seconds >= 0 && (st = tel_histogram_observe(m->ttft_seconds, mv, ttft_seconds)))
		return st;
	if (prompt_tokens > 0 && (st = tel_counter_add(m->tokens, mp, (double)prompt_tokens)))
		return st;
	if (output_tokens > 0 && (st = tel_counter_add(m->tokens, mo, (double)output_tokens)))
		return st;
	if (cache_hit >= 0 && (st = tel_counter_add(m->prompt_cache, hit, 1)))
		return st;
	return ST_OK;
}
