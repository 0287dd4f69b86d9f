/* lmserve-ngram-train: estimate an interpolated modified Kneser-Ney n-gram LM (Chen & Goodman,
 * three discounts per order from count-of-counts, as KenLM's lmplz does) from text on stdin and
 * write it as ARPA to stdout. One sentence per line, tokens split on white space.
 * It is not a loader: it knows nothing of lmserve's n-gram model code.
 *
 * Memory: only the vocabulary lives in memory (O(distinct words)); every n-gram table goes
 * through an external merge sort (models/util/extsort) with a fixed buffer (-S), spilling
 * sorted runs to $TMPDIR. Time is O(T log T) for T n-grams; disk is about 2-3x the final
 * n-gram tables. The steps follow the estimate's data flow:
 *   1. count:     every top-order n-gram of the padded text, sorted in suffix order
 *   2. adjust:    one pass over it gives the adjusted counts of every order (raw counts for
 *                 the top order and for n-grams starting with <s>, otherwise the number of
 *                 distinct left extensions) and the count-of-counts -> discounts
 *   3. initial:   per order, in context order: uninterpolated probabilities and the context's
 *                 interpolation weight gamma (also the context's ARPA backoff)
 *   4. interpolate: all orders merged in suffix order, so p(w|suffix) is at hand for each
 *                 n-gram: p = u + gamma * p_lower; unigrams interpolate with the uniform
 *                 distribution over the vocabulary (including <unk>, excluding <s>). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../models/util/extsort.h"
#include "../models/util/progress.h"
#include "../models/util/status.h"

#define TRAIN_ORDER_MIN 1
#define TRAIN_ORDER_MAX 6          /* the range; the records below are sized for it */
#define TRAIN_MEM_DEFAULT_MIB 256  /* -S default: total sort buffers */
#define TRAIN_MIB (1024u * 1024u)
#define TRAIN_VOCAB_INIT 4096      /* initial hash slots (power of two) */
#define TRAIN_WORD_MAX_BYTES 4096  /* longer tokens are rejected: surely not text */
#define TRAIN_KN_DISCOUNTS 3       /* D1, D2, D3+ */
#define TRAIN_LOG_ZERO (-99.0)     /* ARPA's log10 of probability 0 (<s>) */
/* KenLM's --discount_fallback values, used when count-of-counts cannot give discounts. */
static const double TRAIN_FALLBACK_D[TRAIN_KN_DISCOUNTS + 1] = {0.0, 0.5, 1.0, 1.5};

enum { ID_UNK = 0, ID_BOS = 1, ID_EOS = 2, ID_FIRST_WORD = 3 };

/* ---- vocabulary: words -> dense ids ---- */

struct vocab {
    char **words;     /* (n) owned strings */
    uint32_t n, cap;
    uint32_t *slots;  /* (n_slots) id + 1, 0 = empty */
    uint32_t n_slots;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int vocab_grow_slots(struct vocab *v)
{
    uint32_t n_slots = v->n_slots ? v->n_slots * 2 : TRAIN_VOCAB_INIT;
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t id = 0; id < v->n; id++) {
        uint64_t h = hash_bytes(v->words[id], strlen(v->words[id]));
        uint32_t i = (uint32_t)h & (n_slots - 1);
        while (slots[i])
            i = (i + 1) & (n_slots - 1);
        slots[i] = id + 1;
    }
    free(v->slots);
    v->slots = slots;
    v->n_slots = n_slots;
    return 0;
}

/* The id of 'w' (len bytes), added if new; UINT32_MAX when out of memory. */
static uint32_t vocab_id(struct vocab *v, const char *w, size_t len)
{
    if (2 * (v->n + 1) > v->n_slots && vocab_grow_slots(v))
        return UINT32_MAX;
    uint32_t i = (uint32_t)hash_bytes(w, len) & (v->n_slots - 1);
    for (; v->slots[i]; i = (i + 1) & (v->n_slots - 1)) {
        const char *o = v->words[v->slots[i] - 1];
        if (strncmp(o, w, len) == 0 && o[len] == '\0')
            return v->slots[i] - 1;
    }
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : TRAIN_VOCAB_INIT;
        char **words = realloc(v->words, cap * sizeof *words);
        if (!words)
            return UINT32_MAX;
        v->words = words;
        v->cap = cap;
    }
    char *copy = strndup(w, len);
    if (!copy)
        return UINT32_MAX;
    v->words[v->n] = copy;
    v->slots[i] = v->n + 1;
    return v->n++;
}

