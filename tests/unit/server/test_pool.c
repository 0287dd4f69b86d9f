/* test_pool.c: the bounded worker pool runs every accepted job and refuses past capacity. */
#include "../../../server/pool.h"

#include <stdatomic.h>
#include <unistd.h>

#include <criterion/criterion.h>

static atomic_int done;

static void job_sleep(void *arg)
{
    usleep((useconds_t)(long)arg);
    atomic_fetch_add(&done, 1);
}

Test(pool, bounded_queue)
{
    atomic_store(&done, 0);
    pool *p = pool_new(1, 2);
    cr_assert(p);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 10; i++) {
        if (pool_submit(p, job_sleep, (void *)100000L) == 0)
            accepted++;
        else
            refused++;
    }
    cr_assert_geq(refused, 7, "a 1-worker pool with 2 queue slots refused only %d of 10", refused);
    cr_assert_leq(accepted, 3);
    pool_free(p); /* runs what was queued */
    cr_assert_eq(atomic_load(&done), accepted);
}

Test(pool, many_small_jobs)
{
    atomic_store(&done, 0);
    pool *p = pool_new(3, 1000);
    for (int i = 0; i < 500; i++)
        cr_assert_eq(pool_submit(p, job_sleep, (void *)0L), 0);
    pool_free(p);
    cr_assert_eq(atomic_load(&done), 500);
}
