#!/bin/sh
# bench/ngram/run.sh: the n-gram benchmark of issue 3, run by `make bench-ngram`.
#   1. a corpus from Debian's own text (the changelogs under /usr/share/doc, sorted, so the
#      same packages give the same text): TRAIN_WORDS words to train, TEST_WORDS to score;
#   2. an order-ORDER model: lmserve-ngram-train when built, else KenLM's lmplz from
#      $KENLM_BIN (a KenLM build made by hand outside this repository);
#   3. the scoring core (bench_ngram: words/s, load time, peak RSS) on the ARPA file and on
#      the binary format, and, when $KENLM_BIN is set, KenLM's `query` on its probing and trie
#      formats in the same session, interleaved RUNS times; medians and ratios are printed;
#   4. POST /v1/score end to end with wrk (64 connections) beside GET /health.
# Nothing here downloads anything. Figures go to bench/RESULTS.md by hand.
set -eu

BUILD=${BUILD:-build}
WORK=${NGRAM_BENCH_DIR:-$BUILD/bench-ngram}
ORDER=${ORDER:-5}
TRAIN_WORDS=${TRAIN_WORDS:-4000000}
TEST_WORDS=${TEST_WORDS:-1000000}
RUNS=${RUNS:-3}
PASSES=${PASSES:-3}
WRK_SECONDS=${WRK_SECONDS:-5}
KENLM_BIN=${KENLM_BIN:-}

mkdir -p "$WORK"
BENCH="$BUILD/bin/bench_ngram"
[ -x "$BENCH" ] || make -s BUILD="$BUILD" "$BENCH" # bench/run.sh calls us without make

# ---- corpus ----
if [ ! -s "$WORK/train.txt" ]; then
    find /usr/share/doc -name 'changelog*.gz' | LC_ALL=C sort | xargs zcat 2>/dev/null |
        tr -s ' \t' '  ' | sed 's/^ //; s/ $//' | LC_ALL=C grep -a -v '^$' |
        iconv -f utf-8 -t utf-8 -c > "$WORK/all.txt" || true
    awk -v a="$TRAIN_WORDS" -v b="$TEST_WORDS" -v tr="$WORK/train.txt" -v te="$WORK/test.txt" \
        '{ w += NF; if (w <= a) print > tr; else if (w <= a + b) print > te }' "$WORK/all.txt"
    rm -f "$WORK/all.txt"
fi
echo "corpus: $(wc -w < "$WORK/train.txt") training words, $(wc -w < "$WORK/test.txt") test words"

# ---- model ----
if [ ! -s "$WORK/model.arpa" ]; then
    if [ -x "$BUILD/bin/lmserve-ngram-train" ]; then
        echo "training with lmserve-ngram-train -o $ORDER"
        "$BUILD/bin/lmserve-ngram-train" -o "$ORDER" < "$WORK/train.txt" > "$WORK/model.arpa"
    elif [ -n "$KENLM_BIN" ] && [ -x "$KENLM_BIN/lmplz" ]; then
        echo "training with KenLM's lmplz -o $ORDER (lmserve-ngram-train not built)"
        "$KENLM_BIN/lmplz" -o "$ORDER" -S 1G -T "$WORK" --discount_fallback \
            < "$WORK/train.txt" > "$WORK/model.arpa" 2> "$WORK/lmplz.log"
    else
        echo "need build/bin/lmserve-ngram-train or KENLM_BIN=<dir with lmplz>" >&2
        exit 1
    fi
fi
"$BUILD/bin/lmserve-ngram-build" "$WORK/model.arpa" "$WORK/model.lmb"
if [ -n "$KENLM_BIN" ]; then
    "$KENLM_BIN/build_binary" probing "$WORK/model.arpa" "$WORK/model.probing" > /dev/null 2>&1
    "$KENLM_BIN/build_binary" trie "$WORK/model.arpa" "$WORK/model.trie" > /dev/null 2>&1
fi
ls -l "$WORK"/model.* | awk '{ print "  " $5 "\t" $9 }'
head -12 "$WORK/model.arpa" | grep '^ngram'

