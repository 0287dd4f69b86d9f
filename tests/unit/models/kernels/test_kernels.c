/* test_kernels.c: every entry of the kernel table, on every tier this CPU has, against the
 * scalar reference on odd sizes, so every SIMD tail runs (docs/ARCHITECTURE.md, kernels);
 * the half-float conversions; tier selection; and the thread team covering every item once. */
#include "../../../../models/kernels/kernels.h"
#include "../../../../models/kernels/kernels_internal.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define KT_TOL_REL KERNELS_TOL_DOT_F32 /* summation order only: relative to sum |a_i b_i| */
static const size_t SIZES[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 1023};
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])
#define KT_MAX_ROWS 9 /* row counts 1..9 cover every remainder of the 4-row and 3-row loops */
#define KT_MAX_Q 9    /* token counts 1..9 cover every remainder of the 4-token tile */

static uint64_t kt_rng = 88172645463325252ull;
static float kt_rand(void)
{
    kt_rng ^= kt_rng << 13;
    kt_rng ^= kt_rng >> 7;
    kt_rng ^= kt_rng << 17;
    return (float)((kt_rng >> 40) / 16777216.0 * 2.0 - 1.0);
}
__attribute__((noinline)) static float *kt_vec(size_t n)
{
    float *v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = kt_rand();
    return v;
}
__attribute__((noinline)) static int8_t *kt_q(size_t n)
{
    int8_t *v = calloc(n + 1, 1);
    for (size_t i = 0; i < n; i++)
        v[i] = (int8_t)(kt_rand() * 127.0f);
    return v;
}
static void kt_close(const char *tier, const char *what, size_t n, float want, float got,
                     float mag)
{
    float tol = KT_TOL_REL * (mag > 1.0f ? mag : 1.0f);
    cr_assert(fabsf(want - got) <= tol,
              "%s %s n=%zu: expected %.9g got %.9g error %.3g (tol %.3g)", tier, what, n, want,
              got, fabsf(want - got), tol);
}

/* Every SIMD tier this CPU has (none: the test has nothing to compare and says so). */
static size_t kt_tiers(const struct kernels_ops **out)
{
    size_t n = 0;
    for (int t = KERNELS_TIER_REF + 1; t < KERNELS_TIER_COUNT; t++)
        if (kernels_tier((enum kernels_tier)t))
            out[n++] = kernels_tier((enum kernels_tier)t);
    if (n == 0)
        cr_skip_test("this CPU has no SIMD tier");
    return n;
}
#define FOR_TIERS(k)                                                                         \
    const struct kernels_ops *kt_list[KERNELS_TIER_COUNT];                                   \
    const size_t kt_n = kt_tiers(kt_list);                                                   \
    const struct kernels_ops *ref = kernels_tier(KERNELS_TIER_REF);                          \
    for (size_t kt_i = 0; kt_i < kt_n; kt_i++)                                               \
        for (const struct kernels_ops *k = kt_list[kt_i]; k; k = NULL)

static struct kernels_mat kt_mat(enum kernels_type type, const void *data, size_t stride,
                                 size_t cols)
{
    return (struct kernels_mat){.type = type, .data = data,
                                .row_bytes = stride * kernels_types[type].block_bytes,
                                .cols = cols};
}

Test(kernels, dot_and_axpy)
{
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++) {
            size_t n = SIZES[s];
            float *a = kt_vec(n), *b = kt_vec(n), *y1 = kt_vec(n), *y2 = malloc(n * sizeof *y2);
            float mag = 0;
            for (size_t i = 0; i < n; i++)
                mag += fabsf(a[i] * b[i]);
            kt_close(k->name, "dot", n, ref->dot(a, b, n), k->dot(a, b, n), mag);
            for (size_t i = 0; i < n; i++)
                y2[i] = y1[i];
            ref->axpy(y1, 0.37f, a, n);
            k->axpy(y2, 0.37f, a, n);
            for (size_t i = 0; i < n; i++)
                kt_close(k->name, "axpy", n, y1[i], y2[i], 2.0f);
            free(a), free(b), free(y1), free(y2);
        }
    }
}

/* att_sum_q8_0 of tier k and of the reference over n rows of Q8_0 values (the first hs of
 * each kv row, quantized; rows padded by 6 bytes so the row stride is not the blocks' size)
 * against att_sum on the decoded values, within rounding; att_scores_q8_0 (the same rows as
 * keys, a query quantized from other values of kv): the reference equal to its Q8_0 dot
 * times the scale bit for bit, tier k within rounding */
