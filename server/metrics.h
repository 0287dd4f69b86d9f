/* metrics.h: Prometheus counters, gauges and histograms of the server, rendered as text. */
#ifndef LMSERVE_METRICS_H
#define LMSERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "../models/registry.h"

#define METRICS_ROUTES_MAX 32 /* router table rows, plus "unmatched" */

/* Name the routes (index = router row; the last index counts unmatched paths). */
void metrics_init(const char *const *route_labels, size_t n);
/* One finished request: route index, HTTP status, duration in microseconds. */
void metrics_observe(size_t route, int http_status, int64_t usec);
void metrics_inflight_add(int delta);
void metrics_error(int http_status);
/* The text exposition (malloc'd, caller frees), with registry and queue gauges. */
char *metrics_render(registry *reg, size_t queue_depth, size_t queue_max, size_t workers_busy);

#endif
