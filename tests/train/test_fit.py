"""fit(): the loop's contract (hooks, zeroed gradients, metrics, NaN stop, early stopping,
schedulers, flat memory)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import retrograd as rg
from conftest import require_module
from retrograd import nn, optim
from retrograd.data import DataLoader, TensorDataset
from retrograd.train import (
    Callback,
    EarlyStopping,
    History,
    NonFiniteLossError,
    accuracy,
    evaluate,
    fit,
)


def blobs(n=200, seed=0):
    """Three well-separated Gaussian blobs in 4-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=np.float32)
    X = (centers[y] + rng.normal(scale=0.5, size=(n, 4))).astype(np.float32)
    return X, y.astype(np.int64)


def small_model():
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))


def test_fit_learns_and_returns_history():
    X, y = blobs()
    model = small_model()
    loader = DataLoader(TensorDataset(X, y), batch_size=20, shuffle=True, seed=0)
    val = DataLoader(TensorDataset(*blobs(60, seed=1)), batch_size=32)
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.2), loader,
            val_loader=val, epochs=5, progress=False)
    assert isinstance(h, History) and len(h) == 5
    assert h.keys() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"]
    assert h["epoch"] == [1, 2, 3, 4, 5]
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_accuracy"][-1] >= 0.95 and h["accuracy"][-1] >= 0.9
    assert h["lr"] == [0.2] * 5
    assert all(isinstance(v, float) for v in h["loss"])
    # the val numbers are exactly what evaluate() says about the final model
    again = evaluate(model, val, nn.CrossEntropyLoss())
    assert again["accuracy"] == h["val_accuracy"][-1]
    assert again["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-6)
    assert model.training  # back in training mode after validation
    with pytest.raises(KeyError, match="no column 'nope'"):
        h["nope"]
    assert h.best("val_loss")["epoch"] in range(1, 6)


def test_epoch_loss_and_accuracy_are_sample_weighted_means():
    X, y = blobs(50)
    model = small_model()
    seen = []

    class Record(Callback):
        def on_batch_end(self, state):
            seen.append((state.loss, len(state.target) if state.target is not None else 0))

    class Keep(Callback):
        def on_after_backward(self, state):
            seen_acc.append(accuracy(state.output.data, state.target.data))

    seen_acc = []
    loader = DataLoader(TensorDataset(X, y), batch_size=16)  # 16, 16, 16, 2
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), loader,
            epochs=1, callbacks=[Record(), Keep()], progress=False)
    sizes = [16, 16, 16, 2]
    assert len(seen) == 4
    assert h["loss"][0] == pytest.approx(sum(v * s for (v, _), s in zip(seen, sizes)) / 50)
    assert h["accuracy"][0] == sum(c for c, _ in seen_acc) / 50


def test_hook_order_and_gradients_zeroed_every_step():
    """With lr=0 and one fixed full batch, every step's gradient must be the same: a
    gradient that was not zeroed would double."""
    X, y = blobs(32)
    model = small_model()
    events, grads, before = [], [], []

    class Spy(Callback):
        def on_train_begin(self, s):
            events.append("train_begin")

        def on_epoch_begin(self, s):
            events.append(f"epoch_begin {s.epoch}")

        def on_after_backward(self, s):
            events.append(f"after_backward {s.epoch}.{s.batch} step {s.step}")
            grads.append(model[0].weight.grad.numpy().copy())
            before.append(model[0].weight.numpy().copy())

        def on_batch_end(self, s):
            events.append(f"batch_end {s.epoch}.{s.batch} step {s.step}")

        def on_epoch_end(self, s):
            events.append(f"epoch_end {s.epoch} {sorted(s.logs)}")

        def on_train_end(self, s):
            events.append("train_end")

    opt = optim.SGD(model.parameters(), lr=0.0)
    fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TensorDataset(X, y), batch_size=32),
        epochs=2, callbacks=[Spy()], progress=False, metrics=())
    assert events == [
        "train_begin", "epoch_begin 0", "after_backward 0.0 step 0", "batch_end 0.0 step 1",
        "epoch_end 0 ['epoch', 'loss', 'lr', 'time']", "epoch_begin 1",
        "after_backward 1.0 step 1", "batch_end 1.0 step 2",
        "epoch_end 1 ['epoch', 'loss', 'lr', 'time']", "train_end"]
    np.testing.assert_array_equal(grads[0], grads[1])
    assert np.abs(grads[0]).sum() > 0


