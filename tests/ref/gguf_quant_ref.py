#!/usr/bin/env python3
"""Reference data for ggml's block formats, made with llama.cpp's gguf-py NumPy dequantizers
(an implementation independent of ours). Run OUTSIDE the repo's code, with gguf-py on the path:

    PYTHONPATH=/path/to/llama.cpp/gguf-py python3 tests/ref/gguf_quant_ref.py \
        tests/unit/models/kernels/quant_ref.bin

Writes, per type, random blocks (scales set to finite fp16 values) and gguf-py's floats:
    name[8] (NUL-padded) | u32 n_values | u32 n_bytes | bytes | f32 values[n_values]
gguf-py itself is never copied into the repo; only this script and its small output are."""
import struct
import sys
import types

import numpy as np

# gguf/__init__ pulls in sentencepiece etc.; only constants and quants are needed.
pkg = types.ModuleType("gguf")
pkg.__path__ = [p + "/gguf" for p in sys.path if p and __import__("os").path.isdir(p + "/gguf")]
sys.modules["gguf"] = pkg
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

rng = np.random.default_rng(12)

# type -> byte offsets of fp16 scale fields within a block
SCALES = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def blocks(qtype, n_blocks):
    bs, bb = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, bb), dtype=np.uint8)
    for off in SCALES[qtype]:
        h = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        raw[:, off:off + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1), bs * n_blocks


def main(out):
    recs = []
    for qtype, name, nb in [(T.Q4_0, "q4_0", 8), (T.Q4_1, "q4_1", 8), (T.Q5_0, "q5_0", 8),
                            (T.Q5_1, "q5_1", 8), (T.Q8_0, "q8_0", 8), (T.Q4_K, "q4_K", 3),
                            (T.Q5_K, "q5_K", 3), (T.Q6_K, "q6_K", 3)]:
        raw, n = blocks(qtype, nb)
        vals = dequantize(raw, qtype).astype(np.float32).reshape(-1)
        assert vals.size == n
        recs.append((name, raw.tobytes(), vals))
    f = rng.standard_normal(96).astype(np.float32)
    for qtype, name, raw in [(T.F16, "f16", f.astype(np.float16).tobytes()),
                             (T.BF16, "bf16", (f.view(np.uint32) >> 16).astype(np.uint16).tobytes())]:
        vals = dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).astype(np.float32).reshape(-1)
        recs.append((name, raw, vals))
    with open(out, "wb") as fh:
        for name, raw, vals in recs:
            fh.write(name.encode().ljust(8, b"\0"))
            fh.write(struct.pack("<II", vals.size, len(raw)))
            fh.write(raw)
            fh.write(vals.astype("<f4").tobytes())
    print(f"{out}: {len(recs)} types")


if __name__ == "__main__":
    main(sys.argv[1])
