/*
 * test_gguf.c - the GGUF reader and writer: a real file, a table of bad
 * files (each with the one error it must give), truncation at every byte
 * of the metadata, allocation failures, the writer's round trip, and the
 * model loader's checks of metadata and tensors.
 */
#include "harness.h"
#include "model/model.h"
#include "model/quant.h"

#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* A tiny GGUF builder for hand-made files                             */
/* ------------------------------------------------------------------ */

struct gb {
	uint8_t d[8192];
	size_t n;
};

static void gb_raw(struct gb *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof b->d);
	memcpy(b->d + b->n, p, n);
	b->n += n;
}
static void gb_u32(struct gb *b, uint32_t v) { gb_raw(b, &v, 4); }
static void gb_u64(struct gb *b, uint64_t v) { gb_raw(b, &v, 8); }
static void gb_str(struct gb *b, const char *s)
{
	gb_u64(b, strlen(s));
	gb_raw(b, s, strlen(s));
}
static void gb_head(struct gb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	b->n = 0;
	gb_raw(b, "GGUF", 4);
	gb_u32(b, version);
	gb_u64(b, n_tensors);
	gb_u64(b, n_kv);
}
static void gb_kv_u32(struct gb *b, const char *k, uint32_t v)
{
	gb_str(b, k);
	gb_u32(b, MDL_GGUF_U32);
	gb_u32(b, v);
}
static void gb_kv_str(struct gb *b, const char *k, const char *v)
{
	gb_str(b, k);
	gb_u32(b, MDL_GGUF_STRING);
	gb_str(b, v);
}
/* A tensor info with up to 2 dims (ne1 0: 1-D). */
static void gb_tensor(struct gb *b, const char *name, uint64_t ne0, uint64_t ne1,
		      uint32_t type, uint64_t off)
{
	gb_str(b, name);
	gb_u32(b, ne1 ? 2 : 1);
	gb_u64(b, ne0);
	if (ne1)
		gb_u64(b, ne1);
	gb_u32(b, type);
	gb_u64(b, off);
}
static void gb_align(struct gb *b)
{
	while (b->n % 32)
		b->d[b->n++] = 0;
}
static void gb_zeros(struct gb *b, size_t n)
{
	assert_true(b->n + n <= sizeof b->d);
	memset(b->d + b->n, 0, n);
	b->n += n;
}

/* ------------------------------------------------------------------ */
/* The table of bad files                                              */
/* ------------------------------------------------------------------ */

enum bad_id {
	BAD_MAGIC, BAD_VERSION1, BAD_VERSION4, BAD_EMPTY, BAD_KEY_PAST_END,
	BAD_STR_PAST_END, BAD_NKV_HUGE, BAD_NT_HUGE, BAD_VTYPE, BAD_ARR_COUNT,
	BAD_ARR_NESTED, BAD_ARR_ELEM, BAD_DUP_KEY, BAD_EMPTY_KEY, BAD_DUP_TENSOR,
	BAD_NDIMS, BAD_DIM_ZERO, BAD_DIM_OVERFLOW, BAD_TTYPE, BAD_OFFSET,
	BAD_MISALIGNED, BAD_BLOCK, BAD_TOO_BIG, BAD_ALIGN_TYPE, BAD_ALIGN_VALUE,
	BAD_NO_DATA,
};

static const struct bad_case {
	enum bad_id id;
	status_t st;
	const char *msg;	/* must appear in the error message */
} bad_cases[] = {
	{ BAD_MAGIC, ST_CORRUPT, "bad magic" },
	{ BAD_VERSION1, ST_UNSUPPORTED, "version 1 not supported" },
	{ BAD_VERSION4, ST_UNSUPPORTED, "version 4 not supported" },
	{ BAD_EMPTY, ST_CORRUPT, "bad magic" },
	{ BAD_KEY_PAST_END, ST_CORRUPT, "metadata key at byte 24: length 1000000 runs past the end" },
	{ BAD_STR_PAST_END, ST_CORRUPT, "general.name at byte 48: length 4096 runs past the end" },
	{ BAD_NKV_HUGE, ST_CORRUPT, "metadata count 1152921504606846976" },
	{ BAD_NT_HUGE, ST_CORRUPT, "tensor count 4294967296" },
	{ BAD_VTYPE, ST_CORRUPT, "key 'general.x' at byte 41: unknown value type 13" },
	{ BAD_ARR_COUNT, ST_CORRUPT, "array of 1099511627776 u32 elements runs past the end" },
	{ BAD_ARR_NESTED, ST_CORRUPT, "arrays nested deeper than 8" },
	{ BAD_ARR_ELEM, ST_CORRUPT, "unknown array element type 77" },
	{ BAD_DUP_KEY, ST_CORRUPT, "duplicate metadata key 'general.a'" },
	{ BAD_EMPTY_KEY, ST_CORRUPT, "name length 0 out of range" },
	{ BAD_DUP_TENSOR, ST_CORRUPT, "duplicate tensor name 'w'" },
	{ BAD_NDIMS, ST_CORRUPT, "tensor 'w': 5 dimensions" },
	{ BAD_DIM_ZERO, ST_CORRUPT, "tensor 'w': dimension 1 = 0 is zero or overflows" },
	{ BAD_DIM_OVERFLOW, ST_CORRUPT, "tensor 'w': dimension 1 = 4294967296 is zero or overflows" },
	{ BAD_TTYPE, ST_UNSUPPORTED, "tensor 'w': unknown tensor type id 99" },
	{ BAD_OFFSET, ST_CORRUPT, "tensor 'w': data [4096, +128) lies outside the data section" },
	{ BAD_MISALIGNED, ST_CORRUPT, "tensor 'w': data offset 4 is not aligned to 32" },
	{ BAD_BLOCK, ST_CORRUPT, "row of 33 elements is not a multiple of the q4_0 block size 32" },
	{ BAD_TOO_BIG, ST_CORRUPT, "tensor 'w': 1099511627776 elements of f32 are larger than the file" },
	{ BAD_ALIGN_TYPE, ST_CORRUPT, "'general.alignment' has type string, want u32" },
	{ BAD_ALIGN_VALUE, ST_CORRUPT, "general.alignment 48 is not a power of two" },
	{ BAD_NO_DATA, ST_CORRUPT, "before the tensor data section" },
};

