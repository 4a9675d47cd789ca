/*
 * cmd_model.c - `airlock model info|synth|import`: describe a GGUF file,
 * write a synthetic model, import a model into the data directory.
 */
#include "cli/cli.h"
#include "model/model.h"
#include "model/quant.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* info                                                                */
/* ------------------------------------------------------------------ */

/* Prints a string metadata value, or dflt. */
static void print_str(const struct mdl_gguf *g, const char *label, const char *key,
		      const char *dflt)
{
	const char *s;
	size_t n;
	if (mdl_gguf_get_str(g, key, &s, &n, NULL) == ST_OK)
		printf("%-16s %.*s\n", label, (int)(n > 200 ? 200 : n), s);
	else if (dflt)
		printf("%-16s %s\n", label, dflt);
}

/* Looks for one of the token texts in the vocabulary. */
static int has_token(const struct mdl_gguf *g, const char *const *texts, size_t n_texts)
{
	size_t n;
	enum mdl_gguf_vtype et;
	if (mdl_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) || et != MDL_GGUF_STRING)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		if (mdl_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len, NULL))
			return 0;
		for (size_t k = 0; k < n_texts; k++)
			if (len == strlen(texts[k]) && !memcmp(s, texts[k], len))
				return 1;
	}
	return 0;
}

static const char *fim_support(const struct mdl_gguf *g)
{
	static const char *const keys[] = { "tokenizer.ggml.fim_pre_token_id",
					    "tokenizer.ggml.prefix_token_id" };
	for (size_t i = 0; i < 2; i++)
		if (mdl_gguf_find(g, keys[i]) >= 0)
			return "yes (token ids in metadata)";
	static const char *const texts[] = { "<|fim_prefix|>", "<fim_prefix>", "<PRE>", "▁<PRE>",
					     "<｜fim▁begin｜>", "<fim-prefix>" };
	return has_token(g, texts, sizeof texts / sizeof texts[0]) ? "yes (FIM tokens in vocabulary)" : "no";
}

