/* test_embed.c: /v1/embeddings, /v1/neighbors and /v1/similarity over a real socket: the
 * shapes of api.yaml, base64, oov, analogies, and every documented error with its param. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define TE_TOL 1e-6
static const char *TE_WORDS[] = {"king", "man", "woman", "queen", "prince", "Paris"};
static const float TE_VECS[][3] = {{0.9f, 0.8f, 0.1f}, {0.7f, 0.1f, 0.0f}, {0.1f, 0.2f, 0.9f},
                                   {0.3f, 0.9f, 0.8f}, {0.8f, 0.6f, 0.2f}, {-1.0f, 2.0f, 0.5f}};
#define TE_NW 6

static struct srv te_srv;
static char te_model_arg[512];

static void te_start(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/te-%d.vec", harness_tmpdir(), (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "%d 3\n", TE_NW);
    for (int i = 0; i < TE_NW; i++)
        fprintf(f, "%s %.9g %.9g %.9g\n", TE_WORDS[i], TE_VECS[i][0], TE_VECS[i][1], TE_VECS[i][2]);
    fclose(f);
    snprintf(te_model_arg, sizeof te_model_arg, "v=embedding:%s", path);
    const char *args[] = {"--model", te_model_arg, "--max-batch", "4", NULL};
    srv_start(&te_srv, args, 1);
}

static void te_stop(void) { srv_stop(&te_srv); }

TestSuite(api_embed, .init = te_start, .fini = te_stop, .timeout = 60);

static json_t *te_post_ok(const char *path, const char *body, struct http_res *r)
{
    cr_assert_eq(http_post(&te_srv, path, body, r), 0);
    cr_assert_eq(r->status, 200, "%s %s -> %ld %s", path, body, r->status, r->body);
    cr_assert_not_null(r->json);
    return r->json;
}

static void te_post_error(const char *path, const char *body, long status, const char *param)
{
    struct http_res r;
    cr_assert_eq(http_post(&te_srv, path, body, &r), 0);
    expect_error(&r, status, param);
    http_res_free(&r);
}

static double te_norm(const float *v)
{
    return sqrt((double)v[0] * v[0] + (double)v[1] * v[1] + (double)v[2] * v[2]);
}

Test(api_embed, embeddings_words_texts_and_oov)
{
    struct http_res r;
    json_t *j = te_post_ok("/v1/embeddings",
                           "{\"model\":\"v\",\"input\":[\"king\",\"king zz woman\"]}", &r);
    cr_expect_str_eq(json_string_value(json_object_get(j, "object")), "list");
    cr_expect_str_eq(json_string_value(json_object_get(j, "model")), "v");
    json_t *data = json_object_get(j, "data");
    cr_assert_eq(json_array_size(data), 2);
    json_t *e0 = json_object_get(json_array_get(data, 0), "embedding");
    for (int k = 0; k < 3; k++) /* a single word: its vector, normalised */
        cr_expect(fabs(json_number_value(json_array_get(e0, k)) - TE_VECS[0][k] / te_norm(TE_VECS[0])) <
                  TE_TOL);
    json_t *d1 = json_array_get(data, 1);
    cr_expect_eq(json_integer_value(json_object_get(d1, "index")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(d1, "object")), "embedding");
    json_t *oov = json_object_get(d1, "oov");
    cr_assert_eq(json_array_size(oov), 1);
    cr_expect_str_eq(json_string_value(json_array_get(oov, 0)), "zz");
    float mean[3];
    for (int k = 0; k < 3; k++)
        mean[k] = (TE_VECS[0][k] + TE_VECS[2][k]) / 2;
    double n = te_norm(mean);
    json_t *e1 = json_object_get(d1, "embedding");
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(json_number_value(json_array_get(e1, k)) - mean[k] / n) < TE_TOL);
    json_t *u = json_object_get(j, "usage");
    cr_expect_eq(json_integer_value(json_object_get(u, "prompt_tokens")), 4);
    cr_expect_eq(json_integer_value(json_object_get(u, "total_tokens")), 4);
    http_res_free(&r);

    j = te_post_ok("/v1/embeddings", "{\"model\":\"v\",\"input\":\"king woman\",\"normalize\":false}", &r);
    e1 = json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding");
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(json_number_value(json_array_get(e1, k)) - mean[k]) < TE_TOL);
    http_res_free(&r);
}

