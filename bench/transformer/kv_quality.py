#!/usr/bin/python3
"""kv_quality.py: what the KV cache's storage type (kv_type f32 / f16 / q8_0) changes in a
trained model's output, through the server: the held-out split's per-word perplexity via
/v1/score and greedy completions (max_tokens N) of the first words of held-out lines, for the
shipped default Transformer's GGUF export (models/default/kjv-tiny/model.q8_0.gguf: dim 192,
6 heads of 32, seq_len 128). One server serves the same file three times, one per kv_type.

usage: python3 bench/transformer/kv_quality.py [--bin build/bin/lmserve] [--lines N]
       [--prompts N] [--tokens N]   (the held-out split: build/models/corpus/kjv.test.txt,
       made by `make models-corpus`). Prints one JSON line.
"""
import argparse
import json
import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
import lmserve_run  # noqa: E402

TYPES = ("f32", "f16", "q8_0")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/lmserve"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/default/kjv-tiny/model.q8_0.gguf"))
    ap.add_argument("--test", default=os.path.join(ROOT, "build/models/corpus/kjv.test.txt"))
    ap.add_argument("--lines", type=int, default=622)
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--tokens", type=int, default=64)
    a = ap.parse_args()
    lines = [l.rstrip("\n") for l in open(a.test, encoding="utf-8") if l.strip()][:a.lines]
    args = ["--timeout", "600"]
    for t in TYPES:
        args += ["--model", "%s=transformer:%s,kv_type=%s" % (t.replace("_", ""), a.model, t)]
    with tempfile.TemporaryDirectory() as d:
        srv, port = lmserve_run.start_server(a.bin, args, os.path.join(d, "log"), 30)
        try:
            out = {"model": os.path.relpath(a.model, ROOT), "lines": len(lines),
                   "prompts": a.prompts, "tokens": a.tokens}
            texts = {}
            for t in TYPES:
                mid = t.replace("_", "")
                nats, words = 0.0, 0
                for i in range(0, len(lines), 16):
                    b = lines[i:i + 16]
                    r = lmserve_run.post(port, "/v1/score", {"model": mid, "input": b}, timeout=600)
                    nats += sum(x["logprob"] for x in r["data"])
                    words += sum(len(s.split()) + 1 for s in b)
                out["ppl_per_word_" + t] = round(math.exp(-nats / words), 4)
                texts[t] = []
                for s in lines[:a.prompts]:
                    p = " ".join(s.split()[:4])
                    r = lmserve_run.post(port, "/v1/completions", {"model": mid, "prompt": p,
                                         "max_tokens": a.tokens, "temperature": 0}, timeout=600)
                    texts[t].append(r["choices"][0]["text"])
            for t in ("f16", "q8_0"):
                same = sum(x == y for x, y in zip(texts["f32"], texts[t]))
                # characters in common before the first difference, over all completions
                pre = sum(len(os.path.commonprefix([x, y])) for x, y in zip(texts["f32"], texts[t]))
                tot = sum(len(x) for x in texts["f32"])
                out["greedy_same_as_f32_" + t] = "%d/%d" % (same, len(texts[t]))
                out["greedy_common_prefix_chars_" + t] = "%d/%d" % (pre, tot)
            print(json.dumps(out))
        finally:
            srv.terminate()
            srv.wait()


if __name__ == "__main__":
    main()
