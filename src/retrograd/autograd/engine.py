"""Reverse-mode accumulation over the recorded graph.

Every node gets a sequence number when it is recorded, and its inputs always exist before
it, so *decreasing creation order is a topological order*. The engine keeps the nodes that
have received a gradient in a heap keyed by that number and always runs the newest one:
by then every consumer of its output has run, so its gradient is complete (a value used
twice has the sum of both paths). This is PyTorch's scheme; it needs no recursion (a chain
of 100,000 ops is fine) and no separate pass to count dependencies.

Gradients live in a dict and are popped when used, so memory is given back as the walk
proceeds; each node frees its saved arrays right after its backward, unless
``retain_graph=True``.
"""

from __future__ import annotations

from heapq import heappop, heappush
from sys import getrefcount
from typing import Any, Callable

import numpy as np

from .function import _FREED_MSG, Function, _make_writeable
from .grad_mode import STATE
from .numerics import quiet_off, quiet_on

# Observers (the explain layer) get (node, grad_out, grads_in) for each node run, and
# (tensor, grad, None) for each leaf accumulation. Empty in normal use: one truth test/node.
OBSERVERS: list[Callable[..., Any]] = []

# Below this many elements `acc + g` (a new array) beats `acc += g`: NumPy's in-place
# operator costs ~1 us of fixed overhead, an allocation that small far less.
_INPLACE_MIN = 4096


def _shape_error(node: Function, i: int, got: Any, want: np.ndarray) -> RuntimeError:
    return RuntimeError(
        f"{node.name}.backward returned a gradient of shape {np.shape(got)} for input {i}, "
        f"whose shape is {want.shape} (a missing sum_to for broadcasting?)"
    )


def run_backward(root: Any, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Accumulate ``d(root)/d(leaf) . grad`` into ``.grad`` of every leaf that requires it.

    Runs with NumPy's floating-point warnings off: like forward passes (see
    ``Function.apply``), VJPs follow IEEE (inf, NaN) without warning; ``rg.detect_anomaly``
    is the tool to find non-finite gradients.
    """
    token = quiet_on()
    try:
        _run_backward(root, grad, retain_graph)
    finally:
        quiet_off(token)


def _run_backward(root: Any, grad: np.ndarray, retain_graph: bool) -> None:
    node = root._node
    if node is None:  # backward() on a leaf: its gradient is the seed itself
        _accumulate_leaves({root: grad})
        return
    grads: dict[Function, Any] = {node: grad}
    owned: set = set()  # nodes/leaves whose gradient array the engine made (safe for +=)
    leaves: dict[Any, np.ndarray] = {}
    heap: list = []
    anomaly = STATE.anomaly
    observers = OBSERVERS
    while True:
        g = grads.pop(node)
        inputs = node.inputs
        if inputs is None:
            raise RuntimeError(_FREED_MSG)
        if node.hooks:
            g = _run_hooks(node.hooks, g)
        in_grads = node.backward(g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if anomaly:
            _anomaly_check(node, in_grads)
        if observers:
            for obs in observers:
                obs(node, g, in_grads)
        for a, gi, need in zip(inputs, in_grads, node.needs):
            if need and gi is not None:
                want = a.data
                if gi.shape != want.shape or gi.dtype is not want.dtype:
                    gi = _conform(node, inputs, a, gi)
                parent = a._node
                if parent is None:
                    acc = leaves.get(a)
                    if acc is None:
                        leaves[a] = gi
                    elif a in owned:
                        acc += gi  # an array the engine made: safe to update in place
                    else:
                        leaves[a] = acc + gi
                        if acc.size > _INPLACE_MIN:
                            owned.add(a)
                else:
                    acc = grads.get(parent)
                    if acc is None:
                        grads[parent] = gi
                        heappush(heap, (parent.seq, parent))
                    elif parent in owned:
                        acc += gi
                    else:
                        grads[parent] = acc + gi
                        if acc.size > _INPLACE_MIN:
                            owned.add(parent)
        if not retain_graph:
            # Free what the node saved and undo its protection (rules R1, R2 in function.py);
            # inline: this runs once per node of every backward pass
            node.saved = node.inputs = None
            # leaves first: an output that is a view of a leaf's array (W.T) can only be made
            # writeable once the leaf's array is (else NumPy raises, which costs more)
            used = node._leaves
            if used is not None:
                node._leaves = None
                for t in used:
                    u = t._uses - 1
                    t._uses = u
                    if u == 0 and t._used_by:
                        _make_writeable(t.data)
            out = node._out
            if out is not None:
                node._out = None
                try:
                    out.setflags(True)  # write=True, positional (a keyword costs ~0.1 us more)
                except ValueError:
                    pass  # a view of a protected array: see rule R1 in function.py
        if not heap:
            break
        node = heappop(heap)[1]
    if leaves:
        g = in_grads = gi = acc = None  # drop local references (see _sole_view)
        _accumulate_leaves(leaves)


def _conform(node: Function, inputs: tuple, a: Any, gi: Any) -> np.ndarray:
    """A gradient must match its input's shape (checked) and dtype (converted)."""
    want = a.data
    if np.shape(gi) != want.shape:
        i = next(k for k, t in enumerate(inputs) if t is a)  # identity: == is elementwise
        raise _shape_error(node, i, gi, want)
    return np.asarray(gi).astype(want.dtype, copy=False)


