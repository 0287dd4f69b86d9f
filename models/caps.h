/* caps.h: the capabilities a model type offers the server besides language-model scoring
 * (lm.h): embeddings, a tokenizer, text generation. A type fills the tables it serves in its
 * model_ops (registry.h) and leaves the others NULL; a handler asks for a capability
 * (api_model_or_reply(..., MODEL_CAP_...)) and calls through the table, never naming a type.
 * 'impl' is always model_impl() of a model the caller holds a reference to.
 * The value types of the word-vector calls (embed_hit, embed_span, embed_method) and of
 * generation (transformer_gen_*) are part of this contract. */
#ifndef LMSERVE_CAPS_H
#define LMSERVE_CAPS_H

#include <stddef.h>

#include "embed/embed.h"
#include "transformer/transformer.h"
#include "util/status.h"

enum model_cap {
    MODEL_CAP_LM,         /* model_ops.lm: /v1/score, /v1/next */
    MODEL_CAP_EMBEDDING,  /* model_ops.embedding: /v1/embeddings, /v1/neighbors, /v1/similarity */
    MODEL_CAP_TOKENIZER,  /* model_ops.tokenizer: /v1/tokenize, /v1/detokenize */
    MODEL_CAP_GENERATION, /* model_ops.generation (+ tokenizer): /v1/completions, chat */
    MODEL_CAP_RERANK,     /* model_ops.rerank: /v1/rerank */
};

struct embedding_ops {
    /* Optional: STATUS_OK when this instance computes embeddings, else the 400 saying why
     * (a Transformer decoder has no pooling). NULL: always. */
    int (*check)(const void *impl, struct status_err *err);
    size_t (*dim)(const void *impl);
    /* Optional: n texts in one pass (a Transformer encoder): out[i * dim()], L2-normalised
     * when 'normalize'; *n_tokens: the tokens of all; on error *bad is the input it is about
     * (or n when none). NULL: text() one by one. */
    int (*texts)(const void *impl, const char *const *text, const size_t *len, size_t n,
                 int normalize, float *out, size_t *n_tokens, size_t *bad,
                 const volatile int *cancelled, struct status_err *err);
    /* The text's vector (embed_text's contract: mean of known words, *oov malloc'd). */
    int (*text)(const void *impl, const char *text, size_t len, int normalize, float *out,
                size_t *n_tokens, struct embed_span **oov, size_t *n_oov,
                struct status_err *err);
    /* Word vectors: NULL in a type without a vocabulary of vectors. */
    long (*lookup)(const void *impl, const char *word, size_t len); /* row or -1 */
    const char *(*word)(const void *impl, size_t row);             /* borrowed */
    void (*vector)(const void *impl, size_t row, float *out);
    int (*knn)(const void *impl, const float *q, size_t top_k, const uint32_t *exclude,
               size_t n_exclude, struct embed_hit *out, size_t *n_out, struct status_err *err);
    int (*most_similar)(const void *impl, const uint32_t *pos, size_t n_pos,
                        const uint32_t *neg, size_t n_neg, enum embed_method m, size_t top_k,
                        int exclude_inputs, struct embed_hit *out, size_t *n_out,
                        struct status_err *err);
};

struct tokenizer_ops {
    int (*vocab_size)(const void *impl);
    /* *ids (malloc'd, *n entries) is the caller's. */
    int (*encode)(const void *impl, const char *text, size_t len, int bos, int eos, int **ids,
                  size_t *n, struct status_err *err);
    /* malloc'd text of ids (the caller frees), *len bytes; NULL when out of memory. */
    char *(*decode)(const void *impl, const int *ids, size_t n, size_t *len);
    /* Borrowed bytes of token id after prev (leading-space rule applied), *len bytes. */
    const char *(*piece)(const void *impl, int prev, int id, size_t *len);
    /* malloc'd display text of token id after prev. */
    char *(*token_text)(const void *impl, int prev, int id);
    /* llama.cpp's flags (/v1/tokenize): add_special = BOS/EOS as the model's metadata says,
     * parse_special = control tokens written in the text become their ids. Optional: NULL
     * means encode(add_special, 0) with parse_special ignored. */
    int (*tokenize)(const void *impl, const char *text, size_t len, int add_special,
                    int parse_special, int **ids, size_t *n, struct status_err *err);
};

struct generation_ops {
    /* Optional: STATUS_OK when this instance can generate, else the 400 saying why (a
     * tokenizer-only Transformer has no weights). NULL: always. */
    int (*check)(const void *impl, struct status_err *err);
    size_t (*ctx_len)(const void *impl); /* tokens of context (prompt + completion) */
    int (*chat_template)(const void *impl);
    int (*generate)(const void *impl, const int *ids, size_t n,
                    const struct transformer_gen_params *p, transformer_gen_cb cb, void *ud,
                    const volatile int *cancelled, struct transformer_gen_result *res,
                    struct status_err *err);
};

/* Cross-encoders (a BERT with a classification head): query + documents -> relevance. */
struct rerank_ops {
    /* Optional: STATUS_OK when this instance reranks, else the 400 saying why. */
    int (*check)(const void *impl, struct status_err *err);
    /* scores[i]: the raw relevance score of (query, doc[i]), all pairs in one pass;
     * *n_tokens: the tokens of all pairs; on error *bad is the document it is about (n: the
     * query or none). */
    int (*rank)(const void *impl, const char *query, size_t query_len, const char *const *doc,
                const size_t *doc_len, size_t n, float *scores, size_t *n_tokens, size_t *bad,
                const volatile int *cancelled, struct status_err *err);
};

#endif
