/*
 * core.h - what every airlock module stands on.
 *
 * Status codes and errors with context, allocation through one place (so
 * tests can make the Nth allocation fail), arenas, bounded buffers, vectors,
 * a string-keyed hash map, structured logging, files (bounded read, mmap,
 * atomic write), hashing and signing (SHA-256, Ed25519 through nettle), a
 * thread pool with parallel-for, and the YAML configuration with its schema.
 *
 * core includes nothing above it: no header of another airlock module.
 */
#ifndef AIRLOCK_CORE_H
#define AIRLOCK_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ */
/* Status codes                                                        */
/* ------------------------------------------------------------------ */

/*
 * One table yields the enum and the messages. Functions return a status;
 * results come back through out-parameters.
 */
#define ST_MAP(X)                                                  \
	X(OK, "ok")                                                    \
	X(NOMEM, "out of memory")                                      \
	X(INVAL, "invalid argument")                                   \
	X(IO, "input/output error")                                    \
	X(CORRUPT, "corrupt input")                                    \
	X(NOTFOUND, "not found")                                       \
	X(EXISTS, "already exists")                                    \
	X(UNSUPPORTED, "not supported")                                \
	X(LIMIT, "limit exceeded")                                     \
	X(PERM, "permission denied")                                   \
	X(CONFIG, "configuration error")                               \
	X(BUSY, "busy")                                                \
	X(TIMEOUT, "timed out")                                        \
	X(CANCELLED, "cancelled")                                      \
	X(AUTH, "authentication failed")                               \
	X(DENIED, "denied by policy")                                  \
	X(VERIFY, "verification failed")                               \
	X(INTERNAL, "internal error")

enum status {
#define ST_ENUM_(name, msg) ST_##name,
	ST_MAP(ST_ENUM_)
#undef ST_ENUM_
	ST__COUNT
};
typedef enum status status_t;

/* Returns the fixed message of st ("out of memory"); never NULL. */
const char *status_str(status_t st);
/* Returns the symbolic name of st ("NOMEM"); never NULL. */
const char *status_name(status_t st);

/*
 * An error with context. Parsers fill file/line/column (1-based; 0 when
 * unknown). Callers may pass NULL wherever a struct err * is accepted.
 */
struct err {
	status_t st;
	int line, col;
	char file[256];
	char msg[512];
};

