/*
 * tok_prompt.c - prompts in the shape each model family was trained on:
 * fill-in-the-middle (prefix-suffix-middle order, with repository and
 * file context where the vocabulary has <|repo_name|> / <|file_sep|>),
 * and chat templates rendered in C. A template is recognised from
 * tokenizer.chat_template by the same marks llama.cpp looks for; Jinja is
 * never run.
 */
#include "model/tok_int.h"

#include <ctype.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* FIM                                                                 */
/* ------------------------------------------------------------------ */

int mdl_vocab_has_fim(const struct mdl_vocab *v)
{
	return v->special[MDL_SPECIAL_FIM_PRE] >= 0 && v->special[MDL_SPECIAL_FIM_SUF] >= 0 &&
	       v->special[MDL_SPECIAL_FIM_MID] >= 0;
}

/* Plain text of a FIM prompt: never parses control tokens, no SPM space. */
static status_t fim_text(const struct mdl_vocab *v, const char *s, size_t n,
			 struct mdl_tokens *out, struct err *e)
{
	return mdl_tokenize(v, s, n, MDL_TOK_NO_SPACE_PREFIX, out, e);
}

/* Text followed by a newline, as file names and the repository name are. */
static status_t fim_line(const struct mdl_vocab *v, const char *s,
			 struct mdl_tokens *out, struct err *e)
{
	struct buf b;
	status_t st;

	buf_init(&b, 0);
	st = buf_puts(&b, s);
	if (st == ST_OK)
		st = buf_putc(&b, '\n');
	if (st != ST_OK) {
		buf_release(&b);
		return err_set(e, st, "fim: prompt");
	}
	st = fim_text(v, b.data, b.len, out, e);
	buf_release(&b);
	return st;
}

status_t mdl_fim_prompt(const struct mdl_vocab *v, const struct mdl_fim_input *in,
			struct mdl_tokens *out, struct err *e)
{
	int32_t rep = v->special[MDL_SPECIAL_FIM_REP], sep = v->special[MDL_SPECIAL_FIM_SEP];
	size_t saved = out->len;
	status_t st = ST_OK;

	if (!mdl_vocab_has_fim(v))
		return err_set(e, ST_UNSUPPORTED,
			       "fim: the model has no fill-in-the-middle tokens (tokenizer %s, pre-tokenizer '%s')",
			       v->kind == MDL_VOCAB_SPM ? "llama" : "gpt2", v->pre_name);
	if (v->add_bos)
		st = mdl_tokens_push(out, v->special[MDL_SPECIAL_BOS]);

	/* repository-level context: <repo>name\n <sep>path\ncontent ... */
	if (st == ST_OK && rep >= 0 && in->repo) {
		st = mdl_tokens_push(out, rep);
		if (st == ST_OK)
			st = fim_line(v, in->repo, out, e);
	}
	for (size_t i = 0; st == ST_OK && i < in->n_files; i++) {
		const struct mdl_fim_file *f = &in->files[i];

		if (sep >= 0) {
			st = mdl_tokens_push(out, sep);
			if (st == ST_OK)
				st = fim_line(v, f->path ? f->path : "file", out, e);
		} else {
			/* no file separator token: a plain-text separator line */
			struct buf b;

			buf_init(&b, 0);
			st = buf_printf(&b, "\n\n--- %s ---\n\n", f->path ? f->path : "snippet");
			if (st == ST_OK)
				st = fim_text(v, b.data, b.len, out, e);
			buf_release(&b);
		}
		if (st == ST_OK)
			st = fim_text(v, f->text, f->text_len, out, e);
		/* each file ends with a newline before the next separator */
		if (st == ST_OK && sep >= 0 && f->text_len && f->text[f->text_len - 1] != '\n')
			st = fim_text(v, "\n", 1, out, e);
	}
	if (st == ST_OK && sep >= 0 && (in->path || in->n_files)) {
		st = mdl_tokens_push(out, sep);
		if (st == ST_OK)
			st = fim_line(v, in->path ? in->path : "file", out, e);
	}

