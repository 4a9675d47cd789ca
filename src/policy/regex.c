/*
 * regex.c - the regex rules (secret rules and regex patterns) matched
 * together.
 *
 * With Hyperscan, all expressions go into one database compiled in
 * prefilter mode (HS_FLAG_PREFILTER: a superset of each regex, so PCRE2
 * syntax Hyperscan lacks, like lookarounds, still compiles and no match is
 * ever missed). One pass over the text reports (rule, end offset) hits;
 * around each hit, PCRE2 runs on the window [end - max_length, end + 64]
 * to confirm the match and capture the secret. Windows of one rule are
 * merged, so a long run of hits costs one PCRE2 pass. Start-of-match
 * (HS_FLAG_SOM_LEFTMOST) is not needed: the window is bounded by the
 * rule's max_length, and SOM cannot be combined with prefilter mode.
 *
 * Without Hyperscan (or with no_hyperscan), PCRE2 scans the whole text per
 * rule. Both paths give the same findings (a test compares them).
 */
#include "policy/policy_int.h"

#include <math.h>
#include <string.h>

#ifdef AIRLOCK_HAVE_HYPERSCAN
#include <hs/hs.h>
#endif

pcre2_code *pol__re_compile(const char *pat, int caseless, char *msg, size_t n,
			    size_t *erroff)
{
	int errcode;
	PCRE2_SIZE off = 0;
	pcre2_code *re;

	re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
			   caseless ? PCRE2_CASELESS : 0, &errcode, &off, NULL);
	if (!re) {
		pcre2_get_error_message(errcode, (PCRE2_UCHAR *)msg, n);
		*erroff = off;
		return NULL;
	}
	/* JIT is an optimisation: a pattern it refuses still matches. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

double pol__entropy(const char *p, size_t n)
{
	unsigned cnt[256] = { 0 };
	double h = 0;

	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		cnt[(unsigned char)p[i]]++;
	for (int c = 0; c < 256; c++)
		if (cnt[c]) {
			double q = (double)cnt[c] / (double)n;
			h -= q * log2(q);
		}
	return h;
}

const char *pol__hs_version(void)
{
#ifdef AIRLOCK_HAVE_HYPERSCAN
	return hs_version();
#else
	return "absent";
#endif
}

/* Does the regex match the empty string? Such a rule would fire everywhere. */
static int matches_empty(pcre2_code *re)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc;

	if (!md)
		return 0;
	rc = pcre2_match(re, (PCRE2_SPTR)"", 0, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

status_t pol__rx_compile(struct pol_bundle *b, struct err *e)
{
	struct pol_rxset *rx = &b->rx;
	size_t n = 0;

	for (size_t i = 0; i < b->n_rules; i++)
		if (b->rules[i].re)
			n++;
	rx->rules = mem_calloc(n ? n : 1, sizeof *rx->rules);
	if (!rx->rules)
		return err_set(e, ST_NOMEM, "out of memory");
	for (size_t i = 0; i < b->n_rules; i++) {
		struct pol_rule *r = &b->rules[i];
		if (!r->re)
			continue;
		if (matches_empty(r->re))
			return err_setat(e, ST_CORRUPT, r->file, r->rx_line, r->rx_col,
					 "rule '%s': regex matches the empty string", r->id);
		rx->rules[rx->n++] = i;
	}
#ifdef AIRLOCK_HAVE_HYPERSCAN
	if (rx->n && !b->no_hyperscan) {
		const char **exprs = mem_calloc(rx->n, sizeof *exprs);
		unsigned *flags = mem_calloc(rx->n, sizeof *flags);
		unsigned *ids = mem_calloc(rx->n, sizeof *ids);
		hs_compile_error_t *cerr = NULL;
		hs_database_t *db = NULL;
		hs_scratch_t *scr = NULL;
		status_t st = ST_OK;

		if (!exprs || !flags || !ids) {
			st = err_set(e, ST_NOMEM, "out of memory");
			goto hs_out;
		}
		for (size_t k = 0; k < rx->n; k++) {
			exprs[k] = b->rules[rx->rules[k]].regex;
			flags[k] = HS_FLAG_PREFILTER;
			ids[k] = (unsigned)k;
		}
		if (hs_compile_multi(exprs, flags, ids, (unsigned)rx->n, HS_MODE_BLOCK,
				     NULL, &db, &cerr) != HS_SUCCESS) {
			if (cerr && cerr->expression >= 0 && (size_t)cerr->expression < rx->n) {
				const struct pol_rule *r = &b->rules[rx->rules[cerr->expression]];
				st = err_setat(e, ST_CORRUPT, r->file, r->rx_line, r->rx_col,
					       "rule '%s': Hyperscan rejects the regex: %s", r->id,
					       cerr->message);
			} else {
				st = err_set(e, ST_CORRUPT, "Hyperscan cannot compile the bundle: %s",
					     cerr ? cerr->message : "unknown error");
			}
			hs_free_compile_error(cerr);
			goto hs_out;
		}
		if (hs_alloc_scratch(db, &scr) != HS_SUCCESS) {
			hs_free_database(db);
			st = err_set(e, ST_NOMEM, "Hyperscan scratch");
			goto hs_out;
		}
		rx->hs_db = db;
		rx->hs_proto = scr;
hs_out:
		mem_free(exprs);
		mem_free(flags);
		mem_free(ids);
		if (st)
			return st;
	}
#endif
	return ST_OK;
}

void pol__rx_release(struct pol_rxset *rx)
{
#ifdef AIRLOCK_HAVE_HYPERSCAN
	for (size_t i = 0; i < rx->n_pool; i++)
		hs_free_scratch(rx->scratch_pool[i]);
	hs_free_scratch(rx->hs_proto);
	hs_free_database(rx->hs_db);
#endif
	mem_free(rx->scratch_pool);
	mem_free(rx->rules);
	pthread_mutex_destroy(&rx->lock);
}

/* ------------------------------------------------------------------ */
/* Confirming a match                                                  */
/* ------------------------------------------------------------------ */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive search of a lower-case needle in p[0, n). */
static int has_word(const char *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	if (!k)
		return 1;
	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;
		while (j < k && lower((unsigned char)p[i + j]) == (unsigned char)needle[j])
			j++;
		if (j == k)
			return 1;
	}
	return 0;
}

