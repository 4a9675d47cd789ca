/*
 * check.c - running a bundle over text: the per-check state, decisions
 * and their JSON form, redaction, the streaming checker, scope questions
 * and the provenance hook.
 */
#include "policy/policy_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

void pol_result_init(struct pol_result *r)
{
	memset(r, 0, sizeof *r);
	arena_init(&r->arena, 16384, 0);
}

void pol_result_reset(struct pol_result *r)
{
	r->n = 0;
	r->worst = POL_ALLOW;
	mem_free(r->redacted);
	r->redacted = NULL;
	r->redacted_len = 0;
	r->truncated = 0;
	arena_reset(&r->arena);
}

void pol_result_release(struct pol_result *r)
{
	if (!r)
		return;
	mem_free(r->items);
	mem_free(r->redacted);
	arena_release(&r->arena);
	memset(r, 0, sizeof *r);
}

static const struct {
	const char *ext, *lang;
} langs[] = {
	{ ".c", "c" }, { ".h", "c" }, { ".cc", "cpp" }, { ".cpp", "cpp" },
	{ ".cxx", "cpp" }, { ".hpp", "cpp" }, { ".hh", "cpp" }, { ".hxx", "cpp" },
	{ ".py", "python" }, { ".pyi", "python" }, { ".js", "javascript" },
	{ ".mjs", "javascript" }, { ".cjs", "javascript" }, { ".jsx", "javascript" },
	{ ".ts", "typescript" }, { ".mts", "typescript" }, { ".tsx", "tsx" },
	{ ".go", "go" }, { ".rs", "rust" }, { ".java", "java" }, { ".rb", "ruby" },
	{ ".sh", "shell" }, { ".bash", "shell" }, { ".yaml", "yaml" }, { ".yml", "yaml" },
	{ ".json", "json" }, { ".toml", "toml" }, { ".xml", "xml" }, { ".tf", "hcl" },
	{ ".env", "dotenv" }, { ".properties", "properties" }, { ".ini", "ini" },
	{ ".cs", "csharp" }, { ".php", "php" }, { ".kt", "kotlin" }, { ".swift", "swift" },
	{ ".sql", "sql" }, { ".md", "markdown" },
};

const char *pol_lang_from_path(const char *path)
{
	const char *dot, *slash;

	if (!path)
		return NULL;
	slash = strrchr(path, '/');
	dot = strrchr(slash ? slash : path, '.');
	if (!dot)
		return NULL;
	for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++)
		if (!strcmp(dot, langs[i].ext))
			return langs[i].lang;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Adding a finding                                                    */
/* ------------------------------------------------------------------ */

/* Line starts of the text, built on the first finding. */
static int lines_build(struct pol_scan *s)
{
	size_t n = 1, k = 0;
	const char *p = s->text, *e = s->text + s->len;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))))
		n++, p++;
	s->lines = mem_alloc_array(n, sizeof *s->lines);
	if (!s->lines)
		return -1;
	s->lines[k++] = 0;
	for (p = s->text; p < e && (p = memchr(p, '\n', (size_t)(e - p)));) {
		p++;
		s->lines[k++] = (size_t)(p - s->text);
	}
	s->n_lines = k;
	return 0;
}

