"""Loss primitives: forward and VJP side by side, each fused for speed and stability.

Every loss here could be written as a composition of smaller ops (``log_softmax`` then an
index then ``mean``; ``(x - y) ** 2`` then ``mean``); the fused forms do one pass, never form
``log(0)`` or ``e^{1000}``, and their VJPs are the short closed forms the seeds derive (for
softmax + cross-entropy, ``delta = a - y``). ``tests/nn/test_loss.py`` checks each against the
unfused composition, central differences and PyTorch.

``reduction`` is ``"mean"`` (the default), ``"sum"`` or ``"none"`` (one loss per element or
per sample, no reduction).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Function
from ..dtypes import scalar_array
from ._reduce import max_rows, row_starts, sum_rows, sum_vector
from .activation import sigmoid_array

REDUCTIONS = ("mean", "sum", "none")
_DOT_MAX = 256  # up to this many losses are summed by a dot product (see _reduce)


def check_reduction(reduction: Any, op: str) -> str:
    """``reduction`` if it is "mean", "sum" or "none"; else a ValueError naming ``op``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _check_float(x: np.ndarray, op: str, what: str = "input") -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be a floating-point tensor, got dtype {x.dtype}")


def _reduce(loss: np.ndarray, reduction: str, denom: Any = None) -> np.ndarray:
    if reduction == "none":
        return loss
    if loss.ndim == 1 and loss.size <= _DOT_MAX:
        total = sum_vector(loss)  # a batch of per-sample losses: few terms, just as accurate
    else:
        total = np.add.reduce(loss, axis=None)  # loss.sum() without its Python wrapper
    if reduction == "sum":
        return np.asarray(total, dtype=loss.dtype)
    n = loss.size if denom is None else denom
    # An empty batch (or every label ignored) gives NaN, as in PyTorch, without a warning:
    # forwards run under Function.apply, which already turned NumPy's warnings off.
    return np.asarray(total / n, dtype=loss.dtype)


def _upstream(grad: np.ndarray, reduction: str, n: Any) -> Any:
    """dC/d(loss_i) for each element from dC/d(reduced loss)."""
    if reduction == "none":
        return grad
    if reduction == "sum":
        return grad.reshape(())
    return grad.reshape(()) / n  # (the engine runs every VJP with warnings off)


def _same_shape(x: np.ndarray, y: np.ndarray, op: str) -> None:
    if x.shape != y.shape:
        # NOTE: PyTorch broadcasts here with a warning; (N, 1) against (N,) then silently
        # compares every pair. A silent wrong answer is worse than an error.
        raise ValueError(f"{op}: input shape {x.shape} and target shape {y.shape} differ "
                         "(reshape one of them; broadcasting would pair every element with "
                         "every other)")


# ----------------------------------------------------------------------------- regression
class MSELoss(Function):
    """out = reduce((x - y)^2)."""

    saves = ()

    def forward(self, x, y, reduction="mean"):
        _check_float(x, "mse_loss")
        y = np.asarray(y)
        _same_shape(x, y, "mse_loss")
        diff = np.subtract(x, y, dtype=x.dtype)
        self.diff, self.reduction, self.n = diff, reduction, diff.size
        return _reduce(diff * diff, reduction)

    def backward(self, grad):
        # d (x - y)^2 / dx = 2 (x - y) = -d/dy
        g = _upstream(grad, self.reduction, self.n)
        gx = self.diff * (2 * g)
        if gx.dtype != self.diff.dtype:
            gx = gx.astype(self.diff.dtype)
        return (gx if self.needs[0] else None), (-gx if self.needs[1] else None)


