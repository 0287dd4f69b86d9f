#!/usr/bin/env python3
"""bench/transformer/http_compare.py: Transformer speed through HTTP, lmserve against
llama.cpp's llama-server on the same GGUF files, alternating the two servers request by
request so both see the same machine load (issue 13).

Per file: lmserve (--threads 1, LMSERVE_KERNEL_THREADS=1) and `llama-server -t 1 -np 1
-c 4096` run side by side on their own ports; each round sends to each server in turn
  decode: /v1/completions, a short prompt, 128 greedy tokens (completion_tokens / wall s)
  prompt: /v1/completions, a ~200-token prompt, max_tokens 1 (prompt_tokens / wall s)
Every request starts with a different word, so neither server's prefix/prompt cache can
serve it (llama-server also gets cache_prompt: false). Prints one JSON line per request,
then medians and ratios (lmserve / llama-server; > 1 means lmserve is faster), by wall time
and by CPU time: each request's tokens over the CPU seconds its server process spent on it
(all its threads, /proc/PID/task/*/schedstat), which a shared machine's load disturbs far
less than wall time. --ab-interleave adds a third side, lmserve with LMSERVE_INTERLEAVE=0
(the file's weight layout), on port+2.

usage: LLAMA_SERVER=/path/to/llama-server python3 bench/transformer/http_compare.py
       [--rounds 5] [--port 18110] [--build build] [--ab-interleave] [FILE.gguf ...]
(default files: ../shared/models/gguf/stories15M-random-{Q8_0,Q4_0,Q4_K_M}.gguf)
"""
import argparse, http.client, json, os, statistics, subprocess, sys, time

from servers import wait_ready

WORDS = "apple river stone cloud garden silver forest window candle meadow harbor lantern".split()
STORY = ("Once upon a time there was a little girl named Lily who loved to play in the park "
         "with her friends and her dog. ")


def post(port, path, body, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body)
    t0 = time.perf_counter()
    c.request("POST", path, data, {"Content-Type": "application/json"})
    r = c.getresponse()
    raw = r.read()
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 200:
        raise RuntimeError(f"port {port}: HTTP {r.status}: {raw[:300]!r}")
    return dt, json.loads(raw)


def cpu_ns(pid):
    """CPU nanoseconds of every thread of process pid so far (0 when it is gone)"""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as fh:
                    total += int(fh.read().split()[0])
            except OSError:
                pass
    except OSError:
        return 0
    return total


