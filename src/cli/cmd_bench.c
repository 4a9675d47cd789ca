/*
 * cmd_bench.c - `airlock bench`: inference speed of one model file on this
 * machine, with the figures that say how good that speed is.
 *
 * Measured: prompt evaluation (pp, one batched call from an empty cache),
 * generation (tg, one token per call from an empty cache), generation after
 * a filled context (tg at --ctx-depth), peak resident memory, and the
 * machine's memory read bandwidth, from which the decode roofline follows:
 * a generated token must read every weight matrix once (and the KV cache
 * so far), so tokens/s can never exceed bandwidth / bytes read per token.
 * Every figure is the median over --reps timed runs after one warm-up run.
 *
 * The bandwidth is measured in a child process, forked before the model is
 * loaded so that its buffer neither counts in the peak RSS nor competes
 * with the model's pages: before the runs and after them (the higher
 * counts for the roofline), and right beside each generation run, for the
 * fraction of what memory gave while that run ran (the "paired" fraction:
 * this machine's bandwidth moves with its neighbours' load within
 * seconds, see docs/PERFORMANCE.md).
 */
#include "cli/cli.h"
#include "model/model.h"
#include "model/quant.h"

#include <errno.h>
#include <immintrin.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

struct bench_opts {
	const char *model;
	int threads;		/* engine threads */
	int n_prompt;		/* pp: prompt tokens */
	int n_gen;		/* tg: generated tokens */
	int depth;		/* tokens of context before the second tg; 0: skip */
	int reps;		/* timed runs per figure */
	int batch;		/* engine batch size; 0: the engine's default */
	int kv_type;		/* KV cache element type: MDL_TYPE_F32/F16/Q8_0 */
	int kernels;		/* forced enum mdl_level, or -1 */
	int bw_mib;		/* bandwidth buffer, MiB; 0: automatic */
	int bw_threads;		/* bandwidth threads */
	double bw_given;	/* bytes/s given with --bandwidth; 0: measure */
	int json;
};

/* ------------------------------------------------------------------ */
/* Memory read bandwidth                                               */
/* ------------------------------------------------------------------ */

/*
 * Sums a buffer as 64-bit integers with four independent accumulators
 * of 256 bits (eight loads of 32 bytes per iteration): the loop is bound
 * by the memory system, not by the adds. n is a multiple of 256.
 */
__attribute__((target("avx2"))) static uint64_t read_avx2(const void *p, size_t n)
{
	const __m256i *v = p;
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
	for (size_t i = 0; i < n / 32; i += 8) {
		a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + i));
		a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + i + 1));
		a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + i + 2));
		a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + i + 3));
		a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + i + 4));
		a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + i + 5));
		a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + i + 6));
		a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + i + 7));
	}
	a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
	uint64_t out[4];
	_mm256_storeu_si256((__m256i *)out, a0);
	return out[0] + out[1] + out[2] + out[3];
}

/* The portable version: four scalar accumulators. */
static uint64_t read_scalar(const void *p, size_t n)
{
	const uint64_t *w = p;
	uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
	for (size_t i = 0; i < n / 8; i += 4) {
		a0 += w[i];
		a1 += w[i + 1];
		a2 += w[i + 2];
		a3 += w[i + 3];
	}
	return a0 + a1 + a2 + a3;
}

/* Chunks of the buffer claimed by the pool's workers. */
#define BW_CHUNK ((size_t)1 << 20)

struct bw_job {
	const unsigned char *buf;
	uint64_t (*read)(const void *, size_t);
	uint64_t sink[64 * 8];	/* per worker, one cache line apart */
};

static void bw_task(void *arg, size_t begin, size_t end, int worker)
{
	struct bw_job *j = arg;
	uint64_t s = 0;
	for (size_t i = begin; i < end; i++)
		s += j->read(j->buf + i * BW_CHUNK, BW_CHUNK);
	j->sink[(size_t)(worker & 63) * 8] += s;
}

