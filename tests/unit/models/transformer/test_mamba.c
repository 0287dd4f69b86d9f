/* test_mamba.c: the Mamba pass on a random file written by `lmserve-gguf random --arch
 * mamba`: a prompt run as batches (matrix products over the batch, the scan sequential)
 * gives the logits of the same tokens fed one at a time (the recurrent decode path); the
 * sequence's memory is the same at 16 and 4,000 tokens (a fixed conv + SSM state, no KV
 * cache); a file missing a tensor or with a bad shape is a clear error. llama.cpp's
 * numbers are in ../gguf/test_gguf_llamacpp.c. */
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_PROMPT 150 /* more than two 64-token batches */
#define LONG_LEN 4000

static transformer *open_random(const char *extra, char *path, size_t cap)
{
    return tt_gguf_random("mamba", "--arch mamba --dim 64 --layers 2 --vocab 300 --ctx 8192 --seed 3",
                          extra, path, cap);
}

Test(mamba, batched_prompt_equals_recurrent_decode)
{
    char path[256];
    transformer *t = open_random("", path, sizeof path);
    if (!t)
        cr_skip_test("lmserve-gguf not built");
    const int V = t->ck.shape.vocab;
    int ids[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        ids[i] = 3 + (i * 41) % (V - 3);
    transformer_seq *a = transformer_seq_new(t, 0), *b = transformer_seq_new(t, 0);
    const double worst = tt_batched_vs_single(t, a, b, ids, N_PROMPT);
    cr_expect_leq(worst, 1e-5, "batched vs token-by-token logits differ by %g", worst);
    cr_expect_eq(transformer_seq_pos(a), (size_t)N_PROMPT);
    transformer_seq_free(a);
    transformer_seq_free(b);
    transformer_close(t);
    remove(path);
}

Test(mamba, memory_does_not_grow_with_length)
{
    char path[256];
    transformer *t = open_random("", path, sizeof path);
    if (!t)
        cr_skip_test("lmserve-gguf not built");
    int *ids = malloc(LONG_LEN * sizeof *ids);
    for (int i = 0; i < LONG_LEN; i++)
        ids[i] = 3 + (i * 7) % 290;
    transformer_seq *s = transformer_seq_new(t, 0);
    struct status_err err = {0};
    cr_assert_eq(transformer_forward(s, ids, 16, NULL, NULL, &err), STATUS_OK);
    const size_t at16 = transformer_seq_bytes(s);
    cr_assert_eq(transformer_forward(s, ids + 16, LONG_LEN - 16, NULL, NULL, &err), STATUS_OK);
    const size_t at4000 = transformer_seq_bytes(s);
    cr_expect_eq(at16, at4000, "state bytes %zu at 16 tokens, %zu at %d", at16, at4000, LONG_LEN);
    for (int v = 0; v < t->ck.shape.vocab; v++)
        cr_assert(isfinite(transformer_logits(s)[v]), "logit %d not finite after %d tokens", v, LONG_LEN);
    fprintf(stderr, "mamba: sequence bytes %zu at 16 tokens, %zu at %d\n", at16, at4000, LONG_LEN);
    transformer_seq_free(s);
    free(ids);
    transformer_close(t);
    remove(path);
}

Test(mamba, bad_files_are_clear_errors)
{
    const char *tools = getenv("LMSERVE_TOOLS");
    char tool[512], path[256], cmd[1024];
    snprintf(tool, sizeof tool, "%s/lmserve-gguf", tools && *tools ? tools : "build/bin");
    if (access(tool, X_OK) != 0)
        cr_skip_test("lmserve-gguf not built");
    snprintf(path, sizeof path, "/tmp/lmserve-mamba-bad-%d.gguf", (int)getpid());
    /* a llama file's tensors under a mamba architecture name are missing ssm_* tensors:
     * written here by patching the architecture string of a mamba file instead */
    snprintf(cmd, sizeof cmd, "%s random -o %s --arch mamba --dim 64 --layers 1 --vocab 300 --d-state 8", tool, path);
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    char *buf = malloc((size_t)n);
    fseek(f, 0, SEEK_SET);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    char *p = memmem(buf, (size_t)n, "blk.0.ssm_d", 11);
    cr_assert_not_null(p);
    p[10] = 'q'; /* blk.0.ssm_q: ssm_d is now missing */
    fseek(f, 0, SEEK_SET);
    fwrite(buf, 1, (size_t)n, f);
    fclose(f);
    free(buf);
    transformer *t = NULL;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_BAD_FORMAT);
    cr_expect(strstr(err.msg, "blk.0.ssm_d") != NULL, "%s", err.msg);
    remove(path);
}

/* The largest difference between two logit vectors, relative to max(|a|, 1): a batched step
 * sums its matrix products in another order than one sequence's pass (test_batch.c's
 * tolerance). */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]) / fmax(fabs((double)a[i]), 1.0);
        worst = d > worst ? d : worst;
    }
    return worst;
}
#define MULTI_TOL 1e-3

