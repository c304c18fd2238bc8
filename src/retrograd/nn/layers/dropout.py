"""``Dropout``: inverted dropout with the library's seeded generator."""

from __future__ import annotations

from ...ops.dropout import Dropout as _DropoutOp
from ...tensor import Tensor
from ..module import Module


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training
    only; the identity otherwise or when ``p == 0``). The mask comes from
    ``rg.manual_seed``'s generator, so a seeded run is repeatable. ``inplace`` is accepted
    for PyTorch compatibility; the result is always a new tensor."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return x
    return _DropoutOp.apply(x, p=float(p))


class Dropout(Module):
    """Inverted dropout: in training each element is zeroed with probability ``p`` and the
    survivors are scaled by ``1/(1-p)``, so E[output] = input; in eval it is the identity.

    Shape
    -----
    any -> the same.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be between 0 and 1, got {p}")
        self.p = float(p)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
