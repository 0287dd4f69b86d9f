/* test_gguf.c: GGUF Transformers through the server: stories260K.gguf (llama.cpp's own
 * conversion) completes exactly as run.c does on stories260K.bin, its details name the
 * architecture, context, tensor types and vocabulary; a random qwen2 file from
 * lmserve-gguf loads and generates; an unknown architecture with tensors and a truncated
 * file are 422 naming the architecture / the file. */
#include "../../models/gguf/gguf_write.h"
#include "harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TG_PATH_MAX 1024

Test(gguf, stories260K_gguf_completes_as_run_c, .timeout = 120)
{
    const char *dir = harness_shared_models();
    char spec[TG_PATH_MAX + 32], js[TG_PATH_MAX], gg[TG_PATH_MAX];
    if (dir)
        snprintf(gg, sizeof gg, "%s/gguf/stories260K.gguf", dir);
    if (!dir || access(gg, R_OK) != 0)
        cr_skip_test("../shared/models/gguf absent: stories260K.gguf through the server skipped");
    snprintf(spec, sizeof spec, "s=transformer:%s", gg);
    snprintf(js, sizeof js, "%s/stories260K_expected.json", dir);
    json_t *exp = json_load_file(js, 0, NULL);
    cr_assert_not_null(exp);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    harness_expect_run_c(&s, exp);
    struct http_res r;
    cr_assert_eq(http_get(&s, "/v1/models/s", &r), 0);
    cr_assert_eq(r.status, 200);
    json_t *d = json_object_get(r.json, "details");
    cr_expect_str_eq(json_string_value(json_object_get(d, "format")), "gguf");
    cr_expect_str_eq(json_string_value(json_object_get(d, "architecture")), "llama");
    cr_expect_eq(json_integer_value(json_object_get(d, "context_length")), 128);
    cr_expect_eq(json_integer_value(json_object_get(d, "vocab")), 512);
    cr_expect_str_eq(json_string_value(json_object_get(d, "tokenizer")), "llama");
    json_t *tt = json_object_get(d, "tensor_types");
    cr_expect_eq(json_object_size(tt), 1);
    cr_expect_float_eq(json_real_value(json_object_get(tt, "f32")), 1.0, 1e-9);
    cr_expect_gt(json_integer_value(json_object_get(d, "parameters")), 200000);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
    json_decref(exp);
}

