"""docs/make_docs.py regenerates the explainer documents from the tool's own output."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCS = os.path.join(ROOT, "docs")


def test_make_docs_regenerates_every_document(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"), MPLBACKEND="Agg")
    res = subprocess.run([sys.executable, os.path.join(DOCS, "make_docs.py"), "--out",
                          str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    names = ["README.md", "topological-order.md", "gradient-accumulation.md",
             "leaf-vs-intermediate.md", "nan-loss.md", "train-vs-eval.md",
             "gradient-health.md"]
    got = {n: (tmp_path / n).read_text(encoding="utf-8") for n in names}
    # what each document claims is what the tool printed
    assert "3     b = Mul  a        4       3" in got["topological-order.md"]
    assert "a     2      4 + 6 + 6                16     1" in got["topological-order.md"]
    assert "after backward (2 traced calls)" in got["gradient-accumulation.md"]
    assert "intermediate z.grad: None" in got["leaf-vs-intermediate.md"]
    assert "BP4 check δ aᵀ == ∂C/∂W: [True, True]" in got["leaf-vs-intermediate.md"]
    assert "loss = nan" in got["nan-loss.md"] and "[nan, 0.25]  [0, 0.25]" in got["nan-loss.md"]
    assert "eval:  ops ['Sum']" in got["train-vs-eval.md"]
    assert "vanishing" in got["gradient-health.md"]
    assert (tmp_path / "img" / "health-sigmoid.png").stat().st_size > 10000
    # the committed documents exist and show the same code
    for n in names:
        committed = open(os.path.join(DOCS, n), encoding="utf-8").read()
        code = [b for b in got[n].split("```python")[1:]]
        assert all(c.split("```")[0] in committed for c in code), n


def test_readme_links_the_docs():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "docs/README.md" in readme
