/*
 * forward.c - the forward pass of the llama and qwen2 architectures over a
 * batch of tokens of one or several sequences, with their KV cache.
 *
 * Per layer: RMSNorm -> Q, K, V projections (+ biases) -> RoPE
 * (interleaved pairs for llama, NeoX halves for qwen2) -> K, V stored in
 * the cache -> causal grouped-query attention -> output projection ->
 * residual; RMSNorm -> SwiGLU FFN -> residual. Then the final norm and the
 * output matrix (the token embedding when tied).
 *
 * Everything the pass touches is allocated in mdl_ctx_new_params: the
 * cache, the activations for a chunk of up to n_batch tokens, per-thread
 * attention rows and the matmul scratch.
 * Work is split over core's thread pool: matrix products by output rows,
 * attention by (token, head) pairs.
 *
 * Matrix products go through quant.h's mdl_matmul, which converts the
 * activations to each weight type's vec_dot type as ggml's CPU backend
 * does, so that logits compare tightly with llama.cpp.
 */
#include "model/model_int.h"
#include "model/quant.h"

#include <math.h>
#include <string.h>

/* Most query heads one attention item handles (they share a KV head). */
#define MDL_MAX_GROUP 16

/* ------------------------------------------------------------------ */
/* The context                                                         */
/* ------------------------------------------------------------------ */

/* Small per-layer vectors converted to f32 once. */
struct layer_vecs {
	float *attn_norm, *ffn_norm;	/* (n_embd) */
	float *bq, *bk, *bv;		/* (q_dim), (kv_dim), (kv_dim) or NULL */
	float *bo, *bd;			/* (n_embd) or NULL */
	float *bg, *bu;			/* (n_ff) or NULL */
};

struct mdl_ctx {
	struct mdl_model *m;
	struct tpool *pool;
	int n_ctx;		/* positions per sequence in the cache */
	int n_seq;		/* sequences (KV slots) */
	int *seq_len;		/* (n_seq) valid positions of each sequence */
	int *seq_next;		/* (n_seq) scratch of mdl_eval_batch's checks */
	const int32_t *b_seq, *b_pos;	/* the chunk being evaluated: (n) each */
	int n_batch;		/* tokens per internal batch */
	int n_threads;
	int q_dim, kv_dim;	/* n_head * head_dim, n_head_kv * head_dim */

	int kv_type;		/* cache elements: MDL_TYPE_F32, F16 (uint16_t) or
				 * Q8_0 (rows of q8_0 blocks) */
	int flash;		/* one-pass (online softmax) attention */
	void *k_cache;		/* (n_layer, n_seq, n_ctx, kv_dim) elements of
				 * kv_type; in bytes see kv_bytes */
	void *v_cache;		/* (n_layer, n_seq, n_ctx, kv_dim) likewise */
	int32_t *one_seq, *one_pos;	/* (n_batch) seq 0 and positions for mdl_eval */
	int8_t *one_out;		/* (n_batch) logits flags for mdl_eval */
	float *kv_tmp;		/* (n_threads, (group + 2) * head_dim) queries, rows converted */

	float *x;		/* (n_batch, n_embd) residual stream */
	float *xb;		/* (n_batch, max(n_embd, q_dim)) normed input / attention out */
	float *q;		/* (n_batch, q_dim) */
	float *k, *v;		/* (n_batch, kv_dim) */
	float *hb, *hb2;	/* (n_batch, n_ff) */
	float *ob;		/* (n_batch, n_embd) projection outputs */
	void *mm_scratch;	/* mm_scratch_size bytes for mdl_matmul */
	float *att;		/* (n_threads, group, n_ctx) attention scores */
	int att_sub;		/* query-head subgroups per KV head in attention items */
	float *rope_inv;	/* (rope_dim / 2) inverse frequencies incl. factors */
	float *rope_cs;		/* (n_batch, rope_dim) cos, sin of each token's angles */
	float *out_norm;	/* (n_embd) */
	struct layer_vecs *lv;	/* (n_layer) */
	float *vec_mem;		/* backing store of lv */
};

/*
 * Bytes of n cache elements, or the byte offset of element n: what
 * mdl_row_size gives for the cache's type, without its checks and
 * divisions (attention calls this per cached row). For a q8_0 cache n is
 * a multiple of 32, as offsets are multiples of head_dim, which
 * mdl_ctx_new_params checks.
 */
static size_t kv_bytes(const struct mdl_ctx *c, size_t n)
{
	switch (c->kv_type) {
	case MDL_TYPE_Q8_0: return n / MDL_QK * sizeof(struct mdl_block_q8_0);
	case MDL_TYPE_F16: return n * 2;
	default: return n * 4;
	}
}

static float *alloc_f(size_t n, status_t *st)
{
	if (*st)
		return NULL;
	float *p = mem_alloc_array(n ? n : 1, sizeof(float));
	if (!p)
		*st = ST_NOMEM;
	return p;
}

