/*
 * parse.c - from source text to chunks, symbols and edges.
 *
 * Each supported language has a tree-sitter grammar compiled into the
 * library and one query of ours whose captures name what we keep:
 *   @name + @def.<kind>   a definition (function, method, class, ...)
 *   @import               an import / include / use target
 *   @call                 the callee name of a call
 *   @ref                  a type name used
 *   @req.fn + @req.path   require("x") in JavaScript
 * Definitions become chunks (small ones whole; big ones through their
 * members, the rest in line windows), so a hit is a unit of meaning.
 * The matches are found by a walk of the tree that gives what the query
 * gives, in the same order, for less CPU: Python's by hand
 * (matches_python), the others' read from the query text (matches_walk),
 * the query itself redoing a file the walk cannot decide.
 */
#include "context/ctx_int.h"

#include <string.h>
#include <pthread.h>
#include <tree_sitter/api.h>

const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_cpp(void);
const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_javascript(void);
const TSLanguage *tree_sitter_typescript(void);
const TSLanguage *tree_sitter_tsx(void);
const TSLanguage *tree_sitter_go(void);
const TSLanguage *tree_sitter_rust(void);
const TSLanguage *tree_sitter_java(void);

#define CALLS_C                                                             \
	"(call_expression function: (identifier) @call)\n"                  \
	"(call_expression function: (field_expression field: (_) @call))\n" \
	"(type_identifier) @ref\n"

static const char q_c[] =
	"(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function\n"
	"(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.function\n"
	"(declaration declarator: (function_declarator declarator: (identifier) @name)) @def.prototype\n"
	"(declaration declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.prototype\n"
	"(struct_specifier name: (_) @name body: (_)) @def.struct\n"
	"(union_specifier name: (_) @name body: (_)) @def.struct\n"
	"(enum_specifier name: (_) @name body: (_)) @def.type\n"
	"(type_definition declarator: (type_identifier) @name) @def.type\n"
	"(enumerator name: (_) @name) @def.constant\n"
	"(preproc_def name: (_) @name) @def.constant\n"
	"(preproc_function_def name: (_) @name) @def.macro\n"
	"(preproc_include path: (_) @import)\n"
	CALLS_C;

static const char q_cpp[] =
	"(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function\n"
	"(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @def.method\n"
	"(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (_) @name))) @def.method\n"
	"(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.function\n"
	"(function_definition declarator: (reference_declarator (function_declarator declarator: (_) @name))) @def.function\n"
	"(declaration declarator: (function_declarator declarator: (identifier) @name)) @def.prototype\n"
	"(field_declaration declarator: (function_declarator declarator: (_) @name)) @def.prototype\n"
	"(class_specifier name: (_) @name body: (_)) @def.class\n"
	"(struct_specifier name: (_) @name body: (_)) @def.struct\n"
	"(union_specifier name: (_) @name body: (_)) @def.struct\n"
	"(enum_specifier name: (_) @name body: (_)) @def.type\n"
	"(type_definition declarator: (type_identifier) @name) @def.type\n"
	"(alias_declaration name: (_) @name) @def.type\n"
	"(enumerator name: (_) @name) @def.constant\n"
	"(preproc_def name: (_) @name) @def.constant\n"
	"(preproc_function_def name: (_) @name) @def.macro\n"
	"(preproc_include path: (_) @import)\n"
	"(call_expression function: (qualified_identifier name: (_) @call))\n"
	CALLS_C;

/* matches_python finds these same matches by a walk of the tree (it is
 * what indexing runs): a change here needs the same change there, and
 * test_parse_walk_matches_query compares the two. */
static const char q_python[] =
	"(function_definition name: (identifier) @name) @def.function\n"
	"(class_definition name: (identifier) @name) @def.class\n"
	"(module (expression_statement (assignment left: (identifier) @name)) @def.constant)\n"
	"(import_statement name: (dotted_name) @import)\n"
	"(import_statement name: (aliased_import name: (dotted_name) @import))\n"
	"(import_from_statement module_name: (_) @import)\n"
	"(call function: (identifier) @call)\n"
	"(call function: (attribute attribute: (identifier) @call))\n";

#define Q_JS_COMMON                                                                              \
	"(function_declaration name: (_) @name) @def.function\n"                                 \
	"(generator_function_declaration name: (_) @name) @def.function\n"                       \
	"(class_declaration name: (_) @name) @def.class\n"                                       \
	"(method_definition name: (_) @name) @def.method\n"                                      \
	"(lexical_declaration (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)])) @def.function\n" \
	"(variable_declaration (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)])) @def.function\n" \
	"(expression_statement (assignment_expression left: (member_expression property: (_) @name) right: [(arrow_function) (function_expression)])) @def.function\n" \
	"(pair key: (property_identifier) @name value: [(arrow_function) (function_expression)]) @def.method\n" \
	"(import_statement source: (string) @import)\n"                                          \
	"(call_expression function: (identifier) @req.fn arguments: (arguments . (string) @req.path))\n" \
	"(call_expression function: (identifier) @call)\n"                                       \
	"(call_expression function: (member_expression property: (_) @call))\n"                 \
	"(new_expression constructor: (identifier) @call)\n"

static const char q_js[] = Q_JS_COMMON;

static const char q_ts[] = Q_JS_COMMON
	"(function_signature name: (_) @name) @def.function\n"
	"(abstract_class_declaration name: (_) @name) @def.class\n"
	"(interface_declaration name: (_) @name) @def.interface\n"
	"(type_alias_declaration name: (_) @name) @def.type\n"
	"(enum_declaration name: (_) @name) @def.type\n"
	"(method_signature name: (_) @name) @def.method\n"
	"(abstract_method_signature name: (_) @name) @def.method\n"
	"(type_identifier) @ref\n";

static const char q_go[] =
	"(function_declaration name: (_) @name) @def.function\n"
	"(method_declaration name: (_) @name) @def.method\n"
	"(type_spec name: (_) @name) @def.type\n"
	"(const_spec name: (_) @name) @def.constant\n"
	"(import_spec path: (_) @import)\n"
	"(call_expression function: (identifier) @call)\n"
	"(call_expression function: (selector_expression field: (_) @call))\n"
	"(type_identifier) @ref\n";

static const char q_rust[] =
	"(function_item name: (_) @name) @def.function\n"
	"(function_signature_item name: (_) @name) @def.function\n"
	"(struct_item name: (_) @name) @def.struct\n"
	"(enum_item name: (_) @name) @def.type\n"
	"(union_item name: (_) @name) @def.struct\n"
	"(trait_item name: (_) @name) @def.interface\n"
	"(type_item name: (_) @name) @def.type\n"
	"(const_item name: (_) @name) @def.constant\n"
	"(static_item name: (_) @name) @def.constant\n"
	"(macro_definition name: (_) @name) @def.macro\n"
	"(use_declaration argument: (_) @import)\n"
	"(call_expression function: (identifier) @call)\n"
	"(call_expression function: (field_expression field: (_) @call))\n"
	"(call_expression function: (scoped_identifier name: (_) @call))\n"
	"(macro_invocation macro: (identifier) @call)\n"
	"(type_identifier) @ref\n";

static const char q_java[] =
	"(method_declaration name: (_) @name) @def.method\n"
	"(constructor_declaration name: (_) @name) @def.method\n"
	"(class_declaration name: (_) @name) @def.class\n"
	"(interface_declaration name: (_) @name) @def.interface\n"
	"(enum_declaration name: (_) @name) @def.type\n"
	"(record_declaration name: (_) @name) @def.class\n"
	"(import_declaration (_) @import)\n"
	"(method_invocation name: (_) @call)\n"
	"(object_creation_expression type: (type_identifier) @call)\n"
	"(type_identifier) @ref\n";

