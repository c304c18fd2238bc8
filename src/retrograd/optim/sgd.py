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

    State per parameter: ``momentum_buffer`` (when ``momentum > 0``). As in :class:`Adam`,
    the buffers of a group live in one flat array (``state[p]["momentum_buffer"]`` are views
    of it) when every parameter has a gradient, so the update makes one NumPy call per
    operation for the whole group.

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

    _flat_steps = False  # PyTorch's SGD state holds only ``momentum_buffer``

    def _flat_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _update_group(self, group: dict[str, Any], items: list[tuple]) -> None:
        if group["momentum"] != 0:
            # With momentum, on the flat buffers (see Optimizer._flat) when every parameter
            # is at its first step or none is; else one by one
            fs = self._flat_step(group, items, fresh="momentum_buffer")
            if fs is None:
                super()._update_group(group, items)
                return
            flat, _, first = fs
            t0, v0 = flat.scratch(0)
            t1, v1 = flat.scratch(1) if self._needs_second(group) else (None, None)
            self._math([p for _, p, _ in items], [g for _, _, g in items],
                       flat.arrays["momentum_buffer"], flat.views["momentum_buffer"],
                       (t0, t1), (v0, v1), group, first)
            return
        lr = group["lr"]
        if group["weight_decay"] != 0 or type(lr) is not float:
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

    @staticmethod
    def _needs_second(group: dict[str, Any]) -> bool:
        """Whether :meth:`_math` needs its second scratch array."""
        return group["dampening"] != 0 or bool(group["nesterov"])

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        # One parameter (plain SGD with weight decay, or a step where some of the group has
        # no gradient or a momentum buffer and some not)
        t0 = self._buf(p)
        if group["momentum"] == 0:
            d = self._decayed(p, g, group["weight_decay"], 0)
            np.multiply(d, -group["lr"], out=t0)
            p += t0
            return
        b = state.get("momentum_buffer")
        first = b is None
        if first:
            b = state["momentum_buffer"] = np.empty_like(p)
        t1 = self._buf(p, 1) if self._needs_second(group) else None
        self._math([p], [g], b, [b], (t0, t1), ([t0], [t1]), group, first)

    def _math(self, ps: list[np.ndarray], gs: list[np.ndarray], b: np.ndarray,
              bs: list[np.ndarray], t: tuple, tv: tuple, group: dict[str, Any],
              first: bool) -> None:
        """A momentum step, in place: parameters ``ps`` with gradients ``gs``; ``b`` their
        momentum buffer, one parameter's or the flat buffer of all of them, ``bs`` its views
        per parameter (at the ``first`` step, set here to the gradient); ``tv[i][j]`` views
        of the scratch arrays ``t[i]`` matching ``ps[j]`` (``t[1]`` only for dampening or
        Nesterov, else None). The same NumPy calls on every element either way, so both
        give the same bits."""
        lr, wd, mu, tau = group["lr"], group["weight_decay"], group["momentum"], \
            group["dampening"]
        t0, t1 = t
        # the gradient as one array when weight decay forms one anyway, else None
        d = self._decay_into(ps, gs, wd, t0, tv[0])
        if first:
            if d is None:
                for bj, g in zip(bs, gs):
                    np.copyto(bj, g)
            else:
                np.copyto(b, d)
        elif tau == 0:
            b *= mu
            if d is None:
                for bj, g in zip(bs, gs):
                    bj += g
            else:
                b += d
        else:
            b *= mu
            if d is None:
                for g, tj in zip(gs, tv[1]):
                    np.multiply(g, 1 - tau, out=tj)
            else:
                np.multiply(d, 1 - tau, out=t1)
            b += t1  # mu b + (1 - tau) g
        u = b
        if group["nesterov"]:
            np.multiply(b, mu, out=t1)
            if d is None:
                for tj, g in zip(tv[1], gs):
                    tj += g
            else:
                t1 += d  # g + mu b
            u = t1
        np.multiply(u, -lr, out=t0)
        for p, tj in zip(ps, tv[0]):
            p += tj
