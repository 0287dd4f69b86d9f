/* tt_helpers.h: fixtures shared by the Transformer (and GGUF) unit tests: random checkpoints
 * from lmserve-ckpt-gen in a temporary directory, the shared stories260K files, greedy
 * decoding, and batched-vs-token-by-token logits. Everything here is static: each test file
 * gets its own copy. */
#ifndef LMSERVE_TT_HELPERS_H
#define LMSERVE_TT_HELPERS_H

#include "../../../../models/transformer/transformer.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TT_PATH_MAX 512
#define TT_FILE_MAX (2 * TT_PATH_MAX) /* a directory plus a file name */

/* Directory of the built tools: LMSERVE_TOOLS (set by make test) or build/bin. */
__attribute__((unused)) static const char *tt_tools(void)
{
    const char *t = getenv("LMSERVE_TOOLS");
    return t && *t ? t : "build/bin";
}

__attribute__((unused)) static const char *tt_tmpdir(void)
{
    static char dir[TT_PATH_MAX];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/lmserve-tt-XXXXXX");
        if (!mkdtemp(dir))
            cr_assert_fail("mkdtemp failed");
    }
    return dir;
}

/* Make a random checkpoint + tokenizer named 'name' with generator flags 'flags'; fills
 * ckpt and tok paths. Skips the test when the generator is not built. */
__attribute__((unused)) static void tt_make(const char *name, const char *flags, char *ckpt, char *tok)
{
    char gen[TT_FILE_MAX], cmd[4 * TT_FILE_MAX];
    snprintf(gen, sizeof gen, "%s/lmserve-ckpt-gen", tt_tools());
    if (access(gen, X_OK) != 0)
        cr_skip_test("%s not built (run make all)", gen);
    snprintf(ckpt, TT_FILE_MAX, "%s/%s.bin", tt_tmpdir(), name);
    snprintf(tok, TT_FILE_MAX, "%s/%s.tok", tt_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "%s -o %s --tokenizer %s %s", gen, ckpt, tok, flags);
    cr_assert_eq(system(cmd), 0, "generator failed: %s", cmd);
}

/* ../shared/models (or LMSERVE_SHARED_MODELS) when stories260K.bin is there, else NULL. */
__attribute__((unused)) static const char *tt_shared(void)
{
    static char dir[TT_PATH_MAX];
    const char *env = getenv("LMSERVE_SHARED_MODELS");
    const char *cands[] = {env, "../shared/models", "/work/shared/models"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (!cands[i])
            continue;
        char f[TT_FILE_MAX];
        snprintf(f, sizeof f, "%s/stories260K.bin", cands[i]);
        if (access(f, R_OK) == 0) {
            snprintf(dir, sizeof dir, "%s", cands[i]);
            return dir;
        }
    }
    return NULL;
}

/* stories260K.bin with tok512.bin from tt_shared(); skips the test when they are absent. */
__attribute__((unused)) static transformer *tt_open_260k(void)
{
    const char *dir = tt_shared();
    if (!dir)
        cr_skip_test("../shared/models/stories260K.bin absent");
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX];
    snprintf(ck, sizeof ck, "%s/stories260K.bin", dir);
    snprintf(tok, sizeof tok, "%s/tok512.bin", dir);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open(ck, tok, &t, &err), STATUS_OK, "%s", err.msg);
    return t;
}

/* A random GGUF written by lmserve-gguf ("random -o PATH ARGS EXTRA", PATH a per-process
 * file named after 'name', kept in path[cap] for the caller to remove) and opened; NULL when
 * the tool is not built. */
__attribute__((unused)) static transformer *tt_gguf_random(const char *name, const char *args,
                                                           const char *extra, char *path, size_t cap)
{
    char tool[TT_FILE_MAX], cmd[4 * TT_FILE_MAX];
    snprintf(tool, sizeof tool, "%s/lmserve-gguf", tt_tools());
    if (access(tool, X_OK) != 0)
        return NULL;
    snprintf(path, cap, "/tmp/lmserve-%s-%d.gguf", name, (int)getpid());
    snprintf(cmd, sizeof cmd, "%s random -o %s %s %s", tool, path, args, extra);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    transformer *t = NULL;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
    return t;
}

/* The first index of the largest value: the plain loop every reference decoder uses. */
__attribute__((unused)) static int tt_argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

/* Greedy: feed prompt (n ids), then generate 'steps' ids into out. */
__attribute__((unused)) static void tt_greedy(transformer *t, const int *prompt, size_t n,
                                              int *out, size_t steps)
{
    transformer_seq *s = transformer_seq_new(t, n + steps);
    cr_assert_not_null(s);
    const int V = transformer_shape_of(t)->vocab;
    struct status_err err = {0};
    cr_assert_eq(transformer_forward(s, prompt, n, NULL, NULL, &err), STATUS_OK, "%s", err.msg);
    for (size_t i = 0; i < steps; i++) {
        out[i] = tt_argmax(transformer_logits(s), V);
        if (i + 1 < steps)
            cr_assert_eq(transformer_forward(s, &out[i], 1, NULL, NULL, &err), STATUS_OK);
    }
    transformer_seq_free(s);
}

/* The largest |difference| between the logits of ids[0..n) run on 'batched' as one batch
 * (every position's logits) and run one token at a time on 'single'. */
__attribute__((unused)) static double tt_batched_vs_single(transformer *t, transformer_seq *batched,
                                                           transformer_seq *single, const int *ids,
                                                           size_t n)
{
    const size_t V = (size_t)transformer_shape_of(t)->vocab;
    float *all = malloc(n * V * sizeof *all);
    cr_assert_not_null(all);
    struct status_err err = {0};
    cr_assert_eq(transformer_forward(batched, ids, n, all, NULL, &err), STATUS_OK, "%s", err.msg);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(transformer_forward(single, &ids[i], 1, NULL, NULL, &err), STATUS_OK);
        const float *lg = transformer_logits(single);
        for (size_t v = 0; v < V; v++)
            worst = fmax(worst, fabs(lg[v] - all[i * V + v]));
    }
    /* the same prompt without all_logits: only the last batch computes logits (the final
     * position's), an earlier batch none; they must be the final position's all the same */
    transformer_seq *last = transformer_seq_new(t, 0);
    cr_assert_not_null(last);
    cr_assert_eq(transformer_forward(last, ids, n, NULL, NULL, &err), STATUS_OK, "%s", err.msg);
    const float *lg = transformer_logits(last);
    for (size_t v = 0; v < V; v++)
        worst = fmax(worst, fabs(lg[v] - all[(n - 1) * V + v]));
    transformer_seq_free(last);
    free(all);
    return worst;
}

#endif
