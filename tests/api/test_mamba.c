/* test_mamba.c: a Mamba GGUF (written at test time by `lmserve-gguf random --arch mamba`,
 * so no fixture) through the server: /v1/completions generates, /v1/score scores every
 * token, /v1/next ranks candidates, /v1/models names the architecture; a prompt longer
 * than the context is a 400, not a crash. */
#include "harness.h"

#include <criterion/criterion.h>

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TM_PATH_MAX 1024

Test(mamba_api, random_mamba_serves_completions_score_next, .timeout = 120)
{
    char path[TM_PATH_MAX], spec[TM_PATH_MAX + 32];
    harness_gguf_random("mamba.gguf",
                        "--arch mamba --type Q8_0 --dim 64 --layers 2 --vocab 400 --ctx 256", path,
                        sizeof path);
    snprintf(spec, sizeof spec, "m=transformer:%s", path);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);

    json_t *r = http_post_ok(&s, "/v1/completions",
                        "{\"model\":\"m\",\"prompt\":\"ab cd\",\"max_tokens\":8,\"temperature\":0}");
    json_t *u = json_object_get(r, "usage");
    cr_expect_eq(json_integer_value(json_object_get(u, "completion_tokens")), 8);
    json_t *again = http_post_ok(&s, "/v1/completions",
                            "{\"model\":\"m\",\"prompt\":\"ab cd\",\"max_tokens\":8,\"temperature\":0}");
    const char *t1 = json_string_value(json_object_get(json_array_get(json_object_get(r, "choices"), 0), "text"));
    const char *t2 = json_string_value(json_object_get(json_array_get(json_object_get(again, "choices"), 0), "text"));
    cr_assert(t1 && t2);
    cr_expect_str_eq(t1, t2, "greedy is deterministic (a fresh state per request)");
    json_decref(again);
    json_decref(r);

    r = http_post_ok(&s, "/v1/score", "{\"model\":\"m\",\"input\":[\"ab cd ef\",\"x\"],\"detail\":true}");
    json_t *data = json_object_get(r, "data");
    cr_assert_eq(json_array_size(data), 2);
    char *dump = json_dumps(json_array_get(data, 0), JSON_COMPACT);
    cr_expect(strstr(dump, "logprob") != NULL, "%s", dump);
    free(dump);
    json_decref(r);

    r = http_post_ok(&s, "/v1/next", "{\"model\":\"m\",\"context\":\"ab cd\",\"top_k\":5}");
    cr_expect_eq(json_array_size(json_object_get(r, "data")), 5);
    json_decref(r);

    struct http_res m;
    cr_assert_eq(http_get(&s, "/v1/models/m", &m), 0);
    json_t *d = json_object_get(m.json, "details");
    cr_expect_str_eq(json_string_value(json_object_get(d, "architecture")), "mamba");
    json_t *ssm = json_object_get(d, "ssm");
    cr_expect_eq(json_integer_value(json_object_get(ssm, "inner_size")), 128);
    /* 2 layers x 128 channels x (3 conv inputs + 16 states) floats */
    cr_expect_eq(json_integer_value(json_object_get(ssm, "state_bytes")), 2 * 128 * 19 * 4);
    http_res_free(&m);

    /* longer than the 256-token context: a clear 400 */
    char *big = malloc(8192);
    int n = snprintf(big, 8192, "{\"model\":\"m\",\"prompt\":\"");
    for (int i = 0; i < 700; i++)
        n += snprintf(big + n, (size_t)(8192 - n), "ab ");
    snprintf(big + n, (size_t)(8192 - n), "\",\"max_tokens\":4}");
    struct http_res e;
    cr_assert_eq(http_post(&s, "/v1/completions", big, &e), 0);
    cr_expect_eq(e.status, 400, "%ld %s", e.status, e.body);
    http_res_free(&e);
    free(big);
    cr_assert_eq(srv_stop(&s), 0);
}

/* ---- Mamba through the batching scheduler (issue 14): concurrent streams share steps ---- */

#define MB_N 6

struct mb_job {
    const struct srv *s;
    char body[256];
    char *text; /* the answer's text, malloc'd */
    long status;
};

static void *mb_run(void *arg)
{
    struct mb_job *j = arg;
    struct http_res r;
    if (http_post(j->s, "/v1/completions", j->body, &r) != 0)
        return NULL;
    j->status = r.status;
    json_t *c = json_array_get(json_object_get(r.json, "choices"), 0);
    const char *t = json_string_value(json_object_get(c, "text"));
    j->text = strdup(t ? t : "");
    http_res_free(&r);
    return NULL;
}

static long mb_metric(const char *body, const char *name)
{
    const char *p = strstr(body, name);
    return p ? atol(p + strlen(name)) : -1;
}

/* MB_N concurrent completions (greedy and seeded sampling, prompts of different lengths)
 * give the text each gives alone, and /metrics shows steps that held several rows. */
Test(mamba_api, concurrent_streams_equal_each_alone, .timeout = 180)
{
    char path[TM_PATH_MAX], spec[TM_PATH_MAX + 32];
    harness_gguf_random("mamba-batch.gguf",
                        "--arch mamba --type Q8_0 --dim 64 --layers 2 --vocab 400 --ctx 256", path,
                        sizeof path);
    snprintf(spec, sizeof spec, "m=transformer:%s", path);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    struct mb_job alone[MB_N], together[MB_N];
    pthread_t th[MB_N];
    for (int i = 0; i < MB_N; i++) {
        struct mb_job j = {.s = &s};
        if (i % 2)
            snprintf(j.body, sizeof j.body,
                     "{\"model\":\"m\",\"prompt\":\"%.*s\",\"max_tokens\":%d,\"temperature\":0.9,"
                     "\"seed\":%d}",
                     2 * i + 1, "ab cd ef gh ij kl mn op", 24 + 5 * i, i);
        else
            snprintf(j.body, sizeof j.body,
                     "{\"model\":\"m\",\"prompt\":\"%.*s\",\"max_tokens\":%d,\"temperature\":0}",
                     2 * i + 1, "ab cd ef gh ij kl mn op", 24 + 5 * i);
        alone[i] = together[i] = j;
        mb_run(&alone[i]);
        cr_assert_eq(alone[i].status, 200, "%s", alone[i].text);
    }
    struct http_res r;
    cr_assert_eq(http_get(&s, "/metrics", &r), 0);
    const long steps0 = mb_metric(r.body, "\nlmserve_batch_steps_total ");
    const long one0 = mb_metric(r.body, "lmserve_batch_size_bucket{le=\"1\"} ");
    http_res_free(&r);
    for (int i = 0; i < MB_N; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, mb_run, &together[i]), 0);
    for (int i = 0; i < MB_N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(together[i].status, 200, "request %d: %ld %s", i, together[i].status,
                     together[i].text);
        cr_expect_str_eq(together[i].text, alone[i].text, "request %d differs in a batch", i);
        free(alone[i].text);
        free(together[i].text);
    }
    cr_assert_eq(http_get(&s, "/metrics", &r), 0);
    const long steps = mb_metric(r.body, "\nlmserve_batch_steps_total ") - steps0;
    const long one = mb_metric(r.body, "lmserve_batch_size_bucket{le=\"1\"} ") - one0;
    cr_expect_gt(steps, 0, "Mamba requests did not go through the scheduler");
    cr_expect_lt(one, steps, "no Mamba step ever held two rows (%ld of %ld had one)", one, steps);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}
