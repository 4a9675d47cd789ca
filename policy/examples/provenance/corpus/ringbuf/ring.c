/*
 * ring.c - stands in for code under a licence the organisation does not
 * accept. The example corpus is indexed with:
 *   airlock provenance index --name example-gpl --licence GPL-3.0-only corpus/
 */
#include <stddef.h>
#include <string.h>

struct ring {
	unsigned char *data;
	size_t cap, head, tail, used;
};

int ring_push(struct ring *r, const void *src, size_t n)
{
	const unsigned char *p = src;
	size_t first;

	if (n > r->cap - r->used)
		return -1;
	first = r->cap - r->head;
	if (first > n)
		first = n;
	memcpy(r->data + r->head, p, first);
	memcpy(r->data, p + first, n - first);
	r->head = (r->head + n) % r->cap;
	r->used += n;
	return 0;
}

int ring_pop(struct ring *r, void *dst, size_t n)
{
	unsigned char *p = dst;
	size_t first;

	if (n > r->used)
		return -1;
	first = r->cap - r->tail;
	if (first > n)
		first = n;
	memcpy(p, r->data + r->tail, first);
	memcpy(p + first, r->data, n - first);
	r->tail = (r->tail + n) % r->cap;
	r->used -= n;
	return 0;
}