/* Clears e (NULL is accepted). */
void err_clear(struct err *e);
/* Records st and a printf-style message in e (if non-NULL); returns st. */
status_t err_set(struct err *e, status_t st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As err_set, with a location in a file (file may be NULL). */
status_t err_setat(struct err *e, status_t st, const char *file, int line,
		   int col, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/*
 * Formats e as one line: "file:line:col: message" or "message" when no
 * location is known, into out (always NUL-terminated). Returns out.
 */
const char *err_format(const struct err *e, char *out, size_t n);

/* ------------------------------------------------------------------ */
/* Allocation                                                          */
/* ------------------------------------------------------------------ */

/*
 * Every allocation of the project goes through these so that tests can
 * inject failures. They return NULL on failure and never abort.
 * mem_calloc and mem_alloc_array check n * size for overflow.
 */
void *mem_alloc(size_t size);
void *mem_calloc(size_t n, size_t size);
void *mem_realloc(void *p, size_t size);
void *mem_alloc_array(size_t n, size_t size);
void *mem_realloc_array(void *p, size_t n, size_t size);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
/* Frees p; NULL is accepted. */
void mem_free(void *p);

/*
 * Fault injection for tests: after n more successful allocations, every
 * allocation fails (n = 0: the next one fails) until mem_fail_reset().
 * With once != 0 only that one allocation fails.
 */
void mem_fail_after(long n, int once);
void mem_fail_reset(void);
/* Number of allocations made since start (successful or not). */
unsigned long mem_alloc_count(void);

/* ------------------------------------------------------------------ */
/* Arena: scoped lifetimes, freed at once                              */
/* ------------------------------------------------------------------ */

struct arena_block;
struct arena {
	struct arena_block *head;
	size_t block_size;	/* default size of a new block, bytes */
	size_t used;		/* total bytes handed out */
	size_t limit;		/* 0: unlimited; else cap on bytes reserved */
	size_t reserved;	/* bytes in blocks */
};

/* Prepares a; block_size 0 picks 64 KiB. limit 0 means unlimited. */
void arena_init(struct arena *a, size_t block_size, size_t limit);
/* Returns size bytes aligned to 16, owned by the arena; NULL on failure. */
void *arena_alloc(struct arena *a, size_t size);
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Frees everything the arena handed out; a stays usable. */
void arena_reset(struct arena *a);
/* Frees everything; a must be re-initialised before reuse. */
void arena_release(struct arena *a);

/* ------------------------------------------------------------------ */
/* Bounded growable buffer (always NUL-terminated when data != NULL)   */
/* ------------------------------------------------------------------ */

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;	/* appends that would pass max fail with ST_LIMIT */
};

#define BUF_MAX_DEFAULT ((size_t)1 << 30)

/* Prepares b with a size cap; max 0 picks BUF_MAX_DEFAULT. */
void buf_init(struct buf *b, size_t max);
status_t buf_reserve(struct buf *b, size_t extra);
status_t buf_append(struct buf *b, const void *p, size_t n);
status_t buf_puts(struct buf *b, const char *s);
status_t buf_putc(struct buf *b, char c);
status_t buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
status_t buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Sets len to 0, keeps memory. */
void buf_reset(struct buf *b);
/* Returns the contents as a C string ("" when empty); borrowed. */
const char *buf_cstr(const struct buf *b);
/* Hands the heap string to the caller (free with mem_free); b is emptied. */
char *buf_detach(struct buf *b, size_t *len);
void buf_release(struct buf *b);

/* ------------------------------------------------------------------ */
/* Vector of fixed-size elements                                       */
/* ------------------------------------------------------------------ */

struct vec {
	void *data;
	size_t len;
	size_t cap;
	size_t elem;	/* size of one element, bytes */
};

void vec_init(struct vec *v, size_t elem_size);
status_t vec_reserve(struct vec *v, size_t n);
/* Copies one element from p onto the end. */
status_t vec_push(struct vec *v, const void *p);
/* Returns a pointer to element i (borrowed; moves when the vector grows). */
void *vec_at(const struct vec *v, size_t i);
void vec_release(struct vec *v);
#define VEC_AT(v, T, i) (((T *)(v)->data)[i])

/* ------------------------------------------------------------------ */
/* Binary heap of fixed-size items (a priority queue)                  */
/* ------------------------------------------------------------------ */

struct heap {
	void *a;
	size_t n, cap;
	size_t elem;	/* size of one item, bytes */
	/* Returns non-zero when x must come out before y. */
	int (*before)(const void *x, const void *y);
};

void heap_init(struct heap *h, size_t elem_size,
	       int (*before)(const void *x, const void *y));
/* Copies the item at p in. */
status_t heap_push(struct heap *h, const void *p);
/* Copies the first item out to p and removes it; returns 0 when empty. */
int heap_pop(struct heap *h, void *p);
/* Empties the heap, keeping its memory. */
void heap_clear(struct heap *h);
void heap_release(struct heap *h);

/* ------------------------------------------------------------------ */
/* Hash map: byte-string keys (copied) to pointer values (borrowed)    */
/* ------------------------------------------------------------------ */

struct hmap_entry;
struct hmap {
	struct hmap_entry *slots;
	size_t cap;	/* power of two */
	size_t len;
	size_t tombs;
};

void hmap_init(struct hmap *m);
/* Inserts or replaces; the key bytes are copied. */
status_t hmap_put(struct hmap *m, const void *key, size_t klen, void *val);
/* Returns ST_OK and *val, or ST_NOTFOUND. val may be NULL. */
status_t hmap_get(const struct hmap *m, const void *key, size_t klen, void **val);
status_t hmap_del(struct hmap *m, const void *key, size_t klen);
/*
 * Iteration: start with *it = 0; returns 1 and the next key/value until
 * the end, then 0. The map must not change while iterating.
 */
int hmap_next(const struct hmap *m, size_t *it, const void **key, size_t *klen,
	      void **val);
void hmap_release(struct hmap *m);
/* 64-bit hash of bytes (FNV-1a with a final mix). */
uint64_t hash_bytes(const void *p, size_t n);

/* ------------------------------------------------------------------ */
/* Logging: structured fields, never format strings of data            */
/* ------------------------------------------------------------------ */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_FMT_AUTO, LOG_FMT_HUMAN, LOG_FMT_JSON };

