#!/usr/bin/env python3
"""bench/transformer/ab_binaries.py: two or more lmserve binaries (or one binary under different
environment settings) on the same Transformer file, interleaved: every server is up at once
(ports 18202, 18203, ...; AB_PORT moves the first), each round runs every variant in turn
(the order alternating), one stream of TOKENS greedy tokens then 8 streams at once over HTTP
(/v1/completions, streamed). Prints each round and the medians with ratios to the first variant.

usage: python3 bench/transformer/ab_binaries.py MODEL TOKENS ROUNDS name=BINARY[:ENV=V...] ...
e.g.   ... stories15M-random-Q8_0.gguf 200 8 base=/tmp/old/lmserve new=build/bin/lmserve
"""
import sys, subprocess, time, statistics, os, threading, json, http.client
model, T, R = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
vars_ = []
for i, a in enumerate(sys.argv[4:]):
    name, rest = a.split("=", 1)
    parts = rest.split(":")
    env = dict(os.environ)
    for kv in parts[1:]:
        k, v = kv.split("=", 1); env[k] = v
    vars_.append((name, parts[0], env, int(os.environ.get("AB_PORT", "18202")) + i))
def run(port, k, n):
    out = []
    def one(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("POST", "/v1/completions", json.dumps({"model": "m", "prompt": f"w{i} {time.time()} Once upon a time", "max_tokens": n, "temperature": 0, "stream": True}), {"Content-Type": "application/json"})
        r = c.getresponse(); cnt = 0
        if r.status != 200: raise RuntimeError(f"HTTP {r.status} {r.read()[:200]}")
        for line in r:
            if line.startswith(b"data: {"): cnt += 1
        if cnt < n: raise RuntimeError(f"short stream {cnt}")
        out.append(cnt - 1)
    t0 = time.perf_counter()
    th = [threading.Thread(target=one, args=(i,)) for i in range(k)]
    [t.start() for t in th]; [t.join() for t in th]
    if len(out) != k: raise RuntimeError("a stream failed")
    return sum(out) / (time.perf_counter() - t0)
procs = []
try:
    for name, binp, env, port in vars_:
        procs.append(subprocess.Popen([binp, "--port", str(port), "--threads", "2", "--model", f"m=transformer:{model}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for name, binp, env, port in vars_:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("POST", "/v1/completions", json.dumps({"model": "m", "prompt": "a", "max_tokens": 1}), {"Content-Type": "application/json"})
                if c.getresponse().status == 200: break
            except OSError: pass
            time.sleep(0.5)
        else: raise RuntimeError(f"{name} not ready")
        run(port, 8, 4)
    res = {v[0]: {"one": [], "eight": []} for v in vars_}
    for r in range(R):
        for name, binp, env, port in (vars_ if r % 2 == 0 else vars_[::-1]):
            one = run(port, 1, T); eight = run(port, 8, T)
            res[name]["one"].append(one); res[name]["eight"].append(eight)
            print(f"round {r} {name}: one {one:.1f} eight {eight:.1f} load {open('/proc/loadavg').read().split()[0]}", flush=True)
finally:
    for p in procs: p.terminate(); p.wait()
base = vars_[0][0]
for name in res:
    o, e = statistics.median(res[name]["one"]), statistics.median(res[name]["eight"])
    ob, eb = statistics.median(res[base]["one"]), statistics.median(res[base]["eight"])
    print(f"{name}: one {o:.1f} ({o/ob:.3f}x)  eight {e:.1f} ({e/eb:.3f}x)  8/1 {e/o:.2f}")