static void bw_touch(void *arg, size_t begin, size_t end, int worker)
{
	(void)worker;
	unsigned char *b = arg;
	for (size_t i = begin; i < end; i++)
		memset(b + i * BW_CHUNK, (int)(i & 0xff), BW_CHUNK);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median of n values (sorts v). */
static double median_sort(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of n values, leaving v in run order (sorts v itself on OOM). */
static double median(double *v, int n)
{
	double *tmp = n > 0 ? mem_alloc((size_t)n * sizeof *tmp) : NULL;
	if (!tmp)
		return median_sort(v, n);
	memcpy(tmp, v, (size_t)n * sizeof *tmp);
	double m = median_sort(tmp, n);
	mem_free(tmp);
	return m;
}

#define BW_PASSES 11
#define BW_PAIR_PASSES 5	/* passes of a probe beside one generation run */

/*
 * The measuring child: a process of its own, so that its buffer stays out
 * of our peak RSS, forked before the model loads and kept for the whole
 * bench, so that the bandwidth can be read right beside each generation
 * run as well as before and after them all. It serves requests on req (a
 * number of passes; 0 or end of file: exit) with that many passes' bytes/s
 * on resp.
 */
struct bw_child {
	pid_t pid;
	int req, resp;		/* -1: closed */
	int mib, n_threads;
};

/*
 * The child's side: reads a buffer of mib MiB with n_threads threads
 * once untimed, then per request that many times. Returns 0 when asked
 * to stop, -1 when the buffer or the threads are unavailable.
 */
static int bw_serve(int mib, int n_threads, int req, int resp)
{
	size_t size = (size_t)mib << 20;
	/* on 2 MB pages where THP allows, as the weights the loader settles
	 * (src/model/pages.c): over 4 KB pages the read kernel finds less
	 * than decode then streams */
	size_t huge = (size_t)2 << 20;
	unsigned char *map = mmap(NULL, size + huge, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	unsigned char *buf = (unsigned char *)(((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1));
	(void)madvise(buf, size, MADV_HUGEPAGE);
	struct tpool *pool = tpool_new(n_threads);
	struct bw_job *job = mem_calloc(1, sizeof *job);
	if (!pool || !job) {
		tpool_free(pool);
		mem_free(job);
		munmap(map, size + huge);
		return -1;
	}
	size_t n_chunks = size / BW_CHUNK;
	/* First touch from the pool, so pages are local to the readers. */
	tpool_parallel_for(pool, n_chunks, 1, bw_touch, buf);
	job->buf = buf;
	job->read = cpu_features()->avx2 ? read_avx2 : read_scalar;
	tpool_parallel_for(pool, n_chunks, 1, bw_task, job);
	int32_t n;
	size_t got;
	while (file_read_full(req, &n, sizeof n, &got) == ST_OK && got == sizeof n && n > 0) {
		double out[BW_PASSES];
		if (n > BW_PASSES)
			n = BW_PASSES;
		for (int pass = 0; pass < n; pass++) {
			uint64_t t0 = time_mono_ns();
			tpool_parallel_for(pool, n_chunks, 1, bw_task, job);
			out[pass] = (double)size / ((double)(time_mono_ns() - t0) / 1e9);
		}
		if (file_write_full(resp, out, (size_t)n * sizeof *out))
			break;
	}
	tpool_free(pool);
	mem_free(job);
	munmap(map, size + huge);
	return 0;
}

/* Starts the measuring child. Errors: ST_IO. */
static status_t bw_start(int mib, int n_threads, struct bw_child *b, struct err *e)
{
	int rq[2], rs[2];
	b->pid = -1;
	b->req = b->resp = -1;
	b->mib = mib;
	b->n_threads = n_threads;
	if (pipe(rq))
		return err_set(e, ST_IO, "bandwidth: pipe: %s", strerror(errno));
	if (pipe(rs)) {
		close(rq[0]);
		close(rq[1]);
		return err_set(e, ST_IO, "bandwidth: pipe: %s", strerror(errno));
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(rq[0]);
		close(rq[1]);
		close(rs[0]);
		close(rs[1]);
		return err_set(e, ST_IO, "bandwidth: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(rq[1]);
		close(rs[0]);
		_exit(bw_serve(mib, n_threads, rq[0], rs[1]) ? 1 : 0);
	}
	close(rq[0]);
	close(rs[1]);
	b->pid = pid;
	b->req = rq[1];
	b->resp = rs[0];
	return ST_OK;
}

/*
 * Asks the child for passes (1..BW_PASSES) passes; writes their median
 * and, when best is not NULL, the best of them, in bytes/s. Errors: ST_IO
 * when the child is gone or failed.
 */
static status_t bw_probe(struct bw_child *b, int passes, double *med, double *best,
			 struct err *e)
{
	double v[BW_PASSES];
	int32_t n = passes;
	size_t want = (size_t)passes * sizeof *v, got = 0;
	if (b->req < 0 || file_write_full(b->req, &n, sizeof n) ||
	    file_read_full(b->resp, v, want, &got) || got != want)
		return err_set(e, ST_IO, "bandwidth: the measuring process failed "
			       "(%d MiB buffer, %d threads)", b->mib, b->n_threads);
	*med = median_sort(v, passes);
	if (best)
		*best = v[passes - 1];
	return ST_OK;
}

/* Stops the child (closing its requests ends it) and reaps it. */
static void bw_stop(struct bw_child *b)
{
	if (b->req >= 0)
		close(b->req);
	if (b->resp >= 0)
		close(b->resp);
	b->req = b->resp = -1;
	if (b->pid > 0) {
		int status;
		while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	b->pid = -1;
}

/* Buffer size: 16x the last-level cache, at least 256 MiB, at most 1 GiB. */
static int bw_auto_mib(void)
{
	long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
	if (llc <= 0)
		llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
	long mib = llc > 0 ? (llc * 16) >> 20 : 256;
	return mib < 256 ? 256 : mib > 1024 ? 1024 : (int)mib;
}

/* ------------------------------------------------------------------ */
/* What the model reads per token                                      */
/* ------------------------------------------------------------------ */

#define MAX_TYPES 40

struct model_facts {
	uint64_t file_bytes;
	uint64_t weight_bytes_per_token;	/* every matrix once; one embedding row */
	uint64_t kv_bytes_per_pos;	/* K and V of one position, all layers */
	int tied;			/* the embedding table is also the output */
	struct {
		uint32_t type;
		int n;
		uint64_t bytes;
	} mix[MAX_TYPES];
	int n_mix;
};

/* Bytes of one head's K (or V) row of a cache of kv_type; 0 when the
 * head size does not fit the type's blocks (mdl_ctx_new_params refuses
 * such a cache). */
static uint64_t kv_head_bytes(const struct mdl_hparams *hp, int kv_type)
{
	return mdl_row_size(kv_type, hp->head_dim);
}

/*
 * Bytes a generated token reads: each weight tensor whole, except the
 * embedding table, of which one row is read, unless the table is also the
 * output matrix (tied, as in the smaller Qwen2.5 models).
 */
static void model_facts_get(const struct mdl_model *m, int kv_type,
			    struct model_facts *f)
{
	const struct mdl_gguf *g = mdl_model_gguf(m);
	const struct mdl_hparams *hp = mdl_model_hparams(m);
	memset(f, 0, sizeof *f);
	f->file_bytes = mdl_gguf_file_size(g);
	f->tied = mdl_gguf_tensor_find(g, "output.weight") == NULL;
	for (size_t i = 0; i < mdl_gguf_n_tensors(g); i++) {
		const struct mdl_tensor *t = mdl_gguf_tensor(g, i);
		if (!strcmp(t->name, "token_embd.weight") && !f->tied)
			f->weight_bytes_per_token += t->ne[1] > 0 ? t->size / (size_t)t->ne[1] : t->size;
		else
			f->weight_bytes_per_token += t->size;
		int k;
		for (k = 0; k < f->n_mix && f->mix[k].type != t->type; k++)
			;
		if (k == f->n_mix) {
			if (k == MAX_TYPES)
				continue;
			f->mix[k].type = t->type;
			f->n_mix++;
		}
		f->mix[k].n++;
		f->mix[k].bytes += t->size;
	}
	f->kv_bytes_per_pos = (uint64_t)hp->n_layer * 2 * (uint64_t)hp->n_head_kv *
			      kv_head_bytes(hp, kv_type);
}

/* KV bytes read over n generated tokens starting at depth d, per token. */
static double kv_bytes_per_token(const struct model_facts *f, int d, int n)
{
	/* Token i attends over d + i + 1 positions. */
	return (double)f->kv_bytes_per_pos * ((double)d + (n + 1) / 2.0);
}

/* ------------------------------------------------------------------ */
/* Peak resident memory                                                */
/* ------------------------------------------------------------------ */

/* VmHWM from /proc/self/status, else getrusage's maxrss; bytes. */
static uint64_t peak_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f)) {
			unsigned long long kb;
			if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) {
				fclose(f);
				return (uint64_t)kb * 1024;
			}
		}
		fclose(f);
	}
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		return (uint64_t)ru.ru_maxrss * 1024;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

struct bench_result {
	double *pp, *tg, *tgd;	/* (reps) tokens/s of each timed run */
	double pp_fill;		/* tokens/s of the one fill to --ctx-depth */
	double bw, bw_best;	/* bytes/s: the higher of the two probes */
	double bw_pre, bw_post;	/* medians before and after the runs; 0: given */
	/* (reps + 1) bytes/s read right before each tg (tgd) run and after
	 * the last; NULL when the bandwidth was given */
	double *tg_bw, *tgd_bw;
	uint64_t peak_rss;
	double pages_2mb;	/* mdl_model_weights_2mb_fraction, -1 unknown */
	uint64_t kv_cache_bytes;
	int kernels;
	int n_threads;
};

static double secs_since(uint64_t t0)
{
	return (double)(time_mono_ns() - t0) / 1e9;
}

/* Tokens/s of generating n tokens one per call at positions pos... */
static status_t run_gen(struct mdl_ctx *c, const int32_t *toks, int n, int pos,
			float *logits, double *tps, struct err *e)
{
	uint64_t t0 = time_mono_ns();
	for (int i = 0; i < n; i++) {
		status_t st = mdl_eval(c, toks + i, 1, pos + i, logits, 0, e);
		if (st)
			return st;
	}
	*tps = n / secs_since(t0);
	return ST_OK;
}

/* Tokens/s of evaluating n tokens in one call at positions pos... */
static status_t run_prompt(struct mdl_ctx *c, const int32_t *toks, int n, int pos,
			   float *logits, double *tps, struct err *e)
{
	uint64_t t0 = time_mono_ns();
	status_t st = mdl_eval(c, toks, n, pos, logits, 0, e);
	if (!st)
		*tps = n / secs_since(t0);
	return st;
}

/*
 * The measurements on a loaded model: warm-up, then reps of pp and tg
 * from an empty cache, then one fill to depth and reps of tg after it
 * (the cache is cut back to depth before each).
 */
static status_t bench_model(struct mdl_model *m, const struct bench_opts *o,
			    struct bw_child *bw, struct bench_result *r, struct err *e)
{
	int n_ctx = (o->n_prompt > o->depth ? o->n_prompt : o->depth) + o->n_gen;
	struct mdl_ctx_params cp = { .n_ctx = n_ctx, .n_threads = o->threads,
				     .n_batch = o->batch, .n_seq = 1,
				     .kv_f16 = o->kv_type == MDL_TYPE_F16,
				     .kv_q8 = o->kv_type == MDL_TYPE_Q8_0 };
	struct mdl_ctx *c = NULL;
	status_t st = mdl_ctx_new_params(m, &cp, &c, e);
	if (st)
		return st;
	int nv = mdl_model_n_vocab(m);
	const struct mdl_hparams *hp = mdl_model_hparams(m);
	r->kv_cache_bytes = (uint64_t)hp->n_layer * 2 * (uint64_t)n_ctx *
			    (uint64_t)hp->n_head_kv * kv_head_bytes(hp, o->kv_type);
	float *logits = mem_alloc((size_t)nv * sizeof *logits);
	size_t nt = (size_t)n_ctx;
	int32_t *toks = mem_alloc(nt * sizeof *toks);
	if (!logits || !toks) {
		st = err_set(e, ST_NOMEM, "bench: out of memory");
		goto out;
	}
	/* Random tokens from a fixed seed, as llama-bench feeds. */
	uint64_t s = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < nt; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		toks[i] = (int32_t)((s >> 33) % (uint64_t)nv);
	}
	double dummy;
	int warm = o->n_gen < 16 ? o->n_gen : 16;
	if ((st = run_prompt(c, toks, o->n_prompt, 0, logits, &dummy, e)) ||
	    (st = run_gen(c, toks, warm, 0, logits, &dummy, e)))
		goto out;
	for (int i = 0; i < o->reps; i++)
		if ((st = run_prompt(c, toks, o->n_prompt, 0, logits, &r->pp[i], e)))
			goto out;
	/* Each generation run between two reads of the bandwidth. */
	for (int i = 0; i < o->reps; i++)
		if ((bw && (st = bw_probe(bw, BW_PAIR_PASSES, &r->tg_bw[i], NULL, e))) ||
		    (st = run_gen(c, toks, o->n_gen, 0, logits, &r->tg[i], e)))
			goto out;
	if (bw && (st = bw_probe(bw, BW_PAIR_PASSES, &r->tg_bw[o->reps], NULL, e)))
		goto out;
	if (o->depth > 0) {
		if ((st = run_prompt(c, toks, o->depth, 0, logits, &r->pp_fill, e)))
			goto out;
		for (int i = 0; i < o->reps; i++) {
			if ((st = mdl_ctx_seq_keep(c, 0, o->depth, e)) ||
			    (bw && (st = bw_probe(bw, BW_PAIR_PASSES, &r->tgd_bw[i], NULL, e))) ||
			    (st = run_gen(c, toks + o->depth, o->n_gen, o->depth, logits,
					  &r->tgd[i], e)))
				goto out;
		}
		if (bw && (st = bw_probe(bw, BW_PAIR_PASSES, &r->tgd_bw[o->reps], NULL, e)))
			goto out;
	}
out:
	mem_free(logits);
	mem_free(toks);
	mdl_ctx_free(c);
	return st;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/*
 * The fraction of the roofline each generation run reached against the
 * bandwidth read beside it (the mean of the reads right before and right
 * after it), the median over the runs: on a machine whose bandwidth moves
 * with its neighbours' load, what memory gave while the run ran, not at
 * another moment. -1 when the bandwidth was given or out of memory.
 */
static double paired_fraction(const double *tps, const double *bwv, int reps,
			      double bytes_per_token)
{
	double *v = bwv ? mem_alloc_array((size_t)reps, sizeof *v) : NULL;
	if (!v)
		return -1;
	for (int i = 0; i < reps; i++)
		v[i] = tps[i] * bytes_per_token / ((bwv[i] + bwv[i + 1]) / 2);
	double out = median_sort(v, reps);
	mem_free(v);
	return out;
}

static json_t *json_num_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

static json_t *json_samples(const double *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static void print_json(const struct bench_opts *o, const struct mdl_model *m,
		       const struct model_facts *f, const struct bench_result *r,
		       double pp, double tg, double tgd)
{
	const struct mdl_hparams *hp = mdl_model_hparams(m);
	double kv0 = kv_bytes_per_token(f, 0, o->n_gen);
	double kvd = kv_bytes_per_token(f, o->depth, o->n_gen);
	double roof = r->bw / ((double)f->weight_bytes_per_token + kv0);
	double roofd = r->bw / ((double)f->weight_bytes_per_token + kvd);
	double pf = paired_fraction(r->tg, r->tg_bw, o->reps,
				    (double)f->weight_bytes_per_token + kv0);
	double pfd = o->depth > 0 ? paired_fraction(r->tgd, r->tgd_bw, o->reps,
						    (double)f->weight_bytes_per_token + kvd) : -1;
	char feat[256];
	json_t *mix = json_object();
	for (int i = 0; i < f->n_mix; i++) {
		json_t *t = json_object();
		json_object_set_new(t, "tensors", json_integer(f->mix[i].n));
		json_object_set_new(t, "bytes", json_integer((json_int_t)f->mix[i].bytes));
		json_object_set_new(mix, mdl_ggml_type_name(f->mix[i].type), t);
	}
	json_t *j = json_object();
	json_object_set_new(j, "model", json_string(o->model));
	json_object_set_new(j, "arch", json_string(mdl_arch_name(hp->arch)));
	json_object_set_new(j, "n_params", json_integer(mdl_model_n_params(m)));
	json_object_set_new(j, "model_bytes", json_integer((json_int_t)f->file_bytes));
	json_object_set_new(j, "type_mix", mix);
	json_object_set_new(j, "tied_output", json_boolean(f->tied));
	json_object_set_new(j, "threads", json_integer(r->n_threads));
	json_object_set_new(j, "reps", json_integer(o->reps));
	json_object_set_new(j, "statistic", json_string("median"));
	json_object_set_new(j, "warmup_runs", json_integer(1));
	json_object_set_new(j, "n_prompt", json_integer(o->n_prompt));
	json_object_set_new(j, "n_gen", json_integer(o->n_gen));
	json_object_set_new(j, "ctx_depth", json_integer(o->depth));
	json_object_set_new(j, "kv_type", json_string(mdl_type_info(o->kv_type)->name));
	json_object_set_new(j, "batch", json_integer(o->batch));
	json_object_set_new(j, "kernels", json_string(mdl_level_name((enum mdl_level)r->kernels)));
	json_object_set_new(j, "cpu_features", json_string(cpu_features_str(feat, sizeof feat)));
	json_object_set_new(j, "pp_tps", json_real(pp));
	json_object_set_new(j, "tg_tps", json_real(tg));
	if (o->depth > 0) {
		json_object_set_new(j, "tg_tps_ctx4096", json_real(tgd));
		json_object_set_new(j, "pp_tps_fill", json_real(r->pp_fill));
	} else {
		json_object_set_new(j, "tg_tps_ctx4096", json_null());
	}
	json_object_set_new(j, "pp_tps_samples", json_samples(r->pp, o->reps));
	json_object_set_new(j, "tg_tps_samples", json_samples(r->tg, o->reps));
	json_object_set_new(j, "tg_tps_ctx4096_samples",
			    json_samples(r->tgd, o->depth > 0 ? o->reps : 0));
	json_object_set_new(j, "peak_rss_bytes", json_integer((json_int_t)r->peak_rss));
	json_object_set_new(j, "kv_cache_bytes", json_integer((json_int_t)r->kv_cache_bytes));
	json_object_set_new(j, "weights_2mb_page_fraction",
			    r->pages_2mb < 0 ? json_null() : json_real(r->pages_2mb));
	json_object_set_new(j, "peak_rss_budget_bytes",
			    json_integer((json_int_t)((double)(f->file_bytes + r->kv_cache_bytes) * 1.1)));
	json_object_set_new(j, "bandwidth_bytes_per_s", json_real(r->bw));
	json_object_set_new(j, "bandwidth_best_bytes_per_s", json_real(r->bw_best));
	json_object_set_new(j, "bandwidth_before_bytes_per_s",
			    r->bw_pre > 0 ? json_real(r->bw_pre) : json_null());
	json_object_set_new(j, "bandwidth_after_bytes_per_s",
			    r->bw_post > 0 ? json_real(r->bw_post) : json_null());
	json_object_set_new(j, "bandwidth_beside_tg_samples",
			    json_samples(r->tg_bw, r->tg_bw ? o->reps + 1 : 0));
	json_object_set_new(j, "bandwidth_beside_tg_ctx4096_samples",
			    json_samples(r->tgd_bw, r->tgd_bw && o->depth > 0 ? o->reps + 1 : 0));
	json_object_set_new(j, "bandwidth_measured", json_boolean(o->bw_given <= 0));
	json_object_set_new(j, "bandwidth_threads", json_integer(o->bw_threads));
	json_object_set_new(j, "weight_bytes_per_token",
			    json_integer((json_int_t)f->weight_bytes_per_token));
	json_object_set_new(j, "kv_bytes_per_token", json_real(kv0));
	json_object_set_new(j, "kv_bytes_per_token_ctx4096", json_real(o->depth > 0 ? kvd : 0));
	json_object_set_new(j, "roofline_tps", json_real(roof));
	json_object_set_new(j, "roofline_fraction", json_real(tg / roof));
	json_object_set_new(j, "roofline_fraction_paired", json_num_or_null(pf));
	if (o->depth > 0) {
		json_object_set_new(j, "roofline_tps_ctx4096", json_real(roofd));
		json_object_set_new(j, "roofline_fraction_ctx4096", json_real(tgd / roofd));
		json_object_set_new(j, "roofline_fraction_ctx4096_paired", json_num_or_null(pfd));
	}
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
	json_decref(j);
}

static double mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

static void print_text(const struct bench_opts *o, const struct mdl_model *m,
		       const struct model_facts *f, const struct bench_result *r,
		       double pp, double tg, double tgd)
{
	const struct mdl_hparams *hp = mdl_model_hparams(m);
	double kv0 = kv_bytes_per_token(f, 0, o->n_gen);
	double kvd = kv_bytes_per_token(f, o->depth, o->n_gen);
	double roof = r->bw / ((double)f->weight_bytes_per_token + kv0);
	double roofd = r->bw / ((double)f->weight_bytes_per_token + kvd);
	double pf = paired_fraction(r->tg, r->tg_bw, o->reps,
				    (double)f->weight_bytes_per_token + kv0);
	double pfd = o->depth > 0 ? paired_fraction(r->tgd, r->tgd_bw, o->reps,
						    (double)f->weight_bytes_per_token + kvd) : -1;
	printf("model        %s\n", o->model);
	printf("             %s, %.1f M parameters, %.1f MiB%s\n", mdl_arch_name(hp->arch),
	       (double)mdl_model_n_params(m) / 1e6, mib(f->file_bytes),
	       f->tied ? ", output tied to the embedding" : "");
	printf("types       ");
	for (int i = 0; i < f->n_mix; i++)
		printf(" %s x%d (%.1f MiB)%s", mdl_ggml_type_name(f->mix[i].type), f->mix[i].n,
		       mib(f->mix[i].bytes), i + 1 < f->n_mix ? "," : "");
	char batch[32];
	if (o->batch)
		snprintf(batch, sizeof batch, "%d", o->batch);
	else
		str_copy(batch, "engine default", sizeof batch);
	printf("\nsetup        %d threads, %s kernels, KV cache %s, batch %s, "
	       "median of %d after 1 warm-up\n", r->n_threads,
	       mdl_level_name((enum mdl_level)r->kernels), mdl_type_info(o->kv_type)->name,
	       batch, o->reps);
	printf("pp%-10d %8.2f tok/s\n", o->n_prompt, pp);
	printf("tg%-10d %8.2f tok/s\n", o->n_gen, tg);
	if (o->depth > 0) {
		char lbl[32];
		snprintf(lbl, sizeof lbl, "tg%d@%d", o->n_gen, o->depth);
		printf("%-12s %8.2f tok/s   (context filled once at %.1f tok/s)\n", lbl, tgd,
		       r->pp_fill);
	}
	if (o->bw_given > 0)
		printf("bandwidth    %8.2f GB/s    (given with --bandwidth)\n", r->bw / 1e9);
	else
		printf("bandwidth    %8.2f GB/s    (read kernel, median; %.2f before the runs, "
		       "%.2f after; best pass %.2f)\n", r->bw / 1e9, r->bw_pre / 1e9,
		       r->bw_post / 1e9, r->bw_best / 1e9);
	printf("bytes/token  %8.1f MB      (weights %.1f, KV cache %.1f)\n",
	       ((double)f->weight_bytes_per_token + kv0) / 1e6,
	       (double)f->weight_bytes_per_token / 1e6, kv0 / 1e6);
	printf("roofline     %8.2f tok/s   reached %.1f %%\n", roof, 100 * tg / roof);
	if (pf >= 0)
		printf("  paired                    reached %.1f %% against the bandwidth read "
		       "beside each run (median %.2f GB/s)\n", 100 * pf,
		       median(r->tg_bw, o->reps + 1) / 1e9);
	if (o->depth > 0)
		printf("roofline@%-4d%8.2f tok/s   reached %.1f %%  (KV cache %.1f MB/token)\n",
		       o->depth, roofd, 100 * tgd / roofd, kvd / 1e6);
	if (pfd >= 0)
		printf("  paired                    reached %.1f %% against the bandwidth read "
		       "beside each run (median %.2f GB/s)\n", 100 * pfd,
		       median(r->tgd_bw, o->reps + 1) / 1e9);
	printf("peak RSS     %8.1f MiB     (file + KV cache + 10 %%: %.1f MiB)\n",
	       mib(r->peak_rss), 1.1 * mib(f->file_bytes + r->kv_cache_bytes));
	if (r->pages_2mb >= 0)
		printf("2 MB pages   %8.1f %%      of the resident file-mapped weights (the rest "
		       "4 KB: slower decode)%s\n", 100 * r->pages_2mb,
		       mdl_model_n_repacked(m) ? "; the repacked q4_0 copies are apart" : "");
}

/* ------------------------------------------------------------------ */
/* Command                                                             */
/* ------------------------------------------------------------------ */

static int opt_int(const char *name, const char *v, int64_t min, int64_t max, int *out)
{
	int64_t x;
	if (!v) {
		cli_error("bench", "%s needs a value", name);
		return -1;
	}
	if (parse_i64(v, min, max, &x)) {
		cli_error("bench", "%s: '%s' is not a whole number in %lld..%lld", name, v,
			  (long long)min, (long long)max);
		return -1;
	}
	*out = (int)x;
	return 0;
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	*o = (struct bench_opts){ .threads = 2, .n_prompt = 512, .n_gen = 128,
				  .depth = 4096, .reps = 3, .kv_type = MDL_TYPE_F16, .kernels = -1,
				  .bw_threads = 2 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;
		if (!strcmp(a, "--json")) {
			o->json = 1;
			continue;
		}
		if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
			if (!v) {
				cli_error("bench", "%s needs a value", a);
				return -1;
			}
			o->model = v;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
			rc = opt_int(a, v, 1, 512, &o->threads);
		else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
			rc = opt_int(a, v, 1, 65536, &o->n_prompt);
		else if (!strcmp(a, "-n") || !strcmp(a, "--gen"))
			rc = opt_int(a, v, 1, 65536, &o->n_gen);
		else if (!strcmp(a, "--ctx-depth"))
			rc = opt_int(a, v, 0, 1 << 19, &o->depth);
		else if (!strcmp(a, "--reps") || !strcmp(a, "-r"))
			rc = opt_int(a, v, 1, 1000, &o->reps);
		else if (!strcmp(a, "--batch"))
			rc = opt_int(a, v, 1, 4096, &o->batch);
		else if (!strcmp(a, "--bw-mib"))
			rc = opt_int(a, v, 1, 1 << 16, &o->bw_mib);
		else if (!strcmp(a, "--bw-threads"))
			rc = opt_int(a, v, 1, 512, &o->bw_threads);
		else if (!strcmp(a, "--bandwidth")) {
			char *end = NULL;
			double gbs = v ? strtod(v, &end) : 0;
			if (!v || end == v || *end || !(gbs > 0 && gbs < 1e6)) {
				cli_error("bench", "--bandwidth needs GB/s, a positive number");
				return -1;
			}
			o->bw_given = gbs * 1e9;
		} else if (!strcmp(a, "--kv")) {
			struct mdl_ctx_params kp = { 0 };
			if (mdl_ctx_params_set_kv(&kp, v) == ST_OK) {
				o->kv_type = mdl_type_from_name(v);	/* the names are types' */
			} else {
				cli_error("bench", "--kv is f16, f32 or q8_0");
				return -1;
			}
		} else if (!strcmp(a, "--kernels")) {
			if (v && !strcmp(v, "scalar"))
				o->kernels = MDL_LEVEL_SCALAR;
			else if (v && !strcmp(v, "avx2"))
				o->kernels = MDL_LEVEL_AVX2;
			else if (v && !strcmp(v, "avx512"))
				o->kernels = MDL_LEVEL_AVX512;
			else {
				cli_error("bench", "--kernels is scalar, avx2 or avx512");
				return -1;
			}
		} else {
			cli_error("bench", "unknown argument '%s' (see airlock help bench)", a);
			return -1;
		}
		if (rc)
			return -1;
		i++;
	}
	if (!o->model) {
		cli_error("bench", "missing -m FILE (see airlock help bench)");
		return -1;
	}
	if (!o->bw_mib)
		o->bw_mib = bw_auto_mib();
	return 0;
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	struct bench_opts o;
	if (parse_opts(argc, argv, &o))
		return EXIT_USAGE;
	struct bench_result r = { 0 };
	struct bw_child bw = { .pid = -1, .req = -1, .resp = -1 };
	struct err e = { 0 };
	int rc = EXIT_OK;
	struct mdl_model *m = NULL;
	struct model_facts *f = mem_calloc(1, sizeof *f);
	r.pp = mem_calloc((size_t)o.reps, sizeof(double));
	r.tg = mem_calloc((size_t)o.reps, sizeof(double));
	r.tgd = mem_calloc((size_t)o.reps, sizeof(double));
	/* the reads beside the runs, unless the bandwidth is given */
	int measure = o.bw_given <= 0;
	if (measure) {
		r.tg_bw = mem_calloc((size_t)o.reps + 1, sizeof(double));
		r.tgd_bw = mem_calloc((size_t)o.reps + 1, sizeof(double));
	}
	if (!f || !r.pp || !r.tg || !r.tgd || (measure && (!r.tg_bw || !r.tgd_bw))) {
		cli_error("bench", "out of memory");
		rc = EXIT_IO;
		goto out;
	}
	/* A child that has died must not take us with it (a request to it
	 * fails instead). */
	signal(SIGPIPE, SIG_IGN);
	/* Bandwidth first, while this process has no threads to fork with:
	 * the child then serves every later read. */
	if (!measure) {
		r.bw = r.bw_best = o.bw_given;
	} else if (bw_start(o.bw_mib, o.bw_threads, &bw, &e) ||
		   bw_probe(&bw, BW_PASSES, &r.bw, &r.bw_best, &e)) {
		cli_error_err("bench", &e);
		rc = EXIT_IO;
		goto out;
	} else {
		r.bw_pre = r.bw;
	}
	if (o.kernels >= 0)
		mdl_quant_force_level((enum mdl_level)o.kernels);
	r.kernels = (int)mdl_quant_level();
	status_t st = mdl_model_load(o.model, &m, &e);
	if (st) {
		cli_error_err("bench", &e);
		rc = cli_exit_for(st);
		goto out;
	}
	model_facts_get(m, o.kv_type, f);
	r.n_threads = o.threads;
	if ((st = bench_model(m, &o, measure ? &bw : NULL, &r, &e))) {
		cli_error_err("bench", &e);
		rc = cli_exit_for(st);
		goto out;
	}
	r.peak_rss = peak_rss_bytes();
	r.pages_2mb = mdl_model_weights_2mb_fraction(m);
	/* Again after the runs: this machine's bandwidth moves between
	 * levels (docs/PERFORMANCE.md), and a read kernel can only find less
	 * than memory gives, never more, so the higher of the two medians is
	 * the roofline's. */
	if (measure) {
		double med2, best2;
		if (bw_probe(&bw, BW_PASSES, &med2, &best2, &e)) {
			cli_error_err("bench", &e);
			rc = EXIT_IO;
			goto out;
		}
		r.bw_post = med2;
		if (med2 > r.bw)
			r.bw = med2;
		if (best2 > r.bw_best)
			r.bw_best = best2;
	}
	double pp = median(r.pp, o.reps), tg = median(r.tg, o.reps);
	double tgd = o.depth > 0 ? median(r.tgd, o.reps) : 0;
	if (o.json)
		print_json(&o, m, f, &r, pp, tg, tgd);
	else
		print_text(&o, m, f, &r, pp, tg, tgd);
out:
	bw_stop(&bw);
	mdl_model_free(m);
	mem_free(f);
	mem_free(r.pp);
	mem_free(r.tg);
	mem_free(r.tgd);
	mem_free(r.tg_bw);
	mem_free(r.tgd_bw);
	return rc;
}
