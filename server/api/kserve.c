/* kserve.c: the Open Inference Protocol (KServe V2 REST) beside the OpenAI routes, so lmserve
 * runs as a KServe custom runtime and Triton-style clients can call it:
 *   GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
 *   POST /v2/models/{name}/infer            named tensors: BYTES "text" [n] in; out "logprob"
 *        FP32 [n] (+ "perplexity", "tokens") for language models, "embedding" FP32 [n, dim]
 *        for embeddings, "text_output" BYTES [n] (generation) for Transformers when asked for
 *   POST /v2/models/{name}/generate         Triton's generate: text_input -> text_output
 *   POST /v2/models/{name}/generate_stream  the same as SSE events
 * The work is done by the OpenAI handlers (score.c, embed.c, complete.c) and gen.c (generate
 * through gen_serve with Triton's answer shapes): this file turns a V2
 * request into their request body and their answer into V2 tensors. Errors on /v2 are the
 * protocol's {"error": "..."} (api_kserve_error_body), the one exception to the Error object. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config.h"
#include "api.h"
#include "gen.h"

#ifndef LMSERVE_VERSION
#define LMSERVE_VERSION "0.1.0"
#endif

#define KS_INPUT "text"           /* the one input tensor */
#define KS_OUT_LOGPROB "logprob"  /* natural-log probability of each text */
#define KS_OUT_PPL "perplexity"
#define KS_OUT_TOKENS "tokens"
#define KS_OUT_EMBED "embedding"
#define KS_OUT_TEXT "text_output" /* generation (Transformers) */
#define KS_OUTPUTS_MAX 8
#define KS_MAX_TOKENS_DEFAULT 16  /* as /v1/completions */

/* The completion parameters passed through from V2 "parameters" (and Triton's top-level
 * generate keys): the names of /v1/completions. */
static const char *const GEN_PARAMS[] = {"max_tokens", "temperature", "top_p", "top_k", "min_p",
                                         "seed", "stop", "presence_penalty", "frequency_penalty",
                                         "repetition_penalty", NULL};

/* ---- errors ---- */

