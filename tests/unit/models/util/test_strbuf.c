/* test_strbuf.c: the one growable text buffer (models/util/strbuf): appends of every size,
 * printf into the room left and past it, "" when nothing was written, NULL pieces. */
#include "../../../../models/util/strbuf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(util_strbuf, empty_take_is_an_empty_string)
{
    struct strbuf b = {0};
    cr_assert_eq(strbuf_put(&b, "x", 0), 0);
    cr_assert_eq(strbuf_puts(&b, NULL), 0);
    size_t len = 99;
    char *s = strbuf_take(&b, &len);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    cr_assert_eq(len, 0);
    cr_assert_null(b.p);
    free(s);
}

Test(util_strbuf, same_as_one_string)
{
    struct strbuf b = {0};
    char *want = calloc(1, 200000);
    size_t n = 0;
    for (int i = 0; n < 190000; i++) {
        if (i % 3 == 0) {
            char piece[64];
            int k = snprintf(piece, sizeof piece, "<%d:%s>", i, i % 2 ? "odd" : "even");
            cr_assert_eq(strbuf_printf(&b, "<%d:%s>", i, i % 2 ? "odd" : "even"), 0);
            memcpy(want + n, piece, (size_t)k);
            n += (size_t)k;
        } else {
            const size_t k = (size_t)(i * 37 % 300);
            for (size_t j = 0; j < k; j++)
                want[n + j] = (char)('a' + (i + (int)j) % 26);
            cr_assert_eq(strbuf_put(&b, want + n, k), 0);
            n += k;
        }
        cr_assert_eq(b.len, n);
        cr_assert_eq(b.p[b.len], '\0');
    }
    size_t len;
    char *s = strbuf_take(&b, &len);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(s, want, n), 0);
    free(s);
    free(want);
}

Test(util_strbuf, out_of_memory_is_sticky)
{
    struct strbuf b = {0};
    cr_assert_eq(strbuf_puts(&b, "abc"), 0);
    b.oom = 1; /* as after a failed realloc */
    cr_assert_eq(strbuf_puts(&b, "def"), -1);
    cr_assert_eq(strbuf_printf(&b, "%d", 1), -1);
    cr_assert_eq(b.len, 3);
    size_t len = 7;
    cr_assert_null(strbuf_take(&b, &len));
    cr_assert_eq(len, 0);
}
