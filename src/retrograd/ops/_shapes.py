"""Shape helpers shared by all ops: undoing broadcasting, checking axes and shape arguments."""

from __future__ import annotations

import operator
from math import prod
from typing import Any, Sequence

import numpy as np

from ._reduce import sum_columns

_SUM_TO_PLANS: dict[tuple, tuple] = {}


def sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting stretched, giving an array of ``shape``.

    This is the one place where broadcasting is undone: if ``x`` of ``shape`` was broadcast
    to ``grad.shape`` in the forward pass, each of its elements was used once per copy, so
    its gradient is the sum over the copies (leading axes added, and axes of size 1).
    """
    if grad.shape == shape:
        return grad
    key = (grad.shape, shape)
    plan = _SUM_TO_PLANS.get(key)
    if plan is None:
        lead = grad.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
        )
        # Only leading axes summed (a bias): column sums of grad seen as (rows, prod(shape))
        cols = prod(shape) if axes == tuple(range(lead)) and lead else 0
        plan = _SUM_TO_PLANS[key] = (axes, cols)
    axes, cols = plan
    if cols and grad.flags.c_contiguous and grad.dtype.char in "fd":
        # a GEMV with a ones vector: 3x faster than NumPy's reduction (see _reduce)
        return sum_columns(grad.reshape(-1, cols)).reshape(shape)
    out = grad.sum(axis=axes) if axes else grad
    return out.reshape(shape)


def broadcast_error(op: str, *shapes: Any) -> ValueError:
    listed = " and ".join(str(tuple(s)) for s in shapes)
    return ValueError(f"{op}: shapes {listed} cannot be broadcast together")


def norm_axis(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """Validate ``axis`` (None, int or tuple of ints) for an array of ``ndim`` dimensions."""
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(out)


def shape_arg(shape: Sequence[Any], op: str, sizes: bool = False) -> tuple[int, ...]:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` / ``f([2, 3])``: integers only (a float such as
    2.5 is refused, not truncated; bools too). With ``sizes``, every entry must be >= 0
    (a new array's shape; ``reshape`` and ``permute`` take -1 and negative axes)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    out = tuple(shape)
    for s in out:
        if type(s) is not int:  # (the common case, Python ints, costs one check each)
            try:
                out = tuple(operator.index(s) for s in shape)
            except TypeError:
                out = None
            if out is None or any(isinstance(s, (bool, np.bool_)) for s in shape):
                raise TypeError(f"{op}: a shape must be integers, got {tuple(shape)!r}")
            break
    if sizes and any(s < 0 for s in out):
        raise ValueError(f"{op}: a shape must not be negative, got {out}")
    return out
