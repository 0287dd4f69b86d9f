/* chat.c: POST /v1/chat/completions: OpenAI's chat shape on a Transformer model. The
 * messages are checked here and rendered into one prompt by the model's chat template
 * (models/chat); generation, streaming and the bound on active generations are shared
 * with /v1/completions (gen.c). Only text content: no tools, images or n > 1. */
#include "../../models/chat/chat.h"
#include "gen.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_PARAM_MAX 96 /* "messages[12].content[3].text", room for two 20-digit indices */

/* ---- the answer's shape ---- */

/* The bytes of a token's text as a JSON array of integers (OpenAI's "bytes"). */
static json_t *bytes_new(const struct gen_run *g, int id)
{
    size_t len = 0;
    const char *p = g->tok->piece(g->impl, g->prev, id, &len);
    json_t *a = json_array();
    for (size_t i = 0; a && i < len; i++)
        json_array_append_new(a, json_integer((unsigned char)p[i]));
    return a;
}

static json_t *token_logprob_new(const struct gen_run *g, int id, float logprob)
{
    char *tt = g->tok->token_text(g->impl, g->prev, id);
    json_t *o = json_pack("{s:s, s:f, s:o}", "token", tt ? tt : "", "logprob", (double)logprob, "bytes",
                          bytes_new(g, id));
    free(tt);
    return o;
}

static json_t *logprobs_new(void)
{
    return json_pack("{s:[], s:n}", "content", "refusal");
}

static void logprobs_add(const struct gen_run *g, json_t *lpo, const struct transformer_gen_event *ev)
{
    json_t *one = token_logprob_new(g, ev->id, ev->logprob);
    json_t *top = json_array();
    for (size_t i = 0; i < ev->n_top; i++)
        json_array_append_new(top, token_logprob_new(g, ev->top[i].id, ev->top[i].logprob));
    if (one)
        json_object_set_new(one, "top_logprobs", top);
    else
        json_decref(top);
    json_array_append_new(json_object_get(lpo, "content"), one);
}

static json_t *chunk_with(const struct gen_run *g, json_t *delta, json_t *lp, const char *finish)
{
    json_t *choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "delta", delta, "logprobs",
                               lp ? lp : json_null(), "finish_reason",
                               finish ? json_string(finish) : json_null());
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", g->id, "object",
                          "chat.completion.chunk", "created", g->created, "model", g->model_id,
                          "choices", choice);
    if (c && g->q->include_usage)
        json_object_set_new(c, "usage", json_null());
    return c;
}

static json_t *chunk_new(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                         const char *finish)
{
    /* the last chunk carries only the finish reason, as OpenAI's does */
    json_t *delta = finish && len == 0 ? json_object() : json_pack("{s:s%}", "content", text, len);
    return chunk_with(g, delta, lp, finish);
}

static json_t *opening_new(const struct gen_run *g)
{
    return chunk_with(g, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, NULL);
}

static json_t *answer_new(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                          const char *finish, json_t *usage)
{
    json_t *choice = json_pack("{s:i, s:{s:s, s:s%}, s:o, s:s}", "index", 0, "message", "role",
                               "assistant", "content", text, len, "logprobs",
                               lp ? lp : json_null(), "finish_reason", finish);
    return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", g->id, "object", "chat.completion",
                     "created", g->created, "model", g->model_id, "choices", choice, "usage", usage);
}

static const struct gen_format CHAT_FORMAT = {
    .id_prefix = "chatcmpl-",
    .chunk_object = "chat.completion.chunk",
    .chunk = chunk_new,
    .lp_new = logprobs_new,
    .lp_add = logprobs_add,
    .answer = answer_new,
    .opening = opening_new,
};

/* ---- the messages ---- */

static int is_text(json_t *s) { return strlen(json_string_value(s)) == json_string_length(s); }

/* One message's content: a string, or text parts joined by "\n" (as llama.cpp joins them);
 * null for an assistant turn is "". *owned is set when the text was allocated. */
static int content_of(json_t *msg, size_t i, enum chat_role role, const char **out, char **owned,
                      struct api_resp *rs)
{
    char param[CHAT_PARAM_MAX];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    json_t *c = json_object_get(msg, "content");
    *owned = NULL;
    if (!c || (json_is_null(c) && role != CHAT_ROLE_ASSISTANT))
        return api_fail(rs, STATUS_BAD_INPUT, param, "'%s' is required", param), -1;
    if (json_is_null(c)) {
        *out = "";
        return 0;
    }
    if (json_is_string(c)) {
        if (!is_text(c))
            return api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must not contain NUL", param), -1;
        *out = json_string_value(c);
        return 0;
    }
    if (!json_is_array(c))
        return api_fail(rs, STATUS_BAD_INPUT, param,
                        "'%s' must be a string or an array of text parts", param),
               -1;
    size_t total = 1;
    for (size_t j = 0; j < json_array_size(c); j++) {
        json_t *part = json_array_get(c, j);
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part)) {
            snprintf(param, sizeof param, "messages[%zu].content[%zu]", i, j);
            return api_fail(rs, STATUS_BAD_INPUT, param, "a content part is an object"), -1;
        }
        snprintf(param, sizeof param, "messages[%zu].content[%zu].type", i, j);
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0)
            return api_fail(rs, STATUS_BAD_INPUT, param,
                            "only content parts of type 'text' are supported"),
                   -1;
        snprintf(param, sizeof param, "messages[%zu].content[%zu].text", i, j);
        if (!json_is_string(text) || !is_text(text))
            return api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be a string without NUL", param),
                   -1;
        total += json_string_length(text) + 1;
    }
    char *s = malloc(total), *w = s;
    if (!s)
        return api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory"), -1;
    for (size_t j = 0; j < json_array_size(c); j++) {
        json_t *text = json_object_get(json_array_get(c, j), "text");
        if (w > s)
            *w++ = '\n';
        memcpy(w, json_string_value(text), json_string_length(text));
        w += json_string_length(text);
    }
    *w = '\0';
    *out = *owned = s;
    return 0;
}