/* Builds the file of case id into b. */
static void build_bad(struct gb *b, enum bad_id id)
{
	switch (id) {
	case BAD_MAGIC:
		gb_head(b, 3, 0, 0);
		b->d[0] = 'X';
		break;
	case BAD_VERSION1:
		gb_head(b, 1, 0, 0);
		break;
	case BAD_VERSION4:
		gb_head(b, 4, 0, 0);
		break;
	case BAD_EMPTY:
		b->n = 0;
		break;
	case BAD_KEY_PAST_END:
		gb_head(b, 3, 0, 1);
		gb_u64(b, 1000000);
		gb_raw(b, "general.x", 9);
		gb_zeros(b, 16);
		break;
	case BAD_STR_PAST_END:
		gb_head(b, 3, 0, 1);
		gb_str(b, "general.name");
		gb_u32(b, MDL_GGUF_STRING);
		gb_u64(b, 4096);
		gb_raw(b, "abc", 3);
		break;
	case BAD_NKV_HUGE:
		gb_head(b, 3, 0, 1ull << 60);
		gb_zeros(b, 64);
		break;
	case BAD_NT_HUGE:
		gb_head(b, 3, 1ull << 32, 0);
		gb_zeros(b, 64);
		break;
	case BAD_VTYPE:
		gb_head(b, 3, 0, 1);
		gb_str(b, "general.x");
		gb_u32(b, 13);
		gb_u32(b, 0);
		break;
	case BAD_ARR_COUNT:
		gb_head(b, 3, 0, 1);
		gb_str(b, "general.x");
		gb_u32(b, MDL_GGUF_ARRAY);
		gb_u32(b, MDL_GGUF_U32);
		gb_u64(b, 1ull << 40);
		gb_zeros(b, 64);
		break;
	case BAD_ARR_NESTED:
		gb_head(b, 3, 0, 1);
		gb_str(b, "general.x");
		gb_u32(b, MDL_GGUF_ARRAY);
		for (int i = 0; i < 12; i++) {
			gb_u32(b, MDL_GGUF_ARRAY);
			gb_u64(b, 1);
		}
		gb_zeros(b, 64);
		break;
	case BAD_ARR_ELEM:
		gb_head(b, 3, 0, 1);
		gb_str(b, "general.x");
		gb_u32(b, MDL_GGUF_ARRAY);
		gb_u32(b, 77);
		gb_u64(b, 1);
		gb_zeros(b, 8);
		break;
	case BAD_DUP_KEY:
		gb_head(b, 3, 0, 2);
		gb_kv_u32(b, "general.a", 1);
		gb_kv_u32(b, "general.a", 2);
		break;
	case BAD_EMPTY_KEY:
		gb_head(b, 3, 0, 1);
		gb_kv_u32(b, "", 1);
		break;
	case BAD_DUP_TENSOR:
		gb_head(b, 3, 2, 0);
		gb_tensor(b, "w", 32, 0, MDL_TYPE_F32, 0);
		gb_tensor(b, "w", 32, 0, MDL_TYPE_F32, 128);
		gb_align(b);
		gb_zeros(b, 256);
		break;
	case BAD_NDIMS:
		gb_head(b, 3, 1, 0);
		gb_str(b, "w");
		gb_u32(b, 5);
		gb_zeros(b, 64);
		break;
	case BAD_DIM_ZERO:
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 32, 0, MDL_TYPE_F32, 0);
		b->d[b->n - 12] = 0;	/* no effect: keep a valid 1-D info... */
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 32, 0, MDL_TYPE_F32, 0);
		/* ... then rewrite it as 2-D with ne1 = 0 */
		gb_head(b, 3, 1, 0);
		gb_str(b, "w");
		gb_u32(b, 2);
		gb_u64(b, 32);
		gb_u64(b, 0);
		gb_u32(b, MDL_TYPE_F32);
		gb_u64(b, 0);
		gb_align(b);
		break;
	case BAD_DIM_OVERFLOW:
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 1ull << 40, 1ull << 32, MDL_TYPE_F32, 0);
		gb_align(b);
		break;
	case BAD_TTYPE:
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 32, 0, 99, 0);
		gb_align(b);
		gb_zeros(b, 128);
		break;
	case BAD_OFFSET:
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 32, 0, MDL_TYPE_F32, 4096);
		gb_align(b);
		gb_zeros(b, 128);
		break;
	case BAD_MISALIGNED:
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 32, 0, MDL_TYPE_F32, 4);
		gb_align(b);
		gb_zeros(b, 160);
		break;
	case BAD_BLOCK:
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 33, 0, MDL_TYPE_Q4_0, 0);
		gb_align(b);
		gb_zeros(b, 64);
		break;
	case BAD_TOO_BIG:
		gb_head(b, 3, 1, 0);
		gb_tensor(b, "w", 1ull << 40, 0, MDL_TYPE_F32, 0);
		gb_align(b);
		gb_zeros(b, 64);
		break;
	case BAD_ALIGN_TYPE:
		gb_head(b, 3, 0, 1);
		gb_kv_str(b, "general.alignment", "32");
		break;
	case BAD_ALIGN_VALUE:
		gb_head(b, 3, 0, 1);
		gb_kv_u32(b, "general.alignment", 48);
		break;
	case BAD_NO_DATA:
		gb_head(b, 3, 1, 1);
		gb_kv_u32(b, "general.alignment", 4096);
		gb_tensor(b, "w", 1, 0, MDL_TYPE_F32, 0);
		break;
	}
}

