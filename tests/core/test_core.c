/* test_core.c - core: status, allocation faults, arena, buf, vec, hmap, parsing. */
#include "harness.h"

#include <string.h>

static void test_status_strings(void **state)
{
	(void)state;
	assert_string_equal(status_str(ST_NOMEM), "out of memory");
	assert_string_equal(status_name(ST_CORRUPT), "CORRUPT");
	assert_string_equal(status_str((status_t)999), "unknown status");
}

static void test_err_format(void **state)
{
	struct err e;
	char line[256];

	(void)state;
	err_clear(&e);
	assert_int_equal(err_setat(&e, ST_CONFIG, "a.yaml", 3, 7, "bad %s", "thing"),
			 ST_CONFIG);
	assert_string_equal(err_format(&e, line, sizeof line), "a.yaml:3:7: bad thing");
	err_set(&e, ST_IO, "disk %d", 2);
	assert_string_equal(err_format(&e, line, sizeof line), "disk 2");
	/* NULL err is accepted everywhere. */
	assert_int_equal(err_set(NULL, ST_LIMIT, "x"), ST_LIMIT);
}

static void test_mem_fault_injection(void **state)
{
	void *p, *q;

	(void)state;
	mem_fail_after(1, 0);
	p = mem_alloc(16);
	assert_non_null(p);
	q = mem_alloc(16);
	assert_null(q);
	assert_null(mem_calloc(2, 8));
	mem_fail_reset();
	q = mem_alloc(16);
	assert_non_null(q);
	mem_free(p);
	mem_free(q);

	mem_fail_after(0, 1);	/* only the next one fails */
	assert_null(mem_alloc(8));
	p = mem_alloc(8);
	assert_non_null(p);
	mem_free(p);
	mem_fail_reset();
	/* Overflowing sizes fail cleanly. */
	assert_null(mem_calloc(SIZE_MAX / 2, 4));
	assert_null(mem_alloc_array(SIZE_MAX / 2, 4));
}

static void test_arena(void **state)
{
	struct arena a;
	char *s;
	int *ints;

	(void)state;
	arena_init(&a, 128, 0);
	s = arena_strdup(&a, "hello");
	assert_string_equal(s, "hello");
	ints = arena_calloc(&a, 100, sizeof(int));	/* bigger than a block */
	assert_non_null(ints);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ints[i], 0);
	assert_int_equal((uintptr_t)ints % 16, 0);
	assert_string_equal(arena_printf(&a, "%d-%s", 42, "x"), "42-x");
	arena_reset(&a);
	assert_int_equal(a.used, 0);
	arena_release(&a);

	/* A limit makes allocation fail cleanly. */
	arena_init(&a, 64, 256);
	assert_non_null(arena_alloc(&a, 200));
	assert_null(arena_alloc(&a, 200));
	arena_release(&a);

	/* Out of memory inside the arena is reported as NULL. */
	arena_init(&a, 64, 0);
	mem_fail_after(0, 0);
	assert_null(arena_alloc(&a, 8));
	mem_fail_reset();
	arena_release(&a);
}

static void test_buf(void **state)
{
	struct buf b;
	char *d;
	size_t len;

	(void)state;
	buf_init(&b, 16);
	assert_string_equal(buf_cstr(&b), "");
	TH_OK(buf_puts(&b, "abc"));
	TH_OK(buf_printf(&b, "%d", 12345));
	assert_string_equal(buf_cstr(&b), "abc12345");
	TH_ST(buf_puts(&b, "0123456789"), ST_LIMIT);	/* over the cap */
	assert_string_equal(buf_cstr(&b), "abc12345");	/* unchanged */
	TH_OK(buf_puts(&b, "67890123"));
	assert_int_equal(b.len, 16);
	TH_ST(buf_putc(&b, 'x'), ST_LIMIT);
	d = buf_detach(&b, &len);
	assert_int_equal(len, 16);
	assert_string_equal(d, "abc1234567890123");
	mem_free(d);
	assert_null(b.data);

	buf_init(&b, 0);
	mem_fail_after(0, 0);
	TH_ST(buf_puts(&b, "x"), ST_NOMEM);
	mem_fail_reset();
	buf_release(&b);
}

static void test_vec(void **state)
{
	struct vec v;

	(void)state;
	vec_init(&v, sizeof(int));
	for (int i = 0; i < 1000; i++)
		TH_OK(vec_push(&v, &i));
	assert_int_equal(v.len, 1000);
	assert_int_equal(VEC_AT(&v, int, 999), 999);
	assert_int_equal(*(int *)vec_at(&v, 500), 500);
	assert_null(vec_at(&v, 1000));
	vec_release(&v);
}