static void ks_fail(struct api_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ks_fail(struct api_resp *rs, int status, const char *fmt, ...)
{
    char msg[STATUS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(rs->body);
    rs->body = json_pack("{s:s}", "error", msg);
    rs->status = status;
    if (status == 503 && !rs->retry_after)
        rs->retry_after = 1;
}

json_t *api_kserve_error_body(json_t *body)
{
    json_t *e = json_object_get(body, "error");
    if (!json_is_object(e))
        return body; /* already {"error": "..."} (or not an error) */
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *param = json_string_value(json_object_get(e, "param"));
    char buf[STATUS_MSG_MAX + STATUS_PARAM_MAX + 8];
    if (param && *param && msg && !strstr(msg, param))
        snprintf(buf, sizeof buf, "%s: %s", param, msg);
    else
        snprintf(buf, sizeof buf, "%s", msg ? msg : "error");
    json_t *flat = json_pack("{s:s}", "error", buf);
    if (!flat)
        return body;
    json_decref(body);
    return flat;
}

/* After a delegated OpenAI handler: its error (if any) in the V2 shape. 1 if it failed. */
static int ks_delegate_failed(struct api_resp *rs)
{
    if (rs->status < 400)
        return 0;
    rs->body = api_kserve_error_body(rs->body);
    return 1;
}

/* ---- server and model state ---- */

void api_v2_server(const struct api_req *rq, struct api_resp *rs)
{
    (void)rq;
    api_ok(rs, json_pack("{s:s,s:s,s:[s,s]}", "name", "lmserve", "version", LMSERVE_VERSION,
                         "extensions", "generate", "model_repository"));
}

void api_v2_live(const struct api_req *rq, struct api_resp *rs)
{
    (void)rq;
    api_ok(rs, json_pack("{s:b}", "live", 1));
}

void api_v2_ready(const struct api_req *rq, struct api_resp *rs)
{
    size_t by_state[4];
    size_t n = registry_count(rq->reg, by_state);
    if (n == 0 && !rq->cfg->ready_without_models)
        ks_fail(rs, 503, "no models are configured");
    else if (by_state[MODEL_READY] != n)
        ks_fail(rs, 503, "%zu of %zu models are not ready (GET /ready lists their states)",
                n - by_state[MODEL_READY], n);
    else
        api_ok(rs, json_pack("{s:b}", "ready", 1));
}

/* A reference to the READY model {name}, or NULL with the V2 error in rs. */
static model *ks_model(const struct api_req *rq, struct api_resp *rs)
{
    struct status_err err;
    status_clear(&err);
    model *m = NULL;
    if (registry_acquire(rq->reg, rq->params[0], &m, &err) != STATUS_OK) {
        api_error(rs, &err);
        ks_delegate_failed(rs);
        return NULL;
    }
    return m;
}

/* What a model offers, from its type's capability tables (models/caps.h), never its name. */
static int is_lm(const model *m) { return api_model_serves(m, MODEL_CAP_LM); }
static int is_embedding(const model *m) { return api_model_serves(m, MODEL_CAP_EMBEDDING); }
static int is_generator(const model *m) { return api_model_serves(m, MODEL_CAP_GENERATION); }

static json_t *tensor_meta(const char *name, const char *datatype, json_int_t dim)
{
    json_t *shape = dim > 0 ? json_pack("[i,I]", -1, dim) : json_pack("[i]", -1);
    return json_pack("{s:s,s:s,s:o}", "name", name, "datatype", datatype, "shape", shape);
}

void api_v2_model(const struct api_req *rq, struct api_resp *rs)
{
    model *m = ks_model(rq, rs);
    if (!m)
        return;
    char platform[64];
    snprintf(platform, sizeof platform, "lmserve_%s", model_type(m));
    json_t *outputs = json_array();
    if (is_lm(m)) {
        json_array_append_new(outputs, tensor_meta(KS_OUT_LOGPROB, "FP32", 0));
        json_array_append_new(outputs, tensor_meta(KS_OUT_PPL, "FP32", 0));
        json_array_append_new(outputs, tensor_meta(KS_OUT_TOKENS, "INT64", 0));
    }
    if (is_generator(m))
        json_array_append_new(outputs, tensor_meta(KS_OUT_TEXT, "BYTES", 0));
    if (is_embedding(m)) {
        json_int_t dim = (json_int_t)model_ops_of(m)->embedding->dim(model_impl(m));
        json_array_append_new(outputs, tensor_meta(KS_OUT_EMBED, "FP32", dim));
    }
    api_ok(rs, json_pack("{s:s,s:[],s:s,s:[o],s:o}", "name", model_id(m), "versions", "platform",
                         platform, "inputs", tensor_meta(KS_INPUT, "BYTES", 0), "outputs", outputs));
    registry_release(m);
}

void api_v2_model_ready(const struct api_req *rq, struct api_resp *rs)
{
    model *m = ks_model(rq, rs);
    if (!m)
        return;
    api_ok(rs, json_pack("{s:s,s:b}", "name", model_id(m), "ready", 1));
    registry_release(m);
}

/* ---- infer ---- */

/* Copy the known keys of 'from' (an object or NULL) into 'to'. */
static void copy_keys(json_t *to, json_t *from, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(from, keys[i]);
        if (v)
            json_object_set(to, keys[i], v);
    }
}

/* Run an OpenAI handler on 'body' (stolen) for the same connection. */
static void delegate(const struct api_req *rq, struct api_resp *rs, json_t *body,
                     void (*handler)(const struct api_req *, struct api_resp *))
{
    struct api_req sub = *rq;
    sub.body = body;
    sub.stream = NULL;
    handler(&sub, rs);
    json_decref(body);
}

static json_t *tensor(const char *name, const char *datatype, json_t *shape, json_t *data)
{
    return json_pack("{s:s,s:s,s:o,s:o}", "name", name, "datatype", datatype, "shape", shape,
                     "data", data);
}

/* The validated "text" input: its data array (borrowed), or NULL with the error in rs. */
static json_t *infer_input(const struct api_req *rq, struct api_resp *rs)
{
    json_t *inputs = json_object_get(rq->body, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) != 1) {
        ks_fail(rs, 400, "'inputs' must be an array of one tensor named \"" KS_INPUT "\"");
        return NULL;
    }
    json_t *in = json_array_get(inputs, 0);
    if (!json_is_object(in)) {
        ks_fail(rs, 400, "'inputs[0]' must be an object");
        return NULL;
    }
    const char *name = json_string_value(json_object_get(in, "name"));
    if (!name || strcmp(name, KS_INPUT) != 0) {
        ks_fail(rs, 400, "'inputs[0].name' must be \"" KS_INPUT "\"");
        return NULL;
    }
    const char *dt = json_string_value(json_object_get(in, "datatype"));
    if (!dt || strcmp(dt, "BYTES") != 0) {
        ks_fail(rs, 400, "'inputs[0].datatype' must be \"BYTES\"");
        return NULL;
    }
    json_t *shape = json_object_get(in, "shape"), *data = json_object_get(in, "data");
    if (!json_is_array(shape) || json_array_size(shape) != 1 ||
        !json_is_integer(json_array_get(shape, 0))) {
        ks_fail(rs, 400, "'inputs[0].shape' must be [n]");
        return NULL;
    }
    json_int_t n = json_integer_value(json_array_get(shape, 0));
    if (!json_is_array(data) || (json_int_t)json_array_size(data) != n || n < 1) {
        ks_fail(rs, 400, "'inputs[0].data' must be an array of n >= 1 strings, n = shape[0]");
        return NULL;
    }
    size_t max = rq->cfg && rq->cfg->max_batch ? rq->cfg->max_batch : CONFIG_MAX_BATCH_DEFAULT;
    if ((size_t)n > max) {
        ks_fail(rs, 413, "'inputs[0].data': %lld texts is more than the limit of %zu", (long long)n,
                max);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)n; i++)
        if (!json_is_string(json_array_get(data, i))) {
            ks_fail(rs, 400, "'inputs[0].data[%zu]' must be a string", i);
            return NULL;
        }
    return data;
}

