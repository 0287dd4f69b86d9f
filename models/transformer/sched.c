/* sched.c: continuous batching for one Transformer: a scheduler thread per model runs
 * forward steps (transformer_forward_multi) over every active slot at once - each slot's
 * next decode token plus chunks of newly arrived prompts within a per-step token budget -
 * so the weights are read once per step for all streams. Callers (one generation each, in
 * their own thread) keep their sampling, stop strings and callbacks; they take a slot
 * (transformer_sched_enter: bounded by the slot count and the KV budget), hand each forward
 * to the scheduler (transformer_sched_forward) and wait for its logits. A step waits for
 * every active slot to submit, at most SCHED_GATHER_US. Not HTTP, not sampling. A recurrent
 * model (Mamba) is batched the same way (its rows through mamba.c's forward_multi), without
 * prefix cache or KV accounting; its preempted decode steps put back the conv+SSM states they
 * snapshotted at their start. */
#include "transformer_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHED_STEP_TOKENS 64  /* rows per step: decode tokens first, prompt chunks fill the rest */
#define SCHED_PREFILL_MIN 16  /* prompt rows a step admits even when decode rows fill it */
#define SCHED_GATHER_US 2000  /* longest a step waits for all active slots to submit */
#define SCHED_POLL_MS 50      /* how often a waiting caller looks at its cancel flag */
#define SCHED_PREFIX_MIN 4    /* the shortest shared prefix the cache serves */
#define SCHED_PREFIX_PER_SLOT 2 /* cached sequences per slot at most */

static pthread_mutex_t sched_cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t sched_parallel = TRANSFORMER_PARALLEL_DEFAULT;
static size_t sched_kv_bytes = (size_t)TRANSFORMER_KV_MB_DEFAULT << 20;

