/* test_generate.c: sampling and the generation loop: greedy is deterministic, the same seed
 * gives the same tokens (and another seed other tokens), top_k 1 equals greedy, stop
 * strings split across tokens are never emitted, max_tokens and penalties behave. */
#include "../../../../models/transformer/transformer.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

#include <math.h>

#define TG_TEXT_MAX 8192

struct tg_out {
    char text[TG_TEXT_MAX];
    size_t len;
    int ids[1024];
    size_t n;
    size_t events;
};

static int tg_cb(void *ud, const struct transformer_gen_event *ev)
{
    struct tg_out *o = ud;
    cr_assert_lt(o->len + ev->len, TG_TEXT_MAX);
    memcpy(o->text + o->len, ev->text, ev->len);
    o->len += ev->len;
    o->text[o->len] = 0;
    if (ev->id >= 0)
        o->ids[o->n++] = ev->id;
    o->events++;
    return 0;
}

static transformer *tg_model(void)
{
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX];
    tt_make("gen", "--dim 48 --hidden 96 --layers 2 --heads 4 --kv-heads 2 --vocab 600 --seq 128 --seed 9", ck, tok);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open(ck, tok, &t, &err), STATUS_OK, "%s", err.msg);
    return t;
}

static struct transformer_gen_result tg_run(transformer *t, const struct transformer_gen_params *p,
                                            struct tg_out *o)
{
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(transformer_encode(t, "the", 3, 1, 0, &ids, &n, &err), STATUS_OK);
    memset(o, 0, sizeof *o);
    struct transformer_gen_result res;
    cr_assert_eq(transformer_generate(t, ids, n, p, tg_cb, o, NULL, &res, &err), STATUS_OK, "%s", err.msg);
    free(ids);
    return res;
}

Test(generate, seeds_and_greedy)
{
    transformer *t = tg_model();
    struct transformer_gen_params p;
    transformer_gen_defaults(&p);
    p.max_tokens = 40;
    p.seed = 42;
    struct tg_out a, b, c;
    struct transformer_gen_result ra = tg_run(t, &p, &a);
    tg_run(t, &p, &b);
    cr_assert_eq(a.n, b.n);
    cr_assert_eq(memcmp(a.ids, b.ids, a.n * sizeof(int)), 0, "same seed, different tokens");
    cr_assert_str_eq(a.text, b.text);
    p.seed = 43;
    tg_run(t, &p, &c);
    cr_assert(c.n != a.n || memcmp(a.ids, c.ids, a.n * sizeof(int)) != 0, "another seed, same 40 tokens");
    if (ra.finish == TRANSFORMER_FINISH_LENGTH)
        cr_assert_eq(ra.completion_tokens, 40);
    /* greedy ignores the seed; top_k 1 at any temperature is greedy too */
    p.temperature = 0;
    tg_run(t, &p, &a);
    p.seed = 1;
    tg_run(t, &p, &b);
    cr_assert_eq(memcmp(a.ids, b.ids, a.n * sizeof(int)), 0);
    p.temperature = 1.5f;
    p.top_k = 1;
    tg_run(t, &p, &c);
    cr_assert_eq(c.n, a.n);
    cr_assert_eq(memcmp(a.ids, c.ids, a.n * sizeof(int)), 0, "top_k 1 differs from greedy");
    /* top_p tiny and min_p 1 keep only the best as well */
    p.top_k = 0;
    p.top_p = 1e-6f;
    tg_run(t, &p, &c);
    cr_assert_eq(memcmp(a.ids, c.ids, a.n * sizeof(int)), 0, "top_p ~0 differs from greedy");
    p.top_p = 1;
    p.min_p = 1;
    tg_run(t, &p, &c);
    cr_assert_eq(memcmp(a.ids, c.ids, a.n * sizeof(int)), 0, "min_p 1 differs from greedy");
    transformer_close(t);
}

