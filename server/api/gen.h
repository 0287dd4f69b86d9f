/* gen.h: what /v1/completions and /v1/chat/completions share: the sampling fields of a
 * request, the bound on active generations, and the run itself (encode, generate, answer
 * as JSON or as SSE chunks, errors mid-stream, [DONE]). Each route supplies the shape of
 * its answers as a struct gen_format. Internal to server/api/. */
#ifndef LMSERVE_API_GEN_H
#define LMSERVE_API_GEN_H

#include <jansson.h>

#include "../../models/transformer/transformer.h"
#include "../../models/util/strbuf.h"
#include "api.h"

#define GEN_ID_MAX 96
#define GEN_TEMPERATURE_MAX 2.0
#define GEN_PENALTY_ABS_MAX 2.0 /* presence / frequency, as OpenAI */
#define GEN_RETRY_AFTER_S 1
/* jansson's default prints 17 digits; 8 keep a float32 logprob exact enough for clients */
#define GEN_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(8))

struct gen_request {
    struct transformer_gen_params gp; /* max_tokens and logprobs are set by the route */
    int stream, include_usage;
    int logprobs_on;
    /* the field that set max_tokens, or NULL for the route's default: an explicit bound must
     * fit the context with the prompt (400 naming it), the default is clamped */
    const char *max_tokens_param;
};

/* Optional typed fields of 'obj' (absent or null leaves *out as it was). On a wrong type
 * or a value out of range: the error naming 'param' is in rs and -1 is returned. */
int gen_get_int(json_t *obj, const char *key, const char *param, json_int_t lo, json_int_t hi,
                json_int_t *out, struct api_resp *rs);
int gen_get_number(json_t *obj, const char *key, double lo, double hi, int lo_open, double *out,
                   struct api_resp *rs);
int gen_get_bool(json_t *obj, const char *key, const char *param, int *out, struct api_resp *rs);

/* Defaults, then the shared fields: temperature, top_p, top_k, min_p, seed, the penalties,
 * stop, stream, stream_options. Returns 0, or -1 with the error in rs. */
int gen_parse(json_t *body, struct gen_request *q, struct api_resp *rs);

struct gen_run;

/* The shape of one route's answers. Every json_t argument is stolen. */
struct gen_format {
    const char *id_prefix;    /* "cmpl-", "chatcmpl-" */
    const char *chunk_object; /* the "object" of streamed chunks (usage chunk included) */
    /* One streamed chunk: text (may be ""), the token's logprobs (NULL: none), the finish
     * reason (NULL until the last chunk). */
    json_t *(*chunk)(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                     const char *finish);
    /* A new logprobs container, and one token added to it. */
    json_t *(*lp_new)(void);
    void (*lp_add)(const struct gen_run *g, json_t *lp, const struct transformer_gen_event *ev);
    /* The whole non-streamed answer. */
    json_t *(*answer)(const struct gen_run *g, const char *text, size_t len, json_t *lp,
                      const char *finish, json_t *usage);
    /* Streams only: the first chunk before any token (chat's role), or NULL. */
    json_t *(*opening)(const struct gen_run *g);
    /* Streams only: the error event made from the Error object (NULL: that object), and no
     * final "data: [DONE]" when no_done (Triton's generate_stream, kserve.c). */
    json_t *(*error_event)(json_t *error_body);
    int no_done;
};

/* One generation in progress, as the format callbacks see it. */
struct gen_run {
    const struct api_req *rq;
    const struct gen_request *q;
    const struct gen_format *fmt;
    const void *impl;                   /* model_impl() of the model */
    const struct tokenizer_ops *tok;    /* its capabilities (models/caps.h) */
    const struct generation_ops *gen;
    const char *model_id;
    char id[GEN_ID_MAX];
    json_int_t created;
    size_t offset; /* bytes of answer text before the current token (echo included) */
    int prev;      /* the token before the current one */
    /* private to gen.c */
    struct strbuf text; /* the answer so far (non-streamed) */
    json_t *lp_all;
    int failed;
    const struct gen_prompt *prompt;
    int opened; /* streams: the 200 and the opening chunks are out */
};

/* The input of one run: the prompt text, and for completions' echo the text that precedes
 * the answer. 'param' names the request field a too-long prompt is reported on. */
struct gen_prompt {
    const char *text;
    size_t len;
    int echo;
    const char *param;
    /* 1: control tokens written in the text ("<|im_end|>", "</s>") become their ids, BOS/EOS as
     * the model's metadata says (llama-server's tokenization of a chat prompt); 0: text is text,
     * BOS first. */
    int parse_special;
};

/* Everything after parsing: takes a generation slot (503 + Retry-After past
 * --max-generations), runs, answers through rs or the stream, frees the slot. The caller
 * holds the reference on 'm' (a transformer) and releases it afterwards. */
void gen_serve(const struct api_req *rq, struct api_resp *rs, model *m, const struct gen_request *q,
               const struct gen_prompt *p, const struct gen_format *fmt);

#endif
