/* decimal.c: see decimal.h. */
#include "decimal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DECIMAL_EXP_CLAMP 100000      /* exponents beyond this are inf/zero anyway */
#define DOUBLE_TO_FLOAT_DROP_BITS 29  /* double mantissa bits below float precision */
#define MIDPOINT_WINDOW_ULPS 8        /* |d - exact| is a few double ulps at most */
#define MANTISSA_EXACT_MAX (1ull << 53) /* integers a double holds exactly */

const double DECIMAL_POW10[DECIMAL_POW10_MAX + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
static const double NEG_POW10[DECIMAL_POW10_MAX + 1] = {
    1e-0,  1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,  1e-8,  1e-9,  1e-10, 1e-11,
    1e-12, 1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22,
};

static int is_digit(char c) { return (unsigned)(c - '0') < 10u; }

/* The digits of one run (integer or fraction part) into d; 'frac' shifts the exponent. */
static const char *digits(const char *p, const char *end, struct decimal *d, int *nd, int frac,
                          int *any)
{
    for (; p < end && is_digit(*p); p++) {
        *any = 1;
        if (*nd < DECIMAL_DIGITS_MAX) {
            d->m = d->m * 10 + (uint64_t)(*p - '0');
            if (d->m)
                (*nd)++;
            d->exp10 -= frac;
        } else {
            d->exp10 += !frac;
            d->exact &= *p == '0';
        }
    }
    return p;
}

const char *decimal_scan(const char *p, const char *end, struct decimal *d)
{
    *d = (struct decimal){.exact = 1};
    if (p < end && (*p == '-' || *p == '+'))
        d->neg = *p++ == '-';
    int nd = 0, any = 0;
    p = digits(p, end, d, &nd, 0, &any);
    if (p < end && *p == '.')
        p = digits(p + 1, end, d, &nd, 1, &any);
    if (!any)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, e = 0, edig = 0;
        if (p < end && (*p == '-' || *p == '+'))
            eneg = *p++ == '-';
        for (; p < end && is_digit(*p); p++, edig++)
            if (e < DECIMAL_EXP_CLAMP)
                e = e * 10 + (*p - '0');
        if (!edig)
            return NULL;
        d->exp10 += eneg ? -e : e;
    }
    return p;
}

int decimal_to_float(uint64_t m, int exp10, int neg, float *out)
{
    if (m >= MANTISSA_EXACT_MAX || exp10 < -DECIMAL_POW10_MAX || exp10 > DECIMAL_POW10_MAX)
        return 0;
    /* d = m * 10^e in double is within a few double ulps of the exact value, so rounding d to
     * float is exact unless d sits next to a float midpoint. */
    double d = (double)m * (exp10 < 0 ? NEG_POW10[-exp10] : DECIMAL_POW10[exp10]);
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    uint64_t low = bits & ((1ull << DOUBLE_TO_FLOAT_DROP_BITS) - 1);
    uint64_t mid = 1ull << (DOUBLE_TO_FLOAT_DROP_BITS - 1);
    if (low + MIDPOINT_WINDOW_ULPS >= mid && low <= mid + MIDPOINT_WINDOW_ULPS)
        return 0;
    if (d != 0.0 && (d < FLT_MIN || d > FLT_MAX))
        return 0; /* subnormal or overflow: let strtof decide */
    *out = (float)(neg ? -d : d);
    return 1;
}

/* s[0..len) copied and NUL-terminated into buf (DECIMAL_TOKEN_MAX), or 0 when too long. */
static int token_copy(char *buf, const char *s, size_t len)
{
    if (len >= DECIMAL_TOKEN_MAX)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 1;
}

int decimal_parse_double(const char *s, size_t len, double *out)
{
    struct decimal d;
    const char *e = decimal_scan(s, s + len, &d);
    if (e == s + len && d.exact && d.m < MANTISSA_EXACT_MAX && d.exp10 >= -DECIMAL_POW10_MAX &&
        d.exp10 <= DECIMAL_POW10_MAX) {
        double v = (double)d.m; /* Clinger: one correctly rounded operation */
        v = d.exp10 < 0 ? v / DECIMAL_POW10[-d.exp10] : v * DECIMAL_POW10[d.exp10];
        *out = d.neg ? -v : v;
        return 1;
    }
    /* slow path: long mantissas, big exponents, inf */
    char buf[DECIMAL_TOKEN_MAX];
    if (len == 0 || !token_copy(buf, s, len))
        return 0;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + len || isnan(v))
        return 0;
    *out = v;
    return 1;
}

const char *decimal_parse_float(const char *p, const char *end, float *out)
{
    struct decimal d;
    const char *q = decimal_scan(p, end, &d);
    if (!q || (q < end && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n'))
        return NULL;
    if (d.exact && decimal_to_float(d.m, d.exp10, d.neg, out))
        return q;
    /* slow path: rare (many digits, a large exponent, or next to a rounding boundary) */
    char buf[DECIMAL_TOKEN_MAX];
    if (!token_copy(buf, p, (size_t)(q - p)))
        return NULL;
    *out = strtof(buf, NULL);
    return q;
}
