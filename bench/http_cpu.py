#!/usr/bin/env python3
"""bench/http_cpu.py: GET /health on lmserve builds/flag sets and nginx, side by side:
requests/s and server CPU time per request, in short runs interleaved round by round.

    python3 bench/http_cpu.py --variant "NAME=BINARY[|lmserve flags]" [--variant ...]
        [--rounds 10] [--conns "256 1024"] [--duration 3] [--nginx-workers 2]

All servers start once and stay up (idle ones cost nothing); each round then runs wrk
against every server in turn, for every connection count, the order rotating from round
to round. For each run it records wrk's requests/s and the CPU time (user + system, all
threads and worker processes, from /proc) the server used during the run, divided by the
requests wrk counted. On a shared machine requests/s follows whatever else runs at that
moment; CPU time per request is the server's own cost and moves far less, so both are
reported: per variant and connection count, the medians, and the medians of the per-round
ratios to nginx (req/s ratio >= 1 and CPU ratio <= 1: as fast / as cheap as nginx).
nginx (Debian nginx-light) answers /health with the very bytes lmserve answered, from
memory, 'worker_processes' as given, access log to /dev/null; lmserve's goes to /dev/null.
Needs wrk, nginx and a built lmserve (make test-server for build/tests/lmserve).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

NGINX = "/usr/sbin/nginx"
CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.read()
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench/http_cpu.py: no answer from {url}")


def proc_tree(pid):
    """pid and its descendants (nginx's workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pid):
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (after the comm field)
        except OSError:
            pass
    return total / CLK


def wrk(url, conns, duration, threads):
    out = subprocess.run(["wrk", "-t", str(min(threads, conns)), "-c", str(conns), "-d",
                          f"{duration}s", "--timeout", "5s", url],
                         capture_output=True, text=True).stdout
    reqs = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs += int(non2xx.group(1)) if non2xx else 0
    return (int(reqs.group(1)) if reqs else 0), (float(rps.group(1)) if rps else 0.0), errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", required=True,
                    help='"NAME=BINARY[|lmserve flags]"')
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--conns", default="256 1024")
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="lmserve --threads")
    ap.add_argument("--nginx-workers", type=int, default=2)
    a = ap.parse_args()
    conns = [int(c) for c in a.conns.split()]
    tmp = tempfile.mkdtemp(prefix="lmserve-cpu.")
    procs, servers = [], []  # servers: (name, pid, url)
    try:
        for spec in a.variant:
            name, rest = spec.split("=", 1)
            binary, _, flags = rest.partition("|")
            port = free_port()
            p = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port),
                                  "--threads", str(a.threads)] + flags.split(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            url = f"http://127.0.0.1:{port}/health"
            body = wait_http(url)
            servers.append((name, p.pid, url))
        port = free_port()
        os.makedirs(f"{tmp}/nginx/logs")
        esc = body.decode().replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
        with open(f"{tmp}/nginx/nginx.conf", "w") as f:
            f.write(f"""worker_processes {a.nginx_workers};
daemon off;
pid {tmp}/nginx/nginx.pid;
error_log {tmp}/nginx/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log /dev/null;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/nginx/body;
    proxy_temp_path {tmp}/nginx/proxy;
    fastcgi_temp_path {tmp}/nginx/fastcgi;
    uwsgi_temp_path {tmp}/nginx/uwsgi;
    scgi_temp_path {tmp}/nginx/scgi;
    server {{
        listen 127.0.0.1:{port};
        default_type application/json;
        location = /health {{ return 200 '{esc}'; }}
    }}
}}
""")
        p = subprocess.Popen([NGINX, "-p", f"{tmp}/nginx", "-c", f"{tmp}/nginx/nginx.conf",
                              "-e", f"{tmp}/nginx/logs/error.log"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        url = f"http://127.0.0.1:{port}/health"
        wait_http(url)
        servers.append(("nginx", p.pid, url))
        with open("/proc/loadavg") as f:
            load0 = " ".join(f.read().split()[:3])
        print(f"machine: {os.cpu_count()} cores, load average {load0} at start, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; wrk {a.wrk_threads} "
              f"threads, {a.duration} s per run, lmserve --threads {a.threads}, nginx "
              f"{a.nginx_workers} workers", flush=True)
        res = {}  # (name, conns) -> list of (rps, cpu_us_per_req, errors) by round
        for r in range(a.rounds):
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for c in conns:
                for name, pid, url in order:
                    c0 = cpu_seconds(pid)
                    n, rps, errs = wrk(url, c, a.duration, a.wrk_threads)
                    used = cpu_seconds(pid) - c0
                    cpu = used * 1e6 / n if n else float("nan")
                    res.setdefault((name, c), []).append((rps, cpu, errs))
                    print(f"round {r + 1} {name} conns {c}: {rps:.0f} req/s, "
                          f"{cpu:.1f} us CPU/request, {errs} errors", flush=True)
        with open("/proc/loadavg") as f:
            load1 = " ".join(f.read().split()[:3])
        print(f"load average {load1} at end, {time.strftime('%H:%M UTC', time.gmtime())}\n")
        print("| server | conns | median req/s | median us CPU/req | median req/s ratio "
              "to nginx | median CPU ratio to nginx | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, _, _ in servers:
            for c in conns:
                runs, ng = res[(name, c)], res[("nginx", c)]
                rr = [x[0] / y[0] for x, y in zip(runs, ng) if y[0]]
                cr = [x[1] / y[1] for x, y in zip(runs, ng) if y[1]]
                print(f"| {name} | {c} | {statistics.median(x[0] for x in runs):.0f} | "
                      f"{statistics.median(x[1] for x in runs):.1f} | "
                      f"{statistics.median(rr):.2f} | {statistics.median(cr):.2f} | "
                      f"{sum(x[2] for x in runs)} |")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
