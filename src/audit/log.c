/*
 * log.c - the audit log writer: opening with recovery of a torn tail,
 * appends with group commit, segment roll-over, signed checkpoints and
 * retention pruning.
 *
 * Group commit: a writer appends its frame under the mutex, then waits
 * until a sync covers its record. The first waiter to find no sync in
 * progress becomes the leader: it notes how many records are written,
 * drops the mutex, fsyncs, and wakes everyone whose record that covered.
 * Writers arriving meanwhile queue behind the next sync, so one fsync
 * serves every record written while the previous one ran.
 */
#include "audit/audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct aud_log {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char data_dir[4096];
	char dir[4200];		/* data_dir/audit */
	char seg_path[4400];	/* active segment */
	int fd;			/* active segment, O_APPEND */
	int lock_fd;
	uint64_t seg_bytes;	/* size of the active segment */
	uint64_t seg_first;	/* first seq of the active segment */
	struct aud_tree tree;	/* tree.size == records written */
	uint64_t synced;	/* records known durable */
	int syncing;		/* a leader is in fsync */
	int failed;		/* an fsync failed: refuse appends */
	char fail_msg[4608];
	struct aud_options opt;
	char origin[128];
	struct aud_signer signer;
	char vkey[256];
	uint64_t ckpt_size;	/* tree size of the latest checkpoint */
	uint64_t ckpt_ns;	/* monotonic time of the latest checkpoint */
	struct aud_stats stats;
};

void aud_options_default(struct aud_options *o)
{
	memset(o, 0, sizeof *o);
	o->durable = 1;
	o->checkpoint_every = 1000;
	o->checkpoint_ms = 60000;
	o->segment_bytes = 64u << 20;
}

void aud_options_from_config(struct aud_options *o, const struct config *cfg)
{
	aud_options_default(o);
	if (!cfg)
		return;
	o->durable = strcmp(config_str(cfg, "audit.fsync"), "off") != 0;
	o->checkpoint_every = (uint64_t)config_int(cfg, "audit.checkpoint_every");
	o->checkpoint_ms = (uint64_t)config_int(cfg, "audit.checkpoint_interval");
	o->segment_bytes = (uint64_t)config_int(cfg, "audit.segment_size");
	o->store_content = config_bool(cfg, "audit.store_content");
	if (config_str(cfg, "audit.origin")[0])
		o->origin = config_str(cfg, "audit.origin");
}

static status_t io_err(struct err *e, int errnum, const char *what, const char *path)
{
	status_t st = errnum == ENOSPC || errnum == EDQUOT ? ST_LIMIT :
		      errnum == EACCES || errnum == EPERM || errnum == EROFS ? ST_PERM : ST_IO;

	return err_set(e, st, "%s %s: %s", what, path, strerror(errnum));
}

/* Writes all of p through the hook; returns 0 or an errno. */
static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;

	while (n) {
		ssize_t w = aud__io.write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno ? errno : EIO;
		}
		if (w == 0)
			return ENOSPC;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return errno;
	rc = fsync(fd) ? errno : 0;
	close(fd);
	return rc;
}

