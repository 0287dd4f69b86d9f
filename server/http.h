/* http.h: the libmicrohttpd daemon: request lifecycle, body limits, CORS, jobs on the
 * worker pool with suspend/resume, streamed responses, graceful drain. */
#ifndef LMSERVE_HTTP_H
#define LMSERVE_HTTP_H

#include "../models/registry.h"
#include "config.h"

typedef struct http_server http_server;

#define HTTP_REQUEST_ID_MAX 64 /* longest X-Request-Id we echo; longer ones are replaced */

/* Start listening on cfg->host:cfg->port. cfg and reg must outlive the server.
 * NULL on failure (message on stderr). */
http_server *http_start(const struct api_config *cfg, registry *reg);
/* The bound port (useful with --port 0). */
int http_port(const http_server *s);
/* Stop accepting, wait up to timeout_s for in-flight requests, then cancel what is left. */
void http_drain(http_server *s, int timeout_s);
/* Stop the daemon and free. Accepts NULL. */
void http_stop(http_server *s);

/* Worker pool gauges for /metrics. */
size_t http_queue_depth(void);
size_t http_queue_capacity(void);
size_t http_workers_busy(void);

#endif