def test_after_backward_sees_grads_before_the_step():
    X, y = blobs(32)
    model = small_model()
    snap = {}

    class Spy(Callback):
        def on_after_backward(self, s):
            snap["w"] = model[0].weight.numpy().copy()
            snap["g"] = model[0].weight.grad.numpy().copy()

        def on_batch_end(self, s):
            snap["after"] = model[0].weight.numpy().copy()

    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5),
        DataLoader(TensorDataset(X, y), batch_size=32), epochs=1, callbacks=[Spy()],
        progress=False)
    np.testing.assert_allclose(snap["after"], snap["w"] - 0.5 * snap["g"], rtol=1e-6)


def test_nan_loss_stops_with_epoch_and_batch():
    X, y = blobs(64)
    model = small_model()
    calls = {"n": 0}
    ce = nn.CrossEntropyLoss()

    def loss_fn(out, target):
        calls["n"] += 1
        loss = ce(out, target)
        return loss * float("nan") if calls["n"] == 7 else loss  # epoch 2, batch 3

    class Snap(Callback):
        def on_batch_end(self, s):
            self.w = model[0].weight.numpy().copy()

    snap = Snap()
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2, batch 3 \(step 7\)"):
        fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(X, y), batch_size=16), epochs=3, callbacks=[snap],
            progress=False)
    np.testing.assert_array_equal(model[0].weight.numpy(), snap.w)  # no update with NaN

    def inf_loss(out, target):
        return ce(out, target) + float("inf")

    with pytest.raises(NonFiniteLossError, match="loss is inf at epoch 1, batch 1"):
        fit(model, inf_loss, optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(X, y), batch_size=16), epochs=1, progress=False)


def test_early_stopping_and_restore_best_weights():
    X, y = blobs(64)
    model = small_model()
    best = {}

    class Noisy(Callback):
        # val_loss is forced to improve at epochs 1, 2 then get worse
        def on_epoch_end(self, s):
            s.logs["val_loss"] = [3.0, 2.0, 2.5, 2.6, 2.7, 2.8, 2.9][s.epoch]
            if s.epoch == 1:
                best["w"] = model[0].weight.numpy().copy()

    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(X, y), batch_size=16), epochs=7,
            callbacks=[Noisy(), es], progress=False)
    assert len(h) == 5 and es.stopped_epoch == 5 and es.best_epoch == 2 and es.best == 2.0
    np.testing.assert_array_equal(model[0].weight.numpy(), best["w"])
    with pytest.raises(KeyError, match="pass val_loader"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(X, y), batch_size=16), epochs=1,
            callbacks=[EarlyStopping()], progress=False)
    assert EarlyStopping(monitor="val_accuracy").mode == "max"


def test_scheduler_steps_once_per_epoch():
    X, y = blobs(32)
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    h = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TensorDataset(X, y), batch_size=8),
            epochs=5, scheduler=sched, progress=False)
    assert h["lr"] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_custom_metric_and_bad_arguments():
    X, y = blobs(32)
    model = small_model()

    def top1_errors(out, target):
        return float(np.sum(out.argmax(1) != target)), len(target)

    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(X, y), batch_size=8), epochs=1, progress=False,
            metrics=["accuracy", top1_errors])
    assert h["accuracy"][0] + h["top1_errors"][0] == pytest.approx(1.0)
    loader = DataLoader(TensorDataset(X, y), batch_size=8)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, metrics=["f1"], progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=-1, progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        fit(model, nn.CrossEntropyLoss(), object(), loader, progress=False)


def test_progress_bar_shows_epochs(capsys):
    require_module("tqdm")
    X, y = blobs(32)
    model = small_model()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        DataLoader(TensorDataset(X, y), batch_size=8), epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "4/4" in err and "accuracy=" in err
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        DataLoader(TensorDataset(X, y), batch_size=8), epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _live(cls) -> int:
    # type(o), not isinstance: some modules (torch) warn when their proxies are probed
    return sum(1 for o in gc.get_objects() if issubclass(type(o), cls))


def test_memory_stays_flat_over_10000_steps():
    """No graph, gradient or loss Tensor outlives its step."""
    from retrograd.autograd.function import Function

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    marks = {}

    class Probe(Callback):
        def on_batch_end(self, s):
            if s.step in (500, 10_000):
                gc.collect()
                marks[s.step] = (_live(rg.Tensor), _live(Function), _rss_bytes())

    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
            DataLoader(TensorDataset(X, y), batch_size=1), epochs=1, callbacks=[Probe()],
            progress=False)
    assert len(marks) == 2 and h["accuracy"][0] > 0.9
    (t0, f0, r0), (t1, f1, r1) = marks[500], marks[10_000]
    assert t1 - t0 <= 2, f"live Tensors grew from {t0} to {t1} over 9,500 steps"
    assert f1 - f0 <= 2, f"live graph nodes grew from {f0} to {f1} over 9,500 steps"
    assert r1 - r0 < 4 * 2**20, f"RSS grew by {(r1 - r0) / 2**20:.1f} MiB over 9,500 steps"