static void vocab_free(struct vocab *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        free(v->words[i]);
    free(v->words);
    free(v->slots);
}

/* ---- records and their orders ---- */

/* Count records (steps 1-3): a 64-bit payload, then the word ids. */
struct count_rec {
    uint64_t count; /* raw or adjusted count; in gamma files the gamma as a double's bits */
    uint32_t ids[TRAIN_ORDER_MAX];
};
/* Probability records (step 4): any order, compared in suffix order. */
struct prob_rec {
    double u;       /* uninterpolated probability */
    double gamma;   /* interpolation weight of this n-gram's context */
    double backoff; /* this n-gram's own gamma as a context; < 0 when it is no context */
    uint32_t order;
    uint32_t ids[TRAIN_ORDER_MAX];
};

struct order_ctx {
    size_t n; /* ids compared */
};

static size_t count_rec_bytes(size_t n)
{
    size_t b = offsetof(struct count_rec, ids) + n * sizeof(uint32_t);
    return (b + sizeof(uint64_t) - 1) / sizeof(uint64_t) * sizeof(uint64_t);
}

/* Suffix order: compare the last words first (KenLM's SuffixOrder). */
static int cmp_suffix(const void *a, const void *b, void *ctx)
{
    size_t n = ((const struct order_ctx *)ctx)->n;
    const uint32_t *x = ((const struct count_rec *)a)->ids, *y = ((const struct count_rec *)b)->ids;
    for (size_t i = n; i-- > 0;)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* Context order: plain left-to-right. */
static int cmp_context(const void *a, const void *b, void *ctx)
{
    size_t n = ((const struct order_ctx *)ctx)->n;
    const uint32_t *x = ((const struct count_rec *)a)->ids, *y = ((const struct count_rec *)b)->ids;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* Suffix order across orders: a suffix sorts before every n-gram that extends it. */
static int cmp_prob(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    const struct prob_rec *x = a, *y = b;
    uint32_t n = x->order < y->order ? x->order : y->order;
    for (uint32_t i = 1; i <= n; i++) {
        uint32_t p = x->ids[x->order - i], q = y->ids[y->order - i];
        if (p != q)
            return p < q ? -1 : 1;
    }
    return (x->order > y->order) - (x->order < y->order);
}

static void combine_sum(void *into, const void *from, void *ctx)
{
    (void)ctx;
    ((struct count_rec *)into)->count += ((const struct count_rec *)from)->count;
}

/* ---- the trainer ---- */

struct trainer {
    int order;
    size_t mem_bytes;
    struct vocab vocab;
    uint64_t tokens, sentences;
    struct order_ctx ctx[TRAIN_ORDER_MAX + 1]; /* ctx[n].n == n */
    uint64_t coc[TRAIN_ORDER_MAX + 1][TRAIN_KN_DISCOUNTS + 2]; /* count-of-counts 1..4 */
    double d[TRAIN_ORDER_MAX + 1][TRAIN_KN_DISCOUNTS + 1];     /* discounts D1..D3+ */
    uint64_t n_grams[TRAIN_ORDER_MAX + 1];                     /* unique n-grams per order */
    extsort *full;                         /* step 1: top order, suffix order */
    extsort *adjusted[TRAIN_ORDER_MAX + 1];/* step 2: per order, context order */
    extsort *probs;                        /* step 3: all orders, suffix order */
    FILE *arpa[TRAIN_ORDER_MAX + 1];       /* step 4: ARPA lines per order */
    double t0;                             /* progress_clock() at the start */
};

#define TRAIN_TOOL "lmserve-ngram-train"
#define TRAIN_PROGRESS_EVERY_S 5.0 /* a counting progress line at most this often */

static FILE *tmp_open(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(path, sizeof path, "%s/lmserve-ngram-train-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    return fdopen(fd, "w+");
}

/* Step 1: read stdin, pad each sentence with ORDER-1 <s> (KenLM's convention, so that the
 * n-grams starting with <s> get their raw counts in step 2) and one </s>. */
static int train_count(struct trainer *t, FILE *in, struct status_err *err)
{
    int rc = extsort_new(count_rec_bytes(t->order), t->mem_bytes, cmp_suffix, combine_sum,
                         &t->ctx[t->order], &t->full, err);
    if (rc)
        return rc;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    struct count_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.count = 1;
    progress_stage(TRAIN_TOOL, t->t0, "step 1/4: counting %d-grams from stdin", t->order);
    double next_line = t->t0 + TRAIN_PROGRESS_EVERY_S;
    while ((len = getline(&line, &line_cap, in)) >= 0) {
        lineno++;
        if ((lineno & 0xfff) == 0 && progress_clock() >= next_line) {
            progress_stage(TRAIN_TOOL, t->t0, "  %llu lines, %llu words, vocabulary %lu",
                           (unsigned long long)lineno, (unsigned long long)t->tokens,
                           (unsigned long)t->vocab.n);
            next_line = progress_clock() + TRAIN_PROGRESS_EVERY_S;
        }
        for (int i = 0; i < t->order; i++)
            rec.ids[i] = ID_BOS;
        int words = 0;
        char *p = line, *end = line + len;
        for (;;) {
            while (p < end && strchr(" \t\r\n\v\f", *p) && *p)
                p++;
            if (p >= end || *p == '\0')
                break;
            char *w = p;
            while (p < end && *p && !strchr(" \t\r\n\v\f", *p))
                p++;
            size_t wl = (size_t)(p - w);
            if (wl > TRAIN_WORD_MAX_BYTES) {
                rc = status_set(err, STATUS_BAD_INPUT, NULL,
                                "line %llu: a token of %zu bytes (max %d): is this text?",
                                (unsigned long long)lineno, wl, TRAIN_WORD_MAX_BYTES);
                goto out;
            }
            uint32_t id = vocab_id(&t->vocab, w, wl);
            if (id == UINT32_MAX) {
                rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for the vocabulary");
                goto out;
            }
            if (id == ID_BOS || id == ID_EOS) {
                rc = status_set(err, STATUS_BAD_INPUT, NULL,
                                "line %llu: the text contains %s, which is reserved",
                                (unsigned long long)lineno, t->vocab.words[id]);
                goto out;
            }
            memmove(rec.ids, rec.ids + 1, (t->order - 1) * sizeof rec.ids[0]);
            rec.ids[t->order - 1] = id;
            if ((rc = extsort_add(t->full, &rec, err)))
                goto out;
            words++;
        }
        if (!words)
            continue; /* blank lines are no sentences */
        memmove(rec.ids, rec.ids + 1, (t->order - 1) * sizeof rec.ids[0]);
        rec.ids[t->order - 1] = ID_EOS;
        if ((rc = extsort_add(t->full, &rec, err)))
            goto out;
        t->tokens += words;
        t->sentences++;
    }
    if (ferror(in)) {
        rc = status_set(err, STATUS_IO, NULL, "cannot read the input: %s", strerror(errno));
        goto out;
    }
    if (t->tokens == 0) {
        rc = status_set(err, STATUS_BAD_INPUT, NULL,
                        "empty input: no words on stdin (one sentence per line expected)");
        goto out;
    }
    rc = extsort_finish(t->full, err);
out:
    free(line);
    return rc;
}

static void adjusted_emit(struct trainer *t, int n, const uint32_t *ids, uint64_t count,
                          int *rc, struct status_err *err)
{
    struct count_rec rec;
    memset(&rec, 0, sizeof rec);
    memcpy(rec.ids, ids, n * sizeof *ids);
    rec.count = count;
    if (count >= 1 && count <= TRAIN_KN_DISCOUNTS + 1)
        t->coc[n][count]++;
    if (!*rc)
        *rc = extsort_add(t->adjusted[n], &rec, err);
}

/* Step 2: adjusted counts of every order from the suffix-sorted top-order counts. In suffix
 * order the n-grams sharing their last n words are contiguous for every n, so one pass keeps,
 * per order, the current suffix with its raw-count sum and its distinct left extensions. */
static int train_adjust(struct trainer *t, struct status_err *err)
{
    const int N = t->order;
    int rc = STATUS_OK;
    size_t per = t->mem_bytes / (N + 1);
    for (int n = 1; n <= N; n++)
        if ((rc = extsort_new(count_rec_bytes(n), per, cmp_context, combine_sum, &t->ctx[n],
                              &t->adjusted[n], err)))
            return rc;
    /* <unk> and <s> are unigrams with count 0 (<s> is only ever a context). */
    uint32_t special[2] = {ID_UNK, ID_BOS};
    adjusted_emit(t, 1, &special[0], 0, &rc, err);
    adjusted_emit(t, 1, &special[1], 0, &rc, err);

    uint32_t prev[TRAIN_ORDER_MAX];
    uint64_t raw[TRAIN_ORDER_MAX + 1] = {0}, ext[TRAIN_ORDER_MAX + 1] = {0};
    int have_prev = 0;
    const struct count_rec *r;
    while (!rc && (r = extsort_next(t->full, err))) {
        int same = 0;
        if (have_prev)
            while (same < N && r->ids[N - 1 - same] == prev[N - 1 - same])
                same++;
        /* Orders whose suffix changed: emit the finished one. */
        if (have_prev) {
            for (int n = N; n > same; n--) {
                const uint32_t *s = prev + (N - n);
                if (n >= 2 && s[0] == ID_BOS && s[1] == ID_BOS)
                    continue; /* padding, not an n-gram */
                uint64_t c = (n == N || s[0] == ID_BOS) ? raw[n] : ext[n];
                adjusted_emit(t, n, s, c, &rc, err);
            }
        }
        for (int n = same + 1; n <= N; n++)
            raw[n] = ext[n] = 0;
        for (int n = 1; n <= N; n++)
            raw[n] += r->count;
        /* The (n+1)-suffix is new for n >= same: one more distinct left extension. */
        for (int n = same > 1 ? same : 1; n < N; n++)
            ext[n]++;
        memcpy(prev, r->ids, N * sizeof prev[0]);
        have_prev = 1;
    }
    if (!rc && err->code)
        rc = err->code;
    if (!rc && have_prev) {
        for (int n = N; n >= 1; n--) {
            const uint32_t *s = prev + (N - n);
            if (n >= 2 && s[0] == ID_BOS && s[1] == ID_BOS)
                continue;
            adjusted_emit(t, n, s, (n == N || s[0] == ID_BOS) ? raw[n] : ext[n], &rc, err);
        }
    }
    extsort_free(t->full);
    t->full = NULL;
    for (int n = 1; !rc && n <= N; n++)
        rc = extsort_finish(t->adjusted[n], err);
    return rc;
}

/* Discounts of one order from its count-of-counts (Chen & Goodman eq. 26). */
static void train_discounts(struct trainer *t, int n)
{
    const uint64_t *c = t->coc[n];
    double *d = t->d[n];
    int ok = c[1] && c[2] && c[3] && c[4];
    if (ok) {
        double y = (double)c[1] / ((double)c[1] + 2.0 * (double)c[2]);
        for (int k = 1; k <= TRAIN_KN_DISCOUNTS; k++) {
            d[k] = k - (k + 1) * y * (double)c[k + 1] / (double)c[k];
            if (d[k] <= 0.0 || d[k] > k)
                ok = 0;
        }
    }
    if (!ok) {
        fprintf(stderr, "lmserve-ngram-train: order %d: count-of-counts %llu %llu %llu %llu "
                        "give no valid discounts; using %.1f %.1f %.1f\n", n,
                (unsigned long long)c[1], (unsigned long long)c[2], (unsigned long long)c[3],
                (unsigned long long)c[4], TRAIN_FALLBACK_D[1], TRAIN_FALLBACK_D[2],
                TRAIN_FALLBACK_D[3]);
        memcpy(d, TRAIN_FALLBACK_D, sizeof TRAIN_FALLBACK_D);
    }
}

static double discount(const double *d, uint64_t count)
{
    return d[count < TRAIN_KN_DISCOUNTS ? count : TRAIN_KN_DISCOUNTS];
}

/* A growable buffer of one context's n-grams. */
struct group {
    struct count_rec *recs;
    size_t n, cap;
};

/* Step 3, one order: group by context; uninterpolated probabilities, gammas, and the join
 * with the gammas of this order's n-grams as contexts (written by order n+1, same order). */
static int train_initial(struct trainer *t, int n, extsort *ctx_gammas, extsort **gammas_out,
                         struct status_err *err)
{
    int rc = STATUS_OK;
    struct group g = {0};
    extsort *gammas = NULL; /* this order's contexts, for order n-1 */
    if (n > 1 && (rc = extsort_new(count_rec_bytes(n - 1), t->mem_bytes / 4, cmp_context, NULL,
                                   &t->ctx[n - 1], &gammas, err)))
        return rc;
    const struct count_rec *bo = ctx_gammas ? extsort_next(ctx_gammas, err) : NULL;
    const struct count_rec *r = extsort_next(t->adjusted[n], err);
    while (r) {
        g.n = 0;
        uint64_t denom = 0, nk[TRAIN_KN_DISCOUNTS + 1] = {0};
        do {
            if (g.n == g.cap) {
                size_t cap = g.cap ? 2 * g.cap : 1024;
                struct count_rec *recs = realloc(g.recs, cap * sizeof *recs);
                if (!recs) {
                    rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
                    goto out;
                }
                g.recs = recs;
                g.cap = cap;
            }
            /* The record holds only n ids: copy its bytes, not a whole struct count_rec. */
            memcpy(&g.recs[g.n++], r, count_rec_bytes(n));
            t->n_grams[n]++;
            denom += r->count;
            if (r->count)
                nk[r->count < TRAIN_KN_DISCOUNTS ? r->count : TRAIN_KN_DISCOUNTS]++;
            r = extsort_next(t->adjusted[n], err);
        } while (r && (n == 1 || memcmp(r->ids, g.recs[0].ids, (n - 1) * sizeof r->ids[0]) == 0));
        double gamma = 0.0;
        for (int k = 1; k <= TRAIN_KN_DISCOUNTS; k++)
            gamma += t->d[n][k] * (double)nk[k];
        gamma /= (double)denom;
        if (gammas) {
            struct count_rec c = g.recs[0];
            memcpy(&c.count, &gamma, sizeof gamma);
            if ((rc = extsort_add(gammas, &c, err)))
                goto out;
        }
        for (size_t i = 0; i < g.n; i++) {
            const struct count_rec *a = &g.recs[i];
            struct prob_rec p;
            memset(&p, 0, sizeof p);
            p.order = (uint32_t)n;
            memcpy(p.ids, a->ids, n * sizeof a->ids[0]);
            p.u = a->count ? ((double)a->count - discount(t->d[n], a->count)) / (double)denom : 0.0;
            p.gamma = gamma;
            if (n == 1 && a->ids[0] == ID_BOS) { /* p(<s>) = 1 so that b(<s>) is its q */
                p.u = 1.0;
                p.gamma = 0.0;
            }
            p.backoff = -1.0;
            while (bo && cmp_context(bo, a, &t->ctx[n]) < 0)
                bo = extsort_next(ctx_gammas, err);
            uint32_t last = a->ids[n - 1];
            if (bo && cmp_context(bo, a, &t->ctx[n]) == 0 && last != ID_UNK && last != ID_EOS)
                memcpy(&p.backoff, &bo->count, sizeof p.backoff);
            if ((rc = extsort_add(t->probs, &p, err)))
                goto out;
        }
    }
    if (err->code) {
        rc = err->code;
        goto out;
    }
    if (gammas && (rc = extsort_finish(gammas, err)))
        goto out;
    *gammas_out = gammas;
    gammas = NULL;
out:
    free(g.recs);
    extsort_free(gammas);
    return rc;
}

/* Step 4: interpolate in suffix order and write each order's ARPA lines to its own file. */
static int train_interpolate(struct trainer *t, struct status_err *err)
{
    double p_lower[TRAIN_ORDER_MAX + 1];
    p_lower[0] = 1.0 / (double)(t->n_grams[1] - 1); /* uniform: with <unk>, without <s> */
    const struct prob_rec *r;
    while ((r = extsort_next(t->probs, err))) {
        int n = (int)r->order;
        double p = r->u + r->gamma * p_lower[n - 1];
        p_lower[n] = p;
        FILE *f = t->arpa[n];
        double lp = (n == 1 && r->ids[0] == ID_BOS) ? TRAIN_LOG_ZERO : log10(p);
        if (lp > 0.0)
            lp = 0.0; /* rounding */
        fprintf(f, "%.7g\t", lp);
        for (int i = 0; i < n; i++)
            fprintf(f, "%s%s", i ? " " : "", t->vocab.words[r->ids[i]]);
        if (r->backoff >= 0.0)
            fprintf(f, "\t%.7g", r->backoff > 0.0 ? log10(r->backoff) : TRAIN_LOG_ZERO);
        fputc('\n', f);
    }
    return err->code;
}

static int train_write(struct trainer *t, FILE *out, struct status_err *err)
{
    fprintf(out, "\\data\\\n");
    for (int n = 1; n <= t->order; n++)
        fprintf(out, "ngram %d=%llu\n", n, (unsigned long long)t->n_grams[n]);
    char buf[1 << 16];
    for (int n = 1; n <= t->order; n++) {
        fprintf(out, "\n\\%d-grams:\n", n);
        rewind(t->arpa[n]);
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, t->arpa[n])) > 0)
            if (fwrite(buf, 1, got, out) != got)
                break;
    }
    fprintf(out, "\n\\end\\\n");
    if (fflush(out) || ferror(out))
        return status_set(err, STATUS_IO, NULL, "cannot write the ARPA output: %s",
                          strerror(errno));
    return STATUS_OK;
}

