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
import shutil
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
        self.drop = nn.Dropout(getattr(a, "dropout", 0.0))  # training only; not exported

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
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.drop(self.wo(y))
        h = self.ffn_norm(x)
        return x + self.drop(self.w2(F.silu(self.w1(h)) * self.w3(h)))


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

    def forward(self, idx, grad_ckpt=False, mask=None):
        """mask: True where attention is blocked, (T, T) or (B, 1, T, T); default causal."""
        T = idx.shape[1]
        x = self.tok_embeddings(idx)
        cos, sin = self.cos[:T], self.sin[:T]
        if mask is None:
            mask = self.mask[:T, :T]
        for layer in self.layers:
            if grad_ckpt and self.training:
                x = checkpoint(layer, x, cos, sin, mask)
            else:
                x = layer(x, cos, sin, mask)
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
    """Linear warm-up over a.warmup steps, then either
    - decay_steps == 0: cosine from lr to lr/10 as 'progress' (the fraction of the budget used:
      steps or seconds, whichever runs out first) goes 0 -> 1; or
    - decay_steps > 0 (warm-up, stable, decay): constant lr until the last decay_steps steps,
      then a cosine cool-down from lr to lr * min_lr_frac. The lr before the cool-down does not
      depend on a.steps, so a run may be resumed from a checkpoint at step S with
      --steps S+D --decay-steps D and equal a run started so."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.decay_steps > 0:
        start = a.steps - a.decay_steps
        if step < start:
            return a.lr
        t = (step - start) / max(1, a.decay_steps)
        lo = a.lr * a.min_lr_frac
        return lo + 0.5 * (a.lr - lo) * (1 + math.cos(math.pi * min(1.0, t)))
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


def load_lines(tok_prefix, path):
    """Per non-empty line: [BOS] + pieces + [EOS]; also the number of words."""
    with open(path, encoding="utf-8") as f:
        words = [ln.split() for ln in f]
    seqs = [[BOS_ID] + p + [EOS_ID] for w, p in zip(words, spm_tokenizer.encode_ids(tok_prefix, path))
            if w]
    return seqs, sum(len(w) for w in words)


@torch.no_grad()
def evaluate_lines(m, seqs, batch=64):
    """Summed NLL (nats) of each line scored alone, as lmserve's /v1/score does: every piece
    and the EOS, given BOS and the line so far."""
    m.eval()
    total = 0.0
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for b in range(0, len(order), batch):
        group = [seqs[i][:m.a.seq_len] for i in order[b:b + batch]]
        T = max(len(g) for g in group) - 1
        x = torch.full((len(group), T), EOS_ID, dtype=torch.long)
        y = torch.full((len(group), T), -100, dtype=torch.long)
        for r, g in enumerate(group):
            x[r, :len(g) - 1] = torch.tensor(g[:-1])
            y[r, :len(g) - 1] = torch.tensor(g[1:])
        logits = m(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.view(-1),
                                 ignore_index=-100, reduction="sum").item()
    m.train()
    return total


def doc_mask(x, causal):
    """Causal attention that also stops at line boundaries: a position sees only its own line
    (from its BOS), the context lmserve's /v1/score gives each line."""
    doc = torch.cumsum(x == BOS_ID, dim=1)
    return (causal[None] | (doc[:, :, None] != doc[:, None, :]))[:, None]


