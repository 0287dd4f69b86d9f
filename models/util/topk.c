/* topk.c: a bounded min-heap of (id, score) pairs and the best-first sort (topk.h). */
#include "topk.h"

#include <stdlib.h>

void topk_push(struct topk *t, uint32_t id, float score)
{
    struct topk_hit x = {.id = id, .score = score};
    struct topk_hit *h = t->h;
    size_t i;
    if (t->n < t->cap) { /* sift up from the new leaf */
        i = t->n++;
        while (i > 0) {
            size_t up = (i - 1) / 2;
            if (!topk_weaker(x, h[up]))
                break;
            h[i] = h[up];
            i = up;
        }
        h[i] = x;
        return;
    }
    if (!topk_weaker(h[0], x))
        return;
    i = 0; /* replace the root, sift down */
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && topk_weaker(h[c + 1], h[c]))
            c++;
        if (!topk_weaker(h[c], x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static int best_first(const void *a, const void *b)
{
    const struct topk_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void topk_sort(struct topk_hit *h, size_t n)
{
    qsort(h, n, sizeof *h, best_first);
}
