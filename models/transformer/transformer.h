/* transformer.h: small Llama-architecture models (llama2.c checkpoints): load, tokenize,
 * run the forward pass, sample and generate. Opaque types; the model type table for the
 * registry is transformer_model_ops (model.c). Knows nothing of HTTP. */
#ifndef LMSERVE_TRANSFORMER_H
#define LMSERVE_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"

#define TRANSFORMER_STOP_MAX 4        /* stop strings per request (OpenAI's bound) */
#define TRANSFORMER_STOP_BYTES_MAX 256 /* bytes per stop string */
#define TRANSFORMER_LOGPROBS_MAX 20   /* top-N alternatives per token */

typedef struct transformer transformer;         /* weights + tokenizer, read-only, shared */
typedef struct transformer_seq transformer_seq; /* one sequence: KV cache + buffers */

struct transformer_shape {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab, seq_len;
    int shared_classifier;
    int version;      /* 0 = legacy, 1 = ak42 float32, 2 = ak42 Q8_0 */
    int group_size;   /* Q8_0 group size, 0 for float32 */
    size_t n_params;  /* weights, the classifier counted once when shared */
    size_t bytes;     /* mapped file size */
};

/* Open checkpoint 'ckpt' and tokenizer 'tok' (llama2.c formats). On STATUS_OK *out is owned
 * by the caller (transformer_close); on error *out is untouched and err says why. */
int transformer_open(const char *ckpt, const char *tok, transformer **out,
                     struct status_err *err);
/* Open a GGUF file's weights (architectures llama, qwen2), computing as llama.cpp does.
 * Same ownership contract as transformer_open. */
int transformer_open_gguf(const char *path, transformer **out, struct status_err *err);
/* Open a GGUF file that holds a vocabulary and no tensors as a tokenizer-only model
 * (tokenize / detokenize work; transformer_generate and scoring answer STATUS_BAD_INPUT).
 * Same ownership contract as transformer_open. */
int transformer_open_tokenizer_only(const char *path, transformer **out, struct status_err *err);
void transformer_close(transformer *t); /* accepts NULL */
/* STATUS_OK when t has weights; else STATUS_BAD_INPUT (param "model") saying why. */
int transformer_check_generate(const transformer *t, struct status_err *err);
const struct transformer_shape *transformer_shape_of(const transformer *t);
const char *transformer_format_name(const transformer *t); /* "llama2c-legacy", ... */

/* ---- chat ---- */
/* The chat template family (models/chat/chat.h) chat requests are rendered with, or
 * CHAT_TEMPLATE_NONE (-1). Set once at load (model.c), before the model is shared. */
int transformer_chat_template(const transformer *t);
void transformer_set_chat_template(transformer *t, int tmpl);
/* The KV cache's element type for sequences made from now on: "f32" (default), "f16"
 * (half the memory; GGUF models only, whose keys and values are fp16-rounded anyway, so the
 * output is unchanged) or "q8_0" (ggml's Q8_0 blocks, 34 bytes per 32 values as llama.cpp's
 * -ctk/-ctv q8_0; GGUF models whose head size is a multiple of 32; logits change slightly).
 * Anything else: STATUS_BAD_INPUT. */
int transformer_set_kv_type(transformer *t, const char *type, struct status_err *err);
/* The server's --kv-type: the type the "transformer" loader (model.c) gives GGUF models
 * without a kv_type option (NULL: f16). A model it does not fit (q8_0 on a head size that is
 * not a multiple of 32) keeps f16, with a line on stderr. Set before models load. */
void transformer_kv_type_default(const char *type);

/* ---- tokenizer ---- */
#define TRANSFORMER_BOS 1
#define TRANSFORMER_EOS 2
/* Encode like llama2.c's run.c (GGUF vocabularies: like llama.cpp, BOS when 'bos' and the
 * model adds one, EOS when 'eos'; control tokens in the text stay text). *ids (n entries)
 * is malloc'd and owned by the caller. */
int transformer_encode(const transformer *t, const char *text, size_t len, int bos, int eos,
                       int **ids, size_t *n, struct status_err *err);
