/*
 * literal.c - literal pattern rules: the automaton that scans text for
 * them and the token guard the sampler asks during generation.
 *
 * Plain literals ("verify=False", "eval(") match anywhere: Aho-Corasick as
 * a dense DFA, one table lookup per byte. Identifier literals ("strcpy",
 * "gets") match only a whole identifier, a maximal run of [A-Za-z0-9_$]:
 * a trie walked from the first byte of each identifier, decided when the
 * identifier ends (at the next non-identifier byte, or at the end of the
 * output). Both scans and the guard run the same tables, and the guard's
 * state is two integers, so asking about a candidate token is a loop over
 * its bytes on a copy of the state.
 */
#include "policy/policy_int.h"

#include <string.h>

/*
 * Identifier bytes and their index in the trie's 64-wide rows (-1: not an
 * identifier byte). A table: this runs once per byte of every check.
 */
static int8_t id_tab[256];
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void id_tab_init(void)
{
	for (int c = 0; c < 256; c++) {
		int v = -1;
		if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= 'A' && c <= 'Z')
			v = 26 + c - 'A';
		else if (c >= '0' && c <= '9')
			v = 52 + c - '0';
		else if (c == '_')
			v = 62;
		else if (c == '$')
			v = 63;
		id_tab[c] = (int8_t)v;
	}
}

static inline int id_index(unsigned char c)
{
	return id_tab[c];
}

/* A growable int32 array. */
struct ia {
	int32_t *v;
	size_t n, cap;
};

static int ia_push(struct ia *a, int32_t x)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 64;
		int32_t *nv = mem_realloc_array(a->v, nc, sizeof *nv);
		if (!nv)
			return -1;
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n++] = x;
	return 0;
}

/* Per-state rule lists while building: linked through next. */
struct own_build {
	struct ia head;		/* (states) first link or -1 */
	struct ia rule, next;	/* links */
};

static int own_add(struct own_build *o, int32_t state, int32_t rule)
{
	if (ia_push(&o->rule, rule) || ia_push(&o->next, o->head.v[state]))
		return -1;
	o->head.v[state] = (int32_t)o->rule.n - 1;
	return 0;
}

/* Flattens the linked lists into -1 terminated runs. */
static int own_flatten(struct own_build *o, size_t n_states, int32_t **own,
		       int32_t **rules)
{
	struct ia out = { 0 };
	int32_t *idx = mem_alloc_array(n_states ? n_states : 1, sizeof *idx);

	if (!idx)
		return -1;
	for (size_t s = 0; s < n_states; s++) {
		int32_t l = o->head.v[s];
		if (l < 0) {
			idx[s] = -1;
			continue;
		}
		idx[s] = (int32_t)out.n;
		for (; l >= 0; l = o->next.v[l])
			if (ia_push(&out, o->rule.v[l]))
				goto fail;
		if (ia_push(&out, -1))
			goto fail;
	}
	if (!out.v && ia_push(&out, -1))
		goto fail;
	*own = idx;
	*rules = out.v;
	return 0;
fail:
	mem_free(idx);
	mem_free(out.v);
	return -1;
}

static void own_release(struct own_build *o)
{
	mem_free(o->head.v);
	mem_free(o->rule.v);
	mem_free(o->next.v);
}

static int grow_states(struct ia *delta, struct own_build *o, size_t width)
{
	for (size_t i = 0; i < width; i++)
		if (ia_push(delta, -1))
			return -1;
	return ia_push(&o->head, -1);
}

