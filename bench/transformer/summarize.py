#!/usr/bin/python3
"""summarize.py: medians and ratios from bench/transformer/run.sh's JSON lines, as the
markdown table of bench/RESULTS.md. usage: summarize.py RUN.jsonl"""
import json
import statistics
import sys
from collections import defaultdict


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
    v = defaultdict(list)  # (scope, what, threads) -> values
    bw = {}
    for r in rows:
        if r.get("what") == "bandwidth":
            bw[r["threads"]] = r["gb_per_s"]
            continue
        scope = r.get("shape") or ("busy" if r.get("busy") else "server" if "server_stream" in r or "server_core" in r else "?")
        for key in ("ours_f32", "ours_q8"):
            if key in r:
                o = r[key]
                t = o["threads"]
                v[(scope, key + "_decode", t)].append(o["decode_tok_s"])
                v[(scope, key + "_cpu", t)].append(o["decode_tok_per_cpu_s"])
                v[(scope, key + "_prompt", t)].append(o["prompt_tok_s"])
                v[(scope, key + "_bytes", t)].append(o["weight_gb_s"] / o["decode_tok_s"] * 1e9)
        if "runc" in r:
            o = r["runc"]
            v[(scope, "runc_decode", o["threads"])].append(o["runc_tok_s"])
            if "runc_tok_per_cpu_s" in o:
                v[(scope, "runc_cpu", o["threads"])].append(o["runc_tok_per_cpu_s"])
        if "server_stream" in r:
            v[("server", "stream", 2)].append(r["tok_s"])
            if r.get("tok_per_cpu_s"):
                v[("server", "stream_cpu", 2)].append(r["tok_per_cpu_s"])
    print(f"bandwidth (our AVX2 matvec streaming 438 MB): 1 thread {bw.get(1, float('nan'))} GB/s, "
          f"2 threads {bw.get(2, float('nan'))} GB/s\n")
    print("| shape | threads | run.c tok/s | ours f32 tok/s | ratio | ours q8 tok/s | q8 / run.c | "
          "prompt tok/s (f32) | prompt / decode | run.c tok/CPU-s | ours tok/CPU-s | CPU ratio | bandwidth use |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for scope in ("15M", "110M", "busy"):
        for t in (1, 2):
            rc = med(v[(scope, "runc_decode", t)])
            of = med(v[(scope, "ours_f32_decode", t)])
            oq = med(v[(scope, "ours_q8_decode", t)])
            op = med(v[(scope, "ours_f32_prompt", t)])
            rcc = med(v[(scope, "runc_cpu", t)])
            ofc = med(v[(scope, "ours_f32_cpu", t)])
            byt = med(v[(scope, "ours_f32_bytes", t)])
            frac = byt * of / (bw.get(t, float("nan")) * 1e9)
            print(f"| {scope} | {t} | {rc:.1f} | {of:.1f} | {of / rc:.2f}x | {oq:.1f} | {oq / rc:.2f}x | "
                  f"{op:.0f} | {op / of:.1f}x | {rcc:.1f} | {ofc:.1f} | {ofc / rcc:.2f}x | {frac:.0%} |")
    s = med(v[("server", "stream", 2)])
    print(f"\nserver: /v1/completions streaming {s:.1f} tok/s (200 tokens, curl total time incl. prompt "
          f"and HTTP) vs core loop {med(v[('server', 'ours_f32_decode', 2)]):.1f} tok/s")
    sc, cc = med(v[("server", "stream_cpu", 2)]), med(v[("server", "ours_f32_cpu", 2)])
    print(f"server per CPU-second: {sc:.1f} tok vs core {cc:.1f} tok: overhead {1 - sc / cc:.1%}")


if __name__ == "__main__":
    main()
