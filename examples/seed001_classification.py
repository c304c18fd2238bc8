"""The 20-20-2 sigmoid/softmax classifier with L2 regularisation of seed 001, done right.

Seed 001 ("反向传播算法", section 4) trains a network with 20 inputs, 20 sigmoid hidden units
and a 2-way softmax on scikit-learn's ``make_classification``, with an L2 penalty
0.01 · ½‖W‖² on the weights. Its NumPy code cannot run as printed, and would not measure
what it claims if it did. The bugs:

1. ``forward`` computes ``np.dot(self.weights1, X)`` with X of shape (N, 20), samples in
   rows: (20, 20)·(N, 20) only works when N = 20 (and then mixes samples). With samples in
   rows the layer is ``X @ W1.T + b1`` (``nn.Linear``'s convention).
2. ``backward`` uses ``Z1`` and ``A1``, which are locals of ``forward``: a ``NameError``.
   ``forward`` must return (or keep) the hidden pre-activations/activations.
3. The loss is the *binary* cross-entropy ``T log Y + (1 − T) log(1 − Y)`` applied to a
   *2-way softmax* with integer labels T of shape (N,): wrong for a categorical output
   (it should be −log Y[label]), and ``np.dot(T, log(Y).T)`` is a vector, not a number.
4. ``dZ2 = Y − T`` needs one-hot targets of shape (N, 2); with labels of shape (N,) NumPy
   broadcasts it into garbage instead of failing.
5. ``dW2 = np.dot(dZ2, A1.T)`` gives an (N, N) matrix; the weight gradient is
   ``dZ2.T @ A1 / N`` (shape (2, 20)). Likewise ``dA1 = np.dot(W2.T, dZ2)`` must be
   ``dZ2 @ W2``, and ``dW1`` is ``dZ1.T @ X / N``.
6. ``softmax`` exponentiates without subtracting the row maximum, so large logits overflow
   to inf/NaN; here the loss is a fused, stable log-softmax (``nn.CrossEntropyLoss``).
7. The penalty's gradient 0.01·W (from 0.01·½‖W‖²) is right, but the text's formula writes
   λ‖W‖²_F (gradient 2λW) and the update rule "W − αΔW − β‖W‖²" subtracts the penalty
   itself, not its gradient. Here it is SGD's ``weight_decay=0.01`` on the weights only
   (biases are not penalised, as in the code).
8. It trains on 3 samples (``X[:3]``) for 10,000 steps and tests on 3 others (``X[-3:]``):
   an estimate of nothing. Here: 1,000 samples, a seeded 75/25 train/test split.
9. The test compares a (3, 2) probability matrix with (3,) labels, ``(Y > 0.5) == T``, which
   broadcasts to a (3, 3) table; accuracy is ``argmax(Y) == T``.
10. ``make_classification`` and ``shuffle`` get no ``random_state``: no two runs agree.

Run: ``python examples/seed001_classification.py``
"""

from __future__ import annotations

import numpy as np

import retrograd as rg
from retrograd import nn, optim
from retrograd.data import DataLoader, TensorDataset, train_test_split
from retrograd.train import evaluate, fit


def make_network() -> nn.Sequential:
    """20 inputs -> 20 sigmoid units -> 2 logits (softmax lives in the loss)."""
    return nn.Sequential(nn.Linear(20, 20), nn.Sigmoid(), nn.Linear(20, 2))


def main(seed: int = 0, epochs: int = 20, verbose: bool = True) -> dict:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=1000, n_features=20, n_classes=2, random_state=seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X.astype(np.float32), y.astype(np.int64),
                                              test_size=0.25, seed=seed)
    rg.manual_seed(seed)
    model = make_network()
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    # L2 penalty 0.01 * 1/2 ||W||^2 on the weights = weight decay 0.01 on their gradient
    opt = optim.SGD([{"params": weights, "weight_decay": 0.01},
                     {"params": biases, "weight_decay": 0.0}], lr=0.5)
    train = DataLoader(TensorDataset(X_tr, y_tr), batch_size=32, shuffle=True, seed=seed)
    test = DataLoader(TensorDataset(X_te, y_te), batch_size=250)
    loss_fn = nn.CrossEntropyLoss()
    history = fit(model, loss_fn, opt, train, epochs=epochs, progress=False)
    result = evaluate(model, test, loss_fn)
    if verbose:
        print(f"train loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}")
        print(f"test accuracy: {result['accuracy']:.4f} ({len(y_te)} samples)")
    return {"history": history, "test_accuracy": result["accuracy"],
            "test_loss": result["loss"]}


if __name__ == "__main__":
    main()
