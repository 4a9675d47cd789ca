/* output.c - results as JSON (through jansson) for the CLI and server. */
#include "context/ctx_int.h"

#include <jansson.h>
#include <stdlib.h>

static json_t *str(const char *s)
{
	/* Invalid UTF-8 was repaired at indexing; a NULL here means a
	 * string jansson still refuses, which becomes "". */
	json_t *j = json_string(s ? s : "");
	return j ? j : json_string("");
}

status_t ctx_result_json(const struct ctx_result *r, struct buf *out)
{
	json_t *arr = json_array();
	char *txt;
	status_t st;

	if (!arr)
		return ST_NOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const struct ctx_hit *h = &r->hits[i];
		json_t *o = json_object(), *src = json_array();
		if (!o || !src) {
			json_decref(o);
			json_decref(src);
			json_decref(arr);
			return ST_NOMEM;
		}
		if (h->sources & CTX_SRC_SYMBOL)
			json_array_append_new(src, json_string("symbol"));
		if (h->sources & CTX_SRC_BM25)
			json_array_append_new(src, json_string("bm25"));
		if (h->sources & CTX_SRC_DOCS)
			json_array_append_new(src, json_string("docs"));
		json_object_set_new(o, "repo", str(h->repo));
		json_object_set_new(o, "path", str(h->path));
		json_object_set_new(o, "start_line", json_integer(h->start_line));
		json_object_set_new(o, "end_line", json_integer(h->end_line));
		json_object_set_new(o, "score", json_real(h->score));
		json_object_set_new(o, "kind", str(h->kind));
		json_object_set_new(o, "name", str(h->name));
		if (h->signature && *h->signature)
			json_object_set_new(o, "signature", str(h->signature));
		json_object_set_new(o, "sources", src);
		json_object_set_new(o, "text", str(h->text));
		json_array_append_new(arr, o);
	}
	txt = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(arr);
	if (!txt)
		return ST_NOMEM;
	st = buf_puts(out, txt);
	if (st == ST_OK)
		st = buf_putc(out, '\n');
	free(txt);
	return st;
}
