"""A tiny document model (headings, paragraphs, tables, code, collapsible groups) and its
three renderers: plain text (fits 100 columns), Markdown and a self-contained HTML page.

Every view of the explain layer (layer view, gate view, comparison, gradient health) builds
a list of :class:`Block` once; the renderers only lay it out, so the three formats always
show the same numbers.
"""

from __future__ import annotations

import html as _html
import textwrap
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

WIDTH = 100  # text output never exceeds this many columns


@dataclass
class Block:
    """One element of a rendered document.

    ``kind`` is ``"h1"``, ``"h2"``, ``"h3"``, ``"p"`` (wrapped prose), ``"pre"`` (verbatim),
    ``"table"`` (``headers`` and ``rows`` of strings, a cell may hold several lines),
    ``"group"`` (a collapsible section: ``text`` is its summary, ``children`` its content,
    ``open`` whether it starts expanded) or ``"svg"`` (inline picture, HTML only).
    """

    kind: str
    text: str = ""
    headers: Sequence[str] | None = None
    rows: Sequence[Sequence[str]] | None = None
    children: list["Block"] = field(default_factory=list)
    open: bool = True


# ---------------------------------------------------------------------- numbers


def fmt_num(v: Any, digits: int = 6) -> str:
    """A number with ``digits`` significant digits (``-0`` shown as ``0``)."""
    v = float(v)
    if v == 0:
        return "0"
    if not np.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}"


def fmt_array(a: Any, digits: int = 6, max_items: int = 8, shape: bool = False) -> str:
    """Values of a small array in full (one line per row of a matrix); a large one as a few
    values and its mean and largest magnitude (prefixed by its shape if ``shape``)."""
    if a is None:
        return "-"
    arr = np.asarray(a)
    if arr.ndim == 0 or arr.size == 1:
        return fmt_num(arr.reshape(-1)[0], digits)
    if arr.size <= max_items:
        if arr.ndim == 1:
            return "[" + ", ".join(fmt_num(v, digits) for v in arr) + "]"
        rows = arr.reshape(-1, arr.shape[-1])
        return "\n".join("[" + ", ".join(fmt_num(v, digits) for v in r) + "]" for r in rows)
    flat = arr.reshape(-1)
    head = ", ".join(fmt_num(v, min(digits, 4)) for v in flat[:3])
    finite = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    stats = ""
    if finite.size:
        stats = (f" mean={fmt_num(finite.mean(), 4)} max|.|={fmt_num(np.abs(finite).max(), 4)}")
    bad = flat.size - finite.size
    if bad:
        stats += f" non-finite={bad}"
    pre = f"{arr.shape}: " if shape else ""
    return f"{pre}[{head}, ...]\n{stats.strip()}"


def fmt_shape(a: Any) -> str:
    if a is None:
        return "-"
    return str(tuple(np.shape(a)))


# ---------------------------------------------------------------------- text


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 0
                ) -> list[str]:
    cells = [[str(c).split("\n") for c in row] for row in rows]
    ncol = len(headers)
    widths = [len(h) for h in headers]
    for row in cells:
        for j, lines in enumerate(row):
            widths[j] = max(widths[j], max(len(x) for x in lines))
    # Fit 100 columns: shrink the widest columns first (their cells get an ellipsis).
    budget = WIDTH - indent - 2 * (ncol - 1)
    while sum(widths) > budget:
        j = int(np.argmax(widths))
        if widths[j] <= 8:
            break
        widths[j] -= 1

    def clip(s: str, w: int) -> str:
        return s if len(s) <= w else s[: w - 1] + "~"

    def wrap(lines: list, w: int) -> list:
        out = []
        for s in lines:
            out.extend(textwrap.wrap(s, w, break_on_hyphens=False) if len(s) > w else [s])
        return out

    pad = " " * indent
    out = [pad + "  ".join(clip(h, w).ljust(w) for h, w in zip(headers, widths)).rstrip(),
           pad + "  ".join("-" * w for w in widths)]
    cells = [[wrap(lines, w) for lines, w in zip(row, widths)] for row in cells]
    for row in cells:
        height = max(len(lines) for lines in row)
        for k in range(height):
            parts = []
            for j, lines in enumerate(row):
                s = lines[k] if k < len(lines) else ""
                parts.append(clip(s, widths[j]).ljust(widths[j]))
            out.append(pad + "  ".join(parts).rstrip())
    return out


