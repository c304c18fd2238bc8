"""Indexing: ``t[idx]`` and ``t[idx] = v``.

Any NumPy index works: ints, slices, ``None``, ``...``, integer arrays or Tensors, boolean
masks (``t[t > 0]``). The VJP scatters the gradient back; with integer arrays the same
element may be picked several times, and then its gradients add up (``np.add.at``, when an
index may repeat an element).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Function, check_writeable
from ..autograd.grad_mode import STATE
from ._shapes import sum_to


def _convert_index(index: Any) -> tuple[Any, bool]:
    """Tensors/lists inside an index become arrays; also say whether it is 'advanced'."""
    from ..tensor import Tensor

    items = index if isinstance(index, tuple) else (index,)
    out = []
    advanced = False
    for it in items:
        if isinstance(it, Tensor):
            it = it.data.copy()  # kept for the VJP: changing the caller's array later
        elif isinstance(it, list):  # must not move where the gradient goes
            it = np.asarray(it)
        elif isinstance(it, np.ndarray):
            it = it.copy()
        if isinstance(it, np.ndarray):
            if it.dtype.kind not in "iub":
                raise IndexError(
                    f"getitem: index arrays must be integer or boolean, got {it.dtype}")
            advanced = True
        elif isinstance(it, float):
            raise IndexError(f"getitem: float index {it!r}; indices must be integers")
        out.append(it)
    return (tuple(out) if isinstance(index, tuple) else out[0]), advanced


def _selects_once(index: Any, shape: tuple) -> bool:
    """Whether an advanced ``index`` (as made by :func:`_convert_index`, and valid for
    ``shape``) picks no element twice, so that its VJP may assign the gradient rather than
    accumulate it with ``np.add.at`` (~30x slower). Recognised: one boolean mask, or one
    integer array on the first axis without repeats, next to ints and slices only."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = [it for it in items if isinstance(it, np.ndarray)]
    if len(arrays) != 1 or not all(isinstance(it, (np.ndarray, slice, int, np.integer))
                                   for it in items):
        return False
    a = arrays[0]
    if a.dtype == np.bool_:
        return True
    if a is not items[0] or a.size < 2:
        return a.size < 2
    rows = np.sort(a.reshape(-1) % shape[0])  # -1 and n - 1 are the same row
    return bool((rows[1:] != rows[:-1]).all())


def _index_error(x: np.ndarray, index: Any, exc: Exception) -> IndexError:
    return IndexError(f"getitem: index {index!r} is invalid for a tensor of shape {x.shape} "
                      f"({exc})")


class GetItem(Function):
    """out = x[index]."""

    def forward(self, x, index):
        idx, self.advanced = _convert_index(index)
        self.index = idx
        try:
            return x[idx]
        except (IndexError, ValueError, TypeError) as exc:
            raise _index_error(x, index, exc) from None

    def backward(self, grad):
        x = self.inputs[0].data
        gx = np.zeros(x.shape, dtype=grad.dtype)
        if self.advanced and not _selects_once(self.index, x.shape):
            np.add.at(gx, self.index, grad)  # repeated indices accumulate
        else:
            gx[self.index] = grad  # basic indexing never repeats an element
        return gx


class SetItem(Function):
    """out = a copy of x with x[index] = value (the functional form of ``t[index] = v``)."""

    def forward(self, x, value, index):
        idx, _ = _convert_index(index)
        self.index = idx
        out = x.copy()
        try:
            out[idx] = value
        except (IndexError, ValueError, TypeError) as exc:
            raise IndexError(f"setitem: cannot assign a value of shape {np.shape(value)} to "
                             f"index {index!r} of a tensor of shape {x.shape} ({exc})") from None
        return out

    def backward(self, grad):
        n = self.needs
        gx = gv = None
        if n[0]:
            gx = grad.copy()
            gx[self.index] = 0  # overwritten elements do not depend on x
        if n[1]:
            gv = sum_to(grad[self.index], np.shape(self.inputs[1].data))
        return gx, gv


def setitem(t: Any, index: Any, value: Any) -> None:
    """``t[index] = value``: in place outside the graph; recorded functionally inside it."""
    from ..tensor import Tensor

    v_grad = isinstance(value, Tensor) and value._requires_grad
    if STATE.enabled and (t._requires_grad or v_grad):
        if t._node is None and t._requires_grad:
            raise RuntimeError(
                "setitem: a leaf tensor that requires grad cannot be modified in place while "
                "gradients are recorded; use `with rg.no_grad():` or build a new tensor"
            )
        # Replace t's value by a new node whose input is t's previous state.
        before = Tensor._wrap(t.data, t._requires_grad)
        before._node = t._node
        new = SetItem.apply(before, value, index=index)
        t.data, t._node, t._requires_grad = new.data, new._node, True
        return
    check_writeable(t, "setitem")
    idx, _ = _convert_index(index)
    v = value.data if isinstance(value, Tensor) else value
    try:
        t.data[idx] = v
    except (IndexError, ValueError, TypeError) as exc:
        raise IndexError(f"setitem: cannot assign a value of shape {np.shape(v)} to index "
                         f"{index!r} of a tensor of shape {t.data.shape} ({exc})") from None
