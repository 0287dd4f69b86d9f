/* decimal.h: exact decimal number parsing for the text model formats (ARPA n-grams, .vec /
 * GloVe word vectors): one scanner, a double that is exactly what strtod gives, and a float
 * that is exactly what strtof gives, with the common short numbers on a fast path (Clinger's:
 * a mantissa under 2^53 and a power of ten a double holds exactly) and strtod/strtof for the
 * rest. */
#ifndef LMSERVE_UTIL_DECIMAL_H
#define LMSERVE_UTIL_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#define DECIMAL_DIGITS_MAX 19   /* significant digits a uint64 mantissa holds */
#define DECIMAL_POW10_MAX 22    /* 10^22 is the largest power of ten a double holds exactly */
#define DECIMAL_TOKEN_MAX 512   /* longest number handed to strtod/strtof on the slow path */

extern const double DECIMAL_POW10[DECIMAL_POW10_MAX + 1];

/* [sign] digits [. digits] [(e|E) [sign] digits] at p (not past end), as m * 10^exp10.
 * 'exact' is 0 when nonzero digits past DECIMAL_DIGITS_MAX were dropped. Returns the end
 * of the number, or NULL when there is no digit or the exponent has none. */
struct decimal {
    uint64_t m;
    int exp10, neg, exact;
};
const char *decimal_scan(const char *p, const char *end, struct decimal *d);

/* m * 10^exp10 as the correctly rounded float, or 0 when this quick route cannot promise it
 * (the caller then uses strtof). */
int decimal_to_float(uint64_t m, int exp10, int neg, float *out);

/* The whole of s[0..len) as strtod reads it (also "inf"; never NaN). 0 when it is not. */
int decimal_parse_double(const char *s, size_t len, double *out);

/* One number at p ending at a blank, CR, LF or 'end', as strtof reads it. Returns the end of
 * the number, or NULL when it is not one (inf and nan included). */
const char *decimal_parse_float(const char *p, const char *end, float *out);

#endif
