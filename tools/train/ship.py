#!/usr/bin/python3
"""ship.py: put a trained tiny_llama.py run into the repository as the default Transformer.

Usage: ship.py RUN_DIR DEST_DIR --corpus DIR --tokenizer PREFIX --command CMD [--note TEXT]
  RUN_DIR   tiny_llama.py's --out (model.v2.bin, train.json)
  DEST_DIR  e.g. models/default/kjv-tiny
Copies model.v2.bin and the tokenizer (.bin for lmserve, .model/.vocab for the trainer), scores
DIR/kjv.test.txt through lmserve's /v1/score (LMSERVE_BIN, default build/bin/lmserve) and
writes DEST_DIR/MANIFEST.json: the command, corpus and file hashes, seed, steps, wall time,
machine, final train / held-out loss, the served perplexity and the held-out curve.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
import shipped  # noqa: E402  (sha256, start_server, served_perplexity)


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version(), "torch": torch_version}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("dest_dir")
    ap.add_argument("--corpus", required=True, help="tools/corpus.sh's output directory")
    ap.add_argument("--tokenizer", required=True, help="SentencePiece prefix used in training")
    ap.add_argument("--command", required=True, help="the training command, as run")
    ap.add_argument("--note", default="")
    a = ap.parse_args()

    rep = json.load(open(os.path.join(a.run_dir, "train.json")))
    os.makedirs(a.dest_dir, exist_ok=True)
    shutil.copyfile(os.path.join(a.run_dir, "model.v2.bin"),
                    os.path.join(a.dest_dir, "model.v2.bin"))
    for ext in (".bin", ".model", ".vocab"):
        shutil.copyfile(a.tokenizer + ext, os.path.join(a.dest_dir, "tokenizer" + ext))
    train_txt = os.path.join(a.corpus, "kjv.train.txt")
    test_txt = os.path.join(a.corpus, "kjv.test.txt")
    lines = [ln.strip() for ln in open(test_txt, encoding="utf-8") if ln.strip()]
    lmserve = os.environ.get("LMSERVE_BIN", os.path.join(ROOT, "build", "bin", "lmserve"))
    weights = os.path.join(a.dest_dir, "model.v2.bin")
    spec = "kjv-tiny=transformer:%s,tokenizer=%s" % (
        os.path.abspath(weights), os.path.abspath(os.path.join(a.dest_dir, "tokenizer.bin")))
    proc, port = shipped.start_server(lmserve, spec,
                                      os.path.join(tempfile.mkdtemp(), "server.log"))
    try:
        ppl = shipped.served_perplexity(port, "kjv-tiny", lines)
        samples = {}
        for prompt in ("and it came to pass", "the lord is my shepherd", "in the beginning"):
            r = shipped.post(port, "/v1/completions", {"model": "kjv-tiny", "prompt": prompt,
                                                       "max_tokens": 24, "temperature": 0})
            samples[prompt] = r["choices"][0]["text"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    s = rep["settings"]
    curve = rep.get("curve", [])
    last = curve[-1] if curve else {}
    man = {
        "model": "kjv-tiny",
        "format": "llama2.c ak42 version 2 (Q8_0, group %d)" % rep["q8_group_size"],
        "weights": "model.v2.bin",
        "weights_sha256": shipped.sha256(weights),
        "tokenizer_sha256": shipped.sha256(os.path.join(a.dest_dir, "tokenizer.bin")),
        "trainer": "tools/train/tiny_llama.py",
        "command": a.command,
        "reproduce": "make models-train",
        "corpus": {"source": "Debian bible-kjv via tools/corpus.sh",
                   "train_sha256": shipped.sha256(train_txt),
                   "test_sha256": shipped.sha256(test_txt), "test_lines": len(lines)},
        "architecture": {k: s[k] for k in ("dim", "layers", "heads", "kv_heads", "hidden",
                                           "seq_len", "vocab")},
        "params": rep["params"],
        "seed": s["seed"], "steps": rep["steps_done"],
        "schedule": {k: s[k] for k in ("lr", "warmup", "decay_steps", "min_lr_frac",
                                       "weight_decay", "dropout", "batch", "grad_clip")},
        "threads": s["threads"],
        "wall_seconds": rep["train_seconds"],
        "machine": machine(),
        "final_train_loss": round(rep["final_train_loss_mean100"], 4),
        "final_train_loss_note": "mean per-token loss of the last 100 steps (with dropout)",
        "final_valid_loss": last.get("valid_nll_per_token"),
        "final_valid_loss_note": "per-token NLL (nats) of the held-out lines, each scored alone, "
                                 "PyTorch float32",
        "served": {"valid_ppl_per_word": round(ppl, 3),
                   "definition": "exp(-sum of /v1/score logprob per line, end of verse "
                                 "included / sum(words + 1)) over build/models/corpus/kjv.test.txt",
                   "greedy": samples},
        "curve": curve,
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "note": a.note,
    }
    with open(os.path.join(a.dest_dir, "MANIFEST.json"), "w") as f:
        json.dump(man, f, indent=1)
        f.write("\n")
    print("ship: %s: served per-word perplexity %.3f" % (a.dest_dir, ppl))
    for p, t in samples.items():
        print("  %r -> %r" % (p, t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
