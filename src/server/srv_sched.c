/*
 * srv_sched.c - one model, many requests: the scheduler.
 *
 * One thread owns the backend. Each step it (1) drops requests whose client
 * went away or whose deadline passed, freeing their slots, (2) moves queued
 * requests into free slots, (3) evaluates one item per busy slot in a
 * single backend call: the next chunk of a prompt (at most batch_tokens) or
 * the one token sampled last step, then (4) samples, streams text and
 * finishes what is done. New requests thus join between steps, and a long
 * prompt is spread over several steps instead of stalling the others.
 *
 * Prompt cache: a slot keeps the tokens whose KV it holds after its request
 * ends. A new request goes to the free slot sharing the longest token prefix
 * with its prompt (ties and misses: the least recently used slot, whose
 * cache is the one given up), and only the rest of its prompt is evaluated.
 * Reuse is limited to slots last used by the same team, so that timing
 * cannot tell one team whether another sent a given prompt.
 *
 * Quotas: per team (users without a team count alone), requests queued or
 * running at once and tokens (prompt + generated) in the last 60 seconds;
 * both are checked when a request is submitted (429 with Retry-After); a
 * request admitted is never cut off by the token quota.
 */
#include "server/server_int.h"
#include "policy/policy.h"

#include <math.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

status_t srv__job_new(const int32_t *prompt, size_t n_prompt,
		      const struct srv_gen_params *gp, int32_t max_tokens,
		      struct srv_job **out)
{
	struct srv_job *j;

	*out = NULL;
	if (n_prompt == 0 || n_prompt > INT32_MAX)
		return ST_INVAL;
	if (!(j = mem_calloc(1, sizeof *j)))
		return ST_NOMEM;
	if (!(j->prompt = mem_alloc_array(n_prompt, sizeof *prompt))) {
		mem_free(j);
		return ST_NOMEM;
	}
	memcpy(j->prompt, prompt, n_prompt * sizeof *prompt);
	j->n_prompt = (int32_t)n_prompt;
	for (size_t i = 0; i < gp->n_stop; i++) {
		if (!(j->stop[i] = mem_strdup(gp->stop[i]))) {
			j->n_stop = i;
			atomic_init(&j->refs, 1);
			pthread_mutex_init(&j->mu, NULL);
			pthread_cond_init(&j->cv, NULL);
			srv__job_unref(j);
			return ST_NOMEM;
		}
	}
	j->n_stop = gp->n_stop;
	j->max_tokens = max_tokens > 0 ? max_tokens : 1;
	j->temperature = gp->temperature;
	j->top_p = gp->top_p;
	j->seed = gp->seed;
	j->slot = -1;
	buf_init(&j->text, 0);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	atomic_init(&j->refs, 1);
	atomic_init(&j->cancelled, 0);
	*out = j;
	return ST_OK;
}

void srv__job_unref(struct srv_job *j)
{
	if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	for (size_t i = 0; i < j->n_stop; i++)
		mem_free(j->stop[i]);
	mem_free(j->prompt);
	pol_guard_free(j->guard);
	buf_release(&j->text);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	mem_free(j);
}

