/* interleave.c: weight repacking at load. The Q4_0 / Q5_0 / Q8_0 / Q4_K matrices of the layers (and a
 * classifier not shared with the embedding, whose rows are looked up one at a time) are
 * copied into the kernels' 8-row interleaved layout (kernels.h, kernels_interleave), which
 * the AVX2 GEMM and matvec read as one contiguous stream with one row per lane. The copy
 * would cost the matrices' bytes once more in memory, so the file's pages of each matrix are
 * given back once it is copied (gguf_release: the weights are read into private memory at
 * open, and nothing reads the file's layout afterwards); Q4_K takes 2.8% more: its scales
 * unpacked. */
#include "transformer_internal.h"
#include "../gguf/gguf.h"
#include "../util/alloc.h"

#include <stdlib.h>
#include <string.h>

#define INTERLEAVE_ALIGN 64

/* each matrix of the model that would be interleaved, in a fixed order */
static size_t each_matrix(transformer *t, struct tensor **out, size_t max)
{
    struct checkpoint *ck = &t->ck;
    size_t n = 0;
    struct tensor *const *per_layer[] = {&ck->wq, &ck->wk, &ck->wv, &ck->wo,
                                         &ck->w1, &ck->w2, &ck->w3};
    for (size_t k = 0; k < sizeof per_layer / sizeof per_layer[0]; k++) {
        if (!*per_layer[k])
            continue;
        for (int l = 0; l < ck->shape.n_layers; l++) {
            struct tensor *m = &(*per_layer[k])[l];
            if (m->m.data && kernels_can_interleave(&m->m, m->rows) && n < max)
                out[n++] = m;
        }
    }
    if (ck->wcls.m.data && ck->wcls.m.data != ck->tok_emb.m.data &&
        kernels_can_interleave(&ck->wcls.m, ck->wcls.rows) && n < max)
        out[n++] = &ck->wcls;
    return n;
}

void transformer_interleave(transformer *t)
{
    const char *env = getenv("LMSERVE_INTERLEAVE");
    if (t->k->tier == KERNELS_TIER_REF || (env && strcmp(env, "0") == 0) || t->ck.recurrent)
        return;
    const size_t max = 7 * (size_t)t->ck.shape.n_layers + 1;
    struct tensor **m = malloc(max * sizeof *m);
    if (!m)
        return;
    const size_t n = each_matrix(t, m, max);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += (m[i]->rows * kernels_interleaved_row_bytes(&m[i]->m) + INTERLEAVE_ALIGN - 1) /
                 INTERLEAVE_ALIGN * INTERLEAVE_ALIGN;
    char *buf = NULL;
    if (n > 0 && (buf = util_aligned_alloc(INTERLEAVE_ALIGN, bytes)) != NULL) {
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            const size_t rb = kernels_interleaved_row_bytes(&m[i]->m);
            const void *file_rows = m[i]->m.data;
            kernels_interleave(&m[i]->m, m[i]->rows, buf + off);
            gguf_release(t->ck.g, file_rows, m[i]->rows * m[i]->m.row_bytes);
            m[i]->m.data = buf + off;
            m[i]->m.row_bytes = rb;
            m[i]->m.interleave = KERNELS_INTERLEAVE;
            off += (m[i]->rows * rb + INTERLEAVE_ALIGN - 1) / INTERLEAVE_ALIGN * INTERLEAVE_ALIGN;
        }
        t->ck.interleaved = buf;
        t->ck.interleaved_bytes = bytes;
    }
    free(m);
}