static void test_gguf_bad_table(void **state)
{
	(void)state;
	static struct gb b;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct err e = { 0 };
		struct mdl_gguf *g = (struct mdl_gguf *)1;
		build_bad(&b, bc->id);
		status_t st = mdl_gguf_open_mem(b.d, b.n, &g, &e);
		if (st != bc->st)
			fail_msg("case %zu: status %s, want %s (%s)", i, status_name(st),
				 status_name(bc->st), e.msg);
		assert_null(g);
		if (!strstr(e.msg, bc->msg))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, e.msg, bc->msg);
	}
}

/* A small valid file: every value type, nested arrays, two tensors. */
static void build_good(struct gb *b)
{
	gb_head(b, 3, 2, 7);
	gb_kv_str(b, "general.architecture", "llama");
	gb_kv_u32(b, "x.u32", 7);
	gb_str(b, "x.i8");
	gb_u32(b, MDL_GGUF_I8);
	gb_raw(b, "\xfe", 1);
	gb_str(b, "x.f64");
	gb_u32(b, MDL_GGUF_F64);
	double d = 2.5;
	gb_raw(b, &d, 8);
	gb_str(b, "x.bool");
	gb_u32(b, MDL_GGUF_BOOL);
	gb_raw(b, "\x01", 1);
	gb_str(b, "x.strs");
	gb_u32(b, MDL_GGUF_ARRAY);
	gb_u32(b, MDL_GGUF_STRING);
	gb_u64(b, 3);
	gb_str(b, "a");
	gb_str(b, "");
	gb_str(b, "ccc");
	gb_str(b, "x.nested");
	gb_u32(b, MDL_GGUF_ARRAY);
	gb_u32(b, MDL_GGUF_ARRAY);
	gb_u64(b, 2);
	gb_u32(b, MDL_GGUF_I16);
	gb_u64(b, 1);
	gb_raw(b, "\x05\x00", 2);
	gb_u32(b, MDL_GGUF_STRING);
	gb_u64(b, 1);
	gb_str(b, "zz");
	gb_tensor(b, "a", 32, 0, MDL_TYPE_F32, 0);
	gb_tensor(b, "b", 64, 2, MDL_TYPE_Q8_0, 128);
	gb_align(b);
	gb_zeros(b, 128 + 2 * 68);
}

