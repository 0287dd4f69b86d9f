#!/usr/bin/env bash
# bench/http.sh: lmserve's HTTP layer under wrk, side by side with nginx in the same run.
#
#   bash bench/http.sh [options]                 both modes, compare then saturated
#   bash bench/http.sh --mode compare [opts]     lmserve vs nginx only
#   bash bench/http.sh --mode saturated [opts]   /health latency while the workers are busy
#
# compare: for each connection count, wrk runs GET /health and a small JSON POST against
#   lmserve, then the same against nginx (Debian nginx-light, unprivileged prefix in a temp
#   dir, `return 200` with the very bytes lmserve answered), alternating lmserve/nginx so
#   both see the same machine noise. Prints a Markdown table: requests/s, p50, p99 and the
#   lmserve/nginx ratios (req/s ratio >= 1 and p99 ratio <= 1 meet the issue's targets).
# saturated: starts a background load of long jobs on the worker pool, then measures
#   GET /health (idle first, then under the load). Target: p99 under 10 ms.
#
# Options (each also as an environment variable, shown in brackets):
#   --bin PATH           lmserve binary [LMSERVE_BIN]   (build/tests/lmserve: has the "test" type)
#   --threads N          lmserve --threads [BENCH_THREADS]            (2)
#   --server-args "..."  extra lmserve flags, e.g. "--model kjv=ngram:build/models/kjv5.lmb"
#                        [BENCH_SERVER_ARGS]; compare mode always adds a tiny model of the
#                        test-only type, "bench", made in the temp dir
#   --duration S         seconds per wrk run [BENCH_DURATION]         (5)
#   --conns "A B C"      connection counts [BENCH_CONNS]              ("8 64 256")
#   --wrk-threads N      wrk threads [BENCH_WRK_THREADS]              (2)
#   --repeat N           runs per cell; the median is reported [BENCH_REPEAT] (1)
#   --post-path P        POST route [BENCH_POST_PATH]                 (/v1/score; "none": skip)
#   --post-body JSON     POST body [BENCH_POST_BODY]  (one short sentence for model "bench")
#   --nginx-workers N    nginx worker_processes [BENCH_NGINX_WORKERS] (2)
#   --no-nginx           lmserve only
#   --mode saturated:
#   --load KIND          cpu | sleep | cmd [BENCH_LOAD] (auto: cpu when ../shared/models has
#                        stories260K.bin and the transformer type loads it, else sleep)
#                        cpu:   streamed /v1/completions on stories260K (CPU-bound jobs)
#                        sleep: /v1/score on a test model with score_delay_ms (pool full)
#   --load-cmd "CMD"     custom load, run with sh -c; $URL and $PORT are exported; implies
#                        --load cmd [BENCH_LOAD_CMD]
#   --load-conns N       connections of the built-in loads [BENCH_LOAD_CONNS] (4 x threads)
#   --server-log FILE    lmserve's stderr (access log) [BENCH_SERVER_LOG]  (/dev/null, as nginx's)
#   --out FILE           also append the table to FILE
# Everything runs on 127.0.0.1 with ephemeral ports; all processes started here are stopped
# on exit (also on Ctrl-C).
# bench/run.sh starts every area's script with sh: re-run under bash (arrays, arithmetic).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

MODE=${BENCH_MODE:-all}
BIN=${LMSERVE_BIN:-$ROOT/build/tests/lmserve} # the test build: it has the "test" model type
THREADS=${BENCH_THREADS:-2}
SERVER_ARGS=${BENCH_SERVER_ARGS:-}
DURATION=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNS:-"8 64 256"}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
REPEAT=${BENCH_REPEAT:-1}
POST_PATH=${BENCH_POST_PATH:-/v1/score}
POST_BODY=${BENCH_POST_BODY:-}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-2}
USE_NGINX=1
LOAD=${BENCH_LOAD:-auto}
LOAD_CMD=${BENCH_LOAD_CMD:-}
LOAD_CONNS=${BENCH_LOAD_CONNS:-}
OUT=""
ARGS=("$@")
SHARED_MODELS=${LMSERVE_SHARED_MODELS:-$ROOT/../shared/models}
START_TIMEOUT_S=20
SAT_P99_TARGET_MS=10
PROBE_RATE=${BENCH_PROBE_RATE:-200} # requests/s of the paced /health probe (saturated mode)
# lmserve writes one access-log line per request to stderr; nginx writes its access log to
# /dev/null, so by default lmserve's goes there too (a file would cost it a disk write per request).
SERVER_LOG=${BENCH_SERVER_LOG:-/dev/null}

