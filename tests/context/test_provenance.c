/*
 * test_provenance.c - reference corpora (ctx_ngram_build_corpus) and the
 * overlap search behind provenance rules (ctx_ngram_overlaps): thresholds
 * in characters and lines, whitespace normalisation, file/line/licence of
 * a match, separation from other indexes, damaged files, and agreement of
 * the strided search with a naive scan.
 */
#include "../harness/harness.h"
#include "context/context.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void test_provenance_overlaps(void **state);
void test_provenance_bad_inputs(void **state);
void test_provenance_matches_naive(void **state);

static char proot[1024];

static void pfile(const char *rel, const char *text)
{
	th_write_file(proot, rel, text);
}

/* Line i (1-based) of the long-line file: about 27 bytes. */
static void long_line(struct buf *b, int i)
{
	buf_printf(b, "    node_%02d->next = list_%02d;\n", i, i);
}

/* Line i of the short-line file: about 12 bytes. */
static void short_line(struct buf *b, int i)
{
	buf_printf(b, "\tx%02d = y%02d;\n", i, i);
}

struct found {
	struct ctx_ngram_match m[16];
	size_t n;
};

static void collect(void *arg, const struct ctx_ngram_match *m)
{
	struct found *f = arg;

	if (f->n < 16)
		f->m[f->n++] = *m;
}

static void build_corpus(struct ctx_ngram **g)
{
	struct buf b;
	char dir[PATH_MAX], prefix[PATH_MAX];
	const char *roots[1];
	struct ctx_corpus_stats s;

	buf_init(&b, 0);
	buf_printf(&b, "/* list.c - a reference file */\n");
	for (int i = 1; i <= 40; i++)
		long_line(&b, i);
	pfile("gpl/lib/list.c", buf_cstr(&b));
	buf_reset(&b);
	for (int i = 1; i <= 30; i++)
		short_line(&b, i);
	pfile("gpl/short.c", buf_cstr(&b));
	buf_release(&b);
	pfile("gpl/.hidden/skip.c", "never indexed\n");
	snprintf(dir, sizeof dir, "%s/gpl/blob.bin", proot);
	{
		int fd = open(dir, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "ab\0cd", 5), 5);
		close(fd);
	}
	snprintf(dir, sizeof dir, "%s/gpl", proot);
	snprintf(prefix, sizeof prefix, "%s/idx/gpl", proot);
	{
		char d[PATH_MAX];
		snprintf(d, sizeof d, "%s/idx", proot);
		TH_OK(file_mkdirs(d, 0755, NULL));
	}
	roots[0] = dir;
	TH_OK(ctx_ngram_build_corpus(roots, 1, "gpl", "GPL-3.0-only", prefix, &s, NULL));
	assert_int_equal(s.files, 2);
	assert_int_equal(s.skipped, 1);	/* the binary file; hidden ones are not counted */
	TH_OK(ctx_ngram_open_at(prefix, g, NULL));
}

