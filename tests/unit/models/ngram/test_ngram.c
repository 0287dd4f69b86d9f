/* test_ngram.c: the n-gram model: hand-checked scores, the independent reference scorer
 * (tests/ref/ngram_ref.py) over random models of orders 1..6 (pruned too), CRLF/tabs/gzip,
 * every malformed-file error, binary round trip, truncated and corrupted binaries, and the
 * registry glue (describe, lowercase, next). */
#include "../../../../models/ngram/ngram.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include "../../../../models/lm.h"
#include "../../../../models/ngram/ngram_internal.h" /* util_alloc_countdown */
#include "../../../../models/registry.h"

#define TOL_TOKEN 1e-5 /* issue 3: per-token agreement with KenLM */
#define TOL_TOTAL 1e-4 /* issue 3: totals */
#define REF_SCRIPT "tests/ref/ngram_ref.py"
#define PYTHON "/usr/bin/python3"
#define SENT_MAX_WORDS 64

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/lmserve-ngram-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(ngram, .init = setup, .fini = teardown);

static const char *path_in(const char *name)
{
    static char p[4][320];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

static ngram_lm *open_ok(const char *path)
{
    struct status_err err;
    status_clear(&err);
    ngram_lm *lm = NULL;
    int rc = ngram_open(path, &lm, &err);
    cr_assert_eq(rc, STATUS_OK, "open %s: %s", path, err.msg);
    return lm;
}

/* A hand-made order-3 model. Every expected number below is worked out in a comment. */
static const char HAND[] = "\\data\\\n"
                           "ngram 1=5\n"
                           "ngram 2=4\n"
                           "ngram 3=2\n"
                           "\n"
                           "\\1-grams:\n"
                           "-1.0\t<unk>\n"
                           "-99\t<s>\t-0.5\n"
                           "-0.7\t</s>\n"
                           "-0.6\ta\t-0.3\n"
                           "-0.9\tb\t-0.2\n"
                           "\n"
                           "\\2-grams:\n"
                           "-0.4\t<s> a\t-0.1\n"
                           "-0.3\ta b\t-0.25\n"
                           "-0.5\tb </s>\n"
                           "-0.2\tb a\n"
                           "\n"
                           "\\3-grams:\n"
                           "-0.15\t<s> a b\n"
                           "-0.05\ta b a\n"
                           "\n"
                           "\\end\\\n";

/* Every sentence score_both() scored since acc_reset(), for ngram_score_sents. */
#define ACC_MAX 8192
#define ACC_SENTS_MAX 1024
static uint32_t acc_ids[ACC_MAX];
static float acc_p[ACC_MAX];
static uint8_t acc_order[ACC_MAX];
static size_t acc_start[ACC_SENTS_MAX], acc_n, acc_sents;

static void acc_reset(void)
{
    acc_n = acc_sents = 0;
}

/* All accumulated sentences in one ngram_score_sents call: the same numbers exactly. */
static void check_sents(const ngram_lm *lm, int bos)
{
    static float p[ACC_MAX];
    static uint8_t o[ACC_MAX];
    cr_assert_gt(acc_sents, 1);
    ngram_score_sents(lm, acc_ids, acc_n, acc_start, acc_sents, bos, p, o);
    for (size_t i = 0; i < acc_n; i++) {
        cr_assert_eq(p[i], acc_p[i], "token %zu: %g in a batch, %g alone", i, p[i], acc_p[i]);
        cr_assert_eq(o[i], acc_order[i]);
    }
}

/* Score a sentence word by word (ngram_score) and batched (ngram_score_ids); both must agree
 * exactly. Returns the number of tokens; fills p/order/oov. */
static size_t score_both(const ngram_lm *lm, const char *sentence, int bos, int eos, float *p,
                         int *order, int *oov)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", sentence);
    const char *w[SENT_MAX_WORDS];
    size_t wl[SENT_MAX_WORDS];
    size_t n = 0;
    for (char *t = strtok(buf, " \t"); t && n < SENT_MAX_WORDS - 1; t = strtok(NULL, " \t")) {
        w[n] = t;
        wl[n] = strlen(t);
        n++;
    }
    uint32_t ids[SENT_MAX_WORDS];
    uint8_t oov8[SENT_MAX_WORDS], ord8[SENT_MAX_WORDS];
    float pb[SENT_MAX_WORDS];
    ngram_words(lm, w, wl, n, ids, oov8);
    struct ngram_state st;
    ngram_state_begin(lm, bos, &st);
    for (size_t i = 0; i < n; i++) {
        int o;
        uint32_t id = ngram_word(lm, w[i], wl[i], &o);
        cr_assert_eq(id, ids[i], "word ids differ for '%s'", w[i]);
        cr_assert_eq(o, oov8[i]);
        oov[i] = o;
        p[i] = ngram_score(lm, &st, id, &st, &order[i]);
    }
    if (eos) {
        ids[n] = ngram_word_eos(lm);
        oov[n] = 0;
        p[n] = ngram_score(lm, &st, ids[n], &st, &order[n]);
        n++;
    }
    ngram_score_ids(lm, ids, n, bos, pb, ord8);
    /* remember the sentence for the multi-sentence check (check_sents) */
    if (acc_n + n <= ACC_MAX && acc_sents < ACC_SENTS_MAX) {
        acc_start[acc_sents++] = acc_n;
        for (size_t i = 0; i < n; i++) {
            acc_ids[acc_n + i] = ids[i];
            acc_p[acc_n + i] = p[i];
            acc_order[acc_n + i] = (uint8_t)order[i];
        }
        acc_n += n;
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(pb[i], p[i], "batched %g != single %g at token %zu of '%s'", pb[i], p[i], i,
                     sentence);
        cr_assert_eq(ord8[i], order[i], "batched order differs at token %zu of '%s'", i, sentence);
    }
    return n;
}

