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


# ----------------------------------------------------------------------------- losses
# (appended by the nnopt branch) Each loss is one fused primitive from ops/loss.py.
import numpy as np  # noqa: E402

from ..ops import loss as _loss  # noqa: E402


def _arr(x: Any) -> Any:
    """A target or weight: Tensors stay Tensors (they may need a gradient), the rest arrays."""
    if x is None or isinstance(x, Tensor):
        return x
    return np.asarray(x)


def _const_arr(x: Any) -> Any:
    if x is None:
        return None
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def _input(x: Any, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    return x


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: ``reduce((input - target)^2)``; input and target of one shape."""
    _loss.check_reduction(reduction, "mse_loss")
    return _loss.MSELoss.apply(_input(input, "mse_loss"), _arr(target), reduction=reduction)


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of raw logits, fused and stable for logits of any size.

    Parameters
    ----------
    input : Tensor
        Logits of shape ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``.
    target : Tensor or array_like
        Integer class labels in ``[0, C)`` of shape ``(N,)`` (``()``, ``(N, d1, ...)``), or
        class probabilities (float) of the input's shape.
    weight : array_like, optional
        A weight per class, shape ``(C,)``; ``mean`` then divides by the summed weights.
    ignore_index : int
        Labels equal to this contribute nothing (default -100, as in PyTorch).
    reduction : {"mean", "sum", "none"}
    label_smoothing : float
        In [0, 1]: the target becomes ``(1 - eps) onehot + eps / C`` (as PyTorch).

    Raises
    ------
    ValueError
        A label outside ``[0, C)`` (naming the label and C), or mismatched shapes.
    TypeError
        A float target whose shape is not the input's, or a non-float input.

    Notes
    -----
    The gradient with respect to the logits is ``(softmax(input) - onehot(target)) / N``:
    the seeds' output-layer delta ``a - y``.
    """
    if weight is None and reduction == "mean" and ignore_index == -100 \
            and label_smoothing == 0.0:  # the defaults: no options to check or pass on
        return _loss.CrossEntropy.apply(_input(input, "cross_entropy"), _arr(target))
    _loss.check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing!r}")
    return _loss.CrossEntropy.apply(_input(input, "cross_entropy"), _arr(target),
                                    weight=_const_arr(weight), reduction=reduction,
                                    ignore_index=ignore_index, label_smoothing=label_smoothing)


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (e.g. from ``log_softmax``)
    at integer labels ``target``; shapes as in :func:`cross_entropy`."""
    _loss.check_reduction(reduction, "nll_loss")
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    return _loss.NLLLoss.apply(_input(input, "nll_loss"), t, weight=_const_arr(weight),
                               reduction=reduction, ignore_index=ignore_index)


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,
                         reduction: str = "mean") -> Tensor:
    """``-w [y log x + (1 - y) log(1 - x)]`` for probabilities ``x`` in [0, 1]; each log is
    clamped at -100 (as in PyTorch) so that x = 0 or 1 gives a finite loss."""
    _loss.check_reduction(reduction, "binary_cross_entropy")
    return _loss.BCELoss.apply(_input(input, "binary_cross_entropy"), _arr(target),
                               weight=_const_arr(weight), reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None
                                     ) -> Tensor:
    """Sigmoid + binary cross-entropy of raw scores, stable for any score; ``pos_weight``
    (broadcast along the last dimension) weighs the positive term."""
    _loss.check_reduction(reduction, "binary_cross_entropy_with_logits")
    return _loss.BCEWithLogitsLoss.apply(
        _input(input, "binary_cross_entropy_with_logits"), _arr(target),
        weight=_const_arr(weight), pos_weight=_const_arr(pos_weight), reduction=reduction)


__all__ += ["mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
            "binary_cross_entropy_with_logits"]


# -- convolutional and deep networks (conv branch) ---------------------------------------
from .layers.conv import conv2d  # noqa: E402
from .layers.dropout import dropout  # noqa: E402
from .layers.normalization import batch_norm  # noqa: E402
from .layers.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: E402

__all__ += ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm",
            "dropout"]