/* Creates segment seg-<first>.log with its header, durably. */
static status_t segment_create(struct aud_log *log, uint64_t first, struct err *e)
{
	uint8_t hdr[AUD_SEG_HDR];
	int fd, rc;

	snprintf(log->seg_path, sizeof log->seg_path, "%s/seg-%020llu.log", log->dir,
		 (unsigned long long)first);
	fd = open(log->seg_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return io_err(e, errno, "cannot create audit segment", log->seg_path);
	memcpy(hdr, AUD__SEG_MAGIC, 8);
	aud__put_u64(hdr + 8, first);
	if ((rc = write_all(fd, hdr, sizeof hdr)) != 0 || (rc = aud__io.fsync(fd) ? errno : 0)) {
		close(fd);
		unlink(log->seg_path);
		return io_err(e, rc, "cannot write audit segment", log->seg_path);
	}
	if ((rc = fsync_dir(log->dir)) != 0) {
		close(fd);
		return io_err(e, rc, "cannot sync directory", log->dir);
	}
	log->fd = fd;
	log->seg_bytes = AUD_SEG_HDR;
	log->seg_first = first;
	return ST_OK;
}

/* Removes the last leaf of t (undoing aud_tree_append after a failed write). */
static void tree_pop(struct aud_tree *t)
{
	int top = __builtin_ctzll(t->size);

	for (int k = 0; k <= top && k < 64; k++)
		t->levels[k].len--;
	t->size--;
}

static status_t write_checkpoint_locked(struct aud_log *log, uint64_t size, struct err *e)
{
	struct aud_checkpoint c;
	struct buf body, note;
	char path[4400];
	status_t st;

	memset(&c, 0, sizeof c);
	str_copy(c.origin, log->origin, sizeof c.origin);
	c.size = size;
	if ((st = aud_tree_root(&log->tree, size, c.root)) != ST_OK)
		return err_set(e, st, "checkpoint: bad size");
	buf_init(&body, 4096);
	buf_init(&note, 8192);
	if ((st = aud_checkpoint_format(&c, &body)) != ST_OK ||
	    (st = aud_note_sign(&log->signer, body.data, body.len, &note, e)) != ST_OK)
		goto out;
	snprintf(path, sizeof path, "%s/checkpoints/%020llu", log->dir, (unsigned long long)size);
	if ((st = file_write_atomic(path, note.data, note.len, 0644, e)) != ST_OK)
		goto out;
	snprintf(path, sizeof path, "%s/checkpoint", log->dir);
	if ((st = file_write_atomic(path, note.data, note.len, 0644, e)) != ST_OK)
		goto out;
	log->ckpt_size = size;
	log->ckpt_ns = time_mono_ns();
	log->stats.checkpoints++;
out:
	buf_release(&body);
	buf_release(&note);
	return st;
}

static status_t sync_until_locked(struct aud_log *log, uint64_t want, struct err *e);

/*
 * Checkpoints when a threshold is reached. A checkpoint only ever covers
 * records known to be on disk: with fsync off, it syncs first, so a crash
 * can never leave a signed checkpoint ahead of the log.
 */
static void maybe_checkpoint_locked(struct aud_log *log)
{
	struct err e;
	uint64_t size = log->tree.size;
	int due;

	if (size <= log->ckpt_size)
		return;
	due = (log->opt.checkpoint_every && size - log->ckpt_size >= log->opt.checkpoint_every) ||
	      (log->opt.checkpoint_ms &&
	       time_mono_ns() - log->ckpt_ns >= log->opt.checkpoint_ms * 1000000ull);
	if (!due)
		return;
	err_clear(&e);
	if (sync_until_locked(log, size, &e) != ST_OK ||
	    (log->synced > log->ckpt_size &&
	     write_checkpoint_locked(log, log->synced, &e) != ST_OK))
		LOG_ERROR("audit.checkpoint_failed", LF_STR("error", e.msg));
}

/* Waits until a sync covers `want` records (group commit). */
static status_t sync_until_locked(struct aud_log *log, uint64_t want, struct err *e)
{
	while (log->synced < want && !log->failed) {
		if (!log->syncing) {
			uint64_t target, t0 = time_mono_ns();
			int fd = log->fd, rc;

			log->syncing = 1;
			/* Let writers that are about to append join this sync: one
			 * yield costs microseconds, an fsync milliseconds. */
			pthread_mutex_unlock(&log->mu);
			sched_yield();
			pthread_mutex_lock(&log->mu);
			target = log->tree.size;
			pthread_mutex_unlock(&log->mu);
			rc = aud__io.fsync(fd) ? (errno ? errno : EIO) : 0;
			pthread_mutex_lock(&log->mu);
			log->syncing = 0;
			log->stats.fsyncs++;
			log->stats.fsync_ns_total += time_mono_ns() - t0;
			if (rc) {
				/* After a failed fsync the kernel may have dropped the
				 * dirty pages: nothing written since the last good sync
				 * can be trusted, so the log stops taking records. */
				log->failed = 1;
				snprintf(log->fail_msg, sizeof log->fail_msg, "fsync of %s failed: %s",
					 log->seg_path, strerror(rc));
				LOG_ERROR("audit.fsync_failed", LF_STR("error", log->fail_msg));
			} else if (target > log->synced) {
				log->synced = target;
			}
			pthread_cond_broadcast(&log->cv);
		} else {
			pthread_cond_wait(&log->cv, &log->mu);
		}
	}
	if (log->synced < want)
		return err_set(e, ST_IO, "audit log: %s; refusing appends until restart",
			       log->fail_msg);
	return ST_OK;
}

/* Closes the active segment (durably) and starts the next. */
static status_t roll_locked(struct aud_log *log, struct err *e)
{
	int rc;

	while (log->syncing)
		pthread_cond_wait(&log->cv, &log->mu);
	if (aud__io.fsync(log->fd) != 0) {
		rc = errno;
		log->failed = 1;
		snprintf(log->fail_msg, sizeof log->fail_msg, "fsync of %s failed: %s",
			 log->seg_path, strerror(rc));
		return err_set(e, ST_IO, "audit log: %s", log->fail_msg);
	}
	log->synced = log->tree.size;
	close(log->fd);
	log->fd = -1;
	return segment_create(log, log->tree.size, e);
}

status_t aud_log_append(struct aud_log *log, enum aud_type type, const void *payload,
			size_t n, uint64_t *seq_out, struct err *e)
{
	uint8_t stackbuf[1024], *frame = stackbuf, leaf[AUD_HASH_LEN];
	size_t total = AUD_FRAME_HDR + n;
	uint64_t seq;
	status_t st = ST_OK;
	int rc;

	if (n > AUD_MAX_PAYLOAD)
		return err_set(e, ST_LIMIT, "audit record of %zu bytes exceeds %u", n,
			       AUD_MAX_PAYLOAD);
	if (type == AUD_T_TOMBSTONE)
		return err_set(e, ST_INVAL, "tombstones are written by pruning only");
	if (total > sizeof stackbuf && !(frame = mem_alloc(total)))
		return err_set(e, ST_NOMEM, "audit record: out of memory");
	if (n)
		memcpy(frame + AUD_FRAME_HDR, payload, n);

	pthread_mutex_lock(&log->mu);
	if (log->failed) {
		st = err_set(e, ST_IO, "audit log: %s; refusing appends until restart",
			     log->fail_msg);
		goto out;
	}
	if (log->seg_bytes + total > log->opt.segment_bytes && log->tree.size > log->seg_first &&
	    (st = roll_locked(log, e)) != ST_OK)
		goto out;
	seq = log->tree.size;
	aud__frame_header(frame, (uint8_t)type, seq, time_wall_ns(), frame + AUD_FRAME_HDR,
			  (uint32_t)n);
	aud__frame_leaf(frame, frame + AUD_FRAME_HDR, (uint32_t)n, leaf);
	if ((st = aud_tree_append(&log->tree, leaf)) != ST_OK) {
		err_set(e, st, "audit log: out of memory");
		goto out;
	}
	if ((rc = write_all(log->fd, frame, total)) != 0) {
		/* Leave no partial frame behind: cut back to the last record. */
		tree_pop(&log->tree);
		st = io_err(e, rc, "cannot append to audit segment", log->seg_path);
		if (ftruncate(log->fd, (off_t)log->seg_bytes) != 0) {
			log->failed = 1;
			snprintf(log->fail_msg, sizeof log->fail_msg,
				 "a failed write left a partial record in %s", log->seg_path);
		}
		LOG_ERROR("audit.append_failed", LF_STR("error", e ? e->msg : "write failed"));
		goto out;
	}
	log->seg_bytes += total;
	log->stats.appends++;
	if (seq_out)
		*seq_out = seq;
	/* With fsync off the record is acknowledged once written; `synced`
	 * still only moves with real fsyncs (checkpoints, roll-over, close). */
	if (log->opt.durable && (st = sync_until_locked(log, seq + 1, e)) != ST_OK)
		goto out;
	maybe_checkpoint_locked(log);
out:
	pthread_mutex_unlock(&log->mu);
	if (frame != stackbuf)
		mem_free(frame);
	return st;
}

uint64_t aud_log_size(struct aud_log *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->mu);
	n = log->tree.size;
	pthread_mutex_unlock(&log->mu);
	return n;
}