struct lang {
	const char *name;
	const char *exts;	/* space-separated, each with its dot */
	const TSLanguage *(*fn)(void);
	const char *query;
	/* Compiled once, shared read-only (TSQuery is immutable). */
	TSQuery *q;
	/* What each capture id of q means (enum role), set with q: the
	 * match loop then tests a byte instead of comparing names. */
	unsigned char *roles;
	int failed;
	/* The walk's form of the query (matches_walk), made on first use
	 * and kept for the process; NULL with walk_tried: the query is
	 * used. */
	struct wlang *walk;
	int walk_tried;
	/* SC_ bits by symbol (nscopes of them) for the walks' hints; made
	 * with the walk, kept for the process. */
	uint8_t *scopes;
	uint32_t nscopes;
};

enum role { R_NONE, R_NAME, R_DEF, R_IMPORT, R_CALL, R_REF, R_REQ_FN, R_REQ_PATH };

/* The role of a capture name of our queries. */
static unsigned char role_of(const char *cn)
{
	if (strcmp(cn, "name") == 0)
		return R_NAME;
	if (strncmp(cn, "def.", 4) == 0)
		return R_DEF;
	if (strcmp(cn, "import") == 0)
		return R_IMPORT;
	if (strcmp(cn, "call") == 0)
		return R_CALL;
	if (strcmp(cn, "ref") == 0)
		return R_REF;
	if (strcmp(cn, "req.fn") == 0)
		return R_REQ_FN;
	if (strcmp(cn, "req.path") == 0)
		return R_REQ_PATH;
	return R_NONE;
}

static struct lang langs[] = {
	{ "c", ".c .h", tree_sitter_c, q_c, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "cpp", ".cc .cpp .cxx .hpp .hh .hxx .c++ .h++ .ipp", tree_sitter_cpp, q_cpp, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "python", ".py .pyi", tree_sitter_python, q_python, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "javascript", ".js .mjs .cjs .jsx", tree_sitter_javascript, q_js, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "typescript", ".ts .mts .cts", tree_sitter_typescript, q_ts, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "tsx", ".tsx", tree_sitter_tsx, q_ts, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "go", ".go", tree_sitter_go, q_go, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "rust", ".rs", tree_sitter_rust, q_rust, NULL, NULL, 0, NULL, 0, NULL, 0 },
	{ "java", ".java", tree_sitter_java, q_java, NULL, NULL, 0, NULL, 0, NULL, 0 },
};
#define N_LANGS (sizeof langs / sizeof langs[0])

static pthread_mutex_t query_mu = PTHREAD_MUTEX_INITIALIZER;

const char *ctx__lang_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!dot || (slash && dot < slash))
		return "text";
	n = strlen(dot);
	for (size_t i = 0; i < N_LANGS; i++) {
		const char *x = langs[i].exts;
		while (*x) {
			size_t l = strcspn(x, " ");
			if (l == n && strncmp(x, dot, n) == 0)
				return langs[i].name;
			x += l;
			while (*x == ' ')
				x++;
		}
	}
	return "text";
}

static struct lang *lang_find(const char *name)
{
	for (size_t i = 0; i < N_LANGS; i++)
		if (strcmp(langs[i].name, name) == 0)
			return &langs[i];
	return NULL;
}

const struct TSLanguage *ctx__grammar(const char *lang)
{
	const struct lang *l = lang ? lang_find(lang) : NULL;
	return l ? l->fn() : NULL;
}

/* Compiles the language's query once; NULL when it fails (*why:
 * ST_INTERNAL when it does not compile, ST_NOMEM without memory). */
static TSQuery *lang_query(struct lang *l, status_t *why, struct err *e)
{
	TSQuery *q;
	int failed;

	pthread_mutex_lock(&query_mu);
	if (!l->q && !l->failed) {
		uint32_t off = 0;
		TSQueryError qe = TSQueryErrorNone;
		l->q = ts_query_new(l->fn(), l->query, (uint32_t)strlen(l->query),
				    &off, &qe);
		if (!l->q) {
			l->failed = 1;
			LOG_ERROR("context.query", LF_STR("lang", l->name),
				  LF_INT("offset", off), LF_INT("error", qe));
		} else {
			uint32_t nc = ts_query_capture_count(l->q);
			/* Kept for the process, like the query itself. */
			l->roles = mem_calloc(nc + 1, 1);
			if (!l->roles) {
				ts_query_delete(l->q);
				l->q = NULL;
			} else {
				for (uint32_t i = 0; i < nc; i++) {
					uint32_t cl;
					l->roles[i] = role_of(ts_query_capture_name_for_id(l->q, i, &cl));
				}
			}
		}
	}
	q = l->q;
	failed = l->failed;
	pthread_mutex_unlock(&query_mu);
	*why = q ? ST_OK : failed ? ST_INTERNAL : ST_NOMEM;
	if (!q && failed)
		err_set(e, ST_INTERNAL, "%s: query does not compile", l->name);
	else if (!q)
		err_set(e, ST_NOMEM, "%s: out of memory for the query", l->name);
	return q;
}

/* Queries are compiled when a language is first parsed, not here:
 * compiling all nine costs about 0.15 s of CPU per `airlock index`
 * process, more than indexing a small repository. ctx__queries_check
 * compiles them all (tests). */
status_t ctx_grammars_check(struct err *e)
{
	for (size_t i = 0; i < N_LANGS; i++) {
		uint32_t v = ts_language_version(langs[i].fn());
		if (v < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION ||
		    v > TREE_SITTER_LANGUAGE_VERSION)
			return err_set(e, ST_UNSUPPORTED,
				       "grammar %s: ABI %u, this libtree-sitter loads %d..%d",
				       langs[i].name, v,
				       TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
				       TREE_SITTER_LANGUAGE_VERSION);
	}
	return ST_OK;
}

status_t ctx__queries_check(struct err *e)
{
	status_t st;

	for (size_t i = 0; i < N_LANGS; i++)
		if (!lang_query(&langs[i], &st, e))
			return st;
	return ST_OK;
}

void ctx__parsed_init(struct ctx__parsed *p)
{
	memset(p, 0, sizeof *p);
	arena_init(&p->arena, 0, 0);
	vec_init(&p->chunks, sizeof(struct ctx__chunk));
	vec_init(&p->syms, sizeof(struct ctx__sym));
	vec_init(&p->edges, sizeof(struct ctx__edge));
	p->lang = "text";
}

void ctx__parsed_release(struct ctx__parsed *p)
{
	if (!p)
		return;
	vec_release(&p->chunks);
	vec_release(&p->syms);
	vec_release(&p->edges);
	arena_release(&p->arena);
}

/* ---- line table ------------------------------------------------------ */

struct lines {
	size_t *start;		/* byte offset of line i (0-based); n + 1 entries */
	int n;
};

static status_t lines_build(struct lines *l, const char *t, size_t len,
			    struct arena *a)
{
	int n = 1;

	for (size_t i = 0; i < len; i++)
		if (t[i] == '\n' && i + 1 < len)
			n++;
	l->start = arena_alloc(a, sizeof(size_t) * ((size_t)n + 1));
	if (!l->start)
		return ST_NOMEM;
	l->n = 0;
	l->start[l->n++] = 0;
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\n' && i + 1 < len)
			l->start[l->n++] = i + 1;
	l->start[l->n] = len;
	return ST_OK;
}

/* Adds a chunk of lines [s, e] (1-based), capped in bytes. */
static status_t add_chunk(struct ctx__parsed *p, const char *t,
			  const struct lines *l, int s, int e,
			  const char *kind, const char *name)
{
	struct ctx__chunk ch;
	size_t b, end;
	int blank = 1;

	if (s < 1)
		s = 1;
	if (e > l->n)
		e = l->n;
	if (s > e)
		return ST_OK;
	b = l->start[s - 1];
	end = l->start[e];
	for (size_t i = b; i < end; i++)
		if (t[i] != ' ' && t[i] != '\t' && t[i] != '\n' && t[i] != '\r') {
			blank = 0;
			break;
		}
	if (blank)
		return ST_OK;
	if (end - b > CTX_CHUNK_MAX_BYTES)
		end = b + CTX_CHUNK_MAX_BYTES;
	ch.start_line = s;
	ch.end_line = e;
	ch.kind = kind;
	ch.name = name ? name : "";
	ch.text = arena_strndup(&p->arena, t + b, end - b);
	ch.len = end - b;
	ch.packed = NULL;
	ch.packed_len = 0;
	if (!ch.text)
		return ST_NOMEM;
	return vec_push(&p->chunks, &ch);
}

