/*
 * buf.c - bounded growable byte buffers, vectors, and a string-keyed hash
 * map (open addressing, linear probing, tombstones).
 */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

/* ---- buf ---- */

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max ? max : BUF_MAX_DEFAULT;
}

status_t buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return ST_LIMIT;
	need = b->len + extra + 1;	/* + NUL */
	if (need <= b->cap)
		return ST_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = mem_realloc(b->data, ncap);
	if (!p)
		return ST_NOMEM;
	b->data = p;
	b->cap = ncap;
	return ST_OK;
}

status_t buf_append(struct buf *b, const void *p, size_t n)
{
	status_t st = buf_reserve(b, n);

	if (st != ST_OK)
		return st;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return ST_OK;
}

status_t buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

status_t buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

status_t buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	status_t st;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return ST_INVAL;
	st = buf_reserve(b, (size_t)n);
	if (st != ST_OK)
		return st;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return ST_OK;
}

status_t buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	status_t st;

	va_start(ap, fmt);
	st = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return st;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

const char *buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (!p)
		p = mem_strdup("");
	if (len)
		*len = p ? b->len : 0;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void buf_release(struct buf *b)
{
	mem_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- vec ---- */

void vec_init(struct vec *v, size_t elem_size)
{
	v->data = NULL;
	v->len = v->cap = 0;
	v->elem = elem_size;
}

status_t vec_reserve(struct vec *v, size_t n)
{
	size_t ncap;
	void *p;

	if (n <= v->cap)
		return ST_OK;
	ncap = v->cap ? v->cap : 8;
	while (ncap < n) {
		if (ncap > SIZE_MAX / 2)
			return ST_NOMEM;
		ncap *= 2;
	}
	p = mem_realloc_array(v->data, ncap, v->elem);
	if (!p)
		return ST_NOMEM;
	v->data = p;
	v->cap = ncap;
	return ST_OK;
}

status_t vec_push(struct vec *v, const void *p)
{
	status_t st;

	if (v->len == v->cap && (st = vec_reserve(v, v->len + 1)) != ST_OK)
		return st;
	memcpy((char *)v->data + v->len * v->elem, p, v->elem);
	v->len++;
	return ST_OK;
}

void *vec_at(const struct vec *v, size_t i)
{
	return i < v->len ? (char *)v->data + i * v->elem : NULL;
}

void vec_release(struct vec *v)
{
	mem_free(v->data);
	v->data = NULL;
	v->len = v->cap = 0;
}

/* ---- binary heap ---- */

void heap_init(struct heap *h, size_t elem_size,
	       int (*before)(const void *x, const void *y))
{
	h->a = NULL;
	h->n = h->cap = 0;
	h->elem = elem_size;
	h->before = before;
}

#define HEAP_AT(h, i) ((char *)(h)->a + (i) * (h)->elem)

status_t heap_push(struct heap *h, const void *p)
{
	size_t i;

	/* One spare slot past n holds an item while it moves. */
	if (h->n + 1 >= h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		void *na = mem_realloc_array(h->a, cap, h->elem);
		if (!na)
			return ST_NOMEM;
		h->a = na;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!h->before(p, HEAP_AT(h, up)))
			break;
		memcpy(HEAP_AT(h, i), HEAP_AT(h, up), h->elem);
		i = up;
	}
	memcpy(HEAP_AT(h, i), p, h->elem);
	return ST_OK;
}

int heap_pop(struct heap *h, void *p)
{
	char *last;
	size_t i = 0;

	if (!h->n)
		return 0;
	memcpy(p, HEAP_AT(h, 0), h->elem);
	h->n--;
	if (!h->n)
		return 1;
	/* Sift the last item down from the root. */
	last = HEAP_AT(h, h->n + 1);
	memcpy(last, HEAP_AT(h, h->n), h->elem);
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->before(HEAP_AT(h, c + 1), HEAP_AT(h, c)))
			c++;
		if (!h->before(HEAP_AT(h, c), last))
			break;
		memcpy(HEAP_AT(h, i), HEAP_AT(h, c), h->elem);
		i = c;
	}
	memcpy(HEAP_AT(h, i), last, h->elem);
	return 1;
}

