"""Renderers: text width, Markdown, self-contained HTML (opened in headless Chromium) and
Graphviz DOT (rendered with dot -Tsvg)."""

import html
import os
import re
import subprocess
from html.parser import HTMLParser

import numpy as np

import retrograd as rg
from retrograd import nn
from retrograd.explain import examples

try:
    from tests.conftest import require_program
except ImportError:  # pytest run from outside the checkout: tests/ is on sys.path
    from conftest import require_program


def _seed_view():
    x, y, loss = examples.inputs()
    return rg.explain.backprop(examples.model(), x, y, loss, digits=15)


def _gate_trace():
    x = rg.tensor(-2.0, requires_grad=True)
    y = rg.tensor(5.0, requires_grad=True)
    z = rg.tensor(-4.0, requires_grad=True)
    q = x + y
    f = q * z
    return rg.explain.trace(f)


class _Checker(HTMLParser):
    """Collects tags, checks nesting, and every URL-bearing attribute."""

    VOID = {"meta", "br", "img", "link", "input", "hr", "col", "path", "polygon", "ellipse",
            "polyline", "text", "title", "g", "svg", "stop"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.urls, self.errors = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href") and v:
                self.urls.append(v)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def test_text_fits_100_columns_and_summarises_large_arrays():
    m = nn.Sequential(nn.Linear(30, 40), nn.ReLU(), nn.Linear(40, 10))
    v = rg.explain.backprop(m, rg.randn(50, 30), rg.randn(50, 10),
                            lambda o, t: ((o - t) ** 2).mean())
    text = str(v)
    assert max(len(line) for line in text.split("\n")) <= 100
    assert "(50, 40)" in text and "mean=" in text and "max|.|=" in text
    assert "..." in text  # a few values, not 2000


def test_markdown_has_headings_and_pipe_tables():
    md = _seed_view().to_markdown()
    assert md.startswith("# Backpropagation, layer by layer")
    assert "| quantity | shape | equation | value |" in md
    assert "BP4" in md and "0.0818233150189974" in md


def _html_page():
    view, published = examples.worked_example(15)
    blocks = _gate_trace().blocks() + view.blocks() + published
    return rg.explain.render(blocks, "html")


def test_html_is_a_valid_self_contained_page():
    page = _html_page()
    assert page.startswith("<!DOCTYPE html>")
    p = _Checker()
    p.feed(page)
    p.close()
    assert not p.errors, p.errors
    assert not p.stack, p.stack
    assert p.tags[:4] == ["html", "head", "meta", "title"]
    assert "table" in p.tags and "style" in p.tags
    assert "script" not in p.tags and "link" not in p.tags
    assert p.urls == []
    assert not re.search(r"(https?:)?//[a-z]", page.replace("<!DOCTYPE", ""), re.I)
    assert "0.12672890240521" in page and "multiply swaps" in page


def _nonwhite_fraction(png):
    import matplotlib.image as mpimg

    img = mpimg.imread(png)[..., :3]
    return float(np.mean(np.any(img < 0.9, axis=-1))), img


def test_html_renders_in_headless_chromium(tmp_path):
    chromium = require_program("chromium")
    page = tmp_path / "explain.html"
    page.write_text(_html_page(), encoding="utf-8")
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
           "--window-size=1200,900", f"file://{page}"]
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.exists(), "chromium wrote no screenshot"
    frac, img = _nonwhite_fraction(str(shot))
    assert img.shape[0] >= 800 and img.shape[1] >= 1100
    # the tables' header rows are filled blue: a blank or unstyled page has none of it
    blue = np.mean((img[..., 2] > 0.55) & (img[..., 0] < 0.35))
    assert frac > 0.03, f"screenshot looks blank ({frac:.3%} non-white)"
    assert blue > 0.005, f"no table headers visible ({blue:.3%} blue)"


def test_dot_labels_edges_with_value_and_gradient_and_renders(tmp_path):
    tr = _gate_trace()
    src = tr.to_dot()
    assert src.startswith("digraph")
    # edge x -> q = Add carries x's value -2 and the gradient -4 sent back to x
    assert re.search(r'l\d+ -> n1 \[label="value -2\\ngrad -4"\]', src), src
    assert 'label="value 3\\ngrad -4"' in src  # q -> f: value 3, gradient -4
    dot = require_program("dot")
    out = subprocess.run([dot, "-Tsvg"], input=src.encode(), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    svg = html.unescape(out.stdout.decode())
    assert "<svg" in svg and "grad -4" in svg
    path = rg.explain.render_graph(tr, str(tmp_path / "g.svg"))
    assert path.endswith("g.svg") and os.path.getsize(path) > 500
    path = rg.explain.render_graph(tr, str(tmp_path / "g.dot"))
    assert open(path).read() == src


def test_collapsed_dot_has_one_box_per_module(tmp_path):
    model = nn.Sequential(*[m for _ in range(24) for m in (nn.Linear(3, 3), nn.Sigmoid())])
    with rg.explain.watch(model) as w:
        loss = (model(rg.randn(2, 3)) ** 2).sum()
    tr = rg.explain.trace(loss, model=model, watched=w)
    src = tr.to_dot()
    # 48 modules, plus the loss's own ops (outside every module)
    assert src.count("shape=box3d") == 49 and "module <outside modules>" in src
    src2 = tr.to_dot(expand=["3"])
    assert src2.count("shape=box3d") == 48 and "cluster_0" in src2
    dot = require_program("dot")
    out = subprocess.run([dot, "-Tsvg"], input=src2.encode(), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
