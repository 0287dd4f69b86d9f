/* metrics.c: lock-free counters (relaxed atomics) rendered in Prometheus text format 0.0.4.
 * Statuses are counted per route in a small fixed table of the statuses we send. */
#include "metrics.h"
#include "../models/transformer/transformer.h"
#include "../models/util/strbuf.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int STATUSES[] = {200, 201, 204, 400, 401, 403, 404, 405, 409,
                               413, 415, 422, 429, 499, 500, 503};
#define N_STATUSES (sizeof STATUSES / sizeof STATUSES[0])
/* Latency bucket bounds in seconds: 50 us .. 30 s, for microsecond lookups and long jobs. */
static const double BUCKETS_S[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                   0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1,
                                   2.5,     5,      10,      30};
#define N_BUCKETS (sizeof BUCKETS_S / sizeof BUCKETS_S[0])

static const char *const *labels;
static size_t n_routes;
static atomic_ullong requests[METRICS_ROUTES_MAX][N_STATUSES + 1]; /* +1: other */
static atomic_ullong buckets[METRICS_ROUTES_MAX][N_BUCKETS + 1];   /* +1: +Inf */
static atomic_ullong sum_us[METRICS_ROUTES_MAX];
static atomic_ullong errors[N_STATUSES + 1];
static atomic_int inflight;

void metrics_init(const char *const *route_labels, size_t n)
{
    labels = route_labels;
    n_routes = n < METRICS_ROUTES_MAX ? n : METRICS_ROUTES_MAX;
}

static size_t status_index(int s)
{
    for (size_t i = 0; i < N_STATUSES; i++)
        if (STATUSES[i] == s)
            return i;
    return N_STATUSES;
}

void metrics_observe(size_t route, int http_status, int64_t usec)
{
    if (route >= n_routes)
        route = n_routes ? n_routes - 1 : 0;
    atomic_fetch_add_explicit(&requests[route][status_index(http_status)], 1, memory_order_relaxed);
    double s = (double)usec / 1e6;
    size_t b = 0;
    while (b < N_BUCKETS && s > BUCKETS_S[b])
        b++;
    atomic_fetch_add_explicit(&buckets[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sum_us[route], (unsigned long long)(usec > 0 ? usec : 0),
                              memory_order_relaxed);
}

void metrics_inflight_add(int delta) { atomic_fetch_add_explicit(&inflight, delta, memory_order_relaxed); }

void metrics_error(int http_status)
{
    atomic_fetch_add_explicit(&errors[status_index(http_status)], 1, memory_order_relaxed);
}

/* ---- rendering ---- */

/* Label values are our own ids ([A-Za-z0-9._:-]) and route patterns: no escaping needed
 * beyond what id validation guarantees. */
static void model_gauges(const model *m, void *ud)
{
    struct strbuf *b = ud;
    strbuf_printf(b, "lmserve_model_bytes{model=\"%s\",type=\"%s\"} %zu\n", model_id(m), model_type(m),
        model_state_of(m) == MODEL_READY ? model_bytes(m) : (size_t)0);
}

static void lat_hist(struct strbuf *b, const char *name, const char *help,
                     const unsigned long long *c, double sum)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long run = 0;
    for (size_t i = 0; i < TRANSFORMER_LAT_BUCKETS; i++) {
        run += c[i];
        strbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, transformer_lat_bounds_s[i], run);
    }
    run += c[TRANSFORMER_LAT_BUCKETS];
    strbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, run, name, sum,
        name, run);
}

