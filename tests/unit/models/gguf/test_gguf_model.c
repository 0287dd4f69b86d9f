/* test_gguf_model.c: GGUF files written by llama.cpp's own tools run here as there:
 * stories260K.gguf generates exactly what run.c generates from stories260K.bin, and each
 * quantized stories15M-shape file reproduces llama-server's greedy ids (the first tokens
 * exactly; later divergences are printed, since random weights make near-ties). Skips
 * cleanly when ../shared is absent. */
#include "../../../../models/transformer/transformer_internal.h"
#include "../transformer/tt_helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *shared_dir(void)
{
    static char dir[512];
    const char *env = getenv("LMSERVE_SHARED_MODELS");
    const char *cands[] = {env, "../shared/models", "/work/shared/models"};
    for (size_t i = 0; i < 3; i++) {
        if (!cands[i])
            continue;
        char f[600];
        snprintf(f, sizeof f, "%s/gguf/stories260K.gguf", cands[i]);
        if (access(f, R_OK) == 0) {
            snprintf(dir, sizeof dir, "%s", cands[i]);
            return dir;
        }
    }
    return NULL;
}

Test(gguf_model, stories260K_matches_run_c)
{
    const char *dir = shared_dir();
    if (!dir)
        cr_skip_test("../shared/models absent: stories260K.gguf not checked");
    char path[600];
    snprintf(path, sizeof path, "%s/stories260K_expected.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert_not_null(root, "%s: %s", path, je.text);
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", dir);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(t->ck.shape.vocab, 512);
    size_t ci;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), ci, c) {
        json_t *ids = json_object_get(c, "token_ids");
        const size_t n = json_array_size(ids);
        int *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
        for (size_t i = 0; i < n; i++)
            want[i] = (int)json_integer_value(json_array_get(ids, i));
        /* num_prompt_tokens counts BOS and the prompt; the rest was generated */
        const size_t np = (size_t)json_integer_value(json_object_get(c, "num_prompt_tokens"));
        cr_assert(np >= 1 && np < n);
        tt_greedy(t, want, np, got, n - np);
        for (size_t i = np; i < n; i++)
            cr_assert_eq(got[i - np], want[i], "case %zu: position %zu: %d, run.c %d", ci, i,
                         got[i - np], want[i]);
        free(want);
        free(got);
    }
    transformer_close(t);
    json_decref(root);
}

/* The number of leading ids that must match exactly; later ones are reported. */
#define LLAMACPP_EXACT 4

Test(gguf_model, quantized_files_match_llama_cpp)
{
    const char *dir = shared_dir();
    if (!dir)
        cr_skip_test("../shared/models absent: llama.cpp's greedy ids not checked");
    char path[600];
    snprintf(path, sizeof path, "%s/gguf/expected_llamacpp.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert_not_null(root, "%s: %s", path, je.text);
    size_t ci;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), ci, c) {
        const char *model = json_string_value(json_object_get(c, "model"));
        snprintf(path, sizeof path, "%s/gguf/%s", dir, model);
        transformer *t;
        struct status_err err = {0};
        cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
        json_t *pt = json_object_get(c, "prompt_tokens"), *tk = json_object_get(c, "tokens");
        const size_t np = json_array_size(pt) + 1, ng = json_array_size(tk);
        int *prompt = malloc(np * sizeof *prompt), *got = malloc(ng * sizeof *got);
        prompt[0] = TRANSFORMER_BOS;
        for (size_t i = 1; i < np; i++)
            prompt[i] = (int)json_integer_value(json_array_get(pt, i - 1));
        tt_greedy(t, prompt, np, got, ng);
        size_t same = 0;
        while (same < ng && got[same] == (int)json_integer_value(json_array_get(tk, same)))
            same++;
        if (same < ng)
            fprintf(stderr, "gguf_model: %s '%s': first %zu of %zu ids as llama.cpp, then %d "
                            "(llama.cpp %d)\n",
                    model, json_string_value(json_object_get(c, "prompt")), same, ng, got[same],
                    (int)json_integer_value(json_array_get(tk, same)));
        cr_expect_geq(same, LLAMACPP_EXACT, "%s case %zu: only %zu ids match", model, ci, same);
        free(prompt);
        free(got);
        transformer_close(t);
    }
    json_decref(root);
}

/* kv_type f16 stores the (already fp16-rounded) keys and values as half: every logit of a
 * prompt and of the decode steps after it equals the f32 cache's bit for bit, in half the
 * memory; other types are refused by name. */
