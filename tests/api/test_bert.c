/* test_bert.c: a BERT encoder (written at test time by `lmserve-gguf random --arch bert` with
 * the bge WordPiece vocabulary of ../shared/vocab) through the server: /v1/embeddings with a
 * string and with an array (one forward pass; each item equals the same text alone), unit
 * length, `dimensions` (the first N values renormalised), base64; /v1/similarity; the
 * generation and scoring routes answer 400 naming the capability; /v1/models shows the
 * architecture and the capabilities; bad input is a 400 naming the input; a reranker serves
 * /v1/rerank (Jina/Cohere and TEI shapes). Skipped when the
 * vocabulary is absent. */
#include "harness.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TB_PATH_MAX 1024
#define TB_DIM 64
#define TB_TOL 1e-5

static const char *tb_vocab(void)
{
    static char path[TB_PATH_MAX];
    const char *env = getenv("LMSERVE_SHARED_VOCAB");
    const char *cands[] = {env, "../shared/vocab", "../../shared/vocab", "/work/shared/vocab"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (!cands[i])
            continue;
        snprintf(path, sizeof path, "%s/ggml-vocab-bert-bge.gguf", cands[i]);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

static struct srv tb_srv;

static void tb_start(const char *extra)
{
    const char *vocab = tb_vocab();
    char name[64], flags[4 * TB_PATH_MAX];
    static char spec[TB_PATH_MAX + 32], path[TB_PATH_MAX];
    if (!vocab)
        cr_skip_test("../shared/vocab/ggml-vocab-bert-bge.gguf absent");
    snprintf(name, sizeof name, "bert-%d.gguf", (int)getpid());
    snprintf(flags, sizeof flags,
             "--arch bert --vocab-from %s --dim %d --hidden 128 --layers 2 --heads 4 --ctx 32 %s",
             vocab, TB_DIM, extra);
    harness_gguf_random(name, flags, path, sizeof path);
    snprintf(spec, sizeof spec, "e=transformer:%s", path);
    const char *args[] = {"--model", spec, "--max-batch", "8", NULL};
    srv_start(&tb_srv, args, 1);
}

static json_t *tb_post_ok(const char *path, const char *body)
{
    return http_post_ok(&tb_srv, path, body);
}

static void tb_post_error(const char *path, const char *body, long status, const char *param,
                          const char *says)
{
    struct http_res r;
    cr_assert_eq(http_post(&tb_srv, path, body, &r), 0);
    expect_error(&r, status, param);
    if (says)
        cr_expect(strstr(r.body, says) != NULL, "%s: '%s' not in %s", path, says, r.body);
    http_res_free(&r);
}

/* data[i].embedding as floats; returns its length */
static size_t tb_vec(json_t *resp, size_t i, float *out, size_t max)
{
    json_t *e = json_object_get(json_array_get(json_object_get(resp, "data"), i), "embedding");
    cr_assert(json_is_array(e));
    size_t n = json_array_size(e);
    cr_assert_leq(n, max);
    for (size_t k = 0; k < n; k++)
        out[k] = (float)json_number_value(json_array_get(e, k));
    return n;
}

static double tb_norm(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

static size_t tb_unbase64(const char *s, unsigned char *out)
{
    static const char B[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        const char *p = strchr(B, *s);
        cr_assert_not_null(p);
        acc = acc << 6 | (uint32_t)(p - B);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

Test(bert_api, embeddings_batch_dimensions_base64, .timeout = 120)
{
    tb_start("");
    static const char *texts[3] = {"Hello world, this is a test.", "second", "Café au lait"};
    float alone[3][TB_DIM], batch[3][TB_DIM], v[TB_DIM];
    for (size_t i = 0; i < 3; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"model\":\"e\",\"input\":\"%s\"}", texts[i]);
        json_t *r = tb_post_ok("/v1/embeddings", body);
        cr_assert_eq(tb_vec(r, 0, alone[i], TB_DIM), TB_DIM);
        cr_expect(fabs(tb_norm(alone[i], TB_DIM) - 1.0) < 1e-5);
        json_decref(r);
    }
    json_t *r = tb_post_ok("/v1/embeddings",
                           "{\"model\":\"e\",\"input\":[\"Hello world, this is a test.\","
                           "\"second\",\"Café au lait\"]}");
    cr_assert_eq(json_array_size(json_object_get(r, "data")), 3);
    /* [CLS] hello world , this is a test . [SEP] = 10; [CLS] second [SEP] = 3; [CLS] cafe
     * au la ##it [SEP] = 6 */
    json_t *u = json_object_get(r, "usage");
    cr_expect_eq(json_integer_value(json_object_get(u, "prompt_tokens")), 19);
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(r, "data"), i), "index")),
                     (json_int_t)i);
        tb_vec(r, i, batch[i], TB_DIM);
        double worst = 0;
        for (size_t k = 0; k < TB_DIM; k++)
            worst = fmax(worst, fabs(batch[i][k] - alone[i][k]));
        cr_expect_leq(worst, TB_TOL, "text %zu alone vs in a batch: %g", i, worst);
    }
    json_decref(r);
    /* Matryoshka: the first 16 values, renormalised */
    r = tb_post_ok("/v1/embeddings",
                   "{\"model\":\"e\",\"input\":\"Hello world, this is a test.\",\"dimensions\":16}");
    cr_assert_eq(tb_vec(r, 0, v, TB_DIM), 16);
    const double n16 = tb_norm(alone[0], 16);
    for (size_t k = 0; k < 16; k++)
        cr_expect(fabs(v[k] - alone[0][k] / n16) < TB_TOL, "dim %zu: %g vs %g", k, v[k],
                  alone[0][k] / n16);
    json_decref(r);
    /* base64: little-endian float32, the same values */
    r = tb_post_ok("/v1/embeddings", "{\"model\":\"e\",\"input\":[\"second\"],"
                                     "\"encoding_format\":\"base64\"}");
    const char *b64 = json_string_value(
        json_object_get(json_array_get(json_object_get(r, "data"), 0), "embedding"));
    cr_assert_not_null(b64);
    unsigned char bytes[TB_DIM * 4 + 4];
    cr_assert_eq(tb_unbase64(b64, bytes), TB_DIM * 4);
    memcpy(v, bytes, sizeof v);
    for (size_t k = 0; k < TB_DIM; k++)
        cr_expect(fabs(v[k] - alone[1][k]) < TB_TOL);
    json_decref(r);
    /* similarity of sentences: a text with itself is 1 */
    r = tb_post_ok("/v1/similarity", "{\"model\":\"e\",\"pairs\":[[\"second\",\"second\"],"
                                     "[\"second\",\"Café au lait\"]]}");
    json_t *d = json_object_get(r, "data");
    cr_expect(fabs(json_number_value(json_object_get(json_array_get(d, 0), "similarity")) - 1.0) < 1e-5);
    json_decref(r);
    cr_assert_eq(srv_stop(&tb_srv), 0);
}