enum log_ftype { LF_T_STR, LF_T_INT, LF_T_DBL, LF_T_BOOL, LF_T_REDACT };
struct log_field {
	const char *key;
	enum log_ftype type;
	const char *s;
	long long i;
	double d;
};
#define LF_STR(k, v) ((struct log_field){ .key = (k), .type = LF_T_STR, .s = (v) })
#define LF_INT(k, v) ((struct log_field){ .key = (k), .type = LF_T_INT, .i = (long long)(v) })
#define LF_DBL(k, v) ((struct log_field){ .key = (k), .type = LF_T_DBL, .d = (double)(v) })
#define LF_BOOL(k, v) ((struct log_field){ .key = (k), .type = LF_T_BOOL, .i = !!(v) })
/* A value that must never reach a log: only its length is written. */
#define LF_REDACT(k, v) ((struct log_field){ .key = (k), .type = LF_T_REDACT, .s = (v) })

/*
 * Sets the level, format and destination (NULL: stderr). AUTO picks human
 * on a terminal and JSON lines otherwise. Thread-safe after this call.
 */
void log_setup(enum log_level level, enum log_format fmt, FILE *out);
enum log_level log_level_get(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int log_level_parse(const char *s);
/*
 * Writes one record: a fixed event name ("server.listen") and typed fields.
 * Strings are escaped; nothing is interpreted as a format.
 */
void log_write(enum log_level level, const char *event,
	       const struct log_field *fields, size_t n);
#define LOG_(lvl, ev, ...)                                                 \
	do {                                                               \
		const struct log_field lf_[] = { LF_STR("_", NULL), __VA_ARGS__ }; \
		log_write((lvl), (ev), lf_ + 1,                            \
			  sizeof lf_ / sizeof lf_[0] - 1);                 \
	} while (0)
#define LOG_DEBUG(ev, ...) LOG_(LOG_DEBUG, ev, __VA_ARGS__)
#define LOG_INFO(ev, ...) LOG_(LOG_INFO, ev, __VA_ARGS__)
#define LOG_WARN(ev, ...) LOG_(LOG_WARN, ev, __VA_ARGS__)
#define LOG_ERROR(ev, ...) LOG_(LOG_ERROR, ev, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/*
 * Reads the whole file at path, refusing files over max bytes (ST_LIMIT).
 * *out is NUL-terminated, heap-allocated, freed by the caller (mem_free).
 */
status_t file_read_all(const char *path, size_t max, char **out, size_t *len,
		       struct err *e);

/* A read-only memory map of a whole file. */
struct fmap {
	const uint8_t *data;	/* NULL for an empty file */
	size_t len;
	int fd;
};
status_t fmap_open(struct fmap *m, const char *path, struct err *e);
void fmap_release(struct fmap *m);

/*
 * Writes data to path atomically: a temporary file beside it, fsync,
 * rename over path, fsync of the directory. mode is e.g. 0644 or 0600.
 */
status_t file_write_atomic(const char *path, const void *data, size_t len,
			   unsigned mode, struct err *e);
/* Creates dir and its parents (like mkdir -p) with the given mode. */
status_t file_mkdirs(const char *dir, unsigned mode, struct err *e);
/*
 * Writes all n bytes, retrying on EINTR and short writes. Returns ST_LIMIT
 * for a full disk (ENOSPC, EDQUOT), ST_IO otherwise.
 */
status_t file_write_full(int fd, const void *p, size_t n);
/* fsync(fd), with the same fault injection as writes. */
status_t file_sync(int fd);
/*
 * Fault injection for tests: after n more successful file_write_full /
 * file_sync calls, each fails with errno err (e.g. ENOSPC, EIO); with
 * torn != 0 a failing write first writes half of its bytes, as a crash or
 * full disk mid-write would. file_io_fail_reset() turns it off.
 */
void file_io_fail_after(long n, int err, int torn);
void file_io_fail_reset(void);
/* Reads up to n bytes, retrying on EINTR; *got is what was read. */
status_t file_read_full(int fd, void *p, size_t n, size_t *got);

/* ------------------------------------------------------------------ */
/* Hashing, encoding, signing, randomness                              */
/* ------------------------------------------------------------------ */

#define SHA256_LEN 32
#define ED25519_KEY_LEN 32
#define ED25519_SIG_LEN 64

struct sha256 {
	uint64_t opaque[16];	/* holds nettle's sha256_ctx */
};
void sha256_begin(struct sha256 *h);
void sha256_add(struct sha256 *h, const void *p, size_t n);
void sha256_end(struct sha256 *h, uint8_t out[SHA256_LEN]);
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);
/* SHA-256 of a file's contents, streamed. */
status_t sha256_file(const char *path, uint8_t out[SHA256_LEN], struct err *e);

