/*
 * model.c - loading a model: reads the hyperparameters of a supported
 * architecture from GGUF metadata, finds its tensors and checks their
 * names, shapes and types, so that the forward pass (forward.c) can trust
 * every pointer it is given. Weights stay memory-mapped; contexts
 * (forward.c) convert the small norm weights and biases to f32.
 */
#include "model/model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

const char *mdl_arch_name(enum mdl_arch a)
{
	return a == MDL_ARCH_QWEN2 ? "qwen2" : "llama";
}

/* Reads <arch>.<suffix> as an integer in [lo, hi]; def when absent and def >= 0. */
static status_t hp_int(const struct mdl_gguf *g, const char *arch,
		       const char *suffix, int64_t lo, int64_t hi, int64_t def,
		       int *out, struct err *e)
{
	char key[128];
	int64_t v;
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	status_t st = mdl_gguf_find(g, key) < 0 ? ST_NOTFOUND : mdl_gguf_get_int(g, key, &v, e);
	if (st == ST_NOTFOUND && def >= 0) {
		*out = (int)def;
		return ST_OK;
	}
	if (st == ST_NOTFOUND)
		return err_set(e, ST_CORRUPT, "model: required metadata key '%s' is missing", key);
	if (st)
		return st;
	if (v < lo || v > hi)
		return err_set(e, ST_CORRUPT, "model: metadata '%s' = %lld out of range %lld..%lld",
			       key, (long long)v, (long long)lo, (long long)hi);
	*out = (int)v;
	return ST_OK;
}

static status_t hp_float(const struct mdl_gguf *g, const char *arch,
			 const char *suffix, double def, int required,
			 float *out, struct err *e)
{
	char key[128];
	double v;
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	status_t st = mdl_gguf_find(g, key) < 0 ? ST_NOTFOUND : mdl_gguf_get_float(g, key, &v, e);
	if (st == ST_NOTFOUND && !required) {
		*out = (float)def;
		return ST_OK;
	}
	if (st == ST_NOTFOUND)
		return err_set(e, ST_CORRUPT, "model: required metadata key '%s' is missing", key);
	if (st)
		return st;
	if (!isfinite(v))
		return err_set(e, ST_CORRUPT, "model: metadata '%s' is not finite", key);
	*out = (float)v;
	return ST_OK;
}

