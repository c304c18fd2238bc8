"""``nn.functional`` (imported as ``F``): the layers' operations as functions."""

from __future__ import annotations

from typing import Any

from ..ops import Linear as _LinearOp
from ..tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x W^T + b (fused primitive)."""
    if bias is None:
        return _LinearOp.apply(x, weight)
    return _LinearOp.apply(x, weight, bias)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return x.leaky_relu(negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    return x.gelu(approximate)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.log_softmax(dim)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return x.flatten(start_dim, end_dim)


__all__: list[Any] = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax",
                      "log_softmax", "flatten"]


# -- convolutional and deep networks (conv branch) ---------------------------------------
from .layers.conv import conv2d  # noqa: E402
from .layers.dropout import dropout  # noqa: E402
from .layers.normalization import batch_norm  # noqa: E402
from .layers.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: E402

__all__ += ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm",
            "dropout"]
