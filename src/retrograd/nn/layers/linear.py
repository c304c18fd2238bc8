"""``Linear``, ``Identity``, ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import dtypes as _dt
from ...ops import Linear as _LinearOp
from ...ops import flatten
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
            raise ValueError(f"Linear(in_features={self.in_features}): expected input of shape "
                             f"(*, {self.in_features}), got {tuple(x.shape)}")
        # the registry directly: self.weight goes through Module.__getattr__ (~1 us each)
        params = self._parameters
        bias = params.get("bias")  # absent: built with bias=False
        if bias is None:
            return _LinearOp.apply(x, params["weight"])
        return _LinearOp.apply(x, params["weight"], bias)

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
