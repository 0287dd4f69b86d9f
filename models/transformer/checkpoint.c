/* checkpoint.c: mapping llama2.c checkpoints: the legacy format (7 int32 header, float32
 * weights) and export.py's "ak42" versions 1 (float32) and 2 (Q8_0). Every tensor is
 * checked against the file size before a pointer is formed. Not the forward pass. */
#include "../gguf/gguf.h"
#include "transformer_internal.h"
#include "../util/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ak42 header field offsets (export.py packs them without padding) */
#define V_OFF_VERSION 4
#define V_OFF_CONFIG 8
#define V_OFF_SHARED (V_OFF_CONFIG + 4 * CKPT_LEGACY_HEADER_INTS)
#define V_OFF_GROUP (V_OFF_SHARED + 1)

/* A cursor over the mapped bytes: every take checks the remaining size first. */
struct cursor {
    const unsigned char *base;
    size_t off, len;
    const char *path;
    struct status_err *err;
};

static int take(struct cursor *c, size_t bytes, size_t align, const void **out, const char *what)
{
    if (bytes > c->len - c->off)
        return status_set(c->err, STATUS_BAD_FORMAT, NULL,
                          "%s: truncated checkpoint: %s needs %zu bytes at offset %zu, file has %zu",
                          c->path, what, bytes, c->off, c->len);
    if (align > 1 && c->off % align != 0)
        return status_set(c->err, STATUS_BAD_FORMAT, NULL,
                          "%s: %s at offset %zu is not %zu-byte aligned", c->path, what, c->off,
                          align);
    *out = c->base + c->off;
    c->off += bytes;
    return STATUS_OK;
}

static int take_f32(struct cursor *c, size_t n, const float **out, const char *what)
{
    const void *p = NULL;
    int rc = take(c, n * sizeof(float), sizeof(float), &p, what);
    if (rc == STATUS_OK)
        *out = p;
    return rc;
}

/* One matrix: float32, or (version 2) int8 values followed by their group scales. */
static int take_tensor(struct cursor *c, const struct transformer_shape *sh, size_t rows,
                       size_t cols, struct tensor *t, const char *what)
{
    memset(t, 0, sizeof *t);
    t->rows = rows;
    t->cols = cols;
    const size_t n = rows * cols;
    if (sh->version != 2) {
        const float *f = NULL;
        int rc = take_f32(c, n, &f, what);
        t->m = (struct kernels_mat){.type = KERNELS_F32, .data = f,
                                    .row_bytes = cols * sizeof(float), .cols = cols};
        return rc;
    }
    const size_t gs = (size_t)sh->group_size;
    if (n % gs != 0)
        return status_set(c->err, STATUS_BAD_FORMAT, NULL,
                          "%s: %s has %zu values, not a multiple of the group size %zu", c->path,
                          what, n, gs);
    const void *q = NULL;
    const float *scales = NULL;
    int rc = take(c, n, 1, &q, what);
    if (rc == STATUS_OK)
        rc = take_f32(c, n / gs, &scales, what);
    if (rc != STATUS_OK)
        return rc;
    t->m = (struct kernels_mat){.type = KERNELS_Q8_G, .data = q, .row_bytes = cols, .cols = cols,
                                .scales = scales, .gs = gs};
    return STATUS_OK;
}

