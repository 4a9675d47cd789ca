/*
 * ctx_int.h - what the files of the context module share and nothing
 * outside may use: the handle, parsed-file records, the store interface.
 */
#ifndef AIRLOCK_CTX_INT_H
#define AIRLOCK_CTX_INT_H

#include "context/context.h"

struct sqlite3;

struct sqlite3_stmt;
#define CTX_STMT_CACHE 32

struct ctx {
	struct sqlite3 *db;
	const struct config *cfg;	/* borrowed; may be NULL */
	int busy_ms;
	/* Prepared statements of the hot queries, keyed by their SQL text's
	 * address (each is a string constant in store.c). */
	struct sqlite3_stmt *stmt[CTX_STMT_CACHE];
	const char *stmt_sql[CTX_STMT_CACHE];
	/* Paths of one repository's files, for import resolution; refreshed
	 * when the repository's files change (max id, count). */
	char *fc_repo;
	char **fc_path;
	int64_t *fc_id;
	size_t fc_n;
	int64_t fc_gen;
	int64_t fc_mark;	/* store_mark() when the list was checked */
	/* Document frequencies of query terms (term -> df + 1), valid while
	 * the chunks' max id is df_gen (zeroed memory is an empty map). */
	struct hmap df;
	int64_t df_gen;
	/* Chunks written in the open transaction whose FTS rows are still
	 * to be inserted (struct ctx__fts_row; text borrowed from the
	 * parsed files until the commit inserts them). */
	struct vec fts_pending;
	/* Inflate stream for packed chunk texts on the query path (a
	 * z_stream, made on first use: its 32 KB window is reused). */
	void *zin;
	/* Chunks of a file with their call counts (file id -> struct
	 * ctx__fchunks *, heap), valid while the chunks' max id is pop_gen;
	 * the neighbour list reads the same popular files query after query. */
	struct hmap pop;
	int64_t pop_gen;
	/* Closing merges (ctx__store_compact) run on this handle: which
	 * runs were followed by one is policy the tests check; and of
	 * them, those that rewrote the whole file (VACUUM). */
	unsigned compactions, vacuums;
};

struct ctx__fts_row {
	int64_t id;			/* chunks.id */
	const char *text;		/* plain text, not NUL-terminated */
	size_t len;
};

/* Chunking bounds: small enough to pack several into a prompt. */
#define CTX_CHUNK_MAX_LINES 80
#define CTX_CHUNK_TEXT_LINES 40
#define CTX_CHUNK_MAX_BYTES 8192

/* One chunk of a parsed file (strings in the parse arena). */
struct ctx__chunk {
	int start_line, end_line;	/* 1-based, inclusive */
	const char *kind;		/* function, class, text, ... */
	const char *name;		/* "" for text */
	const char *text;
	size_t len;
	/* The text as the store keeps it, set by ctx__store_pack (NULL:
	 * stored as text). */
	const void *packed;
	size_t packed_len;
};

struct ctx__sym {
	const char *name, *kind, *signature, *doc;
	int start_line, end_line;
	int chunk;			/* index into chunks, -1 if none */
	/* doc packed as chunk text is (ctx__store_pack_with; NULL: stored
	 * as text) */
	const unsigned char *doc_packed;
	size_t doc_packed_len;
};

struct ctx__edge {
	const char *kind;		/* calls, references, imports */
	int src_sym;			/* index into syms; -1: the file */
	const char *name;		/* target name (unresolved) */
	int line;
};

/* The document view of a file under a document root. */
struct ctx__doc {
	const char *kind;		/* adr, standard, ... */
	struct ctx_frontmatter fm;
	const char *mentions;		/* newline-separated `identifiers` */
};

struct ctx__parsed {
	struct arena arena;
	struct vec chunks;		/* struct ctx__chunk */
	struct vec syms;		/* struct ctx__sym */
	struct vec edges;		/* struct ctx__edge */
	const char *lang;		/* "c", ..., "text" */
	int parse_error;
	int is_doc;
	struct ctx__doc doc;
};

void ctx__parsed_init(struct ctx__parsed *p);
void ctx__parsed_release(struct ctx__parsed *p);

