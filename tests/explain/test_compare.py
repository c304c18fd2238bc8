"""compare(): a hand derivation against the engine's gradients."""

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.explain import examples


def _seed_hand_grads():
    """Seed 003's gradients derived by hand, in plain NumPy (the seed's own formulas)."""
    i = np.array(examples.INPUT)
    o = np.array(examples.TARGET)
    W1 = np.array(examples.W[:4]).reshape(2, 2)
    W2 = np.array(examples.W[4:]).reshape(2, 2)
    b1, b2 = np.array(examples.B[:2]), np.array(examples.B[2:])
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h = sig(W1 @ i + b1)
    a = sig(W2 @ h + b2)
    d3 = (a - o) * a * (1 - a)                 # BP1
    d2 = (W2.T @ d3) * h * (1 - h)             # BP2
    return {"0.weight": np.outer(d2, i), "0.bias": d2,   # BP4, BP3
            "2.weight": np.outer(d3, h), "2.bias": d3}


def _seed_model_after_backward():
    m = examples.model()
    x, y, loss = examples.inputs()
    loss(m(x), y).backward()
    return m


def test_correct_hand_derivation_matches():
    c = rg.explain.compare(_seed_hand_grads(), _seed_model_after_backward())
    assert c.ok and bool(c)
    assert c["2.weight"].max_abs < 1e-15
    assert "4 match" in str(c)


def test_wrong_derivation_is_located_and_explained():
    g = _seed_hand_grads()
    g["0.weight"] = g["0.weight"].copy()
    g["0.weight"][1, 0] += 1e-3
    g["2.bias"] = 2 * g["2.bias"]           # forgot the 1/2 of the cost
    g["2.weight"] = g["2.weight"].T          # transposed layout
    c = rg.explain.compare(g, _seed_model_after_backward())
    assert not c.ok
    w = c["0.weight"]
    assert not w.ok and w.where == (1, 0) and w.mismatches == 1
    assert w.max_abs == pytest.approx(1e-3, rel=1e-6)
    assert "2 x the engine's" in c["2.bias"].note
    # 2x2 transposed has the right shape, so it is located as value differences
    assert not c["2.weight"].ok
    text = str(c)
    assert "[1, 0]" in text and "differ" in text


def test_shape_mismatch_hints_at_the_transpose():
    m = nn.Sequential(nn.Linear(3, 2))
    (m(rg.randn(4, 3)) ** 2).sum().backward()
    c = rg.explain.compare({"0.weight": np.zeros((3, 2)), "nope": np.zeros(1)}, m)
    assert "transposed" in c["0.weight"].note
    assert c.unknown == ["nope"] and not c.ok
    assert not c["0.bias"].given


def test_no_gradient_yet_is_an_error():
    m = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="backward"):
        rg.explain.compare({"0.weight": np.zeros((2, 3))}, m)
