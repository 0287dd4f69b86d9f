/* test_kserve.c: the Open Inference Protocol (KServe V2) and Triton generate routes over the
 * real server, with an n-gram model (ARPA), word vectors, a random Transformer and a model
 * still loading: metadata, readiness, infer per model type (values equal to the OpenAI
 * routes'), generate and generate_stream, and every error in the V2 {"error": "..."} shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define KS_PATH_MAX 400

/* The hand-made order-3 model of tests/api/test_score.c. */
static const char KS_ARPA[] = "\\data\\\nngram 1=5\nngram 2=4\nngram 3=2\n\n"
                              "\\1-grams:\n-1.0\t<unk>\n-99\t<s>\t-0.5\n-0.7\t</s>\n"
                              "-0.6\ta\t-0.3\n-0.9\tb\t-0.2\n\n"
                              "\\2-grams:\n-0.4\t<s> a\t-0.1\n-0.3\ta b\t-0.25\n"
                              "-0.5\tb </s>\n-0.2\tb a\n\n"
                              "\\3-grams:\n-0.15\t<s> a b\n-0.05\ta b a\n\n\\end\\\n";

static struct srv ks;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void ks_start(void)
{
    const char *d = harness_tmpdir();
    static char m1[KS_PATH_MAX + 16], m2[KS_PATH_MAX + 16], m3[3 * KS_PATH_MAX];
    char arpa[KS_PATH_MAX], vec[KS_PATH_MAX], ckpt[KS_PATH_MAX], cmd[4 * KS_PATH_MAX];
    snprintf(arpa, sizeof arpa, "%s/ks-%d.arpa", d, (int)getpid());
    snprintf(vec, sizeof vec, "%s/ks-%d.vec", d, (int)getpid());
    snprintf(ckpt, sizeof ckpt, "%s/ks-%d.bin", d, (int)getpid());
    write_text(arpa, KS_ARPA);
    write_text(vec, "3 3\nking 0.9 0.8 0.1\nqueen 0.3 0.9 0.8\nman 0.7 0.1 0.0\n");
    const char *tools = getenv("LMSERVE_TOOLS");
    snprintf(cmd, sizeof cmd,
             "%s/lmserve-ckpt-gen -o %s --tokenizer %s.tok --dim 64 --hidden 128 --layers 2 "
             "--heads 4 --kv-heads 2 --vocab 512 --seq 256 --seed 2",
             tools ? tools : "build/bin", ckpt, ckpt);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(m1, sizeof m1, "lm=ngram:%s", arpa);
    snprintf(m2, sizeof m2, "vec=embedding:%s", vec);
    snprintf(m3, sizeof m3, "gen=transformer:%s,tokenizer=%s.tok", ckpt, ckpt);
    const char *args[] = {"--model", m1, "--model", m2, "--model", m3, "--max-batch", "4", NULL};
    srv_start(&ks, args, 1);
}

static void ks_stop(void) { srv_stop(&ks); }

TestSuite(kserve, .init = ks_start, .fini = ks_stop, .timeout = 60);

/* The V2 error: exactly {"error": "<non-empty string>"}, with 'status'; 'needle' (optional)
 * must be in the message. */
static void expect_v2_error(const struct http_res *r, long status, const char *needle)
{
    cr_assert_eq(r->status, status, "want %ld, got %ld: %s", status, r->status, r->body);
    cr_assert(json_is_object(r->json) && json_object_size(r->json) == 1, "not {\"error\"}: %s", r->body);
    const char *msg = json_string_value(json_object_get(r->json, "error"));
    cr_assert(msg && *msg, "error is not a string: %s", r->body);
    if (needle)
        cr_assert(strstr(msg, needle), "'%s' not in %s", needle, msg);
}

static json_t *get_ok(const char *path)
{
    struct http_res r;
    cr_assert_eq(http_get(&ks, path, &r), 0);
    cr_assert_eq(r.status, 200, "%s -> %ld %s", path, r.status, r.body);
    json_t *j = json_incref(r.json);
    http_res_free(&r);
    return j;
}

static json_t *post_ok(const char *path, const char *body)
{
    struct http_res r;
    cr_assert_eq(http_post(&ks, path, body, &r), 0);
    cr_assert_eq(r.status, 200, "%s %s -> %ld %s", path, body, r.status, r.body);
    json_t *j = json_incref(r.json);
    http_res_free(&r);
    return j;
}

