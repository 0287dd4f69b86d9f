/* vocab.c: building a vocabulary from a file's tokenizer metadata (the defaults and the
 * per-name fix-ups llama.cpp applies), splitting text on special tokens, and decoding ids
 * back to bytes. The encoders themselves are spm.c and bpe.c. */
#include "vocab_internal.h"
#include "../util/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPM_SPACE "\xE2\x96\x81" /* U+2581, SentencePiece's escaped space */
#define SPM_SPACE_LEN 3

/* ---- building ---- */

void vocab_spec_init(struct vocab_spec *s)
{
    memset(s, 0, sizeof *s);
    s->bos = s->eos = s->unk = s->pad = s->eot = s->sep = -1;
    s->add_bos = s->add_eos = s->add_space_prefix = -1;
}

static int lookup(const struct vocab *v, const char *s)
{
    return strtab_find(&v->tok.index, s, strlen(s));
}

static uint8_t attr_of_type(int32_t type)
{
    switch (type) {
    case VOCAB_TYPE_NORMAL: return ATTR_NORMAL;
    case VOCAB_TYPE_UNKNOWN: return ATTR_UNKNOWN;
    case VOCAB_TYPE_CONTROL: return ATTR_CONTROL;
    case VOCAB_TYPE_USER_DEFINED: return ATTR_USER_DEFINED;
    case VOCAB_TYPE_UNUSED: return ATTR_UNUSED;
    case VOCAB_TYPE_BYTE: return ATTR_BYTE;
    default: return 0; /* undefined: decodes to nothing, never matched as special */
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The byte of a "<0xNN>" token, else -1. */
static int byte_of_text(const struct vocab_str *s)
{
    if (s->len != 6 || memcmp(s->p, "<0x", 3) != 0 || s->p[5] != '>')
        return -1;
    int hi = hex_digit(s->p[3]), lo = hex_digit(s->p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* llama.cpp finds end-of-turn and fill-in-the-middle tokens by their text and makes them
 * control tokens (so they are never matched in text unless parse_special). One slot takes
 * the first candidate present (lowest id here; llama.cpp's hash order is unspecified). */
static const char *const NAMED_SLOTS[][5] = {
    {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"}, /* eot ... */
    {"<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", NULL},
    {"<|eom_id|>", NULL},
    {"<|fim_prefix|>", "<fim-prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
     "<PRE>", NULL},
    {"<|fim_suffix|>", "<fim-suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
     "<SUF>", NULL},
    {"<|fim_middle|>", "<fim-middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
     "<MID>", NULL},
    {"<|fim_pad|>", "<fim-pad>", "<PAD>", NULL},
    {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", NULL},
    {"<|file_sep|>", NULL},
};
/* End-of-generation by text, always control (llama.cpp's special_eog_ids scan). */
static const char *const EOG_NAMES[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|eom_id|>", "<EOT>"};

static void mark_named_tokens(struct vocab *v, int eot_given)
{
    int eot = v->eot;
    for (size_t s = 0; s < sizeof NAMED_SLOTS / sizeof NAMED_SLOTS[0]; s++) {
        if (s <= 1 && eot_given)
            continue;
        if (s == 1 && eot >= 0)
            continue; /* rows 0 and 1 are one slot split for line length */
        int best = -1;
        for (size_t k = 0; k < 5 && NAMED_SLOTS[s][k]; k++) {
            int id = lookup(v, NAMED_SLOTS[s][k]);
            if (id >= 0 && (best < 0 || id < best))
                best = id;
        }
        if (best < 0)
            continue;
        v->attr[best] = ATTR_CONTROL;
        if (s <= 1)
            eot = best;
    }
    v->eot = eot;
    for (size_t k = 0; k < sizeof EOG_NAMES / sizeof EOG_NAMES[0]; k++) {
        int id = lookup(v, EOG_NAMES[k]);
        if (id >= 0) {
            v->attr[id] = ATTR_CONTROL;
            v->eog[id] = 1;
        }
    }
    if (v->eos >= 0)
        v->eog[v->eos] = 1;
    if (v->eot >= 0)
        v->eog[v->eot] = 1;
}

struct special_key {
    size_t len;
    int32_t id;
};

static int special_cmp(const void *a, const void *b)
{
    const struct special_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1; /* longest first */
    return x->id < y->id ? -1 : x->id > y->id;
}

static int build_special(struct vocab *v)
{
    size_t n = 0;
    for (int i = 0; i < v->n; i++)
        if (v->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
            n++;
    struct special_key *k = util_malloc((n ? n : 1) * sizeof *k);
    v->special = util_malloc((n ? n : 1) * sizeof *v->special);
    if (!k || !v->special) {
        free(k);
        return -1;
    }
    n = 0;
    for (int i = 0; i < v->n; i++)
        if (v->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
            k[n++] = (struct special_key){.len = v->tok.s[i].len, .id = i};
    qsort(k, n, sizeof *k, special_cmp);
    for (size_t i = 0; i < n; i++)
        v->special[i] = k[i].id;
    v->n_special = n;
    free(k);
    return 0;
}

/* phi-3: llama.cpp strips whitespace after its special tokens (RSTRIP), keyed on the
 * model's name, except <unk>, <s> and <|endoftext|>. */
static void apply_name_rules(struct vocab *v, const char *name)
{
    if (!name)
        return;
    char low[256];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    low[i] = '\0';
    if (!strstr(low, "phi-3") && !strstr(low, "phi3"))
        return;
    for (size_t s = 0; s < v->n_special; s++)
        v->attr[v->special[s]] |= ATTR_RSTRIP;
    int id = lookup(v, "</s>");
    if (id >= 0)
        v->attr[id] |= ATTR_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (size_t k = 0; k < 3; k++)
        if ((id = lookup(v, keep[k])) >= 0)
            v->attr[id] &= (uint8_t)~ATTR_RSTRIP;
}

/* The decoded bytes of every token (special = 1), so pieces are borrowed slices. */
static int build_pieces(struct vocab *v)
{
    size_t total = 0;
    for (int i = 0; i < v->n; i++)
        total += v->tok.s[i].len + 1; /* decoding never grows a token */
    v->piece = util_malloc((size_t)v->n * sizeof *v->piece);
    v->piece_blob = util_malloc(total ? total : 1);
    if (!v->piece || !v->piece_blob)
        return -1;
    char *w = v->piece_blob;
    for (int i = 0; i < v->n; i++) {
        const struct vocab_str *t = &v->tok.s[i];
        const uint8_t a = v->attr[i];
        size_t len = 0;
        if (a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) {
            memcpy(w, t->p, t->len);
            len = t->len;
        } else if (v->kind != VOCAB_BPE && (a & ATTR_NORMAL)) { /* SPM and WPM: U+2581 is a space */
            for (size_t k = 0; k < t->len;) {
                if (t->len - k >= SPM_SPACE_LEN && memcmp(t->p + k, SPM_SPACE, SPM_SPACE_LEN) == 0) {
                    w[len++] = ' ';
                    k += SPM_SPACE_LEN;
                } else {
                    w[len++] = t->p[k++];
                }
            }
        } else if (v->kind == VOCAB_SPM && (a & ATTR_BYTE)) {
            int b = byte_of_text(t);
            if (b >= 0)
                w[len++] = (char)b;
        } else if (v->kind == VOCAB_BPE && (a & ATTR_NORMAL)) {
            /* byte-level: each code point stands for one byte; others are kept as text */
            for (size_t k = 0; k < t->len;) {
                size_t cl = unicode_len_utf8((unsigned char)t->p[k]);
                if (cl > t->len - k)
                    cl = t->len - k;
                uint32_t cpt;
                unicode_decode(t->p + k, cl, &cpt);
                int b = bpe_cpt_to_byte(cpt);
                if (b >= 0) {
                    w[len++] = (char)b;
                } else {
                    memcpy(w + len, t->p + k, cl);
                    len += cl;
                }
                k += cl;
            }
        }
        w[len] = '\0';
        v->piece[i].p = w;
        v->piece[i].len = len;
        if (len > v->piece_max)
            v->piece_max = len;
        w += len + 1;
    }
    return 0;
}

static int id_or_default(int64_t given, int dflt, int n)
{
    if (given >= 0 && given < n)
        return (int)given;
    return dflt < n ? dflt : -1;
}

int vocab_new(const struct vocab_spec *spec, struct vocab **out, struct status_err *err)
{
    int rc = STATUS_OK;
    struct vocab *v = util_calloc(1, sizeof *v);
    if (!v)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    int pre_bos = 0;
    if (!spec->model || !*spec->model) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.model", "no tokenizer model given");
        goto fail;
    } else if (strcmp(spec->model, "llama") == 0) {
        v->kind = VOCAB_SPM;
        v->pre = PRE_DEFAULT;
        v->pre_name = "default";
    } else if (strcmp(spec->model, "bert") == 0) {
        v->kind = VOCAB_WPM;
        v->pre = PRE_DEFAULT;
        v->pre_name = "default";
    } else if (strcmp(spec->model, "gpt2") == 0) {
        v->kind = VOCAB_BPE;
        const char *pre = spec->pre && *spec->pre ? spec->pre : "default";
        if (pretok_lookup(pre, &v->pre, &v->pre_name, &v->ignore_merges, &pre_bos) != 0) {
            rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.pre",
                            "unknown pre-tokenizer '%.64s'", pre);
            goto fail;
        }
    } else {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.model",
                        "tokenizer model '%.64s' is not supported (llama, gpt2 and bert are)",
                        spec->model);
        goto fail;
    }
    if (spec->n_tokens == 0 || spec->n_tokens > VOCAB_TOKENS_MAX || !spec->tokens) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.tokens",
                        "%zu tokens (1 to %d expected)", spec->n_tokens, VOCAB_TOKENS_MAX);
        goto fail;
    }
    v->n = (int)spec->n_tokens;
    rc = strset_init(&v->tok, spec->tokens, spec->n_tokens, 1, 1, "tokenizer.ggml.tokens", err);
    if (rc != STATUS_OK)
        goto fail;
    v->score = util_calloc(spec->n_tokens, sizeof *v->score);
    v->type = util_calloc(spec->n_tokens, 1);
    v->attr = util_calloc(spec->n_tokens, 1);
    v->eog = util_calloc(spec->n_tokens, 1);
    if (!v->score || !v->type || !v->attr || !v->eog) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < spec->n_tokens; i++) {
        v->score[i] = spec->scores ? spec->scores[i] : 0.0f;
        int32_t t = spec->types ? spec->types[i] : VOCAB_TYPE_NORMAL;
        v->type[i] = (uint8_t)(t >= 0 && t <= VOCAB_TYPE_BYTE ? t : VOCAB_TYPE_UNDEFINED);
        v->attr[i] = attr_of_type(t);
    }
    if (v->kind == VOCAB_BPE) {
        if (!spec->merges && spec->n_merges > 0) {
            rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.merges", "merges missing");
            goto fail;
        }
        rc = strset_init(&v->merge, spec->merges, spec->n_merges, 0, 0, "tokenizer.ggml.merges",
                         err);
        if (rc != STATUS_OK)
            goto fail;
        v->merge_left_len = util_malloc((v->merge.n ? v->merge.n : 1) * sizeof *v->merge_left_len);
        if (!v->merge_left_len) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < v->merge.n; i++) {
            /* split at the first space after the first byte, as llama.cpp does */
            const char *sp = v->merge.s[i].len > 1 ? memchr(v->merge.s[i].p + 1, ' ', v->merge.s[i].len - 1)
                                                 : NULL;
            v->merge_left_len[i] = sp ? (uint32_t)(sp - v->merge.s[i].p) : UINT32_MAX;
        }
    }
    /* defaults as llama.cpp's llama_vocab::load, then the metadata */
    const int spm = v->kind == VOCAB_SPM, wpm = v->kind == VOCAB_WPM;
    v->bos = id_or_default(spec->bos, spm ? 1 : wpm ? 101 : 11, v->n);
    v->eos = id_or_default(spec->eos, spm ? 2 : wpm ? -1 : 11, v->n);
    v->unk = id_or_default(spec->unk, spm ? 0 : wpm ? 100 : -1, v->n);
    v->eot = id_or_default(spec->eot, -1, v->n);
    v->sep = id_or_default(spec->sep, wpm ? 102 : -1, v->n);
    v->add_bos = spec->add_bos >= 0 ? spec->add_bos : (spm || pre_bos);
    v->add_eos = spec->add_eos >= 0 ? spec->add_eos : 0;
    v->add_space_prefix = spec->add_space_prefix >= 0 ? spec->add_space_prefix : spm;
    if (wpm) { /* llama.cpp: [CLS] text [SEP] whatever the flags say; no dummy prefix */
        v->add_bos = 1;
        v->add_eos = 0;
        v->add_space_prefix = 0;
    }
    for (int i = 0; i < v->n; i++)
        if (v->tok.s[i].len > v->tok_max)
            v->tok_max = v->tok.s[i].len;
    for (int b = 0; b < 256; b++)
        v->byte_tok[b] = -1;
    if (spm) {
        for (int b = 0; b < 256; b++) {
            char name[7];
            snprintf(name, sizeof name, "<0x%02X>", b);
            int id = lookup(v, name);
            if (id < 0) {
                char one = (char)b;
                id = strtab_find(&v->tok.index, &one, 1);
            }
            v->byte_tok[b] = id;
        }
    }
    mark_named_tokens(v, spec->eot >= 0 && spec->eot < v->n);
    if (build_special(v) != 0 || build_pieces(v) != 0) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto fail;
    }
    apply_name_rules(v, spec->name);
    *out = v;
    return STATUS_OK;
fail:
    vocab_free(v);
    return rc;
}

void vocab_free(struct vocab *v)
{
    if (!v)
        return;
    strset_free(&v->tok);
    free(v->score);
    free(v->type);
    free(v->attr);
    free(v->eog);
    free(v->piece);
    free(v->piece_blob);
    strset_free(&v->merge);
    free(v->merge_left_len);
    free(v->special);
    free(v);
}

/* ---- queries ---- */

int vocab_n_tokens(const struct vocab *v) { return v->n; }
const char *vocab_model_name(const struct vocab *v)
{
    return v->kind == VOCAB_SPM ? "llama" : v->kind == VOCAB_BPE ? "gpt2" : "bert";
}
int vocab_sep(const struct vocab *v) { return v->sep; }
const char *vocab_pre_name(const struct vocab *v) { return v->pre_name; }
int vocab_bos(const struct vocab *v) { return v->bos; }
int vocab_eos(const struct vocab *v) { return v->eos; }
int vocab_adds_bos(const struct vocab *v) { return v->add_bos && v->bos >= 0; }
int vocab_adds_space_prefix(const struct vocab *v) { return v->add_space_prefix; }
int vocab_is_eog(const struct vocab *v, int id) { return id >= 0 && id < v->n && v->eog[id]; }

enum vocab_token_type vocab_type_of(const struct vocab *v, int id)
{
    return id >= 0 && id < v->n ? (enum vocab_token_type)v->type[id] : VOCAB_TYPE_UNDEFINED;
}

size_t vocab_piece_max(const struct vocab *v) { return v->piece_max; }

const char *vocab_text(const struct vocab *v, int id, size_t *len)
{
    if (id < 0 || id >= v->n) {
        *len = 0;
        return "";
    }
    *len = v->tok.s[id].len;
    return v->tok.s[id].p;
}

const char *vocab_piece(const struct vocab *v, int id, int special, size_t *len)
{
    if (id < 0 || id >= v->n || (!special && (v->attr[id] & (ATTR_UNKNOWN | ATTR_CONTROL)))) {
        *len = 0;
        return "";
    }
    *len = v->piece[id].len;
    return v->piece[id].p;
}

/* ---- encoding ---- */

/* A stretch of the input: raw text [off, off+len) or one special token. */
struct frag {
    size_t off, len;
    int id; /* -1 for text */
};
struct fragvec {
    struct frag *a;
    size_t n, cap;
};

static int frag_push(struct fragvec *f, struct frag x)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct frag *a = realloc(f->a, cap * sizeof *a);
        if (!a)
            return -1;
        f->a = a;
        f->cap = cap;
    }
    f->a[f->n++] = x;
    return 0;
}

