#!/usr/bin/env python3
"""bench/hardening/unread.py: memory held by clients that send a request with a large answer
and never read it (issue 10, item 2). Opens --clients connections, each sends one POST
/v1/score with "detail": true over --words words (an answer of ~75 bytes per word), reads
nothing, and stays open --hold seconds; then all close. Prints the server's RSS (VmRSS of
--pid) before, at the peak while they are open, and --settle seconds after they left, plus
what the clients' first bytes said (status codes).

  python3 bench/hardening/unread.py --port P --pid PID [--clients 100] [--words 250000]
"""
import argparse, json, socket, time

def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--model", default="t")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--words", type=int, default=250000)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=3.0)
    a = ap.parse_args()
    body = json.dumps({"model": a.model, "detail": True, "input": "a " * a.words}).encode()
    req = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    before = rss_mb(a.pid)
    socks = []
    for _ in range(a.clients):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing
        s.connect(("127.0.0.1", a.port))
        s.sendall(req)
        socks.append(s)
    peak, t0 = before, time.monotonic()
    while time.monotonic() - t0 < a.hold:
        peak = max(peak, rss_mb(a.pid))
        time.sleep(0.1)
    statuses = {}
    for s in socks:
        s.settimeout(0.5)
        try:
            head = s.recv(64)
            st = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
        except Exception:
            st = "none"
        statuses[st] = statuses.get(st, 0) + 1
        s.close()
    time.sleep(a.settle)
    after = rss_mb(a.pid)
    print(json.dumps({"clients": a.clients, "request_bytes": len(body), "rss_before_mb": round(before, 1),
                      "rss_peak_mb": round(peak, 1), "rss_after_mb": round(after, 1),
                      "statuses": statuses}))

if __name__ == "__main__":
    main()
