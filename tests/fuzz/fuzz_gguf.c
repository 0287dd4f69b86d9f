/* fuzz_gguf.c: libFuzzer target for the GGUF reader: any bytes either parse or are refused
 * with a message; on success every key, array element and tensor byte range is touched
 * (ASan checks that each view lies inside the input). */
#include "../../models/gguf/gguf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1); /* exact size: overreads are caught */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    gguf *g = NULL;
    struct status_err err = {0};
    if (gguf_open_mem(copy, size, "fuzz.gguf", &g, &err) != STATUS_OK) {
        if (!err.msg[0])
            abort(); /* every refusal says why */
        free(copy);
        return 0;
    }
    volatile unsigned sink = 0;
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (kv->key.len)
            sink += (unsigned char)kv->key.s[kv->key.len - 1];
        if (kv->type == GGUF_STRING && kv->v.str.len)
            sink += (unsigned char)kv->v.str.s[kv->v.str.len - 1];
        if (kv->type != GGUF_ARRAY)
            continue;
        for (size_t j = 0; j < kv->v.arr.n; j++) {
            if (kv->v.arr.type == GGUF_STRING) {
                const struct gguf_str s = kv->v.arr.strs[j];
                if (s.len)
                    sink += (unsigned char)s.s[0] + (unsigned char)s.s[s.len - 1];
            } else if (kv->v.arr.type != GGUF_BOOL) {
                sink += (unsigned)gguf_arr_int(kv, j);
            }
        }
    }
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        const unsigned char *p = t->data;
        if (t->bytes)
            sink += p[0] + p[t->bytes - 1];
        if (gguf_find_tensor(g, "token_embd.weight"))
            sink++;
    }
    (void)sink;
    gguf_close(g);
    free(copy);
    return 0;
}
