"""The checkout itself: no merge leftovers in tracked text files."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _tracked_files() -> list[pathlib.Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an sdist or a copied tree)")
    return [ROOT / line for line in out.splitlines()]


def test_no_merge_conflict_markers():
    # Parallel branches merge often here; a marker committed by mistake once reached main.
    bad = []
    for path in _tracked_files():
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".cfg", ".sh", ""}:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for no, line in enumerate(lines, 1):
            # (a lone "=======" is also a Markdown heading underline, so only the ends count)
            if line.startswith(("<<<<<<< ", ">>>>>>> ")):
                bad.append(f"{path.relative_to(ROOT)}:{no}: {line}")
    assert not bad, "conflict markers:\n" + "\n".join(bad)
