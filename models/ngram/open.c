/* open.c: opening an n-gram model of any format: lmserve's binary (mapped), ARPA text plain
 * or gzip (parsed by arpa.c); the store's helpers stay in lm.c, which calls no parser. */
#include "ngram_internal.h"
#include "../util/mapfile.h"

#include <string.h>
#include <unistd.h>

int ngram_open(const char *path, ngram_lm **out, struct status_err *err)
{
    int fd;
    size_t size;
    int rc = mapfile_open_fd(path, &fd, &size, err);
    if (rc != STATUS_OK)
        return rc;
    unsigned char magic[NGRAM_BIN_MAGIC_LEN] = {0};
    ssize_t got = pread(fd, magic, sizeof magic, 0);
    close(fd);
    struct ngram_lm *lm = util_calloc(1, sizeof *lm);
    if (!lm)
        return status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", path);
    struct mapfile mf;
    if (got == (ssize_t)sizeof magic && memcmp(magic, NGRAM_BIN_MAGIC, NGRAM_BIN_MAGIC_LEN) == 0) {
        rc = mapfile_open(path, MAPFILE_SHARED, 0, NULL, &mf, err);
        if (rc == STATUS_OK) {
            rc = ngram_binary_map(path, (void *)mf.data, mf.len, lm, err);
            if (rc != STATUS_OK) /* on success the model owns the mapping */
                mapfile_close(&mf);
        }
    } else {
        /* ARPA text, plain (mapped, read once) or gzip (inflated) */
        rc = mapfile_open(path, MAPFILE_GUNZIP | MAPFILE_SEQUENTIAL, 0, NULL, &mf, err);
        if (rc == STATUS_OK && mf.len == 0 && !mf.inflated)
            rc = status_set(err, STATUS_BAD_FORMAT, NULL, "%s:1: empty file", path);
        else if (rc == STATUS_OK)
            rc = ngram_arpa_build(path, mf.data ? mf.data : "", mf.len, lm, err);
        mapfile_close(&mf);
    }
    if (rc != STATUS_OK) {
        ngram_close(lm);
        return rc;
    }
    *out = lm;
    return STATUS_OK;
}
