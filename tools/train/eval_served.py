#!/usr/bin/python3
"""eval_served.py: measure the default models through a running lmserve (for bench/RESULTS.md).

  eval_served.py URL TEST.txt [--lm ID ...] [--vectors ID] [--samples ID]

--lm: held-out perplexity per word of each language model through POST /v1/score: the sum of
  log10 p over every scored token (words or pieces, plus </s> / EOS) divided by the number of
  words plus one end-of-verse per line, so n-gram and Transformer figures are comparable
  (for the n-gram this is exactly KenLM's "perplexity including OOVs").
--vectors: a few nearest-neighbour lists and analogies through POST /v1/neighbors.
--samples: greedy and sampled completions through POST /v1/completions.
"""
import argparse
import json
import sys
import urllib.request

SCORE_BATCH = 64  # inputs per /v1/score request (the API allows 256)
NEIGHBOUR_WORDS = ["god", "king", "egypt", "sheep", "gold", "sword", "wine", "jerusalem"]
ANALOGIES = [  # a is to b as c is to ?  ->  positive [b, c], negative [a]
    ("egypt", "pharaoh", "babylon"),
    ("father", "son", "mother"),
    ("moses", "aaron", "david"),
    ("silver", "gold", "brass"),
    ("man", "woman", "king"),
]
PROMPTS = ["and it came to pass", "the lord is my shepherd", "in the beginning",
           "blessed are the"]


def post(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def perplexity(url, model, lines):
    total = 0.0
    words = 0
    tokens = 0
    for i in range(0, len(lines), SCORE_BATCH):
        batch = lines[i:i + SCORE_BATCH]
        r = post(url, "/v1/score", {"model": model, "input": batch})
        for item in r["data"]:
            total += item["log10_prob"]
            tokens += item["tokens"]
        words += sum(len(s.split()) + 1 for s in batch)
    return 10 ** (-total / words), 10 ** (-total / tokens), words, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("test")
    ap.add_argument("--lm", action="append", default=[])
    ap.add_argument("--vectors")
    ap.add_argument("--samples")
    a = ap.parse_args()
    lines = [ln.strip() for ln in open(a.test, encoding="utf-8") if ln.strip()]
    for model in a.lm:
        ppl_w, ppl_t, words, tokens = perplexity(a.url, model, lines)
        print("%s: per-word perplexity %.2f (%d words incl. end of verse); per-token %.2f "
              "(%d tokens)" % (model, ppl_w, words, ppl_t, tokens))
    if a.vectors:
        for w in NEIGHBOUR_WORDS:
            r = post(a.url, "/v1/neighbors", {"model": a.vectors, "word": w, "top_k": 6})
            print("%s: %s" % (w, ", ".join("%s %.2f" % (n["word"], n["score"])
                                           for n in r["data"])))
        for x, y, z in ANALOGIES:
            r = post(a.url, "/v1/neighbors", {"model": a.vectors, "positive": [y, z],
                                              "negative": [x], "top_k": 3})
            print("%s - %s + %s: %s" % (y, x, z, ", ".join("%s %.2f" % (n["word"], n["score"])
                                                          for n in r["data"])))
    if a.samples:
        for p in PROMPTS:
            for temp, seed in ((0, 0), (0.8, 1)):
                r = post(a.url, "/v1/completions", {"model": a.samples, "prompt": p,
                                                    "max_tokens": 40, "temperature": temp,
                                                    "seed": seed})
                print("[T=%.1f] %s|%s" % (temp, p, r["choices"][0]["text"].replace("\n", " ")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