static size_t scratch_max(size_t cur, const struct mdl_tensor *w, size_t n_tok)
{
	size_t need = mdl_matmul_scratch_size((int)w->type, w->ne[0], (int64_t)n_tok);
	return need > cur ? need : cur;
}

static status_t vec_load(const struct mdl_tensor *t, float **dst, float **mem)
{
	if (!t) {
		*dst = NULL;
		return ST_OK;
	}
	*dst = *mem;
	*mem += t->ne[0];
	return mdl__row_to_f32(t->type, t->data, *dst, t->ne[0]);
}

static struct mdl_mm_op mm_op(const struct mdl_tensor *w, float *y)
{
	return (struct mdl_mm_op){ .wtype = (int)w->type, .W = w->data, .rows = w->ne[1], .Y = y };
}

/* The Q, K, V projections of a layer as ops of one mdl_matmul_multi
 * (outputs c->q, c->k, c->v); returns their number. */
static int qkv_ops(const struct mdl_ctx *c, const struct mdl_layer *Ly, struct mdl_mm_op ops[3])
{
	ops[0] = mm_op(Ly->wq, c->q);
	ops[1] = mm_op(Ly->wk, c->k);
	ops[2] = mm_op(Ly->wv, c->v);
	return 3;
}

/* The FFN's gate and up products (outputs c->hb, c->hb2). */
static int ffn_ops(const struct mdl_ctx *c, const struct mdl_layer *Ly, struct mdl_mm_op ops[2])
{
	ops[0] = mm_op(Ly->ffn_gate, c->hb);
	ops[1] = mm_op(Ly->ffn_up, c->hb2);
	return 2;
}

status_t mdl_ctx_new(struct mdl_model *m, int n_ctx, int n_threads,
		     struct mdl_ctx **out, struct err *e)
{
	struct mdl_ctx_params p = { .n_ctx = n_ctx, .n_threads = n_threads, .n_seq = 1 };
	return mdl_ctx_new_params(m, &p, out, e);
}

status_t mdl_ctx_params_set_kv(struct mdl_ctx_params *p, const char *name)
{
	if (!name || (strcmp(name, "f16") && strcmp(name, "f32") && strcmp(name, "q8_0")))
		return ST_INVAL;
	p->kv_f16 = !strcmp(name, "f16");
	p->kv_q8 = !strcmp(name, "q8_0");
	return ST_OK;
}