/* Continuous batching of the Transformers (models/transformer/sched.c). */
static void batching_render(struct strbuf *b)
{
    struct transformer_sched_stats st;
    transformer_sched_stats(&st);
    strbuf_printf(b, "# HELP lmserve_slots Generation slots of the running Transformer schedulers.\n"
           "# TYPE lmserve_slots gauge\nlmserve_slots %zu\n"
           "# HELP lmserve_slots_busy Slots holding a generation now.\n"
           "# TYPE lmserve_slots_busy gauge\nlmserve_slots_busy %zu\n"
           "# HELP lmserve_generations_waiting Generations waiting for a slot (at most --gen-queue).\n"
           "# TYPE lmserve_generations_waiting gauge\nlmserve_generations_waiting %zu\n"
           "# HELP lmserve_kv_cache_bytes KV cache bytes held by running generations.\n"
           "# TYPE lmserve_kv_cache_bytes gauge\nlmserve_kv_cache_bytes %zu\n"
           "# HELP lmserve_kv_cache_budget_bytes KV cache budget (--kv-cache-mb) of the running schedulers.\n"
           "# TYPE lmserve_kv_cache_budget_bytes gauge\nlmserve_kv_cache_budget_bytes %zu\n"
           "# HELP lmserve_tokens_generated_total Tokens generated (sampled) by Transformers.\n"
           "# TYPE lmserve_tokens_generated_total counter\nlmserve_tokens_generated_total %llu\n"
           "# HELP lmserve_prompt_tokens_processed_total Prompt tokens run through batched steps.\n"
           "# TYPE lmserve_prompt_tokens_processed_total counter\nlmserve_prompt_tokens_processed_total %llu\n"
           "# HELP lmserve_batch_steps_total Batched forward steps.\n"
           "# TYPE lmserve_batch_steps_total counter\nlmserve_batch_steps_total %llu\n",
        st.slots, st.slots_busy, st.waiting, st.kv_bytes_used, st.kv_bytes_budget, st.tokens_generated,
        st.prompt_rows, st.steps);
    static const size_t le[] = {1, 2, 4, 8, 16, 32, 64};
    strbuf_printf(b, "# HELP lmserve_batch_size Rows (tokens of all slots) per batched forward step.\n"
           "# TYPE lmserve_batch_size histogram\n");
    unsigned long long run = 0, total = 0;
    double sum = 0;
    size_t r = 0;
    for (size_t i = 0; i < sizeof le / sizeof le[0]; i++) {
        for (; r <= le[i] && r < TRANSFORMER_SCHED_HIST; r++) {
            run += st.batch_hist[r];
            sum += (double)r * (double)st.batch_hist[r];
        }
        strbuf_printf(b, "lmserve_batch_size_bucket{le=\"%zu\"} %llu\n", le[i], run);
    }
    total = run;
    for (; r < TRANSFORMER_SCHED_HIST; r++) {
        total += st.batch_hist[r];
        sum += (double)r * (double)st.batch_hist[r];
    }
    strbuf_printf(b, "lmserve_batch_size_bucket{le=\"+Inf\"} %llu\nlmserve_batch_size_sum %.0f\n"
           "lmserve_batch_size_count %llu\n", total, sum, total);
    strbuf_printf(b, "# HELP lmserve_prefix_cache_bytes KV cache bytes held by the prefix cache (part of lmserve_kv_cache_bytes).\n"
           "# TYPE lmserve_prefix_cache_bytes gauge\nlmserve_prefix_cache_bytes %zu\n"
           "# HELP lmserve_prefix_cache_lookups_total Prompts looked up in the prefix cache.\n"
           "# TYPE lmserve_prefix_cache_lookups_total counter\nlmserve_prefix_cache_lookups_total %llu\n"
           "# HELP lmserve_prefix_cache_hits_total Prompts that reused a cached prefix.\n"
           "# TYPE lmserve_prefix_cache_hits_total counter\nlmserve_prefix_cache_hits_total %llu\n"
           "# HELP lmserve_prefix_cache_hit_ratio Hits over lookups since start (0 before any).\n"
           "# TYPE lmserve_prefix_cache_hit_ratio gauge\nlmserve_prefix_cache_hit_ratio %.4f\n"
           "# HELP lmserve_prompt_tokens_cached_total Prompt tokens served from the prefix cache.\n"
           "# TYPE lmserve_prompt_tokens_cached_total counter\nlmserve_prompt_tokens_cached_total %llu\n"
           "# HELP lmserve_batch_steps_preempted_total Decode-only steps abandoned for a newly arrived prompt (run again after it).\n"
           "# TYPE lmserve_batch_steps_preempted_total counter\nlmserve_batch_steps_preempted_total %llu\n",
        st.prefix_cache_bytes, st.prefix_lookups, st.prefix_hits,
        st.prefix_lookups ? (double)st.prefix_hits / (double)st.prefix_lookups : 0.0, st.prefix_tokens,
        st.steps_preempted);
    lat_hist(b, "lmserve_time_to_first_token_seconds",
             "From the start of a generation (slot wait included) to its first token.", st.ttft,
             st.ttft_sum_s);
    lat_hist(b, "lmserve_inter_token_latency_seconds", "Between consecutive tokens of a generation.",
             st.itl, st.itl_sum_s);
}