def render_text(blocks: Sequence[Block], indent: int = 0) -> str:
    """Plain text: aligned tables, prose wrapped at 100 columns."""
    out: list[str] = []
    pad = " " * indent
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            if out:
                out.append("")
            out.append(pad + b.text)
            under = {"h1": "=", "h2": "-", "h3": ""}[b.kind]
            if under:
                out.append(pad + under * min(len(b.text), WIDTH - indent))
        elif b.kind == "p":
            out.extend(textwrap.wrap(b.text, WIDTH - indent, initial_indent=pad,
                                     subsequent_indent=pad, break_on_hyphens=False) or [""])
        elif b.kind == "pre":
            out.extend(pad + line for line in b.text.split("\n"))
        elif b.kind == "table":
            out.extend(_text_table(b.headers or [], b.rows or [], indent))
        elif b.kind == "group":
            out.append("")
            out.append(pad + ("[-] " if b.open else "[+] ") + b.text)
            if b.open:
                out.append(render_text(b.children, indent + 4))
        # "svg" has no text form
    return "\n".join(out)


# ---------------------------------------------------------------------- markdown


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", "<br>")


def render_markdown(blocks: Sequence[Block], level: int = 0) -> str:
    """GitHub-flavoured Markdown (tables as pipe tables, groups as ``<details>``)."""
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            n = min(6, int(b.kind[1]) + level)
            out.append("#" * n + " " + b.text + "\n")
        elif b.kind == "p":
            out.append(b.text + "\n")
        elif b.kind == "pre":
            out.append("```\n" + b.text + "\n```\n")
        elif b.kind == "table":
            hs = b.headers or []
            out.append("| " + " | ".join(_md_cell(h) for h in hs) + " |")
            out.append("|" + "|".join("---" for _ in hs) + "|")
            for row in b.rows or []:
                out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            out.append("")
        elif b.kind == "group":
            out.append(f"<details{' open' if b.open else ''}><summary>"
                       f"{_html.escape(b.text)}</summary>\n")
            out.append(render_markdown(b.children, level + 1))
            out.append("</details>\n")
    return "\n".join(out)


# ---------------------------------------------------------------------- html

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em;
       color: #1b1b1b; background: #ffffff; max-width: 1200px; }
h1 { border-bottom: 3px solid #2b6cb0; padding-bottom: .2em; }
h2 { color: #2b6cb0; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 14px; }
th { background: #2b6cb0; color: #fff; text-align: left; padding: 4px 10px; }
td { border: 1px solid #c9d6e8; padding: 4px 10px; vertical-align: top;
     font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre; }
tr:nth-child(even) td { background: #eef4fb; }
pre { background: #f3f5f8; border-left: 4px solid #2b6cb0; padding: .6em 1em; }
details { margin: .4em 0 .4em 1em; }
summary { cursor: pointer; font-weight: 600; }
"""


def _html_blocks(blocks: Sequence[Block]) -> str:
    esc = _html.escape
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"<{b.kind}>{esc(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{esc(b.text)}</p>")
        elif b.kind == "pre":
            out.append(f"<pre>{esc(b.text)}</pre>")
        elif b.kind == "table":
            out.append("<table><thead><tr>"
                       + "".join(f"<th>{esc(h)}</th>" for h in b.headers or [])
                       + "</tr></thead><tbody>")
            for row in b.rows or []:
                out.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>")
            out.append("</tbody></table>")
        elif b.kind == "group":
            out.append(f"<details{' open' if b.open else ''}><summary>{esc(b.text)}</summary>")
            out.append(_html_blocks(b.children))
            out.append("</details>")
        elif b.kind == "svg":
            out.append(f"<div class=\"graph\">{_strip_xml_prolog(b.text)}</div>")
    return "\n".join(out)


def _strip_xml_prolog(svg: str) -> str:
    """An SVG file made fit to inline in HTML5: no XML prolog, DOCTYPE, comments or namespace
    declarations (inline SVG needs none, and the page then names no URL at all)."""
    import re

    i = svg.find("<svg")
    svg = svg[i:] if i >= 0 else svg
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)


def render_html(blocks: Sequence[Block], title: str = "retrograd explain") -> str:
    """A complete, self-contained HTML page: inline CSS, no scripts, no external URLs."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + _html_blocks(blocks) + "\n</body>\n</html>\n")


def render(blocks: Sequence[Block], fmt: str = "text", title: str = "retrograd explain"
           ) -> str:
    """Render blocks as ``"text"``, ``"markdown"`` or ``"html"``."""
    if fmt == "text":
        return render_text(blocks)
    if fmt in ("markdown", "md"):
        return render_markdown(blocks)
    if fmt == "html":
        return render_html(blocks, title)
    raise ValueError(f"render: unknown format {fmt!r}; choose text, markdown or html")


class Renderable:
    """Mixin: an object that builds blocks gets ``str()``, ``to_markdown()``, ``to_html()``
    and a notebook representation."""

    title = "retrograd explain"

    def blocks(self) -> list[Block]:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self, fmt: str = "text") -> str:
        return render(self.blocks(), fmt, self.title)

    def to_text(self) -> str:
        return self.render("text")

    def to_markdown(self) -> str:
        return self.render("markdown")

    def to_html(self) -> str:
        return self.render("html")

    def _repr_html_(self) -> str:
        return _html_blocks(self.blocks())

    def __str__(self) -> str:
        return self.render("text")
