/* generate.c: the generation loop: prompt as one batch, then sample / decode token by
 * token, with stop strings held back until they can no longer match (never emitted, even
 * when split across tokens), text released only as whole UTF-8 characters, max_tokens,
 * EOS, and cancellation checked every token. */
#include "transformer_internal.h"
#include "../util/strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void transformer_gen_defaults(struct transformer_gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->max_tokens = 16;
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->repetition_penalty = 1.0f;
    p->logprobs = -1;
    p->cache_prompt = 1;
}


/* Where the first stop string starts in buf, or -1. */
static long find_stop(const char *buf, size_t len, const struct transformer_gen_params *p)
{
    long best = -1;
    for (size_t i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        if (sl == 0 || sl > len)
            continue;
        for (size_t at = 0; at + sl <= len; at++)
            if (memcmp(buf + at, p->stop[i], sl) == 0) {
                if (best < 0 || (long)at < best)
                    best = (long)at;
                break;
            }
    }
    return best;
}

/* Length of the longest suffix of buf that is a proper prefix of some stop string. */
static size_t stop_prefix_tail(const char *buf, size_t len, const struct transformer_gen_params *p)
{
    size_t keep = 0;
    for (size_t i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        for (size_t k = sl > 0 ? sl - 1 : 0; k > keep; k--)
            if (k <= len && memcmp(buf + len - k, p->stop[i], k) == 0) {
                keep = k;
                break;
            }
    }
    return keep;
}

