"""Batch normalisation: ``BatchNorm1d`` and ``BatchNorm2d`` (PyTorch's semantics and keys)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import dtypes as _dt
from ...ops.norm import BatchNorm as _BatchNormOp
from ...ops.norm import BatchNormAddReLU as _BatchNormAddReLUOp
from ...ops.norm import BatchNormReLU as _BatchNormReLUOp
from ...tensor import Tensor
from .. import init
from ..module import Module
from ..parameter import Parameter


def _bn_args(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
             weight: Tensor | None, bias: Tensor | None, training: bool, momentum: float,
             eps: float, what: str) -> tuple[tuple, dict]:
    """Validate batch_norm's arguments; the op's graph inputs after x, and its parameters."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(x).__name__}")
    c = x.data.shape[1] if x.data.ndim >= 2 else None
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and (c is None or t.data.shape != (c,)):
            raise ValueError(f"{what}: {name} of shape {tuple(t.data.shape)} does not "
                             f"match input of shape {tuple(x.data.shape)} (expected ({c},))")
    if x.data.ndim < 2:
        raise ValueError(f"{what}: expected an input with a channel axis (N, C, ...), "
                         f"got shape {tuple(x.data.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{what}: running_mean and running_var are needed when "
                         "training=False")
    rm = None if running_mean is None else running_mean.data
    rv = None if running_var is None else running_var.data
    kw = dict(running_mean=rm, running_var=rv, training=training, momentum=momentum, eps=eps)
    # no None among the graph inputs (explain lists them); a lone bias needs a weight slot
    if bias is not None:
        if weight is None:
            weight = Tensor(np.ones(x.data.shape[1], dtype=x.data.dtype))
        return (weight, bias), kw
    if weight is not None:
        return (weight,), kw
    return (), kw


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Functional batch normalisation (``F.batch_norm``, PyTorch's argument order).

    In training mode the batch statistics are used and the running ones (if given) are
    updated in place; otherwise the running statistics are used.
    """
    wb, kw = _bn_args(x, running_mean, running_var, weight, bias, training, momentum, eps,
                      "batch_norm")
    return _BatchNormOp.apply(x, *wb, **kw)


def batch_norm_relu(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None = None, bias: Tensor | None = None,
                    training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
                    residual: Tensor | None = None) -> Tensor:
    """``relu(batch_norm(x, ...))``, or ``relu(batch_norm(x, ...) + residual)``, as one
    primitive (arguments as :func:`batch_norm`).

    The same values, gradients and running-statistics updates as the composition, computed
    with fewer passes over memory and graph nodes (the ReLU and the addition are done in
    place on BatchNorm's output). ``residual`` must have x's shape; if its dtype differs, the
    composition itself is computed (for NumPy's type promotion).
    """
    wb, kw = _bn_args(x, running_mean, running_var, weight, bias, training, momentum, eps,
                      "batch_norm_relu")
    if residual is None:
        return _BatchNormReLUOp.apply(x, *wb, **kw)
    if not isinstance(residual, Tensor):
        raise TypeError(f"batch_norm_relu: residual must be a Tensor, got "
                        f"{type(residual).__name__}")
    if residual.data.shape != x.data.shape:
        raise ValueError(f"batch_norm_relu: residual of shape {tuple(residual.data.shape)} "
                         f"does not match input of shape {tuple(x.data.shape)}")
    if residual.data.dtype != x.data.dtype:
        return (residual + _BatchNormOp.apply(x, *wb, **kw)).relu()
    return _BatchNormAddReLUOp.apply(x, residual, *wb, **kw)


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

    def _check_input(self, x: Tensor) -> None:
        shape = x.data.shape
        if len(shape) not in self._dims or shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected input of "
                             f"shape {self._shape_text.format(c=self.num_features)}, got "
                             f"{tuple(shape)}")

    def _args(self, x: Tensor) -> tuple:
        """batch_norm's arguments after x, for this layer (counts the batch in training)."""
        self._check_input(x)
        use_batch = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            nbt = self.num_batches_tracked.data
            nbt += 1  # a 0-d array, updated in place (shared with state_dict())
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(nbt)
        track = self.training and self.track_running_stats
        return (self.running_mean if track or not use_batch else None,
                self.running_var if track or not use_batch else None,
                self.weight, self.bias, use_batch, momentum, self.eps)

    def forward(self, x: Tensor) -> Tensor:
        return batch_norm(x, *self._args(x))

    _fuses = ("relu",)

    def _fusable(self) -> bool:
        """Whether a container may run this layer fused with a following ReLU: no hooks (they
        must see this module's own output) and ``forward`` not overridden (SyncBatchNorm)."""
        return (type(self).forward is _BatchNorm.forward and not self._forward_hooks
                and not self._forward_pre_hooks)

    def _forward_relu(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        """``relu(self(x))`` or ``relu(residual + self(x))`` as one primitive (see
        :func:`batch_norm_relu`); for containers, after checking :meth:`_fusable`."""
        return batch_norm_relu(x, *self._args(x), residual=residual)

    def _forward_act(self, x: Tensor, act: str) -> Tensor:
        """``relu(self(x))`` (``act`` is "relu", the one in :attr:`_fuses`): see
        :meth:`_forward_relu`."""
        return self._forward_relu(x)

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
