"""The base class of every primitive operation, and protection of saved arrays.

A primitive subclasses :class:`Function` and declares, side by side,

* ``forward(self, *arrays, **params) -> ndarray`` - computes the output from NumPy arrays and
  keeps what the gradient needs: arrays the *user can reach* (inputs, the output) through
  ``self.save(...)`` so that they are protected against in-place modification; anything the
  op derives itself as a plain attribute;
* ``backward(self, grad) -> ndarray | tuple`` - the vector-Jacobian product: given
  ``grad = dC/d(out)`` it returns ``dC/d(input)`` for each positional input, in order, or
  ``None`` where ``self.needs[i]`` is False (that input needs no gradient);
* optionally ``saves`` - which arrays *the user can reach* the backward reads: input
  positions, and ``"out"`` for the output (``Linear`` reads x and W, ``(0, 1)``; ``Sigmoid``
  only its output, ``("out",)``; ``Add`` none, ``()``). Only those are protected against
  in-place modification (below). The default, ``None``, protects every input and the output,
  which is always safe; an op whose output is a *view* of an input must keep that input in
  ``saves`` (writing through the view's base would change what it saved).

``Op.apply(*inputs, **params)`` runs the forward pass and, when grad mode is on and some input
requires a gradient, records a graph node. Inputs that are not Tensors (Python numbers, NumPy
arrays) are constants: they pass to ``forward`` unchanged, so NumPy's promotion rules apply
(a Python float never turns a float32 tensor into float64). A NumPy array in a position the
op saves is copied first when a node is recorded: the caller may still change it in place.
"""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np

from .grad_mode import STATE
from .numerics import quiet_off, quiet_on

# Protection of saved arrays, in two rules that together cover every array a user can reach
# and a backward reads (an op's ``saves``; by default all its inputs and its output):
#
# R1. The output array of a recorded op is made read-only when an op that saves it is
#     recorded (the op itself, or a consumer), and writeable again when its producer's
#     backward has run: every node that could have saved it is the producer or a consumer,
#     and consumers run before their producer (topological order). The producer's ``_out``
#     holds the array while it is protected.
# R2. A leaf tensor saved by a recorded op (a parameter, an input batch) is read-only while
#     any live node saving it exists: a count per leaf.
#
# A node dropped without backward undoes both in __del__. Arrays that were read-only before
# we touched them are never made writeable. Arrays no backward reads (a bias, Linear's
# output, a loss's labels) are left alone: fewer flag flips per op, and the user may modify
# them in place, as in PyTorch.
#
# Per leaf the counts live in Tensor slots: _uses (live nodes saving it) and _used_by (the op
# that made it read-only, or "" if it already was read-only).


def _unuse_leaves(leaves: list) -> None:
    for t in leaves:
        u = t._uses - 1
        t._uses = u
        if u == 0 and t._used_by:
            _make_writeable(t.data)


def _make_writeable(arr: np.ndarray) -> None:
    try:
        arr.setflags(True)  # write=True (positional: NumPy parses a keyword for ~0.1 us)
    except ValueError:
        pass  # a view of a protected base, or an array that was never ours to change


def saved_by(t: Any) -> str | None:
    """Name of an op whose pending backward needs tensor ``t``'s array, if any."""
    if t._node is None and t._uses > 0:
        return t._used_by or None
    if t._node is not None and t._node._out is not None:
        return t._node.name
    return None


def check_writeable(t: Any, what: str) -> None:
    """Raise a RuntimeError naming the op if tensor ``t``'s array may not be modified."""
    arr = t.data
    if arr.flags.writeable:
        return
    op = saved_by(t)
    if op is None:
        raise RuntimeError(f"{what}: the tensor's array is read-only and cannot be modified in "
                           "place")
    if t._node is None:
        who = f"is needed by {op}"
    else:  # an op's output: its consumers may have saved it (and the producer, e.g. Exp)
        who = f"(the output of {op}) may be needed by the ops that used it"
    raise RuntimeError(
        f"{what}: this tensor (shape {arr.shape}) {who} for a backward pass that has not run "
        "yet, so modifying it in place would make that gradient wrong. Call backward() first "
        "(or drop the graph), or use an out-of-place operation (x = x + 1) or "
        "x.detach().clone()."
    )


