/* transformer.c: the model object: a mapped checkpoint plus its tokenizer (llama2.c's, or
 * a GGUF vocabulary from models/vocab), and the thin public wrappers over them. The
 * forward pass is in forward.c. */
#include "transformer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int transformer_open(const char *ckpt, const char *tok, transformer **out,
                     struct status_err *err)
{
    transformer *t = util_calloc(1, sizeof *t);
    if (!t)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    int rc = checkpoint_open(ckpt, &t->ck, err);
    if (rc == STATUS_OK)
        rc = tokenizer_open(tok, t->ck.shape.vocab, &t->tok, err);
    return transformer_opened(t, rc, out);
}

int transformer_opened(transformer *t, int rc, transformer **out)
{
    if (rc != STATUS_OK) {
        transformer_close(t);
        return rc;
    }
    t->head_size = t->ck.shape.dim / t->ck.shape.n_heads;
    t->kv_dim = t->head_size * t->ck.shape.n_kv_heads;
    t->k = kernels_select();
    transformer_interleave(t);
    *out = t;
    return STATUS_OK;
}

void transformer_close(transformer *t)
{
    if (!t)
        return;
    transformer_sched_close(t);
    tokenizer_close(&t->tok);
    vocab_free(t->vocab);
    checkpoint_close(&t->ck);
    free(t);
}

const struct transformer_shape *transformer_shape_of(const transformer *t)
{
    return &t->ck.shape;
}

const char *transformer_format_name(const transformer *t)
{
    if (t->tokenizer_only)
        return "gguf-vocab";
    return checkpoint_format_name(t->ck.shape.version);
}

int transformer_check_generate(const transformer *t, struct status_err *err)
{
    if (t->ck.bert)
        return status_set(err, STATUS_BAD_INPUT, "model",
                          "this model is an encoder (architecture %s): it computes sentence "
                          "embeddings (/v1/embeddings); it cannot generate or score text",
                          t->ck.arch.name);
    if (!t->tokenizer_only)
        return STATUS_OK;
    return status_set(err, STATUS_BAD_INPUT, "model",
                      "this model is a tokenizer only (its GGUF file holds a vocabulary and no "
                      "weights): it can tokenize and detokenize, not generate or score");
}

const char *transformer_tokenizer_name(const transformer *t)
{
    return t->vocab ? vocab_model_name(t->vocab) : "llama2c";
}

int transformer_chat_template(const transformer *t) { return t->chat_template_plus1 - 1; }

void transformer_set_chat_template(transformer *t, int tmpl) { t->chat_template_plus1 = tmpl + 1; }

int transformer_encode(const transformer *t, const char *text, size_t len, int bos, int eos,
                       int **ids, size_t *n, struct status_err *err)
{
    if (!t->vocab)
        return tokenizer_encode(&t->tok, text, len, bos, eos, ids, n, err);
    int rc = vocab_encode(t->vocab, text, len, 0, 0, ids, n, err);
    if (rc != STATUS_OK)
        return rc;
    const int b = vocab_bos(t->vocab), e = vocab_eos(t->vocab);
    bos = bos && b >= 0 && vocab_adds_bos(t->vocab);
    eos = eos && e >= 0;
    if (!bos && !eos)
        return STATUS_OK;
    int *o = realloc(*ids, (*n + 2) * sizeof *o);
    if (!o) {
        free(*ids);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    }
    if (bos) {
        memmove(o + 1, o, *n * sizeof *o);
        o[0] = b;
        (*n)++;
    }
    if (eos)
        o[(*n)++] = e;
    *ids = o;
    return STATUS_OK;
}

int transformer_tokenize(const transformer *t, const char *text, size_t len, int add_special,
                         int parse_special, int **ids, size_t *n, struct status_err *err)
{
    if (!t->vocab) /* llama2.c: run.c always starts from BOS and never adds EOS */
        return tokenizer_encode(&t->tok, text, len, add_special, 0, ids, n, err);
    return vocab_encode(t->vocab, text, len, add_special, parse_special, ids, n, err);
}

