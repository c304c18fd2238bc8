"""Loss modules with PyTorch's names and arguments; each calls its ``F.*`` function, which is
one fused primitive (``retrograd/ops/loss.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops.loss import check_reduction
from ..tensor import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


def _weight_buffer(module: Module, name: str, value: Any) -> None:
    module.register_buffer(name, None if value is None else
                           Tensor(value.data if isinstance(value, Tensor) else np.asarray(value)))


class MSELoss(_Loss):
    """Mean squared error, ``reduce((input - target)^2)``.

    Shape
    -----
    input and target of one shape (no broadcasting); output a scalar, or the input's shape
    with ``reduction="none"``.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of raw logits and integer class labels (or class
    probabilities), stable for any logit size; see :func:`retrograd.nn.functional.cross_entropy`.

    Shape
    -----
    input ``(N, C)`` (or ``(C,)``, ``(N, C, d1, ...)``), target ``(N,)`` integer labels in
    ``[0, C)``; output a scalar, or ``(N,)`` with ``reduction="none"``.

    Examples
    --------
    >>> loss_fn = nn.CrossEntropyLoss()
    >>> logits = rg.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
    >>> loss = loss_fn(logits, rg.tensor([0]))
    >>> loss.backward()          # logits.grad == softmax(logits) - onehot(0): a - y
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        _weight_buffer(self, "weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        buffers = self._buffers  # self.weight goes through Module.__getattr__ (~1 us)
        weight = buffers["weight"] if "weight" in buffers else self.weight
        # (positional: keywords cost a dict per call, a measurable part of a tiny step)
        return F.cross_entropy(input, target, weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (``LogSoftmax`` output) at integer
    labels. Shapes as :class:`CrossEntropyLoss`."""

    def __init__(self, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        _weight_buffer(self, "weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100, as PyTorch).

    Shape
    -----
    input and target of one shape; ``weight`` broadcasts to it.
    """

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        _weight_buffer(self, "weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy of raw scores in one stable primitive.

    Shape
    -----
    input and target of one shape; ``weight`` broadcasts to it, ``pos_weight`` along the
    last (class) dimension.
    """

    def __init__(self, weight: Any = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(reduction)
        _weight_buffer(self, "weight", weight)
        _weight_buffer(self, "pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
