/* fuzz_embed.h: open a word-vector file and, when it loads, use it the way the routes do:
 * lookups (known and unknown words), a vector, a top-k scan, a mean-pooled text. The input's
 * size picks the compact storage built for text files, so all three scan paths run. */
#ifndef LMSERVE_FUZZ_EMBED_H
#define LMSERVE_FUZZ_EMBED_H

#include <stdlib.h>
#include <string.h>

#include "../../models/embed/embed.h"

static void fuzz_embed_open(const char *path, size_t size)
{
    struct embed_opts o = {.threads = 1, .storage = (enum embed_storage)(size % 3)};
    embed *e = NULL;
    struct status_err err;
    status_clear(&err);
    if (embed_open(path, &o, &e, &err) != STATUS_OK)
        return;
    static const char *const WORDS[] = {"a", "b", "the", "king", "zzz-unknown", ""};
    for (size_t i = 0; i < sizeof WORDS / sizeof *WORDS; i++)
        (void)embed_lookup(e, WORDS[i], strlen(WORDS[i]));
    const size_t n = embed_size(e), dim = embed_dim(e);
    for (size_t i = 0; i < n && i < 8; i++) {
        const char *w = embed_word(e, i);
        if (embed_lookup(e, w, strlen(w)) < 0)
            abort(); /* every word of the vocabulary must be found again */
    }
    float *q = malloc(dim * sizeof *q);
    struct embed_hit hits[3];
    size_t n_hits = 0;
    if (q) {
        embed_vector(e, 0, q);
        (void)embed_knn(e, q, 3, NULL, 0, hits, &n_hits, &err);
        size_t n_tok = 0, n_oov = 0;
        struct embed_span *oov = NULL;
        const char *w = embed_word(e, 0);
        (void)embed_text(e, w, strlen(w), 1, q, &n_tok, &oov, &n_oov, &err);
        free(oov);
    }
    free(q);
    embed_close(e);
}

#endif
