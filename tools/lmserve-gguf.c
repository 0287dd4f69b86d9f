/* lmserve-gguf: GGUF files for lmserve and llama.cpp.
 *   inspect FILE                 metadata and the tensor table
 *   convert CKPT -t TOKENIZER -o OUT [--type F32|F16|Q8_0|Q4_0|Q4_K]
 *                                a llama2.c checkpoint (legacy, ak42 v1/v2) and its
 *                                tokenizer.bin as a llama GGUF in llama.cpp's conventions
 *                                (names, shapes, SentencePiece vocabulary with scores and
 *                                token types), optionally quantized
 *   random -o OUT [--arch llama|qwen2] [--type T] [--dim --hidden --layers --heads
 *          --kv-heads --vocab --ctx --seed --tied --rope-theta --pooling P]
 *                                random weights of any shape and any supported type, with a
 *                                synthetic SentencePiece vocabulary, for tests and benchmarks;
 *                                --pooling writes <arch>.pooling_type (an embedding decoder)
 *   random -o OUT --arch mamba [--type T] [--dim --hidden (d_inner) --layers --vocab --ctx
 *          --seed --tied --d-state --d-conv --dt-rank --vocab-from VOCAB.gguf]
 *                                a random Mamba-1 file in llama.cpp's conventions (A stored
 *                                negative, as -exp(A_log)); --vocab-from copies a GGUF's
 *                                tokenizer (e.g. GPT-NeoX BPE, as real Mamba models use)
 *   random -o OUT --arch gpt2 [--type T] [--dim --hidden --layers --heads --kv-heads --ctx
 *          --seed --tied --vocab-from VOCAB.gguf]
 *                                a random GPT-2 file in llama.cpp's conventions, with a small
 *                                byte-level BPE vocabulary (or --vocab-from's, e.g. GPT-2's)
 *   random -o OUT --arch bert|nomic-bert --vocab-from VOCAB.gguf [--type T] [--dim --hidden --layers
 *          --heads --ctx --seed --pooling mean|cls|last|rank|none]
 *                                a random BERT encoder in llama.cpp's conventions with a
 *                                WordPiece vocabulary copied from VOCAB.gguf */
#include "../models/gguf/gguf.h"
#include "../models/gguf/gguf_write.h"
#include "../models/kernels/kernels.h"
#include "../models/kernels/quant_internal.h"
#include "../models/transformer/transformer_internal.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitmix.h"

#define SHOW_ARRAY_MAX 8

static void die(const char *msg)
{
    fprintf(stderr, "lmserve-gguf: %s\n", msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

/* ---- inspect ---- */

static void print_str(struct gguf_str s, size_t max)
{
    putchar('"');
    for (size_t i = 0; i < s.len && i < max; i++) {
        const unsigned char c = (unsigned char)s.s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 32 || c == '"' || c == '\\')
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    fputs(s.len > max ? "\"..." : "\"", stdout);
}

static int cmd_inspect(const char *path)
{
    gguf *g;
    struct status_err err = {0};
    if (gguf_open(path, &g, &err) != STATUS_OK) {
        fprintf(stderr, "lmserve-gguf: %s\n", err.msg);
        return 1;
    }
    printf("%s: GGUF v%u, %zu bytes, alignment %zu, %zu metadata keys, %zu tensors\n", path,
           gguf_version(g), gguf_file_size(g), gguf_alignment(g), gguf_n_kv(g), gguf_n_tensors(g));
    puts("\nmetadata:");
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        printf("  %-44.*s %-7s ", (int)kv->key.len, kv->key.s, gguf_vtype_name(kv->type));
        switch (kv->type) {
        case GGUF_STRING: print_str(kv->v.str, 120); break;
        case GGUF_F32: case GGUF_F64: printf("%g", kv->v.f); break;
        case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
            printf("%" PRId64, kv->v.i);
            break;
        case GGUF_ARRAY:
            printf("%s[%zu] ", gguf_vtype_name(kv->v.arr.type), kv->v.arr.n);
            for (size_t j = 0; j < kv->v.arr.n && j < SHOW_ARRAY_MAX; j++) {
                if (kv->v.arr.type == GGUF_STRING)
                    print_str(kv->v.arr.strs[j], 24);
                else if (kv->v.arr.type == GGUF_F32 || kv->v.arr.type == GGUF_F64)
                    printf("%g", gguf_arr_float(kv, j));
                else
                    printf("%" PRId64, gguf_arr_int(kv, j));
                putchar(' ');
            }
            if (kv->v.arr.n > SHOW_ARRAY_MAX)
                fputs("...", stdout);
            break;
        default: printf("%" PRIu64, kv->v.u); break;
        }
        putchar('\n');
    }
    puts("\ntensors:");
    printf("  %-32s %-6s %-24s %12s %12s\n", "name", "type", "shape", "offset", "bytes");
    size_t per_type[GGUF_T_COUNT] = {0}, total = 0;
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        char shape[64];
        int w = snprintf(shape, sizeof shape, "[%" PRIu64, t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims; d++)
            w += snprintf(shape + w, sizeof shape - (size_t)w, ", %" PRIu64, t->ne[d]);
        snprintf(shape + w, sizeof shape - (size_t)w, "]");
        printf("  %-32.*s %-6s %-24s %12" PRIu64 " %12zu\n", (int)t->name.len, t->name.s,
               gguf_ttype_name(t->type), shape, t->offset, t->bytes);
        per_type[t->type] += (size_t)t->n_elems;
        total += (size_t)t->n_elems;
    }
    printf("\n%zu parameters:", total);
    for (int k = 0; k < GGUF_T_COUNT; k++)
        if (per_type[k])
            printf(" %s %.1f%%", gguf_ttype_name((enum gguf_ttype)k),
                   100.0 * (double)per_type[k] / (double)total);
    putchar('\n');
    gguf_close(g);
    return 0;
}

/* ---- writing tensors ---- */

/* Buffers handed to the writer stay alive until the file is written. */
struct owned {
    void **p;
    size_t n, cap;
};
static void *keep(struct owned *o, void *p)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        o->p = realloc(o->p, o->cap * sizeof *o->p);
        if (!o->p)
            die("out of memory");
    }
    return o->p[o->n++] = p;
}
static void release(struct owned *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->p[i]);
    free(o->p);
}

/* Write the file, say why when that fails, free the writer and the data it pointed at. */
static int write_out(gguf_writer *w, struct owned *o, const char *out)
{
    struct status_err err = {0};
    int rc = gguf_writer_write(w, out, &err);
    if (rc != STATUS_OK)
        fprintf(stderr, "lmserve-gguf: %s\n", err.msg);
    gguf_writer_free(w);
    release(o);
    return rc;
}