Test(mamba, forward_multi_equals_each_alone)
{
    char path[256];
    transformer *t = open_random("", path, sizeof path);
    if (!t)
        cr_skip_test("lmserve-gguf not built");
    const int V = t->ck.shape.vocab;
    int pa[5] = {1, 50, 60, 70, 80}, pb[3] = {1, 90, 100};
    struct status_err err = {0};
    transformer_seq *a = transformer_seq_new(t, 0), *b = transformer_seq_new(t, 0);
    transformer_seq *a1 = transformer_seq_new(t, 0), *b1 = transformer_seq_new(t, 0);
    transformer_batch *bt = transformer_batch_new(t);
    cr_assert(a && b && a1 && b1 && bt);
    transformer_seq *const seqs[2] = {a, b};
    const int *const ids[2] = {pa, pb};
    const size_t n[2] = {5, 3};
    cr_assert_eq(transformer_forward_multi(bt, seqs, ids, n, 2, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(transformer_forward(a1, pa, 5, NULL, NULL, &err), STATUS_OK);
    cr_assert_eq(transformer_forward(b1, pb, 3, NULL, NULL, &err), STATUS_OK);
    cr_expect_leq(rel_diff(transformer_logits(a), transformer_logits(a1), (size_t)V), MULTI_TOL);
    cr_expect_leq(rel_diff(transformer_logits(b), transformer_logits(b1), (size_t)V), MULTI_TOL);
    cr_expect_eq(transformer_seq_pos(a), 5);
    cr_expect_eq(transformer_seq_pos(b), 3);
    transformer_batch_free(bt);
    transformer_seq_free(a);
    transformer_seq_free(b);
    transformer_seq_free(a1);
    transformer_seq_free(b1);
    transformer_close(t);
    remove(path);
}

/* The scheduler's steps on a Mamba file: 3 sequences, one with a 70-token prompt (its rows
 * span two 64-row batches), then 6 decode steps of all three together (each feeding its own
 * argmax), every row's logits on for one of them; each step's logits equal the same tokens
 * run alone through transformer_forward (within MULTI_TOL, the same argmax), for F32 and
 * Q8_0 weights. */
Test(mamba, forward_multi_decode_steps_equal_each_alone)
{
    const char *types[] = {"--type F32", "--type Q8_0"};
    for (size_t ty = 0; ty < 2; ty++) {
        char path[256];
        transformer *t = open_random(types[ty], path, sizeof path);
        if (!t)
            cr_skip_test("lmserve-gguf not built");
        const size_t V = (size_t)t->ck.shape.vocab;
        enum { NS = 3, LONG = 70, STEPS = 6 };
        int p0[LONG], p1[4] = {1, 20, 30, 40}, p2[2] = {1, 7};
        for (int i = 0; i < LONG; i++)
            p0[i] = 3 + (i * 13) % 290;
        const int *prompt[NS] = {p0, p1, p2};
        const size_t plen[NS] = {LONG, 4, 2};
        struct status_err err = {0};
        transformer_seq *s[NS], *one[NS];
        for (int k = 0; k < NS; k++) {
            s[k] = transformer_seq_new(t, 0);
            one[k] = transformer_seq_new(t, 0);
            cr_assert(s[k] && one[k]);
        }
        transformer_batch *bt = transformer_batch_new(t);
        cr_assert_not_null(bt);
        float *all = malloc(LONG * V * sizeof *all), *all1 = malloc(LONG * V * sizeof *all1);
        transformer_seq_set_all_logits(s[0], all); /* scoring: every row of the long prompt */
        cr_assert_eq(transformer_forward_multi(bt, s, prompt, plen, NS, &err), STATUS_OK, "%s", err.msg);
        transformer_seq_set_all_logits(s[0], NULL);
        cr_assert_eq(transformer_forward(one[0], p0, LONG, all1, NULL, &err), STATUS_OK);
        const double wa = rel_diff(all, all1, LONG * V);
        cr_expect_leq(wa, MULTI_TOL, "%s: every row of the prompt: %g", types[ty], wa);
        for (int k = 1; k < NS; k++)
            cr_assert_eq(transformer_forward(one[k], prompt[k], plen[k], NULL, NULL, &err), STATUS_OK);
        for (int step = 0; step <= STEPS; step++) {
            int next[NS];
            for (int k = 0; k < NS; k++) {
                const double w = rel_diff(transformer_logits(s[k]), transformer_logits(one[k]), V);
                cr_assert_leq(w, MULTI_TOL, "%s: sequence %d differs at step %d by %g", types[ty], k,
                              step, w);
                next[k] = tt_argmax(transformer_logits(s[k]), (int)V);
                cr_assert_eq(next[k], tt_argmax(transformer_logits(one[k]), (int)V));
            }
            if (step == STEPS)
                break;
            const int *ids[NS] = {&next[0], &next[1], &next[2]};
            const size_t n[NS] = {1, 1, 1};
            cr_assert_eq(transformer_forward_multi(bt, s, ids, n, NS, &err), STATUS_OK, "%s", err.msg);
            for (int k = 0; k < NS; k++)
                cr_assert_eq(transformer_forward(one[k], &next[k], 1, NULL, NULL, &err), STATUS_OK);
        }
        cr_expect_eq(transformer_seq_pos(s[0]), (size_t)(LONG + STEPS));
        free(all);
        free(all1);
        transformer_batch_free(bt);
        for (int k = 0; k < NS; k++) {
            transformer_seq_free(s[k]);
            transformer_seq_free(one[k]);
        }
        transformer_close(t);
        remove(path);
    }
}

/* ---- a preempted step (the scheduler's stop flag) ---- */

/* Steps cancelled by the batch's stop flag put every conv and SSM state back: the step run
 * again gives bit for bit what the same steps give fresh sequences that were never
 * cancelled. Deterministic cancel points: the flag set before the step; and a flag that
 * the step itself sets half-way - the first word of the long prompt's every-row logits,
 * written when its first 64-row batch is done, so the second batch sees the flag after the
 * first advanced the states by 64 rows. */
Test(mamba, forward_multi_cancelled_step_restores_states)
{
    char path[256];
    transformer *t = open_random("--type F32", path, sizeof path);
    if (!t)
        cr_skip_test("lmserve-gguf not built");
    const size_t V = (size_t)t->ck.shape.vocab;
    enum { NS = 3, LONG = 90, STEPS = 3 };
    int p0[LONG], p1[3] = {1, 20, 30}, p2[2] = {1, 7};
    for (int i = 0; i < LONG; i++)
        p0[i] = 3 + (i * 17) % 290;
    const int *prompt[NS] = {p0, p1, p2};
    const size_t plen[NS] = {LONG, 3, 2};
    struct status_err err = {0};
    transformer_seq *s[NS], *r[NS]; /* cancelled and run again; never cancelled */
    for (int k = 0; k < NS; k++) {
        s[k] = transformer_seq_new(t, 0);
        r[k] = transformer_seq_new(t, 0);
        cr_assert(s[k] && r[k]);
    }
    transformer_batch *bt = transformer_batch_new(t);
    float *all = calloc(LONG * V, sizeof *all), *all_r = calloc(LONG * V, sizeof *all_r);
    cr_assert(bt && all && all_r);
    volatile int before = 1;
    transformer_batch_stop_flag(bt, &before);
    cr_assert_eq(transformer_forward_multi(bt, s, prompt, plen, NS, &err), STATUS_CANCELLED);
    transformer_seq_set_all_logits(s[0], all);
    transformer_batch_stop_flag(bt, (volatile int *)(void *)all); /* set by the first batch */
    cr_assert_eq(transformer_forward_multi(bt, s, prompt, plen, NS, &err), STATUS_CANCELLED,
                 "the step did not stop after its first batch");
    for (int k = 0; k < NS; k++)
        cr_assert_eq(transformer_seq_pos(s[k]), 0, "a cancelled step moved sequence %d", k);
    transformer_batch_stop_flag(bt, NULL);
    cr_assert_eq(transformer_forward_multi(bt, s, prompt, plen, NS, &err), STATUS_OK, "%s", err.msg);
    transformer_seq_set_all_logits(s[0], NULL);
    transformer_seq_set_all_logits(r[0], all_r);
    cr_assert_eq(transformer_forward_multi(bt, r, prompt, plen, NS, &err), STATUS_OK, "%s", err.msg);
    transformer_seq_set_all_logits(r[0], NULL);
    cr_assert(memcmp(all, all_r, LONG * V * sizeof *all) == 0, "the prompt's rows differ");
    for (int step = 0; step <= STEPS; step++) {
        int next[NS];
        for (int k = 0; k < NS; k++) {
            cr_assert(memcmp(transformer_logits(s[k]), transformer_logits(r[k]), V * sizeof(float)) == 0,
                      "sequence %d differs at step %d", k, step);
            next[k] = tt_argmax(transformer_logits(r[k]), (int)V);
        }
        if (step == STEPS)
            break;
        const int *ids[NS] = {&next[0], &next[1], &next[2]};
        const size_t n[NS] = {1, 1, 1};
        transformer_batch_stop_flag(bt, &before); /* a decode step preempted before it starts */
        cr_assert_eq(transformer_forward_multi(bt, s, ids, n, NS, &err), STATUS_CANCELLED);
        transformer_batch_stop_flag(bt, NULL);
        cr_assert_eq(transformer_forward_multi(bt, s, ids, n, NS, &err), STATUS_OK, "%s", err.msg);
        cr_assert_eq(transformer_forward_multi(bt, r, ids, n, NS, &err), STATUS_OK, "%s", err.msg);
    }
    free(all);
    free(all_r);
    transformer_batch_free(bt);
    for (int k = 0; k < NS; k++) {
        transformer_seq_free(s[k]);
        transformer_seq_free(r[k]);
    }
    transformer_close(t);
    remove(path);
}