static void test_gguf_good_mem(void **state)
{
	(void)state;
	static struct gb b;
	struct err e = { 0 };
	struct mdl_gguf *g;
	build_good(&b);
	TH_OK(mdl_gguf_open_mem(b.d, b.n, &g, &e));
	int64_t v;
	double f;
	int bo;
	TH_OK(mdl_gguf_get_int(g, "x.u32", &v, &e));
	assert_int_equal(v, 7);
	TH_OK(mdl_gguf_get_int(g, "x.i8", &v, &e));
	assert_int_equal(v, -2);
	TH_OK(mdl_gguf_get_float(g, "x.f64", &f, &e));
	assert_true(f == 2.5);
	TH_OK(mdl_gguf_get_bool(g, "x.bool", &bo, &e));
	assert_int_equal(bo, 1);
	TH_ST(mdl_gguf_get_bool(g, "x.u32", &bo, &e), ST_CORRUPT);
	assert_non_null(strstr(e.msg, "'x.u32' has type u32, want bool"));
	const char *s;
	size_t n;
	enum mdl_gguf_vtype et;
	TH_OK(mdl_gguf_get_arr(g, "x.strs", &et, &n, &e));
	assert_int_equal(et, MDL_GGUF_STRING);
	assert_int_equal(n, 3);
	TH_OK(mdl_gguf_arr_str(g, "x.strs", 2, &s, &n, &e));
	assert_int_equal(n, 3);
	assert_memory_equal(s, "ccc", 3);
	TH_OK(mdl_gguf_arr_str(g, "x.strs", 1, &s, &n, &e));
	assert_int_equal(n, 0);
	TH_ST(mdl_gguf_arr_str(g, "x.strs", 3, &s, &n, &e), ST_INVAL);
	TH_ST(mdl_gguf_arr_int(g, "x.strs", 0, &v, &e), ST_CORRUPT);
	TH_OK(mdl_gguf_get_arr(g, "x.nested", &et, &n, &e));
	assert_int_equal(et, MDL_GGUF_ARRAY);
	assert_int_equal(n, 2);
	assert_int_equal(mdl_gguf_find(g, "x.nested"), 6);
	assert_int_equal(mdl_gguf_find(g, "x.none"), -1);
	assert_int_equal(mdl_gguf_n_tensors(g), 2);
	const struct mdl_tensor *t = mdl_gguf_tensor_find(g, "b");
	assert_non_null(t);
	assert_int_equal(t->type, MDL_TYPE_Q8_0);
	assert_int_equal(t->size, 2 * 68);
	assert_ptr_equal(t->data, b.d + (b.n - 2 * 68));
	assert_int_equal(mdl_gguf_version(g), 3);
	mdl_gguf_free(g);

	/* Version 2 has the same layout. */
	b.d[4] = 2;
	TH_OK(mdl_gguf_open_mem(b.d, b.n, &g, &e));
	assert_int_equal(mdl_gguf_version(g), 2);
	assert_int_equal(mdl_gguf_n_kv(g), 7);
	mdl_gguf_free(g);
}

/* Every allocation of the reader may fail: ST_NOMEM, nothing leaked. */
static void test_gguf_alloc_failures(void **state)
{
	(void)state;
	static struct gb b;
	build_good(&b);
	for (long k = 0;; k++) {
		struct err e = { 0 };
		struct mdl_gguf *g;
		mem_fail_after(k, 0);
		status_t st = mdl_gguf_open_mem(b.d, b.n, &g, &e);
		mem_fail_reset();
		if (st == ST_OK) {
			mdl_gguf_free(g);
			assert_true(k > 0);
			break;
		}
		TH_ST(st, ST_NOMEM);
		assert_true(k < 1000);
	}
}

/* A real model cut short at every byte of its metadata (and at steps
 * through its data) is refused with ST_CORRUPT, never a crash. */
static void test_gguf_truncated(void **state)
{
	(void)state;
	char vocab[1024], *data;
	size_t len;
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	TH_OK(file_read_all(vocab, 4 << 20, &data, &len, &e));
	struct mdl_gguf *g;
	TH_OK(mdl_gguf_open_mem(data, len, &g, &e));
	size_t meta = (size_t)((const uint8_t *)mdl_gguf_tensor(g, 0)->data - (const uint8_t *)data);
	mdl_gguf_free(g);
	for (size_t cut = 0; cut < len; cut += cut < meta ? 1 : 4093) {
		status_t st = mdl_gguf_open_mem(data, cut, &g, &e);
		if (st != ST_CORRUPT)
			fail_msg("cut at %zu of %zu: %s, want CORRUPT", cut, len, status_name(st));
	}
	mem_free(data);
}

