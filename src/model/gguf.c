/*
 * gguf.c - GGUF reader: parses and validates the header, the metadata and
 * the tensor index of a GGUF v2/v3 file held in memory (a read-only mmap
 * of the file, or borrowed bytes for tests and fuzzing).
 *
 * The file is untrusted. Every read goes through a cursor that checks the
 * remaining length first; counts are bounded by what the remaining bytes
 * could hold before anything is allocated for them, so a hostile count
 * cannot cause a huge allocation; sizes are computed with overflow checks.
 * Keys and tensor names are copied (NUL-terminated) into one arena; string
 * values stay in the file and are handed out borrowed.
 */
#include "model/model_int.h"

#include <string.h>

#define GGUF_DEFAULT_ALIGN 32
#define GGUF_MAX_NAME 65535	/* longest key or tensor name accepted */
#define GGUF_MAX_DEPTH 8	/* deepest nesting of arrays accepted */

/* ------------------------------------------------------------------ */
/* ggml types                                                          */
/* ------------------------------------------------------------------ */

struct type_fact {
	const char *name;
	int64_t block;	/* elements per block */
	int64_t size;	/* bytes per block */
};

/* Indexed by ggml type id; a NULL name marks an id that does not exist. */
static const struct type_fact type_facts[] = {
	[0] = { "f32", 1, 4 },
	[1] = { "f16", 1, 2 },
	[2] = { "q4_0", 32, 18 },
	[3] = { "q4_1", 32, 20 },
	[6] = { "q5_0", 32, 22 },
	[7] = { "q5_1", 32, 24 },
	[8] = { "q8_0", 32, 34 },
	[9] = { "q8_1", 32, 36 },
	[10] = { "q2_K", 256, 84 },
	[11] = { "q3_K", 256, 110 },
	[12] = { "q4_K", 256, 144 },
	[13] = { "q5_K", 256, 176 },
	[14] = { "q6_K", 256, 210 },
	[15] = { "q8_K", 256, 292 },
	[16] = { "iq2_xxs", 256, 66 },
	[17] = { "iq2_xs", 256, 74 },
	[18] = { "iq3_xxs", 256, 98 },
	[19] = { "iq1_s", 256, 50 },
	[20] = { "iq4_nl", 32, 18 },
	[21] = { "iq3_s", 256, 110 },
	[22] = { "iq2_s", 256, 82 },
	[23] = { "iq4_xs", 256, 136 },
	[24] = { "i8", 1, 1 },
	[25] = { "i16", 1, 2 },
	[26] = { "i32", 1, 4 },
	[27] = { "i64", 1, 8 },
	[28] = { "f64", 1, 8 },
	[29] = { "iq1_m", 256, 56 },
	[30] = { "bf16", 1, 2 },
	[34] = { "tq1_0", 256, 54 },
	[35] = { "tq2_0", 256, 66 },
};
#define N_TYPE_FACTS (sizeof type_facts / sizeof type_facts[0])

int mdl_ggml_type_known(uint32_t type)
{
	return type < N_TYPE_FACTS && type_facts[type].name != NULL;
}

const char *mdl_ggml_type_name(uint32_t type)
{
	return mdl_ggml_type_known(type) ? type_facts[type].name : "?";
}

int64_t mdl_ggml_type_block(uint32_t type)
{
	return mdl_ggml_type_known(type) ? type_facts[type].block : 0;
}

int64_t mdl_ggml_type_size(uint32_t type)
{
	return mdl_ggml_type_known(type) ? type_facts[type].size : 0;
}