/* Issue 10: one word came back as stored (norm 2.46) although normalize defaults to true. */
Test(api_embed, embeddings_one_word_is_unit_length)
{
    struct http_res r;
    json_t *j = te_post_ok("/v1/embeddings", "{\"model\":\"v\",\"input\":[\"Paris\",\"Paris Paris\",\"king\"]}", &r);
    json_t *data = json_object_get(j, "data");
    cr_assert_eq(json_array_size(data), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_object_get(json_array_get(data, i), "embedding");
        double n2 = 0.0;
        for (size_t k = 0; k < json_array_size(e); k++)
            n2 += json_number_value(json_array_get(e, k)) * json_number_value(json_array_get(e, k));
        cr_expect(fabs(sqrt(n2) - 1.0) < TE_TOL, "data[%zu]: norm %g", i, sqrt(n2));
    }
    http_res_free(&r);
    /* normalize: false keeps the stored vector of one word */
    j = te_post_ok("/v1/embeddings", "{\"model\":\"v\",\"input\":\"Paris\",\"normalize\":false}", &r);
    json_t *e = json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding");
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(json_number_value(json_array_get(e, k)) - TE_VECS[5][k]) < TE_TOL);
    http_res_free(&r);
}

static int te_b64(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(a, c);
    return p ? (int)(p - a) : -1;
}

Test(api_embed, embeddings_base64_is_little_endian_float32)
{
    struct http_res r;
    json_t *j = te_post_ok("/v1/embeddings",
                           "{\"model\":\"v\",\"input\":\"queen\",\"encoding_format\":\"base64\",\"normalize\":false}", &r);
    const char *s = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding"));
    cr_assert_not_null(s);
    cr_assert_eq(strlen(s), 16); /* 12 bytes -> 16 characters */
    unsigned char bytes[12];
    size_t nb = 0;
    for (size_t i = 0; i + 4 <= strlen(s); i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = s[i + k] == '=' ? 0 : te_b64(s[i + k]);
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        bytes[nb++] = (unsigned char)(x >> 16);
        bytes[nb++] = (unsigned char)(x >> 8);
        bytes[nb++] = (unsigned char)x;
    }
    for (int k = 0; k < 3; k++) {
        uint32_t u = (uint32_t)bytes[4 * k] | (uint32_t)bytes[4 * k + 1] << 8 |
                     (uint32_t)bytes[4 * k + 2] << 16 | (uint32_t)bytes[4 * k + 3] << 24;
        float f;
        memcpy(&f, &u, 4);
        cr_expect(fabsf(f - TE_VECS[3][k]) < 1e-6f, "component %d: %g vs %g", k, f, TE_VECS[3][k]);
    }
    http_res_free(&r);
}

Test(api_embed, embeddings_errors)
{
    te_post_error("/v1/embeddings", "{\"model\":\"v\",\"input\":[\"king\",\"xx yy\"]}", 422, "input[1]");
    te_post_error("/v1/embeddings", "{\"model\":\"v\",\"input\":\"xx\"}", 422, "input");
    te_post_error("/v1/embeddings", "{\"model\":\"v\",\"input\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 413, "input");
    te_post_error("/v1/embeddings", "{\"model\":\"v\",\"input\":[\"king\",3]}", 400, "input[1]");
    te_post_error("/v1/embeddings", "{\"model\":\"v\",\"input\":[]}", 400, "input");
    te_post_error("/v1/embeddings", "{\"model\":\"v\",\"input\":\"king\",\"encoding_format\":\"hex\"}", 400, "encoding_format");
    te_post_error("/v1/embeddings", "{\"model\":\"v\",\"input\":\"king\",\"normalize\":1}", 400, "normalize");
    te_post_error("/v1/embeddings", "{\"model\":\"nope\",\"input\":\"king\"}", 404, "model");
}

Test(api_embed, neighbors_word_vector_and_analogies)
{
    struct http_res r;
    json_t *j = te_post_ok("/v1/neighbors", "{\"model\":\"v\",\"word\":\"king\",\"top_k\":2}", &r);
    json_t *d = json_object_get(j, "data");
    cr_assert_eq(json_array_size(d), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "word")), "prince");
    double c = 0;
    for (int k = 0; k < 3; k++)
        c += TE_VECS[0][k] * TE_VECS[4][k];
    c /= te_norm(TE_VECS[0]) * te_norm(TE_VECS[4]);
    cr_expect(fabs(json_number_value(json_object_get(json_array_get(d, 0), "score")) - c) < 1e-5);
    http_res_free(&r);

    j = te_post_ok("/v1/neighbors", "{\"model\":\"v\",\"word\":\"king\",\"top_k\":1,\"exclude_inputs\":false}", &r);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "word")), "king");
    http_res_free(&r);

    j = te_post_ok("/v1/neighbors", "{\"model\":\"v\",\"vector\":[0.9,0.8,0.1],\"top_k\":1}", &r);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "word")), "king");
    http_res_free(&r);

    const char *methods[] = {"3cosadd", "3cosmul"};
    for (int m = 0; m < 2; m++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"model\":\"v\",\"positive\":[\"king\",\"woman\"],\"negative\":[\"man\"],\"method\":\"%s\"}",
                 methods[m]);
        j = te_post_ok("/v1/neighbors", body, &r);
        d = json_object_get(j, "data");
        cr_expect_eq(json_array_size(d), 3); /* 6 words minus the 3 inputs */
        if (m == 0) /* 3CosMul's order is checked against gensim's formula in the unit tests */
            cr_expect_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "word")), "queen");
        for (size_t i = 1; i < json_array_size(d); i++)
            cr_expect_geq(json_number_value(json_object_get(json_array_get(d, i - 1), "score")),
                          json_number_value(json_object_get(json_array_get(d, i), "score")), "%s", methods[m]);
        http_res_free(&r);
    }
}

