/* test_act.c: every row of the activation table (models/kernels/act.h) on every tier this
 * CPU has against its scalar reference, plain and gated, on odd sizes (every SIMD tail) and
 * a range wide enough for the clamps (|x| up to 40); the references against known values;
 * ggml's fp16 GELU bit-equal across tiers; LayerNorm against a direct formula, and every
 * tier's LayerNorm against the reference. */
#include "../../../../models/kernels/act.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ACT_TOL 2e-6f /* relative to 1 + |reference| (the SIMD exp/erf are ~1e-7 accurate) */
static const size_t ACT_SIZES[] = {1, 7, 8, 9, 15, 16, 17, 33, 255, 1001};
#define ACT_N_SIZES (sizeof ACT_SIZES / sizeof ACT_SIZES[0])

static uint64_t act_rng = 0x9E3779B97F4A7C15ull;
static float act_rand(float scale)
{
    act_rng ^= act_rng << 13;
    act_rng ^= act_rng >> 7;
    act_rng ^= act_rng << 17;
    return (float)((act_rng >> 40) / 16777216.0 * 2.0 - 1.0) * scale;
}

Test(act, every_tier_matches_reference)
{
    for (int a = 0; a < KERNELS_ACT_COUNT; a++) {
        const kernels_act_fn ref = kernels_act_get((enum kernels_act)a, KERNELS_TIER_REF);
        for (int t = 1; t < KERNELS_TIER_COUNT; t++) {
            if (!kernels_tier((enum kernels_tier)t))
                continue;
            const kernels_act_fn f = kernels_act_get((enum kernels_act)a, (enum kernels_tier)t);
            for (size_t si = 0; si < ACT_N_SIZES; si++) {
                const size_t n = ACT_SIZES[si];
                float *x = malloc(n * sizeof *x), *up = malloc(n * sizeof *up);
                float *y0 = malloc(n * sizeof *y0), *y1 = malloc(n * sizeof *y1);
                for (size_t i = 0; i < n; i++) {
                    x[i] = act_rand(i % 5 == 0 ? 40.0f : 6.0f);
                    up[i] = act_rand(2.0f);
                }
                for (int gated = 0; gated < 2; gated++) {
                    ref(y0, x, gated ? up : NULL, n);
                    f(y1, x, gated ? up : NULL, n);
                    for (size_t i = 0; i < n; i++) {
                        const float tol = a == KERNELS_ACT_GELU_GGML ? 0.0f : ACT_TOL * (1.0f + fabsf(y0[i]));
                        cr_assert_leq(fabsf(y1[i] - y0[i]), tol, "%s tier %d n %zu gated %d x %g: %g vs ref %g",
                                      kernels_acts[a].name, t, n, gated, x[i], y1[i], y0[i]);
                    }
                }
                free(x), free(up), free(y0), free(y1);
            }
        }
    }
}

Test(act, references_known_values)
{
    const float x[4] = {-1.0f, 0.0f, 0.5f, 2.0f};
    float y[4];
    kernels_act_get(KERNELS_ACT_RELU, KERNELS_TIER_REF)(y, x, NULL, 4);
    cr_assert(y[0] == 0 && y[1] == 0 && y[2] == 0.5f && y[3] == 2.0f);
    kernels_act_get(KERNELS_ACT_GELU, KERNELS_TIER_REF)(y, x, NULL, 4);
    cr_assert_float_eq(y[0], -0.15865525f, 1e-6); /* x Phi(x) */
    cr_assert_float_eq(y[3], 1.9544997f, 1e-6);
    kernels_act_get(KERNELS_ACT_GELU_TANH, KERNELS_TIER_REF)(y, x, NULL, 4);
    cr_assert_float_eq(y[0], -0.15880801f, 1e-6);
    cr_assert_float_eq(y[3], 1.9545977f, 1e-6);
    kernels_act_get(KERNELS_ACT_GELU_GGML, KERNELS_TIER_REF)(y, x, NULL, 4);
    cr_assert_float_eq(y[3], 1.9545977f, 2e-3); /* fp16 precision */
    kernels_act_get(KERNELS_ACT_SILU, KERNELS_TIER_REF)(y, x, x, 4); /* gated: SwiGLU */
    cr_assert_float_eq(y[3], 2.0f * 1.7615942f, 1e-5);
    const float sx[4] = {-30.0f, 0.0f, 2.0f, 30.0f};
    for (int t = 0; t < KERNELS_TIER_COUNT; t++) { /* softplus: log(1 + e^x), x above 20 */
        if (!kernels_tier((enum kernels_tier)t))
            continue;
        kernels_act_get(KERNELS_ACT_SOFTPLUS, (enum kernels_tier)t)(y, sx, NULL, 4);
        cr_assert_float_eq(y[0], 9.357623e-14f, 1e-19); /* tiny: the relative precision kept */
        cr_assert_float_eq(y[1], 0.6931472f, 1e-6);
        cr_assert_float_eq(y[2], 2.126928f, 1e-6);
        cr_assert(y[3] == 30.0f);
    }
    cr_assert_eq(kernels_act_by_name("gelu_tanh"), KERNELS_ACT_GELU_TANH);
    cr_assert_eq(kernels_act_by_name("swish"), -1);
}