const char *mdl_gguf_vtype_name(uint32_t t)
{
	static const char *const names[] = {
		"u8", "i8", "u16", "i16", "u32", "i32", "f32",
		"bool", "string", "array", "u64", "i64", "f64",
	};
	return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* Size in bytes of a scalar value type; 0 for string, array, unknown. */
static size_t vtype_size(uint32_t t)
{
	switch (t) {
	case MDL_GGUF_U8: case MDL_GGUF_I8: case MDL_GGUF_BOOL: return 1;
	case MDL_GGUF_U16: case MDL_GGUF_I16: return 2;
	case MDL_GGUF_U32: case MDL_GGUF_I32: case MDL_GGUF_F32: return 4;
	case MDL_GGUF_U64: case MDL_GGUF_I64: case MDL_GGUF_F64: return 8;
	default: return 0;
	}
}

/* ------------------------------------------------------------------ */
/* The opened file                                                     */
/* ------------------------------------------------------------------ */

struct kv {
	const char *key;	/* NUL-terminated, in the arena */
	uint32_t type;		/* enum mdl_gguf_vtype */
	/* Scalar: the value's bytes in the file. String: length + bytes.
	 * Array: elem type, count, first element. */
	const uint8_t *val;
	uint64_t slen;		/* string length */
	uint32_t elem;		/* array element type */
	uint64_t n;		/* array element count */
	const uint64_t *soff;	/* string arrays: offset of each element's
				 * length field from val (arena) */
};

struct mdl_gguf {
	struct fmap map;	/* when opened from a path */
	const uint8_t *data;	/* whole file */
	size_t len;
	uint32_t version;
	size_t alignment;
	size_t data_off;	/* start of the tensor data section */
	struct kv *kvs;		/* n_kv, in the arena */
	size_t n_kv;
	struct mdl_tensor *tensors;	/* n_tensors, in the arena */
	size_t n_tensors;
	struct hmap key_index;	/* key -> kv index + 1 */
	struct hmap tensor_index;	/* name -> tensor index + 1 */
	struct arena arena;
};

/* Bounded reading cursor. */
struct cur {
	const uint8_t *p;
	size_t len, off;
	struct err *e;
};

static status_t cur_need(struct cur *c, size_t n, const char *what)
{
	if (n > c->len - c->off)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: %s at byte %zu: needs %zu bytes, only %zu left",
			       what, c->off, n, c->len - c->off);
	return ST_OK;
}

static status_t cur_u32(struct cur *c, uint32_t *v, const char *what)
{
	status_t st = cur_need(c, 4, what);
	if (st)
		return st;
	memcpy(v, c->p + c->off, 4);
	c->off += 4;
	return ST_OK;
}

static status_t cur_u64(struct cur *c, uint64_t *v, const char *what)
{
	status_t st = cur_need(c, 8, what);
	if (st)
		return st;
	memcpy(v, c->p + c->off, 8);
	c->off += 8;
	return ST_OK;
}

/* Reads a string header; *s points into the file. */
static status_t cur_str(struct cur *c, const uint8_t **s, uint64_t *n,
			const char *what)
{
	size_t at = c->off;
	status_t st = cur_u64(c, n, what);
	if (st)
		return st;
	if (*n > c->len - c->off)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: %s at byte %zu: length %llu runs past the end of the file (%zu bytes)",
			       what, at, (unsigned long long)*n, c->len);
	*s = c->p + c->off;
	c->off += (size_t)*n;
	return ST_OK;
}

/* Copies a name (key or tensor name) into the arena, NUL-terminated. */
static status_t name_copy(struct mdl_gguf *g, struct cur *c, const char *what,
			  size_t idx, const char **out)
{
	const uint8_t *s;
	uint64_t n;
	size_t at = c->off;
	status_t st = cur_str(c, &s, &n, what);
	if (st)
		return st;
	if (n == 0 || n > GGUF_MAX_NAME)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: %s %zu at byte %zu: name length %llu out of range 1..%d",
			       what, idx, at, (unsigned long long)n, GGUF_MAX_NAME);
	if (memchr(s, 0, (size_t)n))
		return err_set(c->e, ST_CORRUPT,
			       "gguf: %s %zu at byte %zu: name contains a NUL byte",
			       what, idx, at);
	char *copy = arena_strndup(&g->arena, (const char *)s, (size_t)n);
	if (!copy)
		return err_set(c->e, ST_NOMEM, "gguf: out of memory");
	*out = copy;
	return ST_OK;
}

/*
 * Skips (validating) one value of type t; depth bounds nesting. For a
 * top-level string array, fills kv->soff.
 */
