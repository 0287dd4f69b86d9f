/* gen.c: the generation machinery /v1/completions and /v1/chat/completions share: sampling
 * fields, the bound on active generations (503 + Retry-After past it), encoding the prompt,
 * running models/transformer's generation, and answering as JSON or SSE (chunks, usage,
 * [DONE], an error event mid-stream, cancellation within one token when the client goes
 * away). What the answers look like is the route's (struct gen_format). */
#include "../json.h"
#include "gen.h"
#include "../config.h"
#include "../stream.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int gen_active; /* generations running now, all models and routes */

/* ---- request fields ---- */

/* The gen_get_* readers are server/json.c's, replying on failure. */
static int reply(int rc, const struct status_err *err, struct api_resp *rs)
{
    if (rc == STATUS_OK)
        return 0;
    api_error(rs, err);
    return -1;
}

int gen_get_number(json_t *obj, const char *key, double lo, double hi, int lo_open, double *out,
                   struct api_resp *rs)
{
    struct status_err err;
    status_clear(&err);
    return reply(jsonx_number(obj, key, NULL, lo, hi, lo_open, out, &err), &err, rs);
}

int gen_get_int(json_t *obj, const char *key, const char *param, json_int_t lo, json_int_t hi,
                json_int_t *out, struct api_resp *rs)
{
    struct status_err err;
    status_clear(&err);
    return reply(jsonx_int(obj, key, param, lo, hi, out, &err), &err, rs);
}

int gen_get_bool(json_t *obj, const char *key, const char *param, int *out, struct api_resp *rs)
{
    struct status_err err;
    status_clear(&err);
    return reply(jsonx_bool(obj, key, param, out, &err), &err, rs);
}

static int parse_stop(json_t *body, struct transformer_gen_params *gp, struct api_resp *rs)
{
    json_t *v = json_object_get(body, "stop");
    if (!v || json_is_null(v))
        return 0;
    json_t *one[1] = {v};
    json_t **items = one;
    size_t n = 1;
    if (json_is_array(v)) {
        n = json_array_size(v);
        if (n > TRANSFORMER_STOP_MAX)
            return api_fail(rs, STATUS_BAD_INPUT, "stop", "at most %d stop strings",
                            TRANSFORMER_STOP_MAX),
                   -1;
        items = NULL;
    } else if (!json_is_string(v)) {
        return api_fail(rs, STATUS_BAD_INPUT, "stop",
                        "'stop' must be a string or an array of strings"),
               -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = items ? items[i] : json_array_get(v, i);
        char param[32];
        snprintf(param, sizeof param, items ? "stop" : "stop[%zu]", i);
        if (!json_is_string(s))
            return api_fail(rs, STATUS_BAD_INPUT, param, "stop strings must be strings"), -1;
        if (json_string_length(s) > TRANSFORMER_STOP_BYTES_MAX)
            return api_fail(rs, STATUS_BAD_INPUT, param, "a stop string has at most %d bytes",
                            TRANSFORMER_STOP_BYTES_MAX),
                   -1;
        if (json_string_length(s) == 0 || strlen(json_string_value(s)) != json_string_length(s))
            continue; /* an empty stop string stops nothing */
        gp->stop[gp->n_stop++] = json_string_value(s);
    }
    return 0;
}

int gen_parse(json_t *body, struct gen_request *q, struct api_resp *rs)
{
    memset(q, 0, sizeof *q);
    transformer_gen_defaults(&q->gp);
    json_int_t top_k = 0, seed = (json_int_t)time(NULL);
    double temp = 1.0, top_p = 1.0, min_p = 0.0, pres = 0.0, freq = 0.0, rep = 1.0;
    json_t *so = json_object_get(body, "stream_options");
    if (gen_get_number(body, "temperature", 0.0, GEN_TEMPERATURE_MAX, 0, &temp, rs) ||
        gen_get_number(body, "top_p", 0.0, 1.0, 1, &top_p, rs) ||
        gen_get_int(body, "top_k", "top_k", 0, INT32_MAX, &top_k, rs) ||
        gen_get_number(body, "min_p", 0.0, 1.0, 0, &min_p, rs) ||
        gen_get_int(body, "seed", "seed", INT64_MIN, INT64_MAX, &seed, rs) ||
        gen_get_number(body, "presence_penalty", -GEN_PENALTY_ABS_MAX, GEN_PENALTY_ABS_MAX, 0,
                       &pres, rs) ||
        gen_get_number(body, "frequency_penalty", -GEN_PENALTY_ABS_MAX, GEN_PENALTY_ABS_MAX, 0,
                       &freq, rs) ||
        gen_get_number(body, "repetition_penalty", 0.0, HUGE_VAL, 1, &rep, rs) ||
        gen_get_bool(body, "stream", "stream", &q->stream, rs) ||
        gen_get_bool(body, "cache_prompt", "cache_prompt", &q->gp.cache_prompt, rs) ||
        parse_stop(body, &q->gp, rs))
        return -1;
    if (so && !json_is_null(so)) {
        if (!json_is_object(so))
            return api_fail(rs, STATUS_BAD_INPUT, "stream_options",
                            "'stream_options' must be an object"),
                   -1;
        if (gen_get_bool(so, "include_usage", "stream_options.include_usage", &q->include_usage, rs))
            return -1;
    }
    q->gp.temperature = (float)temp;
    q->gp.top_p = (float)top_p;
    q->gp.top_k = (int)top_k;
    q->gp.min_p = (float)min_p;
    q->gp.seed = (uint64_t)seed;
    q->gp.presence_penalty = (float)pres;
    q->gp.frequency_penalty = (float)freq;
    q->gp.repetition_penalty = (float)rep;
    return 0;
}

