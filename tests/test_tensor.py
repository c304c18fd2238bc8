"""Tensor basics: construction, dtypes, conversions, creation functions, errors."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg


# ------------------------------------------------------------------ dtypes
def test_python_floats_default_to_float32_and_ints_to_int64():
    assert rg.tensor([1.0, 2.0]).dtype == np.float32 == rg.float32
    assert rg.tensor(3.0).dtype == rg.float32
    assert rg.tensor([1, 2]).dtype == rg.int64
    assert rg.tensor([True, False]).dtype == np.bool_


def test_float64_on_request_keeps_every_bit():
    vals = [0.1, 0.2, 1 / 3, 1e-300, 123456789.123456789]
    t = rg.tensor(vals, dtype=rg.float64)
    assert t.dtype == rg.float64 and t.tolist() == vals
    assert rg.tensor(np.array(vals)).dtype == np.float64  # a NumPy array keeps its dtype


def test_results_and_gradients_keep_their_dtype():
    for dt in (rg.float32, rg.float64):
        x = rg.tensor([1.0, 2.0], dtype=dt, requires_grad=True)
        y = (x * 2.5 + 1).exp().mean()  # Python scalars never promote
        assert y.dtype == dt
        y.backward()
        assert x.grad.dtype == dt


def test_mixed_float_dtypes_promote_and_grads_come_back_in_each_dtype():
    a = rg.tensor([1.0, 2.0], dtype=rg.float32, requires_grad=True)
    b = rg.tensor([3.0, 4.0], dtype=rg.float64, requires_grad=True)
    y = a * b
    assert y.dtype == rg.float64
    y.sum().backward()
    assert a.grad.dtype == rg.float32 and b.grad.dtype == rg.float64
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match=r"requires_grad_.*int64.*astype"):
        rg.tensor([1, 2], requires_grad=True)
    t = rg.tensor([1, 2])
    with pytest.raises(TypeError, match="floating-point"):
        t.requires_grad_()
    with pytest.raises(TypeError, match="floating-point"):
        rg.arange(3, requires_grad=True)


def test_astype_is_differentiable_between_floats():
    x = rg.tensor([1.5, 2.5], requires_grad=True)
    y = x.astype(rg.float64)
    assert y.dtype == rg.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == rg.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])
    i = x.astype(rg.int64)
    assert i.dtype == rg.int64 and not i.requires_grad
    assert x.double().dtype == rg.float64 and x.float() is x


def test_int_division_gives_the_default_float():
    assert (rg.tensor([1, 2]) / 2).dtype == rg.float32


# ------------------------------------------------------------------ attributes, conversion
def test_attributes_and_conversions():
    t = rg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert isinstance(t.data, np.ndarray) and t.numpy() is t.data
    assert t.shape == (2, 3) and t.ndim == 2 and t.size() == (2, 3) and t.size(1) == 3
    assert t.numel() == 6 and len(t) == 2
    assert t.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t[1, 2].item() == 6.0 and float(t[0, 0]) == 1.0
    assert t.is_leaf and t.grad is None
    r = repr(t)
    assert "tensor(" in r and "shape=(2, 3)" in r and "float32" in r and "6." in r
    with pytest.raises(ValueError, match="item: only one-element"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(rg.tensor(1.0))


def test_tensor_copies_its_input():
    a = np.array([1.0, 2.0])
    t = rg.tensor(a)
    a[0] = 100
    assert t.numpy()[0] == 1.0


def test_bad_data_raises_type_or_value_error():
    with pytest.raises(ValueError, match="rectangular"):
        rg.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="tensor"):
        rg.tensor(["a", "b"])


def test_comparisons_are_not_differentiable():
    x = rg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2):
        assert c.dtype == np.bool_ and not c.requires_grad
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])
    np.testing.assert_array_equal((x == rg.tensor([1.0, 0.0, 3.0])).numpy(), [1, 0, 1])


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize("fn", [rg.zeros, rg.ones, rg.randn, rg.rand])
def test_creation_accepts_varargs_and_tuple_shapes(fn):
    a, b = fn(2, 3), fn((2, 3))
    assert a.shape == b.shape == (2, 3) and a.dtype == rg.float32
    c = fn(4, dtype=rg.float64, requires_grad=True)
    assert c.shape == (4,) and c.dtype == rg.float64 and c.requires_grad and c.is_leaf


@pytest.mark.parametrize("fn", [rg.zeros, rg.ones, rg.randn, rg.rand, rg.empty])
def test_creation_refuses_float_bool_and_negative_sizes(fn):
    name = fn.__name__
    for bad in ((2.5,), ((2, 3.0),), (2, True)):  # never truncated to a shape
        with pytest.raises(TypeError, match=rf"{name}: a shape must be integers"):
            fn(*bad)
    with pytest.raises(ValueError, match=rf"{name}: a shape must not be negative"):
        fn(2, -1)
    assert fn(np.int64(2), 0).shape == (2, 0)  # NumPy integers and empty axes are fine


def test_full_refuses_a_value_that_is_not_a_number():
    for fn, args in ((rg.full, ((2, 2),)), (rg.full_like, (rg.zeros(2),))):
        with pytest.raises(TypeError, match=f"{fn.__name__}: the fill value must be a number"):
            fn(*args, "x")
    assert rg.full((2,), rg.tensor(3.0, dtype=rg.float64)).tolist() == [3.0, 3.0]
    assert rg.full(3, True).dtype == np.bool_
    with pytest.raises(ValueError, match="full: a shape must not be negative"):
        rg.full((-2,), 1.0)


def test_counts_and_bounds_are_checked_with_the_function_named():
    for call, err, msg in (
            (lambda: rg.linspace(0, 1, -2), ValueError, "linspace: steps must be >= 0"),
            (lambda: rg.linspace(0, 1, 2.5), TypeError, "linspace: steps must be an integer"),
            (lambda: rg.eye(-1), ValueError, "eye: n must be >= 0"),
            (lambda: rg.eye(2, -3), ValueError, "eye: m must be >= 0"),
            (lambda: rg.randperm(-1), ValueError, "randperm: n must be >= 0"),
            (lambda: rg.randint(5, 2, (3,)), ValueError, "randint: low must be less than high"),
            (lambda: rg.randint(0, 2, (3, -1)), ValueError, "randint: a shape must not be"),
            (lambda: rg.randn(3, 4).sum(axis=1.5), TypeError, "sum: axis must be an int"),
            (lambda: rg.nn.Linear(2.5, 3), TypeError, "Linear: in_features must be an int")):
        with pytest.raises(err, match=msg):
            call()
    assert rg.eye(2, 3).shape == (2, 3) and rg.linspace(0, 1, 0).shape == (0,)
    assert sorted(rg.randperm(5).tolist()) == [0, 1, 2, 3, 4]


def test_other_creation_functions():
    np.testing.assert_array_equal(rg.full((2, 2), 7.0).numpy(), 7.0)
    assert rg.full((2,), 7.0).dtype == rg.float32
    assert rg.arange(5).dtype == rg.int64 and rg.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert rg.arange(0.0, 1.0, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    x = rg.randn(3, 2, dtype=rg.float64)
    for fn, v in ((rg.zeros_like, 0.0), (rg.ones_like, 1.0)):
        y = fn(x)
        assert y.shape == (3, 2) and y.dtype == rg.float64 and np.all(y.numpy() == v)
    assert rg.zeros_like(x, requires_grad=True).requires_grad


def test_manual_seed_makes_draws_repeatable():
    rg.manual_seed(123)
    a = (rg.randn(5).numpy(), rg.rand(3).numpy(), rg.randint(0, 10, (4,)).numpy())
    rg.manual_seed(123)
    b = (rg.randn(5).numpy(), rg.rand(3).numpy(), rg.randint(0, 10, (4,)).numpy())
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    rg.manual_seed(124)
    assert not np.array_equal(rg.randn(5).numpy(), a[0])


# ------------------------------------------------------------------ shape errors
def test_broadcast_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        rg.zeros(2, 3) + rg.zeros(4)
    with pytest.raises(ValueError, match=r"mul: shapes \(2,\) and \(3,\)"):
        rg.zeros(2) * rg.zeros(3)
    with pytest.raises(ValueError, match=r"where: shapes"):
        rg.where(rg.zeros(2) > 0, rg.zeros(3), 0.0)


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape .*\(2, 3\).*into \S+ \(4, 2\)"):
        rg.zeros(2, 3).reshape(4, 2)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: rg.zeros(2, 3).sum(axis=2), ValueError, r"sum: axis 2 is out of range"),
    (lambda: rg.zeros(2, 3).max(axis=(0, 0)), ValueError, r"max: repeated axis"),
    (lambda: rg.zeros(2, 3).permute(0, 0), ValueError, r"permute"),
    (lambda: rg.concatenate([rg.zeros(2, 3), rg.zeros(2, 4)], axis=0), ValueError,
     r"concatenate: shapes \[\(2, 3\), \(2, 4\)\] differ outside axis 0"),
    (lambda: rg.stack([rg.zeros(2), rg.zeros(3)]), ValueError, r"stack: all tensors"),
    (lambda: rg.zeros(2, 3).pad(((1, 1),) * 3), ValueError, r"pad: pad_width"),
    (lambda: rg.zeros(3).var(axis=0, correction=3), ValueError, r"var: "),
    (lambda: rg.zeros(2, 3).gelu(approximate="fast"), ValueError, r"gelu: approximate"),
    (lambda: rg.zeros(3).clip(), ValueError, r"clip: at least one"),
    (lambda: rg.zeros(2).expand(3), ValueError, r"expand: cannot broadcast"),
    (lambda: rg.zeros(2, 3).softmax(axis=2), ValueError, r"softmax: axis 2"),
    (lambda: rg.zeros(0).max(), ValueError, r"max: reducing an empty"),
    (lambda: rg.zeros(2) + "a", TypeError, r"unsupported operand"),
])
def test_bad_arguments_name_the_op(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_in_place_ops_outside_the_graph():
    x = rg.zeros(3)
    x += 1
    x *= 3
    x -= rg.ones(3)
    x /= 2
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0, 1.0])
    assert x.dtype == rg.float32
    x.add_(rg.ones(3), alpha=2).mul_(2)
    np.testing.assert_array_equal(x.numpy(), [6.0, 6.0, 6.0])
    x.zero_()
    assert x.numpy().sum() == 0


def test_function_forms_exist_for_every_method():
    x = rg.tensor([[1.0, -2.0], [3.0, 0.5]])
    for name in ("sum", "mean", "max", "min", "argmax", "argmin", "var", "logsumexp", "exp",
                 "abs", "tanh", "sigmoid", "relu", "leaky_relu", "gelu", "softmax",
                 "log_softmax", "flatten", "transpose", "squeeze"):
        np.testing.assert_array_equal(getattr(rg, name)(x).numpy(), getattr(x, name)().numpy())
    np.testing.assert_array_equal(rg.clip(x, -1, 1).numpy(), x.clip(-1, 1).numpy())
    np.testing.assert_array_equal(rg.reshape(x, 4).numpy(), x.reshape(4).numpy())
    np.testing.assert_array_equal(rg.unsqueeze(x, 0).numpy(), x.unsqueeze(0).numpy())
    np.testing.assert_array_equal(rg.permute(x, 1, 0).numpy(), x.T.numpy())
    np.testing.assert_array_equal(rg.pad(x, 1).numpy(), np.pad(x.numpy(), 1))
    np.testing.assert_array_equal(rg.matmul(x, x).numpy(), x.numpy() @ x.numpy())
