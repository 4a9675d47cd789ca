/*
 * config.c - airlock.yaml: defaults from the schema (config_schema.c),
 * then the YAML file, then AIRLOCK_* environment variables. Every value is
 * checked against its setting's type and bounds; unknown keys, wrong types
 * and out-of-range values are errors naming file:line:column.
 */
#include "core/core.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CFG_MAX_FILE (4u << 20)

struct cfg_value {
	char *text;		/* as given (lists: comma-joined) */
	int64_t num;		/* INT, SIZE (bytes), DURATION (ms), BOOL */
	char **items;		/* LIST items */
	size_t n_items;
	enum cfg_source src;
};

struct config {
	const struct cfg_setting *schema;
	size_t n;
	struct cfg_value *vals;	/* parallel to schema */
};

static long find_setting(const struct config *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->schema[i].key, key) == 0)
			return (long)i;
	return -1;
}

static void value_clear(struct cfg_value *v)
{
	for (size_t i = 0; i < v->n_items; i++)
		mem_free(v->items[i]);
	mem_free(v->items);
	mem_free(v->text);
	memset(v, 0, sizeof *v);
}

/* Splits a comma-separated list, trimming blanks; empty items dropped. */
static status_t split_list(const char *text, char ***items, size_t *n)
{
	struct vec v;
	const char *p = text;
	status_t st = ST_OK;

	vec_init(&v, sizeof(char *));
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *a = p, *b = p + len;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a) {
			char *item = mem_strndup(a, (size_t)(b - a));
			if (!item || (st = vec_push(&v, &item)) != ST_OK) {
				mem_free(item);
				st = ST_NOMEM;
				break;
			}
		}
		p = end ? end + 1 : p + len;
	}
	if (st != ST_OK) {
		for (size_t i = 0; i < v.len; i++)
			mem_free(VEC_AT(&v, char *, i));
		vec_release(&v);
		return st;
	}
	*items = v.data;
	*n = v.len;
	return ST_OK;
}

/*
 * Parses text as setting s into v (replacing it). On error, fills e
 * without a location; the caller adds it.
 */
static status_t value_set(const struct cfg_setting *s, const char *text,
			  enum cfg_source src, struct cfg_value *v, struct err *e)
{
	struct cfg_value nv = { .src = src };
	status_t st = ST_OK;
	uint64_t u;

	switch (s->type) {
	case CFG_STR:
		break;
	case CFG_INT:
		st = parse_i64(text, s->min, s->max, &nv.num);
		if (st != ST_OK)
			return err_set(e, ST_CONFIG,
				       "%s: '%s' is not an integer in [%lld, %lld]",
				       s->key, text, (long long)s->min, (long long)s->max);
		break;
	case CFG_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on") ||
		    !strcmp(text, "1"))
			nv.num = 1;
		else if (!strcmp(text, "false") || !strcmp(text, "no") ||
			 !strcmp(text, "off") || !strcmp(text, "0"))
			nv.num = 0;
		else
			return err_set(e, ST_CONFIG, "%s: '%s' is not a boolean (true/false)",
				       s->key, text);
		break;
	case CFG_SIZE:
		if (parse_size(text, &u) != ST_OK || u > (uint64_t)INT64_MAX)
			return err_set(e, ST_CONFIG,
				       "%s: '%s' is not a size (e.g. 512, 64k, 16M, 2G)",
				       s->key, text);
		nv.num = (int64_t)u;
		if (nv.num < s->min || nv.num > s->max)
			return err_set(e, ST_CONFIG,
				       "%s: %s is out of range [%lld, %lld] bytes", s->key,
				       text, (long long)s->min, (long long)s->max);
		break;
	case CFG_DURATION:
		if (parse_duration_ms(text, &nv.num) != ST_OK)
			return err_set(e, ST_CONFIG,
				       "%s: '%s' is not a duration (e.g. 500ms, 10s, 5m, 2h, 30d)",
				       s->key, text);
		if (nv.num < s->min || nv.num > s->max)
			return err_set(e, ST_CONFIG,
				       "%s: %s is out of range [%lld ms, %lld ms]", s->key,
				       text, (long long)s->min, (long long)s->max);
		break;
	case CFG_ENUM: {
		const char *c = s->choices;
		size_t len = strlen(text);
		int ok = 0;
		while (c && *c) {
			const char *bar = strchr(c, '|');
			size_t cl = bar ? (size_t)(bar - c) : strlen(c);
			if (cl == len && strncmp(c, text, len) == 0)
				ok = 1;
			c = bar ? bar + 1 : c + cl;
		}
		if (!ok)
			return err_set(e, ST_CONFIG, "%s: '%s' is not one of %s", s->key,
				       text, s->choices);
		break;
	}
	case CFG_LIST:
		if (split_list(text, &nv.items, &nv.n_items) != ST_OK)
			return err_set(e, ST_NOMEM, "out of memory");
		break;
	}
	nv.text = mem_strdup(text);
	if (!nv.text) {
		value_clear(&nv);
		return err_set(e, ST_NOMEM, "out of memory");
	}
	value_clear(v);
	*v = nv;
	return st;
}