static status_t skip_value(struct mdl_gguf *g, struct cur *c, uint32_t t,
			   const char *key, int depth, struct kv *kv)
{
	status_t st;
	size_t sz = vtype_size(t);
	if (sz)
		return cur_need(c, sz, key) ? ST_CORRUPT : (c->off += sz, ST_OK);
	if (t == MDL_GGUF_STRING) {
		const uint8_t *s;
		uint64_t n;
		return cur_str(c, &s, &n, key);
	}
	if (t != MDL_GGUF_ARRAY)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: key '%s' at byte %zu: unknown value type %u",
			       key, c->off, t);
	if (depth >= GGUF_MAX_DEPTH)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: key '%s' at byte %zu: arrays nested deeper than %d",
			       key, c->off, GGUF_MAX_DEPTH);
	uint32_t elem;
	uint64_t n;
	size_t at = c->off;
	if ((st = cur_u32(c, &elem, key)) || (st = cur_u64(c, &n, key)))
		return st;
	size_t esz = vtype_size(elem);
	if (!esz && elem != MDL_GGUF_STRING && elem != MDL_GGUF_ARRAY)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: key '%s' at byte %zu: unknown array element type %u",
			       key, at, elem);
	/* Every element takes at least min bytes: bound n before any use. */
	size_t min = esz ? esz : (elem == MDL_GGUF_STRING ? 8 : 12);
	if (n > (c->len - c->off) / min)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: key '%s' at byte %zu: array of %llu %s elements runs past the end of the file",
			       key, at, (unsigned long long)n, mdl_gguf_vtype_name(elem));
	if (kv) {
		kv->elem = elem;
		kv->n = n;
		kv->val = c->p + c->off;
	}
	if (esz) {
		c->off += (size_t)n * esz;
		return ST_OK;
	}
	uint64_t *soff = NULL;
	if (kv && elem == MDL_GGUF_STRING && n > 0) {
		soff = arena_alloc(&g->arena, (size_t)n * sizeof *soff);
		if (!soff)
			return err_set(c->e, ST_NOMEM, "gguf: out of memory for key '%s'", key);
		kv->soff = soff;
	}
	size_t base = c->off;
	for (uint64_t i = 0; i < n; i++) {
		if (soff)
			soff[i] = c->off - base;
		if ((st = skip_value(g, c, elem, key, depth + 1, NULL)))
			return st;
	}
	return ST_OK;
}

static status_t parse_kv(struct mdl_gguf *g, struct cur *c, size_t i)
{
	struct kv *kv = &g->kvs[i];
	status_t st;
	if ((st = name_copy(g, c, "metadata key", i, &kv->key)))
		return st;
	if (hmap_get(&g->key_index, kv->key, strlen(kv->key), NULL) == ST_OK)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: duplicate metadata key '%s' at byte %zu",
			       kv->key, c->off);
	if ((st = cur_u32(c, &kv->type, kv->key)))
		return st;
	if (kv->type > MDL_GGUF_F64)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: key '%s' at byte %zu: unknown value type %u",
			       kv->key, c->off - 4, kv->type);
	kv->val = c->p + c->off;
	if (kv->type == MDL_GGUF_STRING) {
		const uint8_t *s;
		if ((st = cur_str(c, &s, &kv->slen, kv->key)))
			return st;
		kv->val = s;
	} else if ((st = skip_value(g, c, kv->type, kv->key, 0, kv))) {
		return st;
	}
	if (hmap_put(&g->key_index, kv->key, strlen(kv->key), (void *)(uintptr_t)(i + 1)))
		return err_set(c->e, ST_NOMEM, "gguf: out of memory");
	return ST_OK;
}

