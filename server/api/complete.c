/* complete.c: POST /v1/completions: OpenAI's text-completion shape on a Transformer model,
 * JSON or SSE (stream: true), with a bound on active generations (503 + Retry-After past
 * it) and cancellation within one token when the client goes away. Runs on a worker. The
 * generation itself is models/transformer (transformer_generate); this file translates. */
#include "../stream.h"
#include "../config.h"
#include "../../models/transformer/transformer.h"
#include "api.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPLETE_MAX_TOKENS_DEFAULT 16
#define COMPLETE_TEMPERATURE_MAX 2.0
#define COMPLETE_PENALTY_ABS_MAX 2.0 /* presence / frequency, as OpenAI */
#define COMPLETE_ID_MAX 96
#define COMPLETE_RETRY_AFTER_S 1
/* jansson's default prints 17 digits; 8 keep a float32 logprob exact enough for clients */
#define COMPLETE_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(8))

static atomic_int complete_active; /* generations running now, all models */

/* ---- request parsing ---- */

struct creq {
    const char *prompt;
    struct transformer_gen_params gp;
    int stream, include_usage, echo, logprobs_on;
    int max_tokens_given; /* an explicit max_tokens must fit the context; the default is clamped */
};

static int get_number(json_t *body, const char *key, double lo, double hi, int lo_open,
                      double *out, struct api_resp *rs)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return api_fail(rs, STATUS_BAD_INPUT, key, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi || (lo_open && d == lo))
        return api_fail(rs, STATUS_BAD_INPUT, key, "'%s' must be in %s%g, %g]", key,
                        lo_open ? "(" : "[", lo, hi);
    *out = d;
    return 0;
}

static int get_int(json_t *body, const char *key, json_int_t lo, json_int_t hi, json_int_t *out,
                   struct api_resp *rs)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return api_fail(rs, STATUS_BAD_INPUT, key, "'%s' must be an integer", key);
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return api_fail(rs, STATUS_BAD_INPUT, key, "'%s' must be in [%lld, %lld]", key,
                        (long long)lo, (long long)hi);
    *out = i;
    return 0;
}

static int get_bool(json_t *obj, const char *key, const char *param, int *out, struct api_resp *rs)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be a boolean", param);
    *out = json_is_true(v);
    return 0;
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
                            TRANSFORMER_STOP_MAX);
        items = NULL;
    } else if (!json_is_string(v)) {
        return api_fail(rs, STATUS_BAD_INPUT, "stop", "'stop' must be a string or an array of strings");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = items ? items[i] : json_array_get(v, i);
        char param[32];
        snprintf(param, sizeof param, items ? "stop" : "stop[%zu]", i);
        if (!json_is_string(s))
            return api_fail(rs, STATUS_BAD_INPUT, param, "stop strings must be strings");
        if (json_string_length(s) > TRANSFORMER_STOP_BYTES_MAX)
            return api_fail(rs, STATUS_BAD_INPUT, param, "a stop string has at most %d bytes",
                            TRANSFORMER_STOP_BYTES_MAX);
        if (json_string_length(s) == 0 || strlen(json_string_value(s)) != json_string_length(s))
            continue; /* an empty stop string stops nothing */
        gp->stop[gp->n_stop++] = json_string_value(s);
    }
    return 0;
}

