#!/usr/bin/env python3
"""Train a small BERT topic classifier (AG News, 4 classes) from token ids, export it to ONNX.

The token ids come from another tool (the Node tokenizer); this script never tokenizes text.
It trains a minimal BERT (plain torch, no `transformers`) with masked mean pooling + a linear
head, holds out the last 5% of the training file as validation, exports `model.onnx`
(inputs input_ids / attention_mask / token_type_ids, int64 [batch, sequence]; output
logits, float32 [batch, 4]) and writes `reference.json` with torch logits for fixed texts.
With --ngram-branch the graph is an ensemble: the BERT's logits plus those of a TF-IDF token and
token-bigram logistic regression fitted on the same rows (tools/ngram_branch.py), each weighted
by a factor fitted on the held-out slice.

Usage (system interpreter with Debian's python3-torch and python3-onnx):
    /usr/bin/python3 tools/train_demo.py --train train_ids.jsonl \
        --reference reference_ids.json --out-dir out/
  --train      JSON lines {"ids": [101, ..., 102], "label": 0..3} (at most 128 ids each)
  --reference  JSON {"texts": [...], "ids": [[...], ...]}
Everything is deterministic for a given --seed and --threads.
"""
import argparse, inspect, json, math, os, random, time

import torch
import torch.nn as nn
import torch.nn.functional as F

from calibration import ece, fit_mixture, fit_temperature
from ngram_branch import BUCKETS, Ensemble, branch_logits, train_branch

NUM_LABELS = 4


class Layer(nn.Module):
    """Post-LN transformer encoder layer, as in BERT."""

    def __init__(self, h, heads, inter, p):
        super().__init__()
        self.heads, self.dh = heads, h // heads
        self.qkv, self.out = nn.Linear(h, 3 * h), nn.Linear(h, h)
        self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-12), nn.LayerNorm(h, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(h, inter), nn.Linear(inter, h)
        self.drop = nn.Dropout(p)

    def forward(self, x, bias):  # x [B,S,H]; bias [B,1,1,S] additive mask
        b, s, h = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + bias
        att = self.drop(att.softmax(-1))
        ctx = torch.matmul(att, v).transpose(1, 2).reshape(b, s, h)
        x = self.ln1(x + self.drop(self.out(ctx)))
        return self.ln2(x + self.drop(self.ff2(F.gelu(self.ff1(x)))))


class MiniBert(nn.Module):
    def __init__(self, vocab, layers, h, heads, inter, max_pos, p=0.1):
        super().__init__()
        self.word, self.pos, self.token_type = nn.Embedding(vocab, h), nn.Embedding(max_pos, h), nn.Embedding(2, h)
        self.ln, self.drop = nn.LayerNorm(h, eps=1e-12), nn.Dropout(p)
        self.layers = nn.ModuleList(Layer(h, heads, inter, p) for _ in range(layers))
        self.head = nn.Linear(h, NUM_LABELS)
        self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0), persistent=False)
        for m in self.modules():  # BERT init
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, input_ids, attention_mask, token_type_ids):
        pos = self.position_ids[:, : input_ids.shape[1]]
        x = self.drop(self.ln(self.word(input_ids) + self.pos(pos) + self.token_type(token_type_ids)))
        mask = attention_mask.to(x.dtype)
        bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(self.drop(pooled))


def pad(seqs):
    n = max(len(s) for s in seqs)
    ids = torch.tensor([s + [0] * (n - len(s)) for s in seqs], dtype=torch.long)
    mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in seqs], dtype=torch.long)
    return ids, mask, torch.zeros_like(ids)


def batches(rows, bs, rng):
    """Length-bucketed batches: shuffle, sort within chunks of 50 batches, shuffle batch order."""
    idx = list(range(len(rows)))
    rng.shuffle(idx)
    out = []
    for c in range(0, len(idx), bs * 50):
        chunk = sorted(idx[c:c + bs * 50], key=lambda i: len(rows[i][0]))
        out += [chunk[i:i + bs] for i in range(0, len(chunk), bs)]
    rng.shuffle(out)
    return out


@torch.no_grad()
def accuracy(model, rows, bs=128):
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    correct = 0
    for i in range(0, len(order), bs):
        chunk = [rows[j] for j in order[i:i + bs]]
        pred = model(*pad([r[0] for r in chunk])).argmax(-1)
        correct += sum(int(p) == r[1] for p, r in zip(pred.tolist(), chunk))
    return correct / len(rows)