Test(bert_api, encoder_routes_and_errors, .timeout = 120)
{
    tb_start("");
    /* an encoder does not generate or score: 400 naming the capability */
    tb_post_error("/v1/completions", "{\"model\":\"e\",\"prompt\":\"hi\"}", 400, "model",
                  "text generation");
    tb_post_error("/v1/chat/completions",
                  "{\"model\":\"e\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400,
                  "model", "encoder");
    tb_post_error("/v1/score", "{\"model\":\"e\",\"input\":\"hi\"}", 400, "model", "language model");
    tb_post_error("/v1/next", "{\"model\":\"e\",\"context\":\"hi\"}", 400, "model", "encoder");
    /* bad embeddings requests */
    tb_post_error("/v1/embeddings", "{\"model\":\"e\",\"input\":[\"ok\",3]}", 400, "input[1]", NULL);
    tb_post_error("/v1/embeddings", "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":0}", 400,
                  "dimensions", NULL);
    tb_post_error("/v1/embeddings", "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":65}", 400,
                  "dimensions", NULL);
    /* more tokens than the 32-token context */
    char big[1024];
    int n = snprintf(big, sizeof big, "{\"model\":\"e\",\"input\":[\"short\",\"");
    for (int i = 0; i < 40; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "word ");
    snprintf(big + n, sizeof big - (size_t)n, "\"]}");
    tb_post_error("/v1/embeddings", big, 400, "input[1]", "context");
    tb_post_error("/v1/embeddings", "{\"model\":\"e\",\"input\":[\"a\",\"b\",\"c\",\"d\",\"e\","
                                    "\"f\",\"g\",\"h\",\"i\"]}", 413, "input", NULL);
    /* tokenize works (WordPiece) */
    json_t *r = tb_post_ok("/v1/tokenize", "{\"model\":\"e\",\"text\":\"Hello world\"}");
    json_decref(r);
    /* /v1/models: the architecture and what it serves */
    struct http_res m;
    cr_assert_eq(http_get(&tb_srv, "/v1/models/e", &m), 0);
    cr_assert_eq(m.status, 200);
    json_t *det = json_object_get(m.json, "details");
    cr_expect_str_eq(json_string_value(json_object_get(det, "architecture")), "bert");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(det, "encoder"), "pooling")), "mean");
    char *caps = json_dumps(json_object_get(m.json, "capabilities"), JSON_COMPACT);
    cr_expect_str_eq(caps, "[\"embeddings\",\"similarity\",\"tokenize\"]");
    free(caps);
    http_res_free(&m);
    cr_assert_eq(srv_stop(&tb_srv), 0);
}