# ------------------------------------------------------------------ classification targets
def _class_rows(x: np.ndarray, target: np.ndarray, op: str, ignore_index: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Bring ``x`` of shape (C,), (N, C) or (N, C, d1, ...) to rows (M, C), with the labels
    ``y`` (M,) checked to lie in [0, C), and the mask of labels that are not ignored."""
    _check_float(x, op)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices (int64), got dtype "
                        f"{target.dtype}" + (" (class probabilities need a float target of "
                                             "the input's shape)" if op == "cross_entropy"
                                             else ""))
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    want = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if target.shape != want:
        layout = "(C,)" if x.ndim == 1 else "(N, C)" if x.ndim == 2 else "(N, C, d1, ...)"
        raise ValueError(f"{op}: input of shape {x.shape} {layout} needs a target of shape "
                         f"{want}, got {target.shape}")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    rows = x if x.ndim == 2 else _rows(x, c)
    y = target if target.ndim == 1 else target.reshape(-1)
    if not 0 <= ignore_index < c and (y.size == 0 or _labels_below(y, c)):
        return rows, y, None, want  # the common case: every label valid, none ignored
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= c))
    if bad.any():
        label = int(y[bad.argmax()])
        raise ValueError(f"{op}: label {label} is outside [0, {c}) (the input has C={c} "
                         "classes)")
    all_valid = bool(valid.all())
    if not all_valid:
        y = np.where(valid, y, 0)  # any index in range; those rows get zero weight
    return rows, y, (None if all_valid else valid), want


def _labels_below(y: np.ndarray, c: int) -> bool:
    """True if every label lies in [0, c): the largest label seen as unsigned (a negative
    label becomes huge), found by argmax (~0.3 us for 100 labels; max() ~1.2 us, being a
    ufunc reduction), instead of a min() and a max()."""
    if y.dtype.kind == "i":
        y = y.view(_UNSIGNED[y.itemsize])
    return bool(y[y.argmax()] < c)


_UNSIGNED = {k: np.dtype(f"u{k}") for k in (1, 2, 4, 8)}  # by itemsize


_ARANGE = [np.arange(0)]


def _arange(n: int) -> np.ndarray:
    """np.arange(n), kept from the last call (batches usually repeat their size)."""
    r = _ARANGE[0]
    if r.shape[0] != n:
        r = _ARANGE[0] = np.arange(n)
        r.setflags(write=False)
    return r


def _row_weights(y: np.ndarray, valid: np.ndarray | None, weight: np.ndarray | None,
                 dtype: np.dtype) -> np.ndarray | None:
    """w_{y_i} per row (0 for ignored rows), or None when every row has weight 1."""
    if weight is None:
        return None if valid is None else valid.astype(dtype)
    w = weight[y].astype(dtype, copy=False)
    return w if valid is None else w * valid


def _check_weight(weight: Any, c: int, op: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight)
    if w.shape != (c,):
        raise ValueError(f"{op}: weight must have shape ({c},) (one per class), got {w.shape}")
    return w


def _rows(a: np.ndarray, c: int) -> np.ndarray:
    """(C,), (N, C) or (N, C, d1, ...) as rows (M, C): one row per sample and position."""
    return a.reshape(-1, c) if a.ndim <= 2 else np.moveaxis(a, 1, -1).reshape(-1, c)


def _unrows(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Inverse of :func:`_rows`."""
    if len(shape) <= 2:
        return g.reshape(shape)
    moved = (shape[0],) + shape[2:] + (shape[1],)
    return np.moveaxis(g.reshape(moved), -1, 1)


class CrossEntropy(Function):
    """out = reduce(-w_y log softmax(x)_y): log-softmax and negative log-likelihood in one.

    Stable for logits of any size: the row maximum is subtracted before exponentiating and
    log p_y is formed as (x_y - max) - log sum e^{x - max}, never as log of a rounded p.
    """

    saves = ()

    def forward(self, x, target, weight=None, reduction="mean", ignore_index=-100,
                label_smoothing=0.0):
        target = np.asarray(target)
        self.reduction, self.shape = reduction, x.shape
        eps = float(label_smoothing)
        if target.dtype.kind == "f" and target.shape == x.shape:
            _check_float(x, "cross_entropy")
            c = x.shape[0] if x.ndim == 1 else x.shape[1]
            trows = _rows(target, c)
            if eps:
                trows = trows * (1 - eps) + eps / c
            self.t_scale = 1 - eps  # d(smoothed t)/d t
            if not eps:
                trows = trows.copy()  # kept for backward: not a view of the target
            out_shape = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
            return self._soft(x, trows, _check_weight(weight, c, "cross_entropy"), reduction,
                              trows.shape[0], out_shape)
        rows, y, valid, out_shape = _class_rows(x, target, "cross_entropy", ignore_index)
        m, c = rows.shape
        if weight is None and valid is None:
            w = None  # (the usual case, without the two calls below)
        else:
            w = _row_weights(y, valid, _check_weight(weight, c, "cross_entropy"), x.dtype)
        n = m if w is None else w.sum()
        if eps:
            r = _arange(m)
            # Label smoothing: the target is (1 - eps) onehot(y) + eps / C (0 on ignored rows);
            # the mean still divides by the (weighted) count of labelled rows, as PyTorch.
            t = np.full(rows.shape, eps / c, dtype=x.dtype)
            t[r, y] += 1 - eps
            if valid is not None:
                t[~valid] = 0
            self.t_scale = 1.0
            return self._soft(x, t, _check_weight(weight, c, "cross_entropy"), reduction, n,
                              out_shape)
        # (No `with quiet` here: Function.apply runs every forward with warnings off.)
        z = rows - max_rows(rows)
        # Flat indices of the labelled entries: cheaper than z[r, y] here and again in the
        # VJP (not for unsigned labels: uint64 + int64 promotes to float).
        flat = row_starts(m, c) + y if y.dtype.kind == "i" else None
        z_y = z[_arange(m), y] if flat is None else z.reshape(-1)[flat]
        np.exp(z, out=z)
        s = sum_rows(z)
        z /= s[:, None]  # z is now softmax(x) = a, kept for the VJP
        loss = np.log(s) - z_y  # -log a_y
        if w is not None:
            loss *= w
        # (saves = (): backward reads only arrays made here, so y is copied when the flat
        # indices are not used and it may be a view of the caller's labels)
        self.p, self.w, self.soft, self.n = z, w, False, n
        self.flat = flat
        self.y = None if flat is not None else np.array(y)
        if len(out_shape) != 1:
            loss = loss.reshape(out_shape)
        return _reduce(loss, reduction, n)

    def _soft(self, x, trows, w, reduction, n, out_shape):
        """Class probabilities as target: out = reduce(-sum_c w_c t_c log softmax(x)_c)."""
        c = trows.shape[1]
        rows = _rows(x, c)
        if w is not None:
            trows = trows * w
        z = rows - rows.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -(trows * logp).sum(axis=1).astype(x.dtype, copy=False)
        self.logp, self.t, self.w, self.soft, self.n = logp, trows, w, True, n
        return _reduce(loss.reshape(out_shape), reduction, n)

    def backward(self, grad):
        flat = getattr(self, "flat", None)
        if flat is not None and self.w is None and self.reduction != "none":
            # The usual case (labels, no weights, a reduced loss), with the upstream factor
            # as a Python float: a float32 quotient through float64 rounds to the same
            # float32 as NumPy's own division, and the weak Python scalar keeps p's dtype.
            c = grad.item()
            if self.reduction == "mean":
                c /= self.n
            p = self.p
            c = scalar_array(c, p.dtype)  # (the same bits as the Python float, faster)
            return _unrows(self._minus_onehot(p * c, c), self.shape), None
        g = _upstream(grad, self.reduction, self.n)
        if self.reduction == "none":
            g = g.reshape(-1)
        coef = g if self.w is None or self.soft else g * self.w
        coef = np.asarray(coef, dtype=self._dtype())
        gt = None
        if self.soft:
            # dL/dx_j = (sum_c w_c t_c) a_j - w_j t_j;  dL/dt_c = -w_c log a_c
            t, logp = self.t, self.logp
            gx = np.exp(logp) * t.sum(axis=1, keepdims=True) - t
            gx *= coef[:, None] if coef.ndim else coef
            if self.needs[1]:
                gt = -logp * (coef[:, None] if coef.ndim else coef)
                if self.t_scale != 1:
                    gt *= self.t_scale  # through the smoothing t -> (1 - eps) t + eps / C
                if self.w is not None:
                    gt = gt * self.w
                gt = _unrows(gt, self.shape)
        else:
            # The seeds' output delta: dL/dz = a - y (softmax minus one-hot), times the
            # upstream gradient and the class weight of each row.
            # (A new array, not self.p in place: retain_graph may run this backward again.)
            gx = self._minus_onehot(self.p * (coef[:, None] if coef.ndim else coef), coef)
        return _unrows(gx, self.shape), gt

    def _minus_onehot(self, gx: np.ndarray, coef: Any) -> np.ndarray:
        """``gx`` (rows ``coef * a``) minus ``coef`` at each row's label: ``coef (a - y)``."""
        flat = self.flat
        if flat is None:
            gx[_arange(gx.shape[0]), self.y] -= coef
            return gx
        # through the flat indices of the labels: ~2 us less than gx[r, y]
        if not gx.flags.c_contiguous:  # (N, C, d1, ...) inputs: rows of a moved axis
            gx = np.ascontiguousarray(gx)
        gx.reshape(-1)[flat] -= coef
        return gx

    def _dtype(self) -> np.dtype:
        return (self.p if not self.soft else self.logp).dtype


class NLLLoss(Function):
    """out = reduce(-w_y x_y) for log-probabilities ``x``."""

    def forward(self, x, target, weight=None, reduction="mean", ignore_index=-100):
        rows, y, valid, out_shape = _class_rows(x, np.asarray(target), "nll_loss",
                                                ignore_index)
        w = _row_weights(y, valid, _check_weight(weight, rows.shape[1], "nll_loss"), x.dtype)
        loss = -rows[np.arange(rows.shape[0]), y]
        if w is not None:
            loss *= w
        self.shape, self.y, self.w, self.reduction = x.shape, y, w, reduction
        self.n = rows.shape[0] if w is None else w.sum()
        return _reduce(loss.reshape(out_shape), reduction, self.n)

    def backward(self, grad):
        # d(-x_y)/dx = -onehot(y)
        g = _upstream(grad, self.reduction, self.n)
        if self.reduction == "none":
            g = g.reshape(-1)
        if self.w is not None:
            g = g * self.w
        m = self.y.shape[0]
        c = self.shape[0] if len(self.shape) == 1 else self.shape[1]
        gx = np.zeros((m, c), dtype=grad.dtype)
        gx[np.arange(m), self.y] = -g
        return _unrows(gx, self.shape), None


# ------------------------------------------------------------------------------ binary
_LOG_FLOOR = -100.0  # PyTorch clamps log at -100 so that a 0 or 1 gives a finite loss
# and floors x (1 - x) at 1e-12 in the gradient: a C float constant there, also in float64
# (9.99999996e-13), so the floor is that value here too (the gradient at x = 0 or 1 then
# equals PyTorch's, not just within 4e-9)
_BCE_EPS = float(np.float32(1e-12))


class _BinaryLoss(Function):
    """The tail both binary losses share: weight, reduction and, in backward, the upstream
    gradient of each element (times its weight)."""

    saves = (0, 1)

    def _finish(self, loss, x, y, weight, reduction):
        if weight is not None:
            loss = loss * weight
        self.w, self.reduction = weight, reduction
        self.save(x, y)
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    def _per_element(self, grad):
        """``(x, y, dC/d(loss_i) w_i)``."""
        x, y = self.saved
        g = _upstream(grad, self.reduction, x.size)
        if self.w is not None:
            g = g * self.w
        return x, y, g


class BCELoss(_BinaryLoss):
    """out = reduce(-w [y log x + (1 - y) log(1 - x)]) for probabilities ``x`` in [0, 1]."""

    def forward(self, x, y, weight=None, reduction="mean"):
        _check_float(x, "binary_cross_entropy")
        y = np.asarray(y)
        _same_shape(x, y, "binary_cross_entropy")
        # (not min >= 0 and max <= 1: a NaN fails both, as in PyTorch's check)
        if x.size and not (x.min() >= 0 and x.max() <= 1):
            bad = x[~((x >= 0) & (x <= 1))].flat[0]
            raise ValueError(f"binary_cross_entropy: every input must be a probability in "
                             f"[0, 1], got {bad} (use binary_cross_entropy_with_logits for "
                             "raw scores)")
        log_x = np.maximum(np.log(x), _LOG_FLOOR)  # log 0 = -inf, floored (no warning:
        log_1mx = np.maximum(np.log1p(-x), _LOG_FLOOR)  # Function.apply silences them)
        self.log_x, self.log_1mx = log_x, log_1mx
        return self._finish(-(y * (log_x - log_1mx) + log_1mx), x, y, weight, reduction)

    def backward(self, grad):
        # dL/dx = (x - y) / (x (1 - x)),  dL/dy = log(1 - x) - log x  (both times w)
        x, y, g = self._per_element(grad)
        gx = gy = None
        if self.needs[0]:
            gx = ((x - y) / np.maximum((1 - x) * x, _BCE_EPS) * g).astype(x.dtype, copy=False)
        if self.needs[1]:
            gy = ((self.log_1mx - self.log_x) * g).astype(y.dtype, copy=False)
        return gx, gy


class BCEWithLogitsLoss(_BinaryLoss):
    """out = reduce(w [(1 - y) x + (1 + (p - 1) y) log(1 + e^{-x})]) for raw scores ``x``:
    sigmoid and binary cross-entropy in one, stable for any x (p is ``pos_weight``)."""

    def forward(self, x, y, weight=None, pos_weight=None, reduction="mean"):
        op = "binary_cross_entropy_with_logits"
        _check_float(x, op)
        y = np.asarray(y)
        _same_shape(x, y, op)
        # softplus(-x) = log(1 + e^{-x}) = max(-x, 0) + log1p(e^{-|x|}): no overflow
        sp = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
        c = None if pos_weight is None else 1 + (pos_weight - 1) * y
        self.sp, self.c, self.pw = sp, c, pos_weight
        return self._finish((1 - y) * x + (sp if c is None else c * sp), x, y, weight,
                            reduction)

    def backward(self, grad):
        # dL/dx = c sigmoid(x) - p y (= sigmoid(x) - y without pos_weight)
        # dL/dy = -x + (p - 1) softplus(-x)
        x, y, g = self._per_element(grad)
        gx = gy = None
        if self.needs[0]:
            s = sigmoid_array(x)
            d = s - y if self.c is None else self.c * s - self.pw * y
            gx = (d * g).astype(x.dtype, copy=False)
        if self.needs[1]:
            d = -x if self.pw is None else (self.pw - 1) * self.sp - x
            gy = (d * g).astype(y.dtype, copy=False)
        return gx, gy
