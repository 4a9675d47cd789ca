/*
 * synth.c - synthetic models: a GGUF of the llama or qwen2 architecture,
 * in any shape, with seeded random weights and the tokenizer of another
 * GGUF file. Used by tests (compared with llama.cpp's logits on the same
 * file) and benchmarks (real models' shapes without downloading one).
 *
 * Metadata keys and tensor names are those llama.cpp's converter writes.
 * Weights are drawn (uniformly) so that activations stay sane through
 * the layers: projections with standard deviation 1/sqrt(fan-in), the
 * projections back into the residual stream four times smaller relative
 * to the embedding, norm weights 1 +- 0.1 (see fill_row). Each tensor draws from its own generator,
 * seeded from the seed and the tensor's name, so tensors do not depend on
 * one another. Rows are generated, converted and written one at a time.
 */
#include "model/model.h"
#include "model/quant.h"

#include <math.h>
#include <string.h>

/* splitmix64: small, fast, good enough for weights. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_sym(uint64_t *s)
{
	return (float)((double)(rng_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* llama_ftype of a file whose matrices are all of one type. */
static uint32_t file_type_of(uint32_t t)
{
	switch (t) {
	case MDL_TYPE_F32: return 0;
	case MDL_TYPE_F16: return 1;
	case MDL_TYPE_Q4_0: return 2;
	case MDL_TYPE_Q4_1: return 3;
	case MDL_TYPE_Q8_0: return 7;
	case MDL_TYPE_Q5_0: return 8;
	case MDL_TYPE_Q5_1: return 9;
	case MDL_TYPE_Q4_K: return 14;
	case MDL_TYPE_Q5_K: return 16;
	case MDL_TYPE_Q6_K: return 18;
	case MDL_TYPE_BF16: return 32;
	default: return 0;
	}
}

/* How one tensor's values are drawn. */
enum fill { FILL_MATRIX, FILL_RESID, FILL_NORM, FILL_BIAS, FILL_EMBD, FILL_OUTPUT, FILL_ROPE };

struct stensor {
	char name[64];
	uint32_t type;
	int64_t ne0, ne1;	/* ne1 = 1: a vector */
	enum fill fill;
};

/*
 * The type a matrix with rows of ne0 elements gets when `type` was asked
 * for: K-types need rows that are multiples of 256, and fall back as
 * llama.cpp's quantiser does (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0).
 * That is what real files of e.g. Qwen2.5-0.5B (width 896) contain.
 */
static uint32_t fallback_type(uint32_t type, int64_t ne0)
{
	if (ne0 % mdl_type_info((int)type)->block_size == 0)
		return type;
	switch (type) {
	case MDL_TYPE_Q4_K: return MDL_TYPE_Q5_0;
	case MDL_TYPE_Q5_K: return MDL_TYPE_Q5_1;
	case MDL_TYPE_Q6_K: return MDL_TYPE_Q8_0;
	default: return type;
	}
}

/* llama.cpp's "more bits" layers of a K-quant mix: the first and last
 * eighth, and every third layer between. */
static int more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Where a tensor stands in a mix. */
enum role { R_OTHER, R_EMBD, R_OUTPUT, R_ATTN_V, R_FFN_DOWN };

/*
 * The type (before fallback) the tensor of role in layer l gets: one type,
 * or the rules of a K-quant mix (see MDL_SYNTH_MIX_* in model.h). tied: the
 * token embedding doubles as the output matrix.
 */
static uint32_t tensor_type(const struct mdl_synth_params *p, enum role r, int l,
			    int64_t ne0, int tied)
{
	uint32_t base;

	if (p->mix == MDL_SYNTH_MIX_NONE)
		return p->type;
	base = p->mix == MDL_SYNTH_MIX_Q5_K_M ? MDL_TYPE_Q5_K : MDL_TYPE_Q4_K;
	if (r == R_OUTPUT || (r == R_EMBD && tied))
		return ne0 % 256 ? MDL_TYPE_Q8_0 : MDL_TYPE_Q6_K;
	if ((r == R_ATTN_V || r == R_FFN_DOWN) && more_bits(l, p->n_layer))
		return MDL_TYPE_Q6_K;
	return base;
}

struct plan {
	struct stensor *t;
	size_t n, cap;
};

static status_t plan_add(struct plan *p, const char *name, uint32_t type,
			 int64_t ne0, int64_t ne1, enum fill fill)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct stensor *t = mem_realloc_array(p->t, cap, sizeof *t);
		if (!t)
			return ST_NOMEM;
		p->t = t;
		p->cap = cap;
	}
	struct stensor *t = &p->t[p->n++];
	str_copy(t->name, name, sizeof t->name);
	t->type = ne1 > 1 ? fallback_type(type, ne0) : MDL_TYPE_F32;	/* vectors stay f32, as in real files */
	t->ne0 = ne0;
	t->ne1 = ne1;
	t->fill = fill;
	return ST_OK;
}