static int is_c_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* llama.cpp's tokenizer_st_partition: for each special token, longest first, split every
 * text fragment at its occurrences (leftmost first, not overlapping). Each pass writes a
 * new list, so the work stays linear in the fragments however many matches there are.
 * Returns 0 or -1 out of memory; *f is replaced. */
static int partition(const struct vocab *v, const char *text, size_t len, int parse_special,
                     struct fragvec *f)
{
    struct fragvec next = {0};
    if (len > 0 && frag_push(f, (struct frag){.off = 0, .len = len, .id = -1}) != 0)
        return -1;
    for (size_t s = 0; s < v->n_special; s++) {
        const int id = v->special[s];
        const uint8_t a = v->attr[id];
        if (!parse_special && (a & (ATTR_CONTROL | ATTR_UNKNOWN)))
            continue;
        const char *tp = v->tok.s[id].p;
        const size_t tl = v->tok.s[id].len;
        next.n = 0;
        for (size_t i = 0; i < f->n; i++) {
            const struct frag x = f->a[i];
            const char *m = x.id < 0 && x.len >= tl ? memmem(text + x.off, x.len, tp, tl) : NULL;
            if (!m) {
                if (frag_push(&next, x) != 0)
                    goto oom;
                continue;
            }
            size_t off = x.off, end = x.off + x.len;
            while (m) {
                size_t mo = (size_t)(m - text);
                if (mo > off && frag_push(&next, (struct frag){.off = off, .len = mo - off, .id = -1}) != 0)
                    goto oom;
                if (frag_push(&next, (struct frag){.off = mo, .len = tl, .id = id}) != 0)
                    goto oom;
                off = mo + tl;
                if (a & ATTR_RSTRIP)
                    while (off < end && is_c_space(text[off]))
                        off++;
                m = end - off >= tl ? memmem(text + off, end - off, tp, tl) : NULL;
            }
            if (off < end && frag_push(&next, (struct frag){.off = off, .len = end - off, .id = -1}) != 0)
                goto oom;
        }
        struct fragvec t = *f;
        *f = next;
        next = t;
    }
    free(next.a);
    return 0;
oom:
    free(next.a);
    return -1;
}

