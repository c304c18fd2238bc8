"""The `retrograd` command: train, evaluate, resume, plugins, and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import retrograd as rg
from retrograd import cli

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=SRC)
    env.pop("RETROGRAD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "retrograd", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def _accuracy(stdout: str) -> float:
    m = re.search(r"test accuracy: ([0-9.]+)", stdout)
    assert m, stdout
    return float(m.group(1))


@pytest.mark.slow
def test_train_with_no_options_then_evaluate(tmp_path):
    """`retrograd train` with its defaults (only the run folder is chosen here)."""
    r = run_cli("train", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    acc = _accuracy(r.stdout)
    assert acc >= 0.97
    assert "epoch 30/30" in r.stderr  # the progress bar
    run = tmp_path / "run"
    png = (run / "learning_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (run / "checkpoints" / "epoch-0030" / "model.safetensors").is_file()
    assert (run / "history.json").is_file()
    r2 = run_cli("evaluate", str(run))
    assert r2.returncode == 0, r2.stderr
    assert _accuracy(r2.stdout) == acc


def test_default_run_folder_is_named_and_timestamped(tmp_path, capsys):
    os.chdir(tmp_path)
    assert cli.main(["train", "--epochs", "1", "--hidden", "8", "--no-progress"]) == 0
    out = capsys.readouterr().out
    runs = os.listdir(tmp_path / "retrograd-runs")
    assert len(runs) == 1 and re.fullmatch(r"\d{8}-\d{6}", runs[0])
    assert f"retrograd-runs/{runs[0]}" in out


def test_resume_continues_the_run_exactly(tmp_path, capsys):
    common = ["--epochs", "3", "--hidden", "16", "--no-progress", "--optimizer", "momentum",
              "--seed", "4"]
    assert cli.main(["train", "--out", str(tmp_path / "a"), *common]) == 0
    assert cli.main(["train", "--out", str(tmp_path / "b"), *common]) == 0
    capsys.readouterr()
    ck = tmp_path / "b" / "checkpoints"
    import shutil

    shutil.rmtree(ck / "epoch-0003")  # as if the run had died during epoch 3
    assert cli.main(["train", "--resume", str(ck / "epoch-0002"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "3 epochs" in out
    a = rg.load(str(tmp_path / "a" / "checkpoints" / "epoch-0003" / "model.safetensors"))
    b = rg.load(str(ck / "epoch-0003" / "model.safetensors"))
    for k in a:
        assert np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes(), k


def test_mnist_t10k_only_is_split(mnist_dir, tmp_path, capsys):
    code = cli.main(["train", "--dataset", "mnist", "--root", mnist_dir, "--epochs", "1",
                     "--hidden", "32", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "first 8,000 for training, the last 2,000 for testing" in out
    assert _accuracy(out) > 0.8
    assert cli.main(["evaluate", str(tmp_path)]) == 0
    assert "2000 test images" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["train", "--lr", "-1"], "--lr: expected a positive number, got '-1'"),
    (["train", "--hidden", "12,x"], "comma-separated layer sizes"),
    (["train", "--model", "nope"], "invalid choice: 'nope'"),
    (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["train", "--epochs", "abc"], "--epochs: expected an integer >= 0"),
    (["train", "--batch-size", "0"], "--batch-size: expected a positive integer"),
    (["train", "--dataset", "mnist"], "--dataset mnist needs --root DIR"),
    (["train", "--dataset", "mnist", "--root", "/nonexistent/dir"], "no such folder"),
    (["train", "--resume", "/nonexistent/ck"], "checkpoint '/nonexistent/ck' does not exist"),
    (["evaluate", "/nonexistent/ck"], "does not exist"),
    (["evaluate"], "the following arguments are required: CHECKPOINT"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments_give_one_line_and_exit_2(args, message, capsys):
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("retrograd: error: "), err
    assert message in err
    assert "Traceback" not in err + captured.out


def test_bad_files_give_one_line_and_exit_2(tmp_path, mnist_dir):
    # a checkpoint folder with a corrupt state file
    bad = tmp_path / "ck" / "epoch-0001"
    bad.mkdir(parents=True)
    (bad / "state.json").write_text("{oops")
    r = run_cli("evaluate", str(tmp_path / "ck"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "cannot read state.json" in r.stderr
    # a truncated MNIST file
    root = tmp_path / "mnist"
    root.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        data = open(os.path.join(mnist_dir, name), "rb").read()
        (root / name).write_bytes(data[: len(data) // 2] if "images" in name else data)
    r = run_cli("train", "--dataset", "mnist", "--root", str(root), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "corrupt or truncated" in r.stderr
    # a file that is not a checkpoint at all
    (tmp_path / "notes.txt").write_text("hello")
    r = run_cli("train", "--resume", str(tmp_path / "notes.txt"))
    assert r.returncode == 2 and "is not a retrograd checkpoint" in r.stderr


def test_no_arguments_prints_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "evaluate" in out


def test_plugin_subcommands_are_dispatched(monkeypatch, capsys):
    calls = []
    plugin = types.ModuleType("retrograd.fake.cli")
    plugin.COMMAND = "fake"

    def add_parser(sub):
        p = sub.add_parser("fake", help="a plugged-in command")
        p.add_argument("--n", type=int, default=1)

    def run(args):
        calls.append(args.n)
        return 0

    plugin.add_parser, plugin.run = add_parser, run
    monkeypatch.setattr(cli, "_plugins", lambda: [plugin])
    assert cli.main(["fake", "--n", "3"]) == 0 and calls == [3]
    assert cli.main(["fake", "--n", "x"]) == 2


def test_nan_loss_is_reported_in_one_line(tmp_path, capsys):
    code = cli.main(["train", "--lr", "1e30", "--optimizer", "sgd", "--epochs", "2",
                     "--no-progress", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert re.search(r"loss is (nan|inf) at epoch \d+, batch \d+", err)
