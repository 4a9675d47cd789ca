/*
 * docs.c - organisational documents: ADRs, standards, dependency
 * policies, incident reports and runbooks kept as Markdown or text under
 * configured roots, with optional YAML front matter:
 *
 *   ---
 *   title: Use PostgreSQL for shared state
 *   status: accepted
 *   kind: adr            (optional; else from the root folder's name)
 *   tags: [storage]
 *   services: [billing]
 *   paths: ["src/store/", "*.sql"]
 *   date: 2024-03-01
 *   ---
 *
 * `paths` globs link a document to files; identifiers in backticks link
 * it to the symbols of that name (done by the store's link pass).
 */
#include "context/ctx_int.h"

#include <string.h>
#include <yaml.h>

#define FM_MAX (64 * 1024)

/* Joins a scalar or a sequence of scalars with sep. */
static const char *node_join(yaml_document_t *doc, yaml_node_t *n,
			     struct arena *a, char sep)
{
	struct buf b;
	const char *out;

	if (n->type == YAML_SCALAR_NODE)
		return arena_strndup(a, (const char *)n->data.scalar.value,
				     n->data.scalar.length);
	if (n->type != YAML_SEQUENCE_NODE)
		return NULL;
	buf_init(&b, FM_MAX);
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = yaml_document_get_node(doc, *it);
		if (!v || v->type != YAML_SCALAR_NODE)
			continue;
		if (b.len)
			buf_putc(&b, sep);
		buf_append(&b, v->data.scalar.value, v->data.scalar.length);
	}
	out = arena_strdup(a, buf_cstr(&b));
	buf_release(&b);
	return out;
}

status_t ctx_frontmatter_parse(const char *text, size_t len, struct arena *a,
			       struct ctx_frontmatter *fm, struct err *e)
{
	size_t start, end = 0, body = 0;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	status_t st = ST_OK;