static status_t read_hparams(struct mdl_model *m, struct err *e)
{
	const struct mdl_gguf *g = m->gguf;
	struct mdl_hparams *hp = &m->hp;
	const char *s;
	size_t n;
	status_t st = mdl_gguf_get_str(g, "general.architecture", &s, &n, e);
	if (st == ST_NOTFOUND)
		return err_set(e, ST_CORRUPT, "model: required metadata key 'general.architecture' is missing");
	if (st)
		return st;
	char arch[32];
	if (n == 5 && !memcmp(s, "llama", 5))
		hp->arch = MDL_ARCH_LLAMA;
	else if (n == 5 && !memcmp(s, "qwen2", 5))
		hp->arch = MDL_ARCH_QWEN2;
	else
		return err_set(e, ST_UNSUPPORTED, "model: architecture '%.*s' is not supported (llama, qwen2 are)",
			       (int)(n > 64 ? 64 : n), s);
	str_copy(arch, mdl_arch_name(hp->arch), sizeof arch);

	if ((st = hp_int(g, arch, "block_count", 1, 4096, -1, &hp->n_layer, e)) ||
	    (st = hp_int(g, arch, "embedding_length", 1, 1 << 16, -1, &hp->n_embd, e)) ||
	    (st = hp_int(g, arch, "feed_forward_length", 1, 1 << 20, -1, &hp->n_ff, e)) ||
	    (st = hp_int(g, arch, "attention.head_count", 1, 1024, -1, &hp->n_head, e)) ||
	    (st = hp_int(g, arch, "attention.head_count_kv", 1, 1024, hp->n_head, &hp->n_head_kv, e)) ||
	    (st = hp_int(g, arch, "context_length", 1, 1 << 24, 2048, &hp->n_ctx_train, e)) ||
	    (st = hp_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5, 1, &hp->norm_eps, e)) ||
	    (st = hp_float(g, arch, "rope.freq_base", 10000.0, 0, &hp->rope_freq_base, e)))
		return st;
	int n_expert;
	if ((st = hp_int(g, arch, "expert_count", 0, 1 << 16, 0, &n_expert, e)))
		return st;
	if (n_expert > 0)
		return err_set(e, ST_UNSUPPORTED, "model: mixture of experts (%s.expert_count = %d) is not supported",
			       arch, n_expert);
	if (hp->n_head % hp->n_head_kv)
		return err_set(e, ST_CORRUPT, "model: head_count %d is not a multiple of head_count_kv %d",
			       hp->n_head, hp->n_head_kv);
	int hd_def = hp->n_embd % hp->n_head ? -1 : hp->n_embd / hp->n_head;
	if ((st = hp_int(g, arch, "attention.key_length", 2, 4096, hd_def, &hp->head_dim, e)))
		return st;
	int vlen;
	if ((st = hp_int(g, arch, "attention.value_length", 2, 4096, hp->head_dim, &vlen, e)))
		return st;
	if (vlen != hp->head_dim)
		return err_set(e, ST_UNSUPPORTED, "model: key_length %d != value_length %d", hp->head_dim, vlen);
	if (hp->head_dim % 2)
		return err_set(e, ST_CORRUPT, "model: head dimension %d is odd", hp->head_dim);
	if ((st = hp_int(g, arch, "rope.dimension_count", 2, hp->head_dim, hp->head_dim, &hp->rope_dim, e)))
		return st;
	if (hp->rope_dim % 2)
		return err_set(e, ST_CORRUPT, "model: rope.dimension_count %d is odd", hp->rope_dim);
	if (!(hp->norm_eps > 0) || !(hp->rope_freq_base > 0))
		return err_set(e, ST_CORRUPT, "model: rms epsilon and rope.freq_base must be positive");

	/* Linear RoPE scaling: rope.scaling.factor, else the older scale_linear. */
	float factor = 0;
	char key[128];
	snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
	if (mdl_gguf_get_str(g, key, &s, &n, NULL) == ST_OK &&
	    !(n == 4 && !memcmp(s, "none", 4)) && !(n == 6 && !memcmp(s, "linear", 6)))
		return err_set(e, ST_UNSUPPORTED, "model: rope scaling '%.*s' is not supported (linear is)",
			       (int)(n > 32 ? 32 : n), s);
	if ((st = hp_float(g, arch, "rope.scaling.factor", 0, 0, &factor, e)))
		return st;
	if (factor == 0 && (st = hp_float(g, arch, "rope.scale_linear", 0, 0, &factor, e)))
		return st;
	if (factor < 0)
		return err_set(e, ST_CORRUPT, "model: negative rope scaling factor");
	hp->rope_freq_scale = factor == 0 ? 1.0f : 1.0f / factor;
	hp->rope_neox = hp->arch == MDL_ARCH_QWEN2;
	return ST_OK;
}

static status_t check_all_used(struct mdl_model *m, struct err *e);

/* Finds tensor name with the given 1- or 2-D shape (ne1 0: 1-D). */
static status_t want_tensor(struct mdl_model *m, const char *name, int64_t ne0,
			    int64_t ne1, int optional, const struct mdl_tensor **out,
			    struct err *e)
{
	const struct mdl_tensor *t = mdl_gguf_tensor_find(m->gguf, name);
	*out = NULL;
	if (!t) {
		if (optional)
			return ST_OK;
		return err_set(e, ST_CORRUPT, "model: required tensor '%s' is missing", name);
	}
	int dims = ne1 ? 2 : 1;
	int ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1;
	if (!ok || (int)t->n_dims > dims)
		return err_set(e, ST_CORRUPT,
			       "model: tensor '%s' has shape [%lld, %lld, %lld, %lld], want [%lld, %lld]",
			       name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
			       (long long)t->ne[3], (long long)ne0, (long long)(ne1 ? ne1 : 1));
	if (!mdl__type_supported(t->type))
		return err_set(e, ST_UNSUPPORTED, "model: tensor '%s' has type %s (id %u), which the engine does not compute with",
			       name, mdl_ggml_type_name(t->type), t->type);
	*out = t;
	return ST_OK;
}

