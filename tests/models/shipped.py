#!/usr/bin/python3
"""shipped.py DIR TEST.txt: the shipped default Transformer (DIR = models/default/kjv-tiny)
loads in lmserve and scores the held-out split at the perplexity its MANIFEST.json states.

Checks: the held-out file and the weights are the ones the manifest names (sha256); lmserve
serves DIR/model.v2.bin with DIR/tokenizer.bin; the per-word perplexity through /v1/score
(exp(-sum of each line's natural-log logprob, end of verse included / sum(words + 1)), the
issue-16 definition) equals the manifest's `served.valid_ppl_per_word` within 0.1%; a greedy
completion comes back non-empty; the GGUF export (manifest "gguf") has its sha256 and scores
the same perplexity. No PyTorch needed.

Environment: LMSERVE_BIN (default build/bin/lmserve). Exit 0 when every check passes.
"""
import hashlib
import json
import math
import os
import sys
import tempfile
import time

import lmserve_run  # this folder

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCORE_BATCH = 16         # lines per /v1/score request (short: slow kernels, busy CI)
REL_TOL = 1e-3           # perplexity vs the manifest: kernels (AVX2 / reference) differ slightly
START_TIMEOUT_S = 30


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def post(port, path, body):
    return lmserve_run.post(port, path, body, timeout=120)


def start_server(bin_path, spec, log_path):
    return lmserve_run.start_server(bin_path, ["--timeout", "600", "--model", spec], log_path,
                                    START_TIMEOUT_S)


def served_perplexity(port, model, lines):
    """Per-word perplexity through /v1/score, end of verse included."""
    nats, words = 0.0, 0
    for i in range(0, len(lines), SCORE_BATCH):
        batch = lines[i:i + SCORE_BATCH]
        r = post(port, "/v1/score", {"model": model, "input": batch})
        nats += sum(item["logprob"] for item in r["data"])
        words += sum(len(s.split()) + 1 for s in batch)
    return math.exp(-nats / words)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    d, test = argv[1], argv[2]
    man = json.load(open(os.path.join(d, "MANIFEST.json")))
    lmserve = os.environ.get("LMSERVE_BIN", os.path.join(ROOT, "build", "bin", "lmserve"))
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL " + what)

    weights = os.path.join(d, man["weights"])
    check(sha256(test) == man["corpus"]["test_sha256"],
          "%s is not the held-out split the manifest names (another bible-kjv?)" % test)
    check(sha256(weights) == man["weights_sha256"], "%s: sha256 differs from the manifest"
          % weights)
    lines = [ln.strip() for ln in open(test, encoding="utf-8") if ln.strip()]
    tmp = tempfile.mkdtemp(prefix="lmserve-shipped-")
    spec = "kjv-tiny=transformer:%s,tokenizer=%s" % (
        os.path.abspath(weights), os.path.abspath(os.path.join(d, "tokenizer.bin")))
    t0 = time.time()
    proc, port = start_server(lmserve, spec, os.path.join(tmp, "server.log"))
    try:
        ppl = served_perplexity(port, "kjv-tiny", lines)
        want = man["served"]["valid_ppl_per_word"]
        print("shipped: %d held-out lines, per-word perplexity %.3f through /v1/score "
              "(manifest %.3f), %.1f s" % (len(lines), ppl, want, time.time() - t0))
        check(abs(ppl - want) <= REL_TOL * want,
              "perplexity %.3f vs the manifest's %.3f" % (ppl, want))
        r = post(port, "/v1/completions", {"model": "kjv-tiny", "prompt": "and it came to pass",
                                           "max_tokens": 16, "temperature": 0})
        text = r["choices"][0]["text"]
        print("shipped: greedy 'and it came to pass' -> %r" % text)
        check(text.strip() != "", "empty greedy completion")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # The GGUF export of the same weights (tokenizer in its metadata): same perplexity.
    g = man.get("gguf")
    if g:
        path = os.path.join(d, g["file"])
        check(sha256(path) == g["sha256"], "%s: sha256 differs from the manifest" % path)
        proc, port = start_server(lmserve, "kjv-tiny-gguf=transformer:%s" % os.path.abspath(path),
                                  os.path.join(tmp, "server-gguf.log"))
        try:
            ppl = served_perplexity(port, "kjv-tiny-gguf", lines)
            print("shipped: %s per-word perplexity %.3f (manifest %.3f)"
                  % (g["file"], ppl, g["valid_ppl_per_word"]))
            check(abs(ppl - g["valid_ppl_per_word"]) <= REL_TOL * g["valid_ppl_per_word"],
                  "%s: perplexity %.3f vs the manifest's %.3f"
                  % (g["file"], ppl, g["valid_ppl_per_word"]))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