status_t aud_log_root(struct aud_log *log, uint64_t n, uint8_t out[AUD_HASH_LEN])
{
	status_t st;

	pthread_mutex_lock(&log->mu);
	st = aud_tree_root(&log->tree, n, out);
	pthread_mutex_unlock(&log->mu);
	return st;
}

status_t aud_log_checkpoint(struct aud_log *log, struct err *e)
{
	status_t st;

	pthread_mutex_lock(&log->mu);
	st = sync_until_locked(log, log->tree.size, e);
	if (st == ST_OK)
		st = write_checkpoint_locked(log, log->synced, e);
	pthread_mutex_unlock(&log->mu);
	return st;
}

status_t aud_log_tick(struct aud_log *log, struct err *e)
{
	status_t st = ST_OK;

	pthread_mutex_lock(&log->mu);
	if (log->opt.checkpoint_ms && log->tree.size > log->ckpt_size &&
	    time_mono_ns() - log->ckpt_ns >= log->opt.checkpoint_ms * 1000000ull) {
		st = sync_until_locked(log, log->tree.size, e);
		if (st == ST_OK)
			st = write_checkpoint_locked(log, log->synced, e);
	}
	pthread_mutex_unlock(&log->mu);
	return st;
}

const char *aud_log_verifier_key(struct aud_log *log)
{
	return log->vkey;
}

