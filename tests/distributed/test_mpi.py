"""Data parallelism on 2 real MPI ranks (``mpiexec -n 2 --oversubscribe``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from mpi_launch import SCRIPTS, run_mpi

sys.path.insert(0, str(SCRIPTS))
from common import train_single  # noqa: E402


def _optimizers() -> list[str]:
    try:
        from retrograd import optim  # noqa: F401
    except ImportError:
        return ["manual_sgd"]
    return ["sgd", "adam"]


@pytest.mark.parametrize("opt_name", _optimizers())
def test_two_ranks_batch_32_equal_one_process_batch_64(tmp_path: Path, opt_name: str):
    steps = 20
    res = run_mpi("equivalence.py", tmp_path / "p", opt_name, steps, 32)
    assert res.returncode == 0, res.output
    ranks = [np.load(tmp_path / f"p{r}.npz") for r in range(2)]
    want = train_single(opt_name, steps, 64)
    for r, got in enumerate(ranks):
        assert int(got["calls"]) == steps  # exactly one Allreduce per step
        for name, value in want.items():
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-10,
                                       err_msg=f"rank {r}, {name}")
    # rank 1 built its model from another seed: equality also shows the start broadcast


def test_a_rank_that_raises_stops_the_job_with_its_error():
    res = run_mpi("abort.py", "raise", timeout=30)
    assert res.returncode != 0
    assert "ValueError: rank one failed on purpose" in res.output
    assert "[rank 1]" in res.output
    assert "rank 0 should never get here" not in res.output
    assert res.seconds < 15, f"took {res.seconds:.1f} s to stop"


def test_mismatched_models_are_named_at_start():
    res = run_mpi("abort.py", "mismatch", timeout=30)
    assert res.returncode != 0
    assert "model differs between ranks" in res.output
    assert "'2.weight' (shape (2, 8), float32) on rank 0" in res.output
    assert "(shape (3, 8), float32) on rank 1" in res.output
    assert "rank one failed on purpose" not in res.output
