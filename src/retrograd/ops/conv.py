"""2-D convolution as one GEMM: im2col through a strided view, col2im by strided accumulation.

Layout
------
Tensors are NCHW to the user (PyTorch's shapes), but the arrays this op *makes* are stored
the way the GEMMs produce them, and handed out as NCHW transposed views (every later op -
BatchNorm, ReLU, pooling, additions - keeps its input's memory order, so the layout flows
through the network without copies):

* channels-last, ``(N, Ho, Wo, O)`` in memory, when there are 16 or more output channels:
  ``out[P, O] = col[P, K] @ Wm[O, K]^T`` (P = N*Ho*Wo, K = kh*kw*C/groups);
* channel-major, ``(O, N, Ho, Wo)`` in memory, for fewer channels (LeNet's 6):
  ``out^T[O, P] = Wm[O, K] @ col^T[K, P]``.

``col`` itself is built in whichever order gives the longer contiguous runs to copy: patch
rows ``(kh, kw, C)`` from a channels-last input (kw*C contiguous values per run), or
``col^T`` with rows ``(C, kh, kw)`` from an NCHW / channel-major input (Wo values per run;
chosen for few input channels, e.g. an image batch). Either way the GEMMs read ``col`` and
``col^T`` as stored - BLAS takes a transposed operand for free - so no transposed copy is made:

* weight gradient  ``dW[O, K] = delta^T[O, P] @ col[P, K]``;
* input gradient   for a stride-1 convolution with at least 16 input channels, the "full"
  correlation of delta with the flipped kernel (one more im2col and GEMM, see
  :func:`conv_transpose_s1`); otherwise ``dcol^T[K, P] = Wm^T @ delta^T`` scattered back by
  :func:`col2im` (one strided ``+=`` per kernel offset).

The weight is reordered to the order of ``col``'s rows once per call (a few KiB). Column sums
(the bias gradient) are GEMVs with a ones vector
(:func:`~retrograd.ops._reduce.sum_columns`).

Memory
------
``col`` is the one large buffer: ``N * Ho * Wo * kh * kw * C_in * itemsize`` bytes (for a
3x3 conv with 16 input channels, batch 128 on 8x8 maps in float32: 4.7 MB; for LeNet's
second conv, batch 64: 3.8 MB). It is built in the forward pass and kept for the weight
gradient until backward. The input gradient needs one temporary of the same size (the
gradient's im2col, or ``dcol``), freed as soon as it has been used; when the input needs no
gradient (the first layer) it is not made. A 1x1 convolution with stride 1 and no padding on a
channels-last input needs no ``col`` copy at all (a view). Padding costs one copy of the input
with a zero border.

When ``col`` would be large (``>= 2 * CHUNK_BYTES``, channels-last path, one group) it is never
made whole: :func:`im2col_gemm` builds it a few samples at a time in one reused, cache-sized
buffer, runs that chunk's GEMM, and moves on; backward rebuilds the chunks from the (padded)
input it keeps instead of ``col`` (the copy is cheap when it stays in the cache, the GEMMs
read hot data, and the pass saves ``kh*kw`` times the input in memory).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd.function import Function
from ._reduce import sum_columns

# The chunked im2col (see :func:`im2col_gemm`) builds the patch matrix a few samples at a
# time in a reused buffer of at most this many bytes: small enough to stay in the cache
# between the copy that writes it and the GEMM that reads it (measured: 1-2 MiB chunks beat
# both 256 KiB and one whole 4.7 MB matrix on the small ResNet), large enough that the
# per-chunk Python overhead (two calls) stays small next to the work.
CHUNK_BYTES = 1 << 21
_SCRATCH = threading.local()


def scratch(size: int, dtype: np.dtype) -> np.ndarray:
    """A reused 1-D work buffer of at least ``size`` elements (one per thread and dtype).

    Only for temporaries that never outlive the call that fills them: the next call in the
    same thread overwrites the buffer.
    """
    bufs = _SCRATCH.__dict__
    buf = bufs.get(dtype)
    if buf is None or buf.size < size:
        buf = bufs[dtype] = np.empty(size, dtype=dtype)
    return buf[:size]


def im2col_gemm(win: np.ndarray, wmat: np.ndarray, out: np.ndarray | None = None,
                dleft: np.ndarray | None = None) -> np.ndarray:
    """One of the two GEMMs of a convolution on the patch matrix of the window view ``win``
    (``(N, Ho, Wo, kh, kw, C)``, see :func:`windows`), built a few samples at a time.

    With ``wmat`` ``(K, O)``: returns ``out[P, O] = col[P, K] @ wmat``, written into ``out``
    if given. With ``dleft`` ``(O, P)`` instead: returns ``dleft @ col``, ``(O, K)`` (the
    weight gradient), summed over the chunks.

    The whole ``(P, K)`` matrix (kh*kw times the input) is never made: each chunk is copied
    into one reused buffer that stays in the cache for its GEMM, and nothing needs to be kept
    for backward but the (padded) input itself.
    """
    n, ho, wo, kh, kw, c = win.shape
    k = kh * kw * c
    rps = ho * wo  # patch rows per sample
    nb = max(1, min(n, CHUNK_BYTES // max(1, rps * k * win.itemsize)))
    nb = -(-n // -(-n // nb))  # the same number of chunks, of even sizes
    buf = scratch(nb * rps * k, win.dtype)
    acc = None
    for s in range(0, n, nb):
        e = min(n, s + nb)
        rows = (e - s) * rps
        cb = buf[:rows * k].reshape(e - s, ho, wo, kh, kw, c)
        np.copyto(cb, win[s:e])
        col = cb.reshape(rows, k)
        if dleft is None:
            np.matmul(col, wmat, out=out[s * rps:e * rps])
        elif acc is None:
            acc = np.matmul(dleft[:, s * rps:e * rps], col)
        else:
            acc += np.matmul(dleft[:, s * rps:e * rps], col)
    return out if dleft is None else acc


class Wide:
    """Per-channel broadcasting on an ``(M, C)`` C-ordered matrix, done on rows of ``r*C``.

    ``a - v`` with ``v`` of shape ``(C,)`` runs NumPy's inner loop over only C values per row
    (16 for a small CNN), so its per-loop overhead dominates; viewing the same memory as
    ``(M/r, r*C)`` and tiling ``v`` r times gives the same result with inner loops of
    ~512 values, several times faster. F-ordered matrices (channel-major maps) broadcast
    along long columns already and are left alone (r = 1).
    """

    def __init__(self, m: int, c: int, ok: bool) -> None:
        self.r = math.gcd(m, max(1, 512 // c)) if ok else 1
        self.shape = (m // self.r, self.r * c) if self.r > 1 else (m, c)

    def view(self, a: np.ndarray) -> np.ndarray:
        return a.reshape(self.shape) if self.r > 1 else a

    def vec(self, v: np.ndarray, dtype: np.dtype) -> np.ndarray:
        v = np.asarray(v, dtype=dtype)
        if self.r == 1:
            return v
        t = np.empty((self.r, v.size), dtype=dtype)  # np.tile, without its Python overhead
        t[...] = v
        return t.reshape(-1)


def pair(v: Any, name: str, op: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(1, 2) -> (1, 2)``; anything else is a TypeError naming ``op``."""
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    try:
        a, b = v
        return int(a), int(b)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}") from None


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """Output length along one axis: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def channels_last(x: np.ndarray) -> np.ndarray:
    """The ``(N, H, W, C)`` view of an NCHW array (no copy; contiguous if x is channels-last)."""
    return x.transpose(0, 2, 3, 1)


def padded_nhwc(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """``x`` (NCHW) as an ``(N, H+2ph, W+2pw, C)`` array with a zero border.

    Without padding this is a view; with padding, one channels-last copy (the price of the
    border, paid once per call).
    """
    xh = channels_last(x)
    if ph == 0 and pw == 0:
        return xh
    n, h, w, c = xh.shape
    # all zeros, then the interior: one memset beats four strided writes of the border
    # (measured ~1.5x on a 128x10x10x16 map)
    xp = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    xp[:, ph:ph + h, pw:pw + w] = xh
    return xp


def windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
            ho: int, wo: int) -> np.ndarray:
    """Read-only ``(N, Ho, Wo, kh, kw, C)`` view: element ``[n, i, j, a, b, c]`` is
    ``xp[n, i*sh + a*dh, j*sw + b*dw, c]``. No data is copied."""
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(xp.shape[0], ho, wo, kh, kw, xp.shape[3]),
                      strides=(s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)


def window_slice(a: int, b: int, sh: int, sw: int, dh: int, dw: int, ho: int,
                 wo: int) -> tuple[slice, slice]:
    """Rows/columns of a padded map touched by kernel offset (a, b) over all output positions."""
    r0, c0 = a * dh, b * dw
    return (slice(r0, r0 + sh * (ho - 1) + 1, sh), slice(c0, c0 + sw * (wo - 1) + 1, sw))


def padded_nchw(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """``x`` with a zero border, NCHW in memory (a view when there is no padding)."""
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def is_channels_last(x: np.ndarray) -> bool:
    """Whether an NCHW array is stored with the channel axis innermost."""
    return x.shape[1] > 1 and x.strides[1] < x.strides[3]


class Conv2d(Function):
    """out[n, o] = sum_c W[o, c] (*) x[n, c] + b[o]: cross-correlation, PyTorch's Conv2d.

    ``x`` is ``(N, C, H, W)``, ``weight`` ``(O, C/groups, kh, kw)``, ``bias`` ``(O,)``;
    ``stride``, ``padding``, ``dilation`` are pairs. The output is ``(N, O, Ho, Wo)``, stored
    channels-last or channel-major (see the module docstring).
    """

    saves = (0, 1)

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                groups=1):
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        sh, sw = stride
        ph, pw = padding
        dh, dw = dilation
        g = groups
        ho = out_size(h, kh, sh, ph, dh)
        wo = out_size(w, kw, sw, pw, dw)
        og = o // g
        p = n * ho * wo
        k = kh * kw * cg
        dtype = np.result_type(x.dtype, weight.dtype)
        # im2col copies runs of contiguous values: kw*C of them channels-last, Wo of them
        # channel-major; take the longer runs (one input layout change is cheap next to it).
        self.cab = cab = g == 1 and kw * c < 4 * wo and (c < 16 or not is_channels_last(x))
        # the output layout the next layer will want: channels-last once there are channels
        self.out_cl = out_cl = o >= 16 or g > 1
        # a large patch matrix is built and used a chunk at a time (see im2col_gemm)
        self.chunked = chunked = (not cab and g == 1 and out_cl and kh * kw > 1
                                  and x.dtype == weight.dtype
                                  and p * k * x.itemsize >= 2 * CHUNK_BYTES)
        if cab:
            # col^T[(c, a, b), (n, i, j)] from the NCHW (or channel-major) input; the weight
            # is already in (c, a, b) order
            xp = padded_nchw(x, ph, pw)
            s0, s1, s2, s3 = xp.strides
            win = as_strided(xp, shape=(c, kh, kw, n, ho, wo),
                             strides=(s1, s2 * dh, s3 * dw, s0, s2 * sh, s3 * sw),
                             writeable=False)
            colm = win.reshape(k, p).T  # (P, K) as a transposed view: BLAS reads it as is
            wm = weight.reshape(1, o, k)
        else:
            xp = padded_nhwc(x, ph, pw)
            win = windows(xp, kh, kw, sh, sw, dh, dw, ho, wo)
            # Wm[g, o', (a, b, c')]: the weight reordered to match col's (kh, kw, C) rows
            wm = weight.reshape(g, og, cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(g, og, k)
            if chunked:
                colm = xp  # backward rebuilds the patch matrix chunk by chunk from xp
            elif g == 1:
                colm = win.reshape(p, k)  # the im2col copy (a view for 1x1/stride 1/no pad)
            else:
                # (G, P, K): each group's patches side by side, then one batched GEMM
                colm = win.reshape(n, ho, wo, kh, kw, g, cg).transpose(5, 0, 1, 2, 3, 4, 6)
                colm = colm.reshape(g, p, k)
        if chunked:
            out = im2col_gemm(win, wm[0].T, np.empty((p, o), dtype=dtype))
        elif g > 1:
            out = np.matmul(colm, wm.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(p, o)
        elif out_cl:
            out = np.matmul(colm, wm[0].T)  # (P, O) = col Wm^T: one GEMM, channels-last
        else:
            out = np.matmul(wm[0], colm.T)  # (O, P) = Wm col^T: one GEMM, channel-major
        if out.dtype != dtype:
            out = out.astype(dtype)
        if bias is not None:
            if out_cl:
                wide = Wide(p, o, out.flags.c_contiguous)
                wv = wide.view(out)
                wv += wide.vec(bias, out.dtype)  # in place on out's memory
            else:
                out += bias[:, None]
        # col and the reordered weight live in self.saved: the engine frees them right after
        # backward (kept for a second backward with retain_graph=True)
        self.save(colm, wm)
        self.geom = (n, c, h, w, o, cg, kh, kw, sh, sw, ph, pw, dh, dw, g, ho, wo)
        if out_cl:
            return out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
        return out.reshape(o, n, ho, wo).transpose(1, 0, 2, 3)

    def backward(self, grad):
        n, c, h, w, o, cg, kh, kw, sh, sw, ph, pw, dh, dw, g, ho, wo = self.geom
        need = self.needs
        col, wm = self.saved
        p = n * ho * wo
        og = o // g
        gx = gw = gb = None
        wdt = self.inputs[1].data.dtype
        # delta as (P, O) rows or (O, P) rows, whichever is free for the layout that grad
        # arrived in (the layer after us usually keeps ours)
        if is_channels_last(grad) or g > 1 or grad.shape[1] == 1:
            d_po = channels_last(grad).reshape(p, o)
            d_op = d_po.T
        else:
            d_op = grad.transpose(1, 0, 2, 3).reshape(o, p)
            d_po = d_op.T
        if len(need) > 2 and need[2]:
            gb = sum_columns(d_po)  # dC/db = sum of delta over batch and positions
        if g == 1:
            if need[1]:
                if self.chunked:  # col holds the padded input: rebuild the patches in chunks
                    win = windows(col, kh, kw, sh, sw, dh, dw, ho, wo)
                    dwm = im2col_gemm(win, None, dleft=d_op)
                else:
                    dwm = np.matmul(d_op, col)  # dC/dW = delta^T col: (O, K)
                if self.cab:  # K is (c, a, b): the weight's own order
                    gw = dwm.reshape(o, cg, kh, kw)
                else:
                    gw = np.ascontiguousarray(dwm.reshape(o, kh, kw, cg).transpose(0, 3, 1, 2))
                gw = gw.astype(wdt, copy=False)
            d_gop = d_op[None]
        else:
            gg = d_po.reshape(p, g, og).transpose(1, 0, 2)  # (G, P, O/G), a view
            d_gop = gg.transpose(0, 2, 1)
            if need[1]:
                dwm = np.matmul(d_gop, col)  # (G, O/G, K)
                gw = dwm.reshape(g, og, kh, kw, cg).transpose(0, 1, 4, 2, 3)
                gw = np.ascontiguousarray(gw.reshape(o, cg, kh, kw)).astype(wdt, copy=False)
        del col
        if need[0]:
            weight = self.inputs[1].data
            if (g == 1 and sh == sw == 1 and ph <= dh * (kh - 1) and pw <= dw * (kw - 1)
                    and c >= 16):
                gx = conv_transpose_s1(grad, weight, ph, pw, dh, dw, h, w)
            else:
                # dC/dcol^T = W^T delta^T, (G, K, P), then scattered back (col2im)
                dcol_t = np.matmul(wm.transpose(0, 2, 1), d_gop)
                gx = col2im(dcol_t, n, c, h, w, cg, kh, kw, sh, sw, ph, pw, dh, dw, g, ho, wo,
                            self.cab)
            gx = gx.astype(self.inputs[0].data.dtype, copy=False)
        return gx, gw, gb


def conv_transpose_s1(grad: np.ndarray, weight: np.ndarray, ph: int, pw: int, dh: int,
                      dw: int, h: int, w: int) -> np.ndarray:
    """dC/dx of a stride-1 convolution as one more convolution (the "full" correlation of
    the padded gradient with the flipped kernel): an im2col of ``grad`` and one GEMM.

    dx[n, c, i, j] = sum_{o, a, b} delta[n, o, i + ph - a*dh, j + pw - b*dw] W[o, c, a, b];
    flipping a -> kh-1-a turns that into a correlation over ``delta`` padded by
    ``dh*(kh-1) - ph`` rows (needs ``ph <= dh*(kh-1)``). Chosen over col2im when the input has
    enough channels for a wide GEMM: the scatter's inner loops are only C long.
    """
    n, o, ho, wo = grad.shape
    _, c, kh, kw = weight.shape
    lh, lw = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    gp = padded_nhwc(grad, lh, lw)
    win = windows(gp, kh, kw, 1, 1, dh, dw, h, w)
    # wt[c, (a', b', o)] = W[o, c, kh-1-a', kw-1-b']
    wt = weight[:, :, ::-1, ::-1].transpose(1, 2, 3, 0).reshape(c, kh * kw * o)
    if grad.dtype == weight.dtype and win.size * grad.itemsize >= 2 * CHUNK_BYTES:
        dx = im2col_gemm(win, wt.T, np.empty((n * h * w, c), dtype=grad.dtype))
    else:
        dx = np.matmul(win.reshape(n * h * w, kh * kw * o), wt.T)
    return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def col2im(dcol_t: np.ndarray, n: int, c: int, h: int, w: int, cg: int, kh: int, kw: int,
           sh: int, sw: int, ph: int, pw: int, dh: int, dw: int, g: int, ho: int,
           wo: int, cab: bool = False) -> np.ndarray:
    """Scatter-add patch gradients ``(G, K, P)`` back onto the (padded) input map.

    One strided ``+=`` per kernel offset (kh*kw of them), each covering every output
    position at once; overlapping windows (stride < kernel) accumulate. The accumulator is
    ``(C, N, Hp, Wp)`` in memory so that both sides of each ``+=`` have runs of Wo contiguous
    values (channels-last would give runs of only C); returned as an NCHW view.
    """
    hp, wp = h + 2 * ph, w + 2 * pw
    dxp = np.zeros((g, cg, n, hp, wp), dtype=dcol_t.dtype)
    # K is ordered (a, b, c') on the channels-last path, (c', a, b) on the NCHW one (cab)
    if cab:
        d = dcol_t.reshape(g, cg, kh, kw, n, ho, wo).transpose(2, 3, 0, 1, 4, 5, 6)
    else:
        d = dcol_t.reshape(g, kh, kw, cg, n, ho, wo).transpose(1, 2, 0, 3, 4, 5, 6)
    for a in range(kh):
        for b in range(kw):
            rs, cs = window_slice(a, b, sh, sw, dh, dw, ho, wo)
            dxp[:, :, :, rs, cs] += d[a, b]
    dxp = dxp.reshape(c, n, hp, wp)
    return dxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def conv2d_check(x: np.ndarray, weight: np.ndarray, bias: Any, stride: tuple,
                 padding: tuple, dilation: tuple, groups: int, op: str = "conv2d") -> None:
    """Validate shapes before NumPy sees them; errors name ``op`` and both shapes."""
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (out, in/groups, kh, kw), got shape "
                         f"{weight.shape}")
    o, cg, kh, kw = weight.shape
    if groups < 1 or o % groups:
        raise ValueError(f"{op}: out_channels={o} must be divisible by groups={groups}")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, {cg * groups}, H, W), got shape "
                         f"{x.shape}")
    if x.shape[1] != cg * groups:
        raise ValueError(f"{op}: expected input of shape (N, {cg * groups}, H, W), got "
                         f"{x.shape} (weight {weight.shape}, groups={groups})")
    for name, v in (("stride", stride), ("dilation", dilation)):
        if min(v) < 1:
            raise ValueError(f"{op}: {name} must be >= 1, got {v}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")
    eh = dilation[0] * (kh - 1) + 1
    ew = dilation[1] * (kw - 1) + 1
    hp, wp = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if hp < eh or wp < ew:
        raise ValueError(f"{op}: input of shape {x.shape} (padded to {hp}x{wp}) is smaller than "
                         f"the kernel ({eh}x{ew} with dilation {dilation})")
    if bias is not None and np.shape(bias) != (o,):
        raise ValueError(f"{op}: bias of shape {np.shape(bias)} does not match {o} output "
                         "channels")
