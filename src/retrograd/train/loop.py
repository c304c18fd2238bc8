"""``fit``: the training loop (forward, loss, zero_grad, backward, step) with the book-keeping
around it: metrics, validation, progress bar, callbacks, checkpoints and exact resuming."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Iterable

from .. import random as _random
from .callbacks import Callback, Checkpoint, TrainState
from .checkpoint import load_checkpoint
from .history import History
from .metrics import evaluate, resolve_metrics


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stopped before that step's update."""


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is a nicety: train without it
        return None
    return tqdm(total=total, desc=desc, leave=True, file=sys.stderr, dynamic_ncols=True,
                unit="batch")


def _fmt(logs: dict[str, Any]) -> dict[str, str]:
    return {k: f"{v:.4g}" for k, v in logs.items()
            if k not in ("epoch", "time") and isinstance(v, (int, float))}


def _is_main(distributed: bool) -> bool:
    if not distributed:
        return True
    try:
        from .. import distributed as dist  # provided by the distributed extension
    except ImportError as e:
        raise RuntimeError("fit(distributed=True) needs retrograd.distributed, which is not "
                           "available in this installation") from e
    return dist.get_rank() == 0


def training_state(state: TrainState, metadata: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Everything but the weights that a checkpoint must hold to continue ``state`` exactly."""
    out: dict[str, Any] = {
        "epoch": state.epoch + 1,
        "step": state.step,
        "history": state.history.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "rng": _random.get_rng_state(),
        "loaders": {},
        "callbacks": [],
        "metadata": dict(metadata or {}),
    }
    for name in ("train", "val"):
        loader = getattr(state, f"{name}_loader")
        if loader is not None and hasattr(loader, "state_dict"):
            out["loaders"][name] = loader.state_dict()
    for cb in _stateful(state.callbacks):
        out["callbacks"].append([type(cb).__name__, cb.state_dict()])
    return out


def _stateful(callbacks: list) -> list:
    """The callbacks whose state a checkpoint keeps (those with ``state_dict``)."""
    return [cb for cb in callbacks
            if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict")
            and not isinstance(cb, Checkpoint)]


def _restore(state: TrainState, path: str) -> int:
    """Load a checkpoint into ``state``'s objects; returns the number of finished epochs."""
    weights, saved, _ = load_checkpoint(path)
    state.model.load_state_dict(weights)
    state.optimizer.load_state_dict(saved["optimizer"])
    if state.scheduler is not None:
        if saved.get("scheduler") is None:
            raise ValueError(f"fit: resume={path!r} has no scheduler state, but a scheduler "
                             "was given")
        state.scheduler.load_state_dict(saved["scheduler"])
    _random.set_rng_state(saved["rng"])
    for name, loader_state in saved.get("loaders", {}).items():
        loader = getattr(state, f"{name}_loader")
        if loader is not None and hasattr(loader, "load_state_dict"):
            loader.load_state_dict(loader_state)
    cbs = saved.get("callbacks", [])
    mine = _stateful(state.callbacks)
    if [name for name, _ in cbs] != [type(cb).__name__ for cb in mine]:
        raise ValueError(f"fit: resume={path!r} was saved with the stateful callbacks "
                         f"{[name for name, _ in cbs]}, this run has "
                         f"{[type(cb).__name__ for cb in mine]}; resume with the same callbacks")
    for cb, (_, cb_state) in zip(mine, cbs):
        cb.load_state_dict(cb_state)
    state.history.epochs[:] = saved.get("history", [])
    state.step = int(saved.get("step", 0))
    return int(saved["epoch"])


def fit(model: Any, loss_fn: Any, optimizer: Any, train_loader: Iterable,
        val_loader: Iterable | None = None, epochs: int = 10,
        callbacks: Iterable[Callback] = (), metrics: Any = ("accuracy",),
        scheduler: Any = None, progress: bool = True, checkpoint_dir: str | None = None,
        resume: str | None = None, distributed: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch :class:`History`.

    Each step: ``out = model(*inputs)``; ``loss = loss_fn(out, target)``;
    ``optimizer.zero_grad()``; ``loss.backward()``; ``optimizer.step()``. Only
    ``loss.item()`` (a float) is kept, so no graph outlives its step.

    Parameters
    ----------
    model : nn.Module
    loss_fn : callable
        ``loss_fn(output, target)`` returning a scalar Tensor (e.g. ``nn.CrossEntropyLoss()``).
    optimizer : optim.Optimizer
    train_loader : iterable of tuples
        Batches ``(*inputs, target)`` of Tensors, e.g. a :class:`~retrograd.data.DataLoader`.
    val_loader : iterable, optional
        Evaluated after every epoch (eval mode, no graphs): ``val_loss``, ``val_<metric>``.
    epochs : int
        Total number of epochs (a resumed run continues up to this number).
    callbacks : sequence of Callback
    metrics : sequence of str or callable
        ``"accuracy"`` or functions ``(output, target) -> (total, count)`` on arrays.
    scheduler : lr_scheduler, optional
        Stepped once at the end of every epoch.
    progress : bool
        Show a ``tqdm`` progress bar per epoch (on stderr).
    checkpoint_dir : str, optional
        Save a resumable checkpoint there after every epoch (see :class:`Checkpoint`).
    resume : str, optional
        A checkpoint (or folder of checkpoints) to continue from; the result is bit-for-bit
        that of a run never interrupted.
    distributed : bool
        Run as one process of a distributed job (only rank 0 prints and writes). The
        training loader is sharded by a ``DistributedSampler`` (its batch size stays the
        global batch); ``val_loader`` is split into one contiguous share per rank, and the
        validation sums are added over the ranks (the same numbers as one process).

    Returns
    -------
    History

    Raises
    ------
    NonFiniteLossError
        The loss became NaN or infinite (the message names the epoch and batch); the
        parameters are those before that step.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    for name, obj, attrs in (("optimizer", optimizer, ("step", "zero_grad")),
                             ("model", model, ("parameters",))):
        missing = [a for a in attrs if not hasattr(obj, a)]
        if missing:
            raise TypeError(f"fit: {name} ({type(obj).__name__}) has no {', '.join(missing)}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    metric_fns = resolve_metrics(metrics)
    if distributed:  # wrap in DistributedDataParallel, shard the loader (retrograd.distributed)
        from ..distributed.fitting import average_logs, evaluate_sharded, prepare

        model, train_loader = prepare(model, train_loader)
    sync = getattr(model, "sync_gradients", None)  # averages gradients over the ranks
    cbs = [cb for cb in callbacks if not isinstance(cb, Checkpoint)]
    cbs += [cb for cb in callbacks if isinstance(cb, Checkpoint)]  # checkpoints see all else
    if checkpoint_dir is not None:
        cbs.append(Checkpoint(checkpoint_dir))
    state = TrainState(model=model, optimizer=optimizer, loss_fn=loss_fn, history=History(),
                       scheduler=scheduler, train_loader=train_loader, val_loader=val_loader,
                       callbacks=cbs, epochs=epochs, is_main=_is_main(distributed))
    start = _restore(state, resume) if resume is not None else 0
    show = bool(progress) and state.is_main

    model.train()
    for cb in cbs:
        cb.on_train_begin(state)
    for epoch in range(start, epochs):
        state.epoch, state.logs = epoch, {}
        for cb in cbs:
            cb.on_epoch_begin(state)
        t0 = time.perf_counter()
        try:
            total = len(train_loader)  # type: ignore[arg-type]
        except TypeError:
            total = None
        bar = _progress_bar(total, f"epoch {epoch + 1}/{epochs}", show)
        loss_sum, n_seen = 0.0, 0
        m_tot = dict.fromkeys(metric_fns, 0.0)
        m_cnt = dict.fromkeys(metric_fns, 0)
        for i, batch in enumerate(train_loader):
            *inputs, target = batch
            state.batch = i
            out = model(*inputs)
            loss = loss_fn(out, target)
            value = loss.item()
            if not math.isfinite(value):
                if bar is not None:
                    bar.close()
                raise NonFiniteLossError(
                    f"fit: the loss is {value} at epoch {epoch + 1}, batch {i + 1} (step "
                    f"{state.step + 1}); training stopped before updating the parameters. "
                    "Try a smaller learning rate or check the data for NaN/inf.")
            optimizer.zero_grad()
            loss.backward()
            if sync is not None:
                sync()
            state.loss, state.output, state.target = value, out, target
            for cb in cbs:
                cb.on_after_backward(state)
            optimizer.step()
            state.step += 1
            size = len(target)
            loss_sum += value * size
            n_seen += size
            if metric_fns:
                o, t = out.data, target.data
                for name, fn in metric_fns.items():
                    tot, cnt = fn(o, t)
                    m_tot[name] += tot
                    m_cnt[name] += cnt
            for cb in cbs:
                cb.on_batch_end(state)
            # drop this step's graph now, not when the next batch overwrites the names
            del out, loss
            state.output = state.target = None
            if bar is not None:
                bar.update(1)
                if i % 16 == 0:
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        logs: dict[str, Any] = {"epoch": epoch + 1, "loss": loss_sum / max(n_seen, 1)}
        for name in metric_fns:
            logs[name] = m_tot[name] / max(m_cnt[name], 1)
        if distributed:
            logs = average_logs(logs)  # this rank's means -> means over all ranks
        if val_loader is not None:
            if distributed:  # each rank its share of the validation set, sums combined
                val = evaluate_sharded(model, val_loader, loss_fn, metric_fns)
            else:
                val = evaluate(model, val_loader, loss_fn, metric_fns)
            logs.update({f"val_{k}": v for k, v in val.items()})
        groups = getattr(optimizer, "param_groups", None)
        if groups:
            logs["lr"] = groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        logs["time"] = time.perf_counter() - t0
        state.logs = logs
        state.history.append(logs)
        if bar is not None:
            bar.set_postfix(_fmt(logs), refresh=False)
            bar.close()
        for cb in cbs:
            cb.on_epoch_end(state)
        if state.stop_training:
            break
    for cb in cbs:
        cb.on_train_end(state)
    return state.history