status_t pol__lit_build(struct pol_bundle *b, struct err *e)
{
	pthread_once(&id_once, id_tab_init);
	struct pol_lit *L = &b->lit;
	struct ia delta = { 0 }, idn = { 0 };
	struct own_build ao = { 0 }, io = { 0 };
	int32_t *fail = NULL, *queue = NULL;
	size_t n_states, qh = 0, qt = 0;

	if (grow_states(&delta, &ao, 256) || grow_states(&idn, &io, 64))
		goto nomem;
	for (size_t i = 0; i < b->n_rules; i++) {
		const struct pol_rule *r = &b->rules[i];
		int32_t st = 0;
		if (r->pat != POL_PAT_LITERAL)
			continue;
		if (r->identifier) {
			for (const unsigned char *c = (const unsigned char *)r->literal; *c; c++) {
				int k = id_index(*c);
				if (idn.v[(size_t)st * 64 + (size_t)k] < 0) {
					int32_t ns = (int32_t)(idn.n / 64);
					if (grow_states(&idn, &io, 64))
						goto nomem;
					idn.v[(size_t)st * 64 + (size_t)k] = ns;
				}
				st = idn.v[(size_t)st * 64 + (size_t)k];
			}
			if (own_add(&io, st, (int32_t)i))
				goto nomem;
			L->n_ident++;
		} else {
			for (const unsigned char *c = (const unsigned char *)r->literal; *c; c++) {
				if (delta.v[(size_t)st * 256 + *c] < 0) {
					int32_t ns = (int32_t)(delta.n / 256);
					if (grow_states(&delta, &ao, 256))
						goto nomem;
					delta.v[(size_t)st * 256 + *c] = ns;
				}
				st = delta.v[(size_t)st * 256 + *c];
			}
			if (own_add(&ao, st, (int32_t)i))
				goto nomem;
			L->n_plain++;
		}
	}
	/* Aho-Corasick: failure links in BFS order, then the full DFA. */
	n_states = delta.n / 256;
	fail = mem_calloc(n_states, sizeof *fail);
	queue = mem_calloc(n_states, sizeof *queue);
	L->dict = mem_alloc_array(n_states, sizeof *L->dict);
	if (!fail || !queue || !L->dict)
		goto nomem;
	L->dict[0] = -1;
	for (int c = 0; c < 256; c++) {
		int32_t t = delta.v[c];
		if (t < 0) {
			delta.v[c] = 0;
		} else {
			fail[t] = 0;
			L->dict[t] = -1;
			queue[qt++] = t;
		}
	}
	while (qh < qt) {
		int32_t s = queue[qh++];
		for (int c = 0; c < 256; c++) {
			int32_t t = delta.v[(size_t)s * 256 + (size_t)c];
			int32_t f = delta.v[(size_t)fail[s] * 256 + (size_t)c];
			if (t < 0) {
				delta.v[(size_t)s * 256 + (size_t)c] = f;
				continue;
			}
			fail[t] = f;
			L->dict[t] = ao.head.v[f] >= 0 ? f : L->dict[f];
			queue[qt++] = t;
		}
	}
	if (own_flatten(&ao, n_states, &L->own, &L->ac_rules) ||
	    own_flatten(&io, idn.n / 64, &L->id_own, &L->id_rules))
		goto nomem;
	L->has_out = mem_calloc(n_states, 1);
	if (!L->has_out)
		goto nomem;
	for (size_t k = 0; k < n_states; k++)
		L->has_out[k] = L->own[k] >= 0 || L->dict[k] >= 0;
	L->delta = delta.v;
	L->n_states = n_states;
	L->id_next = idn.v;
	L->n_id = idn.n / 64;
	own_release(&ao);
	own_release(&io);
	mem_free(fail);
	mem_free(queue);
	return ST_OK;
nomem:
	/* Parts already in L are freed with the bundle (pol__lit_release). */
	mem_free(delta.v);
	mem_free(idn.v);
	own_release(&ao);
	own_release(&io);
	mem_free(fail);
	mem_free(queue);
	return err_set(e, ST_NOMEM, "out of memory building the literal automaton");
}

void pol__lit_release(struct pol_lit *L)
{
	mem_free(L->delta);
	mem_free(L->has_out);
	mem_free(L->own);
	mem_free(L->dict);
	mem_free(L->ac_rules);
	mem_free(L->id_next);
	mem_free(L->id_own);
	mem_free(L->id_rules);
	memset(L, 0, sizeof *L);
}

/* The trie child of node for identifier byte c, or -2 (dead). */
static int32_t id_step(const struct pol_lit *L, int32_t node, unsigned char c)
{
	int k = id_index(c);
	int32_t t;

	if (node < 0)
		node = 0;
	t = L->id_next[(size_t)node * 64 + (size_t)k];
	return t < 0 ? -2 : t;
}

/* ------------------------------------------------------------------ */
/* Scanning text                                                       */
/* ------------------------------------------------------------------ */

static void id_end(struct pol_scan *s, int32_t node, size_t start, size_t end)
{
	const struct pol_lit *L = &s->b->lit;

	if (node < 0 || L->id_own[node] < 0)
		return;
	for (const int32_t *r = &L->id_rules[L->id_own[node]]; *r >= 0; r++)
		if (s->eff[*r].on)
			pol__add(s, (size_t)*r, start, end, start, end, NULL);
}

