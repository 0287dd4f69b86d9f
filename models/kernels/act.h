/* act.h: the activation functions of the feed-forward layers, one row per function, each
 * with a scalar reference (the definition) and an AVX2 version tested against it
 * (tests/unit/models/kernels/test_act.c), chosen by the same tier as the kernel table. Plus
 * LayerNorm with bias as ggml computes it. Knows nothing of models.
 *
 * A row computes y[i] = f(x[i]), or, gated (GLU, 'up' not NULL), y[i] = f(x[i]) * up[i]:
 *   ReLU, GELU exact (erf), GELU tanh approximation, GELU as ggml's CPU backend computes it
 *   (the tanh form looked up in an fp16 table: what llama.cpp runs for GPT-2), SiLU,
 *   softplus (Mamba's time step).
 *   SwiGLU = SiLU gated, GeGLU = GELU gated.
 * y may alias x (not up). Adding a function: a value in enum kernels_act, its scalar and
 * (optionally) AVX2 loop in act.c, its row in the table there, a case in test_act.c. */
#ifndef LMSERVE_KERNELS_ACT_H
#define LMSERVE_KERNELS_ACT_H

#include <stddef.h>

#include "kernels.h"

enum kernels_act {
    KERNELS_ACT_RELU,
    KERNELS_ACT_GELU,      /* 0.5 x (1 + erf(x / sqrt 2)) */
    KERNELS_ACT_GELU_TANH, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    KERNELS_ACT_GELU_GGML, /* ggml: x <= -10: 0, x >= 10: x, else GELU_TANH of x rounded to
                              fp16, the result rounded to fp16 */
    KERNELS_ACT_SILU,      /* x / (1 + exp(-x)) */
    KERNELS_ACT_SOFTPLUS,  /* x <= 20: log(1 + exp(x)), else x (ggml's SSM scan: Mamba's dt) */
    KERNELS_ACT_COUNT
};

/* y = f(x) (up NULL) or f(x) * up, over n values. */
typedef void (*kernels_act_fn)(float *y, const float *x, const float *up, size_t n);

struct kernels_act_row {
    const char *name; /* "relu", "gelu", "gelu_tanh", "gelu_ggml", "silu", "softplus" */
    kernels_act_fn tier[KERNELS_TIER_COUNT]; /* NULL: the next lower tier */
};
extern const struct kernels_act_row kernels_acts[KERNELS_ACT_COUNT];

/* The function of row 'a' at tier t (falling back to lower tiers); never NULL. */
kernels_act_fn kernels_act_get(enum kernels_act a, enum kernels_tier t);
/* The row named 'name', or -1. */
int kernels_act_by_name(const char *name);

/* LayerNorm as ggml's CPU backend computes it: the mean and the variance summed in double,
 * y = ((x - mean) / sqrt(var + eps)) * w + b (b may be NULL). out may alias x. */
void kernels_layernorm(float *out, const float *x, const float *w, const float *b, size_t n,
                       float eps);
/* (the tiers: the kernel table's layernorm entry, kernels.h) */

/* A softmax's exponentials as ggml's CPU backend computes them: y[i] = exp(x[i] - max),
 * returning their sum in double (the caller scales by 1 / sum). y may alias x. */
double kernels_exp_sum(float *y, const float *x, float max, size_t n);
/* (the tiers: the kernel table's exp_sum entry, kernels.h) */

#endif
