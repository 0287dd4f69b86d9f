#!/usr/bin/python3
"""tiny_llama.py: train a tiny Llama-architecture language model with PyTorch and export it as
llama2.c checkpoints that lmserve serves.

Architecture (what llama2.c's run.c computes, so the export needs no conversion):
  token embedding -> n_layers x [RMSNorm -> attention (RoPE on adjacent pairs, theta 10000,
  grouped-query heads) -> residual, RMSNorm -> SwiGLU FFN w2(silu(w1 x) * w3 x) -> residual]
  -> RMSNorm -> classifier shared with the embedding. RMSNorm eps 1e-5, no biases.
Training: AdamW (decoupled weight decay on matrices only), linear warm-up then cosine decay to
lr/10, gradient clipping, optional gradient checkpointing, fixed seed and thread count.
Data: one sequence per text line, [BOS] + pieces + [EOS], concatenated; random windows.
Exports (own writer, following the format):
  version 1: "ak42" header (256 bytes) + float32 weights
  version 2: "ak42" header + float32 norms + Q8_0 matrices (per tensor: int8 values, then one
             float32 scale per group)

Usage: tiny_llama.py --train TXT --tokenizer PREFIX --out DIR [--valid TXT] [options]
  (PREFIX.model is the SentencePiece model from spm_tokenizer.py; writes DIR/model.v1.bin,
  DIR/model.v2.bin and DIR/train.json with the settings and losses)
"""
import argparse
import json
import math
import os
import struct
import sys
import time

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads
# made 2-thread steps 3-7x slower than 1-thread ones (measured); costs little when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.checkpoint import checkpoint  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spm_tokenizer  # noqa: E402

BOS_ID, EOS_ID = 1, 2
NORM_EPS = 1e-5            # run.c's rmsnorm epsilon
ROPE_THETA = 10000.0       # run.c's RoPE base
CKPT_MAGIC = 0x616B3432    # "ak42"
CKPT_HEADER_BYTES = 256
Q8_GROUP_DEFAULT = 64      # Q8_0 group size; halved until it divides dim and hidden_dim
Q8_MAX = 127.0


# ---- model ----

class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS))


def rope_tables(head_size, seq_len):
    """cos/sin of pos * theta^(-2j/head_size) for pair j = (2j, 2j+1), as run.c computes."""
    freq = ROPE_THETA ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
    ang = torch.outer(torch.arange(seq_len, dtype=torch.float32), freq)
    return torch.cos(ang), torch.sin(ang)


