"""Batch normalisation: ``BatchNorm1d`` and ``BatchNorm2d`` (PyTorch's semantics and keys)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import dtypes as _dt
from ...ops.norm import BatchNorm as _BatchNormOp
from ...tensor import Tensor
from .. import init
from ..module import Module
from ..parameter import Parameter


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Functional batch normalisation (``F.batch_norm``, PyTorch's argument order).

    In training mode the batch statistics are used and the running ones (if given) are
    updated in place; otherwise the running statistics are used.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"batch_norm: expected a Tensor, got {type(x).__name__}")
    c = x.data.shape[1] if x.data.ndim >= 2 else None
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and (c is None or t.data.shape != (c,)):
            raise ValueError(f"batch_norm: {name} of shape {tuple(t.data.shape)} does not "
                             f"match input of shape {tuple(x.data.shape)} (expected ({c},))")
    if x.data.ndim < 2:
        raise ValueError(f"batch_norm: expected an input with a channel axis (N, C, ...), "
                         f"got shape {tuple(x.data.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when "
                         "training=False")
    rm = None if running_mean is None else running_mean.data
    rv = None if running_var is None else running_var.data
    kw = dict(running_mean=rm, running_var=rv, training=training, momentum=momentum, eps=eps)
    # no None among the graph inputs (explain lists them); a lone bias needs a weight slot
    if bias is not None:
        if weight is None:
            weight = Tensor(np.ones(x.data.shape[1], dtype=x.data.dtype))
        return _BatchNormOp.apply(x, weight, bias, **kw)
    if weight is not None:
        return _BatchNormOp.apply(x, weight, **kw)
    return _BatchNormOp.apply(x, **kw)


class _BatchNorm(Module):
    _dims: tuple[int, ...] = ()
    _shape_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got "
                             f"{num_features}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        d = _dt.get_default_dtype() if dtype is None else _dt.as_dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=d))
            self.bias = Parameter(np.zeros(num_features, dtype=d))
        else:
            self.weight = None
            self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=d)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=d)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.running_mean = None
            self.running_var = None
            self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.data.shape
        if len(shape) not in self._dims or shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected input of "
                             f"shape {self._shape_text.format(c=self.num_features)}, got "
                             f"{tuple(shape)}")
        use_batch = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            nbt = self.num_batches_tracked.data
            nbt += 1  # a 0-d array, updated in place (shared with state_dict())
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(nbt)
        track = self.training and self.track_running_stats
        return batch_norm(x, self.running_mean if track or not use_batch else None,
                          self.running_var if track or not use_batch else None,
                          self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs, per channel C.

    Training: ``z_hat = (z - mean_B) / sqrt(var_B + eps)``, ``out = weight * z_hat + bias``
    with the batch's mean and biased variance; ``running_mean``/``running_var`` move towards
    the batch mean and *unbiased* variance by ``momentum`` (0.1), ``num_batches_tracked``
    counts the batches. Eval: the running statistics replace the batch's. The state_dict keys
    are PyTorch's (``weight, bias, running_mean, running_var, num_batches_tracked``).
    """

    _dims = (2, 3)
    _shape_text = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over ``(N, C, H, W)`` inputs, per channel C (statistics over N, H,
    W); see :class:`BatchNorm1d`. One fused primitive with a hand-derived backward."""

    _dims = (4,)
    _shape_text = "(N, {c}, H, W)"
