"""Gradients at ties and kinks, chosen as PyTorch does (and documented in the ops).

- ``max``/``min`` reductions split the gradient evenly among tied extremes (``amax``);
- ``maximum(a, b)``/``minimum`` give each side half at a tie;
- ``relu'(0) = 0`` (as in the seeds), ``abs'(0) = 0``, ``clip`` passes the gradient at its
  bounds, ``leaky_relu`` uses the slope at 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg

TIED = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), (1,)])
@pytest.mark.parametrize("op", ["max", "min"])
def test_reduction_ties_share_the_gradient_evenly(op, axis):
    x = rg.tensor(TIED, dtype=rg.float64, requires_grad=True)
    getattr(x, op)(axis=axis).sum().backward()
    ref = TIED.max(axis=axis, keepdims=True) if op == "max" else TIED.min(axis=axis,
                                                                           keepdims=True)
    mask = TIED == ref
    want = mask / mask.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-15)
    assert np.isclose(x.grad.numpy().sum(), np.size(ref))  # each output sends exactly 1


def test_full_max_tie_values():
    x = rg.tensor([[1.0, 3.0, 3.0], [2.0, 3.0, 0.0]], dtype=rg.float64, requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1 / 3, 1 / 3], [0, 1 / 3, 0]])


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["amax", "amin"])
def test_reduction_ties_match_pytorch(torch, op, axis, keepdims):
    x = rg.tensor(TIED, dtype=rg.float64, requires_grad=True)
    tx = torch.tensor(TIED, requires_grad=True)
    dims = (0, 1) if axis is None else axis
    out = getattr(x, op[1:])(axis=axis, keepdims=keepdims)
    tout = getattr(torch, op)(tx, dim=dims, keepdim=keepdims)
    g = np.arange(1.0, out.numpy().size + 1).reshape(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_elementwise_tie_gives_each_side_half(torch, op):
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 0.0, 5.0])
    x = rg.tensor(a, dtype=rg.float64, requires_grad=True)
    y = rg.tensor(b, dtype=rg.float64, requires_grad=True)
    getattr(rg, op)(x, y).sum().backward()
    win = (a > b) if op == "maximum" else (a < b)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(a == b, 0.5, win * 1.0))
    np.testing.assert_array_equal(y.grad.numpy(), np.where(a == b, 0.5, (~win) * 1.0))
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    getattr(torch, op)(tx, ty).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())


def test_maximum_tie_with_broadcast_and_constant():
    x = rg.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=rg.float64, requires_grad=True)
    rg.maximum(x, 0.0).sum().backward()  # relu via maximum: ties at 0 give 1/2
    np.testing.assert_array_equal(x.grad.numpy(), [[0.5, 1.0], [1.0, 0.5]])


KINKS = np.array([-1.0, 0.0, 1.0, -0.5, 0.7, 2.0])


@pytest.mark.parametrize("name", ["relu", "abs", "clip", "leaky_relu"])
def test_gradient_at_kinks_matches_pytorch(torch, name):
    x = rg.tensor(KINKS, dtype=rg.float64, requires_grad=True)
    tx = torch.tensor(KINKS, requires_grad=True)
    if name == "clip":  # values exactly at the bounds -0.5 and 0.7
        out, tout = x.clip(-0.5, 0.7), torch.clamp(tx, -0.5, 0.7)
    elif name == "leaky_relu":
        out, tout = x.leaky_relu(0.2), torch.nn.functional.leaky_relu(tx, 0.2)
    else:
        out, tout = getattr(x, name)(), getattr(tx, name)()
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_relu_derivative_at_zero_is_zero():
    x = rg.tensor([0.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.item() == 0.0


def test_argmax_argmin_first_of_ties_and_not_differentiable():
    x = rg.tensor(TIED, requires_grad=True)
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), [1, 0])
    np.testing.assert_array_equal(rg.argmin(x, axis=0).numpy(), [0, 1, 1])
    assert x.argmax().item() == 1
    assert x.argmax().dtype == np.int64 and not x.argmax().requires_grad
    assert x.argmax(axis=1, keepdims=True).shape == (2, 1)


@pytest.mark.parametrize("layout", [None, (0, 2, 3, 1), (1, 0, 2, 3), "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_large_maps_in_every_memory_order(layout, dtype):
    # ReLU's fast path (maximum against a row of zeros, on the array's memory as long rows)
    # must give np.maximum(x, 0) bit for bit: -0.0 -> +0.0, NaN stays, inf stays
    from retrograd.ops.activation import relu_

    rng = np.random.default_rng(0)
    shape = (8, 16, 8, 8)  # 8192 elements: the fast path
    base = rng.standard_normal(shape).astype(dtype)
    base.flat[:6] = [-0.0, 0.0, np.nan, -np.inf, np.inf, -1.0]
    if layout == "strided":
        x = np.repeat(base, 2, axis=3)[..., ::2]  # not dense in any order: the plain path
    elif layout is None:
        x = base
    else:
        x = np.ascontiguousarray(base.transpose(layout)).transpose(np.argsort(layout))
    want = np.maximum(x, 0)
    t = rg.Tensor._wrap(x, True)
    out = t.relu()
    assert out.data.strides == want.strides or layout == "strided"  # memory order kept
    np.testing.assert_array_equal(out.numpy(), want)
    assert not np.signbit(out.numpy()).any()
    out.backward(rg.Tensor._wrap(np.ones(shape, dtype=dtype)))
    # the gradient passes where the output is not <= 0: x > 0, and NaN (as PyTorch)
    np.testing.assert_array_equal(t.grad.numpy(), (~(want <= 0)).astype(dtype))
    y = x.copy(order="K")
    assert relu_(y) is y
    np.testing.assert_array_equal(y, want)
    assert not np.signbit(y).any()


SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.0, -3.0, 1e38, -1e38]


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0, 1, 0.0, -0.5, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_bits_at_special_values_and_every_slope(dtype, slope):
    # The forward and the VJP take a faster route than np.where for 0 < slope <= 1: the
    # same bits as PyTorch's definition (x if x > 0 else slope x), specials included
    rng = np.random.default_rng(3)
    xs = np.concatenate([np.array(SPECIALS), rng.normal(size=200)]).astype(dtype)
    grad = rng.normal(size=xs.shape).astype(dtype)
    grad[:4] = [np.inf, -0.0, np.nan, 1.0]
    x = rg.tensor(xs, requires_grad=True)
    out = rg.leaky_relu(x, slope)
    out.backward(rg.tensor(grad))
    s = dtype(slope)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0, as the op computes it
        want = np.where(xs > 0, xs, xs * s)
        want_grad = np.where(xs > 0, grad, grad * s)
    assert out.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(out.numpy().view(np.uint8), want.view(np.uint8))
    np.testing.assert_array_equal(x.grad.numpy().view(np.uint8), want_grad.view(np.uint8))


def test_leaky_relu_matches_pytorch_at_special_values(torch):
    xs = np.array(SPECIALS, dtype=np.float32)
    x = rg.tensor(xs, requires_grad=True)
    tx = torch.tensor(xs, requires_grad=True)
    out, tout = rg.leaky_relu(x, 0.01), torch.nn.functional.leaky_relu(tx, 0.01)
    g = np.linspace(-2, 2, xs.size).astype(np.float32)
    out.backward(rg.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
