/* test_mamba.c: a Mamba GGUF (written at test time by `lmserve-gguf random --arch mamba`,
 * so no fixture) through the server: /v1/completions generates, /v1/score scores every
 * token, /v1/next ranks candidates, /v1/models names the architecture; a prompt longer
 * than the context is a 400, not a crash. */
#include "harness.h"

#include <criterion/criterion.h>

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