static void pos_of(const struct pol_scan *s, size_t off, int *line, int *col)
{
	size_t lo = 0, hi = s->n_lines;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (s->lines[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	*line = (int)lo + 1 + s->line_base;
	*col = (int)(off - s->lines[lo]) + 1;
}

void pol__add(struct pol_scan *s, size_t ri, size_t start, size_t end,
	      size_t red_start, size_t red_end, const char *detail)
{
	struct pol_result *r = s->r;
	const struct pol_rule *rule = &s->b->rules[ri];
	struct pol_decision *d;

	if (rule->require) {
		s->present[ri] = 1;
		return;
	}
	if (r->n >= POL_MAX_FINDINGS) {
		r->truncated = 1;
		return;
	}
	if (!s->lines && lines_build(s)) {
		s->st = ST_NOMEM;
		return;
	}
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 16;
		struct pol_decision *ni = mem_realloc_array(r->items, nc, sizeof *ni);
		size_t *nr;
		if (!ni) {
			s->st = ST_NOMEM;
			return;
		}
		r->items = ni;
		nr = mem_realloc_array(s->rule_of, nc, sizeof *nr);
		if (!nr) {
			s->st = ST_NOMEM;
			return;
		}
		s->rule_of = nr;
		r->cap = nc;
	} else if (!s->rule_of) {
		s->rule_of = mem_alloc_array(r->cap, sizeof *s->rule_of);
		if (!s->rule_of) {
			s->st = ST_NOMEM;
			return;
		}
	}
	s->rule_of[r->n] = ri;
	d = &r->items[r->n];
	memset(d, 0, sizeof *d);
	d->rule_id = arena_strdup(&r->arena, rule->id);
	d->message = arena_strdup(&r->arena, rule->message ? rule->message :
				  rule->description ? rule->description : rule->id);
	if (s->ctx && s->ctx->path)
		d->path = arena_strdup(&r->arena, s->ctx->path);
	if (detail)
		d->detail = arena_strdup(&r->arena, detail);
	if (!d->rule_id || !d->message || (s->ctx && s->ctx->path && !d->path) ||
	    (detail && !d->detail)) {
		s->st = ST_NOMEM;
		return;
	}
	d->kind = rule->kind;
	d->action = (enum pol_action)s->eff[ri].action;
	d->severity = (enum pol_severity)s->eff[ri].severity;
	d->start = start;
	d->end = end;
	d->red_start = red_start;
	d->red_end = red_end;
	pos_of(s, start, &d->line, &d->col);
	pos_of(s, end, &d->end_line, &d->end_col);
	if (d->action > r->worst)
		r->worst = d->action;
	r->n++;
}

/* ------------------------------------------------------------------ */
/* One check                                                           */
/* ------------------------------------------------------------------ */

static int cmp_dec(const void *a, const void *b)
{
	const struct pol_decision *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->rule_id, y->rule_id);
}

static int cmp_red(const void *a, const void *b)
{
	const struct pol_decision *x = *(const struct pol_decision *const *)a;
	const struct pol_decision *y = *(const struct pol_decision *const *)b;

	if (x->red_start != y->red_start)
		return x->red_start < y->red_start ? -1 : 1;
	return x->red_end > y->red_end ? -1 : x->red_end < y->red_end;
}

/* Builds r->redacted from the redact decisions in r->items[n0..]. */
static status_t redact(struct pol_result *r, size_t n0, const char *text, size_t len)
{
	const struct pol_decision **v;
	struct buf out;
	size_t k = 0, pos = 0;

	for (size_t i = n0; i < r->n; i++)
		if (r->items[i].action == POL_REDACT)
			k++;
	if (!k)
		return ST_OK;
	v = mem_alloc_array(k, sizeof *v);
	if (!v)
		return ST_NOMEM;
	k = 0;
	for (size_t i = n0; i < r->n; i++)
		if (r->items[i].action == POL_REDACT)
			v[k++] = &r->items[i];
	qsort(v, k, sizeof *v, cmp_red);
	buf_init(&out, len + 64 * k + 1);
	for (size_t i = 0; i < k; i++) {
		if (v[i]->red_start < pos)
			continue;	/* inside a span already replaced */
		if (buf_append(&out, text + pos, v[i]->red_start - pos) ||
		    buf_printf(&out, "[REDACTED:%s]", v[i]->rule_id))
			goto nomem;
		pos = v[i]->red_end;
	}
	if (buf_append(&out, text + pos, len - pos))
		goto nomem;
	mem_free(v);
	mem_free(r->redacted);
	r->redacted = buf_detach(&out, &r->redacted_len);
	return r->redacted ? ST_OK : ST_NOMEM;
nomem:
	mem_free(v);
	buf_release(&out);
	return ST_NOMEM;
}

struct prov_arg {
	struct pol_scan *s;
	size_t ri;
};

static void prov_emit(void *arg, const struct pol_overlap *o)
{
	struct prov_arg *a = arg;
	char detail[512];

	if (o->end > a->s->len || o->start > o->end)
		return;
	snprintf(detail, sizeof detail, "%s:%d (%s)", o->source_path ? o->source_path : "?",
		 o->source_line, o->licence ? o->licence : "unknown licence");
	pol__add(a->s, a->ri, o->start, o->end, o->start, o->end, detail);
}

