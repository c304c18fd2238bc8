"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``."""

from __future__ import annotations

from typing import Any

from ...ops.conv import pair
from ...ops.pool import AvgPool2d as _AvgPoolOp
from ...ops.pool import GlobalAvgPool2d as _GlobalAvgPoolOp
from ...ops.pool import MaxPool2d as _MaxPoolOp
from ...ops.pool import pool_check
from ...ops.shape import concatenate
from ...tensor import Tensor
from ..module import Module


def _args(kernel_size: Any, stride: Any, padding: Any, dilation: Any, op: str) -> tuple:
    k = pair(kernel_size, "kernel_size", op)
    s = k if stride is None else pair(stride, "stride", op)
    return k, s, pair(padding, "padding", op), pair(dilation, "dilation", op)


def _check4d(x: Tensor, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.data.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape "
                         f"{tuple(x.data.shape)}")


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False,
               op: str = "max_pool2d") -> Tensor:
    """Max over each window; the gradient goes to the window's (first) maximum.
    ``ceil_mode=True`` rounds the output size up (PyTorch's rule: the last window must start
    inside the input or its left padding)."""
    if return_indices:
        raise ValueError(f"{op}: return_indices is not supported (there is no max_unpool2d "
                         "to use them with)")
    k, s, p, d = _args(kernel_size, stride, padding, dilation, op)
    _check4d(x, op)
    ceil_mode = bool(ceil_mode)
    pool_check(x.data, k, s, p, d, op, ceil_mode)
    return _MaxPoolOp.apply(x, kernel=k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               op: str = "avg_pool2d") -> Tensor:
    """Mean over each window; the gradient is spread evenly over it. The divisor counts the
    zero padding unless ``count_include_pad=False``, never the part of a ``ceil_mode=True``
    window past the padded border (as PyTorch)."""
    k, s, p, _ = _args(kernel_size, stride, padding, 1, op)
    _check4d(x, op)
    ceil_mode = bool(ceil_mode)
    pool_check(x.data, k, s, p, (1, 1), op, ceil_mode)
    return _AvgPoolOp.apply(x, kernel=k, stride=s, padding=p, ceil_mode=ceil_mode,
                            count_include_pad=bool(count_include_pad))


def adaptive_avg_pool2d(x: Tensor, output_size: Any, op: str = "adaptive_avg_pool2d"
                        ) -> Tensor:
    """Average over an ``output_size`` grid of bins (PyTorch's bin edges:
    ``floor(i*H/oh) .. ceil((i+1)*H/oh)``); ``output_size=1`` is global average pooling."""
    _check4d(x, op)
    n, c, h, w = x.data.shape
    oh, ow = pair(output_size, "output_size", op)
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: output_size must be >= 1, got {(oh, ow)}")
    if (oh, ow) == (1, 1):
        return _GlobalAvgPoolOp.apply(x)
    if h % oh == 0 and w % ow == 0:
        return _AvgPoolOp.apply(x, kernel=(h // oh, w // ow), stride=(h // oh, w // ow),
                                padding=(0, 0))
    # General bins (they may overlap): average rows per output row, then columns (the mean
    # over a rectangle is the mean over its columns of the row means).
    rows = [x[:, :, (i * h) // oh:-((-(i + 1) * h) // oh), :].mean(axis=2, keepdims=True)
            for i in range(oh)]
    r = concatenate(rows, axis=2)
    cols = [r[:, :, :, (j * w) // ow:-((-(j + 1) * w) // ow)].mean(axis=3, keepdims=True)
            for j in range(ow)]
    return concatenate(cols, axis=3)


class MaxPool2d(Module):
    """Max pooling over ``kernel_size`` windows (``stride`` defaults to ``kernel_size``).

    Backward (seed 004): each output's gradient goes to the position of its window's maximum
    (the first in scan order on a tie, as PyTorch); the total gradient is preserved.

    Shape
    -----
    ``(N, C, H, W)`` -> ``(N, C, Ho, Wo)``, ``Ho = floor((H + 2p - d(k-1) - 1)/s) + 1``
    (``ceil`` with ``ceil_mode=True``, as PyTorch).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        if return_indices:
            raise ValueError("MaxPool2d: return_indices is not supported (there is no "
                             "MaxUnpool2d to use them with)")
        self.kernel_size, self.stride, self.padding, self.dilation = _args(
            kernel_size, stride, padding, dilation, "MaxPool2d")
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, op=f"MaxPool2d(kernel_size={self.kernel_size})")

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean pooling over ``kernel_size`` windows; backward spreads each gradient evenly."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, _ = _args(
            kernel_size, stride, padding, 1, "AvgPool2d")
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad,
                          op=f"AvgPool2d(kernel_size={self.kernel_size})")

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size``; ``AdaptiveAvgPool2d(1)`` is global average
    pooling (``(N, C, H, W) -> (N, C, 1, 1)``)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size,
                                   op=f"AdaptiveAvgPool2d({self.output_size})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
