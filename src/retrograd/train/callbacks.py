"""Callbacks: code that ``fit`` runs at fixed points of training.

Subclass :class:`Callback` and override any of the hooks; each receives the
:class:`TrainState`. A callback with ``state_dict()``/``load_state_dict()`` has its state
saved in checkpoints, so a resumed run continues it (e.g. early stopping's patience).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .history import History


@dataclass
class TrainState:
    """What a callback sees. ``epoch`` and ``batch`` are 0-based; ``step`` counts optimizer
    steps over the whole run; ``loss`` is the current batch's loss as a float; ``logs`` the
    current epoch's metrics (complete in ``on_epoch_end``). Set ``stop_training = True`` to
    end training after the current epoch."""

    model: Any
    optimizer: Any
    loss_fn: Any
    history: History
    scheduler: Any = None
    train_loader: Any = None
    val_loader: Any = None
    callbacks: list = field(default_factory=list)
    epochs: int = 0
    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss: float = float("nan")
    output: Any = None
    target: Any = None
    logs: dict = field(default_factory=dict)
    stop_training: bool = False
    is_main: bool = True


class Callback:
    """Base class: every hook does nothing. Override the ones you need.

    Order within a step: forward, loss, ``optimizer.zero_grad()``, ``backward()``,
    :meth:`on_after_backward` (gradients ready, parameters not yet updated),
    ``optimizer.step()``, :meth:`on_batch_end`.
    """

    def on_train_begin(self, state: TrainState) -> None:
        pass

    def on_epoch_begin(self, state: TrainState) -> None:
        pass

    def on_after_backward(self, state: TrainState) -> None:
        pass

    def on_batch_end(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs.

    Parameters
    ----------
    monitor : str
        A column of the history, e.g. ``"val_loss"`` or ``"val_accuracy"``.
    patience : int
        Epochs without improvement to tolerate.
    min_delta : float
        Smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}
        Whether smaller or larger is better (``auto``: larger for names containing
        ``acc``, smaller otherwise).
    restore_best_weights : bool
        At the end, put back the parameters of the best epoch.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(min_delta)
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, state: TrainState) -> None:
        if self.monitor not in state.logs:
            raise KeyError(f"EarlyStopping: the logs have no {self.monitor!r} (they have "
                           f"{', '.join(state.logs)}); pass val_loader to fit to monitor "
                           "validation metrics")
        value = float(state.logs[self.monitor])
        if not math.isnan(value) and self._improved(value):
            self.best, self.best_epoch, self.wait = value, state.epoch + 1, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.data.copy()
                                     for k, v in state.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait > self.patience:
                state.stop_training = True
                self.stopped_epoch = state.epoch + 1

    def on_train_end(self, state: TrainState) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in ("best", "best_epoch", "wait", "stopped_epoch", "best_weights"):
            setattr(self, k, state.get(k))
        self.wait = int(self.wait or 0)


class Checkpoint(Callback):
    """Save a resumable checkpoint at the end of every ``every``-th epoch (and the last).

    The checkpoint (``<directory>/epoch-NNNN/``, see :mod:`retrograd.train.checkpoint`)
    holds the weights, optimizer and scheduler state, history, the RNG states of retrograd
    and of the loaders, the other callbacks' state and ``metadata`` (any JSON-like dict,
    e.g. how to rebuild the model). ``fit`` runs this callback after all others, so what it
    saves is the state at the very end of the epoch. Only the main process writes.
    """

    def __init__(self, directory: str, every: int = 1, keep: int | None = 2,
                 metadata: dict[str, Any] | None = None) -> None:
        if every < 1:
            raise ValueError(f"Checkpoint: every must be >= 1, got {every}")
        self.directory = os.fspath(directory)
        self.every = int(every)
        self.keep = keep
        self.metadata = dict(metadata or {})
        self.last_path: str | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        done = state.epoch + 1
        if not state.is_main:
            return
        if done % self.every and done != state.epochs and not state.stop_training:
            return
        from .checkpoint import save_checkpoint
        from .loop import training_state

        self.last_path = save_checkpoint(self.directory, done, state.model.state_dict(),
                                         training_state(state, self.metadata), keep=self.keep)
