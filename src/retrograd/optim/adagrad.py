"""Adagrad (Duchi, Hazan & Singer, 2011)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad: each coordinate's step shrinks with its accumulated squared gradients.

    With ``g`` the gradient at step ``t``::

        g   <- g + lambda p                        (weight_decay)
        lr_t = lr / (1 + (t - 1) lr_decay)
        s   <- s + g^2                             (sum, starts at initial_accumulator_value)
        p   <- p - lr_t g / (sqrt(s) + eps)

    Parameters
    ----------
    params : iterable of Tensors or dicts
    lr : float
        Default 1e-2.
    lr_decay, weight_decay, initial_accumulator_value : float
        Default 0.
    eps : float
        Default 1e-10.

    State per parameter: ``step``, ``sum``; views of one flat array per group, as in
    :class:`Adam`.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def _check_group(self, group: dict[str, Any]) -> None:
        self._nonneg(group, "Adagrad", "lr", "lr_decay", "eps", "weight_decay",
                     "initial_accumulator_value")

    def _flat_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("sum",)

    def _update_group(self, group: dict[str, Any], items: list[tuple]) -> None:
        # Every parameter of the group at once, on the flat buffers (see Optimizer._flat),
        # when every parameter is at its first step or none is
        fs = self._flat_step(group, items, fresh="sum")
        if fs is None:
            super()._update_group(group, items)
            return
        flat, step, first = fs
        if first:
            flat.arrays["sum"].fill(group["initial_accumulator_value"])
        t0, v0 = flat.scratch(0)
        t1, v1 = flat.scratch(1) if group["weight_decay"] != 0 else (None, None)
        self._math([p for _, p, _ in items], [g for _, _, g in items], flat.arrays["sum"],
                   (t0, t1), (v0, v1), group, step)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        # One parameter (the first step, or a step where some of the group has no gradient,
        # or their step counts or dtypes differ: see Optimizer._flat)
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p, group["initial_accumulator_value"])
        step = state["step"] = state["step"] + 1
        t0 = self._buf(p)
        t1 = self._buf(p, 1) if group["weight_decay"] != 0 else None
        self._math([p], [g], state["sum"], (t0, t1), ([t0], [t1]), group, step)

    def _math(self, ps: list[np.ndarray], gs: list[np.ndarray], s: np.ndarray, t: tuple,
              tv: tuple, group: dict[str, Any], step: int) -> None:
        """The update, in place: parameters ``ps`` with gradients ``gs``; ``s`` their sum of
        squares, one parameter's or the flat buffer of all of them; ``tv[i][j]`` views of the
        scratch arrays ``t[i]`` matching ``ps[j]`` (``t[1]`` only with weight decay, else
        None). The same NumPy calls on every element either way, so both give the same
        bits."""
        wd = group["weight_decay"]
        t0, t1 = t
        # the gradient as one array when weight decay forms one anyway, else None
        d = self._decay_into(ps, gs, wd, t1, tv[1])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        if d is None:
            for g, tj in zip(gs, tv[0]):
                np.multiply(g, g, out=tj)
        else:
            np.multiply(d, d, out=t0)
        s += t0
        np.sqrt(s, out=t0)
        t0 += group["eps"]
        if d is None:
            for g, tj in zip(gs, tv[0]):
                np.divide(g, tj, out=tj)
        else:
            np.divide(d, t0, out=t0)
        t0 *= -clr
        for p, tj in zip(ps, tv[0]):
            p += tj
