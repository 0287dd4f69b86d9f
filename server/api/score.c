/* score.c: POST /v1/score and POST /v1/next for any language model (model_ops.lm): the
 * n-gram type first, Transformers through the same lm_ops. JSON <-> lm calls only; the
 * scoring itself is in models/. Batches arrive here on a worker (router: COST_AUTO/JOB). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/lm.h"
#include "../config.h"
#include "../json.h"
#include "api.h"

#define LN10 2.302585092994045684 /* natural log <-> log10 */
#define NEXT_TOP_K_DEFAULT 10     /* api.yaml: NextRequest.top_k default */
#define SCORE_THREADS_MAX 16      /* texts of one list scored at once at most */

/* Optional boolean field (server/json.c's rule: absent or null -> dflt); -1 after replying
 * 400 naming it. */
static int opt_bool(const struct api_req *rq, struct api_resp *rs, const char *name, int dflt)
{
    struct status_err err;
    status_clear(&err);
    int v = dflt;
    if (jsonx_bool(rq->body, name, NULL, &v, &err) != STATUS_OK) {
        api_error(rs, &err);
        return -1;
    }
    return v;
}

static size_t max_batch(const struct api_req *rq)
{
    return rq->cfg && rq->cfg->max_batch ? rq->cfg->max_batch : CONFIG_MAX_BATCH_DEFAULT;
}

/* One text's scoring; several of them may run at once (lm_ops.batch_width). */
struct score_task {
    const struct lm_ops *lm;
    void *impl;
    const char *text;
    const struct lm_score_opts *opts;
    struct lm_scored sc;
    struct status_err err;
    int rc;
};

static void *score_task_run(void *arg)
{
    struct score_task *k = arg;
    status_clear(&k->err);
    k->rc = k->lm->score(k->impl, k->text, k->opts, &k->sc, &k->err);
    return NULL;
}

/* Run tasks[0..n): up to 'width' at once, each on a thread of its own (their forwards then
 * share the model's batched steps); in turn on this thread when width <= 1. */
static void score_tasks(struct score_task *tasks, size_t n, size_t width)
{
    pthread_t th[SCORE_THREADS_MAX];
    if (width > SCORE_THREADS_MAX)
        width = SCORE_THREADS_MAX;
    for (size_t i = 0; i < n;) {
        size_t started = 0;
        for (; started < width && i + started < n; started++)
            if (width <= 1 || pthread_create(&th[started], NULL, score_task_run, &tasks[i + started]) != 0)
                break;
        if (started == 0) { /* in turn (or no thread could start) */
            score_task_run(&tasks[i++]);
            continue;
        }
        for (size_t j = 0; j < started; j++)
            pthread_join(th[j], NULL);
        i += started;
    }
}

/* One input's result object from its scoring; adds its token count to *usage. NULL on error
 * (rs filled). */
static json_t *score_one(struct score_task *k, size_t index, int detail, struct api_resp *rs,
                         size_t *usage)
{
    struct lm_scored sc = k->sc;
    memset(&k->sc, 0, sizeof k->sc);
    if (k->rc != STATUS_OK) {
        struct status_err err = k->err;
        if (!err.param[0] && err.code == STATUS_BAD_INPUT)
            snprintf(err.param, sizeof err.param, "input[%zu]", index);
        api_error(rs, &err);
        return NULL;
    }
    double total = 0.0, total_oov = 0.0;
    size_t oov = 0;
    json_t *det = detail ? json_array() : NULL;
    for (size_t i = 0; i < sc.n; i++) {
        const struct lm_token *t = &sc.tokens[i];
        double l10 = t->logprob / LN10;
        total += l10;
        if (t->oov) {
            oov++;
            total_oov += l10;
        }
        if (det) {
            json_t *o = json_pack("{s:s, s:f, s:f, s:b}", "token", t->text, "log10_prob", l10,
                                  "logprob", t->logprob, "oov", t->oov);
            if (t->order > 0)
                json_object_set_new(o, "order", json_integer(t->order));
            if (t->id >= 0)
                json_object_set_new(o, "id", json_integer(t->id));
            json_array_append_new(det, o);
        }
    }
    size_t tokens = sc.n;
    lm_scored_free(&sc);
    *usage += tokens;
    json_t *ppl = tokens ? json_real(pow(10.0, -total / (double)tokens)) : json_null();
    json_t *ppl_no = tokens > oov
                         ? json_real(pow(10.0, -(total - total_oov) / (double)(tokens - oov)))
                         : json_null();
    json_t *item =
        json_pack("{s:I, s:f, s:f, s:o, s:o, s:I, s:I}", "index", (json_int_t)index, "log10_prob",
                  total, "logprob", total * LN10, "perplexity", ppl, "perplexity_no_oov", ppl_no,
                  "tokens", (json_int_t)tokens, "oov", (json_int_t)oov);
    if (det)
        json_object_set_new(item, "detail", det);
    return item;
}

