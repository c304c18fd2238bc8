"""Batch normalisation as one fused primitive with a hand-derived backward.

The unfused composition (mean, subtract, square, mean, add eps, sqrt, divide, scale, shift)
is nine graph nodes and as many full-size temporaries; this op makes two full-size arrays in
the forward pass (the centred input, kept for backward, and the output) and two in the
backward pass. It is tested against that composition.

Channel axis 1; statistics over every other axis. 4-D inputs are processed as an
``(N*H*W, C)`` matrix: free when the input is channels-last (a convolution's output), one
copy otherwise; the output is channels-last either way.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from .conv import Wide as _Wide
from .conv import colsum


def coldot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b, axis=0)`` for ``(M, C)`` arrays without the ``(M, C)`` temporary.

    For up to 64 channels it is the diagonal of the ``C x C`` GEMM ``a^T b``: the extra
    ``C^2 M`` multiply-adds cost less than writing and re-reading a full-size product.
    """
    if a.shape[1] <= 64:
        return np.matmul(a.T, b).diagonal().copy()
    return colsum(a * b)


def update_running(running_mean: np.ndarray | None, running_var: np.ndarray | None,
                   mean: np.ndarray, var: np.ndarray, n: int, momentum: float) -> None:
    """PyTorch's running statistics, in place: r = (1 - momentum) r + momentum * batch value,
    with the batch's *unbiased* variance (``var`` is the biased one over ``n`` values)."""
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * n / (n - 1)) * var


def _rows(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """``x`` with the channel axis last and the others flattened: ``(M, C)``."""
    if x.ndim == 2:
        return x, ()
    perm = (0,) + tuple(range(2, x.ndim)) + (1,)
    xt = x.transpose(perm)
    return xt.reshape(-1, x.shape[1]), xt.shape


def _unrows(y: np.ndarray, tshape: tuple) -> np.ndarray:
    """Inverse of :func:`_rows` (a view)."""
    if not tshape:
        return y
    nd = len(tshape)
    inv = (0, nd - 1) + tuple(range(1, nd - 1))
    return y.reshape(tshape).transpose(inv)


class BatchNorm(Function):
    """out = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1).

    In training mode ``mean`` and ``var`` (biased) are the batch's, and ``running_mean`` /
    ``running_var`` (arrays, updated in place) move towards them by ``momentum``, with the
    *unbiased* batch variance, as PyTorch does. In eval mode the running statistics are used
    and the op is an affine map per channel.
    """

    saves = (0,)

    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None,
                training=True, momentum=0.1, eps=1e-5):
        c = x.shape[1]
        x2, tshape = _rows(x)
        m = x2.shape[0]
        dt = x.dtype
        if training:
            if m <= 1:
                raise ValueError(f"batch_norm: expected more than 1 value per channel in "
                                 f"training mode, got input of shape {x.shape}")
            # column sums as GEMVs (see colsum): the statistics cost two passes
            mean = colsum(x2) / m
            wide = _Wide(m, c, x2.flags.c_contiguous)
            xc = (wide.view(x2) - wide.vec(mean, dt)).reshape(m, c)
            var = coldot(xc, xc) / m  # biased variance
            inv_std = 1.0 / np.sqrt(var + eps)
            update_running(running_mean, running_var, mean, var, m, momentum)
            scale = inv_std if weight is None else weight * inv_std
            out = wide.view(xc) * wide.vec(scale, dt)
            self.save(xc, None, None)  # freed by the engine after backward
        else:
            mean = running_mean
            inv_std = 1.0 / np.sqrt(running_var + eps)
            scale = inv_std if weight is None else weight * inv_std
            wide = _Wide(m, c, x2.flags.c_contiguous)
            out = wide.view(x2) * wide.vec(scale, dt)
            out -= wide.vec(mean * scale, dt)
            self.save(None, x2 if weight is not None else None, mean.copy())
        if bias is not None:
            out += wide.vec(bias, dt)
        out = out.reshape(m, c)
        self.inv_std = inv_std.astype(dt, copy=False)
        self.scale = scale.astype(dt, copy=False)
        self.tshape = tshape
        self.c = c
        return _unrows(out, tshape)

    def backward(self, grad):
        need = self.needs
        g2, _ = _rows(grad)
        m = g2.shape[0]
        xc, x2, mean = self.saved
        inv_std, scale = self.inv_std, self.scale
        gb = colsum(g2) if len(need) > 2 and need[2] else None
        gw = gx = None
        if xc is not None:  # training: the statistics depend on x
            dbeta = colsum(g2) if gb is None else gb
            gxc = coldot(g2, xc)  # sum(delta * (x - mean))
            if len(need) > 1 and need[1]:
                gw = gxc * inv_std  # dC/dgamma = sum(delta * xhat)
            if need[0]:
                # dC/dx = scale * (delta - mean(delta) - xhat * mean(delta * xhat))
                #       = scale * delta - scale/m * dbeta - xc * (scale * inv_std^2 / m) * gxc
                k = scale * inv_std * inv_std * gxc / m
                wide = _Wide(m, self.c, g2.flags.c_contiguous and xc.flags.c_contiguous)
                dt = grad.dtype
                gx = wide.view(g2) * wide.vec(scale, dt)
                gx -= wide.view(xc) * wide.vec(k, dt)
                gx -= wide.vec(scale * dbeta / m, dt)
                gx = gx.reshape(m, self.c)
        else:  # eval: a fixed affine map per channel
            if len(need) > 1 and need[1]:
                gw = coldot(g2, x2) - mean * colsum(g2)
                gw = (gw * inv_std).astype(grad.dtype, copy=False)
            if need[0]:
                wide = _Wide(m, self.c, g2.flags.c_contiguous)
                gx = (wide.view(g2) * wide.vec(scale, grad.dtype)).reshape(m, self.c)
        if gx is not None:
            gx = _unrows(gx, self.tshape)
        return gx, gw, gb
