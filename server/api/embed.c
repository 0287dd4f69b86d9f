/* embed.c: the word-vector routes: POST /v1/embeddings (OpenAI's shape), /v1/neighbors
 * (word, vector or analogy queries) and /v1/similarity. JSON in and out only; the maths is
 * in models/embed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/embed/embed.h"
#include "../../models/util/vecnorm.h"
#include "../config.h"
#include "../json.h"
#include "api.h"

/* An embedding model as the handlers see it: its capability table and its impl. */
struct vec_model {
    const struct embedding_ops *op;
    const void *impl;
};

#define TOP_K_DEFAULT 10
#define PARAM_BYTES 48 /* "pairs[123456][1]" and the like */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 (with padding) of the little-endian float32 bytes, as OpenAI encodes embeddings */
static json_t *base64_floats(const float *v, size_t n)
{
    const unsigned char *b = (const unsigned char *)v; /* x86-64: already little-endian */
    size_t len = n * sizeof(float), out_len = (len + 2) / 3 * 4;
    char *s = malloc(out_len + 1);
    if (!s)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t x = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        s[o++] = B64[x >> 18];
        s[o++] = B64[(x >> 12) & 63];
        s[o++] = B64[(x >> 6) & 63];
        s[o++] = B64[x & 63];
    }
    if (i < len) {
        uint32_t x = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0);
        s[o++] = B64[x >> 18];
        s[o++] = B64[(x >> 12) & 63];
        s[o++] = i + 1 < len ? B64[(x >> 6) & 63] : '=';
        s[o++] = '=';
    }
    s[o] = '\0';
    json_t *j = json_stringn(s, o);
    free(s);
    return j;
}

static json_t *float_array(const float *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_real((double)v[i]));
    return a;
}

/* Optional boolean field (server/json.c's rule): 0/1, or -1 after replying 400. */
static int get_bool_or_reply(const struct api_req *rq, struct api_resp *rs, const char *key,
                             int dflt)
{
    struct status_err err;
    status_clear(&err);
    int v = dflt;
    if (jsonx_bool(rq->body, key, NULL, &v, &err) != STATUS_OK) {
        api_error(rs, &err);
        return -1;
    }
    return v;
}

/* The vector of one text: the mean of its known words' vectors (one word: its vector as
 * stored), L2-normalised when 'normalize'. On success *oov is a new array of the unknown
 * words (may be NULL if not wanted). */
static int text_vector(const struct vec_model *e, const char *text, size_t len, int normalize, float *out,
                       size_t *n_tokens, json_t **oov, struct status_err *err)
{
    struct embed_span *bad = NULL;
    size_t n_bad = 0;
    int rc = e->op->text(e->impl, text, len, normalize, out, n_tokens, &bad, &n_bad, err);
    if (oov) {
        *oov = json_array();
        for (size_t i = 0; *oov && i < n_bad; i++)
            json_array_append_new(*oov, json_stringn(text + bad[i].off, bad[i].len));
    }
    free(bad);
    return rc;
}

/* ---- POST /v1/embeddings ---- */


/* A model that embeds many texts in one pass (a Transformer encoder): every input at once. */
static int embed_all(const struct vec_model *e, const struct api_req *rq, struct api_resp *rs,
                     json_t *input, size_t n, int normalize, float *vecs, size_t *tokens_all)
{
    const char **text = malloc(n * sizeof *text);
    size_t *len = malloc(n * sizeof *len);
    int ok = text && len;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *ji = json_is_array(input) ? json_array_get(input, i) : input;
        text[i] = json_string_value(ji);
        len[i] = json_string_length(ji);
    }
    struct status_err err;
    status_clear(&err);
    size_t bad = n;
    int rc = ok ? e->op->texts(e->impl, text, len, n, normalize, vecs, tokens_all, &bad,
                               rq->cancelled, &err)
                : status_set(&err, STATUS_NO_MEMORY, NULL, "out of memory");
    free(text);
    free(len);
    if (rc == STATUS_OK)
        return 0;
    char param[PARAM_BYTES];
    if (bad < n && json_is_array(input))
        snprintf(param, sizeof param, "input[%zu]", bad);
    else
        snprintf(param, sizeof param, "%.40s", bad < n ? "input" : err.param);
    api_fail(rs, rc, param, "%s%s%s", bad < n ? param : "", bad < n ? ": " : "", err.msg);
    return -1;
}

