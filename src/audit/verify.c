/*
 * verify.c - reading the log without writing it: iteration over records
 * (show, query, export), whole-log verification against the signed
 * checkpoints, and the latest checkpoint.
 *
 * Verification never repairs anything: a torn tail is reported as such
 * (opening the log for writing is what cuts it, recording the cut).
 */
#include "audit/audit_int.h"

#include <stdlib.h>
#include <string.h>

/* Reads segments in order and hands each frame to fn; stops at errors. */
struct walk {
	const char *dir;
	struct aud_tree *tree;	/* leaf hashes appended here when non-NULL */
	int (*fn)(void *arg, const struct aud__frame *f);
	void *arg;
	/* where it stopped */
	char bad_file[256];
	uint64_t bad_offset, bad_seq;
	char reason[512];
	uint64_t records, segments, tombstones;
};

static status_t walk_log(struct walk *w, struct err *e)
{
	struct vec names;
	uint64_t seq = 0;
	status_t st;

	if ((st = aud__segments_list(w->dir, &names, e)) != ST_OK)
		return st;
	for (size_t i = 0; i < names.len; i++) {
		const char *name = VEC_AT(&names, char *, i);
		char path[4400], why[256];
		char *data = NULL;
		size_t len, off;

		snprintf(path, sizeof path, "%s/%s", w->dir, name);
		if ((st = file_read_all(path, (size_t)1 << 34, &data, &len, e)) != ST_OK)
			break;
		w->segments++;
		str_copy(w->bad_file, name, sizeof w->bad_file);
		w->bad_seq = seq;
		w->bad_offset = 0;
		if (len < AUD_SEG_HDR || memcmp(data, AUD__SEG_MAGIC, 8) != 0) {
			snprintf(w->reason, sizeof w->reason, "segment header is %s",
				 len < AUD_SEG_HDR ? "cut short" : "corrupt (bad magic)");
			st = ST_CORRUPT;
		} else if (aud__get_u64((uint8_t *)data + 8) != seq) {
			snprintf(w->reason, sizeof w->reason,
				 "segment starts at seq %llu, expected %llu: records or a segment "
				 "are missing, or the header was altered",
				 (unsigned long long)aud__get_u64((uint8_t *)data + 8),
				 (unsigned long long)seq);
			st = ST_CORRUPT;
		}
		for (off = AUD_SEG_HDR; st == ST_OK && off < len;) {
			struct aud__frame f;
			enum aud__parse r = aud__frame_parse((uint8_t *)data + off, len - off, seq, &f,
							     why, sizeof why);
			if (r != AUD__FRAME_OK) {
				w->bad_offset = off;
				w->bad_seq = seq;
				snprintf(w->reason, sizeof w->reason, "%s%s", why,
					 r == AUD__FRAME_SHORT ? " (torn tail: opening the log "
					 "for writing cuts it)" : "");
				st = ST_CORRUPT;
				break;
			}
			if (w->tree && aud_tree_append(w->tree, f.leaf_hash) != ST_OK) {
				st = err_set(e, ST_NOMEM, "verify: out of memory");
				break;
			}
			w->records++;
			w->tombstones += f.type == AUD_T_TOMBSTONE;
			if (w->fn && w->fn(w->arg, &f)) {
				st = ST_CANCELLED;
				break;
			}
			off += f.total;
			seq++;
		}
		mem_free(data);
		if (st != ST_OK)
			break;
	}
	aud__names_free(&names);
	if (st == ST_CORRUPT)
		err_set(e, ST_CORRUPT, "%s/%s: offset %llu (seq %llu): %s", w->dir, w->bad_file,
			(unsigned long long)w->bad_offset, (unsigned long long)w->bad_seq,
			w->reason);
	return st;
}

struct scan_arg {
	int (*fn)(void *arg, const struct aud_record *r);
	void *arg;
	struct buf payload;
};

