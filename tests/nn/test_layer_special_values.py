"""Layers' functions and losses against PyTorch with NaN, +-inf and signed zeros in their
inputs: the same values (NaN where PyTorch gives NaN), the same gradients, and an error
where PyTorch refuses the input (a NaN probability in binary cross-entropy). The ops of
the core table have their own such test (tests/ops/test_special_values.py)."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg
from retrograd.nn import functional as F

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])


def _inject(rng, a, frac):
    a = a.copy()
    flat = a.reshape(-1)
    k = max(1, int(flat.size * frac))
    flat[rng.choice(flat.size, k, replace=False)] = rng.choice(SPECIALS, k)
    return a


def _cases(rng):
    """name -> (retrograd fn, torch fn (given torch.nn.functional), inputs, which need
    gradients)."""
    x = _inject(rng, rng.standard_normal((6, 4)), 0.2)
    y = rng.integers(0, 4, 6)
    t = _inject(rng, rng.standard_normal((6, 4)), 0.2)
    soft = np.abs(_inject(rng, rng.random((6, 4)), 0.2))
    prob = rng.random((6, 4))
    prob.flat[rng.choice(24, 4, replace=False)] = rng.choice([0.0, 1.0], 4)
    hard = rng.random((6, 4)).round()
    img = _inject(rng, rng.standard_normal((2, 3, 6, 6)), 0.05)
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    g3, b3 = rng.standard_normal(3), rng.standard_normal(3)
    x2 = _inject(rng, rng.standard_normal((5, 3)), 0.2)
    w2, b2 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    return {
        "cross_entropy": (F.cross_entropy, lambda T, a, c: T.cross_entropy(a, c), [x, y], 1),
        "cross_entropy_smoothed": (lambda a, c: F.cross_entropy(a, c, label_smoothing=0.1),
                                   lambda T, a, c: T.cross_entropy(a, c, label_smoothing=0.1),
                                   [x, y], 1),
        "cross_entropy_soft": (F.cross_entropy, lambda T, a, c: T.cross_entropy(a, c),
                               [x, soft], 1),
        "nll_loss": (F.nll_loss, lambda T, a, c: T.nll_loss(a, c), [x, y], 1),
        "mse_loss": (F.mse_loss, lambda T, a, c: T.mse_loss(a, c), [x, t], 2),
        "binary_cross_entropy": (F.binary_cross_entropy,
                                 lambda T, a, c: T.binary_cross_entropy(a, c), [prob, hard], 1),
        "binary_cross_entropy_with_logits": (
            F.binary_cross_entropy_with_logits,
            lambda T, a, c: T.binary_cross_entropy_with_logits(a, c), [x, hard], 1),
        "gelu": (F.gelu, lambda T, a: T.gelu(a), [x], 1),
        "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"),
                      lambda T, a: T.gelu(a, approximate="tanh"), [x], 1),
        "leaky_relu": (lambda a: F.leaky_relu(a, 0.1), lambda T, a: T.leaky_relu(a, 0.1), [x],
                       1),
        "conv2d": (lambda a, c, d: F.conv2d(a, c, d, padding=1),
                   lambda T, a, c, d: T.conv2d(a, c, d, padding=1), [img, w, b], 3),
        "avg_pool2d": (lambda a: F.avg_pool2d(a, 3, 1, 1),
                       lambda T, a: T.avg_pool2d(a, 3, 1, 1), [img], 1),
        "max_pool2d": (lambda a: F.max_pool2d(a, 2), lambda T, a: T.max_pool2d(a, 2), [img],
                       1),
        "max_pool2d_3x3": (lambda a: F.max_pool2d(a, 3, 2, 1),
                           lambda T, a: T.max_pool2d(a, 3, 2, 1), [img], 1),
        "adaptive_avg_pool2d": (lambda a: F.adaptive_avg_pool2d(a, 1),
                                lambda T, a: T.adaptive_avg_pool2d(a, 1), [img], 1),
        "batch_norm": (lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True),
                       lambda T, a, c, d: T.batch_norm(a, None, None, c, d, training=True),
                       [img, g3, b3], 3),
        "linear": (F.linear, lambda T, a, c, d: T.linear(a, c, d), [x2, w2, b2], 3),
    }


NAMES = sorted(_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("name", NAMES)
def test_matches_pytorch_at_nan_inf_and_signed_zero(torch, name):
    for seed in range(12):
        rng = np.random.default_rng(seed)
        fn, tfn, arrays, n_diff = _cases(rng)[name]
        ts = [rg.tensor(a, requires_grad=i < n_diff) for i, a in enumerate(arrays)]
        tts = [torch.tensor(a, requires_grad=i < n_diff) for i, a in enumerate(arrays)]
        out = fn(*ts)
        tout = tfn(torch.nn.functional, *tts)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=f"forward, seed {seed}")
        up = rng.standard_normal(out.shape)
        out.backward(rg.tensor(up))
        tout.backward(torch.from_numpy(up))
        for i in range(n_diff):
            np.testing.assert_allclose(ts[i].grad.numpy(), tts[i].grad.numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=f"gradient {i}, seed {seed}")


def test_binary_cross_entropy_refuses_nan_as_torch(torch):
    p = np.array([0.5, np.nan, 0.25])
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.zeros(3,
                                                 dtype=torch.float64))
    with pytest.raises(ValueError, match="binary_cross_entropy.*got nan"):
        F.binary_cross_entropy(rg.tensor(p), np.zeros(3))