void heap_clear(struct heap *h)
{
	h->n = 0;
}

void heap_release(struct heap *h)
{
	mem_free(h->a);
	h->a = NULL;
	h->n = h->cap = 0;
}

/* ---- hash map ---- */

struct hmap_entry {
	char *key;	/* NULL: empty; TOMB: deleted */
	size_t klen;
	uint64_t hash;
	void *val;
};

static char tomb_marker;
#define TOMB (&tomb_marker)

uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	/* Final avalanche (splitmix64) so low bits are usable as an index. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

void hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof *m);
}

static struct hmap_entry *hmap_find(const struct hmap *m, const void *key,
				    size_t klen, uint64_t h)
{
	size_t i, mask;

	if (!m->cap)
		return NULL;
	mask = m->cap - 1;
	for (i = h & mask;; i = (i + 1) & mask) {
		struct hmap_entry *s = &m->slots[i];
		if (!s->key)
			return NULL;
		if (s->key != TOMB && s->hash == h && s->klen == klen &&
		    memcmp(s->key, key, klen) == 0)
			return s;
	}
}

static status_t hmap_grow(struct hmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct hmap_entry *ns, *old = m->slots;
	size_t ocap = m->cap;

	/* Rehash in place of the same size when tombstones dominate. */
	if (m->cap && m->len < m->cap / 4)
		ncap = m->cap;
	ns = mem_calloc(ncap, sizeof *ns);
	if (!ns)
		return ST_NOMEM;
	for (size_t i = 0; i < ocap; i++) {
		struct hmap_entry *s = &old[i];
		size_t j;
		if (!s->key || s->key == TOMB)
			continue;
		for (j = s->hash & (ncap - 1); ns[j].key; j = (j + 1) & (ncap - 1))
			;
		ns[j] = *s;
	}
	mem_free(old);
	m->slots = ns;
	m->cap = ncap;
	m->tombs = 0;
	return ST_OK;
}

status_t hmap_put(struct hmap *m, const void *key, size_t klen, void *val)
{
	uint64_t h = hash_bytes(key, klen);
	struct hmap_entry *s = hmap_find(m, key, klen, h);
	size_t i, mask;
	char *k;
	status_t st;

	if (s) {
		s->val = val;
		return ST_OK;
	}
	if ((m->len + m->tombs + 1) * 4 > m->cap * 3 &&
	    (st = hmap_grow(m)) != ST_OK)
		return st;
	k = mem_alloc(klen + 1);
	if (!k)
		return ST_NOMEM;
	memcpy(k, key, klen);
	k[klen] = 0;
	mask = m->cap - 1;
	for (i = h & mask; m->slots[i].key && m->slots[i].key != TOMB;
	     i = (i + 1) & mask)
		;
	if (m->slots[i].key == TOMB)
		m->tombs--;
	m->slots[i] = (struct hmap_entry){ k, klen, h, val };
	m->len++;
	return ST_OK;
}

status_t hmap_get(const struct hmap *m, const void *key, size_t klen, void **val)
{
	struct hmap_entry *s = hmap_find(m, key, klen, hash_bytes(key, klen));

	if (!s)
		return ST_NOTFOUND;
	if (val)
		*val = s->val;
	return ST_OK;
}

status_t hmap_del(struct hmap *m, const void *key, size_t klen)
{
	struct hmap_entry *s = hmap_find(m, key, klen, hash_bytes(key, klen));

	if (!s)
		return ST_NOTFOUND;
	mem_free(s->key);
	s->key = TOMB;
	s->val = NULL;
	m->len--;
	m->tombs++;
	return ST_OK;
}

int hmap_next(const struct hmap *m, size_t *it, const void **key, size_t *klen,
	      void **val)
{
	while (*it < m->cap) {
		struct hmap_entry *s = &m->slots[(*it)++];
		if (!s->key || s->key == TOMB)
			continue;
		if (key)
			*key = s->key;
		if (klen)
			*klen = s->klen;
		if (val)
			*val = s->val;
		return 1;
	}
	return 0;
}

void hmap_release(struct hmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != TOMB)
			mem_free(m->slots[i].key);
	mem_free(m->slots);
	memset(m, 0, sizeof *m);
}
