"""rg.grad, rg.value_and_grad and rg.gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg
from retrograd.autograd import Function


def test_grad_of_a_scalar_function():
    df = rg.grad(lambda x: (x ** 3).sum())
    g = df(rg.tensor([2.0, -1.0], dtype=rg.float64))
    assert isinstance(g, rg.Tensor)
    np.testing.assert_array_equal(g.numpy(), [12.0, 3.0])


def test_grad_with_tuple_argnums_and_unused_argument():
    f = lambda x, y, z: (x * y).sum()  # noqa: E731
    gx, gz = rg.grad(f, argnums=(0, 2))(np.array([1.0, 2.0]), np.array([3.0, 4.0]),
                                        np.array([5.0]))
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gz.numpy(), [0.0])  # unused: zeros


def test_grad_does_not_touch_the_callers_tensors():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    rg.grad(lambda t: (t * t).sum())(x)
    assert x.grad is None


def test_value_and_grad():
    v, g = rg.value_and_grad(lambda x, y: (x * y).sum(), argnums=1)(
        rg.tensor([2.0, 3.0]), rg.tensor([4.0, 5.0]))
    assert v.item() == 23.0 and not v.requires_grad
    np.testing.assert_array_equal(g.numpy(), [2.0, 3.0])


def test_grad_works_inside_no_grad():
    with rg.no_grad():
        g = rg.grad(lambda x: (x * x).sum())(rg.tensor([3.0]))
    assert g.item() == 6.0


def test_grad_errors():
    with pytest.raises(TypeError, match="one-element Tensor"):
        rg.grad(lambda x: x * 2)(rg.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="argnums"):
        rg.grad(lambda x: x.sum(), argnums=3)(rg.tensor([1.0]))
    with pytest.raises(TypeError, match="floating-point"):
        rg.grad(lambda x: x.sum())(rg.tensor([1, 2]))


def test_gradcheck_passes_on_correct_gradients():
    x = rg.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    assert rg.gradcheck(lambda t: (t.tanh() * t).sum(axis=1), [x]) is True
    # inputs given as arrays: every floating input is checked
    assert rg.gradcheck(lambda a, b: a @ b, [np.ones((2, 2)), np.ones(2)])


class _WrongSquare(Function):
    """x^2 with a wrong VJP (3x instead of 2x) at index 1 only."""

    def forward(self, x):
        self.save(x)
        return x * x

    def backward(self, grad):
        x = self.saved[0]
        g = 2 * x * grad
        g[1] = 3 * x[1] * grad[1]
        return g


def test_gradcheck_error_names_input_index_and_both_values():
    x = rg.tensor([1.0, 2.0, 3.0], dtype=rg.float64, requires_grad=True)
    c = rg.tensor([0.5], dtype=rg.float64)
    with pytest.raises(rg.GradcheckError) as info:
        rg.gradcheck(lambda a, b: _WrongSquare.apply(a) * b, [x, c])
    msg = str(info.value)
    assert "input 0[1] (value 2.0)" in msg
    assert "analytic 3.0" in msg and "numerical 2.0" in msg  # 0.5 * 3 * 2 vs 0.5 * 2 * 2
    assert isinstance(info.value, AssertionError)


def test_gradcheck_on_a_vector_output_and_int_input():
    idx = np.array([2, 0])
    x = rg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert rg.gradcheck(lambda t, i: t[i] * 2, [x, idx])