static void check_hand(const ngram_lm *lm)
{
    float p[SENT_MAX_WORDS];
    int order[SENT_MAX_WORDS], oov[SENT_MAX_WORDS];
    /* a|<s> = "<s> a" -0.4; b|<s> a = "<s> a b" -0.15; a|a b = "a b a" -0.05;
     * </s>|b a: no "b a </s>", no "a </s>": p(</s>) -0.7 + bo(a) -0.3 + bo(b a) 0 = -1.0 */
    const float want1[] = {-0.4f, -0.15f, -0.05f, -1.0f};
    const int ord1[] = {2, 3, 3, 1};
    size_t n = score_both(lm, "a b a", 1, 1, p, order, oov);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        cr_assert_float_eq(p[i], want1[i], TOL_TOKEN, "token %zu: %g != %g", i, p[i], want1[i]);
        cr_assert_eq(order[i], ord1[i], "token %zu order %d != %d", i, order[i], ord1[i]);
    }
    /* a|<s> -0.4; zzz = <unk> -1.0 + bo(a) -0.3 + bo(<s> a) -0.1 = -1.4 (OOV, context reset);
     * b|<unk>: p(b) -0.9 + bo(<unk>) 0 = -0.9; </s>|b = "b </s>" -0.5 */
    const float want2[] = {-0.4f, -1.4f, -0.9f, -0.5f};
    const int ord2[] = {2, 1, 1, 2}, oov2[] = {0, 1, 0, 0};
    n = score_both(lm, "a zzz b", 1, 1, p, order, oov);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        cr_assert_float_eq(p[i], want2[i], TOL_TOKEN, "token %zu: %g != %g", i, p[i], want2[i]);
        cr_assert_eq(order[i], ord2[i]);
        cr_assert_eq(oov[i], oov2[i]);
    }
    /* no <s>, no </s>: a = p(a) -0.6; b|a = "a b" -0.3 */
    n = score_both(lm, "a b", 0, 0, p, order, oov);
    cr_assert_eq(n, 2);
    cr_assert_float_eq(p[0], -0.6f, TOL_TOKEN);
    cr_assert_float_eq(p[1], -0.3f, TOL_TOKEN);
    /* empty input: only </s>|<s>: p(</s>) -0.7 + bo(<s>) -0.5 = -1.2 */
    n = score_both(lm, "", 1, 1, p, order, oov);
    cr_assert_eq(n, 1);
    cr_assert_float_eq(p[0], -1.2f, TOL_TOKEN);
}