void test_provenance_overlaps(void **state)
{
	struct ctx_ngram *g = NULL;
	struct found f;
	struct buf t;
	size_t start;
	(void)state;

	str_copy(proot, th_tmpdir(), sizeof proot);
	build_corpus(&g);
	buf_init(&t, 0);

	/* 12 lines of list.c (file lines 6-17), re-indented with a tab:
	 * one overlap naming the file, its line and licence. */
	buf_printf(&t, "int fresh(void)\n{\n");
	start = t.len + 1;
	for (int i = 5; i <= 16; i++)
		buf_printf(&t, "\tnode_%02d->next = list_%02d;\n", i, i);
	buf_printf(&t, "}\n");
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 150, 10, collect, &f));
	assert_int_equal(f.n, 1);
	assert_string_equal(f.m[0].repo, "gpl");
	assert_string_equal(f.m[0].path, "lib/list.c");
	assert_string_equal(f.m[0].licence, "GPL-3.0-only");
	assert_int_equal(f.m[0].line, 6);
	assert_int_equal(f.m[0].text_offset, start);
	assert_int_equal(f.m[0].lines, 12);
	assert_true(f.m[0].text_offset + f.m[0].length <= t.len - 2);

	/* 5 lines (about 120 bytes, under 150 and under 10 lines): nothing. */
	buf_reset(&t);
	buf_printf(&t, "void g(void) {\n");
	for (int i = 20; i <= 24; i++)
		long_line(&t, i);
	buf_printf(&t, "}\n");
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 150, 10, collect, &f));
	assert_int_equal(f.n, 0);
	/* The same with a lower character threshold: found. */
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 100, 0, collect, &f));
	assert_int_equal(f.n, 1);
	assert_int_equal(f.m[0].line, 21);

	/* Whitespace-only changes (spaces for tabs, doubled blanks inside a
	 * line, trailing blanks, CRLF) do not hide a copy: 12 lines found. */
	buf_reset(&t);
	for (int i = 25; i <= 36; i++)
		buf_printf(&t, "  node_%02d->next   =\tlist_%02d;  \r\n", i, i);
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 150, 10, collect, &f));
	assert_int_equal(f.n, 1);
	assert_int_equal(f.m[0].line, 26);
	assert_int_equal(f.m[0].text_offset, 2);
	/* A changed token is not whitespace: pieces of at most four lines,
	 * each under both thresholds, so nothing. */
	buf_reset(&t);
	for (int i = 25; i <= 36; i++)
		buf_printf(&t, "node_%02d->next = %s_%02d;\n", i, i == 29 || i == 33 ? "head" : "list", i);
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 150, 10, collect, &f));
	assert_int_equal(f.n, 0);

	/* Ten short lines (about 100 bytes) fire by lines; nine do not. */
	buf_reset(&t);
	for (int i = 3; i <= 12; i++)
		short_line(&t, i);
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 150, 10, collect, &f));
	assert_int_equal(f.n, 1);
	assert_string_equal(f.m[0].path, "short.c");
	assert_int_equal(f.m[0].line, 3);
	assert_int_equal(f.m[0].lines, 10);
	buf_reset(&t);
	for (int i = 3; i <= 11; i++)
		short_line(&t, i);
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 150, 10, collect, &f));
	assert_int_equal(f.n, 0);

	/* Two separate copies: two overlaps, left to right. */
	buf_reset(&t);
	for (int i = 1; i <= 12; i++)
		long_line(&t, i);
	buf_printf(&t, "something else entirely\n");
	for (int i = 1; i <= 10; i++)
		short_line(&t, i);
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, t.data, t.len, 150, 10, collect, &f));
	assert_int_equal(f.n, 2);
	assert_string_equal(f.m[0].path, "lib/list.c");
	assert_int_equal(f.m[0].line, 2);
	assert_string_equal(f.m[1].path, "short.c");
	assert_int_equal(f.m[1].line, 1);

	/* The organisation's own code is a different index: a copy of it
	 * finds nothing in the reference corpus, only in its own index. */
	{
		struct buf own;
		char dir[PATH_MAX], prefix[PATH_MAX];
		const char *roots[1];
		struct ctx_ngram *og = NULL;
		buf_init(&own, 0);
		for (int i = 0; i < 20; i++)
			buf_printf(&own, "    ledger_post(book, entry_%02d, AMOUNT_%02d);\n", i, i);
		pfile("org/src/ledger.c", buf_cstr(&own));
		snprintf(dir, sizeof dir, "%s/org", proot);
		snprintf(prefix, sizeof prefix, "%s/idx/own", proot);
		roots[0] = dir;
		TH_OK(ctx_ngram_build_corpus(roots, 1, "own", "proprietary", prefix, NULL, NULL));
		TH_OK(ctx_ngram_open_at(prefix, &og, NULL));
		memset(&f, 0, sizeof f);
		TH_OK(ctx_ngram_overlaps(g, own.data, own.len, 150, 10, collect, &f));
		assert_int_equal(f.n, 0);
		TH_OK(ctx_ngram_overlaps(og, own.data, own.len, 150, 10, collect, &f));
		assert_int_equal(f.n, 1);
		assert_string_equal(f.m[0].licence, "proprietary");
		ctx_ngram_free(og);
		buf_release(&own);
	}

	/* Nothing to compare: empty text, thresholds off, no index. */
	memset(&f, 0, sizeof f);
	TH_OK(ctx_ngram_overlaps(g, "", 0, 150, 10, collect, &f));
	TH_OK(ctx_ngram_overlaps(g, "abc", 3, 0, 0, collect, &f));
	TH_OK(ctx_ngram_overlaps(NULL, "abc", 3, 1, 1, collect, &f));
	assert_int_equal(f.n, 0);

	buf_release(&t);
	ctx_ngram_free(g);
}