static int model_info(int argc, char **argv)
{
	const char *path = NULL;
	int want_sha = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sha256"))
			want_sha = 1;
		else if (argv[i][0] == '-' && argv[i][1]) {
			cli_error("model info", "unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		} else if (!path)
			path = argv[i];
		else {
			cli_error("model info", "more than one file given");
			return EXIT_USAGE;
		}
	}
	if (!path) {
		cli_error("model info", "no file given (usage: airlock model info FILE [--sha256])");
		return EXIT_USAGE;
	}
	struct err e = { 0 };
	struct mdl_gguf *g;
	status_t st = mdl_gguf_open(path, &g, &e);
	if (st) {
		cli_error_err("model info", &e);
		return cli_exit_for(st);
	}
	printf("%-16s %s\n", "file", path);
	printf("%-16s %zu bytes (%.1f MiB)\n", "size", mdl_gguf_file_size(g),
	       mdl_gguf_file_size(g) / 1048576.0);
	printf("%-16s GGUF v%u, %zu metadata keys, %zu tensors\n", "format", mdl_gguf_version(g),
	       mdl_gguf_n_kv(g), mdl_gguf_n_tensors(g));
	print_str(g, "name", "general.name", NULL);
	print_str(g, "architecture", "general.architecture", "(none)");

	/* Parameter count and tensor-type mix. */
	int64_t params = 0, count[64] = { 0 };
	uint64_t bytes[64] = { 0 };
	for (size_t i = 0; i < mdl_gguf_n_tensors(g); i++) {
		const struct mdl_tensor *t = mdl_gguf_tensor(g, i);
		int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
		params += n;
		if (t->type < 64) {
			count[t->type]++;
			bytes[t->type] += t->size;
		}
	}
	printf("%-16s %lld (%.2f M)\n", "parameters", (long long)params, params / 1e6);
	printf("%-16s%s", "tensor types", mdl_gguf_n_tensors(g) ? "" : " (none)");
	for (int t = 0; t < 64; t++)
		if (count[t])
			printf(" %s x%lld (%.1f MiB)", mdl_ggml_type_name((uint32_t)t),
			       (long long)count[t], bytes[t] / 1048576.0);
	printf("\n");

	const char *s;
	size_t n;
	char key[160];
	if (mdl_gguf_get_str(g, "general.architecture", &s, &n, NULL) == ST_OK && n < 64) {
		int64_t v;
		snprintf(key, sizeof key, "%.*s.context_length", (int)n, s);
		if (mdl_gguf_get_int(g, key, &v, NULL) == ST_OK)
			printf("%-16s %lld\n", "context length", (long long)v);
	}
	print_str(g, "tokenizer", "tokenizer.ggml.model", "(none)");
	print_str(g, "pre-tokenizer", "tokenizer.ggml.pre", NULL);
	enum mdl_gguf_vtype et;
	if (mdl_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) == ST_OK)
		printf("%-16s %zu tokens\n", "vocabulary", n);
	printf("%-16s %s\n", "fim", fim_support(g));
	printf("%-16s %s\n", "chat template",
	       mdl_gguf_find(g, "tokenizer.chat_template") >= 0 ? "yes" : "no");
	mdl_gguf_free(g);

	/* Can the engine run it? */
	struct mdl_model *m;
	err_clear(&e);
	/* only whether it loads: no repacking, no page-cache work */
	struct mdl_load_params lp = { .no_repack = 1, .no_hugepages = 1 };
	st = mdl_model_load_params(path, &lp, &m, &e);
	if (st) {
		char line[600];
		printf("%-16s no: %s\n", "runnable", err_format(&e, line, sizeof line));
	} else {
		const struct mdl_hparams *hp = mdl_model_hparams(m);
		printf("%-16s yes: %d layers, dim %d, %d heads (%d kv), ffn %d, vocab %d, rope base %g%s\n",
		       "runnable", hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff,
		       hp->n_vocab, hp->rope_freq_base,
		       mdl_gguf_tensor_find(mdl_model_gguf(m), "output.weight") ? "" : ", tied output");
		mdl_model_free(m);
	}
	if (want_sha) {
		uint8_t h[SHA256_LEN];
		char hex[2 * SHA256_LEN + 1];
		err_clear(&e);
		if ((st = sha256_file(path, h, &e))) {
			cli_error_err("model info", &e);
			return cli_exit_for(st);
		}
		printf("%-16s %s\n", "sha256", hex_encode(h, sizeof h, hex));
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* synth                                                               */
/* ------------------------------------------------------------------ */

static int int_arg(const char *opt, const char *v, int64_t lo, int64_t hi, int *out)
{
	int64_t x;
	if (!v || parse_i64(v, lo, hi, &x)) {
		cli_error("model synth", "%s needs an integer in %lld..%lld", opt, (long long)lo,
			  (long long)hi);
		return 0;
	}
	*out = (int)x;
	return 1;
}

static int float_arg(const char *opt, const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = v ? strtod(v, &end) : 0;
	if (!v || !*v || *end || errno || !(d > 0) || d > 1e12) {
		cli_error("model synth", "%s needs a positive number", opt);
		return 0;
	}
	*out = d;
	return 1;
}

static int model_synth(int argc, char **argv)
{
	struct mdl_synth_params p = { .arch = NULL, .type = MDL_TYPE_F32, .tied_output = -1 };
	const char *out = NULL;
	int64_t seed = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int ok = 1, takes = 1;
		if (!strcmp(a, "--arch"))
			p.arch = v;
		else if (!strcmp(a, "--layers"))
			ok = int_arg(a, v, 1, 512, &p.n_layer);
		else if (!strcmp(a, "--dim"))
			ok = int_arg(a, v, 2, 65536, &p.n_embd);
		else if (!strcmp(a, "--heads"))
			ok = int_arg(a, v, 1, 1024, &p.n_head);
		else if (!strcmp(a, "--kv-heads"))
			ok = int_arg(a, v, 1, 1024, &p.n_head_kv);
		else if (!strcmp(a, "--ffn"))
			ok = int_arg(a, v, 1, 1 << 20, &p.n_ff);
		else if (!strcmp(a, "--ctx"))
			ok = int_arg(a, v, 1, 1 << 24, &p.n_ctx);
		else if (!strcmp(a, "--rope-base"))
			ok = float_arg(a, v, &p.rope_base);
		else if (!strcmp(a, "--rope-scale"))
			ok = float_arg(a, v, &p.rope_scale);
		else if (!strcmp(a, "--vocab-from"))
			p.vocab_from = v;
		else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
			out = v;
		else if (!strcmp(a, "--seed"))
			ok = v && parse_i64(v, 0, INT64_MAX, &seed) == ST_OK;
		else if (!strcmp(a, "--type") && v &&
			 (!strcasecmp(v, "q4_k_m") || !strcasecmp(v, "q5_k_m")))
			p.mix = tolower((unsigned char)v[1]) == '4' ? MDL_SYNTH_MIX_Q4_K_M
								      : MDL_SYNTH_MIX_Q5_K_M;
		else if (!strcmp(a, "--type")) {
			int t = v ? mdl_type_from_name(v) : -1;
			const struct mdl_type_info *ti = t >= 0 ? mdl_type_info(t) : NULL;
			if (!ti || !ti->is_weight) {
				cli_error("model synth", "unknown weight type '%s'", v ? v : "");
				return EXIT_USAGE;
			}
			p.type = (uint32_t)t;
		} else if (!strcmp(a, "--tied")) {
			p.tied_output = 1;
			takes = 0;
		} else if (!strcmp(a, "--untied")) {
			p.tied_output = 0;
			takes = 0;
		} else if (!strcmp(a, "--rope-freqs")) {
			p.rope_freqs = 1;
			takes = 0;
		} else if (!strcmp(a, "--biases")) {
			p.biases = 1;
			takes = 0;
		} else {
			cli_error("model synth", "unknown option '%s'", a);
			return EXIT_USAGE;
		}
		if (!ok) {
			if (!strcmp(a, "--seed"))
				cli_error("model synth", "--seed needs a non-negative integer");
			return EXIT_USAGE;
		}
		if (takes && !v) {
			cli_error("model synth", "%s needs a value", a);
			return EXIT_USAGE;
		}
		i += takes;
	}
	if (!p.arch || !p.n_layer || !p.n_embd || !p.n_head || !p.n_ff || !p.vocab_from || !out) {
		cli_error("model synth", "--arch, --layers, --dim, --heads, --ffn, --vocab-from and -o are required");
		return EXIT_USAGE;
	}
	if (!p.n_head_kv)
		p.n_head_kv = p.n_head;
	if (p.tied_output < 0)
		p.tied_output = !strcmp(p.arch, "qwen2");
	if (p.tied_output && strcmp(p.arch, "qwen2")) {
		cli_error("model synth", "--tied is for qwen2 only");
		return EXIT_USAGE;
	}
	p.seed = (uint64_t)seed;
	struct err e = { 0 };
	status_t st = mdl_synth_write(&p, out, &e);
	if (st) {
		cli_error_err("model synth", &e);
		return cli_exit_for(st);
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* import                                                              */
/* ------------------------------------------------------------------ */

/* Copies src to dst (through dst.tmp, fsynced, renamed) hashing the bytes. */
static status_t copy_hashed(const char *src, const char *dst, uint8_t hash[SHA256_LEN],
			    uint64_t *size, struct err *e)
{
	char tmp[4500];
	snprintf(tmp, sizeof tmp, "%s.tmp", dst);
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_set(e, ST_IO, "cannot open %s: %s", src, strerror(errno));
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		return err_set(e, ST_IO, "cannot create %s: %s", tmp, strerror(errno));
	}
	enum { CHUNK = 1 << 20 };
	char *b = mem_alloc(CHUNK);
	status_t st = b ? ST_OK : ST_NOMEM;
	struct sha256 h;
	sha256_begin(&h);
	*size = 0;
	while (!st) {
		size_t got;
		if ((st = file_read_full(in, b, CHUNK, &got)))
			break;
		if (got == 0)
			break;
		sha256_add(&h, b, got);
		*size += got;
		st = file_write_full(out, b, got);
	}
	sha256_end(&h, hash);
	mem_free(b);
	close(in);
	if (!st && fsync(out) != 0)
		st = ST_IO;
	if (close(out) != 0 && !st)
		st = ST_IO;
	if (!st && rename(tmp, dst) != 0)
		st = ST_IO;
	if (st) {
		unlink(tmp);
		return err_set(e, st, "cannot copy %s to %s: %s", src, dst, strerror(errno));
	}
	return ST_OK;
}

static int model_import(struct cli *cli, int argc, char **argv)
{
	const char *path = NULL, *name = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else if (argv[i][0] == '-') {
			cli_error("model import", "unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		} else if (!path)
			path = argv[i];
		else {
			cli_error("model import", "more than one file given");
			return EXIT_USAGE;
		}
	}
	if (!path) {
		cli_error("model import", "no file given (usage: airlock model import FILE [--name NAME])");
		return EXIT_USAGE;
	}
	if (!name) {
		name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	}
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    !strcmp(name, "manifest.json") || strlen(name) > 200) {
		cli_error("model import", "bad model name '%s'", name);
		return EXIT_USAGE;
	}
	/* Check it is a GGUF we can read before copying anything. */
	struct err e = { 0 };
	struct mdl_gguf *g;
	status_t st = mdl_gguf_open(path, &g, &e);
	if (st) {
		cli_error_err("model import", &e);
		return cli_exit_for(st);
	}
	char arch[64] = "unknown";
	const char *s;
	size_t n;
	if (mdl_gguf_get_str(g, "general.architecture", &s, &n, NULL) == ST_OK)
		snprintf(arch, sizeof arch, "%.*s", (int)(n < 63 ? n : 63), s);
	mdl_gguf_free(g);

	char dir[4096], dst[4400], man[4400];
	snprintf(dir, sizeof dir, "%s/models", cli->data_dir);
	snprintf(dst, sizeof dst, "%s/%s", dir, name);
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	if ((st = file_mkdirs(dir, 0755, &e))) {
		cli_error_err("model import", &e);
		return cli_exit_for(st);
	}
	/* The manifest: {"models": [{name, file, sha256, architecture, size, imported_at}]} */
	json_t *root = NULL;
	if (access(man, F_OK) == 0) {
		json_error_t je;
		root = json_load_file(man, 0, &je);
		if (!root || !json_is_object(root) || !json_is_array(json_object_get(root, "models"))) {
			cli_error("model import", "%s: not a valid manifest (line %d: %s)", man,
				  je.line, root ? "no models list" : je.text);
			json_decref(root);
			return EXIT_DATA;
		}
	} else {
		root = json_pack("{s:[]}", "models");
	}
	uint8_t hash[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	uint64_t size = 0;
	if ((st = copy_hashed(path, dst, hash, &size, &e))) {
		json_decref(root);
		cli_error_err("model import", &e);
		return cli_exit_for(st);
	}
	hex_encode(hash, sizeof hash, hex);
	json_t *models = json_object_get(root, "models"), *entry = NULL;
	size_t idx;
	json_t *it;
	json_array_foreach(models, idx, it) {
		const char *nm = json_string_value(json_object_get(it, "name"));
		if (nm && !strcmp(nm, name))
			entry = it;
	}
	char when[32];
	time_t now = time(NULL);
	struct tm tmv;
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
	if (entry) {
		const char *old = json_string_value(json_object_get(entry, "sha256"));
		if (old && !strcmp(old, hex)) {
			printf("%s: already imported, unchanged (sha256 %s)\n", name, hex);
		} else {
			printf("%s: CHANGED since its last import: sha256 %s -> %s\n", name,
			       old ? old : "?", hex);
			json_object_set_new(entry, "previous_sha256", json_string(old ? old : ""));
		}
	} else {
		entry = json_object();
		json_array_append_new(models, entry);
		printf("%s: imported (sha256 %s)\n", name, hex);
	}
	json_object_set_new(entry, "name", json_string(name));
	json_object_set_new(entry, "file", json_string(name));
	json_object_set_new(entry, "sha256", json_string(hex));
	json_object_set_new(entry, "architecture", json_string(arch));
	json_object_set_new(entry, "size", json_integer((json_int_t)size));
	json_object_set_new(entry, "imported_at", json_string(when));
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text) {
		cli_error("model import", "out of memory");
		return EXIT_IO;
	}
	st = file_write_atomic(man, text, strlen(text), 0644, &e);
	mem_free(text);	/* jansson allocates through core (main.c) */
	if (st) {
		cli_error_err("model import", &e);
		return cli_exit_for(st);
	}
	return EXIT_OK;
}

int cmd_model(struct cli *cli, int argc, char **argv)
{
	if (argc < 2) {
		cli_error("model", "missing subcommand (info, synth, import); see `airlock help model`");
		return EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "info"))
		return model_info(argc - 1, argv + 1);
	if (!strcmp(sub, "synth"))
		return model_synth(argc - 1, argv + 1);
	if (!strcmp(sub, "import"))
		return model_import(cli, argc - 1, argv + 1);
	cli_error("model", "unknown subcommand '%s' (info, synth, import)", sub);
	return EXIT_USAGE;
}
