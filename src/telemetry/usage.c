/*
 * usage.c - usage events and client feedback in SQLite, and what
 * `airlock usage` reports from them: totals, acceptance rate, latency
 * percentiles, and the per day/user/team/model aggregate (a view).
 *
 * Tables (owned by this module, migrated with db_migrate "telemetry"):
 *
 *   tel_usage     one row per served request
 *   tel_feedback  one row per client event (shown/accepted/rejected/partial)
 *   tel_daily     view: usage and feedback grouped by day, user, team, model
 */
#include "telemetry/telemetry.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const migrations[] = {
	"CREATE TABLE tel_usage ("
	"  id INTEGER PRIMARY KEY,"
	"  time_ns INTEGER NOT NULL,"
	"  day TEXT NOT NULL,"
	"  request_id TEXT, user TEXT, team TEXT, model TEXT, language TEXT, endpoint TEXT,"
	"  prompt_tokens INTEGER NOT NULL DEFAULT 0,"
	"  output_tokens INTEGER NOT NULL DEFAULT 0,"
	"  latency_ms REAL NOT NULL DEFAULT 0,"
	"  ttft_ms REAL,"
	"  cache_hit INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tel_usage_time ON tel_usage(time_ns);"
	"CREATE INDEX tel_usage_day ON tel_usage(day, team, user, model);"
	"CREATE TABLE tel_feedback ("
	"  id INTEGER PRIMARY KEY,"
	"  time_ns INTEGER NOT NULL,"
	"  day TEXT NOT NULL,"
	"  request_id TEXT, user TEXT, team TEXT, model TEXT,"
	"  kind TEXT NOT NULL CHECK (kind IN ('shown','accepted','rejected','partial')),"
	"  accepted_chars INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tel_feedback_time ON tel_feedback(time_ns);"
	"CREATE VIEW tel_daily AS"
	"  SELECT day, user, team, model,"
	"         sum(requests) AS requests, sum(prompt_tokens) AS prompt_tokens,"
	"         sum(output_tokens) AS output_tokens, sum(shown) AS shown,"
	"         sum(accepted) AS accepted, sum(latency_sum) AS latency_sum"
	"  FROM (SELECT day, coalesce(user,'') AS user, coalesce(team,'') AS team,"
	"               coalesce(model,'') AS model, time_ns, 1 AS requests, prompt_tokens,"
	"               output_tokens, 0 AS shown, 0 AS accepted, latency_ms AS latency_sum"
	"        FROM tel_usage"
	"        UNION ALL"
	"        SELECT day, coalesce(user,''), coalesce(team,''), coalesce(model,''), time_ns,"
	"               0, 0, 0, kind = 'shown', kind IN ('accepted','partial'), 0"
	"        FROM tel_feedback)"
	"  GROUP BY day, user, team, model;",
};

struct tel_store {
	sqlite3 *db;
	struct tel_sinks *sinks;
	pthread_mutex_t mu;	/* one statement user at a time */
	sqlite3_stmt *ins_usage, *ins_feedback;
};

static const char *const kind_names[] = { "shown", "accepted", "rejected", "partial" };

status_t tel_feedback_kind_parse(const char *s, enum tel_feedback_kind *out)
{
	for (size_t i = 0; i < 4; i++) {
		if (s && strcmp(s, kind_names[i]) == 0) {
			*out = (enum tel_feedback_kind)i;
			return ST_OK;
		}
	}
	return ST_INVAL;
}

static status_t sql_err(struct tel_store *s, struct err *e, const char *what)
{
	return err_set(e, ST_IO, "usage store: %s: %s", what, sqlite3_errmsg(s->db));
}

status_t tel_store_open(struct sqlite3 *db, struct tel_sinks *sinks, struct tel_store **out,
			struct err *e)
{
	struct tel_store *s;
	status_t st;

