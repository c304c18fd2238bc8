"""Shape ops: reshape, transpose/permute, squeeze/unsqueeze, broadcast, concatenate, stack,
pad. Their VJPs only move gradient entries back where they came from."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd.function import Function
from ._shapes import norm_axis, sum_to


class Reshape(Function):
    """out = x with a new shape (one entry may be -1)."""

    def forward(self, x, shape):
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into shape {tuple(shape)}"
            ) from None

    def backward(self, grad):
        return grad.reshape(self.inputs[0].data.shape)


class Transpose(Function):
    """out = x with axes ``dim0`` and ``dim1`` swapped."""

    def forward(self, x, dim0=0, dim1=1):
        d0, d1 = norm_axis((dim0,), x.ndim, "transpose")[0], norm_axis((dim1,), x.ndim,
                                                                         "transpose")[0]
        self.dims = (d0, d1)
        return x.swapaxes(d0, d1)

    def backward(self, grad):
        return grad.swapaxes(*self.dims)


class Permute(Function):
    """out = x with its axes reordered to ``axes`` (all reversed when ``axes`` is None)."""

    def forward(self, x, axes=None):
        if axes is None:  # Tensor.T: every axis reversed, its own inverse
            self.inverse = None
            return x.T
        key = (tuple(axes), x.ndim)
        plan = _PERMUTATIONS.get(key)
        if plan is None:
            plan = _PERMUTATIONS[key] = _permutation(*key, x.shape)
        self.inverse = plan[1]
        return x.transpose(plan[0])

    def backward(self, grad):
        return grad.T if self.inverse is None else grad.transpose(self.inverse)


_PERMUTATIONS: dict[tuple, tuple] = {}


def _permutation(axes: tuple, n: int, shape: tuple) -> tuple[tuple, tuple]:
    """Validate ``axes`` for ``n`` dims; return (permutation, its inverse)."""
    try:
        ok = all(-n <= a < n for a in axes) and sorted(a % n for a in axes) == list(range(n))
    except (TypeError, ZeroDivisionError):
        ok = len(axes) == n == 0
    if not ok:
        raise ValueError(f"permute: {axes} is not a permutation of the {n} axes of a tensor "
                         f"of shape {shape}")
    perm = tuple(a % n for a in axes)
    inverse = [0] * n
    for i, a in enumerate(perm):
        inverse[a] = i
    return perm, tuple(inverse)


class BroadcastTo(Function):
    """out = x broadcast to ``shape`` (``expand``); -1 keeps a dimension."""

    def forward(self, x, shape):
        lead = len(shape) - x.ndim
        shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s
                      for i, s in enumerate(shape))
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"expand: cannot broadcast shape {x.shape} to {shape}") from None

    def backward(self, grad):
        return sum_to(grad, self.inputs[0].data.shape)


class Concatenate(Function):
    """out = the inputs joined along an existing ``axis``."""

    def forward(self, *xs, axis=0):
        if not xs:
            raise ValueError("concatenate: needs at least one tensor")
        xs = [np.asarray(x) for x in xs]
        (ax,) = norm_axis(axis, xs[0].ndim, "concatenate")
        for x in xs:
            if x.ndim != xs[0].ndim or any(
                    a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if i != ax):
                raise ValueError(
                    f"concatenate: shapes {[t.shape for t in xs]} differ outside axis {ax}")
        self.axis = ax
        self.bounds = np.cumsum([x.shape[ax] for x in xs])[:-1]
        return np.concatenate(xs, axis=ax)

    def backward(self, grad):
        parts = np.split(grad, self.bounds, axis=self.axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs))


class Stack(Function):
    """out = the inputs joined along a new ``axis``."""

    def forward(self, *xs, axis=0):
        if not xs:
            raise ValueError("stack: needs at least one tensor")
        shapes = {np.shape(x) for x in xs}
        if len(shapes) != 1:
            raise ValueError(f"stack: all tensors must have the same shape, got "
                             f"{[np.shape(x) for x in xs]}")
        (ax,) = norm_axis(axis, np.ndim(xs[0]) + 1, "stack")
        self.axis = ax
        return np.stack(xs, axis=ax)

    def backward(self, grad):
        return tuple(np.take(grad, i, axis=self.axis) if need else None
                     for i, need in enumerate(self.needs))


class Pad(Function):
    """out = x padded with a constant, ``pad_width`` in NumPy's form."""

    def forward(self, x, pad_width, value=0.0):
        try:
            widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
        except ValueError:
            raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape "
                             f"{x.shape} (NumPy's form: ((before, after), ...) per axis)") from None
        if (widths < 0).any():
            raise ValueError(f"pad: negative pad_width {pad_width!r}")
        self.slices = tuple(slice(int(b), int(b) + n) for (b, _), n in zip(widths, x.shape))
        # np.pad's result, made directly: a filled array with x copied in (np.pad's general
        # machinery costs ~2x this for a padded batch of images)
        out = np.empty(tuple(int(b + a) + n for (b, a), n in zip(widths, x.shape)), x.dtype)
        out[...] = value
        out[self.slices] = x
        return out

    def backward(self, grad):
        return grad[self.slices]


def flatten(t: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """Merge axes ``start_dim..end_dim`` into one."""
    shape = t.data.shape
    if len(shape) == 0:
        return Reshape.apply(t, shape=(1,))
    (s,) = norm_axis(start_dim, len(shape), "flatten")
    (e,) = norm_axis(end_dim, len(shape), "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    new = shape[:s] + (int(np.prod(shape[s:e + 1], dtype=np.int64)),) + shape[e + 1:]
    return Reshape.apply(t, shape=new)


def squeeze(t: Any, axis: Any = None) -> Any:
    """Drop axes of size 1 (all of them, or those in ``axis`` that have size 1)."""
    shape = t.data.shape
    if axis is None:
        new = tuple(n for n in shape if n != 1)
    else:
        axes = norm_axis(axis, len(shape), "squeeze")
        new = tuple(n for i, n in enumerate(shape) if not (i in axes and n == 1))
    return Reshape.apply(t, shape=new)


def unsqueeze(t: Any, axis: int) -> Any:
    """Insert an axis of size 1 at position ``axis`` (negative counts from the end)."""
    shape = t.data.shape
    (ax,) = norm_axis(axis, len(shape) + 1, "unsqueeze")
    return Reshape.apply(t, shape=shape[:ax] + (1,) + shape[ax:])


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along an existing axis."""
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along a new axis."""
    return Stack.apply(*tensors, axis=axis)
