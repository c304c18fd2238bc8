"""Checkpoints: exact state round trips, atomic writes, and resuming bit for bit, including
after a training process is killed with SIGKILL in the middle of an epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn, optim
from retrograd.data import DataLoader, TensorDataset
from retrograd.train import (
    CheckpointError,
    EarlyStopping,
    fit,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from retrograd.train.checkpoint import decode, encode

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")


def test_encode_decode_round_trip_keeps_types_and_bits():
    state = {
        "state": {0: {"step": 3, "exp_avg": rg.tensor([1e-30, 2.5], dtype=rg.float64),
                      "m": np.arange(6, dtype=np.float32).reshape(2, 3)}},
        "param_groups": [{"lr": 0.1 + 0.2, "betas": (0.9, 0.999), "params": [0, 1],
                          "nesterov": False, "name": None}],
        "scalar": np.float32(1.25), "nan": float("nan"), "__weird": 1,
        "big": 2**100,
    }
    arrays = {}
    doc = json.loads(json.dumps(encode(state, arrays)))
    back = decode(doc, arrays)
    assert list(back["state"]) == [0]  # int keys stay ints
    t = back["state"][0]["exp_avg"]
    assert isinstance(t, rg.Tensor) and t.dtype == np.float64
    np.testing.assert_array_equal(t.numpy(), [1e-30, 2.5])
    m = back["state"][0]["m"]
    assert m.dtype == np.float32 and m.shape == (2, 3)
    g = back["param_groups"][0]
    assert g["lr"] == 0.1 + 0.2 and g["betas"] == (0.9, 0.999) and g["params"] == [0, 1]
    assert g["nesterov"] is False and g["name"] is None
    assert back["scalar"] == np.float32(1.25) and back["scalar"].dtype == np.float32
    assert np.isnan(back["nan"]) and back["__weird"] == 1 and back["big"] == 2**100
    with pytest.raises(TypeError, match="cannot store a value of type object"):
        encode({"x": object()}, {})


def _setup(seed=0):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(96, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    rg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(X[:32], y[:32]), batch_size=16)
    return model, opt, sched, loader, val


def test_checkpoint_files_and_keep(tmp_path):
    model, opt, sched, loader, val = _setup()
    fit(model, nn.CrossEntropyLoss(), opt, loader, val_loader=val, epochs=3, scheduler=sched,
        checkpoint_dir=str(tmp_path), progress=False)
    assert sorted(os.listdir(tmp_path)) == ["epoch-0002", "epoch-0003"]  # keep=2, no temps
    ck = tmp_path / "epoch-0003"
    assert sorted(os.listdir(ck)) == ["model.safetensors", "state.json", "state.npz"]
    doc = json.loads((ck / "state.json").read_text())
    assert doc["format"] == "retrograd-checkpoint" and doc["epoch"] == 3
    assert doc["state"]["step"] == 18 and len(doc["state"]["history"]) == 3
    with np.load(ck / "state.npz", allow_pickle=False) as npz:  # no pickled objects inside
        assert len(npz.files) >= 4
    weights = rg.load(str(ck / "model.safetensors"))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(np.asarray(weights[k]), v.numpy())
    assert resolve_checkpoint(str(tmp_path)) == str(ck)
    assert resolve_checkpoint(str(ck / "state.json")) == str(ck)


def test_resume_in_process_equals_uninterrupted(tmp_path):
    loss_fn = nn.CrossEntropyLoss()
    model, opt, sched, loader, val = _setup()
    full = fit(model, loss_fn, opt, loader, val_loader=val, epochs=4, scheduler=sched,
               callbacks=[EarlyStopping(monitor="loss", patience=10)], progress=False)
    expected = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched, loader, val = _setup()
    fit(model, loss_fn, opt, loader, val_loader=val, epochs=2, scheduler=sched,
        callbacks=[EarlyStopping(monitor="loss", patience=10)], checkpoint_dir=str(tmp_path),
        progress=False)
    model, opt, sched, loader, val = _setup(seed=123)  # a different start: all must be restored
    es = EarlyStopping(monitor="loss", patience=10)
    resumed = fit(model, loss_fn, opt, loader, val_loader=val, epochs=4, scheduler=sched,
                  callbacks=[es], resume=str(tmp_path), progress=False)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), expected[k], err_msg=k)
    assert resumed["loss"] == full["loss"] and resumed["lr"] == full["lr"]
    assert es.best == min(full["loss"])


def test_resume_errors(tmp_path):
    model, opt, sched, loader, val = _setup()
    with pytest.raises(CheckpointError, match="does not exist"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, resume=str(tmp_path / "nope"),
            progress=False)
    with pytest.raises(CheckpointError, match="no retrograd checkpoint"):
        load_checkpoint(str(tmp_path))
    fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=1, checkpoint_dir=str(tmp_path),
        progress=False)
    with pytest.raises(ValueError,
                       match=r"stateful callbacks \[\], this run has \['EarlyStopping'\]"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=2, resume=str(tmp_path),
            callbacks=[EarlyStopping(monitor="loss")], progress=False)
    (tmp_path / "epoch-0001" / "state.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read state.json"):
        load_checkpoint(str(tmp_path / "epoch-0001"))


def test_save_checkpoint_is_atomic(tmp_path, monkeypatch):
    """A failure while writing leaves the previous checkpoint and no partial folder."""
    from retrograd.train import checkpoint as ckmod

    save_checkpoint(str(tmp_path), 1, {"w": rg.ones(2)}, {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ckmod.np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(str(tmp_path), 2, {"w": rg.ones(2)}, {"a": 2})
    assert os.listdir(tmp_path) == ["epoch-0001"]
    _, state, _ = load_checkpoint(str(tmp_path))
    assert state == {"a": 1}
    # the temporary folder of a writer killed half way is ignored, then tidied up
    (tmp_path / ".epoch-0002.abc123.tmp").mkdir()
    (tmp_path / ".epoch-0002.abc123.tmp" / "model.safetensors").write_bytes(b"partial")
    assert resolve_checkpoint(str(tmp_path)).endswith("epoch-0001")
    monkeypatch.undo()
    save_checkpoint(str(tmp_path), 2, {"w": rg.ones(2)}, {"a": 2})
    assert sorted(os.listdir(tmp_path)) == ["epoch-0001", "epoch-0002"]


TRAIN_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import retrograd as rg
    from retrograd import nn, optim
    from retrograd.data import DataLoader, TensorDataset
    from retrograd.train import Callback, EarlyStopping, fit

    mode, ckdir, out = sys.argv[1:4]

    class Noise(nn.Module):
        # draws from retrograd's generator every step: its state must survive the restart
        def forward(self, x):
            return x + 0.05 * rg.randn(*x.shape) if self.training else x

    class KillPoint(Callback):
        def on_batch_end(self, s):
            if mode == "kill" and s.epoch == 2 and s.batch == 3:
                print("MID-EPOCH", flush=True)
                time.sleep(120)  # the parent kills us here, in the middle of epoch 3

    rng = np.random.default_rng(1)
    X = rng.normal(size=(160, 8)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(np.int64) + (X[:, 3] > 1)
    rg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), Noise(), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=0.02)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    train = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(X[:40], y[:40]), batch_size=20)
    h = fit(model, nn.CrossEntropyLoss(), opt, train, val_loader=val, epochs=5,
            scheduler=sched, progress=False,
            callbacks=[EarlyStopping(monitor="val_loss", patience=50), KillPoint()],
            checkpoint_dir=None if mode == "plain" else ckdir,
            resume=ckdir if mode == "resume" else None)
    rg.save(model.state_dict(), out)
    print("DONE", h["loss"])
""")


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_resume_after_sigkill_mid_epoch_is_bit_identical(tmp_path):
    script = tmp_path / "train_script.py"
    script.write_text(TRAIN_SCRIPT)
    ckdir = tmp_path / "ck"
    plain = _run(script, "plain", str(ckdir), str(tmp_path / "plain.safetensors"))
    victim = _run(script, "kill", str(ckdir), str(tmp_path / "never.safetensors"))
    try:
        line = victim.stdout.readline()
        assert line.strip() == "MID-EPOCH", victim.stderr.read()
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    # epochs 1 and 2 were saved; epoch 3 was cut off half way and left nothing behind
    assert sorted(os.listdir(ckdir)) == ["epoch-0001", "epoch-0002"]
    out_plain, err = plain.communicate(timeout=60)
    assert plain.returncode == 0, err
    resumed = _run(script, "resume", str(ckdir), str(tmp_path / "resumed.safetensors"))
    out_resumed, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert out_resumed.splitlines()[-1] == out_plain.splitlines()[-1]  # same losses per epoch
    a = rg.load(str(tmp_path / "plain.safetensors"))
    b = rg.load(str(tmp_path / "resumed.safetensors"))
    assert sorted(a) == sorted(b)
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), k
    assert sorted(os.listdir(ckdir)) == ["epoch-0004", "epoch-0005"]


def test_checkpoint_every_and_only_on_the_main_process(tmp_path):
    from retrograd.train import Checkpoint

    model, opt, sched, loader, val = _setup()
    fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=5, progress=False,
        callbacks=[Checkpoint(str(tmp_path / "a"), every=2, keep=None)])
    # every 2nd epoch, and always the last one
    assert sorted(os.listdir(tmp_path / "a")) == ["epoch-0002", "epoch-0004", "epoch-0005"]

    class NotMain(Checkpoint):
        def on_epoch_end(self, state):
            state.is_main = False  # as on rank 1 of a distributed job
            super().on_epoch_end(state)

    fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=1, progress=False,
        callbacks=[NotMain(str(tmp_path / "b"))])
    assert not (tmp_path / "b").exists()
    with pytest.raises(ValueError, match="every"):
        Checkpoint(str(tmp_path), every=0)
