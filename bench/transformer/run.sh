#!/bin/sh
# bench/transformer/run.sh: Transformer decode and prompt tokens/s at 1 and 2 threads on
# random checkpoints of the 15M and 110M shapes (lmserve-ckpt-gen), the machine's streaming
# bandwidth, int8 (v2) decode, 2-thread decode with a competing busy process, and tokens/s
# through /v1/completions streaming. With RUNC=/path/to/llama2.c/run (built by hand, never
# in this repo) the same checkpoints also run through llama2.c's run.c, interleaved with
# ours so both see the same machine load.
#   usage: [RUNC=...] [SHAPES="15M 110M"] [REPS=3] [REPS110=2] [SKIP_BUSY=1] [SKIP_SERVER=1]
#          sh bench/transformer/run.sh [BUILD]
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${DATA:-$BUILD/bench-transformer}
SHAPES=${SHAPES:-"15M 110M"}
REPS=${REPS:-3}
RUNC=${RUNC:-}
mkdir -p "$DATA"
[ -x "$BIN/lmserve-bench-transformer" ] || make -s "$BIN/lmserve-bench-transformer" "$BIN/lmserve-ckpt-gen" "$BIN/lmserve"

shape_flags() {
    case $1 in
    15M) echo "--dim 288 --hidden 768 --layers 6 --heads 6 --kv-heads 6 --vocab 32000 --seq 256" ;;
    110M) echo "--dim 768 --hidden 2048 --layers 12 --heads 12 --kv-heads 12 --vocab 32000 --seq 1024" ;;
    esac
}
decode_n() { case $1 in 15M) echo 120 ;; 110M) echo 64 ;; esac; }

# run.c's "achieved tok/s" (tokens after the first, prompt included, one at a time)
# With perf, also run.c's CPU seconds (whole process): tokens per CPU-second, robust to load.
runc() { # threads ckpt tok steps -> {"threads":T,"runc_tok_s":X[,"runc_tok_per_cpu_s":Y]}
    if command -v perf >/dev/null 2>&1; then
        out=$(OMP_NUM_THREADS=$1 perf stat -x, -e task-clock "$RUNC" "$2" -z "$3" -t 0 -n "$4" -i "x" 2>&1 >/dev/null)
        tps=$(echo "$out" | sed -n 's/achieved tok\/s: //p')
        ms=$(echo "$out" | sed -n 's/^\([0-9.]*\),msec,task-clock.*/\1/p')
        awk -v t="$1" -v tps="$tps" -v ms="$ms" -v n="$4" \
            'BEGIN { printf "{\"threads\":%d,\"runc_tok_s\":%s,\"runc_tok_per_cpu_s\":%.2f}", t, tps, (n - 1) / (ms / 1000) }'
    else
        tps=$(OMP_NUM_THREADS=$1 "$RUNC" "$2" -z "$3" -t 0 -n "$4" -i "x" 2>&1 >/dev/null | sed -n 's/achieved tok\/s: //p')
        echo "{\"threads\":$1,\"runc_tok_s\":$tps}"
    fi
}
ours() { # threads ckpt tok decode prompt
    "$BIN/lmserve-bench-transformer" --threads "$1" --decode "$4" --prompt "$5" --reps 1 "$2" "$3" 2>/dev/null
}

echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cpus; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
for t in 1 2; do "$BIN/lmserve-bench-transformer" --bandwidth --threads $t --reps 5 2>/dev/null; done

for shape in $SHAPES; do
    f=$(shape_flags "$shape")
    [ -n "$f" ] || continue # SHAPES=none: only the busy and server parts
    ck="$DATA/$shape.bin"; q8="$DATA/$shape-q8.bin"; tok="$DATA/tok32000.bin"
    [ -f "$ck" ] || "$BIN/lmserve-ckpt-gen" -o "$ck" --tokenizer "$tok" --version 0 --seed 1 $f
    [ -f "$q8" ] || "$BIN/lmserve-ckpt-gen" -o "$q8" --version 2 --seed 1 $f
    n=$(decode_n "$shape")
    reps=$REPS
    [ "$shape" = 110M ] && reps=${REPS110:-2} # 438 MB per token: keep it short on a shared box
    # threads innermost: 1- and 2-thread samples sit close in time on a shared machine
    r=0
    while [ $r -lt "$reps" ]; do
        for t in 1 2; do
            echo "{\"shape\":\"$shape\",\"run\":$r,\"ours_f32\":$(ours $t "$ck" "$tok" "$n" 128)}"
            echo "{\"shape\":\"$shape\",\"run\":$r,\"ours_q8\":$(ours $t "$q8" "$tok" "$n" 128)}"
            if [ -n "$RUNC" ]; then
                echo "{\"shape\":\"$shape\",\"run\":$r,\"runc\":$(runc $t "$ck" "$tok" "$n")}"
            fi
        done
        r=$((r + 1))
    done
done

# 2 threads with one competing busy process (docs/ARCHITECTURE.md, threads): ours, and run.c for contrast
ck="$DATA/15M.bin"; tok="$DATA/tok32000.bin"
if [ -f "$ck" ] && [ "${SKIP_BUSY:-0}" = 0 ]; then
    sh -c 'while :; do :; done' &
    busy=$!
    r=0
    while [ $r -lt "$REPS" ]; do
        for t in 1 2; do
            echo "{\"busy\":1,\"run\":$r,\"ours_f32\":$(ours $t "$ck" "$tok" 100 128)}"
            if [ -n "$RUNC" ]; then
                echo "{\"busy\":1,\"run\":$r,\"runc\":$(runc $t "$ck" "$tok" 100)}"
            fi
        done
        r=$((r + 1))
    done
    kill "$busy"
    wait "$busy" 2>/dev/null
fi

# server overhead: streamed /v1/completions vs the core loop, same model, same tokens
if [ -f "$ck" ] && [ "${SKIP_SERVER:-0}" = 0 ]; then
    log="$DATA/server.log"
    LMSERVE_KERNEL_THREADS=2 "$BIN/lmserve" --host 127.0.0.1 --port 0 --model "m=transformer:$ck,tokenizer=tok32000.bin" >"$log" 2>&1 &
    srv=$!
    port=""
    i=0
    while [ -z "$port" ] && [ $i -lt 100 ]; do
        sleep 0.1
        port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -1)
        i=$((i + 1))
    done
    hz=$(getconf CLK_TCK)
    cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$srv/stat"; }
    r=0
    while [ $r -lt "$REPS" ]; do
        c0=$(cpu_ticks)
        t=$(curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' \
            -d '{"model":"m","prompt":"x","max_tokens":200,"temperature":0,"stream":true}' \
            "http://127.0.0.1:$port/v1/completions")
        c1=$(cpu_ticks)
        # wall rate, and tokens per CPU-second of the whole server (HTTP, JSON, SSE included)
        echo "{\"server_stream\":1,\"run\":$r,\"tokens\":200,\"seconds\":$t,$(awk -v t="$t" -v c="$((c1 - c0))" -v hz="$hz" \
            'BEGIN { printf "\"tok_s\":%.2f,\"tok_per_cpu_s\":%.2f", 200 / t, (c > 0 ? 200 / (c / hz) : 0) }')}"
        echo "{\"server_core\":1,\"run\":$r,\"ours_f32\":$(ours 2 "$ck" "$tok" 200 2)}"
        r=$((r + 1))
    done
    kill "$srv"
    wait "$srv" 2>/dev/null
fi