status_t aud_log_inclusion(struct aud_log *log, uint64_t index, uint64_t size,
			   uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e)
{
	status_t st;

	pthread_mutex_lock(&log->mu);
	st = aud_tree_inclusion(&log->tree, index, size, proof, n_out, e);
	pthread_mutex_unlock(&log->mu);
	return st;
}

status_t aud_log_consistency(struct aud_log *log, uint64_t size1, uint64_t size2,
			     uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e)
{
	status_t st;

	pthread_mutex_lock(&log->mu);
	st = aud_tree_consistency(&log->tree, size1, size2, proof, n_out, e);
	pthread_mutex_unlock(&log->mu);
	return st;
}

void aud_log_stats(struct aud_log *log, struct aud_stats *out)
{
	pthread_mutex_lock(&log->mu);
	*out = log->stats;
	pthread_mutex_unlock(&log->mu);
}

/* ------------------------------------------------------------------ */
/* Opening and recovery                                                */
/* ------------------------------------------------------------------ */

/* Where the valid part of the last segment ends, and why. */
struct cut {
	int needed;
	uint64_t offset;
	uint64_t bytes;
	char reason[256];
};

/*
 * Reads one segment into the tree. For the last segment a bad or short
 * frame marks a cut; for any other it is ST_CORRUPT.
 */
static status_t load_segment(struct aud_log *log, const char *name, int last, struct cut *cut,
			     struct err *e)
{
	char path[4400], why[256];
	char *data = NULL;
	size_t len, off;
	uint64_t first;
	status_t st;