static int parse_request(json_t *body, struct creq *q, struct api_resp *rs)
{
    memset(q, 0, sizeof *q);
    transformer_gen_defaults(&q->gp);
    q->gp.max_tokens = COMPLETE_MAX_TOKENS_DEFAULT;
    json_t *p = json_object_get(body, "prompt");
    if (!p)
        return api_fail(rs, STATUS_BAD_INPUT, "prompt", "'prompt' is required");
    if (!json_is_string(p))
        return api_fail(rs, STATUS_BAD_INPUT, "prompt", "'prompt' must be a string");
    if (strlen(json_string_value(p)) != json_string_length(p))
        return api_fail(rs, STATUS_BAD_INPUT, "prompt", "'prompt' must not contain NUL");
    q->prompt = json_string_value(p);
    /* One completion per request: refuse rather than silently answer one of n (OpenAI's n,
     * best_of); other unknown fields (llama.cpp's cache_prompt, ...) are ignored. */
    static const char *const ONE_ONLY[] = {"n", "best_of"};
    for (size_t i = 0; i < sizeof ONE_ONLY / sizeof *ONE_ONLY; i++) {
        json_t *v = json_object_get(body, ONE_ONLY[i]);
        if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
            return api_fail(rs, STATUS_BAD_INPUT, ONE_ONLY[i],
                            "'%s' must be 1: one completion per request", ONE_ONLY[i]);
    }
    json_t *jmt = json_object_get(body, "max_tokens");
    q->max_tokens_given = jmt && !json_is_null(jmt);
    json_int_t mt = COMPLETE_MAX_TOKENS_DEFAULT, top_k = 0, seed = (json_int_t)time(NULL);
    json_int_t logprobs = -1;
    double temp = 1.0, top_p = 1.0, min_p = 0.0, pres = 0.0, freq = 0.0, rep = 1.0;
    json_t *so = json_object_get(body, "stream_options");
    json_t *lp = json_object_get(body, "logprobs");
    if (get_int(body, "max_tokens", 0, INT32_MAX, &mt, rs) ||
        get_number(body, "temperature", 0.0, COMPLETE_TEMPERATURE_MAX, 0, &temp, rs) ||
        get_number(body, "top_p", 0.0, 1.0, 1, &top_p, rs) ||
        get_int(body, "top_k", 0, INT32_MAX, &top_k, rs) ||
        get_number(body, "min_p", 0.0, 1.0, 0, &min_p, rs) ||
        get_int(body, "seed", INT64_MIN, INT64_MAX, &seed, rs) ||
        get_number(body, "presence_penalty", -COMPLETE_PENALTY_ABS_MAX, COMPLETE_PENALTY_ABS_MAX, 0, &pres, rs) ||
        get_number(body, "frequency_penalty", -COMPLETE_PENALTY_ABS_MAX, COMPLETE_PENALTY_ABS_MAX, 0, &freq, rs) ||
        get_number(body, "repetition_penalty", 0.0, HUGE_VAL, 1, &rep, rs) ||
        get_bool(body, "stream", "stream", &q->stream, rs) ||
        get_bool(body, "echo", "echo", &q->echo, rs) || parse_stop(body, &q->gp, rs))
        return -1;
    if (lp && !json_is_null(lp) && get_int(body, "logprobs", 0, TRANSFORMER_LOGPROBS_MAX, &logprobs, rs))
        return -1;
    if (so && !json_is_null(so)) {
        if (!json_is_object(so))
            return api_fail(rs, STATUS_BAD_INPUT, "stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", "stream_options.include_usage", &q->include_usage, rs))
            return -1;
    }
    q->gp.max_tokens = (size_t)mt;
    q->gp.temperature = (float)temp;
    q->gp.top_p = (float)top_p;
    q->gp.top_k = (int)top_k;
    q->gp.min_p = (float)min_p;
    q->gp.seed = (uint64_t)seed;
    q->gp.presence_penalty = (float)pres;
    q->gp.frequency_penalty = (float)freq;
    q->gp.repetition_penalty = (float)rep;
    q->gp.logprobs = (int)logprobs;
    q->logprobs_on = logprobs >= 0;
    return 0;
}

/* ---- generation ---- */

struct cgen {
    const struct api_req *rq;
    const struct creq *q;
    const transformer *t;
    const char *model_id;
    char id[COMPLETE_ID_MAX];
    json_int_t created;
    /* non-streamed: the text so far, and the logprobs arrays */
    char *text;
    size_t len, cap;
    json_t *lp_all; /* the answer's logprobs object when logprobs is on */
    size_t offset; /* bytes of text so far (echoed prompt included) */
    int prev;
    int failed; /* out of memory while building the answer */
};

static int text_append(struct cgen *g, const char *s, size_t n)
{
    if (g->len + n + 1 > g->cap) {
        size_t cap = (g->len + n + 1) * 2;
        char *b = realloc(g->text, cap);
        if (!b)
            return -1;
        g->text = b;
        g->cap = cap;
    }
    memcpy(g->text + g->len, s, n);
    g->len += n;
    g->text[g->len] = '\0';
    return 0;
}

