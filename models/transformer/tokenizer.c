/* tokenizer.c: llama2.c's tokenizer.bin: reading it, encoding as run.c does (dummy-prefix
 * space, highest-score merge first, byte fallback <0xXX>), decoding pieces, and the UTF-8
 * streamer that keeps characters whole across streamed chunks. Not SentencePiece. */
#include "transformer_internal.h"
#include "../util/mapfile.h"

#include <stdlib.h>
#include <string.h>

#define TOK_PIECE_MAX_BYTES (1 << 16) /* longest piece we accept from a file */
#define TOK_BYTE_PIECE_LEN 6          /* "<0xXX>" */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* ---- reading ---- */

int tokenizer_lookup(const struct tokenizer *tk, const char *s, size_t len)
{
    return strtab_find(&tk->piece.index, s, len);
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

static int byte_token(const char *p, size_t len)
{
    if (len != TOK_BYTE_PIECE_LEN || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
        return -1;
    int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

int tokenizer_open(const char *path, int vocab_size, struct tokenizer *tk, struct status_err *err)
{
    memset(tk, 0, sizeof *tk);
    struct vocab_str *in = NULL; /* the pieces where they are in the file */
    struct status_err oe;
    status_clear(&oe);
    struct mapfile m;
    int rc = mapfile_open(path, MAPFILE_SEQUENTIAL, 4, "a tokenizer", &m, &oe);
    if (rc != STATUS_OK)
        return status_set(err, oe.code, "tokenizer", "tokenizer %s", oe.msg);
    const char *data = m.data;
    const size_t len = m.len, V = (size_t)vocab_size;
    size_t off = 4;
    int32_t mtl;
    memcpy(&mtl, data, 4);
    if (mtl <= 0 || mtl > TOK_PIECE_MAX_BYTES) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer",
                        "%s: bad max_token_length %d", path, mtl);
        goto done;
    }
    tk->vocab_size = vocab_size;
    tk->max_token_length = mtl;
    in = util_calloc(V, sizeof *in);
    tk->scores = util_calloc(V, sizeof *tk->scores);
    tk->byte_of = util_calloc(V, sizeof *tk->byte_of);
    if (!in || !tk->scores || !tk->byte_of) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < V; i++) {
        int32_t n;
        if (len - off < 8) {
            rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer",
                            "%s: truncated at token %zu of %zu (does the tokenizer match the "
                            "model's vocabulary?)",
                            path, i, V);
            goto done;
        }
        memcpy(&tk->scores[i], data + off, 4);
        memcpy(&n, data + off + 4, 4);
        off += 8;
        if (n < 0 || n > TOK_PIECE_MAX_BYTES || (size_t)n > len - off) {
            rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer",
                            "%s: bad length %d for token %zu", path, n, i);
            goto done;
        }
        in[i] = (struct vocab_str){data + off, (size_t)n};
        off += (size_t)n;
        tk->byte_of[i] = (int16_t)byte_token(in[i].p, (size_t)n);
    }
    if (V <= TRANSFORMER_EOS) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer",
                        "%s: vocabulary too small for <unk>, <s>, </s>", path);
        goto done;
    }
    rc = strset_init(&tk->piece, in, V, 0, 0, "tokenizer", err); /* an earlier id keeps its piece */
    if (rc != STATUS_OK)
        goto done;
    for (size_t i = 0; i < V; i++) /* merges are pruned by length: trust the pieces */
        if (tk->piece.s[i].len > (size_t)tk->max_token_length)
            tk->max_token_length = (int)tk->piece.s[i].len;
    tk->space_id = tokenizer_lookup(tk, " ", 1);
done:
    free(in);
    mapfile_close(&m);
    if (rc != STATUS_OK)
        tokenizer_close(tk);
    return rc;
}

void tokenizer_close(struct tokenizer *tk)
{
    if (!tk)
        return;
    strset_free(&tk->piece);
    free(tk->scores);
    free(tk->byte_of);
    memset(tk, 0, sizeof *tk);
}

