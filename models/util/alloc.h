/* alloc.h: the allocators every loader uses: malloc/calloc/realloc with a failure-injection
 * countdown for the tests, cache-line aligned blocks, and large tables on transparent huge
 * pages. Nothing here knows a model format. */
#ifndef LMSERVE_ALLOC_H
#define LMSERVE_ALLOC_H

#include <stddef.h>

#define UTIL_HUGE_PAGE_BYTES (2u << 20) /* x86-64 transparent huge page */
#define UTIL_CACHE_LINE_BYTES 64

/* Tests only: when > 0, each util_* allocation decrements it and the one that takes it to 0
 * fails (returns NULL), so a test can fail the Nth allocation of a loader for every N. */
extern long util_alloc_countdown;

/* malloc / calloc / realloc that honour util_alloc_countdown; free with free(). */
void *util_malloc(size_t n);
void *util_calloc(size_t n, size_t size);
void *util_realloc(void *p, size_t n);

/* 'bytes' (rounded up to a multiple of 'align', as C11 requires; 0 gives one block) aligned
 * to 'align' (a power of two); free with free(). */
void *util_aligned_alloc(size_t align, size_t bytes);
/* Ask for transparent huge pages on the whole 2 MiB pages inside [p, p + bytes) (fewer page
 * faults while filling, fewer TLB misses while scanning). A hint: never fails. */
void util_advise_huge(void *p, size_t bytes);

/* A large zeroed table from mmap; from UTIL_HUGE_PAGE_BYTES up it starts on a huge-page
 * boundary, spans whole huge pages and asks for transparent huge pages (madvise). Free with
 * util_huge_free(p, bytes) (same bytes). Accepts bytes == 0. */
void *util_huge_alloc(size_t bytes);
void util_huge_free(void *p, size_t bytes); /* accepts NULL */

#endif