/* The logprobs object of one token, or of the whole answer (OpenAI's legacy shape). */
static json_t *logprobs_new(void)
{
    return json_pack("{s:[], s:[], s:[], s:[]}", "tokens", "token_logprobs", "top_logprobs",
                     "text_offset");
}

static void logprobs_add(struct cgen *g, json_t *lpo, const struct transformer_gen_event *ev)
{
    char *tt = transformer_token_text(g->t, g->prev, ev->id);
    json_t *top = json_object();
    for (size_t i = 0; i < ev->n_top; i++) {
        char *alt = transformer_token_text(g->t, g->prev, ev->top[i].id);
        if (alt && !json_object_get(top, alt))
            json_object_set_new(top, alt, json_real(ev->top[i].logprob));
        free(alt);
    }
    json_array_append_new(json_object_get(lpo, "tokens"), json_string(tt ? tt : ""));
    json_array_append_new(json_object_get(lpo, "token_logprobs"), json_real(ev->logprob));
    json_array_append_new(json_object_get(lpo, "top_logprobs"), top);
    json_array_append_new(json_object_get(lpo, "text_offset"), json_integer((json_int_t)g->offset));
    free(tt);
}

static json_t *chunk_new(const struct cgen *g, const char *text, size_t len, json_t *logprobs,
                         const char *finish)
{
    json_t *choice = json_pack("{s:s%, s:i, s:o, s:o}", "text", text, len, "index", 0, "logprobs",
                               logprobs ? logprobs : json_null(), "finish_reason",
                               finish ? json_string(finish) : json_null());
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", g->id, "object", "text_completion",
                          "created", g->created, "model", g->model_id, "choices", choice);
    if (c && g->q->include_usage)
        json_object_set_new(c, "usage", json_null());
    return c;
}

/* "data: JSON\n\n" on the stream; -1 when the client is gone. */
static int sse_send(const struct api_req *rq, json_t *obj)
{
    if (!obj)
        return -1;
    char *s = json_dumps(obj, COMPLETE_JSON_FLAGS);
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

static int on_token(void *ud, const struct transformer_gen_event *ev)
{
    struct cgen *g = ud;
    if (g->rq->cancelled && *g->rq->cancelled)
        return 1;
    json_t *lpo = NULL;
    if (g->q->logprobs_on && ev->id >= 0) {
        lpo = g->q->stream ? logprobs_new() : NULL;
        logprobs_add(g, lpo ? lpo : g->lp_all, ev);
    }
    g->offset += ev->len;
    if (ev->id >= 0)
        g->prev = ev->id;
    if (g->q->stream)
        return sse_send(g->rq, chunk_new(g, ev->text, ev->len, lpo, NULL)) != 0;
    if (text_append(g, ev->text, ev->len) != 0) {
        g->failed = 1;
        return 1;
    }
    return 0;
}

static const char *finish_name(enum transformer_finish f)
{
    return f == TRANSFORMER_FINISH_STOP ? "stop" : "length";
}

static json_t *usage_new(const struct transformer_gen_result *r)
{
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)r->prompt_tokens,
                     "completion_tokens", (json_int_t)r->completion_tokens, "total_tokens",
                     (json_int_t)(r->prompt_tokens + r->completion_tokens));
}

