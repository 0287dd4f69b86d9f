#!/usr/bin/env python3
"""lint_cycles.py: no call cycles between files (docs/ARCHITECTURE.md, layers).

Compiles every .c under the given folders with gcc -fcallgraph-info (the compiler's own call
graph: no guessing from text), maps each called function to the file that defines it, and
fails when some file calls into a file that calls back into it, directly or through others
(a strongly connected component of two or more files). Calls through function pointers
(ops tables, callbacks) are not edges: that is how lower layers call back by design.

usage: lint_cycles.py [--cflags "..."] DIR...   (exit 0: no cycle; 1: cycles printed)
"""
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^\\"]+)\\n([^":]+):\d+:\d+"( shape : ellipse)?')
EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def main(argv):
    # every SIMD flag for every file: the objects are only read for their call graph
    cflags = ["-D_GNU_SOURCE", "-std=c11", "-O0", "-w", "-mavx2", "-mfma", "-mf16c", "-mavx512f",
              "-mavx512bw", "-mavx512vl", "-mavx512vnni"]
    dirs = []
    i = 0
    while i < len(argv):
        if argv[i] == "--cflags":
            cflags += argv[i + 1].split()
            i += 2
        else:
            dirs.append(argv[i])
            i += 1
    srcs = sorted(os.path.join(d, f) for top in dirs for d, _, fs in os.walk(top) for f in fs
                  if f.endswith(".c"))
    tmp = tempfile.mkdtemp(prefix="lmserve-lint-")

    def compile_one(k_src):
        k, src = k_src
        out = os.path.join(tmp, "%d.o" % k)
        r = subprocess.run(["gcc", *cflags, "-fcallgraph-info", "-c", src, "-o", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            return src, None
        with open(os.path.join(tmp, "%d.ci" % k)) as f:
            return src, f.read()

    with ThreadPoolExecutor(max_workers=2) as ex:
        graphs = list(ex.map(compile_one, enumerate(srcs)))
    subprocess.run(["rm", "-rf", tmp])
    if any(g is None for _, g in graphs):
        return 2
    rel = lambda p: os.path.relpath(os.path.normpath(p))
    defined = {}  # external function name -> defining .c file
    per_tu = []
    for src, text in graphs:
        nodes = {}
        for title, name, path, ext in NODE.findall(text):
            nodes[title] = (name, rel(path), bool(ext))
            if not ext and path.endswith(".c"):
                defined.setdefault(name, rel(path))
        per_tu.append((src, nodes, EDGE.findall(text)))
    files = {rel(s) for s in srcs}
    edges = {}  # file -> {file: example "caller -> callee"}
    for src, nodes, es in per_tu:
        for a, b in es:
            if a not in nodes or b not in nodes:
                continue
            an, af, _ = nodes[a]
            bn, bf, bext = nodes[b]
            if bext:
                bf = defined.get(bn)
            if af not in files or bf not in files or af == bf:
                continue  # header inlines, libraries, calls inside one file
            calls = edges.setdefault(af, {}).setdefault(bf, [])
            if "%s -> %s" % (an, bn) not in calls:
                calls.append("%s -> %s" % (an, bn))
    # Tarjan's strongly connected components
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(files):
        if v not in index:
            visit(v)
    for comp in comps:
        print("call cycle between files: " + ", ".join(comp))
        for a in comp:
            for b, why in sorted(edges.get(a, {}).items()):
                if b in comp:
                    print("  %s calls %s: %s" % (a, b, ", ".join(why)))
    n_edges = sum(len(v) for v in edges.values())
    print("lint_cycles: %d files, %d file-to-file call edges, %d cycle(s)"
          % (len(files), n_edges, len(comps)))
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
