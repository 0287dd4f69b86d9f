/* tokenizer_only.c: a GGUF file with a vocabulary and no tensors (llama.cpp's
 * ggml-vocab-*.gguf) as a Transformer that only tokenizes. Its general.architecture does
 * not matter: there are no weights to run. */
#include "../gguf/gguf.h"
#include "../vocab/vocab_gguf.h"
#include "transformer_internal.h"

#include <stdlib.h>

int transformer_open_tokenizer_only(const char *path, transformer **out, struct status_err *err)
{
    gguf *g = NULL;
    int rc = gguf_open(path, &g, err);
    if (rc != STATUS_OK)
        return rc;
    transformer *t = NULL;
    if (gguf_n_tensors(g) > 0) {
        rc = status_set(err, STATUS_BAD_FORMAT, "path",
                        "%s: has %zu tensors: not a vocabulary-only file", path, gguf_n_tensors(g));
        goto fail;
    }
    if (!vocab_gguf_present(g)) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.tokens",
                        "%s: holds neither tensors nor a vocabulary (tokenizer.ggml.model and "
                        "tokenizer.ggml.tokens)",
                        path);
        goto fail;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto fail;
    }
    rc = vocab_from_gguf(g, &t->vocab, err);
    if (rc != STATUS_OK)
        goto fail;
    t->tokenizer_only = 1;
    t->ck.shape.vocab = vocab_n_tokens(t->vocab);
    t->ck.shape.bytes = gguf_file_size(g);
    gguf_close(g); /* the vocab keeps its own copies */
    *out = t;
    return STATUS_OK;
fail:
    transformer_close(t);
    gguf_close(g);
    return rc;
}