static status_t parse_tensor(struct mdl_gguf *g, struct cur *c, size_t i)
{
	struct mdl_tensor *t = &g->tensors[i];
	status_t st;
	size_t at = c->off;
	if ((st = name_copy(g, c, "tensor name", i, &t->name)))
		return st;
	if (hmap_get(&g->tensor_index, t->name, strlen(t->name), NULL) == ST_OK)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: duplicate tensor name '%s' at byte %zu",
			       t->name, at);
	if ((st = cur_u32(c, &t->n_dims, t->name)))
		return st;
	if (t->n_dims < 1 || t->n_dims > MDL_MAX_DIMS)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: tensor '%s': %u dimensions (1..%d allowed)",
			       t->name, t->n_dims, MDL_MAX_DIMS);
	int64_t nel = 1;
	for (int d = 0; d < MDL_MAX_DIMS; d++) {
		uint64_t v = 1;
		if ((uint32_t)d < t->n_dims && (st = cur_u64(c, &v, t->name)))
			return st;
		if (v == 0 || v > INT64_MAX || nel > INT64_MAX / (int64_t)v)
			return err_set(c->e, ST_CORRUPT,
				       "gguf: tensor '%s': dimension %d = %llu is zero or overflows",
				       t->name, d, (unsigned long long)v);
		t->ne[d] = (int64_t)v;
		nel *= (int64_t)v;
	}
	if ((st = cur_u32(c, &t->type, t->name)))
		return st;
	if (!mdl_ggml_type_known(t->type))
		return err_set(c->e, ST_UNSUPPORTED,
			       "gguf: tensor '%s': unknown tensor type id %u",
			       t->name, t->type);
	int64_t bs = type_facts[t->type].block, ts = type_facts[t->type].size;
	if (t->ne[0] % bs)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: tensor '%s': row of %lld elements is not a multiple of the %s block size %lld",
			       t->name, (long long)t->ne[0], type_facts[t->type].name, (long long)bs);
	/* bytes = nel / bs * ts, checked for overflow and against the file. */
	int64_t blocks = nel / bs;
	if (blocks > (int64_t)(SIZE_MAX / 2) / ts || blocks * ts > (int64_t)g->len)
		return err_set(c->e, ST_CORRUPT,
			       "gguf: tensor '%s': %lld elements of %s are larger than the file",
			       t->name, (long long)nel, type_facts[t->type].name);
	t->size = (size_t)(blocks * ts);
	if ((st = cur_u64(c, &t->offset, t->name)))
		return st;
	if (hmap_put(&g->tensor_index, t->name, strlen(t->name), (void *)(uintptr_t)(i + 1)))
		return err_set(c->e, ST_NOMEM, "gguf: out of memory");
	return ST_OK;
}

static status_t parse(struct mdl_gguf *g, struct err *e)
{
	struct cur c = { .p = g->data, .len = g->len, .off = 0, .e = e };
	status_t st;
	if (g->len < 4 || memcmp(g->data, "GGUF", 4) != 0)
		return err_set(e, ST_CORRUPT, "gguf: bad magic (not a GGUF file)");
	c.off = 4;
	if ((st = cur_u32(&c, &g->version, "version")))
		return st;
	if (g->version != 2 && g->version != 3)
		return err_set(e, ST_UNSUPPORTED,
			       "gguf: version %u not supported (2 and 3 are)", g->version);
	uint64_t n_tensors, n_kv;
	if ((st = cur_u64(&c, &n_tensors, "tensor count")) ||
	    (st = cur_u64(&c, &n_kv, "metadata count")))
		return st;
	/* A key takes >= 13 bytes, a tensor info >= 29: bound the counts. */
	size_t left = g->len - c.off;
	if (n_kv > left / 13)
		return err_set(e, ST_CORRUPT,
			       "gguf: metadata count %llu at byte 16 is more than the file can hold",
			       (unsigned long long)n_kv);
	if (n_tensors > left / 29)
		return err_set(e, ST_CORRUPT,
			       "gguf: tensor count %llu at byte 8 is more than the file can hold",
			       (unsigned long long)n_tensors);
	g->n_kv = (size_t)n_kv;
	g->n_tensors = (size_t)n_tensors;
	if (n_kv && !(g->kvs = arena_calloc(&g->arena, (size_t)n_kv, sizeof *g->kvs)))
		return err_set(e, ST_NOMEM, "gguf: out of memory");
	if (n_tensors &&
	    !(g->tensors = arena_calloc(&g->arena, (size_t)n_tensors, sizeof *g->tensors)))
		return err_set(e, ST_NOMEM, "gguf: out of memory");
	for (size_t i = 0; i < g->n_kv; i++)
		if ((st = parse_kv(g, &c, i)))
			return st;

	g->alignment = GGUF_DEFAULT_ALIGN;
	int64_t ai = mdl_gguf_find(g, "general.alignment");
	if (ai >= 0) {
		const struct kv *kv = &g->kvs[ai];
		uint32_t a = 0;
		if (kv->type != MDL_GGUF_U32)
			return err_set(e, ST_CORRUPT,
				       "gguf: key 'general.alignment' has type %s, want u32",
				       mdl_gguf_vtype_name(kv->type));
		memcpy(&a, kv->val, 4);
		if (a == 0 || (a & (a - 1)) || a > (1u << 20))
			return err_set(e, ST_CORRUPT,
				       "gguf: general.alignment %u is not a power of two up to 1 MiB", a);
		g->alignment = a;
	}

	for (size_t i = 0; i < g->n_tensors; i++)
		if ((st = parse_tensor(g, &c, i)))
			return st;

	size_t pad = (g->alignment - c.off % g->alignment) % g->alignment;
	if (g->n_tensors == 0) {
		g->data_off = c.off;
		return ST_OK;
	}
	if (pad > g->len - c.off)
		return err_set(e, ST_CORRUPT,
			       "gguf: file ends at byte %zu, before the tensor data section", g->len);
	g->data_off = c.off + pad;
	size_t dlen = g->len - g->data_off;
	for (size_t i = 0; i < g->n_tensors; i++) {
		struct mdl_tensor *t = &g->tensors[i];
		if (t->offset % g->alignment)
			return err_set(e, ST_CORRUPT,
				       "gguf: tensor '%s': data offset %llu is not aligned to %zu",
				       t->name, (unsigned long long)t->offset, g->alignment);
		if (t->offset > dlen || t->size > dlen - t->offset)
			return err_set(e, ST_CORRUPT,
				       "gguf: tensor '%s': data [%llu, +%zu) lies outside the data section (%zu bytes at byte %zu)",
				       t->name, (unsigned long long)t->offset, t->size, dlen, g->data_off);
		t->data = g->data + g->data_off + t->offset;
	}
	return ST_OK;
}