static status_t build_plan(const struct mdl_synth_params *p, int64_t n_vocab,
			   int qwen2, int tied, struct plan *pl)
{
	int64_t D = p->n_embd, F = p->n_ff, hd = p->n_embd / p->n_head;
	int64_t Dq = hd * p->n_head, Dkv = hd * p->n_head_kv;
	status_t st = plan_add(pl, "token_embd.weight", tensor_type(p, R_EMBD, 0, D, tied),
			       D, n_vocab, FILL_EMBD);
	if (!st && p->rope_freqs)
		st = plan_add(pl, "rope_freqs.weight", MDL_TYPE_F32, hd / 2, 1, FILL_ROPE);
	for (int l = 0; l < p->n_layer && !st; l++) {
		char nm[64];
#define A_(suffix, role, a, b, fill)                                     \
		if (!st) {                                               \
			snprintf(nm, sizeof nm, "blk.%d." suffix, l);    \
			st = plan_add(pl, nm, tensor_type(p, role, l, a, tied), a, b, fill); \
		}
		A_("attn_norm.weight", R_OTHER, D, 1, FILL_NORM)
		A_("attn_q.weight", R_OTHER, D, Dq, FILL_MATRIX)
		A_("attn_k.weight", R_OTHER, D, Dkv, FILL_MATRIX)
		A_("attn_v.weight", R_ATTN_V, D, Dkv, FILL_MATRIX)
		if (qwen2 || p->biases) {
			A_("attn_q.bias", R_OTHER, Dq, 1, FILL_BIAS)
			A_("attn_k.bias", R_OTHER, Dkv, 1, FILL_BIAS)
			A_("attn_v.bias", R_OTHER, Dkv, 1, FILL_BIAS)
		}
		A_("attn_output.weight", R_OTHER, Dq, D, FILL_RESID)
		if (p->biases)
			A_("attn_output.bias", R_OTHER, D, 1, FILL_BIAS)
		A_("ffn_norm.weight", R_OTHER, D, 1, FILL_NORM)
		A_("ffn_gate.weight", R_OTHER, D, F, FILL_MATRIX)
		A_("ffn_up.weight", R_OTHER, D, F, FILL_MATRIX)
		A_("ffn_down.weight", R_FFN_DOWN, F, D, FILL_RESID)
		if (p->biases) {
			A_("ffn_gate.bias", R_OTHER, F, 1, FILL_BIAS)
			A_("ffn_up.bias", R_OTHER, F, 1, FILL_BIAS)
			A_("ffn_down.bias", R_OTHER, D, 1, FILL_BIAS)
		}
#undef A_
	}
	if (!st)
		st = plan_add(pl, "output_norm.weight", MDL_TYPE_F32, D, 1, FILL_NORM);
	if (!st && !tied)
		st = plan_add(pl, "output.weight", tensor_type(p, R_OUTPUT, 0, D, tied),
			      D, n_vocab, FILL_OUTPUT);
	return st;
}

static status_t write_metadata(struct mdl_gguf_writer *w, const struct mdl_synth_params *p,
			       const struct mdl_gguf *vocab)
{
	const char *arch = p->arch;
	char key[128];
	status_t st = mdl_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch));
	if (!st)
		st = mdl_gguf_writer_set_str(w, "general.name", "synthetic", 9);
#define U32_(suffix, v)                                                      \
	if (!st) {                                                           \
		snprintf(key, sizeof key, "%s." suffix, arch);               \
		st = mdl_gguf_writer_set_u32(w, key, (uint32_t)(v));         \
	}
#define F32_(suffix, v)                                                      \
	if (!st) {                                                           \
		snprintf(key, sizeof key, "%s." suffix, arch);               \
		st = mdl_gguf_writer_set_f32(w, key, (float)(v));            \
	}
	int qwen2 = !strcmp(arch, "qwen2");
	U32_("block_count", p->n_layer)
	U32_("context_length", p->n_ctx > 0 ? p->n_ctx : 2048)
	U32_("embedding_length", p->n_embd)
	U32_("feed_forward_length", p->n_ff)
	U32_("attention.head_count", p->n_head)
	U32_("attention.head_count_kv", p->n_head_kv)
	F32_("rope.freq_base", p->rope_base > 0 ? p->rope_base : qwen2 ? 1000000.0 : 10000.0)
	F32_("attention.layer_norm_rms_epsilon", qwen2 ? 1e-6 : 1e-5)
	if (!qwen2)
		U32_("rope.dimension_count", p->n_embd / p->n_head)
	if (p->rope_scale > 0 && p->rope_scale != 1) {
		if (!st) {
			snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
			st = mdl_gguf_writer_set_str(w, key, "linear", 6);
		}
		F32_("rope.scaling.factor", p->rope_scale)
	}
