/*
 * policy_bench.c - figures for the policy module (no asserts):
 *   1. scanning throughput in MB/s on real source (this repository's src/
 *      and /usr/include), secret rules alone and secret + pattern rules,
 *      with Hyperscan and with PCRE2 alone;
 *   2. policy overhead per completion with a 200-rule bundle (p50, p99);
 *   3. the token guard: cost per generated token (check + advance), and
 *      of a full mask over a 32,000-token vocabulary.
 * Usage: policy_bench [ROOT...] (default: src /usr/include)
 * Times are thread CPU time, not wall time.
 */
#include "policy/policy.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_BYTES ((size_t)48 << 20)

struct file {
	char *path, *text;
	size_t len;
};

static struct file *files;
static size_t n_files, cap_files, total;

static void collect(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d || depth > 12)
		goto out;
	while ((de = readdir(d)) && total < MAX_BYTES) {
		char p[4096];
		struct stat st;
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (lstat(p, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			collect(p, depth + 1);
		} else if (S_ISREG(st.st_mode) && n > 2 &&
			   (!strcmp(de->d_name + n - 2, ".c") || !strcmp(de->d_name + n - 2, ".h"))) {
			struct file f;
			if (file_read_all(p, 8 << 20, &f.text, &f.len, NULL))
				continue;
			f.path = mem_strdup(p);
			if (n_files == cap_files) {
				cap_files = cap_files ? cap_files * 2 : 1024;
				files = realloc(files, cap_files * sizeof *files);
			}
			files[n_files++] = f;
			total += f.len;
		}
	}
out:
	if (d)
		closedir(d);
}

static const char patterns[] =
	"  - id: no-strcpy\n    kind: pattern\n    literal: strcpy\n    identifier: true\n    action: block\n"
	"  - id: no-gets\n    kind: pattern\n    literal: gets\n    identifier: true\n    action: block\n"
	"  - id: no-sprintf\n    kind: pattern\n    literal: sprintf\n    identifier: true\n"
	"  - id: no-system\n    kind: pattern\n    regex: '\\bsystem\\s*\\('\n"
	"  - id: no-eval\n    kind: pattern\n    regex: '\\beval\\s*\\('\n"
	"  - id: no-verify-false\n    kind: pattern\n    literal: 'verify=False'\n"
	"  - id: sql-concat\n    kind: pattern\n    regex: '(?i)\"\\s*(select|insert|update|delete)\\b[^\"]*\"\\s*\\+'\n"
	"  - id: todo\n    kind: pattern\n    regex: '\\b(TODO|FIXME|XXX)\\b'\n    action: allow\n";

/*
 * CPU time of this thread: the machines this runs on are shared, and wall
 * time there measures the neighbours as much as the code.
 */
