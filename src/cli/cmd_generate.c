/*
 * cmd_generate.c - `airlock generate`: runs a GGUF model on a prompt (or,
 * with --suffix, a fill-in-the-middle prompt; with --chat, the prompt as
 * a user message in the model's chat template) and streams the generated
 * text to stdout as it is produced. The prompt itself is not echoed.
 */
#include "cli/cli.h"
#include "model/model.h"
#include "model/model_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STOPS 16

static int parse_float(const char *s, float *out)
{
	char *end;
	double d = strtod(s, &end);

	if (end == s || *end || d != d)
		return -1;
	*out = (float)d;
	return 0;
}

static int emit_stdout(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	if (fwrite(text, 1, len, stdout) != len)
		return 1;
	return fflush(stdout) != 0;
}

int cmd_generate(struct cli *cli, int argc, char **argv)
{
	const struct command *self = cli_command_find("generate");
	const char *model = NULL, *prompt = NULL, *suffix = NULL;
	const char *stops[MAX_STOPS];
	size_t n_stops = 0;
	int64_t n_predict = 128, top_k = 40, n_ctx = 0, threads = 0, seed = 0, ids = 0;
	int chat = 0, escape = 1;
	/* f16 by default, as the server and llama.cpp */
	struct mdl_ctx_params cp = { .kv_f16 = 1 };
	struct mdl_gen_params gp;
	struct mdl_model *m = NULL;
	struct mdl_ctx *c = NULL;
	struct mdl_vocab *v = NULL;
	struct mdl_tokens in, outids;
	char *ptext = NULL, *stext = NULL;
	struct buf chatbuf;
	enum mdl_gen_end why;
	struct err e;
	status_t st;
	int rc = EXIT_OK;

	(void)cli;
	if (cli_wants_help(self, argc, argv))
		return EXIT_OK;
	memset(&gp, 0, sizeof gp);
	mdl_sampler_params_default(&gp.sampling);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(a, "--ids") == 0) {
			ids = 1;
			continue;
		}
		if (strcmp(a, "--chat") == 0) {
			chat = 1;
			continue;
		}
		if (strcmp(a, "--no-escape") == 0) {
			escape = 0;
			continue;
		}
		if (!val) {
			cli_error("generate", "unknown or incomplete option '%s'", a);
			return EXIT_USAGE;
		}
		i++;
		if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
			model = val;
		else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0)
			prompt = val;
		else if (strcmp(a, "--suffix") == 0)
			suffix = val;
		else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0)
			bad = parse_i64(val, 1, 1 << 20, &n_predict) != ST_OK;
		else if (strcmp(a, "--temp") == 0)
			bad = parse_float(val, &gp.sampling.temp);
		else if (strcmp(a, "--top-k") == 0)
			bad = parse_i64(val, 0, INT32_MAX, &top_k) != ST_OK;
		else if (strcmp(a, "--top-p") == 0)
			bad = parse_float(val, &gp.sampling.top_p);
		else if (strcmp(a, "--min-p") == 0)
			bad = parse_float(val, &gp.sampling.min_p);
		else if (strcmp(a, "--repeat-penalty") == 0)
			bad = parse_float(val, &gp.sampling.repeat_penalty);
		else if (strcmp(a, "--seed") == 0)
			bad = parse_i64(val, 0, INT64_MAX, &seed) != ST_OK;
		else if (strcmp(a, "-c") == 0 || strcmp(a, "--ctx-size") == 0)
			bad = parse_i64(val, 8, 1 << 20, &n_ctx) != ST_OK;
		else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0)
			bad = parse_i64(val, 0, 1024, &threads) != ST_OK;
		else if (strcmp(a, "--kv") == 0) {
			if (mdl_ctx_params_set_kv(&cp, val) != ST_OK) {
				cli_error("generate", "--kv is f16, f32 or q8_0");
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--stop") == 0) {
			if (n_stops == MAX_STOPS || !val[0]) {
				cli_error("generate", "--stop: at most %d non-empty strings", MAX_STOPS);
				return EXIT_USAGE;
			}
			stops[n_stops++] = val;
		} else {
			cli_error("generate", "unknown option '%s'", a);
			return EXIT_USAGE;
		}
		if (bad) {
			cli_error("generate", "%s: bad value '%s'", a, val);
			return EXIT_USAGE;
		}
	}
	if (!model || !prompt) {
		cli_error("generate", "-m FILE and -p TEXT are required");
		return EXIT_USAGE;
	}
	if (chat && suffix) {
		cli_error("generate", "--chat and --suffix do not go together");
		return EXIT_USAGE;
	}
	gp.n_predict = (int32_t)n_predict;
	gp.sampling.top_k = (int32_t)top_k;
	gp.sampling.seed = (uint64_t)seed;
	gp.stops = stops;
	gp.n_stops = n_stops;

	err_clear(&e);
	buf_init(&chatbuf, 0);
	mdl_tokens_init(&in, 0);
	mdl_tokens_init(&outids, 0);
	ptext = mem_strdup(prompt);
	stext = mem_strdup(suffix ? suffix : "");
	if (!ptext || !stext) {
		st = err_set(&e, ST_NOMEM, "generate: prompt");
		goto fail;
	}
	{
		size_t plen = strlen(ptext), slen = strlen(stext);

		if (escape) {
			plen = cli_unescape(ptext, plen);
			slen = cli_unescape(stext, slen);
		}
		st = mdl_model_load(model, &m, &e);
		if (st == ST_OK)
			st = mdl_vocab_from_gguf(mdl_model_gguf(m), &v, &e);
		if (st != ST_OK)
			goto fail;
		if (suffix) {
			struct mdl_fim_input fi = { .prefix = ptext, .prefix_len = plen,
						    .suffix = stext, .suffix_len = slen };

			st = mdl_fim_prompt(v, &fi, &in, &e);
		} else if (chat) {
			enum mdl_chat_template t;
			struct mdl_chat_msg msg = { "user", ptext };

			st = mdl_chat_detect(v, &t, &e);
			if (st == ST_OK)
				st = mdl_chat_render(t, &msg, 1, 1, &chatbuf, &e);
			if (st == ST_OK)
				st = mdl_tokenize(v, chatbuf.data, chatbuf.len,
						  MDL_TOK_ADD_SPECIAL | MDL_TOK_PARSE_SPECIAL, &in, &e);
		} else {
			st = mdl_tokenize(v, ptext, plen, MDL_TOK_ADD_SPECIAL | MDL_TOK_PARSE_SPECIAL,
					  &in, &e);
		}
		if (st != ST_OK)
			goto fail;
	}
	if (n_ctx == 0) {
		n_ctx = mdl_model_n_ctx_train(m);
		if (n_ctx <= 0 || n_ctx > 4096)
			n_ctx = 4096;
		if (n_ctx < (int64_t)in.len + n_predict + 1)
			n_ctx = (int64_t)in.len + n_predict + 1;
	}
	cp.n_ctx = (int)n_ctx;
	cp.n_threads = (int)threads;
	st = mdl_ctx_new_params(m, &cp, &c, &e);
	if (st != ST_OK)
		goto fail;
	st = mdl_generate(m, c, v, in.ids, in.len, &gp, emit_stdout, NULL, &outids, &why, &e);
	if (st != ST_OK) {
		if (st == ST_CANCELLED)
			err_set(&e, ST_IO, "generate: cannot write the output");
		goto fail;
	}
	putchar('\n');
	fflush(stdout);
	if (ids) {
		fputs("ids:", stderr);
		for (size_t i = 0; i < outids.len; i++)
			fprintf(stderr, " %d", outids.ids[i]);
		fputc('\n', stderr);
	}
	LOG_DEBUG("generate.done", LF_INT("prompt_tokens", in.len),
		 LF_INT("tokens", outids.len), LF_INT("end", why));
	goto done;
fail:
	cli_error_err("generate", &e);
	rc = cli_exit_for(e.st != ST_OK ? e.st : st);
done:
	mdl_ctx_free(c);
	mdl_vocab_free(v);
	mdl_model_free(m);
	mdl_tokens_release(&in);
	mdl_tokens_release(&outids);
	buf_release(&chatbuf);
	mem_free(ptext);
	mem_free(stext);
	return rc;
}
