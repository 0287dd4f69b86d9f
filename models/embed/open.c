/* open.c: opening a word-vector file of any format (.lmv mapped, text/binary vectors parsed)
 * and saving one; the parsers' shared helpers stay in embed.c, which calls none of them. */
#include "embed_internal.h"
#include "../util/mapfile.h"

#include <stdio.h>
#include <string.h>

int embed_open(const char *path, const struct embed_opts *o, embed **out, struct status_err *err)
{
    FILE *f = mapfile_fopen(path, err);
    if (!f)
        return err ? err->code : STATUS_IO;
    unsigned char head[16] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (lmv_is(head, got))
        return lmv_open(path, o, out, err);
    struct embed_builder b;
    memset(&b, 0, sizeof b);
    int rc = vecfile_read(path, &b, err);
    if (rc != STATUS_OK) {
        embed_builder_free(&b);
        return rc;
    }
    return embed_build_take(&b, o, out, err);
}

int embed_save(const embed *e, const char *path, enum embed_storage storage,
               struct status_err *err)
{
    return lmv_write(e, path, storage, err);
}
