/* types.c: the kernel table: one row per weight type, one column of entries per tier
 * (kernels.h says how to add a row or a tier). A NULL entry falls back to the next lower
 * tier when select.c resolves a tier's table, so the ref column is complete. */
#include "kernels_internal.h"

const struct kernels_type_traits kernels_types[KERNELS_TYPE_COUNT] = {
    [KERNELS_F32] = {
        .name = "f32", .block_size = 1, .block_bytes = sizeof(float),
        .vec_dot_type = KERNELS_F32,
        .to_float = kernels_to_float_f32, .from_float = kernels_from_float_f32,
        .tier = {
            [KERNELS_TIER_REF] = {.dot = kernels_dot_f32_ref, .matvec = kernels_matvec_f32_ref,
                                  .gemm = kernels_gemm_ref},
            [KERNELS_TIER_AVX2] = {.dot = kernels_dot_f32_avx2, .matvec = kernels_matvec_f32_avx2,
                                   .gemm = kernels_gemm_f32_avx2},
            /* avx512.c's float32 dot/matvec are not in the table: on this machine (AMD EPYC,
             * Zen 4: 512-bit ops run as two 256-bit halves) they measured no faster than
             * avx2 on a memory-bound decode (bench/RESULTS.md); they stay tested against ref
             * (test_kernels.c) for the first row where 16 lanes pay. */
        },
    },
    [KERNELS_F16] = {
        .name = "f16", .block_size = 1, .block_bytes = sizeof(uint16_t),
        .vec_dot_type = KERNELS_F32, .to_float = kernels_to_float_f16,
        .tier = {
            [KERNELS_TIER_REF] = {.dot = kernels_dot_f16_ref, .matvec = kernels_matvec_f16_ref,
                                  .gemm = kernels_gemm_ref},
            [KERNELS_TIER_AVX2] = {.dot = kernels_dot_f16_avx2, .matvec = kernels_matvec_f16_avx2},
        },
    },
    [KERNELS_I8] = {
        .name = "i8", .block_size = 1, .block_bytes = sizeof(int8_t),
        .vec_dot_type = KERNELS_I8, .to_float = kernels_to_float_i8,
        .tier = {
            [KERNELS_TIER_REF] = {.dot = kernels_dot_i8_ref, .matvec = kernels_matvec_i8_ref,
                                  .gemm = kernels_gemm_ref},
            [KERNELS_TIER_AVX2] = {.dot = kernels_dot_i8_avx2, .matvec = kernels_matvec_i8_avx2},
        },
    },
    /* Not a block format: the scales are a side array (struct kernels_mat), so no block
     * to_float (kernels_row_to_float handles it) and no per-row dot. */
    [KERNELS_Q8_G] = {
        .name = "llama2c_q8", .block_size = 1, .block_bytes = sizeof(int8_t),
        .vec_dot_type = KERNELS_F32,
        .tier = {
            [KERNELS_TIER_REF] = {.matvec = kernels_matvec_q8g_ref, .gemm = kernels_gemm_ref},
            [KERNELS_TIER_AVX2] = {.matvec = kernels_matvec_q8g_avx2,
                                   .gemm = kernels_gemm_q8g_avx2},
        },
    },
};
