/* bench_embed: the word-vector benchmark of issue 4. Makes a random N x D matrix (fixed
 * seed) as a .vec text file, .lmv files (float32 / float16 / int8) and a raw float32 file
 * for the NumPy / faiss baselines (bench/embed/baseline.py), then measures: the memory read
 * bandwidth floor, text and binary load time, single-query top-10 latency (median of Q
 * queries) and batch-of-B per-query time at 1 and 2 threads, and compact-storage recall.
 *   bench_embed DIR [N D Q B]      (defaults 200000 300 200 64) */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../models/embed/embed.h"

#define SEED 20261129u
#define TOP_K 10
#define VALUE_SCALE 1000000 /* values are k / 1e6: the text holds them exactly */
#define BW_REPEATS 5
#define LOAD_REPEATS_LMV 20
#define LOAD_REPEATS_TEXT 2
#define BATCH_REPEATS 5
#define PATH_MAX_BYTES 1024

static uint64_t rng = SEED;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void)
{
    double u = uniform() + 1e-300, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* write "w<i> v v v ...\n" rows fast (printf would take longer than the parser) */
static void make_files(const char *vec, const char *raw, size_t n, size_t d)
{
    FILE *f = fopen(vec, "wb"), *r = fopen(raw, "wb");
    if (!f || !r) {
        perror("bench_embed: create");
        exit(1);
    }
    fprintf(f, "%zu %zu\n", n, d);
    char *line = malloc(d * 16 + 64);
    float *row = malloc(d * sizeof *row);
    for (size_t i = 0; i < n; i++) {
        char *p = line + sprintf(line, "w%zu", i);
        for (size_t j = 0; j < d; j++) {
            long k = lround(gauss() * 0.1 * VALUE_SCALE);
            row[j] = (float)((double)k / VALUE_SCALE);
            *p++ = ' ';
            if (k < 0) {
                *p++ = '-';
                k = -k;
            }
            long ip = k / VALUE_SCALE, fp = k % VALUE_SCALE;
            p += sprintf(p, "%ld.", ip);
            for (long div = VALUE_SCALE / 10; div > 0; div /= 10) {
                *p++ = (char)('0' + fp / div % 10);
            }
        }
        *p++ = '\n';
        fwrite(line, 1, (size_t)(p - line), f);
        fwrite(row, sizeof *row, d, r);
    }
    free(line);
    free(row);
    fclose(f);
    fclose(r);
}

/* ---- memory bandwidth floor: the probe compare.py also uses (not part of libmodels) ---- */
#include "bw.c"

static double bandwidth_gbs(const void *buf, size_t bytes, int threads)
{
    double best = 0;
    for (int rep = 0; rep < BW_REPEATS; rep++) {
        double gbs = bench_read_gbs(buf, bytes, threads);
        if (gbs > best)
            best = gbs;
    }
    return best;
}

static embed *open_or_die(const char *path, int threads)
{
    struct embed_opts o = {.threads = threads};
    struct status_err err;
    status_clear(&err);
    embed *e;
    if (embed_open(path, &o, &e, &err) != STATUS_OK) {
        fprintf(stderr, "bench_embed: %s\n", err.msg);
        exit(1);
    }
    return e;
}

static double single_ms(embed *e, const float *qs, size_t nq, size_t d, struct embed_hit *res)
{
    double *t = malloc(nq * sizeof *t);
    for (size_t i = 0; i < nq; i++) {
        size_t n;
        double t0 = now_ms();
        embed_knn(e, qs + i * d, TOP_K, NULL, 0, res + i * TOP_K, &n, NULL);
        t[i] = now_ms() - t0;
    }
    double m = median(t, nq);
    free(t);
    return m;
}

static double batch_ms_per_query(embed *e, const float *qs, size_t b, struct embed_hit *res)
{
    double t[BATCH_REPEATS];
    size_t *n = malloc(b * sizeof *n);
    for (int r = 0; r < BATCH_REPEATS; r++) {
        double t0 = now_ms();
        embed_knn_batch(e, qs, b, TOP_K, res, n, NULL);
        t[r] = (now_ms() - t0) / (double)b;
    }
    free(n);
    return median(t, BATCH_REPEATS);
}

static double recall(const struct embed_hit *a, const struct embed_hit *b, size_t nq)
{
    size_t hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < TOP_K; i++)
            for (size_t j = 0; j < TOP_K; j++)
                if (a[q * TOP_K + i].index == b[q * TOP_K + j].index) {
                    hit++;
                    break;
                }
    return (double)hit / (double)(nq * TOP_K);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_embed DIR [N D Q B]\n");
        return 2;
    }
    const char *dir = argv[1];
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
    size_t d = argc > 3 ? strtoul(argv[3], NULL, 10) : 300;
    size_t nq = argc > 4 ? strtoul(argv[4], NULL, 10) : 200;
    size_t b = argc > 5 ? strtoul(argv[5], NULL, 10) : 64;
    char vec[PATH_MAX_BYTES], raw[PATH_MAX_BYTES], lmv[3][PATH_MAX_BYTES], qf[PATH_MAX_BYTES];
    snprintf(vec, sizeof vec, "%s/rand_%zux%zu.vec", dir, n, d);
    snprintf(raw, sizeof raw, "%s/rand_%zux%zu.f32", dir, n, d);
    snprintf(qf, sizeof qf, "%s/rand_%zux%zu.queries.f32", dir, n, d);
    const char *sn[3] = {"float32", "float16", "int8"};
    for (int s = 0; s < 3; s++)
        snprintf(lmv[s], sizeof lmv[s], "%s/rand_%zux%zu.%s.lmv", dir, n, d, sn[s]);
    if (!exists(vec) || !exists(raw))
        make_files(vec, raw, n, d);
    struct stat st;
    stat(vec, &st);
    double vec_mb = (double)st.st_size / 1e6;

    /* queries: random directions, saved for the baselines */
    float *qs = malloc(nq > b ? nq * d * sizeof(float) : b * d * sizeof(float));
    for (size_t i = 0; i < (nq > b ? nq : b) * d; i++)
        qs[i] = (float)gauss();
    FILE *f = fopen(qf, "wb");
    fwrite(qs, sizeof(float), (nq > b ? nq : b) * d, f);
    fclose(f);

    printf("# bench_embed: %zu x %zu, %zu single queries, batch %zu, top-%d\n", n, d, nq, b, TOP_K);
    /* text load (also builds the .lmv files) */
    double tt[LOAD_REPEATS_TEXT];
    embed *e = NULL;
    for (int r = 0; r < LOAD_REPEATS_TEXT; r++) {
        embed_close(e);
        double t0 = now_ms();
        e = open_or_die(vec, 2);
        tt[r] = now_ms() - t0;
    }
    double text_ms = median(tt, LOAD_REPEATS_TEXT);
    printf("text_load_ms %.0f  (%.0f MB -> %.0f MB/s)\n", text_ms, vec_mb, vec_mb / (text_ms / 1e3));
    for (int s = 0; s < 3; s++) {
        struct status_err err;
        status_clear(&err);
        if (!exists(lmv[s]) && embed_save(e, lmv[s], (enum embed_storage)s, &err) != STATUS_OK) {
            fprintf(stderr, "bench_embed: %s\n", err.msg);
            return 1;
        }
    }
    embed_close(e);
    double tl[LOAD_REPEATS_LMV];
    for (int r = 0; r < LOAD_REPEATS_LMV; r++) {
        double t0 = now_ms();
        embed *x = open_or_die(lmv[0], 1);
        tl[r] = now_ms() - t0;
        embed_close(x);
    }
    printf("lmv_load_ms %.2f  (median of %d, float32 file)\n", median(tl, LOAD_REPEATS_LMV),
           LOAD_REPEATS_LMV);

    /* bandwidth floor over a buffer the size of the float32 matrix */
    size_t bytes = n * ((d + 7) / 8 * 8) * sizeof(float);
    char *buf = malloc(bytes);
    memset(buf, 1, bytes);
    double bw1 = bandwidth_gbs(buf, bytes, 1), bw2 = bandwidth_gbs(buf, bytes, 2);
    free(buf);
    printf("read_bandwidth_gbs 1t %.1f 2t %.1f -> floor for one float32 query: 1t %.2f ms, 2t %.2f ms\n",
           bw1, bw2, bytes / bw1 / 1e6, bytes / bw2 / 1e6);

    struct embed_hit *ref = malloc(nq * TOP_K * sizeof *ref);
    struct embed_hit *res = malloc((nq > b ? nq : b) * TOP_K * sizeof *res);
    for (int s = 0; s < 3; s++)
        for (int threads = 1; threads <= 2; threads++) {
            embed *x = open_or_die(lmv[s], threads);
            single_ms(x, qs, nq < 10 ? nq : 10, d, res); /* warm the page cache mapping */
            double ms = single_ms(x, qs, nq, d, res);
            if (s == 0 && threads == 1) {
                memcpy(ref, res, nq * TOP_K * sizeof *ref);
                char top[PATH_MAX_BYTES];
                snprintf(top, sizeof top, "%s/lmserve_top10.i32", dir);
                FILE *tf = fopen(top, "wb");
                for (size_t i = 0; tf && i < nq * TOP_K; i++) {
                    int32_t id = (int32_t)res[i].index;
                    fwrite(&id, sizeof id, 1, tf);
                }
                if (tf)
                    fclose(tf);
            }
            printf("single_ms %-7s %dt %.2f  recall@10 vs float32 %.4f  fallbacks %zu\n", sn[s],
                   threads, ms, recall(ref, res, nq), embed_fallbacks(x));
            if (s == 0) {
                double pq = batch_ms_per_query(x, qs, b, res);
                printf("batch%zu_ms_per_query float32 %dt %.3f  recall@10 vs single %.4f\n", b,
                       threads, pq, recall(ref, res, b < nq ? b : nq));
            }
            embed_close(x);
        }
    free(ref);
    free(res);
    free(qs);
    return 0;
}