static status_t open_common(struct mdl_gguf *g, struct mdl_gguf **out, struct err *e)
{
	status_t st = parse(g, e);
	if (st) {
		mdl_gguf_free(g);
		return st;
	}
	*out = g;
	return ST_OK;
}

static struct mdl_gguf *gguf_alloc(void)
{
	struct mdl_gguf *g = mem_calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->map.fd = -1;
	arena_init(&g->arena, 0, 0);
	hmap_init(&g->key_index);
	hmap_init(&g->tensor_index);
	return g;
}

status_t mdl_gguf_open_mem(const void *data, size_t len, struct mdl_gguf **out,
			   struct err *e)
{
	*out = NULL;
	struct mdl_gguf *g = gguf_alloc();
	if (!g)
		return err_set(e, ST_NOMEM, "gguf: out of memory");
	g->data = data;
	g->len = data ? len : 0;
	return open_common(g, out, e);
}

status_t mdl_gguf_open(const char *path, struct mdl_gguf **out, struct err *e)
{
	*out = NULL;
	struct mdl_gguf *g = gguf_alloc();
	if (!g)
		return err_set(e, ST_NOMEM, "gguf: out of memory");
	status_t st = fmap_open(&g->map, path, e);
	if (st) {
		g->map.fd = -1;
		mdl_gguf_free(g);
		return st;
	}
	g->data = g->map.data;
	g->len = g->map.len;
	st = open_common(g, out, e);
	if (st && e) {
		/* Say which file. */
		char msg[sizeof e->msg];
		str_copy(msg, e->msg, sizeof msg);
		err_set(e, st, "%s: %s", path, msg);
	}
	return st;
}

int mdl__gguf_map(const struct mdl_gguf *g, const uint8_t **data, size_t *len)
{
	*data = g->map.data;
	*len = g->map.len;
	return g->map.data ? g->map.fd : -1;
}

void mdl_gguf_free(struct mdl_gguf *g)
{
	if (!g)
		return;
	hmap_release(&g->key_index);
	hmap_release(&g->tensor_index);
	arena_release(&g->arena);
	if (g->map.fd >= 0 || g->map.data)
		fmap_release(&g->map);
	mem_free(g);
}

uint32_t mdl_gguf_version(const struct mdl_gguf *g) { return g->version; }
size_t mdl_gguf_alignment(const struct mdl_gguf *g) { return g->alignment; }
size_t mdl_gguf_file_size(const struct mdl_gguf *g) { return g->len; }
size_t mdl_gguf_n_kv(const struct mdl_gguf *g) { return g->n_kv; }

const char *mdl_gguf_key(const struct mdl_gguf *g, size_t i)
{
	return i < g->n_kv ? g->kvs[i].key : NULL;
}

enum mdl_gguf_vtype mdl_gguf_kv_type(const struct mdl_gguf *g, size_t i)
{
	return i < g->n_kv ? (enum mdl_gguf_vtype)g->kvs[i].type : MDL_GGUF_U8;
}

