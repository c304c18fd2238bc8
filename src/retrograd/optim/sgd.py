"""Stochastic gradient descent, with momentum (heavy ball or Nesterov) and weight decay."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..dtypes import scalar_array
from .optimizer import Optimizer, required

# Up to this many elements a fresh temporary is cheaper than the reused scratch buffer.
_SMALL = 4096


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulation.

    With ``g`` the gradient, ``lambda`` the weight decay, ``mu`` the momentum and ``tau`` the
    dampening, each step does::

        g <- g + lambda p                      (L2 regularisation: the gradient of
                                                (lambda / 2) ||p||^2 added to the loss)
        b <- g               at the first step, b <- mu b + (1 - tau) g after
        g <- g + mu b  (nesterov)   or   g <- b
        p <- p - lr g

    Parameters
    ----------
    params : iterable of Tensors or dicts
    lr : float
    momentum, dampening, weight_decay : float
        Default 0.
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).

    State per parameter: ``momentum_buffer`` (when ``momentum > 0``).

    Examples
    --------
    >>> opt = rg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, params: Iterable[Any], lr: float = required,  # type: ignore[assignment]
                 momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_group(self, group: dict[str, Any]) -> None:
        self._nonneg(group, "SGD", "lr", "momentum", "dampening", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero "
                             f"dampening (got momentum={group['momentum']}, "
                             f"dampening={group['dampening']})")

    def _update_group(self, group: dict[str, Any], items: list[tuple]) -> None:
        lr = group["lr"]
        if group["momentum"] != 0 or group["weight_decay"] != 0 or type(lr) is not float:
            super()._update_group(group, items)
            return
        c = None  # lr as a 0-d array of the parameters' dtype
        for t, p, g in items:
            if g.dtype is p.dtype and p.size <= _SMALL:
                # Plain SGD on a small array: one temporary beats the scratch-buffer lookup
                # (~2 us a parameter). The 0-d lr has the array's dtype, as a Python float
                # would, and p - lr g equals p + (-lr) g bit for bit (the general path).
                if c is None or c.dtype is not p.dtype:
                    c = scalar_array(lr, p.dtype)
                p -= g * c
            else:
                self._update(p, g, self.state[t], group)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, wd, mu = group["lr"], group["weight_decay"], group["momentum"]
        d = self._decayed(p, g, wd, 0)
        if mu != 0:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = np.array(d, copy=True)
            else:
                b *= mu
                tau = group["dampening"]
                if tau == 0:
                    b += d
                else:
                    t = self._buf(p, 1)
                    np.multiply(d, 1 - tau, out=t)
                    b += t  # mu b + (1 - tau) g
            if group["nesterov"]:
                t = self._buf(p, 1)
                np.multiply(b, mu, out=t)
                t += d  # g + mu b
                d = t
            else:
                d = b
        t = self._buf(p)
        np.multiply(d, -lr, out=t)
        p += t
