/*
 * test_log.c - the audit log end to end: appends, reopening, checkpoints,
 * verification; tampering (every byte of a segment, a deleted or
 * reordered record, a record rewritten with a fixed-up CRC, swapped and
 * foreign checkpoints, records cut from the end), a torn tail, a full
 * disk, a failing fsync, an unwritable data directory, retention, and
 * the request record's content rules.
 */
#include "audit_tests.h"
#include "audit/audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct aud_log *open_log(const char *dir, uint64_t every)
{
	struct aud_options o;
	struct aud_log *log = NULL;
	struct err e;

	aud_options_default(&o);
	o.checkpoint_every = every;
	o.checkpoint_ms = 0;
	err_clear(&e);
	if (aud_log_open(dir, &o, &log, &e) != ST_OK)
		fail_msg("aud_log_open: %s", e.msg);
	return log;
}

static void append_n(struct aud_log *log, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		char p[64];
		struct err e;

		snprintf(p, sizeof p, "{\"i\":%d}", i);
		err_clear(&e);
		if (aud_log_append(log, AUD_T_EVENT, p, strlen(p), NULL, &e) != ST_OK)
			fail_msg("append %d: %s", i, e.msg);
	}
}

static void seg_path(const char *dir, uint64_t first, char *out, size_t n)
{
	snprintf(out, n, "%s/audit/seg-%020llu.log", dir, (unsigned long long)first);
}

static char *slurp(const char *path, size_t *len)
{
	char *d = NULL;

	TH_OK(file_read_all(path, 1 << 26, &d, len, NULL));
	return d;
}

static void spit(const char *path, const void *d, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, d, len), (ssize_t)len);
	close(fd);
}

/* Offsets of the frames in a segment image. */
static size_t frame_offsets(const char *d, size_t len, size_t *offs, size_t max)
{
	size_t n = 0, off = AUD_SEG_HDR;

	while (off + AUD_FRAME_HDR <= len && n < max) {
		offs[n++] = off;
		off += AUD_FRAME_HDR + aud__get_u32((const uint8_t *)d + off);
	}
	return n;
}

static status_t verify(const char *dir, struct aud_verify_report *rep)
{
	struct err e;

	err_clear(&e);
	return aud_verify(dir, NULL, 0, NULL, rep, &e);
}

/* The frame parser on hand-made bad frames: each gives its verdict and
 * a message saying why. */
static void test_bad_frames(void **state)
{
	uint8_t good[64], f[64];
	const char *p = "{\"a\":1}";
	size_t glen = AUD_FRAME_HDR + strlen(p);

	(void)state;
	aud__frame_header(good, AUD_T_EVENT, 7, 123, p, (uint32_t)strlen(p));
	memcpy(good + AUD_FRAME_HDR, p, strlen(p));
	/* Each case: a copy of the good frame, changed, parsed at seq 7. */
	struct { const char *what; int off; uint8_t xor_; size_t cut; uint64_t seq;
		 enum aud__parse want; const char *msg; } t[] = {
		{ "good", 0, 0, 0, 7, AUD__FRAME_OK, "" },
		{ "header cut", 0, 0, 10, 7, AUD__FRAME_SHORT, "header cut short" },
		{ "payload cut", 0, 0, 2, 7, AUD__FRAME_SHORT, "cut short" },
		{ "huge length", 3, 0x10, 0, 7, AUD__FRAME_BAD, "exceeds the limit" },
		{ "bit in CRC", 5, 0x01, 0, 7, AUD__FRAME_BAD, "CRC mismatch" },
		{ "bit in payload", AUD_FRAME_HDR + 2, 0x04, 0, 7, AUD__FRAME_BAD, "CRC mismatch" },
		{ "wrong seq", 0, 0, 0, 8, AUD__FRAME_BAD, "has seq 7 where seq 8 belongs" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct aud__frame fr;
		char why[256] = "";
		size_t len = glen - t[i].cut;
		enum aud__parse r;

		memcpy(f, good, glen);
		f[t[i].off] ^= t[i].xor_;
		r = aud__frame_parse(f, len, t[i].seq, &fr, why, sizeof why);
		if (r != t[i].want || !strstr(why, t[i].msg))
			fail_msg("%s: got %d '%s', want %d '%s'", t[i].what, r, why, t[i].want,
				 t[i].msg);
	}
	/* unknown type and a tombstone of the wrong size, with valid CRCs */
	{
		struct aud__frame fr;
		char why[256];

		aud__frame_header(f, 9, 7, 1, p, (uint32_t)strlen(p));
		memcpy(f + AUD_FRAME_HDR, p, strlen(p));
		assert_int_equal(aud__frame_parse(f, glen, 7, &fr, why, sizeof why), AUD__FRAME_BAD);
		assert_non_null(strstr(why, "unknown record type 9"));
		aud__frame_header(f, AUD_T_TOMBSTONE, 7, 1, p, (uint32_t)strlen(p));
		assert_int_equal(aud__frame_parse(f, glen, 7, &fr, why, sizeof why), AUD__FRAME_BAD);
		assert_non_null(strstr(why, "tombstone of 7 bytes"));
	}
}

static void test_append_reopen_verify(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 4);
	struct aud_verify_report rep;
	uint8_t root[32], root2[32];

	(void)state;
	append_n(log, 0, 10);
	assert_int_equal(aud_log_size(log), 10);
	TH_OK(aud_log_root(log, 10, root));
	aud_log_close(log);

	log = open_log(dir, 4);
	assert_int_equal(aud_log_size(log), 10);
	TH_OK(aud_log_root(log, 10, root2));
	assert_memory_equal(root, root2, 32);
	append_n(log, 10, 3);
	aud_log_close(log);

	TH_OK(verify(dir, &rep));
	assert_true(rep.ok);
	assert_int_equal(rep.records, 13);
	/* stored at 4, 8, 10 (close) and 13 (close), plus the latest copy */
	assert_int_equal(rep.checkpoints, 5);
	assert_int_equal(rep.checked_size, 13);
	th_tmpdir_cleanup();
}

