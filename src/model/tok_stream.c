/*
 * tok_stream.c - generated pieces to text that is safe to show at once.
 * A stop string may arrive split over several tokens, so the longest tail
 * of the pending text that could still begin one is held back; a UTF-8
 * character split over byte tokens is held until complete. Held text is
 * bounded by the longest stop string plus three bytes.
 */
#include "model/tok_int.h"

#include <string.h>

struct mdl_stream {
	char **stops;
	size_t *stop_len;
	size_t n_stops;
	struct buf pending;	/* text fed but not yet emitted */
	int stopped;
};

status_t mdl_stream_new(const char *const *stops, size_t n_stops,
			struct mdl_stream **out, struct err *e)
{
	struct mdl_stream *s;

	*out = NULL;
	s = mem_calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ST_NOMEM, "stream");
	buf_init(&s->pending, 0);
	if (n_stops) {
		s->stops = mem_calloc(n_stops, sizeof *s->stops);
		s->stop_len = mem_calloc(n_stops, sizeof *s->stop_len);
		if (!s->stops || !s->stop_len) {
			mdl_stream_free(s);
			return err_set(e, ST_NOMEM, "stream");
		}
	}
	for (size_t i = 0; i < n_stops; i++) {
		if (!stops[i] || !stops[i][0]) {
			mdl_stream_free(s);
			return err_set(e, ST_INVAL, "stream: stop string %zu is empty", i);
		}
		s->stops[i] = mem_strdup(stops[i]);
		if (!s->stops[i]) {
			mdl_stream_free(s);
			return err_set(e, ST_NOMEM, "stream");
		}
		s->stop_len[i] = strlen(stops[i]);
		s->n_stops = i + 1;
	}
	*out = s;
	return ST_OK;
}

void mdl_stream_free(struct mdl_stream *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_stops; i++)
		mem_free(s->stops[i]);
	mem_free(s->stops);
	mem_free(s->stop_len);
	buf_release(&s->pending);
	mem_free(s);
}

/* Longest tail of p[0..n) that is a proper prefix of some stop string. */
static size_t held_for_stops(const struct mdl_stream *s, const char *p, size_t n)
{
	size_t best = 0;

	for (size_t i = 0; i < s->n_stops; i++) {
		size_t m = s->stop_len[i] - 1;

		if (m > n)
			m = n;
		for (; m > best; m--)
			if (memcmp(p + n - m, s->stops[i], m) == 0) {
				best = m;
				break;
			}
	}
	return best;
}

/* Moves cut back so that it does not split a UTF-8 character. */
static size_t utf8_cut(const char *p, size_t cut)
{
	for (size_t back = 1; back <= 3 && back <= cut; back++) {
		unsigned char c = (unsigned char)p[cut - back];

		if ((c & 0xC0) == 0x80)
			continue;	/* continuation byte: look further back */
		if (c >= 0xC0 && mdl__utf8_len(c) > back)
			return cut - back;
		break;
	}
	return cut;
}

static status_t emit(struct mdl_stream *s, size_t n, struct buf *out)
{
	status_t st = buf_append(out, s->pending.data, n);

	if (st != ST_OK)
		return st;
	memmove(s->pending.data, s->pending.data + n, s->pending.len - n);
	s->pending.len -= n;
	s->pending.data[s->pending.len] = 0;
	return ST_OK;
}

status_t mdl_stream_feed(struct mdl_stream *s, const char *piece, size_t len,
			 struct buf *out, int *stopped)
{
	size_t first = SIZE_MAX, cut;
	status_t st;

	*stopped = s->stopped;
	if (s->stopped || len == 0)
		return ST_OK;
	st = buf_append(&s->pending, piece, len);
	if (st != ST_OK)
		return st;
	for (size_t i = 0; i < s->n_stops; i++) {
		const char *hit = memmem(s->pending.data, s->pending.len, s->stops[i],
					 s->stop_len[i]);

		if (hit && (size_t)(hit - s->pending.data) < first)
			first = (size_t)(hit - s->pending.data);
	}
	if (first != SIZE_MAX) {
		st = emit(s, first, out);
		buf_reset(&s->pending);
		s->stopped = *stopped = 1;
		return st;
	}
	cut = s->pending.len - held_for_stops(s, s->pending.data, s->pending.len);
	cut = utf8_cut(s->pending.data, cut);
	return cut ? emit(s, cut, out) : ST_OK;
}

status_t mdl_stream_finish(struct mdl_stream *s, struct buf *out)
{
	if (s->stopped || s->pending.len == 0)
		return ST_OK;
	return emit(s, s->pending.len, out);
}
