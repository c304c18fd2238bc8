"""What ``fit(..., distributed=True)`` adds to the training loop (kept here, beside DDP)."""

from __future__ import annotations

import copy
from typing import Any

from . import world as _world
from .ddp import DistributedDataParallel
from .sampler import DistributedSampler


def shard_loader(loader: Any) -> Any:
    """A loader giving this rank its share of every global batch of ``loader``.

    ``loader.batch_size`` is the *global* batch: each of ``W`` ranks gets
    ``batch_size // W`` samples per step from a :class:`DistributedSampler` (its order seeded
    from rank 0's loader), so ``W`` ranks take the same steps as one process with the same
    arguments, and a run can be resumed on another number of ranks. A loader that already
    uses a :class:`DistributedSampler` is returned unchanged (its batch is per rank).
    """
    from ..data import DataLoader

    if isinstance(getattr(loader, "sampler", None), DistributedSampler):
        return loader
    if not isinstance(loader, DataLoader):
        raise TypeError(f"fit(distributed=True): train_loader must be a retrograd.data."
                        f"DataLoader, so that its dataset can be sharded; got "
                        f"{type(loader).__name__} (or give it a DistributedSampler yourself)")
    if loader.sampler is not None:
        raise ValueError("fit(distributed=True): train_loader has its own sampler; use a "
                         "DistributedSampler instead (it decides each rank's share)")
    w = _world.world_size()
    if loader.batch_size % w:
        raise ValueError(f"fit(distributed=True): the batch size {loader.batch_size} is the "
                         f"global batch and must be divisible by the {w} ranks")
    # every rank must draw the same order: take the seed from rank 0's loader (a copy of its
    # generator, so the loader itself is left as it was)
    seed = int(copy.deepcopy(loader.generator).integers(2**62))
    seed = _world.broadcast_object(seed)
    sampler = DistributedSampler(loader.dataset, shuffle=loader.shuffle, seed=seed)
    out = DataLoader(loader.dataset, batch_size=loader.batch_size // w, sampler=sampler,
                     drop_last=loader.drop_last)
    out.epoch = loader.epoch
    return out


def prepare(model: Any, train_loader: Any) -> tuple[DistributedDataParallel, Any]:
    """Join the world, wrap ``model`` (rank 0's weights everywhere) and shard the loader."""
    _world.init()
    ddp = model if isinstance(model, DistributedDataParallel) else DistributedDataParallel(model)
    return ddp, shard_loader(train_loader)


def evaluate_sharded(model: Any, loader: Any, loss_fn: Any, fns: dict[str, Any]
                     ) -> dict[str, float]:
    """Validation with each rank evaluating its own contiguous share of ``loader``'s dataset
    (no sample twice, none padded in) and the sums added over the ranks: the same numbers
    as one process evaluating all of it, in 1/W of the time.

    A loader that is not a retrograd ``DataLoader``, or has a sampler of its own or
    ``drop_last=True`` (whose dropped tail depends on the batching), is evaluated whole on
    every rank. Outside training mode nothing in the model communicates (SyncBatchNorm uses
    its running statistics), so ranks with different numbers of batches are fine.
    """
    from ..data import DataLoader, Subset
    from ..train.metrics import evaluate, evaluation_sums, logs_from_sums

    w = _world.world_size()
    if w == 1 or not isinstance(loader, DataLoader) or loader.sampler is not None \
            or loader.drop_last:
        return evaluate(model, loader, loss_fn, fns)
    n, r = len(loader.dataset), _world.rank()
    share = DataLoader(Subset(loader.dataset, range(n * r // w, n * (r + 1) // w)),
                       batch_size=loader.batch_size)
    every = _world.allgather_object(evaluation_sums(model, share, loss_fn, fns))
    total = [sum(vals) for vals in zip(*every)]
    return logs_from_sums(total, loss_fn is not None, list(fns))


def average_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """Average the numeric entries of the epoch's training logs over the ranks.

    Every rank sees the same number of samples per epoch (the sampler pads), so the mean of
    the ranks' epoch means is the epoch mean over all samples. ``"epoch"`` is kept as is.
    """
    if _world.world_size() == 1:
        return logs
    keys = [k for k, v in logs.items() if k != "epoch" and isinstance(v, (int, float))]
    every = _world.allgather_object([float(logs[k]) for k in keys])
    out = dict(logs)
    for i, k in enumerate(keys):
        out[k] = sum(vals[i] for vals in every) / len(every)
    return out
