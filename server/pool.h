/* pool.h: the worker pool that runs jobs off the event loop. The queue is bounded: a full
 * queue refuses the job (the caller answers 503 + Retry-After), never an unbounded backlog.
 * Workers run at lower priority so the I/O threads stay responsive under load. */
#ifndef LMSERVE_POOL_H
#define LMSERVE_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct pool pool;

#define POOL_NICE 10 /* worker niceness: the event loop wins the CPU (measured; docs/ARCHITECTURE.md, threads) */

/* Start 'n_threads' workers with room for 'queue_max' waiting jobs. NULL on failure. */
pool *pool_new(int n_threads, size_t queue_max);
/* Queue fn(arg). Returns 0, or -1 when the queue is full or the pool is stopping. */
int pool_submit(pool *p, void (*fn)(void *arg), void *arg);
/* Queue fn(arg) with a deadline (CLOCK_MONOTONIC microseconds; 0 = none): a job still
 * waiting at its deadline is not run; expire(arg) runs instead (from pool_expire(), or from
 * the worker that picks it up late). Returns 0, or -1 like pool_submit. */
int pool_submit_until(pool *p, void (*fn)(void *arg), void (*expire)(void *arg), void *arg,
                      int64_t deadline_us);
/* Run fn(arg) at once on an idle worker: -1 when every worker is taken (nothing queues). */
int pool_submit_idle(pool *p, void (*fn)(void *arg), void *arg);
/* Expire the waiting jobs at the head of the queue whose deadline is before 'now_us';
 * their expire callbacks run on the caller's thread. Returns how many. */
size_t pool_expire(pool *p, int64_t now_us);
size_t pool_depth(pool *p);
size_t pool_capacity(const pool *p);
size_t pool_busy(pool *p);
/* Run what is queued, stop the workers, free. Accepts NULL. */
void pool_free(pool *p);

#endif