/* A second writer on the same log is refused. */
static void test_one_writer(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 0), *two = NULL;
	struct err e;

	(void)state;
	err_clear(&e);
	TH_ST(aud_log_open(dir, NULL, &two, &e), ST_BUSY);
	assert_non_null(strstr(e.msg, "another process"));
	aud_log_close(log);
	th_tmpdir_cleanup();
}

/* Concurrent writers: every record lands once, in a verifiable log. */
struct writer_arg {
	struct aud_log *log;
	int id, n;
	int failures;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;

	for (int i = 0; i < a->n; i++) {
		char buf[64];
		snprintf(buf, sizeof buf, "{\"w\":%d,\"i\":%d}", a->id, i);
		if (aud_log_append(a->log, AUD_T_EVENT, buf, strlen(buf), NULL, NULL) != ST_OK)
			a->failures++;
	}
	return NULL;
}

static void test_group_commit_threads(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 50);
	struct writer_arg args[8];
	pthread_t th[8];
	struct aud_stats stats;
	struct aud_verify_report rep;

	(void)state;
	for (int i = 0; i < 8; i++) {
		args[i] = (struct writer_arg){ log, i, 40, 0 };
		pthread_create(&th[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	aud_log_stats(log, &stats);
	assert_int_equal(stats.appends, 320);
	assert_true(stats.fsyncs >= 1 && stats.fsyncs <= 320);
	aud_log_close(log);
	TH_OK(verify(dir, &rep));
	assert_int_equal(rep.records, 320);
	th_tmpdir_cleanup();
}

/* With fsync off appends do not wait, but a checkpoint never runs ahead
 * of what is on disk: each one is preceded by an fsync. */
static void test_relaxed_durability(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_options o;
	struct aud_log *log;
	struct aud_stats s;
	struct aud_verify_report rep;

	(void)state;
	aud_options_default(&o);
	o.durable = 0;
	o.checkpoint_every = 4;
	o.checkpoint_ms = 0;
	TH_OK(aud_log_open(dir, &o, &log, NULL));
	append_n(log, 0, 3);
	aud_log_stats(log, &s);
	assert_int_equal(s.fsyncs, 0);
	append_n(log, 3, 6);
	aud_log_stats(log, &s);
	assert_int_equal(s.checkpoints, 2);	/* at 4 and 8 */
	assert_int_equal(s.fsyncs, 2);
	aud_log_close(log);
	TH_OK(verify(dir, &rep));
	assert_int_equal(rep.checked_size, 9);	/* the close checkpoint */
	th_tmpdir_cleanup();
}

/* Verifying while a writer appends and checkpoints never reports a
 * healthy log as bad. */
struct live {
	struct aud_log *log;
	volatile int done;
};

static void *live_writer(void *p)
{
	struct live *l = p;

	for (int i = 0; i < 3000; i++) {
		char buf[64];
		snprintf(buf, sizeof buf, "{\"live\":%d}", i);
		if (aud_log_append(l->log, AUD_T_EVENT, buf, strlen(buf), NULL, NULL) != ST_OK)
			break;
	}
	l->done = 1;
	return NULL;
}

static void test_verify_live_log(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_options o;
	struct live l = { NULL, 0 };
	pthread_t th;
	int runs = 0;

	(void)state;
	aud_options_default(&o);
	o.durable = 0;
	o.checkpoint_every = 50;
	o.segment_bytes = 8192;
	TH_OK(aud_log_open(dir, &o, &l.log, NULL));
	pthread_create(&th, NULL, live_writer, &l);
	while (!l.done || runs == 0) {
		struct aud_verify_report rep;
		struct err e;

		err_clear(&e);
		if (aud_verify(dir, NULL, 0, NULL, &rep, &e) != ST_OK)
			fail_msg("verify of a live log failed: %s (%s)", rep.reason, e.msg);
		runs++;
	}
	pthread_join(th, NULL);
	aud_log_close(l.log);
	assert_true(runs > 0);
	th_tmpdir_cleanup();
}

/* Segments roll over and verification follows them. */
static void test_segments_roll(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_options o;
	struct aud_log *log;
	struct vec names;
	struct aud_verify_report rep;
	char ad[4200];

	(void)state;
	aud_options_default(&o);
	o.segment_bytes = 4096;
	o.checkpoint_every = 30;
	TH_OK(aud_log_open(dir, &o, &log, NULL));
	for (int i = 0; i < 200; i++) {
		char p[128];
		snprintf(p, sizeof p, "{\"i\":%d,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}", i);
		TH_OK(aud_log_append(log, AUD_T_EVENT, p, strlen(p), NULL, NULL));
	}
	aud_log_close(log);
	snprintf(ad, sizeof ad, "%s/audit", dir);
	TH_OK(aud__segments_list(ad, &names, NULL));
	assert_true(names.len >= 3);
	aud__names_free(&names);
	TH_OK(verify(dir, &rep));
	assert_int_equal(rep.records, 200);
	assert_true(rep.segments >= 3);
	/* Deleting a middle segment is found. */
	TH_OK(aud__segments_list(ad, &names, NULL));
	{
		char p[4400];
		snprintf(p, sizeof p, "%s/%s", ad, VEC_AT(&names, char *, 1));
		unlink(p);
	}
	aud__names_free(&names);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_non_null(strstr(rep.reason, "segment are missing"));
	th_tmpdir_cleanup();
}

/* A small log of 6 records with checkpoints: the tamper subject. */
static const char *tamper_subject(char *seg, size_t n)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 2);

	append_n(log, 0, 6);
	aud_log_close(log);
	seg_path(dir, 0, seg, n);
	return dir;
}