static json_t *output(json_t *resp, const char *name)
{
    json_t *outs = json_object_get(resp, "outputs");
    for (size_t i = 0; i < json_array_size(outs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(outs, i), "name")), name) == 0)
            return json_array_get(outs, i);
    cr_assert_fail("no output %s", name);
    return NULL;
}

Test(kserve, server_and_health)
{
    json_t *j = get_ok("/v2");
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "lmserve");
    cr_assert(json_is_string(json_object_get(j, "version")));
    json_decref(j);
    j = get_ok("/v2/health/live");
    cr_assert(json_is_true(json_object_get(j, "live")));
    json_decref(j);
    j = get_ok("/v2/health/ready");
    cr_assert(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
    j = get_ok("/v2/models/lm/ready");
    cr_assert(json_is_true(json_object_get(j, "ready")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "lm");
    json_decref(j);
    struct http_res r;
    http_get(&ks, "/v2/models/nope/ready", &r);
    expect_v2_error(&r, 404, "nope");
    http_res_free(&r);
}

Test(kserve, model_metadata)
{
    json_t *j = get_ok("/v2/models/vec");
    cr_assert_str_eq(json_string_value(json_object_get(j, "platform")), "lmserve_embedding");
    json_t *in = json_array_get(json_object_get(j, "inputs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(in, "name")), "text");
    cr_assert_str_eq(json_string_value(json_object_get(in, "datatype")), "BYTES");
    json_t *out = json_array_get(json_object_get(j, "outputs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(out, "name")), "embedding");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(out, "shape"), 1)), 3);
    json_decref(j);
    j = get_ok("/v2/models/gen");
    json_t *outs = json_object_get(j, "outputs");
    cr_assert_eq(json_array_size(outs), 4, "logprob, perplexity, tokens, text_output");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(outs, 0), "name")), "logprob");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(outs, 3), "name")), "text_output");
    json_decref(j);
    struct http_res r;
    http_get(&ks, "/v2/models/nope", &r);
    expect_v2_error(&r, 404, NULL);
    http_res_free(&r);
}

Test(kserve, infer_language_model)
{
    json_t *j = post_ok("/v2/models/lm/infer",
                        "{\"id\":\"q1\",\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\","
                        "\"shape\":[2],\"data\":[\"a b\",\"b a\"]}]}");
    cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "q1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "model_name")), "lm");
    json_t *lp = output(j, "logprob");
    cr_assert_str_eq(json_string_value(json_object_get(lp, "datatype")), "FP32");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(lp, "shape"), 0)), 2);
    cr_assert_str_eq(json_string_value(json_object_get(output(j, "tokens"), "datatype")), "INT64");
    /* The same numbers as /v1/score. */
    json_t *sc = post_ok("/v1/score", "{\"model\":\"lm\",\"input\":[\"a b\",\"b a\"]}");
    for (size_t i = 0; i < 2; i++) {
        double want = json_number_value(json_object_get(json_array_get(json_object_get(sc, "data"), i), "logprob"));
        double got = json_number_value(json_array_get(json_object_get(lp, "data"), i));
        cr_assert(fabs(want - got) < 1e-5, "text %zu: %g vs /v1/score %g", i, got, want);
    }
    json_decref(sc);
    json_decref(j);
    /* Only the outputs asked for, in that order; parameters reach the scorer. */
    j = post_ok("/v2/models/lm/infer",
                "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]}],"
                "\"outputs\":[{\"name\":\"tokens\"},{\"name\":\"logprob\"}],\"parameters\":{\"eos\":false}}");
    json_t *outs = json_object_get(j, "outputs");
    cr_assert_eq(json_array_size(outs), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(outs, 0), "name")), "tokens");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(json_array_get(outs, 0), "data"), 0)), 1,
                 "eos:false scores one token");
    json_decref(j);
}

Test(kserve, infer_embedding)
{
    json_t *j = post_ok("/v2/models/vec/infer",
                        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[2],"
                        "\"data\":[\"king\",\"queen\"]}]}");
    json_t *e = output(j, "embedding");
    json_t *shape = json_object_get(e, "shape");
    cr_assert_eq(json_integer_value(json_array_get(shape, 0)), 2);
    cr_assert_eq(json_integer_value(json_array_get(shape, 1)), 3);
    json_t *data = json_object_get(e, "data");
    cr_assert_eq(json_array_size(data), 6);
    json_t *v1 = post_ok("/v1/embeddings", "{\"model\":\"vec\",\"input\":[\"king\",\"queen\"]}");
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < 3; k++) {
            double want = json_number_value(json_array_get(
                json_object_get(json_array_get(json_object_get(v1, "data"), i), "embedding"), k));
            cr_assert(fabs(want - json_number_value(json_array_get(data, i * 3 + k))) < 1e-6,
                      "row %zu col %zu", i, k);
        }
    json_decref(v1);
    json_decref(j);
}

