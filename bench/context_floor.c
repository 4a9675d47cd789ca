/*
 * context_floor.c - the least CPU indexing can take here, not a test: over
 * the files an indexed store holds, the CPU seconds per MB of tree-sitter's
 * parse alone (each file with its language's grammar, one parser reused,
 * the tree freed) and of the suffix-array sort alone (libdivsufsort over
 * each repository's text, as the n-gram build sorts it on two threads: a
 * corpus of twice SPLIT_BYTES or more in sub-parts of about SPLIT_BYTES
 * cut at file boundaries). `airlock index`
 * does both and more (reading, symbols, chunks, the store's writes and its
 * FTS5 index), so their sum is a floor under its CPU per MB, and 2 / floor
 * a ceiling over its MB/s on two CPUs. Best of a few passes each.
 *
 *   context_floor DATA_DIR     (the --data folder of an indexed store)
 */
#include <divsufsort.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tree_sitter/api.h>

#include "context/ctx_int.h"

struct file {
	char *text;
	size_t len;
	const TSLanguage *lang;	/* NULL: text only */
	int64_t repo;
};

/* src/context/ngram.c's SPLIT_BYTES (the size of a sub-part, and the
 * least) and SUBPARTS_MAX. */
#define SPLIT_BYTES ((size_t)2 << 20)
#define SUBPARTS_MAX 64

static double cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t cap = 0, n = 0, r;
	if (!f)
		return NULL;
	do {
		if (n + 65536 > cap) {
			char *nb = realloc(b, cap = (n + 65536) * 2);
			if (!nb) {
				free(b);
				fclose(f);
				return NULL;
			}
			b = nb;
		}
		r = fread(b + n, 1, 65536, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return b;
}

int main(int argc, char **argv)
{
	char db_path[4096];
	sqlite3 *db;
	sqlite3_stmt *st;
	struct file *files = NULL;
	size_t n = 0, cap = 0, total = 0, parsed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: context_floor DATA_DIR\n");
		return 2;
	}
	snprintf(db_path, sizeof db_path, "%s/airlock.db", argv[1]);
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT r.root || '/' || f.path, f.lang, f.repo_id FROM files f "
			       "JOIN repositories r ON r.id = f.repo_id "
			       "WHERE f.skip IS NULL ORDER BY f.repo_id, f.id", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "context_floor: %s: %s\n", db_path, sqlite3_errmsg(db));
		return 1;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 0);
		const char *lang = (const char *)sqlite3_column_text(st, 1);
		struct file fl = { .lang = ctx__grammar(lang),
				   .repo = sqlite3_column_int64(st, 2) };
		if (!path || !(fl.text = read_all(path, &fl.len)))
			continue;	/* gone since it was indexed */
		if (n == cap) {
			struct file *nf = realloc(files, (cap = cap ? cap * 2 : 1024) * sizeof *nf);
			if (!nf)
				return 1;
			files = nf;
		}
		files[n++] = fl;
		total += fl.len;
		if (fl.lang)
			parsed += fl.len;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (!total) {
		fprintf(stderr, "context_floor: no indexed files in %s\n", db_path);
		return 1;
	}

	/* tree-sitter alone: one parser per language, as each indexing
	 * thread keeps them (set on the first file of each). */
	struct {
		const TSLanguage *lang;
		TSParser *p;
	} ps[16];
	size_t n_ps = 0;
	double parse = 1e30;
	for (int pass = 0; pass < 3; pass++) {
		double t0 = cpu_s();
		for (size_t i = 0; i < n; i++) {
			size_t k = 0;
			if (!files[i].lang)
				continue;
			while (k < n_ps && ps[k].lang != files[i].lang)
				k++;
			if (k == n_ps) {
				if (n_ps == sizeof ps / sizeof ps[0] || !(ps[k].p = ts_parser_new()) ||
				    !ts_parser_set_language(ps[k].p, files[i].lang))
					return 1;
				ps[n_ps++].lang = files[i].lang;
			}
			TSTree *t = ts_parser_parse_string(ps[k].p, NULL, files[i].text,
							   (uint32_t)files[i].len);
			ts_tree_delete(t);
		}
		double s = cpu_s() - t0;
		if (s < parse)
			parse = s;
	}

	/* The suffix arrays: each repository's text cut as ngram.c cuts
	 * it for two threads: in pieces of about SPLIT_BYTES, two at least
	 * and none under SPLIT_BYTES (so one below twice SPLIT_BYTES), at
	 * most 64, each ending at the first file boundary past its share. */
	unsigned char *all = malloc(total);
	saidx_t *sa = malloc(total * sizeof *sa);
	if (!all || !sa)
		return 1;
	double sort = 1e30;
	for (int pass = 0; pass < 2; pass++) {
		double s = 0;
		for (size_t i = 0; i < n;) {
			size_t j = i, len = 0, off = 0, k;
			size_t cuts[SUBPARTS_MAX + 1], nc = 0;
			while (j < n && files[j].repo == files[i].repo)
				len += files[j++].len;
			k = len / SPLIT_BYTES;
			if (k < 2)
				k = 2;
			if (k > len / SPLIT_BYTES)
				k = len / SPLIT_BYTES;
			if (k > SUBPARTS_MAX)
				k = SUBPARTS_MAX;
			if (k < 1)
				k = 1;
			cuts[nc++] = 0;
			for (size_t f = i; f < j; f++) {
				memcpy(all + off, files[f].text, files[f].len);
				off += files[f].len;
				if (nc < k && off >= len / k * nc && off < len)
					cuts[nc++] = off;
			}
			cuts[nc] = len;
			double t0 = cpu_s();
			for (size_t c = 0; c < nc; c++)
				if (cuts[c + 1] > cuts[c] &&
				    divsufsort(all + cuts[c], sa, (saidx_t)(cuts[c + 1] - cuts[c])))
					return 1;
			s += cpu_s() - t0;
			i = j;
		}
		if (s < sort)
			sort = s;
	}

	double mb = (double)total / 1e6;
	printf("floor over %zu files, %.1f MB (%.1f MB parsed): tree-sitter parse alone "
	       "%.3f CPU-s (%.4f per MB), suffix-array sort alone %.3f CPU-s (%.4f per MB)\n",
	       n, mb, (double)parsed / 1e6, parse, parse / mb, sort, sort / mb);
	printf("floor: %.4f CPU-s per MB before anything else indexing does: at most "
	       "%.1f MB/s on 2 CPUs\n", (parse + sort) / mb, 2 * mb / (parse + sort));
	return 0;
}