static int scan_frame(void *arg, const struct aud__frame *f)
{
	struct scan_arg *s = arg;
	struct aud_record r;

	memset(&r, 0, sizeof r);
	r.type = (enum aud_type)f->type;
	r.orig_type = f->type == AUD_T_TOMBSTONE ? (enum aud_type)f->payload[0] : r.type;
	r.seq = f->seq;
	r.time_ns = f->time_ns;
	memcpy(r.leaf_hash, f->leaf_hash, AUD_HASH_LEN);
	buf_reset(&s->payload);
	if (f->type != AUD_T_TOMBSTONE && buf_append(&s->payload, f->payload, f->n) != ST_OK)
		return 1;
	r.payload = buf_cstr(&s->payload);
	r.payload_len = s->payload.len;
	return s->fn(s->arg, &r);
}

status_t aud_scan(const char *data_dir, int (*fn)(void *arg, const struct aud_record *r),
		  void *arg, struct err *e)
{
	struct walk w;
	struct scan_arg s = { fn, arg, { 0 } };
	char dir[4200];
	status_t st;

	snprintf(dir, sizeof dir, "%s/audit", data_dir);
	memset(&w, 0, sizeof w);
	w.dir = dir;
	w.fn = scan_frame;
	w.arg = &s;
	buf_init(&s.payload, AUD_MAX_PAYLOAD + 1);
	st = walk_log(&w, e);
	buf_release(&s.payload);
	return st;
}

static void report_bad(struct aud_verify_report *rep, const char *file, uint64_t off,
		       uint64_t seq, uint64_t seq_hi, const char *reason)
{
	rep->ok = 0;
	str_copy(rep->bad_file, file, sizeof rep->bad_file);
	rep->bad_offset = off;
	rep->bad_seq = seq;
	rep->bad_seq_hi = seq_hi;
	str_copy(rep->reason, reason, sizeof rep->reason);
}

/*
 * Checks one signed checkpoint against the rebuilt tree. good_size is the
 * largest size proved so far (the altered record lies past it).
 */
static status_t check_one(const struct aud_verifier *v, const struct aud_tree *t,
			  const char *label, const char *text, size_t len, int64_t want_size,
			  uint64_t *good_size, struct aud_verify_report *rep, struct err *e)
{
	struct aud_checkpoint c;
	struct err ce;
	uint8_t root[AUD_HASH_LEN];
	char why[700];

	err_clear(&ce);
	if (aud_checkpoint_open(v, text, len, &c, &ce) != ST_OK) {
		snprintf(why, sizeof why, "checkpoint does not verify: %s", ce.msg);
		report_bad(rep, label, 0, *good_size, *good_size, why);
		return err_set(e, ST_VERIFY, "%s: %s", label, why);
	}
	if (strcmp(c.origin, v->name) != 0) {
		snprintf(why, sizeof why, "checkpoint is for log '%s', not '%s'", c.origin,
			 v->name);
		report_bad(rep, label, 0, *good_size, *good_size, why);
		return err_set(e, ST_VERIFY, "%s: %s", label, why);
	}
	if (want_size >= 0 && c.size != (uint64_t)want_size) {
		snprintf(why, sizeof why,
			 "file name says tree size %lld but the checkpoint inside states %llu: "
			 "checkpoint files were swapped or renamed",
			 (long long)want_size, (unsigned long long)c.size);
		report_bad(rep, label, 0, c.size, c.size, why);
		return err_set(e, ST_VERIFY, "%s: %s", label, why);
	}
	if (c.size > t->size) {
		snprintf(why, sizeof why,
			 "checkpoint covers %llu records but the log holds %llu: records "
			 "%llu..%llu were removed from the end",
			 (unsigned long long)c.size, (unsigned long long)t->size,
			 (unsigned long long)t->size, (unsigned long long)c.size - 1);
		report_bad(rep, label, 0, t->size, c.size - 1, why);
		return err_set(e, ST_VERIFY, "%s: %s", label, why);
	}
	aud_tree_root(t, c.size, root);
	if (memcmp(root, c.root, AUD_HASH_LEN) != 0) {
		uint64_t lo = *good_size <= c.size ? *good_size : 0;
		snprintf(why, sizeof why,
			 "root of records 0..%llu does not match the signed checkpoint: a record "
			 "in %llu..%llu was altered (its CRC rewritten to hide it)",
			 (unsigned long long)c.size - 1, (unsigned long long)lo,
			 (unsigned long long)c.size - 1);
		report_bad(rep, label, 0, lo, c.size - 1, why);
		return err_set(e, ST_VERIFY, "%s: %s", label, why);
	}
	rep->checkpoints++;
	if (c.size > *good_size)
		*good_size = c.size;
	if (c.size > rep->checked_size)
		rep->checked_size = c.size;
	return ST_OK;
}

