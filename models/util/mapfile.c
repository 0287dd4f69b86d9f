/* mapfile.c: opening, checking, mapping and inflating model files (mapfile.h). */
#include "mapfile.h"
#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define GZIP_MAGIC0 0x1f
#define GZIP_MAGIC1 0x8b

int mapfile_open_fd(const char *path, int *fd, size_t *size, struct status_err *err)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0)
        return status_set(err, errno == ENOENT ? STATUS_NOT_FOUND : STATUS_IO, NULL,
                          "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return status_set(err, STATUS_IO, NULL, "%s: not a regular file", path);
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0)
        (void)fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    *size = (size_t)st.st_size;
    return STATUS_OK;
}

FILE *mapfile_fopen(const char *path, struct status_err *err)
{
    int fd;
    size_t size;
    if (mapfile_open_fd(path, &fd, &size, err) != STATUS_OK)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", path);
        close(fd);
    }
    return f;
}

/* Inflate the gzip stream on fd (consumed) into a NUL-terminated heap buffer. */
static int inflate_fd(const char *path, int fd, size_t size, struct mapfile *m,
                      struct status_err *err)
{
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return status_set(err, STATUS_NO_MEMORY, NULL, "%s: cannot start gunzip", path);
    }
    gzbuffer(gz, MAPFILE_GZ_CHUNK_BYTES);
    /* text compresses ~3x: start there to save most of the doublings */
    size_t cap = size * 3 + MAPFILE_GZ_CHUNK_BYTES, len = 0;
    char *buf = util_malloc(cap + 1);
    for (;;) {
        if (!buf)
            break;
        if (cap - len < MAPFILE_GZ_CHUNK_BYTES) {
            char *nb = util_realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int got = gzread(gz, buf + len, MAPFILE_GZ_CHUNK_BYTES);
        if (got < 0) {
            int zerr;
            int rc = status_set(err, STATUS_BAD_FORMAT, NULL, "%s: gzip: %s", path,
                                gzerror(gz, &zerr));
            gzclose(gz);
            free(buf);
            return rc;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    gzclose(gz);
    if (!buf)
        return status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory inflating", path);
    buf[len] = '\0';
    m->data = buf;
    m->len = len;
    m->inflated = 1;
    return STATUS_OK;
}

int mapfile_open(const char *path, unsigned flags, size_t min_len, const char *what,
                 struct mapfile *m, struct status_err *err)
{
    memset(m, 0, sizeof *m);
    int fd;
    size_t size;
    int rc = mapfile_open_fd(path, &fd, &size, err);
    if (rc != STATUS_OK)
        return rc;
    if (flags & MAPFILE_GUNZIP) {
        unsigned char magic[2] = {0};
        if (pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
            magic[0] == GZIP_MAGIC0 && magic[1] == GZIP_MAGIC1)
            return inflate_fd(path, fd, size, m, err);
    }
    if (size < min_len) {
        close(fd);
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s: too short for %s (%zu bytes)", path,
                          what ? what : "this format", size);
    }
    if (size == 0) { /* nothing to map: the caller says what an empty file means */
        close(fd);
        return STATUS_OK;
    }
    int mflags = (flags & MAPFILE_SHARED) ? MAP_SHARED : MAP_PRIVATE;
    if (flags & MAPFILE_POPULATE)
        mflags |= MAP_POPULATE;
    void *p = mmap(NULL, size, PROT_READ, mflags, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return status_set(err, STATUS_IO, NULL, "%s: cannot map: %s", path, strerror(errno));
    if (flags & MAPFILE_SEQUENTIAL)
        madvise(p, size, MADV_SEQUENTIAL);
    m->data = p;
    m->len = size;
    return STATUS_OK;
}

void mapfile_close(struct mapfile *m)
{
    if (!m || !m->data)
        return;
    if (m->inflated)
        free((void *)m->data);
    else
        munmap((void *)m->data, m->len);
    memset(m, 0, sizeof *m);
}