/* ---- YAML ---- */

struct walk {
	struct config *c;
	yaml_document_t *doc;
	const char *file;
	struct err *e;
};

static status_t at(struct walk *w, const yaml_node_t *n, status_t st,
		   const char *fmt, const char *key)
{
	return err_setat(w->e, st, w->file, (int)n->start_mark.line + 1,
			 (int)n->start_mark.column + 1, fmt, key);
}

static status_t walk_map(struct walk *w, yaml_node_t *map, const char *prefix);

/* Joins a YAML sequence of scalars into "a,b,c" (items may not hold commas). */
static status_t seq_text(struct walk *w, yaml_node_t *seq, const char *key,
			 struct buf *out)
{
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(w->doc, *it);
		if (!item || item->type != YAML_SCALAR_NODE)
			return at(w, item ? item : seq, ST_CONFIG,
				  "%s: list items must be plain values", key);
		if (memchr(item->data.scalar.value, ',', item->data.scalar.length))
			return at(w, item, ST_CONFIG, "%s: list items may not contain ','",
				  key);
		if (out->len)
			buf_putc(out, ',');
		if (buf_append(out, item->data.scalar.value, item->data.scalar.length) != ST_OK)
			return err_set(w->e, ST_NOMEM, "out of memory");
	}
	return ST_OK;
}

static status_t walk_pair(struct walk *w, yaml_node_t *k, yaml_node_t *v,
			  const char *prefix)
{
	char key[256];
	long idx;
	struct buf text;
	struct err inner;
	status_t st;
	const struct cfg_setting *s;

	if (k->type != YAML_SCALAR_NODE)
		return at(w, k, ST_CONFIG, "%s: keys must be plain names", prefix[0] ? prefix : "config");
	if (snprintf(key, sizeof key, "%s%s%.*s", prefix, prefix[0] ? "." : "",
		     (int)k->data.scalar.length, (const char *)k->data.scalar.value) >=
	    (int)sizeof key)
		return at(w, k, ST_CONFIG, "%s: key too long", prefix);
	idx = find_setting(w->c, key);
	if (idx < 0) {
		/* A section: some setting starts with "key." */
		size_t kl = strlen(key);
		int section = 0;
		for (size_t i = 0; i < w->c->n && !section; i++)
			section = strncmp(w->c->schema[i].key, key, kl) == 0 &&
				  w->c->schema[i].key[kl] == '.';
		if (!section)
			return at(w, k, ST_CONFIG, "unknown setting '%s'", key);
		if (v->type != YAML_MAPPING_NODE)
			return at(w, v, ST_CONFIG, "'%s' is a section: expected a mapping", key);
		return walk_map(w, v, key);
	}
	s = &w->c->schema[idx];
	buf_init(&text, 1 << 20);
	if (v->type == YAML_SEQUENCE_NODE && s->type == CFG_LIST) {
		st = seq_text(w, v, key, &text);
		if (st != ST_OK) {
			buf_release(&text);
			return st;
		}
	} else if (v->type == YAML_SCALAR_NODE) {
		buf_append(&text, v->data.scalar.value, v->data.scalar.length);
	} else {
		buf_release(&text);
		return at(w, v, ST_CONFIG, "%s: expected a single value", key);
	}
	err_clear(&inner);
	st = value_set(s, buf_cstr(&text), CFG_SRC_FILE, &w->c->vals[idx], &inner);
	buf_release(&text);
	if (st != ST_OK)
		return err_setat(w->e, st, w->file, (int)v->start_mark.line + 1,
				 (int)v->start_mark.column + 1, "%s", inner.msg);
	return ST_OK;
}

