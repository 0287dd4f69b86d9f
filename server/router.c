/* router.c: the route table (the API's single list; tools/check_routes.py compares it with
 * api.yaml) and path matching with {param} segments. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct route ROUTES[] = {
    { .method = "GET", .path = "/health", .handler = api_health, .cost = COST_INLINE },
    { .method = "GET", .path = "/ready", .handler = api_ready, .cost = COST_INLINE },
    { .method = "GET", .path = "/metrics", .handler = api_metrics, .cost = COST_INLINE },
    { .method = "GET", .path = "/v1/models", .handler = api_models_list, .cost = COST_INLINE },
    { .method = "POST", .path = "/v1/models", .handler = api_models_load, .cost = COST_JOB, .json_body = 1, .admin = 1 },
    { .method = "GET", .path = "/v1/models/{id}", .handler = api_models_get, .cost = COST_INLINE },
    { .method = "DELETE", .path = "/v1/models/{id}", .handler = api_models_unload, .cost = COST_JOB, .admin = 1 },
    { .method = "POST", .path = "/v1/score", .handler = api_score, .cost = COST_AUTO, .json_body = 1 },
    { .method = "POST", .path = "/v1/next", .handler = api_next, .cost = COST_JOB, .json_body = 1 },
    { .method = "POST", .path = "/v1/embeddings", .handler = api_embeddings, .cost = COST_AUTO, .json_body = 1 },
    { .method = "POST", .path = "/v1/neighbors", .handler = api_neighbors, .cost = COST_JOB, .json_body = 1 },
    { .method = "POST", .path = "/v1/similarity", .handler = api_similarity, .cost = COST_AUTO, .json_body = 1 },
    { .method = "POST", .path = "/v1/rerank", .handler = api_rerank, .cost = COST_JOB, .json_body = 1 },
    { .method = "POST", .path = "/v1/completions", .handler = api_completions, .cost = COST_STREAM, .json_body = 1 },
    { .method = "POST", .path = "/v1/chat/completions", .handler = api_chat_completions, .cost = COST_STREAM, .json_body = 1 },
    { .method = "POST", .path = "/v1/tokenize", .handler = api_tokenize, .cost = COST_AUTO, .json_body = 1 },
    { .method = "POST", .path = "/v1/detokenize", .handler = api_detokenize, .cost = COST_AUTO, .json_body = 1 },
    { .method = "GET", .path = "/v2", .handler = api_v2_server, .cost = COST_INLINE },
    { .method = "GET", .path = "/v2/health/live", .handler = api_v2_live, .cost = COST_INLINE },
    { .method = "GET", .path = "/v2/health/ready", .handler = api_v2_ready, .cost = COST_INLINE },
    { .method = "GET", .path = "/v2/models/{name}", .handler = api_v2_model, .cost = COST_INLINE },
    { .method = "GET", .path = "/v2/models/{name}/ready", .handler = api_v2_model_ready, .cost = COST_INLINE },
    { .method = "POST", .path = "/v2/models/{name}/infer", .handler = api_v2_infer, .cost = COST_JOB, .json_body = 1 },
    { .method = "POST", .path = "/v2/models/{name}/generate", .handler = api_v2_generate, .cost = COST_JOB, .json_body = 1 },
    { .method = "POST", .path = "/v2/models/{name}/generate_stream", .handler = api_v2_generate_stream, .cost = COST_STREAM, .json_body = 1 },
    { .method = "GET", .path = "/", .handler = api_static, .cost = COST_INLINE },
    { .method = "GET", .path = "/web/{path*}", .handler = api_static, .cost = COST_INLINE },
};
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

size_t router_count(void) { return N_ROUTES; }
const struct route *router_row(size_t i) { return i < N_ROUTES ? &ROUTES[i] : NULL; }
size_t router_index(const struct route *r) { return (size_t)(r - ROUTES); }

void router_params_free(char *params[API_PARAMS_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(params[i]);
        params[i] = NULL;
    }
}

/* Match 'path' against 'pat'; on success fill params (copies). */
static int path_match(const char *pat, const char *path, char *params[API_PARAMS_MAX],
                      size_t *n_params)
{
    size_t n = 0;
    while (*pat && *path) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (!close)
                goto no;
            int rest = close[-1] == '*';
            size_t len = rest ? strlen(path) : strcspn(path, "/");
            if (len == 0 || n >= API_PARAMS_MAX)
                goto no;
            params[n] = strndup(path, len);
            if (!params[n])
                goto no;
            n++;
            path += len;
            pat = close + 1;
            continue;
        }
        if (*pat != *path)
            goto no;
        pat++;
        path++;
    }
    if (*pat || *path)
        goto no;
    *n_params = n;
    return 1;
no:
    router_params_free(params, n);
    return 0;
}

enum router_result router_match(const char *method, const char *path, const struct route **out,
                                char *params[API_PARAMS_MAX], size_t *n_params, char *allow,
                                size_t allow_size)
{
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    int path_known = 0;
    size_t allow_len = 0;
    if (allow_size)
        allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        char *tmp[API_PARAMS_MAX] = {0};
        size_t nt = 0;
        if (!path_match(ROUTES[i].path, path, tmp, &nt))
            continue;
        if (strcmp(ROUTES[i].method, method) == 0) {
            memcpy(params, tmp, sizeof tmp);
            *n_params = nt;
            *out = &ROUTES[i];
            return ROUTER_OK;
        }
        router_params_free(tmp, nt);
        path_known = 1;
        if (allow_len < allow_size) {
            int w = snprintf(allow + allow_len, allow_size - allow_len, "%s%s",
                             allow_len ? ", " : "", ROUTES[i].method);
            if (w > 0)
                allow_len += (size_t)w;
            if (strcmp(ROUTES[i].method, "GET") == 0 && allow_len < allow_size) {
                w = snprintf(allow + allow_len, allow_size - allow_len, ", HEAD");
                if (w > 0)
                    allow_len += (size_t)w;
            }
        }
    }
    if (path_known && allow_len < allow_size)
        snprintf(allow + allow_len, allow_size - allow_len, ", OPTIONS");
    return path_known ? ROUTER_METHOD_NOT_ALLOWED : ROUTER_NOT_FOUND;
}
