/* test_knn.c: neighbours equal exact brute force in double precision (same words, same order,
 * ties by vocabulary index, scores to 1e-5) on every storage and thread count; compact
 * storage must be exact too (recall@k = 1.0 is what we promise, proven per query by an error
 * bound, with a float32 fallback that this file forces); analogies against a hand
 * computation of gensim's formulas; mean-pooled text. */
#include "../../../../models/embed/embed.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KN_SCORE_TOL 1e-5
#define KN_N 3001 /* not a multiple of any chunk or tile */
#define KN_D 37   /* odd: every kernel tail runs */
#define KN_QUERIES 12
#define KN_K 10

static char kn_dir[256];
static float *kn_m; /* (KN_N, KN_D) */
static uint64_t kn_rng;

static double kn_gauss(void)
{
    kn_rng = kn_rng * 6364136223846793005ull + 1442695040888963407ull;
    double u = ((double)(kn_rng >> 11) + 0.5) / 9007199254740992.0;
    kn_rng = kn_rng * 6364136223846793005ull + 1442695040888963407ull;
    double v = (double)(kn_rng >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void kn_setup(void)
{
    snprintf(kn_dir, sizeof kn_dir, "/tmp/lmserve-knn-XXXXXX");
    cr_assert_not_null(mkdtemp(kn_dir));
    kn_rng = 99;
    kn_m = malloc(sizeof(float) * KN_N * KN_D);
}

static void kn_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", kn_dir);
    cr_expect_eq(system(cmd), 0);
    free(kn_m);
}

/* Write kn_m as a .vec (values printed with %.9g: read back exactly) and open it. */
static embed *kn_open(const char *name, enum embed_storage s, int threads, int via_lmv)
{
    char path[400], lmv[400];
    snprintf(path, sizeof path, "%s/%s.vec", kn_dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "%d %d\n", KN_N, KN_D);
    for (int i = 0; i < KN_N; i++) {
        fprintf(f, "w%d", i);
        for (int j = 0; j < KN_D; j++)
            fprintf(f, " %.9g", kn_m[i * KN_D + j]);
        fputc('\n', f);
    }
    fclose(f);
    struct embed_opts o = {.threads = threads, .storage = via_lmv ? EMBED_STORAGE_F32 : s};
    struct status_err err;
    status_clear(&err);
    embed *e;
    cr_assert_eq(embed_open(path, &o, &e, &err), STATUS_OK, "%s", err.msg);
    if (!via_lmv)
        return e;
    snprintf(lmv, sizeof lmv, "%s/%s.lmv", kn_dir, name);
    cr_assert_eq(embed_save(e, lmv, s, &err), STATUS_OK, "%s", err.msg);
    embed_close(e);
    o.storage = EMBED_STORAGE_F32;
    cr_assert_eq(embed_open(lmv, &o, &e, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(embed_storage_of(e), s);
    return e;
}

struct kn_ref {
    double score;
    int index;
};

static int kn_ref_cmp(const void *a, const void *b)
{
    const struct kn_ref *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->index - y->index;
}

/* brute force in double: cosine of q with every row of kn_m */
static void kn_brute(const double *q, struct kn_ref *out)
{
    double qn = 0;
    for (int j = 0; j < KN_D; j++)
        qn += q[j] * q[j];
    qn = sqrt(qn);
    for (int i = 0; i < KN_N; i++) {
        double dot = 0, xn = 0;
        for (int j = 0; j < KN_D; j++) {
            dot += q[j] * kn_m[i * KN_D + j];
            xn += (double)kn_m[i * KN_D + j] * kn_m[i * KN_D + j];
        }
        out[i].score = xn > 0 ? dot / (sqrt(xn) * qn) : 0.0;
        out[i].index = i;
    }
    qsort(out, KN_N, sizeof *out, kn_ref_cmp);
}

/* Same words in the same order as the double-precision reference. Two words whose exact
 * scores differ by less than float32 can resolve (KN_ORDER_RESOLUTION) may trade places, and
 * only then; exact ties must come in vocabulary order (the reference sorts them so). */
#define KN_ORDER_RESOLUTION 1e-6
static void kn_expect_same(const struct kn_ref *ref, const struct embed_hit *got, size_t n,
                           size_t k, const char *what)
{
    cr_assert_eq(n, k, "%s: %zu hits, want %zu", what, n, k);
    for (size_t i = 0; i < k; i++) {
        double exact = NAN; /* the reference score of the word we got at rank i */
        for (size_t j = 0; j < KN_N; j++)
            if (ref[j].index == (int)got[i].index) {
                exact = ref[j].score;
                break;
            }
        int same = (int)got[i].index == ref[i].index;
        cr_expect(same || fabs(exact - ref[i].score) < KN_ORDER_RESOLUTION,
                  "%s: rank %zu is w%u (%.9g, exact %.9g), want w%d (%.9g)", what, i,
                  got[i].index, got[i].score, exact, ref[i].index, ref[i].score);
        cr_expect(fabs(got[i].score - ref[i].score) <= KN_SCORE_TOL, "%s: rank %zu score %.9g vs %.9g",
                  what, i, got[i].score, ref[i].score);
    }
}

/* random rows, a zero row, exact duplicate rows (ties), and a tight cluster (near ties) */
static void kn_fill(double cluster_noise)
{
    for (int i = 0; i < KN_N * KN_D; i++)
        kn_m[i] = (float)kn_gauss();
    memset(kn_m + 5 * KN_D, 0, KN_D * sizeof(float));
    for (int i = 100; i < 110; i++) /* rows 100..109 equal row 2000: exact ties */
        memcpy(kn_m + i * KN_D, kn_m + 2000 * KN_D, KN_D * sizeof(float));
    for (int i = 200; i < 400; i++) /* a cluster around row 1000 */
        for (int j = 0; j < KN_D; j++)
            kn_m[i * KN_D + j] = kn_m[1000 * KN_D + j] + (float)(cluster_noise * kn_gauss());
}

TestSuite(embed_knn, .init = kn_setup, .fini = kn_teardown, .timeout = 60);

static void kn_run_all(double cluster_noise, size_t *fallbacks)
{
    kn_fill(cluster_noise);
    const enum embed_storage st[] = {EMBED_STORAGE_F32, EMBED_STORAGE_F16, EMBED_STORAGE_I8};
    double q[KN_QUERIES][KN_D];
    float qf[KN_QUERIES][KN_D];
    for (int t = 0; t < KN_QUERIES; t++)
        for (int j = 0; j < KN_D; j++) {
            /* half the queries aim at the tie group and the cluster */
            double base = t % 3 == 1 ? kn_m[2000 * KN_D + j] : t % 3 == 2 ? kn_m[1000 * KN_D + j] : 0;
            qf[t][j] = (float)(base + (t % 3 ? 0.05 : 1.0) * kn_gauss());
            q[t][j] = qf[t][j];
        }
    struct kn_ref *ref = malloc(sizeof *ref * KN_N * KN_QUERIES);
    for (int t = 0; t < KN_QUERIES; t++)
        kn_brute(q[t], ref + (size_t)t * KN_N);
    for (size_t s = 0; s < 3; s++)
        for (int threads = 1; threads <= 2; threads++)
            for (int via = 0; via <= 1; via++) {
                embed *e = kn_open("m", st[s], threads, via);
                for (int t = 0; t < KN_QUERIES; t++) {
                    struct embed_hit hits[KN_K];
                    size_t n;
                    char what[96];
                    snprintf(what, sizeof what, "%s %dt %s query %d", embed_storage_name(st[s]),
                             threads, via ? "lmv" : "text", t);
                    cr_assert_eq(embed_knn(e, qf[t], KN_K, NULL, 0, hits, &n, NULL), STATUS_OK);
                    kn_expect_same(ref + (size_t)t * KN_N, hits, n, KN_K, what);
                }
                if (st[s] == EMBED_STORAGE_F32) {
                    struct embed_hit bh[KN_QUERIES * KN_K];
                    size_t bn[KN_QUERIES];
                    cr_assert_eq(embed_knn_batch(e, &qf[0][0], KN_QUERIES, KN_K, bh, bn, NULL), STATUS_OK);
                    for (int t = 0; t < KN_QUERIES; t++)
                        kn_expect_same(ref + (size_t)t * KN_N, bh + t * KN_K, bn[t], KN_K, "batch");
                }
                *fallbacks += embed_fallbacks(e);
                embed_close(e);
            }
    free(ref);
}

Test(embed_knn, equals_brute_force_on_every_storage)
{
    size_t fb = 0;
    kn_run_all(0.3, &fb);
}

/* A cluster so tight that int8 error bounds cannot separate it: the search must notice and
 * fall back to a float32 scan, and stay exact. */
Test(embed_knn, compact_fallback_keeps_it_exact)
{
    size_t fb = 0;
    kn_run_all(1e-2, &fb);
    cr_expect_gt(fb, 0, "the tight cluster should have forced at least one fallback");
}

Test(embed_knn, exclude_top_k_bounds_and_small_vocabularies)
{
    kn_fill(0.3);
    embed *e = kn_open("x", EMBED_STORAGE_F32, 2, 0);
    float q[KN_D];
    for (int j = 0; j < KN_D; j++)
        q[j] = kn_m[2000 * KN_D + j];
    struct embed_hit h[KN_K];
    size_t n;
    uint32_t ex[] = {100, 2000};
    cr_assert_eq(embed_knn(e, q, 3, ex, 2, h, &n, NULL), STATUS_OK);
    cr_expect_eq(h[0].index, 101);
    cr_expect_eq(h[1].index, 102);
    cr_expect_eq(h[2].index, 103);
    cr_expect_eq(h[0].score, h[1].score);
    struct status_err err;
    status_clear(&err);
    cr_expect_eq(embed_knn(e, q, 0, NULL, 0, h, &n, &err), STATUS_BAD_INPUT);
    cr_expect_str_eq(err.param, "top_k");
    cr_expect_eq(embed_knn(e, q, EMBED_TOP_K_MAX + 1, NULL, 0, h, &n, NULL), STATUS_BAD_INPUT);
    float zero[KN_D] = {0};
    status_clear(&err);
    cr_expect_eq(embed_knn(e, zero, 1, NULL, 0, h, &n, &err), STATUS_BAD_INPUT);
    cr_expect_str_eq(err.param, "vector");
    embed_close(e);

    char path[400];
    snprintf(path, sizeof path, "%s/tiny.vec", kn_dir);
    FILE *f = fopen(path, "w");
    fputs("3 2\na 1 0\nb 0 1\nc 1 1\n", f);
    fclose(f);
    struct embed_opts o = {.storage = EMBED_STORAGE_I8};
    cr_assert_eq(embed_open(path, &o, &e, NULL), STATUS_OK);
    struct embed_hit big[EMBED_TOP_K_MAX];
    cr_assert_eq(embed_knn(e, (float[]){1, 0}, 100, NULL, 0, big, &n, NULL), STATUS_OK);
    cr_expect_eq(n, 3);
    cr_expect_eq(big[0].index, 0);
    cr_expect_eq(big[1].index, 2);
    cr_expect_eq(big[2].index, 1);
    embed_close(e);
}

/* ---- analogies: gensim's formulas computed by hand in double ---- */

static const char *KN_WORDS[] = {"king", "man", "woman", "queen", "prince", "apple", "girl"};
static const float KN_VECS[][3] = {
    {0.9f, 0.8f, 0.1f}, {0.7f, 0.1f, 0.0f},  {0.1f, 0.2f, 0.9f}, {0.3f, 0.9f, 0.8f},
    {0.8f, 0.6f, 0.2f}, {-0.5f, 0.1f, 0.1f}, {0.0f, 0.1f, 1.0f},
};
#define KN_NW 7

static double kn_cos(const float *a, const float *b)
{
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < 3; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

static embed *kn_analogy_model(enum embed_storage s)
{
    char path[400];
    snprintf(path, sizeof path, "%s/an.vec", kn_dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%d 3\n", KN_NW);
    for (int i = 0; i < KN_NW; i++)
        fprintf(f, "%s %.9g %.9g %.9g\n", KN_WORDS[i], KN_VECS[i][0], KN_VECS[i][1], KN_VECS[i][2]);
    fclose(f);
    struct embed_opts o = {.storage = s, .threads = 2};
    embed *e;
    cr_assert_eq(embed_open(path, &o, &e, NULL), STATUS_OK);
    return e;
}

Test(embed_knn, analogies_match_gensim_formulas)
{
    /* king - man + woman: positive [king, woman], negative [man] */
    uint32_t pos[] = {0, 2}, neg[] = {1};
    for (int s = 0; s < 3; s++) {
        embed *e = kn_analogy_model((enum embed_storage)s);
        /* 3CosAdd: cos(x, unit(u(king) + u(woman) - u(man))) */
        double mean[3];
        for (int j = 0; j < 3; j++) {
            double nk = sqrt(kn_cos(KN_VECS[0], KN_VECS[0])), acc = 0;
            (void)nk;
            for (int t = 0; t < 3; t++) {
                const float *v = KN_VECS[t == 0 ? 0 : t == 1 ? 2 : 1];
                double n = sqrt((double)v[0] * v[0] + (double)v[1] * v[1] + (double)v[2] * v[2]);
                acc += (t == 2 ? -1 : 1) * v[j] / n;
            }
            mean[j] = acc;
        }
        float meanf[3] = {(float)mean[0], (float)mean[1], (float)mean[2]};
        struct kn_ref add[KN_NW], mul[KN_NW];
        int na = 0;
        for (int i = 0; i < KN_NW; i++) {
            if (i == 0 || i == 1 || i == 2)
                continue;
            add[na].index = i;
            add[na].score = kn_cos(KN_VECS[i], meanf);
            /* 3CosMul: prod((1+cos)/2 over positive) / (prod((1+cos)/2 over negative) + 1e-6) */
            mul[na].index = i;
            mul[na].score = ((1 + kn_cos(KN_VECS[i], KN_VECS[0])) / 2) *
                            ((1 + kn_cos(KN_VECS[i], KN_VECS[2])) / 2) /
                            ((1 + kn_cos(KN_VECS[i], KN_VECS[1])) / 2 + 1e-6);
            na++;
        }
        qsort(add, (size_t)na, sizeof *add, kn_ref_cmp);
        qsort(mul, (size_t)na, sizeof *mul, kn_ref_cmp);
        struct embed_hit h[KN_NW];
        size_t n;
        cr_assert_eq(embed_most_similar(e, pos, 2, neg, 1, EMBED_3COSADD, 4, 1, h, &n, NULL), STATUS_OK);
        for (int i = 0; i < na; i++)
            cr_expect(h[i].index == (uint32_t)add[i].index && fabs(h[i].score - add[i].score) < KN_SCORE_TOL,
                      "3cosadd rank %d: %s %.7f vs %s %.7f", i, KN_WORDS[h[i].index], h[i].score,
                      KN_WORDS[add[i].index], add[i].score);
        cr_expect_eq(h[0].index, 3, "king - man + woman should be queen");
        cr_assert_eq(embed_most_similar(e, pos, 2, neg, 1, EMBED_3COSMUL, 4, 1, h, &n, NULL), STATUS_OK);
        for (int i = 0; i < na; i++)
            cr_expect(h[i].index == (uint32_t)mul[i].index && fabs(h[i].score - mul[i].score) < KN_SCORE_TOL,
                      "3cosmul rank %d: %s %.7f vs %s %.7f", i, KN_WORDS[h[i].index], h[i].score,
                      KN_WORDS[mul[i].index], mul[i].score);
        /* exclude_inputs false: the inputs may appear */
        cr_assert_eq(embed_most_similar(e, pos, 1, NULL, 0, EMBED_3COSADD, 1, 0, h, &n, NULL), STATUS_OK);
        cr_expect_eq(h[0].index, 0);
        cr_expect(fabs(h[0].score - 1.0) < KN_SCORE_TOL);
        /* no negatives: gensim divides by (1 + 1e-6) */
        cr_assert_eq(embed_most_similar(e, pos, 1, NULL, 0, EMBED_3COSMUL, 1, 0, h, &n, NULL), STATUS_OK);
        cr_expect(fabs(h[0].score - 1.0 / (1.0 + 1e-6)) < KN_SCORE_TOL);
        embed_close(e);
    }
}

Test(embed_knn, text_is_the_mean_of_known_words)
{
    embed *e = kn_analogy_model(EMBED_STORAGE_F32);
    const char *t = "  king zzz woman\tqq ";
    float v[3];
    size_t ntok, noov;
    struct embed_span *oov;
    cr_assert_eq(embed_text(e, t, strlen(t), 0, v, &ntok, &oov, &noov, NULL), STATUS_OK);
    cr_expect_eq(ntok, 4);
    cr_assert_eq(noov, 2);
    cr_expect(strncmp(t + oov[0].off, "zzz", oov[0].len) == 0 && oov[0].len == 3);
    cr_expect(strncmp(t + oov[1].off, "qq", oov[1].len) == 0 && oov[1].len == 2);
    free(oov);
    for (int j = 0; j < 3; j++)
        cr_expect(fabsf(v[j] - (KN_VECS[0][j] + KN_VECS[2][j]) / 2) < 1e-6f);
    cr_assert_eq(embed_text(e, t, strlen(t), 1, v, &ntok, &oov, &noov, NULL), STATUS_OK);
    free(oov);
    cr_expect(fabsf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] - 1.0f) < 1e-6f);
    struct status_err err;
    status_clear(&err);
    cr_expect_eq(embed_text(e, "x y", 3, 1, v, &ntok, &oov, &noov, &err), STATUS_UNPROCESSABLE);
    cr_expect_eq(noov, 2);
    free(oov);
    embed_close(e);
}
