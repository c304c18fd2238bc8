"""``select`` and ``keep`` (ops/_select.py) against ``np.where``, bit for bit: the faster
branch-free forms the ``where`` op uses on large arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retrograd as rg
from retrograd.ops._select import _MIN, keep, select

SPECIALS = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, 5e-324, 1.0, -2.5]
DTYPES = [np.float16, np.float32, np.float64]


def _values(rng, shape, dtype):
    v = rng.normal(size=shape).astype(dtype)
    flat = v.reshape(-1)
    k = min(flat.size, len(SPECIALS))
    with np.errstate(over="ignore", under="ignore"):
        flat[:k] = np.array(SPECIALS[:k]).astype(dtype)
    if dtype == np.float32 and flat.size > 11:
        flat.view(np.uint32)[11] = 0x7FC01234  # a NaN with a payload
    return v


def _bits(a):
    return a.view(f"u{a.dtype.itemsize}")


# Shapes that broadcast together, large enough for the fast path (or not, around _MIN)
SHAPE_SETS = [((64, 64), (64, 64), (64, 64)), ((64, 64), (64,), (64, 64)),
              ((64, 64), (64, 64), (1, 64)), ((64, 1), (1, 64), (64, 64)),
              ((3, 40, 20), (40, 20), (3, 1, 20)), ((2048,), (), (2048,)),
              ((10, 10), (10, 10), (10, 10)), ((1, 64), (64, 1), (64,))]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SHAPE_SETS), st.sampled_from(DTYPES), st.sampled_from(DTYPES),
       st.integers(0, 2**32 - 1), st.permutations(range(3)))
def test_select_is_np_where_bit_for_bit(shapes, da, db, seed, order):
    rng = np.random.default_rng(seed)
    sa, sb, sc = (shapes[i] for i in order)  # every role gets every shape
    a, b = _values(rng, sa, da), _values(rng, sb, db)
    cond = rng.random(sc) > 0.5
    got, want = select(cond, a, b), np.where(cond, a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(_bits(got), _bits(want))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SHAPE_SETS), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1),
       st.booleans())
def test_keep_is_np_where_with_zero(shapes, dtype, seed, where):
    rng = np.random.default_rng(seed)
    sg, _, sc = shapes
    out_shape = np.broadcast_shapes(sg, sc)
    grad = _values(rng, out_shape, dtype)  # a VJP's gradient has the output's shape
    cond = rng.random(sc) > 0.5
    zero = np.zeros((), dtype)
    want = np.where(cond, grad, zero) if where else np.where(cond, zero, grad)
    got = keep(grad, cond, where)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(_bits(got), _bits(want))


def test_large_float_arrays_take_the_bit_path_and_small_ones_np_where(monkeypatch):
    # the property tests above compare with np.where on shapes on both sides of _MIN; here
    # the large case must not call np.where at all (else the speed-up is silently gone),
    # and the small one must
    rng = np.random.default_rng(1)
    big = rng.normal(size=(64, 64)).astype(np.float32)
    small = big[:10, :10].copy()
    assert big.size >= _MIN > small.size
    wants = {}
    for name, a in (("big", big), ("small", small)):
        cond = a > 0
        wants[name] = (cond, np.where(cond, a, -a), np.where(cond, a, np.float32(0)))
    calls = []
    real = np.where

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(np, "where", counting)
    for name, a in (("big", big), ("small", small)):
        cond, want_select, want_keep = wants[name]
        del calls[:]
        np.testing.assert_array_equal(select(cond, a, -a), want_select)
        np.testing.assert_array_equal(keep(a, cond), want_keep)
        assert bool(calls) == (name == "small"), name


def test_python_numbers_keep_np_where_promotion():
    cond = np.arange(4096) % 3 == 0
    a = np.linspace(-1, 1, 4096, dtype=np.float32)
    for b in (0.0, 2, np.float64(0.5)):
        got, want = select(cond, a, b), np.where(cond, a, b)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_incompatible_shapes_name_the_op():
    with pytest.raises(ValueError, match="where"):
        rg.where(np.ones((64, 64), bool), rg.zeros(64, 64), rg.zeros(63, 64))


def test_where_gradient_is_zero_on_the_side_not_chosen_even_for_inf(torch):
    rng = np.random.default_rng(0)
    a = rg.tensor(rng.normal(size=(64, 64)), requires_grad=True)
    b = rg.tensor(rng.normal(size=(64,)), requires_grad=True)
    cond = rng.random((64, 64)) > 0.5
    g = rng.normal(size=(64, 64))
    g[0, :] = np.inf
    g[1, :] = np.nan
    rg.where(cond, a, b).backward(rg.tensor(g))
    ta = torch.tensor(a.numpy(), requires_grad=True)
    tb = torch.tensor(b.numpy(), requires_grad=True)
    torch.where(torch.from_numpy(cond), ta, tb).backward(torch.from_numpy(g))
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    # (b's gradient is a sum over rows: the same terms, summed in another order)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
