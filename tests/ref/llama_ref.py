#!/usr/bin/python3
"""llama_ref.py: an independent NumPy reference of the llama2.c forward pass, for the
Transformer logits test. Written from the format description in
../shared/models/README.md and llama2.c's export.py, not from our C code: it reads the
checkpoint with numpy, dequantizes Q8_0 weights, and computes in float64.

usage: llama_ref.py CHECKPOINT OUT.f32 ID [ID ...]
writes len(ids) x vocab float32 logits (row per position) to OUT.f32."""
import struct
import sys

import numpy as np


def read_checkpoint(path):
    raw = open(path, "rb").read()
    magic = struct.unpack_from("<I", raw, 0)[0]
    if magic == 0x616B3432:
        version = struct.unpack_from("<i", raw, 4)[0]
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", raw, 8)
        shared = raw[36] != 0
        gs = struct.unpack_from("<i", raw, 37)[0] if version == 2 else 0
        off = 256
    else:
        version = 0
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", raw, 0)
        shared = vocab > 0
        vocab = abs(vocab)
        gs = 0
        off = 28
    hs = dim // heads
    kv = dim * kv_heads // heads
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
               vocab=vocab, seq=seq, hs=hs, kv=kv)

    def f32(n):
        nonlocal off
        a = np.frombuffer(raw, dtype="<f4", count=n, offset=off).astype(np.float64)
        off += 4 * n
        return a

    def mat(rows, cols):
        nonlocal off
        n = rows * cols
        if version != 2:
            return f32(n).reshape(rows, cols)
        q = np.frombuffer(raw, dtype=np.int8, count=n, offset=off).astype(np.float64)
        off += n
        s = f32(n // gs)
        return (q.reshape(-1, gs) * s[:, None]).reshape(rows, cols)

    L = layers
    w = {}
    if version == 0:
        w["emb"] = mat(vocab, dim)
        w["rms_att"] = [f32(dim) for _ in range(L)]
        w["wq"] = [mat(dim, dim) for _ in range(L)]
        w["wk"] = [mat(kv, dim) for _ in range(L)]
        w["wv"] = [mat(kv, dim) for _ in range(L)]
        w["wo"] = [mat(dim, dim) for _ in range(L)]
        w["rms_ffn"] = [f32(dim) for _ in range(L)]
        w["w1"] = [mat(hidden, dim) for _ in range(L)]
        w["w2"] = [mat(dim, hidden) for _ in range(L)]
        w["w3"] = [mat(hidden, dim) for _ in range(L)]
        w["rms_final"] = f32(dim)
        f32(seq * hs // 2)
        f32(seq * hs // 2)
    else:
        w["rms_att"] = [f32(dim) for _ in range(L)]
        w["rms_ffn"] = [f32(dim) for _ in range(L)]
        w["rms_final"] = f32(dim)
        w["emb"] = mat(vocab, dim)
        w["wq"] = [mat(dim, dim) for _ in range(L)]
        w["wk"] = [mat(kv, dim) for _ in range(L)]
        w["wv"] = [mat(kv, dim) for _ in range(L)]
        w["wo"] = [mat(dim, dim) for _ in range(L)]
        w["w1"] = [mat(hidden, dim) for _ in range(L)]
        w["w2"] = [mat(dim, hidden) for _ in range(L)]
        w["w3"] = [mat(hidden, dim) for _ in range(L)]
    w["cls"] = w["emb"] if shared else mat(vocab, dim)
    assert off == len(raw), f"size mismatch: read {off} of {len(raw)}"
    return cfg, w


def rmsnorm(x, g):
    return g * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5)


def rope(x, positions, hs):
    """x: (T, n_heads * hs); rotate adjacent pairs (2i, 2i+1) of each head."""
    T = x.shape[0]
    xh = x.reshape(T, -1, hs // 2, 2)
    i = np.arange(hs // 2)
    freq = 10000.0 ** (-(2.0 * i) / hs)
    ang = positions[:, None] * freq[None, :]  # (T, hs/2)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = xh[..., 0], xh[..., 1]
    out = np.stack([a * c - b * s, a * s + b * c], axis=-1)
    return out.reshape(T, -1)


def forward(cfg, w, ids):
    T = len(ids)
    H, KH, hs = cfg["heads"], cfg["kv_heads"], cfg["hs"]
    pos = np.arange(T, dtype=np.float64)
    x = w["emb"][ids]
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    for l in range(cfg["layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        q = rope(h @ w["wq"][l].T, pos, hs).reshape(T, H, hs)
        k = rope(h @ w["wk"][l].T, pos, hs).reshape(T, KH, hs)
        v = (h @ w["wv"][l].T).reshape(T, KH, hs)
        rep = H // KH
        k = np.repeat(k, rep, axis=1)  # query head j uses kv head j // rep
        v = np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hs) + mask[None]
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, H * hs)
        x = x + o @ w["wo"][l].T
        h = rmsnorm(x, w["rms_ffn"][l])
        a = h @ w["w1"][l].T
        b = h @ w["w3"][l].T
        x = x + ((a / (1.0 + np.exp(-a))) * b) @ w["w2"][l].T
    x = rmsnorm(x, w["rms_final"])
    return x @ w["cls"].T


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    cfg, w = read_checkpoint(sys.argv[1])
    ids = [int(a) for a in sys.argv[3:]]
    logits = forward(cfg, w, ids)
    logits.astype("<f4").tofile(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
