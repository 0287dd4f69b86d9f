/* topk.h: the best k of a stream of (id, score) pairs, one copy for every model family (the
 * n-gram next-word list, the word-vector nearest neighbours). Order: score descending, then id
 * ascending; the heap's root is the weakest kept pair, so a candidate costs one compare
 * unless it enters. */
#ifndef LMSERVE_UTIL_TOPK_H
#define LMSERVE_UTIL_TOPK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

struct topk_hit {
    uint32_t id;
    float score;
};

/* The caller owns h (room for cap pairs); n starts at 0. */
struct topk {
    struct topk_hit *h;
    size_t n, cap;
};

/* a is weaker than b: a lower score, or the same score and a larger id */
static inline int topk_weaker(struct topk_hit a, struct topk_hit b)
{
    return a.score < b.score || (a.score == b.score && a.id > b.id);
}

/* Offer (id, score): kept while fewer than cap are held, or when it beats the weakest. */
void topk_push(struct topk *t, uint32_t id, float score);

/* The score a candidate must reach to enter (-INFINITY until cap are held). */
static inline float topk_floor(const struct topk *t)
{
    return t->n < t->cap ? -INFINITY : t->h[0].score;
}

/* Sort n pairs best first (score descending, then id ascending). */
void topk_sort(struct topk_hit *h, size_t n);

#endif
