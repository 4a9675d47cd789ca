/*
 * cmd_tokenize.c - `airlock tokenize`: a model's tokens for a text, one
 * line per token ("id -> 'piece'") or, with --ids, a list in the format
 * of llama.cpp's llama-tokenize ("[1, 403, 407]"), with BOS where the
 * model adds it and control tokens in the text parsed, as that tool does.
 */
#include "cli/cli.h"
#include "model/model.h"
#include "model/model_tok.h"

#include <stdio.h>
#include <string.h>

/* Largest prompt file read, bytes. */
#define TOKENIZE_FILE_MAX ((size_t)64 << 20)

size_t cli_unescape(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c != '\\' || i + 1 >= n) {
			s[o++] = c;
			continue;
		}
		c = s[++i];
		switch (c) {
		case 'n': s[o++] = '\n'; break;
		case 'r': s[o++] = '\r'; break;
		case 't': s[o++] = '\t'; break;
		case '\'': s[o++] = '\''; break;
		case '"': s[o++] = '"'; break;
		case '\\': s[o++] = '\\'; break;
		case 'x':
			if (i + 2 < n && hex_decode(s + i + 1, 2, s + o, 1) == ST_OK) {
				o++;
				i += 2;
				break;
			}
			s[o++] = '\\';
			s[o++] = c;
			break;
		default:
			s[o++] = '\\';
			s[o++] = c;
			break;
		}
	}
	return o;
}

int cmd_tokenize(struct cli *cli, int argc, char **argv)
{
	const struct command *self = cli_command_find("tokenize");
	const char *model = NULL, *file = NULL, *text = NULL;
	int ids_only = 0, no_bos = 0, parse_special = 1, escape = 1, show_count = 0;
	struct mdl_vocab *v = NULL;
	struct mdl_tokens toks;
	char *data = NULL;
	size_t len = 0;
	unsigned flags;
	struct err e;
	status_t st;
	int rc = EXIT_OK;

	(void)cli;
	if (cli_wants_help(self, argc, argv))
		return EXIT_OK;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && i + 1 < argc)
			model = argv[++i];
		else if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && i + 1 < argc)
			file = argv[++i];
		else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && i + 1 < argc)
			text = argv[++i];
		else if (strcmp(a, "--ids") == 0)
			ids_only = 1;
		else if (strcmp(a, "--no-bos") == 0)
			no_bos = 1;
		else if (strcmp(a, "--no-parse-special") == 0)
			parse_special = 0;
		else if (strcmp(a, "--no-escape") == 0)
			escape = 0;
		else if (strcmp(a, "--show-count") == 0)
			show_count = 1;
		else if (a[0] == '-' && a[1]) {
			cli_error("tokenize", "unknown or incomplete option '%s'", a);
			return EXIT_USAGE;
		} else if (!text)
			text = a;
		else {
			cli_error("tokenize", "more than one TEXT given ('%s')", a);
			return EXIT_USAGE;
		}
	}
	if (!model) {
		cli_error("tokenize", "no model given (-m FILE)");
		return EXIT_USAGE;
	}
	if (!!text + !!file != 1) {
		cli_error("tokenize", "give exactly one of TEXT or -f FILE");
		return EXIT_USAGE;
	}

	err_clear(&e);
	if (file) {
		st = file_read_all(file, TOKENIZE_FILE_MAX, &data, &len, &e);
		if (st != ST_OK) {
			cli_error_err("tokenize", &e);
			return cli_exit_for(st);
		}
	} else {
		len = strlen(text);
		data = mem_strndup(text, len);
		if (!data) {
			cli_error("tokenize", "out of memory");
			return EXIT_IO;
		}
	}
	if (escape)
		len = cli_unescape(data, len);

	st = mdl_vocab_load(model, &v, &e);
	if (st != ST_OK) {
		cli_error_err("tokenize", &e);
		mem_free(data);
		return cli_exit_for(st);
	}
	mdl_tokens_init(&toks, 0);
	flags = (no_bos ? 0 : MDL_TOK_ADD_SPECIAL) | (parse_special ? MDL_TOK_PARSE_SPECIAL : 0);
	st = mdl_tokenize(v, data, len, flags, &toks, &e);
	if (st != ST_OK) {
		cli_error_err("tokenize", &e);
		rc = cli_exit_for(st);
		goto done;
	}
	if (ids_only) {
		putchar('[');
		for (size_t i = 0; i < toks.len; i++)
			printf(i ? ", %d" : "%d", toks.ids[i]);
		puts("]");
	} else {
		for (size_t i = 0; i < toks.len; i++) {
			size_t n;
			const char *p = mdl_token_piece(v, toks.ids[i], &n);

			printf("%6d -> '", toks.ids[i]);
			fwrite(p, 1, n, stdout);
			puts("'");
		}
	}
	if (show_count)
		printf("Total number of tokens: %zu\n", toks.len);
	if (fflush(stdout) != 0) {
		cli_error("tokenize", "cannot write the output");
		rc = EXIT_IO;
	}
done:
	mdl_tokens_release(&toks);
	mdl_vocab_free(v);
	mem_free(data);
	return rc;
}
