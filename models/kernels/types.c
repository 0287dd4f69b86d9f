/* types.c: the kernel table: one row per weight type, one column of entries per tier
 * (kernels.h says how to add a row or a tier). A NULL entry falls back to the next lower
 * tier when select.c resolves a tier's table, so the ref column is complete. */
#include "kernels_internal.h"
#include "quant_internal.h"

/* A ggml block format: ref and avx2 entries through quant_matvec/quant_gemm (and avx512
 * where quant_avx512.c has them, else QNONE). */
#define QROW(T, NAME, BLOCK, ACT, FROM, AVX2, AVX512)                                       \
    {                                                                                         \
        .name = NAME, .block_size = BLOCK, .block_bytes = sizeof(struct block_##T),          \
        .vec_dot_type = ACT, .to_float = quant_to_float_##T, .from_float = FROM,             \
        .tier = {                                                                             \
            [KERNELS_TIER_REF] = {.dot = quant_dot_##T##_ref, .matvec = quant_matvec_##T##_ref, \
                                  .gemm = quant_gemm_##T##_ref},                              \
            [KERNELS_TIER_AVX2] = AVX2,                                                        \
            [KERNELS_TIER_AVX512] = AVX512,                                                    \
        },                                                                                    \
    }
#define QAVX2(T) {.dot = quant_dot_##T##_avx2, .matvec = quant_matvec_##T##_avx2, .gemm = quant_gemm_##T##_avx2}
#define QNONE {0}
/* the dot (and the activation quantizer) stay avx2's: the avx512 matvec/gemm equal it */
#define QAVX512(T) {.matvec = quant_matvec_##T##_avx512, .gemm = quant_gemm_##T##_avx512}
/* the activation types also get their AVX2 quantizer */
#define Q8_0_AVX2 {.dot = quant_dot_q8_0_avx2, .matvec = quant_matvec_q8_0_avx2, .gemm = quant_gemm_q8_0_avx2, .from_float = quant_from_float_q8_0_avx2}
#define Q8_1_AVX2 {.from_float = quant_from_float_q8_1_avx2}
#define Q8_K_AVX2 {.from_float = quant_from_float_q8_K_avx2}

const struct kernels_type_traits kernels_types[KERNELS_TYPE_COUNT] = {
    [KERNELS_F32] = {
        .name = "f32", .block_size = 1, .block_bytes = sizeof(float),
        .vec_dot_type = KERNELS_F32,
        .to_float = kernels_to_float_f32, .from_float = kernels_from_float_f32,
        .tier = {
            [KERNELS_TIER_REF] = {.dot = kernels_dot_f32_ref, .matvec = kernels_matvec_rows_ref,
                                  .gemm = kernels_gemm_ref},
            [KERNELS_TIER_AVX2] = {.dot = kernels_dot_f32_avx2, .matvec = kernels_matvec_f32_avx2,
                                   .gemm = kernels_gemm_f32_avx2},
            /* one summation order for dot, matvec and GEMM (avx512.c): a token's bits do
             * not depend on the batch it is in */
            [KERNELS_TIER_AVX512] = {.dot = kernels_dot_f32_avx512,
                                     .matvec = kernels_matvec_f32_avx512,
                                     .gemm = kernels_gemm_f32_avx512},
        },
    },
    [KERNELS_F16] = {
        .name = "f16", .block_size = 1, .block_bytes = sizeof(uint16_t),
        .vec_dot_type = KERNELS_F32, .to_float = kernels_to_float_f16,
        .tier = {
            [KERNELS_TIER_REF] = {.dot = kernels_dot_f16_ref, .matvec = kernels_matvec_rows_ref,
                                  .gemm = kernels_gemm_ref},
            [KERNELS_TIER_AVX2] = {.dot = kernels_dot_f16_avx2, .matvec = kernels_matvec_f16_avx2},
        },
    },
    [KERNELS_I8] = {
        .name = "i8", .block_size = 1, .block_bytes = sizeof(int8_t),
        .vec_dot_type = KERNELS_I8, .to_float = kernels_to_float_i8,
        .tier = {
            [KERNELS_TIER_REF] = {.dot = kernels_dot_i8_ref, .matvec = kernels_matvec_rows_ref,
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
    [KERNELS_BF16] = {
        .name = "bf16", .block_size = 1, .block_bytes = sizeof(uint16_t),
        .vec_dot_type = KERNELS_F32, .to_float = quant_to_float_bf16,
        .from_float = quant_from_float_bf16,
        .tier = {
            [KERNELS_TIER_REF] = {.dot = quant_dot_bf16_ref, .matvec = quant_matvec_bf16_ref,
                                  .gemm = quant_gemm_bf16_ref},
            [KERNELS_TIER_AVX2] = QAVX2(bf16),
        },
    },
    [KERNELS_Q4_0] = QROW(q4_0, "q4_0", QK4_0, KERNELS_Q8_0, NULL, QAVX2(q4_0), QAVX512(q4_0)),
    [KERNELS_Q4_1] = QROW(q4_1, "q4_1", QK4_0, KERNELS_Q8_1, NULL, QAVX2(q4_1), QNONE),
    [KERNELS_Q5_0] = QROW(q5_0, "q5_0", QK4_0, KERNELS_Q8_0, NULL, QAVX2(q5_0), QAVX512(q5_0)),
    [KERNELS_Q5_1] = QROW(q5_1, "q5_1", QK4_0, KERNELS_Q8_1, NULL, QAVX2(q5_1), QNONE),
    [KERNELS_Q8_0] = QROW(q8_0, "q8_0", QK8_0, KERNELS_Q8_0, quant_from_float_q8_0, Q8_0_AVX2,
                          QAVX512(q8_0)),
    [KERNELS_Q8_1] = QROW(q8_1, "q8_1", QK8_0, KERNELS_Q8_1, quant_from_float_q8_1, Q8_1_AVX2, QNONE),
    [KERNELS_Q4_K] = QROW(q4_K, "q4_K", QK_K, KERNELS_Q8_K, NULL, QAVX2(q4_K), QAVX512(q4_K)),
    [KERNELS_Q5_K] = QROW(q5_K, "q5_K", QK_K, KERNELS_Q8_K, NULL, QAVX2(q5_K), QNONE),
    [KERNELS_Q6_K] = QROW(q6_K, "q6_K", QK_K, KERNELS_Q8_K, NULL, QAVX2(q6_K), QAVX512(q6_K)),
    [KERNELS_Q8_K] = QROW(q8_K, "q8_K", QK_K, KERNELS_Q8_K, quant_from_float_q8_K, Q8_K_AVX2, QNONE),
};