def save_state(path, m, opt, gen, step, elapsed, losses, curve):
    torch.save({"model": m.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                "rng": torch.get_rng_state(),
                "step": step, "elapsed": elapsed, "losses": losses, "curve": curve},
               path + ".tmp")
    os.replace(path + ".tmp", path)


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
    ap.add_argument("--decay-steps", type=int, default=0,
                    help="warm-up/stable/decay schedule: cosine cool-down over the last N steps "
                         "(0: cosine over the whole run)")
    ap.add_argument("--min-lr-frac", type=float, default=0.05,
                    help="lr at the end of the cool-down, as a fraction of --lr")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="residual dropout in training (regularises many epochs of a small corpus)")
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--grad-checkpoint", action="store_true",
                    help="recompute layer activations in backward (less memory, ~30%% slower)")
    ap.add_argument("--doc-mask", action="store_true",
                    help="windows start at a line's BOS and attention stays inside each line")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="wall-time budget (0: none): the cosine schedule follows whichever of "
                         "steps and seconds runs out first, so a slow machine still anneals "
                         "and stops in time (the run is then not step-for-step reproducible)")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="score the --valid lines every N steps (the curve in train.json)")
    ap.add_argument("--ckpt-every", type=int, default=0,
                    help="save DIR/state.pt (model, optimizer, sampler) every N steps")
    ap.add_argument("--keep-ckpts", action="store_true",
                    help="also keep DIR/state-STEP.pt for every checkpoint")
    ap.add_argument("--resume", help="continue from a state.pt saved by --ckpt-every")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="stop after N steps of the --steps schedule (0: run it all), e.g. to "
                         "ship a cool-down that the time available cut short")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    a.vocab = len(spm_tokenizer.read_vocab(a.tokenizer))
    train, _, _ = load_stream(a.tokenizer, a.train)
    if len(train) <= a.seq_len + 1:  # few-line corpora (tests): shorter windows
        a.seq_len = max(8, len(train) - 2)
    starts = None
    if a.doc_mask:
        starts = (train[:-a.seq_len - 1] == BOS_ID).nonzero().view(-1)
    valid_lines, valid_words = (load_lines(a.tokenizer, a.valid) if a.valid else (None, 0))
    m = TinyLlama(a)
    n_params = sum(p.numel() for p in m.parameters())
    decay = [p for p in m.parameters() if p.dim() >= 2]
    no_decay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    first, prior, losses, curve = 0, 0.0, [], []
    if a.resume:
        st = torch.load(a.resume)
        m.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["gen"])
        torch.set_rng_state(st["rng"])
        first, prior, losses, curve = st["step"], st["elapsed"], st["losses"], st["curve"]
        print("tiny_llama: resumed at step %d (%.0f s trained)" % (first, prior), flush=True)
    print("tiny_llama: %d params, %d training tokens, vocab %d, %d steps of %d x %d tokens"
          % (n_params, len(train), a.vocab, a.steps, a.batch, a.seq_len), flush=True)
    tokens_per_step = a.batch * a.seq_len

    def eval_point(step, elapsed):
        nll = evaluate_lines(m, valid_lines)
        n_tok = sum(len(s) - 1 for s in valid_lines)
        ppl = math.exp(nll / (valid_words + len(valid_lines)))
        recent = losses[-50:]
        curve.append({"step": step, "seconds": round(elapsed, 1),
                      "train_loss": round(sum(recent) / len(recent), 4) if recent else None,
                      "valid_nll_per_token": round(nll / n_tok, 4),
                      "valid_ppl_per_word": round(ppl, 2)})
        print("eval step %d: held-out %.4f nats/token, per-word perplexity %.2f"
              % (step, nll / n_tok, ppl), flush=True)

    t0 = time.time() - prior
    last_print = time.time()
    stopped_early = False
    step = first
    last_step = min(a.steps, a.stop_at) if a.stop_at else a.steps
    for step in range(first, last_step):
        progress = budget_used(step, time.time() - t0, a)
        if progress >= 1.0 and not a.decay_steps:
            stopped_early = True
            print("tiny_llama: time budget reached after %d steps" % step, flush=True)
            break
        if a.eval_every and valid_lines and step % a.eval_every == 0 and step > first:
            eval_point(step, time.time() - t0)
        if a.ckpt_every and step % a.ckpt_every == 0 and step > first:
            path = os.path.join(a.out, "state.pt")
            save_state(path, m, opt, gen, step, time.time() - t0, losses, curve)
            if a.keep_ckpts:
                shutil.copyfile(path, os.path.join(a.out, "state-%d.pt" % step))
        lr = lr_at(step, progress, a)
        for g in opt.param_groups:
            g["lr"] = lr
        if starts is not None:
            ix = starts[torch.randint(len(starts), (a.batch,), generator=gen)]
        else:
            ix = torch.randint(len(train) - a.seq_len - 1, (a.batch,), generator=gen)
        x = torch.stack([train[i:i + a.seq_len] for i in ix])
        y = torch.stack([train[i + 1:i + 1 + a.seq_len] for i in ix])
        mask = None
        if starts is not None:
            mask = doc_mask(x, m.mask[:a.seq_len, :a.seq_len])
            y = y.masked_fill(y == BOS_ID, -100)  # EOS -> next line's BOS: not a prediction
        logits = m(x, grad_ckpt=a.grad_checkpoint, mask=mask)
        loss = F.cross_entropy(logits.view(-1, a.vocab), y.view(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), a.grad_clip)
        opt.step()
        losses.append(loss.item())
        now = time.time()
        if now - last_print >= 10 or step == first or step == last_step - 1:
            last_print = now
            el = now - t0
            done = step + 1 - first
            rate = done / max(1e-9, el - prior)
            print("step %d/%d loss %.4f lr %.2e %.0f tok/s %.0fs eta %.0fs"
                  % (step + 1, last_step, loss.item(), lr, rate * tokens_per_step, el,
                     (last_step - step - 1) / max(1e-9, rate)), flush=True)
    else:
        step = last_step
    elapsed = time.time() - t0
    if a.eval_every and valid_lines and (not curve or curve[-1]["step"] != step):
        eval_point(step, elapsed)
    if a.ckpt_every:
        save_state(os.path.join(a.out, "state.pt"), m, opt, gen, step, elapsed, losses, curve)
    recent = losses[-100:]
    report = {"params": n_params, "steps_done": len(losses), "stopped_early": stopped_early,
              "train_seconds": round(elapsed, 1), "final_loss": losses[-1],
              "final_train_loss_mean100": sum(recent) / len(recent) if recent else None,
              "curve": curve,
              "settings": {k: v for k, v in vars(a).items()}}
    if a.valid:
        valid, n_words, n_lines = load_stream(a.tokenizer, a.valid)
        nll, n_tok = evaluate(m, valid, a.seq_len)
        report["valid_nll_per_token"] = nll / n_tok
        # per word, counting one end-of-verse per line like the n-gram's </s>
        report["valid_ppl_per_word"] = math.exp(nll / (n_words + n_lines))
        print("valid: %.4f nats/token, per-word perplexity %.2f (windowed, python side)"
              % (report["valid_nll_per_token"], report["valid_ppl_per_word"]), flush=True)
        lines_nll = evaluate_lines(m, valid_lines)
        report["valid_ppl_per_word_lines"] = math.exp(lines_nll / (valid_words + len(valid_lines)))
        print("valid: per-word perplexity %.2f (each line alone, as /v1/score)"
              % report["valid_ppl_per_word_lines"], flush=True)
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
