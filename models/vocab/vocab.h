/* vocab.h: the tokenizers GGUF files describe (llama.cpp's vocabularies): SentencePiece
 * ("llama": scores, <0xNN> byte fallback, dummy-prefix space) and byte-level BPE ("gpt2":
 * merges plus the pre-tokenizer named by tokenizer.ggml.pre), with special tokens. Built
 * from plain arrays so any file reader can pass its metadata through. WordPiece ("bert":
 * lowercase, accents stripped, punctuation split, greedy longest match) too. */
#ifndef LMSERVE_VOCAB_H
#define LMSERVE_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"

#define VOCAB_TOKENS_MAX (1 << 22) /* more tokens than any published vocabulary has */
#define VOCAB_TOKEN_BYTES_MAX (1 << 16) /* longest token text accepted */

struct vocab; /* opaque; read-only once built: shareable between threads */

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type) */
enum vocab_token_type {
    VOCAB_TYPE_UNDEFINED = 0,
    VOCAB_TYPE_NORMAL = 1,
    VOCAB_TYPE_UNKNOWN = 2,
    VOCAB_TYPE_CONTROL = 3,
    VOCAB_TYPE_USER_DEFINED = 4,
    VOCAB_TYPE_UNUSED = 5,
    VOCAB_TYPE_BYTE = 6,
};

struct vocab_str {
    const char *p; /* not NUL-terminated (GGUF strings are not) */
    size_t len;
};

/* Everything a file's metadata says about its tokenizer. Arrays are borrowed for the call
 * only (vocab_new copies). Ids < 0 and flags < 0 mean "absent: use the model's default". */
struct vocab_spec {
    const char *model; /* tokenizer.ggml.model: "llama", "gpt2" or "bert" */
    const char *pre;   /* tokenizer.ggml.pre; NULL or "" = "default" */
    const char *name;  /* general.name (llama.cpp keys a phi-3 rule on it); may be NULL */
    const struct vocab_str *tokens;
    size_t n_tokens;
    const float *scores;     /* [n_tokens] or NULL (all 0) */
    const int32_t *types;    /* [n_tokens] enum vocab_token_type, or NULL (all normal) */
    const struct vocab_str *merges; /* "left right", rank = index; gpt2 only */
    size_t n_merges;
    int64_t bos, eos, unk, pad, eot, sep; /* tokenizer.ggml.*_token_id, -1 when absent */
    int add_bos, add_eos, add_space_prefix; /* tokenizer.ggml.add_*, -1 when absent */
};
void vocab_spec_init(struct vocab_spec *s); /* zero arrays, -1 for every id and flag */

/* Build a tokenizer. On STATUS_OK *out is owned by the caller (vocab_free); otherwise
 * *out is untouched and err names the field (STATUS_BAD_FORMAT for unknown models or
 * pre-tokenizers, out-of-range ids, oversized tokens). */
int vocab_new(const struct vocab_spec *spec, struct vocab **out, struct status_err *err);
void vocab_free(struct vocab *v); /* accepts NULL */

int vocab_n_tokens(const struct vocab *v);
const char *vocab_model_name(const struct vocab *v); /* "llama", "gpt2" or "bert" */
int vocab_sep(const struct vocab *v);                /* WordPiece [SEP], -1 when none */
const char *vocab_pre_name(const struct vocab *v);   /* the pre-tokenizer in use ("default"...) */
int vocab_bos(const struct vocab *v);                /* -1 when none */
int vocab_eos(const struct vocab *v);
int vocab_adds_bos(const struct vocab *v);          /* add_special adds BOS */
int vocab_adds_space_prefix(const struct vocab *v); /* SentencePiece's dummy-prefix space */
int vocab_is_eog(const struct vocab *v, int id); /* EOS, EOT and the end-of-turn tokens llama.cpp knows */
enum vocab_token_type vocab_type_of(const struct vocab *v, int id);

/* Encode text like llama.cpp's llama_tokenize: add_special adds BOS/EOS as the metadata
 * says; parse_special makes control tokens written in the text their ids (user-defined
 * tokens always match). *ids (n entries) is malloc'd and owned by the caller. */
int vocab_encode(const struct vocab *v, const char *text, size_t len, int add_special,
                 int parse_special, int **ids, size_t *n, struct status_err *err);

/* The bytes token 'id' stands for (byte tokens their byte, BPE text byte-decoded, "▁" as
 * space); control and unknown tokens give "" unless 'special'. May end mid-character: run
 * streamed pieces through a UTF-8 streamer. Borrowed, valid while v lives; "" out of range. */
const char *vocab_piece(const struct vocab *v, int id, int special, size_t *len);
size_t vocab_piece_max(const struct vocab *v); /* longest piece in bytes */
/* The token's text as stored in the vocabulary; borrowed, NUL-terminated. */
const char *vocab_text(const struct vocab *v, int id, size_t *len);
/* Decode ids to bytes (pieces joined; the SentencePiece dummy-prefix space dropped at the
 * start of the text). malloc'd, NUL-terminated, owned by the caller; NULL when out of
 * memory. The result may hold invalid UTF-8 when the ids split a character. */
char *vocab_decode(const struct vocab *v, const int *ids, size_t n, int special, size_t *len);

#endif