/* Derives the public key of a 32-byte private key (seed). */
void ed25519_public(const uint8_t priv[ED25519_KEY_LEN],
		    uint8_t pub[ED25519_KEY_LEN]);
void ed25519_sign(const uint8_t priv[ED25519_KEY_LEN],
		  const uint8_t pub[ED25519_KEY_LEN], const void *msg,
		  size_t n, uint8_t sig[ED25519_SIG_LEN]);
/* Returns 1 when sig is a valid signature of msg by pub, else 0. */
int ed25519_verify(const uint8_t pub[ED25519_KEY_LEN], const void *msg,
		   size_t n, const uint8_t sig[ED25519_SIG_LEN]);

/* Fills p with n bytes from the kernel's CSPRNG. */
status_t random_bytes(void *p, size_t n);

/* Lower-case hex of n bytes into out (2n+1 bytes). Returns out. */
char *hex_encode(const void *p, size_t n, char *out);
/* Decodes exactly n bytes from 2n hex digits; ST_CORRUPT if not hex. */
status_t hex_decode(const char *s, size_t slen, void *out, size_t n);
/* Standard base64 with padding; out needs 4*((n+2)/3)+1 bytes. */
size_t base64_encode(const void *p, size_t n, char *out);
/* Decodes base64; *outlen in: capacity, out: bytes written. */
status_t base64_decode(const char *s, size_t slen, void *out, size_t *outlen);

/* CRC-32C (Castagnoli), continuing from crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

/* ------------------------------------------------------------------ */
/* Thread pool                                                         */
/* ------------------------------------------------------------------ */

struct tpool;

/*
 * Work of a parallel-for: handles items [begin, end). worker is 0 for the
 * calling thread and 1..n-1 for the pool's threads.
 */
typedef void (*tpool_fn)(void *arg, size_t begin, size_t end, int worker);

/*
 * Starts n_threads - 1 workers (the caller is the n-th). n_threads <= 0
 * picks the number of online CPUs. Returns NULL on failure.
 */
struct tpool *tpool_new(int n_threads);
int tpool_size(const struct tpool *p);
/*
 * Splits [0, n) into chunks and runs fn over them on all threads; returns
 * when all are done. A chunk is 1/(2 x threads) of the items not yet
 * handed out, at least grain items (the last may be fewer): long chunks
 * first, short ones at the end. Not re-entrant: one parallel_for at a
 * time per pool. p may be NULL (runs inline).
 */
void tpool_parallel_for(struct tpool *p, size_t n, size_t grain, tpool_fn fn,
			void *arg);
/* Stops and joins the workers; NULL is accepted. */
void tpool_free(struct tpool *p);

/* ------------------------------------------------------------------ */
/* Time and misc                                                       */
/* ------------------------------------------------------------------ */

