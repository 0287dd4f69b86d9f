/* sampler.c: choosing the next token from logits: repetition / presence / frequency
 * penalties, then greedy (temperature 0) or temperature + top_k + top_p + min_p sampling
 * with a seeded generator (same seed, same output); and log-probabilities for logprobs. */
#include "transformer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define SAMPLER_SEED_DEFAULT 0x9E3779B97F4A7C15ull /* any non-zero state; seed 0 maps here */

int sampler_init(struct sampler *s, int vocab, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->vocab = vocab;
    s->probs = malloc((size_t)vocab * sizeof *s->probs);
    s->idx = malloc((size_t)vocab * sizeof *s->idx);
    s->count = calloc((size_t)vocab, sizeof *s->count);
    s->seen = calloc((size_t)vocab, sizeof *s->seen);
    s->rng = seed ? seed : SAMPLER_SEED_DEFAULT;
    if (!s->probs || !s->idx || !s->count || !s->seen) {
        sampler_free(s);
        return STATUS_NO_MEMORY;
    }
    return STATUS_OK;
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    free(s->probs);
    free(s->idx);
    free(s->count);
    free(s->seen);
    free(s->hits);
    memset(s, 0, sizeof *s);
}

void sampler_observe(struct sampler *s, int id, int generated)
{
    if (id < 0 || id >= s->vocab)
        return;
    s->seen[id] = 1;
    if (generated)
        s->count[id]++;
}

/* xorshift64*: small, fast, and the same on every platform */
static uint64_t rng_u64(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 0x2545F4914F6CDD1Dull;
}

static float rng_f32(uint64_t *st) { return (float)(rng_u64(st) >> 40) / 16777216.0f; }

/* The first index of the largest value (NaNs never win unless x[0] is one), as the plain
 * loop "if (x[i] > x[best]) best = i" gives; with SSE2 (every x86-64) the maximum is found 16
 * lanes at a time and then its first index: ~8x faster over a 32,000-token vocabulary, which
 * every greedy token of every stream pays. */
