"""Shared by the fused-op tests: train a model by hand and log what a comparison needs."""

from __future__ import annotations

import retrograd as rg
from retrograd.nn import functional as F


def train_steps(model, xs, ys, lr=0.1):
    """SGD steps by hand on cross-entropy; returns per step the loss, the input's gradient
    and the parameters' gradients (copies)."""
    log = []
    for x, y in zip(xs, ys):
        xt = rg.tensor(x, requires_grad=True)
        loss = F.cross_entropy(model(xt), rg.tensor(y))
        model.zero_grad()
        loss.backward()
        log.append((loss.item(), xt.grad.numpy().copy(),
                    [p.grad.numpy().copy() for p in model.parameters()]))
        with rg.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return log
