/* gguf.h: a reader of GGUF files (versions 2 and 3, the llama.cpp / ggml format):
 * header, metadata key/values of every type (arrays included), tensor infos and
 * general.alignment, over one read-only memory map. Every count, string length, offset,
 * dimension and type is checked against the file size before use; a bad file gets
 * STATUS_BAD_FORMAT naming the file and the field. Knows nothing of models or HTTP.
 *
 * Strings are borrowed views into the map, NOT NUL-terminated (use len). Numbers are
 * little-endian in the file; the accessors below convert. Everything returned is
 * valid until gguf_close(). */
#ifndef LMSERVE_GGUF_H
#define LMSERVE_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DIMS_MAX 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf gguf;

/* Metadata value types (the file's numbering). */
enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
    GGUF_I64 = 11, GGUF_F64 = 12,
};

/* Tensor types (ggml's numbering); gguf_ttype_name() knows them all, the model code
 * computes with the ones in models/kernels/quant.h. */
enum gguf_ttype {
    GGUF_T_F32 = 0, GGUF_T_F16 = 1, GGUF_T_Q4_0 = 2, GGUF_T_Q4_1 = 3, GGUF_T_Q5_0 = 6,
    GGUF_T_Q5_1 = 7, GGUF_T_Q8_0 = 8, GGUF_T_Q8_1 = 9, GGUF_T_Q2_K = 10, GGUF_T_Q3_K = 11,
    GGUF_T_Q4_K = 12, GGUF_T_Q5_K = 13, GGUF_T_Q6_K = 14, GGUF_T_Q8_K = 15, GGUF_T_BF16 = 30,
    GGUF_T_COUNT = 39,
};

struct gguf_str {
    const char *s; /* into the map, not NUL-terminated */
    size_t len;
};

struct gguf_kv {
    struct gguf_str key;
    enum gguf_vtype type;
    union {
        uint64_t u;   /* U8, U16, U32, U64, BOOL (0/1) */
        int64_t i;    /* I8, I16, I32, I64 */
        double f;     /* F32, F64 */
        struct gguf_str str; /* STRING */
        struct {      /* ARRAY (of anything but arrays) */
            enum gguf_vtype type;
            size_t n;
            const void *data;           /* numeric: n packed little-endian elements */
            const struct gguf_str *strs; /* STRING: n views (owned by the gguf) */
        } arr;
    } v;
};

struct gguf_tensor {
    struct gguf_str name;
    enum gguf_ttype type;
    uint32_t n_dims;
    uint64_t ne[GGUF_DIMS_MAX]; /* ne[0] = row length (contiguous); unused dims are 1 */
    uint64_t n_elems;
    size_t bytes;
    uint64_t offset;  /* absolute, in the file */
    const void *data; /* into the map */
};

/* Map and parse 'path'. On STATUS_OK *out is owned by the caller (gguf_close); on error
 * *out is untouched and err says why (STATUS_BAD_FORMAT names the file and the field). */
int gguf_open(const char *path, gguf **out, struct status_err *err);
/* The same, but a file of 2 MiB or more is read into anonymous memory on transparent huge
 * pages instead of mapped (the weights a forward pass streams every step: 512x fewer TLB
 * entries than the page cache's 4 KiB pages; measured +10-30% on DRAM-bound decode here).
 * Costs the read at open and private memory instead of shared page cache; the environment
 * variable LMSERVE_GGUF_MMAP (any value) maps instead. */
int gguf_open_resident(const char *path, gguf **out, struct status_err *err);
/* Parse a buffer already in memory (borrowed: must outlive the gguf). 'name' is used in
 * messages. Same contract as gguf_open. */
int gguf_open_mem(const void *data, size_t len, const char *name, gguf **out,
                  struct status_err *err);
void gguf_close(gguf *g); /* accepts NULL */
/* The caller will never read [p, p + len) of g's tensor data again (e.g. it keeps its own
 * copy in another layout): the whole pages inside that range are given back to the system
 * (madvise MADV_DONTNEED) when g owns its memory (gguf_open / gguf_open_resident); a
 * borrowed buffer (gguf_open_mem) or a range outside the file is left alone. */
void gguf_release(gguf *g, const void *p, size_t len);

/* 1 when the first bytes are the GGUF magic. */
int gguf_is_gguf(const void *head, size_t len);

uint32_t gguf_version(const gguf *g);
size_t gguf_file_size(const gguf *g);
const char *gguf_name(const gguf *g); /* the path given to open */
size_t gguf_alignment(const gguf *g);

size_t gguf_n_kv(const gguf *g);
const struct gguf_kv *gguf_kv_at(const gguf *g, size_t i);
const struct gguf_kv *gguf_find(const gguf *g, const char *key); /* NULL if absent */

/* Typed lookups. STATUS_OK: *out set. STATUS_NOT_FOUND: key absent, err untouched.
 * STATUS_BAD_FORMAT: present with an incompatible type (err names file and key).
 * int: any integer type or bool (U64 above INT64_MAX is BAD_FORMAT); float: any number. */
int gguf_get_int(const gguf *g, const char *key, int64_t *out, struct status_err *err);
int gguf_get_float(const gguf *g, const char *key, double *out, struct status_err *err);
int gguf_get_bool(const gguf *g, const char *key, int *out, struct status_err *err);
int gguf_get_str(const gguf *g, const char *key, struct gguf_str *out, struct status_err *err);
/* An array whose elements have type 'elem' (or any numeric type when elem is GGUF_ARRAY:
 * then read elements with gguf_arr_int/gguf_arr_float). */
int gguf_get_arr(const gguf *g, const char *key, enum gguf_vtype elem,
                 const struct gguf_kv **out, struct status_err *err);
/* Element i (< kv->v.arr.n) of a numeric array, converted. */
int64_t gguf_arr_int(const struct gguf_kv *kv, size_t i);
double gguf_arr_float(const struct gguf_kv *kv, size_t i);
/* 1 when s equals the NUL-terminated 'lit'. */
int gguf_str_eq(struct gguf_str s, const char *lit);

size_t gguf_n_tensors(const gguf *g);
const struct gguf_tensor *gguf_tensor_at(const gguf *g, size_t i);
const struct gguf_tensor *gguf_find_tensor(const gguf *g, const char *name); /* NULL if absent */

const char *gguf_vtype_name(enum gguf_vtype t); /* "u32", ..., "?" */
const char *gguf_ttype_name(enum gguf_ttype t); /* "F32", "Q4_K", ..., "?" */
/* Elements per block and bytes per block of a tensor type; 0 when unknown. */
size_t gguf_ttype_block(enum gguf_ttype t);
size_t gguf_ttype_size(enum gguf_ttype t);

#endif
