/* select.c: resolving each tier's table from the type rows (a NULL entry takes the next lower
 * tier's), the CPUID checks, and the one-time choice (LMSERVE_KERNELS=ref|avx2|avx512 forces
 * a tier) logged at start-up. */
#include "kernels_internal.h"

#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TIER_NAMES[KERNELS_TIER_COUNT] = {"ref", "avx2", "avx512"};

static struct kernels_ops tables[KERNELS_TIER_COUNT];
static int have[KERNELS_TIER_COUNT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static const struct kernels_ops *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void cpu_check(void)
{
    have[KERNELS_TIER_REF] = 1;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C); /* clang's builtin lacks "f16c" */
    __builtin_cpu_init();
    have[KERNELS_TIER_AVX2] =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    have[KERNELS_TIER_AVX512] = have[KERNELS_TIER_AVX2] && __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl") &&
                                __builtin_cpu_supports("avx512vnni"); /* quant_avx512.c */
#endif
}

#define PICK(field)                                                                          \
    for (int u = t; u >= 0 && !e->field; u--)                                                \
        e->field = kernels_types[ty].tier[u].field

static void vec_fallback(struct kernels_vec_ops *v, const struct kernels_vec_ops *lower)
{
#define FALL(f) v->f = v->f ? v->f : lower->f
    FALL(rmsnorm), FALL(softmax), FALL(axpy), FALL(round_f16), FALL(to_f16);
    FALL(att_scores), FALL(att_sum), FALL(att_scores_f16), FALL(att_sum_f16);
    FALL(att_sum_q8_0), FALL(att_scores_q8_0), FALL(layernorm), FALL(exp_sum);
    FALL(att_scores_f16_multi), FALL(att_sum_f16_multi);
#undef FALL
}

static void resolve(void)
{
    cpu_check();
    static const struct kernels_vec_ops *const vec[KERNELS_TIER_COUNT] = {
        &kernels_vec_ref, &kernels_vec_avx2, &kernels_vec_avx512};
    for (int t = 0; t < KERNELS_TIER_COUNT; t++) {
        struct kernels_ops *k = &tables[t];
        k->name = TIER_NAMES[t];
        k->tier = (enum kernels_tier)t;
        for (int ty = 0; ty < KERNELS_TYPE_COUNT; ty++) {
            struct kernels_entries *e = &k->type[ty];
            PICK(dot);
            PICK(matvec);
            PICK(gemm);
            PICK(from_float);
            if (!e->from_float)
                e->from_float = kernels_types[ty].from_float;
        }
        k->dot = k->type[KERNELS_F32].dot;
        k->vec = *vec[t];
        if (t > 0) /* an op the tier does not write: the tier below's */
            vec_fallback(&k->vec, &tables[t - 1].vec);
    }
}

const struct kernels_ops *kernels_tier(enum kernels_tier t)
{
    pthread_once(&tables_once, resolve);
    return (unsigned)t < KERNELS_TIER_COUNT && have[t] ? &tables[t] : NULL;
}

static void choose(void)
{
    pthread_once(&tables_once, resolve);
    int best = KERNELS_TIER_REF;
    for (int t = 0; t < KERNELS_TIER_COUNT; t++)
        if (have[t])
            best = t;
    const char *env = getenv("LMSERVE_KERNELS");
    int pick = best;
    const char *why = "the best tier this CPU has";
    if (env && *env) {
        int named = -1;
        for (int t = 0; t < KERNELS_TIER_COUNT; t++)
            if (strcmp(env, TIER_NAMES[t]) == 0)
                named = t;
        if (named >= 0 && have[named]) {
            pick = named;
            why = "forced by LMSERVE_KERNELS";
        } else {
            fprintf(stderr, "lmserve: kernels: LMSERVE_KERNELS=%s is %s; using %s\n", env,
                    named < 0 ? "not ref, avx2 or avx512" : "not supported by this CPU",
                    TIER_NAMES[best]);
        }
    }
    chosen = &tables[pick];
    fprintf(stderr, "lmserve: kernels: %s (%s), %d thread(s)\n", chosen->name, why,
            kernels_threads());
}

const struct kernels_ops *kernels_select(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}