/* Compiles every language's extraction query (done lazily otherwise);
 * ST_INTERNAL names the first that does not compile (ST_NOMEM: out of
 * memory). */
status_t ctx__queries_check(struct err *e);
/* Language of a path by extension (static string), or "text". */
const char *ctx__lang_of(const char *path);
/* The tree-sitter grammar of a language as ctx__lang_of names it, or NULL
 * ("text", unknown). */
const struct TSLanguage *ctx__grammar(const char *lang);
/*
 * Parses text (language lang) into chunks, symbols and edges. Languages
 * without a grammar become text chunks. Thread-safe (parsers per call).
 */
status_t ctx__parse(const char *path, const char *lang, const char *text,
		    size_t len, struct ctx__parsed *out, struct err *e);
/* A tree-sitter parser and query cursor kept across files by one thread
 * (an indexing worker): making them per file costs their buffers each
 * time. Not thread-safe; one per thread. */
struct ctx__parser;
/* Makes a parser (caller frees with ctx__parser_free); ST_NOMEM. */
status_t ctx__parser_new(struct ctx__parser **out);
void ctx__parser_free(struct ctx__parser *ps);
/* ctx__parse with ps's parser and cursor; same results and errors. */
status_t ctx__parse_with(struct ctx__parser *ps, const char *path,
			 const char *lang, const char *text, size_t len,
			 struct ctx__parsed *out, struct err *e);
/* Nonzero: every language is extracted through its tree-sitter query,
 * Python too (which otherwise takes a direct walk of the tree giving the
 * same matches in the same order). For the tests that compare the two;
 * set it before parsing starts. */
extern int ctx__parse_by_query;
/* Splits text into line windows (text kind) over [from, to] lines. */
status_t ctx__chunk_lines(struct ctx__parsed *p, const char *text, size_t len,
			  const char *kind, const char *name);

/* Documents and CODEOWNERS (docs.c). */
const char *ctx__doc_kind_for(const char *path, const char *const *roots,
			      size_t n_roots);
status_t ctx__doc_parse(const char *path, const char *kind, const char *text,
			size_t len, struct ctx__parsed *out, struct err *e);
int ctx__is_codeowners(const char *path);

/* FTS5 tokenizer registration (tokens.c). */
status_t ctx__tokenizer_register(struct sqlite3 *db, struct err *e);

/* ---- store interface (store.c; SQLite today, PostgreSQL later) ------ */

struct ctx__file_rec {
	int64_t id;
	uint8_t hash[SHA256_LEN];
	int64_t size, mtime;
	int has_hash;
	int seen;
};

status_t ctx__store_open(struct ctx *c, const char *path, struct err *e);
void ctx__store_close(struct ctx *c);
/* A second handle (connection) on c's store file, freed with ctx_free:
 * for reading beside c's writes. */
status_t ctx__store_reopen(const struct ctx *c, struct ctx **out, struct err *e);
void ctx__store_cache_free(struct ctx *c);
/* Thread-safe work on a parsed file that the store can do before the
 * writer sees it, on the parsing thread: deflates chunk texts (sets
 * packed and packed_len, in p's arena). ST_NOMEM only. */
status_t ctx__store_pack(struct ctx__parsed *p);
/* The same with a packer kept by one thread across files (NULL: one of
 * its own). ctx__packer_new gives ST_NOMEM only; free accepts NULL. */
struct ctx__packer;
status_t ctx__packer_new(struct ctx__packer **out);
void ctx__packer_free(struct ctx__packer *pk);
status_t ctx__store_pack_with(struct ctx__packer *pk, struct ctx__parsed *p);
status_t ctx__store_begin(struct ctx *c, struct err *e);
/* Inserts the FTS rows of the chunks written since begin, then commits;
 * on an error the caller rolls back. */
status_t ctx__store_commit(struct ctx *c, struct err *e);
/* Outside a transaction: merges the FTS index into one segment and, when
 * more than 1/8 of the pages are free, rewrites the file (VACUUM). */
status_t ctx__store_compact(struct ctx *c, struct err *e);

