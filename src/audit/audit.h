/*
 * audit.h - the tamper-evident audit log: append-only segment files of
 * framed records, a Merkle tree over them with RFC 6962 hashing, signed
 * checkpoints in the C2SP tlog-checkpoint / signed-note format, inclusion
 * and consistency proofs, whole-log verification, retention and export.
 *
 * On-disk layout under <data>/audit/:
 *
 *   seg-<first seq, 20 digits>.log   segment files, oldest first
 *   checkpoints/<tree size, 20 digits>   signed checkpoints (signed notes)
 *   checkpoint                        the latest checkpoint (a copy)
 *   LOCK                              flock()ed by the one writer
 *   <segment>.torn-<offset>           bytes cut from a torn tail, kept
 *
 * and the signing key under <data>/keys/ (mode 0600):
 *
 *   audit.key   "PRIVATE+KEY+<name>+<keyhash hex>+<base64(0x01 || seed)>"
 *   audit.pub   "<name>+<keyhash hex>+<base64(0x01 || public key)>"
 *
 * Segment file (all integers little-endian):
 *
 *   | offset | size | field                                            |
 *   |--------|------|--------------------------------------------------|
 *   | 0      | 8    | magic "ALAUDIT1"                                 |
 *   | 8      | 8    | seq of the first record in this segment (u64)    |
 *   | 16     | ...  | records, back to back, until end of file         |
 *
 * Record frame:
 *
 *   | offset | size | field                                            |
 *   |--------|------|--------------------------------------------------|
 *   | 0      | 4    | n: payload length (u32, <= AUD_MAX_PAYLOAD)      |
 *   | 4      | 4    | CRC32C of bytes [0,4) then [8, 25 + n)           |
 *   | 8      | 1    | type (enum aud_type)                             |
 *   | 9      | 8    | seq: the record's leaf index in the tree (u64)   |
 *   | 17     | 8    | time: wall clock, ns since the Unix epoch (u64)  |
 *   | 25     | n    | payload: JSON (UTF-8), or a tombstone (below)    |
 *
 * The Merkle leaf of a record is its bytes [8, 25 + n): type, seq, time
 * and payload, so its position and time are bound into the tree; the leaf
 * hash is SHA-256(0x00 || leaf). A tombstone (type AUD_T_TOMBSTONE) is
 * what retention leaves of a pruned record: its payload is
 *
 *   | 0 | 1  | the original record's type                             |
 *   | 1 | 32 | the original record's leaf hash                        |
 *
 * and it stands in the tree for that leaf hash, so proofs and whole-log
 * verification keep working after contents are gone. Frames carry a
 * CRC (to find torn writes and bit rot); tampering by someone who also
 * fixes the CRC shows as a mismatch with the signed checkpoints.
 */
#ifndef AIRLOCK_AUDIT_H
#define AIRLOCK_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define AUD_HASH_LEN 32
#define AUD_FRAME_HDR 25
#define AUD_SEG_HDR 16
#define AUD_MAX_PAYLOAD (16u << 20)	/* bytes; larger records are refused */
#define AUD_MAX_PROOF 64		/* hashes in any proof of a 2^64 tree */

/* Record types (the frame's type byte). */
enum aud_type {
	AUD_T_REQUEST = 1,	/* one served request (aud_request) */
	AUD_T_ADMIN = 2,	/* an administrative action (aud_admin) */
	AUD_T_RECOVERY = 3,	/* a torn tail was cut at open; what and where */
	AUD_T_EVENT = 4,	/* any other JSON event (log opened, pruned) */
	AUD_T_TOMBSTONE = 0x7f,	/* a pruned record: original type + leaf hash */
};

/* ------------------------------------------------------------------ */
/* Merkle tree (RFC 6962)                                              */
/* ------------------------------------------------------------------ */

/*
 * A Merkle tree kept as all its perfect subtrees: level k holds the hash
 * of every complete aligned run of 2^k leaves. Appending costs one leaf
 * hash plus amortised one node hash; the root of any prefix, inclusion and
 * consistency proofs cost O(log^2 n) hash operations.
 */
