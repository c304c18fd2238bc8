"""Blocks of deep networks: ``Residual`` (y = x + F(x)) and ``DenseBlock`` (DenseNet)."""

from __future__ import annotations

from ...ops.shape import concatenate
from ...tensor import Tensor
from ..module import Module
from .activation import ReLU
from .container import ModuleList, Sequential, run_fused
from .conv import Conv2d
from .normalization import BatchNorm2d, _BatchNorm


class Residual(Module):
    """``y = shortcut(x) + F(x)`` with ``F = module`` and ``shortcut`` the identity by default.

    The addition gives the gradient a second path: ``dC/dx = dC/dy (1 + dF/dx)``, so even a
    deep stack passes the error signal back undiminished (the seeds' residual chapters).

    Parameters
    ----------
    module : Module
        The residual branch F; its output must have the shape of ``shortcut(x)``.
    shortcut : Module, optional
        A projection (e.g. a 1x1 ``Conv2d``) when F changes the shape.
    """

    def __init__(self, module: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        self.module = module
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        fx = self.module(x)
        sx = x if self.shortcut is None else self.shortcut(x)
        self._check_shapes(fx, sx)
        return sx + fx

    def _check_shapes(self, fx: Tensor, sx: Tensor) -> None:
        if fx.shape != sx.shape:
            raise ValueError(f"Residual: the branch's output shape {tuple(fx.shape)} differs "
                             f"from the shortcut's {tuple(sx.shape)}; pass a shortcut= "
                             "projection")

    _fuses = ("relu",)

    def _fusable(self) -> bool:
        """Whether ``relu(self(x))`` may run as one ``relu(shortcut + bn(...))`` primitive:
        the branch is a plain ``Sequential`` ending in a fusable BatchNorm, and neither this
        block nor the branch has hooks or an overridden forward (see ``Sequential``)."""
        body = self.module
        if (type(self).forward is not Residual.forward or self._forward_hooks
                or self._forward_pre_hooks or not isinstance(body, Sequential)
                or type(body).forward is not Sequential.forward or body._forward_hooks
                or body._forward_pre_hooks or not len(body)):
            return False
        last = body[-1]
        return isinstance(last, _BatchNorm) and last._fusable()

    def _forward_act(self, x: Tensor, act: str) -> Tensor:
        """``relu(self(x))`` (``act`` is "relu", the one in :attr:`_fuses`): the branch up to
        its final BatchNorm, then BatchNorm, the addition of the shortcut and the ReLU as one
        primitive (after :meth:`_fusable`)."""
        mods = list(self.module._modules.values())
        bn = mods[-1]
        h = run_fused(mods[:-1], x)
        bn._check_input(h)  # BatchNorm's own error first, as in the unfused order
        sx = x if self.shortcut is None else self.shortcut(x)
        self._check_shapes(h, sx)  # BatchNorm keeps the shape
        return bn._forward_relu(h, residual=sx)


class DenseBlock(Module):
    """A DenseNet block: layer i sees the concatenation of the input and all earlier layers'
    outputs, and adds ``growth_rate`` channels: ``x_i = H_i([x_0, x_1, ..., x_{i-1}])``.

    Each ``H_i`` is BatchNorm2d -> ReLU -> Conv2d(3x3, padding 1, no bias). The output is the
    concatenation of all feature maps: ``in_channels + num_layers * growth_rate`` channels
    (available as ``out_channels``).

    Parameters
    ----------
    num_layers : int
    in_channels : int
    growth_rate : int

    Shape
    -----
    ``(N, in_channels, H, W)`` -> ``(N, out_channels, H, W)``.
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int) -> None:
        super().__init__()
        if num_layers < 1 or in_channels < 1 or growth_rate < 1:
            raise ValueError(f"DenseBlock: num_layers, in_channels and growth_rate must be "
                             f"positive, got {num_layers}, {in_channels}, {growth_rate}")
        self.in_channels = in_channels
        self.growth_rate = growth_rate
        self.out_channels = in_channels + num_layers * growth_rate
        self.layers = ModuleList(
            Sequential(BatchNorm2d(in_channels + i * growth_rate), ReLU(),
                       Conv2d(in_channels + i * growth_rate, growth_rate, 3, padding=1,
                              bias=False))
            for i in range(num_layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.data.ndim != 4 or x.data.shape[1] != self.in_channels:
            raise ValueError(f"DenseBlock(in_channels={self.in_channels}): expected input of "
                             f"shape (N, {self.in_channels}, H, W), got {tuple(x.data.shape)}")
        features = [x]
        for layer in self.layers:
            inp = features[0] if len(features) == 1 else concatenate(features, axis=1)
            features.append(layer(inp))
        return concatenate(features, axis=1)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, growth_rate={self.growth_rate}, "
                f"num_layers={len(self.layers)}")
