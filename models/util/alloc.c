/* alloc.c: allocation with failure injection, alignment and huge pages (alloc.h). */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

long util_alloc_countdown;

static int alloc_fails(void)
{
    return util_alloc_countdown > 0 && --util_alloc_countdown == 0;
}

void *util_malloc(size_t n)
{
    return alloc_fails() ? NULL : malloc(n);
}

void *util_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : calloc(n, size);
}

void *util_realloc(void *p, size_t n)
{
    return alloc_fails() ? NULL : realloc(p, n);
}

void *util_aligned_alloc(size_t align, size_t bytes)
{
    if (alloc_fails())
        return NULL;
    size_t b = (bytes + align - 1) / align * align;
    return aligned_alloc(align, b ? b : align);
}

void util_advise_huge(void *p, size_t bytes)
{
    uintptr_t a = ((uintptr_t)p + UTIL_HUGE_PAGE_BYTES - 1) / UTIL_HUGE_PAGE_BYTES *
                  UTIL_HUGE_PAGE_BYTES;
    uintptr_t end = (uintptr_t)p + bytes;
    if (end > a + UTIL_HUGE_PAGE_BYTES)
        madvise((void *)a, (end - a) / UTIL_HUGE_PAGE_BYTES * UTIL_HUGE_PAGE_BYTES,
                MADV_HUGEPAGE);
}

/* What util_huge_alloc maps for 'bytes': a whole number of huge pages from
 * UTIL_HUGE_PAGE_BYTES up (so every page of the table can be a huge one), else 'bytes'. */
static size_t huge_len(size_t bytes)
{
    const size_t P = UTIL_HUGE_PAGE_BYTES;
    if (bytes == 0)
        return 1;
    return bytes < P ? bytes : (bytes + P - 1) / P * P;
}

void *util_huge_alloc(size_t bytes)
{
    if (alloc_fails())
        return NULL;
    const size_t P = UTIL_HUGE_PAGE_BYTES, len = huge_len(bytes);
    if (len < P) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* Map one huge page more than needed and trim both ends, so the table starts on a
     * huge-page boundary (an unaligned one would lose a huge page at each end). */
    unsigned char *raw = mmap(NULL, len + P, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    unsigned char *a = (unsigned char *)(((uintptr_t)raw + P - 1) / P * P);
    if (a > raw)
        munmap(raw, (size_t)(a - raw));
    if (raw + P > a)
        munmap(a + len, (size_t)(raw + P - a));
    madvise(a, len, MADV_HUGEPAGE);
    return a;
}

void util_huge_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, huge_len(bytes));
}