def rope(x, cos, sin):
    """x: (B, T, H, hs); rotates adjacent pairs (x0, x1) by the position's angle."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.n_heads, self.n_kv_heads = a.heads, a.kv_heads
        self.hs = a.dim // a.heads
        kv_dim = self.hs * a.kv_heads
        self.attention_norm = RMSNorm(a.dim)
        self.wq = nn.Linear(a.dim, a.dim, bias=False)
        self.wk = nn.Linear(a.dim, kv_dim, bias=False)
        self.wv = nn.Linear(a.dim, kv_dim, bias=False)
        self.wo = nn.Linear(a.dim, a.dim, bias=False)
        self.ffn_norm = RMSNorm(a.dim)
        self.w1 = nn.Linear(a.dim, a.hidden, bias=False)
        self.w2 = nn.Linear(a.hidden, a.dim, bias=False)
        self.w3 = nn.Linear(a.dim, a.hidden, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        h = self.attention_norm(x)
        q = rope(self.wq(h).view(B, T, self.n_heads, self.hs), cos, sin)
        k = rope(self.wk(h).view(B, T, self.n_kv_heads, self.hs), cos, sin)
        v = self.wv(h).view(B, T, self.n_kv_heads, self.hs)
        rep = self.n_heads // self.n_kv_heads
        # query head i reads kv head i // rep (run.c's grouping)
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hs)
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.wo(y)
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class TinyLlama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.tok_embeddings = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        cos, sin = rope_tables(a.dim // a.heads, a.seq_len)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.triu(torch.ones(a.seq_len, a.seq_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # scaled init of residual projections (GPT-2)
            if name.endswith("wo.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * a.layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx, grad_ckpt=False):
        T = idx.shape[1]
        x = self.tok_embeddings(idx)
        cos, sin = self.cos[:T], self.sin[:T]
        for layer in self.layers:
            if grad_ckpt and self.training:
                x = checkpoint(layer, x, cos, sin, self.mask)
            else:
                x = layer(x, cos, sin, self.mask)
        return self.norm(x) @ self.tok_embeddings.weight.t()  # shared classifier


# ---- export ----

def _header(f, m, version, group_size=None):
    a = m.a
    f.write(struct.pack("<Ii", CKPT_MAGIC, version))
    f.write(struct.pack("<7i", a.dim, a.hidden, a.layers, a.heads, a.kv_heads, a.vocab,
                        a.seq_len))
    f.write(struct.pack("<B", 1))  # shared classifier
    if group_size is not None:
        f.write(struct.pack("<i", group_size))
    f.write(b"\0" * (CKPT_HEADER_BYTES - f.tell()))


def _f32(f, t):
    f.write(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def _norms(m):
    return ([l.attention_norm.weight for l in m.layers] + [l.ffn_norm.weight for l in m.layers]
            + [m.norm.weight])


def _matrices(m):
    L = m.layers
    return ([m.tok_embeddings.weight] + [l.wq.weight for l in L] + [l.wk.weight for l in L]
            + [l.wv.weight for l in L] + [l.wo.weight for l in L] + [l.w1.weight for l in L]
            + [l.w2.weight for l in L] + [l.w3.weight for l in L])


def export_v1(m, path):
    with open(path + ".tmp", "wb") as f:
        _header(f, m, 1)
        for t in _norms(m) + _matrices(m):
            _f32(f, t)
    os.replace(path + ".tmp", path)


def load_v1(path):
    """Read back a version-1 export into a TinyLlama (for round-trip checks)."""
    import types
    import numpy as np
    raw = open(path, "rb").read()
    magic, version, dim, hidden, layers, heads, kv_heads, vocab, seq_len = \
        struct.unpack("<Ii7i", raw[:36])
    if magic != CKPT_MAGIC or version != 1:
        raise ValueError("%s: not an ak42 version 1 checkpoint" % path)
    a = types.SimpleNamespace(vocab=vocab, dim=dim, layers=layers, heads=heads,
                              kv_heads=kv_heads, hidden=hidden, seq_len=seq_len)
    m = TinyLlama(a)
    f = np.frombuffer(raw[CKPT_HEADER_BYTES:], dtype="<f4")
    o = 0
    with torch.no_grad():
        for t in _norms(m) + _matrices(m):
            t.copy_(torch.from_numpy(f[o:o + t.numel()].copy()).view_as(t))
            o += t.numel()
    if o != len(f):
        raise ValueError("%s: %d floats left over" % (path, len(f) - o))
    return m.eval()


def quantize_q8_0(w, gs):
    """Symmetric int8 per group of gs values: w ~= q * scale, q in [-127, 127]."""
    g = w.detach().to(torch.float32).reshape(-1, gs)
    scale = g.abs().max(dim=1).values / Q8_MAX
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(g / safe[:, None]).clamp(-Q8_MAX, Q8_MAX).to(torch.int8)
    err = (q.float() * scale[:, None] - g).abs().max().item()
    return q, scale, err


def export_v2(m, path, group_size=Q8_GROUP_DEFAULT):
    gs = group_size
    while m.a.dim % gs or m.a.hidden % gs:
        gs //= 2
    mats = _matrices(m)
    worst = 0.0
    with open(path + ".tmp", "wb") as f:
        _header(f, m, 2, gs)
        for t in _norms(m):
            _f32(f, t)
        for w in mats:  # each tensor: its int8 values, then its group scales (runq.c's layout)
            q, s, err = quantize_q8_0(w, gs)
            f.write(q.numpy().astype("i1").tobytes())
            _f32(f, s)
            worst = max(worst, err)
    os.replace(path + ".tmp", path)
    return gs, worst


# ---- data and training ----

def load_stream(tok_prefix, path):
    ids = []
    n_words = 0
    with open(path, encoding="utf-8") as f:
        lines = [ln.split() for ln in f]
    for line, pieces in zip(lines, spm_tokenizer.encode_ids(tok_prefix, path)):
        if not line:
            continue
        n_words += len(line)
        ids.append(BOS_ID)
        ids.extend(pieces)
        ids.append(EOS_ID)
    return torch.tensor(ids, dtype=torch.long), n_words, sum(1 for ln in lines if ln)


def lr_at(step, progress, a):
    """Linear warm-up over a.warmup steps, then cosine from lr to lr/10 as 'progress' (the
    fraction of the budget used: steps or seconds, whichever runs out first) goes 0 -> 1."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    return a.lr / 10 + 0.5 * (a.lr - a.lr / 10) * (1 + math.cos(math.pi * min(1.0, progress)))