/* Change one byte anywhere in the segment: verify names that record. */
static void test_tamper_every_byte(void **state)
{
	char seg[4400];
	const char *dir = tamper_subject(seg, sizeof seg);
	size_t len, offs[16], nf;
	char *d = slurp(seg, &len);
	struct aud_verify_report rep;

	(void)state;
	nf = frame_offsets(d, len, offs, 16);
	assert_int_equal(nf, 6);
	for (size_t i = 0; i < len; i++) {
		size_t r = 0;

		d[i] ^= 0x20;
		spit(seg, d, len);
		if (verify(dir, &rep) != ST_VERIFY || rep.ok)
			fail_msg("byte %zu changed, yet verify passed", i);
		if (i < AUD_SEG_HDR) {
			assert_int_equal(rep.bad_offset, 0);
			assert_true(strstr(rep.reason, "segment") != NULL);
		} else {
			while (r + 1 < nf && offs[r + 1] <= i)
				r++;
			if (rep.bad_seq != r || rep.bad_offset != offs[r])
				fail_msg("byte %zu (record %zu at %zu): report says seq %llu offset "
					 "%llu: %s", i, r, offs[r], (unsigned long long)rep.bad_seq,
					 (unsigned long long)rep.bad_offset, rep.reason);
		}
		d[i] ^= 0x20;
	}
	spit(seg, d, len);
	TH_OK(verify(dir, &rep));
	mem_free(d);
	th_tmpdir_cleanup();
}