Test(gguf_model, kv_type_f16_gives_the_same_logits)
{
    const char *dir = shared_dir();
    if (!dir)
        cr_skip_test("../shared/models absent");
    char path[600];
    snprintf(path, sizeof path, "%s/gguf/stories15M-random-Q8_0.gguf", dir);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
    const int V = t->ck.shape.vocab;
    int ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = 1 + (i * 7919) % (V - 1);
    float *want = malloc(4 * (size_t)V * sizeof *want);
    size_t bytes[2];
    for (int f16 = 0; f16 < 2; f16++) {
        cr_assert_eq(transformer_set_kv_type(t, f16 ? "f16" : "f32", &err), STATUS_OK, "%s", err.msg);
        transformer_seq *s = transformer_seq_new(t, 64);
        cr_assert_not_null(s);
        bytes[f16] = transformer_seq_bytes(s);
        cr_assert_eq(transformer_forward(s, ids, 37, NULL, NULL, &err), STATUS_OK, "%s", err.msg);
        for (int step = 0; step < 4; step++) {
            const float *lg = transformer_logits(s);
            if (!f16)
                memcpy(want + (size_t)step * V, lg, (size_t)V * sizeof *lg);
            else
                cr_assert(memcmp(want + (size_t)step * V, lg, (size_t)V * sizeof *lg) == 0,
                          "step %d: the f16 cache changed the logits", step);
            cr_assert_eq(transformer_forward(s, &ids[37 + step % 3], 1, NULL, NULL, &err), STATUS_OK);
        }
        transformer_seq_free(s);
    }
    cr_assert_lt(bytes[1], bytes[0], "the f16 cache is not smaller: %zu vs %zu", bytes[1], bytes[0]);
    /* head size 48: no whole Q8_0 blocks (llama.cpp refuses it too); unknown names */
    cr_assert_eq(transformer_set_kv_type(t, "q8_0", &err), STATUS_BAD_INPUT);
    cr_assert(strstr(err.msg, "multiple of 32") != NULL, "%s", err.msg);
    cr_assert_eq(transformer_set_kv_type(t, "q4_0", &err), STATUS_BAD_INPUT);
    cr_assert(strstr(err.msg, "kv_type") != NULL, "%s", err.msg);
    free(want);
    transformer_close(t);
}

/* Writes `lmserve-gguf random -o DIR/m.gguf ARGS` into a new temporary DIR (a mkdtemp
 * template) and its path into MODEL; skips the test when the tool is not built. */
