/* transformer_internal.h: what the files of models/transformer/ share: the mapped
 * checkpoint (checkpoint.c), the tokenizer (tokenizer.c), the sampler (sampler.c) and the
 * model struct the forward pass (forward.c) runs on. Not for use outside this folder
 * (tests excepted). */
#ifndef LMSERVE_TRANSFORMER_INTERNAL_H
#define LMSERVE_TRANSFORMER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../kernels/act.h"
#include "../kernels/kernels.h"
#include "../util/topk.h"  /* the sampler's top_k */
#include "../util/alloc.h" /* util_malloc & co: the loaders' allocations (failure injection) */
#include "../vocab/vocab.h"
#include "../vocab/vocab_internal.h" /* struct strtab: the llama2.c tokenizer's piece hash */
#include "transformer.h"

/* Header bounds: anything past these is a corrupt file, and they keep every size
 * computation far from overflow (size_t products stay below 2^62). */
#define CKPT_DIM_MAX (1 << 16)
#define CKPT_HIDDEN_MAX (1 << 18)
#define CKPT_LAYERS_MAX 1024
#define CKPT_HEADS_MAX 1024
#define CKPT_VOCAB_MAX (1 << 22)
#define CKPT_SEQ_MAX (1 << 20)
#define CKPT_MAGIC 0x616b3432u    /* "ak42" as llama2.c's export.py writes it */
#define CKPT_V_HEADER_BYTES 256   /* ak42 header, padded */
#define CKPT_LEGACY_HEADER_INTS 7
#define TRANSFORMER_RMS_EPS 1e-5f  /* llama2.c */
#define TRANSFORMER_ROPE_THETA 10000.0f

/* A weight matrix: float32 rows, or llama2.c Q8_0 (KERNELS_Q8_G). A borrowed view into the
 * map, in the kernel table's terms. */
struct tensor {
    struct kernels_mat m; /* (rows, cols) */
    size_t rows, cols;
};

/* How the architecture computes: llama2.c's fixed choices, or what a GGUF file says. */
struct arch {
    char name[32];        /* "llama2c", "llama", "qwen2" */
    int neox;             /* RoPE rotates (i, i + n_rot/2), not adjacent pairs (qwen2) */
    int n_rot;            /* dimensions rotated per head (<= head size) */
    float rope_theta;     /* rope.freq_base */
    float rope_freq_scale; /* 1 / rope.scaling.factor for linear scaling, else 1 */
    const float *rope_freqs; /* (n_rot / 2) divisors of each frequency (Llama 3), or NULL */
    float rms_eps;
    /* GGUF models compute as ggml's CPU backend does (what makes outputs match llama.cpp):
     * activations quantized to the weight's activation type, F16/BF16 weights see
     * activations rounded to their type, RMSNorm sums in double, an F16 KV cache (Q, K, V
     * and the attention weights rounded to fp16 before their products), RoPE angles by
     * ggml's recurrence. */
    int ggml;
    /* GPT-2 style blocks (gpt2): LayerNorm with bias instead of RMSNorm (eps in rms_eps),
     * learned position embeddings instead of RoPE (n_rot 0), an ungated MLP with biases */
    int layernorm;
    enum kernels_act act; /* the feed-forward activation (SiLU for llama's SwiGLU) */
    int gated;            /* act(gate x) * (up x) (ffn_gate present), else act(up x) */
};

/* The biases of a GPT-2 style block (gpt2): LayerNorms' and projections'. */
struct layer_bias {
    const float *att_norm, *ffn_norm; /* (dim) */
    const float *o;                   /* attn_output (dim) */
    const float *up;                  /* ffn_up (hidden) */
    const float *down;                /* ffn_down (dim) */
};

