/* vecnorm.c: see vecnorm.h. */
#include "vecnorm.h"

#include <math.h>

void vec_l2_normalize(float *v, size_t n)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (double)v[i] * v[i];
    const float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (size_t i = 0; i < n; i++)
        v[i] *= inv;
}
