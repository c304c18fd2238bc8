"""``rg.gradcheck``: analytic gradients against float64 central differences."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .grad_mode import no_grad


class GradcheckError(AssertionError):
    """An analytic gradient differs from the finite-difference estimate."""


def _outputs(out: Any) -> list:
    from ..tensor import Tensor

    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: fn must return Tensors, got {type(o).__name__}")
    return outs


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Compare the Jacobian from backward with central differences, in float64.

    Parameters
    ----------
    fn : callable
        Takes the inputs (Tensors) and returns a Tensor or a tuple of Tensors.
    inputs : sequence
        Tensors or arrays. Floating-point Tensors with ``requires_grad=True`` are checked (all
        floating-point inputs if none requires grad); each is copied to float64.
    eps, atol, rtol : float
        Step of the differences; an entry passes when ``|a - n| <= atol + rtol * |n|``.

    Returns
    -------
    True

    Raises
    ------
    GradcheckError
        Naming the input, the element, the output element and both values.
    """
    from ..tensor import Tensor

    if isinstance(inputs, (Tensor, np.ndarray)):
        inputs = (inputs,)
    arrays = [np.asarray(x.data if isinstance(x, Tensor) else x) for x in inputs]
    wanted = [isinstance(x, Tensor) and x.requires_grad for x in inputs]
    if not any(wanted):
        wanted = [a.dtype.kind == "f" for a in arrays]
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]

    def call(arrs: list, grad: bool) -> list:
        ts = [Tensor._wrap(a, requires_grad=grad and w) for a, w in zip(arrs, wanted)]
        return ts, _outputs(fn(*ts))

    # Numerical Jacobian, one input element at a time, on private copies.
    with no_grad():
        _, base = call([a.copy() for a in arrays], False)
    sizes = [o.data.size for o in base]
    numeric = {}
    with no_grad():
        for i, a in enumerate(arrays):
            if not wanted[i]:
                continue
            cols = np.zeros((sum(sizes), a.size))
            for j in range(a.size):
                plus = [x.copy() for x in arrays]
                minus = [x.copy() for x in arrays]
                plus[i].reshape(-1)[j] += eps
                minus[i].reshape(-1)[j] -= eps
                fp = np.concatenate([o.data.astype(np.float64).ravel()
                                     for o in call(plus, False)[1]])
                fm = np.concatenate([o.data.astype(np.float64).ravel()
                                     for o in call(minus, False)[1]])
                cols[:, j] = (fp - fm) / (2 * eps)
            numeric[i] = cols

    # Analytic Jacobian, one output element at a time.
    ts, outs = call([a.copy() for a in arrays], True)
    analytic = {i: np.zeros_like(c) for i, c in numeric.items()}
    row = 0
    for o in outs:
        for r in range(o.data.size):
            if o.requires_grad:
                for t in ts:
                    t.grad = None
                seed = np.zeros(o.data.shape, dtype=o.data.dtype)
                seed.reshape(-1)[r] = 1
                o.backward(seed, retain_graph=True)
                for i in analytic:
                    if ts[i].grad is not None:
                        analytic[i][row] = ts[i].grad.data.astype(np.float64).ravel()
            row += 1

    for i in numeric:
        a, n = analytic[i], numeric[i]
        bad = np.abs(a - n) > atol + rtol * np.abs(n)
        if bad.any():
            r, j = (int(v[0]) for v in np.nonzero(bad))
            out_k = int(np.searchsorted(np.cumsum(sizes), r, side="right"))
            out_idx = np.unravel_index(r - sum(sizes[:out_k]), base[out_k].data.shape)
            in_idx = np.unravel_index(j, arrays[i].shape)
            av, nv = float(a[r, j]), float(n[r, j])
            at = float(arrays[i].reshape(-1)[j])
            raise GradcheckError(
                f"gradcheck: gradient of output {out_k}{list(map(int, out_idx))} with respect to "
                f"input {i}{list(map(int, in_idx))} (value {at!r}): analytic {av!r} vs "
                f"numerical {nv!r} (|diff| {abs(av - nv):.3g} > atol {atol} + rtol {rtol} "
                f"* |numerical|); {int(bad.sum())} of {bad.size} entries differ"
            )
    return True
