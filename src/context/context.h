/*
 * context.h - the context engine: a local knowledge graph of an
 * organisation's code and documents, and retrieval over it.
 *
 * Repositories are scanned (gitignore-aware), parsed with tree-sitter into
 * chunks, symbols and edges (defines, references, calls, imports), linked
 * to organisational documents (ADRs, standards, incidents, runbooks) and
 * owners (CODEOWNERS), and stored in <data>/airlock.db. Retrieval fuses
 * symbol lookup through the graph, BM25 over identifier-split tokens and
 * the documents linked to the current file. An n-gram model (suffix array
 * over the indexed text) completes code without a model file and answers
 * provenance questions ("does this text occur verbatim in the corpus?").
 *
 * Threading: one struct ctx per thread (it owns a SQLite connection).
 * struct ctx_ngram is read-only after open and may be shared.
 */
#ifndef AIRLOCK_CONTEXT_H
#define AIRLOCK_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct ctx;

/*
 * Checks that every compiled-in tree-sitter grammar loads with this
 * libtree-sitter (ABI between the library's minimum and maximum).
 * Returns ST_UNSUPPORTED naming the first grammar that does not.
 */
status_t ctx_grammars_check(struct err *e);

/*
 * Opens (creating and migrating) the context store at <data_dir>/airlock.db.
 * cfg may be NULL (schema defaults). *out is freed with ctx_free.
 * Errors: ST_IO (cannot create or open), ST_BUSY (locked).
 */
status_t ctx_open(const char *data_dir, const struct config *cfg,
		  struct ctx **out, struct err *e);
/* Closes the store; NULL is accepted. */
void ctx_free(struct ctx *c);
/* Sets how long a write waits for a lock held by another process. */
void ctx_set_busy_timeout(struct ctx *c, int ms);
/*
 * Caps the store file at about max_bytes (0: no cap) for this handle's
 * writes: past it, index batches fail as a full disk would (counted as
 * store_error, rolled back) and the index stays consistent.
 */
void ctx_set_size_limit(struct ctx *c, uint64_t max_bytes);

/* ------------------------------------------------------------------ */
/* Indexing                                                            */
/* ------------------------------------------------------------------ */

/* Why a file was not indexed; each is counted. */
#define CTX_SKIP_MAP(X)                                  \
	X(IGNORED, "ignored")        /* .gitignore */      \
	X(EXCLUDED, "excluded")      /* context.exclude */ \
	X(VENDORED, "vendored")                            \
	X(GENERATED, "generated")                          \
	X(TOO_LARGE, "too_large")                          \
	X(BINARY, "binary")                                \
	X(INVALID_UTF8, "invalid_utf8")                    \
	X(UNREADABLE, "unreadable")                        \
	X(VANISHED, "vanished")      /* deleted mid-index */ \
	X(SYMLINK, "symlink")                              \
	X(SPECIAL, "special")        /* fifo, socket, device */ \
	X(STORE, "store_error")      /* batch failed: locked or full */

enum ctx_skip {
#define CTX_SKIP_ENUM_(n, s) CTX_SKIP_##n,
	CTX_SKIP_MAP(CTX_SKIP_ENUM_)
#undef CTX_SKIP_ENUM_
	CTX_SKIP__COUNT
};
/* Short name of a skip reason ("too_large"). */
const char *ctx_skip_name(enum ctx_skip r);

struct ctx_index_stats {
	uint64_t files_seen;	/* regular files considered */
	uint64_t files_indexed;	/* new or changed, written */
	uint64_t files_unchanged;
	uint64_t files_deleted;	/* gone since the last run */
	uint64_t skipped[CTX_SKIP__COUNT];
	uint64_t parse_errors;	/* parsed with error nodes (still indexed) */
	uint64_t bytes;		/* bytes of the files indexed in this run */
	uint64_t chunks, symbols, edges, documents;
	uint64_t elapsed_ns;
	uint64_t cpu_ns;	/* CPU time of the process (all threads) in the run */
	int interrupted;	/* stopped early by *cancel */
	int compact_due;	/* a compaction is due and was deferred */
};

