"""Functions that create tensors, with PyTorch's names and defaults."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from . import dtypes as _dt
from . import random as _random
from .ops import shape_arg
from .tensor import Tensor, _check_float_for_grad


def _finish(arr: np.ndarray, requires_grad: bool, op: str) -> Tensor:
    t = Tensor._wrap(arr)
    if requires_grad:
        _check_float_for_grad(arr.dtype, op)
        t._requires_grad = True
    return t


def _float_dtype(dtype: Any) -> np.dtype:
    return _dt.get_default_dtype() if dtype is None else _dt.as_dtype(dtype)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    Python floats become ``rg.float32`` unless ``dtype`` says otherwise (``rg.float64``
    keeps every bit); Python ints ``rg.int64``; a NumPy array keeps its dtype.
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing ``arr``'s memory (no copy)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(arr).__name__}")
    return Tensor._wrap(arr)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` itself if it is already a Tensor of ``dtype``, else a new tensor."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == _dt.as_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == _dt.as_dtype(dtype)):
        return Tensor._wrap(data)
    return Tensor(data, dtype=dtype)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` and ``zeros((2, 3))`` are the same."""
    arr = np.zeros(shape_arg(shape, "zeros", sizes=True), _float_dtype(dtype))
    return _finish(arr, requires_grad, "zeros")


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    arr = np.ones(shape_arg(shape, "ones", sizes=True), _float_dtype(dtype))
    return _finish(arr, requires_grad, "ones")


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (values are whatever the memory held)."""
    arr = np.empty(shape_arg(shape, "empty", sizes=True), _float_dtype(dtype))
    return _finish(arr, requires_grad, "empty")


def _count(n: Any, op: str, name: str) -> None:
    """Raise unless ``n`` is an integer >= 0 (a number of values or rows)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an integer, got {type(n).__name__} {n!r}")
    if n < 0:
        raise ValueError(f"{op}: {name} must be >= 0, got {n}")


def _fill_value(value: Any, op: str) -> Any:
    """``value`` if it is a number (a 0-d array or tensor counts: its array), else a
    TypeError naming ``op`` (NumPy would fill an array of strings or objects)."""
    if isinstance(value, (numbers.Number, np.number, np.bool_)):
        return value
    arr = value.data if isinstance(value, Tensor) else value
    if isinstance(arr, np.ndarray) and arr.ndim == 0 and arr.dtype.kind in "biuf":
        return arr
    raise TypeError(f"{op}: the fill value must be a number, got {type(value).__name__} "
                    f"{value!r}")


def full(shape: Any, value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``value`` (its dtype follows ``value`` unless given)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    value = _fill_value(value, "full")
    if dtype is None:
        dtype = _dt.get_default_dtype() if isinstance(value, float) else np.asarray(value).dtype
    return _finish(np.full(shape_arg((shape,), "full", sizes=True), value, _dt.as_dtype(dtype)),
                   requires_grad, "full")


def zeros_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _finish(np.zeros(a.shape, a.dtype if dtype is None else _dt.as_dtype(dtype)),
                   requires_grad, "zeros_like")


def ones_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _finish(np.ones(a.shape, a.dtype if dtype is None else _dt.as_dtype(dtype)),
                   requires_grad, "ones_like")


def full_like(t: Any, value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    value = _fill_value(value, "full_like")
    return _finish(np.full(a.shape, value, a.dtype if dtype is None else _dt.as_dtype(dtype)),
                   requires_grad, "full_like")


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); integers give int64, as PyTorch."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = _dt.int64 if ints else _dt.get_default_dtype()
    return _finish(np.arange(start, end, step, dtype=_dt.as_dtype(dtype)), requires_grad,
                   "arange")


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    _count(steps, "linspace", "steps")
    return _finish(np.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad,
                   "linspace")


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity (``m = n`` by default)."""
    _count(n, "eye", "n")
    if m is not None:
        _count(m, "eye", "m")
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, "eye")


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the library's seeded generator."""
    arr = _random.generator().standard_normal(shape_arg(shape, "randn", sizes=True))
    return _finish(arr.astype(_float_dtype(dtype), copy=False), requires_grad, "randn")


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the library's seeded generator."""
    arr = _random.generator().random(shape_arg(shape, "rand", sizes=True))
    return _finish(arr.astype(_float_dtype(dtype), copy=False), requires_grad, "rand")


def randint(low: int, high: int, size: Any, dtype: Any = None) -> Tensor:
    """Integers in [low, high) from the library's seeded generator."""
    size = shape_arg((size,) if isinstance(size, (int, np.integer)) else tuple(size),
                     "randint", sizes=True)
    if not low < high:
        raise ValueError(f"randint: low must be less than high, got low={low}, high={high}")
    arr = _random.generator().integers(low, high, size=size)
    return Tensor._wrap(arr.astype(_dt.int64 if dtype is None else _dt.as_dtype(dtype)))


def randperm(n: int) -> Tensor:
    """A random permutation of ``0 .. n - 1`` (int64) from the library's seeded generator."""
    _count(n, "randperm", "n")
    return Tensor._wrap(_random.generator().permutation(n).astype(np.int64))
