/* bench_bert.c: BERT sentence-embedding speed in-process: the first B lines of TEXTS embedded
 * as one request (tokenize, one encoder pass over all of them, pooling, L2) through the
 * transformer type's embedding capability, as /v1/embeddings runs it, minus HTTP. One JSON
 * line per repetition: {"threads", "batch", "tokens", "ms", "tok_s", "texts_s"}. One untimed
 * warm-up request first (the weights' pages mapped in, the GELU table built), as llama.cpp's
 * tools run a warm-up pass at load. 
 * --warmup W (default 1) runs W unmeasured requests: the kernel thread team's controller
 * starts alone and decides on its helpers after ~128 dispatches (one batch-1 request is ~100),
 * so a 2-thread measurement after a single warm-up still runs partly alone.
 *   usage: lmserve-bench-bert [--threads N] [--batch B] [--reps R] [--warmup W] MODEL.gguf TEXTS.txt */
#include "../../models/caps.h"
#include "../../models/kernels/kernels.h"
#include "../../models/registry.h"
#include "../../models/transformer/transformer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 1024
#define LINE_BYTES 8192

extern const struct model_ops transformer_model_ops;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = 1, batch = 1, reps = 5, warmup = 1;
    static const struct option opts[] = {{"threads", 1, 0, 't'}, {"batch", 1, 0, 'b'},
                                         {"reps", 1, 0, 'r'}, {"warmup", 1, 0, 'w'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': threads = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        default: return 2;
        }
    }
    if (optind + 2 != argc || batch < 1 || batch > BATCH_MAX || reps < 1 || warmup < 1) {
        fprintf(stderr, "usage: lmserve-bench-bert [--threads N] [--batch B] [--reps R] "
                        "[--warmup W] MODEL.gguf TEXTS.txt\n");
        return 2;
    }
    kernels_threads_set(threads);
    static char *text[BATCH_MAX];
    size_t len[BATCH_MAX];
    FILE *f = fopen(argv[optind + 1], "r");
    if (!f) {
        perror(argv[optind + 1]);
        return 1;
    }
    static char line[LINE_BYTES];
    int n = 0;
    while (n < batch && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        text[n] = strdup(line);
        len[n] = strlen(line);
        n++;
    }
    fclose(f);
    if (n < batch) {
        fprintf(stderr, "%s has %d lines, fewer than --batch %d\n", argv[optind + 1], n, batch);
        return 1;
    }
    transformer *t;
    struct status_err err = {0};
    if (transformer_open_gguf(argv[optind], &t, &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct embedding_ops *e = transformer_model_ops.embedding;
    if (e->check(t, &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float *out = malloc((size_t)batch * e->dim(t) * sizeof *out);
    unsigned long stood0 = kernels_team_stood_down();
    for (int r = -warmup; r < reps; r++) { /* r < 0: the warm-up requests */
        size_t tokens = 0, bad = 0;
        const double t0 = now_s();
        if (e->texts(t, (const char *const *)text, len, (size_t)batch, 1, out, &tokens, &bad, NULL,
                     &err) != STATUS_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        const double s = now_s() - t0;
        const unsigned long alone = kernels_team_stood_down() - stood0;
        stood0 += alone;
        if (r < 0)
            continue;
        /* team_alone: this request's dispatches the thread team's controller ran without
         * its helpers (it found them slower, or probes; see models/kernels/team.c) */
        printf("{\"threads\":%d,\"batch\":%d,\"tokens\":%zu,\"ms\":%.3f,\"tok_s\":%.1f,"
               "\"texts_s\":%.2f,\"team_alone\":%lu}\n",
               threads, batch, tokens, s * 1e3, (double)tokens / s, (double)batch / s, alone);
        fflush(stdout);
    }
    free(out);
    for (int i = 0; i < n; i++)
        free(text[i]);
    transformer_close(t);
    return 0;
}