void api_score(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_LM);
    if (!m)
        return;
    json_t *input = json_object_get(rq->body, "input");
    int bos = opt_bool(rq, rs, "bos", 1);
    int eos = bos < 0 ? -1 : opt_bool(rq, rs, "eos", 1);
    int detail = eos < 0 ? -1 : opt_bool(rq, rs, "detail", 0);
    if (detail < 0)
        goto done;
    if (!input) {
        api_fail(rs, STATUS_BAD_INPUT, "input", "'input' is required");
        goto done;
    }
    size_t n = 1;
    if (json_is_array(input)) {
        n = json_array_size(input);
        if (n == 0) {
            api_fail(rs, STATUS_BAD_INPUT, "input", "'input' must not be an empty list");
            goto done;
        }
        if (n > max_batch(rq)) {
            api_fail(rs, STATUS_TOO_LARGE, "input", "%zu inputs is more than the limit of %zu", n,
                     max_batch(rq));
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if (!json_is_string(json_array_get(input, i))) {
                char param[32];
                snprintf(param, sizeof param, "input[%zu]", i);
                api_fail(rs, STATUS_BAD_INPUT, param, "'input[%zu]' must be a string", i);
                goto done;
            }
    } else if (!json_is_string(input)) {
        api_fail(rs, STATUS_BAD_INPUT, "input", "'input' must be a string or a list of strings");
        goto done;
    }
    const struct lm_ops *lm = model_ops_of(m)->lm;
    void *impl = model_impl(m);
    struct lm_score_opts opts = {.bos = bos, .eos = eos, .cancelled = rq->cancelled};
    struct score_task *tasks = calloc(n, sizeof *tasks);
    if (!tasks) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *jt = json_is_array(input) ? json_array_get(input, i) : input;
        tasks[i] = (struct score_task){.lm = lm, .impl = impl, .text = json_string_value(jt), .opts = &opts};
    }
    score_tasks(tasks, n, lm->batch_width > 1 ? (size_t)lm->batch_width : 1);
    json_t *data = json_array();
    size_t usage = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *item = data ? score_one(&tasks[i], i, detail, rs, &usage) : NULL;
        if (!item) {
            json_decref(data);
            data = NULL;
            continue; /* the rest are freed below */
        }
        json_array_append_new(data, item);
    }
    for (size_t i = 0; i < n; i++)
        lm_scored_free(&tasks[i].sc);
    free(tasks);
    if (!data) {
        if (!rs->body) /* json_array failed, not a task */
            api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    api_ok(rs, json_pack("{s:s, s:s, s:o, s:{s:I}}", "object", "list", "model", model_id(m), "data",
                         data, "usage", "tokens", (json_int_t)usage));
done:
    registry_release(m);
}

/* The context's tokens as the model scores them, unknown ones as <unk>, joined by spaces
 * (word models) or concatenated (token pieces, which carry their own spaces). */
static int context_as_seen(const struct lm_ops *lm, void *impl, const char *context,
                           const struct lm_score_opts *so, char **out, struct status_err *err)
{
    struct lm_scored sc = {0};
    int rc = lm->score(impl, context, so, &sc, err);
    if (rc != STATUS_OK)
        return rc;
    size_t len = 1;
    for (size_t i = 0; i < sc.n; i++)
        len += (sc.tokens[i].oov ? strlen("<unk>") : strlen(sc.tokens[i].text)) + 1;
    char *s = malloc(len);
    if (!s) {
        lm_scored_free(&sc);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    }
    size_t at = 0;
    for (size_t i = 0; i < sc.n; i++) {
        const struct lm_token *t = &sc.tokens[i];
        const char *w = t->oov ? "<unk>" : t->text;
        if (i && t->id < 0)
            s[at++] = ' ';
        memcpy(s + at, w, strlen(w));
        at += strlen(w);
    }
    s[at] = '\0';
    lm_scored_free(&sc);
    *out = s;
    return STATUS_OK;
}

void api_next(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_LM);
    if (!m)
        return;
    json_t *jc = json_object_get(rq->body, "context");
    int bos = opt_bool(rq, rs, "bos", 1);
    if (bos < 0)
        goto done;
    if (!jc || !json_is_string(jc)) {
        api_fail(rs, STATUS_BAD_INPUT, "context", "'context' must be a string (it may be empty)");
        goto done;
    }
    json_int_t k = NEXT_TOP_K_DEFAULT;
    struct status_err jerr;
    status_clear(&jerr);
    if (jsonx_int(rq->body, "top_k", NULL, 1, LM_TOP_K_MAX, &k, &jerr) != STATUS_OK) {
        api_error(rs, &jerr);
        goto done;
    }
    const struct lm_ops *lm = model_ops_of(m)->lm;
    void *impl = model_impl(m);
    const char *context = json_string_value(jc);
    struct status_err err;
    status_clear(&err);
    /* the context as the model sees it: its words, unknown ones as <unk>. Only for light
     * models: for a Transformer it would cost a second forward pass over the context. */
    char *ctx = NULL;
    struct lm_score_opts so = {.bos = bos, .eos = 0, .cancelled = rq->cancelled};
    if (!model_ops_of(m)->heavy &&
        context_as_seen(lm, impl, context, &so, &ctx, &err) != STATUS_OK) {
        api_error(rs, &err);
        goto done;
    }
    struct lm_candidate *c = NULL;
    size_t nc = 0;
    if (lm->next(impl, context, &so, (size_t)k, &c, &nc, &err) != STATUS_OK) {
        api_error(rs, &err);
        free(ctx);
        goto done;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < nc; i++) {
        json_t *o =
            json_pack("{s:s, s:f, s:f, s:f}", "token", c[i].text, "log10_prob", c[i].logprob / LN10,
                      "logprob", c[i].logprob, "prob", exp(c[i].logprob));
        if (c[i].id >= 0)
            json_object_set_new(o, "id", json_integer(c[i].id));
        json_array_append_new(data, o);
    }
    lm_candidates_free(c, nc);
    json_t *body =
        json_pack("{s:s, s:s, s:o}", "object", "list", "model", model_id(m), "data", data);
    if (ctx)
        json_object_set_new(body, "context", json_string(ctx));
    api_ok(rs, body);
    free(ctx);
done:
    registry_release(m);
}
