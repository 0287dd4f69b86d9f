# bench/lib.sh: the loop bench/gpt2/run.sh, bench/mamba/run.sh and bench/transformer/gguf.sh
# share: decode and prompt tokens/s, lmserve against llama.cpp's llama-bench on the same
# files, interleaved (file by file, threads innermost, one repetition of each side per round)
# so both see the same machine load; one JSON line per measurement, then the medians as a
# table (files in the order given). Sourced (POSIX sh); uses BIN, ROUNDS, PROMPT, DECODE,
# LLAMA_BENCH and, when set, WARMUP (unmeasured prompts before lmserve's measurement).
#   bench_vs_llama OUT NAME_PREFIX "FILES" "THREADS"
# NAME_PREFIX is cut from each file's base name to name its rows (a sed pattern).

bench_vs_llama() {
    _out=$1 _prefix=$2 _files=$3 _threads=$4
    : > "$_out"
    echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cpus; load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
    for _r in $(seq "$ROUNDS"); do
        for _f in $_files; do
            _name=$(basename "$_f" .gguf | sed "s/$_prefix//")
            for _t in $_threads; do
                "$BIN/lmserve-bench-transformer" --threads $_t --prompt "$PROMPT" --decode "$DECODE" \
                    --reps 1 ${WARMUP:+--warmup $WARMUP} "$_f" 2>/dev/null |
                    sed "s/^{/{\"side\":\"lmserve\",\"file\":\"$_name\",\"round\":$_r,/" | tee -a "$_out"
                if [ -x "$LLAMA_BENCH" ]; then
                    "$LLAMA_BENCH" -m "$_f" -t $_t -p "$PROMPT" -n "$DECODE" -r 1 -o jsonl 2>/dev/null |
                        sed "s/^{/{\"side\":\"llama.cpp\",\"file\":\"$_name\",\"round\":$_r,\"threads\":$_t,/" |
                        tee -a "$_out"
                fi
            done
        done
    done
    echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 - "$_out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med, order = {}, []
for r in rows:
    key = (r["file"], r["threads"])
    if key not in order:
        order.append(key)
    if r["side"] == "lmserve":
        med.setdefault(key + ("ours", "decode"), []).append(r["decode_tok_s"])
        med.setdefault(key + ("ours", "prompt"), []).append(r["prompt_tok_s"])
    else:
        kind = "prompt" if r.get("n_prompt", 0) > 0 else "decode"
        med.setdefault(key + ("llama", kind), []).append(r["avg_ts"])
files = [k[0] for k in order]
print("| file | threads | decode lmserve | decode llama.cpp | ratio | prompt lmserve | prompt llama.cpp | ratio |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for f, t in sorted(set(order), key=lambda k: (files.index(k[0]), k[1])):
    g = lambda side, kind: statistics.median(med.get((f, t, side, kind), [float("nan")]))
    od, ld, op, lp = g("ours", "decode"), g("llama", "decode"), g("ours", "prompt"), g("llama", "prompt")
    print(f"| {f} | {t} | {od:.0f} | {ld:.0f} | {od/ld:.2f} | {op:.0f} | {lp:.0f} | {op/lp:.2f} |")
PY
}
