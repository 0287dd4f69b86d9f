/* test_quant.c: ggml's block formats: our to_float against gguf-py's NumPy dequantizers
 * (tests/ref/gguf_quant_ref.py made quant_ref.bin), every dot against the float dot of the
 * dequantized operands, every tier against ref, and the activation quantizers' rounding. */
#include "../../../../models/kernels/quant_internal.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE "tests/unit/models/kernels/quant_ref.bin"

struct rec {
    char name[9];
    uint32_t n, bytes;
    unsigned char *raw;
    float *vals;
};

static size_t load(struct rec *r, size_t max)
{
    FILE *f = fopen(FIXTURE, "rb");
    cr_assert_not_null(f, "%s missing (run make test from the repo root)", FIXTURE);
    size_t k = 0;
    while (k < max && fread(r[k].name, 1, 8, f) == 8) {
        r[k].name[8] = 0;
        cr_assert_eq(fread(&r[k].n, 4, 1, f), 1);
        cr_assert_eq(fread(&r[k].bytes, 4, 1, f), 1);
        r[k].raw = malloc(r[k].bytes);
        r[k].vals = malloc(r[k].n * sizeof(float));
        cr_assert_eq(fread(r[k].raw, 1, r[k].bytes, f), r[k].bytes);
        cr_assert_eq(fread(r[k].vals, 4, r[k].n, f), r[k].n);
        k++;
    }
    fclose(f);
    return k;
}

static enum kernels_type type_of(const char *name)
{
    for (int t = 0; t < KERNELS_TYPE_COUNT; t++)
        if (strcmp(kernels_types[t].name, name) == 0)
            return (enum kernels_type)t;
    cr_assert_fail("no type %s", name);
    return KERNELS_F32;
}

Test(quant, to_float_matches_gguf_py)
{
    struct rec r[16];
    size_t n = load(r, 16);
    cr_assert_eq(n, 10);
    for (size_t k = 0; k < n; k++) {
        const enum kernels_type t = type_of(r[k].name);
        const struct kernels_type_traits *tr = &kernels_types[t];
        cr_assert_eq(r[k].bytes, r[k].n / tr->block_size * tr->block_bytes, "%s", r[k].name);
        float *got = malloc(r[k].n * sizeof(float));
        tr->to_float(r[k].raw, got, r[k].n);
        for (uint32_t i = 0; i < r[k].n; i++) {
            const float want = r[k].vals[i];
            cr_assert(fabsf(got[i] - want) <= 1e-6f * fabsf(want) + 1e-30f,
                      "%s value %u: %.9g, gguf-py %.9g", r[k].name, i, got[i], want);
        }
        free(got);
        free(r[k].raw);
        free(r[k].vals);
    }
}

static float rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f) * 4.0f;
}

/* Every weight type: dot(w, quantize(x)) == sum of dequantized products (up to float
 * rounding), in every tier, through dot, matvec and gemm. */