static void kt_att_sum_q8_0(const struct kernels_ops *k, const struct kernels_ops *ref,
                            const float *w, const float *kv, size_t stride, size_t n, size_t hs)
{
    {
        unsigned char *keys = calloc(n, hs / 32 * 34 + 6), *q8 = calloc(1, hs / 32 * 34);
        const size_t rb = hs / 32 * 34 + 6;
        float *s1 = calloc(n, sizeof *s1), *s2 = calloc(n, sizeof *s2);
        for (size_t i = 0; i < n; i++)
            kernels_types[KERNELS_Q8_0].from_float(kv + i * stride, keys + i * rb, hs);
        kernels_types[KERNELS_Q8_0].from_float(kv + (n - 1) * stride + 1, q8, hs);
        ref->att_scores_q8_0(s1, q8, keys, rb, n, hs, 0.125f);
        k->att_scores_q8_0(s2, q8, keys, rb, n, hs, 0.125f);
        for (size_t i = 0; i < n; i++) {
            const float want = ref->type[KERNELS_Q8_0].dot(keys + i * rb, q8, hs) * 0.125f;
            cr_assert(memcmp(&s1[i], &want, sizeof want) == 0, "ref att_scores_q8_0 key %zu", i);
            kt_close(k->name, "att_scores_q8_0", hs, s1[i], s2[i], (float)hs * 127.0f * 127.0f / 1e4f);
        }
        free(keys), free(q8), free(s1), free(s2);
    }
    const size_t bb = kernels_types[KERNELS_Q8_0].block_bytes, rb = hs / 32 * bb + 6;
    unsigned char *v8 = calloc(n, rb);
    float *dec = malloc(n * hs * sizeof *dec), *o = malloc(hs * sizeof *o);
    float *or = malloc(hs * sizeof *or), *od = malloc(hs * sizeof *od);
    for (size_t i = 0; i < n; i++) {
        kernels_types[KERNELS_Q8_0].from_float(kv + i * stride, v8 + i * rb, hs);
        kernels_types[KERNELS_Q8_0].to_float(v8 + i * rb, dec + i * hs, hs);
    }
    ref->att_sum(od, w, dec, hs, n, hs);
    ref->att_sum_q8_0(or, w, v8, rb, n, hs);
    k->att_sum_q8_0(o, w, v8, rb, n, hs);
    for (size_t d = 0; d < hs; d++) {
        kt_close("ref", "att_sum_q8_0", n, od[d], or[d], (float)n);
        kt_close(k->name, "att_sum_q8_0", n, od[d], o[d], (float)n);
    }
    free(v8), free(dec), free(o), free(or), free(od);
}

/* Attention of one query over n keys: each tier's att_scores equals its own dot times the
 * scale bit for bit and att_sum its own zero-then-axpy sequence (so a prompt's attention
 * equals decode's), on head sizes with and without SIMD tails and key counts around the
 * 8-key block; and both agree with the reference tier within rounding. */