static int32_t rd_i32(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int check_shape(struct transformer_shape *s, const char *path, struct status_err *err)
{
#define BAD(cond, what)                                                                           \
    if (cond)                                                                                     \
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s: bad checkpoint header: %s", path, what)
    BAD(s->dim <= 0 || s->dim > CKPT_DIM_MAX, "dim out of range");
    BAD(s->hidden_dim <= 0 || s->hidden_dim > CKPT_HIDDEN_MAX, "hidden_dim out of range");
    BAD(s->n_layers <= 0 || s->n_layers > CKPT_LAYERS_MAX, "n_layers out of range");
    BAD(s->n_heads <= 0 || s->n_heads > CKPT_HEADS_MAX, "n_heads out of range");
    BAD(s->n_kv_heads <= 0 || s->n_kv_heads > s->n_heads, "n_kv_heads out of range");
    BAD(s->vocab <= 0 || s->vocab > CKPT_VOCAB_MAX, "vocab_size out of range");
    BAD(s->seq_len <= 0 || s->seq_len > CKPT_SEQ_MAX, "seq_len out of range");
    BAD(s->dim % s->n_heads != 0, "dim is not a multiple of n_heads");
    BAD(s->n_heads % s->n_kv_heads != 0, "n_heads is not a multiple of n_kv_heads");
    BAD((s->dim / s->n_heads) % 2 != 0, "head size is odd (RoPE rotates pairs)");
    BAD(s->version == 2 && (s->group_size <= 0 || s->group_size > s->dim),
        "Q8_0 group size out of range");
#undef BAD
    return STATUS_OK;
}

static int alloc_layers(struct checkpoint *ck, struct status_err *err)
{
    const size_t L = (size_t)ck->shape.n_layers;
    ck->rms_att = util_calloc(L, sizeof *ck->rms_att);
    ck->rms_ffn = util_calloc(L, sizeof *ck->rms_ffn);
    struct tensor **all[] = {&ck->wq, &ck->wk, &ck->wv, &ck->wo, &ck->w1, &ck->w2, &ck->w3};
    int ok = ck->rms_att && ck->rms_ffn;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        *all[i] = util_calloc(L, sizeof **all[i]);
        ok = ok && *all[i];
    }
    return ok ? STATUS_OK : status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
}

/* The per-layer matrices in export order: all wq, all wk, ..., all w3. */
static int take_layer_mats(struct cursor *c, struct checkpoint *ck)
{
    const struct transformer_shape *s = &ck->shape;
    const size_t dim = (size_t)s->dim, hid = (size_t)s->hidden_dim;
    const size_t kv = dim * (size_t)s->n_kv_heads / (size_t)s->n_heads;
    struct {
        struct tensor *t;
        size_t rows, cols;
        const char *name;
    } mats[] = {{ck->wq, dim, dim, "wq"}, {ck->wk, kv, dim, "wk"}, {ck->wv, kv, dim, "wv"},
                {ck->wo, dim, dim, "wo"}, {ck->w1, hid, dim, "w1"}, {ck->w2, dim, hid, "w2"},
                {ck->w3, hid, dim, "w3"}};
    for (size_t m = 0; m < sizeof mats / sizeof mats[0]; m++)
        for (int l = 0; l < s->n_layers; l++) {
            int rc = take_tensor(c, s, mats[m].rows, mats[m].cols, &mats[m].t[l], mats[m].name);
            if (rc != STATUS_OK)
                return rc;
        }
    return STATUS_OK;
}

static int take_norms(struct cursor *c, struct checkpoint *ck, const float **per_layer,
                      const char *what)
{
    for (int l = 0; l < ck->shape.n_layers; l++) {
        int rc = take_f32(c, (size_t)ck->shape.dim, &per_layer[l], what);
        if (rc != STATUS_OK)
            return rc;
    }
    return STATUS_OK;
}

