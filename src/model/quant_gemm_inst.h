/*
 * quant_gemm_inst.h - the tiled kernels of every type the tiles cover and
 * the function that installs them, G_INSTALL(struct mdl__kernels *): the
 * tail of quant_gemm_avx2.c and quant_gemm_avx512.c, which differ only in
 * their target, tile sizes and G_INSTALL's name. Included after
 * quant_gemm_tiles.h.
 */
static const size_t gemm_q8_0_bytes = sizeof(struct mdl_block_q8_0);
static const size_t gemm_q4_0_bytes = sizeof(struct mdl_block_q4_0);
static const size_t gemm_q5_0_bytes = sizeof(struct mdl_block_q5_0);
static const size_t gemm_q4_K_bytes = sizeof(struct mdl_block_q4_K);
static const size_t gemm_q5_K_bytes = sizeof(struct mdl_block_q5_K);
static const size_t gemm_q6_K_bytes = sizeof(struct mdl_block_q6_K);

G_TYPE(gemm_q8_0, MDL_TYPE_Q8_0)
G_TYPE(gemm_q4_0, MDL_TYPE_Q4_0)
G_TYPE(gemm_q5_0, MDL_TYPE_Q5_0)
G_TYPE(gemm_q4_K, MDL_TYPE_Q4_K)
G_TYPE(gemm_q5_K, MDL_TYPE_Q5_K)
G_TYPE(gemm_q6_K, MDL_TYPE_Q6_K)

void G_INSTALL(struct mdl__kernels *k)
{
	k->gemm[MDL_TYPE_Q8_0] = gemm_q8_0;
	k->gemm[MDL_TYPE_Q4_0] = gemm_q4_0;
	k->gemm[MDL_TYPE_Q5_0] = gemm_q5_0;
	k->gemm[MDL_TYPE_Q4_K] = gemm_q4_K;
	k->gemm[MDL_TYPE_Q5_K] = gemm_q5_K;
	k->gemm[MDL_TYPE_Q6_K] = gemm_q6_K;
}
