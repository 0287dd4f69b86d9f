/* lmserve-ngram-build: convert an ARPA model (plain or .gz) into lmserve's memory-mapped
 * binary n-gram format. Usage: lmserve-ngram-build in.arpa[.gz] out.lmb */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../models/ngram/ngram.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr,
                "usage: %s in.arpa[.gz] out.lmb\n"
                "Builds lmserve's binary n-gram model (load it with --model ID=ngram:out.lmb).\n",
                argv[0]);
        return argc == 2 ? 0 : 2;
    }
    struct status_err err;
    status_clear(&err);
    ngram_lm *lm = NULL;
    double t0 = now_s();
    if (ngram_open(argv[1], &lm, &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t1 = now_s();
    if (ngram_write_binary(lm, argv[2], &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        ngram_close(lm);
        return 1;
    }
    double t2 = now_s();
    fprintf(stderr, "%s: order %d, %zu words,", argv[2], ngram_order(lm), ngram_vocab_size(lm));
    for (int n = 1; n <= ngram_order(lm); n++)
        fprintf(stderr, " %llu", (unsigned long long)ngram_count(lm, n));
    fprintf(stderr, " n-grams; read %.2f s, wrote %.2f s\n", t1 - t0, t2 - t1);
    ngram_close(lm);
    return 0;
}