static void test_delete_and_reorder(void **state)
{
	char seg[4400], *d, *m;
	const char *dir = tamper_subject(seg, sizeof seg);
	size_t len, offs[16], l2, l3;
	struct aud_verify_report rep;

	(void)state;
	d = slurp(seg, &len);
	frame_offsets(d, len, offs, 16);
	l2 = offs[3] - offs[2];
	l3 = offs[4] - offs[3];
	/* delete record 2 */
	m = mem_alloc(len);
	memcpy(m, d, offs[2]);
	memcpy(m + offs[2], d + offs[3], len - offs[3]);
	spit(seg, m, len - l2);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_int_equal(rep.bad_seq, 2);
	assert_int_equal(rep.bad_offset, offs[2]);
	assert_non_null(strstr(rep.reason, "has seq 3 where seq 2 belongs"));
	/* swap records 2 and 3 */
	memcpy(m, d, len);
	memcpy(m + offs[2], d + offs[3], l3);
	memcpy(m + offs[2] + l3, d + offs[2], l2);
	spit(seg, m, len);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_int_equal(rep.bad_seq, 2);
	assert_non_null(strstr(rep.reason, "deleted, reordered"));
	/* cut the last record off the end: the checkpoints still cover it */
	spit(seg, d, offs[5]);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_non_null(strstr(rep.reason, "removed from the end"));
	{
		struct aud_log *log = NULL;
		struct err e;
		err_clear(&e);
		TH_ST(aud_log_open(dir, NULL, &log, &e), ST_CORRUPT);
		assert_non_null(strstr(e.msg, "refusing to cut"));
	}
	mem_free(m);
	mem_free(d);
	th_tmpdir_cleanup();
}

/* Rewriting a record and fixing its CRC escapes the CRC, not the tree. */
static void test_tamper_with_crc_fixed(void **state)
{
	char seg[4400], *d;
	const char *dir = tamper_subject(seg, sizeof seg);
	size_t len, offs[16];
	struct aud_verify_report rep;
	uint8_t *f;

	(void)state;
	d = slurp(seg, &len);
	frame_offsets(d, len, offs, 16);
	f = (uint8_t *)d + offs[3];
	f[AUD_FRAME_HDR + 5] ^= 0x01;	/* {"i":3} -> {"i":2} */
	aud__frame_header(f, f[8], aud__get_u64(f + 9), aud__get_u64(f + 17), f + AUD_FRAME_HDR,
			  aud__get_u32(f));
	spit(seg, d, len);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_non_null(strstr(rep.reason, "does not match the signed checkpoint"));
	/* The first checkpoint that fails is the one of size 4: the altered
	 * record lies in 2..3, past the checkpoint of size 2 that held. */
	assert_int_equal(rep.bad_seq, 2);
	assert_int_equal(rep.bad_seq_hi, 3);
	assert_string_equal(rep.bad_file, "checkpoints/00000000000000000004");
	mem_free(d);
	th_tmpdir_cleanup();
}