static status_t find_tensors(struct mdl_model *m, struct err *e)
{
	const struct mdl_hparams *hp = &m->hp;
	int64_t D = hp->n_embd, F = hp->n_ff;
	int64_t Dq = (int64_t)hp->n_head * hp->head_dim, Dkv = (int64_t)hp->n_head_kv * hp->head_dim;
	status_t st;
	const struct mdl_tensor *t = mdl_gguf_tensor_find(m->gguf, "token_embd.weight");
	if (!t)
		return err_set(e, ST_CORRUPT, "model: required tensor 'token_embd.weight' is missing");
	if (t->ne[1] < 1 || t->ne[1] > (1 << 24))
		return err_set(e, ST_CORRUPT, "model: token_embd.weight has %lld rows", (long long)t->ne[1]);
	m->hp.n_vocab = (int)t->ne[1];
	int64_t V = m->hp.n_vocab;
	if ((st = want_tensor(m, "token_embd.weight", D, V, 0, &m->tok_embd, e)) ||
	    (st = want_tensor(m, "output_norm.weight", D, 0, 0, &m->output_norm, e)) ||
	    (st = want_tensor(m, "output.weight", D, V, 1, &m->output, e)) ||
	    (st = want_tensor(m, "rope_freqs.weight", hp->rope_dim / 2, 0, 1, &m->rope_freqs, e)))
		return st;
	if (!m->output)
		m->output = m->tok_embd;	/* tied embeddings */
	if (m->rope_freqs && m->rope_freqs->type != MDL_GGML_F32)
		return err_set(e, ST_UNSUPPORTED, "model: rope_freqs.weight must be f32");
	m->layers = mem_calloc((size_t)hp->n_layer, sizeof *m->layers);
	if (!m->layers)
		return err_set(e, ST_NOMEM, "model: out of memory");
	int bias = hp->arch == MDL_ARCH_QWEN2;
	for (int l = 0; l < hp->n_layer; l++) {
		struct mdl_layer *L = &m->layers[l];
		char nm[96];
#define T_(field, suffix, a, b, opt)                                            \
		snprintf(nm, sizeof nm, "blk.%d." suffix, l);                   \
		if ((st = want_tensor(m, nm, a, b, opt, &L->field, e)))         \
			return st;
		T_(attn_norm, "attn_norm.weight", D, 0, 0)
		T_(wq, "attn_q.weight", D, Dq, 0)
		T_(wk, "attn_k.weight", D, Dkv, 0)
		T_(wv, "attn_v.weight", D, Dkv, 0)
		T_(bq, "attn_q.bias", Dq, 0, !bias)
		T_(bk, "attn_k.bias", Dkv, 0, !bias)
		T_(bv, "attn_v.bias", Dkv, 0, !bias)
		T_(wo, "attn_output.weight", Dq, D, 0)
		T_(bo, "attn_output.bias", D, 0, 1)
		T_(ffn_norm, "ffn_norm.weight", D, 0, 0)
		T_(ffn_gate, "ffn_gate.weight", D, F, 0)
		T_(ffn_up, "ffn_up.weight", D, F, 0)
		T_(ffn_down, "ffn_down.weight", F, D, 0)
		T_(ffn_gate_b, "ffn_gate.bias", F, 0, 1)
		T_(ffn_up_b, "ffn_up.bias", F, 0, 1)
		T_(ffn_down_b, "ffn_down.bias", D, 0, 1)
#undef T_
	}
	return check_all_used(m, e);
}

/*
 * Refuses a file with tensors the forward pass would not use (experts, a
 * vision tower, biases of an unknown kind): computing without them would
 * give wrong numbers silently. Every tensor found above is marked used.
 */
static status_t check_all_used(struct mdl_model *m, struct err *e)
{
	size_t n = mdl_gguf_n_tensors(m->gguf);
	if (n == 0)
		return ST_OK;
	uint8_t *used = mem_calloc(n, 1);
	if (!used)
		return err_set(e, ST_NOMEM, "model: out of memory");
	const struct mdl_tensor *base = mdl_gguf_tensor(m->gguf, 0);
#define MARK_(t) do { if (t) used[(t) - base] = 1; } while (0)
	MARK_(m->tok_embd);
	MARK_(m->output_norm);
	MARK_(m->output);
	MARK_(m->rope_freqs);
	for (int l = 0; l < m->hp.n_layer; l++) {
		const struct mdl_layer *L = &m->layers[l];
		MARK_(L->attn_norm); MARK_(L->wq); MARK_(L->wk); MARK_(L->wv);
		MARK_(L->bq); MARK_(L->bk); MARK_(L->bv); MARK_(L->wo); MARK_(L->bo);
		MARK_(L->ffn_norm); MARK_(L->ffn_gate); MARK_(L->ffn_up); MARK_(L->ffn_down);
		MARK_(L->ffn_gate_b); MARK_(L->ffn_up_b); MARK_(L->ffn_down_b);
	}
#undef MARK_
	status_t st = ST_OK;
	for (size_t i = 0; i < n && !st; i++)
		if (!used[i])
			st = err_set(e, ST_UNSUPPORTED,
				     "model: tensor '%s' is not part of the %s architecture as the engine runs it",
				     mdl_gguf_tensor(m->gguf, i)->name, mdl_arch_name(m->hp.arch));
	mem_free(used);
	return st;
}