static const struct {
    const char *name;
    enum gguf_ttype g;
    void (*quantize)(const float *, void *, size_t);
} QTYPES[] = {
    {"F32", GGUF_T_F32, NULL},
    {"F16", GGUF_T_F16, NULL},
    {"BF16", GGUF_T_BF16, quant_from_float_bf16},
    {"Q8_0", GGUF_T_Q8_0, quant_from_float_q8_0_weights},
    {"Q4_0", GGUF_T_Q4_0, quant_from_float_q4_0_weights},
    {"Q4_K", GGUF_T_Q4_K, quant_from_float_q4_K_weights},
    /* random only: blocks of random bytes with sane scales */
    {"Q4_1", GGUF_T_Q4_1, NULL},
    {"Q5_0", GGUF_T_Q5_0, NULL},
    {"Q5_1", GGUF_T_Q5_1, NULL},
    {"Q5_K", GGUF_T_Q5_K, NULL},
    {"Q6_K", GGUF_T_Q6_K, NULL},
};
#define N_QTYPES (sizeof QTYPES / sizeof QTYPES[0])

static size_t qtype_index(const char *name)
{
    for (size_t i = 0; i < N_QTYPES; i++)
        if (strcmp(QTYPES[i].name, name) == 0)
            return i;
    die("unknown --type (F32 F16 BF16 Q8_0 Q4_0 Q4_K; random also Q4_1 Q5_0 Q5_1 Q5_K Q6_K)");
    return 0;
}

static void add_tensor(gguf_writer *w, const char *name, enum gguf_ttype type, size_t rows,
                       size_t cols, const void *data)
{
    const uint64_t ne[2] = {cols, rows};
    if (gguf_writer_tensor(w, name, type, rows > 1 ? 2 : 1, ne, data) != STATUS_OK)
        die("cannot add a tensor");
}

/* A float matrix in type q (falling back to Q8_0, then F32, when its rows do not split into
 * the type's blocks). Floats are consumed (kept or freed). */
static void add_matrix(gguf_writer *w, struct owned *o, const char *name, size_t qi, float *f,
                       size_t rows, size_t cols)
{
    enum gguf_ttype t = QTYPES[qi].g;
    if (cols % gguf_ttype_block(t) != 0)
        t = cols % 32 == 0 ? GGUF_T_Q8_0 : GGUF_T_F32;
    if (t == GGUF_T_F32 || (t != QTYPES[qi].g && cols % 32 != 0)) {
        add_tensor(w, name, GGUF_T_F32, rows, cols, keep(o, f));
        return;
    }
    const size_t bytes = rows * cols / gguf_ttype_block(t) * gguf_ttype_size(t);
    void *q = keep(o, xmalloc(bytes));
    if (t == GGUF_T_F16) {
        uint16_t *h = q;
        for (size_t i = 0; i < rows * cols; i++)
            h[i] = kernels_float_to_half(f[i]);
    } else {
        void (*quant)(const float *, void *, size_t) =
            t == GGUF_T_Q8_0 ? quant_from_float_q8_0_weights : QTYPES[qi].quantize;
        if (!quant)
            die("this type can only be written by 'random'");
        for (size_t r = 0; r < rows; r++)
            quant(f + r * cols, (char *)q + r * (bytes / rows), cols);
    }
    add_tensor(w, name, t, rows, cols, q);
    free(f);
}

/* ---- vocabulary metadata (SentencePiece, llama.cpp's token types) ---- */

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };

static void put_vocab(gguf_writer *w, const char *const *pieces, const float *scores, size_t n)
{
    int32_t *types = xmalloc(n * sizeof *types);
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        char tail;
        types[i] = i == 0 ? TOK_UNKNOWN : i < 3 ? TOK_CONTROL : TOK_NORMAL;
        if (strlen(pieces[i]) == 6 && sscanf(pieces[i], "<0x%2X%c", &b, &tail) == 2 && tail == '>')
            types[i] = TOK_BYTE;
    }
    int rc = gguf_writer_str(w, "tokenizer.ggml.model", "llama");
    rc = rc ? rc : gguf_writer_arr_str(w, "tokenizer.ggml.tokens", pieces, n);
    rc = rc ? rc : gguf_writer_arr_f32(w, "tokenizer.ggml.scores", scores, n);
    rc = rc ? rc : gguf_writer_arr_i32(w, "tokenizer.ggml.token_type", types, n);
    rc = rc ? rc : gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    rc = rc ? rc : gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1);
    rc = rc ? rc : gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (rc != STATUS_OK)
        die("out of memory");
    free(types);
}

struct hparams {
    const char *arch;
    int dim, hidden, layers, heads, kv_heads, vocab, ctx;
    float rope_theta, rms_eps;
};

static void put_hparams(gguf_writer *w, const struct hparams *h, const char *name)
{
    char k[96];
    int rc = gguf_writer_str(w, "general.architecture", h->arch);
    rc = rc ? rc : gguf_writer_str(w, "general.name", name);
    rc = rc ? rc : gguf_writer_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
#define U32(key, v) (snprintf(k, sizeof k, "%s." key, h->arch), rc = rc ? rc : gguf_writer_u32(w, k, (uint32_t)(v)))
#define F32(key, v) (snprintf(k, sizeof k, "%s." key, h->arch), rc = rc ? rc : gguf_writer_f32(w, k, (v)))
    U32("context_length", h->ctx);
    U32("embedding_length", h->dim);
    U32("block_count", h->layers);
    U32("feed_forward_length", h->hidden);
    U32("attention.head_count", h->heads);
    U32("attention.head_count_kv", h->kv_heads);
    U32("rope.dimension_count", h->dim / h->heads);
    U32("vocab_size", h->vocab);
    F32("rope.freq_base", h->rope_theta);
    F32("attention.layer_norm_rms_epsilon", h->rms_eps);
#undef U32
#undef F32
    if (rc != STATUS_OK)
        die("out of memory");
}

static const char *blk(char *buf, int l, const char *name)
{
    snprintf(buf, 96, "blk.%d.%s", l, name);
    return buf;
}

/* ---- convert ---- */

static float *rows_to_float(const struct tensor *t)
{
    float *f = xmalloc(t->rows * t->cols * sizeof *f);
    for (size_t r = 0; r < t->rows; r++)
        kernels_row_to_float(&t->m, r, f + r * t->cols);
    return f;
}

