/* tt_helpers.h: fixtures shared by the Transformer unit tests: random checkpoints from
 * lmserve-ckpt-gen in a temporary directory, and the shared stories260K files. Everything
 * here is static: each test file gets its own copy. */
#ifndef LMSERVE_TT_HELPERS_H
#define LMSERVE_TT_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TT_PATH_MAX 512
#define TT_FILE_MAX (2 * TT_PATH_MAX) /* a directory plus a file name */

/* Directory of the built tools: LMSERVE_TOOLS (set by make test) or build/bin. */
__attribute__((unused)) static const char *tt_tools(void)
{
    const char *t = getenv("LMSERVE_TOOLS");
    return t && *t ? t : "build/bin";
}

__attribute__((unused)) static const char *tt_tmpdir(void)
{
    static char dir[TT_PATH_MAX];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/lmserve-tt-XXXXXX");
        if (!mkdtemp(dir))
            cr_assert_fail("mkdtemp failed");
    }
    return dir;
}

/* Make a random checkpoint + tokenizer named 'name' with generator flags 'flags'; fills
 * ckpt and tok paths. Skips the test when the generator is not built. */
__attribute__((unused)) static void tt_make(const char *name, const char *flags, char *ckpt, char *tok)
{
    char gen[TT_FILE_MAX], cmd[4 * TT_FILE_MAX];
    snprintf(gen, sizeof gen, "%s/lmserve-ckpt-gen", tt_tools());
    if (access(gen, X_OK) != 0)
        cr_skip_test("%s not built (run make all)", gen);
    snprintf(ckpt, TT_FILE_MAX, "%s/%s.bin", tt_tmpdir(), name);
    snprintf(tok, TT_FILE_MAX, "%s/%s.tok", tt_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "%s -o %s --tokenizer %s %s", gen, ckpt, tok, flags);
    cr_assert_eq(system(cmd), 0, "generator failed: %s", cmd);
}

/* ../shared/models (or LMSERVE_SHARED_MODELS) when stories260K.bin is there, else NULL. */
__attribute__((unused)) static const char *tt_shared(void)
{
    static char dir[TT_PATH_MAX];
    const char *env = getenv("LMSERVE_SHARED_MODELS");
    const char *cands[] = {env, "../shared/models", "/work/shared/models"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (!cands[i])
            continue;
        char f[TT_FILE_MAX];
        snprintf(f, sizeof f, "%s/stories260K.bin", cands[i]);
        if (access(f, R_OK) == 0) {
            snprintf(dir, sizeof dir, "%s", cands[i]);
            return dir;
        }
    }
    return NULL;
}

#endif
