"""The worked example of seed 003 ("梯度下降和反向传播"), with retrograd Tensors in float64.

A 2-2-2 network with sigmoid activations, inputs i = [0.1, 0.2], targets o = [0.01, 0.99],
weights w1..w8 = 0.1..0.8, biases b1..b4 = 0.55, 0.56, 0.66, 0.67, and the cost
C = 1/2 sum_j (y_j - a_j)^2. The forward pass is written with ordinary tensor operations,
``cost.backward()`` computes every gradient, and the error signals delta = dC/dz of both
layers are read from the graph with ``retain_grad()``. The printed numbers are those the
document derives by hand (BP1-BP4), e.g. ``d_w5 = 0.08182331501899741``.

Run: ``python examples/worked_example.py``
"""

from __future__ import annotations

import retrograd as rg


def run() -> dict[str, float]:
    """Forward and backward pass of the seed's network; returns the named quantities."""
    f64 = rg.float64
    i = rg.tensor([0.1, 0.2], dtype=f64)
    y = rg.tensor([0.01, 0.99], dtype=f64)
    # w[0..3] feed the hidden layer (h1 = w1 i1 + w2 i2 + b1, h2 = w3 i1 + w4 i2 + b2),
    # w[4..7] the output layer (o1 = w5 h1 + w6 h2 + b3, o2 = w7 h1 + w8 h2 + b4)
    w_hidden = rg.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=f64, requires_grad=True)
    b_hidden = rg.tensor([0.55, 0.56], dtype=f64, requires_grad=True)
    w_out = rg.tensor([[0.5, 0.6], [0.7, 0.8]], dtype=f64, requires_grad=True)
    b_out = rg.tensor([0.66, 0.67], dtype=f64, requires_grad=True)

    z_hidden = w_hidden @ i + b_hidden      # h_in
    a_hidden = z_hidden.sigmoid()           # h_out
    z_out = w_out @ a_hidden + b_out        # o_in
    a_out = z_out.sigmoid()                 # o_out
    cost = 0.5 * ((y - a_out) ** 2).sum()

    z_hidden.retain_grad()                  # delta of the hidden layer (BP2)
    z_out.retain_grad()                     # delta of the output layer (BP1)
    cost.backward()

    values = {
        "h1_in": z_hidden[0].item(), "h1_out": a_hidden[0].item(),
        "h2_in": z_hidden[1].item(), "h2_out": a_hidden[1].item(),
        "o1_in": z_out[0].item(), "o1_out": a_out[0].item(),
        "o2_in": z_out[1].item(), "o2_out": a_out[1].item(),
        "cost": cost.item(),
        "o1_err": z_out.grad[0].item(), "o2_err": z_out.grad[1].item(),
        "h1_err": z_hidden.grad[0].item(), "h2_err": z_hidden.grad[1].item(),
    }
    for k, g in enumerate(w_hidden.grad.numpy().ravel().tolist() +
                          w_out.grad.numpy().ravel().tolist(), start=1):
        values[f"d_w{k}"] = g                                       # BP4: a^{l-1} delta^l
    for k, g in enumerate(b_hidden.grad.numpy().tolist() + b_out.grad.numpy().tolist(),
                          start=1):
        values[f"d_b{k}"] = g                                       # BP3: delta^l
    return values


def main() -> None:
    v = run()
    print("# forward pass")
    for name in ("h1_in", "h1_out", "h2_in", "h2_out", "o1_in", "o1_out", "o2_in", "o2_out",
                 "cost"):
        print(f"{name} = {v[name]!r}")
    print("# error signals delta = dC/dz (BP1 for the output layer, BP2 for the hidden one)")
    for name in ("o1_err", "o2_err", "h1_err", "h2_err"):
        print(f"{name} = {v[name]!r}")
    print("# weight and bias gradients (BP4: dC/dw = a_in * delta, BP3: dC/db = delta)")
    for k in range(1, 9):
        print(f"d_w{k} = {v[f'd_w{k}']!r}")
    for k in range(1, 5):
        print(f"d_b{k} = {v[f'd_b{k}']!r}")


if __name__ == "__main__":
    main()
