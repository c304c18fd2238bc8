"""Shared test fixtures.

Oracles (PyTorch, Graphviz, Chromium, MPI) are optional on a developer's machine, where the
tests that need them skip; CI sets RETROGRAD_REQUIRE_ORACLES=1 and then a missing oracle is
a failure, so the suite cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from hypothesis import settings

import retrograd as rg

# CI draws the same examples on every run: a property test that fails there fails for
# everyone, reproducibly, instead of once in a thousand runs.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REQUIRE = os.environ.get("RETROGRAD_REQUIRE_ORACLES") == "1"


def _need(ok: bool, what: str) -> None:
    if ok:
        return
    if REQUIRE:
        pytest.fail(f"{what} is required in CI (RETROGRAD_REQUIRE_ORACLES=1) but missing")
    pytest.skip(f"{what} not installed")


def require_torch():
    """Import torch (2 threads), or skip/fail as the environment demands."""
    try:
        import torch
    except ImportError:
        _need(False, "torch")
    torch.set_num_threads(2)
    return torch


def require_module(name: str):
    """Import a test dependency (scikit-learn, tqdm, ...), or skip/fail as the environment
    demands: in CI a missing one fails, unlike ``pytest.importorskip``."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        _need(False, f"the Python package {name!r}")


def require_program(name: str) -> str:
    path = shutil.which(name)
    _need(path is not None, f"the program {name!r}")
    return path


@pytest.fixture
def torch():
    return require_torch()


@pytest.fixture(autouse=True)
def _seed():
    rg.manual_seed(0)
    np.random.seed(0)
    yield


_MNIST_CANDIDATES = [
    os.environ.get("RETROGRAD_MNIST_DIR", ""),
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist-t10k"),
    "/work/shared/data/mnist-t10k",
]


@pytest.fixture
def mnist_dir():
    """The real MNIST test set (10,000 images) that the project keeps beside the repo."""
    for path in _MNIST_CANDIDATES:
        if path and os.path.isfile(os.path.join(path, "t10k-images-idx3-ubyte.gz")):
            return os.path.abspath(path)
    _need(False, f"the MNIST test set (looked in {[p for p in _MNIST_CANDIDATES if p]})")
