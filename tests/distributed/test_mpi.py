"""Data parallelism on 2 real MPI ranks (``mpiexec -n 2 --oversubscribe``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from mpi_launch import SCRIPTS, run_mpi

sys.path.insert(0, str(SCRIPTS))
from dist_common import fit_run, train_single  # noqa: E402


# SGD (momentum) with gradients set to None between steps (packed by copy); Adam with
# gradients zeroed in place (backward accumulates straight into the flat buffer)
@pytest.mark.parametrize("opt_name,zeroing", [("sgd", "none"), ("adam", "inplace")])
def test_two_ranks_batch_32_equal_one_process_batch_64(tmp_path: Path, opt_name: str,
                                                        zeroing: str):
    steps = 20
    res = run_mpi("equivalence.py", tmp_path / "p", opt_name, steps, 32, zeroing)
    assert res.returncode == 0, res.output
    ranks = [np.load(tmp_path / f"p{r}.npz") for r in range(2)]
    want = train_single(opt_name, steps, 64, to_none=zeroing == "none")
    for r, got in enumerate(ranks):
        assert int(got["calls"]) == steps  # exactly one Allreduce per step
        for name, value in want.items():
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-10,
                                       err_msg=f"rank {r}, {name}")
    # rank 1 built its model from another seed: equality also shows the start broadcast


def test_sync_batchnorm_on_two_ranks_equals_batchnorm_on_one_process(tmp_path: Path):
    steps = 10
    res = run_mpi("equivalence.py", tmp_path / "p", "sgd", steps, 32, "none", "sync")
    assert res.returncode == 0, res.output
    want = train_single("sgd", steps, 64, bn="bn")
    assert "1.running_var" in want
    for r in range(2):
        got = np.load(tmp_path / f"p{r}.npz")
        for name, value in want.items():  # parameters and running statistics
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-10,
                                       err_msg=f"rank {r}, {name}")


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


def test_checkpoint_on_two_ranks_resume_on_one_and_the_reverse(tmp_path: Path):
    # Uninterrupted: 4 epochs of fit(distributed=True) (Adam, float64) in this process.
    want = fit_run(None, 4, None, None, "adam")
    # 2 ranks train 2 epochs and checkpoint; this process (1 rank) resumes up to epoch 4.
    res = run_mpi("fit_run.py", tmp_path / "a", 2, tmp_path / "ck2", "-", "adam")
    assert res.returncode == 0, res.output
    assert sorted(p.name for p in (tmp_path / "ck2").iterdir()) == ["epoch-0001", "epoch-0002"]
    got_1 = fit_run(None, 4, None, str(tmp_path / "ck2"), "adam")
    # 1 rank trains 2 epochs and checkpoints; 2 ranks resume up to epoch 4.
    fit_run(None, 2, str(tmp_path / "ck1"), None, "adam")
    res = run_mpi("fit_run.py", tmp_path / "b", 4, "-", tmp_path / "ck1", "adam")
    assert res.returncode == 0, res.output
    got_2 = [np.load(tmp_path / f"b{r}.npz") for r in range(2)]
    # validation is sharded: per epoch the ranks evaluate 18 + 19 of the 37 samples, not
    # 37 each (the val_loss of every epoch still equals one process's, checked below)
    assert [int(np.load(tmp_path / f"a{r}.npz")["val_rows"]) for r in range(2)] == [36, 38]
    assert [int(g["val_rows"]) for g in got_2] == [36, 38]  # epochs 3 and 4
    for label, got in (("2 -> 1", got_1), ("1 -> 2 rank 0", got_2[0]),
                       ("1 -> 2 rank 1", got_2[1])):
        for name, value in want.items():  # parameters and the per-epoch losses
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-10,
                                       err_msg=f"{label}: {name}")


def test_mpiexec_retrograd_train_prints_and_writes_once(tmp_path: Path):
    out = tmp_path / "run"
    res = run_mpi("-m", "retrograd", "train", "--epochs", "1", "--batch-size", "64",
                  "--lr", "0.01", "--out", out, "--no-progress", timeout=60)
    assert res.returncode == 0, res.output
    assert res.output.count("test accuracy:") == 1  # rank 0 only
    assert "2 MPI processes" in res.output
    assert (out / "checkpoints" / "epoch-0001").is_dir()
    assert (out / "learning_curve.png").is_file()
    acc = float(res.output.split("test accuracy:")[1].split()[0])
    assert acc > 0.7  # one epoch of Adam (lr 0.01) on the digits (1 process: 0.80)


def test_mpiexec_retrograd_train_bad_batch_is_one_error_and_exit_2(tmp_path: Path):
    res = run_mpi("-m", "retrograd", "train", "--epochs", "1", "--batch-size", "33",
                  "--out", tmp_path / "run", "--no-progress", timeout=60)
    assert res.returncode == 2
    assert "the batch size 33 is the global batch and must be divisible by the 2 ranks" \
        in res.output