def budget_used(step, elapsed, a):
    """Fraction of the training budget used after 'step' steps and 'elapsed' seconds."""
    p = max(0, step - a.warmup) / max(1, a.steps - a.warmup)
    if a.max_seconds:
        p = max(p, elapsed / a.max_seconds)
    return p


@torch.no_grad()
def evaluate(m, data, seq_len):
    """Mean NLL (nats) of every token after the first, in non-overlapping windows."""
    m.eval()
    total, n = 0.0, 0
    for s in range(0, len(data) - 1, seq_len):
        x = data[s:s + seq_len][None]
        y = data[s + 1:s + 1 + seq_len][None]
        x = x[:, :y.shape[1]]
        logits = m(x)
        total += F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1),
                                 reduction="sum").item()
        n += y.numel()
    m.train()
    return total, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--valid")
    ap.add_argument("--tokenizer", required=True, help="SentencePiece model prefix")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--grad-checkpoint", action="store_true",
                    help="recompute layer activations in backward (less memory, ~30%% slower)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="wall-time budget (0: none): the cosine schedule follows whichever of "
                         "steps and seconds runs out first, so a slow machine still anneals "
                         "and stops in time (the run is then not step-for-step reproducible)")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    a.vocab = len(spm_tokenizer.read_vocab(a.tokenizer))
    train, _, _ = load_stream(a.tokenizer, a.train)
    if len(train) <= a.seq_len + 1:  # few-line corpora (tests): shorter windows
        a.seq_len = max(8, len(train) - 2)
    m = TinyLlama(a)
    n_params = sum(p.numel() for p in m.parameters())
    decay = [p for p in m.parameters() if p.dim() >= 2]
    no_decay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(a.seed)
    print("tiny_llama: %d params, %d training tokens, vocab %d" % (n_params, len(train), a.vocab),
          flush=True)
    t0 = time.time()
    losses = []
    stopped_early = False
    for step in range(a.steps):
        progress = budget_used(step, time.time() - t0, a)
        if progress >= 1.0:
            stopped_early = True
            print("tiny_llama: time budget reached after %d steps" % step, flush=True)
            break
        lr = lr_at(step, progress, a)
        for g in opt.param_groups:
            g["lr"] = lr
        ix = torch.randint(len(train) - a.seq_len - 1, (a.batch,), generator=gen)
        x = torch.stack([train[i:i + a.seq_len] for i in ix])
        y = torch.stack([train[i + 1:i + 1 + a.seq_len] for i in ix])
        logits = m(x, grad_ckpt=a.grad_checkpoint)
        loss = F.cross_entropy(logits.view(-1, a.vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), a.grad_clip)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == a.steps - 1:
            print("step %d loss %.4f lr %.2e %.1fs" % (step, loss.item(), lr,
                                                      time.time() - t0), flush=True)
    report = {"params": n_params, "steps_done": len(losses), "stopped_early": stopped_early,
              "train_seconds": round(time.time() - t0, 1), "final_loss": losses[-1],
              "settings": {k: v for k, v in vars(a).items()}}
    if a.valid:
        valid, n_words, n_lines = load_stream(a.tokenizer, a.valid)
        nll, n_tok = evaluate(m, valid, a.seq_len)
        report["valid_nll_per_token"] = nll / n_tok
        # per word, counting one end-of-verse per line like the n-gram's </s>
        report["valid_ppl_per_word"] = math.exp(nll / (n_words + n_lines))
        print("valid: %.4f nats/token, per-word perplexity %.2f (windowed, python side)"
              % (report["valid_nll_per_token"], report["valid_ppl_per_word"]), flush=True)
    os.makedirs(a.out, exist_ok=True)
    m.eval()
    export_v1(m, os.path.join(a.out, "model.v1.bin"))
    gs, err = export_v2(m, os.path.join(a.out, "model.v2.bin"))
    report["q8_group_size"], report["q8_max_error"] = gs, err
    with open(os.path.join(a.out, "train.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("tiny_llama: wrote %s/model.v1.bin and model.v2.bin (Q8_0 group %d, max error %.4g)"
          % (a.out, gs, err), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