	if (st == ST_OK)
		st = mdl_tokens_push(out, v->special[MDL_SPECIAL_FIM_PRE]);
	if (st == ST_OK)
		st = fim_text(v, in->prefix, in->prefix_len, out, e);
	if (st == ST_OK)
		st = mdl_tokens_push(out, v->special[MDL_SPECIAL_FIM_SUF]);
	if (st == ST_OK)
		st = fim_text(v, in->suffix, in->suffix_len, out, e);
	if (st == ST_OK)
		st = mdl_tokens_push(out, v->special[MDL_SPECIAL_FIM_MID]);
	if (st != ST_OK) {
		out->len = saved;
		if (e && e->st != st)
			err_set(e, st, "fim: prompt");
	}
	return st;
}

/* ------------------------------------------------------------------ */
/* Chat templates                                                      */
/* ------------------------------------------------------------------ */

static const struct {
	enum mdl_chat_template t;
	const char *name;
} chat_names[] = {
	{ MDL_CHAT_CHATML, "chatml" },
	{ MDL_CHAT_LLAMA3, "llama3" },
	{ MDL_CHAT_LLAMA2, "llama2" },
	{ MDL_CHAT_MISTRAL_V1, "mistral-v1" },
	{ MDL_CHAT_MISTRAL_V3, "mistral-v3" },
	{ MDL_CHAT_MISTRAL_V7, "mistral-v7" },
	{ MDL_CHAT_DEEPSEEK, "deepseek" },
	{ MDL_CHAT_DEEPSEEK3, "deepseek3" },
	{ MDL_CHAT_PHI3, "phi3" },
};

const char *mdl_chat_template_name(enum mdl_chat_template t)
{
	for (size_t i = 0; i < sizeof chat_names / sizeof chat_names[0]; i++)
		if (chat_names[i].t == t)
			return chat_names[i].name;
	return "unknown";
}

status_t mdl_chat_template_parse(const char *name, enum mdl_chat_template *out)
{
	for (size_t i = 0; i < sizeof chat_names / sizeof chat_names[0]; i++)
		if (strcmp(chat_names[i].name, name) == 0) {
			*out = chat_names[i].t;
			return ST_OK;
		}
	return ST_NOTFOUND;
}

/* Recognises a Jinja template by its marks; MDL_CHAT_UNKNOWN if none fits. */
static enum mdl_chat_template detect_text(const char *t)
{
#define HAS(s) (strstr(t, (s)) != NULL)
	if (HAS("<|im_start|>"))
		return HAS("<|im_sep|>") ? MDL_CHAT_UNKNOWN : MDL_CHAT_CHATML;
	if (strncmp(t, "mistral", 7) == 0 || HAS("[INST]")) {
		if (HAS("[SYSTEM_PROMPT]"))
			return MDL_CHAT_MISTRAL_V7;
		if (HAS("' [INST] ' + system_message") || HAS("[AVAILABLE_TOOLS]")) {
			if (HAS(" [INST]"))
				return MDL_CHAT_MISTRAL_V1;
			if (HAS("\"[INST]\""))
				return MDL_CHAT_UNKNOWN;	/* v3-tekken */
			return MDL_CHAT_MISTRAL_V3;
		}
		return MDL_CHAT_LLAMA2;
	}
	if (HAS("<|assistant|>") && HAS("<|end|>"))
		return MDL_CHAT_PHI3;
	if (HAS("### Instruction:") && HAS("<|EOT|>"))
		return MDL_CHAT_DEEPSEEK;
	if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>"))
		return MDL_CHAT_LLAMA3;
	if (HAS("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>") && HAS("<\xEF\xBD\x9C" "User\xEF\xBD\x9C>") &&
	    HAS("<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"))
		return MDL_CHAT_DEEPSEEK3;
	return MDL_CHAT_UNKNOWN;
#undef HAS
}