/* The requested output names (default: the model's first ones). 0, or -1 with rs filled. */
static int infer_outputs(const struct api_req *rq, struct api_resp *rs, const model *m,
                         const char *names[KS_OUTPUTS_MAX], size_t *n)
{
    *n = 0;
    json_t *outs = json_object_get(rq->body, "outputs");
    if (!outs || json_is_null(outs)) {
        if (is_lm(m)) {
            names[(*n)++] = KS_OUT_LOGPROB;
            names[(*n)++] = KS_OUT_PPL;
            names[(*n)++] = KS_OUT_TOKENS;
        } else if (is_embedding(m)) {
            names[(*n)++] = KS_OUT_EMBED;
        }
        return 0;
    }
    if (!json_is_array(outs) || json_array_size(outs) == 0 || json_array_size(outs) > KS_OUTPUTS_MAX) {
        ks_fail(rs, 400, "'outputs' must be an array of 1 to %d {\"name\": ...} objects", KS_OUTPUTS_MAX);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(outs); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(outs, i), "name"));
        int ok = name && ((is_lm(m) && (strcmp(name, KS_OUT_LOGPROB) == 0 ||
                                        strcmp(name, KS_OUT_PPL) == 0 ||
                                        strcmp(name, KS_OUT_TOKENS) == 0)) ||
                          (is_generator(m) && strcmp(name, KS_OUT_TEXT) == 0) ||
                          (is_embedding(m) && strcmp(name, KS_OUT_EMBED) == 0));
        if (!ok) {
            ks_fail(rs, 400, "'outputs[%zu].name': model '%s' (%s) has no output '%s' "
                    "(GET /v2/models/%s lists them)", i, model_id(m), model_type(m),
                    name ? name : "", model_id(m));
            return -1;
        }
        names[(*n)++] = name;
    }
    return 0;
}

static int wants(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* Language-model outputs from /v1/score. */
static int infer_lm(const struct api_req *rq, struct api_resp *rs, const model *m, json_t *texts,
                    const char *const *names, size_t n_names, json_t *outputs)
{
    if (!wants(names, n_names, KS_OUT_LOGPROB) && !wants(names, n_names, KS_OUT_PPL) &&
        !wants(names, n_names, KS_OUT_TOKENS))
        return 0;
    json_t *body = json_pack("{s:s,s:O}", "model", model_id(m), "input", texts);
    static const char *const SCORE_PARAMS[] = {"bos", "eos", NULL};
    copy_keys(body, json_object_get(rq->body, "parameters"), SCORE_PARAMS);
    struct api_resp sub = {0};
    delegate(rq, &sub, body, api_score);
    if (ks_delegate_failed(&sub)) {
        json_decref(rs->body);
        *rs = sub;
        return -1;
    }
    json_t *data = json_object_get(sub.body, "data");
    size_t n = json_array_size(data);
    json_t *lp = json_array(), *ppl = json_array(), *tok = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(data, i);
        json_array_append(lp, json_object_get(d, "logprob"));
        json_t *p = json_object_get(d, "perplexity");
        json_array_append_new(ppl, json_is_number(p) ? json_incref(p) : json_real(0.0));
        json_array_append(tok, json_object_get(d, "tokens"));
    }
    for (size_t k = 0; k < n_names; k++) {
        json_t *src = strcmp(names[k], KS_OUT_LOGPROB) == 0 ? lp
                      : strcmp(names[k], KS_OUT_PPL) == 0   ? ppl
                      : strcmp(names[k], KS_OUT_TOKENS) == 0 ? tok
                                                              : NULL;
        if (src)
            json_array_append_new(outputs, tensor(names[k], src == tok ? "INT64" : "FP32",
                                                  json_pack("[I]", (json_int_t)n), json_incref(src)));
    }
    json_decref(lp);
    json_decref(ppl);
    json_decref(tok);
    json_decref(sub.body);
    return 0;
}