struct aud_tree {
	struct vec levels[64];	/* level k: (size >> k) hashes of 32 bytes */
	uint64_t size;		/* leaves */
};

void aud_tree_init(struct aud_tree *t);
void aud_tree_release(struct aud_tree *t);
/* Appends a leaf by its hash (SHA-256(0x00 || data)). ST_NOMEM on failure. */
status_t aud_tree_append(struct aud_tree *t, const uint8_t leaf_hash[AUD_HASH_LEN]);
/* Root of the first n leaves (n <= size; n == 0 gives SHA-256("")). */
status_t aud_tree_root(const struct aud_tree *t, uint64_t n, uint8_t out[AUD_HASH_LEN]);
/* Leaf hash i (borrowed pointer into the tree), or NULL if i >= size. */
const uint8_t *aud_tree_leaf(const struct aud_tree *t, uint64_t i);

/* SHA-256(0x00 || data). */
void aud_hash_leaf(const void *data, size_t n, uint8_t out[AUD_HASH_LEN]);
/* SHA-256(0x01 || left || right). */
void aud_hash_children(const uint8_t l[AUD_HASH_LEN], const uint8_t r[AUD_HASH_LEN],
		       uint8_t out[AUD_HASH_LEN]);

/*
 * Inclusion proof of leaf index in the tree of the first size leaves:
 * *n_out hashes of 32 bytes into proof (room for AUD_MAX_PROOF).
 */
status_t aud_tree_inclusion(const struct aud_tree *t, uint64_t index, uint64_t size,
			    uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e);
/* Consistency proof between the trees of size1 and size2 leaves. */
status_t aud_tree_consistency(const struct aud_tree *t, uint64_t size1, uint64_t size2,
			      uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e);

/*
 * Verifies an inclusion proof. Hashes come with their lengths so that
 * untrusted input is checked here: every hash must be 32 bytes. Returns
 * ST_OK, or ST_VERIFY with the reason in e.
 */
status_t aud_verify_inclusion(uint64_t index, uint64_t size, const uint8_t *leaf_hash,
			      size_t leaf_len, const uint8_t *const *proof,
			      const size_t *proof_lens, size_t n_proof, const uint8_t *root,
			      size_t root_len, struct err *e);
/* Verifies a consistency proof; same conventions. */
status_t aud_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *const *proof,
				const size_t *proof_lens, size_t n_proof, const uint8_t *root1,
				size_t root1_len, const uint8_t *root2, size_t root2_len,
				struct err *e);

/* ------------------------------------------------------------------ */
/* Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint)    */
/* ------------------------------------------------------------------ */

/* An Ed25519 note signer: name, key id and keys. */
struct aud_signer {
	char name[128];
	uint32_t key_id;	/* SHA-256(name || 0x0A || 0x01 || pub)[:4], big-endian */
	uint8_t seed[ED25519_KEY_LEN];
	uint8_t pub[ED25519_KEY_LEN];
};

/* A note verifier key. */
struct aud_verifier {
	char name[128];
	uint32_t key_id;
	uint8_t pub[ED25519_KEY_LEN];
};

/* Computes the key id of an Ed25519 key called name. */
uint32_t aud_key_id(const char *name, const uint8_t pub[ED25519_KEY_LEN]);
/* Makes a signer from name and a 32-byte seed; ST_INVAL for a bad name. */
status_t aud_signer_init(struct aud_signer *s, const char *name,
			 const uint8_t seed[ED25519_KEY_LEN], struct err *e);
/* Parses "PRIVATE+KEY+name+hash+base64(0x01||seed)"; ST_CORRUPT if bad. */
status_t aud_signer_parse(struct aud_signer *s, const char *text, struct err *e);
/* Formats the signer key text into out (>= 256 bytes). */
void aud_signer_format(const struct aud_signer *s, char *out, size_t n);
/* Formats the verifier key "name+hash+base64(0x01||pub)" into out. */
void aud_verifier_format(const struct aud_signer *s, char *out, size_t n);
/* Parses a verifier key; the key hash must match name and key. */
status_t aud_verifier_parse(struct aud_verifier *v, const char *text, struct err *e);

