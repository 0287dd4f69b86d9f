#!/bin/sh
# bench/transformer/bandwidth.sh: issue 13's bandwidth target, "decode at >= 80% of the
# memory-bandwidth bound on a model larger than the L3, the bound measured in the same run".
# Per round, per file, per thread count T, interleaved so that all see the same machine:
#   1. the bound: `lmserve-bench-transformer --stream=STREAM_MB --threads T` (a plain AVX-512
#      read of a 1 GB aligned_alloc buffer, the same kind of memory as the repacked weights,
#      by the same thread team, each thread one contiguous part as the decode's matrices are
#      split; median of STREAM_REPS passes);
#   2. lmserve's decode: `--prompt 1 --decode DECODE --reps REPS --warmup 1` (median tok/s);
#   3. BASE's decode (another lmserve-bench-transformer, e.g. main's, for an A/B), if set;
#   4. llama-bench -p 0 -n DECODE -r 1 -t T, if LLAMA_BENCH is set;
#   5. the bound again; the round's bound is the mean of 1 and 5.
# Bytes per decode step = the file's tensors except token_embd.weight (one row of it is read;
# unless it is also the classifier: no output.weight), from `lmserve-gguf inspect`; the KV
# cache and activations (a few hundred KB at these positions) are left out. The fraction of
# the bound = bytes per step x tok/s / the round's bound. rq_wait (lmserve's lines) is the
# share of wall time the process's threads waited for a CPU: other processes' load in the
# same seconds; the 2-thread bound needs both vCPUs to itself.
#
#   usage: [THREADS="1 2"] [ROUNDS=3] [DECODE=32] [REPS=3] [STREAM_MB=1024] [STREAM_REPS=5]
#          [BASE=/path/to/old/lmserve-bench-transformer] [LLAMA_BENCH=/path/to/llama-bench]
#          [OUT=file.jsonl] sh bench/transformer/bandwidth.sh BUILD FILE.gguf...
# Make a file larger than the L3 with e.g. `lmserve-gguf random -o llama1B-Q4_0.gguf --type
# Q4_0 --dim 2048 --hidden 5632 --layers 22 --heads 32 --kv-heads 4 --vocab 32000 --ctx 1024`
# (TinyLlama's shape, 1.1 B parameters, 620 MB; Q8_0: 1.17 GB). Prints one JSON line per
# measurement (also appended to OUT), then the table of fractions (medians over rounds).
set -u
[ $# -ge 2 ] || { sed -n '2,27s/^# \{0,1\}//p' "$0" >&2; exit 2; }
BUILD=$1
shift
BIN=$BUILD/bin
THREADS=${THREADS:-1 2}
ROUNDS=${ROUNDS:-3}
DECODE=${DECODE:-32}
REPS=${REPS:-3}
STREAM_MB=${STREAM_MB:-1024}
STREAM_REPS=${STREAM_REPS:-5}
BASE=${BASE:-}
LLAMA_BENCH=${LLAMA_BENCH:-}
OUT=${OUT:-$(mktemp)}
[ -x "$BIN/lmserve-bench-transformer" ] && [ -x "$BIN/lmserve-gguf" ] || {
    echo "bandwidth.sh: build $BIN/lmserve-bench-transformer and $BIN/lmserve-gguf first" >&2
    exit 2
}

# bytes read per decode step: every tensor but the embedding table (unless it is the classifier)
step_bytes() {
    "$BIN/lmserve-gguf" inspect "$1" | awk '
        /^tensors:/ { on = 1; next }
        on && NF == 0 { on = 0 }
        on && $1 != "name" { b[$1] = $NF; total += $NF }
        END { if ("output.weight" in b) total -= b["token_embd.weight"]; printf "%.0f\n", total }'
}

emit() { # tag, then the JSON lines of stdin tagged and kept
    sed "s/^{/{$1,/" | grep '^{' | tee -a "$OUT"
}

stream() {
    "$BIN/lmserve-bench-transformer" --stream="$STREAM_MB" --threads "$1" --reps "$STREAM_REPS" \
        2>/dev/null
}

echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cpus; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
for r in $(seq "$ROUNDS"); do
    for f in "$@"; do
        sb=$(step_bytes "$f")
        name=$(basename "$f")
        for t in $THREADS; do
            tag="\"file\":\"$name\",\"step_bytes\":$sb,\"round\":$r,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\""
            stream "$t" | emit "$tag,\"side\":\"bound\",\"when\":\"before\""
            LMSERVE_KERNEL_THREADS=$t "$BIN/lmserve-bench-transformer" --threads "$t" --prompt 1 \
                --decode "$DECODE" --reps "$REPS" --warmup 1 "$f" 2>/dev/null |
                emit "$tag,\"side\":\"lmserve\""
            if [ -n "$BASE" ]; then
                LMSERVE_KERNEL_THREADS=$t "$BASE" --threads "$t" --prompt 1 --decode "$DECODE" \
                    --reps "$REPS" --warmup 1 "$f" 2>/dev/null | emit "$tag,\"side\":\"base\""
            fi
            if [ -n "$LLAMA_BENCH" ]; then
                "$LLAMA_BENCH" -m "$f" -t "$t" -p 0 -n "$DECODE" -r 1 -o jsonl 2>/dev/null |
                    emit "$tag,\"side\":\"llama.cpp\",\"threads\":$t"
            fi
            stream "$t" | emit "$tag,\"side\":\"bound\",\"when\":\"after\""
        done
    done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
bound, runs = {}, {}
for x in rows:
    k = (x["file"], x["threads"], x["round"])
    if x["side"] == "bound":
        bound.setdefault(k, []).append(x["gb_per_s"])
    else:
        tok = x["avg_ts"] if x["side"] == "llama.cpp" else x["decode_tok_s"]
        runs.setdefault(k, {})[x["side"]] = (tok, x["step_bytes"], x.get("decode_rq_wait"))
sides = [s for s in ("lmserve", "base", "llama.cpp") if any(s in v for v in runs.values())]
print()
print("| file | threads | round | bound GB/s | " + " | ".join(f"{s} tok/s | GB/s | of bound" for s in sides) + " | rq_wait |")
print("|---|---:|---:|---:|" + "---:|---:|---:|" * len(sides) + "---:|")
frac = {}
for k in sorted(runs):
    if k not in bound:
        continue
    b = sum(bound[k]) / len(bound[k])
    cells = []
    for s in sides:
        if s not in runs[k]:
            cells.append(" | | ")
            continue
        tok, sb, _ = runs[k][s]
        g = tok * sb / 1e9
        frac.setdefault((k[0], k[1], s), []).append(g / b)
        cells.append(f"{tok:.2f} | {g:.2f} | {g / b:.2f}")
    rq = runs[k].get("lmserve", (0, 0, None))[2]
    print(f"| {k[0]} | {k[1]} | {k[2]} | {b:.2f} | " + " | ".join(cells) + f" | {rq if rq is not None else ''} |")
print()
print("| file | threads | " + " | ".join(f"{s} of bound (median)" for s in sides) + " |")
print("|---|---:|" + "---:|" * len(sides))
for f, t in sorted({(k[0], k[1]) for k in runs}):
    cells = [f"{statistics.median(frac[(f, t, s)]):.2f}" if (f, t, s) in frac else "" for s in sides]
    print(f"| {f} | {t} | " + " | ".join(cells) + " |")
PY