Test(kernels, attention_scores_and_sums_equal_dot_and_axpy)
{
    static const size_t HS[] = {8, 12, 32, 48, 64, 72, 96, 128};
    static const size_t NK[] = {1, 7, 8, 9, 17, 33};
    const struct kernels_ops *tiers[KERNELS_TIER_COUNT];
    size_t nt = 0;
    for (int t = 0; t < KERNELS_TIER_COUNT; t++)
        if (kernels_tier((enum kernels_tier)t))
            tiers[nt++] = kernels_tier((enum kernels_tier)t);
    const struct kernels_ops *ref = kernels_tier(KERNELS_TIER_REF);
    for (size_t a = 0; a < sizeof HS / sizeof HS[0]; a++)
        for (size_t b = 0; b < sizeof NK / sizeof NK[0]; b++) {
            const size_t hs = HS[a], n = NK[b], stride = hs + 5;
            float *q = kt_vec(hs), *kv = kt_vec(n * stride), *w = kt_vec(n);
            float *sc = calloc(n, sizeof *sc), *o = calloc(hs, sizeof *o);
            float *o1 = calloc(hs, sizeof *o1), *sr = calloc(n, sizeof *sr), *orf = calloc(hs, sizeof *orf);
            ref->att_scores(sr, q, kv, stride, n, hs, 0.125f);
            ref->att_sum(orf, w, kv, stride, n, hs);
            for (size_t ti = 0; ti < nt; ti++) {
                const struct kernels_ops *k = tiers[ti];
                k->att_scores(sc, q, kv, stride, n, hs, 0.125f);
                for (size_t i = 0; i < n; i++) {
                    const float want = k->dot(q, kv + i * stride, hs) * 0.125f;
                    cr_assert(memcmp(&sc[i], &want, sizeof want) == 0,
                              "%s att_scores hs=%zu n=%zu key %zu: %.9g, the dot says %.9g",
                              k->name, hs, n, i, sc[i], want);
                    kt_close(k->name, "att_scores", hs, sr[i], sc[i], (float)hs);
                }
                k->att_sum(o, w, kv, stride, n, hs);
                memset(o1, 0, hs * sizeof *o1);
                for (size_t i = 0; i < n; i++)
                    k->axpy(o1, w[i], kv + i * stride, hs);
                cr_assert(memcmp(o, o1, hs * sizeof *o) == 0, "%s att_sum hs=%zu n=%zu differs from axpy",
                          k->name, hs, n);
                for (size_t d = 0; d < hs; d++)
                    kt_close(k->name, "att_sum", n, orf[d], o[d], (float)n);
                /* the fp16 variants equal the float ones on the converted keys / values */
                uint16_t *kvh = malloc(n * stride * sizeof *kvh);
                float *kvr = malloc(n * stride * sizeof *kvr);
                for (size_t i = 0; i < n * stride; i++) {
                    kvh[i] = kernels_float_to_half(kv[i]);
                    kvr[i] = kernels_half_to_float(kvh[i]);
                }
                k->att_scores(sr, q, kvr, stride, n, hs, 0.125f);
                k->att_scores_f16(sc, q, kvh, stride, n, hs, 0.125f);
                cr_assert(memcmp(sc, sr, n * sizeof *sc) == 0, "%s att_scores_f16 hs=%zu n=%zu",
                          k->name, hs, n);
                k->att_sum(o1, w, kvr, stride, n, hs);
                k->att_sum_f16(o, w, kvh, stride, n, hs);
                cr_assert(memcmp(o, o1, hs * sizeof *o) == 0, "%s att_sum_f16 hs=%zu n=%zu",
                          k->name, hs, n);
                free(kvh), free(kvr);
                if (hs % 32 == 0) /* Q8_0 values (kv_type q8_0): the sum on the decoded values */
                    kt_att_sum_q8_0(k, ref, w, kv, stride, n, hs);
                ref->att_scores(sr, q, kv, stride, n, hs, 0.125f); /* restore for the next tier */
            }
            free(q), free(kv), free(w), free(sc), free(o), free(o1), free(sr), free(orf);
        }
}

Test(kernels, f32_matvec_and_gemm)
{
    static const size_t ROWS[] = {1, 3, 4, 5, 17, 25};
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++)
            for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++) {
                size_t cols = SIZES[s], rows = ROWS[r], ntok = 1 + (s % 6);
                float *w = kt_vec(rows * cols), *x = kt_vec(ntok * cols);
                float *o1 = calloc(ntok * rows, sizeof(float)), *o2 = calloc(ntok * rows, sizeof(float));
                struct kernels_mat m = kt_mat(KERNELS_F32, w, cols, cols);
                for (size_t r0 = 0; r0 < 2 && r0 < rows; r0++) {
                    ref->type[KERNELS_F32].matvec(o1, &m, r0, rows, x);
                    k->type[KERNELS_F32].matvec(o2, &m, r0, rows, x);
                    for (size_t i = 0; i < rows - r0; i++)
                        kt_close(k->name, "matvec", cols, o1[i], o2[i], (float)cols);
                }
                /* token-major output (a prompt's activations) */
                ref->type[KERNELS_F32].gemm(o1, 1, rows, &m, 0, rows, x, cols * sizeof(float), ntok);
                k->type[KERNELS_F32].gemm(o2, 1, rows, &m, 0, rows, x, cols * sizeof(float), ntok);
                for (size_t i = 0; i < ntok * rows; i++)
                    kt_close(k->name, "gemm", cols, o1[i], o2[i], (float)cols);
                free(w), free(x), free(o1), free(o2);
            }
    }
}

/* The few-row F32 GEMM (decode batches): 1-17 tokens (every tile shape: 3x4, 4x3, 6x2, 4x1
 * and their mixes), row ranges crossing the 24-row block and its prefetch bound, a nonzero
 * r0, odd widths; against the ref tier; and every output bit-equal to the same token run
 * alone and to the same row at another place (one code path whatever the tile shape). */