status_t mdl_ctx_new_params(struct mdl_model *m, const struct mdl_ctx_params *prm,
			    struct mdl_ctx **out, struct err *e)
{
	*out = NULL;
	const struct mdl_hparams *hp = &m->hp;
	int n_ctx = prm->n_ctx;
	if (n_ctx <= 0 || n_ctx > (1 << 20))
		return err_set(e, ST_INVAL, "model: context size %d out of range 1..%d", n_ctx, 1 << 20);
	if (prm->n_batch < 0 || prm->n_batch > 4096)
		return err_set(e, ST_INVAL, "model: batch size %d out of range 1..4096", prm->n_batch);
	if (prm->n_seq < 0 || prm->n_seq > 4096)
		return err_set(e, ST_INVAL, "model: %d sequences out of range 1..4096", prm->n_seq);
	struct mdl_ctx *c = mem_calloc(1, sizeof *c);
	if (!c)
		return err_set(e, ST_NOMEM, "model: out of memory");
	c->m = m;
	c->n_ctx = n_ctx;
	c->n_batch = prm->n_batch ? prm->n_batch : 256;
	if (c->n_batch > n_ctx)
		c->n_batch = n_ctx;
	c->kv_type = prm->kv_q8 ? MDL_TYPE_Q8_0 : prm->kv_f16 ? MDL_TYPE_F16 : MDL_TYPE_F32;
	if (c->kv_type == MDL_TYPE_Q8_0 && hp->head_dim % MDL_QK) {
		mem_free(c);
		return err_set(e, ST_INVAL, "model: a q8_0 KV cache needs a head size that is a "
			       "multiple of %d (this model's is %d)", MDL_QK, hp->head_dim);
	}
	c->flash = prm->flash != 0;
	c->n_seq = prm->n_seq ? prm->n_seq : 1;
	c->q_dim = hp->n_head * hp->head_dim;
	c->kv_dim = hp->n_head_kv * hp->head_dim;
	c->pool = tpool_new(prm->n_threads);
	if (!c->pool) {
		mem_free(c);
		return err_set(e, ST_NOMEM, "model: cannot start threads");
	}
	c->n_threads = tpool_size(c->pool);
	status_t st = ST_OK;
	size_t B = (size_t)c->n_batch, L = (size_t)hp->n_layer;
	size_t cache = L * (size_t)c->n_seq * (size_t)n_ctx * (size_t)c->kv_dim;
	if (!(c->seq_len = mem_calloc((size_t)c->n_seq, sizeof(int))) ||
	    !(c->seq_next = mem_calloc((size_t)c->n_seq, sizeof(int))) ||
	    !(c->one_seq = mem_calloc(B, sizeof(int32_t))) ||
	    !(c->one_pos = mem_calloc(B, sizeof(int32_t))) ||
	    !(c->one_out = mem_calloc(B, 1)))
		st = ST_NOMEM;
	/* in floats, rounded up */
	c->k_cache = alloc_f((kv_bytes(c, cache) + 3) / 4, &st);
	c->v_cache = alloc_f((kv_bytes(c, cache) + 3) / 4, &st);
	int group = hp->n_head / hp->n_head_kv;
	c->kv_tmp = alloc_f((size_t)c->n_threads * (size_t)(group + 2) * hp->head_dim, &st);
	/* Attention items are runs of at most MDL_MAX_GROUP query heads of one
	 * KV head; a group is cut in parts when a decode step would otherwise
	 * have fewer items than threads. */
	c->att_sub = (group + MDL_MAX_GROUP - 1) / MDL_MAX_GROUP;
	while (c->att_sub < group && hp->n_head_kv * c->att_sub < c->n_threads)
		c->att_sub++;
	c->x = alloc_f(B * hp->n_embd, &st);
	c->xb = alloc_f(B * (size_t)(c->q_dim > hp->n_embd ? c->q_dim : hp->n_embd), &st);
	c->q = alloc_f(B * c->q_dim, &st);
	c->k = alloc_f(B * c->kv_dim, &st);
	c->v = alloc_f(B * c->kv_dim, &st);
	c->hb = alloc_f(B * hp->n_ff, &st);
	c->hb2 = alloc_f(B * hp->n_ff, &st);
	c->ob = alloc_f(B * hp->n_embd, &st);
	c->att = alloc_f((size_t)c->n_threads * (size_t)(hp->n_head / hp->n_head_kv) * n_ctx, &st);
	c->rope_inv = alloc_f((size_t)hp->rope_dim / 2, &st);
	c->rope_cs = alloc_f(B * hp->rope_dim, &st);
	c->out_norm = alloc_f((size_t)hp->n_embd, &st);
	size_t per_layer = 4 * (size_t)hp->n_embd + 2 * (size_t)hp->n_ff + (size_t)c->q_dim +
			   2 * (size_t)c->kv_dim;
	c->vec_mem = alloc_f(L * per_layer, &st);
	if (!st && !(c->lv = mem_calloc(L, sizeof *c->lv)))
		st = ST_NOMEM;
	size_t scratch = 0;
	const struct mdl_tensor *mats[] = { m->output };
	for (size_t i = 0; i < 1; i++)
		scratch = scratch_max(scratch, mats[i], B);
	for (int l = 0; l < hp->n_layer; l++) {
		const struct mdl_layer *Ly = &m->layers[l];
		const struct mdl_tensor *lm[] = { Ly->wo, Ly->ffn_down };
		for (size_t i = 0; i < sizeof lm / sizeof lm[0]; i++)
			scratch = scratch_max(scratch, lm[i], B);
		/* Q, K, V and gate, up run as one product each (same input). */
		struct mdl_mm_op qkv[3], gu[2];
		size_t need = mdl_matmul_multi_scratch_size(qkv, qkv_ops(c, Ly, qkv), hp->n_embd, (int64_t)B);
		scratch = need > scratch ? need : scratch;
		need = mdl_matmul_multi_scratch_size(gu, ffn_ops(c, Ly, gu), hp->n_embd, (int64_t)B);
		scratch = need > scratch ? need : scratch;
	}
	if (!st && scratch && !(c->mm_scratch = mem_alloc(scratch)))
		st = ST_NOMEM;
	if (st) {
		mdl_ctx_free(c);
		return err_set(e, ST_NOMEM, "model: out of memory for a context of %d positions", n_ctx);
	}
	float *mem = c->vec_mem;
	for (int l = 0; l < hp->n_layer && !st; l++) {
		const struct mdl_layer *Ly = &m->layers[l];
		struct layer_vecs *v = &c->lv[l];
		if ((st = vec_load(Ly->attn_norm, &v->attn_norm, &mem)) ||
		    (st = vec_load(Ly->ffn_norm, &v->ffn_norm, &mem)) ||
		    (st = vec_load(Ly->bq, &v->bq, &mem)) ||
		    (st = vec_load(Ly->bk, &v->bk, &mem)) ||
		    (st = vec_load(Ly->bv, &v->bv, &mem)) ||
		    (st = vec_load(Ly->bo, &v->bo, &mem)) ||
		    (st = vec_load(Ly->ffn_down_b, &v->bd, &mem)) ||
		    (st = vec_load(Ly->ffn_gate_b, &v->bg, &mem)) ||
		    (st = vec_load(Ly->ffn_up_b, &v->bu, &mem)))
			break;
	}
	if (!st)
		st = mdl__row_to_f32(m->output_norm->type, m->output_norm->data, c->out_norm, hp->n_embd);
	if (st) {
		mdl_ctx_free(c);
		return err_set(e, st, "model: cannot convert norm weights");
	}
	/* theta_i = pos * freq_scale * base^(-2i/rope_dim) / factor_i */
	for (int i = 0; i < hp->rope_dim / 2; i++) {
		double inv = pow(hp->rope_freq_base, -2.0 * i / hp->rope_dim) * hp->rope_freq_scale;
		if (m->rope_freqs) {
			float f;
			memcpy(&f, (const uint8_t *)m->rope_freqs->data + 4 * i, 4);
			inv /= f;
		}
		c->rope_inv[i] = (float)inv;
	}
	*out = c;
	return ST_OK;
}