/* ---- encoding ---- */

/* Merge candidates go through models/vocab's pair queue (struct vocab_pair keyed by -score:
 * the highest score first, the leftmost on ties = run.c's choice), valid while both nodes
 * keep the versions recorded in them. */

struct enc {
    const struct tokenizer *tk;
    int *tok;       /* [n] token per node */
    int *next, *prev;
    uint32_t *ver;
    char *buf;      /* concatenation scratch */
    struct pairheap heap;
};

static int push_pair(struct enc *e, int l)
{
    int r = e->next[l];
    if (r < 0)
        return 0;
    const struct tokenizer *tk = e->tk;
    size_t a = tk->piece.s[e->tok[l]].len, b = tk->piece.s[e->tok[r]].len;
    if (a + b > (size_t)tk->max_token_length)
        return 0; /* no piece is longer: nothing to look up */
    memcpy(e->buf, tk->piece.s[e->tok[l]].p, a);
    memcpy(e->buf + a, tk->piece.s[e->tok[r]].p, b);
    int id = tokenizer_lookup(tk, e->buf, a + b);
    if (id < 0)
        return 0;
    struct vocab_pair c = {.key = -(double)tk->scores[id], .left = l, .right = r,
                           .ver_left = e->ver[l], .ver_right = e->ver[r], .id = id};
    return pairheap_push(&e->heap, c);
}

int tokenizer_encode(const struct tokenizer *tk, const char *text, size_t len, int bos, int eos,
                     int **ids, size_t *n, struct status_err *err)
{
    /* upper bound: BOS, dummy prefix, one token per byte, EOS */
    const size_t cap = len + 3;
    struct enc e = {.tk = tk};
    e.tok = malloc(cap * sizeof *e.tok);
    e.next = malloc(cap * sizeof *e.next);
    e.prev = malloc(cap * sizeof *e.prev);
    e.ver = calloc(cap, sizeof *e.ver);
    e.buf = malloc((size_t)tk->max_token_length + 1);
    int *out = NULL;
    int rc = STATUS_OK;
    if (!e.tok || !e.next || !e.prev || !e.ver || !e.buf) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    size_t m = 0;
    if (bos)
        e.tok[m++] = TRANSFORMER_BOS;
    if (len > 0 && tk->space_id >= 0)
        e.tok[m++] = tk->space_id;
    /* code points (as run.c delimits them: a lead byte plus up to 3 continuation bytes) */
    for (size_t i = 0; i < len;) {
        size_t j = i + 1;
        while (j < len && ((unsigned char)text[j] & 0xC0) == 0x80 && j - i < 4)
            j++;
        int id = tokenizer_lookup(tk, text + i, j - i);
        if (id >= 0) {
            e.tok[m++] = id;
        } else {
            for (size_t k = i; k < j; k++) { /* byte b is token b + 3 (run.c), if there is one */
                int b = (unsigned char)text[k] + 3;
                e.tok[m++] = b < tk->vocab_size ? b : 0; /* <unk> past a small vocabulary */
            }
        }
        i = j;
    }
    for (size_t i = 0; i < m; i++) {
        e.prev[i] = (int)i - 1;
        e.next[i] = i + 1 < m ? (int)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < m; i++)
        if (push_pair(&e, (int)i) != 0) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            goto done;
        }
    size_t alive = m;
    while (e.heap.n > 0) {
        struct vocab_pair c = pairheap_pop(&e.heap);
        if (e.ver[c.left] != c.ver_left || e.ver[c.right] != c.ver_right ||
            e.next[c.left] != c.right)
            continue; /* stale: one side was merged since */
        e.tok[c.left] = c.id;
        e.ver[c.left]++;
        e.ver[c.right]++; /* the right node is gone */
        int r2 = e.next[c.right];
        e.next[c.left] = r2;
        if (r2 >= 0)
            e.prev[r2] = c.left;
        alive--;
        if ((e.prev[c.left] >= 0 && push_pair(&e, e.prev[c.left]) != 0) ||
            push_pair(&e, c.left) != 0) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            goto done;
        }
    }
    out = malloc((alive + 1) * sizeof *out);
    if (!out) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (int i = m > 0 ? 0 : -1; i >= 0; i = e.next[i])
        out[k++] = e.tok[i];
    if (eos)
        out[k++] = TRANSFORMER_EOS;
    *ids = out;
    *n = k;