/* EXPLAIN QUERY PLAN of each statement on the query path: bad gets the
 * first full table scan found with its SQL, or "" when none. */
status_t ctx__store_plans_check(struct ctx *c, char *bad, size_t bad_size,
				struct err *e);
void ctx__store_rollback(struct ctx *c);
status_t ctx__store_repo_put(struct ctx *c, const char *name,
			     const char *root, int64_t *id, struct err *e);
status_t ctx__store_repo_get(struct ctx *c, const char *name, int64_t *id,
			     struct err *e);
/* The root of a registered repository; ST_NOTFOUND when unknown. */
status_t ctx__store_repo_root(struct ctx *c, const char *name, char *root,
			      size_t n, struct err *e);
status_t ctx__store_repo_done(struct ctx *c, int64_t id, struct err *e);
/* Loads path -> struct ctx__file_rec * (heap, freed by caller) of a repo. */
status_t ctx__store_files_load(struct ctx *c, int64_t repo, struct hmap *out,
			       struct err *e);
/* Writes a file (replacing what it had) and its parsed content. */
status_t ctx__store_file_write(struct ctx *c, int64_t repo, const char *path,
			       const uint8_t hash[SHA256_LEN], int64_t size,
			       int64_t mtime, const char *skip,
			       const struct ctx__parsed *p, int64_t *file_id,
			       struct err *e);
status_t ctx__store_file_touch(struct ctx *c, int64_t file_id, int64_t mtime,
			       struct err *e);
status_t ctx__store_file_delete(struct ctx *c, int64_t file_id,
				struct err *e);
/* Recomputes documents and owns edges of a repository. */
status_t ctx__store_link(struct ctx *c, int64_t repo, struct err *e);
status_t ctx__store_count(struct ctx *c, int64_t repo,
			  struct ctx_index_stats *s, struct err *e);

/* Retrieval queries (all filtered by allow in the caller). */
struct ctx__cand {
	int64_t chunk_id;
	double score;		/* retriever's own score; higher better */
	int64_t file_id;	/* defs only; else 0 */
};
/* BM25 over chunks for an FTS5 MATCH expression; up to limit. */
status_t ctx__store_bm25(struct ctx *c, const char *match, int limit,
			 struct vec *out, struct err *e);
/* Adds the chunk ids of the given files to out (keys: int64 ids; values:
 * 1 + calls from other files to the functions they define, up to 16,
 * less those of self (from ctx__store_self_calls; may be NULL); with
 * counted 0, calls are not read and every value is 1). */
status_t ctx__store_file_chunks(struct ctx *c, const int64_t *files,
				size_t n_files, int counted, const struct hmap *self,
				struct hmap *out, struct err *e);
/* What the stored copy of repo/path calls: name -> number of calls,
 * added to out (keys copied). Nothing when it is not stored. */
status_t ctx__store_self_calls(struct ctx *c, const char *repo, const char *path,
			       struct hmap *out, struct err *e);
/* Calls fn for each chunk holding term (its posting list). */
status_t ctx__store_term_rows(struct ctx *c, const char *term,
			      void (*fn)(void *arg, int64_t chunk_id),
			      void *arg, struct err *e);
/* Number of chunks holding term (as the tokenizer writes it). */
status_t ctx__store_df(struct ctx *c, const char *term, int64_t *df,
		       struct err *e);
/* The number of files indexed in the store, all repositories (skipped
 * files not counted). */
status_t ctx__store_nfiles(struct ctx *c, int64_t *n, struct err *e);
/* An upper bound of the number of chunks (cheap). */
status_t ctx__store_nchunks(struct ctx *c, int64_t *n, struct err *e);
/* Chunks defining symbols named name (kind ranks definitions first). */
/* ... not defined in the file repo/path (both may be NULL). */
status_t ctx__store_defs(struct ctx *c, const char *name, const char *repo,
			 const char *path, int limit, struct vec *out,
			 struct err *e);
/* Calls fn for each function or method whose name starts with prefix
 * (at most limit), not defined in repo/path, with the number of calls
 * to its name from other files (counted up to 32; 0 unless counted);
 * fn's name is valid only during the call. */
