/*
 * mem.c - the one place memory is allocated, with fault injection for
 * tests, and arenas for scoped lifetimes.
 */
#include "core/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Fault injection: -1 = off; otherwise allocations left before failing. */
static atomic_long fail_countdown = -1;
static atomic_int fail_once;
static atomic_ulong alloc_count;

void mem_fail_after(long n, int once)
{
	atomic_store(&fail_once, once);
	atomic_store(&fail_countdown, n < 0 ? 0 : n);
}

void mem_fail_reset(void)
{
	atomic_store(&fail_countdown, -1);
}

unsigned long mem_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

/* Returns 1 when this allocation must fail (fault injection). */
static int should_fail(void)
{
	long c;

	atomic_fetch_add(&alloc_count, 1);
	c = atomic_load(&fail_countdown);
	while (c >= 0) {
		if (c == 0) {
			if (atomic_load(&fail_once))
				atomic_store(&fail_countdown, -1);
			return 1;
		}
		if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
			return 0;
	}
	return 0;
}

void *mem_alloc(size_t size)
{
	if (should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *mem_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	if (should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *mem_realloc(void *p, size_t size)
{
	if (should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
}

void *mem_alloc_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return mem_alloc(n * size);
}

void *mem_realloc_array(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return mem_realloc(p, n * size);
}

char *mem_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = mem_alloc(len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

char *mem_strdup(const char *s)
{
	return mem_strndup(s, SIZE_MAX);
}

void mem_free(void *p)
{
	free(p);
}

/* ---- arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t size;	/* usable bytes in data */
	size_t used;
	_Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a, size_t block_size, size_t limit)
{
	memset(a, 0, sizeof *a);
	a->block_size = block_size ? block_size : 64 * 1024;
	a->limit = limit;
}

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->head;
	size_t need = (size + 15) & ~(size_t)15;
	size_t bsize;

	if (need < size)
		return NULL;
	if (!b || b->size - b->used < need) {
		bsize = need > a->block_size ? need : a->block_size;
		if (bsize > SIZE_MAX - sizeof *b)
			return NULL;
		if (a->limit && a->reserved + bsize > a->limit)
			return NULL;
		b = mem_alloc(sizeof *b + bsize);
		if (!b)
			return NULL;
		b->size = bsize;
		b->used = 0;
		/* A big one-off block goes behind the current head so the
		 * head's free space is not wasted. */
		if (a->head && need > a->block_size) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
		a->reserved += bsize;
	}
	b->used += need;
	a->used += need;
	return b->data + b->used - need;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = arena_alloc(a, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = arena_alloc(a, len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, SIZE_MAX);
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;
	char *d;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(d = arena_alloc(a, (size_t)n + 1))) {
		va_end(ap2);
		return NULL;
	}
	vsnprintf(d, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return d;
}

void arena_reset(struct arena *a)
{
	size_t bs = a->block_size, lim = a->limit;

	arena_release(a);
	arena_init(a, bs, lim);
}

void arena_release(struct arena *a)
{
	struct arena_block *b = a->head, *n;

	while (b) {
		n = b->next;
		mem_free(b);
		b = n;
	}
	a->head = NULL;
	a->used = a->reserved = 0;
}