void mdl_ctx_free(struct mdl_ctx *c)
{
	if (!c)
		return;
	tpool_free(c->pool);
	mem_free(c->k_cache);
	mem_free(c->v_cache);
	mem_free(c->seq_len);
	mem_free(c->seq_next);
	mem_free(c->one_seq);
	mem_free(c->one_pos);
	mem_free(c->one_out);
	float **bufs[] = { &c->kv_tmp, &c->x, &c->xb, &c->q, &c->k, &c->v,
			   &c->hb, &c->hb2, &c->ob, &c->att,
			   &c->rope_inv, &c->rope_cs, &c->out_norm, &c->vec_mem };
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		mem_free(*bufs[i]);
	mem_free(c->mm_scratch);
	mem_free(c->lv);
	mem_free(c);
}

int mdl_ctx_n_ctx(const struct mdl_ctx *c) { return c->n_ctx; }
int mdl_ctx_n_seq(const struct mdl_ctx *c) { return c->n_seq; }

/* Offset of (layer, seq, pos) in the caches, in elements (a multiple of
 * head_dim, so of q8_0's block for a q8_0 cache: see kv_bytes). */
static size_t kv_at(const struct mdl_ctx *c, int layer, int seq, int pos)
{
	return (((size_t)layer * c->n_seq + (size_t)seq) * c->n_ctx + (size_t)pos) * c->kv_dim;
}

int mdl_ctx_seq_len(const struct mdl_ctx *c, int seq)
{
	return seq >= 0 && seq < c->n_seq ? c->seq_len[seq] : 0;
}

status_t mdl_ctx_seq_keep(struct mdl_ctx *c, int seq, int n, struct err *e)
{
	if (seq < 0 || seq >= c->n_seq || n < 0)
		return err_set(e, ST_INVAL, "model: sequence %d / length %d out of range", seq, n);
	if (n < c->seq_len[seq])
		c->seq_len[seq] = n;
	return ST_OK;
}