# ---- scoring core, interleaved with KenLM ----
# KenLM's query: CPU seconds of a run over the test text minus those of a load-only run.
kenlm() { # kenlm FORMAT -> "wps_cpu wall_s rss_kb load_cpu_s"
    f="$WORK/model.$1"
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/t.load" "$KENLM_BIN/query" -v summary "$f" \
        < /dev/null > /dev/null 2>&1
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/t.run" "$KENLM_BIN/query" -v summary "$f" \
        < "$WORK/test.txt" > "$WORK/kenlm.$1.out" 2>&1
    tokens=$(awk '/^Tokens:/ { print $2 }' "$WORK/kenlm.$1.out")
    paste "$WORK/t.load" "$WORK/t.run" | awk -v n="$tokens" \
        '{ lc = $2 + $3; rc = $6 + $7; printf "%.0f %.2f %d %.3f\n", n / (rc - lc), $5, $8, lc }'
}
: > "$WORK/results.txt"
for i in $(seq "$RUNS"); do
    "$BENCH" "$WORK/model.lmb" "$WORK/test.txt" "$PASSES" | sed 's/^/ours-binary /' >> "$WORK/results.txt"
    if [ -n "$KENLM_BIN" ]; then
        echo "kenlm-probing $(kenlm probing)" >> "$WORK/results.txt"
        echo "kenlm-trie $(kenlm trie)" >> "$WORK/results.txt"
    fi
done
# ARPA loading is slow work: once for us, once for KenLM (its query builds probing in memory)
"$BENCH" "$WORK/model.arpa" "$WORK/test.txt" 1 | sed 's/^/ours-arpa /' >> "$WORK/results.txt"
if [ -n "$KENLM_BIN" ]; then
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/t.arpa" "$KENLM_BIN/query" -v summary \
        "$WORK/model.arpa" < /dev/null > /dev/null 2>&1
    echo "kenlm-arpa-load $(cat "$WORK/t.arpa")" >> "$WORK/results.txt"
fi
ARPA_MB=$(du -m "$WORK/model.arpa" | cut -f1)
/usr/bin/python3 - "$WORK/results.txt" "$ARPA_MB" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
mb = float(sys.argv[2])
def kv(r):
    return dict(x.split('=', 1) for x in r[1:] if '=' in x)
ours = [kv(r) for r in rows if r[0] == 'ours-binary']
med = lambda xs: statistics.median(xs)
wps = med([float(o['wps_cpu_median']) for o in ours])
wps_wall = med([float(o['wps_median']) for o in ours])
print('ours binary: %.2f M words/s (CPU time), %.2f M words/s (wall), load %.2f ms, peak RSS %.1f MB'
      % (wps / 1e6, wps_wall / 1e6, med([float(o['load_ms']) for o in ours]),
         med([float(o['peak_rss_kb']) for o in ours]) / 1024))
arpa = [kv(r) for r in rows if r[0] == 'ours-arpa']
if arpa:
    a = arpa[0]
    print('ours ARPA: load %.2f s wall, %.2f s CPU (%.0f MB: %.2f s CPU per 100 MB), peak RSS %.1f MB'
          % (float(a['load_ms']) / 1e3, float(a['load_cpu_ms']) / 1e3, mb,
             float(a['load_cpu_ms']) / 1e3 / mb * 100, float(a['peak_rss_kb']) / 1024))
for fmt in ('probing', 'trie'):
    k = [r[1:] for r in rows if r[0] == 'kenlm-' + fmt]
    if not k:
        continue
    kw = med([float(x[0]) for x in k])
    print('KenLM %s: %.2f M words/s (CPU time), RSS %.1f MB; ours/KenLM words/s = %.2fx'
          % (fmt, kw / 1e6, med([float(x[2]) for x in k]) / 1024, wps / kw))
k = [r[1:] for r in rows if r[0] == 'kenlm-arpa-load']
if k:
    cpu = float(k[0][1]) + float(k[0][2])
    print('KenLM ARPA load: %.2f s wall, %.2f s CPU (%.2f s CPU per 100 MB)'
          % (float(k[0][0]), cpu, cpu / mb * 100))
EOF

# ---- HTTP end to end ----
if command -v wrk > /dev/null && [ -x "$BUILD/bin/lmserve" ]; then
    PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$BUILD/bin/lmserve" --host 127.0.0.1 --port "$PORT" --model "lm=ngram:$WORK/model.lmb" \
        2> "$WORK/server.log" &
    SERVER=$!
    trap 'kill $SERVER 2>/dev/null || true' EXIT
    for t in $(seq 50); do
        curl -sf "http://127.0.0.1:$PORT/ready" > /dev/null 2>&1 && break
        sleep 0.1
    done
    cat > "$WORK/score.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"lm","input":"Fix a crash when the configuration file is missing."}'
EOF
    echo "wrk, 2 threads, 64 connections, ${WRK_SECONDS}s each:"
    wrk -t2 -c64 -d"${WRK_SECONDS}s" "http://127.0.0.1:$PORT/health" | grep -E 'Requests/sec|Latency'
    wrk -t2 -c64 -d"${WRK_SECONDS}s" -s "$WORK/score.lua" "http://127.0.0.1:$PORT/v1/score" |
        grep -E 'Requests/sec|Latency|Non-2xx'
    kill "$SERVER"
    wait "$SERVER" 2> /dev/null || true
    trap - EXIT
fi
