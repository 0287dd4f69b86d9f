#!/usr/bin/env bash
# bench/http_pool.sh: libmicrohttpd's per-connection memory pool (HTTP_CONN_MEMORY_BYTES in
# server/http.c) against GET /health throughput, beside nginx in the same run.
#
#   bash bench/http_pool.sh [--sizes "16 24"] [--rounds 3] [--conns "256 1024"] [--duration 5]
#   bash bench/http_pool.sh --summarize FILE     the table from a saved run's "round ..." lines
#                                                (bench/http_ab.sh --summarize)
#
# For each size (KiB) a copy of build/tests/lmserve is linked with server/http.c compiled
# with -DHTTP_CONN_MEMORY_BYTES=size*1024 (the same compile command make uses, plus that
# flag; the other objects are build/'s). Then bench/http_ab.sh runs them as its variants
# ("16KiB", "24KiB", ...): ROUNDS times, every size once through `bench/http.sh --mode
# compare --post-path none`, sizes alternating within a round so that all see the same
# machine noise; each run's lmserve/nginx req/s ratio and, per size and connection count, the
# median ratio and median req/s of both servers. Why it matters: MHD memsets the whole pool
# for every request; the pool must hold a head the gate lets through (server/http.c: 16 KiB
# since later heads pass the gate's scan too; before that a 12 KB, 100-field later head
# needed 24 KiB).
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
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) SIZES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --summarize) exec bash "$HERE/http_ab.sh" --summarize "$2" ;;
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

variants=()
for kb in $SIZES; do variants+=(--variant "${kb}KiB=$TMP/lmserve$kb"); done
bash "$HERE/http_ab.sh" "${variants[@]}" --rounds "$ROUNDS" --conns "$CONNS" --duration "$DURATION"
