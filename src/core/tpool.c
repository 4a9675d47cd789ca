/*
 * tpool.c - a fixed pool of worker threads running parallel-for jobs.
 *
 * The caller of tpool_parallel_for works too. Chunks are claimed from an
 * atomic counter so uneven chunks balance themselves. Workers wait on a
 * condition variable between jobs; a job is identified by a generation
 * number so a worker never runs the same job twice.
 */
#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct tpool {
	int n;			/* threads including the caller */
	pthread_t *threads;	/* n - 1 workers */
	pthread_mutex_t mu;
	pthread_cond_t wake;	/* a new job or shutdown */
	pthread_cond_t done;	/* a worker finished its share */
	uint64_t gen;		/* job generation, under mu */
	int stop;		/* under mu */
	int busy;		/* workers still in the current job, under mu */
	/* The current job (written under mu before gen is bumped). */
	tpool_fn fn;
	void *arg;
	size_t n_items, chunk;
	atomic_size_t next;	/* next unclaimed item */
};

struct worker_arg {
	struct tpool *p;
	int id;
};

/* Claims and runs chunks of the current job until none are left. */
static void run_chunks(struct tpool *p, int id)
{
	for (;;) {
		size_t b = atomic_fetch_add(&p->next, p->chunk);
		if (b >= p->n_items)
			break;
		size_t e = b + p->chunk;
		if (e > p->n_items || e < b)
			e = p->n_items;
		p->fn(p->arg, b, e, id);
	}
}

static void *worker_main(void *v)
{
	struct worker_arg *wa = v;
	struct tpool *p = wa->p;
	int id = wa->id;
	uint64_t seen = 0;

	mem_free(wa);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		run_chunks(p, id);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
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
	size_t chunk;

	if (!n)
		return;
	if (!grain)
		grain = 1;
	if (!p || p->n == 1 || n <= grain) {
		fn(arg, 0, n, 0);
		return;
	}
	/* About four chunks per thread balances uneven work cheaply. */
	chunk = (n + (size_t)p->n * 4 - 1) / ((size_t)p->n * 4);
	if (chunk < grain)
		chunk = grain;
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->n_items = n;
	p->chunk = chunk;
	atomic_store(&p->next, 0);
	p->busy = p->n - 1;
	p->gen++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);

	run_chunks(p, 0);

	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void tpool_free(struct tpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
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