#define HUGE_PAGE ((size_t)2 << 20)

/*
 * A buffer of size bytes for a repacked matrix; *mem gets the allocation
 * to free. From 2 MB up it starts on a 2 MB boundary and is marked for
 * transparent huge pages before anything touches it: the copies are read
 * once per token from end to end, and on 4 KB pages (what anonymous memory
 * gets where THP is "madvise", the common default) q4_0 decode ran 5-17 %
 * slower (docs/internals/quant.md). Where THP is off the mark does nothing.
 */
static void *huge_buf(size_t size, void **mem)
{
	if (size < HUGE_PAGE) {
		*mem = mem_alloc(size);
		return *mem;
	}
	*mem = mem_alloc(size + HUGE_PAGE);
	if (!*mem)
		return NULL;
	uintptr_t p = ((uintptr_t)*mem + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	size_t len = size & ~(HUGE_PAGE - 1);
	(void)madvise((void *)p, len, MADV_HUGEPAGE);
	return (void *)p;
}

/*
 * Repacks the q4_0 weight matrices of the matrix products into q4_0x8
 * copies owned by m, and points the layers at them. The output matrix too
 * when it is the embedding table: then the embedding rows are read from
 * the copy too (mdl__embd_row), so the table's file pages stay released. With
 * release_pages (the file is mapped from disk, never borrowed memory) the
 * pages of each original are dropped from the process afterwards (they
 * can be read back from the file), so peak memory is the file plus the
 * largest matrix. An allocation failure leaves the rest as q4_0: the
 * products are right either way, so this cannot fail.
 */
static void repack_q4_0(struct mdl_model *m, int release_pages)
{
	const struct mdl_tensor **slots[8];
	int n_max = 7 * m->hp.n_layer + 1;
	m->repacked = mem_calloc((size_t)n_max, sizeof *m->repacked);
	m->repacked_mem = mem_calloc((size_t)n_max, sizeof *m->repacked_mem);
	if (!m->repacked || !m->repacked_mem)
		return;
	uint64_t t0 = time_mono_ns(), bytes = 0;
	long page = sysconf(_SC_PAGESIZE);
	/* a pool only when there is enough to repack for threads to pay */
	struct tpool *pool = NULL;
	for (int l = -1; l < m->hp.n_layer; l++) {
		int ns = 0;
		if (l < 0) {
			slots[ns++] = &m->output;
		} else {
			struct mdl_layer *L = &m->layers[l];
			slots[ns++] = &L->wq;
			slots[ns++] = &L->wk;
			slots[ns++] = &L->wv;
			slots[ns++] = &L->wo;
			slots[ns++] = &L->ffn_gate;
			slots[ns++] = &L->ffn_up;
			slots[ns++] = &L->ffn_down;
		}
		for (int i = 0; i < ns; i++) {
			const struct mdl_tensor *t = *slots[i];
			if (t->type != MDL_GGML_Q4_0 || t->ne[1] % 8 || t->ne[0] % 32)
				continue;
			if (!pool && t->size >= (1u << 20))
				pool = tpool_new(0);
			void *mem, *buf = huge_buf(t->size, &mem);
			if (!buf)
				continue;
			if (mdl__q4_0_repack(pool, t->data, buf, t->ne[1], t->ne[0]) != ST_OK) {
				mem_free(mem);
				continue;
			}
			/* tied: embedding lookups must come from the copy too,
			 * or their pages of the file come back (64 KB of
			 * fault-around each) while the copy is resident */
			int tied = l < 0 && t == m->tok_embd;
			m->repacked_mem[m->n_repacked] = mem;
			struct mdl_tensor *c = &m->repacked[m->n_repacked++];
			*c = *t;
			c->type = (uint32_t)mdl__q4_0x8_type();
			c->data = buf;
			*slots[i] = c;
			if (tied)
				m->embd_x8 = buf;
			bytes += t->size;
			if (release_pages && page > 0) {
				uintptr_t a = ((uintptr_t)t->data + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
				uintptr_t b = ((uintptr_t)t->data + t->size) & ~(uintptr_t)(page - 1);
				if (b > a)
					(void)madvise((void *)a, b - a, MADV_DONTNEED);
			}
		}
	}
	tpool_free(pool);
	if (m->n_repacked)
		LOG_INFO("model.repack", LF_INT("tensors", m->n_repacked), LF_INT("bytes", bytes),
			 LF_INT("ms", (time_mono_ns() - t0) / 1000000));
}

/* 1 when the environment variable name says 0, false or off. */
static int env_off(const char *name)
{
	const char *v = getenv(name);
	return v && (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "off"));
}

/* The environment's say for the calls without options. */
static struct mdl_load_params env_params(void)
{
	struct mdl_load_params p = {
		.no_repack = env_off("AIRLOCK_MODEL_REPACK"),
		.no_hugepages = env_off("AIRLOCK_MODEL_HUGEPAGES"),
	};
	return p;
}

static status_t model_from_gguf(struct mdl_gguf *g, const struct mdl_load_params *p,
				int release_pages, struct mdl_model **out, struct err *e)
{
	*out = NULL;
	struct mdl_model *m = mem_calloc(1, sizeof *m);
	if (!m) {
		mdl_gguf_free(g);
		return err_set(e, ST_NOMEM, "model: out of memory");
	}
	m->gguf = g;
	for (size_t i = 0; i < mdl_gguf_n_tensors(g); i++) {
		const struct mdl_tensor *x = mdl_gguf_tensor(g, i);
		m->n_params += x->ne[0] * x->ne[1] * x->ne[2] * x->ne[3];
	}
	status_t st = read_hparams(m, e);
	if (!st)
		st = find_tensors(m, e);
	if (!st && !(p && p->no_repack))
		repack_q4_0(m, release_pages);
	if (!st && release_pages && !(p && p->no_hugepages))
		mdl__pages_settle(m);
	if (st) {
		mdl_model_free(m);
		return st;
	}
	*out = m;
	return ST_OK;
}

status_t mdl_model_from_gguf_params(struct mdl_gguf *g, const struct mdl_load_params *p,
				    struct mdl_model **out, struct err *e)
{
	return model_from_gguf(g, p, 0, out, e);
}

status_t mdl_model_from_gguf(struct mdl_gguf *g, struct mdl_model **out,
			     struct err *e)
{
	struct mdl_load_params p = env_params();
	return model_from_gguf(g, &p, 0, out, e);
}

status_t mdl_model_load_params(const char *path, const struct mdl_load_params *p,
			       struct mdl_model **out, struct err *e)
{
	struct mdl_gguf *g;
	*out = NULL;
	status_t st = mdl_gguf_open(path, &g, e);
	if (st)
		return st;
	/* opened from a path: the tensors are the file's mapped pages */
	return model_from_gguf(g, p, 1, out, e);
}

status_t mdl_model_load(const char *path, struct mdl_model **out, struct err *e)
{
	struct mdl_load_params p = env_params();
	return mdl_model_load_params(path, &p, out, e);
}

void mdl_model_free(struct mdl_model *m)
{
	if (!m)
		return;
	mem_free(m->layers);
	for (int i = 0; i < m->n_repacked; i++)
		mem_free(m->repacked_mem[i]);
	mem_free(m->repacked_mem);
	mem_free(m->repacked);
	mdl_gguf_free(m->gguf);
	mem_free(m);
}

const struct mdl_gguf *mdl_model_gguf(const struct mdl_model *m) { return m->gguf; }
const struct mdl_hparams *mdl_model_hparams(const struct mdl_model *m) { return &m->hp; }
int mdl_model_n_vocab(const struct mdl_model *m) { return m->hp.n_vocab; }
int mdl_model_n_ctx_train(const struct mdl_model *m) { return m->hp.n_ctx_train; }
int64_t mdl_model_n_params(const struct mdl_model *m) { return m->n_params; }
int mdl_model_n_repacked(const struct mdl_model *m) { return m->n_repacked; }