void pol__lit_scan(struct pol_scan *s)
{
	const struct pol_lit *L = &s->b->lit;
	const unsigned char *t = (const unsigned char *)s->text;
	int32_t st = 0, node = -1;
	size_t run = 0;
	int any = 0;

	for (size_t i = 0; i < s->b->n_rules; i++)
		if (s->eff[i].on && s->b->rules[i].pat == POL_PAT_LITERAL)
			any = 1;
	if (!any)
		return;
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = t[i];
		int32_t o;

		if (L->n_plain) {
			st = L->delta[(size_t)st * 256 + c];
			if (L->has_out[st])
				for (o = L->own[st] >= 0 ? st : L->dict[st]; o >= 0; o = L->dict[o])
					for (const int32_t *r = &L->ac_rules[L->own[o]]; *r >= 0; r++)
						if (s->eff[*r].on) {
							size_t n = strlen(s->b->rules[*r].literal);
							pol__add(s, (size_t)*r, i + 1 - n, i + 1,
								 i + 1 - n, i + 1, NULL);
						}
		}
		if (L->n_ident) {
			if (id_index(c) >= 0) {
				if (node == -1)
					run = i;
				if (node != -2)
					node = id_step(L, node == -1 ? 0 : node, c);
				if (node == -2 && !L->n_plain) {
					/* Dead identifier: skip to its end. */
					while (i + 1 < s->len && id_index(t[i + 1]) >= 0)
						i++;
				}
			} else {
				if (node >= 0)
					id_end(s, node, run, i);
				node = -1;
			}
		}
	}
	if (node >= 0)
		id_end(s, node, run, s->len);
}

/* ------------------------------------------------------------------ */
/* The token guard                                                     */
/* ------------------------------------------------------------------ */

struct pol_guard {
	struct pol_engine *eng;		/* holds the bundle reference, or NULL */
	const struct pol_bundle *b;
	const struct pol_lit *L;
	uint8_t *ac_bad;	/* (n_states) 1: reaching it completes a banned literal */
	uint8_t *id_bad;	/* (n_id) 1: an identifier ending here is banned */
	int32_t ac, id;		/* the state: AC state; trie node, -1 outside an
				 * identifier, -2 inside one that matches nothing */
	size_t n_banned;
	const char *last_rule;
};

static int banned(const struct pol_eff *eff, const struct pol_rule *r, size_t i)
{
	return eff[i].on && r->pat == POL_PAT_LITERAL && !r->require &&
	       eff[i].action >= POL_REGENERATE;
}

status_t pol_guard_new_bundle(const struct pol_bundle *b, const struct pol_ctx *ctx,
			      struct pol_guard **out)
{
	struct pol_guard *g;
	struct pol_eff *eff;
	const struct pol_lit *L;
	const char *lang;

	*out = NULL;
	if (!b)
		return ST_INVAL;
	L = &b->lit;
	g = mem_calloc(1, sizeof *g);
	eff = mem_calloc(b->n_rules ? b->n_rules : 1, sizeof *eff);
	if (!g || !eff)
		goto nomem;
	g->b = b;
	g->L = L;
	g->ac_bad = mem_calloc(L->n_states ? L->n_states : 1, 1);
	g->id_bad = mem_calloc(L->n_id ? L->n_id : 1, 1);
	if (!g->ac_bad || !g->id_bad)
		goto nomem;
	lang = ctx && ctx->lang ? ctx->lang : ctx ? pol_lang_from_path(ctx->path) : NULL;
	pol__eff_compute(b, ctx, lang, eff);
	for (size_t i = 0; i < b->n_rules; i++)
		if (banned(eff, &b->rules[i], i))
			g->n_banned++;
	/* A state is bad when a banned literal ends there or at a state on
	 * its dictionary chain. */
	for (size_t st = 0; st < L->n_states; st++)
		for (int32_t o = L->own[st] >= 0 ? (int32_t)st : L->dict[st]; o >= 0 && !g->ac_bad[st];
		     o = L->dict[o])
			for (const int32_t *r = &L->ac_rules[L->own[o]]; *r >= 0; r++)
				if (banned(eff, &b->rules[*r], (size_t)*r))
					g->ac_bad[st] = 1;
	for (size_t n = 0; n < L->n_id; n++)
		if (L->id_own[n] >= 0)
			for (const int32_t *r = &L->id_rules[L->id_own[n]]; *r >= 0; r++)
				if (banned(eff, &b->rules[*r], (size_t)*r))
					g->id_bad[n] = 1;
	mem_free(eff);
	g->id = -1;
	*out = g;
	return ST_OK;
nomem:
	mem_free(eff);
	pol_guard_free(g);
	return ST_NOMEM;
}

