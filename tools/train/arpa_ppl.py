#!/usr/bin/python3
"""arpa_ppl.py: an independent ARPA scorer (backoff model, log10) for checking trainers.

Usage: arpa_ppl.py MODEL.arpa TEXT [--sum-check N]
Prints the perplexity over words + </s> including OOVs (as KenLM's `query` reports it) and
excluding them. With --sum-check N it also checks that p(.|ctx) sums to 1 for N contexts.
Plain dictionaries: fine for the KJV-sized models it is meant for, not for big ones.
"""
import argparse
import math
import random
import sys


def load_arpa(path):
    probs, backs = {}, {}
    order = 0
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("\\"):
                if line.endswith("-grams:"):
                    section = int(line[1:line.index("-")])
                    order = max(order, section)
                else:
                    section = None
                continue
            if section is None:
                continue
            parts = line.split("\t")
            words = tuple(parts[1].split(" "))
            if len(words) != section:
                raise ValueError("bad line: %r" % line)
            probs[words] = float(parts[0])
            if len(parts) > 2:
                backs[words] = float(parts[2])
    return order, probs, backs


def logp(order, probs, backs, ctx, w):
    """log10 p(w | ctx) with ARPA backoff; ctx is a tuple, most recent word last."""
    ctx = ctx[-(order - 1):] if order > 1 else ()
    bo = 0.0
    for start in range(len(ctx) + 1):
        c = ctx[start:]
        g = c + (w,)
        if g in probs:
            return bo + probs[g]
        bo += backs.get(c, 0.0) if c else 0.0
    raise KeyError(w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("--sum-check", type=int, default=0)
    a = ap.parse_args()
    order, probs, backs = load_arpa(a.model)
    vocab = {g[0] for g in probs if len(g) == 1}
    total, n, oov, total_iv = 0.0, 0, 0, 0.0
    with open(a.text, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            ctx = ("<s>",)
            for w in words + ["</s>"]:
                tok = w if w in vocab else "<unk>"
                lp = logp(order, probs, backs, ctx, tok)
                total += lp
                n += 1
                if tok == "<unk>":
                    oov += 1
                else:
                    total_iv += lp
                ctx = ctx + (tok,)
    print("tokens %d oov %d" % (n, oov))
    print("perplexity_including_oovs %.4f" % (10 ** (-total / n)))
    print("perplexity_excluding_oovs %.4f" % (10 ** (-total_iv / (n - oov))))
    if a.sum_check:
        rng = random.Random(1)
        ctxs = sorted({g[:-1] for g in probs if len(g) > 1})
        words = sorted(w for w in vocab if w != "<s>")
        worst = 0.0
        for ctx in [()] + rng.sample(ctxs, min(a.sum_check, len(ctxs))):
            s = sum(10 ** logp(order, probs, backs, ctx, w) for w in words)
            worst = max(worst, abs(s - 1.0))
        print("sum_check worst |sum-1| %.2e" % worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
