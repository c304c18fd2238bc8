"""``Linear``, ``Identity``, ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import dtypes as _dt
from ...ops import Linear as _LinearOp
from ...ops import flatten
from ...ops.linalg import LINEAR_ACT as _LINEAR_ACT
from ...tensor import Tensor
from .. import init
from ..module import Module
from ..parameter import Parameter


class Linear(Module):
    """z = x W^T + b: a fully connected layer.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn an additive bias (default True).
    dtype : dtype, optional
        Parameter dtype (default ``rg.float32``).

    Shape
    -----
    input ``(*, in_features)`` -> output ``(*, out_features)``;
    ``weight (out_features, in_features)``, ``bias (out_features,)`` - PyTorch's layout, so
    ``weight[j, k]`` is the seeds' w_jk from neuron k of layer l-1 to neuron j of layer l.

    Initialisation is PyTorch's: weight by ``kaiming_uniform_(a=sqrt(5))``, i.e.
    U(-1/sqrt(in), 1/sqrt(in)), and bias U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"Linear: {name} must be an integer, got "
                                f"{type(v).__name__} {v!r}")
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: features must be positive, got in_features="
                             f"{in_features}, out_features={out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        d = _dt.get_default_dtype() if dtype is None else _dt.as_dtype(dtype)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=d))
        self.bias = Parameter(np.empty((out_features,), dtype=d)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        if not shape or shape[-1] != self.in_features:
            raise self._input_error(x)
        # the registry directly: self.weight goes through Module.__getattr__ (~1 us each)
        params = self._parameters
        bias = params.get("bias")  # absent: built with bias=False
        if bias is None:
            return _LinearOp.apply(x, params["weight"])
        return _LinearOp.apply(x, params["weight"], bias)

    # -- fusion with a following activation (nn.Sequential; see run_fused) ----------------
    _fuses = ("relu", "sigmoid", "tanh")

    def _fusable(self) -> bool:
        """Whether a container may run this layer fused with a following activation: no
        hooks (they must see this module's own output) and ``forward`` not overridden."""
        return (type(self).forward is Linear.forward and not self._forward_hooks
                and not self._forward_pre_hooks)

    def _forward_act(self, x: Tensor, act: str) -> Tensor:
        """``act(self(x))`` as one primitive (``act`` in :attr:`_fuses`; see
        :class:`~retrograd.ops.linalg.LinearAct`); for containers, after :meth:`_fusable`.
        (``forward``'s body with another op: one Python call less on the hot path.)"""
        shape = x.shape
        if not shape or shape[-1] != self.in_features:
            raise self._input_error(x)
        params = self._parameters
        bias = params.get("bias")
        if bias is None:
            return _LINEAR_ACT[act].apply(x, params["weight"])
        return _LINEAR_ACT[act].apply(x, params["weight"], bias)

    def _input_error(self, x: Tensor) -> ValueError:
        return ValueError(f"Linear(in_features={self.in_features}): expected input of shape "
                          f"(*, {self.in_features}), got {tuple(x.shape)}")

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Flattens dims ``start_dim..end_dim`` (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
