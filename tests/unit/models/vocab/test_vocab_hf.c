/* test_vocab_hf.c: the vocabularies whose llama.cpp test files are in ../shared/vocab
 * without their GGUF (llama-bpe = Llama 3, qwen2): built from the published tokenizer.json
 * that npm packages ship (tests/vocab, installed by tools/deps.sh test), the way llama.cpp's
 * converter turns it into GGUF metadata (added special tokens and <|...|> are control,
 * other added tokens user-defined), then every case must match. Skipped without the
 * package or without ../shared. */
#include "../../../../models/vocab/vocab.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HF_PATH_MAX 1024
#define HF_SEP "\n__ggml_vocab_test__\n"

static const char *shared_vocab(void)
{
    static const char *const cands[] = {"../shared/vocab", "/work/shared/vocab"};
    for (size_t i = 0; i < 2; i++) {
        char f[HF_PATH_MAX];
        snprintf(f, sizeof f, "%s/ggml-vocab-llama-bpe.gguf.inp", cands[i]);
        if (access(f, R_OK) == 0)
            return cands[i];
    }
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    if (b)
        b[*len] = '\0';
    fclose(f);
    return b;
}

/* llama.cpp's convert_hf_to_gguf does_token_look_special */
static int looks_special(const char *s)
{
    size_t n = strlen(s);
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") || !strcmp(s, "[@BOS@]"))
        return 1;
    if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>"))
        return 1;
    const char *fl = "<\xEF\xBD\x9C", *fr = "\xEF\xBD\x9C>"; /* <｜ ... ｜> */
    if (n >= 8 && !strncmp(s, fl, 4) && !strcmp(s + n - 4, fr))
        return 1;
    return n >= 8 && !strncmp(s, "<unused", 7) && s[n - 1] == '>';
}

/* A vocab from tokenizer.json (model.vocab, model.merges, added_tokens) with 'pre'. */
static struct vocab *from_tokenizer_json(const char *path, const char *pre)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert(root, "%s: %s", path, je.text);
    json_t *model = json_object_get(root, "model");
    json_t *jv = json_object_get(model, "vocab"), *jm = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    size_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(jv, key, val) if ((size_t)json_integer_value(val) + 1 > n) n =
        (size_t)json_integer_value(val) + 1;
    size_t i;
    json_array_foreach(added, i, val)
    {
        size_t id = (size_t)json_integer_value(json_object_get(val, "id"));
        if (id + 1 > n)
            n = id + 1;
    }
    struct vocab_str *tok = calloc(n, sizeof *tok);
    int32_t *type = calloc(n, sizeof *type);
    char **pads = calloc(n, sizeof *pads);
    cr_assert(tok && type && pads);
    json_object_foreach(jv, key, val)
    {
        size_t id = (size_t)json_integer_value(val);
        tok[id] = (struct vocab_str){key, strlen(key)};
        type[id] = VOCAB_TYPE_NORMAL;
    }
    json_array_foreach(added, i, val)
    {
        size_t id = (size_t)json_integer_value(json_object_get(val, "id"));
        const char *s = json_string_value(json_object_get(val, "content"));
        tok[id] = (struct vocab_str){s, strlen(s)};
        type[id] = json_is_true(json_object_get(val, "special")) || looks_special(s)
                       ? VOCAB_TYPE_CONTROL
                       : VOCAB_TYPE_USER_DEFINED;
    }
    for (size_t k = 0; k < n; k++) /* ids nobody uses: the converter's [PADi], unused */
        if (!tok[k].p) {
            pads[k] = malloc(32);
            snprintf(pads[k], 32, "[PAD%zu]", k);
            tok[k] = (struct vocab_str){pads[k], strlen(pads[k])};
            type[k] = VOCAB_TYPE_UNUSED;
        }
    const size_t nm = json_array_size(jm);
    struct vocab_str *merges = calloc(nm ? nm : 1, sizeof *merges);
    char **joined = calloc(nm ? nm : 1, sizeof *joined);
    json_array_foreach(jm, i, val)
    {
        if (json_is_string(val)) { /* "a b" */
            merges[i] = (struct vocab_str){json_string_value(val), json_string_length(val)};
            continue;
        }
        const char *a = json_string_value(json_array_get(val, 0)); /* ["a", "b"] */
        const char *b = json_string_value(json_array_get(val, 1));
        size_t la = strlen(a), lb = strlen(b);
        joined[i] = malloc(la + lb + 2);
        memcpy(joined[i], a, la);
        joined[i][la] = ' ';
        memcpy(joined[i] + la + 1, b, lb + 1);
        merges[i] = (struct vocab_str){joined[i], la + 1 + lb};
    }
    struct vocab_spec sp;
    vocab_spec_init(&sp);
    sp.model = "gpt2";
    sp.pre = pre;
    sp.tokens = tok;
    sp.n_tokens = n;
    sp.types = type;
    sp.merges = merges;
    sp.n_merges = nm;
    struct vocab *v;
    struct status_err err = {0};
    cr_assert_eq(vocab_new(&sp, &v, &err), STATUS_OK, "%s", err.msg);
    for (size_t k = 0; k < n; k++)
        free(pads[k]);
    for (size_t k = 0; k < nm; k++)
        free(joined[k]);
    free(pads);
    free(joined);
    free(merges);
    free(tok);
    free(type);
    json_decref(root);
    return v;
}

