/* team.c: a small thread team for kernels_parallel_for(). Work is split into chunks, and
 * the chunks into one contiguous range per thread (the caller's first, then each helper's):
 * each thread claims its own range's chunks front to back, so it streams one contiguous
 * part of a matrix (the hardware prefetcher runs across its chunk edges) and claims on a
 * cache line of its own; a thread whose range is done takes chunks from the back of the
 * fullest other range. So a helper that the OS deschedules (another process took its core)
 * only delays the chunk it holds: the caller takes every other chunk. Helpers spin briefly
 * between dispatches, then sleep on a futex.
 * One caller at a time: a second concurrent caller runs its work alone. A small controller
 * times windows of dispatches with and without the helpers and keeps whichever mode is
 * faster, probing the other now and then, so 2 threads on a busy machine (late helpers, a
 * shared CPU quota) never run slower than 1 for long. It compares like with like: wall time
 * per chunk is kept per kind of dispatch (the same function over the same items in the same
 * chunks: a prompt's GEMM, a decode step's matvec, attention ...), and a window's work is
 * priced at each mode's rates for those kinds. Windows end after TEAM_WINDOW dispatches or
 * TEAM_WINDOW_NS of wall time, so a single prompt is enough to decide. A kind's rate in a
 * mode is the median of its last TEAM_HIST windows in that mode and a probe runs
 * TEAM_PROBE_WINDOWS windows (1 while the last probe lost by TEAM_PROBE_WIDE or more), so one
 * window that another process preempted does not decide (on a shared machine single windows
 * swing 2x either way). The first mode is "with helpers"; the controller stands them down
 * within a few windows if they are slower.
 * Linux only. */
#include "kernels.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* A range word packs generation | end chunk | next chunk, so a thread claims a chunk with
 * one CAS (the owner: next + 1; another thread: end - 1) and never a chunk of a finished job
 * (its generation is gone). */
#define STATE_IDX_BITS 20
#define STATE_IDX_MASK ((UINT64_C(1) << STATE_IDX_BITS) - 1)
#define TEAM_CHUNKS_MAX ((size_t)STATE_IDX_MASK) /* chunks per dispatch */
#define TEAM_SPIN_IDLE 2000 /* pause loops (~20 us) a helper spins before sleeping: spinning
                             * burns the CPU share the caller may need on a busy machine */
#define TEAM_SPIN_WAIT 2000  /* pause loops the caller spins before yielding its core */
#define TEAM_WINDOW 128       /* dispatches per measurement at most (~4 decode steps) ... */
#define TEAM_WINDOW_NS 20000000 /* ... or this much wall time (~2 prompt batches) */
#define TEAM_WINDOW_MIN 8     /* dispatches at least */
#define TEAM_CLASSES 32       /* kinds of dispatch told apart (least recently seen goes) */
#define TEAM_MARGIN 0.9       /* helpers must cut the time per chunk by 10% to be used */
#define TEAM_STALL_NS 1000000 /* waiting 1 ms on a late helper ends the window at once: a
                               * descheduled helper costs a time slice, and one is enough */
#define TEAM_PROBE_EVERY 8    /* windows in the winning mode between probes of the other */
#define TEAM_PROBE_MAX 64     /* the probe interval doubles up to this while a mode keeps
                               * winning: a probe of the slower mode then costs ~3% of the
                               * time, and a change of load is seen within ~130 decode steps */
