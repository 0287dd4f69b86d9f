#!/usr/bin/env bash
# bench/http_ab.sh: GET /health throughput of several lmserve builds or flag sets, each beside
# nginx in the same run, interleaved round by round.
#
#   bash bench/http_ab.sh --variant "NAME=BINARY[|lmserve flags]" [--variant ...] \
#        [--rounds 3] [--conns "256 1024"] [--duration 5]
#   bash bench/http_ab.sh --summarize FILE      the table again from saved "round ..." lines
#
# Example: --variant "io4=build/tests/lmserve|--io-threads 4" --variant "io2=build/tests/lmserve|--io-threads 2"
# Each round runs every variant once through `bench/http.sh --mode compare --post-path none`
# (lmserve, then nginx, per connection count), variants alternating within a round so that
# all see the same machine noise. Prints each run's lmserve/nginx req/s ratio and, per variant
# and connection count, the median ratio and median req/s of both servers.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=3
CONNS="256 1024"
DURATION=5
NAMES=()
BINS=()
ARGS=()
summarize() {
    echo "| variant | conns | median lmserve req/s | median nginx req/s | median ratio | ratios |"
    echo "|---|---:|---:|---:|---:|---|"
    local names
    names=$(awk '$1 == "round" { print $4 }' "$1" | awk '!seen[$0]++')
    for v in $names; do
        for c in $CONNS; do
            awk -v v="$v" -v c="$c" '$1 == "round" && $4 == v && $6 == c":" {
                    n += 0; l[n] = $8; g[n] = $11 + 0; q[n] = $13; n++ }
                function med(a, n,   i, j, t) {
                    for (i = 1; i < n; i++) for (j = i; j > 0 && a[j - 1] + 0 > a[j] + 0; j--) {
                        t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
                    return n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2 }
                END { s = ""; for (i = 0; i < n; i++) s = s (i ? " / " : "") q[i]
                      if (n) printf "| %s | %s | %.0f | %.0f | %.2f | %s |\n", v, c, med(l, n), med(g, n), med(q, n), s }' "$1"
        done
    done
}

while [ $# -gt 0 ]; do
    case $1 in
    --variant)
        spec=$2
        NAMES+=("${spec%%=*}")
        rest=${spec#*=}
        BINS+=("${rest%%|*}")
        if [[ $rest == *"|"* ]]; then ARGS+=("${rest#*|}"); else ARGS+=(""); fi
        shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --summarize) summarize "$2"; exit 0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/http_ab.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
cd "$ROOT"
[ ${#NAMES[@]} -gt 0 ] || { echo "bench/http_ab.sh: give at least one --variant" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lmserve-ab.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u '+%Y-%m-%d %H:%M UTC')"
for i in "${!NAMES[@]}"; do echo "variant ${NAMES[$i]}: ${BINS[$i]} ${ARGS[$i]}"; done
for ((r = 1; r <= ROUNDS; r++)); do
    for i in "${!NAMES[@]}"; do
        bash bench/http.sh --bin "${BINS[$i]}" --server-args "${ARGS[$i]}" --mode compare \
            --post-path none --conns "$CONNS" --duration "$DURATION" --repeat 1 2>/dev/null |
            awk -F'|' -v v="${NAMES[$i]}" -v r="$r" '$2 ~ /health/ {
                gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $7); gsub(/ /, "", $10)
                print "round " r " variant " v " conns " $3 ": lmserve " $4 " req/s, nginx " $7 ", ratio " $10 }' |
            tee -a "$TMP/runs"
    done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end, $(date -u '+%H:%M UTC')"
echo
summarize "$TMP/runs"
