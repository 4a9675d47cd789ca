/*
 * quant_gemm_tiles.h - the lists of tile sizes 1..G_R x 1..G_T for
 * quant_gemm_x86.h (G_TILES instantiates them, G_TABLE names them by size),
 * for G_R up to 4 and G_T up to 6. Included after quant_gemm_x86.h.
 */
#if G_R > 4 || G_T > 6
#error "quant_gemm_tiles.h lists tiles up to 4 x 6"
#endif


#if 1 <= G_R && 1 <= G_T
#define G_TILE_IF_1_1(name, wt) G_TILE(name, wt, 1, 1)
#define G_NAME_1_1(name) name##_1x1,
#else
#define G_TILE_IF_1_1(name, wt)
#define G_NAME_1_1(name)
#endif
#if 1 <= G_R && 2 <= G_T
#define G_TILE_IF_1_2(name, wt) G_TILE(name, wt, 1, 2)
#define G_NAME_1_2(name) name##_1x2,
#else
#define G_TILE_IF_1_2(name, wt)
#define G_NAME_1_2(name)
#endif
#if 1 <= G_R && 3 <= G_T
#define G_TILE_IF_1_3(name, wt) G_TILE(name, wt, 1, 3)
#define G_NAME_1_3(name) name##_1x3,
#else
#define G_TILE_IF_1_3(name, wt)
#define G_NAME_1_3(name)
#endif
#if 1 <= G_R && 4 <= G_T
#define G_TILE_IF_1_4(name, wt) G_TILE(name, wt, 1, 4)
#define G_NAME_1_4(name) name##_1x4,
#else
#define G_TILE_IF_1_4(name, wt)
#define G_NAME_1_4(name)
#endif
#if 1 <= G_R && 5 <= G_T
#define G_TILE_IF_1_5(name, wt) G_TILE(name, wt, 1, 5)
#define G_NAME_1_5(name) name##_1x5,
#else
#define G_TILE_IF_1_5(name, wt)
#define G_NAME_1_5(name)
#endif
#if 1 <= G_R && 6 <= G_T
#define G_TILE_IF_1_6(name, wt) G_TILE(name, wt, 1, 6)
#define G_NAME_1_6(name) name##_1x6,
#else
#define G_TILE_IF_1_6(name, wt)
#define G_NAME_1_6(name)
#endif
#if 2 <= G_R && 1 <= G_T
#define G_TILE_IF_2_1(name, wt) G_TILE(name, wt, 2, 1)
#define G_NAME_2_1(name) name##_2x1,
#else
#define G_TILE_IF_2_1(name, wt)
#define G_NAME_2_1(name)
#endif
#if 2 <= G_R && 2 <= G_T
#define G_TILE_IF_2_2(name, wt) G_TILE(name, wt, 2, 2)
#define G_NAME_2_2(name) name##_2x2,
#else
#define G_TILE_IF_2_2(name, wt)
#define G_NAME_2_2(name)
#endif
#if 2 <= G_R && 3 <= G_T
#define G_TILE_IF_2_3(name, wt) G_TILE(name, wt, 2, 3)
#define G_NAME_2_3(name) name##_2x3,
#else
#define G_TILE_IF_2_3(name, wt)
#define G_NAME_2_3(name)
#endif
#if 2 <= G_R && 4 <= G_T
#define G_TILE_IF_2_4(name, wt) G_TILE(name, wt, 2, 4)
#define G_NAME_2_4(name) name##_2x4,
#else
#define G_TILE_IF_2_4(name, wt)
#define G_NAME_2_4(name)
#endif
#if 2 <= G_R && 5 <= G_T
#define G_TILE_IF_2_5(name, wt) G_TILE(name, wt, 2, 5)
#define G_NAME_2_5(name) name##_2x5,
#else
#define G_TILE_IF_2_5(name, wt)
#define G_NAME_2_5(name)
#endif
#if 2 <= G_R && 6 <= G_T
#define G_TILE_IF_2_6(name, wt) G_TILE(name, wt, 2, 6)
#define G_NAME_2_6(name) name##_2x6,
#else
#define G_TILE_IF_2_6(name, wt)
#define G_NAME_2_6(name)
#endif
#if 3 <= G_R && 1 <= G_T
#define G_TILE_IF_3_1(name, wt) G_TILE(name, wt, 3, 1)
#define G_NAME_3_1(name) name##_3x1,
#else
#define G_TILE_IF_3_1(name, wt)
#define G_NAME_3_1(name)
#endif
#if 3 <= G_R && 2 <= G_T
#define G_TILE_IF_3_2(name, wt) G_TILE(name, wt, 3, 2)
#define G_NAME_3_2(name) name##_3x2,
#else
#define G_TILE_IF_3_2(name, wt)
#define G_NAME_3_2(name)
#endif
#if 3 <= G_R && 3 <= G_T
#define G_TILE_IF_3_3(name, wt) G_TILE(name, wt, 3, 3)
#define G_NAME_3_3(name) name##_3x3,
#else
#define G_TILE_IF_3_3(name, wt)
#define G_NAME_3_3(name)
#endif
#if 3 <= G_R && 4 <= G_T
#define G_TILE_IF_3_4(name, wt) G_TILE(name, wt, 3, 4)
#define G_NAME_3_4(name) name##_3x4,
#else
#define G_TILE_IF_3_4(name, wt)
#define G_NAME_3_4(name)
#endif
#if 3 <= G_R && 5 <= G_T
#define G_TILE_IF_3_5(name, wt) G_TILE(name, wt, 3, 5)
#define G_NAME_3_5(name) name##_3x5,
#else
#define G_TILE_IF_3_5(name, wt)
#define G_NAME_3_5(name)
#endif
#if 3 <= G_R && 6 <= G_T
#define G_TILE_IF_3_6(name, wt) G_TILE(name, wt, 3, 6)
#define G_NAME_3_6(name) name##_3x6,
#else
#define G_TILE_IF_3_6(name, wt)
#define G_NAME_3_6(name)
#endif
#if 4 <= G_R && 1 <= G_T
#define G_TILE_IF_4_1(name, wt) G_TILE(name, wt, 4, 1)
#define G_NAME_4_1(name) name##_4x1,
#else
#define G_TILE_IF_4_1(name, wt)
#define G_NAME_4_1(name)
#endif
#if 4 <= G_R && 2 <= G_T
#define G_TILE_IF_4_2(name, wt) G_TILE(name, wt, 4, 2)
#define G_NAME_4_2(name) name##_4x2,
#else
#define G_TILE_IF_4_2(name, wt)
#define G_NAME_4_2(name)
#endif
#if 4 <= G_R && 3 <= G_T
#define G_TILE_IF_4_3(name, wt) G_TILE(name, wt, 4, 3)
#define G_NAME_4_3(name) name##_4x3,
#else
#define G_TILE_IF_4_3(name, wt)
#define G_NAME_4_3(name)
#endif
#if 4 <= G_R && 4 <= G_T
#define G_TILE_IF_4_4(name, wt) G_TILE(name, wt, 4, 4)
#define G_NAME_4_4(name) name##_4x4,
#else
#define G_TILE_IF_4_4(name, wt)
#define G_NAME_4_4(name)
#endif
#if 4 <= G_R && 5 <= G_T
#define G_TILE_IF_4_5(name, wt) G_TILE(name, wt, 4, 5)
#define G_NAME_4_5(name) name##_4x5,
#else
#define G_TILE_IF_4_5(name, wt)
#define G_NAME_4_5(name)
#endif
#if 4 <= G_R && 6 <= G_T
#define G_TILE_IF_4_6(name, wt) G_TILE(name, wt, 4, 6)
#define G_NAME_4_6(name) name##_4x6,
#else
#define G_TILE_IF_4_6(name, wt)
#define G_NAME_4_6(name)
#endif
#define G_TILES(name, wt) \
	G_TILE_IF_1_1(name, wt) G_TILE_IF_1_2(name, wt) G_TILE_IF_1_3(name, wt) G_TILE_IF_1_4(name, wt) G_TILE_IF_1_5(name, wt) G_TILE_IF_1_6(name, wt) \
	G_TILE_IF_2_1(name, wt) G_TILE_IF_2_2(name, wt) G_TILE_IF_2_3(name, wt) G_TILE_IF_2_4(name, wt) G_TILE_IF_2_5(name, wt) G_TILE_IF_2_6(name, wt) \
	G_TILE_IF_3_1(name, wt) G_TILE_IF_3_2(name, wt) G_TILE_IF_3_3(name, wt) G_TILE_IF_3_4(name, wt) G_TILE_IF_3_5(name, wt) G_TILE_IF_3_6(name, wt) \
	G_TILE_IF_4_1(name, wt) G_TILE_IF_4_2(name, wt) G_TILE_IF_4_3(name, wt) G_TILE_IF_4_4(name, wt) G_TILE_IF_4_5(name, wt) G_TILE_IF_4_6(name, wt)