void srv__job_wait_locked(struct srv_job *j, int timeout_ms, int text_wakes)
{
	struct timespec ts;

	pthread_mutex_lock(&j->mu);
	if (j->state == SRV_JOB_DONE || (text_wakes && j->text.len))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	ts.tv_sec += timeout_ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

const char *srv__finish_openai(enum srv_finish f)
{
	switch (f) {
	case SRV_FINISH_STOP: case SRV_FINISH_WORD: return "stop";
	case SRV_FINISH_LENGTH: return "length";
	case SRV_FINISH_CANCELLED: return "cancelled";
	case SRV_FINISH_ERROR: return "error";
	/* OpenAI's name for output stopped by a content filter. */
	case SRV_FINISH_POLICY: return "content_filter";
	default: return "none";
	}
}

/* ------------------------------------------------------------------ */
/* Scheduler state                                                     */
/* ------------------------------------------------------------------ */

#define WINDOW_S 60

struct team_acct {
	int64_t key;			/* team id, or -user id without a team */
	int inflight;			/* queued + running */
	int64_t used[WINDOW_S];		/* tokens counted in each second */
	int64_t stamp[WINDOW_S];	/* the second each bucket belongs to */
};

struct slot {
	struct srv_job *job;		/* NULL: free (its cache remains) */
	struct team_acct *acct;		/* of job */
	int64_t cache_team;		/* team key whose tokens the KV holds */
	int32_t *tokens;		/* (n_ctx) the sequence */
	int32_t n_tokens;		/* tokens in the sequence */
	int32_t n_past;			/* of them, with KV computed */
	int32_t n_prompt;		/* prompt length of job */
	uint64_t last_used;		/* step counter at last use */
	struct srv_rng rng;		/* the scheduler's own sampler */
	void *smp;			/* the backend's sampler, if it has one */
	struct srv_textproc tp;
	int32_t *scratch;		/* (n_vocab) for the scheduler's sampler */
	float *logits;			/* (n_vocab) this step's row of s->logits */
	int32_t drawn;			/* token sampled this step */
	status_t draw_st;		/* and how the draw went */
	struct err draw_err;
	struct buf piece;		/* scratch: bytes of one token */
	struct buf out;			/* scratch: text released this step */
	struct srv_guard_filter gf;	/* the job's token guard, if any */
	float *saved;			/* (n_vocab) logits kept for a redraw by
					 * the scheduler's sampler under a guard */
	struct buf gpiece;		/* scratch: bytes of a candidate token */
};

struct srv_sched {
	struct srv_backend *b;
	struct srv_sched_opts o;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;

	struct srv_job **queue;		/* ring of o.queue_size */
	int q_head, q_len;

	struct slot *slots;		/* (n_slots) */
	int n_slots;
	struct hmap teams;		/* key int64 -> struct team_acct * */

	float *logits;			/* (n_slots, n_vocab), one row per item of
					 * a step, in item order: contiguous, so
					 * a backend may write them in place */
	struct tpool *pool;		/* samples the slots of a step in parallel */
	struct slot **ready;		/* (n_slots) slots to sample this step */
	struct srv_eval_item *items;	/* (n_slots) */
	int *item_slot;			/* (n_slots) */
	struct srv_stats st;
	uint64_t clock;			/* grows at each slot use (LRU order) */
};

static int64_t now_sec(void)
{
	return (int64_t)(time_mono_ns() / 1000000000ull);
}

static int64_t acct_key(const struct srv_identity *w)
{
	return w->team_id ? w->team_id : -w->user_id;
}

static int64_t acct_used(const struct team_acct *a, int64_t now)
{
	int64_t sum = 0;

	for (int i = 0; i < WINDOW_S; i++)
		if (a->stamp[i] > now - WINDOW_S)
			sum += a->used[i];
	return sum;
}

static void acct_add(struct team_acct *a, int64_t tokens)
{
	int64_t now = now_sec();
	int i = (int)(now % WINDOW_S);

	if (!a)
		return;
	if (a->stamp[i] != now) {
		a->stamp[i] = now;
		a->used[i] = 0;
	}
	a->used[i] += tokens;
}

/* Seconds until enough of the window has passed for usage to drop below
 * limit; at least 1. */
static int acct_retry_after(const struct team_acct *a, int64_t limit,
			    int64_t now)
{
	int64_t used = acct_used(a, now);

	for (int64_t t = now - WINDOW_S + 1; t <= now; t++) {
		int i = (int)(((t % WINDOW_S) + WINDOW_S) % WINDOW_S);
		if (a->stamp[i] == t)
			used -= a->used[i];
		if (used < limit)
			return (int)(t - (now - WINDOW_S));
	}
	return WINDOW_S;
}

static struct team_acct *acct_get(struct srv_sched *s, int64_t key)
{
	void *v = NULL;
	struct team_acct *a;

	if (hmap_get(&s->teams, &key, sizeof key, &v) == ST_OK)
		return v;
	if (!(a = mem_calloc(1, sizeof *a)))
		return NULL;
	a->key = key;
	if (hmap_put(&s->teams, &key, sizeof key, a) != ST_OK) {
		mem_free(a);
		return NULL;
	}
	return a;
}

/* ------------------------------------------------------------------ */
/* Finishing                                                           */
/* ------------------------------------------------------------------ */

/* Marks j done with f (and e's message for errors); drops the scheduler's
 * reference. Called with s->mu held. */
static void job_finish(struct srv_sched *s, struct srv_job *j,
		       struct team_acct *a, enum srv_finish f,
		       const struct err *e, struct srv_textproc *tp)
{
	pthread_mutex_lock(&j->mu);
	if (tp && f != SRV_FINISH_ERROR && f != SRV_FINISH_CANCELLED)
		srv__textproc_flush(tp, &j->text);
	j->finish = f;
	if (e)
		j->error = *e;
	j->state = SRV_JOB_DONE;
	j->t_done_ns = time_mono_ns();
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (a && a->inflight > 0)
		a->inflight--;
	if (f == SRV_FINISH_CANCELLED)
		s->st.requests_cancelled++;
	else
		s->st.requests_done++;
	srv__job_unref(j);
}

static void slot_finish(struct srv_sched *s, struct slot *sl, enum srv_finish f,
			const struct err *e)
{
	job_finish(s, sl->job, sl->acct, f, e, &sl->tp);
	srv__textproc_release(&sl->tp);
	if (sl->smp)
		s->b->ops->sampler_free(s->b->impl, sl->smp);
	sl->smp = NULL;
	sl->job = NULL;
	sl->acct = NULL;
	/* Generated tokens past n_past have no KV; the cache ends there. */
	sl->n_tokens = sl->n_past;
}

/* Fails or cancels what the client abandoned or the clock ran out on. */
static void reap(struct srv_sched *s)
{
	uint64_t now = time_mono_ns();
	struct err e;

	for (int i = 0; i < s->n_slots; i++) {
		struct slot *sl = &s->slots[i];
		if (!sl->job)
			continue;
		if (atomic_load(&sl->job->cancelled)) {
			slot_finish(s, sl, SRV_FINISH_CANCELLED, NULL);
		} else if (sl->job->deadline_ns && now >= sl->job->deadline_ns) {
			err_set(&e, ST_TIMEOUT, "the request passed its deadline");
			slot_finish(s, sl, SRV_FINISH_ERROR, &e);
		}
	}
	for (int k = 0; k < s->q_len;) {
		int at = (s->q_head + k) % s->o.queue_size;
		struct srv_job *j = s->queue[at];
		int drop = atomic_load(&j->cancelled) ||
			   (j->deadline_ns && now >= j->deadline_ns);
		if (!drop) {
			k++;
			continue;
		}
		if (atomic_load(&j->cancelled)) {
			job_finish(s, j, acct_get(s, acct_key(&j->who)),
				   SRV_FINISH_CANCELLED, NULL, NULL);
		} else {
			err_set(&e, ST_TIMEOUT, "the request passed its deadline while queued");
			job_finish(s, j, acct_get(s, acct_key(&j->who)),
				   SRV_FINISH_ERROR, &e, NULL);
		}
		/* Close the gap: shift the later entries down by one. */
		for (int m = k; m + 1 < s->q_len; m++)
			s->queue[(s->q_head + m) % s->o.queue_size] =
				s->queue[(s->q_head + m + 1) % s->o.queue_size];
		s->q_len--;
	}
}

/* ------------------------------------------------------------------ */
/* Admission                                                           */
/* ------------------------------------------------------------------ */

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b,
			     int32_t nb)
{
	int32_t i = 0, n = na < nb ? na : nb;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* The free slot for j: longest reusable prefix, then least recently used. */
static int pick_slot(struct srv_sched *s, const struct srv_job *j,
		     int32_t *lcp_out)
{
	int best = -1;
	int32_t best_lcp = -1;
	int64_t key = acct_key(&j->who);

	for (int i = 0; i < s->n_slots; i++) {
		struct slot *sl = &s->slots[i];
		int32_t lcp = 0;
		if (sl->job)
			continue;
		if (s->o.prompt_cache && sl->cache_team == key)
			lcp = common_prefix(sl->tokens, sl->n_past, j->prompt,
					    j->n_prompt);
		if (lcp > best_lcp ||
		    (lcp == best_lcp && sl->last_used < s->slots[best].last_used)) {
			best = i;
			best_lcp = lcp;
		}
	}
	*lcp_out = best_lcp < 0 ? 0 : best_lcp;
	return best;
}

static void admit(struct srv_sched *s)
{
	while (s->q_len > 0) {
		struct srv_job *j = s->queue[s->q_head];
		int32_t lcp;
		int i = pick_slot(s, j, &lcp);
		struct slot *sl;

		if (i < 0)
			return;
		s->q_head = (s->q_head + 1) % s->o.queue_size;
		s->q_len--;
		sl = &s->slots[i];
		/* At least one prompt token must be evaluated to get logits. */
		if (lcp >= j->n_prompt)
			lcp = j->n_prompt - 1;
		memcpy(sl->tokens, j->prompt, (size_t)j->n_prompt * sizeof *j->prompt);
		sl->n_tokens = j->n_prompt;
		sl->n_prompt = j->n_prompt;
		sl->n_past = lcp;
		sl->job = j;
		sl->acct = acct_get(s, acct_key(&j->who));
		sl->cache_team = acct_key(&j->who);
		sl->last_used = ++s->clock;
		srv__rng_seed(&sl->rng, j->seed);
		srv__textproc_init(&sl->tp, (const char *const *)j->stop, j->n_stop);
		sl->smp = NULL;
		if (s->b->ops->sampler_new) {
			struct err e;
			err_clear(&e);
			if (s->b->ops->sampler_new(s->b->impl, j->temperature, j->top_p,
						   j->seed, &sl->smp, &e) != ST_OK) {
				sl->smp = NULL;
				slot_finish(s, sl, SRV_FINISH_ERROR, &e);
				continue;
			}
		}
		sl->gf.b = s->b;
		sl->gf.g = j->guard;
		if (j->guard && sl->smp && s->b->ops->sampler_set_filter)
			s->b->ops->sampler_set_filter(s->b->impl, sl->smp,
						      srv__guard_accept, &sl->gf);
		if (j->guard && !sl->smp && !sl->saved &&
		    !(sl->saved = mem_alloc_array((size_t)s->b->n_vocab,
						  sizeof *sl->saved))) {
			struct err e;
			err_set(&e, ST_NOMEM, "out of memory");
			slot_finish(s, sl, SRV_FINISH_ERROR, &e);
			continue;
		}
		s->st.prompt_tokens_cached += (uint64_t)lcp;
		pthread_mutex_lock(&j->mu);
		j->state = SRV_JOB_RUNNING;
		j->slot = i;
		j->n_cached = lcp;
		pthread_mutex_unlock(&j->mu);
	}
}

status_t srv__sched_submit(struct srv_sched *s, struct srv_job *j,
			   int *retry_after_s, struct err *e)
{
	struct team_acct *a;
	int64_t max_conc, tpm, now = now_sec();
	status_t st = ST_OK;

	*retry_after_s = 0;
	if (j->n_prompt + 1 > s->b->n_ctx)
		return err_set(e, ST_LIMIT,
			       "the prompt has %d tokens; the context holds %d"
			       " (at least one must remain for the output)",
			       (int)j->n_prompt, (int)s->b->n_ctx);
	max_conc = j->who.team_max_concurrent ? j->who.team_max_concurrent :
		s->o.team_max_concurrent;
	tpm = j->who.team_tokens_per_minute ? j->who.team_tokens_per_minute :
		s->o.team_tokens_per_minute;
	pthread_mutex_lock(&s->mu);
	if (s->stop) {
		st = err_set(e, ST_CANCELLED, "the server is shutting down");
		goto out;
	}
	if (!(a = acct_get(s, acct_key(&j->who)))) {
		st = err_set(e, ST_NOMEM, "out of memory");
		goto out;
	}
	if (max_conc > 0 && a->inflight >= max_conc) {
		*retry_after_s = 1;
		s->st.requests_rejected++;
		st = err_set(e, ST_BUSY, "team '%s' has %d requests in progress,"
			     " its limit", j->who.team[0] ? j->who.team : j->who.user,
			     a->inflight);
		goto out;
	}
	if (tpm > 0 && acct_used(a, now) >= tpm) {
		*retry_after_s = acct_retry_after(a, tpm, now);
		s->st.requests_rejected++;
		st = err_set(e, ST_BUSY, "team '%s' used its %lld tokens per minute",
			     j->who.team[0] ? j->who.team : j->who.user,
			     (long long)tpm);
		goto out;
	}
	if (s->q_len >= s->o.queue_size) {
		*retry_after_s = 1;
		s->st.requests_rejected++;
		st = err_set(e, ST_BUSY, "the server is busy: %d requests are queued",
			     s->q_len);
		goto out;
	}
	atomic_fetch_add(&j->refs, 1);
	j->t_submit_ns = time_mono_ns();
	s->queue[(s->q_head + s->q_len) % s->o.queue_size] = j;
	s->q_len++;
	a->inflight++;
	acct_add(a, j->n_prompt);
	pthread_cond_signal(&s->cv);
out:
	pthread_mutex_unlock(&s->mu);
	return st;
}

void srv__sched_kick(struct srv_sched *s)
{
	pthread_mutex_lock(&s->mu);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ */
/* Steps                                                               */
/* ------------------------------------------------------------------ */

/* 1 when the job's guard lets sl emit tok. */
static int slot_accepts(struct srv_sched *s, struct slot *sl, int32_t tok)
{
	buf_reset(&sl->gpiece);
	if (s->b->ops->token_piece(s->b->impl, tok, &sl->gpiece) != ST_OK)
		return 0;
	return srv__guard_accept(&sl->gf, tok, sl->gpiece.data ? sl->gpiece.data : "",
				 sl->gpiece.len);
}

/*
 * The scheduler's own sampler under a token guard: the drawn token is
 * checked first; only when it is refused is every token judged, the
 * refused ones masked and the draw repeated (srv__sample turns logits into
 * weights in place, hence the saved copy). Every token refused: ST_DENIED.
 */
static void slot_draw_guarded(struct srv_sched *s, struct slot *sl, float *logits)
{
	struct srv_job *j = sl->job;
	int32_t n = s->b->n_vocab, ok = 0;

	memcpy(sl->saved, logits, (size_t)n * sizeof *logits);
	sl->drawn = srv__sample(logits, n, j->temperature, j->top_p, &sl->rng,
				sl->scratch);
	if (slot_accepts(s, sl, sl->drawn))
		return;
	for (int32_t t = 0; t < n; t++) {
		if (slot_accepts(s, sl, t)) {
			logits[t] = sl->saved[t];
			ok++;
		} else {
			logits[t] = -INFINITY;
		}
	}
	if (!ok) {
		const char *rule = pol_guard_last_rule(j->guard);
		sl->draw_st = err_set(&sl->draw_err, ST_DENIED,
				      "every token was refused by policy rule %s",
				      rule ? rule : "(unknown)");
		return;
	}
	sl->drawn = srv__sample(logits, n, j->temperature, j->top_p, &sl->rng,
				sl->scratch);
}

/*
 * Picks slot sl's next token from its logits into sl->drawn (sl->draw_st
 * says how it went). Touches nothing but sl: the slots of a step are drawn
 * in parallel, without s->mu.
 */
static void slot_draw(struct srv_sched *s, struct slot *sl)
{
	struct srv_job *j = sl->job;
	float *logits = sl->logits;

	sl->draw_st = ST_OK;
	if (sl->smp) {
		err_clear(&sl->draw_err);
		sl->draw_st = s->b->ops->sampler_sample(s->b->impl, sl->smp, logits,
							&sl->drawn, &sl->draw_err);
		if (sl->draw_st == ST_OK)
			s->b->ops->sampler_accept(s->b->impl, sl->smp, sl->drawn);
	} else if (!j->guard) {
		sl->drawn = srv__sample(logits, s->b->n_vocab, j->temperature,
					j->top_p, &sl->rng, sl->scratch);
	} else {
		slot_draw_guarded(s, sl, logits);
	}
}

static void draw_range(void *arg, size_t begin, size_t end, int worker)
{
	struct srv_sched *s = arg;

	(void)worker;
	for (size_t i = begin; i < end; i++)
		slot_draw(s, s->ready[i]);
}

/* Streams the token drawn for slot sl and maybe finishes its request.
 * Called with s->mu held. */
static void slot_token(struct srv_sched *s, struct slot *sl)
{
	struct srv_job *j = sl->job;
	int32_t tok = sl->drawn;
	int eog;
	status_t st = ST_OK;

	if (sl->draw_st == ST_DENIED && j->guard) {
		/* Every token would complete a banned literal: the output ends
		 * here, and the decision is the guard's. */
		const char *rule = pol_guard_last_rule(j->guard);
		struct err e;
		err_set(&e, ST_DENIED, "generation stopped: every possible next token"
			" was refused by policy rule %s", rule ? rule : "(unknown)");
		LOG_INFO("server.policy", LF_STR("id", j->id),
			 LF_STR("rule", rule ? rule : ""), LF_STR("action", "block"),
			 LF_STR("where", "sampling"));
		slot_finish(s, sl, SRV_FINISH_POLICY, &e);
		return;
	}
	if (sl->draw_st != ST_OK) {
		slot_finish(s, sl, SRV_FINISH_ERROR, &sl->draw_err);
		return;
	}
	eog = s->b->ops->token_is_eog(s->b->impl, tok);
	buf_reset(&sl->out);
	if (!eog) {
		buf_reset(&sl->piece);
		st = s->b->ops->token_piece(s->b->impl, tok, &sl->piece);
		if (st == ST_OK && j->guard)
			pol_guard_advance(j->guard, sl->piece.data ? sl->piece.data : "",
					  sl->piece.len);
		if (st == ST_OK && sl->piece.len)
			st = srv__textproc_feed(&sl->tp, sl->piece.data,
						sl->piece.len, &sl->out);
	}
	s->st.generated_tokens++;
	acct_add(sl->acct, 1);
	pthread_mutex_lock(&j->mu);
	if (!j->t_first_ns)
		j->t_first_ns = time_mono_ns();
	j->n_gen++;
	if (st == ST_OK && sl->out.len)
		st = buf_append(&j->text, sl->out.data, sl->out.len);
	if (sl->out.len)
		pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (st != ST_OK) {
		struct err e;
		err_set(&e, st, "generating text: %s", status_str(st));
		slot_finish(s, sl, SRV_FINISH_ERROR, &e);
	} else if (eog) {
		slot_finish(s, sl, SRV_FINISH_STOP, NULL);
	} else if (sl->tp.stopped) {
		slot_finish(s, sl, SRV_FINISH_WORD, NULL);
	} else if (j->n_gen >= j->max_tokens || sl->n_tokens + 1 > s->b->n_ctx) {
		slot_finish(s, sl, SRV_FINISH_LENGTH, NULL);
	} else {
		sl->tokens[sl->n_tokens++] = tok;
	}
}

static void step(struct srv_sched *s, int n_items)
{
	struct err e;
	status_t st;
	int n_ready = 0;

	err_clear(&e);
	pthread_mutex_unlock(&s->mu);
	st = s->b->ops->eval(s->b->impl, s->items, (size_t)n_items, &e);
	pthread_mutex_lock(&s->mu);
	s->st.steps++;
	for (int k = 0; k < n_items; k++) {
		struct slot *sl = &s->slots[s->item_slot[k]];
		if (st != ST_OK) {
			/* The KV of this slot is unknown now: forget the cache. */
			sl->n_past = 0;
			slot_finish(s, sl, SRV_FINISH_ERROR, &e);
			continue;
		}
		sl->n_past += s->items[k].n_tokens;
		sl->last_used = ++s->clock;
		if (sl->n_past < sl->n_prompt) {
			s->st.prompt_tokens += (uint64_t)s->items[k].n_tokens;
			continue;
		}
		if (sl->n_past == sl->n_prompt) {
			s->st.prompt_tokens += (uint64_t)s->items[k].n_tokens;
			pthread_mutex_lock(&sl->job->mu);
			sl->job->t_prompt_done_ns = time_mono_ns();
			pthread_mutex_unlock(&sl->job->mu);
		}
		s->ready[n_ready++] = sl;
	}
	if (n_ready == 0)
		return;
	/*
	 * Sampling a large vocabulary costs milliseconds per slot: the slots
	 * are independent (own sampler, own logits, own scratch), so they are
	 * drawn in parallel, without the lock, as the eval was.
	 */
	pthread_mutex_unlock(&s->mu);
	tpool_parallel_for(n_ready > 1 ? s->pool : NULL, (size_t)n_ready, 1,
			   draw_range, s);
	pthread_mutex_lock(&s->mu);
	for (int k = 0; k < n_ready; k++)
		slot_token(s, s->ready[k]);
}

static void *sched_main(void *arg)
{
	struct srv_sched *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		int n = 0;

		reap(s);
		admit(s);
		for (int i = 0; i < s->n_slots; i++) {
			struct slot *sl = &s->slots[i];
			int32_t todo;
			if (!sl->job)
				continue;
			todo = sl->n_tokens - sl->n_past;
			if (todo > s->o.batch_tokens)
				todo = s->o.batch_tokens;
			s->items[n] = (struct srv_eval_item){
				.slot = i,
				.tokens = sl->tokens + sl->n_past,
				.n_tokens = todo,
				.pos = sl->n_past,
				.logits = s->logits + (size_t)n * (size_t)s->b->n_vocab,
			};
			sl->logits = s->items[n].logits;
			s->item_slot[n++] = i;
		}
		if (n == 0) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		step(s, n);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

status_t srv__sched_new(struct srv_backend *b, const struct srv_sched_opts *o,
			struct srv_sched **out, struct err *e)
{
	struct srv_sched *s;

	*out = NULL;
	if (!b || b->n_slots < 1 || b->n_vocab < 1 || b->n_ctx < 2)
		return err_set(e, ST_INVAL, "backend: needs slots, a vocabulary and a context");
	if (!(s = mem_calloc(1, sizeof *s)))
		return err_set(e, ST_NOMEM, "out of memory");
	s->b = b;
	s->o = *o;
	if (s->o.queue_size < 1)
		s->o.queue_size = 1;
	if (s->o.batch_tokens < 1)
		s->o.batch_tokens = 512;
	s->n_slots = b->n_slots;
	hmap_init(&s->teams);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->queue = mem_calloc((size_t)s->o.queue_size, sizeof *s->queue);
	s->slots = mem_calloc((size_t)s->n_slots, sizeof *s->slots);
	s->logits = mem_alloc_array((size_t)s->n_slots * (size_t)b->n_vocab,
				    sizeof *s->logits);
	s->ready = mem_calloc((size_t)s->n_slots, sizeof *s->ready);
	s->items = mem_calloc((size_t)s->n_slots, sizeof *s->items);
	s->item_slot = mem_calloc((size_t)s->n_slots, sizeof *s->item_slot);
	if (!s->queue || !s->slots || !s->logits || !s->ready || !s->items ||
	    !s->item_slot)
		goto nomem;
	for (int i = 0; i < s->n_slots; i++) {
		struct slot *sl = &s->slots[i];
		buf_init(&sl->piece, 0);
		buf_init(&sl->out, 0);
		buf_init(&sl->gpiece, 0);
		sl->cache_team = INT64_MIN;
		if (!(sl->tokens = mem_alloc_array((size_t)b->n_ctx, sizeof *sl->tokens)))
			goto nomem;
		if (!b->ops->sampler_new &&
		    !(sl->scratch = mem_alloc_array((size_t)b->n_vocab, sizeof *sl->scratch)))
			goto nomem;
	}
	s->st.slots_total = s->n_slots;
	/* No more threads than slots can use; 1 means "sample inline". */
	{
		int nt = o->threads > 0 ? o->threads : 0;
		if (nt <= 0)
			nt = (int)sysconf(_SC_NPROCESSORS_ONLN);
		if (nt > s->n_slots)
			nt = s->n_slots;
		if (nt > 1 && !(s->pool = tpool_new(nt)))
			goto nomem;
	}
	if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
		srv__sched_free(s);
		return err_set(e, ST_IO, "cannot start the scheduler thread");
	}
	s->started = 1;
	*out = s;
	return ST_OK;
nomem:
	srv__sched_free(s);
	return err_set(e, ST_NOMEM, "out of memory for the scheduler");
}

void srv__sched_stop(struct srv_sched *s)
{
	struct err e;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->started) {
		pthread_join(s->thread, NULL);
		s->started = 0;
	}
	/* The thread is gone; the lock keeps readers of the stats consistent. */
	pthread_mutex_lock(&s->mu);
	err_set(&e, ST_CANCELLED, "the server is shutting down");
	for (int i = 0; s->slots && i < s->n_slots; i++)
		if (s->slots[i].job)
			slot_finish(s, &s->slots[i], SRV_FINISH_ERROR, &e);
	for (; s->queue && s->q_len > 0; s->q_len--) {
		struct srv_job *j = s->queue[s->q_head];
		s->q_head = (s->q_head + 1) % s->o.queue_size;
		job_finish(s, j, NULL, SRV_FINISH_ERROR, &e, NULL);
	}
	pthread_mutex_unlock(&s->mu);
}

void srv__sched_free(struct srv_sched *s)
{
	size_t it = 0;
	const void *k;
	size_t kl;
	void *v;

	if (!s)
		return;
	srv__sched_stop(s);
	for (int i = 0; s->slots && i < s->n_slots; i++) {
		buf_release(&s->slots[i].piece);
		buf_release(&s->slots[i].out);
		buf_release(&s->slots[i].gpiece);
		mem_free(s->slots[i].saved);
		mem_free(s->slots[i].tokens);
		mem_free(s->slots[i].scratch);
	}
	while (hmap_next(&s->teams, &it, &k, &kl, &v))
		mem_free(v);
	hmap_release(&s->teams);
	mem_free(s->queue);
	mem_free(s->slots);
	mem_free(s->logits);
	mem_free(s->ready);
	tpool_free(s->pool);
	mem_free(s->items);
	mem_free(s->item_slot);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	mem_free(s);
}

void srv__sched_stats(struct srv_sched *s, struct srv_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	out->queued = s->q_len;
	out->slots_busy = 0;
	for (int i = 0; i < s->n_slots; i++)
		out->slots_busy += s->slots[i].job != NULL;
	pthread_mutex_unlock(&s->mu);
}

int srv__sched_slots(struct srv_sched *s, struct srv_slot_info *out, int n)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n_slots && i < n; i++) {
		out[i].busy = s->slots[i].job != NULL;
		out[i].n_cached = s->slots[i].n_past;
		str_copy(out[i].job_id, s->slots[i].job ? s->slots[i].job->id : "",
			 sizeof out[i].job_id);
	}
	pthread_mutex_unlock(&s->mu);
	return s->n_slots;
}