void api_embeddings(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_EMBEDDING);
    if (!m)
        return;
    const struct vec_model em = {model_ops_of(m)->embedding, model_impl(m)}, *e = &em;
    size_t dim = e->op->dim(e->impl), keep = dim;
    float *vec = NULL;
    json_t *data = NULL;
    json_t *input = json_object_get(rq->body, "input");
    int is_list = json_is_array(input);
    size_t n = is_list ? json_array_size(input) : 1;
    if (!input || (!is_list && !json_is_string(input))) {
        api_fail(rs, STATUS_BAD_INPUT, "input", "'input' must be a string or an array of strings");
        goto done;
    }
    if (is_list && n == 0) {
        api_fail(rs, STATUS_BAD_INPUT, "input", "'input' must not be empty");
        goto done;
    }
    if (rq->cfg && n > rq->cfg->max_batch) {
        api_fail(rs, STATUS_TOO_LARGE, "input", "%zu inputs is more than --max-batch (%zu)", n,
                 rq->cfg->max_batch);
        goto done;
    }
    for (size_t i = 0; is_list && i < n; i++)
        if (!json_is_string(json_array_get(input, i))) {
            char param[PARAM_BYTES];
            snprintf(param, sizeof param, "input[%zu]", i);
            api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be a string", param);
            goto done;
        }
    json_t *jf = jsonx_get(rq->body, "encoding_format");
    int b64 = 0;
    if (jf) {
        const char *f = json_string_value(jf);
        if (!f || (strcmp(f, "float") != 0 && strcmp(f, "base64") != 0)) {
            api_fail(rs, STATUS_BAD_INPUT, "encoding_format",
                     "'encoding_format' must be \"float\" or \"base64\"");
            goto done;
        }
        b64 = strcmp(f, "base64") == 0;
    }
    int normalize = get_bool_or_reply(rq, rs, "normalize", 1);
    if (normalize < 0)
        goto done;
    if (jsonx_get(rq->body, "dimensions")) { /* Matryoshka: the first N values */
        json_int_t jd = (json_int_t)dim;
        struct status_err derr;
        status_clear(&derr);
        if (jsonx_int(rq->body, "dimensions", NULL, 1, (json_int_t)dim, &jd, &derr) != STATUS_OK) {
            api_error(rs, &derr);
            goto done;
        }
        keep = (size_t)jd;
    }
    vec = malloc((e->op->texts ? n : 1) * dim * sizeof *vec);
    data = json_array();
    if (!vec || !data) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    size_t tokens_all = 0;
    if (e->op->texts && embed_all(e, rq, rs, input, n, normalize, vec, &tokens_all) != 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        json_t *ji = is_list ? json_array_get(input, i) : input;
        char param[PARAM_BYTES];
        if (is_list)
            snprintf(param, sizeof param, "input[%zu]", i);
        else
            snprintf(param, sizeof param, "input");
        float *v = e->op->texts ? vec + i * dim : vec;
        json_t *oov = NULL;
        if (!e->op->texts) {
            struct status_err err;
            status_clear(&err);
            size_t n_tok = 0;
            int rc = text_vector(e, json_string_value(ji), json_string_length(ji), normalize, v,
                                 &n_tok, &oov, &err);
            if (rc != STATUS_OK) {
                json_decref(oov);
                if (rc == STATUS_UNPROCESSABLE)
                    api_fail(rs, rc, param, "%s has no word in the model's vocabulary", param);
                else
                    api_fail(rs, rc, param, "%s", err.msg);
                goto done;
            }
            tokens_all += n_tok;
        }
        if (keep < dim && normalize) /* Matryoshka truncation: the first 'keep', renormalised */
            vec_l2_normalize(v, keep);
        json_t *emb = b64 ? base64_floats(v, keep) : float_array(v, keep);
        json_t *item = json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                                 (json_int_t)i, "embedding", emb);
        if (item && oov)
            json_object_set_new(item, "oov", oov);
        else
            json_decref(oov);
        json_array_append_new(data, item);
    }
    api_ok(rs, json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data,
                         "model", model_id(m), "usage", "prompt_tokens", (json_int_t)tokens_all,
                         "total_tokens", (json_int_t)tokens_all));
    data = NULL;
done:
    json_decref(data);
    free(vec);
    registry_release(m);
}

/* ---- POST /v1/neighbors ---- */