/* Mamba-1 (general.architecture = mamba): llama.cpp's tensor names and shapes. */
struct mamba_hparams {
    int d_conv, d_inner, d_state, dt_rank;
    int dt_b_c_rms; /* FalconMamba: RMS-normalise dt, B and C (no weight) */
};
struct mamba_layer {
    const float *norm;       /* attn_norm (dim) */
    struct tensor in;        /* ssm_in (2*d_inner, dim): x then z */
    const float *conv_w;     /* ssm_conv1d (d_inner, d_conv) */
    const float *conv_b;     /* (d_inner) */
    struct tensor x;         /* ssm_x (dt_rank + 2*d_state, d_inner): dt, B, C */
    struct tensor dt;        /* ssm_dt (d_inner, dt_rank) */
    const float *dt_b;       /* (d_inner) */
    const float *A;          /* ssm_a (d_inner, d_state), negative (-exp(A_log)) */
    const float *D;          /* ssm_d (d_inner) */
    struct tensor out;       /* ssm_out (dim, d_inner) */
};

/* BERT encoders (general.architecture = bert, nomic-bert): llama.cpp's tensor names and
 * shapes; the pass is bert.c. Pooling as llama.cpp numbers it (<arch>.pooling_type). */
enum bert_pooling {
    BERT_POOL_NONE = 0,
    BERT_POOL_MEAN = 1,
    BERT_POOL_CLS = 2,
    BERT_POOL_LAST = 3,
    BERT_POOL_RANK = 4, /* the classification head (cls, cls.output): one score */
};
struct bert_hparams {
    int pooling;          /* enum bert_pooling, from the file (absent: mean) */
    int pooling_in_file;  /* 1 when <arch>.pooling_type was present */
    int causal;           /* <arch>.attention.causal (BERT: false) */
    float norm_eps;       /* <arch>.attention.layer_norm_epsilon */
    int n_types;          /* rows of token_types (token type 0 is used, as llama.cpp does) */
    int nomic;            /* nomic-bert: fused QKV, NeoX RoPE (no learned positions), SwiGLU,
                             no linear biases */
    int n_rot;            /* nomic-bert: dimensions rotated per head */
    float rope_base;      /* nomic-bert: rope.freq_base */
};
struct bert_weights {
    struct tensor type_emb;       /* token_types (n_types, dim) */
    struct tensor pos_emb;        /* position_embd (context_length, dim) */
    const float *emb_norm, *emb_norm_b; /* token_embd_norm (dim) */
    struct tensor cls;            /* cls (dim, dim), rows = 0 when absent */
    const float *cls_b;           /* (dim) */
    struct tensor cls_out;        /* cls.output (n_out, dim), rows = 0 when absent */
    const float *cls_out_b;       /* (n_out) */
};
struct bert_layer {
    struct tensor wq, wk, wv, wo;        /* (dim, dim) (kv, dim) (kv, dim) (dim, dim) */
    struct tensor wqkv, gate;            /* nomic-bert: attn_qkv (dim + 2 kv, dim), ffn_gate */
    const float *bq, *bk, *bv, *bo;      /* biases */
    const float *att_norm, *att_norm_b;  /* attn_output_norm (dim) */
    struct tensor up, down;              /* ffn_up (hidden, dim), ffn_down (dim, hidden) */
    const float *up_b, *down_b;
    const float *out_norm, *out_norm_b;  /* layer_output_norm (dim) */
};