die() { echo "bench/http.sh: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
    --mode) need_arg "$@"; MODE=$2; shift 2 ;;
    --bin) need_arg "$@"; BIN=$2; shift 2 ;;
    --threads) need_arg "$@"; THREADS=$2; shift 2 ;;
    --server-args) need_arg "$@"; SERVER_ARGS=$2; shift 2 ;;
    --duration) need_arg "$@"; DURATION=$2; shift 2 ;;
    --conns) need_arg "$@"; CONNS=$2; shift 2 ;;
    --wrk-threads) need_arg "$@"; WRK_THREADS=$2; shift 2 ;;
    --repeat) need_arg "$@"; REPEAT=$2; shift 2 ;;
    --post-path) need_arg "$@"; POST_PATH=$2; shift 2 ;;
    --post-body) need_arg "$@"; POST_BODY=$2; shift 2 ;;
    --nginx-workers) need_arg "$@"; NGINX_WORKERS=$2; shift 2 ;;
    --no-nginx) USE_NGINX=0; shift ;;
    --load) need_arg "$@"; LOAD=$2; shift 2 ;;
    --load-cmd) need_arg "$@"; LOAD_CMD=$2; LOAD=cmd; shift 2 ;;
    --load-conns) need_arg "$@"; LOAD_CONNS=$2; shift 2 ;;
    --out) need_arg "$@"; OUT=$2; shift 2 ;;
    --server-log) need_arg "$@"; SERVER_LOG=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
case $MODE in all|compare|saturated) ;; *) die "--mode must be all, compare or saturated" ;; esac
case $LOAD in auto|cpu|sleep|cmd) ;; *) die "--load must be cpu, sleep or cmd" ;; esac
for n in "$THREADS" "$DURATION" "$WRK_THREADS" "$REPEAT" "$NGINX_WORKERS"; do
    case $n in ''|*[!0-9]*) die "expected a positive integer, got '$n'" ;; esac
done
[ -x "$BIN" ] || die "no lmserve binary at $BIN (make test-server, or --bin)"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ "$USE_NGINX" = 1 ] && [ "$MODE" != saturated ] && [ ! -x "$NGINX" ]; then
    die "nginx not found (apt-get install nginx-light, or --no-nginx)"
