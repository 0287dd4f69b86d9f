/* test_decimal.c: models/util/decimal.h reads numbers exactly as strtod/strtof do (the ARPA
 * and .vec parsers' shared parser, once two copies). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../../models/util/decimal.h"

#define DECIMAL_TEST_RANDOM 200000

static const char *const CASES[] = {
    "0", "-0", "1", "-1", "0.1", "-4.2", "1e10", "1E-10", "+3.25", "123456789012345678",
    "1234567890123456789012", "0.000000000000000000000000001", "3.4028235e38", "3.4028236e38",
    "1e-45", "1.17549435e-38", "9007199254740993", "0.30000000000000004", "-99", "2.5e-5",
    "7.038531e-26", "1.00000005960464477539", "12345678.9", ".5", "5.", "-.25e+2",
};

static void check_one(const char *s)
{
    size_t len = strlen(s);
    double want_d = strtod(s, NULL), got_d = NAN;
    cr_assert(decimal_parse_double(s, len, &got_d), "%s", s);
    cr_assert(memcmp(&want_d, &got_d, sizeof got_d) == 0, "%s: %.17g vs strtod %.17g", s, got_d,
              want_d);
    float want_f = strtof(s, NULL), got_f = NAN;
    const char *e = decimal_parse_float(s, s + len, &got_f);
    cr_assert(e == s + len, "%s", s);
    cr_assert(memcmp(&want_f, &got_f, sizeof got_f) == 0, "%s: %.9g vs strtof %.9g", s,
              (double)got_f, (double)want_f);
}

Test(decimal, same_as_strtod_and_strtof)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        check_one(CASES[i]);
    srand(11);
    char buf[64];
    for (int i = 0; i < DECIMAL_TEST_RANDOM; i++) {
        int digits = 1 + rand() % 20, point = rand() % (digits + 1), exp = rand() % 90 - 45;
        size_t n = 0;
        if (rand() % 2)
            buf[n++] = '-';
        for (int k = 0; k < digits; k++) {
            if (k == point && k > 0)
                buf[n++] = '.';
            buf[n++] = (char)('0' + rand() % 10);
        }
        if (rand() % 3)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "e%d", exp);
        buf[n] = '\0';
        check_one(buf);
    }
}

Test(decimal, not_numbers)
{
    double d;
    float f;
    const char *bad[] = {"", "-", ".", "e5", "1e", "1e+", "abc", "1.2.3", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(!decimal_parse_double(bad[i], strlen(bad[i]), &d), "%s", bad[i]);
        cr_assert_null(decimal_parse_float(bad[i], bad[i] + strlen(bad[i]), &f), "%s", bad[i]);
    }
    /* strtod's inf is a number for ARPA (-inf log probabilities), never for .vec values */
    cr_assert(decimal_parse_double("-inf", 4, &d) && isinf(d) && d < 0);
    cr_assert_null(decimal_parse_float("inf", "inf" + 3, &f));
    cr_assert_null(decimal_parse_float("0x10", "0x10" + 4, &f));
    /* a float ends at a separator */
    const char *s = "1.5 2";
    cr_assert_eq(decimal_parse_float(s, s + 5, &f), s + 3);
    cr_assert_null(decimal_parse_float("1.5x", "1.5x" + 4, &f));
}
