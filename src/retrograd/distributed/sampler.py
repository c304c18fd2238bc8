"""``DistributedSampler``: each rank's disjoint share of an epoch's shuffled order."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from . import world as _world


class DistributedSampler:
    """Indices of one rank's shard of a dataset, reshuffled each epoch.

    Every rank draws the *same* permutation of ``range(len(dataset))`` (from ``seed`` and the
    epoch set with :meth:`set_epoch`) and keeps every ``num_replicas``-th entry starting at
    its rank: rank ``r`` gets ``order[r::num_replicas]``. The shards are disjoint and
    together cover the epoch, and the ``i``-th mini-batches of all ranks together are the
    ``i``-th mini-batch a single process would draw from the same order with a batch
    ``num_replicas`` times larger, which is what makes 2 ranks x 32 samples equal to
    1 process x 64.

    When ``len(dataset)`` is not a multiple of ``num_replicas``, as PyTorch's sampler does:

    - ``drop_last=False`` (default): the order is padded by repeating its first indices, so a
      few samples are seen twice in that epoch and every rank has the same number of samples;
    - ``drop_last=True``: the tail of the order is dropped, so a few samples are not seen in
      that epoch (different ones each epoch when shuffling).

    Parameters
    ----------
    dataset : sized or int
        The dataset (anything with ``len``) or its length.
    num_replicas, rank : int, optional
        Defaults: the MPI world's size and this process's rank.
    shuffle : bool
        Shuffle each epoch (``False``: the natural order, still sharded).
    seed : int
        Must be the same on every rank.
    drop_last : bool

    Examples
    --------
    >>> sampler = DistributedSampler(10, num_replicas=2, rank=1, seed=0)
    >>> sampler.set_epoch(3)
    >>> len(list(sampler))
    5
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        n = dataset if isinstance(dataset, (int, np.integer)) else len(dataset)
        if num_replicas is None:
            num_replicas = _world.world_size()
        if rank is None:
            rank = _world.rank()
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is outside [0, {num_replicas})")
        if n < 1:
            raise ValueError("DistributedSampler: the dataset is empty")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"DistributedSampler: seed must be a non-negative int, got {seed!r}")
        self.dataset_len = int(n)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.num_samples = self.dataset_len // self.num_replicas
        else:
            self.num_samples = -(-self.dataset_len // self.num_replicas)
        if self.num_samples == 0:
            raise ValueError(f"DistributedSampler: {n} samples cannot be shared among "
                             f"{num_replicas} ranks with drop_last=True")
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch's order (call it at the start of every epoch, on every rank)."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """The whole epoch's order (the same on every rank), padded or truncated."""
        n = self.dataset_len
        if self.shuffle:
            # seed and epoch both enter the seed sequence: the order depends on nothing else
            idx = np.random.default_rng((self.seed, self.epoch)).permutation(n)
        else:
            idx = np.arange(n)
        if self.total_size > n:  # pad with the first indices (repeatedly, if tiny)
            idx = np.resize(idx, self.total_size)
        return idx[:self.total_size]

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        return self.order()[self.rank::self.num_replicas].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.seed = int(state["seed"])

    def __repr__(self) -> str:
        return (f"DistributedSampler(n={self.dataset_len}, rank={self.rank}/"
                f"{self.num_replicas}, shuffle={self.shuffle}, seed={self.seed}, "
                f"drop_last={self.drop_last}, epoch={self.epoch})")
