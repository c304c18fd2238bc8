"""Seed 003's worked example (2-2-2 sigmoid network) reproduced to 1e-12 in float64.

The expected values are the numbers *published in the document*
(/work/shared/seeds/003_04d51d4a1cadf258.txt, its "实例" section), copied verbatim from its
code comments, never values produced by retrograd.
"""

from __future__ import annotations

import os
import subprocess
import sys

import retrograd as rg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "worked_example.py")

PUBLISHED = {
    "h1_in": 0.6000000000000001,     # h1_in = 0.1*0.1+0.2*0.2+0.55 = 0.6000000000000001
    "h1_out": 0.6456563062257954,
    "h2_in": 0.67,
    "h2_out": 0.6615031592029524,
    "o1_in": 1.379730048634669,
    "o1_out": 0.7989476413779711,
    "o2_in": 1.6511619417204186,
    "o2_out": 0.8390480283342561,
    "o1_err": 0.12672890240521031,   # (o1_out - o[0])*(o1_out*(1-o1_out))
    "o2_err": -0.020385525551585255,
    "h1_err": 0.011232066954600498,  # (w[4]*o1_err + w[6]*o2_err)*(h1_out*(1-h1_out))
    "h2_err": 0.013374304651329562,
    "d_w5": 0.08182331501899741,     # o1_err*h1_out
    "d_w1": 0.0011232066954600499,   # h1_err*i[0]
}
INPUTS = [0.1, 0.2]


def _bp_from_published() -> dict[str, float]:
    """The remaining gradients by the document's own rules (BP3, BP4) on its own numbers."""
    p = PUBLISHED
    h = [p["h1_out"], p["h2_out"]]
    d_h = [p["h1_err"], p["h2_err"]]
    d_o = [p["o1_err"], p["o2_err"]]
    out = {}
    for j in range(2):
        for k in range(2):
            out[f"d_w{1 + 2 * j + k}"] = INPUTS[k] * d_h[j]   # w1..w4: hidden layer
            out[f"d_w{5 + 2 * j + k}"] = h[k] * d_o[j]        # w5..w8: output layer
    out.update({"d_b1": d_h[0], "d_b2": d_h[1], "d_b3": d_o[0], "d_b4": d_o[1]})
    return out


def _check(values: dict[str, float]) -> None:
    for name, want in {**_bp_from_published(), **PUBLISHED}.items():
        assert abs(values[name] - want) <= 1e-12, f"{name}: {values[name]!r} vs {want!r}"


def test_worked_example_reproduced_with_tensors():
    f64 = rg.float64
    i = rg.tensor(INPUTS, dtype=f64)
    y = rg.tensor([0.01, 0.99], dtype=f64)
    w1 = rg.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=f64, requires_grad=True)
    b1 = rg.tensor([0.55, 0.56], dtype=f64, requires_grad=True)
    w2 = rg.tensor([[0.5, 0.6], [0.7, 0.8]], dtype=f64, requires_grad=True)
    b2 = rg.tensor([0.66, 0.67], dtype=f64, requires_grad=True)
    zh = w1 @ i + b1
    h = zh.sigmoid()
    zo = w2 @ h + b2
    o = zo.sigmoid()
    zh.retain_grad()
    zo.retain_grad()
    cost = 0.5 * ((y - o) ** 2).sum()
    cost.backward()
    values = {
        "h1_in": zh.numpy()[0], "h2_in": zh.numpy()[1], "h1_out": h.numpy()[0],
        "h2_out": h.numpy()[1], "o1_in": zo.numpy()[0], "o2_in": zo.numpy()[1],
        "o1_out": o.numpy()[0], "o2_out": o.numpy()[1],
        "o1_err": zo.grad.numpy()[0], "o2_err": zo.grad.numpy()[1],
        "h1_err": zh.grad.numpy()[0], "h2_err": zh.grad.numpy()[1],
    }
    for k in range(4):
        values[f"d_w{k + 1}"] = w1.grad.numpy().ravel()[k]
        values[f"d_w{k + 5}"] = w2.grad.numpy().ravel()[k]
    for k in range(2):
        values[f"d_b{k + 1}"] = b1.grad.numpy()[k]
        values[f"d_b{k + 3}"] = b2.grad.numpy()[k]
    assert all(v.dtype == f64 for v in (w1.grad, b1.grad, w2.grad, b2.grad))
    _check({k: float(v) for k, v in values.items()})


def test_worked_example_script_prints_the_published_numbers():
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    res = subprocess.run([sys.executable, EXAMPLE], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    printed = {}
    for line in res.stdout.splitlines():
        if " = " in line and not line.startswith("#"):
            name, value = line.split(" = ")
            printed[name.strip()] = float(value)
    missing = (set(PUBLISHED) | set(_bp_from_published())) - set(printed)
    assert not missing, f"not printed: {sorted(missing)}"
    _check(printed)
    # printed with repr(): full precision, as the document prints them
    assert "h1_out = 0.645656306225795" in res.stdout and "d_w5 = 0.0818233150189974" in res.stdout
