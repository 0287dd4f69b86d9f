/* test_gpt2.c: a GPT-2 GGUF (written at test time by `lmserve-gguf random --arch gpt2`, with
 * its small byte-level BPE vocabulary, so no fixture) through the server: /v1/completions
 * generates deterministically, /v1/score scores every token, /v1/next gives every candidate
 * as decoded text (" violence", never the BPE piece "Ġviolence"), /v1/models names the
 * architecture; a prompt longer than the learned positions is a 400, not a crash. */
#include "harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TG_PATH_MAX 1024

Test(gpt2_api, random_gpt2_serves_completions_score_next, .timeout = 120)
{
    char path[TG_PATH_MAX], spec[TG_PATH_MAX + 32];
    harness_gguf_random("gpt2.gguf", "--arch gpt2 --type Q8_0 --dim 64 --layers 2 --heads 4 --ctx 64",
                        path, sizeof path);
    snprintf(spec, sizeof spec, "m=transformer:%s", path);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);

    const char *req = "{\"model\":\"m\",\"prompt\":\"Hello world, the war\",\"max_tokens\":8,\"temperature\":0}";
    json_t *r = http_post_ok(&s, "/v1/completions", req);
    json_t *again = http_post_ok(&s, "/v1/completions", req);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "usage"), "completion_tokens")), 8);
    const char *t1 = json_string_value(json_object_get(json_array_get(json_object_get(r, "choices"), 0), "text"));
    const char *t2 = json_string_value(json_object_get(json_array_get(json_object_get(again, "choices"), 0), "text"));
    cr_assert(t1 && t2);
    cr_expect_str_eq(t1, t2, "greedy is deterministic");
    cr_expect(strstr(t1, "\xc4\xa0") == NULL, "decoded text, not BPE pieces: %s", t1);
    json_decref(again);
    json_decref(r);

    r = http_post_ok(&s, "/v1/score", "{\"model\":\"m\",\"input\":[\"the war and peace\",\"x\"],\"detail\":true}");
    cr_assert_eq(json_array_size(json_object_get(r, "data")), 2);
    char *dump = json_dumps(json_array_get(json_object_get(r, "data"), 0), JSON_COMPACT);
    cr_expect(strstr(dump, "logprob") != NULL, "%s", dump);
    free(dump);
    json_decref(r);

    /* every token of the vocabulary as a candidate: each one's text decoded */
    r = http_post_ok(&s, "/v1/next", "{\"model\":\"m\",\"context\":\"Hello world\",\"top_k\":1000}");
    json_t *data = json_object_get(r, "data");
    cr_assert_gt(json_array_size(data), 300);
    int violence = 0;
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *c = json_array_get(data, i);
        const char *text = json_string_value(json_object_get(c, "text"));
        if (!text)
            text = json_string_value(json_object_get(c, "token"));
        cr_assert_not_null(text);
        cr_expect(strstr(text, "\xc4\xa0") == NULL, "candidate %zu is a raw BPE piece: %s", i, text);
        violence += strcmp(text, " violence") == 0;
    }
    cr_expect_eq(violence, 1, "' violence' is one candidate, decoded");
    json_decref(r);

    struct http_res m;
    cr_assert_eq(http_get(&s, "/v1/models/m", &m), 0);
    json_t *d = json_object_get(m.json, "details");
    cr_expect_str_eq(json_string_value(json_object_get(d, "architecture")), "gpt2");
    http_res_free(&m);

    /* longer than the 64 learned positions: a clear 400 */
    char big[4096];
    int n = snprintf(big, sizeof big, "{\"model\":\"m\",\"prompt\":\"");
    for (int i = 0; i < 100; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, " war");
    snprintf(big + n, sizeof big - (size_t)n, "\",\"max_tokens\":4}");
    struct http_res e;
    cr_assert_eq(http_post(&s, "/v1/completions", big, &e), 0);
    cr_expect_eq(e.status, 400, "%ld %s", e.status, e.body);
    http_res_free(&e);
    cr_assert_eq(srv_stop(&s), 0);
}