const double transformer_lat_bounds_s[TRANSFORMER_LAT_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

/* process-wide counters (/metrics) */
static atomic_ullong st_steps, st_decode_rows, st_prompt_rows, st_tokens;
static atomic_ullong st_hist[TRANSFORMER_SCHED_HIST];
static atomic_ullong st_ttft[TRANSFORMER_LAT_BUCKETS + 1], st_itl[TRANSFORMER_LAT_BUCKETS + 1];
static atomic_ullong st_ttft_us, st_itl_us;
static atomic_ullong st_pc_lookups, st_pc_hits, st_pc_tokens, st_preempted;
static struct transformer_sched *live; /* running schedulers, under sched_cfg_mu */

enum { REQ_QUEUED, REQ_DONE };

/* A finished generation's keys and values, kept for the next prompt that starts the same. */
struct pentry {
    transformer_seq *seq;
    int *ids; /* the n tokens at positions [0, n) of seq */
    size_t n, bytes;
    unsigned long long used; /* s->tick when last served or kept */
    time_t used_s;           /* CLOCK_MONOTONIC second of the same (transformer_sched_expire) */
    struct pentry *next;
};


struct transformer_sched {
    pthread_mutex_t mu;
    pthread_cond_t work, done, slot;
    pthread_t th;
    int quit, last_prompt_only;
    int recurrent; /* Mamba: no prefix cache, no KV accounting */
    /* a decode-only step in flight (stepping) gives way to a prompt that arrives meanwhile
     * (preempt, the batch's stop flag): the prompt's first token need not wait for it */
    int stepping, preemptible;
    volatile int preempt;
    struct sched_req *head;
    size_t pending, active, waiting, parallel, kv_used, kv_budget;
    int b_vocab;
    transformer_batch *b;
    /* the step's picks, grown as needed */
    struct sched_req **pick;
    transformer_seq **seqs;
    const int **ids;
    size_t *n, pick_cap;
    struct transformer_sched *next_live;
    struct pentry *cache; /* prefix cache: its bytes count against kv_budget */
    struct sched_running *running; /* generations offering their prefixes while they run */
    size_t cache_bytes, cache_n;
    unsigned long long tick;
};

static void pentry_free(struct pentry *e)
{
    transformer_seq_free(e->seq);
    free(e->ids);
    free(e);
}

/* Drop the least recently used cache entry (under s->mu). 0 when the cache is empty. */
static int evict_lru(struct transformer_sched *s)
{
    struct pentry **lru = NULL;
    for (struct pentry **pp = &s->cache; *pp; pp = &(*pp)->next)
        if (!lru || (*pp)->used < (*lru)->used)
            lru = pp;
    if (!lru)
        return 0;
    struct pentry *e = *lru;
    *lru = e->next;
    s->cache_bytes -= e->bytes;
    s->cache_n--;
    pentry_free(e);
    return 1;
}

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static size_t common_prefix(const int *a, size_t na, const int *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

void transformer_sched_config(size_t parallel, size_t kv_mb)
{
    pthread_mutex_lock(&sched_cfg_mu);
    if (parallel > 0)
        sched_parallel = parallel;
    if (kv_mb > 0)
        sched_kv_bytes = kv_mb << 20;
    pthread_mutex_unlock(&sched_cfg_mu);
}

static void deadline_in(struct timespec *ts, long us)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (us % 1000000) * 1000;
    ts->tv_sec += us / 1000000 + ts->tv_nsec / 1000000000;
    ts->tv_nsec %= 1000000000;
}

static int grow_picks(struct transformer_sched *s, size_t n)
{
    if (n <= s->pick_cap)
        return 0;
    size_t cap = n * 2;
    struct sched_req **p = realloc(s->pick, cap * sizeof *p);
    if (p)
        s->pick = p;
    transformer_seq **q = realloc(s->seqs, cap * sizeof *q);
    if (q)
        s->seqs = q;
    const int **i = realloc(s->ids, cap * sizeof *i);
    if (i)
        s->ids = i;
    size_t *m = realloc(s->n, cap * sizeof *m);
    if (m)
        s->n = m;
    if (!p || !q || !i || !m)
        return -1;
    s->pick_cap = cap;
    return 0;
}

static void unlink_req(struct transformer_sched *s, struct sched_req *r)
{
    for (struct sched_req **pp = &s->head; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            s->pending--;
            return;
        }
}

/* 1 when a prompt (more than one row left) waits in the queue */
static int prompt_waiting(const struct transformer_sched *s)
{
    for (const struct sched_req *r = s->head; r; r = r->next)
        if (r->n - r->done > 1)
            return 1;
    return 0;
}

/* Choose this step's rows: every decode token (none in a prompt-only step), then prompt
 * chunks within the budget. */
static size_t pick_rows(struct transformer_sched *s, int prompt_only)
{
    size_t m = 0, rows = 0;
    for (struct sched_req *r = s->head; r && !prompt_only; r = r->next)
        if (r->n - r->done == 1) {
            r->take = 1;
            r->in_step = 1;
            s->pick[m++] = r;
            rows++;
        }
    size_t budget = rows < SCHED_STEP_TOKENS - SCHED_PREFILL_MIN ? SCHED_STEP_TOKENS - rows
                                                                   : SCHED_PREFILL_MIN;
    for (struct sched_req *r = s->head; r && budget > 0; r = r->next) {
        const size_t left = r->n - r->done;
        if (left <= 1)
            continue;
        r->take = left < budget ? left : budget;
        budget -= r->take;
        r->in_step = 1;
        s->pick[m++] = r;
        atomic_fetch_add_explicit(&st_prompt_rows, r->take, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&st_decode_rows, rows, memory_order_relaxed);
    return m;
}

static void *sched_main(void *arg)
{
    struct transformer_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->quit && !s->head)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->quit)
            break;
        /* A prompt that just arrived runs at once in a step of prompt rows only: it waits
         * neither for the other slots' next tokens nor shares its step with their rows, so
         * its first token comes about as soon as on an idle server. Never two such steps in
         * a row: the decode rows wait at most one (chunk-sized) step for it. */
        int prompt_only = !s->last_prompt_only && prompt_waiting(s);
        /* gather: the other active slots are sampling their next token (a prompt arriving
         * meanwhile ends the wait) */
        struct timespec until;
        deadline_in(&until, SCHED_GATHER_US);
        while (!prompt_only && !s->quit && s->pending < s->active &&
               pthread_cond_timedwait(&s->work, &s->mu, &until) != ETIMEDOUT)
            prompt_only = !s->last_prompt_only && prompt_waiting(s);
        if (s->quit)
            break;
        if (grow_picks(s, s->pending) != 0) {
            pthread_mutex_unlock(&s->mu);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL); /* out of memory: try again shortly */
            pthread_mutex_lock(&s->mu);
            continue;
        }
        const size_t m = pick_rows(s, prompt_only);
        /* a decode-only step may give way to a new prompt, unless it follows a prompt-only
         * step: decode rows then run at least every other step */
        int has_prompt = 0;
        for (size_t i = 0; i < m; i++)
            has_prompt |= s->pick[i]->take > 1 || s->pick[i]->n - s->pick[i]->done > 1;
        /* (a recurrent model's step restores its states from a snapshot when preempted) */
        s->preemptible = !prompt_only && !has_prompt && !s->last_prompt_only;
        s->preempt = 0;
        s->stepping = 1;
        s->last_prompt_only = prompt_only;
        const size_t V = (size_t)s->b_vocab;
        size_t rows = 0;
        for (size_t i = 0; i < m; i++) {
            s->seqs[i] = s->pick[i]->seq;
            s->ids[i] = s->pick[i]->ids + s->pick[i]->done;
            s->n[i] = s->pick[i]->take;
            rows += s->n[i];
            transformer_seq_set_all_logits(s->seqs[i],
                                           s->pick[i]->all ? s->pick[i]->all + s->pick[i]->done * V
                                                           : NULL);
        }
        pthread_mutex_unlock(&s->mu);
        struct status_err err;
        status_clear(&err);
        int rc = transformer_forward_multi(s->b, s->seqs, s->ids, s->n, m, &err);
        pthread_mutex_lock(&s->mu);
        s->stepping = 0;
        const int preempted = rc == STATUS_CANCELLED && s->preempt;
        s->preempt = 0;
        for (size_t i = 0; i < m; i++)
            transformer_seq_set_all_logits(s->seqs[i], NULL);
        if (preempted) { /* nothing advanced: the rows stay queued for the step after the prompt's */
            for (size_t i = 0; i < m; i++)
                s->pick[i]->in_step = 0;
            atomic_fetch_add_explicit(&st_preempted, 1, memory_order_relaxed);
            continue;
        }
        atomic_fetch_add_explicit(&st_steps, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st_hist[rows < TRANSFORMER_SCHED_HIST ? rows : TRANSFORMER_SCHED_HIST - 1],
                                  1, memory_order_relaxed);
        /* the positions this step completed are final: running generations offer them */
        for (struct sched_running *u = s->running; u && rc == STATUS_OK; u = u->next)
            u->valid = transformer_seq_pos(u->seq);
        for (size_t i = 0; i < m; i++) {
            struct sched_req *r = s->pick[i];
            r->in_step = 0;
            if (rc == STATUS_OK)
                r->done += r->take;
            if (rc != STATUS_OK || r->done == r->n) {
                r->rc = rc;
                r->err = err;
                r->state = REQ_DONE;
                unlink_req(s, r);
            }
        }
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The model's scheduler, started on first use; NULL when it cannot start (callers then
 * run alone). */