int vocab_encode(const struct vocab *v, const char *text, size_t len, int add_special,
                 int parse_special, int **ids, size_t *n, struct status_err *err)
{
    struct fragvec f = {0};
    struct idvec o = {0};
    char *buf = NULL;
    if (partition(v, text, len, parse_special, &f) != 0)
        goto oom;
    if (add_special && v->add_bos && v->bos >= 0 && idvec_push(&o, v->bos) != 0)
        goto oom;
    int prev_special = 1; /* SPM: a dummy-prefix space before text that starts the input */
    for (size_t i = 0; i < f.n; i++) {
        const struct frag *x = &f.a[i];
        if (x->id >= 0) {
            if (idvec_push(&o, x->id) != 0)
                goto oom;
            prev_special = 1;
            continue;
        }
        if (v->kind == VOCAB_BPE || v->kind == VOCAB_WPM) {
            if ((v->kind == VOCAB_BPE ? bpe_encode : wpm_encode)(v, text + x->off, x->len, &o) != 0)
                goto oom;
            continue;
        }
        /* SPM: optional leading space, then every ' ' becomes U+2581 */
        size_t spaces = (v->add_space_prefix && prev_special) ? 1 : 0;
        for (size_t k = 0; k < x->len; k++)
            spaces += text[x->off + k] == ' ';
        free(buf);
        buf = malloc(x->len + 2 * spaces + SPM_SPACE_LEN + 1);
        if (!buf)
            goto oom;
        size_t w = 0;
        if (v->add_space_prefix && prev_special) {
            memcpy(buf, SPM_SPACE, SPM_SPACE_LEN);
            w = SPM_SPACE_LEN;
        }
        for (size_t k = 0; k < x->len; k++) {
            char c = text[x->off + k];
            if (c == ' ') {
                memcpy(buf + w, SPM_SPACE, SPM_SPACE_LEN);
                w += SPM_SPACE_LEN;
            } else {
                buf[w++] = c;
            }
        }
        if (spm_encode(v, buf, w, &o) != 0)
            goto oom;
        prev_special = 0;
    }
    if (add_special && v->add_eos && v->eos >= 0 && idvec_push(&o, v->eos) != 0)
        goto oom;
    if (add_special && v->kind == VOCAB_WPM && v->sep >= 0 && idvec_push(&o, v->sep) != 0)
        goto oom;
    if (!o.a && !(o.a = malloc(sizeof *o.a)))
        goto oom;
    free(f.a);
    free(buf);
    *ids = o.a;
    *n = o.n;
    return STATUS_OK;
oom:
    free(f.a);
    free(buf);
    free(o.a);
    return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
}

/* ---- decoding ---- */

char *vocab_decode(const struct vocab *v, const int *ids, size_t n, int special, size_t *len)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        vocab_piece(v, ids[i], special, &pl);
        total += pl;
    }
    char *out = malloc(total);
    if (!out)
        return NULL;
    size_t w = 0;
    int at_start = 1; /* only BOS (or nothing) so far: the dummy prefix is still ahead */
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = vocab_piece(v, ids[i], special, &pl);
        if (at_start && ids[i] == v->bos)
            continue;
        if (at_start && (v->add_space_prefix || v->kind == VOCAB_WPM) && pl > 0 && p[0] == ' ' &&
            (v->attr[ids[i]] & ATTR_NORMAL)) {
            p++;
            pl--;
        }
        at_start = 0;
        memcpy(out + w, p, pl);
        w += pl;
    }
    out[w] = '\0';
    *len = w;
    return out;
}
