/* transformer.c: the model object: a mapped checkpoint plus its tokenizer, and the thin
 * public wrappers over them. The forward pass is in forward.c. */
#include "transformer_internal.h"

#include <stdlib.h>

int transformer_open(const char *ckpt, const char *tok, transformer **out,
                     struct status_err *err)
{
    transformer *t = calloc(1, sizeof *t);
    if (!t)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    int rc = checkpoint_open(ckpt, &t->ck, err);
    if (rc == STATUS_OK)
        rc = tokenizer_open(tok, t->ck.shape.vocab, &t->tok, err);
    if (rc != STATUS_OK) {
        transformer_close(t);
        return rc;
    }
    t->head_size = t->ck.shape.dim / t->ck.shape.n_heads;
    t->kv_dim = t->head_size * t->ck.shape.n_kv_heads;
    t->k = kernels_select();
    *out = t;
    return STATUS_OK;
}

void transformer_close(transformer *t)
{
    if (!t)
        return;
    tokenizer_close(&t->tok);
    checkpoint_close(&t->ck);
    free(t);
}

const struct transformer_shape *transformer_shape_of(const transformer *t)
{
    return &t->ck.shape;
}

const char *transformer_format_name(const transformer *t)
{
    return checkpoint_format_name(t->ck.shape.version);
}

int transformer_encode(const transformer *t, const char *text, size_t len, int bos, int eos,
                       int **ids, size_t *n, struct status_err *err)
{
    return tokenizer_encode(&t->tok, text, len, bos, eos, ids, n, err);
}

const char *transformer_piece(const transformer *t, int prev, int id, size_t *len)
{
    return tokenizer_piece(&t->tok, prev, id, len);
}

const char *transformer_vocab(const transformer *t, int id)
{
    return id >= 0 && id < t->tok.vocab_size ? t->tok.vocab[id] : "";
}
