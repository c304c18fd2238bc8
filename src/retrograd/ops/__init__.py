"""Primitive operations, one module per family (forward and VJP side by side)."""

from ._shapes import norm_axis, shape_arg, sum_to
from .activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .elementwise import (
    Abs,
    Add,
    Cast,
    Clip,
    Clone,
    Div,
    Exp,
    Log,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    Sqrt,
    Sub,
    Where,
)
from .index import GetItem, SetItem, setitem
from .linalg import Linear, LinearAct, LinearReLU, LinearSigmoid, LinearTanh, MatMul
from .reduce import Max, Mean, Min, Std, Sum, Var, argmax, argmin
from .shape import (
    BroadcastTo,
    Concatenate,
    Pad,
    Permute,
    Reshape,
    Stack,
    Transpose,
    concatenate,
    flatten,
    squeeze,
    stack,
    unsqueeze,
)
from .softmax import LogSoftmax, LogSumExp, Softmax


def _t(x):
    from ..tensor import Tensor, _const

    return x if isinstance(x, Tensor) else _const(x)


def maximum(a, b):
    """Elementwise maximum; at a tie each input gets half the gradient."""
    return Maximum.apply(_t(a), _t(b))


def minimum(a, b):
    """Elementwise minimum; at a tie each input gets half the gradient."""
    return Minimum.apply(_t(a), _t(b))


def where(cond, a, b):
    """``a`` where ``cond`` is true, else ``b`` (gradients flow only to the chosen side)."""
    from ..tensor import Tensor

    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if c.dtype != np.bool_:
        c = c.astype(bool)
    return Where.apply(c, _t(a), _t(b))


import numpy as np  # noqa: E402

__all__ = [name for name in dir() if not name.startswith("_")]
