/* model.c: the "ngram" model type for the registry (models/types.c) and its language-model
 * table (models/lm.h) used by /v1/score and /v1/next. Parsing and scoring live in lm.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../lm.h"
#include "../registry.h"
#include "ngram.h"
#include "../util/topk.h"

#define LN10 2.302585092994045684 /* log10 -> natural log */

struct ngram_model {
    ngram_lm *lm;
    int lowercase; /* option lowercase=true: ASCII-lowercase input before lookup */
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int ngram_model_load(const char *path, const struct model_options *opts, void **impl,
                            struct status_err *err)
{
    int lc = model_options_bool(opts, "lowercase", 0);
    if (lc < 0)
        return status_set(err, STATUS_BAD_INPUT, "lowercase",
                          "option lowercase must be true or false, not '%s'",
                          model_options_get(opts, "lowercase"));
    struct ngram_model *m = calloc(1, sizeof *m);
    if (!m)
        return status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", path);
    int rc = ngram_open(path, &m->lm, err);
    if (rc != STATUS_OK) {
        free(m);
        return rc;
    }
    m->lowercase = lc;
    *impl = m;
    return STATUS_OK;
}

static void ngram_model_free(void *impl)
{
    struct ngram_model *m = impl;
    if (!m)
        return;
    ngram_close(m->lm);
    free(m);
}

static json_t *ngram_model_describe(const void *impl)
{
    const struct ngram_model *m = impl;
    json_t *counts = json_array();
    for (int n = 1; n <= ngram_order(m->lm); n++)
        json_array_append_new(counts, json_integer((json_int_t)ngram_count(m->lm, n)));
    return json_pack("{s:i, s:o, s:I, s:b, s:s, s:I, s:b}", "order", ngram_order(m->lm), "counts",
                     counts, "vocab_size", (json_int_t)ngram_vocab_size(m->lm), "has_unk",
                     ngram_has_unk(m->lm), "format", ngram_format(m->lm), "bytes",
                     (json_int_t)ngram_bytes(m->lm), "lowercase", m->lowercase);
}

static size_t ngram_model_bytes(const void *impl)
{
    const struct ngram_model *m = impl;
    return ngram_bytes(m->lm);
}

/* ---- language-model interface ---- */

/* Copy of 'text', ASCII-lowercased when the model asks for it. */
static char *prepare(const struct ngram_model *m, const char *text)
{
    size_t n = strlen(text);
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        char c = text[i];
        t[i] = (m->lowercase && c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return t;
}

static int ngram_lm_score(void *impl, const char *text, const struct lm_score_opts *opts,
                          struct lm_scored *out, struct status_err *err)
{
    const struct ngram_model *m = impl;
    out->tokens = NULL;
    out->n = 0;
    int bos = opts ? opts->bos : 1, eos = opts ? opts->eos : 1;
    char *t = prepare(m, text);
    /* at most one word per two bytes, plus </s> */
    size_t cap = strlen(text) / 2 + 2;
    const char **w = malloc(cap * sizeof *w);
    size_t *wl = malloc(cap * sizeof *wl);
    uint32_t *ids = malloc(cap * sizeof *ids);
    uint8_t *oov = malloc(cap);
    uint8_t *order = malloc(cap);
    float *lp = malloc(cap * sizeof *lp);
    size_t n = 0;
    int rc;
    if (!t || !w || !wl || !ids || !oov || !order || !lp)
        goto nomem;
    for (const char *p = t;;) {
        while (*p && is_space(*p))
            p++;
        if (!*p)
            break;
        w[n] = p;
        while (*p && !is_space(*p))
            p++;
        wl[n] = (size_t)(p - w[n]);
        n++;
    }
    ngram_words(m->lm, w, wl, n, ids, oov);
    if (eos) {
        w[n] = "</s>";
        wl[n] = 4;
        ids[n] = ngram_word_eos(m->lm);
        oov[n] = 0;
        n++;
    }
    if (opts && opts->cancelled && *opts->cancelled) {
        rc = status_set(err, STATUS_CANCELLED, NULL, "cancelled");
        goto fail;
    }
    ngram_score_ids(m->lm, ids, n, bos, lp, order);
    out->tokens = calloc(n ? n : 1, sizeof *out->tokens);
    if (!out->tokens)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        struct lm_token *tk = &out->tokens[i];
        tk->text = malloc(wl[i] + 1);
        if (!tk->text)
            goto nomem;
        memcpy(tk->text, w[i], wl[i]);
        tk->text[wl[i]] = '\0';
        out->n = i + 1;
        tk->logprob = (double)lp[i] * LN10;
        tk->order = order[i];
        tk->oov = oov[i];
        tk->id = -1; /* our ids are hash slots: meaningless outside this process */
    }
    rc = STATUS_OK;
    goto done;
nomem:
    rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
fail:
    lm_scored_free(out);
done:
    free(t);
    free(w);
    free(wl);
    free(ids);
    free(oov);
    free(order);
    free(lp);
    return rc;
}

static int ngram_lm_next(void *impl, const char *context, const struct lm_score_opts *opts,
                         size_t top_k, struct lm_candidate **out, size_t *n_out,
                         struct status_err *err)
{
    const struct ngram_model *m = impl;
    *out = NULL;
    *n_out = 0;
    char *t = prepare(m, context);
    struct topk_hit *heap = calloc(top_k ? top_k : 1, sizeof *heap);
    if (!t || !heap) {
        free(t);
        free(heap);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    }
    struct ngram_state st;
    ngram_state_begin(m->lm, opts->bos, &st);
    for (const char *p = t;;) {
        while (*p && is_space(*p))
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && !is_space(*p))
            p++;
        uint32_t id = ngram_word(m->lm, w, (size_t)(p - w), NULL);
        ngram_score(m->lm, &st, id, &st, NULL);
    }
    free(t);
    /* exact: every word of the vocabulary scored under back-off (not only stored n-grams) */
    uint32_t bound = ngram_id_bound(m->lm);
    uint32_t bos = ngram_word_bos(m->lm);
    int unk_oov;
    uint32_t unk = ngram_word(m->lm, "<unk>", 5, &unk_oov);
    float *all = malloc((size_t)bound * sizeof *all);
    if (!all) {
        free(heap);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    }
    ngram_score_all(m->lm, &st, all);
    struct topk best = {.h = heap, .cap = top_k};
    for (uint32_t id = 0; id < bound; id++) {
        if (id == bos || id == unk || all[id] == -INFINITY || all[id] < topk_floor(&best))
            continue; /* (equal to the floor may still enter on a smaller id) */
        topk_push(&best, id, all[id]);
    }
    free(all);
    size_t n = best.n;
    topk_sort(heap, n);
    struct lm_candidate *res = calloc(n ? n : 1, sizeof *res);
    if (!res)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const char *w = ngram_word_text(m->lm, heap[i].id);
        res[i].text = strdup(w);
        if (!res[i].text) {
            lm_candidates_free(res, n);
            goto nomem;
        }
        res[i].logprob = (double)heap[i].score * LN10;
        res[i].id = -1; /* hash slots mean nothing to a client */
    }
    free(heap);
    *out = res;
    *n_out = n;
    return STATUS_OK;
nomem:
    free(heap);
    return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
}

static const struct lm_ops ngram_lm_ops = {
    .score = ngram_lm_score,
    .next = ngram_lm_next,
};

static const char *const ngram_model_options[] = {"lowercase", NULL};

const struct model_ops ngram_model_ops = {
    MODEL_OPS_LIFECYCLE("ngram", ngram_model),
    .lm = &ngram_lm_ops,
};