static int re_finds(pcre2_code *re, const char *p, size_t n, pcre2_match_data *md,
		    pcre2_match_context *mctx)
{
	return pcre2_match(re, (PCRE2_SPTR)p, n, 0, 0, md, mctx) >= 0;
}

/* Is this candidate secret a real one (keywords, entropy, allowlists)? */
static int secret_ok(struct pol_scan *s, const struct pol_rule *r, size_t ms,
		     size_t me, size_t gs, size_t ge)
{
	const struct pol_bundle *b = s->b;
	const char *sec = s->text + gs;
	size_t n = ge - gs;

	if (r->keywords.n) {
		size_t lo = ms, hi = me;
		int found = 0;
		/* Near the match, not only on its line: a key often sits a
		 * line below the block that names the provider. */
		lo = ms > 200 ? ms - 200 : 0;
		hi = me + 200 < s->len ? me + 200 : s->len;
		for (size_t i = 0; i < r->keywords.n && !found; i++)
			found = has_word(s->text + lo, hi - lo, r->keywords.v[i]);
		if (!found)
			return 0;
	}
	if (r->entropy > 0 && pol__entropy(sec, n) < r->entropy)
		return 0;
	for (size_t i = 0; i < r->stopwords.n; i++)
		if (has_word(sec, n, r->stopwords.v[i]))
			return 0;
	for (size_t i = 0; i < b->g_stopwords.n; i++)
		if (has_word(sec, n, b->g_stopwords.v[i]))
			return 0;
	for (size_t i = 0; i < r->n_allow_re; i++)
		if (re_finds(r->allow_re[i], sec, n, s->md, s->mctx))
			return 0;
	for (size_t i = 0; i < b->n_g_allow_re; i++)
		if (re_finds(b->g_allow_re[i], sec, n, s->md, s->mctx))
			return 0;
	return 1;
}