/* Line windows over [s, e]. */
static status_t add_windows(struct ctx__parsed *p, const char *t,
			    const struct lines *l, int s, int e,
			    const char *kind, const char *name)
{
	for (int a = s; a <= e; a += CTX_CHUNK_TEXT_LINES) {
		int b = a + CTX_CHUNK_TEXT_LINES - 1;
		status_t st = add_chunk(p, t, l, a, b > e ? e : b, kind, name);
		if (st)
			return st;
	}
	return ST_OK;
}

status_t ctx__chunk_lines(struct ctx__parsed *p, const char *text, size_t len,
			  const char *kind, const char *name)
{
	struct lines l;
	status_t st = lines_build(&l, text, len, &p->arena);

	if (st)
		return st;
	return add_windows(p, text, &l, 1, l.n, kind, name);
}

/* ---- tree-sitter extraction ----------------------------------------- */

struct def {
	int start, end;		/* lines, 1-based; start includes doc comment */
	int sym;		/* index into syms */
};

static int is_comment(TSNode n)
{
	return strstr(ts_node_type(n), "comment") != NULL;
}

static const char *node_text(struct ctx__parsed *p, const char *t, TSNode n,
			     size_t max)
{
	uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);

	if (b < a)
		b = a;
	if (b - a > max)
		b = a + (uint32_t)max;
	return arena_strndup(&p->arena, t + a, b - a);
}

/* The declaration head: from the node start to its body, whitespace
 * collapsed, at most 240 bytes. */
static const char *signature_of(struct ctx__parsed *p, const char *t, TSNode n)
{
	TSNode body = ts_node_child_by_field_name(n, "body", 4);
	uint32_t a = ts_node_start_byte(n);
	uint32_t b = ts_node_is_null(body) ? ts_node_end_byte(n) :
					     ts_node_start_byte(body);
	char out[241];
	size_t o = 0;
	int sp = 0;

	for (uint32_t i = a; i < b && o < sizeof out - 1; i++) {
		char ch = t[i];
		if (ch == '\n' && ts_node_is_null(body))
			break;
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			sp = o > 0;
			continue;
		}
		if (sp && o < sizeof out - 2)
			out[o++] = ' ';
		sp = 0;
		out[o++] = ch;
	}
	out[o] = 0;
	return arena_strdup(&p->arena, out);
}

/*
 * What the walks know of a node on their path that take_match would
 * otherwise ask the tree: whether a class-like node comes before a
 * function-like one above it (inside_class) and the comments right above
 * it (doc_of). ts_node_parent and ts_node_prev_named_sibling search down
 * from the root in this tree-sitter, so asking them cost the walk more
 * than the walk itself on a header of many definitions.
 */
struct hint {
	TSNode first, last;	/* the comments right above (have_doc) */
	uint8_t have_doc;
	uint8_t in_class;
	uint8_t scope;		/* its own SC_ bits */
	/* Its children so far: the run of adjacent comments among the
	 * named ones, when the last named child is a comment. */
	uint8_t run_on;
	TSNode run_first, run_last;
};

enum { SC_CLASS = 1, SC_FUNCTION = 2, SC_COMMENT = 4, SC_NAMED = 8 };

/* The SC_ bits of a node type, as inside_class and is_comment read it. */
static uint8_t scope_of(const TSLanguage *L, TSSymbol s)
{
	const char *ty = ts_language_symbol_name(L, s);
	uint8_t sc = ts_language_symbol_type(L, s) == TSSymbolTypeRegular ? SC_NAMED : 0;

	if (!ty)
		return sc;
	if (strstr(ty, "class") || strcmp(ty, "impl_item") == 0 || strcmp(ty, "trait_item") == 0)
		sc |= SC_CLASS;
	else if (strstr(ty, "function"))
		sc |= SC_FUNCTION;
	if (strstr(ty, "comment"))
		sc |= SC_COMMENT;
	return sc;
}

/* The SC_ bits of every symbol of L (count entries); NULL without memory. */
static uint8_t *scopes_new(const TSLanguage *L, uint32_t *count)
{
	uint8_t *sc;

	*count = ts_language_symbol_count(L);
	if (!(sc = mem_calloc(*count + 1, 1)))
		return NULL;
	for (uint32_t i = 0; i < *count; i++)
		sc[i] = scope_of(L, (TSSymbol)i);
	return sc;
}

/* Visits node n (symbol sym) at depth d of a walk: h[d] for it, and its
 * parent's run of comments. */
static void hint_visit(const uint8_t *scopes, uint32_t nscopes, struct hint *h,
		       size_t d, TSNode n, TSSymbol sym)
{
	struct hint *x = &h[d], *up;

	/* ERROR and symbols past the table: "ERROR" is none of them. */
	x->scope = sym < nscopes ? scopes[sym] : SC_NAMED;
	x->run_on = 0;
	x->have_doc = 0;
	x->in_class = 0;
	if (d == 0)
		return;
	up = &h[d - 1];
	x->in_class = up->scope & SC_CLASS ? 1 : up->scope & SC_FUNCTION ? 0 : up->in_class;
	if (!(x->scope & SC_NAMED))
		return;
	if (x->scope & SC_COMMENT) {
		if (up->run_on && ts_node_end_point(up->run_last).row + 1 >= ts_node_start_point(n).row) {
			up->run_last = n;
		} else {
			up->run_first = up->run_last = n;
			up->run_on = 1;
		}
		return;
	}
	if (up->run_on && ts_node_end_point(up->run_last).row + 1 >= ts_node_start_point(n).row) {
		x->first = up->run_first;
		x->last = up->run_last;
		x->have_doc = 1;
	}
	up->run_on = 0;
}

/* Contiguous comments right above n (from h when given, else asked of
 * the tree), or a Python docstring. */
static const char *doc_of(struct ctx__parsed *p, const char *t, TSNode n,
			  const char *lang, int *first_line, const struct hint *h)
{
	TSNode cur = n, prev;
	uint32_t a = 0, b = 0;
	int have = 0;

	*first_line = (int)ts_node_start_point(n).row + 1;
	if (h && h->have_doc) {
		a = ts_node_start_byte(h->first);
		b = ts_node_end_byte(h->last);
		have = 1;
		*first_line = (int)ts_node_start_point(h->first).row + 1;
	}
	for (; !h;) {
		prev = ts_node_prev_named_sibling(cur);
		if (ts_node_is_null(prev) || !is_comment(prev))
			break;
		if (ts_node_end_point(prev).row + 1 < ts_node_start_point(cur).row)
			break;
		a = ts_node_start_byte(prev);
		if (!have)
			b = ts_node_end_byte(prev);
		have = 1;
		*first_line = (int)ts_node_start_point(prev).row + 1;
		cur = prev;
	}
	if (!have && strcmp(lang, "python") == 0) {
		TSNode body = ts_node_child_by_field_name(n, "body", 4);
		if (!ts_node_is_null(body) && ts_node_named_child_count(body) > 0) {
			TSNode s = ts_node_named_child(body, 0);
			if (strcmp(ts_node_type(s), "expression_statement") == 0 &&
			    ts_node_named_child_count(s) > 0 &&
			    strcmp(ts_node_type(ts_node_named_child(s, 0)), "string") == 0) {
				a = ts_node_start_byte(s);
				b = ts_node_end_byte(s);
				have = 1;
			}
		}
	}
	if (!have)
		return "";
	if (b - a > 1024)
		b = a + 1024;
	return arena_strndup(&p->arena, t + a, b - a);
}

static int inside_class(TSNode n)
{
	for (TSNode u = ts_node_parent(n); !ts_node_is_null(u); u = ts_node_parent(u)) {
		const char *ty = ts_node_type(u);
		if (strstr(ty, "class") || strcmp(ty, "impl_item") == 0 ||
		    strcmp(ty, "trait_item") == 0)
			return 1;
		if (strstr(ty, "function"))
			return 0;
	}
	return 0;
}

static int def_cmp(const void *a, const void *b)
{
	const struct def *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end;
}

