"""``DistributedDataParallel``: one model replica per rank, gradients averaged by MPI.

Every rank holds a full copy of the model and runs forward and backward on its own share
of the batch. After backward, :meth:`DistributedDataParallel.sync_gradients` makes every
rank's ``p.grad`` the mean over ranks, so the optimiser takes the same step everywhere and
the replicas stay identical. The mean of the per-rank gradients of per-rank *mean* losses is
the gradient of the mean loss over the global batch (equal shares), so ``world_size`` ranks
with batch ``B`` compute what one process computes with batch ``world_size * B``.

The averaging is one ``MPI.Allreduce`` per step over one flat contiguous buffer holding
every gradient (per dtype; a model has one dtype in practice). After the first sync each
``p.grad`` *is* a view into that buffer: when the optimiser zeroes gradients in place
(``zero_grad(set_to_none=False)``), backward accumulates straight into the buffer and the
next sync needs no copy at all; when it sets them to ``None`` (the default), each gradient
is copied into the buffer once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Iterator

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor
from . import world as _world


class _Bucket:
    """One dtype's gradients: a flat buffer and, per parameter, its view into it."""

    __slots__ = ("dtype", "flat", "params", "views")

    def __init__(self, dtype: np.dtype, params: list) -> None:
        self.dtype = dtype
        self.params = params
        total = sum(p.data.size for p in params)
        self.flat = np.zeros(total, dtype=dtype)
        self.views = []
        off = 0
        for p in params:
            n = p.data.size
            self.views.append(self.flat[off:off + n].reshape(p.data.shape))
            off += n


def _describe(module: Module) -> list[tuple[str, str, tuple, str]]:
    out = [("parameter", n, tuple(p.shape), str(p.dtype)) for n, p in module.named_parameters()]
    out += [("buffer", n, tuple(b.shape), str(b.dtype)) for n, b in module.named_buffers()]
    return out