Test(kernels, f32_gemm_few_rows_odd_sizes_bit_stable)
{
    static const size_t COLS[] = {7, 17, 33, 65, 291};
    static const size_t ROWS[] = {2, 29, 53};
    FOR_TIERS(k) {
        for (size_t c = 0; c < sizeof COLS / sizeof COLS[0]; c++)
            for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++)
                for (size_t ntok = 1; ntok <= 17; ntok += (ntok < 9 ? 1 : 4)) {
                    const size_t cols = COLS[c], rows = ROWS[r], r0 = rows > 2 ? 1 : 0;
                    float *w = kt_vec(rows * cols), *x = kt_vec(ntok * cols);
                    memcpy(w + (rows - 1) * cols, w + r0 * cols, cols * sizeof *w); /* equal rows */
                    float *o1 = calloc(ntok * rows, sizeof(float)), *o2 = calloc(ntok * rows, sizeof(float));
                    float *o3 = calloc(rows, sizeof(float));
                    struct kernels_mat m = kt_mat(KERNELS_F32, w, cols, cols);
                    const size_t n = rows - r0;
                    ref->type[KERNELS_F32].gemm(o1, 1, n, &m, r0, rows, x, cols * sizeof(float), ntok);
                    k->type[KERNELS_F32].gemm(o2, 1, n, &m, r0, rows, x, cols * sizeof(float), ntok);
                    for (size_t t = 0; t < ntok; t++) {
                        k->type[KERNELS_F32].gemm(o3, 1, n, &m, r0, rows, x + t * cols, cols * sizeof(float), 1);
                        for (size_t i = 0; i < n; i++) {
                            float mag = 0;
                            for (size_t j = 0; j < cols; j++)
                                mag += fabsf(w[(r0 + i) * cols + j] * x[t * cols + j]);
                            kt_close(k->name, "gemm few rows", cols, o1[t * n + i], o2[t * n + i], mag);
                            cr_assert(memcmp(&o3[i], &o2[t * n + i], sizeof(float)) == 0,
                                      "%s token %zu of %zu alone differs (cols %zu row %zu)",
                                      k->name, t, ntok, cols, i);
                        }
                        cr_assert(memcmp(&o2[t * n], &o2[t * n + n - 1], sizeof(float)) == 0,
                                  "%s equal rows differ (cols %zu rows %zu ntok %zu)", k->name,
                                  cols, rows, ntok);
                    }
                    free(w), free(x), free(o1), free(o2), free(o3);
                }
    }
}

Test(kernels, q8g_matvec_and_gemm)
{
    static const size_t GS[] = {16, 32, 64, 5};
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++)
            for (size_t g = 0; g < sizeof GS / sizeof GS[0]; g++) {
                const size_t cols = SIZES[s], rows = 7, gs = GS[g], ntok = 3;
                size_t n = rows * cols;
                if (n % gs != 0)
                    continue;
                int8_t *q = kt_q(n);
                float *sc = kt_vec(n / gs), *x = kt_vec(ntok * cols);
                struct kernels_mat w = {.type = KERNELS_Q8_G, .data = q, .row_bytes = cols,
                                        .cols = cols, .scales = sc, .gs = gs};
                float o1[3 * 7], o2[3 * 7];
                for (size_t r0 = 0; r0 < 2; r0++) {
                    ref->type[KERNELS_Q8_G].matvec(o1, &w, r0, rows, x);
                    k->type[KERNELS_Q8_G].matvec(o2, &w, r0, rows, x);
                    for (size_t i = 0; i < rows - r0; i++)
                        kt_close(k->name, "matvec_q8", cols, o1[i], o2[i], 127.0f * (float)cols);
                    ref->type[KERNELS_Q8_G].gemm(o1, 1, rows, &w, r0, rows, x, cols * sizeof(float), ntok);
                    k->type[KERNELS_Q8_G].gemm(o2, 1, rows, &w, r0, rows, x, cols * sizeof(float), ntok);
                    for (size_t t = 0; t < ntok; t++)
                        for (size_t i = 0; i < rows - r0; i++)
                            kt_close(k->name, "gemm_q8", cols, o1[t * rows + i], o2[t * rows + i],
                                     127.0f * (float)cols);
                }
                /* a row's floats: the definition every path agrees with */
                float row[1023];
                kernels_row_to_float(&w, 1, row);
                for (size_t j = 0; j < cols; j++)
                    cr_assert_eq(row[j], (float)q[cols + j] * sc[(cols + j) / gs]);
                free(q), free(sc), free(x);
            }
    }
}

