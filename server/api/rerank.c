/* rerank.c: POST /v1/rerank: a query and documents -> relevance scores from a cross-encoder
 * (a BERT with a classification head), in the Jina/Cohere shape ("documents" in, "results"
 * with relevance_score out, best first, top_n) or, when the body has "texts", the
 * text-embeddings-inference shape (an array of {index, score}, sigmoid unless raw_scores).
 * All pairs run in one forward pass (models/caps.h rerank_ops). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/caps.h"
#include "../config.h"
#include "../json.h"
#include "api.h"

#define PARAM_BYTES 48

struct ranked {
    size_t index;
    float score;
};

static int by_score_desc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* documents[i] as text: a string, or an object with a string "text" (Cohere's form). */
static json_t *doc_text(json_t *d)
{
    if (json_is_object(d))
        d = json_object_get(d, "text");
    return json_is_string(d) ? d : NULL;
}

void api_rerank(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_RERANK);
    if (!m)
        return;
    const struct rerank_ops *op = model_ops_of(m)->rerank;
    const char **text = NULL;
    size_t *len = NULL;
    float *scores = NULL;
    struct ranked *rk = NULL;
    json_t *q = json_object_get(rq->body, "query");
    json_t *jd = jsonx_get(rq->body, "documents"), *jt = jsonx_get(rq->body, "texts");
    const int tei = jt != NULL;
    const char *key = tei ? "texts" : "documents";
    json_t *docs = tei ? jt : jd;
    struct status_err err;
    status_clear(&err);
    if (!json_is_string(q)) {
        api_fail(rs, STATUS_BAD_INPUT, "query", "'query' must be a string");
        goto done;
    }
    if (jd && jt) {
        api_fail(rs, STATUS_BAD_INPUT, "texts", "give 'documents' or 'texts', not both");
        goto done;
    }
    if (!json_is_array(docs) || json_array_size(docs) == 0) {
        api_fail(rs, STATUS_BAD_INPUT, key, "'%s' must be a non-empty array of strings", key);
        goto done;
    }
    const size_t n = json_array_size(docs);
    if (rq->cfg && n > rq->cfg->max_batch) {
        api_fail(rs, STATUS_TOO_LARGE, key, "%zu documents is more than --max-batch (%zu)", n,
                 rq->cfg->max_batch);
        goto done;
    }
    json_int_t top_n = (json_int_t)n;
    int ret_docs = 0, raw = 0;
    if (jsonx_int(rq->body, "top_n", NULL, 1, INT32_MAX, &top_n, &err) != STATUS_OK ||
        jsonx_bool(rq->body, tei ? "return_text" : "return_documents", NULL, &ret_docs, &err) != STATUS_OK ||
        jsonx_bool(rq->body, "raw_scores", NULL, &raw, &err) != STATUS_OK) {
        api_error(rs, &err);
        goto done;
    }
    text = malloc(n * sizeof *text);
    len = malloc(n * sizeof *len);
    scores = malloc(n * sizeof *scores);
    rk = malloc(n * sizeof *rk);
    if (!text || !len || !scores || !rk) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = tei ? json_array_get(docs, i) : doc_text(json_array_get(docs, i));
        if (!json_is_string(s)) {
            char param[PARAM_BYTES];
            snprintf(param, sizeof param, "%s[%zu]", key, i);
            api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be a string%s", param,
                     tei ? "" : " (or an object with a string 'text')");
            goto done;
        }
        text[i] = json_string_value(s);
        len[i] = json_string_length(s);
    }
    size_t tokens = 0, bad = n;
    int rc = op->rank(model_impl(m), json_string_value(q), json_string_length(q), text, len, n,
                      scores, &tokens, &bad, rq->cancelled, &err);
    if (rc != STATUS_OK) {
        char param[PARAM_BYTES];
        if (bad < n)
            snprintf(param, sizeof param, "%s[%zu]", key, bad);
        else
            snprintf(param, sizeof param, "%.40s", err.param);
        api_fail(rs, rc, param, "%s%s%s", bad < n ? param : "", bad < n ? ": " : "", err.msg);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rk[i].index = i;
        rk[i].score = tei && !raw ? 1.0f / (1.0f + expf(-scores[i])) : scores[i];
    }
    qsort(rk, n, sizeof *rk, by_score_desc);
    const size_t keep = (size_t)top_n < n ? (size_t)top_n : n;
    json_t *results = json_array();
    for (size_t i = 0; results && i < keep; i++) {
        json_t *r = json_pack("{s:I, s:f}", "index", (json_int_t)rk[i].index,
                              tei ? "score" : "relevance_score", (double)rk[i].score);
        if (r && ret_docs && tei)
            json_object_set_new(r, "text", json_string(text[rk[i].index]));
        else if (r && ret_docs)
            json_object_set_new(r, "document", json_pack("{s:s}", "text", text[rk[i].index]));
        json_array_append_new(results, r);
    }
    if (tei)
        api_ok(rs, results);
    else
        api_ok(rs, json_pack("{s:s, s:s, s:o, s:{s:I, s:I}}", "object", "list", "model",
                             model_id(m), "results", results, "usage", "prompt_tokens",
                             (json_int_t)tokens, "total_tokens", (json_int_t)tokens));
done:
    free(text);
    free(len);
    free(scores);
    free(rk);
    registry_release(m);
}
