/* api.h: the plain request/response structs every handler sees, and the handlers.
 * Handlers never see libmicrohttpd: http.c builds a struct api_req, the router picks the
 * handler, and http.c turns the filled struct api_resp (or a stream) into HTTP. */
#ifndef LMSERVE_API_H
#define LMSERVE_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../../models/registry.h"
#include "../../models/caps.h"
#include "../../models/util/status.h"

#define API_PARAMS_MAX 4 /* path parameters per route, e.g. {id} */

struct api_config; /* server/config.h */
struct api_stream; /* server/stream.h: SSE / chunked output of a running job */

struct api_req {
    const char *method;
    const char *path;
    const char *params[API_PARAMS_MAX]; /* path parameters in pattern order ({id}) */
    size_t n_params;
    json_t *body;             /* parsed JSON object for POST routes, else NULL (borrowed) */
    const char *authorization; /* the Authorization header or NULL */
    const char *request_id;
    registry *reg;
    const struct api_config *cfg;
    struct api_stream *stream; /* non-NULL for COST_STREAM routes (see stream.h) */
    const volatile int *cancelled; /* becomes 1 when the client goes away or time runs out */
    int64_t deadline_us;          /* monotonic microseconds; 0 = none */
    /* Any request header's value (case-insensitive name), or NULL; valid during the call.
     * Set by http.c (NULL in requests a handler builds itself). */
    const char *(*header)(const struct api_req *rq, const char *name);
    void *conn; /* http.c's connection, for header() */
    /* A reference to the model named by body.model that http.c already took, or NULL:
     * api_model_or_reply takes it over (sets *held_model to NULL) instead of a second
     * registry lookup. Whatever is left there is released by http.c. */
    model **held_model;
};

#define API_RESP_HEADERS_MAX 6
#define API_RESP_HEADER_VALUE_MAX 96

struct api_resp {
    int status;              /* HTTP status; 0 means 200 */
    json_t *body;            /* owned: JSON body (stolen by http.c) */
    char *raw;               /* owned alternative to body: raw bytes (malloc'd) */
    size_t raw_len;
    const char *content_type; /* static string; default application/json */
    int retry_after;          /* seconds for Retry-After; 0 = no header */
    char *location;           /* owned: Location header for 201, or NULL */
    struct {                  /* more response headers (api_resp_header) */
        const char *name;     /* static string */
        char value[API_RESP_HEADER_VALUE_MAX];
    } headers[API_RESP_HEADERS_MAX];
    size_t n_headers;
};

/* Add a response header (dropped past API_RESP_HEADERS_MAX; values truncated). */
void api_resp_header(struct api_resp *rs, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* rq->header(rq, name) when the request has headers, else NULL. */
const char *api_req_header(const struct api_req *rq, const char *name);

/* Fill 'rs' with the error object for 'err' (status from errors.c's table). */
void api_error(struct api_resp *rs, const struct status_err *err);
/* Shorthand: status_set on a local error and api_error. Returns the status code. */
int api_fail(struct api_resp *rs, enum status code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fill 'rs' with 200 and 'body' (stolen). */
void api_ok(struct api_resp *rs, json_t *body);

/* Take a reference on the model named by the body's "model" field and check that its type
 * serves capability 'want' (models/caps.h; generation also needs a tokenizer). On failure
 * the error is in 'rs' and NULL is returned ("_or_reply"). Release with registry_release(). */
model *api_model_or_reply(const struct api_req *rq, struct api_resp *rs, enum model_cap want);
/* 1 when the model's type serves capability 'want' (models/caps.h). */
int api_model_serves(const model *m, enum model_cap want);
/* New reference: what the model can do, as the route families a front-end offers for it
 * ("score", "next", "embeddings", "similarity", "neighbors", "rerank", "tokenize", "completions",
 * "chat"), from its type's capability tables. 'm' must be READY, or be held under the
 * registry lock (models.c). */
json_t *api_model_capabilities(const model *m);

/* ---- handlers: one file per area under server/api/ ---- */
void api_health(const struct api_req *rq, struct api_resp *rs);
void api_ready(const struct api_req *rq, struct api_resp *rs);
void api_metrics(const struct api_req *rq, struct api_resp *rs);
void api_models_list(const struct api_req *rq, struct api_resp *rs);
void api_models_get(const struct api_req *rq, struct api_resp *rs);
void api_models_load(const struct api_req *rq, struct api_resp *rs);
void api_models_unload(const struct api_req *rq, struct api_resp *rs);
void api_score(const struct api_req *rq, struct api_resp *rs);
void api_next(const struct api_req *rq, struct api_resp *rs);
void api_embeddings(const struct api_req *rq, struct api_resp *rs);
void api_neighbors(const struct api_req *rq, struct api_resp *rs);
void api_similarity(const struct api_req *rq, struct api_resp *rs);
void api_rerank(const struct api_req *rq, struct api_resp *rs); /* rerank.c */
void api_completions(const struct api_req *rq, struct api_resp *rs);
void api_chat_completions(const struct api_req *rq, struct api_resp *rs);
void api_tokenize(const struct api_req *rq, struct api_resp *rs);
void api_detokenize(const struct api_req *rq, struct api_resp *rs);
void api_static(const struct api_req *rq, struct api_resp *rs); /* GET / and /web/... */
/* KServe V2 / Open Inference Protocol (kserve.c) */
void api_v2_server(const struct api_req *rq, struct api_resp *rs);
void api_v2_live(const struct api_req *rq, struct api_resp *rs);
void api_v2_ready(const struct api_req *rq, struct api_resp *rs);
void api_v2_model(const struct api_req *rq, struct api_resp *rs);
void api_v2_model_ready(const struct api_req *rq, struct api_resp *rs);
void api_v2_infer(const struct api_req *rq, struct api_resp *rs);
void api_v2_generate(const struct api_req *rq, struct api_resp *rs);
void api_v2_generate_stream(const struct api_req *rq, struct api_resp *rs);
/* The Error object in 'body' (stolen) as the V2 protocol's {"error": "..."}; other bodies
 * are returned as they are. http.c applies it to every error of a /v2 route. */
json_t *api_kserve_error_body(json_t *body);

#endif