int64_t mdl_gguf_find(const struct mdl_gguf *g, const char *key)
{
	void *v;
	if (!key || hmap_get(&g->key_index, key, strlen(key), &v) != ST_OK)
		return -1;
	return (int64_t)(uintptr_t)v - 1;
}

/* ------------------------------------------------------------------ */
/* Typed getters                                                       */
/* ------------------------------------------------------------------ */

static status_t lookup(const struct mdl_gguf *g, const char *key,
		       const struct kv **kv, struct err *e)
{
	int64_t i = mdl_gguf_find(g, key);
	if (i < 0)
		return err_set(e, ST_NOTFOUND, "gguf: metadata key '%s' is missing", key);
	*kv = &g->kvs[i];
	return ST_OK;
}

/* Reads a scalar of integer type t at p; ST_CORRUPT for non-integers. */
static int scalar_int(uint32_t t, const uint8_t *p, int64_t *out)
{
	union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32;
		int32_t i32; uint64_t u64; int64_t i64; } u;
	memcpy(&u, p, vtype_size(t) ? vtype_size(t) : 1);
	switch (t) {
	case MDL_GGUF_U8: *out = u.u8; return 1;
	case MDL_GGUF_BOOL: *out = u.u8 != 0; return 1;
	case MDL_GGUF_I8: *out = u.i8; return 1;
	case MDL_GGUF_U16: *out = u.u16; return 1;
	case MDL_GGUF_I16: *out = u.i16; return 1;
	case MDL_GGUF_U32: *out = u.u32; return 1;
	case MDL_GGUF_I32: *out = u.i32; return 1;
	case MDL_GGUF_I64: *out = u.i64; return 1;
	case MDL_GGUF_U64:
		if (u.u64 > INT64_MAX)
			return -1;
		*out = (int64_t)u.u64;
		return 1;
	default: return 0;
	}
}

static int scalar_float(uint32_t t, const uint8_t *p, double *out)
{
	if (t == MDL_GGUF_F32) {
		float f;
		memcpy(&f, p, 4);
		*out = f;
		return 1;
	}
	if (t == MDL_GGUF_F64) {
		memcpy(out, p, 8);
		return 1;
	}
	int64_t v;
	if (scalar_int(t, p, &v) == 1) {
		*out = (double)v;
		return 1;
	}
	return 0;
}

static status_t wrong_type(const char *key, uint32_t have, const char *want,
			   struct err *e)
{
	return err_set(e, ST_CORRUPT, "gguf: key '%s' has type %s, want %s",
		       key, mdl_gguf_vtype_name(have), want);
}

status_t mdl_gguf_get_int(const struct mdl_gguf *g, const char *key,
			  int64_t *out, struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = lookup(g, key, &kv, e);
	if (st)
		return st;
	int r = scalar_int(kv->type, kv->val, out);
	if (r < 0)
		return err_set(e, ST_CORRUPT, "gguf: key '%s': value too large", key);
	return r ? ST_OK : wrong_type(key, kv->type, "an integer", e);
}

status_t mdl_gguf_get_float(const struct mdl_gguf *g, const char *key,
			    double *out, struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = lookup(g, key, &kv, e);
	if (st)
		return st;
	return scalar_float(kv->type, kv->val, out) ? ST_OK
						    : wrong_type(key, kv->type, "a number", e);
}

status_t mdl_gguf_get_bool(const struct mdl_gguf *g, const char *key, int *out,
			   struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = lookup(g, key, &kv, e);
	if (st)
		return st;
	if (kv->type != MDL_GGUF_BOOL)
		return wrong_type(key, kv->type, "bool", e);
	*out = kv->val[0] != 0;
	return ST_OK;
}

status_t mdl_gguf_get_str(const struct mdl_gguf *g, const char *key,
			  const char **s, size_t *len, struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = lookup(g, key, &kv, e);
	if (st)
		return st;
	if (kv->type != MDL_GGUF_STRING)
		return wrong_type(key, kv->type, "string", e);
	*s = (const char *)kv->val;
	*len = (size_t)kv->slen;
	return ST_OK;
}

status_t mdl_gguf_get_arr(const struct mdl_gguf *g, const char *key,
			  enum mdl_gguf_vtype *elem, size_t *n, struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = lookup(g, key, &kv, e);
	if (st)
		return st;
	if (kv->type != MDL_GGUF_ARRAY)
		return wrong_type(key, kv->type, "array", e);
	if (elem)
		*elem = (enum mdl_gguf_vtype)kv->elem;
	if (n)
		*n = (size_t)kv->n;
	return ST_OK;
}

