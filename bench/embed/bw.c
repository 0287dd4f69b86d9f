/* bw.c: the memory read-bandwidth probe of bench/embed/compare.py (built into its bench-only
 * shared library): read a buffer once with 1 or 2 threads, return GB/s. */
#pragma GCC push_options
#pragma GCC target("avx2") /* this file only (bench_embed.c includes it) */
#include <immintrin.h>
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

/* 32-byte loads into four independent accumulators: as fast a read as the core can issue,
 * so the floor it gives is a real floor (a scalar loop would flatter the kernels). */
static void *bw_run(void *a)
{
    struct bw_part *x = a;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= x->n; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(x->p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(x->p + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(x->p + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(x->p + i + 12)));
    }
    __m256i s = _mm256_xor_si256(_mm256_xor_si256(s0, s1), _mm256_xor_si256(s2, s3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    x->sink = out[0] ^ out[1] ^ out[2] ^ out[3];
    for (; i < x->n; i++)
        x->sink ^= x->p[i];
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

#pragma GCC pop_options