status_t aud_verify(const char *data_dir, const char *extra, size_t extra_len,
		    const char *vkey, struct aud_verify_report *rep, struct err *e)
{
	struct aud_tree tree;
	struct aud_verifier v;
	struct walk w;
	struct vec names;
	char dir[4200];
	uint64_t good = 0;
	status_t st;

	memset(rep, 0, sizeof *rep);
	rep->ok = 1;
	snprintf(dir, sizeof dir, "%s/audit", data_dir);
	if (vkey)
		st = aud_verifier_parse(&v, vkey, e);
	else
		st = aud__vkey_load(data_dir, &v, e);
	if (st != ST_OK)
		return st;

	aud_tree_init(&tree);
	memset(&w, 0, sizeof w);
	w.dir = dir;
	w.tree = &tree;
	st = walk_log(&w, e);
	rep->records = w.records;
	rep->segments = w.segments;
	rep->tombstones = w.tombstones;
	if (st == ST_CORRUPT) {
		report_bad(rep, w.bad_file, w.bad_offset, w.bad_seq, w.bad_seq, w.reason);
		st = ST_VERIFY;
		goto out;
	}
	if (st != ST_OK)
		goto out;
	aud_tree_root(&tree, tree.size, rep->root);

	if ((st = aud__checkpoints_list(dir, &names, e)) != ST_OK)
		goto out;
	for (size_t i = 0; i < names.len && st == ST_OK; i++) {
		const char *name = VEC_AT(&names, char *, i);
		char path[4400], label[300], *text = NULL;
		size_t len;
		int64_t want;

		snprintf(path, sizeof path, "%s/checkpoints/%s", dir, name);
		snprintf(label, sizeof label, "checkpoints/%s", name);
		if ((st = file_read_all(path, 1 << 20, &text, &len, e)) != ST_OK)
			break;
		if (parse_i64(name, 0, INT64_MAX, &want) != ST_OK)
			want = -1;
		st = check_one(&v, &tree, label, text, len, want, &good, rep, e);
		mem_free(text);
	}
	aud__names_free(&names);
	if (st == ST_OK) {
		char path[4400], *text = NULL;
		size_t len;
		struct err le;

		err_clear(&le);
		snprintf(path, sizeof path, "%s/checkpoint", dir);
		if (file_read_all(path, 1 << 20, &text, &len, &le) == ST_OK) {
			st = check_one(&v, &tree, "checkpoint", text, len, -1, &good, rep, e);
			mem_free(text);
		}
	}
	if (st == ST_OK && extra)
		st = check_one(&v, &tree, "given checkpoint", extra, extra_len, -1, &good, rep, e);
out:
	if (st != ST_OK)
		rep->ok = 0;
	aud_tree_release(&tree);
	return st;
}

status_t aud_checkpoint_latest(const char *data_dir, struct buf *out, struct err *e)
{
	char path[4200], *text = NULL;
	size_t len;
	status_t st;

	snprintf(path, sizeof path, "%s/audit/checkpoint", data_dir);
	if ((st = file_read_all(path, 1 << 20, &text, &len, e)) != ST_OK)
		return err_set(e, st, "%s: no checkpoint yet", path);
	st = buf_append(out, text, len);
	mem_free(text);
	return st;
}
