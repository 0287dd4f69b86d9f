#!/usr/bin/env bash
# bench/hardening/run.sh: issue 10's attacks against one lmserve binary, as a Markdown table.
#
#   bash bench/hardening/run.sh [--bin PATH] [--label NAME] [--out FILE]
#
# 1. slow heads: 2000 connections that send part of a request head (and 2000 that trickle a
#    byte every 3 s) while GET /health is probed 20 times a second (slowloris.py);
# 2. 413: Python http.client / urllib / requests and Node fetch POST 3 MiB against the
#    default 1 MiB --max-body, 20 rounds each (clients413.py);
# 3. unread answers: 100 clients send a /v1/score "detail" request with a 1.5 MB answer and
#    read nothing; the server's RSS before / peak / after (unread.py);
# 4. SIGTERM with 8 clients that stopped reading large answers, --timeout 5: seconds to exit.
# Run it once per binary (the old one from a checkout of main, the new one) to compare.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${LMSERVE_BIN:-$ROOT/build/tests/lmserve} # the test build: it has the "test" model type
LABEL=lmserve
OUT=""
PY=/usr/bin/python3 # Debian's, with python3-requests
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/hardening/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lmserve-hard.XXXXXX")
SRV=""
cleanup() {
    [ -n "$SRV" ] && kill -KILL "$SRV" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
printf 'lmserve-test-model\n' >"$TMP/t.test"

start() { # start ARGS...: lmserve on a free port; sets SRV and PORT
    PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$BIN" --host 127.0.0.1 --port "$PORT" --model "t=test:$TMP/t.test" "$@" >/dev/null 2>"$TMP/server.log" &
    SRV=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/ready" && return 0
        sleep 0.1
    done
    echo "lmserve did not start" >&2
    cat "$TMP/server.log" >&2
    exit 2
}
stop() { kill -TERM "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; SRV=""; }
j() { $PY -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

emit() { printf '%s\n' "$1"; [ -n "$OUT" ] && printf '%s\n' "$1" >>"$OUT"; return 0; }

start
p=$($PY "$HERE/slowloris.py" --port "$PORT" --conns 2000 --hold 15 --mode partial)
t=$($PY "$HERE/slowloris.py" --port "$PORT" --conns 2000 --hold 15 --mode trickle)
c413=$($PY "$HERE/clients413.py" --port "$PORT" --rounds 20)
stop
start
u=$($PY "$HERE/unread.py" --port "$PORT" --pid "$SRV" --clients 100 --words 20000 --hold 45)
stop

# SIGTERM with stalled readers: 8 clients ask for ~6 MB answers and read nothing.
# (an older binary without --max-response holds any answer)
if "$BIN" --help | grep -q -- --max-response; then
    start --timeout 5 --max-response 100000000 --max-body 4000000
else
    start --timeout 5 --max-body 4000000
fi
$PY - "$PORT" <<'PY' &
import json, socket, sys, time
port = int(sys.argv[1])
body = json.dumps({"model": "t", "detail": True, "input": "a " * 80000}).encode()
req = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n" % len(body)) + body
socks = []
for _ in range(8):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
time.sleep(40)
PY
STALLER=$!
sleep 12
t0=$(date +%s.%N)
kill -TERM "$SRV"
wait "$SRV"
rc=$?
t1=$(date +%s.%N)
SRV=""
kill "$STALLER" 2>/dev/null
sigterm=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

emit ""
emit "| $LABEL | result |"
emit "|---|---|"
emit "| 2000 partial heads: /health probes ok / errors, p50 / p99 / max ms | $(j "$p" '"%s / %s, %s / %s / %s" % (d["probe_ok"], d["probe_errors"], d["probe_p50_ms"], d["probe_p99_ms"], d["probe_max_ms"])') |"
emit "| 2000 partial heads: closed by the server (median s after start) / still open after 15 s | $(j "$p" '"%s (%s) / %s" % (d["closed_by_server"], d["closed_median_s"], d["still_open_at_end"])') |"
emit "| 2000 trickling heads (1 byte / 3 s): /health ok / errors, p99 ms; closed / still open | $(j "$t" '"%s / %s, %s; %s / %s" % (d["probe_ok"], d["probe_errors"], d["probe_p99_ms"], d["closed_by_server"], d["still_open_at_end"])') |"
while read -r line; do
    emit "| 413 for 3 MiB vs 1 MiB: $(j "$line" 'd["client"]') | $(j "$line" '"%d/%d %s" % (d["got_413"], d["rounds"], "" if d["got_413"] == d["rounds"] else d["all"])') |"
done <<<"$c413"
emit "| 100 non-reading clients, 1.5 MB /v1/score detail answer each: RSS before / peak / after MB | $(j "$u" '"%s / %s / %s (answers: %s)" % (d["rss_before_mb"], d["rss_peak_mb"], d["rss_after_mb"], d["statuses"])') |"
emit "| SIGTERM, --timeout 5, 8 clients not reading ~6 MB answers: seconds to exit (status) | $sigterm ($rc) |"