Test(act, layernorm_with_bias)
{
    const size_t n = 37;
    float x[37], w[37], b[37], y[37];
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = act_rand(3.0f) + 1.0f;
        w[i] = act_rand(1.0f);
        b[i] = act_rand(1.0f);
        mean += x[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (double)n;
    kernels_layernorm(y, x, w, b, n, 1e-5f);
    for (size_t i = 0; i < n; i++)
        cr_assert_float_eq(y[i], (x[i] - mean) / sqrt(var + 1e-5) * w[i] + b[i], 1e-5);
    kernels_layernorm(x, x, w, NULL, n, 1e-5f); /* in place, no bias */
    for (size_t i = 0; i < n; i++)
        cr_assert_float_eq(x[i], y[i] - b[i], 1e-5);
}

/* Every tier's LayerNorm against the reference: odd widths (the SIMD tails), large offsets
 * (the double sums matter), in place and with or without a bias. */
Test(act, layernorm_tiers_match_the_reference)
{
    static const size_t widths[] = {1, 7, 8, 9, 37, 384, 771};
    float x[771], w[771], b[771], want[771], got[771];
    for (enum kernels_tier t = KERNELS_TIER_AVX2; t < KERNELS_TIER_COUNT; t++) {
        const struct kernels_ops *ops = kernels_tier(t);
        if (!ops)
            continue;
        for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
            const size_t n = widths[k];
            for (size_t i = 0; i < n; i++) {
                x[i] = act_rand(4.0f) + 100.0f;
                w[i] = act_rand(1.0f);
                b[i] = act_rand(1.0f);
            }
            for (int bias = 0; bias < 2; bias++) {
                kernels_layernorm(want, x, w, bias ? b : NULL, n, 1e-5f);
                memcpy(got, x, n * sizeof *got);
                ops->layernorm(got, got, w, bias ? b : NULL, n, 1e-5f);
                for (size_t i = 0; i < n; i++)
                    cr_assert_float_eq(got[i], want[i], 1e-5f * (1.0f + fabsf(want[i])),
                                       "tier %d width %zu [%zu]: %g vs %g", (int)t, n, i,
                                       got[i], want[i]);
            }
        }
    }
}

/* The softmax exponentials: every tier against the reference, values and the double sum,
 * with and without a tail, in place. */
Test(act, exp_sum_tiers_match_the_reference)
{
    float x[203], want[203], got[203];
    for (size_t i = 0; i < 203; i++)
        x[i] = act_rand(i % 7 == 0 ? 90.0f : 8.0f);
    for (enum kernels_tier t = KERNELS_TIER_AVX2; t < KERNELS_TIER_COUNT; t++) {
        if (!kernels_tier(t))
            continue;
        for (size_t n = 1; n <= 203; n += 13) {
            float mx = -INFINITY;
            for (size_t i = 0; i < n; i++)
                mx = x[i] > mx ? x[i] : mx;
            const double s0 = kernels_exp_sum(want, x, mx, n);
            memcpy(got, x, n * sizeof *got);
            const double s1 = kernels_tier(t)->exp_sum(got, got, mx, n);
            cr_assert(fabs(s1 - s0) <= 2e-6 * s0, "tier %d n %zu: sum %.9g vs %.9g", (int)t, n, s1, s0);
            for (size_t i = 0; i < n; i++)
                cr_assert_float_eq(got[i], want[i], 2e-6f * want[i] + 1e-30f, "tier %d n %zu [%zu]", (int)t, n, i);
        }
    }
}