Test(ngram, hand_checked_scores)
{
    const char *path = path_in("hand.arpa");
    write_file(path, HAND, sizeof HAND - 1);
    ngram_lm *lm = open_ok(path);
    cr_assert_eq(ngram_order(lm), 3);
    cr_assert_eq(ngram_count(lm, 1), 5);
    cr_assert_eq(ngram_count(lm, 2), 4);
    cr_assert_eq(ngram_count(lm, 3), 2);
    cr_assert_eq(ngram_has_unk(lm), 1);
    cr_assert_str_eq(ngram_format(lm), "arpa");
    check_hand(lm);
    /* binary round trip: same numbers, format "binary" */
    struct status_err err;
    status_clear(&err);
    const char *bin = path_in("hand.lmb");
    cr_assert_eq(ngram_write_binary(lm, bin, &err), STATUS_OK, "%s", err.msg);
    ngram_close(lm);
    lm = open_ok(bin);
    cr_assert_str_eq(ngram_format(lm), "binary");
    cr_assert_eq(ngram_count(lm, 3), 2);
    check_hand(lm);
    ngram_close(lm);
}

Test(ngram, crlf_tabs_spaces_and_gzip)
{
    /* CRLF line ends, spaces instead of tabs, several blanks between fields */
    char crlf[4096];
    size_t k = 0;
    for (const char *c = HAND; *c; c++) {
        if (*c == '\n')
            crlf[k++] = '\r';
        crlf[k++] = *c == '\t' ? ' ' : *c;
        if (*c == '\t')
            crlf[k++] = ' ';
    }
    const char *path = path_in("crlf.arpa");
    write_file(path, crlf, k);
    ngram_lm *lm = open_ok(path);
    check_hand(lm);
    ngram_close(lm);
    const char *gz = path_in("hand.arpa.gz");
    gzFile g = gzopen(gz, "wb");
    cr_assert(g);
    cr_assert_eq(gzwrite(g, HAND, (unsigned)(sizeof HAND - 1)), (int)(sizeof HAND - 1));
    gzclose(g);
    lm = open_ok(gz);
    check_hand(lm);
    ngram_close(lm);
}

Test(ngram, model_without_unk_scores_minus_100)
{
    /* HAND without its <unk> line: an OOV is -100 + back-offs (as KenLM) */
    char text[4096];
    snprintf(text, sizeof text, "%s", HAND);
    char *u = strstr(text, "-1.0\t<unk>\n");
    memmove(u, u + strlen("-1.0\t<unk>\n"), strlen(u + strlen("-1.0\t<unk>\n")) + 1);
    memcpy(strstr(text, "ngram 1=5"), "ngram 1=4", 9);
    const char *path = path_in("nounk.arpa");
    write_file(path, text, strlen(text));
    ngram_lm *lm = open_ok(path);
    cr_assert_eq(ngram_has_unk(lm), 0);
    float p[SENT_MAX_WORDS];
    int order[SENT_MAX_WORDS], oov[SENT_MAX_WORDS];
    /* zzz|<s>: -100 + bo(<s>) -0.5 = -100.5 */
    size_t n = score_both(lm, "zzz", 1, 1, p, order, oov);
    cr_assert_eq(n, 2);
    cr_assert_float_eq(p[0], -100.5f, TOL_TOKEN);
    cr_assert_eq(oov[0], 1);
    ngram_close(lm);
}