status_t mdl_chat_detect(const struct mdl_vocab *v, enum mdl_chat_template *out,
			 struct err *e)
{
	const char *t = v->chat_template;

	*out = MDL_CHAT_UNKNOWN;
	if (t) {
		if (mdl_chat_template_parse(t, out) == ST_OK)
			return ST_OK;
		*out = detect_text(t);
		if (*out != MDL_CHAT_UNKNOWN)
			return ST_OK;
		{
			/* name the template by its start, on one line */
			char head[61];
			size_t i;

			for (i = 0; t[i] && i + 1 < sizeof head; i++)
				head[i] = (t[i] == '\n' || t[i] == '\r') ? ' ' : t[i];
			head[i] = 0;
			return err_set(e, ST_UNSUPPORTED,
				       "chat: the model's chat template is not one we render: '%s%s'",
				       head, t[i] ? "..." : "");
		}
	}
	/* no template: the special tokens tell the family */
	if (mdl__tok_find(v, "<|im_start|>", 12) >= 0)
		*out = MDL_CHAT_CHATML;
	else if (mdl__tok_find(v, "<|start_header_id|>", 19) >= 0)
		*out = MDL_CHAT_LLAMA3;
	if (*out != MDL_CHAT_UNKNOWN)
		return ST_OK;
	return err_set(e, ST_UNSUPPORTED,
		       "chat: the model has no chat template (tokenizer.chat_template) and no chat tokens");
}

/* content without leading and trailing whitespace, as Jinja's trim */
static status_t put_trimmed(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return buf_append(b, s, n);
}

static int role_is(const struct mdl_chat_msg *m, const char *r)
{
	return strcmp(m->role, r) == 0;
}

status_t mdl_chat_render(enum mdl_chat_template t, const struct mdl_chat_msg *msgs,
			 size_t n, int add_assistant, struct buf *out,
			 struct err *e)
{
	size_t start = out->len;
	status_t st = ST_OK;
	int in_turn = 0;

	for (size_t i = 0; i < n; i++) {
		if (!msgs[i].role || !msgs[i].content)
			return err_set(e, ST_INVAL, "chat: message %zu has no role or content", i);
		if (!role_is(&msgs[i], "system") && !role_is(&msgs[i], "user") &&
		    !role_is(&msgs[i], "assistant"))
			return err_set(e, ST_INVAL, "chat: message %zu has role '%.32s' (system, user, assistant)",
				       i, msgs[i].role);
	}