fi
[ -n "$LOAD_CONNS" ] || LOAD_CONNS=$((4 * THREADS))

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lmserve-bench.XXXXXX")
chmod 755 "$TMP" # nginx workers (user nobody when started as root) read nothing here, but may cd
PIDS=()
PGIDS=()
cleanup() {
    local p
    for p in "${PGIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}" "${PGIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: until it answers any HTTP status (or START_TIMEOUT_S passes).
wait_http() {
    local i
    for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    return 1
}

# start_lmserve PORT EXTRA_ARGS...: background lmserve, its access log (stderr) to a file.
LMSERVE_PID=""
start_lmserve() {
    local port=$1
    shift
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags on purpose
    "$BIN" --host 127.0.0.1 --port "$port" --threads "$THREADS" "$@" $SERVER_ARGS \
        >/dev/null 2>"$SERVER_LOG" &
    LMSERVE_PID=$!
    PIDS+=("$LMSERVE_PID")
    if ! wait_http "http://127.0.0.1:$port/health"; then
        # The access log went to $SERVER_LOG (/dev/null by default): show the start-up error.
        # shellcheck disable=SC2086
        timeout 3 "$BIN" --host 127.0.0.1 --port "$port" --threads "$THREADS" "$@" $SERVER_ARGS 2>&1 | tail -5 >&2
        die "lmserve did not answer /health on port $port"
    fi
    local i
    for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && return 0
        sleep 0.1
    done
    curl -s "http://127.0.0.1:$port/ready" >&2
    die "lmserve's models did not become ready"
}

stop_pid() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# nginx_string TEXT: TEXT as an nginx quoted string ('...'); $ goes through a variable.
nginx_string() {
    /usr/bin/python3 -c '
import sys
s = sys.argv[1]
s = s.replace("\\", "\\\\").replace("\x27", "\\\x27").replace("\n", "\\n").replace("$", "${dollar}")
print("\x27" + s + "\x27")' "$1"
}

start_nginx() {
    local port=$1 health_body=$2 post_body=$3
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
    cat >"$TMP/nginx/nginx.conf" <<EOF
# Generated by bench/http.sh: the same JSON as lmserve, from memory.
worker_processes $NGINX_WORKERS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    # lmserve writes one access-log line per request; nginx does the same, to /dev/null.
    access_log /dev/null;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    keepalive_requests 1000000;
    geo \$dollar { default "\$"; }
    server {
        listen 127.0.0.1:$port;
        default_type application/json;
        location = /health { return 200 $(nginx_string "$health_body"); }
        location = ${POST_PATH/#none//none} { return 200 $(nginx_string "$post_body"); }
    }
}
EOF
    "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
        >"$TMP/nginx/logs/out" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    if ! wait_http "http://127.0.0.1:$port/health"; then
        cat "$TMP/nginx/logs/out" "$TMP/nginx/logs/error.log" >&2
        die "nginx did not start on port $port"
    fi
}

# run_wrk NAME CONNS URL [LUA]: one wrk run; prints "rps p50_ms p99_ms errors".
run_wrk() {
    local name=$1 conns=$2 url=$3 lua=${4:-}
    local threads=$WRK_THREADS
    [ "$threads" -gt "$conns" ] && threads=$conns
    local args=(-t "$threads" -c "$conns" -d "${DURATION}s" --timeout 5s --latency)
    [ -n "$lua" ] && args+=(-s "$lua")
    wrk "${args[@]}" "$url" >"$TMP/wrk.$name.out" 2>&1
    parse_wrk "$TMP/wrk.$name.out"
}

# parse_wrk FILE: "rps p50_ms p99_ms errors" from wrk --latency output.
parse_wrk() {
    awk '
    function ms(v) {
        if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
        if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
        if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
        if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
        return v + 0
    }
    /Latency Distribution/ { dist = 1; next }
    dist && $1 == "50%" { p50 = ms($2) }
    dist && $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { err += $NF }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    END {
        if (rps == "") { print "0 0 0 -1"; exit }
        printf "%.0f %.3f %.3f %d\n", rps, p50, p99, err
    }' "$1"
}

# paced_probe URL: GET URL at a fixed rate (open loop, one keep-alive connection) for
# DURATION seconds; prints "rps p50_ms p99_ms errors". Unlike wrk it does not itself load
# the machine, so it shows what a health checker sees.
paced_probe() {
    /usr/bin/python3 - "$1" "$DURATION" "$PROBE_RATE" <<'PY'
import http.client, sys, time, urllib.parse
url, duration, rate = urllib.parse.urlsplit(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
def connect():
    return http.client.HTTPConnection(url.hostname, url.port, timeout=5)
conn, lat, errors = connect(), [], 0
start = time.monotonic()
due = start
while time.monotonic() - start < duration:
    t0 = time.monotonic()
    try:
        conn.request("GET", url.path)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            errors += 1
        lat.append((time.monotonic() - t0) * 1000.0)
    except Exception:
        errors += 1
        conn.close()
        conn = connect()
    due += 1.0 / rate
    time.sleep(max(0.0, due - time.monotonic()))
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0
print("%.0f %.3f %.3f %d" % (len(lat) / (time.monotonic() - start), pick(0.50), pick(0.99), errors))
PY
}

# median of the numbers on stdin (one per line)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# summarize FILE: the median of each column of run_wrk lines (errors summed).
summarize() {
    printf '%.0f %.3f %.3f %s\n' \
        "$(cut -d' ' -f1 "$1" | median)" "$(cut -d' ' -f2 "$1" | median)" \
        "$(cut -d' ' -f3 "$1" | median)" "$(awk '{ s += $4 } END { print s + 0 }' "$1")"
}

# pair NAME CONNS URL_L URL_N [LUA]: REPEAT rounds of one lmserve run then one nginx run
# (interleaved, so both see the same machine noise); prints the two summaries, 8 fields.
pair() {
    local name=$1 conns=$2 url_l=$3 url_n=$4 lua=${5:-} r
    : >"$TMP/pair.l"
    : >"$TMP/pair.n"
    for ((r = 0; r < REPEAT; r++)); do
        run_wrk "l-$name" "$conns" "$url_l" "$lua" >>"$TMP/pair.l"
        if [ -n "$url_n" ]; then run_wrk "n-$name" "$conns" "$url_n" "$lua" >>"$TMP/pair.n"; fi
    done
    [ -s "$TMP/pair.n" ] || echo "0 0 0 0" >"$TMP/pair.n"
    echo "$(summarize "$TMP/pair.l") $(summarize "$TMP/pair.n")"
}

post_lua() {
    local path=$1 body=$2 file=$3
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        printf 'wrk.body = [==[%s]==]\n' "$body"
        printf 'wrk.path = [==[%s]==]\n' "$path"
    } >"$file"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

emit() {
    printf '%s\n' "$1"
    [ -n "$OUT" ] && printf '%s\n' "$1" >>"$OUT"
    return 0
}

machine() {
    local cpu
    cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    echo "$(nproc) cores ($cpu), $(uname -sr), load average $(cut -d" " -f1-3 /proc/loadavg) at start, $(date -u '+%Y-%m-%d %H:%M UTC')"
}

DEFAULT_MODEL_ARGS=()
default_model() {
    printf 'lmserve-test-model\n' >"$TMP/bench.test"
    DEFAULT_MODEL_ARGS=(--model "bench=test:$TMP/bench.test$1")
}

# ---------------------------------------------------------------------------------------
compare_mode() {
    # A tiny model of the test-only type, id "bench", is always there for the default POST.
    default_model ""
    [ -n "$POST_BODY" ] || POST_BODY='{"model":"bench","input":"in the beginning god created the heaven and the earth"}'
    local lp np
    lp=$(free_port)
    start_lmserve "$lp" "${DEFAULT_MODEL_ARGS[@]}"
    local lurl="http://127.0.0.1:$lp"
    # The exact bytes lmserve answers; nginx serves the same.
    local health_body post_body="" code reqs="health post"
    health_body=$(curl -s "$lurl/health"; echo x)
    health_body=${health_body%x}
    [ "$POST_PATH" = none ] && reqs=health
    [ "$POST_PATH" = none ] || {
    code=$(curl -s -o "$TMP/post.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$POST_BODY" "$lurl$POST_PATH")
    case $code in 2??) ;; *) cat "$TMP/post.json" >&2; die "POST $POST_PATH answered $code" ;; esac
    post_body=$(cat "$TMP/post.json"; echo x)
    post_body=${post_body%x}
    post_lua "$POST_PATH" "$POST_BODY" "$TMP/post.lua"
    }

    local nurl=""
    if [ "$USE_NGINX" = 1 ]; then
        np=$(free_port)
        start_nginx "$np" "$health_body" "$post_body"
        nurl="http://127.0.0.1:$np"
        local check="$post_body"
        [ "$POST_PATH" = none ] || check=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary "$POST_BODY" "$nurl$POST_PATH")
        [ "$check" = "${post_body%$'\n'}" ] ||
            echo "bench/http.sh: warning: nginx's POST body differs from lmserve's" >&2
    fi

    emit ""
    emit "### HTTP: lmserve vs nginx ($(machine))"
    emit ""
    emit "lmserve \`--threads $THREADS $SERVER_ARGS\`; nginx $NGINX_WORKERS workers; wrk $WRK_THREADS threads, ${DURATION}s per run, median of $REPEAT; POST = \`$POST_PATH\` $POST_BODY"
    emit ""
    emit "| request | conns | lmserve req/s | p50 ms | p99 ms | nginx req/s | p50 ms | p99 ms | req/s ratio | p99 ratio | errors (l/n) |"
    emit "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    local c req lua path
    for c in $CONNS; do
        for req in $reqs; do
            if [ "$req" = health ]; then lua=""; path=/health; else lua="$TMP/post.lua"; path=$POST_PATH; fi
            # shellcheck disable=SC2046 # eight numbers
            set -- $(pair "$req-$c" "$c" "$lurl$path" "${nurl:+$nurl$path}" "$lua")
            local label="GET /health"
            [ "$req" = post ] && label="POST $POST_PATH"
            if [ -n "$nurl" ]; then
                emit "| $label | $c | $1 | $2 | $3 | $5 | $6 | $7 | $(ratio "$1" "$5") | $(ratio "$3" "$7") | $4/$8 |"
            else
                emit "| $label | $c | $1 | $2 | $3 | - | - | - | - | - | $4/- |"
            fi
        done
    done
    emit ""
    emit "req/s ratio = lmserve / nginx (target >= 1 for /health); p99 ratio = lmserve / nginx (target <= 1). errors = non-2xx responses + socket errors."
}