done:
    free(e.tok);
    free(e.next);
    free(e.prev);
    free(e.ver);
    free(e.buf);
    free(e.heap.a);
    return rc;
}

/* ---- decoding ---- */

/* One static byte per value, so byte tokens decode to a borrowed 1-byte string. */
static const char BYTES[256] = {
#define B4(x) (char)(x), (char)(x + 1), (char)(x + 2), (char)(x + 3)
#define B16(x) B4(x), B4(x + 4), B4(x + 8), B4(x + 12)
    B16(0), B16(16), B16(32), B16(48), B16(64), B16(80), B16(96), B16(112),
    B16(128), B16(144), B16(160), B16(176), B16(192), B16(208), B16(224), B16(240)
#undef B16
#undef B4
};

const char *tokenizer_piece(const struct tokenizer *tk, int prev, int id, size_t *len)
{
    if (id < 0 || id >= tk->vocab_size) {
        *len = 0;
        return "";
    }
    if (tk->byte_of[id] >= 0) {
        *len = 1;
        return &BYTES[tk->byte_of[id]];
    }
    const char *p = tk->piece.s[id].p;
    size_t n = tk->piece.s[id].len;
    if (prev == TRANSFORMER_BOS && n > 0 && p[0] == ' ') { /* run.c strips it after BOS */
        p++;
        n--;
    }
    *len = n;
    return p;
}

/* ---- UTF-8 streaming ---- */

/* Expected length of a sequence starting with lead byte b, 0 if b cannot start one. */
static size_t utf8_need(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

/* Is the second byte allowed after lead byte b (no overlongs, no surrogates, <= U+10FFFF)? */
static int utf8_second_ok(unsigned char b, unsigned char c)
{
    if ((c & 0xC0) != 0x80)
        return 0;
    if (b == 0xE0)
        return c >= 0xA0;
    if (b == 0xED)
        return c <= 0x9F;
    if (b == 0xF0)
        return c >= 0x90;
    if (b == 0xF4)
        return c <= 0x8F;
    return 1;
}

size_t utf8_stream_push(struct utf8_stream *u, const char *data, size_t len, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (u->n_pend > 0) {
            size_t need = utf8_need(u->pend[0]);
            int ok = u->n_pend == 1 ? utf8_second_ok(u->pend[0], c) : (c & 0xC0) == 0x80;
            if (ok) {
                u->pend[u->n_pend++] = c;
                if (u->n_pend == need) {
                    memcpy(out + w, u->pend, need);
                    w += need;
                    u->n_pend = 0;
                }
                continue;
            }
            memcpy(out + w, UTF8_REPLACEMENT, 3); /* broken sequence; c starts afresh */
            w += 3;
            u->n_pend = 0;
        }
        size_t need = utf8_need(c);
        if (need == 1) {
            out[w++] = (char)c;
        } else if (need == 0) {
            memcpy(out + w, UTF8_REPLACEMENT, 3);
            w += 3;
        } else {
            u->pend[0] = c;
            u->n_pend = 1;
        }
    }
    return w;
}

size_t utf8_stream_flush(struct utf8_stream *u, char *out)
{
    if (u->n_pend == 0)
        return 0;
    u->n_pend = 0;
    memcpy(out, UTF8_REPLACEMENT, 3);
    return 3;
}