status_t mdl_ctx_seq_copy(struct mdl_ctx *c, int src, int dst, int n, struct err *e)
{
	if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq || n < 0 ||
	    n > c->seq_len[src])
		return err_set(e, ST_INVAL, "model: cannot copy %d positions of sequence %d to %d",
			       n, src, dst);
	if (src != dst && n > 0) {
		size_t bytes = kv_bytes(c, (size_t)n * c->kv_dim);
		for (int l = 0; l < c->m->hp.n_layer; l++) {
			memcpy((char *)c->k_cache + kv_bytes(c, kv_at(c, l, dst, 0)),
			       (char *)c->k_cache + kv_bytes(c, kv_at(c, l, src, 0)), bytes);
			memcpy((char *)c->v_cache + kv_bytes(c, kv_at(c, l, dst, 0)),
			       (char *)c->v_cache + kv_bytes(c, kv_at(c, l, src, 0)), bytes);
		}
	}
	c->seq_len[dst] = n;
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Kernels                                                             */
/* ------------------------------------------------------------------ */

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
	double ss = 0;
	for (int i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float scale = (float)(1.0 / sqrt(ss / n + eps));
	for (int i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

/*
 * y[t][0..n_out) = W x[t] for t < n_tok, x and y packed (row strides the
 * input and output widths of W).
 */
static status_t matmul(struct mdl_ctx *c, const struct mdl_tensor *w, const float *x,
		       float *y, int n_tok)
{
	mdl_matmul(c->pool, (int)w->type, w->data, w->ne[1], w->ne[0], x, n_tok, y,
		   c->mm_scratch);
	return ST_OK;
}

/* cos and sin of the angles of position pos, interleaved, into cs. */
static void rope_angles(const struct mdl_ctx *c, float *cs, int pos)
{
	int half = c->m->hp.rope_dim / 2;
	for (int i = 0; i < half; i++) {
		float theta = (float)pos * c->rope_inv[i];
		cs[2 * i] = cosf(theta);
		cs[2 * i + 1] = sinf(theta);
	}
}

/* Rotates the pairs of one head vector in place by the angles in cs. */
static void rope(const struct mdl_ctx *c, float *v, const float *cs)
{
	const struct mdl_hparams *hp = &c->m->hp;
	int half = hp->rope_dim / 2;
	for (int i = 0; i < half; i++) {
		float cv = cs[2 * i], sv = cs[2 * i + 1];
		int a = hp->rope_neox ? i : 2 * i;
		int b = hp->rope_neox ? i + half : 2 * i + 1;
		float x0 = v[a], x1 = v[b];
		v[a] = x0 * cv - x1 * sv;
		v[b] = x0 * sv + x1 * cv;
	}
}

struct attn_job {
	struct mdl_ctx *c;
	int layer;
};

/*
 * Row p of head kvh of a layer's V cache as floats: in place for an
 * f32 cache, converted into tmp (head_dim floats) for an f16 or q8_0 one.
 */
static const float *v_row(const struct mdl_ctx *c, size_t lbase, int p, int kvh, float *tmp)
{
	int hd = c->m->hp.head_dim;
	size_t off = lbase + (size_t)p * c->kv_dim + (size_t)kvh * hd;
	if (c->kv_type == MDL_TYPE_F32)
		return (const float *)c->v_cache + off;
	mdl_dequant_row(c->kv_type, (const char *)c->v_cache + kv_bytes(c, off), tmp, hd);
	return tmp;
}

/*
 * Query q (head_dim floats) as the dot with a cached K row wants it, in
 * qt (a row of scratch): itself for an f32 cache, rounded to f16 for an
 * f16 one, quantised to q8_0 blocks for a q8_0 one (as ggml converts the
 * query to the K type's vec_dot type).
 */
static const void *q_for_k(const struct mdl_ctx *c, const float *q, void *qt)
{
	int hd = c->m->hp.head_dim;
	if (c->kv_type == MDL_TYPE_F16)
		mdl_fp32_to_fp16_row(q, qt, hd);
	else if (c->kv_type == MDL_TYPE_Q8_0)
		mdl_quant_act_row(MDL_TYPE_Q8_0, q, qt, hd);
	else
		return q;
	return qt;
}


/* o += a * v over n floats; written in blocks of 8 that the compiler
 * turns into vector instructions at -O2. */
static void axpy(float *restrict o, float a, const float *restrict v, int n)
{
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			o[i + k] += a * v[i + k];
	for (; i < n; i++)
		o[i] += a * v[i];
}

/*
 * One-pass attention of one query head (online softmax, as ggml's CPU
 * flash attention): a running maximum M and sum S, and an accumulator
 * rescaled whenever M grows. With an f16 cache the accumulator is f16 and
 * every update is rounded to it, which is what llama.cpp computes with
 * flash attention on; with an f32 or q8_0 cache it is f32, and q8_0 V rows
 * are converted to floats first, as there. acc is head_dim floats of
 * scratch, vt head_dim more.
 */
static void attn_online(const struct mdl_ctx *c, const void *qx, const char *krow,
			size_t lbase, int kvh, int n_pos, float scale, float *acc, float *vt,
			float *o)
{
	int hd = c->m->hp.head_dim;
	size_t kstride = kv_bytes(c, (size_t)c->kv_dim);
	uint16_t *acc16 = (uint16_t *)(void *)acc;
	if (c->kv_type == MDL_TYPE_F16)
		memset(acc16, 0, (size_t)hd * sizeof *acc16);
	else
		memset(acc, 0, (size_t)hd * sizeof *acc);
	float S = 0, M = -INFINITY;
	for (int p = 0; p < n_pos; p++) {
		float sv = mdl_vec_dot(c->kv_type, hd, krow + (size_t)p * kstride, qx) * scale;
		float ms = 1.0f, vs = 1.0f;
		if (sv > M) {
			float old = M;
			M = sv;
			ms = expf(old - M);
			if (c->kv_type == MDL_TYPE_F16)
				for (int i = 0; i < hd; i++)
					acc16[i] = mdl_fp32_to_fp16(mdl_fp16_to_fp32(acc16[i]) * ms);
			else
				for (int i = 0; i < hd; i++)
					acc[i] *= ms;
		} else {
			vs = expf(sv - M);
		}
		if (c->kv_type == MDL_TYPE_F16) {
			const uint16_t *v = (const uint16_t *)c->v_cache + lbase +
					    (size_t)p * c->kv_dim + (size_t)kvh * hd;
			for (int i = 0; i < hd; i++)
				acc16[i] = mdl_fp32_to_fp16(mdl_fp16_to_fp32(acc16[i]) +
							    mdl_fp16_to_fp32(v[i]) * vs);
		} else {
			axpy(acc, vs, v_row(c, lbase, p, kvh, vt), hd);
		}
		S = S * ms + vs;
	}
	float inv = 1.0f / S;
	for (int i = 0; i < hd; i++)
		o[i] = (c->kv_type == MDL_TYPE_F16 ? mdl_fp16_to_fp32(acc16[i]) : acc[i]) * inv;
}

/*
 * Attention of query heads [h0, h1) of token t, which share KV head kvh,
 * in two passes (scores, softmax, weighted sum of V). Each cached K and V
 * row is read once for all the heads of the group; each head's arithmetic
 * is the same sequence as alone. sc is (h1 - h0, n_ctx) floats, qt and vt
 * head_dim floats each of scratch.
 */
static void attn_group(const struct mdl_ctx *c, int layer, int t, int h0, int h1,
		       float *sc, float *qt, float *vt)
{
	const struct mdl_hparams *hp = &c->m->hp;
	int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, kvh = h0 / group;
	int n_pos = c->b_pos[t] + 1, nh = h1 - h0;
	size_t lbase = kv_at(c, layer, c->b_seq[t], 0);
	float scale = 1.0f / sqrtf((float)hd);
	size_t kstride = kv_bytes(c, (size_t)c->kv_dim);
	const char *krow = (const char *)c->k_cache + kv_bytes(c, lbase + (size_t)kvh * hd);
	/* Queries as the K dot wants them (q_for_k), packed in qt: an f16 or
	 * q8_0 row of a head is no larger than its floats. */
	const void *qx[MDL_MAX_GROUP];
	uint16_t *qh = (uint16_t *)(void *)qt;
	for (int i = 0; i < nh; i++)
		qx[i] = q_for_k(c, c->q + (size_t)t * c->q_dim + (size_t)(h0 + i) * hd,
				(char *)qt + (size_t)i * kv_bytes(c, (size_t)hd));
	if (c->kv_type == MDL_TYPE_F16) {
		/* one kernel call for the group's heads: each row read once */
		mdl_f16_dots_n(n_pos, hd, (const uint16_t *)(const void *)krow, (size_t)c->kv_dim,
			       nh, qh, (size_t)hd, scale, sc, (size_t)c->n_ctx);
	} else if (c->kv_type == MDL_TYPE_Q8_0) {
		mdl_q8_0_dots_n(n_pos, hd, krow, kstride, nh, qt, kv_bytes(c, (size_t)hd), scale,
				sc, (size_t)c->n_ctx);
	} else {
		for (int p = 0; p < n_pos; p++) {
			const char *kp = krow + (size_t)p * kstride;
			for (int i = 0; i < nh; i++)
				sc[(size_t)i * c->n_ctx + p] = mdl_vec_dot(c->kv_type, hd, kp, qx[i]) * scale;
		}
	}
	for (int i = 0; i < nh; i++) {
		float *s = sc + (size_t)i * c->n_ctx;
		mdl_softmax(n_pos, s);
		if (c->kv_type == MDL_TYPE_F16) {
			/* the weights rounded to f16, in place, by rows */
			uint16_t *h16 = (uint16_t *)(void *)vt;
			for (int p0 = 0; p0 < n_pos; p0 += hd) {
				int m = n_pos - p0 < hd ? n_pos - p0 : hd;
				mdl_fp32_to_fp16_row(s + p0, h16, m);
				mdl_fp16_to_fp32_row(h16, s + p0, m);
			}
		}
		memset(c->xb + (size_t)t * c->q_dim + (size_t)(h0 + i) * hd, 0, (size_t)hd * sizeof(float));
	}
	if (c->kv_type == MDL_TYPE_F16) {
		const uint16_t *vrow = (const uint16_t *)c->v_cache + lbase + (size_t)kvh * hd;
		mdl_f16_wsum_n(n_pos, hd, vrow, (size_t)c->kv_dim, nh, sc, (size_t)c->n_ctx,
			       c->xb + (size_t)t * c->q_dim + (size_t)h0 * hd, (size_t)hd);
		return;
	}
	if (c->kv_type == MDL_TYPE_Q8_0) {
		mdl_q8_0_wsum_n(n_pos, hd, (const char *)c->v_cache +
				kv_bytes(c, lbase + (size_t)kvh * hd), kstride, nh, sc,
				(size_t)c->n_ctx, c->xb + (size_t)t * c->q_dim + (size_t)h0 * hd,
				(size_t)hd);
		return;
	}
	for (int p = 0; p < n_pos; p++) {
		const float *v = v_row(c, lbase, p, kvh, vt);
		for (int i = 0; i < nh; i++)
			axpy(c->xb + (size_t)t * c->q_dim + (size_t)(h0 + i) * hd,
			     sc[(size_t)i * c->n_ctx + p], v, hd);
	}
}

/* Items are (token, KV head, part) triples, item = (t * n_head_kv + kvh) *
 * att_sub + part; a part is a run of the group's query heads. */
static void attn_items(void *arg, size_t begin, size_t end, int worker)
{
	struct attn_job *j = arg;
	struct mdl_ctx *c = j->c;
	const struct mdl_hparams *hp = &c->m->hp;
	int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
	int per = (group + c->att_sub - 1) / c->att_sub;
	float *sc = c->att + (size_t)worker * group * c->n_ctx;
	float *qt = c->kv_tmp + (size_t)worker * (size_t)(group + 2) * hd;
	float *vt = qt + (size_t)group * hd;
	float scale = 1.0f / sqrtf((float)hd);
	for (size_t it = begin; it < end; it++) {
		int part = (int)(it % (size_t)c->att_sub);
		size_t tk = it / (size_t)c->att_sub;
		int t = (int)(tk / (size_t)hp->n_head_kv), kvh = (int)(tk % (size_t)hp->n_head_kv);
		int h0 = kvh * group + part * per, h1 = h0 + per;
		if (h1 > (kvh + 1) * group)
			h1 = (kvh + 1) * group;
		if (h0 >= h1)
			continue;
		if (!c->flash) {
			attn_group(c, j->layer, t, h0, h1, sc, qt, vt);
			continue;
		}
		size_t lbase = kv_at(c, j->layer, c->b_seq[t], 0);
		const char *krow = (const char *)c->k_cache + kv_bytes(c, lbase + (size_t)kvh * hd);
		for (int h = h0; h < h1; h++) {
			const void *qx = q_for_k(c, c->q + (size_t)t * c->q_dim + (size_t)h * hd, qt);
			float *o = c->xb + (size_t)t * c->q_dim + (size_t)h * hd;
			attn_online(c, qx, krow, lbase, kvh, c->b_pos[t] + 1, scale, vt, vt + hd, o);
		}
	}
}

/* Adds bias b (n floats; NULL: none) to each of rows rows of y. */
static void add_bias(float *y, const float *b, int rows, int n)
{
	if (!b)
		return;
	for (int r = 0; r < rows; r++)
		for (int i = 0; i < n; i++)
			y[(size_t)r * n + i] += b[i];
}

/*
 * One chunk of n <= n_batch tokens: token t of sequence seq[t] at position
 * pos[t] (checked by the caller). Writes n_vocab logits for each token
 * with out[t] set, in order, to logits (which may be NULL).
 */
static status_t eval_batch(struct mdl_ctx *c, const int32_t *tokens, const int32_t *seq,
			   const int32_t *pos, const int8_t *out, int n, float *logits)
{
	const struct mdl_model *m = c->m;
	const struct mdl_hparams *hp = &m->hp;
	int D = hp->n_embd, F = hp->n_ff, hd = hp->head_dim;
	status_t st;
	for (int t = 0; t < n; t++)
		if ((st = mdl__embd_row(m, tokens[t], c->x + (size_t)t * D)))
			return st;

	for (int t = 0; t < n; t++)
		rope_angles(c, c->rope_cs + (size_t)t * hp->rope_dim, pos[t]);

	for (int l = 0; l < hp->n_layer; l++) {
		const struct mdl_layer *Ly = &m->layers[l];
		const struct layer_vecs *lv = &c->lv[l];
		for (int t = 0; t < n; t++)
			rmsnorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, lv->attn_norm, D, hp->norm_eps);
		struct mdl_mm_op ops[3];
		mdl_matmul_multi(c->pool, ops, qkv_ops(c, Ly, ops), D, c->xb, n, c->mm_scratch);
		for (int t = 0; t < n; t++) {
			float *q = c->q + (size_t)t * c->q_dim;
			float *k = c->k + (size_t)t * c->kv_dim;
			float *v = c->v + (size_t)t * c->kv_dim;
			if (lv->bq)
				for (int i = 0; i < c->q_dim; i++)
					q[i] += lv->bq[i];
			if (lv->bk)
				for (int i = 0; i < c->kv_dim; i++)
					k[i] += lv->bk[i];
			if (lv->bv)
				for (int i = 0; i < c->kv_dim; i++)
					v[i] += lv->bv[i];
			const float *cs = c->rope_cs + (size_t)t * hp->rope_dim;
			for (int h = 0; h < hp->n_head; h++)
				rope(c, q + (size_t)h * hd, cs);
			for (int h = 0; h < hp->n_head_kv; h++)
				rope(c, k + (size_t)h * hd, cs);
			size_t at = kv_at(c, l, seq[t], pos[t]);
			if (c->kv_type == MDL_TYPE_Q8_0) {
				/* as ggml copies rows into a q8_0 cache: its
				 * activation quantiser */
				mdl_quant_act_row(MDL_TYPE_Q8_0, k, (char *)c->k_cache + kv_bytes(c, at),
						  c->kv_dim);
				mdl_quant_act_row(MDL_TYPE_Q8_0, v, (char *)c->v_cache + kv_bytes(c, at),
						  c->kv_dim);
			} else if (c->kv_type == MDL_TYPE_F16) {
				mdl_fp32_to_fp16_row(k, (uint16_t *)c->k_cache + at, c->kv_dim);
				mdl_fp32_to_fp16_row(v, (uint16_t *)c->v_cache + at, c->kv_dim);
			} else {
				memcpy((float *)c->k_cache + at, k, (size_t)c->kv_dim * 4);
				memcpy((float *)c->v_cache + at, v, (size_t)c->kv_dim * 4);
			}
		}
		c->b_seq = seq;
		c->b_pos = pos;
		struct attn_job aj = { .c = c, .layer = l };
		tpool_parallel_for(c->pool, (size_t)n * hp->n_head_kv * c->att_sub, 1, attn_items, &aj);
		if ((st = matmul(c, Ly->wo, c->xb, c->ob, n)))
			return st;
		add_bias(c->ob, lv->bo, n, D);
		for (size_t i = 0; i < (size_t)n * D; i++)
			c->x[i] += c->ob[i];

		for (int t = 0; t < n; t++)
			rmsnorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, lv->ffn_norm, D, hp->norm_eps);
		mdl_matmul_multi(c->pool, ops, ffn_ops(c, Ly, ops), D, c->xb, n, c->mm_scratch);
		add_bias(c->hb, lv->bg, n, F);
		add_bias(c->hb2, lv->bu, n, F);
		mdl_silu_mul((int64_t)n * F, c->hb, c->hb2);
		if ((st = matmul(c, Ly->ffn_down, c->hb, c->ob, n)))
			return st;
		add_bias(c->ob, lv->bd, n, D);
		for (size_t i = 0; i < (size_t)n * D; i++)
			c->x[i] += c->ob[i];
	}

	/* Final norm of the rows that want logits, gathered in order. */
	int n_out = 0;
	for (int t = 0; t < n; t++)
		if (out && out[t])
			rmsnorm(c->xb + (size_t)n_out++ * D, c->x + (size_t)t * D, c->out_norm, D,
				hp->norm_eps);
	if (!logits || !n_out)
		return ST_OK;
	return matmul(c, m->output, c->xb, logits, n_out);
}