/* ---- the reference scorer ---- */

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

/* ngram_score_all (used by /v1/next) must equal ngram_score for every word after every
 * prefix of 'sentence'. */
static void check_score_all(const ngram_lm *lm, const char *sentence)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", sentence);
    uint32_t bound = ngram_id_bound(lm);
    float *all = malloc(bound * sizeof *all);
    cr_assert(all);
    struct ngram_state st;
    ngram_state_begin(lm, 1, &st);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save);; t = strtok_r(NULL, " ", &save)) {
        ngram_score_all(lm, &st, all);
        for (uint32_t id = 0; id < bound; id++) {
            if (!ngram_word_text(lm, id)) {
                cr_assert(isinf(all[id]));
                continue;
            }
            struct ngram_state tmp;
            float want = ngram_score(lm, &st, id, &tmp, NULL);
            cr_assert_eq(all[id], want, "'%s' after '%s': %g != %g", ngram_word_text(lm, id),
                         sentence, all[id], want);
        }
        if (!t)
            break;
        ngram_score(lm, &st, ngram_word(lm, t, strlen(t), NULL), &st, NULL);
    }
    free(all);
}

/* Compare 'lm' token by token with the reference's output 'expected' for 'sentences'. */
static void compare_file(const ngram_lm *lm, const char *what, const char *sentences,
                         const char *expected, int bos, int eos)
{
    FILE *fs = fopen(sentences, "r"), *fe = fopen(expected, "r");
    cr_assert(fs && fe);
    char sent[1024], line[8192];
    size_t lines = 0;
    acc_reset();
    while (fgets(sent, sizeof sent, fs)) {
        sent[strcspn(sent, "\n")] = '\0';
        cr_assert(fgets(line, sizeof line, fe), "reference output too short");
        float p[SENT_MAX_WORDS];
        int order[SENT_MAX_WORDS], oov[SENT_MAX_WORDS];
        size_t n = score_both(lm, sent, bos, eos, p, order, oov);
        double total = 0.0;
        char *save = NULL;
        char *tok = strtok_r(line, "\t\n", &save);
        for (size_t i = 0; i < n; i++) {
            cr_assert(tok, "reference has fewer tokens for '%s'", sent);
            char word[256];
            int ro, roov;
            double rp;
            cr_assert_eq(sscanf(tok, "%255s %d %lf %d", word, &ro, &rp, &roov), 4, "%s", tok);
            cr_assert(fabs(rp - p[i]) <= TOL_TOKEN,
                      "%s: '%s' token %zu (%s): reference %.7f, got %.7f", what, sent, i, word, rp,
                      p[i]);
            cr_assert_eq(order[i], ro, "%s: '%s' token %zu (%s): order %d, reference %d", what,
                         sent, i, word, order[i], ro);
            cr_assert_eq(oov[i], roov, "'%s' token %zu oov", sent, i);
            total += p[i];
            tok = strtok_r(NULL, "\t\n", &save);
        }
        double rtotal;
        cr_assert(tok && sscanf(tok, "total %lf", &rtotal) == 1);
        cr_assert(fabs(rtotal - total) <= TOL_TOTAL, "total %.6f vs %.6f", total, rtotal);
        lines++;
    }
    cr_assert_gt(lines, 0);
    check_sents(lm, bos);
    fclose(fs);
    fclose(fe);
}

#define REF_SENTENCES 60 /* per model: enough for every back-off path, quick in Python */

static void random_sentences(const char *path, unsigned seed)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    srand(seed);
    static const char *extra[] = {"<s>", "</s>", "<unk>", "zz", "W3"}; /* odd and unknown words */
    for (int s = 0; s < REF_SENTENCES; s++) {
        int n = rand() % 14;
        for (int i = 0; i < n; i++) {
            int r = rand() % 16;
            if (r < 12)
                fprintf(f, "%sw%d", i ? " " : "", r);
            else
                fprintf(f, "%s%s", i ? " " : "", extra[rand() % 5]);
        }
        fputc('\n', f);
    }
    fclose(f);
}