/* a reranker (pooling rank, a classification head): /v1/rerank in the Jina/Cohere shape and
 * the TEI shape; best first; top_n; no embeddings; errors name the field */
Test(bert_api, rerank, .timeout = 120)
{
    tb_start("--pooling rank");
    json_t *r = tb_post_ok("/v1/rerank",
                           "{\"model\":\"e\",\"query\":\"what is a panda?\",\"documents\":[\"hi\","
                           "{\"text\":\"The giant panda is a bear.\"},\"pandas eat bamboo\"],"
                           "\"return_documents\":true}");
    json_t *res = json_object_get(r, "results");
    cr_assert_eq(json_array_size(res), 3);
    double prev = INFINITY;
    int seen[3] = {0, 0, 0};
    float jina[3];
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(res, i);
        const double s = json_number_value(json_object_get(it, "relevance_score"));
        const json_int_t idx = json_integer_value(json_object_get(it, "index"));
        cr_assert(idx >= 0 && idx < 3);
        cr_expect_leq(s, prev, "best first");
        prev = s;
        seen[idx]++;
        jina[idx] = (float)s;
        cr_expect(json_is_string(json_object_get(json_object_get(it, "document"), "text")));
    }
    cr_expect(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    cr_expect_gt(json_integer_value(json_object_get(json_object_get(r, "usage"), "total_tokens")), 10);
    json_decref(r);
    /* top_n */
    r = tb_post_ok("/v1/rerank", "{\"model\":\"e\",\"query\":\"what is a panda?\","
                                 "\"documents\":[\"hi\",\"The giant panda is a bear.\","
                                 "\"pandas eat bamboo\"],\"top_n\":1}");
    cr_expect_eq(json_array_size(json_object_get(r, "results")), 1);
    json_decref(r);
    /* TEI: texts in, an array out, sigmoid of the same scores (raw_scores: the raw ones) */
    r = tb_post_ok("/v1/rerank", "{\"model\":\"e\",\"query\":\"what is a panda?\","
                                 "\"texts\":[\"hi\",\"The giant panda is a bear.\","
                                 "\"pandas eat bamboo\"]}");
    cr_assert(json_is_array(r));
    cr_assert_eq(json_array_size(r), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(r, i);
        const json_int_t idx = json_integer_value(json_object_get(it, "index"));
        const double s = json_number_value(json_object_get(it, "score"));
        cr_expect(fabs(s - 1.0 / (1.0 + exp(-jina[idx]))) < 1e-5, "%g vs sigmoid(%g)", s, jina[idx]);
    }
    json_decref(r);
    tb_post_error("/v1/embeddings", "{\"model\":\"e\",\"input\":\"x\"}", 400, "model", "reranker");
    tb_post_error("/v1/rerank", "{\"model\":\"e\",\"documents\":[\"x\"]}", 400, "query", NULL);
    tb_post_error("/v1/rerank", "{\"model\":\"e\",\"query\":\"q\",\"documents\":[]}", 400,
                  "documents", NULL);
    tb_post_error("/v1/rerank", "{\"model\":\"e\",\"query\":\"q\",\"documents\":[\"a\",7]}", 400,
                  "documents[1]", NULL);
    tb_post_error("/v1/rerank", "{\"model\":\"e\",\"query\":\"q\",\"documents\":[\"a\"],\"top_n\":0}",
                  400, "top_n", NULL);
    char big[1024];
    int n = snprintf(big, sizeof big, "{\"model\":\"e\",\"query\":\"q\",\"documents\":[\"a\",\"");
    for (int i = 0; i < 40; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "word ");
    snprintf(big + n, sizeof big - (size_t)n, "\"]}");
    tb_post_error("/v1/rerank", big, 400, "documents[1]", "context");
    struct http_res m;
    cr_assert_eq(http_get(&tb_srv, "/v1/models/e", &m), 0);
    char *caps = json_dumps(json_object_get(m.json, "capabilities"), JSON_COMPACT);
    cr_expect_str_eq(caps, "[\"rerank\",\"tokenize\"]");
    free(caps);
    http_res_free(&m);
    cr_assert_eq(srv_stop(&tb_srv), 0);
}