/*
 * Signs text (which must end in a newline and hold no blank last line)
 * into a signed note appended to out: text, a blank line, and
 * "— <name> <base64(key id || signature)>\n".
 */
status_t aud_note_sign(const struct aud_signer *s, const char *text, size_t n,
		       struct buf *out, struct err *e);
/*
 * Opens a signed note: checks its form, finds a signature by v (same
 * name and key id) and verifies it. On success *text_len is the length of
 * the note text (a prefix of note, including its final newline).
 * Errors: ST_CORRUPT (malformed), ST_VERIFY (no signature by v, or a bad
 * one), each with a message.
 */
status_t aud_note_open(const struct aud_verifier *v, const char *note, size_t n,
		       size_t *text_len, struct err *e);

/* A tree head as a checkpoint states it. */
struct aud_checkpoint {
	char origin[256];
	uint64_t size;
	uint8_t root[AUD_HASH_LEN];
};

/* Formats the checkpoint body: "origin\nsize\nbase64(root)\n". */
status_t aud_checkpoint_format(const struct aud_checkpoint *c, struct buf *out);
/*
 * Opens a signed checkpoint: verifies the note with v and parses its
 * body into *c (extension lines are accepted and ignored).
 */
status_t aud_checkpoint_open(const struct aud_verifier *v, const char *note, size_t n,
			     struct aud_checkpoint *c, struct err *e);

/* ------------------------------------------------------------------ */
/* The log                                                             */
/* ------------------------------------------------------------------ */

struct aud_log;

struct aud_options {
	int durable;			/* 1: append returns after fsync (group commit) */
	uint64_t checkpoint_every;	/* records between checkpoints (0: never by count) */
	uint64_t checkpoint_ms;		/* ms between checkpoints (0: never by time) */
	uint64_t segment_bytes;		/* roll to a new segment past this size */
	const char *origin;		/* checkpoint origin and key name; NULL: default */
	int store_content;		/* keep prompt/output text in request records */
};

/* Defaults: durable, every 1000 records or 60 s, 64 MiB segments. */
void aud_options_default(struct aud_options *o);
/* Fills options from the config (audit.* settings); cfg may be NULL. */
void aud_options_from_config(struct aud_options *o, const struct config *cfg);

/*
 * Opens (creating) the log in data_dir/audit for appending, creating the
 * signing key in data_dir/keys on first use. Takes the writer lock
 * (ST_BUSY when another process holds it). Reads every segment to rebuild
 * the tree; a torn or corrupt tail of the last segment is cut back to the
 * last valid record (the cut bytes are kept beside it) and a RECOVERY
 * record says so, before anything else is appended. A corrupt earlier
 * segment, or a cut that would lose checkpointed records, is ST_CORRUPT.
 * *out is freed with aud_log_close.
 */
status_t aud_log_open(const char *data_dir, const struct aud_options *opt,
		      struct aud_log **out, struct err *e);
/* Writes a final checkpoint when records were added, and closes. NULL ok. */
void aud_log_close(struct aud_log *log);

/*
 * Appends one record. Thread-safe. With durable on, returns only once the
 * record is on disk (one fsync serves every writer waiting at that time).
 * On a write error nothing partial stays in the file and ST_IO (or
 * ST_LIMIT for a full disk) is returned; after an fsync error the log
 * refuses all further appends, since the kernel may have dropped pages.
 * *seq_out (may be NULL) receives the record's leaf index.
 */
status_t aud_log_append(struct aud_log *log, enum aud_type type, const void *payload,
			size_t n, uint64_t *seq_out, struct err *e);
/* Number of records (tree size). */
uint64_t aud_log_size(struct aud_log *log);
/* Root hash of the first n records. */
status_t aud_log_root(struct aud_log *log, uint64_t n, uint8_t out[AUD_HASH_LEN]);
/* Signs and stores a checkpoint of all durable records now. */
status_t aud_log_checkpoint(struct aud_log *log, struct err *e);
/* Writes a checkpoint if the time threshold passed (for a server timer). */
status_t aud_log_tick(struct aud_log *log, struct err *e);
/* The verifier key text of this log's signing key (borrowed). */
const char *aud_log_verifier_key(struct aud_log *log);
/* Proofs from the live tree (see aud_tree_inclusion / _consistency). */
status_t aud_log_inclusion(struct aud_log *log, uint64_t index, uint64_t size,
			   uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e);
