/*
 * query.c - the log as its readers want it, shared by the CLI and the
 * admin HTTP endpoints: filtered records as JSON lines (show, query,
 * export), inclusion and consistency proofs as JSON (the field names of
 * the transparency-dev test vectors), and the verification report as
 * JSON.
 */
#include "audit/audit_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *aud_type_name(enum aud_type t)
{
	switch (t) {
	case AUD_T_REQUEST: return "request";
	case AUD_T_ADMIN: return "admin";
	case AUD_T_RECOVERY: return "recovery";
	case AUD_T_EVENT: return "event";
	case AUD_T_TOMBSTONE: return "pruned";
	}
	return "unknown";
}

static int str_is(json_t *o, const char *k, const char *want)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && strcmp(v, want) == 0;
}

int aud_query_match(const struct aud_query *q, const struct aud_record *r, const json_t *payload)
{
	json_t *o = (json_t *)payload;

	if (q->seq >= 0 && r->seq != (uint64_t)q->seq)
		return 0;
	if (q->since_ns && r->time_ns < q->since_ns)
		return 0;
	if (q->until_ns && r->time_ns >= q->until_ns)
		return 0;
	if ((q->user || q->team || q->action) && !o)
		return 0;
	if (q->user && !str_is(o, "user", q->user) && !str_is(o, "actor", q->user))
		return 0;
	if (q->team && !str_is(o, "team", q->team))
		return 0;
	if (q->action && !str_is(o, "action", q->action)) {
		/* a request matches when any of its policy decisions took it */
		json_t *d = json_object_get(o, "decisions"), *x;
		size_t i;
		int hit = 0;

		json_array_foreach(d, i, x) hit |= str_is(x, "action", q->action);
		if (!hit)
			return 0;
	}
	return 1;
}

void aud_query_init(struct aud_query *q)
{
	memset(q, 0, sizeof *q);
	q->seq = -1;
}

struct run {
	const struct aud_query *q;
	int (*fn)(void *arg, const struct aud_record *r, const char *line, size_t len);
	void *arg;
	int failed;
};

/* The JSON line of a record: what export writes. Heap string (free()). */
static char *record_line(const struct aud_record *r, json_t *payload, int indent)
{
	char ts[32], hex[2 * AUD_HASH_LEN + 1];
	time_t s = (time_t)(r->time_ns / 1000000000ull);
	struct tm tm;
	json_t *line;
	char *out;

	gmtime_r(&s, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	hex_encode(r->leaf_hash, AUD_HASH_LEN, hex);
	line = json_pack("{s:I,s:s,s:s,s:I,s:s}", "seq", (json_int_t)r->seq, "type",
			 aud_type_name(r->type), "time", ts, "time_ns", (json_int_t)r->time_ns,
			 "leaf_hash", hex);
	if (!line)
		return NULL;
	if (r->type == AUD_T_TOMBSTONE)
		json_object_set_new(line, "pruned_type", json_string(aud_type_name(r->orig_type)));
	if (payload)
		json_object_set(line, "record", payload);
	else if (r->payload_len)
		json_object_set_new(line, "raw", json_stringn(r->payload, r->payload_len));
	out = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | (indent ? JSON_INDENT(2) : 0));
	json_decref(line);
	return out;
}

static int run_cb(void *arg, const struct aud_record *r)
{
	struct run *x = arg;
	json_t *o = NULL;
	char *line;
	int stop;

	if (x->q->seq >= 0 && r->seq != (uint64_t)x->q->seq)
		return 0;
	if (r->payload_len)
		o = json_loadb(r->payload, r->payload_len, 0, NULL);
	if (!aud_query_match(x->q, r, o)) {
		json_decref(o);
		return 0;
	}
	line = record_line(r, o, x->q->indent);
	json_decref(o);
	if (!line) {
		x->failed = 1;
		return 1;
	}
	stop = x->fn(x->arg, r, line, strlen(line));
	free(line);
	return stop;
}