Test(kserve, infer_and_generate_text)
{
    /* Greedy generation three ways gives the same text as /v1/completions. */
    json_t *c = post_ok("/v1/completions", "{\"model\":\"gen\",\"prompt\":\"hello\",\"max_tokens\":6,\"temperature\":0}");
    const char *want = json_string_value(json_object_get(json_array_get(json_object_get(c, "choices"), 0), "text"));
    json_t *j = post_ok("/v2/models/gen/infer",
                        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"hello\"]}],"
                        "\"outputs\":[{\"name\":\"text_output\"}],\"parameters\":{\"max_tokens\":6,\"temperature\":0}}");
    json_t *t = output(j, "text_output");
    cr_assert_str_eq(json_string_value(json_object_get(t, "datatype")), "BYTES");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(t, "data"), 0)), want);
    json_decref(j);
    j = post_ok("/v2/models/gen/generate", "{\"text_input\":\"hello\",\"parameters\":{\"max_tokens\":6,\"temperature\":0}}");
    cr_assert_str_eq(json_string_value(json_object_get(j, "text_output")), want);
    cr_assert_str_eq(json_string_value(json_object_get(j, "finish_reason")), "length");
    json_decref(j);
    /* Triton clients send the parameters at the top level. */
    j = post_ok("/v2/models/gen/generate", "{\"text_input\":\"hello\",\"max_tokens\":6,\"temperature\":0}");
    cr_assert_str_eq(json_string_value(json_object_get(j, "text_output")), want);
    json_decref(j);
    /* The stream: one event per token, concatenated = the same text; no [DONE]. */
    struct http_res r;
    http_post(&ks, "/v2/models/gen/generate_stream", "{\"text_input\":\"hello\",\"parameters\":{\"max_tokens\":6,\"temperature\":0}}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char ct[64];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "text/event-stream"), "%s", ct);
    cr_assert_null(strstr(r.body, "[DONE]"));
    char text[512] = "";
    int events = 0, finished = 0;
    for (const char *p = r.body; (p = strstr(p, "data: ")) != NULL; p += 6) {
        json_t *ev = json_loads(p + 6, JSON_DISABLE_EOF_CHECK, NULL);
        cr_assert(ev, "event is not JSON: %s", p);
        strncat(text, json_string_value(json_object_get(ev, "text_output")), sizeof text - strlen(text) - 1);
        cr_assert_str_eq(json_string_value(json_object_get(ev, "model_name")), "gen");
        finished += json_object_get(ev, "finish_reason") != NULL;
        events++;
        json_decref(ev);
    }
    cr_assert_str_eq(text, want);
    cr_assert_eq(finished, 1, "one final event");
    cr_assert_geq(events, 2);
    http_res_free(&r);
    json_decref(c);
}