/* Innermost definition (by index into defs sorted by start) holding line. */
static int enclosing(const struct def *d, int nd, int line)
{
	int best = -1;

	for (int i = 0; i < nd && d[i].start <= line; i++)
		if (d[i].end >= line &&
		    (best < 0 || d[i].end - d[i].start <= d[best].end - d[best].start))
			best = i;
	return best;
}

/* Strips quotes and angle brackets from an import target. */
static const char *clean_import(struct ctx__parsed *p, const char *s)
{
	size_t n = strlen(s);

	while (n && (*s == '"' || *s == '\'' || *s == '<' || *s == '`')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == '"' || s[n - 1] == '\'' || s[n - 1] == '>' ||
		     s[n - 1] == '`' || s[n - 1] == ';'))
		n--;
	return arena_strndup(&p->arena, s, n);
}

/* One capture of a match: what it is (enum role), the node, and for a
 * definition its kind ("function", ...). */
struct cap {
	unsigned char role;
	TSNode node;
	const char *kind;
};

/* Pass 1 for one match: a definition (into p->syms and defs) or a raw
 * edge (into p->edges; sources are resolved in pass 2). */
static status_t take_match(struct ctx__parsed *p, const char *t, const char *lname,
			   const struct cap *caps, size_t n, struct vec *defs,
			   const struct hint *dh)
{
	TSNode name = { 0 }, def = { 0 }, imp = { 0 }, call = { 0 }, ref = { 0 };
	TSNode reqf = { 0 }, reqp = { 0 };
	const char *kind = NULL;
	int hn = 0, hd = 0, hi = 0, hc = 0, hr = 0, hrf = 0, hrp = 0;
	status_t st;

	for (size_t i = 0; i < n; i++) {
		TSNode nd = caps[i].node;
		switch (caps[i].role) {
		case R_NAME: name = nd; hn = 1; break;
		case R_DEF: def = nd; hd = 1; kind = caps[i].kind; break;
		case R_IMPORT: imp = nd; hi = 1; break;
		case R_CALL: call = nd; hc = 1; break;
		case R_REF: ref = nd; hr = 1; break;
		case R_REQ_FN: reqf = nd; hrf = 1; break;
		case R_REQ_PATH: reqp = nd; hrp = 1; break;
		default: break;
		}
	}
	if (hn && hd) {
		struct ctx__sym s;
		struct def d;
		int first;
		s.name = node_text(p, t, name, 200);
		s.kind = kind;
		if (strcmp(kind, "function") == 0 && (dh ? dh->in_class : inside_class(def)))
			s.kind = "method";
		s.signature = signature_of(p, t, def);
		s.doc = doc_of(p, t, def, lname, &first, dh);
		s.start_line = (int)ts_node_start_point(def).row + 1;
		s.end_line = (int)ts_node_end_point(def).row + 1;
		s.chunk = -1;
		if (!s.name || !s.signature || !s.doc)
			return ST_NOMEM;
		d.start = first;
		d.end = s.end_line;
		d.sym = (int)p->syms.len;
		if ((st = vec_push(&p->syms, &s)) || (st = vec_push(defs, &d)))
			return st;
		return ST_OK;
	}
	struct ctx__edge ed = { NULL, -1, NULL, 0 };
	if (hi) {
		ed.kind = "imports";
		ed.name = clean_import(p, node_text(p, t, imp, 512));
		ed.line = (int)ts_node_start_point(imp).row + 1;
	} else if (hrf && hrp) {
		const char *fn = node_text(p, t, reqf, 16);
		if (!fn || strcmp(fn, "require") != 0) {
			/* An ordinary call with a string argument. */
			ed.kind = "calls";
			ed.name = fn;
			ed.line = (int)ts_node_start_point(reqf).row + 1;
			if (ts_node_end_byte(reqf) - ts_node_start_byte(reqf) > 16)
				ed.name = node_text(p, t, reqf, 200);
		} else {
			ed.kind = "imports";
			ed.name = clean_import(p, node_text(p, t, reqp, 512));
			ed.line = (int)ts_node_start_point(reqp).row + 1;
		}
	} else if (hc) {
		ed.kind = "calls";
		ed.name = node_text(p, t, call, 200);
		ed.line = (int)ts_node_start_point(call).row + 1;
	} else if (hr) {
		ed.kind = "references";
		ed.name = node_text(p, t, ref, 200);
		ed.line = (int)ts_node_start_point(ref).row + 1;
	} else {
		return ST_OK;
	}
	if (!ed.name)
		return ST_NOMEM;
	if (ed.name[0] && (st = vec_push(&p->edges, &ed)))
		return st;
	return ST_OK;
}

/* Pass 1 through the language's query: its matches in the order the
 * query cursor gives them. */
static status_t matches_by_query(struct ctx__parsed *p, struct lang *lg, TSQuery *q,
				 TSQueryCursor *cur, TSNode root, const char *t,
				 struct vec *defs)
{
	TSQueryMatch m;
	struct cap caps[8];
	status_t st = ST_OK;

	ts_query_cursor_set_match_limit(cur, 4096);
	ts_query_cursor_exec(cur, q, root);
	while (st == ST_OK && ts_query_cursor_next_match(cur, &m)) {
		size_t n = 0;
		for (uint16_t i = 0; i < m.capture_count && n < 8; i++) {
			uint32_t id = m.captures[i].index, cl;
			caps[n].role = lg->roles[id];
			caps[n].node = m.captures[i].node;
			caps[n].kind = caps[n].role == R_DEF ?
				ts_query_capture_name_for_id(q, id, &cl) + 4 : NULL;
			n++;
		}
		st = take_match(p, t, lg->name, caps, n, defs, NULL);
	}
	return st;
}

/*
 * Pass 1 for Python by a walk of the tree instead of the query cursor,
 * which visits the same nodes but costs about twice a plain walk (the
 * cursor was about a fifth of the CPU of indexing Python). It finds what
 * q_python's patterns find, in the order the cursor reports them: each
 * pattern's last node is the deepest and comes last in the tree's
 * pre-order, so a match is taken when that node is visited, and no node
 * ends two of these patterns. Checked against the cursor on every Python
 * file of this machine's standard library and dist-packages, and by the
 * tests (parse_walk_matches_query).
 */
int ctx__parse_by_query;

struct py_syms {
	TSSymbol module, expr_stmt, assignment, identifier, dotted_name, aliased_import;
	TSSymbol import_stmt, import_from, call, attribute, fn_def, class_def;
	TSFieldId f_name, f_left, f_module_name, f_function, f_attribute;
	int ok;
};

static struct py_syms py_sy;
static pthread_once_t py_once = PTHREAD_ONCE_INIT;

static void py_syms_init(void)
{
	const TSLanguage *L = tree_sitter_python();
#define SYM(x, nm) (py_sy.x = ts_language_symbol_for_name(L, nm, (uint32_t)strlen(nm), true))
#define FLD(x, nm) (py_sy.x = ts_language_field_id_for_name(L, nm, (uint32_t)strlen(nm)))
	py_sy.ok = SYM(module, "module") && SYM(expr_stmt, "expression_statement") &&
		   SYM(assignment, "assignment") && SYM(identifier, "identifier") &&
		   SYM(dotted_name, "dotted_name") && SYM(aliased_import, "aliased_import") &&
		   SYM(import_stmt, "import_statement") &&
		   SYM(import_from, "import_from_statement") && SYM(call, "call") &&
		   SYM(attribute, "attribute") && SYM(fn_def, "function_definition") &&
		   SYM(class_def, "class_definition") && FLD(f_name, "name") &&
		   FLD(f_left, "left") && FLD(f_module_name, "module_name") &&
		   FLD(f_function, "function") && FLD(f_attribute, "attribute");
#undef SYM
#undef FLD
}

/* A node on the walk's path from the root: symbol, field in its parent. */
struct anc {
	TSNode node;
	TSSymbol sym;
	TSFieldId field;
};

