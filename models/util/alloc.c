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

void *util_huge_alloc(size_t bytes)
{
    if (alloc_fails())
        return NULL;
    if (bytes == 0)
        bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (bytes >= UTIL_HUGE_PAGE_BYTES)
        madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

void util_huge_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes ? bytes : 1);
}
