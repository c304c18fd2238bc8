"""Softmax, log-softmax and log-sum-exp, shifted by the maximum so no exponential overflows."""

from __future__ import annotations

from math import isfinite

import numpy as np

from ..autograd.function import Function
from ._reduce import max_rows, sum_rows
from ._shapes import norm_axis

_max, _sum = np.maximum.reduce, np.add.reduce  # the ndarray methods, minus a Python frame


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(x)`` along one ``axis``. An infinite maximum gives inf - inf = NaN in its
    slice, as PyTorch's ``softmax`` and ``log_softmax`` do (``LogSumExp`` shifts by 0
    there instead, as PyTorch's ``logsumexp``)."""
    if axis == 1 and x.ndim == 2:  # (N, C) scores: the fast form of ops/_reduce.py
        return x - max_rows(x)
    return x - _max(x, axis=axis, keepdims=True)  # x.max(...) without its Python wrapper


def _sum_kept(a: np.ndarray, axis: int) -> np.ndarray:
    """``a.sum(axis=axis, keepdims=True)`` for one axis, by sum_rows for (N, C) rows."""
    if axis == 1 and a.ndim == 2:
        return sum_rows(a)[:, None]
    return _sum(a, axis=axis, keepdims=True)


def _one_axis(x: np.ndarray, axis: int, op: str) -> int:
    n = x.ndim
    if type(axis) is int and 0 < n and -n <= axis < n:
        return axis % n  # the common case, without the general checks
    if n == 0:
        raise ValueError(f"{op}: needs at least one dimension, got a 0-d tensor")
    return norm_axis(axis, n, op)[0]


class Softmax(Function):
    """out_i = e^{x_i} / sum_j e^{x_j} along ``axis``."""

    def forward(self, x, axis=-1):
        self.axis = _one_axis(x, axis, "softmax")
        e = np.exp(_shifted(x, self.axis))
        out = e / _sum_kept(e, self.axis)
        self.save(out)
        return out

    def backward(self, grad):
        # J = diag(s) - s s^T, so J^T g = s * (g - <g, s>)
        s = self.saved[0]
        return s * (grad - _sum_kept(grad * s, self.axis))


class LogSoftmax(Function):
    """out_i = x_i - log sum_j e^{x_j} along ``axis``."""

    def forward(self, x, axis=-1):
        self.axis = _one_axis(x, axis, "log_softmax")
        out = _shifted(x, self.axis)
        out -= np.log(_sum_kept(np.exp(out), self.axis))  # out is fresh
        self.save(out)
        return out

    def backward(self, grad):
        # d out_i / d x_j = [i = j] - softmax_j
        return grad - np.exp(self.saved[0]) * _sum_kept(grad, self.axis)


class LogSumExp(Function):
    """out = log sum e^x over ``axis`` (all axes by default)."""

    def forward(self, x, axis=None, keepdims=False):
        axes = norm_axis(axis, x.ndim, "logsumexp")
        self.axes, self.keepdims = axes, keepdims
        m = _max(x, axis=axes, keepdims=True)
        if not isfinite(_sum(m, axis=None)):  # one cheap test for the rare case (NaN too)
            m = np.where(np.isfinite(m), m, 0)  # -inf or inf: shift by 0, not inf - inf
        e = np.exp(x - m)
        s = _sum(e, axis=axes, keepdims=True)
        out = np.log(s) + m
        # NOTE: keep softmax(x) = e / s for backward; exp(x - out) would lose precision
        # when out is large (in float32, 1e4 + log 2 keeps only ~3 decimals of log 2)
        e /= s
        self.softmax = e
        self.red_shape = out.shape
        return out if keepdims else out.reshape(_reduced_shape(x.shape, axes))

    def backward(self, grad):
        return grad.reshape(self.red_shape) * self.softmax  # d lse / dx = softmax(x)


def _reduced_shape(shape: tuple, axes) -> tuple:
    if axes is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in axes)