def tokens_of(resp):
    u = resp.get("usage", {})
    return u.get("prompt_tokens", 0), u.get("completion_tokens", 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--port", type=int, default=18110)
    ap.add_argument("--build", default="build")
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--story-reps", type=int, default=7, help="prompt length (7 ~ 200 tokens)")
    ap.add_argument("--ab-interleave", action="store_true",
                    help="also lmserve with LMSERVE_INTERLEAVE=0 (port+2)")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    root = os.path.dirname(os.path.abspath(__file__)) + "/../.."
    os.chdir(root)
    files = a.files or [f"../shared/models/gguf/stories15M-random-{q}.gguf"
                        for q in ("Q8_0", "Q4_0", "Q4_K_M")]
    llama = os.environ.get("LLAMA_SERVER", "/work/ref/llama.cpp/build/bin/llama-server")
    lm = f"{a.build}/bin/lmserve"
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} cpus; "
          f"load: {' '.join(open('/proc/loadavg').read().split()[:3])}", flush=True)
    rows = []
    for f in files:
        name = os.path.basename(f).replace(".gguf", "")
        env = dict(os.environ, LMSERVE_KERNEL_THREADS="1")
        p_lm = subprocess.Popen([lm, "--port", str(a.port), "--threads", "1", "--model",
                                 f"m=transformer:{os.path.abspath(f)}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p_ll = p_il0 = None
        try:
            wait_ready(a.port, p_lm, "lmserve", timeout=120)
            if a.ab_interleave:
                p_il0 = subprocess.Popen([lm, "--port", str(a.port + 2), "--threads", "1", "--model",
                                          f"m=transformer:{os.path.abspath(f)}"],
                                         env=dict(env, LMSERVE_INTERLEAVE="0"),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_ready(a.port + 2, p_il0, "lmserve (LMSERVE_INTERLEAVE=0)", timeout=120)
            if os.access(llama, os.X_OK):
                p_ll = subprocess.Popen([llama, "-m", f, "-t", "1", "-np", "1", "-c", "4096",
                                         "--port", str(a.port + 1), "--host", "127.0.0.1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_ready(a.port + 1, p_ll, "llama-server", timeout=120)
            sides = [("lmserve", a.port, {"model": "m"}, p_lm.pid)]
            if p_il0:
                sides.append(("lmserve-il0", a.port + 2, {"model": "m"}, p_il0.pid))
            if p_ll:
                sides.append(("llama-server", a.port + 1, {"cache_prompt": False}, p_ll.pid))
            for side, port, extra, _ in sides:  # warm-up: page the weights in
                post(port, "/v1/completions", dict(extra, prompt="warm", max_tokens=4, temperature=0))
            k = 0
            for rnd in range(a.rounds):
                for kind in ("decode", "prompt"):
                    for side, port, extra, pid in sides:
                        k += 1
                        w = WORDS[k % len(WORDS)] + str(k)
                        if kind == "decode":
                            body = dict(extra, prompt=f"{w} Once upon a time", temperature=0,
                                        max_tokens=a.decode, ignore_eos=True)
                        else:
                            body = dict(extra, prompt=f"{w} " + STORY * a.story_reps,
                                        temperature=0, max_tokens=1)
                        c0 = cpu_ns(pid)
                        dt, r = post(port, "/v1/completions", body)
                        cpu = (cpu_ns(pid) - c0) / 1e9
                        pt, ct = tokens_of(r)
                        n = ct if kind == "decode" else pt
                        row = {"file": name, "side": side, "kind": kind, "round": rnd,
                               "prompt_tokens": pt, "completion_tokens": ct,
                               "seconds": round(dt, 4), "tok_s": round(n / dt, 1),
                               "cpu_s": round(cpu, 4),
                               "tok_per_cpu_s": round(n / cpu, 1) if cpu > 0 else None}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
        finally:
            for p in (p_lm, p_il0, p_ll):
                if p:
                    p.terminate()
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
    print(f"# load after: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    side_names = list(dict.fromkeys(r["side"] for r in rows))
    others = [x for x in side_names if x != "lmserve"]
    print("| file | kind | " + " | ".join(f"{x} tok/s (median)" for x in side_names) + " | " +
          " | ".join(f"ratio vs {x} (wall)" for x in others) + " | " +
          " | ".join(f"ratio vs {x} (CPU)" for x in others) + " |")
    print("|---|---|" + "---:|" * (len(side_names) + 2 * len(others)))

    def med(f, kind, side, key):
        v = [r[key] for r in rows if r["file"] == f and r["kind"] == kind and r["side"] == side
             and r[key] is not None]
        return statistics.median(v) if v else None

    for f in dict.fromkeys(r["file"] for r in rows):
        for kind in ("decode", "prompt"):
            wall = {x: med(f, kind, x, "tok_s") for x in side_names}
            cpu = {x: med(f, kind, x, "tok_per_cpu_s") for x in side_names}
            cells = [f"{wall[x]:.1f}" if wall[x] else "—" for x in side_names]
            for d in (wall, cpu):
                cells += [f"{d['lmserve'] / d[x]:.2f}" if d[x] and d["lmserve"] else "—"
                          for x in others]
            print(f"| {f} | {kind} | " + " | ".join(cells) + " |")
    # the same ratios paired round by round (each round's requests ran back to back): the
    # median of the per-round ratios, which a load change between rounds disturbs less
    print()
    print("| file | kind | " + " | ".join(f"paired ratio vs {x} (wall)" for x in others) + " | " +
          " | ".join(f"paired ratio vs {x} (CPU)" for x in others) + " |")
    print("|---|---|" + "---:|" * (2 * len(others)))
    for f in dict.fromkeys(r["file"] for r in rows):
        for kind in ("decode", "prompt"):
            cells = []
            for key in ("tok_s", "tok_per_cpu_s"):
                for x in others:
                    by = {}
                    for r in rows:
                        if r["file"] == f and r["kind"] == kind and r[key]:
                            by.setdefault(r["round"], {})[r["side"]] = r[key]
                    v = [d["lmserve"] / d[x] for d in by.values() if "lmserve" in d and x in d]
                    cells.append(f"{statistics.median(v):.2f}" if v else "—")
            print(f"| {f} | {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
