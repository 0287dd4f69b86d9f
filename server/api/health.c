/* health.c: liveness, readiness and the Prometheus metrics page. */
#include <stdlib.h>
#include <string.h>

#include "../config.h"
#include "../http.h"
#include "../metrics.h"
#include "api.h"

/* The liveness answer is constant: its text, without building and printing a JSON tree on
 * every probe (the same bytes json_dumps gave, with http.c's trailing newline). */
void api_health(const struct api_req *rq, struct api_resp *rs)
{
    (void)rq;
    static const char OK[] = "{\"status\":\"ok\"}\n";
    rs->raw = malloc(sizeof OK);
    if (!rs->raw) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        return;
    }
    memcpy(rs->raw, OK, sizeof OK);
    rs->status = 200;
    rs->raw_len = sizeof OK - 1;
}

static void ready_row(const model *m, void *ud)
{
    json_t *arr = ud;
    json_t *row = json_pack("{s:s,s:s}", "id", model_id(m), "state",
                            model_state_name(model_state_of(m)));
    if (row && model_state_of(m) == MODEL_FAILED)
        json_object_set_new(row, "error", json_string(model_error(m)));
    json_array_append_new(arr, row);
}

void api_ready(const struct api_req *rq, struct api_resp *rs)
{
    size_t by_state[4];
    size_t n = registry_count(rq->reg, by_state);
    /* No models at all is not ready (a container started without its config would pass
     * its probes and take traffic it cannot serve) unless --ready-without-models says the
     * models come later through the admin API. */
    int ready = by_state[MODEL_READY] == n && (n > 0 || rq->cfg->ready_without_models);
    json_t *models = json_array();
    registry_each(rq->reg, ready_row, models);
    json_t *body = json_pack("{s:s,s:o}", "status", ready ? "ready" : "not_ready", "models", models);
    if (body && n == 0 && !ready)
        json_object_set_new(body, "reason",
                            json_string("no models are configured (--config, --model or "
                                        "LMSERVE_CONFIG / LMSERVE_MODELS; "
                                        "--ready-without-models yes to be ready empty)"));
    api_ok(rs, body);
    if (!ready) {
        rs->status = 503;
        rs->retry_after = 1;
    }
}

void api_metrics(const struct api_req *rq, struct api_resp *rs)
{
    char *text = metrics_render(rq->reg, http_queue_depth(), http_queue_capacity(),
                                http_workers_busy());
    if (!text) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory rendering metrics");
        return;
    }
    rs->status = 200;
    rs->raw = text;
    rs->raw_len = strlen(text);
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
