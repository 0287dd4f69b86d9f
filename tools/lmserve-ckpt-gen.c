/* lmserve-ckpt-gen: random-weight llama2.c checkpoints of any shape (legacy, ak42 v1
 * float32, ak42 v2 Q8_0) and a matching random tokenizer.bin, from a fixed seed. The same
 * seed gives the same weights in every format, so the formats can be checked against each
 * other. For tests and benchmarks; the models say nothing. */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitmix.h"

#define GEN_MAGIC 0x616b3432u /* "ak42" */
#define GEN_V_HEADER_BYTES 256
#define GEN_GROUP_DEFAULT 64       /* export.py's default Q8_0 group */
#define GEN_Q8_MAX 127.0f
#define GEN_PIECE_MAX 16           /* longest random merged piece, bytes */
#define GEN_SPECIAL_TOKENS 259     /* <unk>, <s>, </s>, 256 byte tokens */
#define GEN_ROPE_THETA 10000.0

struct shape {
    int dim, hidden, layers, heads, kv_heads, vocab, seq;
};

struct rng {
    uint64_t s;
};
static uint64_t rng_next(struct rng *r) { return mix(r->s++); }
static float rng_uniform(struct rng *r) /* [-1, 1) */
{
    return (float)((double)(rng_next(r) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Tensor 'tag' of layer 'layer': uniform(-scale, scale) (+ 'offset'), its own stream. */
static float *make_tensor(uint64_t seed, int tag, int layer, size_t n, float scale, float offset)
{
    float *w = malloc(n * sizeof *w);
    if (!w) {
        fprintf(stderr, "lmserve-ckpt-gen: out of memory\n");
        exit(1);
    }
    struct rng r = {mix(seed ^ mix((uint64_t)tag * 1000003u + (uint64_t)layer))};
    for (size_t i = 0; i < n; i++)
        w[i] = offset + scale * rng_uniform(&r);
    return w;
}

static void put(FILE *f, const void *p, size_t size, size_t n)
{
    if (n > 0 && fwrite(p, size, n, f) != n) {
        perror("lmserve-ckpt-gen: write");
        exit(1);
    }
}

/* Write w as float32, or as export.py's Q8_0: int8 values, then one scale per group. */
static void write_tensor(FILE *f, const float *w, size_t n, int version, int gs)
{
    if (version != 2) {
        put(f, w, sizeof *w, n);
        return;
    }
    int8_t *q = calloc(n, 1);
    float *s = malloc(n / (size_t)gs * sizeof *s);
    if (!q || !s || n % (size_t)gs != 0) {
        fprintf(stderr, "lmserve-ckpt-gen: out of memory or %zu values not in groups of %d\n", n, gs);
        exit(1);
    }
    for (size_t g = 0; g < n / (size_t)gs; g++) {
        float m = 0.0f;
        for (int k = 0; k < gs; k++)
            m = fmaxf(m, fabsf(w[g * (size_t)gs + (size_t)k]));
        s[g] = m / GEN_Q8_MAX;
        for (int k = 0; k < gs; k++) {
            size_t i = g * (size_t)gs + (size_t)k;
            q[i] = (int8_t)(s[g] > 0.0f ? roundf(w[i] / s[g]) : 0.0f);
        }
    }
    put(f, q, 1, n);
    put(f, s, sizeof *s, n / (size_t)gs);
    free(q);
    free(s);
}

enum tag { T_EMB, T_RMS_ATT, T_WQ, T_WK, T_WV, T_WO, T_RMS_FFN, T_W1, T_W2, T_W3, T_RMS_F, T_CLS };

struct gen {
    struct shape s;
    uint64_t seed;
    int version, gs, shared;
    size_t kv;
};

static void emit(FILE *f, const struct gen *g, int tag, int layer)
{
    const size_t d = (size_t)g->s.dim, h = (size_t)g->s.hidden, v = (size_t)g->s.vocab;
    size_t rows = 0, cols = 0;
    float scale, offset = 0.0f;
    int quant = g->version == 2;
    switch (tag) {
    case T_EMB: case T_CLS: rows = v; cols = d; break;
    case T_RMS_ATT: case T_RMS_FFN: case T_RMS_F: rows = 1; cols = d; quant = 0; break;
    case T_WQ: case T_WO: rows = d; cols = d; break;
    case T_WK: case T_WV: rows = g->kv; cols = d; break;
    case T_W1: case T_W3: rows = h; cols = d; break;
    case T_W2: rows = d; cols = h; break;
    }
    if (rows == 1) { /* norms around 1 */
        scale = 0.2f;
        offset = 1.0f;
    } else if (tag == T_EMB || tag == T_CLS) {
        scale = 1.0f;
    } else {
        scale = 1.7f / sqrtf((float)cols); /* keeps activations of order 1 through layers */
    }
    float *w = make_tensor(g->seed, tag, layer, rows * cols, scale, offset);
    write_tensor(f, w, rows * cols, quant ? 2 : 1, g->gs);
    free(w);
}

static void emit_layers(FILE *f, const struct gen *g, int tag)
{
    for (int l = 0; l < g->s.layers; l++)
        emit(f, g, tag, l);
}

static void write_checkpoint(const char *path, const struct gen *g)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    const struct shape *s = &g->s;
    if (g->version == 0) {
        int32_t hdr[7] = {s->dim, s->hidden, s->layers, s->heads, s->kv_heads,
                          g->shared ? s->vocab : -s->vocab, s->seq};
        put(f, hdr, sizeof hdr[0], 7);
        emit(f, g, T_EMB, 0);
        emit_layers(f, g, T_RMS_ATT);
        emit_layers(f, g, T_WQ);
        emit_layers(f, g, T_WK);
        emit_layers(f, g, T_WV);
        emit_layers(f, g, T_WO);
        emit_layers(f, g, T_RMS_FFN);
        emit_layers(f, g, T_W1);
        emit_layers(f, g, T_W2);
        emit_layers(f, g, T_W3);
        emit(f, g, T_RMS_F, 0);
        const int hs = s->dim / s->heads;
        for (int part = 0; part < 2; part++) /* freq_cis_real, then _imag */
            for (int p = 0; p < s->seq; p++)
                for (int i = 0; i < hs / 2; i++) {
                    double fr = pow(GEN_ROPE_THETA, -(2.0 * i) / hs) * p;
                    float v = (float)(part == 0 ? cos(fr) : sin(fr));
                    put(f, &v, sizeof v, 1);
                }
        if (!g->shared)
            emit(f, g, T_CLS, 0);
    } else {
        unsigned char hdr[GEN_V_HEADER_BYTES] = {0};
        uint32_t magic = GEN_MAGIC;
        int32_t ver = g->version;
        int32_t cfg[7] = {s->dim, s->hidden, s->layers, s->heads, s->kv_heads, s->vocab, s->seq};
        memcpy(hdr, &magic, 4);
        memcpy(hdr + 4, &ver, 4);
        memcpy(hdr + 8, cfg, sizeof cfg);
        hdr[36] = (unsigned char)(g->shared != 0);
        if (g->version == 2) {
            int32_t gs = g->gs;
            memcpy(hdr + 37, &gs, 4);
        }
        put(f, hdr, 1, sizeof hdr);
        /* both versions: the norms (float32) first, then the matrices */
        emit_layers(f, g, T_RMS_ATT);
        emit_layers(f, g, T_RMS_FFN);
        emit(f, g, T_RMS_F, 0);
        emit(f, g, T_EMB, 0);
        emit_layers(f, g, T_WQ);
        emit_layers(f, g, T_WK);
        emit_layers(f, g, T_WV);
        emit_layers(f, g, T_WO);
        emit_layers(f, g, T_W1);
        emit_layers(f, g, T_W2);
        emit_layers(f, g, T_W3);
        if (!g->shared)
            emit(f, g, T_CLS, 0);
    }
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- tokenizer ---- */

struct piece {
    char s[GEN_PIECE_MAX + 1];
    int len;
    float score;
};

static int piece_exists(const struct piece *p, int n, const char *s, int len)
{
    for (int i = 0; i < n; i++)
        if (p[i].len == len && memcmp(p[i].s, s, (size_t)len) == 0)
            return 1;
    return 0;
}

static void write_tokenizer(const char *path, int vocab, uint64_t seed)
{
    static const char chars[] = " etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ.,!?'\"\n0123456789";
    struct piece *p = calloc((size_t)vocab, sizeof *p);
    int n = 0;
    const char *special[3] = {"<unk>", "\n<s>\n", "\n</s>\n"};
    for (int i = 0; i < 3 && n < vocab; i++, n++) {
        p[n].len = (int)strlen(special[i]);
        memcpy(p[n].s, special[i], (size_t)p[n].len);
    }
    for (int b = 0; b < 256 && n < vocab; b++, n++)
        p[n].len = snprintf(p[n].s, sizeof p[n].s, "<0x%02X>", b);
    /* merges first (scores 0, -1, ...), then the single characters below them all */
    const int n_chars = (int)sizeof chars - 1;
    int n_merges = vocab - n - n_chars;
    if (n_merges < 0)
        n_merges = 0;
    int first_merge = n, first_char = n + n_merges;
    for (int c = 0; c < n_chars && first_char + c < vocab; c++) {
        struct piece *q = &p[first_char + c];
        q->s[0] = chars[c];
        q->len = 1;
        q->score = -(float)(n_merges + c);
    }
    struct rng r = {mix(seed ^ 0x70C)};
    /* the pool a merge draws from: characters and earlier merges (hash-free: small pools) */
    int made = 0, attempts = 0;
    while (made < n_merges && attempts < 100 * n_merges + 1000) {
        attempts++;
        int pool = n_chars + made;
        int ia = (int)(rng_next(&r) % (uint64_t)pool), ib = (int)(rng_next(&r) % (uint64_t)pool);
        /* favour recent short pieces a little less than characters: realistic enough */
        const struct piece *a = ia < n_chars ? &p[first_char + ia] : &p[first_merge + ia - n_chars];
        const struct piece *b = ib < n_chars ? &p[first_char + ib] : &p[first_merge + ib - n_chars];
        if (a->len + b->len > GEN_PIECE_MAX)
            continue;
        char s[2 * GEN_PIECE_MAX + 1];
        memcpy(s, a->s, (size_t)a->len);
        memcpy(s + a->len, b->s, (size_t)b->len);
        int len = a->len + b->len;
        /* uniqueness: check recent merges and characters only when small; big vocabularies
         * accept rare duplicates (lookups take the lowest id, as the loader documents) */
        if (n_merges <= 4096 && (piece_exists(p + first_merge, made, s, len) ||
                                 piece_exists(p + first_char, n_chars, s, len)))
            continue;
        struct piece *q = &p[first_merge + made];
        memcpy(q->s, s, (size_t)len);
        q->len = len;
        q->score = -(float)made;
        made++;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    int32_t mtl = 0;
    for (int i = 0; i < vocab; i++)
        mtl = p[i].len > mtl ? p[i].len : mtl;
    put(f, &mtl, sizeof mtl, 1);
    for (int i = 0; i < vocab; i++) {
        int32_t len = p[i].len;
        if (len == 0) { /* unfilled slot (tiny vocabularies): a unique filler */
            len = snprintf(p[i].s, sizeof p[i].s, "<x%d>", i);
        }
        put(f, &p[i].score, sizeof(float), 1);
        put(f, &len, sizeof len, 1);
        put(f, p[i].s, 1, (size_t)len);
    }
    fclose(f);
    free(p);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: lmserve-ckpt-gen -o OUT.bin [--tokenizer TOK.bin] [--dim 64] [--hidden 172]\n"
            "       [--layers 2] [--heads 8] [--kv-heads 4] [--vocab 512] [--seq 128]\n"
            "       [--version 0|1|2] [--group-size 64] [--unshared] [--seed 1]\n"
            "  15M shape: --dim 288 --hidden 768 --layers 6 --heads 6 --kv-heads 6 --vocab 32000 --seq 256\n");
}

int main(int argc, char **argv)
{
    struct gen g = {.s = {64, 172, 2, 8, 4, 512, 128}, .seed = 1, .version = 0,
                    .gs = GEN_GROUP_DEFAULT, .shared = 1};
    const char *out = NULL, *tok = NULL;
    static const struct option opts[] = {
        {"dim", 1, 0, 'd'},      {"hidden", 1, 0, 'h'},   {"layers", 1, 0, 'l'},
        {"heads", 1, 0, 'H'},    {"kv-heads", 1, 0, 'k'}, {"vocab", 1, 0, 'v'},
        {"seq", 1, 0, 's'},      {"version", 1, 0, 'V'},  {"group-size", 1, 0, 'g'},
        {"unshared", 0, 0, 'u'}, {"seed", 1, 0, 'S'},     {"tokenizer", 1, 0, 't'},
        {"help", 0, 0, '?'},     {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'd': g.s.dim = atoi(optarg); break;
        case 'h': g.s.hidden = atoi(optarg); break;
        case 'l': g.s.layers = atoi(optarg); break;
        case 'H': g.s.heads = atoi(optarg); break;
        case 'k': g.s.kv_heads = atoi(optarg); break;
        case 'v': g.s.vocab = atoi(optarg); break;
        case 's': g.s.seq = atoi(optarg); break;
        case 'V': g.version = atoi(optarg); break;
        case 'g': g.gs = atoi(optarg); break;
        case 'u': g.shared = 0; break;
        case 'S': g.seed = strtoull(optarg, NULL, 0); break;
        case 't': tok = optarg; break;
        default: usage(); return 2;
        }
    }
    const struct shape *s = &g.s;
    if (!out || s->dim <= 0 || s->heads <= 0 || s->kv_heads <= 0 || s->dim % s->heads ||
        s->heads % s->kv_heads || (s->dim / s->heads) % 2 || s->hidden <= 0 || s->layers <= 0 ||
        s->vocab < GEN_SPECIAL_TOKENS + 1 || s->seq <= 0 || g.version < 0 || g.version > 2) {
        usage();
        return 2;
    }
    if (g.version == 2)
        while (g.gs > 1 && s->dim % g.gs) /* export.py's back-off */
            g.gs /= 2;
    g.kv = (size_t)s->dim * (size_t)s->kv_heads / (size_t)s->heads;
    write_checkpoint(out, &g);
    if (tok)
        write_tokenizer(tok, s->vocab, g.seed);
    return 0;
}