/* The writer's output reads back, metadata copied from another file included. */
static void test_gguf_writer_roundtrip(void **state)
{
	(void)state;
	char vocab[1024], path[1024];
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	struct mdl_gguf *src;
	TH_OK(mdl_gguf_open(vocab, &src, &e));
	snprintf(path, sizeof path, "%s/w.gguf", th_tmpdir());
	struct mdl_gguf_writer *w;
	TH_OK(mdl_gguf_writer_new(path, &w, &e));
	TH_OK(mdl_gguf_writer_set_u32(w, "a.u32", 4000000000u));
	TH_OK(mdl_gguf_writer_set_i32(w, "a.i32", -5));
	TH_OK(mdl_gguf_writer_set_f32(w, "a.f32", 0.25f));
	TH_OK(mdl_gguf_writer_set_bool(w, "a.bool", 1));
	TH_OK(mdl_gguf_writer_set_str(w, "a.str", "hello", 5));
	TH_ST(mdl_gguf_writer_set_u32(w, "a.str", 1), ST_EXISTS);
	int64_t k = mdl_gguf_find(src, "tokenizer.ggml.tokens");
	assert_true(k >= 0);
	TH_OK(mdl_gguf_writer_copy_kv(w, src, (size_t)k));
	TH_ST(mdl_gguf_writer_copy_kv(w, src, (size_t)k), ST_EXISTS);
	k = mdl_gguf_find(src, "tokenizer.ggml.scores");
	TH_OK(mdl_gguf_writer_copy_kv(w, src, (size_t)k));
	int64_t ne1[1] = { 3 }, ne2[2] = { 32, 2 };
	TH_OK(mdl_gguf_writer_add_tensor(w, "t1", MDL_TYPE_F32, 1, ne1));
	TH_OK(mdl_gguf_writer_add_tensor(w, "t2", MDL_TYPE_Q8_0, 2, ne2));
	TH_ST(mdl_gguf_writer_add_tensor(w, "t3", MDL_TYPE_Q8_0, 1, (int64_t[]){ 33 }), ST_INVAL);
	float f[3] = { 1, 2, 3 };
	uint8_t q[68];
	memset(q, 7, sizeof q);
	TH_OK(mdl_gguf_writer_write(w, f, sizeof f, &e));
	TH_OK(mdl_gguf_writer_write(w, q, 30, &e));	/* in pieces */
	TH_OK(mdl_gguf_writer_write(w, q + 30, 38, &e));
	TH_ST(mdl_gguf_writer_write(w, q, 1, &e), ST_INVAL);	/* one byte too many */
	mdl_gguf_writer_abort(w);
	assert_int_equal(access(path, F_OK), -1);	/* nothing left behind */

	TH_OK(mdl_gguf_writer_new(path, &w, &e));
	TH_OK(mdl_gguf_writer_set_u32(w, "a.u32", 4000000000u));
	TH_OK(mdl_gguf_writer_set_str(w, "a.str", "hello", 5));
	TH_OK(mdl_gguf_writer_copy_kv(w, src, (size_t)k));
	TH_OK(mdl_gguf_writer_add_tensor(w, "t1", MDL_TYPE_F32, 1, ne1));
	TH_OK(mdl_gguf_writer_add_tensor(w, "t2", MDL_TYPE_Q8_0, 2, ne2));
	TH_OK(mdl_gguf_writer_write(w, f, sizeof f, &e));
	TH_ST(mdl_gguf_writer_finish(w, &e), ST_INVAL);	/* t2 missing */
	assert_non_null(strstr(e.msg, "tensor 1 of 2 has no data"));

	TH_OK(mdl_gguf_writer_new(path, &w, &e));
	TH_OK(mdl_gguf_writer_set_u32(w, "a.u32", 4000000000u));
	TH_OK(mdl_gguf_writer_set_i32(w, "a.i32", -5));
	TH_OK(mdl_gguf_writer_set_f32(w, "a.f32", 0.25f));
	TH_OK(mdl_gguf_writer_set_bool(w, "a.bool", 1));
	TH_OK(mdl_gguf_writer_set_str(w, "a.str", "hello", 5));
	TH_OK(mdl_gguf_writer_copy_kv(w, src, (size_t)k));
	TH_OK(mdl_gguf_writer_add_tensor(w, "t1", MDL_TYPE_F32, 1, ne1));
	TH_OK(mdl_gguf_writer_add_tensor(w, "t2", MDL_TYPE_Q8_0, 2, ne2));
	TH_OK(mdl_gguf_writer_write(w, f, sizeof f, &e));
	TH_OK(mdl_gguf_writer_write(w, q, sizeof q, &e));
	TH_OK(mdl_gguf_writer_finish(w, &e));

	struct mdl_gguf *g;
	TH_OK(mdl_gguf_open(path, &g, &e));
	int64_t v;
	double d;
	int bo;
	const char *s;
	size_t n;
	TH_OK(mdl_gguf_get_int(g, "a.u32", &v, &e));
	assert_int_equal(v, 4000000000);
	TH_OK(mdl_gguf_get_int(g, "a.i32", &v, &e));
	assert_int_equal(v, -5);
	TH_OK(mdl_gguf_get_float(g, "a.f32", &d, &e));
	assert_true(d == 0.25);
	TH_OK(mdl_gguf_get_bool(g, "a.bool", &bo, &e));
	assert_int_equal(bo, 1);
	TH_OK(mdl_gguf_get_str(g, "a.str", &s, &n, &e));
	assert_int_equal(n, 5);
	assert_memory_equal(s, "hello", 5);
	double d1, d2;
	TH_OK(mdl_gguf_arr_float(g, "tokenizer.ggml.scores", 300, &d1, &e));
	TH_OK(mdl_gguf_arr_float(src, "tokenizer.ggml.scores", 300, &d2, &e));
	assert_true(d1 == d2);
	const struct mdl_tensor *t = mdl_gguf_tensor_find(g, "t2");
	assert_non_null(t);
	assert_int_equal(t->ne[0], 32);
	assert_int_equal(t->ne[1], 2);
	assert_memory_equal(t->data, q, sizeof q);
	t = mdl_gguf_tensor_find(g, "t1");
	assert_memory_equal(t->data, f, sizeof f);
	mdl_gguf_free(g);
	mdl_gguf_free(src);
	th_tmpdir_cleanup();
}

