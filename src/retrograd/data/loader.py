"""``DataLoader``: batches of a dataset as tuples of Tensors, shuffled by a generator of its own."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from ..tensor import Tensor
from .dataset import _gather, _rng


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Parameters
    ----------
    dataset : Dataset
        A :class:`TensorDataset` (or anything with ``__len__``/``__getitem__``; one with a
        ``gather(indices)`` method is batched with one fancy-index gather per array).
    batch_size : int
        Samples per batch.
    shuffle : bool
        Draw a new order of the samples at the start of every epoch.
    drop_last : bool
        Skip the last batch when it is smaller than ``batch_size``.
    seed : int, optional
        Seed of this loader's own generator (``None``: drawn once from the library generator,
        so ``rg.manual_seed`` makes the order repeatable too).
    sampler : iterable of int, optional
        The indices of an epoch, in order (e.g. a distributed sampler giving each process
        its share); excludes ``shuffle``. A sampler with ``set_epoch`` is told the epoch.

    Yields
    ------
    tuple of Tensor
        One Tensor per array of the dataset, e.g. ``(X, y)``.

    Examples
    --------
    >>> loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
    >>> for xb, yb in loader:
    ...     loss = loss_fn(model(xb), yb)
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 sampler: Iterable[int] | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: give either sampler or shuffle=True, not both "
                             "(the sampler decides the order)")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.generator = _rng(seed)
        self.epoch = 0  # epochs started (for set_epoch-style samplers and checkpoints)

    def _indices(self) -> np.ndarray | None:
        """This epoch's order; ``None`` means 0..n-1 (so batches can be slices, not copies)."""
        if self.sampler is not None:
            set_epoch = getattr(self.sampler, "set_epoch", None)
            if set_epoch is not None:
                set_epoch(self.epoch)
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        if self.shuffle:
            return self.generator.permutation(len(self.dataset))
        return None

    def _num_samples(self) -> int:
        return len(self.sampler) if self.sampler is not None else len(self.dataset)  # type: ignore[arg-type]

    def __len__(self) -> int:
        n, b = self._num_samples(), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        order = self._indices()
        self.epoch += 1
        n = len(order) if order is not None else len(self.dataset)
        b = self.batch_size
        stop = n - n % b if self.drop_last else n
        wrap = Tensor._wrap
        for start in range(0, stop, b):
            end = min(start + b, n)
            # One gather per array per batch; a slice of an in-memory array is a free view.
            idx = order[start:end] if order is not None else slice(start, end)
            if isinstance(idx, slice) and not hasattr(self.dataset, "gather"):
                idx = np.arange(start, end)
            yield tuple(wrap(a) for a in _gather(self.dataset, idx))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The shuffle generator's state and the epoch count (JSON-compatible)."""
        state: dict[str, Any] = {"rng": self.generator.bit_generator.state, "epoch": self.epoch}
        sampler_state = getattr(self.sampler, "state_dict", None)
        if sampler_state is not None:
            state["sampler"] = sampler_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s result: the next epoch has the order it would have had."""
        try:
            self.generator.bit_generator.state = state["rng"]
            self.epoch = int(state["epoch"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"DataLoader.load_state_dict: not a DataLoader state ({e})") from e
        if "sampler" in state and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")