struct ctx_index_opts {
	const char *name;	/* repository name; NULL: basename of path */
	int threads;		/* parsing threads; <= 0: online CPUs */
	/* Called after each batch (may be NULL); done/total are files. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	volatile int *cancel;	/* when set non-zero, stop after the batch */
	/* When a closing compaction is due, leave it to the caller
	 * (stats->compact_due) instead of running it: ctx_ngram_build_ex
	 * can overlap it with its sort. */
	int defer_compact;
};

/*
 * Registers the repository at path (a directory) and brings its index up
 * to date: new and changed files (by content hash) are parsed and written,
 * deleted ones removed, unchanged ones left untouched. Each batch is one
 * transaction, so an interruption leaves a consistent index that the next
 * run completes. stats may be NULL. Errors: ST_NOTFOUND (no such
 * directory), ST_IO, ST_BUSY (store locked for the whole run); per-file
 * problems are skips, not errors.
 */
status_t ctx_index_repo(struct ctx *c, const char *path,
			const struct ctx_index_opts *o,
			struct ctx_index_stats *stats, struct err *e);

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

/* Which retriever found a hit (bit mask). */
enum {
	CTX_SRC_SYMBOL = 1,
	CTX_SRC_BM25 = 2,
	CTX_SRC_DOCS = 4,
	CTX_SRC_ALL = 7,
};

/* One snippet or record. Strings are owned by the enclosing ctx_result. */
struct ctx_hit {
	int64_t chunk_id;	/* 0 when not a chunk */
	const char *repo;
	const char *path;	/* relative to the repository root */
	int start_line, end_line;	/* 1-based, inclusive */
	double score;		/* higher is better */
	const char *kind;	/* function, class, text, adr, standard, ... */
	const char *name;	/* symbol or document title; may be "" */
	const char *signature;	/* symbols: declaration line; else "" */
	const char *doc;	/* symbols: doc comment; else "" */
	const char *text;	/* the snippet */
	int sources;		/* CTX_SRC_* that found it */
};

struct ctx_result {
	struct ctx_hit *hits;	/* n entries */
	size_t n, cap;
	struct arena arena;	/* owns hits' strings */
};

/* Prepares an empty result (no allocation until the first hit). */
void ctx_result_init(struct ctx_result *r);
/* Frees a result's hits and strings; r may be reused after init. */
void ctx_result_release(struct ctx_result *r);

/*
 * Appends r as a JSON array of objects (repo, path, start_line, end_line,
 * score, kind, name, signature, sources, text) to out.
 */
status_t ctx_result_json(const struct ctx_result *r, struct buf *out);

/* ------------------------------------------------------------------ */
/* Retrieval                                                           */
/* ------------------------------------------------------------------ */

/*
 * Scope predicate: returns non-zero when the caller may see path in repo.
 * The policy module's scopes plug in here (team -> repositories, paths).
 */
typedef int (*ctx_allow_fn)(void *arg, const char *repo, const char *path);
/* Counts the tokens of text for the budget (NULL: bytes / 4). */
typedef size_t (*ctx_count_fn)(void *arg, const char *text, size_t len);

struct ctx_query {
	const char *repo;	/* repository of the file being edited */
	const char *path;	/* its path in the repository; never returned */
	const char *prefix;	/* buffer text before the cursor */
	size_t prefix_len;
	const char *suffix;	/* after the cursor; may be NULL */
	size_t suffix_len;
	int top_k;		/* at most this many hits (<= 0: 10) */
	size_t token_budget;	/* 0: no budget */
	int sources;		/* CTX_SRC_* to use (0: all) */
	ctx_allow_fn allow;	/* NULL: everything allowed */
	void *allow_arg;
	ctx_count_fn count_tokens;
	void *count_arg;
};

/*
 * Retrieves the snippets most useful at the cursor of q: definitions of
 * identifiers around the cursor and of what the file imports (graph),
 * BM25 over identifier-split tokens, documents linked to the file; fused
 * by reciprocal rank, deduplicated, packed into the token budget, best
 * first. Hits are never from q->path in q->repo and always allowed by
 * q->allow. out must be initialised; it is filled (caller releases).
 */
status_t ctx_retrieve(struct ctx *c, const struct ctx_query *q,
		      struct ctx_result *out, struct err *e);