static float *copy_floats(const float *p, size_t n)
{
    float *f = xmalloc(n * sizeof *f);
    memcpy(f, p, n * sizeof *f);
    return f;
}

static int cmd_convert(const char *ckpt_path, const char *tok_path, const char *out, size_t qi)
{
    struct checkpoint ck;
    struct tokenizer tok;
    struct status_err err = {0};
    if (checkpoint_open(ckpt_path, &ck, &err) != STATUS_OK ||
        tokenizer_open(tok_path, ck.shape.vocab, &tok, &err) != STATUS_OK) {
        fprintf(stderr, "lmserve-gguf: %s\n", err.msg);
        return 1;
    }
    const struct transformer_shape *s = &ck.shape;
    gguf_writer *w = gguf_writer_new();
    if (!w)
        die("out of memory");
    struct owned o = {0};
    const struct hparams h = {"llama", s->dim, s->hidden_dim, s->n_layers, s->n_heads,
                              s->n_kv_heads, s->vocab, s->seq_len, TRANSFORMER_ROPE_THETA,
                              TRANSFORMER_RMS_EPS};
    const char *base = strrchr(ckpt_path, '/');
    put_hparams(w, &h, base ? base + 1 : ckpt_path);
    /* llama2.c's tokenizer.bin stores SentencePiece's word mark as a space; GGUF (and
     * llama.cpp's tokenizer) keep U+2581 */
    char **pieces = xmalloc((size_t)s->vocab * sizeof *pieces);
    for (int i = 0; i < s->vocab; i++) {
        const char *v = tok.piece.s[i].p;
        size_t n = 0;
        char *q = keep(&o, xmalloc(3 * strlen(v) + 1));
        for (; *v; v++) {
            if (*v == ' ') {
                memcpy(q + n, "\xe2\x96\x81", 3);
                n += 3;
            } else {
                q[n++] = *v;
            }
        }
        q[n] = 0;
        pieces[i] = q;
    }
    put_vocab(w, (const char *const *)pieces, tok.scores, (size_t)s->vocab);
    free(pieces);
    const size_t dim = (size_t)s->dim;
    add_matrix(w, &o, "token_embd.weight", qi, rows_to_float(&ck.tok_emb), ck.tok_emb.rows, dim);
    add_tensor(w, "output_norm.weight", GGUF_T_F32, 1, dim, keep(&o, copy_floats(ck.rms_final, dim)));
    if (!s->shared_classifier)
        add_matrix(w, &o, "output.weight", qi, rows_to_float(&ck.wcls), ck.wcls.rows, dim);
    char nb[96];
    for (int l = 0; l < s->n_layers; l++) {
        const struct {
            const char *name;
            const struct tensor *t;
        } mats[] = {{"attn_q.weight", &ck.wq[l]},   {"attn_k.weight", &ck.wk[l]},
                    {"attn_v.weight", &ck.wv[l]},   {"attn_output.weight", &ck.wo[l]},
                    {"ffn_gate.weight", &ck.w1[l]}, {"ffn_down.weight", &ck.w2[l]},
                    {"ffn_up.weight", &ck.w3[l]}};
        add_tensor(w, blk(nb, l, "attn_norm.weight"), GGUF_T_F32, 1, dim,
                   keep(&o, copy_floats(ck.rms_att[l], dim)));
        for (size_t m = 0; m < sizeof mats / sizeof mats[0]; m++)
            add_matrix(w, &o, blk(nb, l, mats[m].name), qi, rows_to_float(mats[m].t),
                       mats[m].t->rows, mats[m].t->cols);
        add_tensor(w, blk(nb, l, "ffn_norm.weight"), GGUF_T_F32, 1, dim,
                   keep(&o, copy_floats(ck.rms_ffn[l], dim)));
    }
    const int rc = write_out(w, &o, out);
    if (rc == STATUS_OK)
        printf("%s: %s, %d layers, dim %d, vocab %d, %s\n", out, checkpoint_format_name(s->version),
               s->n_layers, s->dim, s->vocab, QTYPES[qi].name);
    tokenizer_close(&tok);
    checkpoint_close(&ck);
    return rc == STATUS_OK ? 0 : 1;
}

/* ---- random ---- */