Test(kserve, errors_in_the_v2_shape)
{
    static const struct {
        const char *path, *body;
        long status;
        const char *needle;
    } CASES[] = {
        {"/v2/models/lm/infer", "{}", 400, "inputs"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]}]}", 400, "name"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}", 400, "datatype"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"a\"]}]}", 400, "shape"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[\"a\"]}]}", 400, "shape"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[7]}]}", 400, "data[0]"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[5],\"data\":[\"a\",\"a\",\"a\",\"a\",\"a\"]}]}", 413, "limit"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]}],\"outputs\":[{\"name\":\"embedding\"}]}", 400, "outputs[0]"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]}],\"outputs\":[{\"name\":\"text_output\"}]}", 400, "text_output"},
        {"/v2/models/lm/infer", "{\"id\":5,\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]}]}", 400, "id"},
        {"/v2/models/lm/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]}],\"parameters\":{\"bos\":3}}", 400, "bos"},
        {"/v2/models/vec/infer", "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"zzz\"]}]}", 422, NULL},
        {"/v2/models/nope/infer", "{\"inputs\":[]}", 404, "nope"},
        {"/v2/models/lm/generate", "{\"text_input\":\"a\"}", 400, "does not generate"},
        {"/v2/models/gen/generate", "{}", 400, "text_input"},
        {"/v2/models/gen/generate", "{\"text_input\":\"a\",\"parameters\":{\"temperature\":9}}", 400, "temperature"},
        {"/v2/models/gen/generate", "{\"text_input\":\"a\",\"parameters\":[]}", 400, "parameters"},
        {"/v2/models/gen/generate_stream", "{\"text_input\":\"a\",\"max_tokens\":-2}", 400, "max_tokens"},
        {"/v2/models/gen/generate", "{bad", 400, "malformed JSON"},
        {"/v2/models/gen/generate", "[1]", 400, "JSON object"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        struct http_res r;
        cr_assert_eq(http_post(&ks, CASES[i].path, CASES[i].body, &r), 0);
        cr_assert_eq(r.status, CASES[i].status, "case %zu %s %s: %ld %s", i, CASES[i].path,
                     CASES[i].body, r.status, r.body);
        expect_v2_error(&r, CASES[i].status, CASES[i].needle);
        http_res_free(&r);
    }
    struct http_res r;
    http_do(&ks, "POST", "/v2/models/gen/generate", "text_input=a", "text/plain", NULL, &r);
    expect_v2_error(&r, 415, "application/json");
    http_res_free(&r);
}

/* With no models the V2 readiness is 503 too (issue 17). */
Test(kserve, ready_needs_models)
{
    struct srv s;
    srv_start(&s, NULL, 0);
    struct http_res r;
    http_get(&s, "/v2/health/ready", &r);
    expect_v2_error(&r, 503, "no models");
    http_res_free(&r);
    srv_stop(&s);
}

/* A model still loading: the server and the model are not ready (503, Retry-After), and
 * infer on it is 503; once loaded, both are ready. */
Test(kserve, loading_model)
{
    char test[KS_PATH_MAX], spec[KS_PATH_MAX + 64];
    snprintf(test, sizeof test, "%s/ks-slow-%d.test", harness_tmpdir(), (int)getpid());
    write_text(test, "lmserve-test-model\n");
    snprintf(spec, sizeof spec, "slow=test:%s,load_delay_ms=1500", test);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 0);
    struct http_res r;
    char ra[16];
    http_get(&s, "/v2/health/ready", &r);
    expect_v2_error(&r, 503, "not ready");
    cr_assert(http_header(&r, "Retry-After", ra, sizeof ra), "no Retry-After");
    http_res_free(&r);
    http_get(&s, "/v2/models/slow/ready", &r);
    expect_v2_error(&r, 503, NULL);
    http_res_free(&r);
    http_post(&s, "/v2/models/slow/infer", "{\"inputs\":[]}", &r);
    expect_v2_error(&r, 503, NULL);
    http_res_free(&r);
    long st = 0;
    for (int i = 0; i < 100 && st != 200; i++) {
        usleep(50000);
        http_get(&s, "/v2/health/ready", &r);
        st = r.status;
        http_res_free(&r);
    }
    cr_assert_eq(st, 200, "ready once loaded");
    http_get(&s, "/v2/models/slow/ready", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);
}

/* /v1/models says what each model can do (capabilities from the type's tables), so a
 * front-end builds its menus from the API alone (issue 17). */
Test(kserve, model_capabilities)
{
    json_t *j = get_ok("/v1/models");
    json_t *data = json_object_get(j, "data");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *m = json_array_get(data, i);
        const char *id = json_string_value(json_object_get(m, "id"));
        char *caps = json_dumps(json_object_get(m, "capabilities"), JSON_COMPACT);
        cr_assert(caps, "%s: no capabilities", id);
        if (strcmp(id, "lm") == 0) {
            cr_assert_str_eq(caps, "[\"score\",\"next\"]");
            seen++;
        } else if (strcmp(id, "vec") == 0) {
            cr_assert_str_eq(caps, "[\"embeddings\",\"similarity\",\"neighbors\"]");
            seen++;
        } else if (strcmp(id, "gen") == 0) {
            /* no chat template given: completions but not chat */
            cr_assert_str_eq(caps, "[\"score\",\"next\",\"tokenize\",\"completions\"]");
            seen++;
        }
        free(caps);
    }
    cr_assert_eq(seen, 3);
    json_decref(j);
    j = get_ok("/v1/models/vec");
    cr_assert(json_is_array(json_object_get(j, "capabilities")));
    json_decref(j);
}
