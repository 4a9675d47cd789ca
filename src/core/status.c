/* status.c - status codes, their messages, and errors with context. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const char *const st_msgs[] = {
#define ST_MSG_(name, msg) msg,
	ST_MAP(ST_MSG_)
#undef ST_MSG_
};

static const char *const st_names[] = {
#define ST_NAME_(name, msg) #name,
	ST_MAP(ST_NAME_)
#undef ST_NAME_
};

const char *status_str(status_t st)
{
	if ((unsigned)st >= ST__COUNT)
		return "unknown status";
	return st_msgs[st];
}

const char *status_name(status_t st)
{
	if ((unsigned)st >= ST__COUNT)
		return "UNKNOWN";
	return st_names[st];
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->st = ST_OK;
	e->line = e->col = 0;
	e->file[0] = 0;
	e->msg[0] = 0;
}

static status_t err_vset(struct err *e, status_t st, const char *file,
			 int line, int col, const char *fmt, va_list ap)
{
	if (!e)
		return st;
	e->st = st;
	e->line = line;
	e->col = col;
	str_copy(e->file, file ? file : "", sizeof e->file);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	return st;
}

status_t err_set(struct err *e, status_t st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, st, NULL, 0, 0, fmt, ap);
	va_end(ap);
	return st;
}

status_t err_setat(struct err *e, status_t st, const char *file, int line,
		   int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, st, file, line, col, fmt, ap);
	va_end(ap);
	return st;
}

const char *err_format(const struct err *e, char *out, size_t n)
{
	const char *msg;

	if (!n)
		return out;
	if (!e) {
		out[0] = 0;
		return out;
	}
	msg = e->msg[0] ? e->msg : status_str(e->st);
	if (e->file[0] && e->line > 0)
		snprintf(out, n, "%s:%d:%d: %s", e->file, e->line, e->col, msg);
	else if (e->file[0])
		snprintf(out, n, "%s: %s", e->file, msg);
	else
		snprintf(out, n, "%s", msg);
	return out;
}