#undef U32_
#undef F32_
	if (!st)
		st = mdl_gguf_writer_set_u32(w, "general.file_type",
					     p->mix == MDL_SYNTH_MIX_Q4_K_M ? 15 :
					     p->mix == MDL_SYNTH_MIX_Q5_K_M ? 17 : file_type_of(p->type));
	if (!st && (p->mix || mdl_type_info((int)p->type)->quantized))
		st = mdl_gguf_writer_set_u32(w, "general.quantization_version", 2);
	for (size_t i = 0; i < mdl_gguf_n_kv(vocab) && !st; i++)
		if (!strncmp(mdl_gguf_key(vocab, i), "tokenizer.", 10))
			st = mdl_gguf_writer_copy_kv(w, vocab, i);
	return st;
}

static uint64_t seed_for(uint64_t seed, const char *name)
{
	return seed ^ hash_bytes(name, strlen(name));
}

/*
 * Standard deviation of the embedding: the residual stream starts from it
 * and the layers add about a quarter of it, so the stream stays dominated
 * by the token's own row. Tied models use the embedding as the output
 * matrix too, where 0.05 gives logits of a few units.
 */
static float embd_std(int tied)
{
	return tied ? 0.05f : 1.0f;
}

/* Fills one row of tensor t; embd_rng is the embedding's generator at the
 * same row (used by the untied output matrix). */
static void fill_row(const struct stensor *t, int tied, uint64_t *rng, uint64_t *embd_rng,
		     float *row)
{
	const float k = sqrtf(3.0f);	/* uniform [-a, a] has std a / sqrt(3) */
	float a;
	switch (t->fill) {
	case FILL_NORM:
		for (int64_t i = 0; i < t->ne0; i++)
			row[i] = 1.0f + 0.1f * rng_sym(rng);
		return;
	case FILL_ROPE:
		/* Llama 3 style: high frequencies kept, low ones divided by up
		 * to 8, smoothly in between. */
		for (int64_t i = 0; i < t->ne0; i++) {
			float x = t->ne0 > 1 ? (float)i / (float)(t->ne0 - 1) : 0;
			row[i] = 1.0f + 7.0f * x * x;
		}
		return;
	case FILL_BIAS:
		a = 0.2f * k;
		break;
	case FILL_EMBD:
		a = embd_std(tied) * k;
		break;
	case FILL_OUTPUT:
		/*
		 * Output row j = the embedding row j / (2 sqrt(n)) plus noise of
		 * std 1 / sqrt(n): each position's own token leads by a clear
		 * margin (about 0.5 sqrt(n) over logits of std ~1), so that
		 * the argmax is not decided by rounding noise, while the other
		 * logits stay random.
		 */
		for (int64_t i = 0; i < t->ne0; i++) {
			float e = embd_std(tied) * k * rng_sym(embd_rng);
			row[i] = e * 0.5f / sqrtf((float)t->ne0) +
				 k / sqrtf((float)t->ne0) * rng_sym(rng);
		}
		return;
	case FILL_RESID:
		a = 0.25f * embd_std(tied) / sqrtf((float)t->ne0) * k;
		break;
	default:
		a = 1.0f / sqrtf((float)t->ne0) * k;
		break;
	}
	for (int64_t i = 0; i < t->ne0; i++)
		row[i] = a * rng_sym(rng);
}

