/*
 * quant_pf.h - the page-ahead prefetch of the decode row kernels (gemv_*):
 * included by quant_avx2.c, quant_avx512.c and quant_q4x8.c only.
 *
 * Decode streams every weight matrix once per token. Where the mapped file
 * is backed by 4 KB pages (its page cache made of small folios, as after
 * the file was written or copied; the kernel maps 2 MB folios with one
 * PMD entry), the hardware prefetcher stops at each 4 KB boundary and the
 * first loads of every page wait for a page walk and a DRAM round trip.
 * Touching the first line of each page some 16 KB ahead into L2 starts
 * both early. Measured on q8_0 (docs/internals/quant.md, "Decode and the
 * page size"): faster over 4 KB pages, within noise over 2 MB ones, where
 * prefetching more lines of the stream, or into L1, was slower. The
 * K-type kernels, closer to compute-bound, gained nothing and do not
 * call it.
 */
#ifndef AIRLOCK_QUANT_PF_H
#define AIRLOCK_QUANT_PF_H

#include <stddef.h>
#include <stdint.h>
#include <xmmintrin.h>

/* Bytes ahead of the row being read: 4 pages. */
#define MDL__GEMV_PF_AHEAD 16384

/*
 * Prefetches into L2 the first line of each 4 KB page that starts within
 * [row + MDL__GEMV_PF_AHEAD, row + MDL__GEMV_PF_AHEAD + len): called once
 * per weight row of len bytes, consecutive rows touch each page once. A
 * prefetch never faults, so addresses past the mapping are harmless.
 */
static inline void mdl__gemv_prefetch_pages(const void *row, size_t len)
{
	uintptr_t a = (uintptr_t)row + MDL__GEMV_PF_AHEAD;
	for (uintptr_t pg = (a + 4095) & ~(uintptr_t)4095; pg < a + len; pg += 4096)
		_mm_prefetch((const char *)pg, _MM_HINT_T1);
}

#endif