static int train_run(struct trainer *t, FILE *in, FILE *out, struct status_err *err)
{
    int rc;
    for (int n = 0; n <= TRAIN_ORDER_MAX; n++)
        t->ctx[n].n = (size_t)n;
    /* Reserve the special ids 0..2 in the order the ARPA lists them. */
    if (vocab_id(&t->vocab, "<unk>", 5) != ID_UNK || vocab_id(&t->vocab, "<s>", 3) != ID_BOS ||
        vocab_id(&t->vocab, "</s>", 4) != ID_EOS)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    if ((rc = train_count(t, in, err)))
        return rc;
    progress_stage(TRAIN_TOOL, t->t0, "step 2/4: adjusted counts and discounts (%llu sentences, "
                   "%llu words)", (unsigned long long)t->sentences, (unsigned long long)t->tokens);
    if ((rc = train_adjust(t, err)))
        return rc;
    for (int n = 1; n <= t->order; n++)
        train_discounts(t, n);
    if ((rc = extsort_new(sizeof(struct prob_rec), t->mem_bytes / 2, cmp_prob, NULL, NULL,
                          &t->probs, err)))
        return rc;
    extsort *ctx_gammas = NULL;
    progress_stage(TRAIN_TOOL, t->t0, "step 3/4: initial probabilities and back-off weights");
    for (int n = t->order; n >= 1; n--) {
        extsort *gammas = NULL;
        rc = train_initial(t, n, ctx_gammas, &gammas, err);
        extsort_free(ctx_gammas);
        extsort_free(t->adjusted[n]);
        t->adjusted[n] = NULL;
        ctx_gammas = gammas;
        if (rc)
            break;
    }
    extsort_free(ctx_gammas);
    if (rc || (rc = extsort_finish(t->probs, err)))
        return rc;
    for (int n = 1; n <= t->order; n++)
        if (!(t->arpa[n] = tmp_open()))
            return status_set(err, STATUS_IO, NULL, "cannot create a temporary file: %s",
                              strerror(errno));
    progress_stage(TRAIN_TOOL, t->t0, "step 4/4: interpolating with the lower orders");
    if ((rc = train_interpolate(t, err)))
        return rc;
    fprintf(stderr, "lmserve-ngram-train: %llu sentences, %llu words, vocabulary %llu "
                    "(with <unk> <s> </s>); spilled runs: %zu\n",
            (unsigned long long)t->sentences, (unsigned long long)t->tokens,
            (unsigned long long)t->n_grams[1], extsort_runs(t->probs));
    for (int n = 1; n <= t->order; n++)
        fprintf(stderr, "  order %d: %llu n-grams, discounts %.4f %.4f %.4f\n", n,
                (unsigned long long)t->n_grams[n], t->d[n][1], t->d[n][2], t->d[n][3]);
    progress_stage(TRAIN_TOOL, t->t0, "writing the ARPA file");
    rc = train_write(t, out, err);
    if (!rc)
        progress_stage(TRAIN_TOOL, t->t0, "done");
    return rc;
}

