#!/usr/bin/python3
"""ngram_ref.py: an independent, deliberately naive reference for lmserve's n-gram scorer.

It shares no code or data structure with models/ngram: n-grams are Python tuples in dicts,
and KenLM's `query` semantics are spelled out literally:
  * every suffix of an n-gram exists; a missing one (pruned models) is a "blank" whose
    probability is the backed-off one and whose back-off is 0;
  * p(w | state) = the longest n-gram (w preceded by at most state-length words) + the
    back-offs of the longer contexts in the state; the new state is the words of that match
    (capped at order-1) with their back-offs;
  * an unknown word is <unk> (log10 -100 when the model has none) and counts as OOV.

Usage:
  ngram_ref.py gen ORDER SEED OUT.arpa [prune]    write a random but valid ARPA model
  ngram_ref.py score MODEL.arpa SENTENCES.txt [nobos] [noeos]
        one line per sentence: "word order log10p" per token, tab-separated, then total
"""
import random
import sys

UNK_MISSING = -100.0


def f32(x):
    """Round to float32 as the C code stores values (struct pack is exact)."""
    import struct
    return struct.unpack('f', struct.pack('f', x))[0]


def read_arpa(path):
    text = open(path, 'rb').read().decode('utf-8', 'surrogateescape')
    lines = text.replace('\r\n', '\n').split('\n')
    i = lines.index('\\data\\')
    counts = {}
    i += 1
    while not lines[i].startswith('\\'):
        if lines[i].strip():
            k, v = lines[i].split(None, 1)[1].split('=')
            counts[int(k)] = int(v)
        i += 1
    order = max(counts)
    probs, bos = {}, {}
    for n in range(1, order + 1):
        assert lines[i].strip() == '\\%d-grams:' % n, lines[i]
        i += 1
        got = 0
        while got < counts[n]:
            f = lines[i].replace('\t', ' ').split()
            i += 1
            if not f:
                continue
            words = tuple(f[1:1 + n])
            probs[words] = f32(float(f[0]))
            if len(f) == n + 2:
                bos[words] = f32(float(f[n + 1]))
            got += 1
        while not lines[i].strip():
            i += 1
    return order, probs, bos


class Model:
    def __init__(self, path):
        self.order, self.prob, self.bo = read_arpa(path)
        self.has_unk = ('<unk>',) in self.prob
        if not self.has_unk:
            self.prob[('<unk>',)] = UNK_MISSING
        self.vocab = set(k[0] for k in self.prob if len(k) == 1)
        # blanks: every suffix of every n-gram, shortest first so longer blanks see them
        for n in range(2, self.order + 1):
            for g in [g for g in self.prob if len(g) == n]:
                for k in range(n - 1, 1, -1):
                    s = g[n - k:]
                    if s not in self.prob:
                        self.prob[s] = None  # filled below
        for n in range(2, self.order):
            for g in [g for g in self.prob if len(g) == n and self.prob[g] is None]:
                self.prob[g] = self.backed_off(g)

    def backed_off(self, g):
        """log10 p(g[-1] | g[:-1]) from shorter n-grams: the value KenLM gives a blank."""
        w, ctx = g[-1], g[:-1]
        m = 1
        for k in range(2, len(g)):
            if self.prob.get(g[len(g) - k:]) is None:
                break
            m = k
        p = self.prob[g[len(g) - m:]]
        for c in range(m, len(g)):
            p = f32(p + self.bo.get(ctx[len(ctx) - c:], 0.0))
        return p

    def score(self, words, bos=True, eos=True):
        state = ['<s>'] if bos and self.order > 1 else []  # most recent first
        out = []
        seq = list(words) + (['</s>'] if eos else [])
        for i, word in enumerate(seq):
            oov = not (i == len(words) or word in self.vocab) or word == '<unk>'
            w = '<unk>' if oov else word
            m = 1
            for k in range(1, len(state) + 1):
                g = tuple(reversed(state[:k])) + (w,)
                if len(g) > self.order or self.prob.get(g) is None:
                    break
                m = k + 1
            gram = tuple(reversed(state[:m - 1])) + (w,)
            p = self.prob[gram]
            for j in range(m - 1, len(state)):
                ctx = tuple(reversed(state[:j + 1]))
                p = f32(p + self.bo.get(ctx, 0.0))
            state = ([w] + state)[:min(m, self.order - 1)]
            out.append((word, m, p, oov))
        return out


def gen(order, seed, path, prune):
    """A random model whose n-grams are real back-off structure (contexts exist unless pruned)."""
    rnd = random.Random(seed)
    words = ['w%d' % i for i in range(12)]
    vocab = ['<s>', '</s>', '<unk>'] + words
    grams = {1: [(w,) for w in vocab]}
    for n in range(2, order + 1):
        cand = set()
        prev = grams[n - 1]
        for _ in range(len(vocab) * 3):
            ctx = rnd.choice(prev)
            if ctx[-1] == '</s>':
                continue
            nxt = rnd.choice(vocab[1:])
            if nxt == '<unk>':
                continue
            g = ctx + (nxt,)
            if '<s>' in g[1:]:
                continue
            cand.add(g)
        grams[n] = sorted(cand)
    if not prune:
        # a well-formed model: every suffix of an n-gram is an n-gram too
        for n in range(order, 2, -1):
            for g in grams[n]:
                for k in range(2, n):
                    if g[n - k:] not in grams[k]:
                        grams[k].append(g[n - k:])
            for k in range(2, n):
                grams[k] = sorted(set(grams[k]))
    else:
        # drop some middle n-grams that are suffixes of longer ones (SRILM-style pruning)
        for n in range(2, order):
            grams[n] = [g for g in grams[n] if rnd.random() > 0.25]
    with open(path, 'w') as f:
        f.write('some preamble text\n\n\\data\\\n')
        for n in range(1, order + 1):
            f.write('ngram %d=%d\n' % (n, len(grams[n])))
        for n in range(1, order + 1):
            f.write('\n\\%d-grams:\n' % n)
            for g in grams[n]:
                p = -99.0 if g == ('<s>',) else -round(rnd.uniform(0.01, 3.0), 6)
                line = '%s\t%s' % (repr(p), ' '.join(g))
                if n < order and rnd.random() < 0.8 and g != ('</s>',):
                    line += '\t%s' % repr(-round(rnd.uniform(0.0, 1.0), 6))
                f.write(line + '\n')
        f.write('\n\\end\\\n')


def main():
    if sys.argv[1] == 'gen':
        gen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], len(sys.argv) > 5)
        return
    m = Model(sys.argv[2])
    bos = 'nobos' not in sys.argv[4:]
    eos = 'noeos' not in sys.argv[4:]
    for line in open(sys.argv[3]):
        toks = m.score(line.split(), bos, eos)
        total = sum(t[2] for t in toks)
        print('\t'.join('%s %d %.7f %d' % t for t in toks) + '\ttotal %.7f' % total)


if __name__ == '__main__':
    main()