status_t pol_guard_new(struct pol_engine *eng, const struct pol_ctx *ctx,
		       struct pol_guard **out)
{
	const struct pol_bundle *b = pol__engine_acquire(eng);
	status_t st;

	*out = NULL;
	if (!b) {
		/* No bundle: a guard that accepts everything. */
		struct pol_guard *g = mem_calloc(1, sizeof *g);
		if (!g)
			return ST_NOMEM;
		g->id = -1;
		*out = g;
		return ST_OK;
	}
	st = pol_guard_new_bundle(b, ctx, out);
	if (st) {
		pol__engine_release(eng, b);
		return st;
	}
	(*out)->eng = eng;
	return ST_OK;
}

void pol_guard_free(struct pol_guard *g)
{
	if (!g)
		return;
	mem_free(g->ac_bad);
	mem_free(g->id_bad);
	if (g->eng)
		pol__engine_release(g->eng, g->b);
	mem_free(g);
}

size_t pol_guard_size(const struct pol_guard *g)
{
	return g ? g->n_banned : 0;
}

/* Names the rule a rejection is for (slow path, only on rejection). */
static void note_rule(const struct pol_guard *cg, int32_t ac, int32_t id)
{
	struct pol_guard *g = (struct pol_guard *)cg;	/* one thread; see policy.h */
	const struct pol_lit *L = g->L;

	g->last_rule = NULL;
	if (ac >= 0 && g->ac_bad[ac]) {
		for (int32_t o = L->own[ac] >= 0 ? ac : L->dict[ac]; o >= 0; o = L->dict[o])
			for (const int32_t *r = &L->ac_rules[L->own[o]]; *r >= 0; r++)
				if (!g->last_rule)
					g->last_rule = g->b->rules[*r].id;
	} else if (id >= 0 && L->id_own[id] >= 0) {
		g->last_rule = g->b->rules[L->id_rules[L->id_own[id]]].id;
	}
}

int pol_guard_accepts(const struct pol_guard *g, const char *bytes, size_t n)
{
	const struct pol_lit *L;
	int32_t ac, id;

	if (!g || !g->n_banned)
		return 1;
	L = g->L;
	ac = g->ac;
	id = g->id;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)bytes[i];
		if (L->n_plain) {
			ac = L->delta[(size_t)ac * 256 + c];
			if (g->ac_bad[ac]) {
				note_rule(g, ac, -1);
				return 0;
			}
		}
		if (L->n_ident) {
			if (id_index(c) >= 0) {
				if (id != -2)
					id = id_step(L, id == -1 ? 0 : id, c);
			} else {
				if (id >= 0 && g->id_bad[id]) {
					note_rule(g, -1, id);
					return 0;
				}
				id = -1;
			}
		}
	}
	return 1;
}

int pol_guard_accepts_end(const struct pol_guard *g)
{
	if (!g || !g->n_banned)
		return 1;
	if (g->id >= 0 && g->id_bad[g->id]) {
		note_rule(g, -1, g->id);
		return 0;
	}
	return 1;
}

void pol_guard_advance(struct pol_guard *g, const char *bytes, size_t n)
{
	const struct pol_lit *L;

	if (!g || !g->L)
		return;
	L = g->L;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)bytes[i];
		if (L->n_plain)
			g->ac = L->delta[(size_t)g->ac * 256 + c];
		if (L->n_ident) {
			if (id_index(c) >= 0) {
				if (g->id != -2)
					g->id = id_step(L, g->id == -1 ? 0 : g->id, c);
			} else {
				g->id = -1;
			}
		}
	}
}

void pol_guard_reset(struct pol_guard *g)
{
	if (!g)
		return;
	g->ac = 0;
	g->id = -1;
	g->last_rule = NULL;
}

void pol_guard_mask(const struct pol_guard *g, const char *const *tok,
		    const size_t *tok_len, size_t n_vocab, uint8_t *mask)
{
	for (size_t i = 0; i < n_vocab; i++)
		mask[i] = (uint8_t)pol_guard_accepts(g, tok[i], tok_len[i]);
}

const char *pol_guard_last_rule(const struct pol_guard *g)
{
	return g ? g->last_rule : NULL;
}