def _first_difference(mine: list, theirs: list) -> str | None:
    for a, b in zip(mine, theirs):
        if a != b:
            kind = a[0] if a[1] == b[1] else f"{a[0]}/{b[0]}"
            return (f"{kind} {a[1]!r} (shape {a[2]}, {a[3]}) on rank 0 but {b[0]} {b[1]!r} "
                    f"(shape {b[2]}, {b[3]})")
    if len(mine) != len(theirs):
        longer = mine if len(mine) > len(theirs) else theirs
        extra = longer[min(len(mine), len(theirs))]
        where = "rank 0" if longer is mine else "that rank"
        return f"{extra[0]} {extra[1]!r} exists only on {where}"
    return None


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the MPI world.

    At construction every rank checks that all ranks have the same parameter and buffer
    names, shapes and dtypes (else a ``RuntimeError`` naming the first difference), then
    copies rank 0's parameters and buffers to every rank. Calling the wrapper calls the
    module. After ``loss.backward()`` call :meth:`sync_gradients` (``fit(...,
    distributed=True)`` does it for you), then step the optimiser.

    ``state_dict()``/``load_state_dict()`` are the wrapped module's (no ``"module."``
    prefix, unlike PyTorch), so a checkpoint written on any number of ranks loads into the
    bare model and into any other number of ranks.

    BatchNorm layers keep per-rank statistics (batch statistics of the rank's own
    mini-batch, running statistics updated locally), as PyTorch's default; only rank 0's
    running statistics are saved in its checkpoints. Buffers are broadcast once, at start.

    Parameters
    ----------
    module : nn.Module
    comm : mpi4py communicator, optional
        Defaults to the world of :func:`retrograd.distributed.init`.

    Attributes
    ----------
    allreduce_calls : int
        How many ``Allreduce`` calls :meth:`sync_gradients` has made.
    allreduce_seconds : float
        Wall time spent in them (including waiting for slower ranks).

    Examples
    --------
    >>> model = DistributedDataParallel(nn.Linear(4, 2))
    >>> loss = model(x).sum(); loss.backward()
    >>> model.sync_gradients()
    >>> opt.step()
    """

    def __init__(self, module: Module, comm: Any = None) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        super().__init__()
        self.module = module
        w = _world.init(comm) if comm is not None else _world.world()
        self._world = w
        self._buckets: list[_Bucket] | None = None
        self.allreduce_calls = 0
        self.allreduce_seconds = 0.0
        if w.size > 1:
            self._check_same_model()
            self._broadcast_state()

    # ------------------------------------------------------------------ start
    def _check_same_model(self) -> None:
        w = self._world
        described = w.comm.allgather(_describe(self.module))
        for r in range(1, w.size):
            diff = _first_difference(described[0], described[r])
            if diff is not None:
                # every rank sees the same allgather result, so every rank raises this
                raise RuntimeError(
                    f"DistributedDataParallel: the model differs between ranks: {diff} on "
                    f"rank {r}; every rank must build the same model")

    def _broadcast_state(self) -> None:
        """Copy rank 0's parameters and buffers to every rank: one Bcast per dtype."""
        w = self._world
        groups: OrderedDict[np.dtype, list[Tensor]] = OrderedDict()
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            groups.setdefault(t.data.dtype, []).append(t)
        for dtype, tensors in groups.items():
            flat = np.concatenate([t.data.ravel() for t in tensors]) if w.rank == 0 else \
                np.empty(sum(t.data.size for t in tensors), dtype=dtype)
            w.comm.Bcast(flat, root=0)
            if w.rank != 0:
                off = 0
                for t in tensors:
                    n = t.data.size
                    np.copyto(t.data, flat[off:off + n].reshape(t.data.shape))
                    off += n

    # ------------------------------------------------------------------ forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    # ------------------------------------------------------------------ gradients
    def _make_buckets(self) -> list[_Bucket]:
        groups: OrderedDict[np.dtype, list] = OrderedDict()
        for p in self.module.parameters():
            if p.requires_grad:
                groups.setdefault(p.data.dtype, []).append(p)
        return [_Bucket(dtype, ps) for dtype, ps in groups.items()]

    def _buckets_current(self) -> list[_Bucket]:
        buckets = self._buckets
        if buckets is not None:
            params = [p for p in self.module.parameters() if p.requires_grad]
            flat_params = [p for b in buckets for p in b.params]
            if (len(params) != len(flat_params)
                    or any(p is not q for p, q in zip(params, flat_params))
                    or any(b.dtype != p.data.dtype or v.shape != p.data.shape
                           for b in buckets for p, v in zip(b.params, b.views))):
                buckets = None  # parameters were added, frozen or converted: rebuild
        if buckets is None:
            buckets = self._make_buckets()
            self._buckets = buckets
        return buckets

    def sync_gradients(self) -> None:
        """Replace every parameter's gradient by its mean over all ranks.

        Call it on every rank after ``backward()`` and before ``optimizer.step()``. A
        parameter without a gradient on this rank contributes zeros (and then has the
        averaged gradient, possibly all zeros, like every other parameter). In a single
        process this does nothing.
        """
        w = self._world
        if w.size == 1:
            return
        MPI = w.MPI  # noqa: N806
        inv = 1.0 / w.size
        for bucket in self._buckets_current():
            # Pack and divide in one pass (then a SUM is the mean): g/n into the view
            for p, view in zip(bucket.params, bucket.views):
                g = p.grad
                if g is None:
                    view.fill(0)
                else:  # g may be the view itself (backward accumulated into it): in place
                    np.multiply(g.data, inv, out=view, casting="unsafe")
            t0 = time.perf_counter()
            w.comm.Allreduce(MPI.IN_PLACE, bucket.flat, op=MPI.SUM)
            self.allreduce_seconds += time.perf_counter() - t0
            self.allreduce_calls += 1
            for p, view in zip(bucket.params, bucket.views):
                g = p.grad
                if g is None or g.data is not view:
                    p.grad = Tensor._wrap(view)

    # ------------------------------------------------------------------ state
    def state_dict(self, prefix: str = "", keep_vars: bool = False
                   ) -> OrderedDict[str, Tensor]:
        """The wrapped module's state dict (no ``"module."`` prefix)."""
        return self.module.state_dict(prefix, keep_vars=keep_vars)

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        """Load into the wrapped module (call it on every rank)."""
        return self.module.load_state_dict(state_dict, strict=strict)

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Any]]:
        """The wrapped module's parameters under their own names."""
        return self.module.named_parameters(prefix, recurse)

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        return self.module.named_buffers(prefix, recurse)

    @property
    def rank(self) -> int:
        return self._world.rank

    @property
    def world_size(self) -> int:
        return self._world.size

    def extra_repr(self) -> str:
        return f"world_size={self._world.size}"


DDP = DistributedDataParallel
