#!/usr/bin/python3
"""overfit.py: the Transformer training path end to end, small enough for a test.

A tiny Llama (SentencePiece vocabulary and model trained by tools/train/ on a few lines this
test writes) must reproduce each line greedily through lmserve's /v1/completions from its
first two words, from both exports (v1 float32, v2 Q8_0). Needs python3-torch and
sentencepiece's spm_train: without them it prints SKIP and exits 0. About a minute on 2 cores.

Environment: LMSERVE_BIN (default build/bin/lmserve). Exit 0 when every check passes.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import lmserve_run  # this folder

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRAIN_DIR = os.path.join(ROOT, "tools", "train")
PY = "/usr/bin/python3"

LINES = [
    "in the beginning god created the heaven and the earth",
    "jesus wept",
    "the lord is my shepherd i shall not want",
    "blessed are the meek for they shall inherit the earth",
    "and god said let there be light and there was light",
]
REPEATS = 24             # copies of each line in the training text
PROMPT_WORDS = 2         # the completion starts after this many words
MAX_TOKENS = 48          # more than any line needs; generation ends at EOS
START_TIMEOUT_S = 20
SCORE_TOL_NATS = 1e-4    # lmserve's float32 forward vs PyTorch's, per token
TRAIN_ARGS = ["--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
              "--hidden", "128", "--seq-len", "64", "--batch", "16", "--steps", "120",
              "--lr", "4e-3", "--warmup", "10", "--weight-decay", "0", "--seed", "7",
              "--threads", "1"]


def skip(why):
    print("SKIP: overfit test: " + why)
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(0)


def post(port, path, body):
    return lmserve_run.post(port, path, body, timeout=30)


def start_server(bin_path, models, log_path):
    args = []
    for spec in models:
        args += ["--model", spec]
    return lmserve_run.start_server(bin_path, args, log_path, START_TIMEOUT_S)


def main():
    try:
        subprocess.run([PY, "-c", "import torch"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        skip("python3-torch is not installed (make deps-train installs it)")
    if not shutil.which("spm_train"):
        skip("spm_train is not installed (Debian sentencepiece)")
    lmserve = os.environ.get("LMSERVE_BIN", os.path.join(ROOT, "build", "bin", "lmserve"))
    if not os.access(lmserve, os.X_OK):
        print("overfit: no lmserve binary at %s" % lmserve)
        print("0 passed, 1 failed")
        return 1

    tmp = tempfile.mkdtemp(prefix="lmserve-overfit-")
    text = os.path.join(tmp, "lines.txt")
    with open(text, "w") as f:
        for _ in range(REPEATS):
            for line in LINES:
                f.write(line + "\n")
    t0 = time.time()
    subprocess.run([PY, os.path.join(TRAIN_DIR, "spm_tokenizer.py"), "train", text, "320",
                    os.path.join(tmp, "tokenizer"), "--soft-limit"], check=True)
    subprocess.run([PY, os.path.join(TRAIN_DIR, "tiny_llama.py"), "--train", text,
                    "--tokenizer", os.path.join(tmp, "tokenizer"), "--out", tmp] + TRAIN_ARGS,
                   check=True)
    report = json.load(open(os.path.join(tmp, "train.json")))
    print("overfit: trained in %.0f s, final loss %.4f" % (time.time() - t0,
                                                           report["final_loss"]))
    tok = os.path.join(tmp, "tokenizer.bin")
    proc, port = start_server(lmserve, [
        "v1=transformer:%s,tokenizer=%s" % (os.path.join(tmp, "model.v1.bin"), tok),
        "v2=transformer:%s,tokenizer=%s" % (os.path.join(tmp, "model.v2.bin"), tok),
    ], os.path.join(tmp, "server.log"))
    passed = failed = 0
    try:
        # The export round trip: lmserve's /v1/score equals PyTorch on the same checkpoint.
        sys.path.insert(0, TRAIN_DIR)
        import torch
        import spm_tokenizer
        import tiny_llama
        m = tiny_llama.load_v1(os.path.join(tmp, "model.v1.bin"))
        one = os.path.join(tmp, "one.txt")
        with open(one, "w") as f:
            f.write(LINES[0] + "\n")
        ids = [1] + spm_tokenizer.encode_ids(os.path.join(tmp, "tokenizer"), one)[0] + [2]
        with torch.no_grad():
            lp = torch.log_softmax(m(torch.tensor([ids[:-1]])), -1)[0]
        want = [lp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]
        r = post(port, "/v1/score", {"model": "v1", "input": [LINES[0]], "detail": True})
        got = r["data"][0]["detail"]
        diff = max(abs(w - g["logprob"]) for w, g in zip(want, got))
        if [g["id"] for g in got] == ids[1:] and diff < SCORE_TOL_NATS:
            passed += 1
        else:
            failed += 1
            print("FAIL score: ids %s vs %s, max |diff| %.3g nats" %
                  ([g["id"] for g in got], ids[1:], diff))
        for model in ("v1", "v2"):
            for line in LINES:
                words = line.split()
                prompt = " ".join(words[:PROMPT_WORDS])
                r = post(port, "/v1/completions", {"model": model, "prompt": prompt,
                                                   "max_tokens": MAX_TOKENS, "temperature": 0})
                got = (prompt + r["choices"][0]["text"]).split()
                if got == words:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL %s: %r -> %r, expected %r" % (model, prompt, " ".join(got),
                                                              line))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("overfit: files kept in " + tmp)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
