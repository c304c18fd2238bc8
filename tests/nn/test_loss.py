"""Losses: each fused primitive against the unfused composition, central differences in
float64, and PyTorch; stability for huge logits; errors that name what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]


def _t(a, grad=True):
    return rg.tensor(np.asarray(a, dtype=np.float64), dtype=rg.float64, requires_grad=grad)


def _data(seed=0, n=6, c=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c)) * 2, rng.integers(0, c, size=n)


def _unfused_ce(x, y, reduction):
    lp = x.log_softmax(axis=1)
    picked = -lp[np.arange(len(y)), y]
    return {"mean": picked.mean(), "sum": picked.sum(), "none": picked}[reduction]


def _value_and_grad(fn, x_np, *args):
    x = _t(x_np)
    out = fn(x, *args)
    out.backward(np.ones(out.shape))
    return out.data, x.grad.data


# ----------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_equals_log_softmax_then_nll_composition(reduction):
    x, y = _data()
    v1, g1 = _value_and_grad(lambda t: F.cross_entropy(t, y, reduction=reduction), x)
    v2, g2 = _value_and_grad(lambda t: _unfused_ce(t, y, reduction), x)
    np.testing.assert_allclose(v1, v2, rtol=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)
    v3, g3 = _value_and_grad(lambda t: F.nll_loss(t.log_softmax(axis=1), y,
                                                  reduction=reduction), x)
    np.testing.assert_allclose(v1, v3, rtol=1e-13)
    np.testing.assert_allclose(g1, g3, rtol=1e-12, atol=1e-15)


def test_cross_entropy_gradient_is_seed_delta_a_minus_y():
    """Seed 001: for softmax + cross-entropy the output delta is a - y."""
    x, y = _data(1)
    _, g = _value_and_grad(lambda t: F.cross_entropy(t, y, reduction="sum"), x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    a = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(x.shape[1])[y]
    np.testing.assert_allclose(g, a - onehot, rtol=1e-13, atol=1e-16)
    _, gm = _value_and_grad(lambda t: F.cross_entropy(t, y), x)  # mean: (a - y) / N
    np.testing.assert_allclose(gm, (a - onehot) / len(y), rtol=1e-13, atol=1e-16)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 6), k=st.integers(0, 2),
       reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 10**6))
def test_cross_entropy_any_shape_matches_composition(n, c, k, reduction, seed):
    """(N, C, d1, ...) inputs equal moving C last and applying the 2-d loss."""
    rng = np.random.default_rng(seed)
    extra = tuple(rng.integers(1, 4, size=k))
    x = rng.normal(size=(n, c) + extra)
    y = rng.integers(0, c, size=(n,) + extra)
    v1, g1 = _value_and_grad(lambda t: F.cross_entropy(t, y, reduction=reduction), x)
    x2 = np.moveaxis(x, 1, -1).reshape(-1, c)

    def flat(t):
        return _unfused_ce(t, y.reshape(-1), reduction)

    v2, g2 = _value_and_grad(flat, x2)
    np.testing.assert_allclose(v1.reshape(-1), np.reshape(v2, -1), rtol=1e-12)
    np.testing.assert_allclose(np.moveaxis(g1, 1, -1).reshape(-1, c), g2, rtol=1e-11,
                               atol=1e-14)


def test_cross_entropy_stable_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [-3e38, 3e38, 0.0], [1000.0, 1000.0, 1000.0]],
                 dtype=np.float32)
    y = np.array([1, 1, 2])
    t = rg.tensor(x, requires_grad=True)
    loss = F.cross_entropy(t, y, reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(loss.data, [1e4, 0.0, np.log(3)], rtol=1e-6)
    assert np.all(np.isfinite(t.grad.data))
    np.testing.assert_allclose(t.grad.data[0], [1, -1, 0], atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_every_loss(reduction):
    rng = np.random.default_rng(3)
    x, y = _data(2)
    w = rng.uniform(0.5, 2, size=x.shape[1])
    prob = rng.uniform(0.05, 0.95, size=(4, 3))
    target = rng.uniform(0, 1, size=(4, 3))
    soft = rng.dirichlet(np.ones(x.shape[1]), size=x.shape[0])
    y_ign = y.copy()
    y_ign[1] = -100
    cases = [
        (lambda t: F.cross_entropy(t, y, reduction=reduction), x),
        (lambda t: F.cross_entropy(t, y_ign, weight=w, reduction=reduction), x),
        (lambda t: F.cross_entropy(t, soft, weight=w, reduction=reduction), x),
        (lambda t: F.cross_entropy(t, y_ign, weight=w, reduction=reduction,
                                   label_smoothing=0.25), x),
        (lambda t: F.nll_loss(t, y_ign, weight=w, reduction=reduction), x),
        (lambda t: F.mse_loss(t, target, reduction=reduction), prob),
        (lambda t: F.binary_cross_entropy(t, target, weight=w[:3], reduction=reduction), prob),
        (lambda t: F.binary_cross_entropy_with_logits(
            t, target, weight=w[:3], pos_weight=w[1:], reduction=reduction), x[:4, :3] * 3),
    ]
    for fn, a in cases:
        assert rg.gradcheck(fn, [_t(a)], atol=1e-7, rtol=1e-6)
    # gradients with respect to the target where the loss has one
    for fn, a in [(lambda t: F.mse_loss(_t(prob, False), t, reduction=reduction), target),
                  (lambda t: F.binary_cross_entropy(_t(prob, False), t, reduction=reduction),
                   target),
                  (lambda t: F.binary_cross_entropy_with_logits(
                      _t(x[:4, :3], False), t, pos_weight=w[:3], reduction=reduction), target),
                  (lambda t: F.cross_entropy(_t(x, False), t, reduction=reduction), soft),
                  (lambda t: F.cross_entropy(_t(x, False), t, weight=w, reduction=reduction,
                                             label_smoothing=0.3), soft)]:
        assert rg.gradcheck(fn, [_t(a)], atol=1e-7, rtol=1e-6)


# ----------------------------------------------------------------------------- vs torch
def _torch_case(torch, name, reduction, seed=0):
    """(retrograd loss fn, torch loss fn, input, target) for one configuration."""
    rng = np.random.default_rng(seed)
    TF = torch.nn.functional
    x, y = _data(seed, n=5, c=4)
    w = rng.uniform(0.5, 2, size=4)
    p = rng.uniform(0.01, 0.99, size=(5, 4))
    tb = rng.integers(0, 2, size=(5, 4)).astype(np.float64)
    soft = rng.dirichlet(np.ones(4), size=5)
    y3 = rng.integers(0, 4, size=(5, 2, 3))
    x3 = rng.normal(size=(5, 4, 2, 3))
    y_ign = y.copy()
    y_ign[[0, 3]] = -100
    tt = torch.from_numpy
    return {
        "ce": (lambda a: F.cross_entropy(a, y, reduction=reduction),
               lambda a: TF.cross_entropy(a, tt(y), reduction=reduction), x),
        "ce_weight_ignore": (
            lambda a: F.cross_entropy(a, y_ign, weight=w, reduction=reduction),
            lambda a: TF.cross_entropy(a, tt(y_ign), weight=tt(w), reduction=reduction), x),
        "ce_kdim": (lambda a: F.cross_entropy(a, y3, reduction=reduction),
                    lambda a: TF.cross_entropy(a, tt(y3), reduction=reduction), x3),
        "ce_soft": (lambda a: F.cross_entropy(a, soft, weight=w, reduction=reduction),
                    lambda a: TF.cross_entropy(a, tt(soft), weight=tt(w), reduction=reduction),
                    x),
        "ce_unbatched": (lambda a: F.cross_entropy(a, np.array(2), reduction=reduction),
                         lambda a: TF.cross_entropy(a, torch.tensor(2), reduction=reduction),
                         x[0]),
        "ce_smooth": (
            lambda a: F.cross_entropy(a, y_ign, weight=w, reduction=reduction,
                                      label_smoothing=0.2),
            lambda a: TF.cross_entropy(a, tt(y_ign), weight=tt(w), reduction=reduction,
                                       label_smoothing=0.2), x),
        "ce_smooth_kdim": (
            lambda a: F.cross_entropy(a, y3, reduction=reduction, label_smoothing=0.1),
            lambda a: TF.cross_entropy(a, tt(y3), reduction=reduction, label_smoothing=0.1),
            x3),
        "ce_soft_smooth": (
            lambda a: F.cross_entropy(a, soft, weight=w, reduction=reduction,
                                      label_smoothing=0.3),
            lambda a: TF.cross_entropy(a, tt(soft), weight=tt(w), reduction=reduction,
                                       label_smoothing=0.3), x),
        "nll": (lambda a: F.nll_loss(a, y_ign, weight=w, reduction=reduction),
                lambda a: TF.nll_loss(a, tt(y_ign), weight=tt(w), reduction=reduction), x),
        "mse": (lambda a: F.mse_loss(a, p, reduction=reduction),
                lambda a: TF.mse_loss(a, tt(p), reduction=reduction), x),
        "bce": (lambda a: F.binary_cross_entropy(a, tb, weight=w, reduction=reduction),
                lambda a: TF.binary_cross_entropy(a, tt(tb), weight=tt(w), reduction=reduction),
                p),
        "bce_logits": (
            lambda a: F.binary_cross_entropy_with_logits(a, p, weight=w, pos_weight=w[::-1],
                                                         reduction=reduction),
            lambda a: TF.binary_cross_entropy_with_logits(
                a, tt(p), weight=tt(w), pos_weight=tt(w[::-1].copy()), reduction=reduction),
            x * 10),
    }[name]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["ce", "ce_weight_ignore", "ce_kdim", "ce_soft",
                                  "ce_unbatched", "ce_smooth", "ce_smooth_kdim",
                                  "ce_soft_smooth", "nll", "mse", "bce", "bce_logits"])
def test_matches_torch(torch, name, reduction):
    ours, theirs, x = _torch_case(torch, name, reduction)
    v, g = _value_and_grad(ours, x)
    tx = torch.tensor(x, requires_grad=True)
    tv = theirs(tx)
    tv.backward(torch.ones_like(tv))
    np.testing.assert_allclose(v, tv.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-11, atol=1e-15)


def test_modules_match_torch_float32(torch):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 5)).astype(np.float32) * 30
    y = rng.integers(0, 5, size=8)
    yb = rng.integers(0, 2, size=(8, 5)).astype(np.float32)
    pairs = [(nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), y),
             (nn.CrossEntropyLoss(weight=[1, 2, 3, 4, 5.0], reduction="sum"),
              torch.nn.CrossEntropyLoss(weight=torch.tensor([1, 2, 3, 4, 5.0]),
                                        reduction="sum"), y),
             (nn.BCEWithLogitsLoss(pos_weight=np.full(5, 3.0, np.float32)),
              torch.nn.BCEWithLogitsLoss(pos_weight=torch.full((5,), 3.0)), yb),
             (nn.MSELoss(reduction="none"), torch.nn.MSELoss(reduction="none"), yb)]
    for ours, theirs, target in pairs:
        t = rg.tensor(x, requires_grad=True)
        out = ours(t, target)
        assert out.dtype == np.float32
        out.sum().backward()
        tx = torch.tensor(x, requires_grad=True)
        tout = theirs(tx, torch.from_numpy(np.asarray(target)))
        tout.sum().backward()
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=2e-5, atol=1e-5)
        np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=2e-4, atol=1e-6)
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_bce_clamps_log_at_minus_100(torch):
    x = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    v, g = _value_and_grad(lambda t: F.binary_cross_entropy(t, y, reduction="none"), x)
    np.testing.assert_array_equal(v, [100.0, 100.0, 0.0, 0.0])
    tx = torch.tensor(x, requires_grad=True)
    tv = torch.nn.functional.binary_cross_entropy(tx, torch.tensor(y), reduction="none")
    tv.sum().backward()
    np.testing.assert_array_equal(v, tv.detach().numpy())
    # the floor of x (1 - x) in the gradient is PyTorch's float constant 1e-12 (also in
    # float64): the same bits at x = 0 and 1
    np.testing.assert_array_equal(g, tx.grad.numpy())


def test_bce_with_logits_stable():
    x = np.array([-1000.0, 1000.0, 0.0, 50.0])
    y = np.array([1.0, 0.0, 0.5, 1.0])
    v, g = _value_and_grad(lambda t: F.binary_cross_entropy_with_logits(t, y, reduction="none"),
                           x)
    np.testing.assert_allclose(v, [1000.0, 1000.0, np.log(2), np.log1p(np.exp(-50.0))],
                               rtol=1e-12)
    np.testing.assert_allclose(g, [-1.0, 1.0, 0.0, -1 / (1 + np.exp(50.0))], rtol=1e-12,
                               atol=1e-15)  # sigmoid(x) - y, as PyTorch


# ----------------------------------------------------------------------------- errors
def test_label_out_of_range_names_label_and_classes():
    x = rg.randn(3, 4)
    with pytest.raises(ValueError, match=r"cross_entropy: label 7 is outside \[0, 4\).*C=4"):
        F.cross_entropy(x, [0, 7, 1])
    with pytest.raises(ValueError, match=r"label -1 is outside \[0, 4\)"):
        nn.CrossEntropyLoss()(x, rg.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match=r"nll_loss: label 4 is outside \[0, 4\)"):
        F.nll_loss(x, [4, 0, 0])
    # every signed integer type (longlong is a distinct dtype from int64 on some platforms)
    for dt in (np.int8, np.int16, np.int32, np.int64, np.longlong, np.intc):
        with pytest.raises(ValueError, match=r"label -1 is outside \[0, 4\)"):
            F.cross_entropy(x, np.array([0, -1, 1], dtype=dt))


def test_bad_targets_and_arguments():
    x = rg.randn(3, 4)
    with pytest.raises(TypeError, match=r"cross_entropy: target must hold integer class "
                                        r"indices.*float32"):
        F.cross_entropy(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"shape \(3, 4\).*target of shape \(3,\), got "
                                         r"\(3, 1\)"):
        F.cross_entropy(x, np.zeros((3, 1), np.int64))
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.cross_entropy(x, [0, 1, 2], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(3, 4\) and target shape "
                                         r"\(3, 1\) differ"):
        F.mse_loss(x, np.zeros((3, 1), np.float32))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, [0, 1, 2], reduction="max")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        nn.CrossEntropyLoss(label_smoothing=1.5)(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"probability in \[0, 1\], got 1.5"):
        F.binary_cross_entropy(rg.tensor([0.5, 1.5]), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"probability in \[0, 1\], got nan"):  # as torch
        F.binary_cross_entropy(rg.tensor([0.5, np.nan, 0.2]), [0.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="floating-point"):
        F.cross_entropy(rg.tensor([[1, 2]]), [0])
    with pytest.raises(TypeError, match="must be a Tensor"):
        F.mse_loss(np.zeros(3), np.zeros(3))


def test_all_ignored_mean_is_nan_as_torch():
    out = F.cross_entropy(rg.randn(2, 3), [-100, -100])
    assert np.isnan(out.item())


def test_loss_module_weight_is_a_buffer():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0])
    assert list(loss.state_dict()) == ["weight"]
    assert list(nn.MSELoss().state_dict()) == []


def test_ignore_index_inside_the_class_range(torch):
    x, y = _data(4)
    y[2] = 1
    v, g = _value_and_grad(lambda t: F.cross_entropy(t, y, ignore_index=1), x)
    tx = torch.tensor(x, requires_grad=True)
    tv = torch.nn.functional.cross_entropy(tx, torch.from_numpy(y), ignore_index=1)
    tv.backward()
    np.testing.assert_allclose(v, tv.item(), rtol=1e-13)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_and_regression_losses_equal_their_compositions(reduction):
    rng = np.random.default_rng(9)
    p = rng.uniform(0.05, 0.95, size=(5, 3))
    z = rng.normal(size=(5, 3)) * 3
    y = rng.uniform(0, 1, size=(5, 3))
    w = rng.uniform(0.5, 2, size=3)
    pw = rng.uniform(0.5, 2, size=3)

    def red(t):
        return {"mean": t.mean(), "sum": t.sum(), "none": t}[reduction]

    pairs = [
        (lambda t: F.mse_loss(t, y, reduction=reduction), lambda t: red((t - y) ** 2), p),
        (lambda t: F.binary_cross_entropy(t, y, weight=w, reduction=reduction),
         lambda t: red(-(y * t.log() + (1 - y) * (1 - t).log()) * w), p),
        (lambda t: F.binary_cross_entropy_with_logits(t, y, weight=w, pos_weight=pw,
                                                      reduction=reduction),
         lambda t: red(-(pw * y * t.sigmoid().log() + (1 - y) * (1 - t.sigmoid()).log()) * w),
         z),
    ]
    for fused, composed, x in pairs:
        v1, g1 = _value_and_grad(fused, x)
        v2, g2 = _value_and_grad(composed, x)
        np.testing.assert_allclose(v1, v2, rtol=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.uint64])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_grad_same_for_every_label_dtype(dtype, reduction):
    # The backward subtracts at flat indices for signed labels and at (row, label) pairs
    # otherwise; both must give the gradient of the explicit softmax-minus-onehot formula.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 4))
    y = rng.integers(0, 4, 7)
    t = rg.tensor(x, requires_grad=True)
    out = F.cross_entropy(t, rg.tensor(y.astype(dtype)), reduction=reduction)
    up = np.linspace(0.5, 2.0, 7) if reduction == "none" else 1.0
    out.backward(up if reduction == "none" else None)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(7), y] -= 1
    want = p * (np.asarray(up)[:, None] if reduction == "none" else 1 / 7)
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12, atol=1e-14)
