"""Metrics for ``fit``: functions ``(output, target) -> (total, count)`` on NumPy arrays.

Returning a total and a count (not a mean) lets ``fit`` combine batches of any size exactly.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], "tuple[float, int]"]


def predictions(output: np.ndarray) -> np.ndarray:
    """Predicted classes: argmax over the last axis of logits ``(N, C)``; for one output per
    sample ``(N,)``/``(N, 1)`` (binary logits) the class is ``output > 0``."""
    if output.ndim >= 2 and output.shape[-1] > 1:
        return output.argmax(axis=-1)
    return (output.reshape(output.shape[0], -1)[:, 0] > 0).astype(np.int64)


def accuracy(output: np.ndarray, target: np.ndarray) -> tuple[float, int]:
    """Number of correct predictions and of samples. ``target`` holds class indices, or
    one-hot/probability rows (then its argmax is the class)."""
    pred = predictions(output)
    if target.ndim == pred.ndim + 1 and target.shape[-1] > 1:
        target = target.argmax(axis=-1)  # one-hot targets
    target = target.reshape(pred.shape)
    return float(np.count_nonzero(pred == target)), int(pred.size)


METRICS: dict[str, Metric] = {"accuracy": accuracy, "acc": accuracy}


def resolve_metrics(metrics: Any) -> dict[str, Metric]:
    """``("accuracy", my_fn)`` -> ``{"accuracy": accuracy, "my_fn": my_fn}``."""
    if metrics is None:
        return {}
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    if isinstance(metrics, dict):
        items = list(metrics.items())
    else:
        items = []
        for m in metrics:
            if isinstance(m, str):
                items.append((m, m))
            else:
                items.append((getattr(m, "__name__", type(m).__name__), m))
    out: dict[str, Metric] = {}
    for name, m in items:
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(f"fit: unknown metric {m!r}; choose from "
                                 f"{', '.join(sorted(METRICS))} or pass a function")
            name, m = ("accuracy" if m == "acc" else name), METRICS[m]
        if not callable(m):
            raise TypeError(f"fit: a metric must be a name or a function, got {type(m).__name__}")
        out[name] = m
    return out


def evaluate(model: Any, loader: Any, loss_fn: Any = None, metrics: Any = ("accuracy",)
             ) -> dict[str, float]:
    """Loss and metrics of ``model`` over ``loader`` in eval mode without building graphs.

    The loss is averaged per sample (each batch's mean loss weighted by its size).
    """
    fns = resolve_metrics(metrics)
    return logs_from_sums(evaluation_sums(model, loader, loss_fn, fns), loss_fn is not None,
                          list(fns))


def evaluation_sums(model: Any, loader: Any, loss_fn: Any, fns: dict[str, Metric]
                    ) -> list[float]:
    """``[loss x samples summed, samples, then each metric's total and count]`` over
    ``loader``: sums, so that the shares of several processes add up exactly."""
    from ..autograd import no_grad

    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    loss_sum, n = 0.0, 0
    totals = dict.fromkeys(fns, 0.0)
    counts = dict.fromkeys(fns, 0)
    try:
        with no_grad():
            for batch in loader:
                *inputs, target = batch
                out = model(*inputs)
                size = len(target)
                if loss_fn is not None:
                    loss_sum += float(loss_fn(out, target).item()) * size
                n += size
                for name, fn in fns.items():
                    t, c = fn(out.data, target.data)
                    totals[name] += t
                    counts[name] += c
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    sums = [loss_sum, float(n)]
    for name in fns:
        sums += [float(totals[name]), float(counts[name])]
    return sums


def logs_from_sums(sums: list[float], with_loss: bool, names: Any = None) -> dict[str, float]:
    """The means of :func:`evaluation_sums`' (possibly added-up) sums, by metric name."""
    logs: dict[str, float] = {}
    if with_loss:
        logs["loss"] = sums[0] / max(sums[1], 1)
    for i, name in enumerate(names or ()):
        logs[name] = sums[2 + 2 * i] / max(sums[3 + 2 * i], 1)
    return logs