static void test_swapped_and_foreign_checkpoint(void **state)
{
	char seg[4400], p2[4400], p4[4400], *c2, *c4;
	const char *dir = tamper_subject(seg, sizeof seg);
	size_t l2, l4;
	struct aud_verify_report rep;
	struct aud_signer other;
	struct aud_checkpoint c = { "airlock.local/audit", 2, { 0 } };
	struct buf body, note;
	uint8_t seed[32] = { 9 };

	(void)state;
	snprintf(p2, sizeof p2, "%s/audit/checkpoints/%020d", dir, 2);
	snprintf(p4, sizeof p4, "%s/audit/checkpoints/%020d", dir, 4);
	c2 = slurp(p2, &l2);
	c4 = slurp(p4, &l4);
	spit(p2, c4, l4);
	spit(p4, c2, l2);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_string_equal(rep.bad_file, "checkpoints/00000000000000000002");
	assert_non_null(strstr(rep.reason, "swapped or renamed"));
	spit(p2, c2, l2);
	spit(p4, c4, l4);
	TH_OK(verify(dir, &rep));

	/* A checkpoint signed by another key (same name) does not verify. */
	TH_OK(aud_signer_init(&other, "airlock.local/audit", seed, NULL));
	buf_init(&body, 0);
	buf_init(&note, 0);
	TH_OK(aud_checkpoint_format(&c, &body));
	TH_OK(aud_note_sign(&other, body.data, body.len, &note, NULL));
	spit(p2, note.data, note.len);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_string_equal(rep.bad_file, "checkpoints/00000000000000000002");
	assert_non_null(strstr(rep.reason, "does not verify"));
	/* The same, handed in as an external checkpoint. */
	spit(p2, c2, l2);
	TH_ST(aud_verify(dir, note.data, note.len, NULL, &rep, NULL), ST_VERIFY);
	assert_string_equal(rep.bad_file, "given checkpoint");
	TH_OK(aud_verify(dir, c4, l4, NULL, &rep, NULL));
	buf_release(&body);
	buf_release(&note);
	mem_free(c2);
	mem_free(c4);
	th_tmpdir_cleanup();
}

struct find {
	uint64_t seq;
	enum aud_type type;
	char payload[512];
};

static int find_cb(void *arg, const struct aud_record *r)
{
	struct find *f = arg;

	if (r->seq != f->seq)
		return 0;
	f->type = r->type;
	str_copy(f->payload, r->payload, sizeof f->payload);
	return 1;
}

static void test_torn_tail_recovery(void **state)
{
	char seg[4400], torn[4500];
	const char *dir = tamper_subject(seg, sizeof seg);
	struct aud_verify_report rep;
	struct aud_log *log;
	size_t len;
	char *d;
	uint8_t hdr[AUD_FRAME_HDR];
	const char *p = "{\"i\":6}";
	struct stat sb;

	(void)state;
	/* Half of record 6's frame reached the disk. */
	d = slurp(seg, &len);
	aud__frame_header(hdr, AUD_T_EVENT, 6, 1, p, (uint32_t)strlen(p));
	d = mem_realloc(d, len + 20);
	memcpy(d + len, hdr, 20);
	spit(seg, d, len + 20);
	TH_ST(verify(dir, &rep), ST_VERIFY);
	assert_non_null(strstr(rep.reason, "torn tail"));
	assert_int_equal(rep.bad_offset, len);

	log = open_log(dir, 2);
	assert_int_equal(aud_log_size(log), 7);	/* 6 + the recovery record */
	append_n(log, 7, 2);
	aud_log_close(log);
	TH_OK(verify(dir, &rep));
	assert_int_equal(rep.records, 9);
	{
		/* The cut is itself on the record, where record 6 would have been. */
		struct find f = { 6, 0, "" };
		char want[256];

		TH_ST(aud_scan(dir, find_cb, &f, NULL), ST_CANCELLED);
		assert_int_equal(f.type, AUD_T_RECOVERY);
		snprintf(want, sizeof want,
			 "{\"event\":\"recovery\",\"segment\":\"seg-00000000000000000000.log\","
			 "\"offset\":%zu,\"bytes_cut\":20,\"kept_as\":"
			 "\"seg-00000000000000000000.log.torn-%zu\",\"reason\":\"record header cut "
			 "short (20 of 25 bytes)\"}", len, len);
		assert_string_equal(f.payload, want);
	}
	snprintf(torn, sizeof torn, "%s.torn-%zu", seg, len);
	assert_int_equal(stat(torn, &sb), 0);
	assert_int_equal(sb.st_size, 20);
	mem_free(d);
	th_tmpdir_cleanup();
}

/* ---- write failures through the I/O shim ---- */

static int shim_fail_errno;
static long shim_fail_after;	/* successful writes before failing */

static ssize_t shim_write(int fd, const void *p, size_t n)
{
	if (shim_fail_after-- > 0)
		return write(fd, p, n);
	/* half the bytes, then the error: a full disk mid-record */
	if (n > 1 && shim_fail_after == -1)
		return write(fd, p, n / 2);
	errno = shim_fail_errno;
	return -1;
}