	memset(fm, 0, sizeof *fm);
	if (len < 4 || strncmp(text, "---", 3) != 0 ||
	    (text[3] != '\n' && text[3] != '\r'))
		return ST_OK;
	start = text[3] == '\r' ? 5 : 4;
	/* The closing line: "---" or "...". */
	for (size_t i = start; i < len;) {
		size_t le = i;
		while (le < len && text[le] != '\n')
			le++;
		size_t n = le - i;
		if (n && text[i + n - 1] == '\r')
			n--;
		if (n == 3 && (strncmp(text + i, "---", 3) == 0 ||
			       strncmp(text + i, "...", 3) == 0)) {
			end = i;
			body = le < len ? le + 1 : le;
			break;
		}
		i = le + 1;
	}
	if (!body)
		return err_setat(e, ST_CORRUPT, NULL, 1, 1,
				 "front matter: no closing '---' line");
	if (end - start > FM_MAX)
		return err_setat(e, ST_LIMIT, NULL, 1, 1,
				 "front matter: over %d bytes", FM_MAX);
	if (!yaml_parser_initialize(&parser))
		return err_set(e, ST_NOMEM, "front matter: yaml init");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text + start,
				     end - start);
	if (!yaml_parser_load(&parser, &doc)) {
		st = err_setat(e, ST_CORRUPT, NULL,
			       (int)parser.problem_mark.line + 2,
			       (int)parser.problem_mark.column + 1,
			       "front matter: %s",
			       parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return st;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		/* Empty front matter: nothing to read. */
	} else if (root->type != YAML_MAPPING_NODE) {
		st = err_setat(e, ST_CORRUPT, NULL, 2, 1,
			       "front matter: not a mapping");
	} else {
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
		     pr < root->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
			yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
			const char *key;
			const char **dst = NULL;
			char sep = ',';
			if (!k || !v || k->type != YAML_SCALAR_NODE)
				continue;
			key = (const char *)k->data.scalar.value;
			if (!strcmp(key, "title")) dst = &fm->title;
			else if (!strcmp(key, "status")) dst = &fm->status;
			else if (!strcmp(key, "kind") || !strcmp(key, "type")) dst = &fm->kind;
			else if (!strcmp(key, "date")) dst = &fm->date;
			else if (!strcmp(key, "tags")) dst = &fm->tags;
			else if (!strcmp(key, "services")) dst = &fm->services;
			else if (!strcmp(key, "paths")) { dst = &fm->paths; sep = '\n'; }
			if (!dst)
				continue;
			*dst = node_join(&doc, v, a, sep);
			if (!*dst && v->type != YAML_MAPPING_NODE) {
				st = err_set(e, ST_NOMEM, "front matter: out of memory");
				break;
			}
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (st == ST_OK)
		fm->body_offset = body;
	return st;
}

/* Kind from a root folder name. */
static const char *kind_of_root(const char *root)
{
	if (strstr(root, "adr") || strstr(root, "decision"))
		return "adr";
	if (strstr(root, "standard") || strstr(root, "guideline"))
		return "standard";
	if (strstr(root, "incident") || strstr(root, "postmortem"))
		return "incident";
	if (strstr(root, "runbook") || strstr(root, "playbook"))
		return "runbook";
	if (strstr(root, "polic") || strstr(root, "dependenc"))
		return "dependency-policy";
	return "document";
}

static int is_doc_ext(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot && (!strcmp(dot, ".md") || !strcmp(dot, ".markdown") ||
		       !strcmp(dot, ".txt") || !strcmp(dot, ".rst") ||
		       !strcmp(dot, ".adoc"));
}

const char *ctx__doc_kind_for(const char *path, const char *const *roots,
			      size_t n_roots)
{
	if (!is_doc_ext(path))
		return NULL;
	for (size_t i = 0; i < n_roots; i++) {
		size_t n = strlen(roots[i]);
		while (n && roots[i][n - 1] == '/')
			n--;
		if (n && strncmp(path, roots[i], n) == 0 && path[n] == '/')
			return kind_of_root(roots[i]);
	}
	return NULL;
}

static const char *valid_kind(const char *k)
{
	static const char *const kinds[] = { "adr", "standard", "dependency-policy",
					     "incident", "runbook", "document" };
	for (size_t i = 0; k && i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(k, kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

status_t ctx__doc_parse(const char *path, const char *kind, const char *text,
			size_t len, struct ctx__parsed *out, struct err *e)
{
	struct err fe;
	struct buf men;
	status_t st;
	const char *body;
	size_t blen;

	out->is_doc = 1;
	out->lang = "markdown";
	err_clear(&fe);
	if (ctx_frontmatter_parse(text, len, &out->arena, &out->doc.fm, &fe) != ST_OK) {
		/* A broken header does not lose the document: index it as text. */
		LOG_WARN("context.frontmatter", LF_STR("path", path),
			 LF_STR("error", fe.msg), LF_INT("line", fe.line));
		memset(&out->doc.fm, 0, sizeof out->doc.fm);
	}
	out->doc.kind = valid_kind(out->doc.fm.kind) ? valid_kind(out->doc.fm.kind) : kind;
	body = text + out->doc.fm.body_offset;
	blen = len - out->doc.fm.body_offset;
	if (!out->doc.fm.title) {
		/* First Markdown heading, else the file name. */
		for (size_t i = 0; i < blen;) {
			size_t le = i;
			while (le < blen && body[le] != '\n')
				le++;
			if (body[i] == '#') {
				size_t s = i;
				while (s < le && (body[s] == '#' || body[s] == ' '))
					s++;
				out->doc.fm.title = arena_strndup(&out->arena, body + s, le - s);
				break;
			}
			i = le + 1;
		}
		if (!out->doc.fm.title) {
			const char *sl = strrchr(path, '/');
			out->doc.fm.title = arena_strdup(&out->arena, sl ? sl + 1 : path);
		}
	}
	/* `identifier` mentions, for links to symbols. */
	buf_init(&men, 64 * 1024);
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '`')
			continue;
		size_t j = i + 1;
		while (j < len && j - i < 80 &&
		       ((text[j] >= 'a' && text[j] <= 'z') || (text[j] >= 'A' && text[j] <= 'Z') ||
			(text[j] >= '0' && text[j] <= '9') || text[j] == '_'))
			j++;
		if (j < len && text[j] == '(')
			j++;
		if (j < len && text[j] == ')')
			j++;
		if (j < len && text[j] == '`' && j > i + 2) {
			size_t n = j - i - 1;
			while (n && (text[i + n] == '(' || text[i + n] == ')'))
				n--;
			buf_append(&men, text + i + 1, n);
			buf_putc(&men, '\n');
		}
		i = j;
	}
	out->doc.mentions = arena_strdup(&out->arena, buf_cstr(&men));
	buf_release(&men);
	if (!out->doc.fm.title || !out->doc.mentions)
		return err_set(e, ST_NOMEM, "%s: out of memory", path);
	st = ctx__chunk_lines(out, text, len, out->doc.kind, out->doc.fm.title);
	return st;
}

int ctx__is_codeowners(const char *path)
{
	return !strcmp(path, "CODEOWNERS") || !strcmp(path, ".github/CODEOWNERS") ||
	       !strcmp(path, "docs/CODEOWNERS") || !strcmp(path, ".gitlab/CODEOWNERS");
}
