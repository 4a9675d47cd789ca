/*
 * tpool.c - a fixed pool of worker threads running parallel-for jobs.
 *
 * The caller of tpool_parallel_for works too. Chunks are claimed from an
 * atomic counter, each a share of what is left (run_chunks), so uneven
 * chunks balance themselves. A job is identified by a generation number so
 * a worker never runs the same job twice.
 *
 * Between jobs a worker first spins on the generation for a bounded time
 * (TPOOL_SPIN_NS), then sleeps on a condition variable; the caller waits
 * for the job's end the same way. A decode step of a small model runs a
 * few hundred short jobs back to back, and waking a sleeping thread costs
 * tens of microseconds, which a brief spin avoids. The bound keeps an idle
 * pool from burning a core; while spinning a thread executes PAUSE so a
 * sibling hardware thread keeps its share.
 */
#include "core/core.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long a thread spins for the next job (or a job's end) before it
 * sleeps: long enough to cover the serial gaps between the jobs of one
 * evaluation, short enough that a pool left idle gives its cores back at
 * once. Measured on a 2-core machine shared with other busy processes,
 * 100 us cost a quarter of decode speed (spinning threads burn the time
 * slices the others then take back); 10 us was as fast as not spinning. */
#define TPOOL_SPIN_NS 10000

struct tpool {
	int n;			/* threads including the caller */
	pthread_t *threads;	/* n - 1 workers */
	pthread_mutex_t mu;
	pthread_cond_t wake;	/* a new job or shutdown */
	pthread_cond_t done;	/* the last worker finished its share */
	atomic_uint_fast64_t gen;	/* job generation; bumped under mu */
	atomic_int stop;	/* set under mu */
	atomic_int busy;	/* workers still in the current job */
	int caller_waits;	/* the caller sleeps on done, under mu */
	/* The current job (written before gen is bumped, read after it is
	 * seen: the release/acquire pair on gen orders them). */
	tpool_fn fn;
	void *arg;
	size_t n_items, grain;
	atomic_size_t next;	/* next unclaimed item */
};

struct worker_arg {
	struct tpool *p;
	int id;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Claims and runs chunks of the current job until none are left. Each
 * claim takes 1/(2n) of the items still unclaimed, at least the grain:
 * long chunks first, which a decode step's matrix rows need (each chunk
 * is a sequential stream the prefetchers follow), and ever shorter ones
 * towards the end, so the threads run out of work together instead of
 * one waiting out the other's last long chunk. Against four equal
 * chunks per thread, 2-thread decode measured 1.02-1.13x faster, and the
 * threads fell asleep between jobs 9-32x less often (docs/PERFORMANCE.md,
 * "The pool's shares").
 */
static void run_chunks(struct tpool *p, int id)
{
	size_t b = atomic_load_explicit(&p->next, memory_order_relaxed);
	for (;;) {
		size_t len;
		do {
			if (b >= p->n_items)
				return;
			size_t rem = p->n_items - b;
			len = rem / ((size_t)p->n * 2);
			if (len < p->grain)
				len = p->grain;
			if (len > rem)
				len = rem;
		} while (!atomic_compare_exchange_weak_explicit(&p->next, &b, b + len,
								memory_order_relaxed,
								memory_order_relaxed));
		p->fn(p->arg, b, b + len, id);
		b = atomic_load_explicit(&p->next, memory_order_relaxed);
	}
}

/* Spins until gen differs from seen or stop is set, for at most
 * TPOOL_SPIN_NS; returns nonzero if it did. */
static int spin_for_job(struct tpool *p, uint64_t seen)
{
	uint64_t t0 = 0;
	for (unsigned i = 0;; i++) {
		if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen ||
		    atomic_load_explicit(&p->stop, memory_order_relaxed))
			return 1;
		cpu_relax();
		if ((i & 63) == 63) {
			uint64_t t = now_ns();
			if (!t0)
				t0 = t;
			else if (t - t0 > TPOOL_SPIN_NS)
				return 0;
		}
	}
}

static void *worker_main(void *v)
{
	struct worker_arg *wa = v;
	struct tpool *p = wa->p;
	int id = wa->id;
	uint64_t seen = 0;

	mem_free(wa);
	for (;;) {
		if (!spin_for_job(p, seen)) {
			pthread_mutex_lock(&p->mu);
			while (!atomic_load(&p->stop) && atomic_load(&p->gen) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->stop))
			break;
		seen = atomic_load_explicit(&p->gen, memory_order_acquire);
		run_chunks(p, id);
		if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&p->mu);
			if (p->caller_waits)
				pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
	return NULL;
}

struct tpool *tpool_new(int n_threads)
{
	struct tpool *p;

	if (n_threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = c > 0 ? (int)c : 1;
	}
	p = mem_calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->n = 1;	/* grows as workers start, so tpool_free joins only those */
	atomic_init(&p->gen, 0);
	atomic_init(&p->stop, 0);
	atomic_init(&p->busy, 0);
	atomic_init(&p->next, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	if (n_threads > 1) {
		p->threads = mem_calloc((size_t)n_threads - 1, sizeof *p->threads);
		if (!p->threads) {
			tpool_free(p);
			return NULL;
		}
	}
	for (int i = 1; i < n_threads; i++) {
		struct worker_arg *wa = mem_alloc(sizeof *wa);
		if (!wa || (wa->p = p, wa->id = i,
			    pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0)) {
			mem_free(wa);
			tpool_free(p);
			return NULL;
		}
		p->n = i + 1;
	}
	return p;
}

int tpool_size(const struct tpool *p)
{
	return p ? p->n : 1;
}

void tpool_parallel_for(struct tpool *p, size_t n, size_t grain, tpool_fn fn,
			void *arg)
{
	if (!n)
		return;
	if (!grain)
		grain = 1;
	if (!p || p->n == 1 || n <= grain) {
		fn(arg, 0, n, 0);
		return;
	}
	/* Every worker left the previous job (busy reached 0), so the job
	 * fields are free to rewrite. */
	p->fn = fn;
	p->arg = arg;
	p->n_items = n;
	p->grain = grain;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	atomic_store_explicit(&p->busy, p->n - 1, memory_order_relaxed);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);

	run_chunks(p, 0);

	uint64_t t0 = 0;
	for (unsigned i = 0; atomic_load_explicit(&p->busy, memory_order_acquire) > 0; i++) {
		cpu_relax();
		if ((i & 63) != 63)
			continue;
		uint64_t t = now_ns();
		if (!t0) {
			t0 = t;
		} else if (t - t0 > TPOOL_SPIN_NS) {
			pthread_mutex_lock(&p->mu);
			p->caller_waits = 1;
			while (atomic_load(&p->busy) > 0)
				pthread_cond_wait(&p->done, &p->mu);
			p->caller_waits = 0;
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
}

void tpool_free(struct tpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, 1);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->threads[i - 1], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	mem_free(p->threads);
	mem_free(p);
}