status_t aud_log_consistency(struct aud_log *log, uint64_t size1, uint64_t size2,
			     uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e);

/* Appends and fsync statistics (for /metrics). */
struct aud_stats {
	uint64_t appends;
	uint64_t fsyncs;
	uint64_t fsync_ns_total;
	uint64_t checkpoints;
};
void aud_log_stats(struct aud_log *log, struct aud_stats *out);

/* ------------------------------------------------------------------ */
/* What is recorded                                                    */
/* ------------------------------------------------------------------ */

struct aud_decision {
	const char *rule_id;
	const char *action;	/* "allow", "redact", "block", "warn", ... */
};

struct aud_source {
	const char *repo;
	const char *path;
	int64_t line_start, line_end;	/* 1-based, inclusive; 0: unknown */
	const char *doc_id;		/* NULL for code */
};

/* One served request. Strings are borrowed; NULL fields are left out. */
struct aud_request {
	const char *id;
	uint64_t time_ns;		/* 0: now */
	const char *user, *team, *endpoint;
	const char *model;
	const uint8_t *model_sha256;	/* 32 bytes or NULL */
	const uint8_t *prompt_sha256;	/* 32 bytes or NULL */
	const uint8_t *output_sha256;	/* 32 bytes or NULL */
	int64_t prompt_tokens, output_tokens;
	int64_t latency_ms;
	const struct aud_decision *decisions;
	size_t n_decisions;
	const struct aud_source *sources;
	size_t n_sources;
	const char *prompt_text;	/* stored only with store_content */
	const char *output_text;	/* stored only with store_content */
	const char *status;		/* "ok", "refused", ... */
};

/* An administrative action: users, tokens, policy reloads, config. */
struct aud_admin {
	uint64_t time_ns;		/* 0: now */
	const char *actor;		/* who did it */
	const char *action;		/* "user.create", "token.revoke", "policy.reload" */
	const char *target;		/* what it was done to */
	const char *detail;		/* free text, no secrets */
};

/* Builds the JSON payload of a request record; *out freed with mem_free. */
status_t aud_request_json(const struct aud_request *r, int store_content, char **out,
			  size_t *len, struct err *e);
/* Appends a request record (durably, unless the log is relaxed). */
status_t aud_log_request(struct aud_log *log, const struct aud_request *r,
			 uint64_t *seq_out, struct err *e);
/* Appends an admin record. */
status_t aud_log_admin(struct aud_log *log, const struct aud_admin *a, uint64_t *seq_out,
		       struct err *e);

/* ------------------------------------------------------------------ */
/* Reading, verifying, pruning                                         */
/* ------------------------------------------------------------------ */

/* A record as read back (borrowed from the reader until the next call). */
struct aud_record {
	enum aud_type type;	/* AUD_T_TOMBSTONE for pruned ones */
	enum aud_type orig_type;	/* type before pruning */
	uint64_t seq;
	uint64_t time_ns;
	const char *payload;	/* NUL-terminated; "" for tombstones */
	size_t payload_len;
	uint8_t leaf_hash[AUD_HASH_LEN];
};

/*
 * Calls fn for every record of the log in data_dir, in order, reading
 * only (no lock, no repair). Stops at the first corrupt frame with
 * ST_CORRUPT (message names segment, offset and seq), or when fn
 * returns non-zero (then ST_CANCELLED).
 */
status_t aud_scan(const char *data_dir, int (*fn)(void *arg, const struct aud_record *r),
		  void *arg, struct err *e);

