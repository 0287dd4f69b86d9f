/* select.c: choosing the kernel table once at start-up (CPU check, LMSERVE_KERNELS=ref
 * forces the reference path) and logging the choice. */
#include "kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct kernels_ops *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

int kernels_have_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static void choose(void)
{
    const char *env = getenv("LMSERVE_KERNELS");
    const char *why;
    if (env && strcmp(env, "ref") == 0) {
        chosen = &kernels_ref;
        why = "forced by LMSERVE_KERNELS=ref";
    } else if (kernels_have_avx2()) {
        chosen = &kernels_avx2;
        why = "cpu has avx2+fma";
    } else {
        chosen = &kernels_ref;
        why = "cpu lacks avx2/fma";
    }
    fprintf(stderr, "lmserve: kernels: %s (%s), %d thread(s)\n", chosen->name, why,
            kernels_threads());
}

const struct kernels_ops *kernels_select(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}