/* The matches of q_python ending at a[d] (its ancestors are a[0..d-1]). */
static status_t py_visit(struct ctx__parsed *p, const char *t, const struct anc *a,
			 const struct hint *h, size_t d, struct vec *defs)
{
	const struct anc *x = &a[d], *up = d >= 1 ? &a[d - 1] : NULL;
	struct cap c[2];

	if (!up)
		return ST_OK;
	if (x->sym == py_sy.identifier) {
		if (x->field == py_sy.f_name &&
		    (up->sym == py_sy.fn_def || up->sym == py_sy.class_def)) {
			c[0] = (struct cap){ R_DEF, up->node,
					     up->sym == py_sy.fn_def ? "function" : "class" };
			c[1] = (struct cap){ R_NAME, x->node, NULL };
			return take_match(p, t, "python", c, 2, defs, &h[d - 1]);
		}
		if (x->field == py_sy.f_left && up->sym == py_sy.assignment && d >= 3 &&
		    a[d - 2].sym == py_sy.expr_stmt && a[d - 3].sym == py_sy.module) {
			c[0] = (struct cap){ R_DEF, a[d - 2].node, "constant" };
			c[1] = (struct cap){ R_NAME, x->node, NULL };
			return take_match(p, t, "python", c, 2, defs, &h[d - 2]);
		}
		if ((x->field == py_sy.f_function && up->sym == py_sy.call) ||
		    (x->field == py_sy.f_attribute && up->sym == py_sy.attribute && d >= 2 &&
		     up->field == py_sy.f_function && a[d - 2].sym == py_sy.call)) {
			c[0] = (struct cap){ R_CALL, x->node, NULL };
			return take_match(p, t, "python", c, 1, defs, NULL);
		}
		return ST_OK;
	}
	if ((x->sym == py_sy.dotted_name && x->field == py_sy.f_name &&
	     (up->sym == py_sy.import_stmt ||
	      (up->sym == py_sy.aliased_import && up->field == py_sy.f_name && d >= 2 &&
	       a[d - 2].sym == py_sy.import_stmt))) ||
	    (x->field == py_sy.f_module_name && up->sym == py_sy.import_from &&
	     ts_node_is_named(x->node))) {
		c[0] = (struct cap){ R_IMPORT, x->node, NULL };
		return take_match(p, t, "python", c, 1, defs, NULL);
	}
	return ST_OK;
}

static status_t matches_python(struct ctx__parsed *p, TSNode root, const char *t,
			       struct vec *defs, const uint8_t *scopes, uint32_t nscopes)
{
	TSTreeCursor tc = ts_tree_cursor_new(root);
	struct anc *a = NULL;
	struct hint *h = NULL;
	size_t cap = 0, d = 0;
	status_t st = ST_OK;

	for (;;) {
		if (d >= cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct anc *na = mem_realloc(a, nc * sizeof *na);
			struct hint *nh;
			if (!na) {
				st = ST_NOMEM;
				break;
			}
			a = na;
			if (!(nh = mem_realloc(h, nc * sizeof *nh))) {
				st = ST_NOMEM;
				break;
			}
			h = nh;
			cap = nc;
		}
		a[d].node = ts_tree_cursor_current_node(&tc);
		a[d].sym = ts_node_symbol(a[d].node);
		hint_visit(scopes, nscopes, h, d, a[d].node, a[d].sym);
		/* The field only where a pattern asks for it (it is the
		 * dearer lookup). */
		a[d].field = a[d].sym == py_sy.identifier || a[d].sym == py_sy.dotted_name ||
			     a[d].sym == py_sy.attribute || a[d].sym == py_sy.aliased_import ||
			     (d > 0 && a[d - 1].sym == py_sy.import_from) ?
			     ts_tree_cursor_current_field_id(&tc) : 0;
		if ((st = py_visit(p, t, a, h, d, defs)))
			break;
		if (ts_tree_cursor_goto_first_child(&tc)) {
			d++;
			continue;
		}
		while (!ts_tree_cursor_goto_next_sibling(&tc)) {
			if (d == 0 || !ts_tree_cursor_goto_parent(&tc))
				goto done;
			d--;
		}
	}
done:
	mem_free(a);
	mem_free(h);
	ts_tree_cursor_delete(&tc);
	return st;
}

/*
 * Pass 1 for the other languages by a walk of the tree as well, with
 * patterns read from the language's query text, so the query stays the
 * one description of what is kept. Each of our patterns is a node with
 * children; its match ends at its last child's last child ... (the
 * chain): that node comes last in the tree's pre-order, and the query
 * cursor reports a match when it enters it, the patterns ending at one
 * node in the order of their roots, shallowest first (then as written).
 * The other children of the chain's nodes (sides: `name: (_) @name`
 * before `body: (_)`) are looked up by their field when the chain
 * matches. Anything else (quantifiers, predicates, negated fields, an
 * anchor off the chain, a side without a field) keeps the language on
 * its query. Checked against the cursor by parse_walk_matches_query (on
 * every file under AIRLOCK_WALK_CHECK_ROOT when set).
 */
#define WP_NODES 8	/* nodes in one pattern */
#define WP_KIDS 3	/* children of one node */
#define WP_SYMS 3	/* types of an alternation [(a) (b)] */

struct wnode {
	TSSymbol sym[WP_SYMS];
	uint8_t nsym;		/* 0: any named node, (_) */
	uint8_t role;		/* enum role of its capture; R_NONE: none */
	uint8_t first;		/* anchored: its parent's first named child */
	uint8_t nkid;
	uint8_t kid[WP_KIDS];	/* indexes into the pattern's nodes */
	TSFieldId field;	/* 0: any child */
	const char *kind;	/* R_DEF: "function", ... */
};

struct wpat {
	struct wnode n[WP_NODES];	/* n[0] is the root */
	uint8_t nn;
	uint8_t chain[WP_NODES];	/* root first, to the node the match ends at */
	uint8_t len;
};

struct wlang {
	struct wpat *pats;	/* by chain length, longest first, then as written */
	size_t npats;
	/* Symbols are indexed as the cursor compares them (by name and
	 * namedness, map); nsyms stands for any other (ERROR). */
	uint32_t nsyms;
	TSSymbol *map;		/* nsyms entries */
	uint32_t *first;	/* nsyms + 2: pats ending at symbol s are by_sym[first[s]..first[s+1]) */
	uint16_t *by_sym;
	uint8_t *field_up;	/* nsyms + 1: a node of it may be a chain node with a field, above the end */
};

/* The kinds of @def.<kind>, as static strings. */
static const char *const def_kinds[] = {
	"function", "method", "prototype", "struct", "type", "constant", "macro",
	"class", "interface",
};

struct qp {
	const char *s;
	const TSLanguage *L;
	struct wpat *w;
};

static int qp_word(char ch, int dots)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || (dots && ch == '.');
}

static void qp_ws(struct qp *q)
{
	while (*q->s == ' ' || *q->s == '\n' || *q->s == '\t')
		q->s++;
}

/* A node type name at q->s into n's alternatives; -1 when unknown. */
static int qp_sym(struct qp *q, struct wnode *n)
{
	char name[64];
	size_t l = 0;
	TSSymbol sym;

	while (qp_word(q->s[l], 0))
		l++;
	if (!l || l >= sizeof name || n->nsym >= WP_SYMS)
		return -1;
	memcpy(name, q->s, l);
	name[l] = 0;
	sym = ts_language_symbol_for_name(q->L, name, (uint32_t)l, true);
	if (!sym)
		return -1;
	n->sym[n->nsym++] = sym;
	q->s += l;
	return 0;
}

/* An optional capture after node n; -1 for one the walk does not know. */
static int qp_capture(struct qp *q, struct wnode *n)
{
	char name[32];
	size_t l = 0;

	qp_ws(q);
	if (*q->s != '@')
		return 0;
	q->s++;
	while (qp_word(q->s[l], 1))
		l++;
	if (!l || l >= sizeof name || n->role)
		return -1;
	memcpy(name, q->s, l);
	name[l] = 0;
	q->s += l;
	n->role = role_of(name);
	if (n->role == R_NONE)
		return -1;
	if (n->role == R_DEF) {
		for (size_t i = 0; i < sizeof def_kinds / sizeof *def_kinds; i++)
			if (strcmp(name + 4, def_kinds[i]) == 0)
				n->kind = def_kinds[i];
		if (!n->kind)
			return -1;
	}
	return 0;
}

