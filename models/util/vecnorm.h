/* vecnorm.h: scaling a float vector to unit L2 length, as the embedding answers do it (the
 * Transformer's pooled sentence vectors, the server's Matryoshka truncation). */
#ifndef LMSERVE_UTIL_VECNORM_H
#define LMSERVE_UTIL_VECNORM_H

#include <stddef.h>

/* v[0..n) *= 1 / |v| (the sum of squares in double); a zero vector stays zero. */
void vec_l2_normalize(float *v, size_t n);

#endif
