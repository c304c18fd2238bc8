"""Pooling: forward and backward against PyTorch and finite differences; seed 004's rules
(max routes the gradient to the (first) maximum, mean spreads it, the total is kept)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F

# (shape, kernel, stride, padding, dilation)
MAX_CASES = [
    ((2, 3, 8, 8), 2, None, 0, 1),
    ((1, 2, 7, 9), 2, None, 0, 1),       # 2x2 fast path on odd sizes (last row/col unused)
    ((1, 2, 7, 9), 3, 2, 1, 1),          # odd sizes, padding, overlapping windows
    ((2, 2, 6, 6), 3, 1, 0, 1),          # stride 1: every input in up to 9 windows
    ((2, 3, 9, 7), (2, 3), (1, 2), (1, 1), 1),
    ((1, 1, 9, 9), 3, 2, 0, 2),          # dilation
    ((3, 4, 5, 5), 2, 3, 0, 1),          # stride > kernel: some inputs in no window
]
AVG_CASES = [(s, k, st, p) for s, k, st, p, d in MAX_CASES if d == 1]


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _compare(torch, fn, tfn, x, channels_last=False):
    xa = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) \
        if channels_last else x
    xt = rg.tensor(x, dtype=rg.float64, requires_grad=True)
    xt.data = xa
    out = fn(xt)
    up = np.random.default_rng(9).standard_normal(out.shape)
    out.backward(rg.tensor(up, dtype=rg.float64))
    tx = torch.tensor(x, requires_grad=True)
    tout = tfn(tx)
    tout.backward(torch.tensor(up))
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    return xt.grad.numpy(), up


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape,k,s,p,d", MAX_CASES)
def test_max_pool2d_matches_torch(torch, shape, k, s, p, d, channels_last):
    x = np.random.default_rng(0).standard_normal(shape)
    grad, up = _compare(torch, lambda t: F.max_pool2d(t, k, s, p, d),
                        lambda t: torch.nn.functional.max_pool2d(t, k, s, p, d), x,
                        channels_last)
    # seed 004: the total gradient is preserved (each output sends all of it to one input)
    assert np.isclose(grad.sum(), up.sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape,k,s,p", AVG_CASES)
def test_avg_pool2d_matches_torch(torch, shape, k, s, p, channels_last):
    x = np.random.default_rng(1).standard_normal(shape)
    grad, up = _compare(torch, lambda t: F.avg_pool2d(t, k, s, p),
                        lambda t: torch.nn.functional.avg_pool2d(t, k, s, p), x, channels_last)
    kh, kw = _pair(k)
    sh, sw = _pair(s if s is not None else k)
    if p == 0 and sh <= kh and sw <= kw and (shape[2] - kh) % sh == 0 \
            and (shape[3] - kw) % sw == 0:
        # every input is covered and nothing goes to padding: the total is kept
        assert np.isclose(grad.sum(), up.sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,k,s,p,d", MAX_CASES[:5])
def test_max_pool2d_gradcheck(shape, k, s, p, d):
    # a permutation: all values distinct and far apart, so no tie is near a kink
    x = np.random.default_rng(2).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    assert rg.gradcheck(lambda t: (F.max_pool2d(t, k, s, p, d) ** 2).sum(),
                        [rg.tensor(x, dtype=rg.float64, requires_grad=True)])


@pytest.mark.parametrize("shape,k,s,p", AVG_CASES[:4])
def test_avg_pool2d_gradcheck(shape, k, s, p):
    x = np.random.default_rng(3).standard_normal(shape)
    assert rg.gradcheck(lambda t: (F.avg_pool2d(t, k, s, p) ** 2).sum(),
                        [rg.tensor(x, dtype=rg.float64, requires_grad=True)])


def test_max_pool_routes_to_maximum_and_mean_pool_spreads_seed_004():
    # the figures of seed 004: a 4x4 map, 2x2 windows, gradients [[1, 2], [3, 4]]
    x = rg.tensor([[[[1.0, 5.0, 2.0, 0.0],
                     [3.0, 4.0, 7.0, 6.0],
                     [0.0, 1.0, 1.0, 2.0],
                     [9.0, 2.0, 3.0, 8.0]]]], requires_grad=True)
    g = rg.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    F.max_pool2d(x, 2).backward(g)
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 1, 0, 0],
                                                          [0, 0, 2, 0],
                                                          [0, 0, 0, 0],
                                                          [3, 0, 0, 4]])
    x.grad = None
    F.avg_pool2d(x, 2).backward(g)
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.25, 0.25, 0.5, 0.5],
                                                          [0.25, 0.25, 0.5, 0.5],
                                                          [0.75, 0.75, 1.0, 1.0],
                                                          [0.75, 0.75, 1.0, 1.0]])


def test_max_pool_ties_go_to_the_first(torch):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 1, 0] = 1.0  # a tie inside the first window, first in scan order
    xt = rg.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    want = np.zeros((4, 4))
    want[1, 0] = 1  # the tie at (1, 0) and (1, 1): the first, (1, 0), takes it
    want[2, 2] = want[2, 0] = want[0, 2] = 1  # all-zero windows: their first element
    np.testing.assert_array_equal(xt.grad.numpy()[0, 0], want)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 2).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape,k,s,p,d", MAX_CASES)
def test_max_pool_propagates_nan_and_routes_its_gradient_as_torch(torch, shape, k, s, p, d,
                                                                  channels_last):
    # PyTorch: a NaN in a window is its maximum (the last NaN in scan order takes the
    # gradient); windows without NaN keep the first maximum. NaNs at about a tenth of the
    # positions put 0, 1 or several in the windows, at every offset.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.1] = np.nan
    x[..., 0, 1] = np.nan  # the second element of the first window (and the first's row)
    xa = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) \
        if channels_last else x
    xt = rg.tensor(x, dtype=rg.float64, requires_grad=True)
    xt.data = xa
    out = F.max_pool2d(xt, k, s, p, d)
    up = rng.standard_normal(out.shape)
    out.backward(rg.tensor(up))
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.max_pool2d(tx, k, s, p, d)
    tout.backward(torch.tensor(up))
    assert np.isnan(tout.detach().numpy()).any()
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())  # NaN where NaN
    # the same inputs receive gradient (overlapping windows add theirs in another order)
    np.testing.assert_array_equal(xt.grad.numpy() != 0, tx.grad.numpy() != 0)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_overlapping_windows_accumulate():
    x = rg.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    # windows' maxima: 4, 5, 7, 8 -> each gets one; the centre 4 is max of only its window
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    x2 = rg.tensor(np.full((1, 1, 3, 3), 2.0), requires_grad=True)
    F.avg_pool2d(x2, 2, stride=1).sum().backward()
    # each input gets 1/4 from every window that contains it
    np.testing.assert_array_equal(x2.grad.numpy()[0, 0],
                                  [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    y = rg.tensor(np.array([[[[5.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]),
                  requires_grad=True)
    F.max_pool2d(y, 2, stride=1).sum().backward()
    # the 5 is the maximum of one window; the three all-zero windows pick their first zero
    assert y.grad.numpy()[0, 0, 0, 0] == 1.0 and y.grad.numpy().sum() == 4.0


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("out_size,shape", [(1, (2, 3, 5, 7)), ((2, 3), (1, 2, 6, 9)),
                                            ((3, 2), (2, 2, 7, 5)), (1, (1, 4, 1, 1))])
def test_adaptive_avg_pool2d_matches_torch(torch, out_size, shape, channels_last):
    x = np.random.default_rng(4).standard_normal(shape)
    grad, up = _compare(torch, lambda t: F.adaptive_avg_pool2d(t, out_size),
                        lambda t: torch.nn.functional.adaptive_avg_pool2d(t, out_size), x,
                        channels_last)
    if out_size == 1:
        assert np.isclose(grad.sum(), up.sum())


def test_global_average_pool_gradcheck_and_channels_last():
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5))
    assert rg.gradcheck(lambda t: (nn.AdaptiveAvgPool2d(1)(t) ** 2).sum(),
                        [rg.tensor(x, dtype=rg.float64, requires_grad=True)])
    assert rg.gradcheck(lambda t: (nn.AdaptiveAvgPool2d((2, 3))(t) ** 2).sum(),
                        [rg.tensor(x, dtype=rg.float64, requires_grad=True)])


def test_pool_modules_and_errors():
    m = nn.MaxPool2d(2)
    assert m.stride == (2, 2) and "kernel_size=(2, 2)" in repr(m)
    assert nn.AvgPool2d(3, stride=1)(rg.randn(1, 1, 5, 5)).shape == (1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=\(2, 2\)\).*4-D.*\(3, 8\)"):
        m(rg.randn(3, 8))
    with pytest.raises(ValueError, match=r"MaxPool2d.*\(1, 1, 1, 5\).*smaller than"):
        m(rg.randn(1, 1, 1, 5))
    with pytest.raises(ValueError, match="AvgPool2d.*4-D"):
        nn.AvgPool2d(2)(rg.randn(2, 4, 4))
    with pytest.raises(ValueError, match="AdaptiveAvgPool2d.*4-D"):
        nn.AdaptiveAvgPool2d(1)(rg.randn(2, 4))
    with pytest.raises(ValueError, match="padding"):
        F.max_pool2d(rg.randn(1, 1, 4, 4), 2, padding=2)


# (shape, kernel, stride, padding): odd and even sizes where ceil_mode adds a last window
# that reaches past the (padded) border, or would start in the right padding (dropped)
CEIL_CASES = [
    ((2, 3, 7, 9), 2, None, 0),          # 2x2 on odd sizes: one partial window per row/col
    ((1, 2, 8, 8), 2, None, 0),          # even sizes: the same as floor mode (fast path)
    ((1, 2, 7, 9), 3, 2, 1),
    ((2, 2, 6, 5), 3, 2, 0),
    ((1, 2, 5, 6), (2, 3), (2, 2), (1, 1)),
    ((1, 1, 4, 4), 2, 3, 1),             # a ceil window would start in the right padding
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape,k,s,p", CEIL_CASES)
def test_max_pool2d_ceil_mode_matches_torch(torch, shape, k, s, p, channels_last):
    x = np.random.default_rng(4).standard_normal(shape)
    grad, up = _compare(torch, lambda t: F.max_pool2d(t, k, s, p, ceil_mode=True),
                        lambda t: torch.nn.functional.max_pool2d(t, k, s, p, ceil_mode=True),
                        x, channels_last)
    assert np.isclose(grad.sum(), up.sum(), rtol=1e-12, atol=1e-12)  # seed 004


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("shape,k,s,p", CEIL_CASES)
def test_avg_pool2d_ceil_mode_and_count_include_pad_match_torch(torch, shape, k, s, p,
                                                              ceil_mode, include_pad,
                                                              channels_last):
    x = np.random.default_rng(5).standard_normal(shape)
    _compare(torch, lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, include_pad),
             lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, ceil_mode, include_pad),
             x, channels_last)


@pytest.mark.parametrize("shape,k,s,p", CEIL_CASES[2:5])
def test_ceil_mode_and_count_include_pad_gradcheck(shape, k, s, p):
    x = np.random.default_rng(6).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    assert rg.gradcheck(lambda t: (F.max_pool2d(t, k, s, p, ceil_mode=True) ** 2).sum(),
                        [rg.tensor(x, dtype=rg.float64, requires_grad=True)])
    assert rg.gradcheck(lambda t: (F.avg_pool2d(t, k, s, p, True, False) ** 2).sum(),
                        [rg.tensor(x, dtype=rg.float64, requires_grad=True)])


def test_pool_modules_take_ceil_mode_and_count_include_pad(torch):
    x = np.random.default_rng(7).standard_normal((2, 3, 7, 7))
    ours = nn.Sequential(nn.MaxPool2d(2, ceil_mode=True),
                         nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False))
    theirs = torch.nn.Sequential(torch.nn.MaxPool2d(2, ceil_mode=True),
                                 torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True,
                                                    count_include_pad=False))
    out = ours(rg.tensor(x))
    np.testing.assert_allclose(out.numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-12)
    assert out.shape == (2, 3, 3, 3)  # 7 -> 4 (ceil) -> 3 (ceil: (4 + 2 - 3) / 2 -> 2, + 1)
    assert "ceil_mode=True" in repr(ours[0]) and "count_include_pad=False" in repr(ours[1])
    with pytest.raises(ValueError, match="MaxPool2d: return_indices is not supported"):
        nn.MaxPool2d(2, return_indices=True)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(3, 11), w=st.integers(3, 11), k=st.integers(1, 4), s=st.integers(1, 3),
       d=st.integers(1, 2), pfrac=st.integers(0, 2), ceil_mode=st.booleans(),
       include_pad=st.booleans())
def test_pooling_sizes_values_and_gradients_match_torch_for_any_geometry(
        torch, h, w, k, s, d, pfrac, ceil_mode, include_pad):
    p = min(pfrac, k // 2)
    assume(h + 2 * p - d * (k - 1) - 1 >= 0 and w + 2 * p - d * (k - 1) - 1 >= 0)
    x = np.random.default_rng(h * 100 + w).standard_normal((1, 2, h, w))
    _compare(torch, lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode=ceil_mode),
             lambda t: torch.nn.functional.max_pool2d(t, k, s, p, d, ceil_mode=ceil_mode), x)
    if d == 1:
        _compare(torch, lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, include_pad),
                 lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, ceil_mode, include_pad),
                 x)