/* BM25 search over chunks for a free-text query (identifiers are split). */
status_t ctx_search(struct ctx *c, const char *query, int top_k,
		    ctx_allow_fn allow, void *allow_arg,
		    struct ctx_result *out, struct err *e);

/* Definitions of symbols named name (exact, case-sensitive). */
status_t ctx_symbols_find(struct ctx *c, const char *name, int limit,
			  struct ctx_result *out, struct err *e);

/*
 * Owners of path in repo (NULL: every repository) by the repository's
 * CODEOWNERS (last matching rule wins). Each hit has name = owner,
 * path = the CODEOWNERS file, start_line = the rule's line, text = pattern.
 */
status_t ctx_owners_of(struct ctx *c, const char *repo, const char *path,
		       struct ctx_result *out, struct err *e);

/*
 * Documents (decisions, standards, incidents, runbooks, policies) that
 * apply to path in repo (NULL: any repository): linked by path globs or
 * by mentioning symbols defined in the file. kind is the document kind,
 * name its title, text its first lines.
 */
status_t ctx_docs_for(struct ctx *c, const char *repo, const char *path,
		      struct ctx_result *out, struct err *e);

/* ------------------------------------------------------------------ */
/* Graph                                                               */
/* ------------------------------------------------------------------ */

/*
 * Edges of the graph touching a file: what it defines, imports and calls
 * (outgoing) and who calls its symbols (incoming), one line per edge into
 * out as "kind<TAB>source<TAB>target". For tools and tests.
 */
status_t ctx_graph_file(struct ctx *c, const char *repo, const char *path,
			struct buf *out, struct err *e);

/* ------------------------------------------------------------------ */
/* Index model: suffix array over the indexed text                     */
/* ------------------------------------------------------------------ */

struct ctx_ngram;

/* Where a match lies in the corpus. */
struct ctx_ngram_match {
	size_t length;		/* bytes matched */
	size_t text_offset;	/* start of the match in the queried text */
	char repo[128];
	char path[1024];
	int line;		/* 1-based line of the match start in path */
	char licence[64];	/* reference corpora: the file's licence label */
	int lines;		/* ctx_ngram_overlaps: full non-blank lines */
};

/*
 * Brings the n-gram index under <data_dir>/context-ngram/ up to date with
 * the store's chunks: one suffix array per repository (libdivsufsort),
 * rebuilt only for repositories whose files changed since it was built
 * (or whose part is missing or damaged); parts of repositories no longer
 * in the store, and the single index of older versions
 * (<data_dir>/context-ngram.txt/.sa/.map), are removed. Files are
 * replaced atomically. Errors: ST_IO, ST_NOMEM, ST_LIMIT (a repository's
 * code over 2 GiB), store errors.
 */
status_t ctx_ngram_build(struct ctx *c, const char *data_dir, struct err *e);

/* How ctx_ngram_build_ex works. Zeroed: as ctx_ngram_build. */
struct ctx_ngram_build_opts {
	int threads;		/* sorting threads; <= 0: online CPUs */
	/* Also compact the store (ctx_store_compact): on a pool thread
	 * while another reads the corpora of the parts rebuilt (alone when
	 * none is). */
	int compact;
	/* The least text of a sub-part: a repository's corpus is split
	 * into sub-parts of about 2 MiB, at least one per thread, none
	 * smaller than this; 0: 2 MiB. Tests set it low to split small
	 * corpora. */
	size_t split_bytes;
	/* Corpora read ahead of their sort, in text bytes (one repository
	 * at least); 0: 64 MiB. Tests set it low. */
	size_t ahead_bytes;
};

/* What ctx_ngram_build_ex did. */
struct ctx_ngram_build_stats {
	uint64_t rebuilt, kept;	/* repositories' parts */
	uint64_t subparts;	/* files written for the rebuilt (>= rebuilt) */
	uint64_t bytes;		/* text bytes sorted */
	int compacted;		/* the store was compacted */
	uint64_t compact_ns;	/* wall time of the compaction */
	uint64_t elapsed_ns;	/* wall time of the whole call */
	uint64_t cpu_ns;	/* CPU time of the process (all threads) in the call */
};