/* The prompt: messages checked and rendered by the model's template. On success *prompt
 * (malloc'd, *len bytes) is the caller's. */
static int render(json_t *body, int tmpl, char **prompt, size_t *len, struct api_resp *rs)
{
    json_t *msgs = json_object_get(body, "messages");
    if (!msgs)
        return api_fail(rs, STATUS_BAD_INPUT, "messages", "'messages' is required"), -1;
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return api_fail(rs, STATUS_BAD_INPUT, "messages", "'messages' must be a non-empty array"), -1;
    const size_t n = json_array_size(msgs);
    struct chat_message *m = calloc(n, sizeof *m);
    char **owned = calloc(n, sizeof *owned);
    int rc = -1;
    if (!m || !owned) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(msgs, i);
        char param[CHAT_PARAM_MAX];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(msg)) {
            api_fail(rs, STATUS_BAD_INPUT, param, "'%s' must be an object", param);
            goto done;
        }
        snprintf(param, sizeof param, "messages[%zu].role", i);
        json_t *role = json_object_get(msg, "role");
        if (!role) {
            api_fail(rs, STATUS_BAD_INPUT, param, "'%s' is required", param);
            goto done;
        }
        int r = json_is_string(role) ? chat_role_find(json_string_value(role)) : -1;
        if (r < 0) {
            api_fail(rs, STATUS_BAD_INPUT, param,
                     "'%s' must be one of system, developer, user, assistant", param);
            goto done;
        }
        m[i].role = (enum chat_role)r;
        if (content_of(msg, i, m[i].role, &m[i].content, &owned[i], rs) != 0)
            goto done;
    }
    struct status_err err;
    status_clear(&err);
    if (chat_template_render(tmpl, m, n, 1, prompt, len, &err) != STATUS_OK) {
        api_error(rs, &err);
        goto done;
    }
    rc = 0;
done:
    for (size_t i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(m);
    return rc;
}

/* ---- the request ---- */

static int parse_own(json_t *body, size_t ctx, struct gen_request *q, struct api_resp *rs)
{
    json_int_t mt = (json_int_t)ctx, n = 1, top = 0;
    int logprobs = 0;
    json_t *tools = json_object_get(body, "tools");
    if (tools && !json_is_null(tools) && !(json_is_array(tools) && json_array_size(tools) == 0))
        return api_fail(rs, STATUS_BAD_INPUT, "tools", "tools are not supported"), -1;
    if (gen_get_int(body, "max_tokens", "max_tokens", 0, INT32_MAX, &mt, rs) ||
        gen_get_int(body, "max_completion_tokens", "max_completion_tokens", 0, INT32_MAX, &mt, rs) ||
        gen_get_int(body, "n", "n", 1, 1, &n, rs) ||
        gen_get_bool(body, "logprobs", "logprobs", &logprobs, rs) ||
        gen_get_int(body, "top_logprobs", "top_logprobs", 0, TRANSFORMER_LOGPROBS_MAX, &top, rs))
        return -1;
    json_t *jt = json_object_get(body, "top_logprobs");
    if (jt && !json_is_null(jt) && !logprobs)
        return api_fail(rs, STATUS_BAD_INPUT, "top_logprobs",
                        "'top_logprobs' needs 'logprobs': true"),
               -1;
    q->gp.max_tokens = (size_t)mt;
    static const char *const MT_KEYS[] = {"max_completion_tokens", "max_tokens"};
    for (size_t i = 0; i < 2 && !q->max_tokens_param; i++) {
        json_t *v = json_object_get(body, MT_KEYS[i]);
        q->max_tokens_param = v && !json_is_null(v) ? MT_KEYS[i] : NULL;
    }
    q->gp.logprobs = logprobs ? (int)top : -1;
    q->logprobs_on = logprobs;
    return 0;
}

void api_chat_completions(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_GENERATION);
    if (!m)
        return;
    const struct generation_ops *gen = model_ops_of(m)->generation;
    const int tmpl = gen->chat_template(model_impl(m));
    struct gen_request q;
    char *prompt = NULL;
    size_t len = 0;
    if (tmpl == CHAT_TEMPLATE_NONE) {
        api_fail(rs, STATUS_BAD_INPUT, "model",
                 "model '%s' has no chat template; load it with the option chat_template=NAME "
                 "(one of: %s)",
                 model_id(m), chat_template_names());
    } else if (gen_parse(rq->body, &q, rs) == 0 && parse_own(rq->body, gen->ctx_len(model_impl(m)), &q, rs) == 0 &&
               render(rq->body, tmpl, &prompt, &len, rs) == 0) {
        /* the turn's closing marker, for tokenizers that write it as plain text */
        const char *eot = chat_template_end_of_turn(tmpl);
        if (eot && q.gp.n_stop < TRANSFORMER_STOP_MAX)
            q.gp.stop[q.gp.n_stop++] = eot;
        struct gen_prompt p = {.text = prompt, .len = len, .param = "messages", .parse_special = 1};
        gen_serve(rq, rs, m, &q, &p, &CHAT_FORMAT);
    }
    free(prompt);
    registry_release(m);
}