Test(ngram, matches_reference_orders_1_to_6_pruned_and_binary, .timeout = 240)
{
    if (access(PYTHON, X_OK) != 0 || access(REF_SCRIPT, R_OK) != 0)
        cr_skip_test("needs " PYTHON " and " REF_SCRIPT " (run from the repository root)");
    char arpa[320], sent[320], bin[320], expected[320], cmd[2048];
    snprintf(arpa, sizeof arpa, "%s", path_in("gen.arpa"));
    snprintf(sent, sizeof sent, "%s", path_in("sentences.txt"));
    snprintf(bin, sizeof bin, "%s", path_in("gen.lmb"));
    snprintf(expected, sizeof expected, "%s", path_in("expected.tsv"));
    for (int order = 1; order <= NGRAM_ORDER_MAX; order++) {
        for (int prune = 0; prune <= 1; prune++) {
            int flags = order == 3 && prune; /* one model also without <s> and </s> */
            random_sentences(sent, (unsigned)(order * 10 + prune));
            snprintf(cmd, sizeof cmd,
                     PYTHON " " REF_SCRIPT " gen %d %d '%s' %s && " PYTHON " " REF_SCRIPT
                            " score '%s' '%s' %s > '%s'",
                     order, 100 + order * 2 + prune, arpa, prune ? "prune" : "", arpa, sent,
                     flags ? "nobos noeos" : "", expected);
            cr_assert_eq(run(cmd), 0, "%s", cmd);
            ngram_lm *lm = open_ok(arpa);
            compare_file(lm, arpa, sent, expected, !flags, !flags);
            /* the same numbers through the binary format */
            struct status_err err;
            status_clear(&err);
            cr_assert_eq(ngram_write_binary(lm, bin, &err), STATUS_OK, "%s", err.msg);
            ngram_close(lm);
            lm = open_ok(bin);
            compare_file(lm, bin, sent, expected, !flags, !flags);
            check_score_all(lm, "w1 w2 w3 w4 w5 zz w6 w7 w8");
            ngram_close(lm);
        }
    }
}

/* ---- malformed files: every error names file:line and never crashes ---- */

struct bad_case {
    const char *name;
    const char *text;
    const char *want; /* substring of the message, after "path:" */
};