	snprintf(path, sizeof path, "%s/%s", log->dir, name);
	if ((st = file_read_all(path, (size_t)1 << 34, &data, &len, e)) != ST_OK)
		return st;
	first = log->tree.size;
	str_copy(log->seg_path, path, sizeof log->seg_path);
	log->seg_first = first;
	if (len < AUD_SEG_HDR) {
		if (!last) {
			st = err_set(e, ST_CORRUPT, "%s: segment header cut short (%zu bytes)", path,
				     len);
			goto out;
		}
		/* A crash while creating the segment: start it afresh. */
		cut->needed = 1;
		cut->offset = 0;
		cut->bytes = len;
		snprintf(cut->reason, sizeof cut->reason, "segment header cut short");
		goto out;
	}
	if (memcmp(data, AUD__SEG_MAGIC, 8) != 0) {
		st = err_set(e, ST_CORRUPT, "%s: not an audit segment (bad magic)", path);
		goto out;
	}
	if (aud__get_u64((uint8_t *)data + 8) != first) {
		st = err_set(e, ST_CORRUPT, "%s: segment starts at seq %llu, expected %llu", path,
			     (unsigned long long)aud__get_u64((uint8_t *)data + 8),
			     (unsigned long long)first);
		goto out;
	}
	for (off = AUD_SEG_HDR; off < len;) {
		struct aud__frame f;
		enum aud__parse r = aud__frame_parse((uint8_t *)data + off, len - off,
						     log->tree.size, &f, why, sizeof why);
		if (r != AUD__FRAME_OK) {
			if (!last) {
				st = err_set(e, ST_CORRUPT, "%s: offset %zu (seq %llu): %s", path, off,
					     (unsigned long long)log->tree.size, why);
				goto out;
			}
			cut->needed = 1;
			cut->offset = off;
			cut->bytes = len - off;
			snprintf(cut->reason, sizeof cut->reason, "%s", why);
			break;
		}
		if ((st = aud_tree_append(&log->tree, f.leaf_hash)) != ST_OK) {
			err_set(e, st, "audit log: out of memory");
			goto out;
		}
		off += f.total;
	}
	log->seg_bytes = cut->needed ? cut->offset : len;
out:
	mem_free(data);
	return st;
}

/* Reads the latest checkpoint and checks it against the rebuilt tree. */
static status_t check_latest_checkpoint(struct aud_log *log, uint64_t *size, struct err *e)
{
	struct vec names;
	struct aud_verifier v;
	struct aud_checkpoint c;
	char path[4400], *text = NULL, vtext[256];
	size_t len;
	uint8_t root[AUD_HASH_LEN];
	status_t st;

	*size = 0;
	if ((st = aud__checkpoints_list(log->dir, &names, e)) != ST_OK)
		return st;
	if (names.len == 0) {
		aud__names_free(&names);
		return ST_OK;
	}
	snprintf(path, sizeof path, "%s/checkpoints/%s", log->dir,
		 VEC_AT(&names, char *, names.len - 1));
	aud__names_free(&names);
	if ((st = file_read_all(path, 1 << 20, &text, &len, e)) != ST_OK)
		return st;
	aud_verifier_format(&log->signer, vtext, sizeof vtext);
	aud_verifier_parse(&v, vtext, NULL);
	st = aud_checkpoint_open(&v, text, len, &c, e);
	mem_free(text);
	if (st != ST_OK)
		return err_set(e, ST_CORRUPT, "%s: %s (run `airlock audit verify`)", path,
			       e ? e->msg : "bad checkpoint");
	*size = c.size;
	if (c.size > log->tree.size)
		return ST_OK;	/* the caller decides: a cut may explain it */
	aud_tree_root(&log->tree, c.size, root);
	if (memcmp(root, c.root, AUD_HASH_LEN) != 0)
		return err_set(e, ST_CORRUPT,
			       "%s: the log's first %llu records do not match this signed "
			       "checkpoint; records were altered (run `airlock audit verify`)",
			       path, (unsigned long long)c.size);
	return ST_OK;
}

