/* gguf_write.c: the writer: metadata and tensor infos are encoded into growing byte
 * buffers as they are added; the file is header + metadata + infos + padding + data. */
#include "gguf_write.h"
#include "../util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wtensor {
    const void *data;
    size_t bytes;
};

struct gguf_writer {
    struct strbuf kv, info;
    uint64_t n_kv, n_tensors;
    struct wtensor *t;
    size_t t_cap;
    uint64_t data_len; /* bytes of tensor data so far, each tensor padded */
};

static int put(struct strbuf *b, const void *p, size_t n)
{
    return strbuf_put(b, p, n) == 0 ? STATUS_OK : STATUS_NO_MEMORY;
}
static int put_u32(struct strbuf *b, uint32_t v) { return put(b, &v, 4); }
static int put_u64(struct strbuf *b, uint64_t v) { return put(b, &v, 8); }
static int put_str(struct strbuf *b, const char *s)
{
    const size_t n = strlen(s);
    int rc = put_u64(b, n);
    return rc == STATUS_OK ? put(b, s, n) : rc;
}

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    free(w->kv.p);
    free(w->info.p);
    free(w->t);
    free(w);
}

static int key(gguf_writer *w, const char *k, uint32_t type)
{
    int rc = put_str(&w->kv, k);
    if (rc == STATUS_OK)
        rc = put_u32(&w->kv, type);
    if (rc == STATUS_OK)
        w->n_kv++;
    return rc;
}

int gguf_writer_raw(gguf_writer *w, const char *k, uint32_t type, const void *val, size_t len)
{
    int rc = key(w, k, type);
    return rc == STATUS_OK ? put(&w->kv, val, len) : rc;
}
int gguf_writer_str(gguf_writer *w, const char *k, const char *val)
{
    int rc = key(w, k, GGUF_STRING);
    return rc == STATUS_OK ? put_str(&w->kv, val) : rc;
}
int gguf_writer_u32(gguf_writer *w, const char *k, uint32_t v) { return gguf_writer_raw(w, k, GGUF_U32, &v, 4); }
int gguf_writer_i32(gguf_writer *w, const char *k, int32_t v) { return gguf_writer_raw(w, k, GGUF_I32, &v, 4); }
int gguf_writer_f32(gguf_writer *w, const char *k, float v) { return gguf_writer_raw(w, k, GGUF_F32, &v, 4); }
int gguf_writer_bool(gguf_writer *w, const char *k, int v)
{
    const unsigned char b = v != 0;
    return gguf_writer_raw(w, k, GGUF_BOOL, &b, 1);
}

static int arr_head(gguf_writer *w, const char *k, uint32_t type, size_t n)
{
    int rc = key(w, k, GGUF_ARRAY);
    if (rc == STATUS_OK)
        rc = put_u32(&w->kv, type);
    if (rc == STATUS_OK)
        rc = put_u64(&w->kv, n);
    return rc;
}
int gguf_writer_arr_str(gguf_writer *w, const char *k, const char *const *vals, size_t n)
{
    int rc = arr_head(w, k, GGUF_STRING, n);
    for (size_t i = 0; i < n && rc == STATUS_OK; i++)
        rc = put_str(&w->kv, vals[i]);
    return rc;
}
int gguf_writer_arr_f32(gguf_writer *w, const char *k, const float *vals, size_t n)
{
    int rc = arr_head(w, k, GGUF_F32, n);
    return rc == STATUS_OK ? put(&w->kv, vals, n * 4) : rc;
}
int gguf_writer_arr_i32(gguf_writer *w, const char *k, const int32_t *vals, size_t n)
{
    int rc = arr_head(w, k, GGUF_I32, n);
    return rc == STATUS_OK ? put(&w->kv, vals, n * 4) : rc;
}

int gguf_writer_tensor(gguf_writer *w, const char *name, enum gguf_ttype type, uint32_t n_dims,
                       const uint64_t *ne, const void *data)
{
    const size_t blk = gguf_ttype_block(type), bsz = gguf_ttype_size(type);
    if (blk == 0 || n_dims == 0 || n_dims > GGUF_DIMS_MAX || ne[0] % blk != 0)
        return STATUS_BAD_INPUT;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++)
        n *= ne[d];
    if (w->n_tensors == w->t_cap) {
        size_t cap = w->t_cap ? 2 * w->t_cap : 16;
        struct wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return STATUS_NO_MEMORY;
        w->t = t;
        w->t_cap = cap;
    }
    int rc = put_str(&w->info, name);
    if (rc == STATUS_OK)
        rc = put_u32(&w->info, n_dims);
    for (uint32_t d = 0; d < n_dims && rc == STATUS_OK; d++)
        rc = put_u64(&w->info, ne[d]);
    if (rc == STATUS_OK)
        rc = put_u32(&w->info, (uint32_t)type);
    if (rc == STATUS_OK)
        rc = put_u64(&w->info, w->data_len);
    if (rc != STATUS_OK)
        return rc;
    const size_t bytes = (size_t)(n / blk) * bsz;
    w->t[w->n_tensors++] = (struct wtensor){data, bytes};
    w->data_len += (bytes + GGUF_DEFAULT_ALIGNMENT - 1) / GGUF_DEFAULT_ALIGNMENT * GGUF_DEFAULT_ALIGNMENT;
    return STATUS_OK;
}

static int pad(FILE *f, size_t at)
{
    static const unsigned char zero[GGUF_DEFAULT_ALIGNMENT];
    const size_t n = (GGUF_DEFAULT_ALIGNMENT - at % GGUF_DEFAULT_ALIGNMENT) % GGUF_DEFAULT_ALIGNMENT;
    return fwrite(zero, 1, n, f) == n ? 0 : -1;
}

int gguf_writer_write(gguf_writer *w, const char *path, struct status_err *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return status_set(err, STATUS_BAD_INPUT, NULL, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return status_set(err, STATUS_IO, NULL, "%s: cannot create: %s", tmp, strerror(errno));
    const uint32_t version = 3;
    int ok = fwrite(GGUF_MAGIC, 1, 4, f) == 4 && fwrite(&version, 4, 1, f) == 1 &&
             fwrite(&w->n_tensors, 8, 1, f) == 1 && fwrite(&w->n_kv, 8, 1, f) == 1 &&
             (w->kv.len == 0 || fwrite(w->kv.p, 1, w->kv.len, f) == w->kv.len) &&
             (w->info.len == 0 || fwrite(w->info.p, 1, w->info.len, f) == w->info.len) &&
             (w->n_tensors == 0 || pad(f, 24 + w->kv.len + w->info.len) == 0);
    for (size_t i = 0; ok && i < w->n_tensors; i++)
        ok = fwrite(w->t[i].data, 1, w->t[i].bytes, f) == w->t[i].bytes &&
             pad(f, w->t[i].bytes) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return status_set(err, STATUS_IO, NULL, "%s: write failed: %s", path, strerror(errno));
    }
    return STATUS_OK;
}