static const struct bad_case BAD[] = {
    {"not_arpa", "hello\nworld\n", ":2: no \\data\\ line"},
    {"no_counts", "\\data\\\n\\1-grams:\n", "no 'ngram N=count'"},
    {"bad_count_line", "\\data\\\nngram 1=x\n", ":2: expected 'ngram N=count'"},
    {"order_gap", "\\data\\\nngram 1=1\nngram 3=1\n", ":3: expected 'ngram 2=count'"},
    {"order_too_high",
     "\\data\\\nngram 1=1\nngram 2=1\nngram 3=1\nngram 4=1\nngram 5=1\nngram 6=1\nngram 7=1\n",
     ":8: order 7 is above the maximum"},
    {"huge_count", "\\data\\\nngram 1=99999999999\n\\1-grams:\n", "cannot fit"},
    {"fewer_than_header", "\\data\\\nngram 1=4\n\n\\1-grams:\n-1 <s>\n-1 </s>\n-1 a\n\n\\end\\\n",
     ":9: the header declares 4 1-grams but the section has 3"},
    {"more_than_header",
     "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1 <s>\n-1 </s>\n-1 a\n\n\\2-grams:\n",
     ":8: more 1-grams than the header's count of 2"},
    {"more_in_last", "\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n-1 </s>\n-1 a\n\\end\\\n",
     ":7: more 1-grams than the header's count of 2"},
    {"bad_number", "\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n-0.x </s>\n\\end\\\n",
     ":6: '-0.x' is not a number"},
    {"bad_backoff", "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1 <s> -0.5q\n-1 </s>\n",
     ":6: '-0.5q' is not a number"},
    {"positive_prob", "\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n0.5 </s>\n\\end\\\n",
     ":6: positive log10 probability"},
    {"too_many_fields", "\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n-1 </s> -0.2\n\\end\\\n",
     ":6: expected log10prob, 1 word; got 3 fields"},
    {"duplicate_unigram", "\\data\\\nngram 1=3\n\n\\1-grams:\n-1 <s>\n-1 </s>\n-2 <s>\n\\end\\\n",
     ":7: duplicate 1-gram '<s>'"},
    {"duplicate_bigram",
     "\\data\\\nngram 1=2\nngram 2=2\n\n\\1-grams:\n-1 <s>\n-1 </s>\n\n\\2-grams:\n"
     "-1 <s> </s>\n-2 <s> </s>\n\\end\\\n",
     ":11: duplicate 2-gram (first at line 10)"},
    {"unknown_word",
     "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1 <s>\n-1 </s>\n\n\\2-grams:\n-1 <s> b\n"
     "\\end\\\n",
     ":10: word 'b' is not in the 1-grams"},
    {"truncated_section", "\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n",
     "truncated file: expected 2 1-grams, found 1"},
    {"truncated_no_end", "\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n-1 </s>\n",
     "truncated file: no \\end\\"},
    {"missing_section", "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1 <s>\n-1 </s>\n\\end\\\n",
     ":8: expected \\2-grams:"},
    {"no_sentence_markers", "\\data\\\nngram 1=1\n\n\\1-grams:\n-1 a\n\\end\\\n",
     "lack <s> or </s>"},
    {"empty_file", "", ":1: empty file"},
};

Test(ngram, malformed_files_name_file_and_line)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const char *path = path_in(BAD[i].name);
        write_file(path, BAD[i].text, strlen(BAD[i].text));
        struct status_err err;
        status_clear(&err);
        ngram_lm *lm = NULL;
        int rc = ngram_open(path, &lm, &err);
        cr_assert_neq(rc, STATUS_OK, "%s: loaded", BAD[i].name);
        cr_assert_null(lm);
        cr_assert_eq(strncmp(err.msg, path, strlen(path)), 0, "%s: message '%s' lacks the path",
                     BAD[i].name, err.msg);
        cr_assert(strstr(err.msg, BAD[i].want), "%s: message '%s' lacks '%s'", BAD[i].name, err.msg,
                  BAD[i].want);
    }
}

Test(ngram, every_truncation_of_an_arpa_file_fails_cleanly)
{
    const char *path = path_in("cut.arpa");
    size_t full = sizeof HAND - 1;
    /* the file stays valid once only the final newline is cut */
    for (size_t len = 0; len + 1 < full; len++) {
        write_file(path, HAND, len);
        struct status_err err;
        status_clear(&err);
        ngram_lm *lm = NULL;
        int rc = ngram_open(path, &lm, &err);
        cr_assert_neq(rc, STATUS_OK, "a %zu-byte prefix loaded", len);
        cr_assert_eq(rc, STATUS_BAD_FORMAT, "%zu bytes: %s", len, err.msg);
    }
}

/* ---- allocation failures: every one is reported, none crashes or leaks (ASan) ---- */

static const char PRUNED[] = "\\data\\\nngram 1=4\nngram 2=1\nngram 3=1\n\n\\1-grams:\n"
                             "-1 <s> -0.5\n-1 </s>\n-1 a -0.2\n-1 b -0.3\n\n\\2-grams:\n"
                             "-0.5 <s> a -0.1\n\n\\3-grams:\n-0.2 <s> a b\n\n\\end\\\n";
#define ALLOC_FAIL_MAX 400 /* more allocations than any of these loads makes */