static void provenance_scan(struct pol_scan *s)
{
	const struct pol_bundle *b = s->b;

	if (!b->prov || !b->prov->find)
		return;	/* no corpus index attached: nothing to compare with */
	for (size_t ri = 0; ri < b->n_rules; ri++) {
		const struct pol_rule *r = &b->rules[ri];
		struct prov_arg a = { s, ri };
		if (r->kind != POL_KIND_PROVENANCE || !s->eff[ri].on)
			continue;
		if (b->prov->find(b->prov->self, r->corpus, s->text, s->len, r->min_chars,
				  r->min_lines, prov_emit, &a) != ST_OK && s->st == ST_OK)
			s->st = ST_LIMIT;
	}
}

static void require_check(struct pol_scan *s)
{
	for (size_t ri = 0; ri < s->b->n_rules; ri++) {
		const struct pol_rule *r = &s->b->rules[ri];
		if (!r->require || !s->eff[ri].on || s->present[ri])
			continue;
		((struct pol_rule *)r)->require = 0;	/* let pol__add record it */
		pol__add(s, ri, 0, 0, 0, 0, "required pattern is absent");
		((struct pol_rule *)r)->require = 1;
	}
}

/*
 * One finding per secret: where secret findings overlap, the most precise
 * rule names it. A generic rule ("password = '...'") yields to a specific
 * one (a GitHub token); between specific rules the earlier one in the
 * bundle wins (an OpenAI key is not also reported as an "sk-" key).
 */
static int outranks(const struct pol_scan *s, size_t k, size_t i)
{
	const struct pol_rule *rk = &s->b->rules[s->rule_of[k]];
	const struct pol_rule *ri = &s->b->rules[s->rule_of[i]];

	if (rk->generic != ri->generic)
		return !rk->generic;
	return s->rule_of[k] < s->rule_of[i];
}

static void drop_overlaps(struct pol_scan *s)
{
	struct pol_result *r = s->r;
	size_t w = s->n0;

	for (size_t i = s->n0; i < r->n; i++) {
		int drop = 0;
		if (r->items[i].kind == POL_KIND_SECRET) {
			for (size_t k = s->n0; k < r->n && !drop; k++)
				if (k != i && r->items[k].kind == POL_KIND_SECRET &&
				    r->items[k].red_start < r->items[i].red_end &&
				    r->items[i].red_start < r->items[k].red_end &&
				    outranks(s, k, i))
					drop = 1;
		}
		if (!drop) {
			s->rule_of[w] = s->rule_of[i];
			r->items[w++] = r->items[i];
		}
	}
	r->n = w;
	r->worst = POL_ALLOW;
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].action > r->worst)
			r->worst = r->items[i].action;
}

/* PCRE2 working memory: made per check, or kept by a stream for its lines. */
struct pcre_work {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *js;
};

static void work_release(struct pcre_work *w)
{
	pcre2_match_data_free(w->md);
	pcre2_match_context_free(w->mctx);
	pcre2_jit_stack_free(w->js);
	memset(w, 0, sizeof *w);
}

static status_t work_init(struct pcre_work *w)
{
	w->md = pcre2_match_data_create(64, NULL);
	w->mctx = pcre2_match_context_create(NULL);
	w->js = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	if (!w->md || !w->mctx || !w->js) {
		work_release(w);
		return ST_NOMEM;
	}
	pcre2_set_match_limit(w->mctx, POL_PCRE_MATCH_LIMIT);
	pcre2_set_depth_limit(w->mctx, POL_PCRE_DEPTH_LIMIT);
	pcre2_jit_stack_assign(w->mctx, NULL, w->js);
	return ST_OK;
}

static status_t check_impl(const struct pol_bundle *b, const struct pol_ctx *ctx,
			   const char *text, size_t len, struct pol_result *r,
			   int lines_only, int line_base, size_t off_base,
			   struct pcre_work *kept)
{
	struct pol_scan s;
	struct pcre_work local = { 0 }, *w = kept ? kept : &local;
	size_t n0 = r->n;
	status_t st;

