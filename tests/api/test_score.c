/* test_score.c: POST /v1/score and /v1/next over the real server with n-gram models (ARPA
 * and binary) written to a temp dir: values checked by hand, detail, flags, every error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../models/ngram/ngram.h"
#include "harness.h"

#define TOL 1e-5            /* per-token agreement (issue 3) */
#define LOAD_WAIT_TRIES 200 /* x LOAD_WAIT_STEP_US: 10 s for tiny models to load */
#define LOAD_WAIT_STEP_US 50000

/* The hand-made order-3 model of tests/unit/models/ngram/test_ngram.c. */
static const char SCORE_ARPA[] = "\\data\\\nngram 1=5\nngram 2=4\nngram 3=2\n\n"
                                 "\\1-grams:\n-1.0\t<unk>\n-99\t<s>\t-0.5\n-0.7\t</s>\n"
                                 "-0.6\ta\t-0.3\n-0.9\tb\t-0.2\n\n"
                                 "\\2-grams:\n-0.4\t<s> a\t-0.1\n-0.3\ta b\t-0.25\n"
                                 "-0.5\tb </s>\n-0.2\tb a\n\n"
                                 "\\3-grams:\n-0.15\t<s> a b\n-0.05\ta b a\n\n\\end\\\n";

static char arpa_path[300], bin_path[300], bad_path[300], test_path[300], vec_path[300];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void fixtures(void)
{
    const char *d = harness_tmpdir();
    snprintf(arpa_path, sizeof arpa_path, "%s/score-%d.arpa", d, (int)getpid());
    snprintf(bin_path, sizeof bin_path, "%s/score-%d.lmb", d, (int)getpid());
    snprintf(bad_path, sizeof bad_path, "%s/score-bad-%d.arpa", d, (int)getpid());
    snprintf(test_path, sizeof test_path, "%s/score-%d.test", d, (int)getpid());
    write_text(arpa_path, SCORE_ARPA);
    write_text(bad_path, "\\data\\\nngram 1=3\n\n\\1-grams:\n-1 <s>\n-x </s>\n");
    write_text(test_path, "lmserve-test-model\n");
    snprintf(vec_path, sizeof vec_path, "%s/score-%d.vec", d, (int)getpid());
    write_text(vec_path, "2 3\na 1 0 0\nb 0 1 0\n"); /* word2vec text: not a language model */
    struct status_err err;
    status_clear(&err);
    ngram_lm *lm = NULL;
    cr_assert_eq(ngram_open(arpa_path, &lm, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(ngram_write_binary(lm, bin_path, &err), STATUS_OK, "%s", err.msg);
    ngram_close(lm);
}

static void start(struct srv *s, const char *max_batch)
{
    fixtures();
    static char m1[400], m2[400], m3[400], m4[400], m5[400], m6[400];
    snprintf(m1, sizeof m1, "lm=ngram:%s", arpa_path);
    snprintf(m2, sizeof m2, "lmb=ngram:%s", bin_path);
    snprintf(m3, sizeof m3, "lc=ngram:%s,lowercase=true", arpa_path);
    snprintf(m4, sizeof m4, "broken=ngram:%s", bad_path);
    snprintf(m5, sizeof m5, "other=test:%s", test_path);
    snprintf(m6, sizeof m6, "vec=embedding:%s", vec_path);
    const char *args[] = {"--model", m1, "--model", m2, "--model",     m3,        "--model", m4,
                          "--model", m5, "--model", m6, "--max-batch", max_batch,
                          "--keep-going", NULL}; /* 'broken' must not stop the server */
    srv_start(s, args, 0); /* not wait_ready: 'broken' never becomes ready */
    /* models load in the background: wait until none is still loading */
    const char *ids[] = {"lm", "lmb", "lc", "broken", "vec"};
    for (size_t i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/models/%s", ids[i]);
        for (int tries = 0;; tries++) {
            struct http_res r;
            cr_assert_eq(http_get(s, path, &r), 0);
            const char *st = json_string_value(json_object_get(r.json, "state"));
            int loading = !st || strcmp(st, "loading") == 0;
            http_res_free(&r);
            if (!loading)
                break;
            cr_assert_lt(tries, LOAD_WAIT_TRIES, "model %s still loading", ids[i]);
            usleep(LOAD_WAIT_STEP_US);
        }
    }
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_number(v), "'%s' is not a number", k);
    return json_number_value(v);
}

static void check_a_b_a(json_t *item)
{
    /* a|<s> -0.4 (2), b|<s> a -0.15 (3), a|a b -0.05 (3), </s> -0.7-0.3+0 = -1.0 (1) */
    const double want[] = {-0.4, -0.15, -0.05, -1.0};
    const int order[] = {2, 3, 3, 1};
    cr_assert_float_eq(num(item, "log10_prob"), -1.6, 1e-4);
    cr_assert_float_eq(num(item, "logprob"), -1.6 * log(10.0), 1e-4);
    cr_assert_float_eq(num(item, "perplexity"), pow(10.0, 1.6 / 4), 1e-4);
    cr_assert_eq(json_integer_value(json_object_get(item, "tokens")), 4);
    cr_assert_eq(json_integer_value(json_object_get(item, "oov")), 0);
    json_t *det = json_object_get(item, "detail");
    cr_assert_eq(json_array_size(det), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *t = json_array_get(det, i);
        cr_assert_float_eq(num(t, "log10_prob"), want[i], TOL, "token %zu", i);
        cr_assert_eq(json_integer_value(json_object_get(t, "order")), order[i]);
        cr_assert(json_is_false(json_object_get(t, "oov")));
    }
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(det, 3), "token")), "</s>");
}

