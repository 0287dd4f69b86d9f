/* pool.c: the scan threads of a word-vector model: helpers that join a scan and take
 * chunks from its counter; a scan that finds the pool busy runs alone on its caller. */
#include "embed_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- thread pool ---- */

struct embed_pool {
    pthread_mutex_t gate; /* one scan at a time; others run alone on their own thread */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t th[EMBED_THREADS_MAX];
    int n_helpers;
    int stop;
    unsigned long gen;
    int active;
    void (*fn)(void *ctx, int worker);
    void *ctx;
    int nice, policy; /* the caller's: helpers run at the priority of the thread they help */
};

static int thread_nice(void) { return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)); }

/* Take on the caller's scheduling class and niceness (a server worker runs SCHED_BATCH at a
 * raised nice so the I/O threads preempt compute: helpers must not undo that). */
static void follow_priority(int *cur_nice, int *cur_policy, int nice, int policy)
{
    if (policy != *cur_policy) {
        struct sched_param sp = {0};
        if (pthread_setschedparam(pthread_self(), policy, &sp) == 0)
            *cur_policy = policy;
    }
    if (nice != *cur_nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) == 0)
        *cur_nice = nice;
}

struct helper_arg {
    struct embed_pool *p;
    int id;
};

static void *helper_main(void *arg)
{
    struct embed_pool *p = ((struct helper_arg *)arg)->p;
    int id = ((struct helper_arg *)arg)->id;
    free(arg);
    unsigned long seen = 0;
    int my_nice = thread_nice(), my_policy = sched_getscheduler(0);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        if (!p->fn)
            continue; /* woke too late: the caller already finished that job alone */
        void (*fn)(void *, int) = p->fn;
        void *ctx = p->ctx;
        int nice = p->nice, policy = p->policy;
        p->active++;
        pthread_mutex_unlock(&p->mu);
        follow_priority(&my_nice, &my_policy, nice, policy);
        fn(ctx, id);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int embed_pool_new(int threads, struct embed_pool **out)
{
    struct embed_pool *p = util_calloc(1, sizeof *p);
    if (!p)
        return -1;
    pthread_mutex_init(&p->gate, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < threads; i++) {
        struct helper_arg *a = util_malloc(sizeof *a);
        if (!a)
            break;
        a->p = p;
        a->id = i;
        if (pthread_create(&p->th[p->n_helpers], NULL, helper_main, a) != 0) {
            free(a);
            break;
        }
        p->n_helpers++;
    }
    if (p->n_helpers == 0) {
        embed_pool_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void embed_pool_free(struct embed_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_helpers; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->gate);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p);
}

/* Run fn(ctx, worker) on the caller (worker 0) and on every helper that wakes up in time;
 * fn splits its work dynamically, so the caller never waits for a helper that has not
 * started (a descheduled helper simply takes no chunk), only for chunks being worked on. */
void embed_pool_run(struct embed_pool *p, void (*fn)(void *, int), void *ctx)
{
    if (!p || pthread_mutex_trylock(&p->gate) != 0) {
        fn(ctx, 0); /* pool busy with another request: do it all here */
        return;
    }
    int nice = thread_nice(), policy = sched_getscheduler(0);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->nice = nice;
    p->policy = policy < 0 ? SCHED_OTHER : policy;
    p->gen++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0);
    pthread_mutex_lock(&p->mu);
    p->fn = NULL; /* close the job: late helpers skip it */
    p->ctx = NULL;
    while (p->active > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->gate);
}