char *metrics_render(registry *reg, size_t queue_depth, size_t queue_max, size_t workers_busy)
{
    struct strbuf b = {0};
    strbuf_printf(&b, "# HELP lmserve_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE lmserve_requests_total counter\n");
    for (size_t r = 0; r < n_routes; r++)
        for (size_t s = 0; s <= N_STATUSES; s++) {
            unsigned long long v = atomic_load_explicit(&requests[r][s], memory_order_relaxed);
            if (v)
                strbuf_printf(&b, "lmserve_requests_total{route=\"%s\",status=\"%s%d\"} %llu\n", labels[r],
                    s == N_STATUSES ? "other" : "", s == N_STATUSES ? 0 : STATUSES[s], v);
        }
    strbuf_printf(&b, "# HELP lmserve_request_duration_seconds Time from first byte to response, by route.\n"
            "# TYPE lmserve_request_duration_seconds histogram\n");
    for (size_t r = 0; r < n_routes; r++) {
        unsigned long long cum = 0;
        for (size_t i = 0; i <= N_BUCKETS; i++)
            cum += atomic_load_explicit(&buckets[r][i], memory_order_relaxed);
        if (!cum)
            continue;
        unsigned long long run = 0;
        for (size_t i = 0; i < N_BUCKETS; i++) {
            run += atomic_load_explicit(&buckets[r][i], memory_order_relaxed);
            strbuf_printf(&b, "lmserve_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                labels[r], BUCKETS_S[i], run);
        }
        strbuf_printf(&b, "lmserve_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            labels[r], cum);
        strbuf_printf(&b, "lmserve_request_duration_seconds_sum{route=\"%s\"} %.6f\n", labels[r],
            (double)atomic_load_explicit(&sum_us[r], memory_order_relaxed) / 1e6);
        strbuf_printf(&b, "lmserve_request_duration_seconds_count{route=\"%s\"} %llu\n", labels[r], cum);
    }
    strbuf_printf(&b, "# HELP lmserve_errors_total Error responses, by HTTP status.\n"
            "# TYPE lmserve_errors_total counter\n");
    for (size_t s = 0; s < N_STATUSES; s++) {
        unsigned long long v = atomic_load_explicit(&errors[s], memory_order_relaxed);
        if (v)
            strbuf_printf(&b, "lmserve_errors_total{status=\"%d\"} %llu\n", STATUSES[s], v);
    }
    strbuf_printf(&b, "# HELP lmserve_requests_in_flight Requests being handled now.\n"
            "# TYPE lmserve_requests_in_flight gauge\n"
            "lmserve_requests_in_flight %d\n",
        atomic_load_explicit(&inflight, memory_order_relaxed));
    strbuf_printf(&b, "# HELP lmserve_queue_depth Jobs waiting for a worker.\n"
            "# TYPE lmserve_queue_depth gauge\nlmserve_queue_depth %zu\n"
            "# HELP lmserve_queue_capacity Jobs that may wait before 503.\n"
            "# TYPE lmserve_queue_capacity gauge\nlmserve_queue_capacity %zu\n"
            "# HELP lmserve_workers_busy Workers running a job.\n"
            "# TYPE lmserve_workers_busy gauge\nlmserve_workers_busy %zu\n",
        queue_depth, queue_max, workers_busy);
    batching_render(&b);
    size_t by_state[4];
    registry_count(reg, by_state);
    strbuf_printf(&b, "# HELP lmserve_models Models in the registry, by state.\n"
            "# TYPE lmserve_models gauge\n");
    for (int s = 0; s < 4; s++)
        strbuf_printf(&b, "lmserve_models{state=\"%s\"} %zu\n", model_state_name((enum model_state)s),
            by_state[s]);
    strbuf_printf(&b, "# HELP lmserve_model_bytes Bytes of model data mapped or allocated, by model.\n"
            "# TYPE lmserve_model_bytes gauge\n");
    registry_each(reg, model_gauges, &b);
    return strbuf_take(&b, NULL);
}
