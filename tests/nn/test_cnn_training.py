"""Training to accuracy: LeNet-5 on real MNIST digits, a residual CNN with BatchNorm on the
8x8 digits, and both models from the command line."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import retrograd as rg
from retrograd import models, nn, optim
from retrograd.data import DataLoader, TensorDataset, load_digits, load_mnist, train_test_split
from retrograd.train import evaluate, fit

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")


@contextlib.contextmanager
def _one_blas_thread():
    # NOTE: on a shared 2-core machine OpenBLAS's worker threads spin against other
    # processes and a step can take 10x longer; one thread keeps these tests' time
    # predictable (and costs little: the GEMMs here are small). threadpoolctl comes with
    # scikit-learn (a test dependency); without it the tests simply run as they are.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.mark.slow
def test_lenet5_on_mnist_reaches_96_percent(mnist_dir):
    X, y = load_mnist(mnist_dir, "test", download_missing=False)
    assert X.shape == (10000, 1, 28, 28)
    rg.manual_seed(0)
    train = DataLoader(TensorDataset(X[:8000], y[:8000]), batch_size=64, shuffle=True, seed=0)
    test = DataLoader(TensorDataset(X[8000:], y[8000:]), batch_size=500)
    model = models.lenet5()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with _one_blas_thread():
        fit(model, nn.CrossEntropyLoss(), opt, train, epochs=3, progress=False)
        acc = evaluate(model, test)["accuracy"]
    assert acc >= 0.96, acc


@pytest.mark.slow
def test_residual_cnn_with_batchnorm_on_digits_reaches_98_percent():
    X, y = load_digits(images=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    rg.manual_seed(0)
    train = DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True, seed=0)
    test = DataLoader(TensorDataset(Xte, yte), batch_size=360)
    model = models.resnet_small((1, 8, 8), 10)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, nn.Residual) for m in model.modules())
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
    with _one_blas_thread():
        fit(model, nn.CrossEntropyLoss(), opt, train, epochs=8, scheduler=sched,
            progress=False)
        acc = evaluate(model, test)["accuracy"]  # eval mode: BN's running statistics
    assert acc >= 0.98, acc
    # the running statistics were learnt (not left at their 0/1 initial values)
    bn = model[1]
    assert bn.num_batches_tracked.item() == 8 * len(train)
    assert np.abs(bn.running_mean.numpy()).max() > 1e-3


def _cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC), OPENBLAS_NUM_THREADS="1",
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "retrograd", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_trains_lenet_on_mnist_and_resnet_small_on_digits(tmp_path, mnist_dir):
    r = _cli(tmp_path, "train", "--model", "lenet", "--dataset", "mnist", "--root", mnist_dir,
             "--epochs", "1", "--optimizer", "momentum", "--lr", "0.05", "--no-progress",
             "--out", "lenet-run")
    assert r.returncode == 0, r.stderr
    line = next(s for s in r.stdout.splitlines() if s.startswith("test accuracy:"))
    assert float(line.split()[2]) > 0.85, r.stdout
    assert "lenet" in r.stderr + r.stdout
    r = _cli(tmp_path, "train", "--model", "resnet-small", "--dataset", "digits", "--epochs",
             "1", "--no-progress", "--out", "resnet-run")
    assert r.returncode == 0, r.stderr
    assert "test accuracy:" in r.stdout
    r = _cli(tmp_path, "evaluate", "resnet-run")
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout
