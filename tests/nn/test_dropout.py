"""Dropout: inverted scaling, statistics, eval identity, p=0 and p=1, seeded masks."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F


def test_dropout_statistics_and_gradient():
    x = rg.full((400, 500), 2.0, requires_grad=True)
    out = nn.Dropout(0.3)(x)
    o = out.numpy()
    kept = o != 0
    assert abs(kept.mean() - 0.7) < 0.005  # 200,000 draws: sd of the fraction ~0.001
    np.testing.assert_allclose(o[kept], 2.0 / 0.7, rtol=1e-6)  # survivors scaled by 1/(1-p)
    assert abs(o.mean() - 2.0) < 0.02  # E[output] = input
    out.sum().backward()
    # d out / d x = mask / (1 - p): the same positions, the same scale
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)


def test_dropout_is_exact_identity_in_eval_and_for_p0():
    x = rg.randn(3, 4)
    d = nn.Dropout(0.5)
    d.eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert F.dropout(x, 0.9, training=False) is x


def test_dropout_p1_gives_zeros_and_zero_gradient():
    x = rg.randn(3, 4, requires_grad=True)
    out = nn.Dropout(1.0)(x)
    np.testing.assert_array_equal(out.numpy(), 0)
    (out * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_dropout_mask_comes_from_the_seeded_generator():
    x = rg.ones(50, 50)
    rg.manual_seed(123)
    a = F.dropout(x, 0.5).numpy()
    rg.manual_seed(123)
    b = F.dropout(x, 0.5).numpy()
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dropout_gradcheck_with_fixed_mask():
    x = rg.tensor(np.random.default_rng(0).standard_normal((4, 5)), dtype=rg.float64,
                  requires_grad=True)

    def fn(t):
        rg.manual_seed(7)  # the same mask at every evaluation
        return (F.dropout(t, 0.4) ** 2).sum()

    assert rg.gradcheck(fn, [x])


def test_dropout_bad_p():
    with pytest.raises(ValueError, match="Dropout.*1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="dropout.*-0.1"):
        F.dropout(rg.ones(2), -0.1)
