"""Activation functions: forward and VJP side by side.

All are stable for any finite input (|x| >= 1000 included) and emit no floating-point
warnings.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.numerics import overflow_raises, quiet_off
from ..dtypes import scalar_array
from ._select import select


class Tanh(Function):
    """out = tanh(x)."""

    saves = ("out",)

    def forward(self, x):
        out = np.tanh(x)
        self.save(out)
        return out

    def backward(self, grad):
        return tanh_grad(grad, self.saved[0])


def tanh_(a: np.ndarray) -> np.ndarray:
    """``a = tanh(a)`` in place (``a`` a writeable float array); returns ``a``."""
    return np.tanh(a, out=a)


def tanh_grad(grad: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``grad * tanh'`` from tanh's output (a new array): tanh' = 1 - tanh^2."""
    return grad * (scalar_array(1.0, out.dtype) - out * out)


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow: e^-|x| <= 1 is the only exponential taken."""
    # e^-|x| underflows to 0 for |x| > ~745, the right answer; the caller (an op's forward,
    # run by Function.apply) has floating-point warnings off already.
    e = np.exp(-np.abs(x))
    out = np.asarray(1 / (1 + e))  # 0-d input: ufuncs return a scalar, not an array
    # x < 0: e^x / (1 + e^x). Selected by bits, not np.multiply(where=), which branches
    # per element (~10x slower on signs in random order)
    return select(np.asarray(x < 0), out * e, out)  # (an array, also for 0-d input)


def sigmoid_into(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
    """sigma(x) into ``out``: a new array if None, or ``x`` itself (in place), or any
    writeable array of x's shape and dtype. Returns the result.

    Stable for any input: the fast form 1 / (1 + e^-x) (3 ufuncs instead of 7) is exact to
    the last subnormal unless some e^-x overflows (x below about -88 in float32, -709 in
    float64), which NumPy's overflow flag reports; then :func:`sigmoid_array` is used. In
    place, x is lost by then: the function returns None and the caller recomputes x (rare).
    The caller (an op's forward, run by ``Function.apply``) has warnings off already.
    """
    if type(x) is not np.ndarray or not x.ndim or x.dtype.kind != "f":
        return _sigmoid_safe(x, out)
    dst = np.negative(x, out=out)
    token = overflow_raises()
    try:
        np.exp(dst, out=dst)
    except FloatingPointError:
        if dst is x:
            return None
        return _sigmoid_safe(x, out)
    finally:
        quiet_off(token)
    dst += scalar_array(1.0, dst.dtype)
    return np.reciprocal(dst, out=dst)


def _sigmoid_safe(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    s = sigmoid_array(x)
    if out is None:
        return s
    np.copyto(out, s)  # rare (some x below about -88 in float32): a temporary is fine
    return out


def sigmoid_(a: np.ndarray) -> np.ndarray | None:
    """``a = sigma(a)`` in place (``a`` a writeable float array); returns ``a``, or None if
    ``a``'s values were lost to an overflow (see :func:`sigmoid_into`)."""
    return sigmoid_into(a, a)


def sigmoid_grad(grad: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``grad * sigma'`` from the sigmoid's output (a new array): sigma' = sigma (1 - sigma)."""
    return grad * out * (scalar_array(1.0, out.dtype) - out)


class Sigmoid(Function):
    """out = 1 / (1 + e^-x)."""

    saves = ("out",)

    def forward(self, x):
        out = sigmoid_into(x)
        self.saved = (out,)  # self.save(), inlined
        return out

    def backward(self, grad):
        return sigmoid_grad(grad, self.saved[0])


def _flat2d(a: np.ndarray) -> np.ndarray | None:
    """``a``'s memory as a C-ordered ``(n / L, L)`` view with rows of ``L`` (up to 512)
    values, or None if ``a`` is not dense in some axis order or ``L`` would be short.

    Channels-last and channel-major maps (NCHW views of other memory orders) qualify.
    """
    if a.flags.c_contiguous:
        v = a
    elif a.flags.f_contiguous:
        v = a.T
    else:
        v = a.transpose(np.argsort(a.strides, kind="stable")[::-1])
        if not v.flags.c_contiguous:
            return None
    n = a.size
    row = math.gcd(n, 512)
    return v.reshape(n // row, row) if row >= 64 else None


_ZEROS: dict = {}


def _zero_row(row: int, dtype: np.dtype) -> np.ndarray:
    z = _ZEROS.get((row, dtype))
    if z is None:
        z = _ZEROS[(row, dtype)] = np.zeros(row, dtype=dtype)
        z.setflags(write=False)
    return z


def relu_into(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0) into ``out``: a new array if None, or ``x`` itself (in place). Returns it."""
    if x.size >= 4096 and x.dtype.kind == "f":
        if out is None:
            out = np.empty_like(x)  # x's memory order, so that it flattens as x does
        xv = _flat2d(x)
        ov = xv if out is x else (None if xv is None or out.strides != x.strides
                                  else _flat2d(out))
        if ov is not None and xv.shape == ov.shape:
            # NumPy's maximum against a scalar runs a non-vectorised loop; against a row of
            # zeros (broadcast over long rows) it is ~2x faster. Same values: max(x, +0) for
            # x = -0.0 and NaN as np.maximum(x, 0).
            np.maximum(xv, _zero_row(xv.shape[1], x.dtype), out=ov)
            return out
    return np.maximum(x, 0) if out is None else np.maximum(x, 0, out=out)


def relu_(a: np.ndarray) -> np.ndarray:
    """``a = max(a, 0)`` in place (``a`` must be writeable); returns ``a``."""
    return relu_into(a, a)


class ReLU(Function):
    """out = max(x, 0)."""

    saves = ("out",)

    def forward(self, x):
        out = relu_into(x)
        self.save(out)
        return out

    def backward(self, grad):
        # NOTE: relu'(0) = 0, as in the seeds (004) and PyTorch: out > 0 exactly where x > 0
        return relu_mask_mul(grad, self.saved[0])


def relu_mask_mul(grad: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``grad * (out > 0)`` for a ReLU output ``out`` (a new array; at a NaN output the
    gradient passes, as PyTorch's ``threshold_backward``): the mask as 0/1 floats first,
    since NumPy's float x bool multiply runs a casting loop ~15 % slower than the
    conversion plus a float multiply."""
    # out is a ReLU output, >= 0 or NaN: out != 0 is PyTorch's "not out <= 0" in one pass
    # (at a NaN the gradient passes), where out > 0 would stop it
    if not out.ndim:
        return grad * (out != 0)
    mask = np.not_equal(out, 0).astype(grad.dtype)
    return np.multiply(grad, mask, out=mask)


class LeakyReLU(Function):
    """out = x if x > 0 else slope * x."""

    saves = (0,)

    # For 0 < slope <= 1 both passes avoid np.where, which branches per element: on signs
    # in random order it takes ~15x a multiply (557 us for 131k float32 here). The results
    # are the same bits, NaN, infinities and signed zeros included.

    def forward(self, x, slope=0.01):
        self.save(x)
        self.slope = slope
        if x.dtype.kind == "f" and 0 < slope <= 1:
            # x where x > 0, slope x elsewhere (slope x >= x there); not for slope 0, where
            # inf * 0 would be NaN
            return np.maximum(x, x * slope)
        return np.where(x > 0, x, x * slope)

    def backward(self, grad):
        x, s = self.saved[0], self.slope
        if grad.ndim and grad.dtype.kind == "f" and 0 < s <= 1:
            local = np.greater(x, 0).astype(grad.dtype)  # 1 where x > 0, else 0 ...
            np.maximum(local, np.full_like(local, s), out=local)  # ... else slope
            return np.multiply(grad, local, out=local)
        return np.where(x > 0, grad, grad * s)  # slope at and below 0, as PyTorch


_ERF = None


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, to double precision.

    NumPy has no ``erf``: SciPy's vectorised one is used when it is installed, otherwise
    ``math.erf`` element by element (exact, slower).
    """
    global _ERF
    if _ERF is None:
        try:
            from scipy.special import erf as scipy_erf

            _ERF = scipy_erf
        except ImportError:  # pragma: no cover - exercised in tests by monkeypatching
            _ERF = np.vectorize(math.erf, otypes=[np.float64])
    return np.asarray(_ERF(x)).astype(x.dtype, copy=False)


_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_C = math.sqrt(2.0 / math.pi)


class GELU(Function):
    """out = x Phi(x) (``approximate="none"``, exact erf form) or its tanh approximation."""

    saves = (0,)

    def forward(self, x, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.save(x)
        self.approximate = approximate
        if approximate == "none":
            self.cdf = 0.5 * (1 + erf(x / _SQRT_2))
            return x * self.cdf
        # (x * x * x, as PyTorch's kernel: NumPy's x**3 calls pow per element, ~10x slower)
        self.t = np.tanh(_TANH_C * (x + 0.044715 * (x * x * x)))
        return 0.5 * x * (1 + self.t)

    def backward(self, grad):
        x = self.saved[0]
        if self.approximate == "none":
            # d(x Phi(x))/dx = Phi(x) + x phi(x)
            pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
            return grad * (self.cdf + x * pdf)
        t = self.t
        dinner = _TANH_C * (1 + 3 * 0.044715 * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
