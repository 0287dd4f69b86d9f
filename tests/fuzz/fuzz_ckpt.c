/* fuzz_ckpt.c: libFuzzer target for the llama2.c checkpoint reader (legacy, ak42 v1 and v2;
 * models/transformer/checkpoint.c): every header and tensor bound is checked before a
 * pointer is formed, so a checkpoint that opens has all its tensors inside the file. */
#include "../../models/transformer/transformer_internal.h"
#include "fuzz_file.h"

/* The last byte of a tensor's data and its last group scale (whatever the weight type). */
static float last_of(const struct tensor *t)
{
    const unsigned char *d = t->m.data;
    float v = d[t->rows * t->m.row_bytes - 1];
    if (t->m.scales)
        v += t->m.scales[t->rows * t->cols / t->m.gs - 1];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct checkpoint ck;
    struct status_err err;
    status_clear(&err);
    if (checkpoint_open(fuzz_file(data, size), &ck, &err) != STATUS_OK)
        return 0;
    /* touch the last element of every tensor: ASan cannot see the map, a SEGV can */
    const struct transformer_shape *s = &ck.shape;
    volatile float sink = ck.rms_final[s->dim - 1];
    for (int l = 0; l < s->n_layers; l++)
        sink += ck.rms_att[l][s->dim - 1] + ck.rms_ffn[l][s->dim - 1] + last_of(&ck.wq[l]) +
                last_of(&ck.wk[l]) + last_of(&ck.wv[l]) + last_of(&ck.wo[l]) + last_of(&ck.w1[l]) +
                last_of(&ck.w2[l]) + last_of(&ck.w3[l]);
    sink += last_of(&ck.tok_emb) + last_of(&ck.wcls);
    (void)sink;
    checkpoint_close(&ck);
    return 0;
}
