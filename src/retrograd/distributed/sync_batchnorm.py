"""``SyncBatchNorm``: batch normalisation with the statistics of the *global* batch.

Under :class:`~retrograd.distributed.DistributedDataParallel` a plain BatchNorm layer
normalises each rank's mini-batch with that mini-batch's own statistics. ``SyncBatchNorm``
computes the mean and variance over the mini-batches of all ranks together, so ``W`` ranks
with batch ``b`` compute exactly what one process computes with batch ``W * b``. It costs one
``Allgather`` of ``2C + 1`` numbers per layer in forward and one ``Allreduce`` of ``2C``
numbers in backward. Outside training mode, or in a single process, it is BatchNorm.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..nn.layers.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
from ..nn.module import Module
from ..ops.norm import _rows, _unrows, input_grad, update_running
from ..tensor import Tensor
from . import world as _world


class SyncBatchNormOp(Function):
    """out = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1), where mean
    and (biased) var are over the rows of every rank's ``x``."""

    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None,
                momentum=0.1, eps=1e-5, comm=None, MPI=None):  # noqa: N803
        x2, tshape = _rows(x)
        m, c = x2.shape
        dt = x.dtype
        # Each rank: count, mean and sum of squared deviations of its rows; combined with
        # Chan et al.'s pairwise formula (stable where sum(x^2) - n mean^2 is not).
        mean_r = x2.mean(axis=0)
        xc_r = x2 - mean_r
        local = np.concatenate([[m], mean_r, np.einsum("ij,ij->j", xc_r, xc_r)])
        local = local.astype(np.float64)
        every = np.empty((comm.Get_size(), local.size), dtype=np.float64)
        comm.Allgather(local, every)
        counts, means, m2s = every[:, 0], every[:, 1:c + 1], every[:, c + 1:]
        total = counts.sum()
        if total <= 1:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over all "
                             f"ranks in training mode, got {int(total)}")
        mean = (counts @ means) / total
        var = (m2s.sum(axis=0) + counts @ (means - mean) ** 2) / total  # biased
        update_running(running_mean, running_var, mean, var, total, momentum)
        inv_std = (1.0 / np.sqrt(var + eps)).astype(dt, copy=False)
        scale = inv_std if weight is None else weight * inv_std
        xc = x2 - mean.astype(dt, copy=False)
        out = xc * scale
        if bias is not None:
            out += bias
        self.xc, self.inv_std, self.scale = xc, inv_std, scale
        self.tshape, self.total, self.comm, self.MPI = tshape, total, comm, MPI
        return _unrows(out, tshape)

    def backward(self, grad):
        need = self.needs
        g2, _ = _rows(grad)
        xc, inv_std, scale = self.xc, self.inv_std, self.scale
        self.xc = None
        dbeta = g2.sum(axis=0)  # this rank's sum(delta)
        gxc = np.einsum("ij,ij->j", g2, xc)  # this rank's sum(delta * (x - mean))
        # weight and bias get this rank's share; DDP then averages them over the ranks
        gw = gxc * inv_std if len(need) > 1 and need[1] else None
        gb = dbeta.copy() if len(need) > 2 and need[2] else None
        gx = None
        if need[0]:
            # dC/dx needs the sums over every rank's rows: one Allreduce of 2C numbers
            sums = np.concatenate([dbeta, gxc]).astype(np.float64)
            self.comm.Allreduce(self.MPI.IN_PLACE, sums, op=self.MPI.SUM)
            c = dbeta.size
            dbeta_all = sums[:c].astype(g2.dtype, copy=False)
            gxc_all = sums[c:].astype(g2.dtype, copy=False)
            gx = _unrows(input_grad(g2, xc, scale, inv_std, dbeta_all, gxc_all, self.total,
                                    False), self.tshape)
        return gx, gw, gb


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over ``(N, C, ...)`` inputs whose training statistics span all ranks.

    The parameters, buffers and state_dict keys are BatchNorm's (PyTorch's), so a checkpoint
    moves freely between ``SyncBatchNorm`` and ``BatchNorm1d``/``BatchNorm2d``. Convert a model
    with :meth:`convert_sync_batchnorm`.

    Examples
    --------
    >>> model = SyncBatchNorm.convert_sync_batchnorm(model)
    >>> model = DistributedDataParallel(model)
    """

    _dims = (2, 3, 4, 5)
    _shape_text = "(N, {c}, ...)"

    def forward(self, x: Tensor) -> Tensor:
        w = _world.world()
        if not self.training or w.size == 1:
            return super().forward(x)
        shape = x.data.shape
        if len(shape) not in self._dims or shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm({self.num_features}): expected input of shape "
                             f"(N, {self.num_features}, ...), got {tuple(shape)}")
        momentum = 0.0 if self.momentum is None else self.momentum
        track = self.track_running_stats
        if track:
            nbt = self.num_batches_tracked.data
            nbt += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(nbt)
        rm = self.running_mean.data if track else None
        rv = self.running_var.data if track else None
        return SyncBatchNormOp.apply(x, self.weight, self.bias, running_mean=rm,
                                     running_var=rv, momentum=momentum, eps=self.eps,
                                     comm=w.comm, MPI=w.MPI)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """``module`` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same
        parameters and buffers (the tensors themselves, not copies)."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)) and not isinstance(module, cls):
            new = cls.__new__(cls)
            Module.__init__(new)
            for k, v in module.__dict__.items():
                if k not in ("_parameters", "_buffers", "_modules", "_non_persistent",
                             "_forward_hooks", "_forward_pre_hooks"):
                    object.__setattr__(new, k, v)
            new._parameters.update(module._parameters)
            new._buffers.update(module._buffers)
            new._non_persistent.update(module._non_persistent)
            return new
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = cls.convert_sync_batchnorm(child)
        return module