static int shim_fsync_fail(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

static void test_full_disk(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 0);
	struct aud_verify_report rep;
	struct err e;

	(void)state;
	append_n(log, 0, 3);
	shim_fail_errno = ENOSPC;
	shim_fail_after = 0;
	aud__io.write = shim_write;
	err_clear(&e);
	TH_ST(aud_log_append(log, AUD_T_EVENT, "{\"x\":1}", 7, NULL, &e), ST_LIMIT);
	assert_non_null(strstr(e.msg, "No space left"));
	aud__io_reset();
	assert_int_equal(aud_log_size(log), 3);
	/* Nothing partial stays behind; the log takes records again. */
	append_n(log, 3, 2);
	aud_log_close(log);
	TH_OK(verify(dir, &rep));
	assert_int_equal(rep.records, 5);
	th_tmpdir_cleanup();
}

static void test_fsync_failure_stops_appends(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 0);
	struct err e;

	(void)state;
	append_n(log, 0, 2);
	aud__io.fsync = shim_fsync_fail;
	err_clear(&e);
	TH_ST(aud_log_append(log, AUD_T_EVENT, "{}", 2, NULL, &e), ST_IO);
	assert_non_null(strstr(e.msg, "fsync"));
	aud__io_reset();
	err_clear(&e);
	TH_ST(aud_log_append(log, AUD_T_EVENT, "{}", 2, NULL, &e), ST_IO);
	assert_non_null(strstr(e.msg, "refusing appends"));
	aud_log_close(log);
	th_tmpdir_cleanup();
}

static void test_unwritable_dir(void **state)
{
	const char *dir = th_tmpdir();
	char path[4200];
	struct aud_log *log = NULL;
	struct err e;

	(void)state;
	/* A data directory that is a file. */
	snprintf(path, sizeof path, "%s/file", dir);
	spit(path, "x", 1);
	err_clear(&e);
	assert_int_not_equal(aud_log_open(path, NULL, &log, &e), ST_OK);
	assert_null(log);
	assert_true(e.msg[0] != '\0');
	/* A read-only directory (root ignores modes: then only the above). */
	if (geteuid() != 0) {
		snprintf(path, sizeof path, "%s/ro", dir);
		mkdir(path, 0500);
		err_clear(&e);
		TH_ST(aud_log_open(path, NULL, &log, &e), ST_PERM);
	}
	/* A signing key readable by others is refused. */
	snprintf(path, sizeof path, "%s/d2", dir);
	log = open_log(path, 0);
	aud_log_close(log);
	snprintf(path, sizeof path, "%s/d2/keys/audit.key", dir);
	chmod(path, 0644);
	snprintf(path, sizeof path, "%s/d2", dir);
	err_clear(&e);
	TH_ST(aud_log_open(path, NULL, &log, &e), ST_PERM);
	assert_non_null(strstr(e.msg, "chmod 600"));
	th_tmpdir_cleanup();
}

/* The Nth allocation fails, for every N an open-append-prune-close cycle
 * makes: each failure is reported, nothing leaks (ASan), and the log
 * stays verifiable. */
static void test_allocation_failures(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_verify_report rep;
	int failures = 0, n;

	(void)state;
	for (n = 0; n < 300; n++) {
		struct aud_log *log = NULL;
		struct err e;
		status_t st;
		uint64_t pruned;

		err_clear(&e);
		mem_fail_after(n, 1);
		st = aud_log_open(dir, NULL, &log, &e);
		if (st == ST_OK) {
			for (int i = 0; i < 3 && st == ST_OK; i++)
				st = aud_log_append(log, AUD_T_EVENT, "{\"a\":1}", 7, NULL, &e);
			if (st == ST_OK)
				st = aud_log_prune(log, 1, &pruned, &e);
			aud_log_close(log);
		}
		mem_fail_reset();
		if (st != ST_OK) {
			failures++;
			assert_true(e.msg[0] != '\0');
		}
	}
	assert_true(failures > 0);
	TH_OK(verify(dir, &rep));
	th_tmpdir_cleanup();
}

/* ---- retention ---- */

struct collect {
	int tombstones, live;
	uint8_t leaf[64][32];
	int n;
};

static int collect_cb(void *arg, const struct aud_record *r)
{
	struct collect *c = arg;

	if (r->type == AUD_T_TOMBSTONE)
		c->tombstones++;
	else
		c->live++;
	if (c->n < 64)
		memcpy(c->leaf[c->n++], r->leaf_hash, 32);
	return 0;
}