Test(score, values_detail_batch_binary_lowercase)
{
    struct srv s;
    start(&s, "4");
    struct http_res r;
    cr_assert_eq(
        http_post(&s, "/v1/score", "{\"model\":\"lm\",\"input\":\"a b a\",\"detail\":true}", &r),
        0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "object")), "list");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "model")), "lm");
    check_a_b_a(json_array_get(json_object_get(r.json, "data"), 0));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r.json, "usage"), "tokens")),
                 4);
    http_res_free(&r);
    /* a list, on the binary model and with lowercasing: same numbers; no detail unless asked */
    const char *models[] = {"lmb", "lc"};
    for (int k = 0; k < 2; k++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"model\":\"%s\",\"input\":[\"%s\",\"a zzz b\"],\"detail\":true}", models[k],
                 k ? "A b A" : "a b a");
        cr_assert_eq(http_post(&s, "/v1/score", body, &r), 0);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_t *data = json_object_get(r.json, "data");
        cr_assert_eq(json_array_size(data), 2);
        check_a_b_a(json_array_get(data, 0));
        /* a -0.4, zzz = <unk> -1.0-0.3-0.1 = -1.4 (OOV), b -0.9, </s>|b -0.5: total -3.2 */
        json_t *second = json_array_get(data, 1);
        cr_assert_eq(json_integer_value(json_object_get(second, "index")), 1);
        cr_assert_float_eq(num(second, "log10_prob"), -3.2, 1e-4);
        cr_assert_eq(json_integer_value(json_object_get(second, "oov")), 1);
        cr_assert_float_eq(num(second, "perplexity_no_oov"), pow(10.0, 1.8 / 3), 1e-4);
        cr_assert_eq(
            json_integer_value(json_object_get(json_object_get(r.json, "usage"), "tokens")), 8);
        http_res_free(&r);
    }
    /* bos/eos off: a -0.6, b|a -0.3 */
    cr_assert_eq(http_post(&s, "/v1/score",
                           "{\"model\":\"lm\",\"input\":[\"a b\"],\"bos\":false,\"eos\":false}",
                           &r),
                 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *item = json_array_get(json_object_get(r.json, "data"), 0);
    cr_assert_float_eq(num(item, "log10_prob"), -0.9, 1e-4);
    cr_assert_eq(json_integer_value(json_object_get(item, "tokens")), 2);
    cr_assert_null(json_object_get(item, "detail"));
    http_res_free(&r);
    /* nothing scored: perplexity null */
    cr_assert_eq(http_post(&s, "/v1/score", "{\"model\":\"lm\",\"input\":\" \",\"eos\":false}", &r),
                 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    item = json_array_get(json_object_get(r.json, "data"), 0);
    cr_assert(json_is_null(json_object_get(item, "perplexity")));
    cr_assert(json_is_null(json_object_get(item, "perplexity_no_oov")));
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(score, errors)
{
    struct srv s;
    start(&s, "2");
    struct http_res r;
    struct error_case cases[] = {
        {"{\"model\":\"nope\",\"input\":\"a\"}", 404, "model"},
        {"{\"model\":\"vec\",\"input\":\"a\"}", 400, "model"}, /* not a language model */
        {"{\"input\":\"a\"}", 400, "model"},
        {"{\"model\":\"lm\"}", 400, "input"},
        {"{\"model\":\"lm\",\"input\":[]}", 400, "input"},
        {"{\"model\":\"lm\",\"input\":7}", 400, "input"},
        {"{\"model\":\"lm\",\"input\":[\"a\",\"b\",\"a\"]}", 413, "input"},
        {"{\"model\":\"lm\",\"input\":[\"a\",3]}", 400, "input[1]"},
        {"{\"model\":\"lm\",\"input\":\"a\",\"bos\":1}", 400, "bos"},
        {"{\"model\":\"lm\",\"input\":\"a\",\"detail\":\"yes\"}", 400, "detail"},
        {"{\"model\":\"broken\",\"input\":\"a\"}", 422, NULL},
    };
    expect_errors(&s, "/v1/score", cases, sizeof cases / sizeof cases[0]);
    /* the broken model names its file and line; the others keep serving */
    cr_assert_eq(http_get(&s, "/v1/models/broken", &r), 0);
    cr_assert(strstr(r.body, ":6:"), "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/score", "{\"model\":\"lm\",\"input\":[\"a\",\"b\"]}", &r), 0);
    cr_assert_eq(r.status, 200);
    http_res_free(&r);
    /* issue 11: null means the default on every field (was 400 for bos/eos/detail here) */
    struct http_res d;
    cr_assert_eq(http_post(&s, "/v1/score", "{\"model\":\"lm\",\"input\":\"a b\"}", &d), 0);
    cr_assert_eq(http_post(&s, "/v1/score",
                           "{\"model\":\"lm\",\"input\":\"a b\",\"bos\":null,\"eos\":null,"
                           "\"detail\":null}",
                           &r),
                 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, d.body);
    http_res_free(&r);
    http_res_free(&d);
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"lm\",\"context\":\"a\",\"top_k\":null}", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(score, next_and_details)
{
    struct srv s;
    start(&s, "4");
    struct http_res r;
    /* after "a b": a -0.05, </s> -0.5-0.25 = -0.75, b -0.9-0.2-0.25 = -1.35 */
    cr_assert_eq(
        http_post(&s, "/v1/next", "{\"model\":\"lc\",\"context\":\"A b\",\"top_k\":5}", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "context")), "a b");
    json_t *data = json_object_get(r.json, "data");
    cr_assert_eq(json_array_size(data), 3);
    const char *tok[] = {"a", "</s>", "b"};
    const double lp[] = {-0.05, -0.75, -1.35};
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_array_get(data, i);
        cr_assert_str_eq(json_string_value(json_object_get(c, "token")), tok[i]);
        cr_assert_float_eq(num(c, "log10_prob"), lp[i], TOL);
        cr_assert_float_eq(num(c, "prob"), pow(10.0, lp[i]), 1e-6);
    }
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"lmb\",\"context\":\"zzz\"}", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "context")), "<unk>");
    http_res_free(&r);
    const char *bad[] = {"{\"model\":\"lm\",\"context\":\"a\",\"top_k\":0}",
                         "{\"model\":\"lm\",\"context\":\"a\",\"top_k\":1001}",
                         "{\"model\":\"lm\",\"context\":\"a\",\"top_k\":\"3\"}"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(http_post(&s, "/v1/next", bad[i], &r), 0);
        expect_error(&r, 400, "top_k");
        http_res_free(&r);
    }
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"lm\"}", &r), 0);
    expect_error(&r, 400, "context");
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"nope\",\"context\":\"a\"}", &r), 0);
    expect_error(&r, 404, "model");
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"vec\",\"context\":\"a\"}", &r), 0);
    expect_error(&r, 400, "model");
    http_res_free(&r);
    /* details of both formats */
    cr_assert_eq(http_get(&s, "/v1/models/lmb", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *d = json_object_get(r.json, "details");
    cr_assert_eq(json_integer_value(json_object_get(d, "order")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(d, "format")), "binary");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(d, "counts"), 0)), 5);
    cr_assert_eq(json_integer_value(json_object_get(d, "vocab_size")), 5);
    cr_assert(json_is_true(json_object_get(d, "has_unk")));
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}
