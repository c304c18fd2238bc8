"""Data-parallel training across processes and machines, on MPI.

Launch the same script on every process with ``mpiexec -n 2 python train.py`` (or
``mpiexec -n 2 retrograd train ...``); each process is a *rank*. Wrap the model in
:class:`DistributedDataParallel`, feed each rank its shard with :class:`DistributedSampler`,
and call ``model.sync_gradients()`` between ``backward()`` and ``optimizer.step()``; or let
``retrograd.train.fit(..., distributed=True)`` do all of it. See ``docs/distributed.md``.

A plain ``python train.py`` is a world of one rank and needs no MPI at all.
"""

from .ddp import DDP, DistributedDataParallel
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm
from .world import (
    abort_if_distributed,
    allgather_object,
    barrier,
    broadcast_object,
    get_rank,
    get_world_size,
    init,
    install_excepthook,
    is_main,
    launched_by_mpi,
    rank,
    world_size,
)

__all__ = [
    "abort_if_distributed",
    "DDP",
    "DistributedDataParallel",
    "DistributedSampler",
    "SyncBatchNorm",
    "allgather_object",
    "barrier",
    "broadcast_object",
    "get_rank",
    "get_world_size",
    "init",
    "install_excepthook",
    "is_main",
    "launched_by_mpi",
    "rank",
    "world_size",
]