/* ---- the run ---- */

/* "data: JSON\n\n" on the stream ('obj' stolen); -1 when the client is gone. */
static int sse_send(const struct api_req *rq, json_t *obj)
{
    if (!obj)
        return -1;
    char *s = json_dumps(obj, GEN_JSON_FLAGS);
    json_decref(obj);
    if (!s)
        return -1;
    size_t n = strlen(s);
    char *line = malloc(n + 9);
    if (!line) {
        free(s);
        return -1;
    }
    memcpy(line, "data: ", 6);
    memcpy(line + 6, s, n);
    memcpy(line + 6 + n, "\n\n", 2);
    free(s);
    int rc = stream_write(rq->stream, line, n + 8);
    free(line);
    return rc;
}

/* A stream's 200 goes out with its first token (or its end), not before: a generation that
 * waits for a slot until its deadline can still be answered 503 + Retry-After. -1 when the
 * client is gone. */
static int stream_open(struct gen_run *g)
{
    if (g->opened)
        return 0;
    g->opened = 1;
    if (stream_begin(g->rq->stream, "text/event-stream") != 0)
        return -1;
    if (g->fmt->opening)
        sse_send(g->rq, g->fmt->opening(g));
    if (g->prompt->echo)
        sse_send(g->rq, g->fmt->chunk(g, g->prompt->text, g->prompt->len, NULL, NULL));
    return 0;
}

static int on_token(void *ud, const struct transformer_gen_event *ev)
{
    struct gen_run *g = ud;
    if (g->rq->cancelled && *g->rq->cancelled)
        return 1;
    if (g->q->stream && stream_open(g) != 0)
        return 1;
    json_t *lpo = NULL;
    if (g->q->logprobs_on && ev->id >= 0) {
        lpo = g->q->stream ? g->fmt->lp_new() : NULL;
        g->fmt->lp_add(g, lpo ? lpo : g->lp_all, ev);
    }
    int rc = 0;
    if (g->q->stream)
        rc = sse_send(g->rq, g->fmt->chunk(g, ev->text, ev->len, lpo, NULL)) != 0;
    else if (strbuf_put(&g->text, ev->text, ev->len) != 0)
        g->failed = rc = 1;
    g->offset += ev->len;
    if (ev->id >= 0)
        g->prev = ev->id;
    return rc;
}

static const char *finish_name(enum transformer_finish f)
{
    return f == TRANSFORMER_FINISH_STOP ? "stop" : "length";
}

static json_t *usage_new(const struct transformer_gen_result *r)
{
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)r->prompt_tokens,
                     "completion_tokens", (json_int_t)r->completion_tokens, "total_tokens",
                     (json_int_t)(r->prompt_tokens + r->completion_tokens),
                     "prompt_tokens_details", "cached_tokens", (json_int_t)r->cached_tokens);
}