static int map_legacy(struct cursor *c, struct checkpoint *ck)
{
    const struct transformer_shape *s = &ck->shape;
    const size_t dim = (size_t)s->dim, vocab = (size_t)s->vocab;
    const size_t head = dim / (size_t)s->n_heads;
    const void *skip;
    int rc = take(c, 4 * CKPT_LEGACY_HEADER_INTS, 1, &skip, "header");
    if (rc == STATUS_OK)
        rc = take_tensor(c, s, vocab, dim, &ck->tok_emb, "token_embedding");
    if (rc == STATUS_OK)
        rc = take_norms(c, ck, ck->rms_att, "rms_att");
    /* legacy order interleaves the norms: wq wk wv wo, rms_ffn, w1 w2 w3 */
    struct tensor *first[] = {ck->wq, ck->wk, ck->wv, ck->wo};
    const size_t kv = dim * (size_t)s->n_kv_heads / (size_t)s->n_heads;
    const size_t hid = (size_t)s->hidden_dim;
    const size_t rows1[] = {dim, kv, kv, dim};
    for (int m = 0; m < 4 && rc == STATUS_OK; m++)
        for (int l = 0; l < s->n_layers && rc == STATUS_OK; l++)
            rc = take_tensor(c, s, rows1[m], dim, &first[m][l], "attention weights");
    if (rc == STATUS_OK)
        rc = take_norms(c, ck, ck->rms_ffn, "rms_ffn");
    struct tensor *second[] = {ck->w1, ck->w2, ck->w3};
    const size_t rows2[] = {hid, dim, hid}, cols2[] = {dim, hid, dim};
    for (int m = 0; m < 3 && rc == STATUS_OK; m++)
        for (int l = 0; l < s->n_layers && rc == STATUS_OK; l++)
            rc = take_tensor(c, s, rows2[m], cols2[m], &second[m][l], "ffn weights");
    if (rc == STATUS_OK)
        rc = take_f32(c, dim, &ck->rms_final, "rms_final");
    const float *freq;
    if (rc == STATUS_OK) /* freq_cis_real, freq_cis_imag: recomputed, skipped */
        rc = take_f32(c, 2 * (size_t)s->seq_len * head / 2, &freq, "freq_cis");
    if (rc == STATUS_OK && !s->shared_classifier)
        rc = take_tensor(c, s, vocab, dim, &ck->wcls, "wcls");
    return rc;
}

static int map_versioned(struct cursor *c, struct checkpoint *ck)
{
    const struct transformer_shape *s = &ck->shape;
    const size_t dim = (size_t)s->dim, vocab = (size_t)s->vocab;
    const void *skip;
    int rc = take(c, CKPT_V_HEADER_BYTES, 1, &skip, "header");
    if (rc == STATUS_OK)
        rc = take_norms(c, ck, ck->rms_att, "rms_att");
    if (rc == STATUS_OK)
        rc = take_norms(c, ck, ck->rms_ffn, "rms_ffn");
    if (rc == STATUS_OK)
        rc = take_f32(c, dim, &ck->rms_final, "rms_final");
    if (rc == STATUS_OK)
        rc = take_tensor(c, s, vocab, dim, &ck->tok_emb, "token_embedding");
    if (rc == STATUS_OK)
        rc = take_layer_mats(c, ck);
    if (rc == STATUS_OK && !s->shared_classifier)
        rc = take_tensor(c, s, vocab, dim, &ck->wcls, "wcls");
    return rc;
}

static int read_header(const unsigned char *p, size_t len, struct transformer_shape *s,
                       const char *path, struct status_err *err)
{
    if (len < 4 * CKPT_LEGACY_HEADER_INTS)
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s: too short for a checkpoint (%zu bytes)",
                          path, len);
    uint32_t magic;
    memcpy(&magic, p, sizeof magic);
    const unsigned char *cfg = p;
    if (magic == CKPT_MAGIC) {
        if (len < CKPT_V_HEADER_BYTES)
            return status_set(err, STATUS_BAD_FORMAT, NULL, "%s: truncated ak42 header", path);
        s->version = rd_i32(p + V_OFF_VERSION);
        if (s->version != 1 && s->version != 2)
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s: unsupported ak42 version %d (1 and 2 are known)", path,
                              s->version);
        cfg = p + V_OFF_CONFIG;
        s->shared_classifier = p[V_OFF_SHARED] != 0;
        s->group_size = s->version == 2 ? rd_i32(p + V_OFF_GROUP) : 0;
    } else {
        s->version = 0;
    }
    s->dim = rd_i32(cfg);
    s->hidden_dim = rd_i32(cfg + 4);
    s->n_layers = rd_i32(cfg + 8);
    s->n_heads = rd_i32(cfg + 12);
    s->n_kv_heads = rd_i32(cfg + 16);
    int32_t vocab = rd_i32(cfg + 20);
    s->seq_len = rd_i32(cfg + 24);
    if (s->version == 0) {
        s->shared_classifier = vocab > 0;
        vocab = vocab == INT32_MIN ? 0 : (vocab < 0 ? -vocab : vocab);
    }
    s->vocab = vocab;
    return check_shape(s, path, err);
}

