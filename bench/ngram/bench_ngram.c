/* bench_ngram.c: the n-gram scoring core without HTTP: load time, words scored per second
 * (single thread; tokenizing, vocabulary lookup and KenLM-exact scoring, like KenLM's
 * `query`), and peak RSS. Usage: bench_ngram MODEL TEXT [PASSES]
 * Prints one line of key=value pairs; bench/ngram/run.sh runs it beside KenLM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../../models/ngram/ngram.h"

#define BENCH_PASSES_DEFAULT 5

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

#define BENCH_LINE_WORDS_MAX 4096      /* words of a line scored (the rest is dropped) */
#define BENCH_LINE_BYTES_MAX (1 << 14) /* longer lines are cut (none in the benchmark text) */
#define BENCH_BATCH_LINES 64           /* lines scored together */
#define BENCH_BATCH_WORDS_MAX (BENCH_BATCH_LINES * 64 + BENCH_LINE_WORDS_MAX + 1)

/* One pass over every line of 'f' (streamed, so RSS is the model's, as with KenLM's query):
 * returns words scored (</s> included) and the total log10. Lines are scored
 * BENCH_BATCH_LINES at a time with ngram_words + ngram_score_sents (each line its own
 * sentence, exactly as alone): more walks in flight than one short line gives. */
static size_t score_all(const ngram_lm *lm, FILE *f, double *total)
{
    static char text[BENCH_BATCH_LINES][BENCH_LINE_BYTES_MAX];
    static const char *w[BENCH_BATCH_WORDS_MAX];
    static size_t wl[BENCH_BATCH_WORDS_MAX];
    static uint32_t ids[BENCH_BATCH_WORDS_MAX];
    static float lp[BENCH_BATCH_WORDS_MAX];
    static size_t starts[BENCH_BATCH_LINES];
    size_t words = 0;
    double sum = 0.0;
    rewind(f);
    for (int more = 1; more;) {
        size_t n = 0, lines = 0;
        while (lines < BENCH_BATCH_LINES && n + BENCH_LINE_WORDS_MAX < BENCH_BATCH_WORDS_MAX) {
            if (!fgets(text[lines], sizeof text[lines], f)) {
                more = 0;
                break;
            }
            starts[lines] = n;
            size_t first = n;
            const char *p = text[lines];
            while (*p && *p != '\n' && n - first < BENCH_LINE_WORDS_MAX) {
                while (*p && is_sep(*p))
                    p++;
                if (!*p || *p == '\n')
                    break;
                w[n] = p;
                while (*p && *p != '\n' && !is_sep(*p))
                    p++;
                wl[n] = (size_t)(p - w[n]);
                n++;
            }
            ngram_words(lm, w + first, wl + first, n - first, ids + first, NULL);
            ids[n++] = ngram_word_eos(lm);
            lines++;
        }
        if (!lines)
            break;
        ngram_score_sents(lm, ids, n, starts, lines, 1, lp, NULL);
        for (size_t i = 0; i < n; i++)
            sum += lp[i];
        words += n;
    }
    *total = sum;
    return words;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL TEXT [PASSES]\n", argv[0]);
        return 2;
    }
    int passes = argc > 3 ? atoi(argv[3]) : BENCH_PASSES_DEFAULT;
    if (passes < 1)
        passes = 1;
    FILE *text = fopen(argv[2], "r");
    if (!text) {
        perror(argv[2]);
        return 1;
    }
    long rss_text = peak_rss_kb();
    struct status_err err;
    status_clear(&err);
    ngram_lm *lm = NULL;
    double w0 = wall_s(), c0 = cpu_s();
    if (ngram_open(argv[1], &lm, &err) != STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double load_wall = wall_s() - w0, load_cpu = cpu_s() - c0;
    long rss_loaded = peak_rss_kb();
    double *rate_wall = calloc((size_t)passes, sizeof *rate_wall);
    double *rate_cpu = calloc((size_t)passes, sizeof *rate_cpu);
    size_t words = 0;
    double total = 0.0;
    for (int i = 0; i < passes; i++) {
        double a = wall_s(), b = cpu_s();
        words = score_all(lm, text, &total);
        rate_wall[i] = (double)words / (wall_s() - a);
        rate_cpu[i] = (double)words / (cpu_s() - b);
    }
    qsort(rate_wall, (size_t)passes, sizeof *rate_wall, cmp_double);
    qsort(rate_cpu, (size_t)passes, sizeof *rate_cpu, cmp_double);
    printf("format=%s load_ms=%.2f load_cpu_ms=%.2f words=%zu total_log10=%.4f "
           "wps_median=%.0f wps_cpu_median=%.0f wps_best=%.0f rss_text_kb=%ld "
           "rss_after_load_kb=%ld peak_rss_kb=%ld model_bytes=%zu\n",
           ngram_format(lm), load_wall * 1e3, load_cpu * 1e3, words, total, rate_wall[passes / 2],
           rate_cpu[passes / 2], rate_wall[passes - 1], rss_text, rss_loaded, peak_rss_kb(),
           ngram_bytes(lm));
    free(rate_wall);
    free(rate_cpu);
    ngram_close(lm);
    fclose(text);
    return 0;
}