status_t mdl_eval_batch(struct mdl_ctx *c, const struct mdl_batch *b, float *logits,
			struct err *e)
{
	const struct mdl_hparams *hp = &c->m->hp;
	if (b->n <= 0)
		return err_set(e, ST_INVAL, "model: empty batch");
	/* Check everything first: a refused batch changes nothing. Each
	 * sequence's tokens must continue it at consecutive positions. */
	for (int s = 0; s < c->n_seq; s++)
		c->seq_next[s] = -1;
	for (int i = 0; i < b->n; i++) {
		int32_t tok = b->token[i], s = b->seq ? b->seq[i] : 0, p = b->pos[i];
		if (tok < 0 || tok >= hp->n_vocab)
			return err_set(e, ST_INVAL, "model: token id %d at index %d out of range 0..%d",
				       tok, i, hp->n_vocab - 1);
		if (s < 0 || s >= c->n_seq)
			return err_set(e, ST_INVAL, "model: sequence %d at index %d out of range 0..%d",
				       s, i, c->n_seq - 1);
		int want = c->seq_next[s] >= 0 ? c->seq_next[s] : -1;
		if (p < 0 || p >= c->n_ctx || (want >= 0 && p != want) ||
		    (want < 0 && p > c->seq_len[s]))
			return err_set(e, ST_INVAL,
				       "model: position %d of sequence %d at index %d: the sequence holds %d positions%s (context %d)",
				       p, s, i, c->seq_len[s], want >= 0 ? " and this batch continues it" : "",
				       c->n_ctx);
		c->seq_next[s] = p + 1;
	}
	for (int s = 0; s < c->n_seq; s++)
		if (c->seq_next[s] >= 0)
			c->seq_len[s] = c->seq_next[s];
	size_t out_i = 0;
	for (int done = 0; done < b->n;) {
		int k = b->n - done < c->n_batch ? b->n - done : c->n_batch;
		const int32_t *seq = b->seq ? b->seq + done : c->one_seq;
		if (!b->seq)
			memset(c->one_seq, 0, (size_t)k * sizeof *c->one_seq);
		const int8_t *want = b->logits ? b->logits + done : NULL;
		status_t st = eval_batch(c, b->token + done, seq, b->pos + done, want, k,
					 logits ? logits + out_i * (size_t)hp->n_vocab : NULL);
		if (st)
			return err_set(e, st, "model: evaluation failed");
		for (int t = 0; t < k && want; t++)
			out_i += want[t] != 0;
		done += k;
	}
	return ST_OK;
}

