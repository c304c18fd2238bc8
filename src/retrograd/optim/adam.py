"""Adam (Kingma & Ba, 2015), with optional AMSGrad and L2 weight decay."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .optimizer import Optimizer


def _check_adam(group: dict[str, Any], name: str) -> None:
    Optimizer._nonneg(group, name, "lr", "eps", "weight_decay")
    betas = group["betas"]
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{name}: invalid betas {betas!r} (two numbers in [0, 1))")


class Adam(Optimizer):
    """Adam: per-coordinate steps scaled by running moments of the gradient.

    With ``g`` the gradient at step ``t``::

        g     <- g + lambda p                          (weight_decay, as L2 in the loss)
        m     <- beta1 m + (1 - beta1) g               (exp_avg)
        v     <- beta2 v + (1 - beta2) g^2             (exp_avg_sq)
        v_max <- max(v_max, v)                         (amsgrad only; max_exp_avg_sq)
        p     <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Parameters
    ----------
    params : iterable of Tensors or dicts
    lr : float
        Default 1e-3.
    betas : (float, float)
        Decay rates of the two moments, default (0.9, 0.999).
    eps : float
        Added to the denominator, default 1e-8.
    weight_decay : float
        L2 penalty added to the gradient (for decoupled decay use :class:`AdamW`).
    amsgrad : bool
        Use the running maximum of ``v`` (Reddi et al., 2018).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``.

    Examples
    --------
    >>> opt = rg.optim.Adam(model.parameters(), lr=1e-3)
    >>> sched = rg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    >>> for epoch in range(10):
    ...     for x, y in loader:
    ...         opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    ...     sched.step()
    """

    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_adam(group, type(self).__name__)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        step = state["step"] = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        d = g
        if wd != 0:
            if self._decoupled:
                p *= 1 - lr * wd  # AdamW: p <- p - lr lambda p, outside the moments
            else:
                d = self._buf(p, 1)
                np.multiply(p, wd, out=d)
                d += g
        t = self._buf(p)
        # m <- m + (1 - beta1)(g - m), the same value as beta1 m + (1 - beta1) g
        np.subtract(d, m, out=t)
        t *= 1 - beta1
        m += t
        # v <- beta2 v + (1 - beta2) g^2
        np.multiply(d, d, out=t)
        t *= 1 - beta2
        v *= beta2
        v += t
        if group["amsgrad"]:
            vmax = state.get("max_exp_avg_sq")
            if vmax is None:
                vmax = state["max_exp_avg_sq"] = np.zeros_like(p)
            np.maximum(vmax, v, out=vmax)
            v = vmax
        bias1 = 1 - beta1**step
        bias2_sqrt = math.sqrt(1 - beta2**step)
        # p <- p - (lr / bias1) m / (sqrt(v) / sqrt(bias2) + eps)
        np.sqrt(v, out=t)
        t /= bias2_sqrt
        t += eps
        np.divide(m, t, out=t)
        t *= -(lr / bias1)
        p += t