/* Encode with llama.cpp's flags: add_special adds BOS/EOS as the model's metadata says
 * (llama2.c: BOS), parse_special turns control tokens written in the text into their ids
 * (GGUF vocabularies only). Ownership as transformer_encode. */
int transformer_tokenize(const transformer *t, const char *text, size_t len, int add_special,
                         int parse_special, int **ids, size_t *n, struct status_err *err);
/* The tokenizer's kind: "llama2c", or a GGUF tokenizer.ggml.model ("llama", "gpt2"). */
const char *transformer_tokenizer_name(const transformer *t);
/* Bytes of token 'id' after 'prev' (byte tokens become their byte; the leading space after
 * BOS is dropped as run.c does). Borrowed, valid while t is open; *len set. */
const char *transformer_piece(const transformer *t, int prev, int id, size_t *len);
/* Display text of 'id' after 'prev': its bytes when they are valid UTF-8 on their own, else
 * its vocabulary form ("<0xE2>"). malloc'd, owned by the caller; NULL when out of memory. */
char *transformer_token_text(const transformer *t, int prev, int id);
/* Decode ids to text (BOS/EOS skipped, byte tokens joined, invalid UTF-8 -> U+FFFD).
 * malloc'd and NUL-terminated, owned by the caller; NULL when out of memory. Ids must
 * already be in range. */
char *transformer_decode(const transformer *t, const int *ids, size_t n, size_t *len);
/* The raw vocabulary string of 'id' (as stored), NUL-terminated; borrowed. */
const char *transformer_vocab(const transformer *t, int id);

/* ---- sequences and the forward pass ---- */
/* A sequence able to hold 'capacity' positions (clamped to seq_len). Owned by the caller
 * (transformer_seq_free). NULL when memory runs out. */
transformer_seq *transformer_seq_new(const transformer *t, size_t capacity);
void transformer_seq_free(transformer_seq *s); /* accepts NULL */
size_t transformer_seq_pos(const transformer_seq *s);
/* Heap bytes the sequence holds now (KV cache and buffers; for Mamba the fixed-size conv +
 * SSM state and buffers, the same at any length). */
size_t transformer_seq_bytes(const transformer_seq *s);
/* Feed n tokens (processed as one batch). If 'all_logits' is non-NULL it receives n*vocab
 * logits (position by position); the logits after the last token are always available via
 * transformer_logits(). STATUS_BAD_INPUT when the sequence would pass its capacity or an id
 * is out of range; STATUS_CANCELLED if *cancelled becomes non-zero between layers. */
int transformer_forward(transformer_seq *s, const int *ids, size_t n, float *all_logits,
                        const volatile int *cancelled, struct status_err *err);
const float *transformer_logits(const transformer_seq *s); /* vocab floats, borrowed */

/* ---- several sequences in one forward step (continuous batching) ---- */
/* Step buffers shared by the sequences of a batch: one per stepping thread. NULL when memory
 * runs out. */
typedef struct transformer_batch transformer_batch;
transformer_batch *transformer_batch_new(const transformer *t);
void transformer_batch_free(transformer_batch *b); /* accepts NULL */
/* One forward step over n_seq distinct sequences of the same model: ids[k][0..n[k]) are fed to
 * seqs[k] at its next positions (decode tokens and prompt chunks mixed; n[k] may be 0). The
 * weights are read once for all rows; each row attends over its own sequence's KV cache.
 * Afterwards transformer_logits(seqs[k]) holds the logits after its last token and its
 * position has advanced by n[k]. Same errors as transformer_forward (nothing advanced then). */
int transformer_forward_multi(transformer_batch *b, transformer_seq *const *seqs,
                              const int *const *ids, const size_t *n, size_t n_seq,
                              struct status_err *err);
/* While *stop is non-zero (checked between layers) transformer_forward_multi gives up its step:
 * STATUS_CANCELLED, no position advanced, and the same step run again later gives the same
 * result (it rewrites the same keys and values). NULL: never. */
void transformer_batch_stop_flag(transformer_batch *b, const volatile int *stop);