Test(kernels, rmsnorm_and_softmax)
{
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++) {
            size_t n = SIZES[s];
            float *x = kt_vec(n), *w = kt_vec(n), *o1 = malloc(n * 4), *o2 = malloc(n * 4);
            ref->rmsnorm(o1, x, w, n, 1e-5f);
            k->rmsnorm(o2, x, w, n, 1e-5f);
            for (size_t i = 0; i < n; i++)
                kt_close(k->name, "rmsnorm", n, o1[i], o2[i], 1.0f);
            for (size_t i = 0; i < n; i++)
                o1[i] = o2[i] = 8.0f * x[i];
            ref->softmax(o1, n);
            k->softmax(o2, n);
            float sum = 0;
            for (size_t i = 0; i < n; i++) {
                kt_close(k->name, "softmax", n, o1[i], o2[i], 1.0f);
                sum += o2[i];
            }
            cr_assert(fabsf(sum - 1.0f) < 1e-5f, "softmax n=%zu sums to %g", n, sum);
            free(x), free(w), free(o1), free(o2);
        }
    }
}

/* ---- word-vector shapes: padded strides, f16 and int8 rows ---- */

Test(kernels, f32_rows_with_stride)
{
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++) {
            size_t n = SIZES[s], stride = n + 3;
            float *rows = kt_vec(KT_MAX_ROWS * stride), *q = kt_vec(n);
            struct kernels_mat m = kt_mat(KERNELS_F32, rows, stride, n);
            for (size_t nr = 1; nr <= KT_MAX_ROWS; nr++) {
                float a[KT_MAX_ROWS], b[KT_MAX_ROWS];
                ref->type[KERNELS_F32].matvec(a, &m, 0, nr, q);
                k->type[KERNELS_F32].matvec(b, &m, 0, nr, q);
                for (size_t r = 0; r < nr; r++) {
                    float mag = 0;
                    for (size_t i = 0; i < n; i++)
                        mag += fabsf(rows[r * stride + i] * q[i]);
                    kt_close(k->name, "matvec f32 rows", n, a[r], b[r], mag);
                }
            }
            free(rows), free(q);
        }
    }
}

Test(kernels, f16_rows)
{
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++) {
            size_t n = SIZES[s], stride = n + 5;
            uint16_t *rows = malloc(KT_MAX_ROWS * stride * sizeof(uint16_t));
            float *q = kt_vec(n);
            for (size_t i = 0; i < KT_MAX_ROWS * stride; i++)
                rows[i] = kernels_float_to_half(kt_rand());
            struct kernels_mat m = kt_mat(KERNELS_F16, rows, stride, n);
            for (size_t nr = 1; nr <= KT_MAX_ROWS; nr++) {
                float a[KT_MAX_ROWS], b[KT_MAX_ROWS];
                ref->type[KERNELS_F16].matvec(a, &m, 0, nr, q);
                k->type[KERNELS_F16].matvec(b, &m, 0, nr, q);
                for (size_t r = 0; r < nr; r++) {
                    float mag = 0;
                    for (size_t i = 0; i < n; i++)
                        mag += fabsf(kernels_half_to_float(rows[r * stride + i]) * q[i]);
                    kt_close(k->name, "matvec f16", n, a[r], b[r], mag);
                    kt_close(k->name, "dot f16", n, a[r],
                             k->type[KERNELS_F16].dot(rows + r * stride, q, n), mag);
                }
            }
            free(rows), free(q);
        }
    }
}

Test(kernels, i8_rows_exactly)
{
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++) {
            size_t n = SIZES[s], stride = n + 1;
            int8_t *rows = kt_q(KT_MAX_ROWS * stride), *q = kt_q(n);
            if (n > 2) { /* the extremes: |x| = |q| = 127 must not saturate a pair */
                rows[0] = rows[1] = 127;
                q[0] = q[1] = -127;
            }
            struct kernels_mat m = kt_mat(KERNELS_I8, rows, stride, n);
            for (size_t nr = 1; nr <= KT_MAX_ROWS; nr++) {
                float a[KT_MAX_ROWS], b[KT_MAX_ROWS];
                ref->type[KERNELS_I8].matvec(a, &m, 0, nr, q);
                k->type[KERNELS_I8].matvec(b, &m, 0, nr, q);
                for (size_t r = 0; r < nr; r++)
                    cr_expect_eq(a[r], b[r], "%s i8 n=%zu row=%zu expected %.0f got %.0f",
                                 k->name, n, r, a[r], b[r]);
            }
            free(rows), free(q);
        }
    }
}