/*
 * ctx_ngram_build with options: a large repository's part is sorted and
 * written as sub-parts on several threads (queries treat them as the one
 * part, except that no match spans two: see docs/internals/context.md),
 * and the store's compaction deferred by ctx_index_repo
 * (ctx_index_opts.defer_compact) can run meanwhile. o and stats may be
 * NULL. Errors as ctx_ngram_build; a failed compaction is logged, not
 * returned (it only leaves a larger store).
 */
status_t ctx_ngram_build_ex(struct ctx *c, const char *data_dir,
			    const struct ctx_ngram_build_opts *o,
			    struct ctx_ngram_build_stats *stats, struct err *e);

/*
 * Merges the store's full-text index into one segment and, when more than
 * an eighth of its pages are free, rewrites it (VACUUM): what
 * ctx_index_repo does after a large run unless told to defer it. Outside
 * a transaction, with no query running on c. Errors: store errors.
 */
status_t ctx_store_compact(struct ctx *c, struct err *e);

/*
 * Opens the n-gram index of data_dir (read-only mmap): every part, or the
 * single index of older versions while there are no parts. ST_NOTFOUND
 * when it was never built; ST_CORRUPT when its files disagree or a
 * listed part is missing.
 */
status_t ctx_ngram_open(const char *data_dir, struct ctx_ngram **out,
			struct err *e);
/*
 * Opens the index whose files are <prefix>.txt, .sa and .map (a reference
 * corpus built by ctx_ngram_build_corpus, or any n-gram index).
 * ST_NOTFOUND when <prefix>.txt is missing; ST_CORRUPT as ctx_ngram_open.
 */
status_t ctx_ngram_open_at(const char *prefix, struct ctx_ngram **out,
			   struct err *e);
void ctx_ngram_free(struct ctx_ngram *g);
/* Bytes of text in the index. */
size_t ctx_ngram_size(const struct ctx_ngram *g);

/*
 * Completes prefix with the continuation that follows the longest suffix
 * of prefix occurring in the corpus (most frequent continuation among its
 * occurrences), up to max_bytes or the end of the line. Appends to out;
 * m (may be NULL) receives the context length used and one source.
 * An empty completion is not an error.
 */
status_t ctx_ngram_complete(const struct ctx_ngram *g, const char *prefix,
			    size_t len, size_t max_bytes, struct buf *out,
			    struct ctx_ngram_match *m);

/*
 * Finds the longest substring of text that occurs verbatim in the corpus;
 * m->length is 0 when nothing matches. For provenance checks.
 */
status_t ctx_ngram_longest_match(const struct ctx_ngram *g, const char *text,
				 size_t len, struct ctx_ngram_match *m);

/* What ctx_ngram_build_corpus read. */
struct ctx_corpus_stats {
	uint64_t files;		/* files in the index */
	uint64_t skipped;	/* binary, too large, unreadable, special */
	uint64_t bytes;		/* normalised text bytes */
};

/*
 * Builds a reference corpus index (for provenance checks) from the files
 * under the n_roots paths (directories are walked in name order; hidden
 * entries and symlinks are skipped, as are binary files and files over
 * 16 MiB) into <prefix>.txt/.sa/.map, replacing them atomically. name is
 * the corpus name reported as the match's repo, licence its label (both
 * without tabs). The text is whitespace-normalised as ctx_ngram_overlaps
 * describes, so line numbers stay those of the files. stats may be NULL.
 * Errors: ST_NOTFOUND (a root does not exist), ST_INVAL (bad name or
 * licence), ST_LIMIT (over 2 GiB), ST_IO, ST_NOMEM.
 */
status_t ctx_ngram_build_corpus(const char *const *roots, size_t n_roots,
				const char *name, const char *licence,
				const char *prefix, struct ctx_corpus_stats *stats,
				struct err *e);

/*
 * Reports every maximal verbatim overlap between text and the corpus of g
 * that is at least min_chars bytes long or covers at least min_lines full
 * non-blank lines (a value <= 0 disables that criterion), left to right,
 * one per overlapping region: fn gets the span in text (m->text_offset,
 * m->length, original bytes), the corpus file, line and licence, and the
 * full lines it covers (m->lines). For a reference corpus both sides are
 * compared whitespace-normalised: indentation and trailing blanks are
 * ignored and runs of blanks inside a line count as one space (min_chars
 * counts normalised bytes). Candidates are found by probing windows at a
 * stride of half the shortest qualifying length, so text without long
 * overlaps costs a few suffix-array steps per stride. Stops with ST_LIMIT
 * after a bounded amount of work (about 64 M comparisons) and refuses
 * texts over 64 MiB with ST_LIMIT; ST_NOMEM.
 */
