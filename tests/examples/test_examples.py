"""Each example is also a test: run its main() and check what it claims."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from conftest import require_module

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_seed000_223_network_gradients_equal_the_documents_formulas():
    ex = load_example("seed000_223_network")
    r = ex.main(verbose=False)
    g1, g2 = r["grads"]
    assert g1.shape == (2, 2) and g2.shape == (3, 2)  # θ1 is 2x2, θ2 is 3x2 (n_out x n_in)
    for got, want in ((g1, r["loop"][0]), (g2, r["loop"][1]),
                      (g1, r["vectorised"][0]), (g2, r["vectorised"][1])):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert np.abs(g1).max() > 1e-4 and np.abs(g2).max() > 1e-3  # not trivially zero
    assert r["max_abs_diff"] < 1e-14
    assert r["costs"][-1] < 0.8 * r["costs"][0]


def test_seed000_batch_average_is_not_the_sum():
    """The document divides the accumulated θ' by m: a sum would be 100 times larger."""
    ex = load_example("seed000_223_network")
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(100, 2)), rng.uniform(size=(100, 3))
    t1, t2 = rng.normal(size=(2, 2)), rng.normal(size=(3, 2))
    g1, g2 = ex.document_gradients(t1, t2, X, Y)
    one = [ex.document_gradients(t1, t2, X[i:i + 1], Y[i:i + 1]) for i in range(100)]
    np.testing.assert_allclose(g2, np.mean([o[1] for o in one], axis=0), rtol=1e-12)
    np.testing.assert_allclose(g1, np.mean([o[0] for o in one], axis=0), rtol=1e-12)


@pytest.mark.slow
def test_seed001_classification_reaches_085():
    require_module("sklearn")
    ex = load_example("seed001_classification")
    r = ex.main(verbose=False)
    assert r["test_accuracy"] >= 0.85
    assert r["history"]["loss"][-1] < r["history"]["loss"][0]
    doc = ex.__doc__
    for bug in ("NameError", "np.dot(self.weights1, X)", "binary", "one-hot", "overflow",
                "X[:3]", "argmax", "random_state"):
        assert bug in doc, bug