#if 1 <= G_R
#define G_TROW_1(name) { G_NAME_1_1(name) G_NAME_1_2(name) G_NAME_1_3(name) G_NAME_1_4(name) G_NAME_1_5(name) G_NAME_1_6(name) },
#else
#define G_TROW_1(name)
#endif
#if 2 <= G_R
#define G_TROW_2(name) { G_NAME_2_1(name) G_NAME_2_2(name) G_NAME_2_3(name) G_NAME_2_4(name) G_NAME_2_5(name) G_NAME_2_6(name) },
#else
#define G_TROW_2(name)
#endif
#if 3 <= G_R
#define G_TROW_3(name) { G_NAME_3_1(name) G_NAME_3_2(name) G_NAME_3_3(name) G_NAME_3_4(name) G_NAME_3_5(name) G_NAME_3_6(name) },
#else
#define G_TROW_3(name)
#endif
#if 4 <= G_R
#define G_TROW_4(name) { G_NAME_4_1(name) G_NAME_4_2(name) G_NAME_4_3(name) G_NAME_4_4(name) G_NAME_4_5(name) G_NAME_4_6(name) },
#else
#define G_TROW_4(name)
#endif
#define G_TABLE(name) { G_TROW_1(name) G_TROW_2(name) G_TROW_3(name) G_TROW_4(name) }