static void test_prune_keeps_proofs(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 3);
	struct collect before = { 0 }, after = { 0 };
	struct aud_verify_report rep;
	uint64_t pruned, horizon;
	uint8_t root[32], root2[32];

	(void)state;
	append_n(log, 0, 5);
	horizon = time_wall_ns() + 1;
	append_n(log, 5, 0);
	TH_OK(aud_log_root(log, 5, root));
	TH_OK(aud_scan(dir, collect_cb, &before, NULL));
	TH_OK(aud_log_prune(log, horizon, &pruned, NULL));
	assert_int_equal(pruned, 5);
	append_n(log, 100, 2);
	TH_OK(aud_log_root(log, 5, root2));
	assert_memory_equal(root, root2, 32);
	aud_log_close(log);
	TH_OK(aud_scan(dir, collect_cb, &after, NULL));
	assert_int_equal(after.tombstones, 5);
	assert_int_equal(after.live, 3);	/* the prune event and 2 new */
	for (int i = 0; i < 5; i++)
		assert_memory_equal(before.leaf[i], after.leaf[i], 32);
	/* Old checkpoints (3, 5) still verify over the tombstones. */
	TH_OK(verify(dir, &rep));
	assert_int_equal(rep.tombstones, 5);
	assert_int_equal(rep.records, 8);
	/* The reopened log rebuilds the same tree. */
	log = open_log(dir, 3);
	TH_OK(aud_log_root(log, 5, root2));
	assert_memory_equal(root, root2, 32);
	aud_log_close(log);
	th_tmpdir_cleanup();
}

/* ---- what a request record holds ---- */

static void test_request_record(void **state)
{
	uint8_t h[32];
	struct aud_decision dec[2] = { { "secrets.aws", "redact" }, { "scope.team", "allow" } };
	struct aud_source src[1] = { { "core", "src/a.c", 10, 20, NULL } };
	struct aud_request r = {
		.id = "req-1", .time_ns = 1700000000123456789ull, .user = "ana", .team = "pay",
		.endpoint = "/v1/completions", .model = "qwen", .model_sha256 = h,
		.prompt_sha256 = h, .output_sha256 = h, .prompt_tokens = 12, .output_tokens = 7,
		.latency_ms = 42, .decisions = dec, .n_decisions = 2, .sources = src,
		.n_sources = 1, .prompt_text = "secret code", .output_text = "more code",
		.status = "ok",
	};
	char *j;
	size_t n;
	json_t *o;

	(void)state;
	memset(h, 0xab, sizeof h);
	TH_OK(aud_request_json(&r, 0, &j, &n, NULL));
	assert_null(strstr(j, "secret code"));
	o = json_loads(j, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "user")), "ana");
	assert_string_equal(json_string_value(json_object_get(o, "time")),
			    "2023-11-14T22:13:20.123456789Z");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(o, "decisions"), 0), "rule")), "secrets.aws");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(
		json_array_get(json_object_get(o, "sources"), 0), "lines"), 1)), 20);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "prompt_sha256"))), 64);
	json_decref(o);
	mem_free(j);
	TH_OK(aud_request_json(&r, 1, &j, &n, NULL));
	assert_non_null(strstr(j, "\"prompt\":\"secret code\""));
	mem_free(j);
}

/* ---- queries and JSON for the admin endpoints ---- */

static int count_cb(void *arg, const struct aud_record *r, const char *line, size_t len)
{
	(void)r;
	assert_true(len > 0 && line[0] == '{');
	++*(int *)arg;
	return 0;
}

static int query_count(const char *dir, const struct aud_query *q)
{
	int n = 0;

	TH_OK(aud_query_run(dir, q, count_cb, &n, NULL));
	return n;
}