	if (!b)
		return ST_OK;
	memset(&s, 0, sizeof s);
	s.b = b;
	s.ctx = ctx;
	s.lang = ctx && ctx->lang ? ctx->lang : ctx ? pol_lang_from_path(ctx->path) : NULL;
	s.text = text ? text : "";
	s.len = text ? len : 0;
	s.r = r;
	s.lines_only = lines_only;
	s.line_base = line_base;
	s.n0 = n0;
	s.eff = mem_calloc(b->n_rules ? b->n_rules : 1, sizeof *s.eff);
	s.present = mem_calloc(b->n_rules ? b->n_rules : 1, 1);
	if (!s.eff || !s.present || (!w->md && work_init(w))) {
		st = ST_NOMEM;
		goto out;
	}
	s.md = w->md;
	s.mctx = w->mctx;
	pol__eff_compute(b, ctx, s.lang, s.eff);

	pol__rx_scan(&s);
	pol__lit_scan(&s);
	if (!lines_only) {
		pol__query_scan(&s);
		pol__import_scan(&s);
		provenance_scan(&s);
		require_check(&s);
	}
	if (s.rule_of)
		drop_overlaps(&s);
	if (r->n > n0)
		qsort(r->items + n0, r->n - n0, sizeof *r->items, cmp_dec);
	for (size_t i = n0; off_base && i < r->n; i++) {
		struct pol_decision *d = &r->items[i];
		d->start += off_base, d->end += off_base;
		d->red_start += off_base, d->red_end += off_base;
	}
	st = s.st;
	if (st != ST_NOMEM && !lines_only) {
		status_t rs = redact(r, n0, s.text, s.len);
		if (rs)
			st = rs;
	}
out:
	mem_free(s.eff);
	mem_free(s.present);
	mem_free(s.lines);
	mem_free(s.rule_of);
	work_release(&local);
	return st;
}

status_t pol_bundle_check(const struct pol_bundle *b, const struct pol_ctx *ctx,
			  const char *text, size_t len, struct pol_result *r,
			  struct err *e)
{
	status_t st = check_impl(b, ctx, text, len, r, 0, 0, 0, NULL);

	if (st == ST_NOMEM)
		return err_set(e, st, "out of memory checking text");
	if (st == ST_LIMIT)
		return err_set(e, st, "a matcher reached its limit; findings so far are kept");
	return st;
}

status_t pol_check_text(struct pol_engine *eng, const struct pol_ctx *ctx,
			const char *text, size_t len, struct pol_result *r,
			struct err *e)
{
	const struct pol_bundle *b = pol__engine_acquire(eng);
	status_t st = pol_bundle_check(b, ctx, text, len, r, e);

	pol__engine_release(eng, b);
	return st;
}

/* ------------------------------------------------------------------ */
/* Streaming                                                           */
/* ------------------------------------------------------------------ */

#define STREAM_MAX_LINE (1u << 20)	/* a longer line is checked in pieces */

struct pol_stream {
	struct pol_engine *eng;
	const struct pol_bundle *b;
	struct pol_ctx ctx;
	char *team, *repo, *lang, *path, *model;
	struct buf line;	/* the unterminated line */
	struct buf safe;	/* checked lines not yet taken, redacted */
	struct pcre_work work;	/* reused for every line */
	int line_no;		/* lines completed before it */
	size_t offset;		/* stream bytes before it */
};

static char *dup_or_null(const char *s, int *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = mem_strdup(s);
	if (!d)
		*fail = 1;
	return d;
}

status_t pol_stream_new(struct pol_engine *eng, const struct pol_ctx *ctx,
			struct pol_stream **out)
{
	struct pol_stream *s = mem_calloc(1, sizeof *s);
	int fail = 0;

	*out = NULL;
	if (!s)
		return ST_NOMEM;
	if (ctx) {
		s->ctx.team = s->team = dup_or_null(ctx->team, &fail);
		s->ctx.repo = s->repo = dup_or_null(ctx->repo, &fail);
		s->ctx.lang = s->lang = dup_or_null(ctx->lang, &fail);
		s->ctx.path = s->path = dup_or_null(ctx->path, &fail);
		s->ctx.model = s->model = dup_or_null(ctx->model, &fail);
	}
	buf_init(&s->line, STREAM_MAX_LINE + 1);
	buf_init(&s->safe, 0);
	s->eng = eng;
	s->b = pol__engine_acquire(eng);
	if (fail) {
		pol_stream_free(s);
		return ST_NOMEM;
	}
	*out = s;
	return ST_OK;
}

