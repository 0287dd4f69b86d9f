#!/usr/bin/env python3
"""bench/hardening/slowloris.py: hold N connections open the way a slow-loris attacker does
and measure what a new client's GET /health sees meanwhile (issue 10, item 1).

  python3 bench/hardening/slowloris.py --port P [--conns 2000] [--mode partial|trickle]
                                        [--hold 15] [--probe-rate 20]

partial: each connection sends an incomplete request head ("GET /health HTTP/1.1\\r\\nHost: x\\r\\n")
         and nothing more.
trickle: each connection sends that head one byte every --byte-interval seconds (3).
Prints one JSON line: connections opened / still open at the end, how many the server closed
and when (the header deadline), and the /health probe's count, errors, p50/p99/max in ms.
"""
import argparse, json, selectors, socket, time, http.client, resource

HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 64 + b"\r\n"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--mode", choices=["partial", "trickle"], default="partial")
    ap.add_argument("--hold", type=float, default=15.0, help="seconds to keep the attack up")
    ap.add_argument("--byte-interval", type=float, default=3.0)
    ap.add_argument("--probe-rate", type=float, default=20.0, help="/health probes per second")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.conns + 256)), hard))

    sel = selectors.DefaultSelector()
    socks, sent, t_open = [], [], time.monotonic()
    for i in range(a.conns):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect_ex((a.host, a.port))
        except OSError:
            s.close()
            continue
        socks.append(s)
        sent.append(0)
    time.sleep(0.5)
    first = HEAD if a.mode == "partial" else HEAD[:1]
    opened = 0
    for i, s in enumerate(socks):
        try:
            s.send(first)
            sent[i] = len(first)
            opened += 1
            sel.register(s, selectors.EVENT_READ, i)
        except OSError:
            pass
    closed_at = {}
    lat, errors = [], 0
    start = time.monotonic()
    next_probe = start
    next_byte = start + a.byte_interval
    while time.monotonic() - start < a.hold:
        now = time.monotonic()
        if now >= next_probe:
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection(a.host, a.port, timeout=5)
                c.request("GET", "/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    errors += 1
                else:
                    lat.append((time.monotonic() - t0) * 1000)
            except Exception:
                errors += 1
            next_probe += 1.0 / a.probe_rate
        if a.mode == "trickle" and now >= next_byte:
            for i, s in enumerate(socks):
                if i in closed_at or sent[i] >= len(HEAD):
                    continue
                try:
                    s.send(HEAD[sent[i]:sent[i] + 1])
                    sent[i] += 1
                except OSError:
                    closed_at.setdefault(i, now - start)
            next_byte += a.byte_interval
        for key, _ in sel.select(timeout=0.01):
            i = key.data
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed_at.setdefault(i, time.monotonic() - start)
                sel.unregister(key.fileobj)
    still_open = opened - len(closed_at)
    for s in socks:
        s.close()
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None
    ct = sorted(closed_at.values())
    print(json.dumps({
        "mode": a.mode, "conns": a.conns, "opened": opened, "still_open_at_end": still_open,
        "closed_by_server": len(closed_at),
        "closed_median_s": round(ct[len(ct) // 2], 2) if ct else None,
        "probe_ok": len(lat), "probe_errors": errors,
        "probe_p50_ms": pick(0.5), "probe_p99_ms": pick(0.99), "probe_max_ms": round(lat[-1], 2) if lat else None,
    }))

if __name__ == "__main__":
    main()