	*out = NULL;
	if ((st = db_migrate(db, "telemetry", migrations,
			     sizeof migrations / sizeof migrations[0], e)) != ST_OK)
		return st;
	s = mem_calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ST_NOMEM, "usage store: out of memory");
	s->db = db;
	s->sinks = sinks;
	pthread_mutex_init(&s->mu, NULL);
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO tel_usage(time_ns, day, request_id, user, team, model,"
			       " language, endpoint, prompt_tokens, output_tokens, latency_ms,"
			       " ttft_ms, cache_hit) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &s->ins_usage, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO tel_feedback(time_ns, day, request_id, user, team, model,"
			       " kind, accepted_chars) VALUES(?,?,?,?,?,?,?,?)",
			       -1, &s->ins_feedback, NULL) != SQLITE_OK) {
		st = sql_err(s, e, "prepare");
		tel_store_close(s);
		return st;
	}
	*out = s;
	return ST_OK;
}

void tel_store_close(struct tel_store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->ins_usage);
	sqlite3_finalize(s->ins_feedback);
	pthread_mutex_destroy(&s->mu);
	mem_free(s);
}

static void day_of(uint64_t ns, char out[16])
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Sends the event to the sinks; a sink failure is logged, not fatal. */
static void emit(struct tel_store *s, json_t *o)
{
	char *j;
	struct err e;

	if (!s->sinks || !o) {
		json_decref(o);
		return;
	}
	j = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!j)
		return;
	err_clear(&e);
	if (tel_sinks_emit(s->sinks, j, strlen(j), &e) != ST_OK)
		LOG_WARN("telemetry.sink_failed", LF_STR("error", e.msg));
	free(j);
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

status_t tel_usage_record(struct tel_store *s, const struct tel_usage *u, struct err *e)
{
	uint64_t t = u->time_ns ? u->time_ns : time_wall_ns();
	char day[16];
	sqlite3_stmt *st = s->ins_usage;
	int rc;

	day_of(t, day);
	pthread_mutex_lock(&s->mu);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)t);
	bind_text(st, 2, day);
	bind_text(st, 3, u->request_id);
	bind_text(st, 4, u->user);
	bind_text(st, 5, u->team);
	bind_text(st, 6, u->model);
	bind_text(st, 7, u->language);
	bind_text(st, 8, u->endpoint);
	sqlite3_bind_int64(st, 9, u->prompt_tokens);
	sqlite3_bind_int64(st, 10, u->output_tokens);
	sqlite3_bind_double(st, 11, u->latency_ms);
	if (u->ttft_ms >= 0)
		sqlite3_bind_double(st, 12, u->ttft_ms);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int(st, 13, !!u->cache_hit);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->mu);
	if (rc != SQLITE_DONE)
		return sql_err(s, e, "insert usage");
	emit(s, json_pack("{s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:f,s:f,s:b}", "event",
			  "usage", "time_ns", (json_int_t)t, "day", json_string(day), "request_id",
			  jstr(u->request_id), "user", jstr(u->user), "team", jstr(u->team),
			  "model", jstr(u->model), "language", jstr(u->language), "endpoint",
			  jstr(u->endpoint), "prompt_tokens", (json_int_t)u->prompt_tokens,
			  "output_tokens", (json_int_t)u->output_tokens, "latency_ms", u->latency_ms,
			  "ttft_ms", u->ttft_ms, "cache_hit", !!u->cache_hit));
	return ST_OK;
}

status_t tel_feedback_record(struct tel_store *s, const struct tel_feedback *f, struct err *e)
{
	uint64_t t = f->time_ns ? f->time_ns : time_wall_ns();
	char day[16];
	sqlite3_stmt *st = s->ins_feedback;
	int rc;

	if ((unsigned)f->kind > TEL_FB_PARTIAL)
		return err_set(e, ST_INVAL, "feedback: unknown kind %d", (int)f->kind);
	day_of(t, day);
	pthread_mutex_lock(&s->mu);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)t);
	bind_text(st, 2, day);
	bind_text(st, 3, f->request_id);
	bind_text(st, 4, f->user);
	bind_text(st, 5, f->team);
	bind_text(st, 6, f->model);
	bind_text(st, 7, kind_names[f->kind]);
	sqlite3_bind_int64(st, 8, f->accepted_chars);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->mu);
	if (rc != SQLITE_DONE)
		return sql_err(s, e, "insert feedback");
	emit(s, json_pack("{s:s,s:I,s:s,s:o,s:o,s:o,s:o,s:s,s:I}", "event", "feedback",
			  "time_ns", (json_int_t)t, "day", day, "request_id", jstr(f->request_id),
			  "user", jstr(f->user), "team", jstr(f->team), "model", jstr(f->model),
			  "kind", kind_names[f->kind], "accepted_chars",
			  (json_int_t)f->accepted_chars));
	return ST_OK;
}

