"""The n-gram branch of the demo model: a TF-IDF logistic regression over the WordPiece tokens and
their adjacent pairs, computed inside the exported graph from the same `input_ids`.

Features of a text: its tokens (specials and padding left out) and its token bigrams, each bigram
hashed into one of `buckets` slots after the vocabulary (V + (a * V + b) mod buckets). Values:
sublinear term frequency (1 + ln count) times the smoothed inverse document frequency of the
training rows (ln((1 + n) / (1 + df)) + 1, as scikit-learn's TfidfVectorizer; 0 for a feature
seen in fewer than `min_df` rows), the row then scaled to unit L2 norm. The regression is
multinomial with an L2 penalty (scikit-learn's objective: C * summed cross-entropy + |W|^2 / 2),
fitted by L-BFGS on a sparse matrix; `NgramTfidf` computes the same logits from padded ids with
dense tensor operations only (ONNX-exportable), and `train_branch` checks that it does.
"""
import math, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SPECIALS = (0, 101, 102)  # [PAD], [CLS], [SEP]
BUCKETS = 2 ** 18  # bigram slots: the package's config.json says {"ngram_branch": {"buckets": 262144}}


def features(ids, vocab, buckets):
    g = [t for t in ids if t not in SPECIALS]
    return g + [vocab + (a * vocab + b) % buckets for a, b in zip(g, g[1:])]


class NgramTfidf(nn.Module):
    def __init__(self, vocab, buckets, idf, weight, bias):
        super().__init__()
        self.vocab, self.buckets = vocab, buckets
        self.register_buffer("idf", torch.as_tensor(idf, dtype=torch.float32))
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float32))
        self.bias = nn.Parameter(torch.as_tensor(bias, dtype=torch.float32))

    def forward(self, input_ids, attention_mask):
        keep = attention_mask.bool()
        for s in SPECIALS:
            keep = keep & (input_ids != s)
        pairs = self.vocab + (input_ids[:, :-1] * self.vocab + input_ids[:, 1:]) % self.buckets
        ids = torch.cat([input_ids, pairs], 1)
        k = torch.cat([keep, keep[:, :-1] & keep[:, 1:]], 1).to(torch.float32)
        # occurrences of each position's feature in its row (kept positions only)
        count = ((ids.unsqueeze(2) == ids.unsqueeze(1)).to(torch.float32) * k.unsqueeze(1)).sum(-1).clamp(min=1.0)
        value = (1.0 + count.log()) * self.idf[ids] * k  # the feature's tf-idf, at each occurrence
        norm = ((value * value) / count).sum(1, keepdim=True).sqrt().clamp(min=1e-12)
        return ((value / count).unsqueeze(-1) * self.weight[ids]).sum(1) / norm + self.bias


def _matrix(rows, idf, vocab, buckets):
    r, c, v = [], [], []
    for i, ids in enumerate(rows):
        u, n = np.unique(np.array(features(ids, vocab, buckets), dtype=np.int64), return_counts=True)
        x = (1.0 + np.log(n)) * idf[u]
        s = math.sqrt(float((x * x).sum()))
        r += [i] * len(u)
        c += u.tolist()
        v += (x / s if s > 0 else x).tolist()
    return torch.sparse_coo_tensor(torch.tensor([r, c], dtype=torch.long).reshape(2, -1),
                                   torch.tensor(v, dtype=torch.float32), (len(rows), len(idf))).coalesce()


def train_branch(train, check_rows, vocab=30522, buckets=BUCKETS, c=10.0, min_df=2):
    """Fits the branch on `train` ([(ids, label)]); returns the module, checked on `check_rows`."""
    t0 = time.time()
    df = np.zeros(vocab + buckets)
    for ids, _ in train:
        df[np.unique(np.array(features(ids, vocab, buckets), dtype=np.int64))] += 1
    idf = np.log((1 + len(train)) / (1 + df)) + 1
    idf[df < min_df] = 0.0
    x, y = _matrix([r[0] for r in train], idf, vocab, buckets), torch.tensor([r[1] for r in train])
    w = torch.zeros(len(idf), 4, requires_grad=True)
    b = torch.zeros(4, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=500, history_size=10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(torch.sparse.mm(x, w) + b, y, reduction="sum") * c + 0.5 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    branch = NgramTfidf(vocab, buckets, idf, w.detach(), b.detach())
    with torch.no_grad():
        sparse = torch.sparse.mm(_matrix([r[0] for r in check_rows], idf, vocab, buckets), branch.weight) + branch.bias
        n = max(len(r[0]) for r in check_rows)
        ids = torch.tensor([r[0] + [0] * (n - len(r[0])) for r in check_rows])
        dense = branch(ids, (ids != 0).long())
    diff = float((sparse - dense).abs().max())
    assert diff < 1e-4, f"the graph's n-gram logits differ from the fitted ones by {diff}"
    print(f"n-gram branch: {int((idf > 0).sum())} features, fitted in {time.time() - t0:.0f}s "
          f"(graph vs sparse max diff {diff:.1e})", flush=True)
    return branch


@torch.no_grad()
def branch_logits(branch, rows, bs=256):
    out = torch.empty(len(rows), 4)
    for i in range(0, len(rows), bs):
        chunk = [r[0] for r in rows[i:i + bs]]
        n = max(len(s) for s in chunk)
        ids = torch.tensor([s + [0] * (n - len(s)) for s in chunk])
        out[i:i + bs] = branch(ids, (ids != 0).long())
    return out


class Ensemble(nn.Module):
    """The exported graph: the BERT's logits plus the n-gram branch's (weights folded into each)."""

    def __init__(self, bert, branch):
        super().__init__()
        self.bert, self.branch = bert, branch

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(input_ids, attention_mask, token_type_ids) + self.branch(input_ids, attention_mask)
