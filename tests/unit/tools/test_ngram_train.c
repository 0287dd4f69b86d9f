/* test_ngram_train.c: lmserve-ngram-train (found via $LMSERVE_TOOLS) on toy corpora whose
 * modified Kneser-Ney estimates are worked out by hand below, its spill path, and its errors. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRAIN_TOL_LOG10 2e-6   /* ARPA values are printed with 7 significant digits */
#define TRAIN_ARGS_MAX 8
#define TRAIN_PATH_MAX 512
#define TRAIN_LINE_MAX 1024

struct run {
    int status;       /* exit status, or -1 */
    char *out, *err;  /* owned: whole stdout / stderr */
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* Run the trainer with 'args' (NULL-terminated) and 'input' on stdin. */
static struct run train(const char *const *args, const char *input)
{
    const char *tools = getenv("LMSERVE_TOOLS");
    if (!tools)
        cr_skip_test("LMSERVE_TOOLS is not set (make test sets it)");
    char bin[TRAIN_PATH_MAX], dir[] = "/tmp/lmserve-train-test-XXXXXX";
    snprintf(bin, sizeof bin, "%s/lmserve-ngram-train", tools);
    cr_assert(access(bin, X_OK) == 0, "no trainer at %s", bin);
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char in_p[TRAIN_PATH_MAX], out_p[TRAIN_PATH_MAX], err_p[TRAIN_PATH_MAX];
    snprintf(in_p, sizeof in_p, "%s/in", dir);
    snprintf(out_p, sizeof out_p, "%s/out", dir);
    snprintf(err_p, sizeof err_p, "%s/err", dir);
    FILE *f = fopen(in_p, "wb");
    cr_assert(f);
    fputs(input, f);
    fclose(f);
    const char *argv[TRAIN_ARGS_MAX + 2];
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i] && n < TRAIN_ARGS_MAX + 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    /* Set in the parent: after fork() in a threaded process only async-signal-safe calls are
     * allowed, and setenv() may take a lock another thread held at the fork. */
    setenv("TMPDIR", dir, 1);
    pid_t pid = fork();
    /* No cr_assert between fork and exec: the child would talk on the runner's socket. */
    if (pid < 0)
        cr_assert_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        int fi = open(in_p, O_RDONLY), fo = open(out_p, O_WRONLY | O_CREAT | O_TRUNC, 0644),
            fe = open(err_p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fi < 0 || fo < 0 || fe < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    struct run r = {.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1};
    r.out = slurp(out_p);
    r.err = slurp(err_p);
    unlink(in_p);
    unlink(out_p);
    unlink(err_p);
    rmdir(dir);
    return r;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* The ARPA line of 'ngram' ("w1 w2"): its log10 probability and backoff (0 when absent).
 * Fails the test when the n-gram is not listed. */
static void arpa_get(const char *arpa, const char *ngram, double *lp, double *bo, int *has_bo)
{
    char want[TRAIN_LINE_MAX];
    snprintf(want, sizeof want, "\t%s", ngram);
    const char *p = arpa;
    while ((p = strstr(p, want))) {
        const char *after = p + strlen(want);
        if (*after == '\n' || *after == '\t') {
            const char *bol = p;
            while (bol > arpa && bol[-1] != '\n')
                bol--;
            *lp = strtod(bol, NULL);
            *has_bo = *after == '\t';
            *bo = *has_bo ? strtod(after + 1, NULL) : 0.0;
            return;
        }
        p = after;
    }
    cr_assert_fail("n-gram \"%s\" not in the ARPA output:\n%s", ngram, arpa);
}

static void expect_prob(const char *arpa, const char *ngram, double p)
{
    double lp, bo;
    int has_bo;
    arpa_get(arpa, ngram, &lp, &bo, &has_bo);
    cr_expect(fabs(lp - log10(p)) < TRAIN_TOL_LOG10, "log10 p(%s): expected %.7f (p=%.6f), got %.7f",
              ngram, log10(p), p, lp);
}

static void expect_backoff(const char *arpa, const char *ngram, double gamma)
{
    double lp, bo;
    int has_bo;
    arpa_get(arpa, ngram, &lp, &bo, &has_bo);
    if (gamma <= 0.0) {
        cr_expect(!has_bo, "\"%s\" is no context and must have no backoff, got %.7f", ngram, bo);
        return;
    }
    cr_expect(has_bo, "\"%s\" is a context: a backoff is expected", ngram);
    cr_expect(fabs(bo - log10(gamma)) < TRAIN_TOL_LOG10, "backoff(%s): expected %.7f, got %.7f",
              ngram, log10(gamma), bo);
}

/* Order 1 with discounts from count-of-counts. Counts: a 4, b 3, c 2, h 2, d e f g 1, </s> 1
 * (one sentence); so n1 = 5, n2 = 2, n3 = 1, n4 = 1 and Y = n1/(n1+2 n2) = 5/9:
 *   D1 = 1 - 2Y n2/n1 = 5/9,  D2 = 2 - 3Y n3/n2 = 7/6,  D3+ = 3 - 4Y n4/n3 = 7/9.
 * Total 16; gamma = (D1*5 + D2*2 + D3*2 [a, b have >= 3]) / 16 = (60/9)/16 = 5/12.
 * Uniform over the 10 unigrams other than <s> (with <unk>): 1/10, so gamma/10 = 6/144.
 *   p(a) = (4-7/9)/16 + 6/144 = 35/144    p(b) = (3-7/9)/16 + 6/144 = 26/144
 *   p(c) = (2-7/6)/16 + 6/144 = 13.5/144  p(d) = (1-5/9)/16 + 6/144 = 10/144
 *   p(<unk>) = 6/144; all sum to 1. */
Test(ngram_train, unigram_discounts_from_count_of_counts)
{
    const char *args[] = {"-o", "1", NULL};
    struct run r = train(args, "a a a a b b b c c h h d e f g\n");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "\\data\\\nngram 1=11\n"), "header: %s", r.out);
    expect_prob(r.out, "a", 35.0 / 144);
    expect_prob(r.out, "b", 26.0 / 144);
    expect_prob(r.out, "c", 13.5 / 144);
    expect_prob(r.out, "h", 13.5 / 144);
    expect_prob(r.out, "d", 10.0 / 144);
    expect_prob(r.out, "g", 10.0 / 144);
    expect_prob(r.out, "</s>", 10.0 / 144);
    expect_prob(r.out, "<unk>", 6.0 / 144);
    double lp, bo;
    int has_bo;
    arpa_get(r.out, "<s>", &lp, &bo, &has_bo);
    cr_expect(lp <= -99.0, "<s> is never predicted: log10 p = -99, got %g", lp);
    cr_expect(strstr(r.out, "\n\\end\\\n"), "ARPA ends with \\end\\");
    run_free(&r);
}