Test(quant, dots_match_dequantized_products)
{
    struct rec r[16];
    size_t n = load(r, 16);
    for (size_t k = 0; k < n; k++) {
        const enum kernels_type t = type_of(r[k].name);
        const struct kernels_type_traits *tr = &kernels_types[t];
        const struct kernels_type_traits *at = &kernels_types[tr->vec_dot_type];
        const size_t cols = r[k].n;
        float *x = malloc(cols * sizeof(float)), *xf = malloc(cols * sizeof(float));
        unsigned seed = 7u + (unsigned)k;
        for (size_t i = 0; i < cols; i++)
            x[i] = rnd(&seed);
        void *xq = malloc(cols / at->block_size * at->block_bytes + 64);
        if (at->from_float) {
            at->from_float(x, xq, cols);
            at->to_float(xq, xf, cols);
        } else {
            memcpy(xq, x, cols * sizeof(float));
            memcpy(xf, x, cols * sizeof(float));
        }
        double want = 0, mag = 0;
        for (size_t i = 0; i < cols; i++) {
            want += (double)r[k].vals[i] * xf[i];
            mag += fabs((double)r[k].vals[i] * xf[i]);
        }
        /* one row; and the same row twice as a 2-row matrix for matvec/gemm */
        unsigned char *two = malloc(2 * r[k].bytes);
        memcpy(two, r[k].raw, r[k].bytes);
        memcpy(two + r[k].bytes, r[k].raw, r[k].bytes);
        const struct kernels_mat m = {.type = t, .data = two, .row_bytes = r[k].bytes, .cols = cols};
        for (int tier = 0; tier < KERNELS_TIER_COUNT; tier++) {
            const struct kernels_ops *ops = kernels_tier((enum kernels_tier)tier);
            if (!ops)
                continue;
            const struct kernels_entries *e = &ops->type[t];
            const float got = e->dot(r[k].raw, xq, cols);
            cr_assert(fabs(got - want) <= 2e-5 * mag + 1e-6, "%s %s dot %.7g, want %.7g (mag %g)",
                      ops->name, r[k].name, got, want, mag);
            float out[2], g[4];
            e->matvec(out, &m, 0, 2, xq);
            cr_assert(out[0] == out[1] && fabsf(out[0] - got) <= 1e-5f * (float)mag + 1e-6f,
                      "%s %s matvec %g %g vs dot %g", ops->name, r[k].name, out[0], out[1], got);
            e->gemm(g, 2, 1, &m, 0, 2, xq, 0, 2); /* two tokens, the same x */
            for (int j = 0; j < 4; j++)
                cr_assert(fabsf(g[j] - out[0]) <= 1e-5f * (float)mag + 1e-6f, "%s %s gemm[%d]",
                          ops->name, r[k].name, j);
        }
        free(two);
        free(xq);
        free(x);
        free(xf);
        free(r[k].raw);
        free(r[k].vals);
    }
}

Test(quant, activation_rounding_is_ggmls)
{
    /* Q8_0: scale amax/127 in fp16, values rounded half to even */
    float x[32] = {0};
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -3.5f;
    x[3] = 0.5f;
    struct block_q8_0 b;
    quant_from_float_q8_0(x, &b, 32);
    cr_assert_eq(kernels_half_to_float(b.d), 1.0f);
    cr_assert_eq(b.qs[0], 127);
    cr_assert_eq(b.qs[1], 2);
    cr_assert_eq(b.qs[2], -4);
    cr_assert_eq(b.qs[3], 0);
    /* Q8_K: the signed max maps to -127 * (1/iscale) ... d = max / -127 */
    static float y[256];
    y[5] = -254.0f;
    y[6] = 1.0f;
    struct block_q8_K k;
    quant_from_float_q8_K(y, &k, 256);
    cr_assert_float_eq(k.d, 2.0f, 1e-7);
    cr_assert_eq(k.qs[5], -127);
    cr_assert_eq(k.qs[6], 0); /* 0.5 -> 0, to even */
    cr_assert_eq(k.bsums[0], -127);
    /* weights (converter): roundf, half away from zero */
    x[1] = 2.5f;
    quant_from_float_q8_0_weights(x, &b, 32);
    cr_assert_eq(b.qs[1], 3);
}

/* The converter's weight quantizers round-trip within their step. */
Test(quant, weight_quantizers_round_trip)
{
    static float x[512], back[512];
    static unsigned char buf[512 * 2];
    unsigned seed = 3;
    for (int i = 0; i < 512; i++)
        x[i] = rnd(&seed);
    struct { enum kernels_type t; void (*q)(const float *, void *, size_t); float tol; } cases[] = {
        {KERNELS_Q8_0, quant_from_float_q8_0_weights, 2.0f / 127 * 0.51f},
        {KERNELS_Q4_0, quant_from_float_q4_0_weights, 2.0f / 8 + 1e-3f}, /* -8..7: one step lost at +max */
        {KERNELS_Q4_K, quant_from_float_q4_K_weights, 4.0f / 15 * 0.75f},
    };
    for (size_t c = 0; c < 3; c++) {
        cases[c].q(x, buf, 512);
        kernels_types[cases[c].t].to_float(buf, back, 512);
        for (int i = 0; i < 512; i++)
            cr_assert(fabsf(back[i] - x[i]) <= cases[c].tol, "%s value %d: %g -> %g",
                      kernels_types[cases[c].t].name, i, x[i], back[i]);
    }
}

