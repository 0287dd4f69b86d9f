#!/usr/bin/python3
"""bench/embed/compare.py DIR N D Q B: lmserve, NumPy+OpenBLAS and faiss IndexFlatIP side by
side, interleaved query by query (round robin, rotating order), so a shared machine's load
hits every system alike. lmserve is called through a bench-only shared library of its
models/embed sources (DIR/libembed_bench.so, built by mk/bench.mk). Also probes the memory
read bandwidth in the same rounds: the floor for one float32 query is matrix bytes / GB/s."""
import ctypes
import os
import sys
import time

DIR, N, D, Q, B = sys.argv[1], *map(int, sys.argv[2:6])
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

TOP_K = 10
BATCH_ROUNDS = 7
STATUS_ERR_BYTES = 4 + 128 + 512  # struct status_err
STORAGE = {"float32": 0, "float16": 1, "int8": 2}
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"


class Opts(ctypes.Structure):
    _fields_ = [("lowercase", ctypes.c_int), ("threads", ctypes.c_int), ("storage", ctypes.c_int)]


class Hit(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("score", ctypes.c_float)]


lib = ctypes.CDLL(f"{DIR}/libembed_bench.so")
lib.embed_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(Opts), ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p]
lib.embed_knn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                          ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p]
lib.embed_knn_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
lib.embed_fallbacks.argtypes = [ctypes.c_void_p]
lib.embed_fallbacks.restype = ctypes.c_size_t
lib.bench_read_gbs.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
lib.bench_read_gbs.restype = ctypes.c_double


def lm_open(storage, threads):
    e = ctypes.c_void_p()
    err = ctypes.create_string_buffer(STATUS_ERR_BYTES)
    path = f"{DIR}/rand_{N}x{D}.{storage}.lmv".encode()
    if lib.embed_open(path, ctypes.byref(Opts(0, threads, 0)), ctypes.byref(e), err) != 0:
        msg = err.raw[132:].split(b"\0")[0].decode()
        sys.exit(f"compare: cannot open {path!r}: {msg}")
    return e


m = np.fromfile(f"{DIR}/rand_{N}x{D}.f32", dtype=np.float32).reshape(N, D)
m /= np.linalg.norm(m, axis=1, keepdims=True)
qs = np.fromfile(f"{DIR}/rand_{N}x{D}.queries.f32", dtype=np.float32).reshape(-1, D)
qs = np.ascontiguousarray(qs / np.linalg.norm(qs, axis=1, keepdims=True))
hits = (Hit * (TOP_K * max(B, 1)))()
nout = ctypes.c_size_t()
nouts = (ctypes.c_size_t * max(B, 1))()
blas = ctypes.CDLL(OPENBLAS)
probe = np.ones(N * ((D + 7) // 8 * 8), dtype=np.float32)  # the float32 matrix's bytes

try:
    import faiss

    index = faiss.IndexFlatIP(D)
    index.add(m)
except ImportError:
    faiss = None


def lm_single(e):
    def run(q):
        lib.embed_knn(e, q.ctypes.data, TOP_K, None, 0, hits, ctypes.byref(nout), None)
        return [hits[i].index for i in range(nout.value)]
    return run


def lm_batch(e):
    def run(qb):
        lib.embed_knn_batch(e, qb.ctypes.data, len(qb), TOP_K, hits, nouts, None)
    return run


def np_single(threads):
    def run(q):
        blas.openblas_set_num_threads(threads)
        s = m @ q
        idx = np.argpartition(-s, TOP_K)[:TOP_K]
        return list(idx[np.argsort(-s[idx], kind="stable")])
    return run


def np_batch(threads):
    def run(qb):
        blas.openblas_set_num_threads(threads)
        s = qb @ m.T
        np.argpartition(-s, TOP_K, axis=1)[:, :TOP_K]
    return run


def fa_single(threads):
    def run(q):
        faiss.omp_set_num_threads(threads)
        return list(index.search(q[None, :], TOP_K)[1][0])
    return run


def fa_batch(threads):
    def run(qb):
        faiss.omp_set_num_threads(threads)
        index.search(qb, TOP_K)
    return run


models = {(s, t): lm_open(s, t) for s in STORAGE for t in (1, 2)}
single = {}
for (s, t), e in models.items():
    single[f"lmserve {s} {t}t"] = lm_single(e)
for t in (1, 2):
    single[f"numpy+openblas {t}t"] = np_single(t)
    if faiss:
        single[f"faiss-{faiss.__version__} IndexFlatIP {t}t"] = fa_single(t)
batch = {f"lmserve float32 {t}t": lm_batch(models[("float32", t)]) for t in (1, 2)}
for t in (1, 2):
    batch[f"numpy+openblas {t}t"] = np_batch(t)
    if faiss:
        batch[f"faiss-{faiss.__version__} IndexFlatIP {t}t"] = fa_batch(t)

for f in single.values():  # warm up: page in the mappings, start thread pools
    f(qs[0])
bw = {1: [], 2: []}
times = {k: [] for k in single}
answers = {k: [] for k in single}
names = list(single)
for i in range(Q):
    order = names[i % len(names):] + names[:i % len(names)]
    for k in order:
        t0 = time.perf_counter()
        r = single[k](qs[i])
        times[k].append((time.perf_counter() - t0) * 1e3)
        answers[k].append(set(int(x) for x in r))
    for t in (1, 2):  # the floor, probed in every round like every system
        bw[t].append(lib.bench_read_gbs(probe.ctypes.data, probe.nbytes, t))

bt = {k: [] for k in batch}
qb = np.ascontiguousarray(qs[:B])
for f in batch.values():
    f(qb)
bnames = list(batch)
for r in range(BATCH_ROUNDS):
    for k in bnames[r % len(bnames):] + bnames[:r % len(bnames)]:
        t0 = time.perf_counter()
        batch[k](qb)
        bt[k].append((time.perf_counter() - t0) * 1e3 / B)

gb = {t: float(np.median(bw[t])) for t in bw}
best = max(gb.values())
floor = probe.nbytes / best / 1e6
print(f"# compare: {N} x {D}, {Q} single queries (median), batch {B} ({BATCH_ROUNDS} rounds, median), top-{TOP_K}, interleaved")
print(f"read bandwidth (median of {len(bw[1])} probes): 1t {gb[1]:.1f} GB/s, 2t {gb[2]:.1f} GB/s -> "
      f"floor for one float32 query {floor:.2f} ms ({probe.nbytes / 1e6:.0f} MB)")
ref = answers["lmserve float32 1t"]
np_best = min(float(np.median(times[f"numpy+openblas {t}t"])) for t in (1, 2))
print("| single query, top-10 | median ms | x floor | vs best NumPy | agreement@10 with lmserve float32 |")
print("|---|---:|---:|---:|---:|")
for k in names:
    med = float(np.median(times[k]))
    agree = np.mean([len(a & b) / TOP_K for a, b in zip(answers[k], ref)])
    print(f"| {k} | {med:.2f} | {med / floor:.2f} | {np_best / med:.2f}x faster | {agree:.4f} |")
fa_best = min((float(np.median(bt[k])) for k in bnames if k.startswith("faiss")), default=float("nan"))
print(f"| batch of {B}, per query | median ms | | vs best faiss | |")
for k in bnames:
    med = float(np.median(bt[k]))
    print(f"| {k} | {med:.3f} | | {fa_best / med:.2f}x faster | |")
for (s, t), e in models.items():
    if s != "float32":
        print(f"fallbacks {s} {t}t: {lib.embed_fallbacks(e)} of {Q + 1} queries")
