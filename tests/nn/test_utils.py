"""Gradient clipping against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn


def _grads(scale):
    rng = np.random.default_rng(0)
    return [rng.normal(size=s) * scale for s in [(4, 3), (3,), (2, 2, 2)]]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_torch(torch, norm_type, scale):
    gs = _grads(scale)
    ps = [rg.nn.Parameter(rg.zeros(g.shape, dtype=rg.float64)) for g in gs]
    ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gs]
    for p, t, g in zip(ps, ts, gs):
        p.grad = rg.tensor(g, dtype=rg.float64)
        t.grad = torch.from_numpy(g.copy())
    ps.append(rg.nn.Parameter(rg.zeros(2)))  # no gradient: ignored
    total = nn.utils.clip_grad_norm_(ps, max_norm=1.0, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm=1.0, norm_type=norm_type)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-12)
    if scale == 0.01:  # below max_norm: untouched
        np.testing.assert_array_equal(ps[0].grad.data, gs[0])


def test_clip_grad_value_and_nonfinite():
    p = rg.nn.Parameter(rg.zeros(4))
    p.grad = rg.tensor([-3.0, 0.5, 2.0, -0.1])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.data, np.array([-1.0, 0.5, 1.0, -0.1], np.float32))
    p.grad = rg.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
