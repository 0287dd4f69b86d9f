#!/usr/bin/env bash
# bench/http_pool.sh: libmicrohttpd's per-connection memory pool (HTTP_CONN_MEMORY_BYTES in
# server/http.c) against GET /health throughput, beside nginx in the same run.
#
#   bash bench/http_pool.sh [--sizes "16 24"] [--rounds 3] [--conns "256 1024"] [--duration 5]
#   bash bench/http_pool.sh --summarize FILE     the table from a saved run's "round ..." lines
#
# For each size (KiB) a copy of build/tests/lmserve is linked with server/http.c compiled
# with -DHTTP_CONN_MEMORY_BYTES=size*1024 (the same compile command make uses, plus that
# flag; the other objects are build/'s). Then, ROUNDS times, every size runs
# `bench/http.sh --mode compare --post-path none` once (lmserve then nginx per connection
# count), sizes alternating within a round so that all see the same machine noise. Prints
# each run's lmserve/nginx req/s ratio and, per size and connection count, the median ratio
# and median lmserve req/s. Why it matters: MHD memsets the whole pool for every request;
# the pool must hold a head the gate lets through (issue 10: 24 KiB holds a 12 KB head with
# 100 fields on a later keep-alive request, 16 KiB does not).
# Needs `make test-server` first. Temp files in a mktemp dir, removed on exit.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-build}
SIZES="16 24"
ROUNDS=3
CONNS="256 1024"
DURATION=5
summarize() {
    echo "| pool | conns | median lmserve req/s | median nginx req/s | median ratio | ratios |"
    echo "|---|---:|---:|---:|---:|---|"
    for kb in $SIZES; do
        for c in $CONNS; do
            awk -v kb="$kb" -v c="$c" '$4 == kb && $7 == c":" {
                    n += 0; l[n] = $9; g[n] = $12 + 0; q[n] = $14; n++ }
                function med(a, n,   i, j, t) {
                    for (i = 1; i < n; i++) for (j = i; j > 0 && a[j - 1] + 0 > a[j] + 0; j--) {
                        t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
                    return n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2 }
                END { s = ""; for (i = 0; i < n; i++) s = s (i ? " / " : "") q[i]
                      if (n) printf "| %s KiB | %s | %.0f | %.0f | %.2f | %s |\n", kb, c, med(l, n), med(g, n), med(q, n), s }' "$1"
        done
    done
}

while [ $# -gt 0 ]; do
    case $1 in
    --sizes) SIZES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --summarize) summarize "$2"; exit 0 ;; # the table again from saved "round ..." lines
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/http_pool.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
cd "$ROOT"
[ -x "$BUILD/tests/lmserve" ] || { echo "bench/http_pool.sh: make test-server first" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lmserve-pool.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# the compile command make would run for http.o, and the test server's link inputs
cc_cmd=$(make -s -n -B BUILD="$BUILD" "$BUILD/obj/server/http.o" | grep -- ' -c server/http.c')
objs=$(find "$BUILD/obj/server" -name '*.o' ! -name http.o | sort)
for kb in $SIZES; do
    eval "${cc_cmd% -o *} -DHTTP_CONN_MEMORY_BYTES='($kb * 1024u)' -o $TMP/http$kb.o"
    cc -pthread $objs "$TMP/http$kb.o" "$BUILD/obj/tests/testmodel/testmodel.o" "$BUILD/libmodels.a" \
        -lmicrohttpd -ljansson -lz -lm -lpthread -o "$TMP/lmserve$kb"
done

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u '+%Y-%m-%d %H:%M UTC')"
for ((r = 1; r <= ROUNDS; r++)); do
    for kb in $SIZES; do
        bash bench/http.sh --bin "$TMP/lmserve$kb" --mode compare --post-path none \
            --conns "$CONNS" --duration "$DURATION" --repeat 1 2>/dev/null |
            awk -F'|' -v kb="$kb" -v r="$r" '$2 ~ /health/ {
                gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $7); gsub(/ /, "", $10)
                print "round " r " pool " kb " KiB conns " $3 ": lmserve " $4 " req/s, nginx " $7 ", ratio " $10 }' |
            tee -a "$TMP/runs"
    done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
echo
summarize "$TMP/runs"
