/* pool.c: a fixed set of worker threads over a bounded ring of jobs. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct job {
    void (*fn)(void *);
    void (*expire)(void *); /* NULL: runs whenever it is picked */
    void *arg;
    int64_t deadline_us;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    struct job *ring; /* queue_max entries */
    size_t cap, head, len, busy;
    int stopping;
    pthread_t *threads;
    int n_threads;
};

static void *worker_main(void *arg)
{
    pool *p = arg;
    /* SCHED_BATCH plus niceness, per thread (Linux: setpriority on the thread id), so the
     * I/O threads preempt compute at once. Failure of either is harmless. */
    struct sched_param sp = {.sched_priority = 0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), POOL_NICE);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->len && !p->stopping)
            pthread_cond_wait(&p->nonempty, &p->lock);
        if (!p->len && p->stopping)
            break;
        struct job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        if (j.expire && j.deadline_us && mono_us() > j.deadline_us)
            j.expire(j.arg); /* waited past its deadline: answer, do not start */
        else
            j.fn(j.arg);
        pthread_mutex_lock(&p->lock);
        p->busy--;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

pool *pool_new(int n_threads, size_t queue_max)
{
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cap = queue_max ? queue_max : 1;
    p->ring = calloc(p->cap, sizeof *p->ring);
    p->threads = calloc((size_t)(n_threads > 0 ? n_threads : 1), sizeof *p->threads);
    if (!p->ring || !p->threads)
        goto fail;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    for (int i = 0; i < (n_threads > 0 ? n_threads : 1); i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;
        p->n_threads++;
    }
    if (p->n_threads == 0) {
        pthread_cond_destroy(&p->nonempty);
        pthread_mutex_destroy(&p->lock);
        goto fail;
    }
    return p;
fail:
    free(p->threads);
    free(p->ring);
    free(p);
    return NULL;
}

int pool_submit(pool *p, void (*fn)(void *arg), void *arg)
{
    return pool_submit_until(p, fn, NULL, arg, 0);
}

static int submit(pool *p, void (*fn)(void *arg), void (*expire)(void *arg), void *arg,
                  int64_t deadline_us, int idle_only)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->len == p->cap ||
        (idle_only && p->busy + p->len >= (size_t)p->n_threads)) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    p->ring[(p->head + p->len) % p->cap] =
        (struct job){.fn = fn, .expire = expire, .arg = arg, .deadline_us = deadline_us};
    p->len++;
    pthread_cond_signal(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int pool_submit_until(pool *p, void (*fn)(void *arg), void (*expire)(void *arg), void *arg,
                      int64_t deadline_us)
{
    return submit(p, fn, expire, arg, deadline_us, 0);
}

int pool_submit_idle(pool *p, void (*fn)(void *arg), void *arg)
{
    return submit(p, fn, NULL, arg, 0, 1);
}

size_t pool_expire(pool *p, int64_t now_us)
{
    size_t n = 0;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        struct job j = p->len ? p->ring[p->head] : (struct job){0};
        if (!p->len || !j.expire || !j.deadline_us || j.deadline_us >= now_us) {
            pthread_mutex_unlock(&p->lock);
            return n;
        }
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_mutex_unlock(&p->lock);
        j.expire(j.arg);
        n++;
    }
}

size_t pool_depth(pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->len;
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t pool_capacity(const pool *p) { return p->cap; }

size_t pool_busy(pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->busy;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->nonempty);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p->ring);
    free(p);
}
