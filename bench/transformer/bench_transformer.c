/* bench_transformer.c: core Transformer throughput: prompt tokens/s (one batch) and decode
 * tokens/s (greedy, one token at a time) on a checkpoint, at a given thread count; and the
 * machine's streaming read bandwidth, for the fraction of the bandwidth bound: through the
 * F32 matvec kernel (--bandwidth), or a plain read of a buffer larger than the L3 by the
 * same thread team, each thread one contiguous part (--stream, the bound of
 * bench/transformer/bandwidth.sh). Each measurement reports the share of its wall time the
 * process's threads waited for a CPU (rq_wait: another process held it). Prints one JSON
 * line per measurement. Not a test. */
#include "../../models/kernels/kernels.h"
#include "../../models/transformer/transformer.h"
#include "../../models/util/alloc.h"

#include <dirent.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPS_MAX 32
#define BENCH_BW_BYTES (438u * 1000u * 1000u) /* ~ the 110M float32 weights */
#define BENCH_BW_COLS 768
#define BENCH_STREAM_MB 1024 /* --stream's default buffer: larger than any L3 here */
#define BENCH_STREAM_PARTS 64 /* chunks per thread: stealing only at the end */

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The first index of the largest logit. The best value stays in a register: comparing with
 * x[b] made every step wait for the load at the index the previous step chose (~7 cycles a
 * logit, 120 us of a 6.4 ms GPT-2 decode step, time llama-bench's decode does not spend). */
static int argmax(const float *x, int n)
{
    int b = 0;
    float bv = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > bv) {
            bv = x[i];
            b = i;
        }
    return b;
}

/* Nanoseconds the process's threads have waited on a run queue so far (the second field of
 * each /proc/self/task/TID/schedstat; 0 without it). */
static double rq_wait_s(void)
{
    DIR *d = opendir("/proc/self/task");
    double s = 0.0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[64];
        unsigned long long run, wait;
        if (e->d_name[0] == '.' || snprintf(path, sizeof path, "/proc/self/task/%.16s/schedstat", e->d_name) >= (int)sizeof path)
            continue;
        FILE *f = fopen(path, "r");
        if (f && fscanf(f, "%llu %llu", &run, &wait) == 2)
            s += (double)wait * 1e-9;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return s;
}

/* A plain streaming read of [b, e) 64-byte lines: AVX-512 loads when the CPU has them (what
 * the decode kernels use), else 8-byte ones, summed so nothing is optimized away. */
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static uint64_t read_avx512(const unsigned char *p, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        a0 = _mm512_xor_si512(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_xor_si512(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_xor_si512(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_xor_si512(a3, _mm512_load_si512((const void *)(p + i + 192)));
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)));
}
#endif

static uint64_t read_plain(const unsigned char *p, size_t n)
{
    uint64_t a = 0, v;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        a ^= v;
    }
    return a;
}

struct stream_job {
    const unsigned char *buf;
    size_t part; /* bytes per chunk (a multiple of 256) */
    int avx512;
    _Atomic uint64_t sink;
};

static void stream_range(void *ctx, size_t b, size_t e)
{
    struct stream_job *j = ctx;
    const unsigned char *p = j->buf + b * j->part;
    const size_t n = (e - b) * j->part;
#if defined(__x86_64__)
    if (j->avx512) {
        atomic_fetch_xor(&j->sink, read_avx512(p, n));
        return;
    }
#endif
    atomic_fetch_xor(&j->sink, read_plain(p, n));
}

/* The streaming bound: 'mb' MB read by the thread team as the decode's matrices are (each
 * thread one contiguous part, chunks claimed front to back, stealing at the end), from an
 * aligned_alloc buffer as the repacked weights (interleave.c); LMSERVE_STREAM_HUGE=1 asks
 * for transparent huge pages on it. Median and best of 'reps' passes after one unmeasured. */