static struct transformer_sched *sched_of(const transformer *ct)
{
    transformer *t = (transformer *)ct; /* the scheduler is the one mutable part */
    pthread_mutex_lock(&sched_cfg_mu);
    struct transformer_sched *s = t->sched;
    if (!s && !t->sched_failed) {
        s = calloc(1, sizeof *s);
        int ok = s != NULL;
        if (ok) {
            s->parallel = t->sched_parallel ? t->sched_parallel : sched_parallel;
            s->kv_budget = sched_kv_bytes;
            s->b = transformer_batch_new(t);
            if (s->b)
                transformer_batch_stop_flag(s->b, &s->preempt);
            s->b_vocab = t->ck.shape.vocab;
            s->recurrent = t->ck.recurrent != NULL;
            ok = s->b && pthread_mutex_init(&s->mu, NULL) == 0;
            ok = ok && pthread_cond_init(&s->work, NULL) == 0 && pthread_cond_init(&s->done, NULL) == 0 &&
                 pthread_cond_init(&s->slot, NULL) == 0;
            ok = ok && pthread_create(&s->th, NULL, sched_main, s) == 0;
        }
        if (!ok) {
            if (s)
                transformer_batch_free(s->b);
            free(s);
            s = NULL;
            t->sched_failed = 1;
        } else {
            s->next_live = live;
            live = s;
        }
        t->sched = s;
    }
    pthread_mutex_unlock(&sched_cfg_mu);
    return s;
}

