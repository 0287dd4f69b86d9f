/* bench_transformer.c: core Transformer throughput: prompt tokens/s (one batch) and decode
 * tokens/s (greedy, one token at a time) on a checkpoint, at a given thread count; and the
 * machine's streaming read bandwidth through the same matvec kernel, for the fraction of
 * the bandwidth bound. Prints one JSON line per measurement. Not a test. */
#include "../../models/kernels/kernels.h"
#include "../../models/transformer/transformer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPS_MAX 32
#define BENCH_BW_BYTES (438u * 1000u * 1000u) /* ~ the 110M float32 weights */
#define BENCH_BW_COLS 768

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
    int threads = 1, prompt = 64, decode = 64, reps = 3, bw = 0, warmup = 0;
    static const struct option opts[] = {{"threads", 1, 0, 't'}, {"prompt", 1, 0, 'p'},
                                         {"decode", 1, 0, 'd'},  {"reps", 1, 0, 'r'},
                                         {"bandwidth", 0, 0, 'b'}, {"warmup", 1, 0, 'w'},
                                         {"kv-type", 1, 0, 'k'}, {0, 0, 0, 0}};
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
    const int gguf = optind + 1 == argc; /* one file: a GGUF with its own vocabulary */
    if (optind + 2 > argc && !gguf) {
        fprintf(stderr, "usage: lmserve-bench-transformer [--threads N] [--prompt P] [--decode D] "
                        "[--reps R] [--warmup N] [--kv-type f32|f16|q8_0] (CKPT TOKENIZER | "
                        "FILE.gguf) | --bandwidth\n");
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
        t0 = now_s();
        double c0 = cpu_s();
        for (int i = 0; i < decode; i++) {
            transformer_forward(s, &id, 1, NULL, NULL, &err);
            id = argmax(transformer_logits(s), sh->vocab);
        }
        td[r] = decode / (now_s() - t0);
        tc[r] = decode / (cpu_s() - c0); /* per CPU-second: robust to other processes */
        transformer_seq_free(s);
    }
    double weight_bytes = (double)sh->bytes;
    double dmed = median(td, reps);
    printf("{\"what\":\"core\",\"format\":\"%s\",\"kv_type\":\"%s\",\"params\":%zu,\"threads\":%d,\"prompt_tokens\":%d,"
           "\"prompt_tok_s\":%.1f,\"prompt_tok_per_cpu_s\":%.1f,\"decode_tokens\":%d,\"decode_tok_s\":%.2f,\"weight_gb_s\":%.2f,"
           "\"decode_tok_per_cpu_s\":%.2f,\"team_stood_down\":%lu}\n",
           transformer_format_name(t), kv_type, sh->n_params, kernels_threads(), prompt, median(tp, reps),
           median(tpc, reps), decode, dmed, weight_bytes * dmed / 1e9, median(tc, reps), kernels_team_stood_down());
    free(ids);
    transformer_close(t);
    return 0;
}
