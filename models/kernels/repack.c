/* repack.c: weight matrices interleaved by 8 rows (kernels_mat.interleave, the layout in
 * kernels.h and quant_internal.h): the copy made at load, and the ref tier's reading of it
 * one row at a time. The AVX2 tiles that the layout is for are in quant_avx2.c. */
#include "quant_internal.h"

#include <string.h>

#define ROWS KERNELS_INTERLEAVE
#define TURN 4 /* bytes of one row per turn: one 32-bit lane */

int kernels_can_interleave(const struct kernels_mat *w, size_t rows)
{
    const enum kernels_type t = w->type;
    const size_t bs = kernels_types[t].block_size;
    return (t == KERNELS_Q4_0 || t == KERNELS_Q5_0 || t == KERNELS_Q8_0 || t == KERNELS_Q4_K) &&
           w->interleave == 0 && rows > 0 && rows % ROWS == 0 && w->cols % bs == 0 &&
           w->row_bytes == w->cols / bs * kernels_types[t].block_bytes;
}

size_t kernels_interleaved_row_bytes(const struct kernels_mat *w)
{
    if (w->type == KERNELS_Q4_K)
        return w->cols / QK_K * (sizeof(struct block_q4_Kx8) / ROWS);
    return w->row_bytes;
}

/* Q4_K: d, dmin, the unpacked scales and mins (quant_scale_min_k4), the quants in turns */
static void interleave_q4_K(struct block_q4_Kx8 *o, const char *const *rows)
{
    for (size_t r = 0; r < ROWS; r++) {
        const struct block_q4_K *b = (const void *)rows[r];
        o->d[r] = b->d;
        o->dmin[r] = b->dmin;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            quant_scale_min_k4(j, b->scales, &sc, &m);
            o->sc[j][r] = sc;
            o->m[j / 2][r][j % 2] = m;
        }
        for (size_t c = 0; c < QK_K / 2 / TURN; c++)
            memcpy(o->qs + (c * ROWS + r) * TURN, b->qs + c * TURN, TURN);
    }
}

static void block_of_q4_K(const struct block_q4_Kx8 *o, size_t r, struct block_q4_K *b)
{
    b->d = o->d[r];
    b->dmin = o->dmin[r];
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = o->sc[j][r];
        m[j] = o->m[j / 2][r][j % 2];
    }
    for (int j = 0; j < 4; j++) { /* quant_scale_min_k4's packing, inverted */
        b->scales[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        b->scales[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        b->scales[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4);
    }
    for (size_t c = 0; c < QK_K / 2 / TURN; c++)
        memcpy(b->qs + c * TURN, o->qs + (c * ROWS + r) * TURN, TURN);
}

/* Q4_0 / Q5_0 / Q8_0: a 2-byte scale, then the quants (Q5_0: qh and qs) in whole turns */
void kernels_interleave(const struct kernels_mat *w, size_t rows, void *dst)
{
    const size_t bb = kernels_types[w->type].block_bytes, qb = bb - 2;
    const size_t nb = w->cols / kernels_types[w->type].block_size;
    const size_t ob = kernels_interleaved_row_bytes(w) / nb * ROWS; /* bytes per 8 blocks */
    const char *src = w->data;
    char *out = dst;
    for (size_t g = 0; g < rows / ROWS; g++)
        for (size_t i = 0; i < nb; i++) {
            char *o = out + (g * nb + i) * ob;
            const char *b[ROWS];
            for (size_t r = 0; r < ROWS; r++)
                b[r] = src + (g * ROWS + r) * w->row_bytes + i * bb;
            if (w->type == KERNELS_Q4_K) {
                interleave_q4_K((void *)o, b);
                continue;
            }
            for (size_t r = 0; r < ROWS; r++) {
                memcpy(o + 2 * r, b[r], 2);
                for (size_t c = 0; c < qb / TURN; c++)
                    memcpy(o + 2 * ROWS + (c * ROWS + r) * TURN, b[r] + 2 + c * TURN, TURN);
            }
        }
}

void quant_block_of(const struct kernels_mat *w, size_t row, size_t i, void *blk)
{
    const size_t bb = kernels_types[w->type].block_bytes, qb = bb - 2;
    const size_t nb = w->cols / kernels_types[w->type].block_size, r = row % ROWS;
    const char *o = (const char *)w->data + (row - r) * w->row_bytes + i * (w->row_bytes / nb * ROWS);
    if (w->type == KERNELS_Q4_K) {
        block_of_q4_K((const void *)o, r, blk);
        return;
    }
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
    char blk[QUANT_BLOCK_MAX];
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
