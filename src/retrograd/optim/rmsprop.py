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

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer``, ``grad_avg``; views of
    one flat array per name and group, as in :class:`Adam`.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check_group(self, group: dict[str, Any]) -> None:
        self._nonneg(group, "RMSprop", "lr", "alpha", "eps", "weight_decay",
                     "momentum")

    def _flat_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return (("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _update_group(self, group: dict[str, Any], items: list[tuple]) -> None:
        # Every parameter of the group at once, on the flat buffers (see Optimizer._flat)
        fs = self._flat_step(group, items)
        if fs is None:
            super()._update_group(group, items)
            return
        flat = fs[0]
        t0, v0 = flat.scratch(0)
        t1, v1 = flat.scratch(1) if group["weight_decay"] != 0 else (None, None)
        self._math([p for _, p, _ in items], [g for _, _, g in items], flat.arrays,
                   flat.views, (t0, t1), (v0, v1), group)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        # One parameter (a step where some of the group has no gradient, or their step
        # counts or dtypes differ: see Optimizer._flat)
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
        # (momentum or centering may be turned on after the first step)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        t0 = self._buf(p)
        t1 = self._buf(p, 1) if group["weight_decay"] != 0 else None
        arrays = {k: v for k, v in state.items() if k != "step"}
        self._math([p], [g], arrays, {k: [v] for k, v in arrays.items()}, (t0, t1),
                   ([t0], [t1]), group)

    def _math(self, ps: list[np.ndarray], gs: list[np.ndarray], a: dict[str, np.ndarray],
              av: dict[str, list[np.ndarray]], t: tuple, tv: tuple,
              group: dict[str, Any]) -> None:
        """The update, in place: parameters ``ps`` with gradients ``gs``; ``a`` their buffers
        by name, one parameter's or the flat buffers of all of them, ``av`` their views per
        parameter; ``tv[i][j]`` views of the scratch arrays ``t[i]`` matching ``ps[j]``
        (``t[1]`` only with weight decay, else None). The same NumPy calls on every element
        either way, so both give the same bits."""
        alpha, mu, wd = group["alpha"], group["momentum"], group["weight_decay"]
        t0, t1 = t
        # the gradient as one array when weight decay forms one anyway, else None
        d = self._decay_into(ps, gs, wd, t1, tv[1])
        # v <- alpha v + (1 - alpha) g^2
        if d is None:
            for g, tj in zip(gs, tv[0]):
                np.multiply(g, g, out=tj)
        else:
            np.multiply(d, d, out=t0)
        t0 *= 1 - alpha
        v = a["square_avg"]
        v *= alpha
        v += t0
        if group["centered"]:
            ga = a["grad_avg"]
            if d is None:
                for g, gaj, tj in zip(gs, av["grad_avg"], tv[0]):
                    np.subtract(g, gaj, out=tj)
            else:
                np.subtract(d, ga, out=t0)
            t0 *= 1 - alpha
            ga += t0  # gbar + (1 - alpha)(g - gbar)
            np.multiply(ga, ga, out=t0)
            np.subtract(v, t0, out=t0)
            np.sqrt(t0, out=t0)
        else:
            np.sqrt(v, out=t0)
        t0 += group["eps"]
        if d is None:
            for g, tj in zip(gs, tv[0]):
                np.divide(g, tj, out=tj)  # g / r
        else:
            np.divide(d, t0, out=t0)
        if mu > 0:
            b = a["momentum_buffer"]
            b *= mu
            b += t0
            np.multiply(b, -group["lr"], out=t0)
        else:
            t0 *= -group["lr"]
        for p, tj in zip(ps, tv[0]):
            p += tj