/* Appends the checked line to the safe output, redact spans replaced. */
static status_t stream_emit(struct pol_stream *s, const struct pol_result *r, size_t n0)
{
	size_t pos = 0;
	status_t st = ST_OK;

	/* Decisions are sorted by start; redact spans of one line rarely overlap. */
	for (size_t i = n0; i < r->n && !st; i++) {
		const struct pol_decision *d = &r->items[i];
		size_t a, b;
		if (d->action != POL_REDACT || d->red_start < s->offset)
			continue;
		a = d->red_start - s->offset;
		b = d->red_end - s->offset;
		if (a < pos || b > s->line.len)
			continue;
		st = buf_append(&s->safe, s->line.data + pos, a - pos);
		st = st ? st : buf_printf(&s->safe, "[REDACTED:%s]", d->rule_id);
		pos = b;
	}
	return st ? st : buf_append(&s->safe, s->line.data + pos, s->line.len - pos);
}

static status_t stream_line(struct pol_stream *s, struct pol_result *r)
{
	size_t n0 = r->n;
	status_t st = check_impl(s->b, &s->ctx, s->line.data, s->line.len, r, 1,
				 s->line_no, s->offset, &s->work);

	if (st == ST_OK || st == ST_LIMIT)
		st = stream_emit(s, r, n0);
	s->offset += s->line.len;
	buf_reset(&s->line);
	return st;
}

status_t pol_stream_take(struct pol_stream *s, struct buf *out)
{
	status_t st = buf_append(out, s->safe.data ? s->safe.data : "", s->safe.len);

	if (!st)
		buf_reset(&s->safe);
	return st;
}

status_t pol_stream_feed(struct pol_stream *s, const char *bytes, size_t n,
			 struct pol_result *r)
{
	status_t st = ST_OK;

	while (n) {
		const char *nl = memchr(bytes, '\n', n);
		size_t take = nl ? (size_t)(nl - bytes) + 1 : n;

		if (s->line.len + take > STREAM_MAX_LINE)
			take = STREAM_MAX_LINE - s->line.len;
		if ((st = buf_append(&s->line, bytes, take)))
			return st;
		bytes += take, n -= take;
		if (s->line.len == STREAM_MAX_LINE || (take && s->line.data[s->line.len - 1] == '\n')) {
			int complete = s->line.data[s->line.len - 1] == '\n';
			if ((st = stream_line(s, r)))
				return st;
			if (complete)
				s->line_no++;
		}
	}
	return ST_OK;
}

status_t pol_stream_finish(struct pol_stream *s, struct pol_result *r)
{
	return s->line.len ? stream_line(s, r) : ST_OK;
}

void pol_stream_free(struct pol_stream *s)
{
	if (!s)
		return;
	if (s->eng)
		pol__engine_release(s->eng, s->b);
	mem_free(s->team);
	mem_free(s->repo);
	mem_free(s->lang);
	mem_free(s->path);
	mem_free(s->model);
	buf_release(&s->line);
	buf_release(&s->safe);
	work_release(&s->work);
	mem_free(s);
}

/* ------------------------------------------------------------------ */
/* Scope                                                               */
/* ------------------------------------------------------------------ */

/* Does a scope list set cover repo/path? is_deny: a partial deny (paths
 * given) does not cover a whole-repository question (path NULL). */
static int set_covers(const struct pol_scope_set *x, const char *repo, const char *path,
		      int is_deny)
{
	if (!x->repos.n && !x->paths.n)
		return 0;
	if (x->repos.n && !pol__strs_has(&x->repos, repo))
		return 0;
	if (x->paths.n) {
		if (!path)
			return !is_deny;
		if (!pol__strs_has(&x->paths, path))
			return 0;
	}
	return 1;
}

