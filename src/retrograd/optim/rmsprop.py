"""RMSprop (Hinton's lecture 6e, 2012), optionally centred (Graves, 2013) and with momentum."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop: steps divided by a running root-mean-square of the gradient.

    With ``g`` the gradient::

        g   <- g + lambda p                              (weight_decay)
        v   <- alpha v + (1 - alpha) g^2                 (square_avg)
        gbar <- alpha gbar + (1 - alpha) g               (centered only; grad_avg)
        r   = sqrt(v - gbar^2) + eps   (centered)   or   sqrt(v) + eps
        b   <- mu b + g / r;  p <- p - lr b              (momentum mu > 0; momentum_buffer)
        p   <- p - lr g / r                              (momentum 0)

    Parameters
    ----------
    params : iterable of Tensors or dicts
    lr : float
        Default 1e-2.
    alpha : float
        Smoothing constant, default 0.99.
    eps : float
        Default 1e-8.
    weight_decay, momentum : float
        Default 0.
    centered : bool
        Normalise by the gradient's estimated variance instead of its second moment.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer``, ``grad_avg``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check_group(self, group: dict[str, Any]) -> None:
        self._nonneg(group, "RMSprop", "lr", "alpha", "eps", "weight_decay",
                     "momentum")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        alpha, mu = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
            if mu > 0:
                state["momentum_buffer"] = np.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        v = state["square_avg"]
        d = g
        if group["weight_decay"] != 0:
            d = self._buf(p, 1)
            np.multiply(p, group["weight_decay"], out=d)
            d += g
        t = self._buf(p)
        np.multiply(d, d, out=t)
        t *= 1 - alpha
        v *= alpha
        v += t  # alpha v + (1 - alpha) g^2
        if group["centered"]:
            ga = state.setdefault("grad_avg", np.zeros_like(p))
            np.subtract(d, ga, out=t)
            t *= 1 - alpha
            ga += t  # gbar + (1 - alpha)(g - gbar)
            np.multiply(ga, ga, out=t)
            np.subtract(v, t, out=t)
            np.sqrt(t, out=t)
        else:
            np.sqrt(v, out=t)
        t += group["eps"]
        np.divide(d, t, out=t)  # g / r
        if mu > 0:
            b = state.setdefault("momentum_buffer", np.zeros_like(p))
            b *= mu
            b += t
            np.multiply(b, -group["lr"], out=t)
        else:
            t *= -group["lr"]
        p += t