Test(generate, stop_strings_split_across_tokens)
{
    transformer *t = tg_model();
    struct transformer_gen_params p;
    transformer_gen_defaults(&p);
    p.max_tokens = 60;
    p.temperature = 0;
    struct tg_out full, o;
    tg_run(t, &p, &full);
    /* find a token boundary inside the text and take a stop string across it */
    size_t off = 0, tested = 0;
    for (size_t i = 0; i + 1 < full.n && tested < 5; i++) {
        size_t pl;
        transformer_piece(t, i ? full.ids[i - 1] : -1, full.ids[i], &pl);
        off += pl;
        if (off < 2 || off + 2 > full.len)
            continue;
        char stop[5] = {full.text[off - 2], full.text[off - 1], full.text[off], full.text[off + 1], 0};
        if (strlen(stop) != 4)
            continue;
        const char *first = strstr(full.text, stop);
        p.stop[0] = stop;
        p.n_stop = 1;
        struct transformer_gen_result r = tg_run(t, &p, &o);
        cr_assert_eq(r.finish, TRANSFORMER_FINISH_STOP, "stop '%s' not hit", stop);
        cr_assert_eq(o.len, (size_t)(first - full.text), "stop '%s': text '%s'", stop, o.text);
        cr_assert_eq(strncmp(o.text, full.text, o.len), 0);
        cr_assert_null(strstr(o.text, stop));
        tested++;
    }
    cr_assert_gt(tested, 0, "no token boundary to test in '%s'", full.text);
    /* a stop string that never matches holds nothing back at the end */
    p.stop[0] = "\x01never";
    p.n_stop = 1;
    tg_run(t, &p, &o);
    cr_assert_str_eq(o.text, full.text);
    transformer_close(t);
}

Test(generate, max_tokens_and_penalties)
{
    transformer *t = tg_model();
    struct transformer_gen_params p;
    transformer_gen_defaults(&p);
    p.temperature = 0;
    p.max_tokens = 0;
    struct tg_out o;
    struct transformer_gen_result r = tg_run(t, &p, &o);
    cr_assert_eq(r.completion_tokens, 0);
    cr_assert_eq(o.len, 0);
    /* a strong frequency penalty makes greedy text repeat tokens less */
    p.max_tokens = 60;
    tg_run(t, &p, &o);
    size_t rep0 = 0, rep1 = 0;
    for (size_t i = 0; i < o.n; i++)
        for (size_t j = 0; j < i; j++)
            rep0 += o.ids[i] == o.ids[j];
    p.frequency_penalty = 2.0f;
    p.repetition_penalty = 1.5f;
    tg_run(t, &p, &o);
    for (size_t i = 0; i < o.n; i++)
        for (size_t j = 0; j < i; j++)
            rep1 += o.ids[i] == o.ids[j];
    cr_assert_leq(rep1, rep0, "penalties increased repetition (%zu > %zu)", rep1, rep0);
    /* logprobs: the chosen token's log-probability and sorted alternatives */
    float logits[5] = {1.0f, 3.0f, 2.0f, -1.0f, 3.0f};
    struct transformer_gen_alt top[3];
    float lp = sampler_logprob(logits, 5, 1, top, 3);
    cr_assert(lp < 0 && lp > -1.0f);
    cr_assert_eq(top[0].id, 1);
    cr_assert_eq(top[1].id, 4);
    cr_assert_eq(top[2].id, 2);
    cr_assert_float_eq(top[0].logprob, lp, 1e-6);
    transformer_close(t);
}

/* the vectorised greedy argmax picks what the plain first-largest loop (tt_argmax) picks:
 * ties (the first wins), -0 and +0, NaNs (never win unless first), infinities, every length */

Test(generate, argmax_same_as_plain_loop)
{
    enum { N = 32003 };
    float *x = malloc(N * sizeof *x);
    cr_assert_not_null(x);
    uint64_t st = 42;
    for (int round = 0; round < 400; round++) {
        const int n = round < 100 ? round + 1 : round < 300 ? 32 + round % 64 : N - round % 7;
        for (int i = 0; i < n; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            const int r = (int)(st >> 33);
            x[i] = (float)(r % 13) - 6.0f; /* many ties */
            switch (r % 97) {
            case 0: x[i] = NAN; break;
            case 1: x[i] = -0.0f; break;
            case 2: x[i] = INFINITY; break;
            case 3: x[i] = -INFINITY; break;
            default: break;
            }
        }
        if (round % 5 == 0)
            x[0] = NAN;
        if (round % 11 == 0)
            for (int i = 0; i < n; i++)
                x[i] = -INFINITY;
        cr_assert_eq(sampler_argmax(x, n), tt_argmax(x, n), "round %d n %d", round, n);
    }
    free(x);
}
