#!/usr/bin/env python3
"""bench/transformer/batch.py: continuous batching through HTTP (issue 14): lmserve against
llama.cpp's llama-server on the same GGUF files, the two servers alternating round by round
so both see the same machine load.

Per file: `lmserve --threads T` (defaults otherwise: --parallel 8) and
`llama-server -np 8 -t T -c 8*CTX` run side by side on their own ports. Each round, for each
server in turn:
  one:    1 streaming /v1/completions, N greedy tokens           -> tok/s
  eight:  8 at once, N tokens each                               -> aggregate tok/s
  ttft:   P probes (max_tokens 2) alone, then P probes while 7 streams run (8 busy in all)
          -> time to first token, idle and loaded (p99 = the worst of the probes)
Tokens are counted as streamed events that carry a choice (one per token on both servers);
every prompt starts with a different word so no prompt cache can serve it (llama-server also
gets cache_prompt: false). Prints one JSON line per measurement, then medians and ratios.

usage: LLAMA_SERVER=/path/to/llama-server python3 bench/transformer/batch.py
       [--rounds 3] [--tokens 128] [--threads 2] [--port 18210] [--build build]
       [--calm 0.3 [--calm-wait 120]] [--base OTHER_BUILD] FILE.gguf ...
--base: a third server, OTHER_BUILD/bin/lmserve ("lmserve-base"), in the same rounds (the
three take turns, the order rotating): a before/after A/B beside llama-server.
"""
import argparse, http.client, json, os, statistics, subprocess, sys, threading, time

from servers import wait_ready

WORDS = ("apple river stone cloud garden silver forest window candle meadow harbor lantern "
         "pepper marble violet thunder canyon falcon willow ember").split()
seq = [0]


def prompt():
    seq[0] += 1
    return f"{WORDS[seq[0] % len(WORDS)]} {seq[0]} Once upon a time there was a little girl"


def stream(port, max_tokens, out, llama, first=None):
    """One streaming completion; out gets (ttft_s, tokens, wall_s); first (a semaphore) is
    released at its first token."""
    body = {"model": "m", "prompt": prompt(), "max_tokens": max_tokens, "temperature": 0,
            "stream": True}
    if llama:
        body.update({"cache_prompt": False, "ignore_eos": True})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"port {port}: HTTP {r.status}: {r.read()[:300]!r}")
    ttft, n, buf = None, 0, b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
                continue
            j = json.loads(ev[6:])
            ch = j.get("choices") or []
            if ch and ch[0].get("finish_reason") is None:
                n += 1
                if ttft is None:
                    ttft = time.perf_counter() - t0
                    if first is not None:
                        first.release()
    c.close()
    out.append((ttft if ttft is not None else time.perf_counter() - t0, n,
                time.perf_counter() - t0))


def concurrent(port, k, max_tokens, llama):
    out, th = [], []
    t0 = time.perf_counter()
    for _ in range(k):
        t = threading.Thread(target=stream, args=(port, max_tokens, out, llama))
        t.start()
        th.append(t)
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    if len(out) != k:
        raise RuntimeError(f"port {port}: {k - len(out)} of {k} streams failed")
    return sum(n for _, n, _ in out) / wall, out


def ttft_probes(port, probes, background, max_tokens, llama):
    bg, th = [], []
    decoding = threading.Semaphore(0)
    for _ in range(background):
        t = threading.Thread(target=stream, args=(port, max_tokens, bg, llama, decoding))
        t.start()
        th.append(t)
    for _ in range(background):  # every background stream is decoding (its prompt is done)
        if not decoding.acquire(timeout=120):
            raise RuntimeError(f"port {port}: a background stream never started")
    got = []
    for _ in range(probes):
        o = []
        stream(port, 2, o, llama)
        got.append(o[0][0])
    for t in th:
        t.join()
    if len(bg) != background:
        raise RuntimeError(f"port {port}: {background - len(bg)} background streams failed")
    return got