/* Embedding output from /v1/embeddings: FP32 [n, dim], row-major. */
static int infer_embed(const struct api_req *rq, struct api_resp *rs, const model *m, json_t *texts,
                       json_t *outputs)
{
    json_t *body = json_pack("{s:s,s:O}", "model", model_id(m), "input", texts);
    static const char *const EMBED_PARAMS[] = {"normalize", NULL};
    copy_keys(body, json_object_get(rq->body, "parameters"), EMBED_PARAMS);
    struct api_resp sub = {0};
    delegate(rq, &sub, body, api_embeddings);
    if (ks_delegate_failed(&sub)) {
        json_decref(rs->body);
        *rs = sub;
        return -1;
    }
    json_t *data = json_object_get(sub.body, "data");
    size_t n = json_array_size(data), dim = 0;
    json_t *flat = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object_get(json_array_get(data, i), "embedding");
        dim = json_array_size(e);
        json_array_extend(flat, e);
    }
    json_array_append_new(outputs, tensor(KS_OUT_EMBED, "FP32",
                                          json_pack("[I,I]", (json_int_t)n, (json_int_t)dim), flat));
    json_decref(sub.body);
    return 0;
}

/* The /v1/completions body for 'prompt' with the sampling parameters of 'params'. */
static json_t *completion_body(const model *m, const char *prompt, json_t *params)
{
    json_t *body = json_pack("{s:s,s:s}", "model", model_id(m), "prompt", prompt);
    copy_keys(body, params, GEN_PARAMS);
    return body;
}

/* Generation output: one /v1/completions per text. */
static int infer_generate(const struct api_req *rq, struct api_resp *rs, const model *m,
                          json_t *texts, json_t *outputs)
{
    json_t *params = json_object_get(rq->body, "parameters");
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(texts); i++) {
        struct api_resp sub = {0};
        delegate(rq, &sub, completion_body(m, json_string_value(json_array_get(texts, i)), params),
                 api_completions);
        if (ks_delegate_failed(&sub)) {
            json_decref(out);
            json_decref(rs->body);
        *rs = sub;
            return -1;
        }
        json_t *choice = json_array_get(json_object_get(sub.body, "choices"), 0);
        json_array_append(out, json_object_get(choice, "text"));
        json_decref(sub.body);
    }
    json_array_append_new(outputs, tensor(KS_OUT_TEXT, "BYTES",
                                          json_pack("[I]", (json_int_t)json_array_size(out)), out));
    return 0;
}

void api_v2_infer(const struct api_req *rq, struct api_resp *rs)
{
    model *m = ks_model(rq, rs);
    if (!m)
        return;
    const char *names[KS_OUTPUTS_MAX] = {0};
    size_t n_names = 0;
    json_t *id = json_object_get(rq->body, "id");
    json_t *params = json_object_get(rq->body, "parameters");
    json_t *texts = infer_input(rq, rs);
    if (!texts)
        goto done;
    if (id && !json_is_string(id)) {
        ks_fail(rs, 400, "'id' must be a string");
        goto done;
    }
    if (params && !json_is_object(params)) {
        ks_fail(rs, 400, "'parameters' must be an object");
        goto done;
    }
    if (infer_outputs(rq, rs, m, names, &n_names) != 0)
        goto done;
    json_t *outputs = json_array();
    int rc = infer_lm(rq, rs, m, texts, names, n_names, outputs);
    if (rc == 0 && wants(names, n_names, KS_OUT_EMBED))
        rc = infer_embed(rq, rs, m, texts, outputs);
    if (rc == 0 && wants(names, n_names, KS_OUT_TEXT))
        rc = infer_generate(rq, rs, m, texts, outputs);
    if (rc != 0) {
        json_decref(outputs);
        goto done;
    }
    /* Outputs in the order asked for. */
    json_t *ordered = json_array();
    for (size_t k = 0; k < n_names; k++)
        for (size_t j = 0; j < json_array_size(outputs); j++)
            if (strcmp(json_string_value(json_object_get(json_array_get(outputs, j), "name")),
                       names[k]) == 0)
                json_array_append(ordered, json_array_get(outputs, j));
    json_decref(outputs);
    json_t *body = json_pack("{s:s,s:o}", "model_name", model_id(m), "outputs", ordered);
    if (id)
        json_object_set(body, "id", id);
    api_ok(rs, body);
done:
    registry_release(m);
}