static void random_gguf(const char *args, char *dir, char *model, size_t model_cap)
{
    const char *tools = getenv("LMSERVE_TOOLS");
    char tool[600], cmd[1600];
    snprintf(tool, sizeof tool, "%s/lmserve-gguf", tools && *tools ? tools : "build/bin");
    if (access(tool, X_OK) != 0)
        cr_skip_test("%s not built", tool);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(model, model_cap, "%s/m.gguf", dir);
    snprintf(cmd, sizeof cmd, "%s random -o %s %s >/dev/null", tool, model, args);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* kv_type q8_0 (llama.cpp's -ctk/-ctv q8_0): keys and values as Q8_0 blocks, on a random
 * llama file of head size 64 written by lmserve-gguf: every logit of a 40-token prompt and
 * of 24 decode steps (each cache fed the f32 cache's greedy ids) within 0.05 of the f32
 * cache's (logits up to ~3; measured 0.013), the same greedy ids, and the cache 34/64 of
 * the f16 cache's bytes; a copied prefix (transformer_seq_copy_prefix) continues exactly as
 * the sequence it came from, for every type. */
Test(gguf_model, kv_type_q8_0_close_to_f32)
{
    char dir[] = "/tmp/lmserve-kvq8-XXXXXX", model[600];
    random_gguf("--arch llama --type F32 --dim 256 --hidden 512 --layers 2 --heads 4 "
                "--kv-heads 2 --vocab 320 --ctx 128 --seed 7", dir, model, sizeof model);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(model, &t, &err), STATUS_OK, "%s", err.msg);
    unlink(model);
    rmdir(dir);
    const int V = t->ck.shape.vocab, NP = 40, NG = 24;
    int ids[40], greedy[24];
    for (int i = 0; i < NP; i++)
        ids[i] = 1 + (i * 7919) % (V - 1);
    float *want = malloc((size_t)NG * (size_t)V * sizeof *want);
    const char *types[3] = {"f32", "f16", "q8_0"};
    size_t kv_bytes[3];
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(transformer_set_kv_type(t, types[k], &err), STATUS_OK, "%s", err.msg);
        kv_bytes[k] = transformer_seq_kv_bytes(t, 100);
        transformer_seq *s = transformer_seq_new(t, 100);
        cr_assert_not_null(s);
        cr_assert_eq(transformer_forward(s, ids, (size_t)NP, NULL, NULL, &err), STATUS_OK, "%s", err.msg);
        { /* the prefix cache's copy (sched.c) of this cache type continues as the original */
            transformer_seq *c = transformer_seq_new(t, 100), *o = transformer_seq_new(t, 100);
            cr_assert(c && o);
            cr_assert_eq(transformer_forward(o, ids, (size_t)NP - 1, NULL, NULL, &err), STATUS_OK);
            cr_assert_eq(transformer_seq_copy_prefix(c, o, (size_t)NP - 1), 0);
            cr_assert_eq(transformer_forward(o, &ids[NP - 1], 1, NULL, NULL, &err), STATUS_OK);
            cr_assert_eq(transformer_forward(c, &ids[NP - 1], 1, NULL, NULL, &err), STATUS_OK);
            cr_assert(memcmp(transformer_logits(c), transformer_logits(o), (size_t)V * sizeof(float)) == 0,
                      "%s: a copied prefix gives other logits", types[k]);
            transformer_seq_free(c);
            transformer_seq_free(o);
        }
        for (int step = 0; step < NG; step++) {
            const float *lg = transformer_logits(s);
            int best = 0;
            for (int v = 1; v < V; v++)
                best = lg[v] > lg[best] ? v : best;
            if (k == 0) {
                memcpy(want + (size_t)step * V, lg, (size_t)V * sizeof *lg);
                greedy[step] = best;
            } else {
                for (int v = 0; v < V; v++) {
                    const double d = fabs((double)lg[v] - want[(size_t)step * V + v]);
                    worst = d > worst ? d : worst;
                }
                cr_assert_eq(best, greedy[step], "%s step %d: greedy id %d, the f32 cache's %d",
                             types[k], step, best, greedy[step]);
            }
            cr_assert_eq(transformer_forward(s, &greedy[step], 1, NULL, NULL, &err), STATUS_OK);
        }
        transformer_seq_free(s);
    }
    fprintf(stderr, "gguf_model: kv_type q8_0: max |logit - f32 cache's| %.4g\n", worst);
    cr_assert_leq(worst, 0.05, "q8_0 logits differ by %g", worst);
    cr_assert_eq(kv_bytes[2] * 64, kv_bytes[1] * 34, "q8_0 %zu bytes, f16 %zu", kv_bytes[2], kv_bytes[1]);
    cr_assert_eq(kv_bytes[1] * 2, kv_bytes[0]);
    free(want);
    transformer_close(t);
}

/* ---- allocation failures of the GGUF path (reader, vocabulary, model): every one is
 * reported as STATUS_NO_MEMORY, none crashes or leaks (ASan in make test-san) ---- */

#define GM_ALLOC_FAIL_MAX 400 /* more util_* allocations than one of these loads makes */

static void gguf_every_allocation_fails_cleanly(const char *args)
{
    char dir[] = "/tmp/lmserve-gguf-af-XXXXXX", model[600];
    random_gguf(args, dir, model, sizeof model);
    long k, optional = 0;
    for (k = 1; k < GM_ALLOC_FAIL_MAX; k++) {
        util_alloc_countdown = k;
        struct status_err err;
        status_clear(&err);
        transformer *t = NULL;
        int rc = transformer_open_gguf(model, &t, &err);
        long left = util_alloc_countdown;
        util_alloc_countdown = 0;
        if (rc == STATUS_OK) {
            transformer_close(t);
            if (left > 0)
                break;
            /* the one optional allocation: the interleaved weight copy (interleave.c), whose
             * failure leaves the file's layout in use; the load must still succeed */
            optional++;
            continue;
        }
        cr_assert_eq(rc, STATUS_NO_MEMORY, "%s, allocation %ld: %s", args, k, err.msg);
        cr_assert_null(t);
    }
    unlink(model);
    rmdir(dir);
    cr_assert_gt(k, 5, "%s: the load allocates (almost) nothing through util_*", args);
    cr_assert_lt(k, GM_ALLOC_FAIL_MAX, "%s: never loaded", args);
    cr_assert_leq(optional, 1, "%s: %ld allocations failed unnoticed", args, optional);
}

Test(gguf_model, every_allocation_failure_of_a_gguf_load_is_reported)
{
    gguf_every_allocation_fails_cleanly("--arch llama --type F32 --dim 64 --hidden 96 --layers 1 "
                                        "--heads 2 --kv-heads 1 --vocab 300 --ctx 32 --seed 3");
    gguf_every_allocation_fails_cleanly("--arch llama --type Q8_0 --dim 64 --hidden 96 --layers 1 "
                                        "--heads 2 --kv-heads 1 --vocab 300 --ctx 32 --seed 3");
    gguf_every_allocation_fails_cleanly("--arch mamba --type F32 --dim 64 --layers 1 --vocab 300 "
                                        "--ctx 32 --seed 3");
}

/* GPT-2's byte-level BPE vocabulary (merges, pre-tokenizer) from ../shared's llama.cpp file */
Test(gguf_model, every_allocation_failure_of_a_gpt2_bpe_load_is_reported, .timeout = 300)
{
    const char *d = shared_dir();
    if (!d)
        cr_skip_test("../shared not present: GPT-2 vocabulary file needed");
    char vocab[900], args[1200];
    snprintf(vocab, sizeof vocab, "%s/../vocab/ggml-vocab-gpt-2.gguf", d);
    if (access(vocab, R_OK) != 0)
        cr_skip_test("%s not present", vocab);
    snprintf(args, sizeof args, "--arch gpt2 --type F32 --dim 64 --hidden 96 --layers 1 --heads 2 "
             "--ctx 32 --seed 3 --vocab-from %s", vocab);
    gguf_every_allocation_fails_cleanly(args);
}
