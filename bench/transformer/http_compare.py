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
then medians and ratios (lmserve / llama-server; > 1 means lmserve is faster).

usage: LLAMA_SERVER=/path/to/llama-server python3 bench/transformer/http_compare.py
       [--rounds 5] [--port 18110] [--build build] [FILE.gguf ...]
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
        p_ll = None
        try:
            wait_ready(a.port, p_lm, "lmserve", timeout=120)
            if os.access(llama, os.X_OK):
                p_ll = subprocess.Popen([llama, "-m", f, "-t", "1", "-np", "1", "-c", "4096",
                                         "--port", str(a.port + 1), "--host", "127.0.0.1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_ready(a.port + 1, p_ll, "llama-server", timeout=120)
            sides = [("lmserve", a.port, {"model": "m"})]
            if p_ll:
                sides.append(("llama-server", a.port + 1, {"cache_prompt": False}))
            for side, port, extra in sides:  # warm-up: page the weights in
                post(port, "/v1/completions", dict(extra, prompt="warm", max_tokens=4, temperature=0))
            k = 0
            for rnd in range(a.rounds):
                for kind in ("decode", "prompt"):
                    for side, port, extra in sides:
                        k += 1
                        w = WORDS[k % len(WORDS)] + str(k)
                        if kind == "decode":
                            body = dict(extra, prompt=f"{w} Once upon a time", temperature=0,
                                        max_tokens=a.decode, ignore_eos=True)
                        else:
                            body = dict(extra, prompt=f"{w} " + STORY * a.story_reps,
                                        temperature=0, max_tokens=1)
                        dt, r = post(port, "/v1/completions", body)
                        pt, ct = tokens_of(r)
                        rate = (ct if kind == "decode" else pt) / dt
                        row = {"file": name, "side": side, "kind": kind, "round": rnd,
                               "prompt_tokens": pt, "completion_tokens": ct,
                               "seconds": round(dt, 4), "tok_s": round(rate, 1)}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
        finally:
            for p in (p_lm, p_ll):
                if p:
                    p.terminate()
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
    print(f"# load after: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print("| file | kind | lmserve tok/s (median) | llama-server tok/s (median) | ratio |")
    print("|---|---|---:|---:|---:|")
    for f in dict.fromkeys(r["file"] for r in rows):
        for kind in ("decode", "prompt"):
            med = {}
            for side in ("lmserve", "llama-server"):
                v = [r["tok_s"] for r in rows if r["file"] == f and r["kind"] == kind and r["side"] == side]
                med[side] = statistics.median(v) if v else None
            ll = med["llama-server"]
            ratio = f"{med['lmserve'] / ll:.2f}" if ll else "—"
            print(f"| {f} | {kind} | {med['lmserve']:.1f} | {ll if ll is None else round(ll, 1)} | {ratio} |")


if __name__ == "__main__":
    sys.exit(main())
