"""Linear algebra: matmul (NumPy semantics, 1-D and batched), the fused ``linear`` and
``linear`` fused with a following activation (``LinearReLU``, ``LinearSigmoid``,
``LinearTanh``)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..autograd.function import Function
from ._reduce import sum_columns
from ._shapes import sum_to
from .activation import (
    relu_,
    relu_into,
    relu_mask_mul,
    sigmoid_,
    sigmoid_grad,
    sigmoid_into,
    tanh_,
    tanh_grad,
)

# Below this many elements `out + b` (a new array) beats `out += b`: NumPy's in-place
# operator has a fixed cost of ~1 us, an allocation that small far less.
_INPLACE_MIN = 4096


# From this many output elements on, 2-D products go through np.matmul rather than
# ndarray.dot: dot zero-fills its output before the GEMM (which overwrites it anyway), an
# extra pass worth ~2 % of a GEMM-bound step; below it dot's ~0.7 us lower call cost wins.
_MATMUL_MIN = 4096
_matmul = np.matmul


def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D ``a`` and ``b`` (a new array), by the cheaper NumPy call.

    Not ``dot`` for an inner dimension of 1: it then takes a 1 x 1 operand for a scalar
    and scales by BLAS, which writes 0 for inf * 0 instead of NaN."""
    if a.shape[0] * b.shape[1] < _MATMUL_MIN and a.shape[1] != 1:
        return a.dot(b)
    return _matmul(a, b)


def _matmul_error(x: np.ndarray, y: np.ndarray) -> ValueError:
    if x.ndim == 0 or y.ndim == 0:
        return ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                          f"{x.shape} and {y.shape} (use * for scalars)")
    k1 = x.shape[-1]
    k2 = y.shape[0] if y.ndim == 1 else y.shape[-2]
    if k1 != k2:
        return ValueError(f"matmul: shapes {x.shape} and {y.shape} do not align ({k1} != {k2})")
    return ValueError(f"matmul: batch dimensions of {x.shape} and {y.shape} cannot be "
                      "broadcast together")


class MatMul(Function):
    """out = x @ y with NumPy's rules (1-D operands are promoted and the axis dropped)."""

    saves = (0, 1)

    def forward(self, x, y):
        if type(x) is not np.ndarray or type(y) is not np.ndarray:  # constants: scalars
            x, y = np.asarray(x), np.asarray(y)
        self.saved = (x, y)  # self.save(), inlined
        try:
            if len(x.shape) == 2 and len(y.shape) == 2:
                return mm(x, y)
            return np.matmul(x, y)
        except ValueError:
            raise _matmul_error(x, y) from None

    def backward(self, grad):
        # For z = x y: dC/dx = dC/dz y^T and dC/dy = x^T dC/dz (seed 004's identities),
        # with 1-D operands seen as a row (x) or a column (y), and batch axes summed back.
        x, y = self.saved
        n = self.needs
        if x.ndim == 2 and y.ndim == 2:  # the common case: no promotion, no batch axes
            gx = gy = None
            if n[0]:
                # x = W.T (F-ordered): make the gradient in W's layout (see _transposed)
                gx = mm(y, grad.T).T if _transposed(x) else mm(grad, y.T)
            if n[1]:
                gy = mm(grad.T, x).T if _transposed(y) else mm(x.T, grad)
            return gx, gy
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g = grad
        if y.ndim == 1:  # first: 1-D @ 1-D gives a 0-d grad, which becomes (1,) then (1, 1)
            g = g[..., None]
        if x.ndim == 1:
            g = g[..., None, :]
        gx = gy = None
        if n[0]:
            if _transposed(x) and y.ndim == 2 and g.ndim == 2:  # x = W.T: keep W's layout
                gx = np.matmul(y, g.T).T
            else:
                gx = np.matmul(g, y2.swapaxes(-1, -2))
                gx = sum_to(gx, x2.shape).reshape(x.shape)
        if n[1]:
            if _transposed(y) and g.ndim == 2 and x.ndim == 2:
                gy = np.matmul(g.T, x).T  # the usual x @ W.T: dC/dW = g^T x, made directly
            else:
                gy = np.matmul(x2.swapaxes(-1, -2), g)
                gy = sum_to(gy, y2.shape).reshape(y.shape)
        return gx, gy


def _transposed(a: np.ndarray) -> bool:
    """True for a 2-D operand laid out as a transposed matrix (``W.T``).

    Its gradient is made as the transpose of a C-ordered array, so that the transpose's VJP
    hands ``W`` a C-ordered gradient: copying a (784, 256) gradient out of transposed order
    costs more than the matmul that made it.
    """
    flags = a.flags
    return a.ndim == 2 and flags.f_contiguous and not flags.c_contiguous


