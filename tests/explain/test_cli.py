"""`retrograd explain` through its add_parser/run interface."""

import argparse
import os
import subprocess
import sys

import pytest

from retrograd.explain import cli

try:
    from tests.conftest import require_program
except ImportError:  # pytest run from outside the checkout: tests/ is on sys.path
    from conftest import require_program

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="retrograd")
    sub = parser.add_subparsers(dest="command")
    cli.add_parser(sub)
    args = parser.parse_args(["explain", *argv])
    code = cli.run(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_no_arguments_prints_the_seed_003_numbers(capsys):
    code, out, err = _run([], capsys)
    assert code == 0, err
    # published in 003_04d51d4a1cadf258.txt (shown to 15 significant digits)
    for v in ["0.645656306225795", "0.661503159202952", "1.37973004863467",
              "0.798947641377971", "0.839048028334256", "0.12672890240521",
              "-0.0203855255515853", "0.0112320669546005", "0.0133743046513296",
              "0.0818233150189974", "0.00112320669546005"]:
        assert v in out, v
    assert "[-4, -4, 3]" in out
    assert max(len(line) for line in out.split("\n")) <= 100


def test_layers_options_batch_average(capsys):
    code, out, err = _run(["--layers", "2,2,3", "--activation", "sigmoid", "--loss", "mse",
                           "--samples", "100"], capsys)
    assert code == 0, err
    assert "Network 2-2-3" in out and "A batch of 100 samples" in out and "AVERAGE" in out
    assert "(100, 3)" in out and "NO" not in out.split("Checks")[-1]


def test_per_sample_and_markdown_to_file(capsys, tmp_path):
    out_file = tmp_path / "r.md"
    code, out, err = _run(["--layers", "3,4,2", "--samples", "5", "--sample", "2",
                           "--format", "markdown", "--out", str(out_file)], capsys)
    assert code == 0, err
    md = out_file.read_text(encoding="utf-8")
    assert "One sample (index 2)" in md and md.startswith("Model:")


def test_html_with_graph(capsys, tmp_path):
    require_program("dot")
    out_file = tmp_path / "r.html"
    code, out, err = _run(["--format", "html", "--graph", str(tmp_path / "g.svg"),
                           "--out", str(out_file)], capsys)
    assert code == 0, err
    page = out_file.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "http" not in page and "xlink:href" not in page  # self-contained, graph included
    assert (tmp_path / "g.svg").exists()


@pytest.mark.parametrize("argv, msg", [
    (["--layers", "2,x"], "--layers"),
    (["--layers", "3"], "--layers"),
    (["--layers", "2,2", "--activation", "swish"], "--activation"),
    (["--layers", "2,2", "--samples", "3", "--sample", "7"], "--sample"),
    (["--checkpoint", "/nonexistent/ckpt"], "--checkpoint"),
    (["--layers", "2,2", "--graph", "g.bmp"], "--graph"),
    (["--samples", "10"], "--layers"),
    (["--layers", "2,2", "--digits", "0"], "--digits"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, msg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and msg in err and "Traceback" not in err


def test_module_runs_as_a_program():
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    res = subprocess.run([sys.executable, "-m", "retrograd.explain.cli", "--layers", "2,2"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "BP4" in res.stdout


def test_through_the_retrograd_command(capsys):
    from retrograd import cli as main_cli

    code = main_cli.main(["explain", "--layers", "2,3,2", "--samples", "4"])
    out = capsys.readouterr().out
    assert code == 0 and "Network 2-3-2" in out


def test_checkpoint_of_a_trained_model(capsys, tmp_path):
    from retrograd import cli as main_cli

    run_dir = tmp_path / "run"
    assert main_cli.main(["train", "--epochs", "1", "--hidden", "16", "--out", str(run_dir),
                          "--no-progress"]) == 0
    capsys.readouterr()
    code, out, err = _run(["--checkpoint", str(run_dir), "--samples", "8"], capsys)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "Network 64-16-10" in flat and "the first 8 sample(s) of digits" in flat
    assert "NO" not in out.split("Checks")[-1]
