/* lmserve-vec-build: convert word vectors (word2vec text/binary, GloVe, fastText .vec,
 * gzip'd or not) into lmserve's memory-mapped .lmv format.
 *   lmserve-vec-build IN [--storage float32|float16|int8] OUT.lmv */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../models/embed/embed.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage(void)
{
    fprintf(stderr, "usage: lmserve-vec-build IN [--storage float32|float16|int8] OUT.lmv\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    enum embed_storage storage = EMBED_STORAGE_F32;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--storage") == 0 && i + 1 < argc) {
            if (embed_storage_parse(argv[++i], &storage) != 0)
                return usage();
        } else if (strncmp(argv[i], "--storage=", 10) == 0) {
            if (embed_storage_parse(argv[i] + 10, &storage) != 0)
                return usage();
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return usage();
        }
    }
    if (!in || !out)
        return usage();
    struct status_err err;
    status_clear(&err);
    struct embed_opts o = {.threads = 1, .storage = EMBED_STORAGE_F32};
    double t0 = now_s();
    embed *e;
    if (embed_open(in, &o, &e, &err) != STATUS_OK) {
        fprintf(stderr, "lmserve-vec-build: %s\n", err.msg);
        return 1;
    }
    double t1 = now_s();
    if (embed_save(e, out, storage, &err) != STATUS_OK) {
        fprintf(stderr, "lmserve-vec-build: %s\n", err.msg);
        embed_close(e);
        return 1;
    }
    fprintf(stderr, "lmserve-vec-build: %zu words x %zu dims (%zu duplicates dropped), read %.2fs, "
                    "wrote %s (%s) in %.2fs\n",
            embed_size(e), embed_dim(e), embed_duplicates(e), t1 - t0, out,
            embed_storage_name(storage), now_s() - t1);
    embed_close(e);
    return 0;
}