/*
 * Runs rule ri's PCRE2 over text[lo, hi) (lookbehind may see before lo),
 * keeping matches that end at or before max_end.
 */
static void confirm(struct pol_scan *s, size_t ri, size_t lo, size_t hi,
		    size_t max_end)
{
	const struct pol_rule *r = &s->b->rules[ri];
	size_t off = lo;

	while (off <= hi && s->r->n < POL_MAX_FINDINGS) {
		PCRE2_SIZE *ov;
		size_t ms, me, gs, ge;
		int rc = pcre2_match(r->re, (PCRE2_SPTR)s->text, hi, off, 0, s->md, s->mctx);

		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			/* Match, depth or JIT-stack limit: a pathological input
			 * for this rule. Give up on this window (retrying from
			 * the next byte would cost the limit once per byte) and
			 * say so; other rules and windows go on. */
			if (s->st == ST_OK)
				s->st = ST_LIMIT;
			break;
		}
		ov = pcre2_get_ovector_pointer(s->md);
		ms = ov[0], me = ov[1];
		if (me > max_end)
			break;
		gs = ms, ge = me;
		if (r->group > 0 && rc > r->group && ov[2 * r->group] != PCRE2_UNSET)
			gs = ov[2 * r->group], ge = ov[2 * r->group + 1];
		if (r->kind != POL_KIND_SECRET || secret_ok(s, r, ms, me, gs, ge))
			pol__add(s, ri, ms, me, gs, ge, NULL);
		off = me > ms ? me : ms + 1;
	}
}

static int path_allowed(const struct pol_scan *s, const struct pol_rule *r)
{
	const char *path = s->ctx ? s->ctx->path : NULL;

	if (!path || r->kind != POL_KIND_SECRET)
		return 0;
	return pol__strs_has(&r->allow_paths, path) ||
	       pol__strs_has(&s->b->g_allow_paths, path);
}

#ifdef AIRLOCK_HAVE_HYPERSCAN
struct region {
	size_t expr, lo, hi, max_end;
};

struct hs_ctx {
	struct pol_scan *s;
	struct vec regions;
	long *open;		/* (n expressions): open region index or -1 */
	int overflow;
};

#define MAX_REGIONS 65536

static int on_hit(unsigned id, unsigned long long from, unsigned long long to,
		  unsigned flags, void *arg)
{
	struct hs_ctx *h = arg;
	struct pol_scan *s = h->s;
	size_t ri = s->b->rx.rules[id];
	const struct pol_rule *r = &s->b->rules[ri];
	size_t lo, hi;

	(void)from, (void)flags;
	if (!s->eff[ri].on)
		return 0;
	lo = to > r->max_len ? (size_t)to - r->max_len : 0;
	hi = to + 64 < s->len ? (size_t)to + 64 : s->len;
	if (h->open[id] >= 0) {
		struct region *g = vec_at(&h->regions, (size_t)h->open[id]);
		if (g->hi >= lo || h->overflow) {
			g->hi = hi > g->hi ? hi : g->hi;
			g->max_end = to;
			return 0;
		}
	}
	if (h->regions.len >= MAX_REGIONS) {
		h->overflow = 1;	/* coarser: extend the open windows */
		if (h->open[id] >= 0) {
			struct region *g = vec_at(&h->regions, (size_t)h->open[id]);
			g->hi = hi, g->max_end = to;
			return 0;
		}
	}
	{
		struct region g = { id, lo, hi, to };
		if (vec_push(&h->regions, &g)) {
			s->st = ST_NOMEM;
			return 1;
		}
		h->open[id] = (long)h->regions.len - 1;
	}
	return 0;
}
#endif

