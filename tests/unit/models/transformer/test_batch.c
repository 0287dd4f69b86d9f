/* test_batch.c: several sequences in one forward step (transformer_forward_multi): greedy
 * decoding of prompts run together - prefilled in one mixed step, one joining later with its
 * prompt split in chunks while the others decode - gives the same tokens as each run alone,
 * and logits within a tight tolerance (the batched matmul sums in another order than the
 * single-token matvec, so the values are not promised bit-exact). llama2.c and GGUF (ggml
 * numerics) models, both kernel tables. */
#include "../../../../models/transformer/transformer.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

#include <math.h>

#define TB_SEQS 3
#define TB_STEPS 24
#define TB_TOL 1e-3 /* relative to max(|logit|, 1) */

static const char *tb_prompts[TB_SEQS] = {"Once upon a time", "The little dog ran to the park and",
                                           "Lily"};

/* Alone: prompt as one batch, then greedy decode; tokens and logits recorded. */
static void alone(transformer *t, const int *ids, size_t n, int *toks, float *lg)
{
    const int V = transformer_shape_of(t)->vocab;
    struct status_err err = {0};
    transformer_seq *s = transformer_seq_new(t, n + TB_STEPS + 1);
    cr_assert_eq(transformer_forward(s, ids, n, NULL, NULL, &err), STATUS_OK, "%s", err.msg);
    for (int g = 0; g < TB_STEPS; g++) {
        memcpy(lg + (size_t)g * V, transformer_logits(s), (size_t)V * sizeof(float));
        toks[g] = tt_argmax(transformer_logits(s), V);
        cr_assert_eq(transformer_forward(s, &toks[g], 1, NULL, NULL, &err), STATUS_OK);
    }
    transformer_seq_free(s);
}

static void together(transformer *t, const struct kernels_ops *k)
{
    t->k = k;
    const int V = transformer_shape_of(t)->vocab;
    struct status_err err = {0};
    int *ids[TB_SEQS];
    size_t n[TB_SEQS];
    int want[TB_SEQS][TB_STEPS], got[TB_SEQS][TB_STEPS];
    float *lg[TB_SEQS];
    transformer_seq *s[TB_SEQS];
    for (int i = 0; i < TB_SEQS; i++) {
        cr_assert_eq(transformer_tokenize(t, tb_prompts[i], strlen(tb_prompts[i]), 1, 0, &ids[i],
                                          &n[i], &err), STATUS_OK);
        lg[i] = malloc((size_t)TB_STEPS * V * sizeof(float));
        alone(t, ids[i], n[i], want[i], lg[i]);
        s[i] = transformer_seq_new(t, n[i] + TB_STEPS + 1);
    }
    transformer_batch *b = transformer_batch_new(t);
    cr_assert_not_null(b);
    /* sequences 0 and 1 prefill in one step; 2 joins at decode step 3, its prompt in chunks
     * of 2 tokens while the others decode */
    int gen[TB_SEQS] = {0};
    size_t fed2 = 0;
    const int *feed[TB_SEQS];
    size_t nf[TB_SEQS];
    feed[0] = ids[0], nf[0] = n[0];
    feed[1] = ids[1], nf[1] = n[1];
    cr_assert_eq(transformer_forward_multi(b, s, feed, nf, 2, &err), STATUS_OK, "%s", err.msg);
    double worst = 0;
    for (int step = 0; gen[0] < TB_STEPS || gen[1] < TB_STEPS || gen[2] < TB_STEPS; step++) {
        transformer_seq *ss[TB_SEQS];
        size_t m = 0;
        int next[TB_SEQS];
        for (int i = 0; i < TB_SEQS; i++) {
            if (i == 2 && fed2 < n[2]) {
                if (step < 3)
                    continue;
                const size_t c = n[2] - fed2 < 2 ? n[2] - fed2 : 2;
                ss[m] = s[2], feed[m] = ids[2] + fed2, nf[m++] = c;
                fed2 += c;
                continue;
            }
            if (gen[i] >= TB_STEPS)
                continue;
            const float *l = transformer_logits(s[i]);
            for (int v = 0; v < V; v++) {
                const float r = lg[i][(size_t)gen[i] * V + v];
                const double d = fabs((double)l[v] - r) / fmax(fabs(r), 1.0);
                worst = d > worst ? d : worst;
            }
            next[i] = tt_argmax(l, V);
            got[i][gen[i]++] = next[i];
            ss[m] = s[i], feed[m] = &next[i], nf[m++] = 1;
        }
        if (m > 0)
            cr_assert_eq(transformer_forward_multi(b, ss, feed, nf, m, &err), STATUS_OK, "%s",
                         err.msg);
    }
    cr_log_info("alone vs batched: worst relative logit difference %g", worst);
    cr_assert(worst <= TB_TOL, "logits differ by %g (relative) alone vs batched", worst);
    for (int i = 0; i < TB_SEQS; i++) {
        for (int g = 0; g < TB_STEPS; g++)
            cr_assert_eq(got[i][g], want[i][g], "sequence %d token %d: %d batched, %d alone", i,
                         g, got[i][g], want[i][g]);
        free(ids[i]);
        free(lg[i]);
        transformer_seq_free(s[i]);
    }
    transformer_batch_free(b);
}

static transformer *open_gguf(const char *name)
{
    const char *dir = tt_shared();
    if (!dir)
        cr_skip_test("../shared/models absent");
    char p[TT_FILE_MAX];
    snprintf(p, sizeof p, "%s/gguf/%s", dir, name);
    if (access(p, R_OK) != 0)
        cr_skip_test("%s absent", p);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(p, &t, &err), STATUS_OK, "%s", err.msg);
    return t;
}

Test(transformer_batch, llama2c_alone_equals_batched)
{
    transformer *t = tt_open_260k();
    together(t, kernels_select());
    together(t, kernels_tier(KERNELS_TIER_REF));
    transformer_close(t);
}

Test(transformer_batch, gguf_q8_alone_equals_batched)
{
    transformer *t = open_gguf("stories15M-random-Q8_0.gguf");
    together(t, kernels_select());
    transformer_close(t);
}

Test(transformer_batch, gguf_260k_ref_alone_equals_batched)
{
    transformer *t = open_gguf("stories260K.gguf");
    together(t, kernels_tier(KERNELS_TIER_REF));
    transformer_close(t);
}

Test(transformer_batch, rejects_overflow_and_bad_ids)
{
    transformer *t = tt_open_260k();
    struct status_err err = {0};
    transformer_seq *s = transformer_seq_new(t, 2);
    transformer_batch *b = transformer_batch_new(t);
    int ids[3] = {1, 5, 6}, bad = 1 << 20;
    const int *f[1] = {ids};
    size_t n[1] = {3};
    cr_assert_eq(transformer_forward_multi(b, &s, f, n, 1, &err), STATUS_BAD_INPUT);
    f[0] = &bad, n[0] = 1;
    cr_assert_eq(transformer_forward_multi(b, &s, f, n, 1, &err), STATUS_BAD_INPUT);
    cr_assert_eq(transformer_seq_pos(s), 0);
    transformer_seq_free(s);
    transformer_batch_free(b);
    transformer_close(t);
}
