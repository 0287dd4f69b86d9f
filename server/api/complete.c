/* complete.c: POST /v1/completions: OpenAI's text-completion shape on a Transformer model,
 * JSON or SSE (stream: true). The request's own fields (prompt, max_tokens, echo, the
 * legacy integer logprobs) and the answer's shape are here; the sampling fields, the bound
 * on active generations and the run itself are shared with chat (gen.c). */
#include "../json.h"
#include "gen.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPLETE_MAX_TOKENS_DEFAULT 16

/* ---- the answer's shape ---- */

/* The logprobs object of one token, or of the whole answer (OpenAI's legacy shape). */
static json_t *logprobs_new(void)
{
    return json_pack("{s:[], s:[], s:[], s:[]}", "tokens", "token_logprobs", "top_logprobs",
                     "text_offset");
}

static void logprobs_add(const struct gen_run *g, json_t *lpo, const struct transformer_gen_event *ev)
{
    char *tt = g->tok->token_text(g->impl, g->prev, ev->id);
    json_t *top = json_object();
    for (size_t i = 0; i < ev->n_top; i++) {
        char *alt = g->tok->token_text(g->impl, g->prev, ev->top[i].id);
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

static json_t *choice_new(const char *text, size_t len, json_t *lp, const char *finish)
{
    return json_pack("{s:s%, s:i, s:o, s:o}", "text", text, len, "index", 0, "logprobs",
                     lp ? lp : json_null(), "finish_reason", finish ? json_string(finish) : json_null());
}

static json_t *chunk_new(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                         const char *finish)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", g->id, "object", "text_completion",
                          "created", g->created, "model", g->model_id, "choices",
                          choice_new(text, len, lp, finish));
    if (c && g->q->include_usage)
        json_object_set_new(c, "usage", json_null());
    return c;
}

static json_t *answer_new(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                          const char *finish, json_t *usage)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", g->id, "object", "text_completion",
                     "created", g->created, "model", g->model_id, "choices",
                     choice_new(text, len, lp, finish), "usage", usage);
}

static const struct gen_format COMPLETION_FORMAT = {
    .id_prefix = "cmpl-",
    .chunk_object = "text_completion",
    .chunk = chunk_new,
    .lp_new = logprobs_new,
    .lp_add = logprobs_add,
    .answer = answer_new,
};

/* ---- the request ---- */

/* One completion per request: refuse rather than silently answer one of n (OpenAI's n,
 * best_of); other unknown fields are ignored (llama.cpp's cache_prompt is read by gen.c). */
static int one_only(json_t *body, struct api_resp *rs)
{
    static const char *const ONE_ONLY[] = {"n", "best_of"};
    for (size_t i = 0; i < sizeof ONE_ONLY / sizeof *ONE_ONLY; i++) {
        json_t *v = json_object_get(body, ONE_ONLY[i]);
        if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
            return api_fail(rs, STATUS_BAD_INPUT, ONE_ONLY[i],
                            "'%s' must be 1: one completion per request", ONE_ONLY[i]),
                   -1;
    }
    return 0;
}

void api_completions(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_GENERATION);
    if (!m)
        return;
    json_t *body = rq->body;
    struct gen_request q;
    struct gen_prompt p = {.param = "prompt"};
    json_int_t mt = COMPLETE_MAX_TOKENS_DEFAULT, logprobs = -1;
    json_t *jp = jsonx_get(body, "prompt");
    if (!jp)
        api_fail(rs, STATUS_BAD_INPUT, "prompt", "'prompt' is required");
    else if (!json_is_string(jp))
        api_fail(rs, STATUS_BAD_INPUT, "prompt", "'prompt' must be a string");
    else if (strlen(json_string_value(jp)) != json_string_length(jp))
        api_fail(rs, STATUS_BAD_INPUT, "prompt", "'prompt' must not contain NUL");
    else if (one_only(body, rs) == 0 && gen_parse(body, &q, rs) == 0 &&
             gen_get_int(body, "max_tokens", "max_tokens", 0, INT32_MAX, &mt, rs) == 0 &&
             gen_get_bool(body, "echo", "echo", &p.echo, rs) == 0 &&
             gen_get_int(body, "logprobs", "logprobs", 0, TRANSFORMER_LOGPROBS_MAX, &logprobs, rs) == 0) {
        p.text = json_string_value(jp);
        p.len = json_string_length(jp);
        q.gp.max_tokens = (size_t)mt;
        json_t *jmt = json_object_get(body, "max_tokens");
        q.max_tokens_param = jmt && !json_is_null(jmt) ? "max_tokens" : NULL;
        q.gp.logprobs = (int)logprobs;
        q.logprobs_on = logprobs >= 0;
        gen_serve(rq, rs, m, &q, &p, &COMPLETION_FORMAT);
    }
    registry_release(m);
}