struct checkpoint {
    struct transformer_shape shape;
    struct arch arch;
    void *map; /* whole file, read-only (llama2.c); NULL for GGUF (see g) */
    size_t map_len;
    struct gguf *g;   /* GGUF: the open file (owns the map) */
    const float **bq, **bk, **bv; /* [L] -> (dim) (kv_dim) (kv_dim): qwen2's biases, or NULL */
    size_t type_params[KERNELS_TYPE_COUNT]; /* GGUF: weights per tensor type */
    /* weights; per-layer arrays have n_layers entries (owned arrays, borrowed data) */
    struct tensor tok_emb;      /* (vocab, dim) */
    const float **rms_att;      /* [L] -> (dim) */
    const float **rms_ffn;      /* [L] -> (dim) */
    const float *rms_final;     /* (dim) */
    struct tensor *wq, *wk, *wv, *wo; /* [L]: (dim,dim) (kv_dim,dim) (kv_dim,dim) (dim,dim) */
    struct tensor *w1, *w2, *w3;      /* [L]: (hidden,dim) (dim,hidden) (hidden,dim) */
    struct tensor wcls;               /* (vocab, dim), == tok_emb when shared */
    struct mamba_hparams ssm;         /* Mamba only */
    struct mamba_layer *mamba;        /* [L] for a Mamba file, else NULL (owned array) */
    const struct recurrent_ops *recurrent; /* a recurrent architecture's state, else NULL */
    struct tensor pos_emb;            /* (seq_len, dim) learned positions (gpt2); data NULL else */
    const float *final_norm_b;        /* output_norm bias (gpt2), or NULL */
    struct layer_bias *lb;            /* [L] gpt2's biases, or NULL (owned array) */
    struct bert_hparams enc;          /* BERT only */
    struct bert_weights encw;         /* BERT only */
    struct bert_layer *bert;          /* [L] for a BERT encoder, else NULL (owned array) */
    void *interleaved; /* the interleaved copies of the layer matrices (interleave.c), or NULL */
    size_t interleaved_bytes;
};

/* Map and validate 'path' (legacy, ak42 v1 or v2): header fields in bounds, every tensor
 * inside the file, total size exact, float tensors aligned. On error nothing is kept. */
int checkpoint_open(const char *path, struct checkpoint *ck, struct status_err *err);
void checkpoint_close(struct checkpoint *ck); /* accepts a zeroed struct */
const char *checkpoint_format_name(int version);
/* Map the weights of GGUF file 'path' (the architectures in ARCHS) as views into the
 * file; every shape and type checked. Same contract as checkpoint_open. A file without
 * tensors is STATUS_BAD_FORMAT here (the tokenizer-only path handles it). */
/* interleave.c: with a SIMD tier (t->k), copy the Q4_0 / Q5_0 / Q8_0 / Q4_K matrices of the layers and the
 * separate classifier into the 8-row interleaved layout (kernels_interleave) and point them
 * there; LMSERVE_INTERLEAVE=0 keeps the file's layout. Out of memory keeps it too. */
void transformer_interleave(transformer *t);
int checkpoint_open_gguf(const char *path, struct checkpoint *ck, struct status_err *err);

/* The end of every open (transformer.c): rc != STATUS_OK closes 't' and returns rc; otherwise
 * the head sizes and the kernel table are set and 't' is handed to *out. */
int transformer_opened(transformer *t, int rc, transformer **out);

/* ---- forward.c, shared with the other architectures' passes ---- */
/* out[t][0..w->rows) (t < n, ld floats apart) = W x[t], x of n tokens of 'cols' floats;
 * 'xa' is scratch of n * cols * 4 bytes (the input in the weight's activation type). Rows
 * split over the kernel thread team. */
void transformer_linear(const transformer *t, void *xa, const float *x, size_t n, size_t cols,
                        const struct tensor *w, float *out, size_t ld);
/* The same for up to three matrices of the same input width in one dispatch (BERT's Q, K, V):
 * out[i] (ld[i] floats per token) = act(W[i] x + bias[i]); the input converted once per
 * weight type, into xa[i] (each n * cols * 4 bytes). 'bias' (or an entry of it) and 'act' may
 * be NULL; the bias and the activation run on each chunk of rows right after its product (no
 * pass of their own over the thread team). */
void transformer_linear_n(const transformer *t, void *const *xa, const float *x, size_t n,
                          size_t cols, const struct tensor *const *w, float *const *out,
                          const size_t *ld, const float *const *bias, kernels_act_fn act,
                          size_t nw);
/* RMSNorm as the architecture computes it (ggml's: the sum of squares in double). */
void transformer_rmsnorm(const transformer *t, float *out, const float *x, const float *w,
                         size_t n);