/* ------------------------------------------------------------------ */
/* Model-level checks                                                  */
/* ------------------------------------------------------------------ */

/* Opens stories260K with one metadata key renamed or a tensor renamed
 * (same length, so the file stays well-formed) and loads it as a model. */
static status_t load_patched(const char *from, const char *to, struct err *e)
{
	char path[1024], *data;
	size_t len;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	status_t st = file_read_all(path, 4 << 20, &data, &len, e);
	if (st)
		return st;
	size_t fl = strlen(from);
	assert_int_equal(fl, strlen(to));
	int hits = 0;
	for (size_t i = 0; i + fl <= len; i++)
		if (!memcmp(data + i, from, fl)) {
			memcpy(data + i, to, fl);
			hits++;
		}
	assert_true(hits > 0);
	struct mdl_gguf *g;
	struct mdl_model *m = NULL;
	st = mdl_gguf_open_mem(data, len, &g, e);
	if (!st)
		st = mdl_model_from_gguf(g, &m, e);
	mdl_model_free(m);
	mem_free(data);
	return st;
}

static void test_model_bad_metadata(void **state)
{
	(void)state;
	static const struct {
		const char *from, *to;
		status_t st;
		const char *msg;
	} cases[] = {
		{ "general.architecture", "general.architecturX", ST_CORRUPT,
		  "'general.architecture' is missing" },
		{ "llama", "gpt2x", ST_UNSUPPORTED, "architecture 'gpt2x' is not supported" },
		{ "llama.block_count", "llama.block_counX", ST_CORRUPT,
		  "'llama.block_count' is missing" },
		{ "llama.embedding_length", "llama.embedding_lengtX", ST_CORRUPT,
		  "'llama.embedding_length' is missing" },
		{ "blk.3.ffn_up.weight", "blk.3.ffn_up.weighX", ST_CORRUPT,
		  "required tensor 'blk.3.ffn_up.weight' is missing" },
		{ "output_norm.weight", "output_norm.weighX", ST_CORRUPT,
		  "required tensor 'output_norm.weight' is missing" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct err e = { 0 };
		status_t st = load_patched(cases[i].from, cases[i].to, &e);
		if (st != cases[i].st)
			fail_msg("case %zu: %s, want %s (%s)", i, status_name(st),
				 status_name(cases[i].st), e.msg);
		if (!strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, e.msg, cases[i].msg);
	}
}

/* A tensor of a type the engine does not compute with is named. */
static void test_model_unsupported_type(void **state)
{
	(void)state;
	char path[1024], *data;
	size_t len;
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(file_read_all(path, 4 << 20, &data, &len, &e));
	/* Tensor info of output_norm.weight: name, u32 n_dims = 1, u64 ne0,
	 * u32 type. i8 (24) takes a quarter of f32's bytes: still in bounds. */
	const char name[] = "output_norm.weight";
	char *at = memmem(data, len, name, sizeof name - 1);
	assert_non_null(at);
	uint32_t i8 = 24;
	memcpy(at + sizeof name - 1 + 4 + 8, &i8, 4);
	struct mdl_gguf *g;
	struct mdl_model *m;
	TH_OK(mdl_gguf_open_mem(data, len, &g, &e));
	TH_ST(mdl_model_from_gguf(g, &m, &e), ST_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "tensor 'output_norm.weight' has type i8 (id 24)"));
	mem_free(data);
}

/*
 * Writes a copy of stories260K to out with one more metadata key (u32,
 * when key is not NULL) and one more f32 tensor of 64 zeros (when tensor
 * is not NULL).
 */