status_t ctx_ngram_overlaps(const struct ctx_ngram *g, const char *text,
			    size_t len, size_t min_chars, int min_lines,
			    void (*fn)(void *arg, const struct ctx_ngram_match *m),
			    void *arg);

/* ------------------------------------------------------------------ */
/* Retrieval benchmark                                                 */
/* ------------------------------------------------------------------ */

/*
 * Masked-call tasks on the indexed code: a line of file B that calls a
 * function defined (once) in another file A of the same repository is
 * removed; the prefix and suffix around it are the query; the task is
 * solved at k when A's defining chunk is among the first k hits.
 */
struct ctx_bench_result {
	size_t tasks;
	double recall1[2], recall5[2], recall10[2], mrr[2];	/* [0] BM25, [1] hybrid */
	double p50_ms, p99_ms;		/* hybrid query latency, wall */
	double cpu_p50_ms, cpu_p99_ms;	/* the same in CPU time */
	/* Hybrid on the two halves: [0] even-numbered tasks (the fusion
	 * weights were tuned on these), [1] odd-numbered (held out). */
	size_t split_tasks[2];
	double split_recall10[2], split_mrr[2];
};

/* Runs up to max_tasks tasks (deterministic choice). */
status_t ctx_bench_run(struct ctx *c, size_t max_tasks,
		       struct ctx_bench_result *r, struct err *e);

/* ------------------------------------------------------------------ */
/* Building blocks, public for tests and fuzzing                       */
/* ------------------------------------------------------------------ */

/*
 * Splits identifiers in text into lower-case tokens: parseHttpRequest ->
 * parse, http, request, parsehttprequest. Calls fn for each token (not
 * NUL-terminated) with its byte range in text; stops when fn returns
 * non-zero. Tokens are at most 64 bytes.
 */
void ctx_tokens_split(const char *text, size_t len,
		      int (*fn)(void *arg, const char *tok, size_t n,
				size_t start, size_t end, int colocated),
		      void *arg);

struct ctx_ignore;
/* A gitignore matcher: a stack of pattern lists, deepest last. */
status_t ctx_ignore_new(struct ctx_ignore **out);
void ctx_ignore_free(struct ctx_ignore *ig);
/*
 * Adds the patterns of one .gitignore (text) found in directory base
 * ("" for the root; relative, no trailing slash). Bad lines are ignored
 * as git does; ST_NOMEM on allocation failure.
 */
status_t ctx_ignore_add(struct ctx_ignore *ig, const char *base,
			const char *text, size_t len);
/* Drops the patterns added for base and deeper (leaving a directory). */
void ctx_ignore_pop(struct ctx_ignore *ig, const char *base);
/* Returns 1 when path (relative to the root) is ignored. */
int ctx_ignore_match(const struct ctx_ignore *ig, const char *path,
		     int is_dir);
/* git's wildmatch semantics of one pattern (with '/' special): 1 if match. */
int ctx_glob_match(const char *pattern, const char *text);

/* Front matter of a document. Fields are owned by the arena given. */
struct ctx_frontmatter {
	const char *title, *status, *kind, *date;
	const char *tags;	/* comma-separated */
	const char *services;	/* comma-separated */
	const char *paths;	/* newline-separated globs */
	size_t body_offset;	/* where the document body starts */
};

/*
 * Parses optional YAML front matter ("---" line, YAML, "---" or "...")
 * at the start of text. Without front matter, all fields are NULL and
 * body_offset is 0. Errors: ST_CORRUPT with line:column for invalid YAML
 * or a front matter that is not a mapping; ST_LIMIT when over 64 KiB.
 */
status_t ctx_frontmatter_parse(const char *text, size_t len,
			       struct arena *a, struct ctx_frontmatter *fm,
			       struct err *e);

#endif