/* The tiled prompt GEMMs and the decode matvecs: 7 rows x 15 tokens (a tile of 8, one of 4 and a remainder of 3) of
 * odd block counts, output strides as forward.c uses them; in every tier each output equals
 * that tier's dot bit for bit, and agrees with the reference tier within rounding. */
Test(quant, gemm_tiles_equal_the_dot_on_odd_sizes)
{
    static const struct {
        enum kernels_type t;
        void (*quant)(const float *, void *, size_t);
        size_t cols;
    } cases[] = {
        {KERNELS_Q8_0, quant_from_float_q8_0_weights, 5 * 32},
        {KERNELS_Q4_0, quant_from_float_q4_0_weights, 3 * 32},
        {KERNELS_Q4_K, quant_from_float_q4_K_weights, 3 * 256},
        {KERNELS_Q5_0, NULL, 3 * 32}, /* random blocks with a sane fp16 scale */
        {KERNELS_Q6_K, NULL, 3 * 256}, /* (its scale is the block's last 2 bytes) */
    };
    enum { ROWS = 20, TOK = 15 }; /* tokens: a tile of 8, one of 4 and 3 through the dot; rows 1..19: 2 groups of 8 and 3 */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct kernels_type_traits *tr = &kernels_types[cases[c].t];
        const struct kernels_type_traits *at = &kernels_types[tr->vec_dot_type];
        const size_t cols = cases[c].cols, rb = cols / tr->block_size * tr->block_bytes;
        const size_t xs = cols / at->block_size * at->block_bytes;
        float *f = malloc(cols * sizeof(float));
        unsigned char *w = malloc(ROWS * rb), *xq = malloc(TOK * xs);
        unsigned seed = 99u + (unsigned)c;
        for (size_t r = 0; r < ROWS; r++) {
            for (size_t i = 0; i < cols; i++)
                f[i] = rnd(&seed);
            if (cases[c].quant) {
                cases[c].quant(f, w + r * rb, cols);
                continue;
            }
            for (size_t i = 0; i < rb; i++)
                w[r * rb + i] = (unsigned char)((int)(rnd(&seed) * 1000.0f) & 0xff);
            for (size_t b = 0; b < cols / tr->block_size; b++) { /* d = 0.01 as fp16 */
                const uint16_t d = kernels_float_to_half(0.01f);
                const size_t d_at = cases[c].t == KERNELS_Q6_K ? tr->block_bytes - 2 : 0;
                memcpy(w + r * rb + b * tr->block_bytes + d_at, &d, 2);
            }
        }
        for (size_t t = 0; t < TOK; t++) {
            for (size_t i = 0; i < cols; i++)
                f[i] = rnd(&seed);
            at->from_float(f, xq + t * xs, cols);
        }
        const struct kernels_mat m = {.type = cases[c].t, .data = w, .row_bytes = rb, .cols = cols};
        float ref[ROWS * TOK], got[ROWS * TOK];
        kernels_tier(KERNELS_TIER_REF)->type[cases[c].t].gemm(ref, 1, ROWS, &m, 0, ROWS, xq, xs, TOK);
        for (int tier = 0; tier < KERNELS_TIER_COUNT; tier++) {
            const struct kernels_ops *ops = kernels_tier((enum kernels_tier)tier);
            if (!ops)
                continue;
            const struct kernels_entries *e = &ops->type[cases[c].t];
            /* rows 1..6 only: an offset r0 as the thread team hands out */
            e->gemm(got, 1, ROWS, &m, 1, ROWS, xq, xs, TOK);
            for (size_t r = 1; r < ROWS; r++)
                for (size_t t = 0; t < TOK; t++) {
                    const float g = got[(r - 1) + t * ROWS];
                    const float d = e->dot(w + r * rb, xq + t * xs, cols);
                    const float want = ref[r + t * ROWS];
                    cr_assert(g == d, "%s %s gemm[%zu,%zu] %.9g != dot %.9g", ops->name,
                              tr->name, r, t, g, d);
                    cr_assert(fabsf(g - want) <= 1e-4f * (1.0f + fabsf(want)),
                              "%s %s gemm[%zu,%zu] %.9g vs ref %.9g", ops->name, tr->name, r, t,
                              g, want);
                }
            /* the decode matvec (4-row blocks and a remainder) equals the dot bit for bit */
            for (size_t t = 0; t < TOK; t++) {
                e->matvec(got, &m, 1, ROWS, xq + t * xs);
                for (size_t r = 1; r < ROWS; r++) {
                    const float d = e->dot(w + r * rb, xq + t * xs, cols);
                    cr_assert(got[r - 1] == d, "%s %s matvec[%zu] token %zu %.9g != dot %.9g",
                              ops->name, tr->name, r, t, got[r - 1], d);
                }
            }
        }
        free(f);
        free(w);
        free(xq);
    }
}