static void run_cases(const char *tokenizer_json, const char *pre, const char *name)
{
    const char *dir = shared_vocab();
    if (!dir)
        cr_skip_test("../shared/vocab absent");
    if (access(tokenizer_json, R_OK) != 0)
        cr_skip_test("%s absent (tools/deps.sh test installs it)", tokenizer_json);
    struct vocab *v = from_tokenizer_json(tokenizer_json, pre);
    char path[HF_PATH_MAX];
    size_t ni, no;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp", dir, name);
    char *inp = slurp(path, &ni);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.out", dir, name);
    char *out = slurp(path, &no);
    cr_assert(inp && out);
    const size_t sl = strlen(HF_SEP);
    size_t k = 0;
    int fails = 0;
    for (char *ip = inp, *op = out; ip < inp + ni; k++) {
        char *nx = memmem(ip, (size_t)(inp + ni - ip), HF_SEP, sl);
        size_t tl = nx ? (size_t)(nx - ip) : (size_t)(inp + ni - ip);
        char *eol = strchr(op, '\n');
        if (eol)
            *eol = '\0';
        int *ids;
        size_t n, j = 0;
        struct status_err err = {0};
        cr_assert_eq(vocab_encode(v, ip, tl, 0, 0, &ids, &n, &err), STATUS_OK);
        int ok = 1;
        for (char *q = op; ok;) {
            char *end;
            long want = strtol(q, &end, 10);
            if (end == q)
                break;
            ok = j < n && ids[j] == want;
            j++;
            q = end;
        }
        if (!ok || j != n) {
            fails++;
            cr_log_error("%s case %zu (\"%.*s\") differs from llama.cpp", name, k,
                         (int)(tl > 60 ? 60 : tl), ip);
        }
        free(ids);
        if (!nx)
            break;
        ip = nx + sl;
        op = eol ? eol + 1 : op + strlen(op);
    }
    cr_log_info("%s from %s: %zu cases, %d differ", name, tokenizer_json, k, fails);
    cr_expect_eq(fails, 0);
    free(inp);
    free(out);
    vocab_free(v);
}

#define LENML "tests/vocab/node_modules/@lenml/"

Test(vocab_hf, llama_bpe_from_llama3_tokenizer_json, .timeout = 120)
{
    run_cases(LENML "tokenizer-llama3/models/tokenizer.json", "llama-bpe", "llama-bpe");
}

Test(vocab_hf, qwen2_from_qwen3_tokenizer_json, .timeout = 120)
{
    run_cases(LENML "tokenizer-qwen3/models/tokenizer.json", "qwen2", "qwen2");
}

Test(vocab_hf, deepseek_r1_qwen_from_qwen3_tokenizer_json, .timeout = 120)
{
    /* DeepSeek-R1-Distill-Qwen keeps Qwen's BPE; its added tokens differ, the texts use none */
    run_cases(LENML "tokenizer-qwen3/models/tokenizer.json", "deepseek-r1-qwen", "deepseek-r1-qwen");
}
