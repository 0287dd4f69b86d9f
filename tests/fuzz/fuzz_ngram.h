/* fuzz_ngram.h: open an n-gram model and, when it loads, use it the way the routes do:
 * look up words (known and unknown), score a sentence, score the whole vocabulary. */
#ifndef LMSERVE_FUZZ_NGRAM_H
#define LMSERVE_FUZZ_NGRAM_H

#include <stdlib.h>
#include <string.h>

#include "../../models/ngram/ngram.h"

static void fuzz_ngram_open(const char *path)
{
    ngram_lm *lm = NULL;
    struct status_err err;
    status_clear(&err);
    if (ngram_open(path, &lm, &err) != STATUS_OK)
        return;
    static const char *const WORDS[] = {"a", "b", "<s>", "</s>", "<unk>", "the", "zzz-unknown"};
    const size_t nw = sizeof WORDS / sizeof *WORDS;
    uint32_t ids[8];
    for (size_t i = 0; i < nw; i++)
        ids[i] = ngram_word(lm, WORDS[i], strlen(WORDS[i]), NULL);
    for (uint32_t id = 0; id < ngram_id_bound(lm) && id < 64; id++)
        (void)ngram_word_text(lm, id);
    float lp[8];
    uint8_t order[8];
    ngram_score_ids(lm, ids, nw, 1, lp, order);
    struct ngram_state st;
    ngram_state_begin(lm, 1, &st);
    float *all = malloc((ngram_id_bound(lm) + 1) * sizeof *all);
    if (all)
        ngram_score_all(lm, &st, all);
    free(all);
    ngram_close(lm);
}

#endif
