/* common.c: helpers every handler uses: error replies and taking the request's model. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../models/lm.h"
#include "../errors.h"
#include "../json.h"
#include "api.h"

void api_error(struct api_resp *rs, const struct status_err *err)
{
    int http = errors_http_status(err->code);
    json_decref(rs->body);
    rs->status = http;
    rs->body = errors_body(http, err->msg, err->param, status_name(err->code));
    if (http == 503 && !rs->retry_after)
        rs->retry_after = 1;
}

int api_fail(struct api_resp *rs, enum status code, const char *param, const char *fmt, ...)
{
    struct status_err err;
    status_clear(&err);
    err.code = code;
    snprintf(err.param, sizeof err.param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    api_error(rs, &err);
    return rs->status;
}

void api_ok(struct api_resp *rs, json_t *body)
{
    json_decref(rs->body);
    rs->status = 200;
    rs->body = body;
}

/* The type's table serves 'want' (before any instance is asked). */
static int type_serves(const struct model_ops *ops, enum model_cap want)
{
    switch (want) {
    case MODEL_CAP_LM: return ops->lm != NULL;
    case MODEL_CAP_EMBEDDING: return ops->embedding != NULL;
    case MODEL_CAP_TOKENIZER: return ops->tokenizer != NULL;
    case MODEL_CAP_GENERATION: return ops->generation != NULL && ops->tokenizer != NULL;
    case MODEL_CAP_RERANK: return ops->rerank != NULL;
    }
    return 0;
}

/* A READY instance's own answer (a Transformer's capabilities follow its architecture: an
 * encoder embeds, a decoder generates): STATUS_OK or the 400 saying why not. */
static int instance_serves(const model *m, enum model_cap want, struct status_err *err)
{
    const struct model_ops *ops = model_ops_of(m);
    int (*check)(const void *, struct status_err *) = NULL;
    switch (want) {
    case MODEL_CAP_LM: check = ops->lm->check; break;
    case MODEL_CAP_EMBEDDING: check = ops->embedding->check; break;
    case MODEL_CAP_TOKENIZER: break;
    case MODEL_CAP_GENERATION: check = ops->generation->check; break;
    case MODEL_CAP_RERANK: check = ops->rerank->check; break;
    }
    return check ? check(model_impl(m), err) : STATUS_OK;
}

int api_model_serves(const model *m, enum model_cap want)
{
    if (!type_serves(model_ops_of(m), want))
        return 0;
    if (model_state_of(m) != MODEL_READY)
        return 1;
    struct status_err err;
    status_clear(&err);
    return instance_serves(m, want, &err) == STATUS_OK;
}

static const char *cap_name(enum model_cap want)
{
    switch (want) {
    case MODEL_CAP_LM: return "a language model";
    case MODEL_CAP_EMBEDDING: return "an embedding model";
    case MODEL_CAP_TOKENIZER: return "a model with a tokenizer";
    case MODEL_CAP_GENERATION: return "a text generation model";
    case MODEL_CAP_RERANK: return "a reranker (a cross-encoder with a classification head)";
    }
    return "?";
}

model *api_model_or_reply(const struct api_req *rq, struct api_resp *rs, enum model_cap want)
{
    struct status_err err;
    status_clear(&err);
    json_t *jm = NULL;
    const char *id = NULL;
    if (jsonx_required(rq->body, "model", NULL, &jm, &err) != STATUS_OK ||
        jsonx_string(rq->body, "model", NULL, &id, NULL, &err) != STATUS_OK) {
        api_error(rs, &err);
        return NULL;
    }
    model *m = NULL;
    if (rq->held_model && *rq->held_model && strcmp(model_id(*rq->held_model), id) == 0) {
        m = *rq->held_model; /* http.c's reference, taken over: no second lookup */
        *rq->held_model = NULL;
    } else if (registry_acquire(rq->reg, id, &m, &err) != STATUS_OK) {
        api_error(rs, &err);
        return NULL;
    }
    if (!type_serves(model_ops_of(m), want)) {
        api_fail(rs, STATUS_BAD_INPUT, "model",
                 "model '%s' is of type '%s', which does not serve this route (needs %s)",
                 model_id(m), model_type(m), cap_name(want));
        registry_release(m);
        return NULL;
    }
    if (instance_serves(m, want, &err) != STATUS_OK) {
        api_fail(rs, STATUS_BAD_INPUT, "model", "model '%s' does not serve this route (needs %s): %s",
                 model_id(m), cap_name(want), err.msg);
        registry_release(m);
        return NULL;
    }
    return m;
}

void api_resp_header(struct api_resp *rs, const char *name, const char *fmt, ...)
{
    if (rs->n_headers >= API_RESP_HEADERS_MAX)
        return;
    rs->headers[rs->n_headers].name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs->headers[rs->n_headers].value, API_RESP_HEADER_VALUE_MAX, fmt, ap);
    va_end(ap);
    rs->n_headers++;
}

const char *api_req_header(const struct api_req *rq, const char *name)
{
    return rq->header ? rq->header(rq, name) : NULL;
}
