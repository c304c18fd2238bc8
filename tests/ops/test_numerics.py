"""Numerics: stability for huge inputs, no floating-point warnings for finite input, and
VJPs that keep an exactly-zero incoming gradient zero (``where`` masking a bad branch)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import CASES, NONDIFF_LAST, Case, make_inputs

import retrograd as rg

BIG = np.array([-1e4, -1000.0, -1.0, 0.0, 1.0, 1000.0, 1e4])


@pytest.mark.parametrize("dtype", [rg.float32, rg.float64])
def test_sigmoid_and_tanh_are_stable_for_huge_inputs(dtype):
    x = rg.tensor(BIG, dtype=dtype, requires_grad=True)
    with np.errstate(all="raise"):
        s = x.sigmoid()
        s.sum().backward()
    sg = x.grad.numpy()
    want = np.array([0, 0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-1)), 1, 1])
    np.testing.assert_allclose(s.numpy(), want, rtol=1e-6, atol=0)
    np.testing.assert_allclose(sg, want * (1 - want), rtol=1e-6, atol=0)
    x.grad = None
    with np.errstate(all="raise"):
        t = x.tanh()
        t.sum().backward()
    np.testing.assert_allclose(t.numpy(), np.tanh(BIG), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(x.grad.numpy()[[0, 1, 5, 6]], 0)


@pytest.mark.parametrize("dtype", [rg.float32, rg.float64])
def test_log_softmax_and_logsumexp_are_stable_for_huge_inputs(dtype):
    x = rg.tensor([[1000.0, 0.0, -1000.0], [1e4, 1e4, -1e4]], dtype=dtype, requires_grad=True)
    with np.errstate(all="raise"):
        ls = x.log_softmax(axis=1)
        ls.sum().backward()
    log2 = np.log(2)
    np.testing.assert_allclose(ls.numpy(), [[0, -1000, -2000], [-log2, -log2, -2e4 - log2]],
                               rtol=1e-6)
    # d/dx sum_i log_softmax_i = 1 - n softmax
    np.testing.assert_allclose(x.grad.numpy(), [[-2, 1, 1], [-0.5, -0.5, 1]], atol=1e-6)
    x.grad = None
    with np.errstate(all="raise"):
        lse = x.logsumexp(axis=1)
        lse.sum().backward()
        sm = x.softmax(axis=1)
        small = rg.logsumexp(rg.tensor([-1e4, -1e4], dtype=dtype), axis=0)
    np.testing.assert_allclose(lse.numpy(), [1000, 1e4 + log2], rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-6)
    np.testing.assert_allclose(sm.numpy(), [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-6)
    assert small.item() == pytest.approx(-1e4 + log2)


def test_logsumexp_of_minus_inf_row_is_minus_inf_without_nan():
    x = rg.tensor([[-np.inf, -np.inf], [0.0, 0.0]], dtype=rg.float64)
    with np.errstate(all="raise"):
        out = x.logsumexp(axis=1)
    assert out.numpy()[0] == -np.inf and out.numpy()[1] == pytest.approx(np.log(2))


# Extreme but finite values for the whole op table: no warning may escape any op.
EXTREME = np.array([-1e300, -1e4, -1000.0, -1.0, -1e-3, 0.0, 1e-300, 1e-3, 1.0, 1000.0, 1e4,
                    1e300])
POSITIVE = np.array([1e-300, 1e-3, 1.0, 1000.0, 1e4, 1e300])


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_no_floating_point_warning_for_finite_input(case: Case, data: st.DataObject) -> None:
    shapes = data.draw(case.shapes, label="shapes")
    params = data.draw(case.params(shapes), label="params")
    if not case.valid(shapes, params):
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    arrays = make_inputs(case, rng, shapes)
    doms = case.domain if isinstance(case.domain, tuple) else (case.domain,) * len(shapes)
    k = len(arrays) - (case.name in NONDIFF_LAST)
    for i in range(k):
        arrays[i] = rng.choice(POSITIVE if doms[i] == "positive" else EXTREME, shapes[i])
    with np.errstate(all="raise"):
        ts = [rg.tensor(a, dtype=rg.float64, requires_grad=True) for a in arrays[:k]]
        out = case.fn(*ts, *arrays[k:], **params)
        out.backward(np.ones(out.shape))


def _grad(fn, x):
    t = rg.tensor(x, dtype=rg.float64, requires_grad=True)
    fn(t).sum().backward()
    return t.grad.numpy()


def test_where_masking_sqrt_log_div_gives_zero_not_nan():
    x = np.array([-1.0, 0.0, 4.0])
    with np.errstate(all="raise"):
        g = _grad(lambda t: rg.where(t > 0, t.sqrt(), 0.0), x)
        np.testing.assert_array_equal(g, [0.0, 0.0, 0.25])
        g = _grad(lambda t: rg.where(t > 0, t.log(), 0.0), x)
        np.testing.assert_array_equal(g, [0.0, 0.0, 0.25])
        g = _grad(lambda t: rg.where(t != 0, 1.0 / t, 0.0), x)
        np.testing.assert_array_equal(g, [-1.0, 0.0, -1 / 16])
        g = _grad(lambda t: rg.where(t != 0, t / t, 0.0), x)  # both sides of div at 0
        np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
        g = _grad(lambda t: rg.where(t > 0, t ** 0.5, 0.0), x)
        np.testing.assert_array_equal(g, [0.0, 0.0, 0.25])


def test_where_masking_with_tensor_condition_and_broadcast():
    x = rg.tensor([[0.0, 1.0], [4.0, -2.0]], dtype=rg.float64, requires_grad=True)
    y = rg.where(x > 0, x.log(), rg.zeros(1, 2, dtype=rg.float64))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0], [0.25, 0.0]])


def test_genuine_infinities_still_propagate():
    # only an exactly-zero incoming gradient is masked: d(sqrt x)/dx at 0 is still inf
    np.testing.assert_array_equal(_grad(lambda t: t.sqrt(), np.array([0.0])), [np.inf])
    np.testing.assert_array_equal(_grad(lambda t: t.log(), np.array([0.0])), [np.inf])


@pytest.mark.parametrize("shape", [(), (1,), (2, 1)])
def test_division_by_zero_on_any_rank_gives_ieee_values_and_masked_zero_grads(shape):
    x = rg.tensor(np.full(shape, 1.5), dtype=rg.float64, requires_grad=True)
    y = rg.tensor(np.zeros(shape), dtype=rg.float64, requires_grad=True)
    with np.errstate(all="raise"):
        q = x / y
        assert np.all(q.numpy() == np.inf)
        rg.where(y != 0, q, 0.0).sum().backward()
    assert np.all(x.grad.numpy() == 0) and np.all(y.grad.numpy() == 0)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("c", [2, 3, 10, 40])
def test_softmax_rows_fast_path_equals_the_general_one_with_infinities_and_nan(op, c):
    # (N, C) along axis 1 takes the short-axis forms of ops/_reduce.py; the same data
    # transposed, along axis 0, takes NumPy's reductions: values and gradients must agree,
    # NaN and infinities included
    rng = np.random.default_rng(c)
    a = rng.normal(size=(300, c)) * 5
    a[0] = -np.inf
    a[1, 0] = np.inf
    a[2, -1] = np.nan
    a[3, :] = 1e4
    g = rng.normal(size=a.shape)
    x, xt = rg.tensor(a, requires_grad=True), rg.tensor(a.T.copy(), requires_grad=True)
    fast, general = getattr(x, op)(axis=1), getattr(xt, op)(axis=0)
    fast.backward(g)
    general.backward(g.T.copy())
    np.testing.assert_allclose(fast.numpy(), general.numpy().T, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy().T, rtol=1e-10, atol=1e-12)