def load_rows(path):
    with open(path) as f:
        return [(r["ids"], int(r["label"])) for r in map(json.loads, f) if r]


def init_word_vectors(model, path, std):
    """Rows with a pretrained vector get it (scaled to `std` per element, zero-padded or cut to the
    hidden size); the other rows keep their random init."""
    import numpy as np
    m = torch.from_numpy(np.load(path)).float()
    have = ~torch.isnan(m).any(1)
    vec = m[have]
    vec = vec * (std / vec.std())
    h = model.word.weight.shape[1]
    with torch.no_grad():
        rows = model.word.weight[have]
        d = min(h, vec.shape[1])
        rows[:, :d] = vec[:, :d]
        if h > d:
            rows[:, d:] = 0.0
        model.word.weight[have] = rows
    print(f"word vectors: {int(have.sum())} of {m.shape[0]} rows initialised from {path}")


@torch.no_grad()
def logits_of(model, rows, bs=256):
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    out = torch.empty(len(rows), NUM_LABELS)
    for i in range(0, len(order), bs):
        idx = order[i:i + bs]
        out[idx] = model(*pad([rows[j][0] for j in idx]))
    return out


def report(stage, logits, rows):
    labels = torch.tensor([r[1] for r in rows])
    probs = logits.softmax(-1)
    acc = float((probs.argmax(1) == labels).double().mean())
    pred = torch.bincount(probs.argmax(1), minlength=NUM_LABELS).tolist()
    print(f"eval {stage}: accuracy {acc:.4f}  ECE {ece(probs, labels):.4f}  predicted per label {pred}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--out-dir", required=True)
    for name, val in [("vocab-size", 30522), ("layers", 2), ("hidden", 128), ("heads", 2), ("intermediate", 512),
                      ("max-position", 512), ("epochs", 4), ("batch-size", 32), ("seed", 13), ("threads", 2)]:
        ap.add_argument("--" + name, type=int, default=val)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--vectors", help="pretrained word vectors: a .npy matrix [vocab, dims] with NaN rows for tokens "
                    "that have none (tools/word_vectors.py writes it); initialises those rows of the embedding table")
    ap.add_argument("--vector-std", type=float, default=0.05, help="element std the pretrained rows are scaled to")
    ap.add_argument("--embedding-lr", type=float, default=1.0, help="learning-rate factor of the word-embedding table")
    ap.add_argument("--prior-correction", action="store_true",
                    help="logit adjustment at export: subtract log(training label prior) from the head's bias")
    ap.add_argument("--calibrate", action="store_true",
                    help="temperature scaling fitted on the held-out slice, folded into the exported head")
    ap.add_argument("--ngram-branch", action="store_true",
                    help="add a TF-IDF token/bigram logistic regression (tools/ngram_branch.py) fitted on the same rows; "
                    "the graph answers the sum of both models' logits, each weighted by a factor fitted on the held-out slice")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--save-weights", help="also write the trained state dict (after the export-time changes) here")
    ap.add_argument("--eval", help="optional {ids, label} JSON lines scored after training (accuracy, ECE); "
                    "an experiment aid, never used to fit anything")
    a = ap.parse_args()
    config_path = os.path.join(a.out_dir, "config.json")  # the package's: it must describe the graph
    declared = json.load(open(config_path)).get("ngram_branch") if os.path.exists(config_path) else None
    if os.path.exists(config_path) and declared != ({"buckets": BUCKETS} if a.ngram_branch else None):
        raise SystemExit(f"{config_path}: ngram_branch is {declared}, which does not describe this graph")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    with open(a.train) as f:
        rows = [(r["ids"], int(r["label"])) for r in map(json.loads, f) if r]
    n_val = max(1, len(rows) // 20)
    train, val = rows[:-n_val], rows[-n_val:]
    print(f"train {len(train)} rows, validation {len(val)} rows (last 5% of {a.train})")

    model = MiniBert(a.vocab_size, a.layers, a.hidden, a.heads, a.intermediate, a.max_position)
    if a.vectors:
        init_word_vectors(model, a.vectors, a.vector_std)
    n_params = sum(p.numel() for p in model.parameters())
    word = model.word.weight
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and p is not word]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0},
                             {"params": [word], "weight_decay": 0.01 if not a.vectors else 0.0,
                              "lr": a.lr * a.embedding_lr}], lr=a.lr)
    total = a.epochs * math.ceil(len(train) / a.batch_size)
    warm = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / (total - warm))))

    t0, val_acc, epoch_times = time.time(), 0.0, []
    for ep in range(1, a.epochs + 1):
        model.train()
        te, loss_sum, bs_list = time.time(), 0.0, batches(train, a.batch_size, rng)
        for b in bs_list:
            ids, mask, types = pad([train[i][0] for i in b])
            loss = F.cross_entropy(model(ids, mask, types), torch.tensor([train[i][1] for i in b]),
                                   label_smoothing=a.label_smoothing)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            loss_sum += loss.item()
        epoch_times.append(time.time() - te)
        val_acc = accuracy(model, val)
        print(f"epoch {ep}/{a.epochs}: loss {loss_sum / len(bs_list):.4f}  val acc {val_acc:.4f}  ({epoch_times[-1]:.1f}s)", flush=True)
    train_s = time.time() - t0

    model.eval()
    counts = torch.bincount(torch.tensor([r[1] for r in train]), minlength=NUM_LABELS).double()
    prior = counts / counts.sum()
    eval_rows = load_rows(a.eval) if a.eval else None
    if eval_rows:
        report("trained", logits_of(model, eval_rows), eval_rows)
    if a.prior_correction:  # balanced-error (uniform prior) decision: f(x) - log p_train(y)
        with torch.no_grad():
            model.head.bias -= prior.log().to(model.head.bias.dtype)
        print("prior correction: head bias -= log " + str([round(float(p), 4) for p in prior]))
        if eval_rows:
            report("prior-corrected", logits_of(model, eval_rows), eval_rows)
    if a.calibrate:
        t = fit_temperature(logits_of(model, val), torch.tensor([r[1] for r in val]))
        with torch.no_grad():
            model.head.weight /= t
            model.head.bias /= t
        print(f"temperature {t:.4f} (fitted on the {len(val)} held-out rows)")
        if eval_rows:
            report("calibrated", logits_of(model, eval_rows), eval_rows)
    if a.ngram_branch:
        branch = train_branch(train, val)
        if a.prior_correction:
            with torch.no_grad():
                branch.bias -= prior.log().to(branch.bias.dtype)
        wb, wn = fit_mixture(logits_of(model, val), branch_logits(branch, val), torch.tensor([r[1] for r in val]))
        with torch.no_grad():
            for p, f in ((model.head.weight, wb), (model.head.bias, wb), (branch.weight, wn), (branch.bias, wn)):
                p *= f
        model = Ensemble(model, branch).eval()
        print(f"ensemble: BERT logits x {wb:.4f} + n-gram logits x {wn:.4f} (fitted on the {len(val)} held-out rows)")
        if eval_rows:
            report("ensemble", logits_of(model, eval_rows), eval_rows)
    os.makedirs(a.out_dir, exist_ok=True)
    onnx_path = os.path.join(a.out_dir, "model.onnx")
    ex = pad([[101, 2023, 2003, 102], [101, 102]])
    axes = {"batch": 0, "sequence": 1}
    names = ["input_ids", "attention_mask", "token_type_ids"]
    if a.save_weights:
        torch.save(model.state_dict(), a.save_weights)
    # The TorchScript exporter (torch >= 2.9 defaults to another, which needs onnxscript).
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model, ex, onnx_path, input_names=names, output_names=["logits"], opset_version=14,
                      dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}},
                      do_constant_folding=True, **legacy)
    import onnx
    onnx.checker.check_model(onnx.load(onnx_path))

    with open(a.reference) as f:
        ref = json.load(f)
    with torch.no_grad():
        single = [model(*pad([s]))[0] for s in ref["ids"]]
        batched = model(*pad(ref["ids"]))
    diff = max(float((s - b).abs().max()) for s, b in zip(single, batched))
    assert diff < 1e-5, f"padding changes logits by {diff}"
    with open(os.path.join(a.out_dir, "reference.json"), "w") as f:
        json.dump({"texts": ref["texts"], "ids": ref["ids"], "logits": [[float(v) for v in s] for s in single]}, f)

    size = os.path.getsize(onnx_path)
    assert size < 25 * 2**20, f"model.onnx is {size} bytes"
    print(f"params {n_params:,}  model.onnx {size / 2**20:.1f} MiB  val acc {val_acc:.4f}  "
          f"train {train_s:.0f}s ({sum(epoch_times) / len(epoch_times):.1f}s/epoch)  padded-vs-single max diff {diff:.2e}")


if __name__ == "__main__":
    main()