/* One node (with its children) at q->s; its index, or -1. */
static int qp_node(struct qp *q)
{
	struct wnode *n;
	int i;

	qp_ws(q);
	if (q->w->nn >= WP_NODES)
		return -1;
	i = q->w->nn++;
	n = &q->w->n[i];
	memset(n, 0, sizeof *n);
	if (*q->s == '[') {
		q->s++;
		for (;;) {
			qp_ws(q);
			if (*q->s == ']')
				break;
			if (*q->s != '(')
				return -1;
			q->s++;
			qp_ws(q);
			if (qp_sym(q, n))
				return -1;
			qp_ws(q);
			if (*q->s != ')')
				return -1;
			q->s++;
		}
		q->s++;
		return n->nsym ? i : -1;
	}
	if (*q->s != '(')
		return -1;
	q->s++;
	qp_ws(q);
	if (q->s[0] == '_' && !qp_word(q->s[1], 0))
		q->s++;
	else if (qp_sym(q, n))
		return -1;
	for (;;) {
		TSFieldId f = 0;
		int first = 0, k;
		size_t l = 0;

		qp_ws(q);
		if (*q->s == ')') {
			q->s++;
			return i;
		}
		if (*q->s == '.') {
			if (q->w->n[i].nkid)
				return -1;	/* only ". (first child)" */
			first = 1;
			q->s++;
			qp_ws(q);
		}
		while (qp_word(q->s[l], 0))
			l++;
		if (l && q->s[l] == ':') {
			f = ts_language_field_id_for_name(q->L, q->s, (uint32_t)l);
			if (!f)
				return -1;
			q->s += l + 1;
		}
		if ((k = qp_node(q)) < 0 || q->w->n[i].nkid >= WP_KIDS)
			return -1;
		q->w->n[k].field = f;
		q->w->n[k].first = (uint8_t)first;
		q->w->n[i].kid[q->w->n[i].nkid++] = (uint8_t)k;
		if (qp_capture(q, &q->w->n[k]))
			return -1;
	}
}

/* Sides must be found by their field, anchors must be on the chain. */
static int wpat_sides_ok(const struct wpat *w, int i, int on_chain)
{
	const struct wnode *n = &w->n[i];

	if (n->first && !on_chain)
		return 0;
	for (int k = 0; k < n->nkid; k++) {
		int last = k == n->nkid - 1;
		if (!(on_chain && last) && !w->n[n->kid[k]].field)
			return 0;
		if (!wpat_sides_ok(w, n->kid[k], on_chain && last))
			return 0;
	}
	return 1;
}

static void wlang_free(struct wlang *wl)
{
	if (!wl)
		return;
	mem_free(wl->pats);
	mem_free(wl->map);
	mem_free(wl->first);
	mem_free(wl->by_sym);
	mem_free(wl->field_up);
	mem_free(wl);
}

static int wnode_has(const struct wnode *n, TSSymbol s)
{
	if (!n->nsym)
		return 1;
	for (int i = 0; i < n->nsym; i++)
		if (n->sym[i] == s)
			return 1;
	return 0;
}

/* The walk's patterns for query text qs; NULL when a pattern is outside
 * what the walk does (or without memory): the query is used then. */
static struct wlang *wlang_build(const TSLanguage *L, const char *qs)
{
	struct wlang *wl = mem_calloc(1, sizeof *wl);
	struct qp q = { qs, L, NULL };
	size_t cap = 0, total = 0;

	if (!wl)
		return NULL;
	for (;;) {
		struct wpat *w;
		int c = 0;

		qp_ws(&q);
		if (!*q.s)
			break;
		if (wl->npats == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct wpat *np = mem_realloc(wl->pats, nc * sizeof *np);
			if (!np)
				goto fail;
			wl->pats = np;
			cap = nc;
		}
		w = &wl->pats[wl->npats];
		memset(w, 0, sizeof *w);
		q.w = w;
		if (qp_node(&q) != 0 || qp_capture(&q, &w->n[0]) || !wpat_sides_ok(w, 0, 1))
			goto fail;
		for (;;) {
			w->chain[w->len++] = (uint8_t)c;
			if (!w->n[c].nkid)
				break;
			c = w->n[c].kid[w->n[c].nkid - 1];
		}
		wl->npats++;
	}
	/* Shallowest root first: insertion sort, stable. */
	for (size_t i = 1; i < wl->npats; i++) {
		struct wpat t = wl->pats[i];
		size_t j = i;
		while (j > 0 && wl->pats[j - 1].len < t.len) {
			wl->pats[j] = wl->pats[j - 1];
			j--;
		}
		wl->pats[j] = t;
	}
	wl->nsyms = ts_language_symbol_count(L);
	wl->map = mem_calloc(wl->nsyms, sizeof *wl->map);
	wl->first = mem_calloc((size_t)wl->nsyms + 2, sizeof *wl->first);
	wl->field_up = mem_calloc((size_t)wl->nsyms + 1, 1);
	if (!wl->map || !wl->first || !wl->field_up)
		goto fail;
	for (uint32_t s = 0; s < wl->nsyms; s++) {
		const char *nm = ts_language_symbol_name(L, (TSSymbol)s);
		TSSymbolType ty = ts_language_symbol_type(L, (TSSymbol)s);
		wl->map[s] = nm ? ts_language_symbol_for_name(L, nm, (uint32_t)strlen(nm),
							      ty == TSSymbolTypeRegular) : (TSSymbol)s;
	}
	for (int pass = 0; pass < 2; pass++) {
		size_t o = 0;
		for (uint32_t s = 0; s <= wl->nsyms; s++) {
			wl->first[s] = (uint32_t)o;
			for (size_t p = 0; p < wl->npats; p++) {
				const struct wpat *w = &wl->pats[p];
				if (!wnode_has(&w->n[w->chain[w->len - 1]], (TSSymbol)s))
					continue;
				if (pass)
					wl->by_sym[o] = (uint16_t)p;
				o++;
			}
		}
		wl->first[wl->nsyms + 1] = (uint32_t)o;
		if (!pass) {
			total = o;
			if (!(wl->by_sym = mem_calloc(total + 1, sizeof *wl->by_sym)))
				goto fail;
		}
	}
	for (size_t p = 0; p < wl->npats; p++) {
		const struct wpat *w = &wl->pats[p];
		for (int i = 1; i + 1 < w->len; i++) {
			const struct wnode *n = &w->n[w->chain[i]];
			if (!n->field)
				continue;
			for (uint32_t s = 0; s <= wl->nsyms; s++)
				if (wnode_has(n, (TSSymbol)s))
					wl->field_up[s] = 1;
		}
	}
	return wl;
fail:
	wlang_free(wl);
	return NULL;
}

/* A node on the walk's path: its node, symbol (mapped), field. */
struct wanc {
	TSNode node;
	TSSymbol sym;
	TSFieldId field;
	uint8_t has_field;	/* field is set */
	uint8_t wild;		/* a wildcard (_) takes it: named, not ERROR */
};

/* tree-sitter's symbol of ERROR nodes (ts_builtin_sym_error, in the
 * grammars' header). */
#define TS_SYM_ERROR ((TSSymbol)-1)

/* A wildcard matches named nodes but ERROR, as in the cursor. */
static int wild_ok(TSNode n)
{
	return ts_node_symbol(n) != TS_SYM_ERROR && ts_node_is_named(n);
}

static int wnode_ok(const struct wlang *wl, const struct wnode *q, TSNode n)
{
	TSSymbol s;

	if (!q->nsym)
		return wild_ok(n);
	s = ts_node_symbol(n);
	return wnode_has(q, s < wl->nsyms ? wl->map[s] : (TSSymbol)wl->nsyms);
}

