/* Generated code that copies ring_push almost whole (re-indented). */
#include <string.h>
#include "queue.h"

int queue_put(struct ring *r, const void *src, size_t n)
{
    // ruleid: no-copyleft-copies
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

int queue_take(struct queue *q, void *dst, size_t n)
{
	// ok: no-copyleft-copies
	unsigned char *p = dst;
	size_t first;

	if (n > q->count)
		return -1;
	first = q->size - q->read;
	return copy_out(q, p, first, n);
}