Test(kernels, gemm_rows_by_queries_equals_ref_and_matvec)
{
    FOR_TIERS(k) {
        for (size_t s = 0; s < N_SIZES; s++) {
            size_t n = SIZES[s], stride = n + 2;
            float *rows = kt_vec(KT_MAX_ROWS * stride), *qs = kt_vec(KT_MAX_Q * stride);
            struct kernels_mat m = kt_mat(KERNELS_F32, rows, stride, n);
            for (size_t nr = 1; nr <= KT_MAX_ROWS; nr += 2)
                for (size_t nq = 1; nq <= KT_MAX_Q; nq++) {
                    float a[KT_MAX_ROWS * KT_MAX_Q], b[KT_MAX_ROWS * KT_MAX_Q], c[KT_MAX_ROWS];
                    /* row-major output (word vectors x queries) */
                    ref->type[KERNELS_F32].gemm(a, nq, 1, &m, 0, nr, qs, stride * sizeof(float), nq);
                    k->type[KERNELS_F32].gemm(b, nq, 1, &m, 0, nr, qs, stride * sizeof(float), nq);
                    for (size_t j = 0; j < nq; j++) {
                        /* the batch and single paths sum in different orders: agree to rounding */
                        k->type[KERNELS_F32].matvec(c, &m, 0, nr, qs + j * stride);
                        for (size_t r = 0; r < nr; r++) {
                            float mag = 0;
                            for (size_t i = 0; i < n; i++)
                                mag += fabsf(rows[r * stride + i] * qs[j * stride + i]);
                            kt_close(k->name, "gemm", n, a[r * nq + j], b[r * nq + j], mag);
                            kt_close(k->name, "gemm vs matvec", n, c[r], b[r * nq + j], mag);
                        }
                    }
                }
            free(rows), free(qs);
        }
    }
}

Test(kernels, a_row_scores_the_same_wherever_it_sits)
{
    for (int t = 0; t < KERNELS_TIER_COUNT; t++) {
        const struct kernels_ops *k = kernels_tier((enum kernels_tier)t);
        if (!k)
            continue;
        size_t n = 33, stride = 40;
        float rows[7 * 40], q[40], out[7], one;
        for (size_t i = 0; i < stride; i++)
            q[i] = kt_rand();
        for (size_t i = 0; i < stride; i++)
            rows[i] = kt_rand();
        for (size_t r = 1; r < 7; r++)
            memcpy(rows + r * stride, rows, stride * sizeof(float));
        struct kernels_mat m = kt_mat(KERNELS_F32, rows, stride, n);
        k->type[KERNELS_F32].matvec(out, &m, 0, 7, q);
        for (size_t r = 1; r < 7; r++) {
            cr_expect(out[r] == out[0], "%s row %zu: %.9g vs %.9g", k->name, r, out[r], out[0]);
            k->type[KERNELS_F32].matvec(&one, &m, r, r + 1, q);
            cr_expect(one == out[0], "%s row %zu alone: %.9g vs %.9g", k->name, r, one, out[0]);
        }
    }
}

/* The avx512 tier sums every float32 output in one order (avx512.c): its matvec rows are its
 * dot bit for bit, and each GEMM output (prompt tiles of up to 6 tokens, split evenly) is the
 * matvec of that token, so a prompt's logits equal decode's and a stream's equal it alone. */
Test(kernels, avx512_f32_dot_matvec_gemm_bit_equal)
{
    const struct kernels_ops *k = kernels_tier(KERNELS_TIER_AVX512);
    if (!k)
        cr_skip_test("this CPU has no AVX-512");
    static const size_t ROWS[] = {1, 3, 4, 5, 17};
    static const size_t NTOK[] = {1, 2, 5, 7, 13, 64};
    for (size_t s = 0; s < N_SIZES; s++)
        for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++)
            for (size_t q = 0; q < sizeof NTOK / sizeof NTOK[0]; q++) {
                const size_t cols = SIZES[s], rows = ROWS[r], ntok = NTOK[q], stride = cols + 3;
                float *w = kt_vec(rows * stride), *x = kt_vec(ntok * cols);
                float *o = calloc(ntok * rows, sizeof *o), *mv = calloc(rows, sizeof *mv);
                struct kernels_mat m = kt_mat(KERNELS_F32, w, stride, cols);
                k->type[KERNELS_F32].gemm(o, 1, rows, &m, 0, rows, x, cols * sizeof(float), ntok);
                for (size_t t = 0; t < ntok; t++) {
                    k->type[KERNELS_F32].matvec(mv, &m, 0, rows, x + t * cols);
                    for (size_t i = 0; i < rows; i++) {
                        const float d = k->dot(w + i * stride, x + t * cols, cols);
                        cr_assert(memcmp(&mv[i], &d, sizeof d) == 0,
                                  "matvec row %zu != dot (cols %zu)", i, cols);
                        cr_assert(memcmp(&o[t * rows + i], &d, sizeof d) == 0,
                                  "gemm token %zu of %zu row %zu != dot (cols %zu)", t, ntok, i, cols);
                    }
                }
                free(w), free(x), free(o), free(mv);
            }
    /* a matvec range of more than 1 MB runs as two streams (odd row count: one left over) */
    const size_t rows = 257, cols = 1021;
    float *w = kt_vec(rows * cols), *x = kt_vec(cols), *mv = calloc(rows, sizeof *mv);
    struct kernels_mat m = kt_mat(KERNELS_F32, w, cols, cols);
    k->type[KERNELS_F32].matvec(mv, &m, 0, rows, x);
    for (size_t i = 0; i < rows; i++) {
        const float d = k->dot(w + i * cols, x, cols);
        cr_assert(memcmp(&mv[i], &d, sizeof d) == 0, "two-stream matvec row %zu != dot", i);
    }
    free(w), free(x), free(mv);
}