/* an embedding model has no classification head: /v1/rerank is a 400 naming the capability */
Test(bert_api, rerank_needs_a_classifier, .timeout = 120)
{
    tb_start("");
    tb_post_error("/v1/rerank", "{\"model\":\"e\",\"query\":\"q\",\"documents\":[\"a\"]}", 400,
                  "model", "reranker");
    cr_assert_eq(srv_stop(&tb_srv), 0);
}

/* a decoder whose file names a pooling type (qwen2.pooling_type = last) serves embeddings and
 * still generates; the same file without it answers embeddings with a 400 (needs no vocabulary
 * file: the random decoder has a synthetic one) */
Test(bert_api, decoder_with_pooling_embeds, .timeout = 120)
{
    char name_a[64], name_b[64], a[TB_PATH_MAX], b[TB_PATH_MAX];
    static char spec_a[TB_PATH_MAX + 32], spec_b[TB_PATH_MAX + 32];
#define TB_DEC_SHAPE "--arch qwen2 --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 " \
                     "--vocab 512 --ctx 256"
    snprintf(name_a, sizeof name_a, "dec-pool-%d.gguf", (int)getpid());
    snprintf(name_b, sizeof name_b, "dec-nopool-%d.gguf", (int)getpid());
    harness_gguf_random(name_a, TB_DEC_SHAPE " --pooling last", a, sizeof a);
    harness_gguf_random(name_b, TB_DEC_SHAPE, b, sizeof b);
#undef TB_DEC_SHAPE
    snprintf(spec_a, sizeof spec_a, "p=transformer:%s", a);
    snprintf(spec_b, sizeof spec_b, "d=transformer:%s", b);
    const char *args[] = {"--model", spec_a, "--model", spec_b, NULL};
    srv_start(&tb_srv, args, 1);
    json_t *r = tb_post_ok("/v1/embeddings", "{\"model\":\"p\",\"input\":[\"hello\",\"world\"]}");
    float v[TB_DIM];
    cr_assert_eq(tb_vec(r, 1, v, TB_DIM), TB_DIM);
    cr_expect(fabs(tb_norm(v, TB_DIM) - 1.0) < 1e-5);
    json_decref(r);
    r = tb_post_ok("/v1/completions", "{\"model\":\"p\",\"prompt\":\"hi\",\"max_tokens\":2}");
    json_decref(r);
    tb_post_error("/v1/embeddings", "{\"model\":\"d\",\"input\":\"hello\"}", 400, "model",
                  "pooling type");
    struct http_res m;
    cr_assert_eq(http_get(&tb_srv, "/v1/models/p", &m), 0);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(m.json, "details"), "pooling")), "last");
    char *caps = json_dumps(json_object_get(m.json, "capabilities"), JSON_COMPACT);
    cr_expect(strstr(caps, "embeddings") && strstr(caps, "completions"), "%s", caps);
    free(caps);
    http_res_free(&m);
    cr_assert_eq(srv_stop(&tb_srv), 0);
}