/* Interleaved Q4_0 / Q5_0 / Q8_0 / Q4_K matrices (8-row groups, kernels_interleave): 24 rows of odd block
 * counts; in every tier the GEMM (batches of 1..19 tokens: avx2 tiles of 1-4 tokens, avx512 of
 * 1-8 tokens x 16 rows and an odd group of 8 alone), the matvec and
 * the rows' floats equal the ref dot / to_float of the plain rows bit for bit, also over a
 * range that starts and ends inside a group (rows 3..21, as a thread team may hand out), and
 * with output rows strided (out_row > 1). */
Test(quant, interleaved_rows_equal_the_ref_dot)
{
    static const struct {
        enum kernels_type t;
        void (*quant)(const float *, void *, size_t);
        size_t cols;
    } cases[] = {
        {KERNELS_Q8_0, quant_from_float_q8_0_weights, 5 * 32},
        {KERNELS_Q4_0, quant_from_float_q4_0_weights, 3 * 32},
        {KERNELS_Q4_0, quant_from_float_q4_0_weights, 1 * 32},
        {KERNELS_Q4_0, quant_from_float_q4_0_weights, 64 * 32}, /* 110M's w2 rows */
        /* past quant_avx512.c's packed tiles (256 blocks): the unpacked ones */
        {KERNELS_Q8_0, quant_from_float_q8_0_weights, 257 * 32},
        {KERNELS_Q5_0, NULL, 3 * 32}, /* random blocks with a sane fp16 scale */
        {KERNELS_Q4_K, quant_from_float_q4_K_weights, 2 * 256},
    };
    enum { ROWS = 24, TOK = 19, R0 = 3, R1 = 21 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct kernels_type_traits *tr = &kernels_types[cases[c].t];
        const struct kernels_type_traits *at = &kernels_types[tr->vec_dot_type];
        const size_t cols = cases[c].cols, rb = cols / tr->block_size * tr->block_bytes;
        const size_t xs = cols / at->block_size * at->block_bytes;
        float *f = malloc(cols * sizeof(float)), *g = malloc(cols * sizeof(float));
        unsigned char *w = malloc(ROWS * rb), *xq = malloc(TOK * xs);
        unsigned seed = 7u + (unsigned)c;
        for (size_t r = 0; r < ROWS; r++) {
            for (size_t i = 0; i < cols; i++)
                f[i] = rnd(&seed) * (float)(1 + r % 5);
            if (cases[c].quant) {
                cases[c].quant(f, w + r * rb, cols);
                continue;
            }
            for (size_t i = 0; i < rb; i++)
                w[r * rb + i] = (unsigned char)((int)(rnd(&seed) * 1000.0f) & 0xff);
            for (size_t b = 0; b < cols / tr->block_size; b++) { /* d = 0.01 as fp16 */
                const uint16_t d = kernels_float_to_half(0.01f);
                memcpy(w + r * rb + b * tr->block_bytes, &d, 2);
            }
        }
        for (size_t t = 0; t < TOK; t++) {
            for (size_t i = 0; i < cols; i++)
                f[i] = rnd(&seed) * (t == 3 ? 100.0f : 1.0f);
            at->from_float(f, xq + t * xs, cols);
        }
        const struct kernels_mat m = {.type = cases[c].t, .data = w, .row_bytes = rb, .cols = cols};
        cr_assert(kernels_can_interleave(&m, ROWS));
        cr_assert(!kernels_can_interleave(&m, ROWS - 1));
        const size_t rbi = kernels_interleaved_row_bytes(&m);
        unsigned char *wi = malloc(ROWS * rbi);
        kernels_interleave(&m, ROWS, wi);
        const struct kernels_mat mi = {.type = cases[c].t, .data = wi, .row_bytes = rbi,
                                       .cols = cols, .interleave = KERNELS_INTERLEAVE};
        const kernels_dot_fn dot = tr->tier[KERNELS_TIER_REF].dot;
        for (size_t r = 0; r < ROWS; r++) {
            kernels_row_to_float(&m, r, f);
            kernels_row_to_float(&mi, r, g);
            cr_assert(memcmp(f, g, cols * sizeof(float)) == 0, "%s row %zu floats", tr->name, r);
        }
        for (int tier = 0; tier < KERNELS_TIER_COUNT; tier++) {
            const struct kernels_ops *ops = kernels_tier((enum kernels_tier)tier);
            if (!ops)
                continue;
            const struct kernels_entries *e = &ops->type[cases[c].t];
            for (size_t span = 0; span < 2; span++) {
                const size_t r0 = span ? R0 : 0, r1 = span ? R1 : ROWS, n = r1 - r0;
                float got[ROWS * TOK], strided[2 * ROWS * TOK];
                /* batches of 1..19 tokens: every tile size and whole tiles + a remainder */
                for (size_t nt = 1; nt <= TOK; nt++) {
                    e->gemm(got, 1, n, &mi, r0, r1, xq, xs, nt);
                    e->gemm(strided, 2 * TOK, 1, &mi, r0, r1, xq, xs, nt);
                    for (size_t r = r0; r < r1; r++)
                        for (size_t t = 0; t < nt; t++) {
                            const float want = dot(w + r * rb, xq + t * xs, cols);
                            const float a = got[(r - r0) + t * n], b = strided[(r - r0) * 2 * TOK + t];
                            cr_assert(a == want && b == want,
                                      "%s %s gemm of %zu tokens [%zu,%zu] %.9g %.9g != %.9g",
                                      ops->name, tr->name, nt, r, t, a, b, want);
                        }
                }
                for (size_t t = 0; t < TOK; t++) {
                    e->matvec(got, &mi, r0, r1, xq + t * xs);
                    for (size_t r = r0; r < r1; r++) {
                        const float want = dot(w + r * rb, xq + t * xs, cols);
                        cr_assert(got[r - r0] == want, "%s %s matvec[%zu] token %zu %.9g != %.9g",
                                  ops->name, tr->name, r, t, got[r - r0], want);
                    }
                }
            }
        }
        free(f);
        free(g);
        free(w);
        free(wi);
        free(xq);
    }
}