static void run(const struct api_req *rq, struct api_resp *rs, model *m, const struct creq *q)
{
    const transformer *t = model_impl(m);
    const struct transformer_shape *sh = transformer_shape_of(t);
    struct status_err err;
    status_clear(&err);
    int *ids = NULL;
    size_t n = 0;
    const size_t plen = strlen(q->prompt);
    if (transformer_check_generate(t, &err) != STATUS_OK ||
        transformer_encode(t, q->prompt, plen, 1, 0, &ids, &n, &err) != STATUS_OK) {
        api_error(rs, &err);
        return;
    }
    if (n > (size_t)sh->seq_len) {
        api_fail(rs, STATUS_BAD_INPUT, "prompt",
                 "the prompt has %zu tokens (with BOS); the model's context is %d", n, sh->seq_len);
        free(ids);
        return;
    }
    if (q->max_tokens_given && q->gp.max_tokens > (size_t)sh->seq_len - n) {
        api_fail(rs, STATUS_BAD_INPUT, "max_tokens",
                 "max_tokens is %zu but the model's context is %d tokens and the prompt has %zu "
                 "(with BOS): at most %zu",
                 q->gp.max_tokens, sh->seq_len, n, (size_t)sh->seq_len - n);
        free(ids);
        return;
    }
    struct cgen g = {.rq = rq, .q = q, .t = t, .model_id = model_id(m), .created = (json_int_t)time(NULL),
                     .prev = ids[n - 1]};
    snprintf(g.id, sizeof g.id, "cmpl-%s", rq->request_id ? rq->request_id : "0");
    if (q->logprobs_on && !q->stream)
        g.lp_all = logprobs_new();
    if (q->stream) {
        if (!rq->stream || stream_begin(rq->stream, "text/event-stream") != 0) {
            if (!rq->stream)
                api_fail(rs, STATUS_INTERNAL, NULL, "streaming is not available on this route");
            free(ids);
            return;
        }
        if (q->echo)
            sse_send(rq, chunk_new(&g, q->prompt, plen, NULL, NULL));
    } else if (q->echo) {
        text_append(&g, q->prompt, plen);
    }
    g.offset = q->echo ? plen : 0;
    struct transformer_gen_result res;
    int rc = transformer_generate(t, ids, n, &q->gp, on_token, &g, rq->cancelled, &res, &err);
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
        status_set(&err, STATUS_NO_MEMORY, NULL, "out of memory while building the completion");
        rc = STATUS_NO_MEMORY;
    }
    if (q->stream) {
        if (rc == STATUS_OK) {
            sse_send(rq, chunk_new(&g, "", 0, NULL, finish_name(res.finish)));
            if (q->include_usage) {
                json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", g.id, "object",
                                      "text_completion", "created", g.created, "model", g.model_id,
                                      "choices", "usage", usage_new(&res));
                sse_send(rq, u);
            }
        } else if (err.code != STATUS_CANCELLED) { /* a timeout still gets its event */
            struct api_resp tmp = {0};
            api_error(&tmp, &err); /* the error object, as one event */
            sse_send(rq, tmp.body);
        }
        stream_write(rq->stream, "data: [DONE]\n\n", 14);
        free(g.text);
        json_decref(g.lp_all);
        return;
    }
    if (rc != STATUS_OK) {
        api_error(rs, &err);
        free(g.text);
        json_decref(g.lp_all);
        return;
    }
    json_t *choice = json_pack("{s:s%, s:i, s:o, s:s}", "text", g.text ? g.text : "", g.len, "index", 0,
                               "logprobs", g.lp_all ? g.lp_all : json_null(), "finish_reason",
                               finish_name(res.finish));
    json_t *body = json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", g.id, "object", "text_completion",
                             "created", g.created, "model", g.model_id, "choices", choice, "usage",
                             usage_new(&res));
    free(g.text);
    if (!body) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory while building the completion");
        return;
    }
    api_ok(rs, body);
}

void api_completions(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, "transformer");
    if (!m)
        return;
    struct creq q;
    if (parse_request(rq->body, &q, rs) != 0) {
        registry_release(m);
        return;
    }
    const int limit = rq->cfg && rq->cfg->max_generations > 0 ? rq->cfg->max_generations
                                                               : CONFIG_GENERATIONS_DEFAULT;
    if (atomic_fetch_add(&complete_active, 1) >= limit) {
        atomic_fetch_sub(&complete_active, 1);
        api_fail(rs, STATUS_BUSY, NULL, "%d generations are running; retry later", limit);
        rs->retry_after = COMPLETE_RETRY_AFTER_S;
        registry_release(m);
        return;
    }
    run(rq, rs, m, &q);
    atomic_fetch_sub(&complete_active, 1);
    registry_release(m);
}