#define TEAM_PROBE_WINDOWS 2  /* windows per probe ... */
#define TEAM_PROBE_FIRST 1    /* ... but 1 for work never measured alone (a process's first
                               * prompt and first decode steps), and only after
                               * TEAM_PROBE_EVERY windows of it: at 2 threads on a quiet
                               * machine a window alone costs ~45% of its work, and an
                               * immediate probe of 128 dispatches was ~1/4 of a 15M pp128 run
                               * (a window is ~3 such prompts' dispatches); the probes that
                               * follow, with medians of 3, correct an unlucky first one */
#define TEAM_PROBE_WIDE 1.3   /* a probe that cost this much more than the winning mode
                               * (alone at 2 threads on a quiet machine: ~1.8x) lost widely:
                               * the next probe is 1 window (pp512 at 2 threads lost ~5% to
                               * 2-window probes) */
#define TEAM_HIST 3           /* windows per kind and mode whose median is its rate */

/* One thread's range of a job's chunks, on a cache line of its own */
struct team_range {
    _Atomic uint64_t w; /* gen << 40 | end << 20 | next */
    char pad[64 - sizeof(uint64_t)];
};

static struct {
    pthread_mutex_t setup; /* guards starting/stopping helpers */
    int threads;           /* total incl. caller; 0 = not decided yet */
    int n_helpers;         /* running helpers */
    pthread_t helper[KERNELS_THREADS_MAX];
    struct team_range range[KERNELS_THREADS_MAX]; /* [0] the caller's, [1 + i] helper i's */
    _Atomic uint64_t gen;    /* the job's generation, bumped by each dispatch with helpers */
    _Atomic int in_flight;   /* helpers between "claim" and "chunk done" */
    _Atomic uint32_t wake;   /* futex word, bumped on every dispatch */
    _Atomic int sleepers;
    _Atomic int stop;
    _Atomic int busy; /* a caller owns the team */
    /* the job: written only while in_flight == 0, published by the range and gen stores */
    kernels_range_fn fn;
    void *ctx;
    size_t n, chunk;
    /* the controller: only the caller owning 'busy' touches these */
    int alone;              /* current mode: 1 = caller works alone */
    int started;            /* the first mode was chosen (team_start_mode) */
    int win_n;              /* dispatches in the current window */
    int64_t win_ns;         /* their wall time */
    uint64_t windows;       /* windows ended so far (the classes' clock) */
    struct team_class {
        kernels_range_fn fn; /* the kind: fn over n items in chunks of 'chunk' */
        size_t n, chunk;
        double hist[2][TEAM_HIST]; /* ns per chunk of recent windows, [0] with helpers, [1] alone */
        int nh[2], ph[2];    /* entries in hist[m], next slot */
        int64_t win_ns;      /* this window's wall time and chunks of this kind */
        uint64_t win_chunks;
        uint64_t seen;       /* the window it was last seen in */
    } cls[TEAM_CLASSES];
    int windows_left;       /* windows before probing the other mode */
    int probe_every;
    int probing;            /* windows left in the probe of the losing mode (0: none) */
    int probe_windows;      /* the next probe's length (TEAM_PROBE_WINDOWS or 1) */
    int adapt;              /* 0: always use the helpers (LMSERVE_KERNEL_ADAPT=0, measurements) */
    uint64_t stood_down;    /* windows decided alone, for logs and tests */
} team = {.setup = PTHREAD_MUTEX_INITIALIZER, .probe_every = TEAM_PROBE_EVERY, .adapt = 1,
           .probe_windows = TEAM_PROBE_WINDOWS, .alone = 1 /* until team_start_mode() */};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A kind's ns per chunk in mode m: the median of its recent windows (0 = unknown). */
static double class_rate(const struct team_class *c, int m)
{
    const double *h = c->hist[m];
    switch (c->nh[m]) {
    case 0: return 0.0;
    case 1: return h[0];
    case 2: return 0.5 * (h[0] + h[1]);
    default: {
        const double lo = h[0] < h[1] ? h[0] : h[1], hi = h[0] < h[1] ? h[1] : h[0];
        return h[2] < lo ? lo : (h[2] > hi ? hi : h[2]);
    }
    }
}

/* End of a window: add each kind's rate in this mode to its history; price the window's
 * work at both modes' rates (the kinds measured in both); after a probe keep the cheaper
 * mode; after a run of windows in the winning mode, probe the other one (the machine's
 * load changes). */
static void team_window_end(void)
{
    const int m = team.alone;
    double here = 0.0, other = 0.0;
    for (int i = 0; i < TEAM_CLASSES; i++) {
        struct team_class *c = &team.cls[i];
        if (c->win_chunks == 0)
            continue;
        c->hist[m][c->ph[m]] = (double)c->win_ns / (double)c->win_chunks;
        c->ph[m] = (c->ph[m] + 1) % TEAM_HIST;
        if (c->nh[m] < TEAM_HIST)
            c->nh[m]++;
        const double ro = class_rate(c, !m);
        if (ro != 0.0) {
            here += (double)c->win_chunks * class_rate(c, m);
            other += (double)c->win_chunks * ro;
        }
        c->win_ns = 0;
        c->win_chunks = 0;
    }
    team.win_n = 0;
    team.win_ns = 0;
    team.windows++;
    if (other == 0.0) { /* none of this work was measured in the other mode: probe it after
                         * the usual run of windows (on a busy machine late helpers end windows
                         * within ~1 ms each, so that run is short there), 1 window long */
        if (--team.windows_left <= 0) {
            team.alone = !m;
            team.probing = TEAM_PROBE_FIRST;
        }
        return;
    }
    const double helpers = m ? other : here, alone = m ? here : other;
    const int best = !(helpers < TEAM_MARGIN * alone); /* 1 = alone */
    if (team.probing) {
        if (--team.probing > 0)
            return; /* the probe goes on */
        if (best == m) /* the probe won: a fresh run in this mode */
            team.probe_every = TEAM_PROBE_EVERY;
        else if (team.probe_every < TEAM_PROBE_MAX)
            team.probe_every *= 2; /* the probe lost again: probe less often */
        /* lost widely: the next probe is one window (its median with the earlier ones decides) */
        team.probe_windows = best != m && here > TEAM_PROBE_WIDE * other ? 1 : TEAM_PROBE_WINDOWS;
        team.alone = best;
        team.windows_left = team.probe_every;
        return;
    }
    if (best != m) { /* this mode got slower than the other's rates */
        team.alone = best;
        team.windows_left = team.probe_every;
        return;
    }
    if (--team.windows_left <= 0) {
        team.alone = !m;
        team.probing = team.probe_windows;
    }
}

/* One dispatch of 'chunks' chunks took 'ns' of wall time: add it to its kind's window. */
static void team_record(kernels_range_fn fn, size_t n, size_t chunk, int64_t ns, uint64_t chunks)
{
    struct team_class *c = NULL, *oldest = &team.cls[0];
    for (int i = 0; i < TEAM_CLASSES && !c; i++) {
        struct team_class *k = &team.cls[i];
        if (k->fn == fn && k->n == n && k->chunk == chunk)
            c = k;
        else if (k->seen < oldest->seen || (k->fn == NULL && oldest->fn != NULL))
            oldest = k;
    }
    if (!c) {
        c = oldest;
        if (c->win_chunks) { /* its unfinished window goes with it */
            team.win_ns -= c->win_ns;
            team.win_n--;
        }
        memset(c, 0, sizeof *c);
        c->fn = fn;
        c->n = n;
        c->chunk = chunk;
    }
    c->seen = team.windows + 1;
    c->win_ns += ns;
    c->win_chunks += chunks;
    team.win_ns += ns;
    if (++team.win_n >= TEAM_WINDOW || (team.win_n >= TEAM_WINDOW_MIN && team.win_ns >= TEAM_WINDOW_NS))
        team_window_end();
}

/* The first mode: with the helpers. (The load average is no guide: on a shared machine it
 * counts other users' niced builds, which leave a core's worth of time to a busy process.)
 * LMSERVE_KERNEL_ADAPT=0 keeps the helpers on for good (measurements). */
static void team_start_mode(void)
{
    team.started = 1;
    team.alone = 0;
    team.windows_left = team.probe_every;
    const char *adapt = getenv("LMSERVE_KERNEL_ADAPT");
    team.adapt = !(adapt && strcmp(adapt, "0") == 0);
}

static uint64_t st_end(uint64_t v) { return (v >> STATE_IDX_BITS) & STATE_IDX_MASK; }
static uint64_t st_next(uint64_t v) { return v & STATE_IDX_MASK; }

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void run_chunk(size_t c)
{
    const size_t b = c * team.chunk;
    team.fn(team.ctx, b, b + team.chunk < team.n ? b + team.chunk : team.n);
}

/* Thread 'self' (0: the caller, 1 + i: helper i) claims and runs chunks until none is
 * left: its own range front to back, then one chunk at a time from the back of whichever
 * other range has the most left. Returns the number run. */
static size_t run_chunks(int self)
{
    const int parts = team.n_helpers + 1;
    size_t done = 0;
    for (;;) {
        _Atomic uint64_t *own = &team.range[self].w;
        uint64_t v = atomic_load(own);
        if (st_next(v) < st_end(v)) {
            if (atomic_compare_exchange_weak(own, &v, v + 1)) {
                run_chunk((size_t)st_next(v));
                done++;
            }
            continue;
        }
        int victim = -1;
        uint64_t most = 0, vv = 0;
        for (int i = 0; i < parts; i++) {
            const uint64_t w = atomic_load(&team.range[i].w);
            if (st_end(w) > st_next(w) && st_end(w) - st_next(w) > most) {
                most = st_end(w) - st_next(w);
                victim = i;
                vv = w;
            }
        }
        if (victim < 0)
            return done;
        if (atomic_compare_exchange_weak(&team.range[victim].w, &vv, vv - (UINT64_C(1) << STATE_IDX_BITS))) {
            run_chunk((size_t)st_end(vv) - 1);
            done++;
        }
    }
}

static void *helper_main(void *arg)
{
    const int self = (int)(intptr_t)arg;
    uint64_t seen = atomic_load(&team.gen);
    int spins = 0;
    for (;;) {
        const uint64_t g = atomic_load(&team.gen);
        if (g != seen) { /* a new job (perhaps already done: then nothing is claimed) */
            seen = g;
            atomic_fetch_add(&team.in_flight, 1);
            run_chunks(self);
            atomic_fetch_sub(&team.in_flight, 1);
            spins = 0;
            continue;
        }
        if (atomic_load(&team.stop))
            return NULL;
        if (++spins < TEAM_SPIN_IDLE) {
            cpu_relax();
            continue;
        }
        uint32_t seq = atomic_load(&team.wake);
        atomic_fetch_add(&team.sleepers, 1);
        if (atomic_load(&team.gen) == seen && !atomic_load(&team.stop))
            futex_wait(&team.wake, seq);
        atomic_fetch_sub(&team.sleepers, 1);
        spins = 0;
    }
}

static void helpers_stop(void)
{
    atomic_store(&team.stop, 1);
    atomic_fetch_add(&team.wake, 1);
    futex_wake_all(&team.wake);
    for (int i = 0; i < team.n_helpers; i++)
        pthread_join(team.helper[i], NULL);
    team.n_helpers = 0;
    atomic_store(&team.stop, 0);
}

static int default_threads(void)
{
    const char *env = getenv("LMSERVE_KERNEL_THREADS");
    int n = env ? atoi(env) : 0;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n > KERNELS_THREADS_MAX ? KERNELS_THREADS_MAX : n;
}

/* Start helpers up to threads - 1. Called with team.setup held. */
static void helpers_start(void)
{
    while (team.n_helpers < team.threads - 1) {
        if (pthread_create(&team.helper[team.n_helpers], NULL, helper_main,
                           (void *)(intptr_t)(team.n_helpers + 1)) != 0) {
            fprintf(stderr, "lmserve: kernels: could not start a helper thread; using %d\n",
                    team.n_helpers + 1);
            break;
        }
        team.n_helpers++;
    }
}

void kernels_threads_set(int n)
{
    pthread_mutex_lock(&team.setup);
    if (team.n_helpers > 0)
        helpers_stop();
    team.threads = n <= 0 ? default_threads() : (n > KERNELS_THREADS_MAX ? KERNELS_THREADS_MAX : n);
    pthread_mutex_unlock(&team.setup);
}

int kernels_threads(void)
{
    pthread_mutex_lock(&team.setup);
    if (team.threads == 0)
        team.threads = default_threads();
    int n = team.threads;
    pthread_mutex_unlock(&team.setup);
    return n;
}

void kernels_parallel_for(size_t n, size_t chunk, kernels_range_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (chunk == 0)
        chunk = 1;
    size_t chunks = (n + chunk - 1) / chunk;
    if (chunks < 2 || atomic_exchange(&team.busy, 1)) {
        fn(ctx, 0, n);
        return;
    }
    if (!team.started) {
        if (team.threads == 0)
            team.threads = kernels_threads();
        team_start_mode();
    }
    if (team.threads == 1) { /* no helpers to run or to measure */
        atomic_store(&team.busy, 0);
        fn(ctx, 0, n);
        return;
    }
    if (team.alone && team.adapt) { /* the controller found the helpers slower: team_window_end() */
        const int64_t a0 = mono_ns();
        fn(ctx, 0, n);
        team.stood_down++;
        team_record(fn, n, chunk, mono_ns() - a0, chunks);
        atomic_store(&team.busy, 0);
        return;
    }
    if (team.n_helpers == 0 || team.n_helpers != team.threads - 1) {
        pthread_mutex_lock(&team.setup);
        if (team.threads == 0)
            team.threads = default_threads();
        helpers_start();
        pthread_mutex_unlock(&team.setup);
        if (team.n_helpers == 0) {
            atomic_store(&team.busy, 0);
            fn(ctx, 0, n);
            return;
        }
    }
    if (chunks > TEAM_CHUNKS_MAX) {
        chunk = (n + TEAM_CHUNKS_MAX - 1) / TEAM_CHUNKS_MAX;
        chunks = (n + chunk - 1) / chunk;
    }
    /* in_flight is 0 here: the previous caller waited for it */
    const int64_t t0 = mono_ns();
    team.fn = fn;
    team.ctx = ctx;
    team.n = n;
    team.chunk = chunk;
    /* the ranges: chunks split evenly, in order, the caller's first (24 bits of generation
     * wrap after 16M dispatches; a stale word would have to survive that many jobs) */
    const uint64_t gen = (atomic_load(&team.gen) + 1) & ((UINT64_C(1) << 24) - 1);
    const size_t parts = (size_t)team.n_helpers + 1;
    for (size_t i = 0; i < parts; i++) {
        const uint64_t b = chunks * i / parts, e = chunks * (i + 1) / parts;
        atomic_store(&team.range[i].w, (gen << (2 * STATE_IDX_BITS)) | (e << STATE_IDX_BITS) | b);
    }
    atomic_store(&team.gen, gen);
    atomic_fetch_add(&team.wake, 1);
    if (atomic_load(&team.sleepers) > 0)
        futex_wake_all(&team.wake);
    run_chunks(0);
    const int64_t t1 = mono_ns();
    for (int spins = 0; atomic_load(&team.in_flight) != 0; spins++) {
        if (spins < TEAM_SPIN_WAIT)
            cpu_relax();
        else
            sched_yield(); /* the late helper may need this core to finish its chunk */
    }
    const int64_t t2 = mono_ns();
    team_record(fn, n, chunk, t2 - t0, chunks);
    if (team.adapt && t2 - t1 > TEAM_STALL_NS && team.win_n > 0)
        team_window_end();
    atomic_store(&team.busy, 0);
}

unsigned long kernels_team_stood_down(void) { return (unsigned long)team.stood_down; }