# ---------------------------------------------------------------------------------------
saturated_mode() {
    local kind=$LOAD extra=()
    if [ "$kind" = auto ]; then
        kind=sleep
        if [ -f "$SHARED_MODELS/stories260K.bin" ] && [ -f "$SHARED_MODELS/tok512.bin" ]; then
            kind=cpu
        fi
    fi
    case $kind in
    cpu)
        extra=(--model "tiny=transformer:$SHARED_MODELS/stories260K.bin,tokenizer=$SHARED_MODELS/tok512.bin")
        LOAD_PATH=/v1/completions
        LOAD_BODY='{"model":"tiny","prompt":"Once upon a time","max_tokens":256,"temperature":0.8,"stream":true}'
        ;;
    sleep)
        printf 'lmserve-test-model\n' >"$TMP/slow.test"
        extra=(--model "slow=test:$TMP/slow.test,score_delay_ms=200")
        LOAD_PATH=/v1/score
        LOAD_BODY='{"model":"slow","input":"a long job"}'
        ;;
    esac
    local lp
    lp=$(free_port)
    if [ "$kind" = cpu ] && ! start_lmserve_try "$lp" tiny "${extra[@]}"; then
        echo "bench/http.sh: the transformer model did not load; using the sleep load" >&2
        kind=sleep
        printf 'lmserve-test-model\n' >"$TMP/slow.test"
        extra=(--model "slow=test:$TMP/slow.test,score_delay_ms=200")
        LOAD_PATH=/v1/score
        LOAD_BODY='{"model":"slow","input":"a long job"}'
        lp=$(free_port)
        start_lmserve "$lp" "${extra[@]}"
    elif [ "$kind" != cpu ]; then
        start_lmserve "$lp" "${extra[@]}"
    fi
    local url="http://127.0.0.1:$lp"
    local probe_conns=4

    local idle idle_paced
    idle=$(run_wrk idle "$probe_conns" "$url/health")
    idle_paced=$(paced_probe "$url/health")

    # One load request first: a load that only gets errors would not saturate anything.
    local load_ok=1 code
    if [ "$kind" != cmd ]; then
        code=$(curl -s -o "$TMP/load1.out" -w '%{http_code}' --max-time 60 \
            -H 'Content-Type: application/json' --data-binary "$LOAD_BODY" "$url$LOAD_PATH")
        case $code in 2??) ;; *)
            load_ok=0
            echo "bench/http.sh: warning: POST $LOAD_PATH answered $code: $(head -c 300 "$TMP/load1.out")" >&2 ;;
        esac
    fi

    # The load: its own process group, so every process it starts is stopped with it.
    local load_desc
    if [ "$kind" = cmd ]; then
        load_desc="custom: $LOAD_CMD"
        URL=$url PORT=$lp setsid sh -c "$LOAD_CMD" >"$TMP/load.out" 2>&1 &
    else
        post_lua "$LOAD_PATH" "$LOAD_BODY" "$TMP/load.lua"
        load_desc="$kind: $LOAD_CONNS connections of POST $LOAD_PATH $LOAD_BODY"
        setsid wrk -t 1 -c "$LOAD_CONNS" -d "$((2 * DURATION + 4))s" --timeout 30s --latency \
            -s "$TMP/load.lua" "$url$LOAD_PATH" >"$TMP/load.out" 2>&1 &
    fi
    local load_pid=$!
    PGIDS+=("$load_pid")
    sleep 2 # let the pool fill
    local busy busy_paced
    busy=$(run_wrk busy "$probe_conns" "$url/health")
    busy_paced=$(paced_probe "$url/health")
    local queue
    queue=$(curl -s "$url/metrics" | awk '/^lmserve_.*(queue|inflight|in_flight)/ && !/^#/ { printf "%s=%s ", $1, $2 }')
    if [ "$kind" = cmd ]; then
        kill -TERM -- "-$load_pid" 2>/dev/null
    fi
    wait "$load_pid" 2>/dev/null
    local load_stats="(custom load: see its own output)"
    if [ "$kind" != cmd ]; then
        set -- $(parse_wrk "$TMP/load.out")
        load_stats="load: $1 req/s, $4 non-2xx/socket errors (503s are expected once the queue is full)"
    fi

    set -- $idle $busy $idle_paced $busy_paced
    local verdict="met"
    awk -v p="$7" -v t="$SAT_P99_TARGET_MS" 'BEGIN { exit !(p < t) }' || verdict="NOT met"
    local verdict_paced="met"
    awk -v p="${15}" -v t="$SAT_P99_TARGET_MS" 'BEGIN { exit !(p < t) }' || verdict_paced="NOT met"
    emit ""
    emit "### /health while the worker pool is saturated ($(machine))"
    emit ""
    emit "lmserve \`--threads $THREADS $SERVER_ARGS\`; load = $load_desc; probes: wrk (closed loop, 1 thread, $probe_conns connections) and a paced client ($PROBE_RATE req/s, one connection), ${DURATION}s each"
    emit ""
    emit "| /health probe | state | req/s | p50 ms | p99 ms | errors |"
    emit "|---|---|---:|---:|---:|---:|"
    emit "| wrk | idle | $1 | $2 | $3 | $4 |"
    emit "| wrk | saturated | $5 | $6 | $7 | $8 |"
    emit "| paced | idle | $9 | ${10} | ${11} | ${12} |"
    emit "| paced | saturated | ${13} | ${14} | ${15} | ${16} |"
    emit ""
    [ "$load_ok" = 1 ] || { verdict="INVALID (the load requests failed)"; verdict_paced=$verdict; }
    emit "Target /health p99 < ${SAT_P99_TARGET_MS} ms under load: wrk probe $verdict, paced probe $verdict_paced. $load_stats. ${queue:+Metrics during load: $queue}"
}

