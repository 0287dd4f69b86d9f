/* fuzz_file.h: shared by the file parsers' fuzz targets, which open paths: the input is
 * written to one memfd per process and reopened through /proc/self/fd (a regular file, no
 * disk I/O). Header-only: each target is one .c file (mk/fuzz.mk). */
#ifndef LMSERVE_FUZZ_FILE_H
#define LMSERVE_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The path of a regular file holding exactly data[0..size); valid until the next call. */
static const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lmserve-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_file");
        abort();
    }
    return path;
}

#endif