def cpu_busy(seconds=1.0):
    """Fraction of all CPUs busy (user + system + irq + steal, not nice) over the next
    'seconds', from /proc/stat: between measurements our own servers idle, so this is the
    others' load. Niced work (soaks, fuzzers at nice 19) is left out: it kept the reading at
    0.5 for whole sessions while taking little from a benchmark at nice 0."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[0] + v[2] + sum(v[5:8]), sum(v[:8])
    b0, t0 = snap()
    time.sleep(seconds)
    b1, t1 = snap()
    return (b1 - b0) / max(1, t1 - t0)


def wait_calm(limit, max_wait):
    """Wait (at most max_wait s) until the machine's busy fraction is at most limit; returns
    the last reading (0..1)."""
    t0 = time.time()
    busy = cpu_busy()
    while busy > limit and time.time() - t0 < max_wait:
        busy = cpu_busy()
    return busy


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def many_streams(port, pid, k, max_tokens):
    """k streams at once on default flags: all must finish; the KV bytes held (sampled from
    /metrics) must stay within the budget; the server's peak RSS is sampled too."""
    peak = {"kv": 0.0, "rss": rss_kb(pid), "busy": 0.0, "waiting": 0.0}
    rss0 = peak["rss"]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak["kv"] = max(peak["kv"], metric(port, "lmserve_kv_cache_bytes") or 0)
                peak["busy"] = max(peak["busy"], metric(port, "lmserve_slots_busy") or 0)
                peak["waiting"] = max(peak["waiting"], metric(port, "lmserve_generations_waiting") or 0)
                peak["rss"] = max(peak["rss"], rss_kb(pid))
            except OSError:
                pass
            time.sleep(0.2)
    th = threading.Thread(target=sample)
    th.start()
    err = None
    try:
        agg, out = concurrent(port, k, max_tokens, False)
    except RuntimeError as e:
        agg, out, err = 0.0, [], str(e)
    done.set()
    th.join()
    budget = metric(port, "lmserve_kv_cache_budget_bytes") or 0
    return {"phase": "many", "streams": k, "completed": len(out), "error": err,
            "tokens": sum(n for _, n, _ in out), "aggregate_tok_s": round(agg, 1),
            "kv_peak_mb": round(peak["kv"] / 2**20, 1), "kv_budget_mb": round(budget / 2**20, 1),
            "slots_busy_peak": peak["busy"], "waiting_peak": peak["waiting"],
            "rss_before_mb": round(rss0 / 1024, 1), "rss_peak_mb": round(peak["rss"] / 1024, 1),
            "ttft_max_s": round(max((t for t, _, _ in out), default=0), 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--port", type=int, default=18210)
    ap.add_argument("--build", default="build")
    ap.add_argument("--base", default="",
                    help="another build directory: its lmserve runs as a third server "
                         "(\"lmserve-base\", port+2) in the same rounds, for before/after A/B")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--calm", type=float, default=0.0,
                    help="before each measurement wait until at most this fraction of the CPUs "
                         "is busy (others' load; at most --calm-wait s); 0: do not wait")
    ap.add_argument("--calm-wait", type=float, default=120.0)
    ap.add_argument("--many", type=int, default=64,
                    help="streams of the last phase (lmserve only, default flags); 0: skip")
    a = ap.parse_args()
    llama_bin = os.environ.get("LLAMA_SERVER", "/work/ref/llama.cpp/build/bin/llama-server")
    summary = []
    for f in a.files:
        name = os.path.basename(f)
        lm = subprocess.Popen([f"{a.build}/bin/lmserve", "--port", str(a.port), "--threads",
                               str(a.threads), "--model", f"m=transformer:{f}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ll = subprocess.Popen([llama_bin, "-m", f, "--port", str(a.port + 1), "-np", "8", "-t",
                               str(a.threads), "-c", str(8 * a.ctx), "--log-disable"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = {"lmserve": {}, "llama-server": {}}
        procs = [lm, ll]
        servers = [("lmserve", a.port, False), ("llama-server", a.port + 1, True)]
        if a.base:
            procs.append(subprocess.Popen([f"{a.base}/bin/lmserve", "--port", str(a.port + 2),
                                           "--threads", str(a.threads), "--model",
                                           f"m=transformer:{f}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            servers.append(("lmserve-base", a.port + 2, False))
            res["lmserve-base"] = {}
        try:
            wait_ready(a.port, lm, "lmserve", poll=0.3)
            wait_ready(a.port + 1, ll, "llama-server", poll=0.3)
            if a.base:
                wait_ready(a.port + 2, procs[2], "lmserve-base", poll=0.3)
            for rnd in range(a.rounds):
                # every server in turn, the order rotating round by round
                k = rnd % len(servers)
                order = servers[k:] + servers[:k]
                for srv, port, llama in order:
                    calm = []  # the others' load just before each phase

                    def settle():
                        calm.append(wait_calm(a.calm, a.calm_wait) if a.calm > 0 else cpu_busy())
                    settle()
                    one, _ = concurrent(port, 1, a.tokens, llama)
                    settle()
                    eight, _ = concurrent(port, 8, a.tokens, llama)
                    settle()
                    idle = ttft_probes(port, a.probes, 0, a.tokens, llama)
                    settle()
                    # the 7 background streams outlast the probes: twice the tokens, within ctx
                    busy = ttft_probes(port, a.probes, 7, min(2 * a.tokens, a.ctx - 32), llama)
                    others = max(calm)
                    m = {"file": name, "server": srv, "round": rnd, "one_tok_s": round(one, 1),
                         "eight_tok_s": round(eight, 1), "ttft_idle_max_ms": round(1e3 * max(idle), 1),
                         "ttft_busy_max_ms": round(1e3 * max(busy), 1),
                         "ttft_idle_med_ms": round(1e3 * statistics.median(idle), 1),
                         "ttft_busy_med_ms": round(1e3 * statistics.median(busy), 1),
                         "others_cpu_busy": round(others, 2)}
                    print(json.dumps(m), flush=True)
                    for k, v in m.items():
                        if k.endswith(("_s", "_ms")):
                            res[srv].setdefault(k, []).append(v)
            if a.many:
                print(json.dumps(many_streams(a.port, lm.pid, a.many, a.tokens)), flush=True)
        finally:
            for p in procs:
                p.terminate()
                p.wait()
        med = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in res.items()}
        L, R = med["lmserve"], med["llama-server"]
        summary.append({
            "file": name,
            "lmserve_one": L["one_tok_s"], "lmserve_eight": L["eight_tok_s"],
            "lmserve_eight_over_one": round(L["eight_tok_s"] / L["one_tok_s"], 2),
            "llama_one": R["one_tok_s"], "llama_eight": R["eight_tok_s"],
            "eight_lmserve_over_llama": round(L["eight_tok_s"] / R["eight_tok_s"], 2),
            "lmserve_ttft_busy_over_idle": round(L["ttft_busy_max_ms"] / L["ttft_idle_max_ms"], 2),
            "lmserve_ttft_idle_ms": L["ttft_idle_max_ms"], "lmserve_ttft_busy_ms": L["ttft_busy_max_ms"],
        })
        if a.base:
            B = med["lmserve-base"]
            summary[-1].update({
                "base_one": B["one_tok_s"], "base_eight": B["eight_tok_s"],
                "eight_base_over_llama": round(B["eight_tok_s"] / R["eight_tok_s"], 2),
                "eight_lmserve_over_base": round(L["eight_tok_s"] / B["eight_tok_s"], 2),
                "base_ttft_busy_over_idle": round(B["ttft_busy_max_ms"] / B["ttft_idle_max_ms"], 2),
            })
        print("SUMMARY " + json.dumps(summary[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
