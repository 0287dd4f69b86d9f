/* gguf_write.h: a small GGUF v3 writer (for tools/lmserve-gguf and tests): metadata of the
 * common types, tensors laid out at general.alignment (32) as llama.cpp writes them. */
#ifndef LMSERVE_GGUF_WRITE_H
#define LMSERVE_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"
#include "gguf.h"

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void); /* NULL when out of memory; free with gguf_writer_free */
void gguf_writer_free(gguf_writer *w); /* accepts NULL */

/* Metadata, written in call order. Return STATUS_OK or STATUS_NO_MEMORY. */
int gguf_writer_str(gguf_writer *w, const char *key, const char *val);
int gguf_writer_u32(gguf_writer *w, const char *key, uint32_t val);
int gguf_writer_i32(gguf_writer *w, const char *key, int32_t val);
int gguf_writer_f32(gguf_writer *w, const char *key, float val);
int gguf_writer_bool(gguf_writer *w, const char *key, int val);
int gguf_writer_arr_str(gguf_writer *w, const char *key, const char *const *vals, size_t n);
int gguf_writer_arr_f32(gguf_writer *w, const char *key, const float *vals, size_t n);
int gguf_writer_arr_i32(gguf_writer *w, const char *key, const int32_t *vals, size_t n);
/* Raw escape hatch for tests: key, type, then 'len' bytes of value encoding. */
int gguf_writer_raw(gguf_writer *w, const char *key, uint32_t type, const void *val, size_t len);

/* A tensor of 'type' with ne[0..n_dims) (ne[0] = row length); 'data' holds its bytes
 * (borrowed: must stay valid until gguf_writer_write returns). */
int gguf_writer_tensor(gguf_writer *w, const char *name, enum gguf_ttype type, uint32_t n_dims,
                       const uint64_t *ne, const void *data);

/* Write everything to 'path' (via a temporary file renamed into place). */
int gguf_writer_write(gguf_writer *w, const char *path, struct status_err *err);

#endif
