"""The worked example of seed 003 (a 2-2-2 sigmoid network, one sample, C = 1/2 Σ (y - a)^2),
with the numbers the document publishes, so that ``retrograd explain`` can reproduce them."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import dtypes as _dt
from ..nn.layers.activation import Sigmoid
from ..nn.layers.container import Sequential
from ..nn.layers.linear import Linear
from ..tensor import Tensor
from ._format import Block, fmt_num
from .record import LayerView, backprop

# The seed's parameters: i = [0.1, 0.2], o = [0.01, 0.99], w = [0.1, ..., 0.8] where
# h1 = w[0] i0 + w[1] i1 + b[0], so W^2 = [[w0, w1], [w2, w3]] in nn.Linear's (out, in) layout.
INPUT = [0.1, 0.2]
TARGET = [0.01, 0.99]
W = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
B = [0.55, 0.56, 0.66, 0.67]

# name in the seed -> (published value, where the layer view keeps it: layer, field, index)
PUBLISHED: dict[str, tuple[float, int, str, tuple]] = {
    "h1_in": (0.6000000000000001, 0, "z", (0, 0)),
    "h1_out": (0.6456563062257954, 0, "a", (0, 0)),
    "h2_in": (0.67, 0, "z", (0, 1)),
    "h2_out": (0.6615031592029524, 0, "a", (0, 1)),
    "o1_in": (1.379730048634669, 1, "z", (0, 0)),
    "o1_out": (0.7989476413779711, 1, "a", (0, 0)),
    "o2_in": (1.6511619417204186, 1, "z", (0, 1)),
    "o2_out": (0.8390480283342561, 1, "a", (0, 1)),
    "o1_err": (0.12672890240521031, 1, "delta", (0, 0)),
    "o2_err": (-0.020385525551585255, 1, "delta", (0, 1)),
    "h1_err": (0.011232066954600498, 0, "delta", (0, 0)),
    "h2_err": (0.013374304651329562, 0, "delta", (0, 1)),
    "d_w5": (0.08182331501899741, 1, "dW", (0, 0)),
    "d_w1": (0.0011232066954600499, 0, "dW", (0, 0)),
}

SYMBOL = {"z": "z", "a": "a", "delta": "δ", "dW": "∂C/∂W"}


def half_squared_error(output: Tensor, target: Any) -> Tensor:
    """C = 1/2 Σ_j (y_j - a_j)^2 (seed 003's cost, summed over the output neurons)."""
    return 0.5 * ((output - target) ** 2).sum()


def model() -> Sequential:
    """The seed's network with its parameters (float64, so every published digit counts)."""
    net = Sequential(Linear(2, 2, dtype=_dt.float64), Sigmoid(),
                     Linear(2, 2, dtype=_dt.float64), Sigmoid())
    net[0].weight.data[...] = np.reshape(W[:4], (2, 2))
    net[0].bias.data[...] = B[:2]
    net[2].weight.data[...] = np.reshape(W[4:], (2, 2))
    net[2].bias.data[...] = B[2:]
    return net


def inputs() -> tuple[Tensor, Tensor, Callable]:
    x = Tensor(np.array([INPUT], dtype=np.float64))
    y = Tensor(np.array([TARGET], dtype=np.float64))
    return x, y, half_squared_error


def lookup(view: LayerView, name: str) -> float:
    """The engine's value of the seed's quantity ``name`` in a layer view of the example."""
    _, layer, fld, idx = PUBLISHED[name]
    return float(getattr(view.layers[layer], fld)[idx])


def worked_example(digits: int = 15) -> tuple[LayerView, list[Block]]:
    """Run the seed's example; return the layer view and a table: engine vs published."""
    x, y, loss = inputs()
    view = backprop(model(), x, y, loss, digits=digits)
    rows = []
    worst = 0.0
    for name, (pub, layer, fld, idx) in PUBLISHED.items():
        got = lookup(view, name)
        li = view.layers[layer].index
        rel = abs(got - pub) / abs(pub)
        worst = max(worst, rel)
        sym = f"{SYMBOL[fld]}^{li}[{idx[1] + 1}]" if fld != "dW" else \
            f"∂C/∂W^{li}[1,1]"
        rows.append([name, sym, fmt_num(got, digits), fmt_num(pub, digits), f"{rel:.1e}"])
    blocks = [Block("h2", "Seed 003's published numbers, reproduced"),
              Block("p", f"Engine values and the numbers printed in 003_04d51d4a1cadf258.txt, "
                         f"to {digits} significant digits. The largest relative difference is "
                         f"{worst:.1e}: the last binary digits depend on the order of floating-"
                         "point operations (the seed's hand-written products versus the "
                         "engine's VJPs), nothing else."),
              Block("table", headers=["seed", "quantity", "engine", "published", "rel. diff"],
                    rows=rows)]
    return view, blocks