static void stream_bound(int reps, size_t mb)
{
    const size_t bytes = mb * 1000 * 1000 / 4096 * 4096;
    unsigned char *buf = aligned_alloc(4096, bytes);
    if (!buf) {
        fprintf(stderr, "no memory for %zu MB\n", mb);
        return;
    }
    const char *huge = getenv("LMSERVE_STREAM_HUGE");
    if (huge && strcmp(huge, "1") == 0)
        util_advise_huge(buf, bytes);
    for (size_t i = 0; i < bytes; i++)
        buf[i] = (unsigned char)(i * 131u >> 7);
    setenv("LMSERVE_KERNEL_ADAPT", "0", 0); /* the team's controller must not stand down */
    const size_t parts = (size_t)kernels_threads() * BENCH_STREAM_PARTS;
    struct stream_job j = {.buf = buf, .part = bytes / parts / 256 * 256};
#if defined(__x86_64__)
    __builtin_cpu_init();
    j.avx512 = __builtin_cpu_supports("avx512f") != 0;
#endif
    double t[BENCH_REPS_MAX], g[BENCH_REPS_MAX];
    const double w0 = rq_wait_s(), s0 = now_s();
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
        kernels_parallel_for(parts, 1, stream_range, &j);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    const double wall = now_s() - s0, waited = rq_wait_s() - w0;
    const double read = (double)(parts * j.part);
    for (int r = 0; r < reps; r++)
        g[r] = read / t[r] / 1e9;
    const double med = median(g, reps);
    printf("{\"what\":\"stream\",\"threads\":%d,\"bytes\":%.0f,\"huge\":%d,\"avx512\":%d,"
           "\"gb_per_s\":%.2f,\"best_gb_per_s\":%.2f,\"rq_wait\":%.3f,\"sink\":%u}\n",
           kernels_threads(), read, huge && strcmp(huge, "1") == 0, j.avx512, med, g[reps - 1],
           waited / wall / kernels_threads(), (unsigned)(atomic_load(&j.sink) & 1));
    free(buf);
}

struct bw_job {
    const float *w, *x;
    float *out;
    size_t cols;
    const struct kernels_ops *k;
};

static void bw_range(void *ctx, size_t b, size_t e)
{
    struct bw_job *j = ctx;
    const struct kernels_mat m = {.type = KERNELS_F32, .data = j->w,
                                  .row_bytes = j->cols * sizeof(float), .cols = j->cols};
    j->k->type[KERNELS_F32].matvec(j->out + b, &m, b, e, j->x);
}

static void bandwidth(int reps)
{
    const size_t cols = BENCH_BW_COLS, rows = BENCH_BW_BYTES / sizeof(float) / cols;
    float *w = malloc(rows * cols * sizeof *w), *x = malloc(cols * sizeof *x);
    float *out = malloc(rows * sizeof *out);
    for (size_t i = 0; i < rows * cols; i++)
        w[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < cols; i++)
        x[i] = 1.0f;
    struct bw_job j = {w, x, out, cols, kernels_select()};
    double t[BENCH_REPS_MAX];
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        kernels_parallel_for(rows, 16, bw_range, &j);
        t[r] = now_s() - t0;
    }
    double m = median(t, reps);
    printf("{\"what\":\"bandwidth\",\"threads\":%d,\"bytes\":%zu,\"gb_per_s\":%.2f}\n",
           kernels_threads(), rows * cols * sizeof(float), (double)(rows * cols * sizeof(float)) / m / 1e9);
    free(w), free(x), free(out);
}

