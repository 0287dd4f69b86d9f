/* gguf_vocab.c: a vocab from a GGUF file's tokenizer.ggml.* metadata: reads the keys,
 * checks their types and lengths, and passes them to vocab_new. Nothing else of the file
 * is used. */
#include "../gguf/gguf.h"
#include "../util/alloc.h"
#include "vocab_gguf.h"
#include "vocab_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY_VALUE_MAX 64 /* longest tokenizer.ggml.model / .pre value we accept */
#define NAME_MAX_BYTES 256 /* general.name is only matched for "phi-3": truncating is fine */

/* A string value copied NUL-terminated; "" when absent. Too long: an error, or cut when
 * 'cut' (general.name). */
static int opt_str(const gguf *g, const char *key, char *out, size_t size, int cut,
                   struct status_err *err)
{
    struct gguf_str s;
    int rc = gguf_get_str(g, key, &s, err);
    if (rc == STATUS_NOT_FOUND) {
        out[0] = '\0';
        return STATUS_OK;
    }
    if (rc != STATUS_OK)
        return rc;
    if (s.len >= size && cut)
        s.len = size - 1;
    if (s.len >= size)
        return status_set(err, STATUS_BAD_FORMAT, key, "%s: metadata '%s' is too long (%zu bytes)",
                          gguf_name(g), key, s.len);
    memcpy(out, s.s, s.len);
    out[s.len] = '\0';
    return STATUS_OK;
}

static int opt_id(const gguf *g, const char *key, int64_t *out, struct status_err *err)
{
    int rc = gguf_get_int(g, key, out, err);
    if (rc == STATUS_NOT_FOUND) {
        *out = -1;
        return STATUS_OK;
    }
    return rc;
}

static int opt_bool(const gguf *g, const char *key, int *out, struct status_err *err)
{
    int rc = gguf_get_bool(g, key, out, err);
    if (rc == STATUS_NOT_FOUND) {
        *out = -1;
        return STATUS_OK;
    }
    return rc;
}

int vocab_gguf_present(const gguf *g)
{
    return gguf_find(g, "tokenizer.ggml.model") != NULL &&
           gguf_find(g, "tokenizer.ggml.tokens") != NULL;
}

int vocab_from_gguf(const gguf *g, struct vocab **out, struct status_err *err)
{
    char model[KEY_VALUE_MAX], pre[KEY_VALUE_MAX], name[NAME_MAX_BYTES];
    struct vocab_spec sp;
    vocab_spec_init(&sp);
    struct vocab_str *toks = NULL, *merges = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    const struct gguf_kv *kv;
    int rc;
    if ((rc = opt_str(g, "tokenizer.ggml.model", model, sizeof model, 0, err)) != STATUS_OK ||
        (rc = opt_str(g, "tokenizer.ggml.pre", pre, sizeof pre, 0, err)) != STATUS_OK ||
        (rc = opt_str(g, "general.name", name, sizeof name, 1, err)) != STATUS_OK)
        goto done;
    if (!model[0]) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.model",
                        "%s: no tokenizer.ggml.model: the file has no vocabulary", gguf_name(g));
        goto done;
    }
    rc = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING, &kv, err);
    if (rc == STATUS_NOT_FOUND)
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.tokens",
                        "%s: no tokenizer.ggml.tokens", gguf_name(g));
    if (rc != STATUS_OK)
        goto done;
    const size_t n = kv->v.arr.n;
    if (n == 0 || n > VOCAB_TOKENS_MAX) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.tokens",
                        "%s: %zu tokens (1 to %d expected)", gguf_name(g), n, VOCAB_TOKENS_MAX);
        goto done;
    }
    toks = util_malloc(n * sizeof *toks);
    scores = util_malloc(n * sizeof *scores);
    types = util_malloc(n * sizeof *types);
    if (!toks || !scores || !types) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        toks[i] = (struct vocab_str){.p = kv->v.arr.strs[i].s, .len = kv->v.arr.strs[i].len};
    sp.tokens = toks;
    sp.n_tokens = n;
    static const char *const NUM_KEYS[2] = {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
    for (int k = 0; k < 2; k++) {
        rc = gguf_get_arr(g, NUM_KEYS[k], GGUF_ARRAY, &kv, err);
        if (rc == STATUS_NOT_FOUND)
            continue;
        if (rc != STATUS_OK)
            goto done;
        if (kv->v.arr.n != n) {
            rc = status_set(err, STATUS_BAD_FORMAT, NUM_KEYS[k], "%s: %s has %zu entries for %zu tokens",
                            gguf_name(g), NUM_KEYS[k], kv->v.arr.n, n);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            if (k == 0)
                scores[i] = (float)gguf_arr_float(kv, i);
            else {
                int64_t t = gguf_arr_int(kv, i);
                types[i] = t >= 0 && t <= VOCAB_TYPE_BYTE ? (int32_t)t : VOCAB_TYPE_UNDEFINED;
            }
        }
        if (k == 0)
            sp.scores = scores;
        else
            sp.types = types;
    }
    rc = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_STRING, &kv, err);
    if (rc == STATUS_OK) {
        merges = util_malloc((kv->v.arr.n ? kv->v.arr.n : 1) * sizeof *merges);
        if (!merges) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < kv->v.arr.n; i++)
            merges[i] = (struct vocab_str){.p = kv->v.arr.strs[i].s, .len = kv->v.arr.strs[i].len};
        sp.merges = merges;
        sp.n_merges = kv->v.arr.n;
    } else if (rc != STATUS_NOT_FOUND) {
        goto done;
    } else if (strcmp(model, "gpt2") == 0) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.merges",
                        "%s: a gpt2 tokenizer needs tokenizer.ggml.merges", gguf_name(g));
        goto done;
    }
    if ((rc = opt_id(g, "tokenizer.ggml.bos_token_id", &sp.bos, err)) != STATUS_OK ||
        (rc = opt_id(g, "tokenizer.ggml.eos_token_id", &sp.eos, err)) != STATUS_OK ||
        (rc = opt_id(g, "tokenizer.ggml.unknown_token_id", &sp.unk, err)) != STATUS_OK ||
        (rc = opt_id(g, "tokenizer.ggml.padding_token_id", &sp.pad, err)) != STATUS_OK ||
        (rc = opt_id(g, "tokenizer.ggml.eot_token_id", &sp.eot, err)) != STATUS_OK ||
        (rc = opt_id(g, "tokenizer.ggml.seperator_token_id", &sp.sep, err)) != STATUS_OK ||
        (rc = opt_bool(g, "tokenizer.ggml.add_bos_token", &sp.add_bos, err)) != STATUS_OK ||
        (rc = opt_bool(g, "tokenizer.ggml.add_eos_token", &sp.add_eos, err)) != STATUS_OK ||
        (rc = opt_bool(g, "tokenizer.ggml.add_space_prefix", &sp.add_space_prefix, err)) !=
            STATUS_OK)
        goto done;
    sp.model = model;
    sp.pre = pre[0] ? pre : NULL;
    sp.name = name[0] ? name : NULL;
    rc = vocab_new(&sp, out, err);
done:
    free(toks);
    free(merges);
    free(scores);
    free(types);
    return rc;
}