static status_t arr_elem(const struct mdl_gguf *g, const char *key, size_t i,
			 const struct kv **kv, struct err *e)
{
	status_t st = lookup(g, key, kv, e);
	if (st)
		return st;
	if ((*kv)->type != MDL_GGUF_ARRAY)
		return wrong_type(key, (*kv)->type, "array", e);
	if (i >= (*kv)->n)
		return err_set(e, ST_INVAL, "gguf: key '%s': index %zu out of range (%llu elements)",
			       key, i, (unsigned long long)(*kv)->n);
	return ST_OK;
}

status_t mdl_gguf_arr_str(const struct mdl_gguf *g, const char *key, size_t i,
			  const char **s, size_t *len, struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = arr_elem(g, key, i, &kv, e);
	if (st)
		return st;
	if (kv->elem != MDL_GGUF_STRING)
		return err_set(e, ST_CORRUPT, "gguf: key '%s' is an array of %s, want string",
			       key, mdl_gguf_vtype_name(kv->elem));
	const uint8_t *p = kv->val + kv->soff[i];
	uint64_t n;
	memcpy(&n, p, 8);
	*s = (const char *)p + 8;
	*len = (size_t)n;
	return ST_OK;
}

status_t mdl_gguf_arr_int(const struct mdl_gguf *g, const char *key, size_t i,
			  int64_t *out, struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = arr_elem(g, key, i, &kv, e);
	if (st)
		return st;
	size_t sz = vtype_size(kv->elem);
	int r = sz ? scalar_int(kv->elem, kv->val + i * sz, out) : 0;
	if (r < 0)
		return err_set(e, ST_CORRUPT, "gguf: key '%s'[%zu]: value too large", key, i);
	if (!r)
		return err_set(e, ST_CORRUPT, "gguf: key '%s' is an array of %s, want integers",
			       key, mdl_gguf_vtype_name(kv->elem));
	return ST_OK;
}

status_t mdl_gguf_arr_float(const struct mdl_gguf *g, const char *key, size_t i,
			    double *out, struct err *e)
{
	const struct kv *kv = NULL;
	status_t st = arr_elem(g, key, i, &kv, e);
	if (st)
		return st;
	size_t sz = vtype_size(kv->elem);
	if (!sz || !scalar_float(kv->elem, kv->val + i * sz, out))
		return err_set(e, ST_CORRUPT, "gguf: key '%s' is an array of %s, want numbers",
			       key, mdl_gguf_vtype_name(kv->elem));
	return ST_OK;
}

size_t mdl_gguf_n_tensors(const struct mdl_gguf *g) { return g->n_tensors; }

const struct mdl_tensor *mdl_gguf_tensor(const struct mdl_gguf *g, size_t i)
{
	return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct mdl_tensor *mdl_gguf_tensor_find(const struct mdl_gguf *g,
					      const char *name)
{
	void *v;
	if (!name || hmap_get(&g->tensor_index, name, strlen(name), &v) != ST_OK)
		return NULL;
	return &g->tensors[(uintptr_t)v - 1];
}

status_t mdl__gguf_kv_raw(const struct mdl_gguf *g, size_t i, const uint8_t **p,
			  size_t *n)
{
	if (i >= g->n_kv)
		return ST_INVAL;
	const struct kv *kv = &g->kvs[i];
	/* The key's length field sits 8 bytes + strlen(key) before its type,
	 * which is 4 bytes before the value (strings: 12 before the bytes). */
	size_t klen = strlen(kv->key);
	const uint8_t *val_start = kv->val;
	if (kv->type == MDL_GGUF_STRING)
		val_start -= 8;
	else if (kv->type == MDL_GGUF_ARRAY)
		val_start -= 12;
	const uint8_t *start = val_start - 4 - klen - 8;
	/* End: the next entry's start, or the end of metadata. */
	struct cur c = { .p = g->data, .len = g->len, .off = (size_t)(val_start - g->data), .e = NULL };
	status_t st = skip_value((struct mdl_gguf *)g, &c, kv->type, kv->key, 0, NULL);
	if (st)
		return st;
	*p = start;
	*n = (size_t)(g->data + c.off - start);
	return ST_OK;
}