Test(ngram, every_allocation_failure_is_reported)
{
    const char *plain = path_in("hand.arpa"), *pruned = path_in("pruned.arpa");
    write_file(plain, HAND, sizeof HAND - 1);
    write_file(pruned, PRUNED, sizeof PRUNED - 1);
    const char *gz = path_in("hand.arpa.gz");
    gzFile g = gzopen(gz, "wb");
    cr_assert(g);
    gzwrite(g, HAND, (unsigned)(sizeof HAND - 1));
    gzclose(g);
    const char *bin = path_in("hand.lmb");
    ngram_lm *lm = open_ok(plain);
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(ngram_write_binary(lm, bin, &err), STATUS_OK);
    ngram_close(lm);
    const char *files[] = {plain, pruned, gz, bin};
    for (size_t f = 0; f < 4; f++) {
        long n;
        for (n = 1; n < ALLOC_FAIL_MAX; n++) {
            util_alloc_countdown = n;
            status_clear(&err);
            lm = NULL;
            int rc = ngram_open(files[f], &lm, &err);
            long left = util_alloc_countdown;
            util_alloc_countdown = 0;
            if (rc == STATUS_OK) {
                ngram_close(lm);
                if (left > 0)
                    break; /* the load made fewer than n allocations: all were tried */
                continue;  /* a failure the loader may absorb (shrinking its string pool) */
            }
            cr_assert_eq(rc, STATUS_NO_MEMORY, "%s, allocation %ld: %s", files[f], n, err.msg);
            cr_assert_null(lm);
        }
        cr_assert_lt(n, ALLOC_FAIL_MAX, "%s: never loaded", files[f]);
    }
}

/* ---- binary files ---- */

static size_t read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

Test(ngram, truncated_and_corrupted_binaries_are_refused_or_harmless)
{
    const char *arpa = path_in("hand.arpa");
    write_file(arpa, HAND, sizeof HAND - 1);
    ngram_lm *lm = open_ok(arpa);
    const char *bin = path_in("hand.lmb");
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(ngram_write_binary(lm, bin, &err), STATUS_OK);
    ngram_close(lm);
    static char img[1 << 16];
    size_t size = read_all(bin, img, sizeof img);
    cr_assert_lt(size, sizeof img);
    const char *cut = path_in("cut.lmb");
    /* every truncation: the header's size check refuses it */
    for (size_t len = 8; len < size; len += (len < 600 ? 1 : 13)) {
        write_file(cut, img, len);
        status_clear(&err);
        lm = NULL;
        cr_assert_neq(ngram_open(cut, &lm, &err), STATUS_OK, "%zu of %zu bytes loaded", len, size);
    }
    /* any byte of the checksummed header flipped: refused */
    static char bad[1 << 16];
    for (size_t i = 0; i < 256; i++) {
        memcpy(bad, img, size);
        bad[i] ^= 0x5a;
        write_file(cut, bad, size);
        status_clear(&err);
        lm = NULL;
        cr_assert_neq(ngram_open(cut, &lm, &err), STATUS_OK, "flipped header byte %zu loaded", i);
    }
    /* table bytes flipped: may change numbers, must never crash (ASan in test-san) */
    srand(7);
    for (int t = 0; t < 200; t++) {
        memcpy(bad, img, size);
        for (int k = 0; k < 8; k++)
            bad[512 + (size_t)rand() % (size - 512)] ^= (char)(1 + rand() % 255);
        write_file(cut, bad, size);
        status_clear(&err);
        lm = NULL;
        if (ngram_open(cut, &lm, &err) != STATUS_OK)
            continue;
        float p[SENT_MAX_WORDS];
        int o[SENT_MAX_WORDS], v[SENT_MAX_WORDS];
        score_both(lm, "a b a zzz b </s> <s> a", 1, 1, p, o, v);
        ngram_close(lm);
    }
}

/* ---- registry glue ---- */

extern const struct model_ops ngram_model_ops;