void test_provenance_bad_inputs(void **state)
{
	struct ctx_ngram *g = NULL;
	char prefix[PATH_MAX], p[PATH_MAX];
	const char *roots[1];
	struct err e;
	(void)state;

	str_copy(proot, th_tmpdir(), sizeof proot);
	snprintf(prefix, sizeof prefix, "%s/idx/gpl", proot);
	err_clear(&e);
	TH_ST(ctx_ngram_open_at(prefix, &g, &e), ST_NOTFOUND);
	assert_non_null(strstr(e.msg, "index not built"));
	assert_null(g);

	roots[0] = "/nonexistent/corpus";
	TH_ST(ctx_ngram_build_corpus(roots, 1, "gpl", "GPL-3.0", prefix, NULL, &e), ST_NOTFOUND);
	roots[0] = proot;
	TH_ST(ctx_ngram_build_corpus(roots, 1, "", "GPL-3.0", prefix, NULL, &e), ST_INVAL);
	TH_ST(ctx_ngram_build_corpus(roots, 1, "a\tb", "GPL-3.0", prefix, NULL, &e), ST_INVAL);
	TH_ST(ctx_ngram_build_corpus(roots, 1, "gpl", "GPL\t3", prefix, NULL, &e), ST_INVAL);
	TH_ST(ctx_ngram_build_corpus(roots, 1, "gpl", NULL, prefix, NULL, &e), ST_INVAL);

	/* Damaged files: refused at open; an array whose entries point
	 * outside the text is read without going past it. */
	{
		static const struct { const char *ext; long off; int trunc; const char *bytes; } bad[] = {
			{ ".sa", 0, 0, "XXXX" },
			{ ".sa", 20, 1, NULL },
			{ ".map", 0, 0, "ALMZ" },
			{ ".map", 16, 0, "\x7f" },
			{ ".txt", 3, 1, NULL },
		};
		struct buf b;
		buf_init(&b, 0);
		for (int i = 1; i <= 40; i++)
			long_line(&b, i);
		pfile("c/f.c", buf_cstr(&b));
		snprintf(p, sizeof p, "%s/c", proot);
		roots[0] = p;
		{
			char d[PATH_MAX];
			snprintf(d, sizeof d, "%s/idx", proot);
			TH_OK(file_mkdirs(d, 0755, NULL));
		}
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			char fp[PATH_MAX + 16];
			TH_OK(ctx_ngram_build_corpus(roots, 1, "gpl", "GPL-3.0", prefix, NULL, NULL));
			snprintf(fp, sizeof fp, "%s%s", prefix, bad[i].ext);
			if (bad[i].trunc) {
				assert_int_equal(truncate(fp, bad[i].off), 0);
			} else {
				int fd = open(fp, O_WRONLY);
				assert_true(fd >= 0);
				assert_int_equal(pwrite(fd, bad[i].bytes, strlen(bad[i].bytes), bad[i].off),
						 (ssize_t)strlen(bad[i].bytes));
				close(fd);
			}
			g = NULL;
			err_clear(&e);
			if (ctx_ngram_open_at(prefix, &g, &e) != ST_CORRUPT)
				fail_msg("case %zu (%s): not refused (%s)", i, bad[i].ext, e.msg);
			assert_null(g);
		}
		/* Scrambled suffix positions: no crash, no read past the text. */
		TH_OK(ctx_ngram_build_corpus(roots, 1, "gpl", "GPL-3.0", prefix, NULL, NULL));
		{
			char fp[PATH_MAX + 16];
			int fd;
			snprintf(fp, sizeof fp, "%s.sa", prefix);
			fd = open(fp, O_WRONLY);
			assert_true(fd >= 0);
			for (off_t o = 16; o < 16 + 4 * 200; o += 12)
				assert_int_equal(pwrite(fd, "\xff\xff\xff\x7f", 4, o), 4);
			close(fd);
		}
		TH_OK(ctx_ngram_open_at(prefix, &g, NULL));
		{
			struct found f;
			memset(&f, 0, sizeof f);
			TH_OK(ctx_ngram_overlaps(g, b.data, b.len, 150, 10, collect, &f));
		}
		ctx_ngram_free(g);
		buf_release(&b);
	}
}