_new = object.__new__
_ndarray = np.ndarray
_TRUE1 = (True,)
_SEQ = 0

_FREED_MSG = (
    "Trying to backward through the graph a second time (or through a part of it that an "
    "earlier backward already freed). Pass retain_graph=True to the first backward() if you "
    "need to call it again, or recompute the forward pass."
)


class Function:
    """Base class of primitive ops; see the module docstring for the contract."""

    __slots__ = ("inputs", "needs", "saved", "seq", "_out", "_leaves", "__weakref__",
                 "__dict__")
    hooks: list | None = None  # gradient hooks of the output tensor (rarely set)
    where: str | None = None   # creation stack, recorded under detect_anomaly
    saves: tuple | None = None  # see the module docstring; None: every input and the output
    # ``saves`` split for apply(): the input positions as a slice of the inputs (positions
    # that are not one run protect every input: safe, and no op needs that) and whether
    # "out" is in it
    _save_in: slice = slice(None)
    _save_out: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "saves" in cls.__dict__:
            s = cls.saves
            if s is None:
                cls._save_in, cls._save_out = slice(None), True
            else:
                bad = [v for v in s if v != "out" and not (isinstance(v, int) and v >= 0)]
                if bad:
                    raise TypeError(f"{cls.__name__}.saves: expected input positions and "
                                    f"'out', got {bad!r}")
                pos = sorted(v for v in s if v != "out")
                run = bool(pos) and pos == list(range(pos[0], pos[-1] + 1))
                cls._save_in = slice(pos[0], pos[-1] + 1) if run else \
                    slice(0, 0) if not pos else slice(None)
                cls._save_out = "out" in s

    # -- the two halves every op defines ------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, *arrays: Any) -> None:
        """Keep arrays for backward; they are released right after it."""
        self.saved = arrays

    # -- recording ----------------------------------------------------------------------
    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on the inputs' arrays; record a node if a gradient is needed."""
        global _SEQ
        fn = _new(cls)
        # Forward passes follow IEEE without warnings (1e300 * 1e300 is inf, as in PyTorch),
        # whatever np.errstate the caller set; rg.detect_anomaly is the tool to find them.
        token = quiet_on()
        try:
            # Unrolled for one and two inputs: this is the hottest path of the library.
            n = len(args)
            if n == 1:
                a = args[0]
                record = STATE.enabled and a._requires_grad
                # (a plain call when there are no options: ** costs a dict copy)
                out = fn.forward(a.data, **kwargs) if kwargs else fn.forward(a.data)
                if record:
                    fn.needs = _TRUE1
            elif n == 2:
                a, b = args
                if isinstance(a, Tensor):
                    ga = a._requires_grad
                    a = a.data
                    const = False
                else:
                    ga = False
                    const = isinstance(a, _ndarray)
                if isinstance(b, Tensor):
                    gb = b._requires_grad
                    b = b.data
                else:
                    gb = False
                    const = const or isinstance(b, _ndarray)
                record = (ga or gb) and STATE.enabled
                if record and const:
                    a, b = _private_constants(cls, args, (a, b))
                out = fn.forward(a, b, **kwargs) if kwargs else fn.forward(a, b)
                if record:
                    fn.needs = (ga, gb)
            elif n == 3:  # linear(x, weight, bias), where(cond, x, y), ...
                a, b, c = args
                if isinstance(a, Tensor):
                    ga = a._requires_grad
                    a = a.data
                    const = False
                else:
                    ga = False
                    const = isinstance(a, _ndarray)
                if isinstance(b, Tensor):
                    gb = b._requires_grad
                    b = b.data
                else:
                    gb = False
                    const = const or isinstance(b, _ndarray)
                if isinstance(c, Tensor):
                    gc = c._requires_grad
                    c = c.data
                else:
                    gc = False
                    const = const or isinstance(c, _ndarray)
                record = (ga or gb or gc) and STATE.enabled
                if record and const:
                    a, b, c = _private_constants(cls, args, (a, b, c))
                out = fn.forward(a, b, c, **kwargs) if kwargs else fn.forward(a, b, c)
                if record:
                    fn.needs = (ga, gb, gc)
            else:
                needs = [isinstance(a, Tensor) and a._requires_grad for a in args]
                record = STATE.enabled and True in needs
                arrays = [a.data if isinstance(a, Tensor) else a for a in args]
                if record and any(isinstance(a, _ndarray) for a in args[cls._save_in]):
                    arrays = _private_constants(cls, args, arrays)
                out = fn.forward(*arrays, **kwargs)
                if record:
                    fn.needs = needs
        finally:
            quiet_off(token)
        if out.__class__ is not _ndarray:
            out = np.asarray(out)  # ufuncs on 0-d arrays return NumPy scalars
        t = _new(Tensor)
        t.data = out
        t.grad = None
        t._hooks = None
        if not record:
            t._requires_grad = False
            t._node = None
            t._uses = 0
            fn._out = fn._leaves = None  # so that __del__ finds nothing to undo
            return t
        fn.inputs = args
        _SEQ += 1
        fn.seq = -_SEQ  # newest first: decreasing creation order is a topological order
        if cls._save_out:
            # R1: a fresh output is always writeable; a view of a read-only array stays
            # read-only when the engine tries to restore it, which is what we want.
            out.setflags(False)  # write=False, positional as above
            fn._out = out
        else:
            fn._out = None
        leaves = None
        for a in args[cls._save_in]:
            if not isinstance(a, Tensor):
                continue
            if a._node is None:  # R2
                if a._uses:
                    a._uses += 1
                else:  # the first live node saving this leaf: protect its array
                    arr = a.data
                    if arr.flags.writeable:
                        arr.setflags(False)
                        a._used_by = cls.__name__
                    else:
                        a._used_by = ""
                    a._uses = 1
                if leaves is None:
                    leaves = [a]
                else:
                    leaves.append(a)
            else:  # R1, for an output its producer did not save (not yet run or freed)
                p = a._node
                if p._out is None and p.inputs is not None:
                    arr = a.data
                    if arr.flags.writeable:
                        arr.setflags(False)
                        p._out = arr
        fn._leaves = leaves
        if STATE.anomaly:
            _anomaly_forward(fn, out)
        t._requires_grad = True
        t._node = fn
        return t

    def __del__(self) -> None:
        # A graph dropped without backward gives its arrays back their writeability.
        try:
            if self._leaves is not None:
                _unuse_leaves(self._leaves)
            if self._out is not None:
                _make_writeable(self._out)
        except Exception:  # noqa: BLE001 - interpreter shutdown, or a node never recorded
            pass

    # -- introspection (used by explain and error messages) -----------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        """The nodes (or leaf tensors) feeding this node, in input order."""
        if self.inputs is None:
            return ()
        return tuple(
            (a._node if a._node is not None else a) if isinstance(a, Tensor) else None
            for a in self.inputs
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _private_constants(cls: type, args: tuple, arrays: Any) -> Any:
    """``arrays`` with a private copy of each NumPy array passed as a constant (not a Tensor)
    in a position the op saves for its backward.

    The caller still owns such an array and may change it in place before ``backward()``;
    it cannot be protected like a Tensor's (it has no count of the nodes saving it), so the
    node keeps the values it saw, as PyTorch does when it turns an array into a tensor.
    """
    saved = range(len(args))[cls._save_in]
    # (an ndarray among the op's own arguments is a constant: a Tensor is not an ndarray)
    return [a.copy() if i in saved and isinstance(args[i], _ndarray) else a
            for i, a in enumerate(arrays)]


def _anomaly_forward(fn: Function, out: np.ndarray) -> None:
    fn.where = "".join(traceback.format_stack(limit=12)[:-3])
    if out.dtype.kind in "fc" and not np.all(np.isfinite(out)):
        from .anomaly import AnomalyError

        shapes = [getattr(a, "shape", type(a).__name__) for a in fn.inputs]
        raise AnomalyError(
            f"{type(fn).__name__} produced non-finite values in its forward output "
            f"(output shape {out.shape}, input shapes {shapes}). The op was created at:\n"
            f"{fn.where}"
        )


from ..tensor import Tensor  # noqa: E402  (circular: Tensor's methods call ops)