Test(api_embed, neighbors_errors)
{
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"word\":\"kingz\"}", 422, "word");
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"positive\":[\"king\",\"nope\"]}", 422, "positive[1]");
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"positive\":[\"king\"],\"negative\":[\"nah\"]}", 422, "negative[0]");
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"vector\":[1,2]}", 400, "vector");
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"vector\":[0,0,0]}", 400, "vector");
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"word\":\"king\",\"top_k\":0}", 400, "top_k");
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"word\":\"king\",\"top_k\":1001}", 400, "top_k");
    te_post_error("/v1/neighbors", "{\"model\":\"v\",\"word\":\"king\",\"method\":\"3cos\"}", 400, "method");
    te_post_error("/v1/neighbors", "{\"model\":\"v\"}", 400, NULL);
    te_post_error("/v1/neighbors",
                  "{\"model\":\"v\",\"positive\":[\"king\",\"man\",\"woman\"],\"negative\":[\"queen\",\"prince\"]}",
                  413, "negative");
}

Test(api_embed, similarity_pairs)
{
    struct http_res r;
    json_t *j = te_post_ok("/v1/similarity",
                           "{\"model\":\"v\",\"pairs\":[[\"king\",\"queen\"],[\"king man\",\"woman zz\"]]}", &r);
    json_t *d = json_object_get(j, "data");
    cr_assert_eq(json_array_size(d), 2);
    double c = 0;
    for (int k = 0; k < 3; k++)
        c += TE_VECS[0][k] * TE_VECS[3][k];
    c /= te_norm(TE_VECS[0]) * te_norm(TE_VECS[3]);
    cr_expect(fabs(json_number_value(json_object_get(json_array_get(d, 0), "similarity")) - c) < 1e-6);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(d, 1), "index")), 1);
    http_res_free(&r);
    te_post_error("/v1/similarity", "{\"model\":\"v\",\"pairs\":[[\"king\",\"queen\"],[\"xx\",\"king\"]]}", 422, "pairs[1][0]");
    te_post_error("/v1/similarity", "{\"model\":\"v\",\"pairs\":[[\"king\"]]}", 400, "pairs[0]");
    te_post_error("/v1/similarity", "{\"model\":\"v\",\"pairs\":[]}", 400, "pairs");
    te_post_error("/v1/similarity",
                  "{\"model\":\"v\",\"pairs\":[[\"a\",\"b\"],[\"a\",\"b\"],[\"a\",\"b\"],[\"a\",\"b\"],[\"a\",\"b\"]]}",
                  413, "pairs");
}

/* The .lmv format through the server, with lowercase=true. */
Test(api_embed_lmv, binary_model_and_lowercase)
{
    const char *tools = getenv("LMSERVE_TOOLS");
    if (!tools)
        cr_skip_test("LMSERVE_TOOLS not set (run through make test)");
    char vec[400], lmv[400], cmd[1400], arg[512];
    snprintf(vec, sizeof vec, "%s/lc-%d.vec", harness_tmpdir(), (int)getpid());
    snprintf(lmv, sizeof lmv, "%s/lc-%d.lmv", harness_tmpdir(), (int)getpid());
    FILE *f = fopen(vec, "w");
    cr_assert(f);
    fputs("3 2\nparis 1 0\nrome 0.9 0.1\nberlin 0 1\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s/lmserve-vec-build %s --storage int8 %s 2>/dev/null", tools, vec, lmv);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(arg, sizeof arg, "l=embedding:%s,lowercase=true", lmv);
    const char *args[] = {"--model", arg, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/neighbors", "{\"model\":\"l\",\"word\":\"PARIS\",\"top_k\":1}", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "word")), "rome");
    http_res_free(&r);
    cr_assert_eq(http_get(&s, "/v1/models/l", &r), 0);
    json_t *det = json_object_get(r.json, "details");
    cr_expect_str_eq(json_string_value(json_object_get(det, "storage")), "int8");
    cr_expect_eq(json_integer_value(json_object_get(det, "vocab_size")), 3);
    cr_expect(json_is_true(json_object_get(det, "lowercase")));
    http_res_free(&r);
    srv_stop(&s);
}