static status_t walk_map(struct walk *w, yaml_node_t *map, const char *prefix)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		status_t st;
		if (!k || !v)
			return err_setat(w->e, ST_CONFIG, w->file, 0, 0, "malformed mapping");
		/* A repeated key is a mistake YAML parsers silently accept. */
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(w->doc, q->key);
			if (k2 && k2->type == YAML_SCALAR_NODE && k->type == YAML_SCALAR_NODE &&
			    k2->data.scalar.length == k->data.scalar.length &&
			    memcmp(k2->data.scalar.value, k->data.scalar.value,
				   k->data.scalar.length) == 0)
				return at(w, k, ST_CONFIG, "duplicate key '%s'",
					  (const char *)k->data.scalar.value);
		}
		if ((st = walk_pair(w, k, v, prefix)) != ST_OK)
			return st;
	}
	return ST_OK;
}

static status_t load_yaml(struct config *c, const char *path, struct err *e)
{
	char *text;
	size_t len;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	status_t st;
	struct walk w = { c, &doc, path, e };

	st = file_read_all(path, CFG_MAX_FILE, &text, &len, e);
	if (st != ST_OK)
		return st == ST_NOTFOUND ?
			err_setat(e, ST_CONFIG, path, 0, 0, "configuration file not found") :
			err_setat(e, ST_CONFIG, path, 0, 0, "%s", e ? e->msg : "cannot read");
	if (!yaml_parser_initialize(&parser)) {
		mem_free(text);
		return err_set(e, ST_NOMEM, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		st = err_setat(e, ST_CONFIG, path, (int)parser.problem_mark.line + 1,
			       (int)parser.problem_mark.column + 1, "invalid YAML: %s%s%s",
			       parser.problem ? parser.problem : "parse error",
			       parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		mem_free(text);
		return st;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		st = ST_OK;	/* an empty file: defaults */
	} else if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0) {
		st = ST_OK;
	} else if (root->type != YAML_MAPPING_NODE) {
		st = at(&w, root, ST_CONFIG, "%s: the top level must be a mapping", "config");
	} else {
		st = walk_map(&w, root, "");
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	mem_free(text);
	return st;
}

/* AIRLOCK_ + key upper-cased with '.' as '_'. */
static void env_name(const char *key, char *out, size_t n)
{
	size_t j = str_copy(out, "AIRLOCK_", n);

	for (const char *p = key; *p && j + 1 < n; p++, j++)
		out[j] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	out[j < n ? j : n - 1] = 0;
}

status_t config_load(const char *path, struct config **out, struct err *e)
{
	struct config *c;
	status_t st;

	*out = NULL;
	c = mem_calloc(1, sizeof *c);
	if (!c)
		return err_set(e, ST_NOMEM, "out of memory");
	c->schema = config_schema(&c->n);
	c->vals = mem_calloc(c->n, sizeof *c->vals);
	if (!c->vals) {
		mem_free(c);
		return err_set(e, ST_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < c->n; i++) {
		st = value_set(&c->schema[i], c->schema[i].def, CFG_SRC_DEFAULT,
			       &c->vals[i], e);
		if (st != ST_OK) {
			config_free(c);
			return st;
		}
	}
	if (path && (st = load_yaml(c, path, e)) != ST_OK) {
		config_free(c);
		return st;
	}
	for (size_t i = 0; i < c->n; i++) {
		char name[160];
		const char *v;
		struct err inner;
		env_name(c->schema[i].key, name, sizeof name);
		v = getenv(name);
		if (!v)
			continue;
		err_clear(&inner);
		if ((st = value_set(&c->schema[i], v, CFG_SRC_ENV, &c->vals[i], &inner)) != ST_OK) {
			err_set(e, st, "environment %s: %s", name, inner.msg);
			config_free(c);
			return st;
		}
	}
	*out = c;
	return ST_OK;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n && c->vals; i++)
		value_clear(&c->vals[i]);
	mem_free(c->vals);
	mem_free(c);
}

static const struct cfg_value *get(const struct config *c, const char *key)
{
	long i = c ? find_setting(c, key) : -1;

	return i < 0 ? NULL : &c->vals[i];
}

const char *config_str(const struct config *c, const char *key)
{
	const struct cfg_value *v = get(c, key);

	if (v)
		return v->text;
	/* Without a loaded config, the schema's default still applies. */
	size_t n;
	const struct cfg_setting *s = config_schema(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].key, key) == 0)
			return s[i].def;
	return "";
}