/* A GGUF piece: control tokens are silent; after BOS the SentencePiece dummy-prefix space
 * is dropped, as run.c does (so a GGUF of a llama2.c model streams the same text). */
static const char *vocab_piece_after(const struct vocab *v, int prev, int id, int special, size_t *len)
{
    const char *p = vocab_piece(v, id, special, len);
    if (prev >= 0 && prev == vocab_bos(v) && vocab_adds_space_prefix(v) && *len > 0 &&
        p[0] == ' ' && vocab_type_of(v, id) == VOCAB_TYPE_NORMAL) {
        p++;
        (*len)--;
    }
    return p;
}

const char *transformer_piece(const transformer *t, int prev, int id, size_t *len)
{
    if (t->vocab)
        return vocab_piece_after(t->vocab, prev, id, 0, len);
    return tokenizer_piece(&t->tok, prev, id, len);
}

size_t transformer_piece_max(const transformer *t)
{
    return t->vocab ? vocab_piece_max(t->vocab) : (size_t)t->tok.max_token_length;
}

int transformer_is_eog(const transformer *t, int id)
{
    if (t->vocab)
        return vocab_is_eog(t->vocab, id);
    return id == TRANSFORMER_EOS || id == TRANSFORMER_BOS;
}

const char *transformer_vocab(const transformer *t, int id)
{
    size_t len;
    if (t->vocab)
        return vocab_text(t->vocab, id, &len);
    return id >= 0 && id < t->tok.vocab_size ? t->tok.piece.s[id].p : "";
}

char *transformer_token_text(const transformer *t, int prev, int id)
{
    size_t len, raw_len = 0;
    const char *p, *raw;
    int is_byte;
    if (t->vocab) {
        p = vocab_piece_after(t->vocab, prev, id, 1, &len); /* control tokens show their text */
        raw = vocab_text(t->vocab, id, &raw_len);
        is_byte = 1; /* any piece that is not whole UTF-8 shows its vocabulary form */
    } else {
        p = tokenizer_piece(&t->tok, prev, id, &len);
        raw = id >= 0 && id < t->tok.vocab_size ? t->tok.piece.s[id].p : "";
        raw_len = strlen(raw);
        is_byte = id >= 0 && id < t->tok.vocab_size && t->tok.byte_of[id] >= 0;
    }
    const size_t cap = 3 * len + 8 + raw_len;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    struct utf8_stream u = {0};
    size_t w = utf8_stream_push(&u, p, len, out);
    int broken = u.n_pend > 0 || memmem(out, w, "\xEF\xBF\xBD", 3) != NULL;
    if (broken && is_byte)
        w = (size_t)snprintf(out, cap, "%s", raw);
    else
        w += utf8_stream_flush(&u, out + w);
    out[w] = '\0';
    return out;
}

/* GGUF: pieces joined (control tokens as their text, BOS and EOS skipped), the dummy
 * prefix dropped at the start, invalid UTF-8 as U+FFFD. */
static char *decode_vocab(const struct vocab *v, const int *ids, size_t n, size_t *len)
{
    int *keep = malloc((n ? n : 1) * sizeof *keep);
    if (!keep)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != vocab_bos(v) && ids[i] != vocab_eos(v))
            keep[k++] = ids[i];
    size_t bl;
    char *bytes = vocab_decode(v, keep, k, 1, &bl);
    free(keep);
    char *out = bytes ? malloc(3 * bl + 8) : NULL;
    if (out) {
        struct utf8_stream u = {0};
        size_t w = utf8_stream_push(&u, bytes, bl, out);
        w += utf8_stream_flush(&u, out + w);
        out[w] = '\0';
        if (len)
            *len = w;
    }
    free(bytes);
    return out;
}

char *transformer_decode(const transformer *t, const int *ids, size_t n, size_t *len)
{
    if (t->vocab)
        return decode_vocab(t->vocab, ids, n, len);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += t->tok.piece.s[ids[i]].len;
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
