"""Calibration of the demo model's logits (tools/train_demo.py): the expected calibration error,
a temperature, and the weights of an ensemble's members, each fitted on held-out rows."""
import torch
import torch.nn.functional as F


def ece(probs, labels, bins=15):
    """Expected calibration error of the top-class probability, `bins` equal-width bins."""
    conf, pred = probs.max(1)
    correct = (pred == labels).double()
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += float(sel.double().mean()) * abs(float(correct[sel].mean()) - float(conf[sel].double().mean()))
    return total


def fit_temperature(logits, labels):
    """The temperature T minimising the held-out negative log-likelihood of softmax(logits / T)."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def fit_mixture(logits_a, logits_b, labels):
    """Weights (w_a, w_b) minimising the held-out negative log-likelihood of
    softmax(w_a * logits_a + w_b * logits_b)."""
    w = torch.ones(2, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(w[0] * logits_a + w[1] * logits_b, labels)
        loss.backward()
        return loss

    opt.step(closure)
    return [float(v) for v in w.detach()]