def _run_hooks(hooks: list, g: np.ndarray) -> np.ndarray:
    for hook in list(hooks):
        r = hook(Tensor._wrap(g))
        if r is not None:
            g = r.data if isinstance(r, Tensor) else np.asarray(r)
    return g


def _accumulate_leaves(leaves: dict) -> None:
    """Add each leaf's gradient of this pass into its ``.grad``.

    A leaf's ``.grad`` must own its memory (optimisers and clipping update it in place), so
    an array that is a view, read-only, or already given to another leaf is copied.
    """
    given: set[int] = set()
    observers = OBSERVERS
    for t, g in leaves.items():
        if t._hooks:
            g = _run_hooks(t._hooks, g)
        if observers:
            for obs in observers:
                obs(t, g, None)
        grad = t.grad
        if grad is None:
            if (type(g) is not np.ndarray or not g.flags.writeable or id(g) in given
                    or (g.base is not None and not _sole_view(g))):
                g = np.array(g, dtype=t.data.dtype, copy=True, order="C")
            given.add(id(g))
            w = _new(Tensor)  # Tensor._wrap(g), inlined: this runs once per parameter
            w.data = g
            w.grad = w._node = w._hooks = None
            w._requires_grad = False
            w._uses = 0
            t.grad = w
        else:
            acc = grad.data
            if acc.shape == g.shape and acc.dtype == g.dtype and acc.flags.writeable:
                acc += g
            else:
                t.grad = _wrap(np.asarray(acc + g, dtype=t.data.dtype))


def _sole_view(g: np.ndarray) -> bool:
    """True if ``g`` is a C-ordered view covering all of a base array that nothing else
    references, e.g. the transpose of a fresh matmul result: then ``g`` may become a leaf's
    ``.grad`` without a copy, since no other array can see (or change) its memory."""
    base = g.base
    if not (type(base) is np.ndarray and base.base is None and g.flags.c_contiguous
            and base.nbytes == g.nbytes):
        return False
    del base  # count only the references held outside this check
    return _base_refs(g) == _SOLE_REFS


def _base_refs(g: np.ndarray) -> int:
    base = g.base
    return getrefcount(base)


# What _base_refs reports for a base that only its view references, measured rather than
# assumed (how the interpreter counts references to locals differs between versions).
_SOLE_REFS = _base_refs(np.empty(2)[:])


def _anomaly_check(node: Function, in_grads: tuple) -> None:
    from .anomaly import AnomalyError

    for i, gi in enumerate(in_grads):
        if gi is not None and np.asarray(gi).dtype.kind in "fc" and not np.all(np.isfinite(gi)):
            shapes = [getattr(a, "shape", type(a).__name__) for a in node.inputs]
            raise AnomalyError(
                f"{node.name}.backward returned non-finite values in the gradient of input {i} "
                f"(input shapes {shapes}). The op was created at:\n"
                f"{node.where or '<unknown: enable detect_anomaly before the forward pass>'}"
            )


from ..tensor import Tensor  # noqa: E402  (circular: the tensor module uses this engine)

_wrap = Tensor._wrap
_new = object.__new__
