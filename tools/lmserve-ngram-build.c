/* lmserve-ngram-build: convert an ARPA model (plain or .gz) into lmserve's memory-mapped
 * binary n-gram format. Usage: lmserve-ngram-build in.arpa[.gz] out.lmb */
#include <stdio.h>
#include <string.h>

#include "../models/ngram/ngram.h"
#include "../models/util/progress.h"

#define BUILD_TOOL "lmserve-ngram-build"

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
    double t0 = progress_clock();
    progress_stage(BUILD_TOOL, t0, "reading %s", argv[1]);
    if (ngram_open(argv[1], &lm, &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t1 = progress_clock();
    progress_stage(BUILD_TOOL, t0, "writing %s", argv[2]);
    if (ngram_write_binary(lm, argv[2], &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        ngram_close(lm);
        return 1;
    }
    double t2 = progress_clock();
    fprintf(stderr, "%s: order %d, %zu words,", argv[2], ngram_order(lm), ngram_vocab_size(lm));
    for (int n = 1; n <= ngram_order(lm); n++)
        fprintf(stderr, " %llu", (unsigned long long)ngram_count(lm, n));
    fprintf(stderr, " n-grams; read %.2f s, wrote %.2f s\n", t1 - t0, t2 - t1);
    ngram_close(lm);
    return 0;
}
