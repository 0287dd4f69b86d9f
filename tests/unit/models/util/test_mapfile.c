/* test_mapfile.c: the one file opener of the loaders (models/util/mapfile): regular files only,
 * never blocking on a FIFO (issue 10), sizes checked, gzip inflated; and the allocation
 * countdown of models/util/alloc. */
#include "../../../../models/util/mapfile.h"
#include "../../../../models/util/alloc.h"
#include "../../../../models/embed/embed.h"
#include "../../../../models/ngram/ngram.h"
#include "../../../../models/transformer/transformer.h"
#include "../../../../models/gguf/gguf.h"
#include "../../../../models/registry.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static void mk_dir(void)
{
    strcpy(dir, "/tmp/lmserve-mapfile-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}
static void rm_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* Every loader used to open() before checking the file type: a FIFO blocked a worker
 * forever. Now each refuses it at once. */
Test(mapfile, fifo_in_models_root_does_not_block_a_loader, .init = mk_dir, .fini = rm_dir,
     .timeout = 10)
{
    char p[128];
    snprintf(p, sizeof p, "%s/model.fifo", dir);
    cr_assert_eq(mkfifo(p, 0600), 0);
    struct status_err err;
    struct mapfile m;
    status_clear(&err);
    cr_assert_eq(mapfile_open(p, 0, 0, NULL, &m, &err), STATUS_IO);
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
    status_clear(&err);
    cr_assert_null(mapfile_fopen(p, &err));
    cr_assert_eq(err.code, STATUS_IO);
    ngram_lm *lm = NULL;
    status_clear(&err);
    cr_assert_neq(ngram_open(p, &lm, &err), STATUS_OK);
    embed *e = NULL;
    struct embed_opts o;
    memset(&o, 0, sizeof o);
    status_clear(&err);
    cr_assert_neq(embed_open(p, &o, &e, &err), STATUS_OK);
    transformer *t = NULL;
    status_clear(&err);
    cr_assert_neq(transformer_open(p, p, &t, &err), STATUS_OK);
    gguf *g = NULL;
    status_clear(&err);
    cr_assert_eq(gguf_open(p, &g, &err), STATUS_IO);
    /* through the registry, as a load from the API or the config runs it */
    static const char *const TYPES[] = {"ngram", "embedding", "transformer"};
    registry *r = registry_new(NULL, 1);
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        status_clear(&err);
        cr_assert_neq(registry_add(r, "fifo", TYPES[i], p, NULL, 0, &err), STATUS_OK, "%s",
                      TYPES[i]);
    }
    registry_free(r);
}

Test(mapfile, sizes_missing_files_and_gzip, .init = mk_dir, .fini = rm_dir)
{
    char p[128], gzp[128];
    struct status_err err;
    struct mapfile m;
    snprintf(p, sizeof p, "%s/missing", dir);
    status_clear(&err);
    cr_assert_eq(mapfile_open(p, 0, 0, NULL, &m, &err), STATUS_NOT_FOUND);
    snprintf(p, sizeof p, "%s/small", dir);
    FILE *f = fopen(p, "wb");
    fputs("abc", f);
    fclose(f);
    status_clear(&err);
    cr_assert_eq(mapfile_open(p, 0, 4, "a thing", &m, &err), STATUS_BAD_FORMAT);
    cr_assert(strstr(err.msg, "too short for a thing (3 bytes)"), "%s", err.msg);
    status_clear(&err);
    cr_assert_eq(mapfile_open(p, MAPFILE_SHARED, 3, NULL, &m, &err), STATUS_OK);
    cr_assert(m.len == 3 && memcmp(m.data, "abc", 3) == 0 && !m.inflated);
    mapfile_close(&m);
    mapfile_close(&m); /* closing twice is harmless */
    snprintf(gzp, sizeof gzp, "%s/text.gz", dir);
    gzFile gz = gzopen(gzp, "wb");
    gzputs(gz, "hello gzip");
    gzclose(gz);
    status_clear(&err);
    cr_assert_eq(mapfile_open(gzp, MAPFILE_GUNZIP, 0, NULL, &m, &err), STATUS_OK);
    cr_assert(m.inflated && m.len == 10 && strcmp(m.data, "hello gzip") == 0);
    mapfile_close(&m);
    for (long n = 1; n <= 1; n++) { /* inflating fails cleanly when memory does */
        util_alloc_countdown = n;
        status_clear(&err);
        cr_assert_eq(mapfile_open(gzp, MAPFILE_GUNZIP, 0, NULL, &m, &err), STATUS_NO_MEMORY);
        util_alloc_countdown = 0;
    }
}
