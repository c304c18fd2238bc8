"""Shared by the nn tests: a model trained by hand, and one step checked against PyTorch."""

from __future__ import annotations

import numpy as np

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


def assert_step_matches_torch(torch, model, tm, x, y, rtol, atol, loss_fn=None):
    """One cross-entropy forward and backward of ``model`` and of its PyTorch twin ``tm`` (the
    same float64 parameters) on ``x``, ``y``: the losses, the input gradients and every
    parameter's gradient agree. ``loss_fn(logits, y)`` replaces retrograd's
    ``F.cross_entropy``. Returns retrograd's logits and input tensor."""
    xt = rg.tensor(x, dtype=rg.float64, requires_grad=True)
    logits = model(xt)
    loss = (loss_fn or F.cross_entropy)(logits, rg.tensor(y))
    model.zero_grad()
    loss.backward()
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tm(tx), torch.tensor(y))
    tm.zero_grad()
    tl.backward()
    assert abs(loss.item() - tl.item()) < 1e-12
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
    for (name, p), tp in zip(model.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)
    return logits, xt