status_t aud_query_run(const char *data_dir, const struct aud_query *q,
		       int (*fn)(void *arg, const struct aud_record *r, const char *line,
				 size_t len),
		       void *arg, struct err *e)
{
	struct run x = { q, fn, arg, 0 };
	status_t st = aud_scan(data_dir, run_cb, &x, e);

	if (x.failed)
		return err_set(e, ST_NOMEM, "audit query: out of memory");
	return st == ST_CANCELLED ? ST_OK : st;
}

/* ---- proofs ---- */

static json_t *b64(const uint8_t *h)
{
	char b[48];

	base64_encode(h, AUD_HASH_LEN, b);
	return json_string(b);
}

static status_t dump_into(json_t *o, struct buf *out, struct err *e)
{
	char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	status_t st;

	json_decref(o);
	if (!s)
		return err_set(e, ST_NOMEM, "audit: out of memory");
	st = buf_puts(out, s);
	free(s);
	return st == ST_OK ? ST_OK : err_set(e, st, "audit: output too large");
}

status_t aud_inclusion_json(const struct aud_tree *t, uint64_t index,
			    const struct aud_checkpoint *c, const char *note, struct buf *out,
			    struct err *e)
{
	uint8_t proof[AUD_MAX_PROOF][AUD_HASH_LEN], root[AUD_HASH_LEN];
	size_t np;
	json_t *arr;
	status_t st;

	if (aud_tree_root(t, c->size, root) != ST_OK || memcmp(root, c->root, AUD_HASH_LEN) != 0)
		return err_set(e, ST_VERIFY, "the log does not match its latest checkpoint (size "
			       "%llu); run `airlock audit verify`", (unsigned long long)c->size);
	if ((st = aud_tree_inclusion(t, index, c->size, proof, &np, e)) != ST_OK)
		return err_set(e, st, "record %llu is not in the latest checkpoint, which covers "
			       "%llu records", (unsigned long long)index,
			       (unsigned long long)c->size);
	arr = json_array();
	for (size_t k = 0; arr && k < np; k++)
		json_array_append_new(arr, b64(proof[k]));
	return dump_into(json_pack("{s:I,s:I,s:o,s:o,s:o,s:s}", "leafIdx", (json_int_t)index,
				   "treeSize", (json_int_t)c->size, "leafHash",
				   b64(aud_tree_leaf(t, index)), "proof", arr, "root", b64(c->root),
				   "checkpoint", note ? note : ""),
			 out, e);
}

status_t aud_consistency_json(const struct aud_tree *t, uint64_t size1, uint64_t size2,
			      struct buf *out, struct err *e)
{
	uint8_t proof[AUD_MAX_PROOF][AUD_HASH_LEN], r1[AUD_HASH_LEN], r2[AUD_HASH_LEN];
	size_t np;
	json_t *arr;
	status_t st;

	if ((st = aud_tree_consistency(t, size1, size2, proof, &np, e)) != ST_OK)
		return st;
	aud_tree_root(t, size1, r1);
	aud_tree_root(t, size2, r2);
	arr = json_array();
	for (size_t k = 0; arr && k < np; k++)
		json_array_append_new(arr, b64(proof[k]));
	return dump_into(json_pack("{s:I,s:I,s:o,s:o,s:o}", "size1", (json_int_t)size1, "size2",
				   (json_int_t)size2, "root1", b64(r1), "root2", b64(r2), "proof",
				   arr),
			 out, e);
}

status_t aud_verify_report_json(const struct aud_verify_report *rep, struct buf *out,
				struct err *e)
{
	json_t *o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:o}", "ok", rep->ok, "records",
			      (json_int_t)rep->records, "segments", (json_int_t)rep->segments,
			      "pruned", (json_int_t)rep->tombstones, "checkpoints",
			      (json_int_t)rep->checkpoints, "checked_size",
			      (json_int_t)rep->checked_size, "root", b64(rep->root));

	if (o && !rep->ok)
		json_object_set_new(o, "first_bad",
				    json_pack("{s:I,s:I,s:s,s:I,s:s}", "seq", (json_int_t)rep->bad_seq,
					      "seq_last", (json_int_t)rep->bad_seq_hi, "file",
					      rep->bad_file, "offset", (json_int_t)rep->bad_offset,
					      "reason", rep->reason));
	return dump_into(o, out, e);
}
