"""The world without a launcher: one rank, no mpi4py needed."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import retrograd as rg
from retrograd import distributed as dist
from retrograd import nn
from retrograd.distributed import world as _world

LAUNCHER_VARS = _world._LAUNCHER_VARS + ("RETROGRAD_MPI",)


@pytest.fixture
def no_mpi(monkeypatch):
    """A process not started by mpiexec, on a machine where mpi4py cannot be imported."""
    for v in LAUNCHER_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` now raises
    _world._reset()
    yield monkeypatch
    _world._reset()


def test_single_process_needs_no_mpi(no_mpi):
    w = dist.init()
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
    assert w.comm is None
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    assert dist.allgather_object(3) == [3]
    dist.barrier()


def test_under_a_launcher_a_missing_mpi4py_is_an_error(no_mpi):
    no_mpi.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="mpi4py cannot be imported"):
        dist.init()


def test_ddp_in_one_process_is_the_plain_model(no_mpi):
    model = nn.Linear(3, 2)
    ddp = dist.DistributedDataParallel(model)
    x = rg.randn(4, 3)
    assert np.array_equal(ddp(x).data, model(x).data)
    ddp(x).sum().backward()
    g = model.weight.grad.data.copy()
    ddp.sync_gradients()
    assert np.array_equal(model.weight.grad.data, g) and ddp.allreduce_calls == 0
    assert list(ddp.state_dict()) == ["weight", "bias"]  # no "module." prefix
    assert [n for n, _ in ddp.named_parameters()] == ["weight", "bias"]


def test_ddp_rejects_a_non_module(no_mpi):
    with pytest.raises(TypeError, match="expected an nn.Module"):
        dist.DistributedDataParallel(lambda x: x)


def test_sync_batchnorm_alone_is_batchnorm_and_converts_in_place(no_mpi):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU()).double()
    bn = model[1]
    converted = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model and type(model[1]) is dist.SyncBatchNorm
    assert model[1].weight is bn.weight and model[1].running_var is bn.running_var
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                        "1.running_mean", "1.running_var",
                                        "1.num_batches_tracked"]
    x = rg.randn(8, 3, dtype=rg.float64)
    ref = nn.BatchNorm1d(4).double()
    z = model[0](x)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(ref, mode)()
        np.testing.assert_allclose(model[1](z).data, ref(z).data, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="expected input"):
        model.train()
        model[1](rg.randn(8, 5))


def test_fit_distributed_needs_a_loader_it_can_shard(no_mpi):
    from retrograd.data import DataLoader, TensorDataset
    from retrograd.distributed.fitting import shard_loader

    ds = TensorDataset(np.zeros((10, 2)), np.arange(10))
    with pytest.raises(TypeError, match="must be a retrograd.data.DataLoader"):
        shard_loader([(ds[0])])
    with pytest.raises(ValueError, match="has its own sampler"):
        shard_loader(DataLoader(ds, batch_size=2, sampler=[3, 1, 2]))
    own = DataLoader(ds, batch_size=2, sampler=dist.DistributedSampler(ds))
    assert shard_loader(own) is own
    sharded = shard_loader(DataLoader(ds, batch_size=4, shuffle=True, seed=1))
    assert isinstance(sharded.sampler, dist.DistributedSampler) and sharded.batch_size == 4
    # the seed comes from a copy of the loader's generator: the same loader, the same order
    again = shard_loader(DataLoader(ds, batch_size=4, shuffle=True, seed=1))
    assert list(sharded.sampler) == list(again.sampler)