void transformer_sched_close(transformer *t)
{
    struct transformer_sched *s = t->sched;
    if (!s)
        return;
    pthread_mutex_lock(&sched_cfg_mu);
    for (struct transformer_sched **pp = &live; *pp; pp = &(*pp)->next_live)
        if (*pp == s) {
            *pp = s->next_live;
            break;
        }
    pthread_mutex_unlock(&sched_cfg_mu);
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->slot);
    transformer_batch_free(s->b);
    while (evict_lru(s))
        ;
    free(s->pick);
    free(s->seqs);
    free(s->ids);
    free(s->n);
    free(s);
    t->sched = NULL;
}

int transformer_sched_enter(const transformer *t, size_t kv_bytes, const volatile int *cancelled,
                            struct status_err *err)
{
    struct transformer_sched *s = sched_of(t);
    if (!s)
        return STATUS_OK;
    pthread_mutex_lock(&s->mu);
    if (kv_bytes > s->kv_budget) {
        pthread_mutex_unlock(&s->mu);
        return status_set(err, STATUS_BAD_INPUT, "max_tokens",
                          "this request needs %zu MB of KV cache; the budget (--kv-cache-mb) is %zu MB",
                          (kv_bytes + (1 << 20) - 1) >> 20, s->kv_budget >> 20);
    }
    s->waiting++;
    for (;;) {
        /* first: a deadline that passed while waiting is a 503 even if a slot just freed
         * (the slot's holder may have reached its own deadline at the same moment) */
        if (cancelled && *cancelled) { /* its deadline passed (or the client left) */
            s->waiting--;
            pthread_mutex_unlock(&s->mu);
            return status_set(err, STATUS_BUSY, NULL,
                              "no generation slot became free before the request's deadline "
                              "(%zu slots, %zu MB of KV cache); retry later",
                              s->parallel, s->kv_budget >> 20);
        }
        if (s->active < s->parallel && s->kv_used + s->cache_bytes + kv_bytes <= s->kv_budget)
            break;
        if (s->active < s->parallel && evict_lru(s))
            continue; /* cached prefixes give way to running generations */
        struct timespec until;
        deadline_in(&until, SCHED_POLL_MS * 1000L);
        pthread_cond_timedwait(&s->slot, &s->mu, &until);
    }
    s->waiting--;
    s->active++;
    s->kv_used += kv_bytes;
    pthread_mutex_unlock(&s->mu);
    return STATUS_OK;
}

void transformer_sched_leave(const transformer *t, size_t kv_bytes)
{
    struct transformer_sched *s = t->sched;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->active--;
    s->kv_used -= kv_bytes;
    pthread_cond_broadcast(&s->slot);
    pthread_cond_signal(&s->work); /* the gather may be waiting for this slot */
    pthread_mutex_unlock(&s->mu);
}

int transformer_sched_forward(const transformer *t, transformer_seq *seq, const int *ids, size_t n,
                              const volatile int *cancelled, struct status_err *err)
{
    return transformer_sched_forward_all(t, seq, ids, n, NULL, cancelled, err);
}

int transformer_sched_submit(const transformer *t, struct sched_req *r, transformer_seq *seq,
                             const int *ids, size_t n, float *all_logits, struct status_err *err)
{
    struct transformer_sched *s = t->sched;
    *r = (struct sched_req){.seq = seq, .ids = ids, .n = n, .state = REQ_DONE, .all = all_logits};
    if (!s || n == 0) { /* no scheduler: run now, the wait gives the status */
        r->rc = transformer_forward(seq, ids, n, all_logits, NULL, &r->err);
        return STATUS_OK;
    }
    /* checked here so that one bad request never fails the others' step */
    const int vocab = t->ck.shape.vocab;
    if (n > transformer_seq_room(seq))
        return status_set(err, STATUS_BAD_INPUT, NULL, "%zu tokens do not fit: position %zu",
                          n, transformer_seq_pos(seq));
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return status_set(err, STATUS_BAD_INPUT, NULL, "token id %d out of range [0, %d)",
                              ids[i], vocab);
    r->state = REQ_QUEUED;
    pthread_mutex_lock(&s->mu);
    struct sched_req **pp = &s->head;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    s->pending++;
    if (n > 1 && s->stepping && s->preemptible)
        s->preempt = 1;
    /* wake the scheduler only when it has something to do: the first request, the last slot
     * of a gather, a prompt (it ends a gather); the others' decode tokens wait quietly, so a
     * step of 8 streams costs the scheduler one wake-up instead of 8 */
    if (s->pending == 1 || s->pending >= s->active || n > 1)
        pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return STATUS_OK;
}