/* A block of queries (a prompt's rows) over fp16 keys / values: each query's scores and sum
 * equal the one-query ops of the same tier bit for bit (so a prompt's attention still equals
 * decode's), for head sizes with and without SIMD tails (and one above the avx512 tier's stack
 * block), query counts around its 8-query tile, key counts around its 16-key block, and every
 * query seeing its own number of values (causal: base + j). */
Test(kernels, attention_query_blocks_equal_one_query)
{
    static const size_t HS[] = {8, 12, 40, 48, 64, 72, 100, 128, 264};
    static const size_t NQ[] = {1, 2, 3, 5, 8, 9, 13};
    static const size_t BASE[] = {1, 7, 16, 17, 33};
    for (int t = 0; t < KERNELS_TIER_COUNT; t++) {
        const struct kernels_ops *k = kernels_tier((enum kernels_tier)t);
        if (!k)
            continue;
        for (size_t a = 0; a < sizeof HS / sizeof HS[0]; a++)
            for (size_t b = 0; b < sizeof NQ / sizeof NQ[0]; b++)
                for (size_t c = 0; c < sizeof BASE / sizeof BASE[0]; c++) {
                    const size_t hs = HS[a], nq = NQ[b], nk = BASE[c] + nq - 1;
                    const size_t stride = hs + 3, qs = hs + 7, ld = nk + 2, os = hs + 5;
                    float *q = kt_vec(nq * qs), *kv = kt_vec(nk * stride), *w = kt_vec(nq * ld);
                    uint16_t *kh = malloc(nk * stride * sizeof *kh);
                    for (size_t i = 0; i < nk * stride; i++)
                        kh[i] = kernels_float_to_half(kv[i] * 4.0f);
                    float *sc = calloc(nq * ld, sizeof *sc), *s1 = calloc(nk, sizeof *s1);
                    float *o = calloc(nq * os, sizeof *o), *o1 = calloc(hs, sizeof *o1);
                    size_t n[16];
                    for (size_t j = 0; j < nq; j++)
                        n[j] = BASE[c] + j;
                    k->att_scores_f16_multi(sc, ld, q, qs, nq, kh, stride, nk, hs, 0.125f);
                    k->att_sum_f16_multi(o, os, w, ld, nq, kh, stride, n, hs);
                    for (size_t j = 0; j < nq; j++) {
                        k->att_scores_f16(s1, q + j * qs, kh, stride, nk, hs, 0.125f);
                        cr_assert(memcmp(sc + j * ld, s1, nk * sizeof *s1) == 0,
                                  "%s att_scores_f16_multi hs=%zu nq=%zu keys=%zu query %zu",
                                  k->name, hs, nq, nk, j);
                        k->att_sum_f16(o1, w + j * ld, kh, stride, n[j], hs);
                        cr_assert(memcmp(o + j * os, o1, hs * sizeof *o1) == 0,
                                  "%s att_sum_f16_multi hs=%zu nq=%zu n=%zu query %zu", k->name,
                                  hs, nq, n[j], j);
                    }
                    free(q), free(kv), free(w), free(kh), free(sc), free(s1), free(o), free(o1);
                }
    }
}

/* Every tier's resolved table has every vector op (a tier writes some; select.c fills the
 * rest from the tier below). */