status_t mdl_eval(struct mdl_ctx *c, const int32_t *tokens, int n, int pos,
		  float *logits, int all_logits, struct err *e)
{
	if (n <= 0 || pos < 0 || pos > c->n_ctx - n)
		return err_set(e, ST_INVAL, "model: %d tokens at position %d do not fit a context of %d",
			       n, pos, c->n_ctx);
	/* Positions beyond pos are forgotten: evaluation continues from here. */
	if (pos < c->seq_len[0])
		c->seq_len[0] = pos;
	if (pos > c->seq_len[0])
		return err_set(e, ST_INVAL, "model: position %d but the sequence holds %d positions",
			       pos, c->seq_len[0]);
	/* Evaluate in chunks of n_batch through the batch path. */
	for (int done = 0; done < n;) {
		int k = n - done < c->n_batch ? n - done : c->n_batch;
		for (int t = 0; t < k; t++) {
			c->one_pos[t] = pos + done + t;
			c->one_out[t] = all_logits || done + t == n - 1;
		}
		struct mdl_batch b = { .n = k, .token = tokens + done, .seq = NULL,
				       .pos = c->one_pos, .logits = c->one_out };
		float *lg = NULL;
		if (logits)
			lg = all_logits ? logits + (size_t)done * c->m->hp.n_vocab
					: (done + k == n ? logits : NULL);
		status_t st = mdl_eval_batch(c, &b, lg, e);
		if (st)
			return st;
		done += k;
	}
	return ST_OK;
}