/* What verification found. */
struct aud_verify_report {
	uint64_t records;		/* records read and hashed */
	uint64_t segments;
	uint64_t tombstones;
	uint64_t checkpoints;		/* checkpoints checked */
	uint64_t checked_size;		/* largest checkpoint size proved */
	int ok;
	uint64_t bad_seq;		/* first bad record (when known) */
	uint64_t bad_seq_hi;		/* bad range end, == bad_seq when exact */
	char bad_file[256];		/* file name where the problem is */
	uint64_t bad_offset;		/* byte offset in bad_file */
	char reason[512];		/* why */
	uint8_t root[AUD_HASH_LEN];	/* root of the whole log */
};

/*
 * Verifies the whole log in data_dir: segment headers and continuity,
 * every frame's CRC, sequence and bounds, then every stored checkpoint's
 * signature and root against the rebuilt tree, and, when extra (a signed
 * checkpoint kept elsewhere; may be NULL) is given, that one too. The
 * verifier key is data_dir/keys/audit.pub unless vkey (text) is given.
 * Returns ST_OK when everything holds; ST_VERIFY (or ST_CORRUPT) with
 * rep describing the first bad record and why otherwise. I/O problems
 * are ST_IO.
 */
status_t aud_verify(const char *data_dir, const char *extra, size_t extra_len,
		    const char *vkey, struct aud_verify_report *rep, struct err *e);

/*
 * Retention: replaces the payload of every record older than
 * horizon_ns (wall clock) by a tombstone holding its leaf hash, rewriting
 * the affected segments atomically. *pruned counts records pruned now.
 */
status_t aud_log_prune(struct aud_log *log, uint64_t horizon_ns, uint64_t *pruned,
		       struct err *e);

/* ------------------------------------------------------------------ */
/* For readers: the CLI and the admin HTTP endpoints                   */
/* ------------------------------------------------------------------ */

/* Which records a query selects; prepare with aud_query_init. */
struct aud_query {
	const char *user;	/* request user or admin actor */
	const char *team;
	const char *action;	/* admin action, or any policy decision's action */
	uint64_t since_ns, until_ns;	/* [since, until); 0: open */
	int64_t seq;		/* one record; -1: all */
	int indent;		/* pretty-print the JSON (show) */
};

/* Clears q: every record, compact JSON. */
void aud_query_init(struct aud_query *q);
/* "request", "admin", "recovery", "event", "pruned". */
const char *aud_type_name(enum aud_type t);

/*
 * Calls fn for each record of data_dir that q selects, with its JSON line
 * {"seq","type","time","time_ns","leaf_hash", "record": payload} (pruned
 * records carry "pruned_type" instead of "record"); line is borrowed for
 * the call. fn returning non-zero stops (ST_OK). Errors as aud_scan.
 */
status_t aud_query_run(const char *data_dir, const struct aud_query *q,
		       int (*fn)(void *arg, const struct aud_record *r, const char *line,
				 size_t len),
		       void *arg, struct err *e);

/*
 * Appends the inclusion proof of record index in the tree of checkpoint c
 * as JSON {"leafIdx","treeSize","leafHash","proof","root","checkpoint"}
 * (base64 hashes). ST_VERIFY when the tree does not match c.
 */
status_t aud_inclusion_json(const struct aud_tree *t, uint64_t index,
			    const struct aud_checkpoint *c, const char *note, struct buf *out,
			    struct err *e);
/* Appends {"size1","size2","root1","root2","proof"}. */
status_t aud_consistency_json(const struct aud_tree *t, uint64_t size1, uint64_t size2,
			      struct buf *out, struct err *e);
/* The same from a running log, against its latest checkpoint. */
status_t aud_log_inclusion_json(struct aud_log *log, uint64_t index, struct buf *out,
				struct err *e);
status_t aud_log_consistency_json(struct aud_log *log, uint64_t size1, uint64_t size2,
				  struct buf *out, struct err *e);
/* Appends the report as JSON {"ok","records",...,"first_bad":{...}}. */
status_t aud_verify_report_json(const struct aud_verify_report *rep, struct buf *out,
				struct err *e);

/* Reads the latest checkpoint note of data_dir into out (ST_NOTFOUND if none). */
status_t aud_checkpoint_latest(const char *data_dir, struct buf *out, struct err *e);

#endif