static float uniform(uint64_t *s) /* [-1, 1) */
{
    return (float)((double)(mix((*s)++) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *random_floats(uint64_t *s, size_t n, float scale, float offset)
{
    float *f = xmalloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = offset + scale * uniform(s);
    return f;
}

/* Random blocks of a type without a quantizer: random bytes, scale fields set so values
 * are of order 'scale'. */
static void *random_blocks(uint64_t *st, enum gguf_ttype t, size_t rows, size_t cols, float scale)
{
    const size_t bs = gguf_ttype_size(t), nb = rows * cols / gguf_ttype_block(t);
    unsigned char *p = xmalloc(nb * bs);
    for (size_t i = 0; i < nb * bs; i++)
        p[i] = (unsigned char)(mix((*st)++) & 0xff);
    for (size_t b = 0; b < nb; b++) {
        unsigned char *blkp = p + b * bs;
        uint16_t d[2];
        size_t at = 0, nd = 1;
        float mag = scale;
        switch (t) {
        case GGUF_T_Q4_1: case GGUF_T_Q5_1: nd = 2; mag = scale / 8; break;
        case GGUF_T_Q5_0: mag = scale / 8; break;
        case GGUF_T_Q5_K: nd = 2; mag = scale / (32 * 16); break;
        case GGUF_T_Q6_K: at = 208; mag = scale / (64 * 16); break;
        default: break;
        }
        d[0] = kernels_float_to_half(mag * (1.0f + 0.25f * uniform(st)));
        d[1] = kernels_float_to_half(mag * (1.0f + 0.25f * uniform(st)));
        memcpy(blkp + at, d, nd * 2);
    }
    return p;
}

static void add_random_matrix(gguf_writer *w, struct owned *o, uint64_t *st, const char *name,
                              size_t qi, size_t rows, size_t cols, float scale)
{
    const enum gguf_ttype t = QTYPES[qi].g;
    if (t == GGUF_T_F32 || t == GGUF_T_F16 || QTYPES[qi].quantize)
        add_matrix(w, o, name, qi, random_floats(st, rows * cols, scale, 0), rows, cols);
    else if (cols % gguf_ttype_block(t) != 0)
        add_matrix(w, o, name, qtype_index("Q8_0"), random_floats(st, rows * cols, scale, 0), rows, cols);
    else
        add_tensor(w, name, t, rows, cols, keep(o, random_blocks(st, t, rows, cols, scale)));
}

static int pooling_index(const char *pooling)
{
    static const char *const pools[] = {"none", "mean", "cls", "last", "rank"};
    for (int i = 0; i < 5; i++)
        if (strcmp(pooling, pools[i]) == 0)
            return i;
    die("--pooling is none, mean, cls, last or rank");
    return -1;
}

/* 'pool' >= 0: also <arch>.pooling_type (a decoder used as an embedding model) */
static int cmd_random(const char *out, struct hparams *h, size_t qi, uint64_t seed, int tied,
                      int pool)
{
    if (h->dim <= 0 || h->heads <= 0 || h->dim % h->heads || h->kv_heads <= 0 ||
        h->heads % h->kv_heads || h->hidden <= 0 || h->layers <= 0 || h->vocab < 259 || h->ctx <= 0)
        die("bad shape (dim % heads, heads % kv-heads, vocab >= 259)");
    const int qwen2 = strcmp(h->arch, "qwen2") == 0;
    if (!qwen2 && strcmp(h->arch, "llama") != 0)
        die("--arch is llama or qwen2");
    gguf_writer *w = gguf_writer_new();
    if (!w)
        die("out of memory");
    struct owned o = {0};
    put_hparams(w, h, "random");
    if (pool >= 0) {
        char key[64];
        snprintf(key, sizeof key, "%s.pooling_type", h->arch);
        if (gguf_writer_u32(w, key, (uint32_t)pool) != STATUS_OK)
            die("out of memory");
    }
    /* vocabulary: <unk> <s> </s>, 256 byte tokens, then pieces "▁xy..." of printable ASCII */
    const size_t V = (size_t)h->vocab;
    char **pieces = xmalloc(V * sizeof *pieces);
    float *scores = xmalloc(V * sizeof *scores);
    uint64_t vs = mix(seed ^ 0xabcdef);
    for (size_t i = 0; i < V; i++) {
        char buf[32];
        if (i < 3)
            snprintf(buf, sizeof buf, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259)
            snprintf(buf, sizeof buf, "<0x%02X>", (unsigned)(i - 3));
        else { /* unique: the id in base 26 after the word-start mark */
            size_t k = i - 259, n = 0;
            n = (size_t)snprintf(buf, sizeof buf, "\xe2\x96\x81");
            do {
                buf[n++] = (char)('a' + k % 26);
                k /= 26;
            } while (k && n < sizeof buf - 1);
            buf[n] = 0;
        }
        pieces[i] = keep(&o, strdup(buf));
        scores[i] = i < 259 ? 0.0f : -(float)i / (float)V + 0.01f * uniform(&vs);
    }
    put_vocab(w, (const char *const *)pieces, scores, V);
    const size_t dim = (size_t)h->dim, hid = (size_t)h->hidden;
    const size_t kv = dim / (size_t)h->heads * (size_t)h->kv_heads;
    uint64_t st = mix(seed);
    const float sc = 1.0f / sqrtf((float)dim);
    /* small embeddings: the layers, not the input token, dominate the residual stream */
    add_random_matrix(w, &o, &st, "token_embd.weight", qi, V, dim, 0.2f);
    add_tensor(w, "output_norm.weight", GGUF_T_F32, 1, dim, keep(&o, random_floats(&st, dim, 0.1f, 1.0f)));
    if (!tied)
        add_random_matrix(w, &o, &st, "output.weight", qi, V, dim, sc);
    char nb[96];
    for (int l = 0; l < h->layers; l++) {
        add_tensor(w, blk(nb, l, "attn_norm.weight"), GGUF_T_F32, 1, dim,
                   keep(&o, random_floats(&st, dim, 0.1f, 1.0f)));
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_q.weight"), qi, dim, dim, sc);
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_k.weight"), qi, kv, dim, sc);
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_v.weight"), qi, kv, dim, sc);
        if (qwen2) {
            add_tensor(w, blk(nb, l, "attn_q.bias"), GGUF_T_F32, 1, dim, keep(&o, random_floats(&st, dim, 0.1f, 0)));
            add_tensor(w, blk(nb, l, "attn_k.bias"), GGUF_T_F32, 1, kv, keep(&o, random_floats(&st, kv, 0.1f, 0)));
            add_tensor(w, blk(nb, l, "attn_v.bias"), GGUF_T_F32, 1, kv, keep(&o, random_floats(&st, kv, 0.1f, 0)));
        }
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_output.weight"), qi, dim, dim, sc);
        add_tensor(w, blk(nb, l, "ffn_norm.weight"), GGUF_T_F32, 1, dim,
                   keep(&o, random_floats(&st, dim, 0.1f, 1.0f)));
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_gate.weight"), qi, hid, dim, sc);
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_down.weight"), qi, dim, hid, 1.0f / sqrtf((float)hid));
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_up.weight"), qi, hid, dim, sc);
    }
    const int rc = write_out(w, &o, out);
    free(pieces);
    free(scores);
    return rc == STATUS_OK ? 0 : 1;
}

/* ---- random Mamba ---- */

struct mamba_opts {
    int d_state, d_conv, dt_rank;
    const char *vocab_from;
};

/* Copy the tokenizer.* keys of GGUF 'path' (every type a tokenizer uses); returns the
 * number of tokens. */
static size_t copy_vocab(gguf_writer *w, struct owned *o, const char *path)
{
    gguf *g;
    struct status_err err = {0};
    if (gguf_open(path, &g, &err) != STATUS_OK)
        die(err.msg);
    size_t n_tokens = 0;
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (kv->key.len < 10 || memcmp(kv->key.s, "tokenizer.", 10) != 0)
            continue;
        char *key = keep(o, strndup(kv->key.s, kv->key.len));
        int rc = STATUS_OK;
        switch (kv->type) {
        case GGUF_STRING: rc = gguf_writer_str(w, key, keep(o, strndup(kv->v.str.s, kv->v.str.len))); break;
        case GGUF_BOOL: rc = gguf_writer_bool(w, key, (int)kv->v.u); break;
        case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64: rc = gguf_writer_u32(w, key, (uint32_t)kv->v.u); break;
        case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64: rc = gguf_writer_i32(w, key, (int32_t)kv->v.i); break;
        case GGUF_F32: case GGUF_F64: rc = gguf_writer_f32(w, key, (float)kv->v.f); break;
        case GGUF_ARRAY: {
            const size_t n = kv->v.arr.n;
            if (kv->v.arr.type == GGUF_STRING) {
                const char **v = keep(o, xmalloc(n * sizeof *v));
                for (size_t j = 0; j < n; j++)
                    v[j] = keep(o, strndup(kv->v.arr.strs[j].s, kv->v.arr.strs[j].len));
                rc = gguf_writer_arr_str(w, key, v, n);
                if (strcmp(key, "tokenizer.ggml.tokens") == 0)
                    n_tokens = n;
            } else if (kv->v.arr.type == GGUF_F32 || kv->v.arr.type == GGUF_F64) {
                float *v = keep(o, xmalloc(n * sizeof *v));
                for (size_t j = 0; j < n; j++)
                    v[j] = (float)gguf_arr_float(kv, j);
                rc = gguf_writer_arr_f32(w, key, v, n);
            } else {
                int32_t *v = keep(o, xmalloc(n * sizeof *v));
                for (size_t j = 0; j < n; j++)
                    v[j] = (int32_t)gguf_arr_int(kv, j);
                rc = gguf_writer_arr_i32(w, key, v, n);
            }
            break;
        }
        default: break;
        }
        if (rc != STATUS_OK)
            die("out of memory");
    }
    gguf_close(g);
    if (n_tokens == 0)
        die("--vocab-from: no tokenizer.ggml.tokens in that file");
    return n_tokens;
}

static void put_f32(gguf_writer *w, struct owned *o, const char *name, size_t rows, size_t cols,
                    float *f)
{
    const uint64_t ne[2] = {cols, rows};
    if (gguf_writer_tensor(w, name, GGUF_T_F32, rows > 1 ? 2 : 1, ne, keep(o, f)) != STATUS_OK)
        die("cannot add a tensor");
}

static int cmd_random_mamba(const char *out, struct hparams *h, size_t qi, uint64_t seed,
                            int tied, const struct mamba_opts *mo)
{
    const int dim = h->dim, di = h->hidden, ds = mo->d_state, dc = mo->d_conv;
    const int dtr = mo->dt_rank > 0 ? mo->dt_rank : (dim + 15) / 16;
    if (dim <= 0 || di <= 0 || ds <= 0 || dc <= 0 || dc > 64 || dtr <= 0 || h->layers <= 0 ||
        h->ctx <= 0 || (!mo->vocab_from && h->vocab < 259))
        die("bad shape (dim, hidden = d_inner, d-state, d-conv <= 64, dt-rank > 0, vocab >= 259)");
    gguf_writer *w = gguf_writer_new();
    if (!w)
        die("out of memory");
    struct owned o = {0};
    int rc = gguf_writer_str(w, "general.architecture", "mamba");
    rc = rc ? rc : gguf_writer_str(w, "general.name", "random-mamba");
    rc = rc ? rc : gguf_writer_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
    const struct {
        const char *key;
        int v;
    } ints[] = {{"mamba.context_length", h->ctx}, {"mamba.embedding_length", dim},
                {"mamba.feed_forward_length", 0},  {"mamba.attention.head_count", 0},
                {"mamba.block_count", h->layers},  {"mamba.ssm.conv_kernel", dc},
                {"mamba.ssm.inner_size", di},      {"mamba.ssm.state_size", ds},
                {"mamba.ssm.time_step_rank", dtr}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        rc = rc ? rc : gguf_writer_u32(w, ints[i].key, (uint32_t)ints[i].v);
    rc = rc ? rc : gguf_writer_f32(w, "mamba.attention.layer_norm_rms_epsilon", h->rms_eps);
    rc = rc ? rc : gguf_writer_bool(w, "mamba.ssm.dt_b_c_rms", 0);
    if (rc != STATUS_OK)
        die("out of memory");
    size_t V = (size_t)h->vocab;
    if (mo->vocab_from) {
        V = copy_vocab(w, &o, mo->vocab_from);
    } else { /* the synthetic SentencePiece vocabulary of the llama files */
        char **pieces = xmalloc(V * sizeof *pieces);
        float *scores = xmalloc(V * sizeof *scores);
        for (size_t i = 0; i < V; i++) {
            char buf[32];
            if (i < 3)
                snprintf(buf, sizeof buf, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
            else if (i < 259)
                snprintf(buf, sizeof buf, "<0x%02X>", (unsigned)(i - 3));
            else
                snprintf(buf, sizeof buf, "\xe2\x96\x81m%zu", i - 259);
            pieces[i] = keep(&o, strdup(buf));
            scores[i] = i < 259 ? 0.0f : -(float)i / (float)V;
        }
        put_vocab(w, (const char *const *)pieces, scores, V);
        free(pieces);
        free(scores);
    }
    uint64_t st = mix(seed);
    const size_t D = (size_t)dim, DI = (size_t)di, DS = (size_t)ds, DC = (size_t)dc, R = (size_t)dtr;
    add_random_matrix(w, &o, &st, "token_embd.weight", qi, V, D, 0.5f);
    put_f32(w, &o, "output_norm.weight", 1, D, random_floats(&st, D, 0.1f, 1.0f));
    if (!tied)
        add_random_matrix(w, &o, &st, "output.weight", qi, V, D, 1.0f / sqrtf((float)dim));
    char nb[96];
    for (int l = 0; l < h->layers; l++) {
        put_f32(w, &o, blk(nb, l, "attn_norm.weight"), 1, D, random_floats(&st, D, 0.1f, 1.0f));
        add_random_matrix(w, &o, &st, blk(nb, l, "ssm_in.weight"), qi, 2 * DI, D, 1.0f / sqrtf((float)dim));
        put_f32(w, &o, blk(nb, l, "ssm_conv1d.weight"), DI, DC, random_floats(&st, DI * DC, 0.5f, 0));
        put_f32(w, &o, blk(nb, l, "ssm_conv1d.bias"), 1, DI, random_floats(&st, DI, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "ssm_x.weight"), qi, R + 2 * DS, DI, 1.0f / sqrtf((float)di));
        add_random_matrix(w, &o, &st, blk(nb, l, "ssm_dt.weight"), qi, DI, R, 1.0f / sqrtf((float)dtr));
        /* dt bias: softplus^-1 of a time step in about [0.001, 0.1], as Mamba initialises */
        put_f32(w, &o, blk(nb, l, "ssm_dt.bias"), 1, DI, random_floats(&st, DI, 1.15f, -3.45f));
        /* A = -exp(A_log), A_log = log(1 .. d_state) (S4D-real), jittered */
        float *A = xmalloc(DI * DS * sizeof *A);
        for (size_t c = 0; c < DI; c++)
            for (size_t k = 0; k < DS; k++)
                A[c * DS + k] = -(float)(k + 1) * (1.0f + 0.1f * uniform(&st));
        put_f32(w, &o, blk(nb, l, "ssm_a"), DI, DS, A);
        put_f32(w, &o, blk(nb, l, "ssm_d"), 1, DI, random_floats(&st, DI, 0.1f, 1.0f));
        add_random_matrix(w, &o, &st, blk(nb, l, "ssm_out.weight"), qi, D, DI, 1.0f / sqrtf((float)di));
    }
    return write_out(w, &o, out) == STATUS_OK ? 0 : 1;
}

/* A random BERT encoder in llama.cpp's conventions (LLM_ARCH_BERT): token, token-type and
 * position embeddings, LayerNorms with biases, Q/K/V/output and FFN biases; the vocabulary
 * copied from a WordPiece GGUF (--vocab-from, required). --pooling mean|cls|last|rank writes
 * bert.pooling_type; rank also writes the classification head (cls, cls.output). */
static int cmd_random_bert(const char *out, struct hparams *h, size_t qi, uint64_t seed,
                           const char *vocab_from, const char *pooling)
{
    const int pool = pooling_index(pooling);
    if (!vocab_from)
        die("--arch bert needs --vocab-from VOCAB.gguf (a WordPiece vocabulary)");
    if (h->dim <= 0 || h->hidden <= 0 || h->layers <= 0 || h->heads <= 0 || h->ctx <= 0 ||
        h->dim % h->heads != 0)
        die("bad shape (dim divisible by heads)");
    gguf_writer *w = gguf_writer_new();
    if (!w)
        die("out of memory");
    struct owned o = {0};
    const int nomic = strcmp(h->arch, "nomic-bert") == 0;
    const char *A = nomic ? "nomic-bert" : "bert";
    int rc = gguf_writer_str(w, "general.architecture", A);
    rc = rc ? rc : gguf_writer_str(w, "general.name", nomic ? "random-nomic-bert" : "random-bert");
    rc = rc ? rc : gguf_writer_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
    const struct {
        const char *key;
        int v;
    } ints[] = {{"context_length", h->ctx},      {"embedding_length", h->dim},
                {"feed_forward_length", h->hidden}, {"attention.head_count", h->heads},
                {"block_count", h->layers},      {"pooling_type", pool}};
    char key[96];
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", A, ints[i].key);
        rc = rc ? rc : gguf_writer_u32(w, key, (uint32_t)ints[i].v);
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", A);
    rc = rc ? rc : gguf_writer_f32(w, key, 1e-12f);
    snprintf(key, sizeof key, "%s.attention.causal", A);
    rc = rc ? rc : gguf_writer_bool(w, key, 0);
    if (nomic) {
        rc = rc ? rc : gguf_writer_f32(w, "nomic-bert.rope.freq_base", h->rope_theta);
    }
    if (rc != STATUS_OK)
        die("out of memory");
    const size_t V = copy_vocab(w, &o, vocab_from);
    gguf *src;
    struct status_err verr = {0};
    if (gguf_open(vocab_from, &src, &verr) != STATUS_OK)
        die(verr.msg);
    /* llama.cpp sizes token_types by this key (BERT vocabularies carry it: 2) */
    if (!gguf_find(src, "tokenizer.ggml.token_type_count") &&
        gguf_writer_u32(w, "tokenizer.ggml.token_type_count", 2) != STATUS_OK)
        die("out of memory");
    gguf_close(src);
    uint64_t st = mix(seed);
    const size_t D = (size_t)h->dim, F = (size_t)h->hidden, C = (size_t)h->ctx;
    const float sd = 1.0f / sqrtf((float)h->dim), sf = 1.0f / sqrtf((float)h->hidden);
    add_random_matrix(w, &o, &st, "token_embd.weight", qi, V, D, 0.5f);
    put_f32(w, &o, "token_types.weight", 2, D, random_floats(&st, 2 * D, 0.1f, 0));
    if (!nomic)
        put_f32(w, &o, "position_embd.weight", C, D, random_floats(&st, C * D, 0.2f, 0));
    put_f32(w, &o, "token_embd_norm.weight", 1, D, random_floats(&st, D, 0.1f, 1.0f));
    put_f32(w, &o, "token_embd_norm.bias", 1, D, random_floats(&st, D, 0.1f, 0));
    char nb[96];
    for (int l = 0; l < h->layers && nomic; l++) { /* fused QKV, SwiGLU, no linear biases */
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_qkv.weight"), qi, 3 * D, D, sd);
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_output.weight"), qi, D, D, sd);
        put_f32(w, &o, blk(nb, l, "attn_output_norm.weight"), 1, D, random_floats(&st, D, 0.1f, 1.0f));
        put_f32(w, &o, blk(nb, l, "attn_output_norm.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_up.weight"), qi, F, D, sd);
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_gate.weight"), qi, F, D, sd);
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_down.weight"), qi, D, F, sf);
        put_f32(w, &o, blk(nb, l, "layer_output_norm.weight"), 1, D, random_floats(&st, D, 0.1f, 1.0f));
        put_f32(w, &o, blk(nb, l, "layer_output_norm.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
    }
    for (int l = 0; l < h->layers && !nomic; l++) {
        static const char *const qkvo[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
        for (size_t m = 0; m < 4; m++) {
            char name[64];
            snprintf(name, sizeof name, "%s.weight", qkvo[m]);
            add_random_matrix(w, &o, &st, blk(nb, l, name), qi, D, D, sd);
            snprintf(name, sizeof name, "%s.bias", qkvo[m]);
            put_f32(w, &o, blk(nb, l, name), 1, D, random_floats(&st, D, 0.1f, 0));
        }
        put_f32(w, &o, blk(nb, l, "attn_output_norm.weight"), 1, D, random_floats(&st, D, 0.1f, 1.0f));
        put_f32(w, &o, blk(nb, l, "attn_output_norm.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_up.weight"), qi, F, D, sd);
        put_f32(w, &o, blk(nb, l, "ffn_up.bias"), 1, F, random_floats(&st, F, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_down.weight"), qi, D, F, sf);
        put_f32(w, &o, blk(nb, l, "ffn_down.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
        put_f32(w, &o, blk(nb, l, "layer_output_norm.weight"), 1, D, random_floats(&st, D, 0.1f, 1.0f));
        put_f32(w, &o, blk(nb, l, "layer_output_norm.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
    }
    if (pool == 4) { /* a reranker's classification head: one score */
        add_random_matrix(w, &o, &st, "cls.weight", qi, D, D, sd);
        put_f32(w, &o, "cls.bias", 1, D, random_floats(&st, D, 0.1f, 0));
        put_f32(w, &o, "cls.output.weight", 1, D, random_floats(&st, D, sd, 0));
        put_f32(w, &o, "cls.output.bias", 1, 1, random_floats(&st, 1, 0.1f, 0));
    }
    return write_out(w, &o, out) == STATUS_OK ? 0 : 1;
}

/* ---- random GPT-2 ---- */

/* GPT-2's byte-level alphabet: byte b as the code point its vocabulary writes (printable
 * bytes as themselves, the others from U+0100 on, in byte order). */
static unsigned gpt2_byte_cp(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
        return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++)
        n += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174);
    return 256 + n;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* A small byte-level BPE vocabulary in GPT-2's conventions (tokenizer.ggml.model gpt2,
 * pre-tokenizer gpt-2): the 256 byte tokens, every prefix of a few words as a merge
 * (" violence" is one token), and <|endoftext|> as BOS/EOS. Returns the number of tokens. */
static size_t put_gpt2_vocab(gguf_writer *w, struct owned *o)
{
    static const char *const WORDS[] = {
        " violence", " the", " of", " and", " to", " in", " is", " was", " that", " it",
        "Hello", " world", " peace", " war", " model", " server", " language", " text",
        " token", " time", " people", " city", " water", " light", " music", "The", "It",
        " a", " an", " on", " at", " for", " with", " from", "!", "\n\n"};
    const size_t n_words = sizeof WORDS / sizeof WORDS[0], cap = 256 + 16 * n_words + 1;
    char **toks = keep(o, xmalloc(cap * sizeof *toks));
    char **merges = keep(o, xmalloc(cap * sizeof *merges));
    int32_t *types = keep(o, xmalloc(cap * sizeof *types));
    size_t n = 0, nm = 0;
    for (unsigned b = 0; b < 256; b++) {
        char buf[4];
        buf[put_utf8(buf, gpt2_byte_cp(b))] = 0;
        types[n] = TOK_NORMAL;
        toks[n++] = keep(o, strdup(buf));
    }
    for (size_t wi = 0; wi < n_words; wi++) {
        char enc[64] = "";
        size_t len = 0, prev_len = 0;
        for (const unsigned char *c = (const unsigned char *)WORDS[wi]; *c; c++) {
            char ch[4];
            const size_t cl = put_utf8(ch, gpt2_byte_cp(*c));
            prev_len = len;
            memcpy(enc + len, ch, cl);
            len += cl;
            enc[len] = 0;
            if (prev_len == 0)
                continue;
            size_t k = 0;
            while (k < n && strcmp(toks[k], enc) != 0)
                k++;
            if (k < n)
                continue; /* an earlier word made this prefix */
            char m[80];
            snprintf(m, sizeof m, "%.*s %.*s", (int)prev_len, enc, (int)cl, ch);
            merges[nm++] = keep(o, strdup(m));
            types[n] = TOK_NORMAL;
            toks[n++] = keep(o, strdup(enc));
        }
    }
    types[n] = TOK_CONTROL;
    toks[n++] = keep(o, strdup("<|endoftext|>"));
    int rc = gguf_writer_str(w, "tokenizer.ggml.model", "gpt2");
    rc = rc ? rc : gguf_writer_str(w, "tokenizer.ggml.pre", "gpt-2");
    rc = rc ? rc : gguf_writer_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, n);
    rc = rc ? rc : gguf_writer_arr_i32(w, "tokenizer.ggml.token_type", types, n);
    rc = rc ? rc : gguf_writer_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, nm);
    rc = rc ? rc : gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)(n - 1));
    rc = rc ? rc : gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(n - 1));
    if (rc != STATUS_OK)
        die("out of memory");
    return n;
}

/* llama.cpp's GPT-2 layout (LLM_ARCH_GPT2): learned positions, LayerNorms with biases, a
 * fused QKV with bias, biased projections, an ungated GELU MLP. */
static int cmd_random_gpt2(const char *out, struct hparams *h, size_t qi, uint64_t seed,
                           int tied, const char *vocab_from)
{
    if (h->dim <= 0 || h->heads <= 0 || h->dim % h->heads || h->kv_heads <= 0 ||
        h->heads % h->kv_heads || h->hidden <= 0 || h->layers <= 0 || h->ctx <= 0)
        die("bad shape (dim % heads, heads % kv-heads)");
    gguf_writer *w = gguf_writer_new();
    if (!w)
        die("out of memory");
    struct owned o = {0};
    char k[96];
    int rc = gguf_writer_str(w, "general.architecture", "gpt2");
    rc = rc ? rc : gguf_writer_str(w, "general.name", "random-gpt2");
    rc = rc ? rc : gguf_writer_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
    const struct {
        const char *key;
        int v;
    } ints[] = {{"context_length", h->ctx},          {"embedding_length", h->dim},
                {"feed_forward_length", h->hidden},  {"block_count", h->layers},
                {"attention.head_count", h->heads}, {"attention.head_count_kv", h->kv_heads}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(k, sizeof k, "gpt2.%s", ints[i].key);
        rc = rc ? rc : gguf_writer_u32(w, k, (uint32_t)ints[i].v);
    }
    rc = rc ? rc : gguf_writer_f32(w, "gpt2.attention.layer_norm_epsilon", h->rms_eps);
    if (rc != STATUS_OK)
        die("out of memory");
    const size_t V = vocab_from ? copy_vocab(w, &o, vocab_from) : put_gpt2_vocab(w, &o);
    const size_t D = (size_t)h->dim, F = (size_t)h->hidden, C = (size_t)h->ctx;
    const size_t KV = D / (size_t)h->heads * (size_t)h->kv_heads;
    const float sc = 1.0f / sqrtf((float)D);
    uint64_t st = mix(seed);
    add_random_matrix(w, &o, &st, "token_embd.weight", qi, V, D, 0.5f);
    add_random_matrix(w, &o, &st, "position_embd.weight", qi, C, D, 0.2f);
    put_f32(w, &o, "output_norm.weight", 1, D, random_floats(&st, D, 0.1f, 1.0f));
    put_f32(w, &o, "output_norm.bias", 1, D, random_floats(&st, D, 0.1f, 0));
    if (!tied) /* llama.cpp (c392e50) requires it; real GPT-2 files repeat token_embd here */
        add_random_matrix(w, &o, &st, "output.weight", qi, V, D, sc);
    char nb[96];
    for (int l = 0; l < h->layers; l++) {
        put_f32(w, &o, blk(nb, l, "attn_norm.weight"), 1, D, random_floats(&st, D, 0.1f, 1.0f));
        put_f32(w, &o, blk(nb, l, "attn_norm.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_qkv.weight"), qi, D + 2 * KV, D, sc);
        put_f32(w, &o, blk(nb, l, "attn_qkv.bias"), 1, D + 2 * KV, random_floats(&st, D + 2 * KV, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "attn_output.weight"), qi, D, D, sc);
        put_f32(w, &o, blk(nb, l, "attn_output.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
        put_f32(w, &o, blk(nb, l, "ffn_norm.weight"), 1, D, random_floats(&st, D, 0.1f, 1.0f));
        put_f32(w, &o, blk(nb, l, "ffn_norm.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_up.weight"), qi, F, D, 2.0f * sc);
        put_f32(w, &o, blk(nb, l, "ffn_up.bias"), 1, F, random_floats(&st, F, 0.1f, 0));
        add_random_matrix(w, &o, &st, blk(nb, l, "ffn_down.weight"), qi, D, F, 1.0f / sqrtf((float)F));
        put_f32(w, &o, blk(nb, l, "ffn_down.bias"), 1, D, random_floats(&st, D, 0.1f, 0));
    }
    return write_out(w, &o, out) == STATUS_OK ? 0 : 1;
}

static void usage(void)
{
    fputs("usage: lmserve-gguf inspect FILE\n"
          "       lmserve-gguf convert CKPT -t TOKENIZER -o OUT.gguf [--type F32|F16|Q8_0|Q4_0|Q4_K]\n"
          "       lmserve-gguf random -o OUT.gguf [--arch llama|qwen2] [--type T] [--dim N]\n"
          "                    [--hidden N] [--layers N] [--heads N] [--kv-heads N] [--vocab N]\n"
          "                    [--ctx N] [--seed N] [--tied] [--rope-theta X] [--pooling P]\n"
          "       lmserve-gguf random -o OUT.gguf --arch mamba [--type T] [--dim N] [--hidden N]\n"
          "                    [--layers N] [--vocab N] [--ctx N] [--seed N] [--tied] [--d-state N]\n"
          "                    [--d-conv N] [--dt-rank N] [--vocab-from VOCAB.gguf]\n"
          "       lmserve-gguf random -o OUT.gguf --arch gpt2 [--type T] [--dim N] [--hidden N]\n"
          "                    [--layers N] [--heads N] [--kv-heads N] [--ctx N] [--seed N] [--tied]\n"
          "                    [--vocab-from VOCAB.gguf]\n"
          "       lmserve-gguf random -o OUT.gguf --arch bert|nomic-bert --vocab-from VOCAB.gguf [--type T]\n"
          "                    [--dim N] [--hidden N] [--layers N] [--heads N] [--ctx N] [--seed N]\n"
          "                    [--pooling mean|cls|last|rank|none]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "inspect") == 0) {
        if (argc != 3)
            usage();
        return cmd_inspect(argv[2]);
    }
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"tokenizer", required_argument, 0, 't'},
        {"type", required_argument, 0, 'q'},   {"arch", required_argument, 0, 'a'},
        {"dim", required_argument, 0, 'd'},    {"hidden", required_argument, 0, 'H'},
        {"layers", required_argument, 0, 'l'}, {"heads", required_argument, 0, 'n'},
        {"kv-heads", required_argument, 0, 'k'}, {"vocab", required_argument, 0, 'v'},
        {"ctx", required_argument, 0, 'c'},    {"seed", required_argument, 0, 's'},
        {"tied", no_argument, 0, 'T'},         {"rope-theta", required_argument, 0, 'r'},
        {"d-state", required_argument, 0, 'S'}, {"d-conv", required_argument, 0, 'C'},
        {"dt-rank", required_argument, 0, 'R'}, {"vocab-from", required_argument, 0, 'V'},
        {"pooling", required_argument, 0, 'P'},
        {0, 0, 0, 0}};
    struct mamba_opts mo = {16, 4, 0, NULL};
    int hidden_set = 0, kv_set = 0, pooling_set = 0;
    const char *out = NULL, *tok = NULL, *pooling = "mean";
    size_t qi = 0;
    uint64_t seed = 1;
    int tied = 0;
    struct hparams h = {"llama", 64, 192, 2, 4, 2, 512, 256, 10000.0f, 1e-5f};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "o:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 't': tok = optarg; break;
        case 'q': qi = qtype_index(optarg); break;
        case 'a': h.arch = optarg; break;
        case 'd': h.dim = atoi(optarg); break;
        case 'H': h.hidden = atoi(optarg); hidden_set = 1; break;
        case 'S': mo.d_state = atoi(optarg); break;
        case 'C': mo.d_conv = atoi(optarg); break;
        case 'R': mo.dt_rank = atoi(optarg); break;
        case 'V': mo.vocab_from = optarg; break;
        case 'P': pooling = optarg; pooling_set = 1; break;
        case 'l': h.layers = atoi(optarg); break;
        case 'n': h.heads = atoi(optarg); break;
        case 'k': h.kv_heads = atoi(optarg); kv_set = 1; break;
        case 'v': h.vocab = atoi(optarg); break;
        case 'c': h.ctx = atoi(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'T': tied = 1; break;
        case 'r': h.rope_theta = strtof(optarg, NULL); break;
        default: usage();
        }
    }
    if (!out)
        usage();
    if (strcmp(cmd, "convert") == 0) {
        if (optind != argc - 1 || !tok)
            usage();
        return cmd_convert(argv[optind], tok, out, qi);
    }
    if (strcmp(cmd, "random") == 0 && optind == argc && strcmp(h.arch, "mamba") == 0) {
        if (!hidden_set)
            h.hidden = 2 * h.dim; /* d_inner: Mamba's expansion factor 2 */
        return cmd_random_mamba(out, &h, qi, seed, tied, &mo);
    }
    if (strcmp(cmd, "random") == 0 && optind == argc &&
        (strcmp(h.arch, "bert") == 0 || strcmp(h.arch, "nomic-bert") == 0))
        return cmd_random_bert(out, &h, qi, seed, mo.vocab_from, pooling);
    if (strcmp(cmd, "random") == 0 && optind == argc && strcmp(h.arch, "gpt2") == 0) {
        if (!hidden_set)
            h.hidden = 4 * h.dim; /* GPT-2's MLP width */
        if (!kv_set)
            h.kv_heads = h.heads;
        return cmd_random_gpt2(out, &h, qi, seed, tied, mo.vocab_from);
    }
    if (strcmp(cmd, "random") == 0 && optind == argc)
        return cmd_random(out, &h, qi, seed, tied, pooling_set ? pooling_index(pooling) : -1);
    usage();
    return 2;
}