Test(ngram, model_type_describe_lowercase_and_next)
{
    const char *path = path_in("hand.arpa");
    write_file(path, HAND, sizeof HAND - 1);
    struct model_options opts = {0};
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(model_options_add(&opts, "lowercase", "true", &err), STATUS_OK);
    void *impl = NULL;
    cr_assert_eq(ngram_model_ops.load(path, &opts, &impl, &err), STATUS_OK, "%s", err.msg);
    json_t *d = ngram_model_ops.describe(impl);
    cr_assert_eq(json_integer_value(json_object_get(d, "order")), 3);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(d, "counts"), 1)), 4);
    cr_assert_eq(json_integer_value(json_object_get(d, "vocab_size")), 5);
    cr_assert(json_is_true(json_object_get(d, "has_unk")));
    cr_assert_str_eq(json_string_value(json_object_get(d, "format")), "arpa");
    cr_assert_gt(json_integer_value(json_object_get(d, "bytes")), 0);
    json_decref(d);
    /* lowercase: "A B A" scores as "a b a" */
    struct lm_scored sc = {0};
    struct lm_score_opts so = {.bos = 1, .eos = 1};
    cr_assert_eq(ngram_model_ops.lm->score(impl, "  A\tB a ", &so, &sc, &err), STATUS_OK);
    cr_assert_eq(sc.n, 4);
    cr_assert_str_eq(sc.tokens[0].text, "a");
    cr_assert_str_eq(sc.tokens[3].text, "</s>");
    cr_assert_float_eq(sc.tokens[1].logprob, -0.15 * log(10.0), 1e-6);
    cr_assert_eq(sc.tokens[1].order, 3);
    lm_scored_free(&sc);
    /* next after "a b": every word scored with back-off, </s> included, best first.
     * a: "a b a" -0.05; </s>: "b </s>" -0.5 + bo(a b) -0.25 = -0.75;
     * b: p(b) -0.9 + bo(b) -0.2 + bo(a b) -0.25 = -1.35 */
    struct lm_candidate *c = NULL;
    size_t n = 0;
    so.eos = 0;
    cr_assert_eq(ngram_model_ops.lm->next(impl, "A b", &so, 10, &c, &n, &err), STATUS_OK);
    cr_assert_eq(n, 3, "a, b, </s> (never <s> or <unk>)");
    cr_assert_str_eq(c[0].text, "a");
    cr_assert_float_eq(c[0].logprob, -0.05 * log(10.0), 1e-6);
    cr_assert_str_eq(c[1].text, "</s>");
    cr_assert_float_eq(c[1].logprob, -0.75 * log(10.0), 1e-6);
    cr_assert_str_eq(c[2].text, "b");
    cr_assert_float_eq(c[2].logprob, -1.35 * log(10.0), 1e-6);
    lm_candidates_free(c, n);
    cr_assert_eq(ngram_model_ops.lm->next(impl, "", &so, 1, &c, &n, &err), STATUS_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(c[0].text, "a"); /* "<s> a" -0.4 beats everything after <s> */
    lm_candidates_free(c, n);
    /* bos false, "a b": the same history as with <s> (the trigram "a b a" still applies). */
    struct lm_score_opts nobos = {.bos = 0};
    cr_assert_eq(ngram_model_ops.lm->next(impl, "A b", &nobos, 10, &c, &n, &err), STATUS_OK);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(c[0].text, "a");
    cr_assert_float_eq(c[0].logprob, -0.05 * log(10.0), 1e-6);
    lm_candidates_free(c, n);
    ngram_model_ops.free_impl(impl);
    /* a bad option value is refused */
    model_options_clear(&opts);
    cr_assert_eq(model_options_add(&opts, "lowercase", "maybe", &err), STATUS_OK);
    impl = NULL;
    status_clear(&err);
    cr_assert_eq(ngram_model_ops.load(path, &opts, &impl, &err), STATUS_BAD_INPUT);
    model_options_clear(&opts);
}