/* Monotonic clock in nanoseconds. */
uint64_t time_mono_ns(void);
/* Wall clock in nanoseconds since the Unix epoch. */
uint64_t time_wall_ns(void);
/* Parses "30d", "12h", "15m", "10s", "500ms" or a plain number of seconds
 * into milliseconds. */
status_t parse_duration_ms(const char *s, int64_t *ms);
/*
 * Parses a point in time as nanoseconds since the Unix epoch:
 * "2026-11-30", "2026-11-30T10:00:00Z" (UTC), or an age such as "7d",
 * "12h", "30m" meaning that long before now.
 */
status_t parse_time_ns(const char *s, uint64_t *ns);
/* Parses "512", "64k", "16M", "2G" (powers of 1024) into bytes. */
status_t parse_size(const char *s, uint64_t *bytes);
/* Parses a whole decimal integer in [min, max]; no trailing garbage. */
status_t parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Bounded copy that always NUL-terminates; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t n);

/* ------------------------------------------------------------------ */
/* CPU features (detected at run time; never assumed at build time)    */
/* ------------------------------------------------------------------ */

struct cpu_features {
	int sse3, ssse3, avx, avx2, fma, f16c;
	int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
	int avxvnni;
};
/* The features of this CPU, usable by this OS (XSAVE state checked). */
const struct cpu_features *cpu_features(void);
/* Space-separated names of the features present ("avx2 fma ..."). */
const char *cpu_features_str(char *out, size_t n);

/* ------------------------------------------------------------------ */
/* Embedded store: SQLite opened the one way                           */
/* ------------------------------------------------------------------ */

struct sqlite3;
/*
 * Opens (creating) the SQLite database at path in WAL mode with foreign
 * keys on and a busy timeout; a new file in incremental auto-vacuum mode.
 * *out is closed with db_close.
 */
status_t db_open(const char *path, struct sqlite3 **out, struct err *e);
void db_close(struct sqlite3 *db);
/*
 * Applies a module's schema migrations in order: migrations[i] is the SQL
 * that takes the module's schema from version i to i + 1. The version of
 * each module is kept in table schema_version(module, version). Each step
 * is one transaction.
 */
status_t db_migrate(struct sqlite3 *db, const char *module,
		    const char *const *migrations, size_t n, struct err *e);
/* Runs SQL without results; errors carry SQLite's message. */
status_t db_exec(struct sqlite3 *db, const char *sql, struct err *e);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * The schema is a table in code (config_schema.c): each setting has a
 * dotted key ("server.listen"), a type, a default, bounds, and an
 * environment override (AIRLOCK_SERVER_LISTEN). Values come, in rising
 * precedence, from defaults, the YAML file, then the environment.
 */
enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_SIZE, CFG_DURATION, CFG_LIST, CFG_ENUM };
enum cfg_source { CFG_SRC_DEFAULT, CFG_SRC_FILE, CFG_SRC_ENV };

struct cfg_setting {
	const char *key;	/* dotted path */
	enum cfg_type type;
	const char *def;	/* default as text (lists: comma-separated) */
	int64_t min, max;	/* bounds for INT, SIZE (bytes), DURATION (ms) */
	const char *choices;	/* ENUM: "a|b|c" */
	const char *help;
};

struct config;

/* The schema table and its length. */
const struct cfg_setting *config_schema(size_t *n);

/*
 * Loads defaults, then path (NULL: none; a missing explicit file is an
 * error), then the environment. Errors name file:line:col. *out is freed
 * with config_free.
 */
status_t config_load(const char *path, struct config **out, struct err *e);
void config_free(struct config *c);
/* Typed getters; the key must be in the schema (else default-zero). */
const char *config_str(const struct config *c, const char *key);
int64_t config_int(const struct config *c, const char *key);
int config_bool(const struct config *c, const char *key);
/* LIST values: number of items and item i (borrowed). */
size_t config_list_len(const struct config *c, const char *key);
const char *config_list_item(const struct config *c, const char *key, size_t i);
enum cfg_source config_source(const struct config *c, const char *key);
/* Writes the effective configuration as YAML with each value's source. */
status_t config_dump(const struct config *c, struct buf *out);

#endif