static void trainer_free(struct trainer *t)
{
    extsort_free(t->full);
    extsort_free(t->probs);
    for (int n = 0; n <= TRAIN_ORDER_MAX; n++) {
        extsort_free(t->adjusted[n]);
        if (t->arpa[n])
            fclose(t->arpa[n]);
    }
    vocab_free(&t->vocab);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lmserve-ngram-train -o ORDER [-S MEMORY_MIB] < text > model.arpa\n"
               "  Interpolated modified Kneser-Ney (as KenLM lmplz) of order %d..%d from one\n"
               "  sentence per line on stdin; ARPA on stdout. -S bounds the sort buffers\n"
               "  (default %d MiB); larger inputs spill sorted runs to $TMPDIR.\n",
            TRAIN_ORDER_MIN, TRAIN_ORDER_MAX, TRAIN_MEM_DEFAULT_MIB);
}

int main(int argc, char **argv)
{
    struct trainer t;
    memset(&t, 0, sizeof t);
    t.t0 = progress_clock();
    long mem_mib = TRAIN_MEM_DEFAULT_MIB;
    int opt;
    while ((opt = getopt(argc, argv, "o:S:h")) != -1) {
        char *end;
        switch (opt) {
        case 'o':
            errno = 0;
            long o = strtol(optarg, &end, 10);
            if (errno || *end || o < TRAIN_ORDER_MIN || o > TRAIN_ORDER_MAX) {
                fprintf(stderr, "lmserve-ngram-train: order '%s' out of range: use %d..%d\n",
                        optarg, TRAIN_ORDER_MIN, TRAIN_ORDER_MAX);
                return 2;
            }
            t.order = (int)o;
            break;
        case 'S':
            errno = 0;
            mem_mib = strtol(optarg, &end, 10);
            if (errno || *end || mem_mib < 1) {
                fprintf(stderr, "lmserve-ngram-train: -S '%s': a number of MiB >= 1\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!t.order || optind != argc) {
        fprintf(stderr, "lmserve-ngram-train: %s\n",
                t.order ? "unexpected argument" : "-o ORDER is required");
        usage(stderr);
        return 2;
    }
    t.mem_bytes = (size_t)mem_mib * TRAIN_MIB;
    struct status_err err;
    status_clear(&err);
    int rc = train_run(&t, stdin, stdout, &err);
    trainer_free(&t);
    if (rc) {
        fprintf(stderr, "lmserve-ngram-train: %s\n", err.msg[0] ? err.msg : status_name(rc));
        return 1;
    }
    return 0;
}