/* Order 2, "a b" / "a b" / "b a". Bigram counts (top order: raw): <s> a 2, a b 2, b </s> 2,
 * <s> b 1, b a 1, a </s> 1. Unigram adjusted counts (distinct left words): a {<s>, b} 2,
 * b {a, <s>} 2, </s> {b, a} 2. Count-of-counts have zeros (no n3, no n1 at order 1), so
 * both orders use the fallback discounts 0.5, 1.0, 1.5.
 * Unigrams: total 6, gamma = 1.0*3/6 = 1/2, uniform 1/4 (<unk> a b </s>):
 *   p(a) = p(b) = p(</s>) = (2-1)/6 + 1/8 = 7/24;  p(<unk>) = 1/8.
 * Each context (<s>, a, b) has one count 2 and one count 1: total 3,
 *   gamma = (0.5 + 1.0)/3 = 1/2 (the backoff of <s>, a and b);
 *   count 2: (2-1)/3 + 1/2 * 7/24 = 23/48;  count 1: (1-0.5)/3 + 7/48 = 15/48. */
Test(ngram_train, bigram_interpolation_and_backoffs)
{
    const char *args[] = {"-o", "2", NULL};
    struct run r = train(args, "a b\na b\n\nb a\n");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "ngram 1=5\nngram 2=6\n"), "header: %s", r.out);
    expect_prob(r.out, "a", 7.0 / 24);
    expect_prob(r.out, "b", 7.0 / 24);
    expect_prob(r.out, "</s>", 7.0 / 24);
    expect_prob(r.out, "<unk>", 1.0 / 8);
    expect_prob(r.out, "<s> a", 23.0 / 48);
    expect_prob(r.out, "<s> b", 15.0 / 48);
    expect_prob(r.out, "a b", 23.0 / 48);
    expect_prob(r.out, "a </s>", 15.0 / 48);
    expect_prob(r.out, "b </s>", 23.0 / 48);
    expect_prob(r.out, "b a", 15.0 / 48);
    expect_backoff(r.out, "<s>", 0.5);
    expect_backoff(r.out, "a", 0.5);
    expect_backoff(r.out, "b", 0.5);
    expect_backoff(r.out, "</s>", 0.0);
    expect_backoff(r.out, "<unk>", 0.0);
    expect_backoff(r.out, "a b", 0.0);
    cr_expect(strstr(r.err, "using 0.5 1.0 1.5"), "the fallback is reported: %s", r.err);
    run_free(&r);
}