/* Appends " AND col = ?" clauses for f to sql, binding later in order. */
static status_t where(struct buf *sql, const struct tel_filter *f)
{
	status_t st = buf_puts(sql, " WHERE 1");

	if (st == ST_OK && f && f->user)
		st = buf_puts(sql, " AND user = ?");
	if (st == ST_OK && f && f->team)
		st = buf_puts(sql, " AND team = ?");
	if (st == ST_OK && f && f->model)
		st = buf_puts(sql, " AND model = ?");
	if (st == ST_OK && f && f->since_ns)
		st = buf_puts(sql, " AND time_ns >= ?");
	if (st == ST_OK && f && f->until_ns)
		st = buf_puts(sql, " AND time_ns < ?");
	return st;
}

static void bind_filter(sqlite3_stmt *st, const struct tel_filter *f)
{
	int i = 1;

	if (!f)
		return;
	if (f->user)
		sqlite3_bind_text(st, i++, f->user, -1, SQLITE_TRANSIENT);
	if (f->team)
		sqlite3_bind_text(st, i++, f->team, -1, SQLITE_TRANSIENT);
	if (f->model)
		sqlite3_bind_text(st, i++, f->model, -1, SQLITE_TRANSIENT);
	if (f->since_ns)
		sqlite3_bind_int64(st, i++, (sqlite3_int64)f->since_ns);
	if (f->until_ns)
		sqlite3_bind_int64(st, i++, (sqlite3_int64)f->until_ns);
}

static status_t prepare(struct tel_store *s, const char *head, const struct tel_filter *f,
			const char *tail, sqlite3_stmt **out, struct err *e)
{
	struct buf sql;
	status_t st;

	buf_init(&sql, 0);
	if ((st = buf_puts(&sql, head)) != ST_OK || (st = where(&sql, f)) != ST_OK ||
	    (st = buf_puts(&sql, tail)) != ST_OK) {
		buf_release(&sql);
		return err_set(e, st, "usage store: out of memory");
	}
	if (sqlite3_prepare_v2(s->db, sql.data, -1, out, NULL) != SQLITE_OK) {
		buf_release(&sql);
		return sql_err(s, e, "query");
	}
	buf_release(&sql);
	bind_filter(*out, f);
	return ST_OK;
}

/* Nearest-rank percentile of the sorted column, from a query over rows. */
static status_t percentiles(struct tel_store *s, const char *col, const struct tel_filter *f,
			    const double *ps, double *out, size_t n, struct err *e)
{
	struct vec vals;
	sqlite3_stmt *st;
	char head[160];
	status_t rs = ST_OK;

	snprintf(head, sizeof head, "SELECT %s FROM tel_usage", col);
	char tail[96];
	snprintf(tail, sizeof tail, " AND %s IS NOT NULL ORDER BY %s", col, col);
	if ((rs = prepare(s, head, f, tail, &st, e)) != ST_OK)
		return rs;
	vec_init(&vals, sizeof(double));
	while (sqlite3_step(st) == SQLITE_ROW) {
		double v = sqlite3_column_double(st, 0);
		if ((rs = vec_push(&vals, &v)) != ST_OK)
			break;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++) {
		out[i] = 0;
		if (vals.len) {
			/* rank = ceil(p * N), 1-based */
			size_t r = (size_t)(ps[i] * (double)vals.len);
			if ((double)r < ps[i] * (double)vals.len)
				r++;
			if (r < 1)
				r = 1;
			out[i] = VEC_AT(&vals, double, r - 1);
		}
	}
	vec_release(&vals);
	return rs == ST_OK ? ST_OK : err_set(e, rs, "usage store: out of memory");
}