typedef status_t (*ctx__def_fn)(void *arg, const char *name, int64_t chunk_id,
				int64_t file_id, int calls);
status_t ctx__store_prefix_defs(struct ctx *c, const char *prefix,
				const char *repo, const char *path, int limit,
				int counted, ctx__def_fn fn, void *arg, struct err *e);
/* Calls fn with each include or import name the indexing of a file
 * recorded (at most 64). */
status_t ctx__store_file_imports(struct ctx *c, int64_t file_id,
				 status_t (*fn)(void *arg, const char *name), void *arg,
				 struct err *e);
/* Calls fn for each prototype of a header (in line order, at most 1024
 * rows) with a definition of the same name in the header's repository,
 * never in the file path: the name (valid during the call), the
 * prototype's line and signature, the definition's chunk and file. */
typedef status_t (*ctx__decl_fn)(void *arg, const char *name, int line, const char *sig,
				 int64_t chunk_id, int64_t file_id);
status_t ctx__store_decls(struct ctx *c, int64_t header_id, const char *path,
			  ctx__decl_fn fn, void *arg, struct err *e);
/* Loads the file list of repo for ctx__store_import_defs, unless the
 * cached one is current. */
status_t ctx__store_files_refresh(struct ctx *c, const char *repo,
				  struct err *e);
/* name -> chunk id of the symbols defined in the files of repo that an
 * import target (as written in the source) names; never repo/path. The
 * files' ids are added to files (id -> 1) when not there yet. */
status_t ctx__store_import_defs(struct ctx *c, const char *repo,
				const char *path, const char *import,
				struct hmap *names, struct hmap *files,
				struct err *e);
/* Callee names called from the given chunks (graph hop). */
/* ... unless the chunk belongs to repo/path (then *mine = 1). */
status_t ctx__store_callees(struct ctx *c, int64_t chunk_id, const char *repo,
			    const char *path, struct vec *names, int *mine,
			    struct arena *a, struct err *e);
/* Chunks of documents linked to repo/path. */
status_t ctx__store_doc_chunks(struct ctx *c, const char *repo,
			       const char *path, int limit, struct vec *out,
			       struct err *e);
/* Fills a hit from a chunk id (strings into r's arena). */
status_t ctx__store_chunk_hit(struct ctx *c, int64_t chunk_id,
			      struct ctx_result *r, struct ctx_hit *h,
			      struct err *e);
/* Every code chunk of one repository in corpus order (path, line). */
typedef status_t (*ctx__corpus_fn)(void *arg, const char *repo,
				   const char *path, int start_line,
				   const char *text, size_t len);
status_t ctx__store_corpus(struct ctx *c, int64_t repo, ctx__corpus_fn fn,
			   void *arg, struct err *e);
/* A repository and the digest of its files (ctx__store_repo_digests). */
struct ctx__repo_digest {
	int64_t id;
	char name[256];		/* truncated; the digest covers all of it */
	uint8_t digest[SHA256_LEN];
};
/* Appends one struct ctx__repo_digest per repository, in id order. */
status_t ctx__store_repo_digests(struct ctx *c, struct vec *out, struct err *e);
/* Benchmark tasks: call sites of functions defined once elsewhere. */
struct ctx__task {
	char repo[128], root[1024], def_path[1024], call_path[1024];
	int def_start, call_line;
	int64_t def_chunk;
};
typedef status_t (*ctx__task_fn)(void *arg, const struct ctx__task *t);
status_t ctx__store_tasks(struct ctx *c, size_t limit, ctx__task_fn fn,
			  void *arg, struct err *e);
status_t ctx__result_push(struct ctx_result *r, struct ctx_hit **h);
/* Calls fn with the id and name ("" for none) of each chunk of a file. */
status_t ctx__store_chunk_names(struct ctx *c, int64_t file_id,
				status_t (*fn)(void *arg, int64_t chunk_id, const char *name),
				void *arg, struct err *e);
