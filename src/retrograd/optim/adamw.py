"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay."""

from __future__ import annotations

from typing import Any, Iterable

from .adam import Adam


class AdamW(Adam):
    """Adam whose weight decay shrinks the weights directly instead of entering the
    gradient (and so the moments)::

        p <- p - lr lambda p
        (then Adam's step without weight decay)

    Parameters as :class:`Adam`; ``weight_decay`` defaults to 0.01.
    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``.
    """

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)
