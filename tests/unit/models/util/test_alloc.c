/* util_huge_alloc (models/util/alloc.h): the one huge-page allocator (n-gram tables and the
 * GGUF reader's resident weights). */
#include "../../../../models/util/alloc.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(alloc, huge_tables_start_on_a_huge_page_and_are_zeroed)
{
    const size_t sizes[] = {0, 1, 4096, UTIL_HUGE_PAGE_BYTES, UTIL_HUGE_PAGE_BYTES + 1,
                            3 * UTIL_HUGE_PAGE_BYTES - 7};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        unsigned char *p = util_huge_alloc(n);
        cr_assert_not_null(p, "%zu bytes", n);
        if (n >= UTIL_HUGE_PAGE_BYTES)
            cr_assert_eq((uintptr_t)p % UTIL_HUGE_PAGE_BYTES, 0, "%zu bytes at %p", n, (void *)p);
        for (size_t j = 0; j < n; j += 4093)
            cr_assert_eq(p[j], 0);
        if (n) {
            cr_assert_eq(p[n - 1], 0);
            memset(p, 0xab, n); /* every byte is writable */
        }
        util_huge_free(p, n);
    }
    util_huge_free(NULL, 5);
}

Test(alloc, huge_alloc_honours_the_failure_countdown)
{
    util_alloc_countdown = 1;
    cr_assert_null(util_huge_alloc(UTIL_HUGE_PAGE_BYTES));
    cr_assert_eq(util_alloc_countdown, 0);
}