static void test_query_and_json(void **state)
{
	const char *dir = th_tmpdir();
	struct aud_log *log = open_log(dir, 0);
	struct aud_decision block = { "secrets.key", "block" };
	struct aud_query q;
	struct buf out;
	json_t *j, *arr;
	uint8_t leaf[64], root[64], proof[AUD_MAX_PROOF][64];
	const uint8_t *pp[AUD_MAX_PROOF];
	size_t pl[AUD_MAX_PROOF], ll = sizeof leaf, rl = sizeof root, np;
	struct aud_verify_report rep;

	(void)state;
	for (int i = 0; i < 6; i++) {
		struct aud_request r = { .id = "x", .time_ns = 1000000000ull * (100 + (uint64_t)i),
					 .user = i < 4 ? "ana" : "bob", .team = i % 2 ? "pay" : "ops",
					 .decisions = &block, .n_decisions = i == 5 };
		TH_OK(aud_log_request(log, &r, NULL, NULL));
	}
	{
		struct aud_admin a = { .time_ns = 1, .actor = "root", .action = "token.revoke",
				       .target = "ana" };
		TH_OK(aud_log_admin(log, &a, NULL, NULL));
	}
	TH_OK(aud_log_checkpoint(log, NULL));
	aud_query_init(&q);
	assert_int_equal(query_count(dir, &q), 7);
	q.user = "ana";
	assert_int_equal(query_count(dir, &q), 4);
	q.team = "pay";
	assert_int_equal(query_count(dir, &q), 2);
	aud_query_init(&q);
	q.action = "block";
	assert_int_equal(query_count(dir, &q), 1);
	q.action = "token.revoke";
	assert_int_equal(query_count(dir, &q), 1);
	aud_query_init(&q);
	q.user = "root";	/* admin actor */
	assert_int_equal(query_count(dir, &q), 1);
	aud_query_init(&q);
	q.seq = 2;
	assert_int_equal(query_count(dir, &q), 1);

	/* The proof JSON of the running log verifies with the verifier. */
	buf_init(&out, 0);
	TH_OK(aud_log_inclusion_json(log, 3, &out, NULL));
	j = json_loads(buf_cstr(&out), 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "treeSize")), 7);
	TH_OK(base64_decode(json_string_value(json_object_get(j, "leafHash")), 44, leaf, &ll));
	TH_OK(base64_decode(json_string_value(json_object_get(j, "root")), 44, root, &rl));
	arr = json_object_get(j, "proof");
	np = json_array_size(arr);
	for (size_t k = 0; k < np; k++) {
		pl[k] = 64;
		TH_OK(base64_decode(json_string_value(json_array_get(arr, k)), 44, proof[k], &pl[k]));
		pp[k] = proof[k];
	}
	TH_OK(aud_verify_inclusion(3, 7, leaf, ll, pp, pl, np, root, rl, NULL));
	json_decref(j);
	buf_reset(&out);
	TH_OK(aud_log_consistency_json(log, 2, 7, &out, NULL));
	assert_non_null(strstr(buf_cstr(&out), "\"size2\": 7"));
	buf_reset(&out);
	TH_ST(aud_log_inclusion_json(log, 7, &out, NULL), ST_INVAL);
	aud_log_close(log);

	/* the report of a failed verification names the first bad record */
	memset(&rep, 0, sizeof rep);
	rep.bad_seq = rep.bad_seq_hi = 4;
	str_copy(rep.bad_file, "seg-x.log", sizeof rep.bad_file);
	str_copy(rep.reason, "CRC mismatch", sizeof rep.reason);
	buf_reset(&out);
	TH_OK(aud_verify_report_json(&rep, &out, NULL));
	j = json_loads(buf_cstr(&out), 0, NULL);
	assert_false(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "first_bad"), "seq")),
			 4);
	json_decref(j);
	buf_release(&out);
	th_tmpdir_cleanup();
}

int run_log_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_append_reopen_verify),
		cmocka_unit_test(test_one_writer),
		cmocka_unit_test(test_group_commit_threads),
		cmocka_unit_test(test_relaxed_durability),
		cmocka_unit_test(test_verify_live_log),
		cmocka_unit_test(test_segments_roll),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_delete_and_reorder),
		cmocka_unit_test(test_tamper_with_crc_fixed),
		cmocka_unit_test(test_swapped_and_foreign_checkpoint),
		cmocka_unit_test(test_torn_tail_recovery),
		cmocka_unit_test(test_full_disk),
		cmocka_unit_test(test_fsync_failure_stops_appends),
		cmocka_unit_test(test_unwritable_dir),
		cmocka_unit_test(test_allocation_failures),
		cmocka_unit_test(test_prune_keeps_proofs),
		cmocka_unit_test(test_request_record),
		cmocka_unit_test(test_query_and_json),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
