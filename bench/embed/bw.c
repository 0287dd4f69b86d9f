/* bw.c: the memory read-bandwidth probe of bench/embed/compare.py (built into its bench-only
 * shared library): read a buffer once with 1 or 2 threads, return GB/s. */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BW_THREADS_MAX 2

struct bw_part {
    const uint64_t *p;
    size_t n;
    uint64_t sink;
};

static void *bw_run(void *a)
{
    struct bw_part *x = a;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= x->n; i += 4) {
        s0 += x->p[i];
        s1 += x->p[i + 1];
        s2 += x->p[i + 2];
        s3 += x->p[i + 3];
    }
    x->sink = s0 ^ s1 ^ s2 ^ s3;
    return NULL;
}

double bench_read_gbs(const void *buf, size_t bytes, int threads);
double bench_read_gbs(const void *buf, size_t bytes, int threads)
{
    if (threads < 1 || threads > BW_THREADS_MAX)
        threads = 1;
    pthread_t th[BW_THREADS_MAX];
    struct bw_part part[BW_THREADS_MAX];
    size_t words = bytes / 8;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < threads; t++) {
        part[t].p = (const uint64_t *)buf + words / (size_t)threads * (size_t)t;
        part[t].n = words / (size_t)threads;
        if (t > 0)
            pthread_create(&th[t], NULL, bw_run, &part[t]);
    }
    bw_run(&part[0]);
    for (int t = 1; t < threads; t++)
        pthread_join(th[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return (double)bytes / s / 1e9;
}