class Linear(Function):
    """out = x W^T + b, fused (``W`` of shape (out, in), as ``nn.Linear``).

    One primitive instead of transpose, matmul and add: two fewer nodes and no temporary
    for the bias; tested against that composition. :class:`LinearAct` extends it with an
    activation.
    """

    saves = (0, 1)

    def forward(self, x, weight, bias=None):
        ws = weight.shape
        if len(ws) != 2 or not x.shape or x.shape[-1] != ws[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} does not match weight of shape "
                f"{weight.shape} (expected input (..., {weight.shape[-1]}))"
            )
        if bias is not None and (bias.shape if type(bias) is np.ndarray else np.shape(bias)) \
                not in ((ws[0],), ()):
            raise ValueError(f"linear: bias of shape {np.shape(bias)} does not match weight of "
                             f"shape {weight.shape} (expected ({weight.shape[0]},))")
        self.saved = (x, weight)  # self.save(), inlined
        out = mm(x, weight.T) if len(x.shape) == 2 else x @ weight.T
        if bias is not None:
            if out.size > _INPLACE_MIN:
                out += bias  # out is fresh: add the bias in place (no new array)
            else:
                out = out + bias  # small: a new array costs less than the in-place ufunc
        return out  # always a fresh array: LinearAct changes it in place

    def backward(self, grad):
        # BP: dC/dx = delta W, dC/dW = delta^T x (= delta a^T per sample), dC/db = sum delta
        saved = self.saved  # (x, W), and LinearAct's output after them
        x = saved[0]
        w = saved[1]
        n = self.needs
        if grad.ndim == 2:
            g2 = grad
            gx = mm(grad, w) if n[0] else None
        else:
            g2 = grad.reshape(-1, grad.shape[-1])
            gx = (grad @ w) if n[0] else None
        gw = None
        if n[1]:
            x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
            gw = mm(g2.T, x2)
        gb = None
        if len(n) > 2 and n[2]:
            gb = sum_columns(g2)
            if self.inputs[2].data.ndim == 0:  # needs[2]: a Tensor
                gb = gb.sum()
        return gx, gw, gb


class LinearAct(Linear):
    """out = act(x W^T + b): :class:`Linear` followed by an activation, as one primitive
    (same arguments and errors as ``Linear``). Use a subclass: :class:`LinearReLU`,
    :class:`LinearSigmoid`, :class:`LinearTanh`.

    The forward pass is Linear's, then the activation in place on its fresh output (no
    second array); the backward pass multiplies the incoming gradient by the activation's
    derivative, computed from the saved output, and runs Linear's backward on the product.
    Equal, forward and backward, to ``Linear`` then the activation op (the same NumPy
    operations on the same values), with one graph node instead of two. ``nn.Sequential``
    uses it for a hook-free ``nn.Linear`` followed by a hook-free ``nn.ReLU``,
    ``nn.Sigmoid`` or ``nn.Tanh``. Floating-point operands only (an integer GEMM output
    cannot hold the activation in place).
    """

    saves = (0, 1, "out")  # x and W as Linear, and the output for the derivative
    # set by each subclass: the activation in place on a float array (returning it, or None
    # if it lost the array's values on the way: then ``_act`` runs on a recomputed z), the
    # activation into a new array, and ``grad * act'`` as a new array from its output
    _act_: Callable[[np.ndarray], np.ndarray | None]
    _act: Callable[[np.ndarray], np.ndarray]
    _act_grad: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def forward(self, x, weight, bias=None):
        out = Linear.forward(self, x, weight, bias)  # saves (x, weight)
        if out.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}: expected floating-point operands, got "
                            f"{x.dtype} and {weight.dtype}")
        a = self._act_(out)
        if a is None:  # (rare: sigmoid_'s fast form overflowed) z is lost: recompute it
            a = self._act(Linear.forward(self, x, weight, bias))
        self.saved += (a,)
        return a

    def backward(self, grad):
        return Linear.backward(self, self._act_grad(grad, self.saved[2]))


class LinearReLU(LinearAct):
    """out = max(x W^T + b, 0); relu'(0) = 0, as the ReLU op. See :class:`LinearAct`."""

    _act_ = staticmethod(relu_)
    _act = staticmethod(relu_into)
    _act_grad = staticmethod(relu_mask_mul)


class LinearSigmoid(LinearAct):
    """out = sigma(x W^T + b), in the Sigmoid op's stable form. See :class:`LinearAct`."""

    _act_ = staticmethod(sigmoid_)
    _act = staticmethod(sigmoid_into)
    _act_grad = staticmethod(sigmoid_grad)


class LinearTanh(LinearAct):
    """out = tanh(x W^T + b). See :class:`LinearAct`."""

    _act_ = staticmethod(tanh_)
    _act = staticmethod(np.tanh)
    _act_grad = staticmethod(tanh_grad)


# The fused op for each activation name (nn.Linear's fusion in nn.Sequential)
LINEAR_ACT = {"relu": LinearReLU, "sigmoid": LinearSigmoid, "tanh": LinearTanh}