/* ---- a recurrent architecture's per-sequence state (instead of the KV cache) ----
 * Set by the loader in struct checkpoint; forward.c calls through it (a table, so the pass
 * that calls forward.c's linear layers is not called back directly). */
struct recurrent_ops {
    void *(*state_new)(const transformer *t); /* NULL when out of memory */
    void (*state_free)(void *st);             /* accepts NULL */
    size_t (*state_bytes)(const void *st);    /* heap bytes, independent of length */
    /* n tokens (ids checked by the caller); logits of the last into 'logits', of every
     * position into all_logits when non-NULL */
    int (*forward)(const transformer *t, void *st, const int *ids, size_t n, float *logits,
                   float *all_logits, const volatile int *cancelled, struct status_err *err);
    /* several sequences in one step (continuous batching): sequence k's n[k] tokens advance
     * st[k]; its last row's logits into logits[k], every row's into all_logits[k] when that
     * is non-NULL. 'scratch' is a state of the same model whose batch buffers the step uses
     * (its own recurrent state is untouched). Each sequence's numbers equal what forward
     * gives it alone. 'cancelled' (or NULL): when it is set during the step (the scheduler
     * preempting a decode step for a new prompt), the step stops between layers or between
     * slices of the classifier and returns STATUS_CANCELLED with every state as it was
     * before the step (a snapshot taken at its start), so the step can simply run again. */
    int (*forward_multi)(const transformer *t, void *scratch, void *const *st,
                         const int *const *ids, const size_t *n, size_t n_seq,
                         float *const *logits, float *const *all_logits,
                         const volatile int *cancelled, struct status_err *err);
};
extern const struct recurrent_ops mamba_ops; /* mamba.c: a fixed-size conv + SSM state */

/* ---- bert.c: the encoder pass (t->ck.bert set) ----
 * n_seq token sequences (ids[k][0..n[k]), each 1..seq_len tokens, ids in range) through the
 * encoder in one pass (the linear layers over every token of every sequence at once;
 * attention within each sequence only), then pooled as the file says: out[k * bert_out_dim]
 * is sequence k's vector (mean, CLS or last token: dim floats; rank: the classifier's
 * scores), not normalised. STATUS_CANCELLED when *cancelled becomes non-zero between
 * layers; STATUS_NO_MEMORY. */
size_t bert_out_dim(const transformer *t);
/* forward.c: like transformer_forward, but hidden (n, dim) receives every position's final
 * hidden state after the output norm (what llama.cpp pools for a decoder's embeddings), and
 * no logits are computed. Not for recurrent models (STATUS_BAD_INPUT). */
int transformer_forward_hidden(transformer_seq *s, const int *ids, size_t n, float *hidden,
                               const volatile int *cancelled, struct status_err *err);
int bert_encode(const transformer *t, const int *const *ids, const size_t *n, size_t n_seq,
                float *out, const volatile int *cancelled, struct status_err *err);
const char *bert_pooling_name(int pooling); /* "none", "mean", "cls", "last", "rank" */

struct tokenizer {
    int vocab_size;
    int max_token_length;
    struct strset piece; /* [vocab] pieces; their index: piece -> lowest id (models/vocab) */
    float *scores;       /* [vocab] */
    int16_t *byte_of; /* [vocab]: the byte of a "<0xXX>" token, else -1 */
    int space_id;     /* id of " " (the dummy prefix), -1 if absent */
};

/* Read llama2.c's tokenizer.bin for a model of 'vocab_size' tokens. */
int tokenizer_open(const char *path, int vocab_size, struct tokenizer *tk,
                   struct status_err *err);
void tokenizer_close(struct tokenizer *tk); /* accepts a zeroed struct */
int tokenizer_lookup(const struct tokenizer *tk, const char *s, size_t len);
int tokenizer_encode(const struct tokenizer *tk, const char *text, size_t len, int bos,
                     int eos, int **ids, size_t *n, struct status_err *err);
const char *tokenizer_piece(const struct tokenizer *tk, int prev, int id, size_t *len);

