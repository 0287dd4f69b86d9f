/* test_topk.c: the one top-k of the model families (models/util/topk), used by the n-gram
 * next-word list and the word-vector neighbours: the same pairs and order as sorting
 * everything, on random streams with many tied scores and every k from 0 to past n. */
#include "../../../../models/util/topk.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static int all_best_first(const void *a, const void *b)
{
    const struct topk_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

Test(util_topk, same_as_sorting_everything)
{
    enum { N = 300 };
    static struct topk_hit all[N], kept[N + 5];
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            seed = seed * 1103515245u + 12345u;
            all[i].id = (uint32_t)((i * 7919 + round) % N); /* a permutation of 0..N-1 */
            all[i].score = (float)((seed >> 16) % (round < 10 ? 16 : 1000)) - 8.0f; /* ties */
        }
        for (size_t k = 0; k <= N + 5; k += (k < 12 ? 1 : 37)) {
            struct topk t = {.h = kept, .cap = k};
            for (int i = 0; i < N; i++)
                if (!(all[i].score < topk_floor(&t)))
                    topk_push(&t, all[i].id, all[i].score);
            size_t want = k < N ? k : N;
            cr_assert_eq(t.n, want, "k %zu: %zu kept", k, t.n);
            topk_sort(kept, t.n);
            struct topk_hit ref[N];
            for (int i = 0; i < N; i++)
                ref[i] = all[i];
            qsort(ref, N, sizeof ref[0], all_best_first);
            for (size_t i = 0; i < t.n; i++)
                cr_assert(kept[i].id == ref[i].id && kept[i].score == ref[i].score,
                          "round %d k %zu rank %zu: %u/%g, want %u/%g", round, k, i, kept[i].id,
                          (double)kept[i].score, ref[i].id, (double)ref[i].score);
        }
    }
}
