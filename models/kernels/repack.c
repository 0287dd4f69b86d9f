/* repack.c: weight matrices interleaved by 8 rows (kernels_mat.interleave, the layout in
 * kernels.h and quant_internal.h): the copy made at load, and the ref tier's reading of it
 * one row at a time. The AVX2 tiles that the layout is for are in quant_avx2.c. */
#include "quant_internal.h"

#include <string.h>

#define ROWS KERNELS_INTERLEAVE
#define TURN 4 /* bytes of one row per turn: one 32-bit lane */

int kernels_can_interleave(const struct kernels_mat *w, size_t rows)
{
    return (w->type == KERNELS_Q4_0 || w->type == KERNELS_Q5_0 || w->type == KERNELS_Q8_0) &&
           w->interleave == 0 &&
           rows > 0 && rows % ROWS == 0 && w->cols % QK8_0 == 0 &&
           w->row_bytes == w->cols / QK8_0 * kernels_types[w->type].block_bytes;
}

/* every format: a 2-byte scale, then the quants (Q5_0: qh and qs) in whole turns */
void kernels_interleave(const struct kernels_mat *w, size_t rows, void *dst)
{
    const size_t bb = kernels_types[w->type].block_bytes, qb = bb - 2;
    const size_t nb = w->cols / QK8_0;
    const char *src = w->data;
    char *out = dst;
    for (size_t g = 0; g < rows / ROWS; g++)
        for (size_t i = 0; i < nb; i++) {
            char *o = out + (g * ROWS * nb + i * ROWS) * bb;
            for (size_t r = 0; r < ROWS; r++) {
                const char *b = src + (g * ROWS + r) * w->row_bytes + i * bb;
                memcpy(o + 2 * r, b, 2);
                for (size_t c = 0; c < qb / TURN; c++)
                    memcpy(o + 2 * ROWS + (c * ROWS + r) * TURN, b + 2 + c * TURN, TURN);
            }
        }
}

void quant_block_of(const struct kernels_mat *w, size_t row, size_t i, void *blk)
{
    const size_t bb = kernels_types[w->type].block_bytes, qb = bb - 2;
    const size_t nb = w->cols / QK8_0, r = row % ROWS;
    const char *o = (const char *)w->data + ((row - r) * nb + i * ROWS) * bb;
    char *b = blk;
    memcpy(b, o + 2 * r, 2);
    for (size_t c = 0; c < qb / TURN; c++)
        memcpy(b + 2 + c * TURN, o + 2 * ROWS + (c * ROWS + r) * TURN, TURN);
}

float quant_dot_interleaved(const struct kernels_mat *w, size_t row, const void *x)
{
    const struct kernels_type_traits *tr = &kernels_types[w->type];
    const size_t yb = kernels_types[tr->vec_dot_type].block_bytes;
    const kernels_dot_fn dot = tr->tier[KERNELS_TIER_REF].dot;
    char blk[sizeof(struct block_q8_0)];
    float s = 0.0f;
    /* the ref dot is 0 + each block's term in order: the same sums, one block per call */
    for (size_t i = 0; i < w->cols / tr->block_size; i++) {
        quant_block_of(w, row, i, blk);
        s += dot(blk, (const char *)x + i * yb, tr->block_size);
    }
    return s;
}

void quant_matvec_interleaved(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                              const void *x)
{
    for (size_t i = r0; i < r1; i++)
        out[i - r0] = quant_dot_interleaved(w, i, x);
}

void quant_gemm_interleaved(float *out, size_t out_row, size_t out_tok,
                            const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                            size_t x_stride, size_t n_tok)
{
    for (size_t i = r0; i < r1; i++)
        for (size_t t = 0; t < n_tok; t++)
            out[(i - r0) * out_row + t * out_tok] =
                quant_dot_interleaved(w, i, (const char *)x + t * x_stride);
}