	switch (t) {
	case MDL_CHAT_CHATML:
		for (size_t i = 0; i < n && st == ST_OK; i++)
			st = buf_printf(out, "<|im_start|>%s\n%s<|im_end|>\n", msgs[i].role,
					msgs[i].content);
		if (st == ST_OK && add_assistant)
			st = buf_puts(out, "<|im_start|>assistant\n");
		break;
	case MDL_CHAT_LLAMA3:
		for (size_t i = 0; i < n && st == ST_OK; i++) {
			st = buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n",
					msgs[i].role);
			if (st == ST_OK)
				st = put_trimmed(out, msgs[i].content);
			if (st == ST_OK)
				st = buf_puts(out, "<|eot_id|>");
		}
		if (st == ST_OK && add_assistant)
			st = buf_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
		break;
	case MDL_CHAT_LLAMA2:
		/* CodeLlama-Instruct: BOS before each later turn, content trimmed */
		in_turn = 1;
		st = buf_puts(out, "[INST] ");
		for (size_t i = 0; i < n && st == ST_OK; i++) {
			if (!in_turn) {
				in_turn = 1;
				st = buf_puts(out, "<s>[INST] ");
			}
			if (st != ST_OK)
				break;
			if (role_is(&msgs[i], "system")) {
				st = buf_puts(out, "<<SYS>>\n");
				if (st == ST_OK)
					st = put_trimmed(out, msgs[i].content);
				if (st == ST_OK)
					st = buf_puts(out, "\n<</SYS>>\n\n");
			} else if (role_is(&msgs[i], "user")) {
				st = put_trimmed(out, msgs[i].content);
				if (st == ST_OK)
					st = buf_puts(out, " [/INST]");
			} else {
				st = put_trimmed(out, msgs[i].content);
				if (st == ST_OK)
					st = buf_puts(out, "</s>");
				in_turn = 0;
			}
		}
		break;
	case MDL_CHAT_MISTRAL_V1:
	case MDL_CHAT_MISTRAL_V3: {
		const char *lead = t == MDL_CHAT_MISTRAL_V1 ? " " : "";

		for (size_t i = 0; i < n && st == ST_OK; i++) {
			if (!in_turn) {
				st = buf_printf(out, "%s[INST] ", lead);
				in_turn = 1;
			}
			if (st != ST_OK)
				break;
			if (role_is(&msgs[i], "system")) {
				st = buf_printf(out, "%s\n\n", msgs[i].content);
			} else if (role_is(&msgs[i], "user")) {
				st = buf_printf(out, "%s%s[/INST]", msgs[i].content, lead);
			} else {
				st = buf_puts(out, " ");
				if (st == ST_OK)
					st = t == MDL_CHAT_MISTRAL_V3 ? put_trimmed(out, msgs[i].content)
								      : buf_puts(out, msgs[i].content);
				if (st == ST_OK)
					st = buf_puts(out, "</s>");
				in_turn = 0;
			}
		}
		break;
	}
	case MDL_CHAT_MISTRAL_V7:
		for (size_t i = 0; i < n && st == ST_OK; i++) {
			if (role_is(&msgs[i], "system"))
				st = buf_printf(out, "[SYSTEM_PROMPT] %s[/SYSTEM_PROMPT]", msgs[i].content);
			else if (role_is(&msgs[i], "user"))
				st = buf_printf(out, "[INST] %s[/INST]", msgs[i].content);
			else
				st = buf_printf(out, " %s</s>", msgs[i].content);
		}
		break;
	case MDL_CHAT_DEEPSEEK:
		for (size_t i = 0; i < n && st == ST_OK; i++) {
			if (role_is(&msgs[i], "system"))
				st = buf_puts(out, msgs[i].content);
			else if (role_is(&msgs[i], "user"))
				st = buf_printf(out, "### Instruction:\n%s\n", msgs[i].content);
			else
				st = buf_printf(out, "### Response:\n%s\n<|EOT|>\n", msgs[i].content);
		}
		if (st == ST_OK && add_assistant)
			st = buf_puts(out, "### Response:\n");
		break;
	case MDL_CHAT_DEEPSEEK3:
		for (size_t i = 0; i < n && st == ST_OK; i++) {
			if (role_is(&msgs[i], "system"))
				st = buf_printf(out, "%s\n\n", msgs[i].content);
			else if (role_is(&msgs[i], "user"))
				st = buf_printf(out, "<\xEF\xBD\x9C" "User\xEF\xBD\x9C>%s", msgs[i].content);
			else
				st = buf_printf(out, "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>%s"
					        "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",
						msgs[i].content);
		}
		if (st == ST_OK && add_assistant)
			st = buf_puts(out, "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>");
		break;
	case MDL_CHAT_PHI3:
		for (size_t i = 0; i < n && st == ST_OK; i++)
			st = buf_printf(out, "<|%s|>\n%s<|end|>\n", msgs[i].role, msgs[i].content);
		if (st == ST_OK && add_assistant)
			st = buf_puts(out, "<|assistant|>\n");
		break;
	default:
		return err_set(e, ST_UNSUPPORTED, "chat: template %d is not one we render", (int)t);
	}
	if (st != ST_OK) {
		out->len = start;
		if (out->data)
			out->data[start] = 0;
		return err_set(e, st, "chat: rendering the prompt");
	}
	return ST_OK;
}
