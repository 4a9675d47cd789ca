/*
 * provenance_glue.c - the policy module's provenance hook on top of the
 * context module's n-gram index. The two modules know nothing of each
 * other; this file, in the composition layer, implements struct
 * pol_provenance_index with ctx_ngram_overlaps over reference corpora
 * built by `airlock provenance index` into <data>/provenance/<name>.*.
 * Corpora are opened on first use (read-only mmaps, shared by every
 * check) and stay open until provenance_free.
 */
#include "cli/cli.h"
#include "context/context.h"
#include "policy/policy.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PROV_MAX_CORPORA 64

struct provenance {
	struct pol_provenance_index idx;	/* what the engine calls */
	char data_dir[1024];
	pthread_mutex_t lock;
	struct {
		char name[PROV_CORPUS_NAME_MAX + 1];
		struct ctx_ngram *g;
	} corp[PROV_MAX_CORPORA];
	size_t n;
	status_t last_st;	/* the last failure of find, ST_OK if none */
	char last_msg[900];
};

status_t provenance_corpus_prefix(const char *data_dir, const char *name,
				  char *out, size_t n, struct err *e)
{
	size_t len = name ? strlen(name) : 0;

	if (!len || len > PROV_CORPUS_NAME_MAX || name[0] == '.')
		return err_set(e, ST_INVAL, "corpus name '%s': 1-%d of [A-Za-z0-9._-], not starting with '.'",
			       name ? name : "", PROV_CORPUS_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return err_set(e, ST_INVAL, "corpus name '%s': 1-%d of [A-Za-z0-9._-], not starting with '.'",
				       name, PROV_CORPUS_NAME_MAX);
	}
	if (snprintf(out, n, "%s/provenance/%s", data_dir, name) >= (int)n)
		return err_set(e, ST_INVAL, "%s: path too long", data_dir);
	return ST_OK;
}

/* The open index of corpus name, opening it on first use (lock held). */
static status_t corpus_get(struct provenance *p, const char *name,
			   const struct ctx_ngram **out, struct err *e)
{
	char prefix[1200];
	struct ctx_ngram *g;
	status_t st;

	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->corp[i].name, name)) {
			*out = p->corp[i].g;
			return ST_OK;
		}
	if ((st = provenance_corpus_prefix(p->data_dir, name, prefix, sizeof prefix, e)))
		return st;
	if (p->n == PROV_MAX_CORPORA)
		return err_set(e, ST_LIMIT, "more than %d provenance corpora", PROV_MAX_CORPORA);
	st = ctx_ngram_open_at(prefix, &g, e);
	if (st == ST_NOTFOUND)
		return err_set(e, st, "provenance index not built: run 'airlock provenance index "
			       "--name %s --licence SPDX-ID PATH...' (no %s.txt)", name, prefix);
	if (st) {
		char msg[700];
		err_format(e, msg, sizeof msg);
		return err_set(e, st, "provenance corpus '%s': %s (rebuild it with airlock provenance index)",
			       name, msg);
	}
	str_copy(p->corp[p->n].name, name, sizeof p->corp[p->n].name);
	p->corp[p->n++].g = g;
	*out = g;
	return ST_OK;
}

struct emit_arg {
	void (*emit)(void *arg, const struct pol_overlap *o);
	void *arg;
};

static void on_overlap(void *arg, const struct ctx_ngram_match *m)
{
	struct emit_arg *a = arg;
	struct pol_overlap o;

	o.start = m->text_offset;
	o.end = m->text_offset + m->length;
	o.source_path = m->path;
	o.source_line = m->line;
	o.licence = m->licence[0] ? m->licence : NULL;
	a->emit(a->arg, &o);
}

static status_t prov_find(void *self, const char *corpus, const char *text,
			  size_t len, size_t min_chars, int min_lines,
			  void (*emit)(void *arg, const struct pol_overlap *o),
			  void *arg)
{
	struct provenance *p = self;
	const struct ctx_ngram *g = NULL;
	struct emit_arg a = { emit, arg };
	struct err e;
	status_t st;

	err_clear(&e);
	pthread_mutex_lock(&p->lock);
	st = corpus_get(p, corpus, &g, &e);
	pthread_mutex_unlock(&p->lock);
	if (st == ST_OK) {
		st = ctx_ngram_overlaps(g, text, len, min_chars, min_lines, on_overlap, &a);
		if (st == ST_LIMIT)
			err_set(&e, st, "provenance corpus '%s': text too long to compare in full", corpus);
		else if (st)
			err_set(&e, st, "provenance corpus '%s': %s", corpus, status_name(st));
	}
	if (st) {
		pthread_mutex_lock(&p->lock);
		p->last_st = st;
		err_format(&e, p->last_msg, sizeof p->last_msg);
		pthread_mutex_unlock(&p->lock);
		LOG_WARN("policy.provenance_failed", LF_STR("corpus", corpus),
			 LF_STR("error", status_name(st)));
	}
	return st;
}

status_t provenance_attach(struct pol_engine *eng, const char *data_dir,
			   struct provenance **out, struct err *e)
{
	struct provenance *p;

	*out = NULL;
	p = mem_calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ST_NOMEM, "provenance: out of memory");
	if (str_copy(p->data_dir, data_dir ? data_dir : ".", sizeof p->data_dir) >= sizeof p->data_dir) {
		mem_free(p);
		return err_set(e, ST_INVAL, "%s: path too long", data_dir);
	}
	if (pthread_mutex_init(&p->lock, NULL)) {
		mem_free(p);
		return err_set(e, ST_NOMEM, "provenance: cannot create a mutex");
	}
	p->idx.find = prov_find;
	p->idx.self = p;
	pol_engine_set_provenance(eng, &p->idx);
	*out = p;
	return ST_OK;
}

status_t provenance_take_error(struct provenance *p, struct err *e)
{
	status_t st;

	if (!p)
		return ST_OK;
	pthread_mutex_lock(&p->lock);
	st = p->last_st;
	if (st)
		err_set(e, st, "%s", p->last_msg);
	p->last_st = ST_OK;
	pthread_mutex_unlock(&p->lock);
	return st;
}

void provenance_free(struct provenance *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		ctx_ngram_free(p->corp[i].g);
	pthread_mutex_destroy(&p->lock);
	mem_free(p);
}