static void run(const struct api_req *rq, struct api_resp *rs, model *m, const struct gen_request *q,
                const struct gen_prompt *p, const struct gen_format *fmt)
{
    const void *t = model_impl(m);
    const struct tokenizer_ops *tok = model_ops_of(m)->tokenizer;
    const struct generation_ops *gen = model_ops_of(m)->generation;
    const size_t ctx = gen->ctx_len(t);
    struct status_err err;
    status_clear(&err);
    int *ids = NULL;
    size_t n = 0;
    int rc = gen->check ? gen->check(t, &err) : STATUS_OK; /* e.g. a tokenizer only */
    if (rc == STATUS_OK)
        rc = p->parse_special && tok->tokenize
                 ? tok->tokenize(t, p->text, p->len, 1, 1, &ids, &n, &err)
                 : tok->encode(t, p->text, p->len, 1, 0, &ids, &n, &err);
    if (rc != STATUS_OK) {
        api_error(rs, &err);
        return;
    }
    if (n == 0) { /* a vocabulary without BOS and an empty text */
        api_fail(rs, STATUS_BAD_INPUT, p->param, "the prompt has no tokens");
        free(ids);
        return;
    }
    if (n > ctx) {
        api_fail(rs, STATUS_BAD_INPUT, p->param,
                 "the prompt has %zu tokens (with BOS); the model's context is %zu", n, ctx);
        free(ids);
        return;
    }
    if (q->max_tokens_param && q->gp.max_tokens > ctx - n) {
        api_fail(rs, STATUS_BAD_INPUT, q->max_tokens_param,
                 "%s is %zu but the model's context is %zu tokens and the prompt has %zu "
                 "(with BOS): at most %zu",
                 q->max_tokens_param, q->gp.max_tokens, ctx, n, ctx - n);
        free(ids);
        return;
    }
    struct gen_run g = {.rq = rq, .q = q, .fmt = fmt, .impl = t, .tok = tok, .gen = gen, .model_id = model_id(m),
                        .created = (json_int_t)time(NULL), .prev = ids[n - 1]};
    snprintf(g.id, sizeof g.id, "%s%s", fmt->id_prefix, rq->request_id ? rq->request_id : "0");
    if (q->logprobs_on && !q->stream)
        g.lp_all = fmt->lp_new();
    g.prompt = p;
    if (q->stream) {
        if (!rq->stream) {
            api_fail(rs, STATUS_INTERNAL, NULL, "streaming is not available on this route");
            free(ids);
            json_decref(g.lp_all);
            return;
        }
    } else if (p->echo) {
        g.failed = strbuf_put(&g.text, p->text, p->len) != 0;
    }
    g.offset = p->echo ? p->len : 0;
    struct transformer_gen_result res;
    rc = g.failed ? STATUS_NO_MEMORY
                 : gen->generate(t, ids, n, &q->gp, on_token, &g, rq->cancelled, &res, &err);
    free(ids);
    if (rc == STATUS_CANCELLED && rq->deadline_us > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 >= rq->deadline_us) {
            status_clear(&err);
            status_set(&err, STATUS_TIMEOUT, NULL, "the request's time limit passed during generation");
        }
    }
    if (g.failed) {
        status_clear(&err);
        status_set(&err, STATUS_NO_MEMORY, NULL, "out of memory while building the answer");
        rc = STATUS_NO_MEMORY;
    }
    if (rc == STATUS_BUSY && !g.opened) { /* no slot before the deadline: 503 + Retry-After */
        api_error(rs, &err);
        rs->retry_after = GEN_RETRY_AFTER_S;
        free(g.text.p);
        json_decref(g.lp_all);
        return;
    }
    if (q->stream && stream_open(&g) != 0) {
        free(g.text.p);
        json_decref(g.lp_all);
        return;
    }
    if (q->stream) {
        if (rc == STATUS_OK) {
            sse_send(rq, fmt->chunk(&g, "", 0, NULL, finish_name(res.finish)));
            if (q->include_usage)
                sse_send(rq, json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", g.id, "object",
                                       fmt->chunk_object, "created", g.created, "model",
                                       g.model_id, "choices", "usage", usage_new(&res)));
        } else if (err.code != STATUS_CANCELLED) { /* a timeout still gets its event */
            struct api_resp tmp = {0};
            api_error(&tmp, &err); /* the error object, as one event */
            sse_send(rq, fmt->error_event ? fmt->error_event(tmp.body) : tmp.body);
        }
        if (!fmt->no_done)
            stream_write(rq->stream, "data: [DONE]\n\n", 14);
        free(g.text.p);
        json_decref(g.lp_all);
        return;
    }
    if (rc != STATUS_OK) {
        api_error(rs, &err);
        free(g.text.p);
        json_decref(g.lp_all);
        return;
    }
    json_t *body = fmt->answer(&g, g.text.p ? g.text.p : "", g.text.len, g.lp_all,
                               finish_name(res.finish),
                               usage_new(&res));
    free(g.text.p);
    if (!body) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory while building the answer");
        return;
    }
    api_ok(rs, body);
}

void gen_serve(const struct api_req *rq, struct api_resp *rs, model *m, const struct gen_request *q,
               const struct gen_prompt *p, const struct gen_format *fmt)
{
    /* running (the scheduler's slots, models/transformer/sched.c) plus waiting for one */
    const int limit = (rq->cfg && rq->cfg->max_generations > 0 ? rq->cfg->max_generations
                                                                : CONFIG_GENERATIONS_DEFAULT) +
                      (rq->cfg ? rq->cfg->gen_queue : CONFIG_GEN_QUEUE_DEFAULT);
    if (atomic_fetch_add(&gen_active, 1) >= limit) {
        atomic_fetch_sub(&gen_active, 1);
        api_fail(rs, STATUS_BUSY, NULL, "%d generations are running; retry later", limit);
        rs->retry_after = GEN_RETRY_AFTER_S;
        return;
    }
    run(rq, rs, m, q, p, fmt);
    atomic_fetch_sub(&gen_active, 1);
}