/* Rows of the words in array 'key' into rows[*n...]; replies 400/422/413 and returns -1. */
static int words_or_reply(const struct vec_model *e, json_t *arr, const char *key, uint32_t *rows,
                          size_t *n, size_t max, struct api_resp *rs)
{
    if (!json_is_array(arr)) {
        api_fail(rs, STATUS_BAD_INPUT, key, "'%s' must be an array of words", key);
        return -1;
    }
    if (*n + json_array_size(arr) > max) {
        api_fail(rs, STATUS_TOO_LARGE, key, "at most %zu positive and negative words", max);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *w = json_array_get(arr, i);
        char param[PARAM_BYTES];
        snprintf(param, sizeof param, "%s[%zu]", key, i);
        if (!json_is_string(w)) {
            api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be a string", param);
            return -1;
        }
        long r = e->op->lookup(e->impl, json_string_value(w), json_string_length(w));
        if (r < 0) {
            api_fail(rs, STATUS_UNPROCESSABLE, param, "'%s' is not in the model's vocabulary",
                     json_string_value(w));
            return -1;
        }
        rows[(*n)++] = (uint32_t)r;
    }
    return 0;
}

void api_neighbors(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_EMBEDDING);
    if (!m)
        return;
    const struct vec_model em = {model_ops_of(m)->embedding, model_impl(m)}, *e = &em;
    struct embed_hit *hits = NULL;
    float *vec = NULL;
    size_t top_k = TOP_K_DEFAULT, n_hits = 0;
    if (!e->op->lookup || !e->op->knn || !e->op->most_similar) {
        api_fail(rs, STATUS_BAD_INPUT, "model", "model '%s' has no word vectors to search",
                 model_id(m));
        goto done;
    }
    json_int_t jk = (json_int_t)top_k;
    struct status_err jerr;
    status_clear(&jerr);
    if (jsonx_int(rq->body, "top_k", NULL, 1, EMBED_TOP_K_MAX, &jk, &jerr) != STATUS_OK) {
        api_error(rs, &jerr);
        goto done;
    }
    top_k = (size_t)jk;
    int exclude = get_bool_or_reply(rq, rs, "exclude_inputs", 1);
    if (exclude < 0)
        goto done;
    enum embed_method method = EMBED_3COSADD;
    json_t *jm = jsonx_get(rq->body, "method");
    if (jm) {
        const char *s = json_string_value(jm);
        if (!s || (strcmp(s, "3cosadd") != 0 && strcmp(s, "3cosmul") != 0)) {
            api_fail(rs, STATUS_BAD_INPUT, "method", "'method' must be \"3cosadd\" or \"3cosmul\"");
            goto done;
        }
        method = strcmp(s, "3cosmul") == 0 ? EMBED_3COSMUL : EMBED_3COSADD;
    }
    json_t *jw = jsonx_get(rq->body, "word"), *jv = jsonx_get(rq->body, "vector"),
           *jp = jsonx_get(rq->body, "positive"), *jn = jsonx_get(rq->body, "negative");
    int forms = (jw != NULL) + (jv != NULL) + (jp != NULL);
    if (forms != 1 || (jn && !jp)) {
        api_fail(rs, STATUS_BAD_INPUT, forms > 1 ? "word" : NULL,
                 "give exactly one of 'word', 'vector' or 'positive' (with optional 'negative')");
        goto done;
    }
    hits = malloc(top_k * sizeof *hits);
    if (!hits) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    struct status_err err;
    status_clear(&err);
    int rc;
    if (jw) {
        if (!json_is_string(jw)) {
            api_fail(rs, STATUS_BAD_INPUT, "word", "'word' must be a string");
            goto done;
        }
        long r = e->op->lookup(e->impl, json_string_value(jw), json_string_length(jw));
        if (r < 0) {
            api_fail(rs, STATUS_UNPROCESSABLE, "word", "'%s' is not in the model's vocabulary",
                     json_string_value(jw));
            goto done;
        }
        uint32_t row = (uint32_t)r;
        rc = e->op->most_similar(e->impl, &row, 1, NULL, 0, EMBED_3COSADD, top_k, exclude, hits, &n_hits,
                                &err);
    } else if (jv) {
        size_t dim = e->op->dim(e->impl);
        if (!json_is_array(jv) || json_array_size(jv) != dim) {
            api_fail(rs, STATUS_BAD_INPUT, "vector",
                     "'vector' must be an array of exactly %zu numbers (the model's dimension)", dim);
            goto done;
        }
        vec = malloc(dim * sizeof *vec);
        if (!vec) {
            api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < dim; i++) {
            json_t *x = json_array_get(jv, i);
            if (!json_is_number(x) || !isfinite((float)json_number_value(x))) {
                api_fail(rs, STATUS_BAD_INPUT, "vector", "vector[%zu] must be a finite float", i);
                goto done;
            }
            vec[i] = (float)json_number_value(x);
        }
        rc = e->op->knn(e->impl, vec, top_k, NULL, 0, hits, &n_hits, &err);
    } else {
        uint32_t rows[EMBED_TERMS_MAX];
        size_t n_pos = 0, n_all = 0;
        size_t max = EMBED_TERMS_MAX;
        if (rq->cfg && rq->cfg->max_batch < max)
            max = rq->cfg->max_batch;
        if (words_or_reply(e, jp, "positive", rows, &n_pos, max, rs) != 0)
            goto done;
        if (n_pos == 0) {
            api_fail(rs, STATUS_BAD_INPUT, "positive", "'positive' must not be empty");
            goto done;
        }
        n_all = n_pos;
        if (jn && !json_is_null(jn) && words_or_reply(e, jn, "negative", rows, &n_all, max, rs) != 0)
            goto done;
        rc = e->op->most_similar(e->impl, rows, n_pos, rows + n_pos, n_all - n_pos, method, top_k,
                                exclude, hits, &n_hits, &err);
    }
    if (rc != STATUS_OK) {
        api_error(rs, &err);
        goto done;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < n_hits; i++)
        json_array_append_new(data, json_pack("{s:s, s:f, s:I}", "word", e->op->word(e->impl, hits[i].index),
                                              "score", (double)hits[i].score, "index",
                                              (json_int_t)hits[i].index));
    api_ok(rs, json_pack("{s:s, s:s, s:o}", "object", "list", "model", model_id(m), "data", data));