/* Whether n has more than one child with field f. */
static int field_repeats(TSNode n, TSFieldId f)
{
	TSTreeCursor c = ts_tree_cursor_new(n);
	int k = 0;

	if (ts_tree_cursor_goto_first_child(&c)) {
		do
			k += ts_tree_cursor_current_field_id(&c) == f;
		while (k < 2 && ts_tree_cursor_goto_next_sibling(&c));
	}
	ts_tree_cursor_delete(&c);
	return k >= 2;
}

/*
 * Side node qi of w at n, with its children; its captures into caps.
 * 1: it matches; 0: it does not; -1: the walk cannot tell as the cursor
 * would (a side's first child with its field does not match and another
 * child has that field: the cursor may or may not try that one).
 */
static int side_match(const struct wlang *wl, const struct wpat *w, int qi, TSNode n,
		      struct cap *caps, size_t *nc)
{
	const struct wnode *q = &w->n[qi];

	if (!wnode_ok(wl, q, n))
		return 0;
	if (q->role) {
		if (*nc >= 8)
			return 0;
		caps[(*nc)++] = (struct cap){ q->role, n, q->kind };
	}
	for (int k = 0; k < q->nkid; k++) {
		TSFieldId f = w->n[q->kid[k]].field;
		TSNode c = ts_node_child_by_field_id(n, f);
		int r = ts_node_is_null(c) ? 0 : side_match(wl, w, q->kid[k], c, caps, nc);
		if (r == 0 && !ts_node_is_null(c) && field_repeats(n, f))
			return -1;
		if (r != 1)
			return r;
	}
	return 1;
}

/*
 * Whether w ends at a[d] (the cursor tc is on it): the number of its
 * captures (into caps), 0 when it does not match, or (size_t)-1 when
 * the walk cannot tell. The cursor takes a node for a step with a field
 * only while it thinks a later child may have that field, which it
 * works out from the grammar's field map (a comma inside a field that
 * repeats ends it: `const A, B` gives A only); so a match through a
 * node that is not its parent's first child with the field is left to
 * the query, as is a side whose first child with its field does not fit
 * while another has that field.
 */
static size_t wpat_try(const struct wlang *wl, const struct wpat *w, struct wanc *a,
		       size_t d, const TSTreeCursor *tc, struct cap *caps, size_t *def_at)
{
	size_t k = (size_t)w->len - 1, b, nc = 0;
	int unsure = 0;

	if (d < k)
		return 0;
	b = d - k;
	/* Types first, the parent's first (the end node's type is what
	 * chose w, most often a wildcard), then fields, anchors, sides. */
	for (size_t j = 0; j <= k; j++) {
		size_t i = j < k ? k - 1 - j : k;
		const struct wnode *q = &w->n[w->chain[i]];
		if (q->nsym ? !wnode_has(q, a[b + i].sym) : !a[b + i].wild)
			return 0;
	}
	for (size_t i = k + 1; i-- > 1;) {
		const struct wnode *q = &w->n[w->chain[i]];
		struct wanc *x = &a[b + i];
		if (q->field) {
			if (!x->has_field) {
				if (i != k)
					return 0;	/* field_up covers the others */
				x->field = ts_tree_cursor_current_field_id(tc);
				x->has_field = 1;
			}
			if (x->field != q->field)
				return 0;
			if (!ts_node_eq(ts_node_child_by_field_id(a[b + i - 1].node, q->field),
					x->node))
				unsure = 1;
		}
		if (q->first && !ts_node_eq(ts_node_named_child(a[b + i - 1].node, 0), x->node))
			return 0;
	}
	for (size_t i = 0; i <= k; i++) {
		const struct wnode *q = &w->n[w->chain[i]];
		if (q->role) {
			if (nc >= 8)
				return 0;
			caps[nc++] = (struct cap){ q->role, a[b + i].node, q->kind };
			if (q->role == R_DEF)
				*def_at = b + i;
		}
		for (int j = 0; i < k && j + 1 < q->nkid; j++) {
			TSFieldId f = w->n[q->kid[j]].field;
			TSNode c = ts_node_child_by_field_id(a[b + i].node, f);
			int r;
			/* Before the chain's child, as the pattern has it. */
			if (ts_node_is_null(c))
				return 0;
			if (ts_node_start_byte(c) > ts_node_start_byte(a[b + i + 1].node) ||
			    ts_node_eq(c, a[b + i + 1].node))
				r = 0;
			else
				r = side_match(wl, w, q->kid[j], c, caps, &nc);
			if (r == 0 && field_repeats(a[b + i].node, f))
				r = -1;
			if (r != 1)
				return r < 0 ? (size_t)-1 : 0;
		}
	}
	return unsure ? (size_t)-1 : nc;
}

/* Pass 1 by the walk; *unsure set when the query must redo it. */
static status_t matches_walk(struct ctx__parsed *p, const struct lang *lg,
			     const struct wlang *wl, TSNode root, const char *t,
			     struct vec *defs, int *unsure)
{
	TSTreeCursor tc = ts_tree_cursor_new(root);
	struct wanc *a = NULL;
	struct hint *h = NULL;
	size_t cap = 0, d = 0;
	status_t st = ST_OK;
	struct cap caps[8];

	for (;;) {
		TSSymbol s;
		if (d >= cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct wanc *na = mem_realloc(a, nc * sizeof *na);
			struct hint *nh;
			if (!na) {
				st = ST_NOMEM;
				break;
			}
			a = na;
			if (!(nh = mem_realloc(h, nc * sizeof *nh))) {
				st = ST_NOMEM;
				break;
			}
			h = nh;
			cap = nc;
		}
		a[d].node = ts_tree_cursor_current_node(&tc);
		s = ts_node_symbol(a[d].node);
		hint_visit(lg->scopes, lg->nscopes, h, d, a[d].node, s);
		a[d].sym = s < wl->nsyms ? wl->map[s] : (TSSymbol)wl->nsyms;
		a[d].wild = s < lg->nscopes && (lg->scopes[s] & SC_NAMED);
		a[d].has_field = wl->field_up[a[d].sym];
		if (a[d].has_field)
			a[d].field = ts_tree_cursor_current_field_id(&tc);
		for (uint32_t i = wl->first[a[d].sym]; i < wl->first[a[d].sym + 1]; i++) {
			size_t at = SIZE_MAX;
			size_t n = wpat_try(wl, &wl->pats[wl->by_sym[i]], a, d, &tc, caps, &at);
			if (n == (size_t)-1) {
				*unsure = 1;
				goto done;
			}
			if (n && (st = take_match(p, t, lg->name, caps, n, defs,
						  at != SIZE_MAX ? &h[at] : NULL)))
				goto done;
		}
		if (ts_tree_cursor_goto_first_child(&tc)) {
			d++;
			continue;
		}
		while (!ts_tree_cursor_goto_next_sibling(&tc)) {
			if (d == 0 || !ts_tree_cursor_goto_parent(&tc))
				goto done;
			d--;
		}
	}
done:
	mem_free(a);
	mem_free(h);
	ts_tree_cursor_delete(&tc);
	return st;
}

/* The language's walk patterns, built once; NULL: use the query. */
static const struct wlang *lang_walk(struct lang *l)
{
	const struct wlang *wl;

	pthread_mutex_lock(&query_mu);
	if (!l->walk_tried) {
		l->walk_tried = 1;
		l->scopes = scopes_new(l->fn(), &l->nscopes);
		l->walk = l->scopes ? wlang_build(l->fn(), l->query) : NULL;
		if (!l->walk)
			LOG_DEBUG("context.walk", LF_STR("lang", l->name),
				  LF_STR("use", "query"));
	}
	wl = l->walk;
	pthread_mutex_unlock(&query_mu);
	return wl;
}

static status_t extract(struct ctx__parsed *p, struct lang *lg, TSTree *tree,
			TSQueryCursor *cur, const char *t, size_t len,
			struct err *e)
{
	TSNode root = ts_tree_root_node(tree);
	status_t why;
	TSQuery *q = NULL;
	const struct wlang *wl = NULL;
	int py;
	struct vec defs;
	struct lines l;
	struct hmap seen;
	status_t st = ST_OK;