/* A call of the buffer and its evidence, for the echo list. */
struct ctx__called {
	const char *name;
	double w;		/* mean resemblance of its surroundings to the cursor's */
};
/* Echo (retrieve_echo.c): the calls of the buffer (prefix and suffix,
 * never the line at the cursor), best first, each weighed by how much
 * the lines around it resemble the lines around the cursor; names are
 * copied into a. ST_NOMEM only. */
status_t ctx__echo_calls(const char *pre, size_t plen, const char *suf, size_t slen,
			 struct vec *out, struct arena *a);

/* A definition of something the buffer's headers declare
 * (retrieve_decl.c). */
struct ctx__decl {
	int64_t chunk_id, file_id;	/* the definition */
	const char *name, *sig;		/* the prototype's, arena copies */
	double near;		/* nearness in the header to the buffer's names' prototypes */
	int depth;		/* includes away from the buffer: 1 for its own */
	int named;		/* the buffer names it */
};
/* The definitions (never in q->path) of the prototypes of headers (file
 * id -> any), of the headers they include, up to three levels and 24
 * headers, appended to out (one per chunk; strings into a); bscore: the
 * buffer's names -> score * 1000, for the nearness. */
status_t ctx__decls(struct ctx *c, const struct ctx_query *q, const struct hmap *headers,
		    const struct hmap *bscore, struct vec *out, struct arena *a, struct err *e);

/* The import statements of the head t[0, n) (a line starting one, with
 * its continuation lines, unindented), every other line blank, into out
 * (reset first); their number in *count. ST_NOMEM (retrieve.c). */
status_t ctx__import_text(const char *t, size_t n, struct buf *out, size_t *count);

/* Retrieval fusion parameters (retrieve.c): reciprocal-rank k and the
 * weight of each candidate list. Process-wide; changed only by the
 * benchmark (CONTEXT_BENCH_TUNE) to tune them, never while querying. */
struct ctx__tune {
	double rrf_k;
	double w_symbol, w_neighbour, w_bm25, w_hop, w_docs;
	double w_other_repo, w_kind_text, w_kind_type;
	double decay, w_ref, w_unused, w_unused_list, pop, w_sibling, postings, name_terms, adj;
	double w_fresh, n_fresh, n_name, w_echo, encl;
	double n_sig, sig_type, w_sig, sig_near, w_siglist, n_type;
	double w_decl, d_adj, d_depth, py_from, n_class;
};
extern struct ctx__tune ctx__tune;
/* Sets parameters from "name=value,..." (names as in retrieve.c);
 * ST_INVAL names the bad part, and nothing is changed. */
status_t ctx__tune_parse(const char *spec, struct err *e);
/* Calls fn with the chunk id and signature of each symbol of a file
 * that has one (cached as the chunk names are). */
status_t ctx__store_chunk_sigs(struct ctx *c, int64_t file_id,
			       status_t (*fn)(void *arg, int64_t chunk_id, const char *sig),
			       void *arg, struct err *e);
/* Signature evidence (retrieve_sig.c): the identifiers of the
 * near_lines lines each side of the cursor (calls left out) at weight 1, and the type words
 * of their declarations in the prefix at w_type, into out (identifier
 * -> weight * 1000), stop words (stop) left out; the type words also
 * into types (identifier -> NULL) unless it is NULL. Buffer text only.
 * ST_NOMEM when out cannot grow. */
status_t ctx__sig_evidence(const char *pre, size_t plen, const char *suf, size_t slen,
			   int near_lines, double w_type, int (*stop)(const char *, size_t), struct hmap *out,
			   struct hmap *types);
/* Whether an identifier is too common to be evidence (retrieve.c). */
int ctx__is_stop(const char *t, size_t n);

/* The identifier characters retrieval reads buffers by: [A-Za-z_] to
 * start one, digits too after. */
static inline int ctx__id_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int ctx__id_char(unsigned char c)
{
	return ctx__id_start(c) || (c >= '0' && c <= '9');
}

/* The next identifier of t[*i, n) that does not start inside a longer
 * run of identifier characters: 1 with its start in *s0 and *i moved
 * past its end; 0 (and *i = n) when there is none (retrieve.c). */
int ctx__ident_next(const char *t, size_t n, size_t *i, size_t *s0);

#endif