/* UTF-8 streaming: bytes in, only complete and valid UTF-8 out (invalid bytes become
 * U+FFFD), so no streamed chunk ever splits a character. */
struct utf8_stream {
    unsigned char pend[4];
    size_t n_pend;
};
/* Append the valid text of data[0..len) to out (capacity 3*len + 4 always suffices);
 * returns bytes written. */
size_t utf8_stream_push(struct utf8_stream *u, const char *data, size_t len, char *out);
/* Whatever is pending becomes U+FFFD; returns bytes written (<= 3). */
size_t utf8_stream_flush(struct utf8_stream *u, char *out);

/* The KV cache's storage: floats, IEEE half (ggml rounds keys and values to fp16 anyway:
 * the same logits), or ggml's Q8_0 blocks (34 bytes per 32 values, as llama.cpp's -ctk/-ctv
 * q8_0: ~1/4 of the floats' bytes; changes the logits slightly) */
enum transformer_kv_type { TRANSFORMER_KV_F32, TRANSFORMER_KV_F16, TRANSFORMER_KV_Q8_0 };

struct transformer {
    struct checkpoint ck;
    struct tokenizer tok; /* llama2.c's tokenizer, unless 'vocab' is set */
    struct vocab *vocab;         /* a GGUF file's tokenizer (owned); NULL for llama2.c models */
    int tokenizer_only;   /* a vocabulary without weights: tokenize, never generate */
    int head_size, kv_dim;
    int kv_type; /* enum transformer_kv_type: how the KV cache stores keys and values
                  * (option kv_type; f16 and q8_0 for GGUF numerics only) */
    const struct kernels_ops *k;
    int chat_template_plus1; /* models/chat family + 1; 0 (as calloc leaves it) = none */
    struct transformer_sched *sched; /* continuous batching (sched.c), started on first use */
    int sched_failed;
    size_t sched_parallel; /* the model's option parallel=N; 0: transformer_sched_config's */
};

/* ---- sched.c: the per-model batching scheduler ---- */
/* Take a slot holding kv_bytes of KV cache: waits while the slots or the budget are full
 * (STATUS_CANCELLED when *cancelled turns on meanwhile; STATUS_BUSY when kv_bytes alone
 * passes the budget). Every STATUS_OK is paired with transformer_sched_leave. */
int transformer_sched_enter(const transformer *t, size_t kv_bytes, const volatile int *cancelled,
                            struct status_err *err);
void transformer_sched_leave(const transformer *t, size_t kv_bytes);
/* Prefix cache (inside the KV budget, least recently used first out): copy into the empty
 * 'dst' the keys and values of the longest leading run of ids[0..n-1) that a finished
 * generation of this model computed, or a running one (see transformer_sched_run_add) has
 * computed so far. Returns how many positions dst now holds (0: none). */
size_t transformer_sched_prefix(const transformer *t, const int *ids, size_t n, transformer_seq *dst);
/* A finished generation's sequence and the n tokens whose keys and values it holds (its
 * position): both owned by the cache from now on (freed at once when not kept). */
void transformer_sched_keep(const transformer *t, transformer_seq *seq, int *ids, size_t n);
/* A running generation offers its sequence to the prefix cache: ids[i] is the token at
 * position i (ids may grow; the positions a step has completed are what a lookup copies).
 * The caller owns r, seq and ids and calls transformer_sched_run_del before freeing them. */
struct sched_running {
    transformer_seq *seq;
    const int *ids;
    size_t valid; /* positions whose keys and values are final (the scheduler's to write) */
    struct sched_running *next;
};
void transformer_sched_run_add(const transformer *t, struct sched_running *r);
void transformer_sched_run_del(const transformer *t, struct sched_running *r);
/* transformer_forward (no all_logits) through the model's scheduler: the tokens join the
 * next steps with the other slots' (a long prompt in chunks). */
int transformer_sched_forward(const transformer *t, transformer_seq *seq, const int *ids, size_t n,
                              const volatile int *cancelled, struct status_err *err);