static void write_variant(const char *out, const char *key, const char *tensor)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_gguf *src;
	struct mdl_gguf_writer *w;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(mdl_gguf_open(path, &src, &e));
	TH_OK(mdl_gguf_writer_new(out, &w, &e));
	for (size_t i = 0; i < mdl_gguf_n_kv(src); i++)
		TH_OK(mdl_gguf_writer_copy_kv(w, src, i));
	if (key)
		TH_OK(mdl_gguf_writer_set_u32(w, key, 4));
	for (size_t i = 0; i < mdl_gguf_n_tensors(src); i++) {
		const struct mdl_tensor *t = mdl_gguf_tensor(src, i);
		TH_OK(mdl_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne));
	}
	int64_t ne = 64;
	if (tensor)
		TH_OK(mdl_gguf_writer_add_tensor(w, tensor, MDL_TYPE_F32, 1, &ne));
	for (size_t i = 0; i < mdl_gguf_n_tensors(src); i++) {
		const struct mdl_tensor *t = mdl_gguf_tensor(src, i);
		TH_OK(mdl_gguf_writer_write(w, t->data, t->size, &e));
	}
	static const float zeros[64];
	if (tensor)
		TH_OK(mdl_gguf_writer_write(w, zeros, sizeof zeros, &e));
	TH_OK(mdl_gguf_writer_finish(w, &e));
	mdl_gguf_free(src);
}

/*
 * Files with parts the engine would not compute are refused rather than
 * run wrongly: a tensor of no known role, mixture of experts. A plain copy
 * loads (the copy itself works).
 */
static void test_model_unknown_parts(void **state)
{
	(void)state;
	char path[1024];
	struct err e = { 0 };
	struct mdl_model *m;
	snprintf(path, sizeof path, "%s/v.gguf", th_tmpdir());
	write_variant(path, NULL, NULL);
	TH_OK(mdl_model_load(path, &m, &e));
	mdl_model_free(m);
	write_variant(path, NULL, "blk.0.ffn_gate_inp.weight");
	TH_ST(mdl_model_load(path, &m, &e), ST_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "tensor 'blk.0.ffn_gate_inp.weight' is not part of the llama architecture"));
	write_variant(path, "llama.expert_count", NULL);
	TH_ST(mdl_model_load(path, &m, &e), ST_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "mixture of experts (llama.expert_count = 4)"));
	/* An optional bias of the right shape is taken, not refused. */
	write_variant(path, NULL, "blk.0.attn_output.bias");
	TH_OK(mdl_model_load(path, &m, &e));
	mdl_model_free(m);
	th_tmpdir_cleanup();
}

/* Shapes that do not fit the hyperparameters are refused by name. */
static void test_model_bad_shapes(void **state)
{
	(void)state;
	char vocab[1024], path[1024];
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	snprintf(path, sizeof path, "%s/m.gguf", th_tmpdir());
	struct mdl_synth_params p = {
		.arch = "llama", .n_layer = 1, .n_embd = 32, .n_head = 4, .n_head_kv = 2,
		.n_ff = 64, .type = MDL_TYPE_F32, .seed = 1, .vocab_from = vocab,
	};
	TH_OK(mdl_synth_write(&p, path, &e));
	/* Reopen with a patched head count: 32 / 3 is not a head size. */
	char *data;
	size_t len;
	TH_OK(file_read_all(path, 8 << 20, &data, &len, &e));
	const char key[] = "llama.attention.head_count_kv";
	char *at = memmem(data, len, key, sizeof key - 1);
	assert_non_null(at);
	uint32_t three = 3;
	memcpy(at + sizeof key - 1 + 4, &three, 4);	/* value after the type */
	struct mdl_gguf *g;
	struct mdl_model *m;
	TH_OK(mdl_gguf_open_mem(data, len, &g, &e));
	TH_ST(mdl_model_from_gguf(g, &m, &e), ST_CORRUPT);
	assert_non_null(strstr(e.msg, "head_count 4 is not a multiple of head_count_kv 3"));
	mem_free(data);

	/* Bad synth parameters are refused up front. */
	p.n_head = 3;
	TH_ST(mdl_synth_write(&p, path, &e), ST_INVAL);
	p.n_head = 4;
	p.n_embd = 48;	/* not a multiple of q4_0's 32 */
	p.n_head = 2;
	p.n_head_kv = 1;
	p.type = MDL_TYPE_Q4_0;
	TH_ST(mdl_synth_write(&p, path, &e), ST_INVAL);
	assert_non_null(strstr(e.msg, "block size 32"));
	/* K-types fall back per tensor where rows are not multiples of 256. */
	p.n_embd = 32;
	p.n_head = 4;
	p.n_head_kv = 2;
	p.n_ff = 256;
	p.type = MDL_TYPE_Q4_K;
	TH_OK(mdl_synth_write(&p, path, &e));
	struct mdl_gguf *g2;
	TH_OK(mdl_gguf_open(path, &g2, &e));
	assert_int_equal(mdl_gguf_tensor_find(g2, "blk.0.attn_q.weight")->type, MDL_TYPE_Q5_0);
	assert_int_equal(mdl_gguf_tensor_find(g2, "blk.0.ffn_down.weight")->type, MDL_TYPE_Q4_K);
	mdl_gguf_free(g2);

	/*
	 * The Q4_K_M mix on 8 layers of width 256 (untied output): q6_K for
	 * the output and for attn_v/ffn_down of layers 0, 3, 6 and 7 (the
	 * first and last eighth and every third between), q4_K elsewhere;
	 * ffn_down's rows of 64 fall back to q5_0, or to q8_0 where q6_K was
	 * asked for. The file type says Q4_K_M (15).
	 */
	p.n_layer = 8;
	p.n_embd = 256;
	p.n_ff = 64;
	p.mix = MDL_SYNTH_MIX_Q4_K_M;
	TH_OK(mdl_synth_write(&p, path, &e));
	TH_OK(mdl_gguf_open(path, &g2, &e));
	assert_int_equal(mdl_gguf_tensor_find(g2, "output.weight")->type, MDL_TYPE_Q6_K);
	assert_int_equal(mdl_gguf_tensor_find(g2, "token_embd.weight")->type, MDL_TYPE_Q4_K);
	for (int l = 0; l < 8; l++) {
		char nm[64];
		int more = l == 0 || l == 3 || l == 6 || l == 7;
		snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", l);
		assert_int_equal(mdl_gguf_tensor_find(g2, nm)->type, more ? MDL_TYPE_Q6_K : MDL_TYPE_Q4_K);
		snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", l);
		assert_int_equal(mdl_gguf_tensor_find(g2, nm)->type, MDL_TYPE_Q4_K);
		snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
		assert_int_equal(mdl_gguf_tensor_find(g2, nm)->type, more ? MDL_TYPE_Q8_0 : MDL_TYPE_Q5_0);
	}
	int64_t ft = 0;
	TH_OK(mdl_gguf_get_int(g2, "general.file_type", &ft, &e));
	assert_int_equal(ft, 15);
	mdl_gguf_free(g2);
	p.mix = 7;
	TH_ST(mdl_synth_write(&p, path, &e), ST_INVAL);
	th_tmpdir_cleanup();
}