int transformer_generate(const transformer *t, const int *ids, size_t n,
                         const struct transformer_gen_params *p, transformer_gen_cb cb,
                         void *ud, const volatile int *cancelled,
                         struct transformer_gen_result *res, struct status_err *err)
{
    const struct transformer_shape *sh = &t->ck.shape;
    memset(res, 0, sizeof *res);
    res->prompt_tokens = n;
    if (n == 0)
        return status_set(err, STATUS_BAD_INPUT, "prompt", "the prompt has no tokens");
    if (n > (size_t)sh->seq_len)
        return status_set(err, STATUS_BAD_INPUT, "prompt",
                          "the prompt has %zu tokens; the model's context is %d", n, sh->seq_len);
    size_t cap = n + p->max_tokens;
    if (cap > (size_t)sh->seq_len)
        cap = (size_t)sh->seq_len;
    const size_t V = (size_t)sh->vocab;
    const size_t kv_bytes = transformer_seq_kv_bytes(t, cap);
    uint64_t last_us = now_us(); /* time to first token counts the wait for a slot */
    int rc = transformer_sched_enter(t, kv_bytes, cancelled, err);
    if (rc != STATUS_OK)
        return rc;
    transformer_seq *seq = transformer_seq_new(t, cap);
    struct sampler smp;
    int smp_ok = sampler_init(&smp, sh->vocab, p->seed) == STATUS_OK;
    float *work = malloc(V * sizeof *work);
    struct strbuf hold = {0}; /* text not yet released: it may be the start of a stop string */
    char *text = malloc(3 * transformer_piece_max(t) + 8);
    struct utf8_stream u8 = {0};
    struct transformer_gen_alt top[TRANSFORMER_LOGPROBS_MAX];
    int *fed = malloc(cap * sizeof *fed); /* the tokens whose keys and values seq holds */
    struct sched_running run = {0}; /* seq offered to other prompts while it runs */
    size_t n_fed = 0;
    if (!seq || !smp_ok || !work || !text || !fed) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for a %zu-token sequence", cap);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        sampler_observe(&smp, ids[i], 0);
    memcpy(fed, ids, n * sizeof *fed);
    n_fed = n;
    res->cached_tokens = p->cache_prompt ? transformer_sched_prefix(t, ids, n, seq) : 0;
    run = (struct sched_running){.seq = seq, .ids = fed, .valid = res->cached_tokens};
    transformer_sched_run_add(t, &run);
    rc = transformer_sched_forward(t, seq, ids + res->cached_tokens, n - res->cached_tokens,
                                   cancelled, err);
    if (rc != STATUS_OK)
        goto done;
    int prev = ids[n - 1], on_stop_string = 0;
    res->finish = TRANSFORMER_FINISH_LENGTH;
    const size_t n_top = p->logprobs > 0 ? (size_t)p->logprobs : 0;
    const int greedy = sampler_greedy_plain(p);
    static const int one = 1; /* a cancel flag that is set */
    struct sched_req req;
    int next_id = 0;
    while (res->completion_tokens < p->max_tokens) {
        if (cancelled && *cancelled) {
            rc = status_set(err, STATUS_CANCELLED, NULL, "cancelled");
            goto done;
        }
        const float *logits = transformer_logits(seq);
        int id;
        if (greedy) { /* nothing changes the logits: no copy */
            id = sampler_argmax(logits, sh->vocab);
        } else {
            memcpy(work, logits, V * sizeof *work);
            id = sampler_next(&smp, work, p);
        }
        if (transformer_is_eog(t, id)) {
            res->finish = TRANSFORMER_FINISH_STOP;
            break;
        }
        struct transformer_gen_event ev = {.id = id, .top = top};
        if (p->logprobs >= 0) {
            ev.logprob = sampler_logprob(logits, sh->vocab, id, top, n_top);
            ev.n_top = n_top;
        }
        res->completion_tokens++;
        const uint64_t tok_us = now_us();
        transformer_sched_observe(res->completion_tokens == 1, tok_us - last_us);
        last_us = tok_us;
        sampler_observe(&smp, id, 1);
        size_t plen;
        const char *piece = transformer_piece(t, prev, id, &plen);
        prev = id;
        size_t tl = utf8_stream_push(&u8, piece, plen, text);
        if (strbuf_put(&hold, text, tl) != 0) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            goto done;
        }
        long at = find_stop(hold.p, hold.len, p);
        size_t release = at >= 0 ? (size_t)at : hold.len - stop_prefix_tail(hold.p, hold.len, p);
        /* the next token goes to the scheduler before the callback writes this one out (the
         * logits were read above): the step need not wait for this stream's HTTP write */
        const int more = at < 0 && res->completion_tokens < p->max_tokens &&
                         transformer_seq_pos(seq) < cap;
        if (more) {
            next_id = id;
            fed[n_fed++] = id;
            rc = transformer_sched_submit(t, &req, seq, &next_id, 1, NULL, err);
            if (rc != STATUS_OK)
                goto done;
        }
        ev.text = hold.p;
        ev.len = release;
        /* the callback sees text[0..len) only; copy it out before we shift the buffer */
        char saved = hold.p[release];
        hold.p[release] = '\0';
        int stop_cb = cb ? cb(ud, &ev) : 0;
        hold.p[release] = saved;
        memmove(hold.p, hold.p + release, hold.len - release);
        hold.len -= release;
        if (more) { /* a cancelled generation leaves the queue at once if no step holds it */
            int wrc = transformer_sched_wait(t, &req, stop_cb ? &one : cancelled, err);
            if (!stop_cb && wrc != STATUS_OK) {
                rc = wrc;
                goto done;
            }
        }
        if (stop_cb) {
            rc = status_set(err, STATUS_CANCELLED, NULL, "cancelled");
            goto done;
        }
        if (at >= 0) {
            res->finish = TRANSFORMER_FINISH_STOP;
            on_stop_string = 1;
            break;
        }
        if (!more)
            break;
    }
    if (!on_stop_string) {
        /* release what was held: a broken character, a partial stop string */
        size_t fl = utf8_stream_flush(&u8, text);
        if (fl > 0 && strbuf_put(&hold, text, fl) != 0) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            goto done;
        }
        if (hold.len > 0 && cb) {
            struct transformer_gen_event ev = {.text = hold.p, .len = hold.len, .id = -1};
            if (cb(ud, &ev)) {
                rc = status_set(err, STATUS_CANCELLED, NULL, "cancelled");
                goto done;
            }
        }
    }
done:
    transformer_sched_run_del(t, &run);
    free(hold.p);
    free(text);
    free(work);
    sampler_free(&smp);
    transformer_sched_leave(t, kv_bytes);
    /* the prefix cache keeps the sequence when its keys and values are whole */
    if (seq && fed && transformer_seq_pos(seq) == n_fed) {
        transformer_sched_keep(t, seq, fed, n_fed);
    } else {
        transformer_seq_free(seq);
        free(fed);
    }
    return rc;
}