/* The same with every fed row's logits in all_logits (n x vocab floats): scoring. */
int transformer_sched_forward_all(const transformer *t, transformer_seq *seq, const int *ids,
                                  size_t n, float *all_logits, const volatile int *cancelled,
                                  struct status_err *err);
/* The same in two halves, so a generation can hand over its next token and write the
 * previous one out while the step runs: submit queues r (the caller's, untouched until
 * transformer_sched_wait returns; ids must stay valid until then) and returns STATUS_OK, or
 * the error of a forward it could not queue (nothing is then pending); without a scheduler
 * the forward runs inside submit. Every STATUS_OK submit is paired with one wait, which
 * gives the forward's status (STATUS_CANCELLED when 'cancelled' was set and no step held
 * r: nothing ran). */
struct sched_req {
    transformer_seq *seq;
    const int *ids;
    size_t n, done, take;
    int state, rc, in_step;
    struct status_err err;
    float *all; /* every row's logits (n x vocab), or NULL */
    struct sched_req *next;
};
int transformer_sched_submit(const transformer *t, struct sched_req *r, transformer_seq *seq,
                             const int *ids, size_t n, float *all_logits, struct status_err *err);
int transformer_sched_wait(const transformer *t, struct sched_req *r,
                           const volatile int *cancelled, struct status_err *err);
void transformer_sched_close(transformer *t); /* stops the thread; before the weights go */
/* A generated token: 'first' (time since the request's generation began) or not (since its
 * previous token), in microseconds. */
void transformer_sched_observe(int first, uint64_t us);
/* forward.c: positions left in s; bytes of KV cache a 'capacity'-position sequence holds */
size_t transformer_seq_room(const transformer_seq *s);
/* Copy src's keys and values of positions [0, n) into the empty dst (same model): dst then
 * continues at position n. -1 when they do not fit or dst is not empty. The caller knows
 * that src holds n final positions (src may be in a step meanwhile: later positions). */
int transformer_seq_copy_prefix(transformer_seq *dst, const transformer_seq *src, size_t n);
/* transformer_forward_multi also writes every fed row's logits of s to out (NULL: only the
 * last row's, to transformer_logits) */
void transformer_seq_set_all_logits(transformer_seq *s, float *out);
size_t transformer_seq_kv_bytes(const transformer *t, size_t capacity);

/* The tokenizer as generation needs it (llama2.c's or a GGUF vocab): the longest piece
 * in bytes, and whether 'id' ends generation (llama2.c: BOS or EOS; GGUF: EOS, EOT and
 * the end-of-turn tokens llama.cpp knows). */
size_t transformer_piece_max(const transformer *t);
int transformer_is_eog(const transformer *t, int id);

/* ---- sampler.c ---- */
struct sampler {
    int vocab;
    float *probs;   /* [vocab] */
    int *idx;       /* [vocab] candidate ids */
    uint32_t *count; /* [vocab] generated-token counts (presence/frequency) */
    uint8_t *seen;  /* [vocab] in prompt or output (repetition penalty) */
    struct topk_hit *hits; /* [hits_cap] top_k's heap, grown on first use */
    size_t hits_cap;
    uint64_t rng;
};
int sampler_init(struct sampler *s, int vocab, uint64_t seed);
void sampler_free(struct sampler *s);
void sampler_observe(struct sampler *s, int id, int generated);
/* Apply penalties to logits (in place), then pick the next id. */
int sampler_next(struct sampler *s, float *logits, const struct transformer_gen_params *p);
/* 1 when sampler_next would be argmax over the logits untouched (temperature 0, no
 * penalties): the caller may then skip its copy and call sampler_argmax on them. */
int sampler_greedy_plain(const struct transformer_gen_params *p);
int sampler_argmax(const float *logits, int vocab);
/* log-softmax of 'logits' at 'id', and the top-n alternatives (n <= LOGPROBS_MAX). */
float sampler_logprob(const float *logits, int vocab, int id, struct transformer_gen_alt *top,
                      size_t n_top);

#endif
