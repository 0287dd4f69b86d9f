/* transformer.c: the model object: a mapped checkpoint plus its tokenizer, and the thin
 * public wrappers over them. The forward pass is in forward.c. */
#include "transformer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int transformer_chat_template(const transformer *t) { return t->chat_template_plus1 - 1; }

void transformer_set_chat_template(transformer *t, int tmpl) { t->chat_template_plus1 = tmpl + 1; }

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

char *transformer_token_text(const transformer *t, int prev, int id)
{
    size_t len;
    const char *p = tokenizer_piece(&t->tok, prev, id, &len);
    const size_t cap = 3 * len + 8 + (id >= 0 && id < t->tok.vocab_size ? t->tok.len[id] : 0);
    char *out = malloc(cap);
    if (!out)
        return NULL;
    struct utf8_stream u = {0};
    size_t w = utf8_stream_push(&u, p, len, out);
    int broken = u.n_pend > 0 || memmem(out, w, "\xEF\xBF\xBD", 3) != NULL;
    if (broken && t->tok.byte_of[id] >= 0)
        w = (size_t)snprintf(out, cap, "%s", t->tok.vocab[id]);
    else
        w += utf8_stream_flush(&u, out + w);
    out[w] = '\0';
    return out;
}

char *transformer_decode(const transformer *t, const int *ids, size_t n, size_t *len)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += t->tok.len[ids[i]];
    char *out = malloc(3 * bytes + 8);
    if (!out)
        return NULL;
    struct utf8_stream u = {0};
    size_t w = 0;
    int prev = -1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == TRANSFORMER_BOS || ids[i] == TRANSFORMER_EOS) {
            prev = ids[i];
            continue;
        }
        size_t pl;
        const char *p = tokenizer_piece(&t->tok, prev, ids[i], &pl);
        w += utf8_stream_push(&u, p, pl, out + w);
        prev = ids[i];
    }
    w += utf8_stream_flush(&u, out + w);
    out[w] = '\0';
    if (len)
        *len = w;
    return out;
}
