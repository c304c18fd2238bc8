"""The 2-2-3 network of seed 000 ("反向传播算法指南"), with batch-averaged gradients.

The document draws a network with 2 inputs, 2 hidden sigmoid neurons and 3 sigmoid outputs,
no biases (it folds them into the inputs and then leaves them out of the figure), and walks
one backward pass over m = 100 samples with its own notation (a column per sample):

    δ4 = ∂C/∂a3              Δ4 = δ4               δ3 = Δ4 .* σ'(z3)
    θ'2 = δ3 a2ᵀ             Δ3 = θ2ᵀ δ3           δ2 = Δ3 .* σ'(z2)
    θ'1 = δ2 a1ᵀ

accumulated over the samples ("For i=1:100 ... End") and divided by m at the end. Here the
same network is a retrograd model (``Linear(2, 2, bias=False)`` is θ1, ``Linear(2, 3,
bias=False)`` is θ2), its gradients come from ``loss.backward()``, and they are checked
against the document's formulas computed by hand in NumPy, both as its per-sample loop and
vectorised over the batch. The cost is C = (1/m) Σ_i ½‖a3_i − y_i‖², so δ4 = a3 − y per
sample. Then a few steps of gradient descent show the cost going down.

Run: ``python examples/seed000_223_network.py``
"""

from __future__ import annotations

import numpy as np

import retrograd as rg
from retrograd import nn, optim


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def document_gradients(theta1: np.ndarray, theta2: np.ndarray, X: np.ndarray, Y: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The document's pseudo-code, literally: one sample (a column) at a time, summed, / m."""
    m = X.shape[0]
    g1 = np.zeros_like(theta1)
    g2 = np.zeros_like(theta2)
    for i in range(m):
        a1 = X[i].reshape(2, 1)                 # the input layer's output is the input
        z2 = theta1 @ a1
        a2 = sigmoid(z2)
        z3 = theta2 @ a2
        a3 = sigmoid(z3)
        delta4 = a3 - Y[i].reshape(3, 1)        # ∂C_i/∂a3 for C_i = ½‖a3 − y‖²
        Delta4 = delta4
        delta3 = Delta4 * a3 * (1 - a3)         # σ'(z3) = a3 (1 − a3)
        g2 += delta3 @ a2.T                     # θ'2 = δ3 a2ᵀ
        Delta3 = theta2.T @ delta3              # Δ3 = θ2ᵀ δ3
        delta2 = Delta3 * a2 * (1 - a2)
        g1 += delta2 @ a1.T                     # θ'1 = δ2 a1ᵀ
    return g1 / m, g2 / m


def vectorised_gradients(theta1: np.ndarray, theta2: np.ndarray, X: np.ndarray,
                         Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same formulas with all 100 samples as columns at once."""
    m = X.shape[0]
    a1 = X.T                                    # (2, m)
    a2 = sigmoid(theta1 @ a1)                   # (2, m)
    a3 = sigmoid(theta2 @ a2)                   # (3, m)
    delta3 = (a3 - Y.T) * a3 * (1 - a3)
    delta2 = (theta2.T @ delta3) * a2 * (1 - a2)
    return delta2 @ a1.T / m, delta3 @ a2.T / m


def make_network() -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, 2, bias=False), nn.Sigmoid(),
                         nn.Linear(2, 3, bias=False), nn.Sigmoid())


def cost(a3: rg.Tensor, y: rg.Tensor) -> rg.Tensor:
    """C = (1/m) Σ_i ½‖a3_i − y_i‖² (the batch average of per-sample costs)."""
    return 0.5 * ((a3 - y) ** 2).sum(axis=1).mean()


def main(seed: int = 0, steps: int = 300, verbose: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 2))                          # m = 100 samples, 2 inputs
    # targets from a "teacher" 2-2-3 network, so that the student can learn them
    teacher1, teacher2 = rng.normal(scale=2.0, size=(2, 2)), rng.normal(scale=2.0, size=(3, 2))
    Y = sigmoid(sigmoid(X @ teacher1.T) @ teacher2.T)      # 3 targets in (0, 1)
    rg.manual_seed(seed)
    net = make_network().double()
    x, y = rg.tensor(X, dtype=rg.float64), rg.tensor(Y, dtype=rg.float64)

    c = cost(net(x), y)
    c.backward()
    theta1, theta2 = net[0].weight.data, net[2].weight.data
    auto = (net[0].weight.grad.numpy(), net[2].weight.grad.numpy())
    loop = document_gradients(theta1, theta2, X, Y)
    vec = vectorised_gradients(theta1, theta2, X, Y)
    err = max(float(np.max(np.abs(a - b))) for a, b in zip(auto, loop + vec))

    # a little training: the cost must go down
    opt = optim.SGD(net.parameters(), lr=5.0, momentum=0.9)
    costs = []
    for _ in range(steps):
        loss = cost(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        costs.append(loss.item())
    if verbose:
        print("θ'1 (autodiff)\n", auto[0], "\nθ'1 (the document's loop)\n", loop[0])
        print("θ'2 (autodiff)\n", auto[1], "\nθ'2 (the document's loop)\n", loop[1])
        print(f"largest difference: {err:.2e}")
        print(f"cost: {costs[0]:.5f} -> {costs[-1]:.5f} after {steps} steps of SGD")
    return {"grads": auto, "loop": loop, "vectorised": vec, "max_abs_diff": err,
            "costs": costs}


if __name__ == "__main__":
    main()
