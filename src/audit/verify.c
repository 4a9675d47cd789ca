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
#include <unistd.h>

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
	int short_tail;		/* stopped at a short frame ending the last segment */
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
				w->short_tail = r == AUD__FRAME_SHORT && i + 1 == names.len;
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

/* A checkpoint read before the records are (see aud_verify). */
struct held {
	char label[300];
	char *text;
	size_t len;
	int64_t want;	/* size its file name states; -1: none */
};

static void held_free(struct vec *h)
{
	for (size_t i = 0; i < h->len; i++)
		mem_free(VEC_AT(h, struct held, i).text);
	vec_release(h);
}

/* Reads every stored checkpoint, then the latest copy, into h. */
static status_t read_checkpoints(const char *dir, struct vec *h, struct err *e)
{
	struct vec names;
	struct held x;
	char path[4400];
	status_t st;

	vec_init(h, sizeof(struct held));
	if ((st = aud__checkpoints_list(dir, &names, e)) != ST_OK)
		return st;
	for (size_t i = 0; i <= names.len && st == ST_OK; i++) {
		struct err le;

		memset(&x, 0, sizeof x);
		err_clear(&le);
		if (i < names.len) {
			const char *name = VEC_AT(&names, char *, i);
			snprintf(path, sizeof path, "%s/checkpoints/%s", dir, name);
			snprintf(x.label, sizeof x.label, "checkpoints/%s", name);
			if (parse_i64(name, 0, INT64_MAX, &x.want) != ST_OK)
				x.want = -1;
			st = file_read_all(path, 1 << 20, &x.text, &x.len, e);
		} else {
			snprintf(path, sizeof path, "%s/checkpoint", dir);
			snprintf(x.label, sizeof x.label, "checkpoint");
			x.want = -1;
			if (file_read_all(path, 1 << 20, &x.text, &x.len, &le) != ST_OK)
				break;	/* no latest copy: only the stored ones count */
		}
		if (st == ST_OK && (st = vec_push(h, &x)) != ST_OK) {
			mem_free(x.text);
			st = err_set(e, st, "verify: out of memory");
		}
	}
	aud__names_free(&names);
	return st;
}

status_t aud_verify(const char *data_dir, const char *extra, size_t extra_len,
		    const char *vkey, struct aud_verify_report *rep, struct err *e)
{
	struct aud_tree tree;
	struct aud_verifier v;
	struct walk w;
	struct vec held;
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
	/*
	 * Checkpoints are read before the records: a checkpoint only ever
	 * covers records already on disk, so every one read now must be
	 * covered by the records read next, even while a server appends.
	 */
	if ((st = read_checkpoints(dir, &held, e)) != ST_OK) {
		held_free(&held);
		return st;
	}
	aud_tree_init(&tree);
	for (int attempt = 0;; attempt++) {
		memset(&w, 0, sizeof w);
		w.dir = dir;
		w.tree = &tree;
		st = walk_log(&w, e);
		/* A record cut short at the very end of the last segment may be a
		 * write in progress by a running server: look once more. */
		if (st != ST_CORRUPT || !w.short_tail || attempt == 1)
			break;
		aud_tree_release(&tree);
		aud_tree_init(&tree);
		usleep(100000);
	}
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
	for (size_t i = 0; i < held.len && st == ST_OK; i++) {
		struct held *x = vec_at(&held, i);
		st = check_one(&v, &tree, x->label, x->text, x->len, x->want, &good, rep, e);
	}
	if (st == ST_OK && extra)
		st = check_one(&v, &tree, "given checkpoint", extra, extra_len, -1, &good, rep, e);
out:
	if (st != ST_OK)
		rep->ok = 0;
	held_free(&held);
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
