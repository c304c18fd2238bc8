"""Elementwise arithmetic: forward and VJP of each op side by side.

Binary ops broadcast as NumPy does; their VJPs undo the broadcast with :func:`sum_to`.
Non-Tensor operands are constants (``needs[i]`` is False) and get no gradient.
Forwards and VJPs run with NumPy's warnings off (``Function.apply`` and the engine see to
it), so IEEE results such as ``1/0 = inf`` need no ``np.errstate`` here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Function
from ..autograd.numerics import safe_div
from ._select import keep, select
from ._shapes import broadcast_error, sum_to


def _binary(ufunc: Any, op: str, x: Any, y: Any) -> np.ndarray:
    try:
        return ufunc(x, y)
    except ValueError:
        raise broadcast_error(op, np.shape(x), np.shape(y)) from None


class Add(Function):
    """out = x + y."""

    saves = ()

    def forward(self, x, y):
        return _binary(np.add, "add", x, y)

    def backward(self, grad):
        # d(x+y)/dx = d(x+y)/dy = 1: add distributes the gradient unchanged to both inputs
        n = self.needs
        return (sum_to(grad, self.inputs[0].data.shape) if n[0] else None,
                sum_to(grad, self.inputs[1].data.shape) if n[1] else None)


class Sub(Function):
    """out = x - y."""

    saves = ()

    def forward(self, x, y):
        return _binary(np.subtract, "sub", x, y)

    def backward(self, grad):
        n = self.needs
        return (sum_to(grad, self.inputs[0].data.shape) if n[0] else None,
                sum_to(-grad, self.inputs[1].data.shape) if n[1] else None)


class Mul(Function):
    """out = x * y."""

    saves = (0, 1)

    def forward(self, x, y):
        self.save(x, y)
        return _binary(np.multiply, "mul", x, y)

    def backward(self, grad):
        # dz/dx = y, dz/dy = x: multiply swaps its inputs
        x, y = self.saved
        n = self.needs
        gx = gy = None
        if n[0]:
            gx = grad * y
            if gx.shape != x.shape:
                gx = sum_to(gx, x.shape)
        if n[1]:
            gy = grad * x
            if gy.shape != y.shape:
                gy = sum_to(gy, y.shape)
        return gx, gy


class Div(Function):
    """out = x / y (true division; integer inputs give the default float dtype)."""

    saves = (1, "out")

    def forward(self, x, y):
        out = _binary(np.true_divide, "div", x, y)
        if out.dtype == np.float64 and not _any_float64(x, y):
            from ..dtypes import get_default_dtype

            out = out.astype(get_default_dtype())  # int / int -> float32, as PyTorch
        self.save(y, out)  # x is not needed: -x/y^2 = -out/y
        return out

    def backward(self, grad):
        # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2 = -(1/y) out; exactly 0 where grad is 0
        # (a branch masked by `where`), even where y = 0
        y, out = self.saved
        n = self.needs
        g_over_y = safe_div(grad, y)
        gx = sum_to(g_over_y, self.inputs[0].data.shape) if n[0] else None
        gy = None
        if n[1]:
            gy = np.asarray(np.negative(g_over_y * out))  # 0-d: a scalar otherwise
            if not np.isfinite(gy).all():
                # 0 where the incoming gradient is 0 (not where grad / y underflowed to 0,
                # e.g. y = inf: a NaN x must still give NaN there, as in PyTorch)
                np.copyto(gy, 0, where=(grad == 0))
            gy = sum_to(gy, np.shape(y))
        return gx, gy


def _any_float64(*xs: Any) -> bool:
    for x in xs:
        if isinstance(x, float) or (isinstance(x, np.ndarray) and x.dtype == np.float64):
            return True
    return False


class Neg(Function):
    """out = -x."""

    saves = ()

    def forward(self, x):
        return np.negative(x)

    def backward(self, grad):
        return -grad


def _scalar_pow(x: Any, y: Any) -> Any:
    """``x ** y``, by products and square roots for the exponents PyTorch special-cases (2,
    3, -1, -2, 0.5, -0.5; its bits for all but 0.5, where the correctly rounded ``sqrt`` is
    within 1 ulp of its ``pow``): NumPy's ``power`` calls ``pow`` per element for most of
    them, ~15x slower for ``x ** 3``, and its -0.5 follows IEEE ``pow`` (0 at -inf, inf at
    -0.0) where PyTorch's ``rsqrt`` gives NaN and -inf."""
    if type(x) is np.ndarray and x.dtype.kind == "f" and isinstance(y, (int, float)) \
            and not isinstance(y, bool):
        if y == 2:
            return x * x
        if y == 3:
            return x * x * x
        if y == -1:
            return 1 / x
        if y == -2:
            return 1 / (x * x)
        if y == 0.5:
            return np.sqrt(x)
        if y == -0.5:
            return 1 / np.sqrt(x)
    return _binary(np.power, "pow", x, y)