Test(kernels, every_tier_has_every_vec_op)
{
    for (int t = 0; t < KERNELS_TIER_COUNT; t++) {
        const struct kernels_ops *k = kernels_tier((enum kernels_tier)t);
        if (!k)
            continue;
        cr_assert(k->rmsnorm && k->softmax && k->axpy && k->round_f16 && k->to_f16 &&
                      k->att_scores && k->att_sum && k->att_scores_f16 && k->att_sum_f16 &&
                      k->att_sum_q8_0 && k->att_scores_q8_0 && k->layernorm && k->exp_sum &&
                      k->att_scores_f16_multi && k->att_sum_f16_multi,
                  "%s misses a vector op", k->name);
    }
}

Test(kernels, half_round_trip_and_rounding)
{
    for (uint32_t h = 0; h < 0x10000u; h++) {
        uint16_t x = (uint16_t)h;
        if ((x & 0x7c00u) == 0x7c00u && (x & 0x3ffu))
            continue; /* NaN payloads */
        float f = kernels_half_to_float(x);
        cr_assert_eq(kernels_float_to_half(f), x, "half 0x%04x -> %g -> 0x%04x", x, f,
                     kernels_float_to_half(f));
    }
    cr_expect_eq(kernels_float_to_half(1.0f), 0x3c00);
    cr_expect_eq(kernels_float_to_half(65504.0f), 0x7bff);
    cr_expect_eq(kernels_float_to_half(65520.0f), 0x7c00);       /* rounds to inf */
    cr_expect_eq(kernels_float_to_half(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    cr_expect_eq(kernels_float_to_half(1.0f + 3.0f / 2048), 0x3c02); /* tie to even, up */
    cr_expect_eq(kernels_float_to_half(5.9604645e-08f), 0x0001);  /* smallest subnormal */
    cr_expect_eq(kernels_float_to_half(2.9802322e-08f), 0x0000);  /* half of it: tie to even 0 */
}

Test(kernels, every_type_row_is_complete)
{
    for (int ty = 0; ty < KERNELS_TYPE_COUNT; ty++) {
        const struct kernels_type_traits *tr = &kernels_types[ty];
        cr_assert(tr->name && tr->block_size > 0 && tr->block_bytes > 0, "type %d", ty);
        cr_assert(tr->tier[KERNELS_TIER_REF].matvec && tr->tier[KERNELS_TIER_REF].gemm,
                  "%s: the ref column must be complete", tr->name);
        for (int t = 0; t < KERNELS_TIER_COUNT; t++) {
            const struct kernels_ops *k = kernels_tier((enum kernels_tier)t);
            if (k)
                cr_assert(k->type[ty].matvec && k->type[ty].gemm, "%s %s", k->name, tr->name);
        }
    }
}

struct kt_cover {
    _Atomic int *hits;
};
static void kt_mark(void *ctx, size_t b, size_t e)
{
    struct kt_cover *c = ctx;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

Test(kernels, team_covers_every_item_once)
{
    /* each thread's own range, then chunks taken from the back of the others' (3 and 4
     * threads on 2 cores: helpers get descheduled, so their ranges are taken over); many
     * dispatches in a row, so a helper late from one job meets the next one */
    for (int threads = 2; threads <= 4; threads++) {
        kernels_threads_set(threads);
        static const size_t N[] = {1, 2, 3, 7, 100, 1023, 40000};
        for (int rep = 0; rep < 20; rep++)
            for (size_t k = 0; k < sizeof N / sizeof N[0]; k++)
                for (size_t chunk = 1; chunk <= 64; chunk *= 4) {
                    _Atomic int *hits = calloc(N[k], sizeof *hits);
                    struct kt_cover c = {hits};
                    kernels_parallel_for(N[k], chunk, kt_mark, &c);
                    for (size_t i = 0; i < N[k]; i++)
                        cr_assert_eq(hits[i], 1, "threads=%d n=%zu chunk=%zu item %zu ran %d times",
                                     threads, N[k], chunk, i, (int)hits[i]);
                    free((void *)hits);
                }
    }
    kernels_threads_set(0);
}

Test(kernels, select_honours_env)
{
    const struct kernels_ops *k = kernels_select();
    cr_assert(k == kernels_tier(k->tier));
    const char *env = getenv("LMSERVE_KERNELS");
    static const char *const names[] = {"ref", "avx2", "avx512"};
    for (int t = 0; t < KERNELS_TIER_COUNT; t++)
        if (env && strcmp(env, names[t]) == 0 && kernels_tier((enum kernels_tier)t))
            cr_assert_eq(k->tier, t);
    if (!env || !*env) /* the best the CPU has */
        for (int t = k->tier + 1; t < KERNELS_TIER_COUNT; t++)
            cr_assert_null(kernels_tier((enum kernels_tier)t));
}
