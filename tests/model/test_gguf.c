/*
 * test_gguf.c - the GGUF reader on a real file and on a table of bad ones.
 */
#include "harness.h"
#include "model/model.h"

#include <string.h>

static void test_gguf_stories(void **state)
{
	char path[1024];
	struct err e = { 0 };
	struct mdl_gguf *g;
	(void)state;
	th_shared_path("models/stories260K.gguf", path, sizeof path);
	TH_OK(mdl_gguf_open(path, &g, &e));
	const char *s;
	size_t n;
	TH_OK(mdl_gguf_get_str(g, "general.architecture", &s, &n, &e));
	assert_int_equal(n, 5);
	assert_memory_equal(s, "llama", 5);
	int64_t v;
	TH_OK(mdl_gguf_get_int(g, "llama.block_count", &v, &e));
	assert_int_equal(v, 5);
	enum mdl_gguf_vtype et;
	TH_OK(mdl_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &e));
	assert_int_equal(et, MDL_GGUF_STRING);
	assert_int_equal(n, 512);
	TH_OK(mdl_gguf_arr_str(g, "tokenizer.ggml.tokens", 432, &s, &n, &e));
	assert_int_equal(n, 1);
	assert_memory_equal(s, ",", 1);
	TH_ST(mdl_gguf_get_int(g, "no.such.key", &v, &e), ST_NOTFOUND);
	TH_ST(mdl_gguf_get_int(g, "general.architecture", &v, &e), ST_CORRUPT);
	const struct mdl_tensor *t = mdl_gguf_tensor_find(g, "token_embd.weight");
	assert_non_null(t);
	assert_int_equal(t->ne[0], 64);
	assert_int_equal(t->ne[1], 512);
	mdl_gguf_free(g);
}

int run_model_gguf_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gguf_stories),
	};
	return cmocka_run_group_tests_name("model_gguf", tests, NULL, NULL);
}