class Pow(Function):
    """out = x ** y (either may be a constant)."""

    def forward(self, x, y):
        self.save(x, y)
        out = _scalar_pow(x, y)
        self.out = out
        return out

    def backward(self, grad):
        x, y = self.saved
        n = self.needs
        gx = gy = None
        if n[0]:
            # d(x^y)/dx = y x^(y-1); x^1 and x^2 are common enough to skip the power
            if isinstance(y, (int, float)) and y == 2:
                local = 2 * x
            elif isinstance(y, (int, float)) and y == 1:
                local = np.ones_like(x)
            else:
                local = y * _scalar_pow(x, y - 1)
            gx = np.asarray(grad * local)  # 0-d: a scalar otherwise
            if not np.isfinite(gx).all():
                # 0 where the incoming gradient is 0, and where y = 0 (x^0 is constant in
                # x, even at x = 0, inf or NaN: PyTorch's rule)
                np.copyto(gx, 0, where=(grad == 0) | (np.asarray(y) == 0))
            gx = sum_to(gx, x.shape)
        if n[1]:
            # d(x^y)/dy = x^y log x, taken as 0 where x = 0 and y >= 0 (0 * -inf there;
            # PyTorch's rule), NaN as the formula says elsewhere (x = inf, y < 0: 0 * inf)
            local = self.out * np.log(x)
            at0 = (np.asarray(x) == 0) & (np.asarray(y) >= 0)
            if at0.any():
                local = np.where(at0, 0, local)
            gy = np.asarray(grad * local)
            if not np.isfinite(gy).all():
                np.copyto(gy, 0, where=(grad == 0))
            gy = sum_to(gy, y.shape)
        return gx, gy


class Abs(Function):
    """out = |x|; the gradient at 0 is 0 (sign(0) = 0, as PyTorch)."""

    saves = (0,)

    def forward(self, x):
        self.save(x)
        return np.abs(x)

    def backward(self, grad):
        x = self.saved[0]
        sign = np.sign(x)
        if sign.dtype.kind == "f" and not np.isfinite(sign).all():
            sign = np.where(np.isnan(sign), 0, sign)  # sign(NaN) = 0, as PyTorch's abs'
        return grad * sign


class Exp(Function):
    """out = e^x."""

    saves = ("out",)

    def forward(self, x):
        out = np.exp(x)
        self.save(out)
        return out

    def backward(self, grad):
        return grad * self.saved[0]  # d(e^x)/dx = e^x


class Log(Function):
    """out = ln x (log 0 = -inf, log of a negative = NaN, without warnings)."""

    saves = (0,)

    def forward(self, x):
        self.save(x)
        return np.log(x)

    def backward(self, grad):
        return safe_div(grad, self.saved[0])  # d(ln x)/dx = 1/x


class Sqrt(Function):
    """out = sqrt(x)."""

    saves = ("out",)

    def forward(self, x):
        out = np.sqrt(x)
        self.save(out)
        return out

    def backward(self, grad):
        return safe_div(grad, 2 * self.saved[0])  # d(sqrt x)/dx = 1 / (2 sqrt x)


class Maximum(Function):
    """out = max(x, y) elementwise; at a tie each side gets half the gradient (as PyTorch)."""

    def forward(self, x, y):
        self.save(x, y)
        return _binary(np.maximum, "maximum", x, y)

    def backward(self, grad):
        x, y = self.saved
        return _route(grad, x, y, np.greater, self.needs)


class Minimum(Function):
    """out = min(x, y) elementwise; at a tie each side gets half the gradient."""

    def forward(self, x, y):
        self.save(x, y)
        return _binary(np.minimum, "minimum", x, y)

    def backward(self, grad):
        x, y = self.saved
        return _route(grad, x, y, np.less, self.needs)


def _route(grad: np.ndarray, x: Any, y: Any, wins: Any, needs: list) -> tuple:
    # max/min routes the gradient to the winning input; a tie splits it evenly. Each side
    # gets all of it unless the other wins or ties (PyTorch's rule: with a NaN both do)
    tie = 0.5 * np.equal(x, y)
    gx = sum_to(grad * (1.0 - wins(y, x) - tie), np.shape(x)) if needs[0] else None
    gy = sum_to(grad * (1.0 - wins(x, y) - tie), np.shape(y)) if needs[1] else None
    return gx, gy


class Where(Function):
    """out = a where cond else b (``cond`` is a constant boolean array)."""

    def forward(self, cond, a, b):
        self.cond = cond
        try:
            return select(cond, a, b)  # np.where's result, faster on large arrays
        except ValueError:
            raise broadcast_error("where", np.shape(cond), np.shape(a), np.shape(b)) from None

    def backward(self, grad):
        # The gradient goes to the side that was chosen, 0 to the other (also where the
        # incoming gradient is inf or NaN, as PyTorch)
        n = self.needs
        c = self.cond
        ga = sum_to(keep(grad, c), self.inputs[1].data.shape) if n[1] else None
        gb = sum_to(keep(grad, c, False), self.inputs[2].data.shape) if n[2] else None
        return None, ga, gb


class Clip(Function):
    """out = min(max(x, lo), hi); the gradient passes where lo <= x <= hi (as PyTorch)."""

    def forward(self, x, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: at least one of lo and hi must be given")
        self.save(x)
        self.lo, self.hi = lo, hi
        return np.clip(x, lo, hi)

    def backward(self, grad):
        x = self.saved[0]
        keep = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            keep &= x >= self.lo
        if self.hi is not None:
            keep &= x <= self.hi
        return grad * keep


class Cast(Function):
    """out = x converted to ``dtype``; the gradient is converted back."""

    def forward(self, x, dtype):
        return x.astype(dtype)

    def backward(self, grad):
        return grad.astype(self.inputs[0].data.dtype)


class Clone(Function):
    """out = a copy of x that stays in the graph."""

    def forward(self, x):
        return x.copy()

    def backward(self, grad):
        return grad