/* Cuts the torn tail of the active segment, keeping the cut bytes. */
static status_t apply_cut(struct aud_log *log, const struct cut *cut, struct err *e)
{
	char keep[4500], *data = NULL;
	size_t len;
	int fd, rc;
	status_t st;

	if ((st = file_read_all(log->seg_path, (size_t)1 << 34, &data, &len, e)) != ST_OK)
		return st;
	snprintf(keep, sizeof keep, "%s.torn-%llu", log->seg_path,
		 (unsigned long long)cut->offset);
	if (cut->bytes && len > cut->offset)
		st = file_write_atomic(keep, data + cut->offset, len - cut->offset, 0600, e);
	mem_free(data);
	if (st != ST_OK)
		return st;
	if (cut->offset < AUD_SEG_HDR) {
		/* Nothing valid: rewrite the segment from its header. */
		uint64_t first = log->tree.size;
		unlink(log->seg_path);
		return segment_create(log, first, e);
	}
	fd = open(log->seg_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return io_err(e, errno, "cannot open audit segment", log->seg_path);
	if (ftruncate(fd, (off_t)cut->offset) != 0 || fsync(fd) != 0) {
		rc = errno;
		close(fd);
		return io_err(e, rc, "cannot cut audit segment", log->seg_path);
	}
	log->fd = fd;
	log->seg_bytes = cut->offset;
	return ST_OK;
}

status_t aud_log_open(const char *data_dir, const struct aud_options *opt,
		      struct aud_log **out, struct err *e)
{
	struct aud_log *log;
	struct aud_options defopt;
	struct vec names;
	struct cut cut;
	char path[4400];
	uint64_t ckpt_size = 0;
	status_t st;

	*out = NULL;
	if (!opt) {
		aud_options_default(&defopt);
		opt = &defopt;
	}
	log = mem_calloc(1, sizeof *log);
	if (!log)
		return err_set(e, ST_NOMEM, "audit log: out of memory");
	pthread_mutex_init(&log->mu, NULL);
	pthread_cond_init(&log->cv, NULL);
	aud_tree_init(&log->tree);
	log->fd = -1;
	log->lock_fd = -1;
	log->opt = *opt;
	if (log->opt.segment_bytes < 4096)
		log->opt.segment_bytes = 4096;
	str_copy(log->origin, opt->origin && *opt->origin ? opt->origin : "airlock.local/audit",
		 sizeof log->origin);
	log->opt.origin = log->origin;
	str_copy(log->data_dir, data_dir, sizeof log->data_dir);
	snprintf(log->dir, sizeof log->dir, "%s/audit", data_dir);
	memset(&cut, 0, sizeof cut);

	snprintf(path, sizeof path, "%s/checkpoints", log->dir);
	if ((st = file_mkdirs(path, 0700, e)) != ST_OK)
		goto fail;
	snprintf(path, sizeof path, "%s/LOCK", log->dir);
	log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (log->lock_fd < 0) {
		st = io_err(e, errno, "cannot open", path);
		goto fail;
	}
	if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		st = err_set(e, ST_BUSY, "%s: another process is writing this audit log", path);
		goto fail;
	}
	if ((st = aud__key_load(data_dir, log->origin, 1, &log->signer, e)) != ST_OK)
		goto fail;
	aud_verifier_format(&log->signer, log->vkey, sizeof log->vkey);
	/* The checkpoint origin is the key name: one log, one identity. */
	str_copy(log->origin, log->signer.name, sizeof log->origin);

	if ((st = aud__segments_list(log->dir, &names, e)) != ST_OK)
		goto fail;
	for (size_t i = 0; i < names.len && st == ST_OK; i++)
		st = load_segment(log, VEC_AT(&names, char *, i), i + 1 == names.len, &cut, e);
	if (st != ST_OK) {
		aud__names_free(&names);
		goto fail;
	}
	if ((st = check_latest_checkpoint(log, &ckpt_size, e)) != ST_OK) {
		aud__names_free(&names);
		goto fail;
	}
	if (ckpt_size > log->tree.size) {
		st = err_set(e, ST_CORRUPT,
			     "%s: a signed checkpoint covers %llu records but only %llu are "
			     "intact%s%s; refusing to cut acknowledged records (run `airlock "
			     "audit verify`)", log->dir, (unsigned long long)ckpt_size,
			     (unsigned long long)log->tree.size, cut.needed ? ": " : "",
			     cut.needed ? cut.reason : "");
		aud__names_free(&names);
		goto fail;
	}
	log->ckpt_size = ckpt_size;
	log->ckpt_ns = time_mono_ns();
	if (names.len == 0) {
		st = segment_create(log, 0, e);
	} else if (cut.needed) {
		LOG_WARN("audit.torn_tail", LF_STR("segment", log->seg_path),
			 LF_INT("offset", cut.offset), LF_INT("bytes", cut.bytes),
			 LF_STR("reason", cut.reason));
		st = apply_cut(log, &cut, e);
	} else {
		log->fd = open(log->seg_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (log->fd < 0)
			st = io_err(e, errno, "cannot open audit segment", log->seg_path);
	}
	aud__names_free(&names);
	if (st != ST_OK)
		goto fail;
	log->synced = log->tree.size;

	if (cut.needed) {
		char kept[4500], *msg;
		const char *base = strrchr(log->seg_path, '/');
		json_t *o;

		base = base ? base + 1 : log->seg_path;
		snprintf(kept, sizeof kept, "%s.torn-%llu", base, (unsigned long long)cut.offset);
		o = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s}", "event", "recovery", "segment", base,
			      "offset", (json_int_t)cut.offset, "bytes_cut", (json_int_t)cut.bytes,
			      "kept_as", kept, "reason", cut.reason);
		msg = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
		if (!msg) {
			st = err_set(e, ST_NOMEM, "audit log: out of memory");
			goto fail;
		}
		st = aud_log_append(log, AUD_T_RECOVERY, msg, strlen(msg), NULL, e);
		free(msg);
		if (st != ST_OK)
			goto fail;
	}
	*out = log;
	return ST_OK;