/* ---- Triton generate ---- */

/* Triton's shapes for gen.c (gen_serve): {"model_name", "text_output"[, "finish_reason"]}
 * as the answer and as each streamed event; errors as {"error": "..."}; no [DONE]. */
static json_t *triton_chunk(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                            const char *finish)
{
    json_decref(lp);
    json_t *t = json_pack("{s:s, s:s%}", "model_name", g->model_id, "text_output", text, len);
    if (t && finish)
        json_object_set_new(t, "finish_reason", json_string(finish));
    return t;
}

static json_t *triton_answer(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                             const char *finish, json_t *usage)
{
    json_decref(usage);
    return triton_chunk(g, text, len, lp, finish);
}

static json_t *triton_lp_new(void) { return json_object(); }

static void triton_lp_add(const struct gen_run *g, json_t *lp, const struct transformer_gen_event *ev)
{
    (void)g, (void)lp, (void)ev; /* Triton's generate has no logprobs */
}

static const struct gen_format TRITON_FORMAT = {
    .id_prefix = "gen-",
    .chunk_object = "generate",
    .chunk = triton_chunk,
    .lp_new = triton_lp_new,
    .lp_add = triton_lp_add,
    .answer = triton_answer,
    .error_event = api_kserve_error_body,
    .no_done = 1,
};

static void generate(const struct api_req *rq, struct api_resp *rs, int stream)
{
    model *m = ks_model(rq, rs);
    if (!m)
        return;
    json_t *ti = json_object_get(rq->body, "text_input");
    json_t *params = json_object_get(rq->body, "parameters");
    /* The sampling fields: Triton's top-level keys, then "parameters" (which wins). */
    json_t *merged = json_object();
    copy_keys(merged, rq->body, GEN_PARAMS);
    if (json_is_object(params))
        copy_keys(merged, params, GEN_PARAMS);
    json_object_set_new(merged, "stream", json_boolean(stream));
    struct gen_request q;
    json_int_t mt = KS_MAX_TOKENS_DEFAULT;
    if (!is_generator(m))
        ks_fail(rs, 400, "model '%s' is of type '%s', which does not generate text",
                model_id(m), model_type(m));
    else if (!json_is_string(ti) || strlen(json_string_value(ti)) != json_string_length(ti))
        ks_fail(rs, 400, "'text_input' is required and must be a string without NUL");
    else if (params && !json_is_object(params))
        ks_fail(rs, 400, "'parameters' must be an object");
    else if (gen_parse(merged, &q, rs) == 0 &&
             gen_get_int(merged, "max_tokens", "max_tokens", 0, INT32_MAX, &mt, rs) == 0) {
        struct gen_prompt p = {.text = json_string_value(ti), .len = json_string_length(ti),
                               .param = "text_input"};
        q.gp.max_tokens = (size_t)mt;
        json_t *jmt = json_object_get(merged, "max_tokens");
        q.max_tokens_param = jmt && !json_is_null(jmt) ? "max_tokens" : NULL;
        q.include_usage = 0;
        q.logprobs_on = 0;
        q.gp.logprobs = -1;
        gen_serve(rq, rs, m, &q, &p, &TRITON_FORMAT);
    }
    json_decref(merged);
    registry_release(m);
}

void api_v2_generate(const struct api_req *rq, struct api_resp *rs) { generate(rq, rs, 0); }

void api_v2_generate_stream(const struct api_req *rq, struct api_resp *rs) { generate(rq, rs, 1); }