#ifdef AIRLOCK_HAVE_HYPERSCAN
/*
 * Hyperscan 5.4's AVX512VBMI literal matcher (what Debian's libhs runs on
 * such CPUs) reads up to a vector past the end of the text it scans
 * (vectorscan issue 322): a text that ends within HS_OVERREAD bytes of a
 * page boundary, followed by an unmapped page, faulted (the policy-scan
 * fuzz target found it; tests/policy has the case). Such a text is
 * scanned from a copy with that much readable padding.
 */
#define HS_OVERREAD 64
static int hs_tail_unsafe(const char *text, size_t len)
{
	uintptr_t end = (uintptr_t)text + len;
	return (end & 4095) == 0 || (end & 4095) > 4096 - HS_OVERREAD;
}
#endif

void pol__rx_scan(struct pol_scan *s)
{
	const struct pol_bundle *b = s->b;
	const struct pol_rxset *rx = &b->rx;

	if (!rx->n)
		return;
#ifdef AIRLOCK_HAVE_HYPERSCAN
	if (rx->hs_db) {
		struct pol_rxset *mrx = (struct pol_rxset *)rx;
		hs_scratch_t *scr = NULL;
		struct hs_ctx h;
		int any = 0;

		for (size_t k = 0; k < rx->n; k++)
			if (s->eff[rx->rules[k]].on && !path_allowed(s, &b->rules[rx->rules[k]]))
				any = 1;
		if (!any)
			return;
		pthread_mutex_lock(&mrx->lock);
		if (mrx->n_pool)
			scr = mrx->scratch_pool[--mrx->n_pool];
		pthread_mutex_unlock(&mrx->lock);
		if (!scr && hs_clone_scratch(rx->hs_proto, &scr) != HS_SUCCESS) {
			s->st = ST_NOMEM;
			return;
		}
		memset(&h, 0, sizeof h);
		h.s = s;
		vec_init(&h.regions, sizeof(struct region));
		h.open = mem_alloc_array(rx->n, sizeof *h.open);
		if (!h.open) {
			s->st = ST_NOMEM;
		} else {
			for (size_t k = 0; k < rx->n; k++)
				h.open[k] = -1;
			/* Hyperscan takes an unsigned length: scan in pieces
			 * past 3 GiB would be needed; our texts are smaller. */
			const char *text = s->len ? s->text : "";
			char *pad = NULL;
			int scan = s->len < 0xC0000000u;
			if (scan && s->len && hs_tail_unsafe(text, s->len)) {
				if (!(pad = mem_alloc(s->len + HS_OVERREAD))) {
					s->st = ST_NOMEM;
					scan = 0;
				} else {
					memcpy(pad, text, s->len);
					memset(pad + s->len, 0, HS_OVERREAD);
					text = pad;
				}
			}
			if (scan)
				hs_scan(rx->hs_db, text, (unsigned)s->len, 0, scr, on_hit, &h);
			mem_free(pad);
			for (size_t i = 0; i < h.regions.len; i++) {
				struct region *g = vec_at(&h.regions, i);
				size_t ri = rx->rules[g->expr];
				if (!path_allowed(s, &b->rules[ri]))
					confirm(s, ri, g->lo, g->hi, g->max_end);
			}
		}
		mem_free(h.open);
		vec_release(&h.regions);
		pthread_mutex_lock(&mrx->lock);
		if (mrx->n_pool == mrx->cap_pool) {
			size_t nc = mrx->cap_pool ? mrx->cap_pool * 2 : 4;
			void **np = mem_realloc_array(mrx->scratch_pool, nc, sizeof *np);
			if (np) {
				mrx->scratch_pool = np;
				mrx->cap_pool = nc;
			}
		}
		if (mrx->n_pool < mrx->cap_pool) {
			mrx->scratch_pool[mrx->n_pool++] = scr;
			scr = NULL;
		}
		pthread_mutex_unlock(&mrx->lock);
		hs_free_scratch(scr);
		return;
	}
#endif
	for (size_t k = 0; k < rx->n; k++) {
		size_t ri = rx->rules[k];
		if (s->eff[ri].on && !path_allowed(s, &b->rules[ri]))
			confirm(s, ri, 0, s->len, s->len);
	}
}
