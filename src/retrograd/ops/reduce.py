"""Reductions: sum, mean, max/min (values), var; argmax/argmin (not differentiable)."""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np

from ..autograd.function import Function
from ._shapes import norm_axis

_sum = np.add.reduce


def _expand(grad: np.ndarray, in_shape: tuple, axes: Any, keepdims: bool) -> np.ndarray:
    """Reshape a reduced gradient so that it broadcasts against the input again."""
    if axes is None:
        return grad.reshape((1,) * len(in_shape))
    if keepdims:
        return grad
    shape = list(in_shape)
    for a in axes:
        shape[a] = 1
    return grad.reshape(shape)


def _count(shape: tuple, axes: Any) -> int:
    if axes is None:
        return prod(shape)
    return prod([shape[a] for a in axes])


class Sum(Function):
    """out = sum of x over ``axis`` (all axes by default)."""

    saves = ()

    def forward(self, x, axis=None, keepdims=False):
        self.axes = norm_axis(axis, x.ndim, "sum")
        self.keepdims = keepdims
        return _sum(x, axis=self.axes, keepdims=keepdims)  # x.sum(), minus a Python frame

    def backward(self, grad):
        # every summed element gets the whole gradient of the sum
        shape = self.inputs[0].data.shape
        return _spread(_expand(grad, shape, self.axes, self.keepdims), shape)


def _spread(g: np.ndarray, shape: tuple) -> np.ndarray:
    """``g`` broadcast to ``shape``: a stride-0 view when large, a small array otherwise
    (``np.broadcast_to`` costs a few microseconds of Python; filling 4096 numbers less)."""
    if prod(shape) > 4096:
        return np.broadcast_to(g, shape)
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


class Mean(Function):
    """out = mean of x over ``axis`` (all axes by default)."""

    saves = ()

    def forward(self, x, axis=None, keepdims=False):
        self.axes = norm_axis(axis, x.ndim, "mean")
        self.keepdims = keepdims
        n = _count(x.shape, self.axes)
        if n == 0:
            raise ValueError(f"mean: reducing over zero elements (shape {x.shape}, axis {axis})")
        # sum / n is what np.mean computes, without its Python-level wrapper
        return _sum(x, axis=self.axes, keepdims=keepdims) / x.dtype.type(n)

    def backward(self, grad):
        shape = self.inputs[0].data.shape
        if self.axes is None and grad.size == 1:  # the usual loss.mean(): fill with g / N
            out = np.empty(shape, dtype=grad.dtype)
            out.fill(grad.reshape(()) / _count(shape, None))
            return out
        g = _expand(grad, shape, self.axes, self.keepdims) / _count(shape, self.axes)
        return _spread(g.astype(grad.dtype, copy=False), shape)


class _Extreme(Function):
    _np = staticmethod(np.max)
    _name = "max"

    def forward(self, x, axis=None, keepdims=False):
        self.axes = norm_axis(axis, x.ndim, self._name)
        self.keepdims = keepdims
        if x.size == 0:
            raise ValueError(f"{self._name}: reducing an empty tensor (shape {x.shape})")
        out = self._np(x, axis=self.axes, keepdims=True)
        self.save(x, out)
        return out if keepdims else out.reshape(_reduced(x.shape, self.axes))

    def backward(self, grad):
        # NOTE: the gradient goes to the extreme element; tied extremes share it evenly
        # (PyTorch's choice for full and dim reductions with amax semantics; documented)
        x, out = self.saved
        mask = x == out
        count = mask.sum(axis=self.axes, keepdims=True)
        g = _expand(grad, x.shape, self.axes, self.keepdims)
        return g * mask / count


def _reduced(shape: tuple, axes: Any) -> tuple:
    if axes is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in axes)


class Max(_Extreme):
    """out = max over ``axis`` (values only)."""

    _np = staticmethod(np.max)
    _name = "max"


class Min(_Extreme):
    """out = min over ``axis`` (values only)."""

    _np = staticmethod(np.min)
    _name = "min"


class Var(Function):
    """out = sum (x - mean)^2 / (N - correction) over ``axis`` (unbiased by default)."""

    _op = "var"

    def forward(self, x, axis=None, keepdims=False, correction=1):
        self.axes = norm_axis(axis, x.ndim, self._op)
        self.keepdims = keepdims
        n = _count(x.shape, self.axes)
        self.denom = n - correction
        if self.denom <= 0:
            raise ValueError(
                f"{self._op}: {n} element(s) over axis {axis} with correction={correction} "
                f"leaves {self.denom} degrees of freedom"
            )
        self.centered = x - np.mean(x, axis=self.axes, keepdims=True)
        out = np.sum(self.centered * self.centered, axis=self.axes, keepdims=keepdims)
        return out / self.denom

    def backward(self, grad):
        # d var / dx_i = 2 (x_i - mean) / (N - correction)
        shape = self.inputs[0].data.shape
        g = _expand(grad, shape, self.axes, self.keepdims)
        return g * self.centered * (2.0 / self.denom)


class Std(Var):
    """out = sqrt(var(x)) over ``axis``. Where the standard deviation is 0 the gradient is 0,
    as in PyTorch (the composition sqrt(var) would give inf * 0 = NaN there)."""

    _op = "std"

    def forward(self, x, axis=None, keepdims=False, correction=1):
        self.out = np.sqrt(Var.forward(self, x, axis, keepdims, correction))
        return self.out

    def backward(self, grad):
        # d std = d var / (2 std)
        out = self.out
        g = grad / (2 * out)
        if not np.all(out):  # a zero standard deviation: 0, not inf
            g = np.where(out == 0, 0, g)
        return Var.backward(self, g)


def _arg(fn: Any, name: str, t: Any, axis: Any, keepdims: bool) -> Any:
    from ..tensor import Tensor

    data = t.data
    if data.size == 0:
        raise ValueError(f"{name}: empty tensor (shape {data.shape})")
    if axis is not None:
        (axis,) = norm_axis(axis, data.ndim, name)
    out = fn(data, axis=axis, keepdims=keepdims)
    return Tensor._wrap(np.asarray(out, dtype=np.int64))


def argmax(t: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the maximum (first one on ties) over ``axis`` or the flattened tensor."""
    return _arg(np.argmax, "argmax", t, axis, keepdims)


def argmin(t: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the minimum (first one on ties) over ``axis`` or the flattened tensor."""
    return _arg(np.argmin, "argmin", t, axis, keepdims)