# start_lmserve_try PORT ID ARGS...: like start_lmserve but returns 1 instead of dying when
# model ID does not become ready (the server is stopped then).
start_lmserve_try() {
    local port=$1 want_id=$2
    shift 2
    # shellcheck disable=SC2086
    "$BIN" --host 127.0.0.1 --port "$port" --threads "$THREADS" "$@" $SERVER_ARGS \
        >/dev/null 2>"$SERVER_LOG" &
    LMSERVE_PID=$!
    PIDS+=("$LMSERVE_PID")
    wait_http "http://127.0.0.1:$port/health" || { stop_pid "$LMSERVE_PID"; return 1; }
    local i code
    for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")
        # /ready lists only registered models: an unknown type never shows up, so ask for it.
        if [ "$code" = 200 ]; then
            curl -s "http://127.0.0.1:$port/v1/models/$want_id" >"$TMP/want.json"
            grep -q '"state":"ready"' "$TMP/want.json" && return 0
            grep -q '"error"' "$TMP/want.json" && break
        fi
        curl -s "http://127.0.0.1:$port/ready" | grep -q '"failed"' && break
        sleep 0.1
    done
    stop_pid "$LMSERVE_PID"
    return 1
}

case $MODE in
compare) compare_mode ;;
saturated) saturated_mode ;;
all)
    # Each mode in its own run of this script, so servers and ports never overlap.
    bash "$0" "${ARGS[@]}" --mode compare || exit $?
    bash "$0" "${ARGS[@]}" --mode saturated
    ;;
esac