/* The tiers' activation quantizers and fp16 rounding equal the reference bit for bit: random
 * values, an all-zero block, exact .5 ties after scaling, fp16 subnormals, ties and overflow. */
Test(quant, tier_quantizers_and_f16_rounding_equal_ref)
{
    enum { N = 8 * 32 }; /* 8 Q8_0 blocks, one Q8_K block */
    float x[N];
    unsigned seed = 5u;
    for (int i = 0; i < N; i++)
        x[i] = rnd(&seed) * (i < 96 ? 1.0f : 1e-3f);
    for (int i = 32; i < 64; i++)
        x[i] = 0.0f;
    for (int i = 64; i < 96; i++) /* amax 127: every value k + 0.5 is a tie */
        x[i] = i == 64 ? 127.0f : (float)(i - 90) + 0.5f;
    const struct kernels_ops *ref = kernels_tier(KERNELS_TIER_REF);
    for (int tier = 1; tier < KERNELS_TIER_COUNT; tier++) {
        const struct kernels_ops *ops = kernels_tier((enum kernels_tier)tier);
        if (!ops)
            continue;
        const enum kernels_type ty[] = {KERNELS_Q8_0, KERNELS_Q8_1, KERNELS_Q8_K};
        for (size_t k = 0; k < 3; k++) {
            const size_t n = N; /* Q8_K: one block */
            const size_t bytes = n / kernels_types[ty[k]].block_size * kernels_types[ty[k]].block_bytes;
            unsigned char a[2048], b[2048];
            memset(a, 0, sizeof a);
            memset(b, 0, sizeof b);
            ref->type[ty[k]].from_float(x, a, n);
            ops->type[ty[k]].from_float(x, b, n);
            size_t at = 0;
            while (at < bytes && a[at] == b[at])
                at++;
            cr_assert(at == bytes, "%s %s from_float differs from ref at byte %zu of %zu", ops->name,
                      kernels_types[ty[k]].name, at, bytes);
        }
        /* Q8_K over 16 blocks of random magnitudes, each with a tie for the largest |x| */
        enum { NK = 16 * 256 };
        static float xk[NK];
        static unsigned char ka[16 * 292], kb[16 * 292];
        for (int i = 0; i < NK; i++)
            xk[i] = rnd(&seed) * (float)(1 + (i / 256) * 37);
        for (int bl = 0; bl < 16; bl++)
            xk[bl * 256 + 200] = -(xk[bl * 256 + 100] = 1000.0f * (float)(bl + 1));
        ref->type[KERNELS_Q8_K].from_float(xk, ka, NK);
        ops->type[KERNELS_Q8_K].from_float(xk, kb, NK);
        cr_assert(memcmp(ka, kb, 16 * kernels_types[KERNELS_Q8_K].block_bytes) == 0,
                  "%s q8_K from_float differs from ref on 16 blocks", ops->name);
        float v[40], w[40];
        const float special[] = {65504.0f, 65520.0f, 65519.99f, 6.0e-8f, 2.98e-8f, 5.96e-8f,
                                 1.0f + 0x1p-11f, 1.0f + 0x1p-11f + 0x1p-23f, -1e-5f, 0.0f};
        for (int i = 0; i < 40; i++)
            v[i] = w[i] = i < 10 ? special[i] : rnd(&seed) * 3.0f;
        uint16_t hv[40], hw[40];
        memset(hv, 0, sizeof hv);
        memset(hw, 0, sizeof hw);
        ref->to_f16(hv, v, 37);
        ops->to_f16(hw, w, 37);
        cr_assert(memcmp(hv, hw, sizeof hv) == 0, "%s to_f16 differs from ref", ops->name);
        for (int i = 0; i < 37; i++)
            cr_assert(hv[i] == kernels_float_to_half(v[i]), "to_f16 of %g", (double)v[i]);
        ref->round_f16(v, 37);
        ops->round_f16(w, 37);
        cr_assert(memcmp(v, w, sizeof v) == 0, "%s round_f16 differs from ref", ops->name);
    }
}
