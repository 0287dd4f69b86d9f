/* vocab_gguf.h: a vocab from a GGUF file's metadata (kept apart from vocab.h so the
 * tokenizer itself does not depend on the file format). */
#ifndef LMSERVE_VOCAB_GGUF_H
#define LMSERVE_VOCAB_GGUF_H

#include "../gguf/gguf.h"
#include "vocab.h"

/* 1 when the file names a tokenizer (tokenizer.ggml.model and tokenizer.ggml.tokens). */
int vocab_gguf_present(const gguf *g);

/* Build the tokenizer tokenizer.ggml.* describes (model, pre, tokens, scores, token_type,
 * merges, bos/eos/unknown/padding/eot ids, add_bos/add_eos/add_space_prefix; general.name).
 * The vocab copies what it keeps: g may be closed afterwards. On STATUS_OK *out is owned
 * by the caller (vocab_free); otherwise err names the key (STATUS_BAD_FORMAT). */
int vocab_from_gguf(const gguf *g, struct vocab **out, struct status_err *err);

#endif
