/* util.c - clocks, bounded parsing of numbers, sizes and durations, CPU features. */
#include "core/core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t time_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t str_copy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);

	if (n) {
		size_t c = len < n - 1 ? len : n - 1;
		memcpy(dst, src, c);
		dst[c] = 0;
	}
	return len;
}

status_t parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return ST_INVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || *end)
		return errno == ERANGE ? ST_LIMIT : ST_INVAL;
	if (v < min || v > max)
		return ST_LIMIT;
	*out = v;
	return ST_OK;
}

/* Splits "123abc" into a number and its suffix; the number must fit. */
static status_t num_suffix(const char *s, uint64_t *num, const char **suf)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return ST_INVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return ST_LIMIT;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*num = v;
	*suf = p;
	return ST_OK;
}

status_t parse_duration_ms(const char *s, int64_t *ms)
{
	static const struct { const char *suf; uint64_t mul; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 }, { "w", 604800000 },
	};
	uint64_t v;
	const char *suf;
	status_t st = num_suffix(s, &v, &suf);

	if (st != ST_OK)
		return st;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(suf, units[i].suf) != 0)
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].mul)
			return ST_LIMIT;
		*ms = (int64_t)(v * units[i].mul);
		return ST_OK;
	}
	return ST_INVAL;
}

status_t parse_time_ns(const char *s, uint64_t *ns)
{
	struct tm tm;
	const char *end;
	int64_t ms;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) != NULL &&
	    (*end == '\0' || strcmp(end, "Z") == 0)) {
		*ns = (uint64_t)timegm(&tm) * 1000000000ull;
		return ST_OK;
	}
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d", &tm)) != NULL && *end == '\0') {
		*ns = (uint64_t)timegm(&tm) * 1000000000ull;
		return ST_OK;
	}
	if (parse_duration_ms(s, &ms) == ST_OK && ms >= 0) {
		uint64_t now = time_wall_ns(), d = (uint64_t)ms * 1000000ull;
		*ns = d < now ? now - d : 0;
		return ST_OK;
	}
	return ST_INVAL;
}

status_t parse_size(const char *s, uint64_t *bytes)
{
	static const char sufs[] = "kmgt";
	uint64_t v, mul = 1;
	const char *suf;
	status_t st = num_suffix(s, &v, &suf);

	if (st != ST_OK)
		return st;
	if (*suf) {
		const char *p = strchr(sufs, tolower((unsigned char)*suf));
		if (!p || !*p)
			return ST_INVAL;
		mul = (uint64_t)1 << (10 * (p - sufs + 1));
		suf++;
		if (*suf == 'i' || *suf == 'I')
			suf++;
		if (*suf == 'b' || *suf == 'B')
			suf++;
		if (*suf)
			return ST_INVAL;
	}
	if (v > UINT64_MAX / mul)
		return ST_LIMIT;
	*bytes = v * mul;
	return ST_OK;
}

/* ---- CPU features ---- */

static struct cpu_features feats;
static pthread_once_t feats_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d, max;
	unsigned long long xcr0 = 0;
	int osxsave, ymm_ok, zmm_ok;

	max = __get_cpuid_max(0, NULL);
	if (max < 1)
		return;
	__cpuid(1, a, b, c, d);
	feats.sse3 = !!(c & bit_SSE3);
	feats.ssse3 = !!(c & bit_SSSE3);
	feats.fma = !!(c & bit_FMA);
	feats.f16c = !!(c & bit_F16C);
	osxsave = !!(c & bit_OSXSAVE);
	if (osxsave) {
		unsigned lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = ((unsigned long long)hi << 32) | lo;
	}
	/* The OS must save YMM (bits 1-2) and ZMM/opmask state (bits 5-7). */
	ymm_ok = osxsave && (xcr0 & 0x6) == 0x6;
	zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
	feats.avx = ymm_ok && !!(c & bit_AVX);
	if (!ymm_ok) {
		feats.fma = feats.f16c = 0;
	}
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		feats.avx2 = ymm_ok && !!(b & bit_AVX2);
		feats.avx512f = zmm_ok && !!(b & bit_AVX512F);
		feats.avx512dq = zmm_ok && !!(b & bit_AVX512DQ);
		feats.avx512bw = zmm_ok && !!(b & bit_AVX512BW);
		feats.avx512vl = zmm_ok && !!(b & bit_AVX512VL);
		feats.avx512vnni = zmm_ok && !!(c & bit_AVX512VNNI);
		__cpuid_count(7, 1, a, b, c, d);
		feats.avx512bf16 = zmm_ok && !!(a & bit_AVX512BF16);
		feats.avxvnni = ymm_ok && !!(a & (1u << 4));
	}
#endif
}

const struct cpu_features *cpu_features(void)
{
	pthread_once(&feats_once, detect);
	return &feats;
}

const char *cpu_features_str(char *out, size_t n)
{
	const struct cpu_features *f = cpu_features();
	struct { int on; const char *name; } list[] = {
		{ f->sse3, "sse3" }, { f->ssse3, "ssse3" }, { f->avx, "avx" },
		{ f->avx2, "avx2" }, { f->fma, "fma" }, { f->f16c, "f16c" },
		{ f->avx512f, "avx512f" }, { f->avx512dq, "avx512dq" },
		{ f->avx512bw, "avx512bw" }, { f->avx512vl, "avx512vl" },
		{ f->avx512vnni, "avx512vnni" }, { f->avx512bf16, "avx512bf16" },
		{ f->avxvnni, "avxvnni" },
	};
	size_t len = 0;

	if (!n)
		return out;
	out[0] = 0;
	for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
		if (!list[i].on)
			continue;
		int w = snprintf(out + len, n - len, "%s%s", len ? " " : "", list[i].name);
		if (w < 0 || (size_t)w >= n - len)
			break;
		len += (size_t)w;
	}
	if (!len)
		str_copy(out, "none", n);
	return out;
}