status_t tel_usage_summary(struct tel_store *s, const struct tel_filter *f,
			   struct tel_summary *out, struct err *e)
{
	static const double p3[3] = { 0.5, 0.9, 0.99 };
	sqlite3_stmt *st;
	double lat[3], ttft[3];
	status_t rs;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&s->mu);
	if ((rs = prepare(s, "SELECT count(*), coalesce(sum(prompt_tokens),0), "
			  "coalesce(sum(output_tokens),0), coalesce(sum(cache_hit),0) FROM tel_usage",
			  f, "", &st, e)) != ST_OK)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->requests = sqlite3_column_int64(st, 0);
		out->prompt_tokens = sqlite3_column_int64(st, 1);
		out->output_tokens = sqlite3_column_int64(st, 2);
		out->cache_hits = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if ((rs = prepare(s, "SELECT kind, count(*) FROM tel_feedback", f, " GROUP BY kind", &st,
			  e)) != ST_OK)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		enum tel_feedback_kind k;
		int64_t c = sqlite3_column_int64(st, 1);

		if (tel_feedback_kind_parse((const char *)sqlite3_column_text(st, 0), &k) != ST_OK)
			continue;
		if (k == TEL_FB_SHOWN)
			out->shown = c;
		else if (k == TEL_FB_ACCEPTED)
			out->accepted = c;
		else if (k == TEL_FB_REJECTED)
			out->rejected = c;
		else
			out->partial = c;
	}
	sqlite3_finalize(st);
	out->acceptance_rate = out->shown ? (double)(out->accepted + out->partial) /
						    (double)out->shown : -1;
	if ((rs = percentiles(s, "latency_ms", f, p3, lat, 3, e)) != ST_OK ||
	    (rs = percentiles(s, "ttft_ms", f, p3, ttft, 2, e)) != ST_OK)
		goto out;
	out->latency_p50 = lat[0];
	out->latency_p90 = lat[1];
	out->latency_p99 = lat[2];
	out->ttft_p50 = ttft[0];
	out->ttft_p90 = ttft[1];
out:
	pthread_mutex_unlock(&s->mu);
	return rs;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return t ? t : "";
}

status_t tel_usage_daily(struct tel_store *s, const struct tel_filter *f,
			 int (*fn)(void *arg, const struct tel_daily *row), void *arg,
			 struct err *e)
{
	sqlite3_stmt *st;
	status_t rs;

	/* The view groups all rows; filter the rows first, then group. */
	pthread_mutex_lock(&s->mu);
	rs = prepare(s,
		     "SELECT day, user, team, model, sum(requests), sum(prompt_tokens),"
		     " sum(output_tokens), sum(shown), sum(accepted), sum(latency_sum) FROM ("
		     "SELECT day, coalesce(user,'') AS user, coalesce(team,'') AS team,"
		     " coalesce(model,'') AS model, time_ns, 1 AS requests, prompt_tokens,"
		     " output_tokens, 0 AS shown, 0 AS accepted, latency_ms AS latency_sum"
		     " FROM tel_usage UNION ALL "
		     "SELECT day, coalesce(user,''), coalesce(team,''), coalesce(model,''),"
		     " time_ns, 0, 0, 0, kind = 'shown', kind IN ('accepted','partial'), 0"
		     " FROM tel_feedback)",
		     f, " GROUP BY day, user, team, model ORDER BY day, team, user, model", &st, e);
	if (rs != ST_OK) {
		pthread_mutex_unlock(&s->mu);
		return rs;
	}
	/* The filter binds appear once; the statement has them once too. */
	for (;;) {
		struct tel_daily row;
		int rc = sqlite3_step(st);

		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			rs = sql_err(s, e, "daily");
			break;
		}
		row.day = col_text(st, 0);
		row.user = col_text(st, 1);
		row.team = col_text(st, 2);
		row.model = col_text(st, 3);
		row.requests = sqlite3_column_int64(st, 4);
		row.prompt_tokens = sqlite3_column_int64(st, 5);
		row.output_tokens = sqlite3_column_int64(st, 6);
		row.shown = sqlite3_column_int64(st, 7);
		row.accepted = sqlite3_column_int64(st, 8);
		row.latency_avg_ms = row.requests ? sqlite3_column_double(st, 9) /
							    (double)row.requests : 0;
		if (fn(arg, &row))
			break;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return rs;
}