	/* A walk needs no compiled query (compiling one is more CPU than
	 * indexing a small repository). */
	pthread_once(&py_once, py_syms_init);
	py = lg->fn == tree_sitter_python && py_sy.ok && !ctx__parse_by_query;
	if (!ctx__parse_by_query)
		wl = lang_walk(lg);
	if (py && !lg->scopes)
		py = 0;		/* no memory for its table: the query */
	if (lg->fn == tree_sitter_python && !py)
		wl = NULL;	/* its walk is matches_python's */
	if (!py && !wl && !(q = lang_query(lg, &why, e)))
		return why;
	if ((st = lines_build(&l, t, len, &p->arena)))
		return st;
	p->parse_error = ts_node_has_error(root);
	vec_init(&defs, sizeof(struct def));
	hmap_init(&seen);

	/* Pass 1: definitions and raw edges (sources resolved in pass 2). */
	if (py) {
		st = matches_python(p, root, t, &defs, lg->scopes, lg->nscopes);
	} else if (wl) {
		size_t ns = p->syms.len, ne = p->edges.len;
		int unsure = 0;
		st = matches_walk(p, lg, wl, root, t, &defs, &unsure);
		if (st == ST_OK && unsure) {
			/* A match the walk cannot decide as the cursor would:
			 * the query redoes the file. */
			LOG_DEBUG("context.walk", LF_STR("lang", lg->name),
				  LF_STR("use", "query"));
			p->syms.len = ns;
			p->edges.len = ne;
			defs.len = 0;
			if (!(q = lang_query(lg, &why, e)))
				st = why;
			else
				st = matches_by_query(p, lg, q, cur, root, t, &defs);
		}
	} else {
		st = matches_by_query(p, lg, q, cur, root, t, &defs);
	}
	if (st)
		goto out;

	/* Pass 2: chunks. Outermost definitions that fit become one chunk;
	 * bigger ones are covered by their members and line windows. */
	{
		struct def *d = defs.data;
		int nd = (int)defs.len, covered = 0, gap = 1;
		if (nd > 1)
			qsort(d, (size_t)nd, sizeof *d, def_cmp);
		for (int i = 0; i < nd && st == ST_OK; i++) {
			struct ctx__sym *s = &VEC_AT(&p->syms, struct ctx__sym, d[i].sym);
			if (d[i].start <= covered)
				continue;
			if (d[i].end - d[i].start + 1 > CTX_CHUNK_MAX_LINES &&
			    strcmp(s->kind, "function") != 0 &&
			    strcmp(s->kind, "method") != 0)
				continue;	/* a big class: members chunk it */
			if (strcmp(s->kind, "prototype") == 0 ||
			    strcmp(s->kind, "constant") == 0)
				continue;	/* too small alone; windows hold them */
			if (gap < d[i].start) {
				int enc = enclosing(d, i, gap);
				const char *nm = enc >= 0 ?
					VEC_AT(&p->syms, struct ctx__sym, d[enc].sym).name : "";
				st = add_windows(p, t, &l, gap, d[i].start - 1, "text", nm);
			}
			if (st)
				break;
			if (d[i].end - d[i].start + 1 > CTX_CHUNK_MAX_LINES)
				st = add_windows(p, t, &l, d[i].start, d[i].end, s->kind, s->name);
			else
				st = add_chunk(p, t, &l, d[i].start, d[i].end, s->kind, s->name);
			covered = d[i].end;
			gap = covered + 1;
		}
		if (st == ST_OK && gap <= l.n)
			st = add_windows(p, t, &l, gap, l.n, "text", "");
		if (st)
			goto out;

		/* Each symbol points at the chunk holding its start. */
		for (int i = 0; i < nd; i++) {
			struct ctx__sym *s = &VEC_AT(&p->syms, struct ctx__sym, d[i].sym);
			int line = s->start_line;
			for (size_t k = 0; k < p->chunks.len; k++) {
				struct ctx__chunk *c = &VEC_AT(&p->chunks, struct ctx__chunk, k);
				if (c->start_line <= line && line <= c->end_line) {
					s->chunk = (int)k;
					if (c->start_line == d[i].start || c->start_line == s->start_line)
						break;	/* the symbol's own chunk */
				}
			}
		}

		/* Edge sources: the innermost definition around the line.
		 * Duplicates (same source, kind, name) are dropped. */
		size_t w = 0;
		for (size_t k = 0; k < p->edges.len; k++) {
			struct ctx__edge *ed = &VEC_AT(&p->edges, struct ctx__edge, k);
			int enc = strcmp(ed->kind, "imports") == 0 ? -1 :
				  enclosing(d, nd, ed->line);
			char key[300];
			int kl;
			ed->src_sym = enc >= 0 ? d[enc].sym : -1;
			kl = snprintf(key, sizeof key, "%d %s %s", ed->src_sym,
				      ed->kind, ed->name);
			if (kl < 0 || (size_t)kl >= sizeof key)
				kl = (int)sizeof key - 1;
			if (hmap_get(&seen, key, (size_t)kl, NULL) == ST_OK)
				continue;
			if ((st = hmap_put(&seen, key, (size_t)kl, NULL)))
				goto out;
			VEC_AT(&p->edges, struct ctx__edge, w++) = *ed;
		}
		p->edges.len = w;
	}
out:
	hmap_release(&seen);
	vec_release(&defs);
	return st;
}

struct ctx__parser {
	TSParser *ts;
	TSQueryCursor *cur;
	const TSLanguage *lang;		/* the one ts is set to; NULL: none */
};

status_t ctx__parser_new(struct ctx__parser **out)
{
	struct ctx__parser *ps = mem_calloc(1, sizeof *ps);

	*out = NULL;
	if (!ps)
		return ST_NOMEM;
	ps->ts = ts_parser_new();
	ps->cur = ts_query_cursor_new();
	if (!ps->ts || !ps->cur) {
		ctx__parser_free(ps);
		return ST_NOMEM;
	}
	/* Bounded: a pathological file falls back to text chunks. */
	ts_parser_set_timeout_micros(ps->ts, 2000000);
	*out = ps;
	return ST_OK;
}

void ctx__parser_free(struct ctx__parser *ps)
{
	if (!ps)
		return;
	if (ps->ts)
		ts_parser_delete(ps->ts);
	if (ps->cur)
		ts_query_cursor_delete(ps->cur);
	mem_free(ps);
}

status_t ctx__parse_with(struct ctx__parser *ps, const char *path,
			 const char *lang, const char *text, size_t len,
			 struct ctx__parsed *out, struct err *e)
{
	struct lang *lg = lang_find(lang);
	TSTree *tree;
	status_t st;

	out->lang = lg ? lg->name : "text";
	if (!lg)
		return ctx__chunk_lines(out, text, len, "text", "");
	if (len > UINT32_MAX)
		return err_set(e, ST_LIMIT, "%s: too large to parse", path);
	if (ps->lang != lg->fn()) {
		ps->lang = NULL;
		if (!ts_parser_set_language(ps->ts, lg->fn()))
			return err_set(e, ST_UNSUPPORTED, "%s: grammar %s does not load",
				       path, lg->name);
		ps->lang = lg->fn();
	}
	tree = ts_parser_parse_string(ps->ts, NULL, text, (uint32_t)len);
	if (!tree) {
		/* Timed out (or cancelled): the parser keeps the unfinished
		 * parse unless reset, and would resume it on the next file. */
		ts_parser_reset(ps->ts);
		out->parse_error = 1;
		return ctx__chunk_lines(out, text, len, "text", "");
	}
	st = extract(out, lg, tree, ps->cur, text, len, e);
	ts_tree_delete(tree);
	return st;
}

status_t ctx__parse(const char *path, const char *lang, const char *text,
		    size_t len, struct ctx__parsed *out, struct err *e)
{
	struct ctx__parser *ps;
	status_t st;

	if (!lang_find(lang)) {
		out->lang = "text";
		return ctx__chunk_lines(out, text, len, "text", "");
	}
	if (ctx__parser_new(&ps) != ST_OK)
		return err_set(e, ST_NOMEM, "%s: no parser", path);
	st = ctx__parse_with(ps, path, lang, text, len, out, e);
	ctx__parser_free(ps);
	return st;
}
