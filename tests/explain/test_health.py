"""Gradient health: the vanishing deep sigmoid stack versus ReLU + residual connections
(seed 000's motivation for ResNet), through a hand-written loop and through fit()."""

from types import SimpleNamespace

import numpy as np

import retrograd as rg
from retrograd import nn
from retrograd.explain import GradientHealth


class Residual(nn.Module):
    """y = x + relu(W x + b): seed 000's residual block Y = X + σ(X)."""

    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.act = nn.ReLU()

    def forward(self, x):
        return x + self.act(self.fc(x))


def sigmoid_stack(d=32, depth=10, out=10):
    layers = []
    for _ in range(depth - 1):
        layers += [nn.Linear(d, d), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(d, out))


def residual_stack(d=32, depth=10, out=10):
    return nn.Sequential(nn.Linear(d, d), nn.ReLU(), *[Residual(d) for _ in range(depth - 2)],
                         nn.Linear(d, out))


def _data():
    x, y = rg.randn(64, 32), rg.randn(64, 10)
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]


def _hand_loop(model, epochs=3, lr=0.05, poison=None):
    """A tiny training loop that drives the callback the way fit() does."""
    h = GradientHealth()
    params = list(model.parameters())
    st = SimpleNamespace(model=model, optimizer=None, loss_fn=None, epoch=0, batch=0, step=0,
                         loss=float("nan"), logs={}, history=None, stop_training=False,
                         is_main=True)
    h.on_train_begin(st)
    for e in range(epochs):
        st.epoch = e
        h.on_epoch_begin(st)
        for i, (x, y) in enumerate(_data()):
            st.batch = i
            for p in params:
                p.grad = None
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            if poison is not None:
                poison.grad.data[0, 0] = np.nan
            st.loss = float(loss.item())
            h.on_after_backward(st)
            with rg.no_grad():
                for p in params:
                    p.data -= lr * np.nan_to_num(p.grad.data)
            h.on_batch_end(st)
            st.step += 1
        st.logs = {"loss": st.loss}
        h.on_epoch_end(st)
    h.on_train_end(st)
    return h


def test_sigmoid_stack_vanishes_and_residual_relu_does_not(tmp_path):
    sig = _hand_loop(sigmoid_stack())
    res = _hand_loop(residual_stack())
    assert len(sig.history) == 3 and len(res.history) == 3
    assert "0" in sig.flagged("vanishing")             # the input-side layer
    assert "18" not in sig.flagged("vanishing")        # the output layer is fine
    assert res.flagged("vanishing") == [] and res.flagged("exploding") == []
    # the gradient shrinks monotonically towards the input in the sigmoid stack ...
    norms = [r["grad_norm"] for r in sig.history[-1]["layers"].values()]
    assert all(a < b for a, b in zip(norms, norms[1:]))
    assert norms[0] / norms[-1] < 1e-6
    # ... and stays within two orders of magnitude with residual connections
    rnorms = [r["grad_norm"] for r in res.history[-1]["layers"].values()]
    assert min(rnorms) / max(rnorms) > 1e-2
    # the ReLUs were watched: a dead fraction is recorded for the residual blocks' layers
    assert np.isfinite(res.history[-1]["layers"]["2.fc"]["dead_relu"])
    # update/weight ratio: an SGD step moved every layer by lr * |g| / |W|
    r = sig.history[-1]["layers"]["18"]
    assert 0 < r["update_ratio"] < 1
    text = str(sig)
    assert "vanishing" in text and max(len(s) for s in text.split("\n")) <= 100
    png = sig.plot(str(tmp_path / "health.png"))
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 300 and np.mean(img[..., :3] < 0.9) > 0.02


def test_nan_gradients_are_counted_and_flag_exploding():
    model = nn.Sequential(nn.Linear(32, 8), nn.Sigmoid(), nn.Linear(8, 10))
    h = _hand_loop(model, epochs=1, poison=model[2].weight)
    rec = h.history[0]["layers"]["2"]
    assert rec["nonfinite"] == 4 and "exploding" in rec["flags"]


def test_as_a_fit_callback():
    from retrograd.data import DataLoader, TensorDataset
    from retrograd.train import fit

    x, y = rg.randn(64, 32).numpy(), rg.randn(64, 10).numpy()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    h = GradientHealth()
    for model, vanishes in ((sigmoid_stack(), True), (residual_stack(), False)):
        h = GradientHealth()
        opt = rg.optim.SGD(model.parameters(), lr=0.05)
        fit(model, nn.MSELoss(), opt, loader, epochs=2, callbacks=[h], metrics=(),
            progress=False)
        assert [e["epoch"] for e in h.history] == [0, 1]
        assert ("0" in h.flagged("vanishing")) is vanishes
        assert h.flagged("exploding") == []
    assert h._handles == []  # hooks removed at the end of training


def test_gradient_health_function_trains_and_records():
    h = rg.explain.gradient_health(sigmoid_stack(), lambda o, t: ((o - t) ** 2).mean(),
                                   _data(), epochs=2)
    assert len(h.history) == 2 and "0" in h.flagged("vanishing")
    assert len(h.series("0", "grad_norm")) == 2
