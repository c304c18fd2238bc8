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

    State per parameter: ``step``, ``sum``.
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

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p, group["initial_accumulator_value"])
        step = state["step"] = state["step"] + 1
        s = state["sum"]
        d = g
        if group["weight_decay"] != 0:
            d = self._buf(p, 1)
            np.multiply(p, group["weight_decay"], out=d)
            d += g
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        t = self._buf(p)
        np.multiply(d, d, out=t)
        s += t
        np.sqrt(s, out=t)
        t += group["eps"]
        np.divide(d, t, out=t)
        t *= -clr
        p += t
