/*
 * log.c - structured logging. A record is a fixed event name and typed
 * fields; values are escaped, never used as a format, so data cannot
 * inject fake fields or lines. Human format on a terminal, JSON lines
 * otherwise. LF_REDACT fields print only their length.
 */
#include "core/core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_INFO;
static enum log_format cur_fmt = LOG_FMT_HUMAN;
static FILE *cur_out;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };

void log_setup(enum log_level level, enum log_format fmt, FILE *out)
{
	pthread_mutex_lock(&log_mu);
	cur_level = level;
	cur_out = out;
	if (fmt == LOG_FMT_AUTO)
		fmt = isatty(fileno(out ? out : stderr)) ? LOG_FMT_HUMAN : LOG_FMT_JSON;
	cur_fmt = fmt;
	pthread_mutex_unlock(&log_mu);
}

enum log_level log_level_get(void)
{
	return cur_level;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_OFF; i++)
		if (s && strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

/* Writes s as a JSON string body (without quotes), escaping as needed. */
static void put_json_str(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)*p);
		} else if (*p < 0x20 || *p == 0x7f) {
			buf_printf(b, "\\u%04x", *p);
		} else {
			buf_putc(b, (char)*p);
		}
	}
}

/* Human format: quote values with spaces or specials; escape controls. */
static void put_human_str(struct buf *b, const char *s)
{
	int quote = !*s || strpbrk(s, " \t\"=\\") != NULL;

	if (quote)
		buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)*p);
		} else if (*p < 0x20 || *p == 0x7f) {
			buf_printf(b, "\\x%02x", *p);
		} else {
			buf_putc(b, (char)*p);
		}
	}
	if (quote)
		buf_putc(b, '"');
}

void log_write(enum log_level level, const char *event,
	       const struct log_field *f, size_t n)
{
	char stamp[64];
	struct timespec ts;
	struct tm tm;
	struct buf b;
	FILE *out;
	int json;

	if (level < cur_level || level >= LOG_OFF)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
	json = cur_fmt == LOG_FMT_JSON;
	buf_init(&b, 1 << 20);
	if (json) {
		buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", stamp,
			   level_names[level]);
		put_json_str(&b, event);
		buf_putc(&b, '"');
	} else {
		buf_printf(&b, "%s %-5s %s", stamp, level_names[level], event);
	}
	for (size_t i = 0; i < n; i++) {
		const struct log_field *x = &f[i];
		if (json) {
			buf_puts(&b, ",\"");
			put_json_str(&b, x->key);
			buf_puts(&b, "\":");
		} else {
			buf_putc(&b, ' ');
			put_human_str(&b, x->key);
			buf_putc(&b, '=');
		}
		switch (x->type) {
		case LF_T_STR:
			if (!x->s) {
				buf_puts(&b, json ? "null" : "-");
			} else if (json) {
				buf_putc(&b, '"');
				put_json_str(&b, x->s);
				buf_putc(&b, '"');
			} else {
				put_human_str(&b, x->s);
			}
			break;
		case LF_T_INT:
			buf_printf(&b, "%lld", x->i);
			break;
		case LF_T_DBL:
			buf_printf(&b, "%.6g", x->d);
			break;
		case LF_T_BOOL:
			buf_puts(&b, x->i ? "true" : "false");
			break;
		case LF_T_REDACT:
			buf_printf(&b, json ? "\"[redacted %zu bytes]\"" :
				   "\"[redacted %zu bytes]\"",
				   x->s ? strlen(x->s) : (size_t)0);
			break;
		}
	}
	buf_puts(&b, json ? "}\n" : "\n");
	pthread_mutex_lock(&log_mu);
	out = cur_out ? cur_out : stderr;
	fwrite(buf_cstr(&b), 1, b.len, out);
	fflush(out);
	pthread_mutex_unlock(&log_mu);
	buf_release(&b);
}
