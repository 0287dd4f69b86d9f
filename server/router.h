/* router.h: the table of routes and the match from (method, path) to a row. */
#ifndef LMSERVE_ROUTER_H
#define LMSERVE_ROUTER_H

#include <stddef.h>

#include "api/api.h"

enum route_cost {
    COST_INLINE, /* small and bounded: answered on the I/O thread */
    COST_AUTO,   /* inline when the body is small and the model is not 'heavy', else a job */
    COST_JOB,    /* always a worker job; the connection is suspended meanwhile */
    COST_STREAM, /* a worker job that may stream its answer (stream.h) */
};

#define ROUTER_INLINE_BODY_MAX 1024 /* COST_AUTO bodies up to this many bytes run inline */

struct route {
    const char *method;  /* "GET", "POST", "DELETE" */
    const char *path;    /* pattern: literal segments, {name} for one segment, {name*} rest */
    void (*handler)(const struct api_req *rq, struct api_resp *rs);
    enum route_cost cost;
    int json_body; /* POST with a JSON object body (415 / 400 checks run first) */
    int admin;     /* needs Authorization: Bearer <admin key> */
};

enum router_result { ROUTER_OK, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

/* Match. On ROUTER_OK *out is the row and params hold copies of the path parameters
 * (malloc'd; free with router_params_free). On ROUTER_METHOD_NOT_ALLOWED 'allow' holds the
 * allowed methods ("GET, POST"). HEAD matches GET rows. */
enum router_result router_match(const char *method, const char *path, const struct route **out,
                                char *params[API_PARAMS_MAX], size_t *n_params, char *allow,
                                size_t allow_size);
void router_params_free(char *params[API_PARAMS_MAX], size_t n);

/* Row index of a route (for metrics), and the rows. */
size_t router_index(const struct route *r);
size_t router_count(void);
const struct route *router_row(size_t i);

#endif