done:
    free(vec);
    free(hits);
    registry_release(m);
}

/* ---- POST /v1/similarity ---- */

void api_similarity(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_EMBEDDING);
    if (!m)
        return;
    const struct vec_model em = {model_ops_of(m)->embedding, model_impl(m)}, *e = &em;
    size_t dim = e->op->dim(e->impl);
    float *a = malloc(2 * dim * sizeof *a);
    json_t *data = json_array();
    json_t *pairs = json_object_get(rq->body, "pairs");
    if (!a || !data) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    if (!json_is_array(pairs) || json_array_size(pairs) == 0) {
        api_fail(rs, STATUS_BAD_INPUT, "pairs", "'pairs' must be a non-empty array of [a, b] pairs");
        goto done;
    }
    if (rq->cfg && json_array_size(pairs) > rq->cfg->max_batch) {
        api_fail(rs, STATUS_TOO_LARGE, "pairs", "%zu pairs is more than --max-batch (%zu)",
                 json_array_size(pairs), rq->cfg->max_batch);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(pairs); i++) {
        json_t *p = json_array_get(pairs, i);
        char param[PARAM_BYTES];
        snprintf(param, sizeof param, "pairs[%zu]", i);
        if (!json_is_array(p) || json_array_size(p) != 2) {
            api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be an array of two strings", param);
            goto done;
        }
        for (size_t j = 0; j < 2; j++) {
            json_t *s = json_array_get(p, j);
            snprintf(param, sizeof param, "pairs[%zu][%zu]", i, j);
            if (!json_is_string(s)) {
                api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be a string", param);
                goto done;
            }
            struct status_err err;
            status_clear(&err);
            size_t n_tok;
            int rc = text_vector(e, json_string_value(s), json_string_length(s), 1, a + j * dim,
                                 &n_tok, NULL, &err);
            if (rc != STATUS_OK) {
                if (rc == STATUS_UNPROCESSABLE)
                    api_fail(rs, rc, param, "%s has no word in the model's vocabulary", param);
                else
                    api_fail(rs, rc, param, "%s", err.msg);
                goto done;
            }
        }
        double dot = 0.0;
        for (size_t k = 0; k < dim; k++)
            dot += (double)a[k] * a[dim + k];
        dot = dot > 1.0 ? 1.0 : dot < -1.0 ? -1.0 : dot; /* unit vectors: rounding only */
        json_array_append_new(data, json_pack("{s:I, s:f}", "index", (json_int_t)i, "similarity", dot));
    }
    api_ok(rs, json_pack("{s:s, s:s, s:O}", "object", "list", "model", model_id(m), "data", data));
done:
    json_decref(data);
    free(a);
    registry_release(m);
}
