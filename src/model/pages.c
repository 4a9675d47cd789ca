/*
 * pages.c - the page size under the weights used in place.
 *
 * Decode reads every weight once per token, front to back. Over 4 KB pages
 * every new page waits for a page walk and the hardware prefetcher stops
 * at each page boundary: q8_0 decode measured up to twice as slow as over
 * 2 MB pages before the row kernels prefetched a page ahead, and still
 * 4-5 % slower with it (docs/internals/quant.md). The kernel maps a file
 * with 2 MB entries only where its page cache holds 2 MB folios, which
 * reading the file from disk through a MADV_HUGEPAGE mapping makes
 * (readahead in PMD-sized units; a cold read(2) mostly does too) and
 * writing or copying the file does not; cached 4 KB pages are never
 * merged. So at load the weights used in place are faulted in through a
 * hinted mapping, and when more than a tenth of them sit on 4 KB pages,
 * the file's cached pages that nobody maps are dropped
 * (POSIX_FADV_DONTNEED leaves the pages other processes map) and read
 * again: one read of the weights from disk, about 1 s per GB here, for
 * faster decode as long as the file stays cached, for every process that
 * maps it afterwards.
 */
#include "model/model_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define PMD_BYTES ((uintptr_t)2 << 20)
/* Below this many bytes used in place the page size hardly matters. */
#define SETTLE_MIN_BYTES ((size_t)8 << 20)
/* Fraction on 2 MB pages from which the page cache is left alone. Files
 * are found partly on 2 MB pages (55 % was seen on a file that had been
 * partly evicted and read back through a plain mapping); one read of the
 * file at load is cheap beside a server's lifetime of decode. */
#define SETTLE_GOOD 0.9

double mdl__mapped_2mb_fraction(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	char line[512];
	int in = 0;
	unsigned long long rss = 0, pmd = 0, kb;
	double out = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long long lo, hi;
		char dash;
		if (sscanf(line, "%llx%c%llx ", &lo, &dash, &hi) == 3 && dash == '-') {
			if (in)
				break;
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		} else if (in && sscanf(line, "Rss: %llu kB", &kb) == 1) {
			rss = kb;
		} else if (in && sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1) {
			pmd = kb;
		}
	}
	fclose(f);
	if (in)
		out = rss ? (double)pmd / (double)rss : 0;
	return out;
}

double mdl_model_weights_2mb_fraction(const struct mdl_model *m)
{
	const uint8_t *data;
	size_t len;
	if (!m || mdl__gguf_map(m->gguf, &data, &len) < 0 || !mdl_gguf_n_tensors(m->gguf))
		return -1;
	return mdl__mapped_2mb_fraction(mdl_gguf_tensor(m->gguf, 0)->data);
}

/* 0 where transparent huge pages are off ("[never]"), else 1. */
static int thp_enabled(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!f)
		return 0;
	char line[128] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = 0;
	fclose(f);
	return line[0] && !strstr(line, "[never]");
}

/* 1 when tensor t of the file was repacked (its pages are not read). */
static int is_repacked(const struct mdl_model *m, const struct mdl_tensor *t)
{
	for (int i = 0; i < m->n_repacked; i++)
		if (m->repacked[i].name == t->name)
			return 1;
	return 0;
}

/*
 * Faults in the pages of every tensor used in place; returns their bytes.
 * MADV_POPULATE_READ (Linux 5.14) takes the same fault path as a read,
 * readahead included; where it is missing one byte per page is read.
 */
static size_t populate(const struct mdl_model *m, long page)
{
	const struct mdl_gguf *g = m->gguf;
	size_t bytes = 0;
	for (size_t i = 0; i < mdl_gguf_n_tensors(g); i++) {
		const struct mdl_tensor *t = mdl_gguf_tensor(g, i);
		/* an embedding table apart from the output matrix is read a
		 * row per token: its page size does not matter */
		if (!t->size || is_repacked(m, t) ||
		    (t == m->tok_embd && m->tok_embd != m->output))
			continue;
		uintptr_t a = (uintptr_t)t->data & ~(uintptr_t)(page - 1);
		uintptr_t b = (uintptr_t)t->data + t->size;
		if (madvise((void *)a, b - a, MADV_POPULATE_READ) != 0) {
			volatile const uint8_t *p = t->data;
			uint8_t sink = 0;
			for (size_t o = 0; o < t->size; o += (size_t)page)
				sink ^= p[o];
			(void)sink;
		}
		bytes += t->size;
	}
	return bytes;
}

void mdl__pages_settle(struct mdl_model *m)
{
	const uint8_t *data;
	size_t len;
	int fd = mdl__gguf_map(m->gguf, &data, &len);
	long page = sysconf(_SC_PAGESIZE);
	long phys = sysconf(_SC_PHYS_PAGES);
	/* a file that is not mapped, too small to matter, or so large that
	 * reading it whole would push other things out is left as it is */
	if (fd < 0 || !data || page <= 0 || len < SETTLE_MIN_BYTES ||
	    (phys > 0 && len / (size_t)page > (size_t)phys / 2) ||
	    ((uintptr_t)data & (PMD_BYTES - 1)) || !thp_enabled())
		return;
	uint64_t t0 = time_mono_ns();
	(void)madvise((void *)data, len, MADV_HUGEPAGE);
	size_t bytes = populate(m, page);
	if (bytes < SETTLE_MIN_BYTES)
		return;
	double before = mdl__mapped_2mb_fraction(data);
	if (before < 0 || before >= SETTLE_GOOD) {
		LOG_DEBUG("model.pages", LF_INT("bytes", (int64_t)bytes),
			  LF_INT("pmd_permille", (int64_t)(before * 1000)));
		return;
	}
	/* drop this process's mappings of the file, then the cached pages
	 * nobody maps, and fault the weights in again through the hint */
	(void)madvise((void *)data, len, MADV_DONTNEED);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	populate(m, page);
	double after = mdl__mapped_2mb_fraction(data);
	LOG_INFO("model.pages", LF_INT("bytes", (int64_t)bytes),
		 LF_INT("pmd_permille_before", (int64_t)(before * 1000)),
		 LF_INT("pmd_permille_after", (int64_t)(after * 1000)),
		 LF_INT("ms", (int64_t)((time_mono_ns() - t0) / 1000000)));
}