int64_t config_int(const struct config *c, const char *key)
{
	const struct cfg_value *v = get(c, key);

	return v ? v->num : 0;
}

int config_bool(const struct config *c, const char *key)
{
	return config_int(c, key) != 0;
}

size_t config_list_len(const struct config *c, const char *key)
{
	const struct cfg_value *v = get(c, key);

	return v ? v->n_items : 0;
}

const char *config_list_item(const struct config *c, const char *key, size_t i)
{
	const struct cfg_value *v = get(c, key);

	return v && i < v->n_items ? v->items[i] : NULL;
}

enum cfg_source config_source(const struct config *c, const char *key)
{
	const struct cfg_value *v = get(c, key);

	return v ? v->src : CFG_SRC_DEFAULT;
}

/* Writes s as a YAML double-quoted scalar. */
static void yaml_quote(struct buf *out, const char *s)
{
	buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			buf_printf(out, "\\x%02x", *p);
		else
			buf_putc(out, (char)*p);
	}
	buf_putc(out, '"');
}

status_t config_dump(const struct config *c, struct buf *out)
{
	static const char *const src[] = { "default", "file", "env" };
	char section[64] = "";

	for (size_t i = 0; i < c->n; i++) {
		const struct cfg_setting *s = &c->schema[i];
		const struct cfg_value *v = &c->vals[i];
		const char *dot = strchr(s->key, '.');
		size_t sl = dot ? (size_t)(dot - s->key) : 0;

		if (sl && (strlen(section) != sl || strncmp(section, s->key, sl) != 0)) {
			snprintf(section, sizeof section, "%.*s", (int)sl, s->key);
			buf_printf(out, "%s:\n", section);
		}
		buf_printf(out, "%s%s: ", sl ? "  " : "", s->key + (sl ? sl + 1 : 0));
		if (s->type == CFG_LIST) {
			buf_putc(out, '[');
			for (size_t j = 0; j < v->n_items; j++) {
				if (j)
					buf_puts(out, ", ");
				yaml_quote(out, v->items[j]);
			}
			buf_putc(out, ']');
		} else if (s->type == CFG_STR) {
			yaml_quote(out, v->text);
		} else {
			buf_puts(out, v->text);
		}
		if (buf_printf(out, "  # %s\n", src[v->src]) != ST_OK)
			return ST_NOMEM;
	}
	return ST_OK;
}