Test(gguf, random_qwen2_generates, .timeout = 120)
{
    char path[TG_PATH_MAX], spec[TG_PATH_MAX + 32];
    harness_gguf_random("qwen2.gguf",
                        "--arch qwen2 --type Q4_K --dim 256 --hidden 512 --layers 2 --heads 4 "
                        "--kv-heads 2 --vocab 400 --ctx 64 --tied",
                        path, sizeof path);
    snprintf(spec, sizeof spec, "q=transformer:%s", path);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    json_t *r = http_post_ok(&s, "/v1/completions",
                        "{\"model\":\"q\",\"prompt\":\"ab\",\"max_tokens\":8,\"temperature\":0}");
    json_t *u = json_object_get(r, "usage");
    cr_expect_gt(json_integer_value(json_object_get(u, "completion_tokens")), 0);
    json_decref(r);
    struct http_res m;
    cr_assert_eq(http_get(&s, "/v1/models/q", &m), 0);
    json_t *d = json_object_get(m.json, "details");
    cr_expect_str_eq(json_string_value(json_object_get(d, "architecture")), "qwen2");
    cr_expect_gt(json_real_value(json_object_get(json_object_get(d, "tensor_types"), "q4_K")), 0.9);
    http_res_free(&m);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(gguf, unknown_architecture_and_truncated_file_are_422, .timeout = 60)
{
    char bad[TG_PATH_MAX], cut[TG_PATH_MAX], body[3 * TG_PATH_MAX];
    snprintf(bad, sizeof bad, "%s/gpt2.gguf", harness_tmpdir());
    gguf_writer *w = gguf_writer_new();
    cr_assert(w);
    static float data[8];
    const uint64_t ne[1] = {8};
    cr_assert_eq(gguf_writer_str(w, "general.architecture", "gpt2"), STATUS_OK);
    cr_assert_eq(gguf_writer_tensor(w, "token_embd.weight", GGUF_T_F32, 1, ne, data), STATUS_OK);
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(w, bad, &err), STATUS_OK);
    gguf_writer_free(w);
    snprintf(cut, sizeof cut, "%s/cut.gguf", harness_tmpdir());
    FILE *in = fopen(bad, "rb"), *out = fopen(cut, "wb");
    char buf[40];
    cr_assert_eq(fread(buf, 1, sizeof buf, in), sizeof buf);
    fwrite(buf, 1, sizeof buf, out);
    fclose(in);
    fclose(out);
    const char *args[] = {"--models-root", harness_tmpdir(), "--admin-key", "k3y-for-tests", NULL};
    const char *auth[] = {"Authorization: Bearer k3y-for-tests", NULL};
    struct srv s;
    srv_start(&s, args, 0); /* no model: never ready */
    struct http_res r;
    snprintf(body, sizeof body, "{\"id\":\"g\",\"type\":\"transformer\",\"path\":\"gpt2.gguf\"}");
    cr_assert_eq(http_do(&s, "POST", "/v1/models", body, NULL, auth, &r), 0);
    cr_expect_eq(r.status, 422, "%ld %s", r.status, r.body);
    cr_expect(strstr(r.body, "gpt2") != NULL, "%s", r.body);
    http_res_free(&r);
    snprintf(body, sizeof body, "{\"id\":\"c\",\"type\":\"transformer\",\"path\":\"cut.gguf\"}");
    cr_assert_eq(http_do(&s, "POST", "/v1/models", body, NULL, auth, &r), 0);
    cr_expect_eq(r.status, 422, "%ld %s", r.status, r.body);
    cr_expect(strstr(r.body, "cut.gguf") != NULL, "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

/* --kv-type: the server's KV cache storage for GGUF models without their own kv_type. A
 * server with --kv-type q8_0 serves a head-size-64 model with a Q8_0 cache (details.kv_type)
 * next to the same file with the per-model kv_type=f16 and kv_type=f32; the three greedy
 * completions are printed (q8_0 may change them; f16 and f32 must agree, ggml's numerics
 * round keys and values to fp16 anyway); stories260K.gguf (head size 8: no whole Q8_0
 * blocks) keeps f16; a bad value exits 2. */
Test(gguf, kv_type_flag_and_option, .timeout = 120)
{
    char path[TG_PATH_MAX], m8[TG_PATH_MAX + 32], m16[TG_PATH_MAX + 48], m32[TG_PATH_MAX + 48];
    harness_gguf_random("kv.gguf",
                        "--arch llama --type Q8_0 --dim 256 --hidden 512 --layers 2 --heads 4 "
                        "--kv-heads 2 --vocab 320 --ctx 128 --seed 7",
                        path, sizeof path);
    snprintf(m8, sizeof m8, "q=transformer:%s", path);
    snprintf(m16, sizeof m16, "h=transformer:%s,kv_type=f16", path);
    snprintf(m32, sizeof m32, "f=transformer:%s,kv_type=f32", path);
    const char *args[] = {"--kv-type", "q8_0", "--model", m8, "--model", m16, "--model", m32, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    const char *ids[] = {"q", "h", "f"}, *want[] = {"q8_0", "f16", "f32"};
    char *text[3];
    for (int i = 0; i < 3; i++) {
        struct http_res m;
        char url[64], body[256];
        snprintf(url, sizeof url, "/v1/models/%s", ids[i]);
        cr_assert_eq(http_get(&s, url, &m), 0);
        cr_assert_eq(m.status, 200);
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(m.json, "details"), "kv_type")),
                         want[i]);
        http_res_free(&m);
        snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"abc\",\"max_tokens\":24,"
                                    "\"temperature\":0}", ids[i]);
        json_t *r = http_post_ok(&s, "/v1/completions", body);
        text[i] = strdup(json_string_value(json_object_get(json_array_get(json_object_get(r, "choices"), 0), "text")));
        json_decref(r);
    }
    fprintf(stderr, "gguf: kv_type q8_0 %s the f16 cache's 24 greedy tokens\n",
            strcmp(text[0], text[1]) == 0 ? "gives" : "changes");
    cr_expect_str_eq(text[1], text[2], "f16 and f32 caches generate differently");
    for (int i = 0; i < 3; i++)
        free(text[i]);
    cr_assert_eq(srv_stop(&s), 0);

    const char *dir = harness_shared_models();
    char gg[TG_PATH_MAX], spec[TG_PATH_MAX + 32];
    if (dir)
        snprintf(gg, sizeof gg, "%s/gguf/stories260K.gguf", dir);
    if (dir && access(gg, R_OK) == 0) {
        snprintf(spec, sizeof spec, "s=transformer:%s", gg);
        const char *a2[] = {"--kv-type", "q8_0", "--model", spec, NULL};
        srv_start(&s, a2, 1);
        struct http_res m;
        cr_assert_eq(http_get(&s, "/v1/models/s", &m), 0);
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(m.json, "details"), "kv_type")), "f16");
        http_res_free(&m);
        cr_assert_eq(srv_stop(&s), 0);
    }
    const char *bin = getenv("LMSERVE_BIN") ? getenv("LMSERVE_BIN") : "build/bin/lmserve";
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s --kv-type q4_0 2>/dev/null", bin);
    const int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
}