fail:
	aud_log_close(log);
	return st;
}

void aud_log_close(struct aud_log *log)
{
	if (!log)
		return;
	if (log->fd >= 0 && !log->failed) {
		struct err e;

		err_clear(&e);
		pthread_mutex_lock(&log->mu);
		if (sync_until_locked(log, log->tree.size, &e) == ST_OK &&
		    log->tree.size > log->ckpt_size)
			write_checkpoint_locked(log, log->synced, &e);
		pthread_mutex_unlock(&log->mu);
	}
	if (log->fd >= 0)
		close(log->fd);
	if (log->lock_fd >= 0)
		close(log->lock_fd);
	aud_tree_release(&log->tree);
	pthread_mutex_destroy(&log->mu);
	pthread_cond_destroy(&log->cv);
	memset(&log->signer, 0, sizeof log->signer);
	mem_free(log);
}

/* ------------------------------------------------------------------ */
/* Retention                                                           */
/* ------------------------------------------------------------------ */

/* Rewrites one segment with old records turned into tombstones. */
static status_t prune_segment(struct aud_log *log, const char *path, uint64_t horizon_ns,
			      uint64_t *pruned, struct err *e)
{
	char *data = NULL, why[256];
	size_t len, off;
	struct buf nb;
	uint64_t seq, count = 0;
	status_t st;

	if ((st = file_read_all(path, (size_t)1 << 34, &data, &len, e)) != ST_OK)
		return st;
	if (len < AUD_SEG_HDR) {
		mem_free(data);
		return ST_OK;
	}
	seq = aud__get_u64((uint8_t *)data + 8);
	buf_init(&nb, 0);
	if ((st = buf_append(&nb, data, AUD_SEG_HDR)) != ST_OK)
		goto out;
	for (off = AUD_SEG_HDR; off < len; seq++) {
		struct aud__frame f;

		if (aud__frame_parse((uint8_t *)data + off, len - off, seq, &f, why, sizeof why) !=
		    AUD__FRAME_OK) {
			st = err_set(e, ST_CORRUPT, "%s: offset %zu: %s", path, off, why);
			goto out;
		}
		if (f.type != AUD_T_TOMBSTONE && f.time_ns < horizon_ns) {
			uint8_t hdr[AUD_FRAME_HDR], tomb[1 + AUD_HASH_LEN];

			tomb[0] = f.type;
			memcpy(tomb + 1, f.leaf_hash, AUD_HASH_LEN);
			aud__frame_header(hdr, AUD_T_TOMBSTONE, f.seq, f.time_ns, tomb, sizeof tomb);
			if ((st = buf_append(&nb, hdr, sizeof hdr)) != ST_OK ||
			    (st = buf_append(&nb, tomb, sizeof tomb)) != ST_OK)
				goto out;
			count++;
		} else if ((st = buf_append(&nb, data + off, f.total)) != ST_OK) {
			goto out;
		}
		off += f.total;
	}
	if (count) {
		if ((st = file_write_atomic(path, nb.data, nb.len, 0600, e)) != ST_OK)
			goto out;
		if (strcmp(path, log->seg_path) == 0) {
			/* The active segment was replaced: reopen it. */
			close(log->fd);
			log->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (log->fd < 0) {
				log->failed = 1;
				snprintf(log->fail_msg, sizeof log->fail_msg,
					 "cannot reopen %s after pruning", path);
				st = io_err(e, errno, "cannot reopen audit segment", path);
				goto out;
			}
			log->seg_bytes = nb.len;
		}
	}
	*pruned += count;
out:
	if (st != ST_OK && st != ST_CORRUPT && e && !e->msg[0])
		err_set(e, st, "%s: pruning failed", path);
	buf_release(&nb);
	mem_free(data);
	return st;
}