/* ---- continuous batching (sched.c) ---- */
#define TRANSFORMER_PARALLEL_DEFAULT 8  /* slots per model (--parallel) */
#define TRANSFORMER_KV_MB_DEFAULT 1024  /* KV cache budget per model (--kv-cache-mb) */
#define TRANSFORMER_SCHED_HIST 129      /* batch-size histogram: rows 0..127, then 128+ */
/* Set the slots and the KV budget (MB) of schedulers started from now on; 0 keeps a value. */
void transformer_sched_config(size_t parallel, size_t kv_mb);
#define TRANSFORMER_LAT_BUCKETS 14      /* latency histogram bounds (transformer_lat_bounds_s) */
extern const double transformer_lat_bounds_s[TRANSFORMER_LAT_BUCKETS];
struct transformer_sched_stats {
    size_t slots, slots_busy, waiting, kv_bytes_used, kv_bytes_budget; /* summed over live models */
    size_t prefix_cache_bytes; /* part of kv_bytes_used */
    unsigned long long prefix_lookups, prefix_hits, prefix_tokens;
    unsigned long long steps, decode_rows, prompt_rows, tokens_generated;
    unsigned long long steps_preempted; /* decode-only steps that gave way to a new prompt */
    unsigned long long batch_hist[TRANSFORMER_SCHED_HIST]; /* steps by rows per step */
    /* time to first token and between tokens: counts per bound (+1: past the last), sums */
    unsigned long long ttft[TRANSFORMER_LAT_BUCKETS + 1], itl[TRANSFORMER_LAT_BUCKETS + 1];
    double ttft_sum_s, itl_sum_s;
};
/* The process's batching counters (since start) and the gauges of every running scheduler. */
void transformer_sched_stats(struct transformer_sched_stats *out);
/* Drop every prefix-cache entry (of every running scheduler) neither kept nor served for
 * idle_s seconds or more (0: none). Returns the KV bytes that freed. */
size_t transformer_sched_expire(unsigned idle_s);

/* ---- generation (sampler.c, generate.c) ---- */
struct transformer_gen_params {
    size_t max_tokens;
    float temperature; /* 0: greedy (lowest id wins ties) */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off */
    float min_p;       /* 0: off */
    uint64_t seed;
    float presence_penalty, frequency_penalty, repetition_penalty; /* 0, 0, 1: off */
    const char *stop[TRANSFORMER_STOP_MAX];
    size_t n_stop;
    int logprobs; /* top-N alternatives per token, 0..TRANSFORMER_LOGPROBS_MAX; -1 off */
    int cache_prompt; /* 1 (default): reuse the keys and values of a prompt prefix that a
                       * finished or running generation computed; 0: compute all */
};
void transformer_gen_defaults(struct transformer_gen_params *p);

struct transformer_gen_alt {
    int id;
    float logprob;
};
struct transformer_gen_event {
    const char *text; /* complete UTF-8, never part of a stop string; may be "" */
    size_t len;
    int id;          /* the token that produced this text (-1 for a final flush) */
    float logprob;   /* its natural-log probability under the model */
    const struct transformer_gen_alt *top; /* n_top best alternatives */
    size_t n_top;
};
/* Called for every generated token; return non-zero to stop (client gone). */
typedef int (*transformer_gen_cb)(void *ud, const struct transformer_gen_event *ev);

enum transformer_finish { TRANSFORMER_FINISH_LENGTH, TRANSFORMER_FINISH_STOP };
struct transformer_gen_result {
    size_t prompt_tokens, completion_tokens;
    size_t cached_tokens; /* prompt tokens whose keys and values came from the prefix cache */
    enum transformer_finish finish;
};
/* Generate after prompt ids[0..n) (BOS included by the caller). STATUS_CANCELLED when the
 * callback or *cancelled asked to stop, STATUS_BAD_INPUT when the prompt does not fit. */
int transformer_generate(const transformer *t, const int *ids, size_t n,
                         const struct transformer_gen_params *p, transformer_gen_cb cb,
                         void *ud, const volatile int *cancelled,
                         struct transformer_gen_result *res, struct status_err *err);

#endif