/* The external sort's spill path (-S 1: many runs on disk) gives byte-identical output. */
Test(ngram_train, spilling_changes_nothing)
{
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    unsigned x = 12345;
    for (int line = 0; line < 6000; line++) {
        int words = 3 + (int)(x % 9);
        for (int w = 0; w < words; w++) {
            x = x * 1103515245u + 12345u;
            /* Zipf-ish: small ids are frequent */
            unsigned id = (x >> 16) % 400;
            id = id * id / 400;
            len += (size_t)snprintf(text + len, cap - len, "%sw%u", w ? " " : "", id);
        }
        text[len++] = '\n';
        cr_assert(len + 256 < cap);
    }
    text[len] = '\0';
    const char *big[] = {"-o", "4", NULL}, *small[] = {"-o", "4", "-S", "1", NULL};
    struct run a = train(big, text), b = train(small, text);
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_expect(strstr(a.err, "spilled runs: 0"), "%s", a.err);
    cr_expect(!strstr(b.err, "spilled runs: 0"), "-S 1 must spill: %s", b.err);
    cr_expect(strcmp(a.out, b.out) == 0, "outputs differ with and without spilling");
    run_free(&a);
    run_free(&b);
    free(text);
}

static void expect_fail(const char *const *args, const char *input, const char *msg)
{
    struct run r = train(args, input);
    cr_expect_neq(r.status, 0, "expected a failure for \"%s\"", msg);
    cr_expect(strstr(r.err, msg), "stderr should say \"%s\", got: %s", msg, r.err);
    cr_expect_str_empty(r.out, "no ARPA on failure");
    run_free(&r);
}

Test(ngram_train, errors)
{
    const char *o3[] = {"-o", "3", NULL};
    expect_fail(o3, "", "empty input");
    expect_fail(o3, "\n  \n\t\n", "empty input");
    expect_fail(o3, "a <s> b\n", "reserved");
    const char *o0[] = {"-o", "0", NULL}, *o7[] = {"-o", "7", NULL}, *ox[] = {"-o", "x", NULL};
    expect_fail(o0, "a b\n", "out of range");
    expect_fail(o7, "a b\n", "out of range");
    expect_fail(ox, "a b\n", "out of range");
    const char *none[] = {NULL};
    expect_fail(none, "a b\n", "-o ORDER is required");
    const char *badmem[] = {"-o", "2", "-S", "0", NULL};
    expect_fail(badmem, "a b\n", "-S");
}