/* Every allocation of model loading and context creation may fail. */
static void test_model_alloc_failures(void **state)
{
	(void)state;
	char path[1024], *data;
	size_t len;
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(file_read_all(path, 4 << 20, &data, &len, &e));
	for (long k = 0;; k++) {
		struct mdl_gguf *g = NULL;
		struct mdl_model *m = NULL;
		struct mdl_ctx *c = NULL;
		mem_fail_after(k, 0);
		status_t st = mdl_gguf_open_mem(data, len, &g, &e);
		if (!st)
			st = mdl_model_from_gguf(g, &m, &e);
		if (!st)
			st = mdl_ctx_new(m, 16, 2, &c, &e);
		mem_fail_reset();
		mdl_ctx_free(c);
		mdl_model_free(m);
		if (st == ST_OK)
			break;
		TH_ST(st, ST_NOMEM);
		assert_true(k < 100000);
	}
	mem_free(data);
}

/* A full disk while writing a model: ST_LIMIT, and no file left behind. */
static void test_synth_disk_full(void **state)
{
	(void)state;
	char vocab[1024], path[1024], tmp[1100];
	struct err e = { 0 };
	th_shared_path("models/stories260K.gguf", vocab, sizeof vocab);
	snprintf(path, sizeof path, "%s/full.gguf", th_tmpdir());
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	struct mdl_synth_params p = {
		.arch = "qwen2", .n_layer = 1, .n_embd = 32, .n_head = 2, .n_head_kv = 1,
		.n_ff = 64, .type = MDL_TYPE_Q8_0, .seed = 1, .vocab_from = vocab,
	};
	static const long after[] = { 0, 1, 7, 100, 10000 };
	for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
		file_io_fail_after(after[i], 28 /* ENOSPC */, 1);
		status_t st = mdl_synth_write(&p, path, &e);
		file_io_fail_reset();
		if (after[i] < 10000) {
			TH_ST(st, ST_LIMIT);
			assert_non_null(strstr(e.msg, "disk full"));
			assert_int_equal(access(path, F_OK), -1);
		} else {
			TH_OK(st);
		}
		assert_int_equal(access(tmp, F_OK), -1);
	}
	th_tmpdir_cleanup();
}

int run_model_gguf_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gguf_bad_table),
		cmocka_unit_test(test_gguf_good_mem),
		cmocka_unit_test(test_gguf_alloc_failures),
		cmocka_unit_test(test_gguf_truncated),
		cmocka_unit_test(test_gguf_writer_roundtrip),
		cmocka_unit_test(test_model_bad_metadata),
		cmocka_unit_test(test_model_bad_shapes),
		cmocka_unit_test(test_model_unsupported_type),
		cmocka_unit_test(test_model_unknown_parts),
		cmocka_unit_test(test_model_alloc_failures),
		cmocka_unit_test(test_synth_disk_full),
	};
	return cmocka_run_group_tests_name("model_gguf", tests, NULL, NULL);
}