static void test_hmap(void **state)
{
	struct hmap m;
	char key[32];
	void *val;
	size_t it = 0, count = 0;
	const void *k;
	size_t kl;

	(void)state;
	hmap_init(&m);
	TH_ST(hmap_get(&m, "x", 1, &val), ST_NOTFOUND);
	for (long i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof key, "key-%ld", i);
		TH_OK(hmap_put(&m, key, (size_t)n, (void *)(i + 1)));
	}
	assert_int_equal(m.len, 5000);
	for (long i = 0; i < 5000; i += 2) {
		int n = snprintf(key, sizeof key, "key-%ld", i);
		TH_OK(hmap_del(&m, key, (size_t)n));
	}
	assert_int_equal(m.len, 2500);
	for (long i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof key, "key-%ld", i);
		if (i % 2) {
			TH_OK(hmap_get(&m, key, (size_t)n, &val));
			assert_int_equal((long)val, i + 1);
		} else {
			TH_ST(hmap_get(&m, key, (size_t)n, &val), ST_NOTFOUND);
		}
	}
	TH_OK(hmap_put(&m, "key-1", 5, (void *)7));	/* replace */
	TH_OK(hmap_get(&m, "key-1", 5, &val));
	assert_int_equal((long)val, 7);
	while (hmap_next(&m, &it, &k, &kl, &val))
		count++;
	assert_int_equal(count, 2500);
	/* Binary keys with NUL bytes. */
	TH_OK(hmap_put(&m, "a\0b", 3, (void *)1));
	TH_ST(hmap_get(&m, "a\0c", 3, &val), ST_NOTFOUND);
	hmap_release(&m);

	/* Allocation failure leaves the map usable and leak-free. */
	hmap_init(&m);
	mem_fail_after(0, 0);
	TH_ST(hmap_put(&m, "k", 1, NULL), ST_NOMEM);
	mem_fail_reset();
	TH_OK(hmap_put(&m, "k", 1, NULL));
	hmap_release(&m);
}

static int int_less(const void *x, const void *y)
{
	return *(const int *)x < *(const int *)y;
}

static void test_heap(void **state)
{
	struct heap h;
	int v, prev = -1, n = 0;

	(void)state;
	heap_init(&h, sizeof(int), int_less);
	assert_int_equal(heap_pop(&h, &v), 0);
	/* A pseudo-random permutation of 0..999 comes out sorted. */
	for (int i = 0; i < 1000; i++) {
		v = (i * 7919) % 1000;
		TH_OK(heap_push(&h, &v));
	}
	while (heap_pop(&h, &v)) {
		assert_int_equal(v, prev + 1);
		prev = v;
		n++;
	}
	assert_int_equal(n, 1000);
	heap_clear(&h);
	mem_fail_after(0, 0);
	v = 1;
	/* Memory already reserved: no allocation needed. */
	TH_OK(heap_push(&h, &v));
	mem_fail_reset();
	heap_release(&h);
	heap_init(&h, sizeof(int), int_less);
	mem_fail_after(0, 0);
	TH_ST(heap_push(&h, &v), ST_NOMEM);
	mem_fail_reset();
	heap_release(&h);
}

static void test_parse(void **state)
{
	int64_t v;
	uint64_t u;

	(void)state;
	TH_OK(parse_i64("42", 0, 100, &v));
	assert_int_equal(v, 42);
	TH_ST(parse_i64("101", 0, 100, &v), ST_LIMIT);
	TH_ST(parse_i64("4x", 0, 100, &v), ST_INVAL);
	TH_ST(parse_i64("", 0, 100, &v), ST_INVAL);
	TH_ST(parse_i64(" 4", 0, 100, &v), ST_INVAL);
	TH_ST(parse_i64("99999999999999999999", INT64_MIN, INT64_MAX, &v), ST_LIMIT);
	TH_OK(parse_duration_ms("30d", &v));
	assert_int_equal(v, 30LL * 86400000);
	TH_OK(parse_duration_ms("500ms", &v));
	assert_int_equal(v, 500);
	TH_OK(parse_duration_ms("10", &v));
	assert_int_equal(v, 10000);
	TH_ST(parse_duration_ms("10y", &v), ST_INVAL);
	TH_ST(parse_duration_ms("-1s", &v), ST_INVAL);
	TH_OK(parse_size("64k", &u));
	assert_int_equal(u, 65536);
	TH_OK(parse_size("2GiB", &u));
	assert_int_equal(u, 2ULL << 30);
	TH_ST(parse_size("3q", &u), ST_INVAL);
	TH_ST(parse_size("99999999999999T", &u), ST_LIMIT);
}

static void test_str_copy(void **state)
{
	char small[4];

	(void)state;
	assert_int_equal(str_copy(small, "abcdef", sizeof small), 6);
	assert_string_equal(small, "abc");
}

static void test_cpu_features(void **state)
{
	char s[256];

	(void)state;
	cpu_features_str(s, sizeof s);
	assert_true(strlen(s) > 0);
	/* AVX-512 implies AVX2 on every CPU that has it. */
	if (cpu_features()->avx512f)
		assert_true(cpu_features()->avx2);
}

int run_core_basic_tests(void);
int run_core_basic_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_strings),
		cmocka_unit_test(test_err_format),
		cmocka_unit_test(test_mem_fault_injection),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_vec),
		cmocka_unit_test(test_hmap),
		cmocka_unit_test(test_heap),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_str_copy),
		cmocka_unit_test(test_cpu_features),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