static int argmax(const float *x, int n)
{
    int i = 1, best = 0;
#if defined(__SSE2__)
    if (n >= 32 && x[0] == x[0]) {
        /* max_ps(v, m) returns m when v is NaN: NaNs are skipped, as '>' skips them */
        __m128 m0 = _mm_set1_ps(x[0]), m1 = m0, m2 = m0, m3 = m0;
        int j = 0;
        for (; j + 16 <= n; j += 16) {
            m0 = _mm_max_ps(_mm_loadu_ps(x + j), m0);
            m1 = _mm_max_ps(_mm_loadu_ps(x + j + 4), m1);
            m2 = _mm_max_ps(_mm_loadu_ps(x + j + 8), m2);
            m3 = _mm_max_ps(_mm_loadu_ps(x + j + 12), m3);
        }
        float lane[4];
        _mm_storeu_ps(lane, _mm_max_ps(_mm_max_ps(m0, m1), _mm_max_ps(m2, m3)));
        float mx = lane[0];
        for (int k = 1; k < 4; k++)
            mx = lane[k] > mx ? lane[k] : mx;
        for (; j < n; j++)
            mx = x[j] > mx ? x[j] : mx;
        /* -0 == +0: the first of either wins, as with '>' */
        for (int k = 0; k < n; k++)
            if (x[k] == mx)
                return k;
    }
#endif
    for (; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

int sampler_greedy_plain(const struct transformer_gen_params *p)
{
    const int rep = p->repetition_penalty > 0.0f && p->repetition_penalty != 1.0f;
    const int add = p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f;
    return p->temperature <= 0.0f && !rep && !add;
}

int sampler_argmax(const float *logits, int vocab) { return argmax(logits, vocab); }

/* Sort candidate ids by probability, highest first (ties: lower id first). */
static void sort_desc(int *idx, size_t n, const float *p)
{
    /* insertion sort for short lists, shell sort otherwise: no global state, no qsort_r */
    size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        size_t gap = gaps[g];
        for (size_t i = gap; i < n; i++) {
            int v = idx[i];
            size_t j = i;
            while (j >= gap && (p[idx[j - gap]] < p[v] || (p[idx[j - gap]] == p[v] && idx[j - gap] > v))) {
                idx[j] = idx[j - gap];
                j -= gap;
            }
            idx[j] = v;
        }
    }
}

/* Keep only the k most probable of idx[0..n) (k < n; idx ascending), in place, best first:
 * probability descending, then id ascending (models/util/topk's order, as sort_desc's). */
static void keep_top_k(struct sampler *s, size_t n, size_t k)
{
    int *idx = s->idx;
    const float *p = s->probs;
    if (k > s->hits_cap) {
        struct topk_hit *h = realloc(s->hits, k * sizeof *h);
        if (!h) { /* the same order from sorting everything */
            sort_desc(idx, n, p);
            return;
        }
        s->hits = h;
        s->hits_cap = k;
    }
    struct topk t = {.h = s->hits, .cap = k};
    size_t i = 0;
    for (; i < k; i++)
        topk_push(&t, (uint32_t)idx[i], p[idx[i]]);
    /* ids come ascending: one equal to the weakest kept never enters (no call for it) */
    for (float weakest = t.h[0].score; i < n; i++)
        if (p[idx[i]] > weakest) {
            topk_push(&t, (uint32_t)idx[i], p[idx[i]]);
            weakest = t.h[0].score;
        }
    topk_sort(t.h, k);
    for (i = 0; i < k; i++)
        idx[i] = (int)t.h[i].id;
}

static void apply_penalties(struct sampler *s, float *logits, const struct transformer_gen_params *p)
{
    const int rep = p->repetition_penalty > 0.0f && p->repetition_penalty != 1.0f;
    const int add = p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f;
    if (!rep && !add)
        return;
    for (int i = 0; i < s->vocab; i++) {
        if (rep && s->seen[i])
            logits[i] = logits[i] > 0.0f ? logits[i] / p->repetition_penalty
                                         : logits[i] * p->repetition_penalty;
        if (add && s->count[i] > 0)
            logits[i] -= p->presence_penalty + p->frequency_penalty * (float)s->count[i];
    }
}

int sampler_next(struct sampler *s, float *logits, const struct transformer_gen_params *p)
{
    const int V = s->vocab;
    apply_penalties(s, logits, p);
    if (p->temperature <= 0.0f)
        return argmax(logits, V);
    float max = logits[argmax(logits, V)], sum = 0.0f;
    for (int i = 0; i < V; i++) {
        s->probs[i] = expf((logits[i] - max) / p->temperature);
        sum += s->probs[i];
    }
    for (int i = 0; i < V; i++)
        s->probs[i] /= sum;
    /* candidates: min_p first (relative to the best, which has probability exp(0)/sum) */
    const float pmax = 1.0f / sum;
    const float floor_p = p->min_p > 0.0f ? p->min_p * pmax : 0.0f;
    /* top_p alone: anything below (1 - top_p) / (V - 1) cannot be in the nucleus (run.c) */
    const float floor_tp = p->top_p < 1.0f && V > 1 ? (1.0f - p->top_p) / (float)(V - 1) : 0.0f;
    const float cut = floor_p > floor_tp ? floor_p : floor_tp;
    size_t n = 0;
    for (int i = 0; i < V; i++)
        if (s->probs[i] >= cut)
            s->idx[n++] = i;
    if (n == 0) /* cannot happen (the best passes every floor), but stay safe */
        return argmax(logits, V);
    int sorted = 0;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        keep_top_k(s, n, (size_t)p->top_k);
        sorted = 1;
        n = (size_t)p->top_k;
    }
    if (p->top_p < 1.0f) {
        if (!sorted)
            sort_desc(s->idx, n, s->probs);
        float total = 0.0f, cum = 0.0f;
        for (size_t i = 0; i < n; i++)
            total += s->probs[s->idx[i]];
        for (size_t i = 0; i < n; i++) {
            cum += s->probs[s->idx[i]];
            if (cum >= p->top_p * total) {
                n = i + 1;
                break;
            }
        }
    }
    float total = 0.0f;
    for (size_t i = 0; i < n; i++)
        total += s->probs[s->idx[i]];
    const float r = rng_f32(&s->rng) * total;
    float cum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        cum += s->probs[s->idx[i]];
        if (r < cum)
            return s->idx[i];
    }
    return s->idx[n - 1]; /* rounding */
}

float sampler_logprob(const float *logits, int vocab, int id, struct transformer_gen_alt *top,
                      size_t n_top)
{
    float max = logits[argmax(logits, vocab)];
    double sum = 0.0;
    for (int i = 0; i < vocab; i++)
        sum += exp((double)logits[i] - max);
    const float lse = max + (float)log(sum);
    /* top-n by insertion into a sorted list (logprobs: n_top <= 20; /v1/next: its top_k) */
    size_t have = 0;
    for (int i = 0; i < vocab && n_top > 0; i++) {
        if (have == n_top && logits[i] <= top[have - 1].logprob)
            continue;
        size_t j = have < n_top ? have++ : n_top - 1;
        while (j > 0 && top[j - 1].logprob < logits[i]) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].id = i;
        top[j].logprob = logits[i];
    }
    for (size_t i = 0; i < have; i++)
        top[i].logprob -= lse;
    return logits[id] - lse;
}
