/* mapfile.h: model files as read-only bytes, the one way every loader opens a file: opened
 * with O_NONBLOCK and refused unless it is a regular file (a FIFO or device in the models
 * directory never blocks a loader), then mapped; gzip files inflated into memory. */
#ifndef LMSERVE_MAPFILE_H
#define LMSERVE_MAPFILE_H

#include <stddef.h>
#include <stdio.h>

#include "status.h"

#define MAPFILE_GZ_CHUNK_BYTES (1u << 20) /* inflate step; the buffer doubles past it */

enum mapfile_flags {
    MAPFILE_SHARED = 1,     /* MAP_SHARED (pages shared with other mappers), else MAP_PRIVATE */
    MAPFILE_POPULATE = 2,   /* fault every page in now (a parser reads them all) */
    MAPFILE_SEQUENTIAL = 4, /* madvise(MADV_SEQUENTIAL): read once, front to back */
    MAPFILE_GUNZIP = 8,     /* a gzip file is inflated into heap memory instead of mapped */
};

struct mapfile {
    const void *data; /* len bytes (+ a NUL after them when inflated); NULL when empty */
    size_t len;
    int inflated;     /* 1: heap memory, 0: a mapping */
};

/* Open 'path' read-only for a loader: O_NONBLOCK|O_CLOEXEC, then fstat; anything but a
 * regular file is refused (STATUS_IO "not a regular file"), a missing one is
 * STATUS_NOT_FOUND. On STATUS_OK *fd is the caller's to close and *size its size. */
int mapfile_open_fd(const char *path, int *fd, size_t *size, struct status_err *err);

/* Map (or, with MAPFILE_GUNZIP and a gzip magic, inflate) the whole file at 'path'. A file
 * shorter than min_len is STATUS_BAD_FORMAT naming 'what' ("%s: too short for <what>"); an
 * empty one (min_len 0) is STATUS_OK with data NULL and len 0.
 * On STATUS_OK *m is the caller's (mapfile_close); on error *m is zeroed. */
int mapfile_open(const char *path, unsigned flags, size_t min_len, const char *what,
                 struct mapfile *m, struct status_err *err);
/* Unmap or free. Accepts a zeroed or closed mapfile; leaves it zeroed. */
void mapfile_close(struct mapfile *m);

/* fopen(path, "rb") for a regular file only (same checks as mapfile_open_fd). NULL with
 * 'err' set on failure; the FILE is the caller's to fclose. */
FILE *mapfile_fopen(const char *path, struct status_err *err);

#endif
