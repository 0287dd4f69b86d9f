/* team.c: a small thread team for kernels_parallel_for(). Work is split into chunks
 * claimed from one atomic counter by the caller and the helpers, so a helper that the OS
 * deschedules (another process took its core) only delays the chunk it holds; the caller
 * takes every other chunk. Helpers spin briefly between dispatches, then sleep on a futex.
 * One caller at a time: a second concurrent caller runs its work alone. Linux only. */
#include "kernels.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* The state word packs generation | total chunks | next chunk, so a helper can claim a
 * chunk with one CAS and never reads a half-written job. */
#define STATE_IDX_BITS 20
#define STATE_IDX_MASK ((UINT64_C(1) << STATE_IDX_BITS) - 1)
#define TEAM_CHUNKS_MAX ((size_t)STATE_IDX_MASK) /* chunks per dispatch */
#define TEAM_SPIN_IDLE 20000 /* pause loops (~100 us) a helper spins before sleeping */
#define TEAM_SPIN_WAIT 2000  /* pause loops the caller spins before yielding its core */

static struct {
    pthread_mutex_t setup; /* guards starting/stopping helpers */
    int threads;           /* total incl. caller; 0 = not decided yet */
    int n_helpers;         /* running helpers */
    pthread_t helper[KERNELS_THREADS_MAX];
    _Atomic uint64_t state;  /* gen << 40 | total << 20 | next */
    _Atomic int in_flight;   /* helpers between "claim" and "chunk done" */
    _Atomic uint32_t wake;   /* futex word, bumped on every dispatch */
    _Atomic int sleepers;
    _Atomic int stop;
    _Atomic int busy; /* a caller owns the team */
    /* the job: written only while in_flight == 0, published by the state store */
    kernels_range_fn fn;
    void *ctx;
    size_t n, chunk;
} team = {.setup = PTHREAD_MUTEX_INITIALIZER};

static uint64_t st_total(uint64_t v) { return (v >> STATE_IDX_BITS) & STATE_IDX_MASK; }
static uint64_t st_next(uint64_t v) { return v & STATE_IDX_MASK; }
static uint64_t st_gen(uint64_t v) { return v >> (2 * STATE_IDX_BITS); }

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Claim and run chunks until none is left. Returns the number run. */
static size_t run_chunks(void)
{
    size_t done = 0;
    for (;;) {
        uint64_t v = atomic_load(&team.state);
        if (st_next(v) >= st_total(v))
            return done;
        if (!atomic_compare_exchange_weak(&team.state, &v, v + 1))
            continue;
        size_t b = (size_t)st_next(v) * team.chunk;
        size_t e = b + team.chunk < team.n ? b + team.chunk : team.n;
        team.fn(team.ctx, b, e);
        done++;
    }
}

static void *helper_main(void *arg)
{
    (void)arg;
    int spins = 0;
    for (;;) {
        uint64_t v = atomic_load(&team.state);
        if (st_next(v) < st_total(v)) {
            atomic_fetch_add(&team.in_flight, 1);
            run_chunks();
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
        v = atomic_load(&team.state);
        if (st_next(v) >= st_total(v) && !atomic_load(&team.stop))
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
    const char *env = getenv("LMSERVE_THREADS");
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
        if (pthread_create(&team.helper[team.n_helpers], NULL, helper_main, NULL) != 0) {
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
    team.fn = fn;
    team.ctx = ctx;
    team.n = n;
    team.chunk = chunk;
    uint64_t gen = st_gen(atomic_load(&team.state)) + 1;
    atomic_store(&team.state, (gen << (2 * STATE_IDX_BITS)) | ((uint64_t)chunks << STATE_IDX_BITS));
    atomic_fetch_add(&team.wake, 1);
    if (atomic_load(&team.sleepers) > 0)
        futex_wake_all(&team.wake);
    run_chunks();
    for (int spins = 0; atomic_load(&team.in_flight) != 0; spins++) {
        if (spins < TEAM_SPIN_WAIT)
            cpu_relax();
        else
            sched_yield(); /* the late helper may need this core to finish its chunk */
    }
    atomic_store(&team.busy, 0);
}