status_t aud_log_prune(struct aud_log *log, uint64_t horizon_ns, uint64_t *pruned,
		       struct err *e)
{
	struct vec names;
	char path[4400], msg[256];
	status_t st;

	*pruned = 0;
	pthread_mutex_lock(&log->mu);
	if ((st = sync_until_locked(log, log->tree.size, e)) != ST_OK)
		goto out;
	while (log->syncing)
		pthread_cond_wait(&log->cv, &log->mu);
	if ((st = aud__segments_list(log->dir, &names, e)) != ST_OK)
		goto out;
	for (size_t i = 0; i < names.len && st == ST_OK; i++) {
		snprintf(path, sizeof path, "%s/%s", log->dir, VEC_AT(&names, char *, i));
		st = prune_segment(log, path, horizon_ns, pruned, e);
	}
	aud__names_free(&names);
	if (st == ST_OK && fsync_dir(log->dir) != 0)
		st = io_err(e, errno, "cannot sync directory", log->dir);
out:
	pthread_mutex_unlock(&log->mu);
	if (st == ST_OK && *pruned) {
		snprintf(msg, sizeof msg,
			 "{\"event\":\"prune\",\"records\":%llu,\"horizon_ns\":%llu}",
			 (unsigned long long)*pruned, (unsigned long long)horizon_ns);
		st = aud_log_append(log, AUD_T_EVENT, msg, strlen(msg), NULL, e);
	}
	return st;
}

int aud__log_store_content(struct aud_log *log)
{
	return log->opt.store_content;
}

status_t aud_log_inclusion_json(struct aud_log *log, uint64_t index, struct buf *out,
				struct err *e)
{
	struct aud_verifier v;
	struct aud_checkpoint c;
	struct buf note;
	status_t st;

	buf_init(&note, 1 << 20);
	aud_verifier_parse(&v, log->vkey, NULL);
	pthread_mutex_lock(&log->mu);
	if ((st = aud_checkpoint_latest(log->data_dir, &note, e)) == ST_OK &&
	    (st = aud_checkpoint_open(&v, note.data, note.len, &c, e)) == ST_OK)
		st = aud_inclusion_json(&log->tree, index, &c, buf_cstr(&note), out, e);
	pthread_mutex_unlock(&log->mu);
	buf_release(&note);
	return st;
}

status_t aud_log_consistency_json(struct aud_log *log, uint64_t size1, uint64_t size2,
				  struct buf *out, struct err *e)
{
	status_t st;

	pthread_mutex_lock(&log->mu);
	st = aud_consistency_json(&log->tree, size1, size2, out, e);
	pthread_mutex_unlock(&log->mu);
	return st;
}