status_t mdl_synth_write(const struct mdl_synth_params *p, const char *path,
			 struct err *e)
{
	int qwen2 = p->arch && !strcmp(p->arch, "qwen2");
	if (!p->arch || (!qwen2 && strcmp(p->arch, "llama")))
		return err_set(e, ST_INVAL, "synth: architecture must be llama or qwen2");
	if (p->n_layer < 1 || p->n_layer > 512 || p->n_embd < 2 || p->n_embd > 65536 ||
	    p->n_head < 1 || p->n_head_kv < 1 || p->n_ff < 1 || p->n_ff > (1 << 20) ||
	    p->n_embd % p->n_head || p->n_head % p->n_head_kv || (p->n_embd / p->n_head) % 2 ||
	    p->n_ctx < 0)
		return err_set(e, ST_INVAL,
			       "synth: bad shape (layers %d, dim %d, heads %d, kv-heads %d, ffn %d): "
			       "dim must be a multiple of heads with an even head size, heads a multiple of kv-heads",
			       p->n_layer, p->n_embd, p->n_head, p->n_head_kv, p->n_ff);
	if (p->mix < MDL_SYNTH_MIX_NONE || p->mix > MDL_SYNTH_MIX_Q5_K_M)
		return err_set(e, ST_INVAL, "synth: unknown type mix %d", p->mix);
	/* A mix's types all fall back to blocks of 32, as q4_K does. */
	uint32_t vtype = p->mix ? MDL_TYPE_Q4_K : p->type;
	const struct mdl_type_info *ti = mdl_type_info((int)vtype);
	if (!ti || !ti->is_weight)
		return err_set(e, ST_INVAL, "synth: tensor type %u cannot hold weights", p->type);
	const struct mdl_type_info *fb = mdl_type_info((int)fallback_type(vtype, 32));
	if (p->n_embd % fb->block_size || p->n_ff % fb->block_size)
		return err_set(e, ST_INVAL,
			       "synth: dim %d and ffn %d must be multiples of %s's block size %d",
			       p->n_embd, p->n_ff, fb->name, fb->block_size);
	if (!p->vocab_from)
		return err_set(e, ST_INVAL, "synth: a vocabulary file is required");
	if (p->rope_freqs && qwen2)
		return err_set(e, ST_INVAL, "synth: rope frequency factors are for llama only");
	if (p->biases && qwen2)
		return err_set(e, ST_INVAL, "synth: --biases is for llama (qwen2 always has its QKV biases)");
	if (p->rope_scale < 0 || p->rope_base < 0)
		return err_set(e, ST_INVAL, "synth: negative rope base or scale");

	struct mdl_gguf *vocab;
	status_t st = mdl_gguf_open(p->vocab_from, &vocab, e);
	if (st)
		return st;
	enum mdl_gguf_vtype et;
	size_t n_vocab;
	if ((st = mdl_gguf_get_arr(vocab, "tokenizer.ggml.tokens", &et, &n_vocab, e))) {
		mdl_gguf_free(vocab);
		return st;
	}
	if (et != MDL_GGUF_STRING || n_vocab == 0) {
		mdl_gguf_free(vocab);
		return err_set(e, ST_CORRUPT, "synth: %s: tokenizer.ggml.tokens is not a list of strings",
			       p->vocab_from);
	}
	int tied = qwen2 && p->tied_output;
	struct plan pl = { 0 };
	struct mdl_gguf_writer *w = NULL;
	float *row = NULL;
	void *qrow = NULL;
	int64_t widest = p->n_embd > p->n_ff ? p->n_embd : p->n_ff;
	if ((st = build_plan(p, (int64_t)n_vocab, qwen2, tied, &pl))) {
		err_set(e, st, "synth: out of memory");
		goto done;
	}
	row = mem_alloc_array((size_t)widest, sizeof *row);
	qrow = mem_alloc(mdl_row_size(MDL_TYPE_F32, widest));
	if (!row || !qrow) {
		st = err_set(e, ST_NOMEM, "synth: out of memory");
		goto done;
	}
	if ((st = mdl_gguf_writer_new(path, &w, e)))
		goto done;
	if ((st = write_metadata(w, p, vocab))) {
		err_set(e, st, "synth: cannot record metadata");
		goto done;
	}
	for (size_t i = 0; i < pl.n; i++) {
		const struct stensor *t = &pl.t[i];
		int64_t ne[2] = { t->ne0, t->ne1 };
		if ((st = mdl_gguf_writer_add_tensor(w, t->name, t->type, t->ne1 > 1 ? 2 : 1, ne))) {
			err_set(e, st, "synth: cannot declare tensor %s", t->name);
			goto done;
		}
	}
	for (size_t i = 0; i < pl.n; i++) {
		const struct stensor *t = &pl.t[i];
		uint64_t rng = seed_for(p->seed, t->name);
		uint64_t embd_rng = seed_for(p->seed, "token_embd.weight");
		size_t rs = mdl_row_size((int)t->type, t->ne0);
		for (int64_t r = 0; r < t->ne1; r++) {
			fill_row(t, tied, &rng, &embd_rng, row);
			if ((st = mdl_quant_row((int)t->type, row, qrow, t->ne0))) {
				err_set(e, st, "synth: cannot convert tensor %s to %s", t->name,
					mdl_ggml_type_name(t->type));
				goto done;
			}
			if ((st = mdl_gguf_writer_write(w, qrow, rs, e)))
				goto done;
		}
	}
	st = mdl_gguf_writer_finish(w, e);
	w = NULL;
done:
	mdl_gguf_writer_abort(w);
	mem_free(row);
	mem_free(qrow);
	mem_free(pl.t);
	mdl_gguf_free(vocab);
	return st;
}