static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void scan_bench(const char *label, const char *yaml, int no_hs)
{
	struct pol_load_opts o = { .no_hyperscan = no_hs };
	struct pol_bundle *b;
	struct err e;
	size_t findings = 0;
	double t0, t;

	if (pol_bundle_load_mem("bench.yaml", yaml, strlen(yaml), &o, &b, &e)) {
		fprintf(stderr, "bench: %s\n", e.msg);
		return;
	}
	t0 = now_s();
	for (size_t i = 0; i < n_files; i++) {
		struct pol_result r;
		struct pol_ctx ctx = { .path = files[i].path, .lang = "c" };
		pol_result_init(&r);
		pol_bundle_check(b, &ctx, files[i].text, files[i].len, &r, NULL);
		findings += r.n;
		pol_result_release(&r);
	}
	t = now_s() - t0;
	printf("scan %-34s %-10s %8.1f MB/s  (%.1f MB, %zu files, %zu findings)\n", label,
	       no_hs ? "pcre2" : "hyperscan", (double)total / 1e6 / t, (double)total / 1e6, n_files,
	       findings);
	pol_bundle_free(b);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A 200-rule bundle: the 25 built-in secret rules plus 175 of ours. */
static char *bundle_200(void)
{
	struct buf y;
	int n = 0;

	buf_init(&y, 0);
	buf_puts(&y, "rules:\n");
	buf_puts(&y, patterns);
	n = 8;
	for (int i = 0; n < 120; i++, n++)
		buf_printf(&y, "  - id: lit-%d\n    kind: pattern\n    literal: banned_call_%d\n"
			   "    identifier: true\n    action: block\n", i, i);
	for (int i = 0; n < 160; i++, n++)
		buf_printf(&y, "  - id: rx-%d\n    kind: pattern\n    regex: '\\bdeprecated_api_%d\\s*\\('\n", i, i);
	for (int i = 0; n < 175; i++, n++)
		buf_printf(&y, "  - id: imp-%d\n    kind: import\n    ecosystem: c\n    deny: [forbidden_%d.h]\n", i, i);
	return buf_detach(&y, NULL);
}

static void completion_bench(void)
{
	char *yaml = bundle_200();
	struct pol_load_opts o = { 0 };
	struct pol_bundle *b;
	struct pol_bundle_info in;
	struct err e;
	enum { N = 3000 };
	static double lat[N];
	size_t k = 0;

	if (pol_bundle_load_mem("b200.yaml", yaml, strlen(yaml), &o, &b, &e)) {
		fprintf(stderr, "bench: %s\n", e.msg);
		mem_free(yaml);
		return;
	}
	pol_bundle_info_get(b, &in);
	for (int i = 0; i < N; i++) {
		/* A completion: ~1.5 KB of code from the corpus. */
		const struct file *f = &files[(size_t)i % n_files];
		size_t len = f->len < 1536 ? f->len : 1536;
		struct pol_result r;
		struct pol_ctx ctx = { .path = "src/x.c", .lang = "c", .team = "t" };
		double t0 = now_s();
		pol_result_init(&r);
		pol_bundle_check(b, &ctx, f->text, len, &r, NULL);
		pol_result_release(&r);
		lat[k++] = (now_s() - t0) * 1e6;
	}
	qsort(lat, k, sizeof *lat, cmp_d);
	printf("completion check, %zu-rule bundle, 1.5 KB output: p50 %.1f us, p99 %.1f us, max %.1f us\n",
	       in.n_rules, lat[k / 2], lat[k * 99 / 100], lat[k - 1]);
	pol_bundle_free(b);
	mem_free(yaml);
}

static void guard_bench(void)
{
	char *yaml = bundle_200();
	struct pol_load_opts o = { .no_defaults = 1 };
	struct pol_bundle *b;
	struct pol_guard *g;
	struct pol_ctx ctx = { .lang = "c" };
	enum { V = 32000 };
	static const char *tok[V];
	static size_t tl[V];
	static uint8_t mask[V];
	const struct file *f = &files[0];
	size_t pos = 0, steps = 0, rejected = 0;
	double t0, t;
	unsigned seed = 1;

	if (pol_bundle_load_mem("b200.yaml", yaml, strlen(yaml), &o, &b, NULL) ||
	    pol_guard_new_bundle(b, &ctx, &g)) {
		mem_free(yaml);
		return;
	}
	/* A vocabulary of 1-8 byte pieces of real source. */
	for (int i = 0; i < V; i++) {
		const struct file *s = &files[(size_t)rand_r(&seed) % n_files];
		size_t n = 1 + (size_t)rand_r(&seed) % 8;
		size_t at = s->len > n ? (size_t)rand_r(&seed) % (s->len - n) : 0;
		tok[i] = s->text + at;
		tl[i] = s->len > n ? n : s->len;
	}
	t0 = now_s();
	for (int rep = 0; rep < 200; rep++) {
		for (size_t i = 0; i < n_files && steps < 2000000; i++) {
			f = &files[i];
			pol_guard_reset(g);
			for (pos = 0; pos < f->len && steps < 2000000;) {
				size_t n = 1 + (pos * 7) % 5;
				if (n > f->len - pos)
					n = f->len - pos;
				if (!pol_guard_accepts(g, f->text + pos, n))
					rejected++;
				pol_guard_advance(g, f->text + pos, n);
				pos += n;
				steps++;
			}
		}
	}
	t = now_s() - t0;
	printf("token guard (%zu banned literals): %.1f ns per token (check + advance), %zu tokens, %zu rejected\n",
	       pol_guard_size(g), t / (double)steps * 1e9, steps, rejected);
	pol_guard_reset(g);
	pol_guard_advance(g, "x = banned_call_", 16);
	t0 = now_s();
	for (int rep = 0; rep < 20; rep++)
		pol_guard_mask(g, tok, tl, V, mask);
	t = (now_s() - t0) / 20;
	printf("token guard full mask over %d tokens: %.1f us (only built when the sampled token is rejected)\n",
	       V, t * 1e6);
	pol_guard_free(g);
	pol_bundle_free(b);
	mem_free(yaml);
}

int main(int argc, char **argv)
{
	char with_patterns[4096];

	if (argc > 1)
		for (int i = 1; i < argc; i++)
			collect(argv[i], 0);
	else {
		collect("src", 0);
		collect("/usr/include", 0);
	}
	if (!n_files) {
		fprintf(stderr, "policy_bench: no .c/.h files found\n");
		return 1;
	}
	snprintf(with_patterns, sizeof with_patterns, "rules:\n%s", patterns);
	scan_bench("secret rules (built-in)", "version: 1\n", 0);
	scan_bench("secret rules (built-in)", "version: 1\n", 1);
	scan_bench("secret + 8 pattern rules", with_patterns, 0);
	scan_bench("secret + 8 pattern rules", with_patterns, 1);
	completion_bench();
	guard_bench();
	return 0;
}
