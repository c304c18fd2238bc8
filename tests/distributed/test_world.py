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