int transformer_sched_wait(const transformer *t, struct sched_req *r,
                           const volatile int *cancelled, struct status_err *err)
{
    struct transformer_sched *s = t->sched;
    if (s) {
        pthread_mutex_lock(&s->mu);
        while (r->state != REQ_DONE) {
            struct timespec until;
            deadline_in(&until, SCHED_POLL_MS * 1000L);
            pthread_cond_timedwait(&s->done, &s->mu, &until);
            /* cancelled: leave unless a step holds this request right now */
            if (r->state != REQ_DONE && cancelled && *cancelled && !r->in_step) {
                unlink_req(s, r);
                r->state = REQ_DONE;
                r->rc = status_set(&r->err, STATUS_CANCELLED, NULL, "cancelled");
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (r->rc != STATUS_OK && err)
        *err = r->err;
    return r->rc;
}

int transformer_sched_forward_all(const transformer *t, transformer_seq *seq, const int *ids,
                                  size_t n, float *all_logits, const volatile int *cancelled,
                                  struct status_err *err)
{
    if (!t->sched || n == 0)
        return transformer_forward(seq, ids, n, all_logits, cancelled, err);
    struct sched_req r;
    int rc = transformer_sched_submit(t, &r, seq, ids, n, all_logits, err);
    return rc != STATUS_OK ? rc : transformer_sched_wait(t, &r, cancelled, err);
}

void transformer_sched_observe(int first, uint64_t us)
{
    size_t i = 0;
    while (i < TRANSFORMER_LAT_BUCKETS && (double)us > transformer_lat_bounds_s[i] * 1e6)
        i++;
    atomic_fetch_add_explicit(first ? &st_ttft[i] : &st_itl[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(first ? &st_ttft_us : &st_itl_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&st_tokens, 1, memory_order_relaxed);
}

void transformer_sched_stats(struct transformer_sched_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&sched_cfg_mu);
    for (struct transformer_sched *s = live; s; s = s->next_live) {
        pthread_mutex_lock(&s->mu);
        out->slots += s->parallel;
        out->slots_busy += s->active;
        out->waiting += s->waiting;
        out->kv_bytes_used += s->kv_used + s->cache_bytes;
        out->prefix_cache_bytes += s->cache_bytes;
        out->kv_bytes_budget += s->kv_budget;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&sched_cfg_mu);
    out->steps = atomic_load(&st_steps);
    out->decode_rows = atomic_load(&st_decode_rows);
    out->prompt_rows = atomic_load(&st_prompt_rows);
    out->tokens_generated = atomic_load(&st_tokens);
    out->prefix_lookups = atomic_load(&st_pc_lookups);
    out->prefix_hits = atomic_load(&st_pc_hits);
    out->prefix_tokens = atomic_load(&st_pc_tokens);
    out->steps_preempted = atomic_load(&st_preempted);
    for (size_t i = 0; i < TRANSFORMER_SCHED_HIST; i++)
        out->batch_hist[i] = atomic_load(&st_hist[i]);
    for (size_t i = 0; i <= TRANSFORMER_LAT_BUCKETS; i++) {
        out->ttft[i] = atomic_load(&st_ttft[i]);
        out->itl[i] = atomic_load(&st_itl[i]);
    }
    out->ttft_sum_s = (double)atomic_load(&st_ttft_us) / 1e6;
    out->itl_sum_s = (double)atomic_load(&st_itl_us) / 1e6;
}

size_t transformer_sched_prefix(const transformer *t, const int *ids, size_t n, transformer_seq *dst)
{
    struct transformer_sched *s = t->sched;
    if (!s || n < 2 || s->recurrent) /* a recurrent state holds no prefix to copy */
        return 0;
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add_explicit(&st_pc_lookups, 1, memory_order_relaxed);
    struct pentry *best = NULL;
    size_t got = 0;
    for (struct pentry *e = s->cache; e; e = e->next) {
        /* at most n - 1: the last prompt token runs to give the first logits */
        const size_t l = common_prefix(e->ids, e->n, ids, n - 1);
        if (l > got) {
            got = l;
            best = e;
        }
    }
    /* a running generation's completed positions (final: steps only write past them) */
    struct sched_running *run = NULL;
    for (struct sched_running *u = s->running; u; u = u->next) {
        const size_t l = common_prefix(u->ids, u->valid, ids, n - 1);
        if (l > got) {
            got = l;
            run = u;
        }
    }
    if (run && got >= SCHED_PREFIX_MIN && transformer_seq_copy_prefix(dst, run->seq, got) == 0) {
        atomic_fetch_add_explicit(&st_pc_hits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st_pc_tokens, got, memory_order_relaxed);
    } else if (!run && best && got >= SCHED_PREFIX_MIN &&
               transformer_seq_copy_prefix(dst, best->seq, got) == 0) {
        best->used = ++s->tick;
        best->used_s = mono_s();
        atomic_fetch_add_explicit(&st_pc_hits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st_pc_tokens, got, memory_order_relaxed);
    } else {
        got = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

void transformer_sched_keep(const transformer *t, transformer_seq *seq, int *ids, size_t n)
{
    struct transformer_sched *s = t->sched;
    struct pentry *e = NULL;
    if (!s || s->recurrent || !seq || !ids || n < SCHED_PREFIX_MIN || transformer_seq_pos(seq) != n ||
        !(e = calloc(1, sizeof *e))) {
        transformer_seq_free(seq);
        free(ids);
        return;
    }
    *e = (struct pentry){.seq = seq, .ids = ids, .n = n,
                         .bytes = transformer_seq_kv_bytes(t, n + transformer_seq_room(seq))};
    pthread_mutex_lock(&s->mu);
    for (struct pentry **pp = &s->cache; *pp;) {
        struct pentry *o = *pp;
        const size_t l = common_prefix(o->ids, o->n, ids, n);
        if (l == n) { /* an entry holds all of it already */
            o->used = ++s->tick;
            o->used_s = mono_s();
            pthread_mutex_unlock(&s->mu);
            pentry_free(e);
            return;
        }
        if (l == o->n) { /* this one holds all of that entry */
            *pp = o->next;
            s->cache_bytes -= o->bytes;
            s->cache_n--;
            pentry_free(o);
            continue;
        }
        pp = &o->next;
    }
    while (s->kv_used + s->cache_bytes + e->bytes > s->kv_budget && evict_lru(s))
        ;
    if (s->kv_used + s->cache_bytes + e->bytes > s->kv_budget) {
        pthread_mutex_unlock(&s->mu);
        pentry_free(e);
        return;
    }
    e->used = ++s->tick;
    e->used_s = mono_s();
    e->next = s->cache;
    s->cache = e;
    s->cache_bytes += e->bytes;
    s->cache_n++;
    /* at most SCHED_PREFIX_PER_SLOT entries per slot: prompts that share nothing would
     * otherwise fill the whole budget with sequences nobody asks for again */
    while (s->cache_n > SCHED_PREFIX_PER_SLOT * s->parallel && evict_lru(s))
        ;
    pthread_mutex_unlock(&s->mu);
}

size_t transformer_sched_expire(unsigned idle_s)
{
    size_t freed = 0;
    if (idle_s == 0)
        return 0;
    const time_t now = mono_s();
    pthread_mutex_lock(&sched_cfg_mu);
    for (struct transformer_sched *s = live; s; s = s->next_live) {
        pthread_mutex_lock(&s->mu);
        for (struct pentry **pp = &s->cache; *pp;) {
            struct pentry *e = *pp;
            if (now - e->used_s < (time_t)idle_s) {
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            s->cache_bytes -= e->bytes;
            s->cache_n--;
            freed += e->bytes;
            pentry_free(e);
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&sched_cfg_mu);
    return freed;
}

void transformer_sched_run_add(const transformer *t, struct sched_running *r)
{
    struct transformer_sched *s = t->sched;
    if (!s || s->recurrent || !r->seq)
        return;
    pthread_mutex_lock(&s->mu);
    r->next = s->running;
    s->running = r;
    pthread_mutex_unlock(&s->mu);
}

void transformer_sched_run_del(const transformer *t, struct sched_running *r)
{
    struct transformer_sched *s = t->sched;
    if (!s || s->recurrent || !r->seq)
        return;
    pthread_mutex_lock(&s->mu);
    for (struct sched_running **pp = &s->running; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    r->seq = NULL;
}
