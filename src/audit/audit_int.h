/*
 * audit_int.h - what the audit module's files share and nothing else may
 * use: the I/O hooks (so tests can tear writes and fail fsyncs), frame
 * encoding and parsing, segment listing and the signing key files.
 */
#ifndef AIRLOCK_AUDIT_INT_H
#define AIRLOCK_AUDIT_INT_H

#include <sys/types.h>

#include "audit/audit.h"

/*
 * The system calls the writer uses, replaceable by tests (a shim that
 * tears the last write, fails with ENOSPC, or fails fsync). Defaults are
 * write(2) and fdatasync(2). Not thread-safe to change while a log is open.
 */
struct aud__io {
	ssize_t (*write)(int fd, const void *p, size_t n);
	int (*fsync)(int fd);
};
extern struct aud__io aud__io;
void aud__io_reset(void);

#define AUD__SEG_MAGIC "ALAUDIT1"

/* One parsed frame, pointing into the segment bytes. */
struct aud__frame {
	uint8_t type;
	uint64_t seq;
	uint64_t time_ns;
	const uint8_t *payload;	/* n bytes */
	uint32_t n;
	size_t total;		/* AUD_FRAME_HDR + n */
	uint8_t leaf_hash[AUD_HASH_LEN];
};

enum aud__parse {
	AUD__FRAME_OK,
	AUD__FRAME_SHORT,	/* the bytes end inside the frame (torn tail) */
	AUD__FRAME_BAD,		/* CRC, length, type or seq wrong */
};

/*
 * Parses the frame at p (avail bytes left in the segment), expecting
 * seq want_seq; fills f (including its leaf hash) or writes why.
 */
enum aud__parse aud__frame_parse(const uint8_t *p, size_t avail, uint64_t want_seq,
				 struct aud__frame *f, char *why, size_t why_n);
/* Encodes the 25-byte header of a frame (CRC over header and payload). */
void aud__frame_header(uint8_t hdr[AUD_FRAME_HDR], uint8_t type, uint64_t seq,
		       uint64_t time_ns, const void *payload, uint32_t n);
/* Leaf hash of a frame whose header and payload are given. */
void aud__frame_leaf(const uint8_t hdr[AUD_FRAME_HDR], const void *payload, uint32_t n,
		     uint8_t out[AUD_HASH_LEN]);

void aud__put_u32(uint8_t *p, uint32_t v);
void aud__put_u64(uint8_t *p, uint64_t v);
uint32_t aud__get_u32(const uint8_t *p);
uint64_t aud__get_u64(const uint8_t *p);

/*
 * Lists the segment file names in auddir, sorted (by first seq). *names
 * holds heap strings (char *): free with aud__names_free.
 */
status_t aud__segments_list(const char *auddir, struct vec *names, struct err *e);
/* Lists checkpoints/ file names, sorted by tree size. */
status_t aud__checkpoints_list(const char *auddir, struct vec *names, struct err *e);
void aud__names_free(struct vec *names);

/*
 * Loads data_dir/keys/audit.key; with create, makes a new key named name
 * when there is none. The key file must not be readable by others.
 */
status_t aud__key_load(const char *data_dir, const char *name, int create,
		       struct aud_signer *s, struct err *e);
/* Loads the verifier key data_dir/keys/audit.pub. */
status_t aud__vkey_load(const char *data_dir, struct aud_verifier *v, struct err *e);

struct json_t;
/* Whether record r (payload parsed as JSON, or NULL) passes q. */
int aud_query_match(const struct aud_query *q, const struct aud_record *r,
		    const struct json_t *payload);

/* Whether request records of this log keep prompt and output text. */
int aud__log_store_content(struct aud_log *log);

#endif