int checkpoint_open(const char *path, struct checkpoint *ck, struct status_err *err)
{
    memset(ck, 0, sizeof *ck);
    struct mapfile mf;
    int rc = mapfile_open(path, 0, 4 * CKPT_LEGACY_HEADER_INTS, "a checkpoint", &mf, err);
    if (rc != STATUS_OK)
        return rc;
    void *map = (void *)mf.data;
    const size_t len = mf.len;
    ck->map = map;
    ck->map_len = len;
    rc = read_header(map, len, &ck->shape, path, err);
    if (rc == STATUS_OK)
        rc = alloc_layers(ck, err);
    if (rc != STATUS_OK)
        goto fail;
    struct cursor c = {.base = map, .off = 0, .len = len, .path = path, .err = err};
    rc = ck->shape.version == 0 ? map_legacy(&c, ck) : map_versioned(&c, ck);
    if (rc != STATUS_OK)
        goto fail;
    if (c.off != len) {
        rc = status_set(err, STATUS_BAD_FORMAT, NULL,
                        "%s: checkpoint has %zu bytes, its header implies %zu (wrong shape or "
                        "not a llama2.c checkpoint)",
                        path, len, c.off);
        goto fail;
    }
    if (ck->shape.shared_classifier)
        ck->wcls = ck->tok_emb;
    /* parameters: the classifier counted once when shared */
    const struct transformer_shape *s = &ck->shape;
    const size_t dim = (size_t)s->dim, L = (size_t)s->n_layers;
    const size_t kv = dim * (size_t)s->n_kv_heads / (size_t)s->n_heads;
    ck->shape.n_params = (size_t)s->vocab * dim * (s->shared_classifier ? 1 : 2) +
                         L * (2 * dim + 2 * dim * dim + 2 * kv * dim +
                              3 * dim * (size_t)s->hidden_dim) +
                         dim;
    ck->shape.bytes = len;
    ck->arch = (struct arch){.name = "llama2c", .n_rot = s->dim / s->n_heads,
                             .rope_theta = TRANSFORMER_ROPE_THETA, .rope_freq_scale = 1.0f,
                             .rms_eps = TRANSFORMER_RMS_EPS, .act = KERNELS_ACT_SILU,
                             .gated = 1};
    madvise(map, len, MADV_WILLNEED);
    return STATUS_OK;
fail:
    checkpoint_close(ck);
    return rc;
}

void checkpoint_close(struct checkpoint *ck)
{
    if (!ck)
        return;
    free(ck->rms_att);
    free(ck->rms_ffn);
    free(ck->wq);
    free(ck->wk);
    free(ck->wv);
    free(ck->wo);
    free(ck->w1);
    free(ck->w2);
    free(ck->w3);
    free(ck->bq);
    free(ck->bk);
    free(ck->bv);
    free(ck->mamba);
    free(ck->lb);
    free(ck->bert);
    free(ck->interleaved);
    if (ck->map)
        munmap(ck->map, ck->map_len);
    gguf_close(ck->g);
    memset(ck, 0, sizeof *ck);
}

const char *checkpoint_format_name(int version)
{
    switch (version) {
    case 0: return "llama2c-legacy";
    case 1: return "llama2c-v1-f32";
    case 2: return "llama2c-v2-q8_0";
    case 3: return "gguf";
    }
    return "unknown";
}