int pol_bundle_scope_allows(const struct pol_bundle *b, const char *team,
			    const char *repo, const char *path)
{
	int allowed = 0;

	if (!b || !b->has_scope)
		return 1;
	for (size_t i = 0; i < b->n_rules; i++) {
		const struct pol_rule *r = &b->rules[i];
		if (r->kind != POL_KIND_SCOPE || !r->enabled || !pol__glob_match(r->scope_team, team ? team : ""))
			continue;
		if (set_covers(&r->s_deny, repo, path, 1))
			return 0;
		if (set_covers(&r->s_allow, repo, path, 0))
			allowed = 1;
	}
	return allowed;
}

int pol_bundle_scope_model_allows(const struct pol_bundle *b, const char *team,
				  const char *model)
{
	int allowed = 0, any_models = 0;

	if (!b || !b->has_scope)
		return 1;
	for (size_t i = 0; i < b->n_rules; i++) {
		const struct pol_rule *r = &b->rules[i];
		if (r->kind != POL_KIND_SCOPE || !r->enabled)
			continue;
		if (r->s_allow.models.n || r->s_deny.models.n)
			any_models = 1;
		if (!pol__glob_match(r->scope_team, team ? team : ""))
			continue;
		if (r->s_deny.models.n && pol__strs_has(&r->s_deny.models, model))
			return 0;
		if (r->s_allow.models.n && pol__strs_has(&r->s_allow.models, model))
			allowed = 1;
	}
	/* Scopes that never name a model do not restrict models. */
	return allowed || !any_models;
}

int pol_scope_allows(struct pol_engine *eng, const char *team, const char *repo,
		     const char *path)
{
	const struct pol_bundle *b = pol__engine_acquire(eng);
	int ok = pol_bundle_scope_allows(b, team, repo, path);

	pol__engine_release(eng, b);
	return ok;
}

int pol_scope_model_allows(struct pol_engine *eng, const char *team, const char *model)
{
	const struct pol_bundle *b = pol__engine_acquire(eng);
	int ok = pol_bundle_scope_model_allows(b, team, model);

	pol__engine_release(eng, b);
	return ok;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

static status_t json_str(struct buf *o, const char *s)
{
	status_t st = buf_putc(o, '"');

	for (; s && *s && !st; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			st = buf_printf(o, "\\%c", c);
		else if (c < 0x20)
			st = buf_printf(o, "\\u%04x", c);
		else
			st = buf_putc(o, (char)c);
	}
	return st ? st : buf_putc(o, '"');
}

status_t pol_decision_json(const struct pol_decision *d, const char *request_id,
			   struct buf *o)
{
	status_t st = buf_puts(o, "{");

	if (!st && request_id) {
		st = buf_puts(o, "\"request_id\":");
		st = st ? st : json_str(o, request_id);
		st = st ? st : buf_putc(o, ',');
	}
	st = st ? st : buf_puts(o, "\"rule_id\":");
	st = st ? st : json_str(o, d->rule_id);
	st = st ? st : buf_printf(o, ",\"kind\":\"%s\",\"action\":\"%s\",\"severity\":\"%s\",\"message\":",
				  pol_kind_name(d->kind), pol_action_name(d->action),
				  pol_severity_name(d->severity));
	st = st ? st : json_str(o, d->message);
	if (!st && d->path) {
		st = buf_puts(o, ",\"path\":");
		st = st ? st : json_str(o, d->path);
	}
	st = st ? st : buf_printf(o, ",\"line\":%d,\"col\":%d,\"end_line\":%d,\"end_col\":%d",
				  d->line, d->col, d->end_line, d->end_col);
	if (!st && d->detail) {
		st = buf_puts(o, ",\"detail\":");
		st = st ? st : json_str(o, d->detail);
	}
	return st ? st : buf_putc(o, '}');
}

status_t pol_result_json(const struct pol_result *r, const char *request_id,
			 struct buf *o)
{
	status_t st = buf_printf(o, "{\"worst\":\"%s\",\"truncated\":%s,\"decisions\":[",
				 pol_action_name(r->worst), r->truncated ? "true" : "false");

	for (size_t i = 0; i < r->n && !st; i++) {
		if (i)
			st = buf_putc(o, ',');
		st = st ? st : pol_decision_json(&r->items[i], request_id, o);
	}
	return st ? st : buf_puts(o, "]}");
}
