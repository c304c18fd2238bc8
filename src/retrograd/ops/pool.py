"""Pooling: max and mean over 2-D windows, and global average pooling.

Both window ops loop over the kh*kw *kernel offsets* (4 for a 2x2 window), never over output
positions: offset (a, b) of every window at once is one strided slice of the (padded) map.
The most common case, 2x2 max pooling with stride 2, is a tournament instead (the winner of
each row, then the better row): 6 array passes forward and 6 backward.

Backward, as seed 004 describes it: the gradient of a pooled value goes back to the inputs
of its window so that the total is preserved - max pooling routes all of it to the position
of the maximum (the first one in scan order on a tie, as PyTorch does), mean pooling spreads
it evenly. Overlapping windows (stride < kernel) accumulate: the strided ``+=`` of each offset
adds onto what earlier offsets wrote.

Outputs keep the memory order of the input (``order="K"``), so channels-last maps from a
convolution stay channels-last.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ._select import keep
from .conv import out_size


def _slices(a: int, b: int, sh: int, sw: int, dh: int, dw: int, ho: int, wo: int):
    r0, c0 = a * dh, b * dw
    return (slice(None), slice(None), slice(r0, r0 + sh * (ho - 1) + 1, sh),
            slice(c0, c0 + sw * (wo - 1) + 1, sw))


def _pad(x: np.ndarray, ph: int, pw: int, value: float, eh: int = 0, ew: int = 0
         ) -> np.ndarray:
    """``x`` with a border of ``value``: ``ph``/``pw`` on each side, and ``eh``/``ew`` more at
    the bottom/right (the last windows of ``ceil_mode``)."""
    if ph == 0 and pw == 0 and eh == 0 and ew == 0:
        return x
    n, c, h, w = x.shape
    xp = _full_like_layout((n, c, h + 2 * ph + eh, w + 2 * pw + ew), x.strides, x.dtype,
                           value)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def pool_out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Output length along one axis, as PyTorch: ``floor`` (or ``ceil``) of
    ``(size + 2p - d(k-1) - 1) / s``, plus one; with ``ceil_mode`` the last window must still
    start inside the input or its left padding."""
    if not ceil_mode:
        return out_size(size, k, s, p, d)
    o = -(-(size + 2 * p - d * (k - 1) - 1) // s) + 1
    if (o - 1) * s >= size + p:
        o -= 1
    return o


def _overhang(size: int, k: int, s: int, p: int, d: int, o: int) -> int:
    """How far the last of ``o`` windows reaches past the padded input (ceil_mode), >= 0."""
    return max(0, (o - 1) * s + d * (k - 1) + 1 - (size + 2 * p))


def pool_check(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple, op: str,
               ceil_mode: bool = False) -> tuple:
    """Validate and return the output size (Ho, Wo)."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be >= 1, got "
                         f"{k}, {s}, {d}")
    if min(p) < 0 or p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size "
                         f"{k}, got {p}")
    ho = pool_out_size(x.shape[2], k[0], s[0], p[0], d[0], ceil_mode)
    wo = pool_out_size(x.shape[3], k[1], s[1], p[1], d[1], ceil_mode)
    if ho < 1 or wo < 1:
        raise ValueError(f"{op}: input of shape {x.shape} is smaller than the kernel {k} "
                         f"(padding {p}, dilation {d})")
    return ho, wo


class MaxPool2d(Function):
    """out[n, c, i, j] = max of the window at (i, j); ties go to the first in scan order."""

    saves = ()

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1),
                ceil_mode=False):
        kh, kw = kernel
        sh, sw = stride
        dh, dw = dilation
        ho, wo = pool_check(x, kernel, stride, padding, dilation, "max_pool2d", ceil_mode)
        if kernel == stride == (2, 2) and padding == (0, 0) and dilation == (1, 1) \
                and 2 * ho <= x.shape[2] and 2 * wo <= x.shape[3]:
            return self._forward_2x2(x, ho, wo)
        self.pair = False
        # (ceil_mode: the last windows may reach past the border; -inf never wins there)
        xp = _pad(x, padding[0], padding[1], -np.inf,
                  _overhang(x.shape[2], kh, sh, padding[0], dh, ho),
                  _overhang(x.shape[3], kw, sw, padding[1], dw, wo))
        out = xp[_slices(0, 0, sh, sw, dh, dw, ho, wo)].copy(order="K")
        # index of the winning offset per output; strict > keeps the first maximum on ties
        arg = np.zeros_like(out, dtype=np.uint8 if kh * kw < 256 else np.int32, order="K")
        # As PyTorch, a NaN is a window's maximum, and a later NaN takes over from an
        # earlier one; looked for only when the input has one (a sum is NaN then)
        nan = np.isnan(x.sum())
        mk = np.empty_like(arg)
        for k in range(1, kh * kw):
            v = xp[_slices(k // kw, k % kw, sh, sw, dh, dw, ho, wo)]
            m = v > out
            if nan:
                m |= np.isnan(v)
            # Branch-free (np.copyto(where=) branches per element, ~10x slower on random
            # data): offsets come in increasing order, so the winner's is the largest k
            # marked, and np.maximum keeps out on ties and takes a NaN, as m says
            np.multiply(m, arg.dtype.type(k), out=mk)
            np.maximum(arg, mk, out=arg)
            np.maximum(out, v, out=out)
        self.save(arg)  # freed by the engine after backward
        self.geom = (x.shape, xp.shape, xp.strides, padding, kernel, stride, dilation, ho, wo)
        return out

    def _forward_2x2(self, x, ho, wo):
        # The common 2x2/stride-2 case as a tournament, 6 passes instead of 11: the row
        # winners, then the better row. Strict ">" keeps the first maximum in scan order
        # ((0,0), (0,1), (1,0), (1,1)) on every tie, as PyTorch.
        v = x[:, :, :2 * ho, :2 * wo].reshape(x.shape[0], x.shape[1], ho, 2, wo, 2)
        a, b, c, d = v[:, :, :, 0, :, 0], v[:, :, :, 0, :, 1], v[:, :, :, 1, :, 0], \
            v[:, :, :, 1, :, 1]
        s0 = b > a          # row 0: (0,1) beats (0,0)
        s1 = d > c          # row 1: (1,1) beats (1,0)
        m0 = np.maximum(a, b)
        m1 = np.maximum(c, d)
        r = m1 > m0         # row 1 beats row 0
        np.maximum(m0, m1, out=m0)
        if np.isnan(m0.sum()):  # (np.maximum propagates NaN: some window holds one)
            # As PyTorch, a NaN is the maximum, the last in scan order if several:
            # (0,1) wins row 0 if NaN, (1,1) row 1, and row 1 wins if it holds a NaN
            s0 |= np.isnan(b)
            s1 |= np.isnan(d)
            r |= np.isnan(m1)
        self.pair = True
        self.save(s0, s1, r)
        self.geom = (x.shape, x.strides, ho, wo)
        return m0

    def _backward_2x2(self, grad):
        shape, strides, ho, wo = self.geom
        s0, s1, r = self.saved
        gx = _zeros_like_layout(shape, strides, grad.dtype)
        v = gx[:, :, :2 * ho, :2 * wo].reshape(shape[0], shape[1], ho, 2, wo, 2)
        g1 = grad * r       # the share of windows won by row 1 ...
        g0 = grad - g1      # ... and by row 0 (exact: r is 0 or 1)
        np.multiply(g0, s0, out=v[:, :, :, 0, :, 1])
        np.subtract(g0, v[:, :, :, 0, :, 1], out=v[:, :, :, 0, :, 0])
        np.multiply(g1, s1, out=v[:, :, :, 1, :, 1])
        np.subtract(g1, v[:, :, :, 1, :, 1], out=v[:, :, :, 1, :, 0])
        return gx

    def backward(self, grad):
        if self.pair:
            return self._backward_2x2(grad)
        shape, pshape, pstrides, (ph, pw), (kh, kw), (sh, sw), (dh, dw), ho, wo = self.geom
        arg = self.saved[0]
        gxp = _zeros_like_layout(pshape, pstrides, grad.dtype)
        disjoint = sh >= dh * (kh - 1) + 1 and sw >= dw * (kw - 1) + 1
        for k in range(kh * kw):
            dst = gxp[_slices(k // kw, k % kw, sh, sw, dh, dw, ho, wo)]
            # all of a window's gradient goes to its maximum (seed 004: the sum is kept),
            # exactly 0 to the rest (by a bit mask: a 0/1 multiply would make inf * 0 NaN)
            g = keep(grad, arg == k)
            if disjoint:  # each input is in one window at most: write, don't accumulate
                np.copyto(dst, g)
            else:
                dst += g
        return gxp[:, :, ph:ph + shape[2], pw:pw + shape[3]]


class AvgPool2d(Function):
    """out[n, c, i, j] = mean of the window at (i, j).

    As PyTorch: the divisor counts the zero padding (``count_include_pad=True``, the default)
    but not the part of a ``ceil_mode`` window past the padded border; with
    ``count_include_pad=False`` it counts only the window's input elements.
    """

    saves = ()

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False,
                count_include_pad=True):
        kh, kw = kernel
        sh, sw = stride
        ph, pw = padding
        ho, wo = pool_check(x, kernel, stride, padding, (1, 1), "avg_pool2d", ceil_mode)
        h, w = x.shape[2], x.shape[3]
        eh, ew = _overhang(h, kh, sh, ph, 1, ho), _overhang(w, kw, sw, pw, 1, wo)
        xp = _pad(x, ph, pw, 0.0, eh, ew)
        out = xp[_slices(0, 0, sh, sw, 1, 1, ho, wo)].copy(order="K")
        for k in range(1, kh * kw):
            out += xp[_slices(k // kw, k % kw, sh, sw, 1, 1, ho, wo)]
        if eh == ew == 0 and (count_include_pad or ph == pw == 0):
            scale = out.dtype.type(1.0 / (kh * kw))  # every window counts kh * kw elements
        else:
            scale = (1.0 / (_counts(h, kh, sh, ph, ho, count_include_pad)[:, None]
                            * _counts(w, kw, sw, pw, wo, count_include_pad))).astype(x.dtype)
        out *= scale
        self.scale = scale
        self.geom = (x.shape, xp.shape, xp.strides, padding, kernel, stride, ho, wo)
        return out

    def backward(self, grad):
        shape, pshape, pstrides, (ph, pw), (kh, kw), (sh, sw), ho, wo = self.geom
        gxp = _zeros_like_layout(pshape, pstrides, grad.dtype)
        share = grad * self.scale  # each input of a window gets 1/(its divisor) of it
        for k in range(kh * kw):
            gxp[_slices(k // kw, k % kw, sh, sw, 1, 1, ho, wo)] += share
        return gxp[:, :, ph:ph + shape[2], pw:pw + shape[3]]


def _counts(size: int, k: int, s: int, p: int, o: int, include_pad: bool) -> np.ndarray:
    """Per output position along one axis, how many places its window counts (PyTorch's
    divisor): up to the padded border, or only inside the input."""
    start = np.arange(o) * s - p
    end = np.minimum(start + k, size + p)
    if not include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, size)
    return (end - start).astype(np.float64)


class GlobalAvgPool2d(Function):
    """out[n, c, 0, 0] = mean over H and W (``AdaptiveAvgPool2d(1)``)."""

    saves = ()

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"adaptive_avg_pool2d: expected a 4-D input (N, C, H, W), got "
                             f"shape {x.shape}")
        n, c, h, w = x.shape
        self.shape = x.shape
        self.strides = x.strides
        if c > 1 and x.strides[1] < x.strides[3]:
            # channels-last: sum the H*W rows of each sample with a GEMV, not a strided reduce
            rows = x.transpose(0, 2, 3, 1).reshape(n, h * w, c)
            ones = np.full(h * w, 1.0 / (h * w), dtype=x.dtype)
            return np.matmul(ones, rows).reshape(n, c, 1, 1)
        return x.mean(axis=(2, 3), keepdims=True)

    def backward(self, grad):
        n, c, h, w = self.shape
        g = grad * grad.dtype.type(1.0 / (h * w))  # spread evenly over the H*W inputs
        if c > 1 and self.strides[1] < self.strides[3]:
            # channels-last: each sample's C values repeated H*W times as whole rows (a
            # broadcasting write would run inner loops of only C values)
            return np.repeat(g.reshape(n, c), h * w, axis=0).reshape(n, h, w, c).transpose(
                0, 3, 1, 2)
        out = _full_like_layout(self.shape, self.strides, grad.dtype, None)
        out[...] = g
        return out


def _full_like_layout(shape: tuple, strides: tuple, dtype: np.dtype,
                      value: float | None = 0.0) -> np.ndarray:
    """``value``-filled array of NCHW ``shape`` (uninitialised for ``None``), channels-last in
    memory when ``strides`` (of the array it stands in for) say so."""
    n, c, h, w = shape
    make = np.empty if value is None else (lambda s, dtype: np.full(s, value, dtype=dtype))
    if c > 1 and strides[1] < strides[3]:
        return make((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)
    return make(shape, dtype=dtype)


def _zeros_like_layout(shape: tuple, strides: tuple, dtype: np.dtype) -> np.ndarray:
    return _full_like_layout(shape, strides, dtype, 0.0)
