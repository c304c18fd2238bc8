"""``Conv2d``: 2-D convolution (cross-correlation, as PyTorch) over NCHW inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import dtypes as _dt
from ...ops.conv import Conv2d as _Conv2dOp
from ...ops.conv import conv2d_check, out_size, pair
from ...tensor import Tensor
from .. import init
from ..module import Module
from ..parameter import Parameter


def conv_padding(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int],
                 stride: tuple[int, int], op: str) -> tuple[int, int]:
    """Resolve ``padding`` (int, pair, ``"valid"`` or ``"same"``) to a pair of ints."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride}")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            if any(t % 2 for t in total):
                raise ValueError(f"{op}: padding='same' with an even effective kernel "
                                 f"{kernel} (dilation {dilation}) would pad unevenly; "
                                 "pass an explicit padding")
            return total[0] // 2, total[1] // 2
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got "
                         f"{padding!r}")
    return pair(padding, "padding", op)


class Conv2d(Module):
    """Applies a 2-D convolution: ``z[n, o] = b[o] + sum_c W[o, c] (*) x[n, c]``.

    Computed as one GEMM per call on an im2col matrix built through a strided view (see
    :mod:`retrograd.ops.conv`; the one large temporary is ``N*Ho*Wo*kh*kw*C_in`` elements).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding, dilation : int or (int, int)
        ``padding`` may also be ``"valid"`` (0) or ``"same"`` (stride 1, odd effective kernel).
    groups : int
        Split the channels into ``groups`` independent convolutions.
    bias : bool
    dtype : dtype, optional

    Shape
    -----
    input ``(N, C_in, H, W)`` -> output ``(N, C_out, Ho, Wo)`` with
    ``Ho = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1``;
    ``weight (C_out, C_in/groups, kh, kw)``, ``bias (C_out,)``.

    Initialisation is PyTorch's: ``kaiming_uniform_(a=sqrt(5))`` for the weight, i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with ``fan_in = C_in/groups*kh*kw``, and the same bound
    for the bias.

    Examples
    --------
    >>> conv = nn.Conv2d(1, 6, 5, padding=2)
    >>> conv(rg.randn(8, 1, 28, 28)).shape
    (8, 6, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"Conv2d: channels must be positive, got in_channels={in_channels}"
                             f", out_channels={out_channels}")
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels={in_channels} and out_channels="
                             f"{out_channels} must both be divisible by groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError(f"Conv2d: kernel_size, stride and dilation must be >= 1, got "
                             f"{self.kernel_size}, {self.stride}, {self.dilation}")
        self.padding = conv_padding(padding, self.kernel_size, self.dilation, self.stride,
                                    "Conv2d")
        if min(self.padding) < 0:
            raise ValueError(f"Conv2d: padding must be >= 0, got {self.padding}")
        self.groups = int(groups)
        self.padding_mode = padding_mode
        d = _dt.get_default_dtype() if dtype is None else _dt.as_dtype(dtype)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=d))
        self.bias = Parameter(np.empty((out_channels,), dtype=d)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        """Spatial size of the output for an ``h x w`` input."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (self.kernel_size, self.stride, self.padding,
                                                  self.dilation)
        return out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.data.shape
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"{self._name()}: expected input of shape (N, {self.in_channels}, "
                             f"H, W), got {tuple(shape)}")
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups, op=self._name())

    def _name(self) -> str:
        return f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1, op: str = "conv2d") -> Tensor:
    """Functional 2-D convolution (``F.conv2d``), PyTorch's argument order and semantics."""
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: input and weight must be Tensors, got {type(x).__name__} and "
                        f"{type(weight).__name__}")
    st = pair(stride, "stride", op)
    dl = pair(dilation, "dilation", op)
    w = weight.data
    pd = conv_padding(padding, tuple(w.shape[2:4]) if w.ndim == 4 else (1, 1), dl, st, op)
    conv2d_check(x.data, w, None if bias is None else bias.data, st, pd, dl, int(groups), op)
    kw = dict(stride=st, padding=pd, dilation=dl, groups=int(groups))
    if bias is None:  # no None among the graph inputs (explain lists them)
        return _Conv2dOp.apply(x, weight, **kw)
    return _Conv2dOp.apply(x, weight, bias, **kw)