int main(int argc, char **argv)
{
    const char *ck = NULL, *tok = NULL, *kv_type = NULL;
    int threads = 1, prompt = 64, decode = 64, reps = 3, bw = 0, warmup = 0, stream = 0;
    static const struct option opts[] = {{"threads", 1, 0, 't'}, {"prompt", 1, 0, 'p'},
                                         {"decode", 1, 0, 'd'},  {"reps", 1, 0, 'r'},
                                         {"bandwidth", 0, 0, 'b'}, {"warmup", 1, 0, 'w'},
                                         {"kv-type", 1, 0, 'k'}, {"stream", 2, 0, 's'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': threads = atoi(optarg); break;
        case 'p': prompt = atoi(optarg); break;
        case 'd': decode = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'b': bw = 1; break;
        case 'w': warmup = atoi(optarg); break;
        case 'k': kv_type = optarg; break;
        case 's': stream = optarg ? atoi(optarg) : BENCH_STREAM_MB; break;
        default: return 2;
        }
    }
    if (reps < 1 || reps > BENCH_REPS_MAX)
        reps = 3;
    kernels_threads_set(threads);
    if (bw) {
        bandwidth(reps);
        return 0;
    }
    if (stream > 0) {
        stream_bound(reps, (size_t)stream);
        return 0;
    }
    const int gguf = optind + 1 == argc; /* one file: a GGUF with its own vocabulary */
    if (optind + 2 > argc && !gguf) {
        fprintf(stderr, "usage: lmserve-bench-transformer [--threads N] [--prompt P] [--decode D] "
                        "[--reps R] [--warmup N] [--kv-type f32|f16|q8_0] (CKPT TOKENIZER | "
                        "FILE.gguf) | --bandwidth | --stream[=MB]\n");
        return 2;
    }
    ck = argv[optind];
    tok = gguf ? NULL : argv[optind + 1];
    transformer *t;
    struct status_err err = {0};
    if ((gguf ? transformer_open_gguf(ck, &t, &err) : transformer_open(ck, tok, &t, &err)) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* the server's default: an fp16 cache for GGUF files (llama-bench's default too) */
    if (!kv_type)
        kv_type = gguf ? "f16" : "f32";
    if (transformer_set_kv_type(t, kv_type, &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        transformer_close(t);
        return 1;
    }
    const struct transformer_shape *sh = transformer_shape_of(t);
    if (prompt + decode + 1 > sh->seq_len)
        decode = sh->seq_len - prompt - 1;
    int *ids = malloc((size_t)prompt * sizeof *ids);
    ids[0] = TRANSFORMER_BOS;
    for (int i = 1; i < prompt; i++)
        ids[i] = 3 + (i * 7919) % (sh->vocab - 3);
    double tp[BENCH_REPS_MAX], tpc[BENCH_REPS_MAX], td[BENCH_REPS_MAX], tc[BENCH_REPS_MAX];
    double best_step = 0.0, dwait = 0.0, dwall = 0.0; /* the fastest decode step; run-queue waits */
    /* unmeasured prompts + one decode step each, as llama-bench's warm-up run: touches the
     * mapped weights and gives the thread team's controller (team.c) its first windows */
    for (int w = 0; w < warmup; w++) {
        transformer_seq *s = transformer_seq_new(t, (size_t)(prompt + 2));
        transformer_forward(s, ids, (size_t)prompt, NULL, NULL, &err);
        int id = argmax(transformer_logits(s), sh->vocab);
        transformer_forward(s, &id, 1, NULL, NULL, &err);
        transformer_seq_free(s);
    }
    for (int r = 0; r < reps; r++) {
        transformer_seq *s = transformer_seq_new(t, (size_t)(prompt + decode + 1));
        double t0 = now_s(), p0 = cpu_s();
        transformer_forward(s, ids, (size_t)prompt, NULL, NULL, &err);
        tp[r] = prompt / (now_s() - t0);
        tpc[r] = prompt / (cpu_s() - p0);
        int id = argmax(transformer_logits(s), sh->vocab);
        const double w0 = rq_wait_s();
        t0 = now_s();
        double c0 = cpu_s();
        for (int i = 0; i < decode; i++) {
            const double ts = now_s();
            transformer_forward(s, &id, 1, NULL, NULL, &err);
            id = argmax(transformer_logits(s), sh->vocab);
            const double dt = now_s() - ts;
            best_step = best_step == 0.0 || dt < best_step ? dt : best_step;
        }
        td[r] = decode / (now_s() - t0);
        dwall += now_s() - t0;
        dwait += rq_wait_s() - w0;
        tc[r] = decode / (cpu_s() - c0); /* per CPU-second: robust to other processes */
        transformer_seq_free(s);
    }
    double weight_bytes = (double)sh->bytes;
    double dmed = median(td, reps);
    printf("{\"what\":\"core\",\"format\":\"%s\",\"kv_type\":\"%s\",\"params\":%zu,\"threads\":%d,\"prompt_tokens\":%d,"
           "\"prompt_tok_s\":%.1f,\"prompt_tok_per_cpu_s\":%.1f,\"decode_tokens\":%d,\"decode_tok_s\":%.2f,\"weight_gb_s\":%.2f,"
           "\"decode_tok_per_cpu_s\":%.2f,\"decode_best_tok_s\":%.2f,\"decode_rq_wait\":%.3f,\"team_stood_down\":%lu}\n",
           transformer_format_name(t), kv_type, sh->n_params, kernels_threads(), prompt, median(tp, reps),
           median(tpc, reps), decode, dmed, weight_bytes * dmed / 1e9, median(tc, reps), best_step > 0.0 ? 1.0 / best_step : 0.0,
           dwall > 0.0 ? dwait / dwall / kernels_threads() : 0.0, kernels_team_stood_down());
    free(ids);
    transformer_close(t);
    return 0;
}