/*
 * The strided search against a naive one on random texts made of corpus
 * pieces and noise: the first reported overlap starts where the naive
 * scan finds the leftmost long match, every report is verbatim in the
 * corpus and long enough, and every long match overlaps some report.
 */
void test_provenance_matches_naive(void **state)
{
	struct ctx_ngram *g = NULL;
	char prefix[PATH_MAX], dir[PATH_MAX];
	const char *roots[1];
	struct buf corpus, t;
	char *ctext = NULL;
	size_t clen = 0;
	unsigned seed = 12345;
	const size_t K = 60;
	(void)state;

	str_copy(proot, th_tmpdir(), sizeof proot);
	buf_init(&corpus, 0);
	for (int i = 0; i < 300; i++) {
		seed = seed * 1103515245u + 12345u;
		buf_printf(&corpus, "v%u = f%u(x%u);\n", (seed >> 8) % 97, (seed >> 16) % 13, i % 7);
	}
	pfile("naive/src.c", buf_cstr(&corpus));
	snprintf(dir, sizeof dir, "%s/naive", proot);
	snprintf(prefix, sizeof prefix, "%s/naive/idx", proot);
	roots[0] = dir;
	TH_OK(ctx_ngram_build_corpus(roots, 1, "n", "X", prefix, NULL, NULL));
	TH_OK(ctx_ngram_open_at(prefix, &g, NULL));
	{
		char p[PATH_MAX + 16];
		snprintf(p, sizeof p, "%s.txt", prefix);
		TH_OK(file_read_all(p, 1 << 20, &ctext, &clen, NULL));
	}
	buf_init(&t, 0);
	for (int round = 0; round < 40; round++) {
		struct found f;
		size_t n, *ms, first = SIZE_MAX;
		buf_reset(&t);
		for (int piece = 0; piece < 6; piece++) {
			size_t a, l;
			seed = seed * 1103515245u + 12345u;
			a = (seed >> 4) % (corpus.len - 200);
			l = 5 + (seed >> 20) % 120;
			/* The text is compared normalised: keep its start from
			 * being a blank that normalisation would drop. */
			if (piece == 0 && corpus.data[a] == ' ')
				a++;
			buf_append(&t, corpus.data + a, l);
			buf_printf(&t, "#%u#", seed % 1000);
		}
		n = t.len;
		ms = calloc(n + 1, sizeof *ms);
		assert_non_null(ms);
		/* Matching statistics by brute force (ms[i+1] >= ms[i] - 1). */
		for (size_t i = 0, l = 0; i < n; i++) {
			if (l)
				l--;
			while (i + l < n && memmem(ctext, clen, t.data + i, l + 1))
				l++;
			ms[i] = l;
			if (l >= K && first == SIZE_MAX)
				first = i;
		}
		memset(&f, 0, sizeof f);
		TH_OK(ctx_ngram_overlaps(g, t.data, n, K, 0, collect, &f));
		while (first != SIZE_MAX && t.data[first] == '\n')
			first++;	/* reports start after a leading newline */
		if (first == SIZE_MAX) {
			assert_int_equal(f.n, 0);
		} else {
			if (f.n < 1)
				fail_msg("round %d: nothing reported, naive: %zu bytes at %zu of %zu: '%.*s'",
					 round, ms[first], first, n, (int)ms[first], t.data + first);
			assert_int_equal(f.m[0].text_offset, first);
		}
		for (size_t k = 0; k < f.n; k++) {
			assert_true(f.m[k].length >= K);
			assert_non_null(memmem(ctext, clen, t.data + f.m[k].text_offset, f.m[k].length));
			assert_true(f.m[k].length == ms[f.m[k].text_offset] ||
				    f.m[k].length + 1 == ms[f.m[k].text_offset - 1]);
		}
		for (size_t i = 0; i < n; i++) {
			int covered = 0;
			if (ms[i] < K)
				continue;
			for (size_t k = 0; k < f.n; k++)
				if (f.m[k].text_offset < i + ms[i] &&
				    i < f.m[k].text_offset + f.m[k].length)
					covered = 1;
			if (!covered)
				fail_msg("round %d: match at %zu (%zu bytes) not reported", round, i, ms[i]);
		}
		free(ms);
	}
	mem_free(ctext);
	buf_release(&t);
	buf_release(&corpus);
	ctx_ngram_free(g);
}
