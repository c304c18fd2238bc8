"""The computation graph of a :class:`~retrograd.explain.gates.Trace` as Graphviz DOT, each
edge labelled with the value that flows forward and the gradient that flows back along it
(micrograd's ``draw_dot`` / CS231n's circuit diagrams), rendered to SVG or PNG with the
``dot`` program when it is installed (Debian package ``graphviz``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import numpy as np

from ._format import fmt_array, fmt_num


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _v(a: Any, digits: int) -> str:
    """Short edge/node label: a few values, or the shape and largest magnitude."""
    if a is None:
        return "-"
    arr = np.asarray(a)
    if arr.size <= 4:
        return fmt_array(arr, digits, max_items=4).replace("\n", " ")
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    big = fmt_num(np.abs(finite).max(), 3) if finite.size else "nan"
    return f"{arr.shape} max|.| {big}"


def trace_to_dot(tr: Any, expand: Any = None, digits: int | None = None) -> str:
    """DOT source for the traced graph.

    Parameters
    ----------
    tr : Trace
    expand : iterable of str, optional
        Modules drawn node by node when the graph is collapsed (default: ``tr.expand``).
    digits : int, optional
        Significant digits on the labels (default: the trace's, at most 4).
    """
    d = digits or min(tr.digits, 4)
    expand = set(tr.expand if expand is None else expand)
    collapsed = tr.collapsed

    def group(nd: Any) -> str | None:
        if not collapsed:
            return None
        g = nd.module or "<outside modules>"
        return None if g in expand else g

    gid: dict[str, str] = {}

    def gkey(g: str) -> str:
        return gid.setdefault(g, f"g{len(gid)}")

    def key(ref: tuple) -> str:
        if ref[0] == "leaf":
            return f"l{ref[1]}"
        nd = tr.nodes[ref[1]]
        g = group(nd)
        return gkey(g) if g is not None else f"n{ref[1]}"

    lines = ["digraph retrograd {", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9, color="#2f855a", fontcolor="#1a202c"];']
    # leaves that take part in the graph (parameters, inputs)
    for lf in tr.leaves:
        grad = lf.grad
        g = "-" if grad is None else _v(grad, d)
        lines.append(f"  l{lf.index} [shape=box, style=filled, fillcolor=\"#ebf4ff\", label="
                     f"{_q(f'{lf.name}{chr(10)}value {_v(lf.value, d)}{chr(10)}grad {g}')}];")
    groups: dict[str, list] = {}
    clusters: dict[str, list] = {}
    for nd in tr.nodes:
        g = group(nd)
        if g is not None:
            groups.setdefault(g, []).append(nd)
            continue
        step = f" (step {nd.step})" if nd.step else ""
        label = f"{nd.label}{step}"
        entry = f"  n{nd.index} [shape=ellipse, label={_q(label)}];"
        if collapsed and nd.module:
            clusters.setdefault(nd.module, []).append(entry)
        else:
            lines.append(entry)
    for g, nds in groups.items():
        ops = sorted({n.op for n in nds})
        lines.append(f"  {gkey(g)} [shape=box3d, style=filled, fillcolor=\"#fefcbf\", "
                     f"label={_q(f'module {g}{chr(10)}{len(nds)} nodes: {chr(44).join(ops)}')}];")
    for i, (m, entries) in enumerate(clusters.items()):
        lines.append(f"  subgraph cluster_{i} {{ label={_q('module ' + m)}; color=\"#a0aec0\";")
        lines.extend("  " + e for e in entries)
        lines.append("  }")
    seen: set = set()
    for nd in tr.nodes:
        dst = key(("node", nd.index))
        for k, ref in enumerate(nd.inputs):
            if ref[0] == "const":
                continue
            src = key(ref)
            if src == dst or (src, dst) in seen:
                continue
            seen.add((src, dst))
            val = tr.nodes[ref[1]].value if ref[0] == "node" else tr.leaves[ref[1]].value
            grad = nd.downstream[k] if k < len(nd.downstream) else None
            lab = f"value {_v(val, d)}"
            if grad is not None:
                lab += f"\ngrad {_v(grad, d)}"
            lines.append(f"  {src} -> {dst} [label={_q(lab)}];")
    root = tr.nodes[0]
    up = root.upstream
    out_label = f"output{chr(10)}value {_v(root.value, d)}"
    if up is not None:
        out_label += f"{chr(10)}grad {_v(up, d)}"
    lines.append(f"  out [shape=doubleoctagon, style=filled, fillcolor=\"#fed7d7\", "
                 f"label={_q(out_label)}];")
    lines.append(f"  {key(('node', 0))} -> out;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot(obj: Any, **kwargs: Any) -> str:
    """DOT source of a Trace (see :func:`trace_to_dot`)."""
    return trace_to_dot(obj, **kwargs)


def render_graph(tr: Any, path: str, **kwargs: Any) -> str:
    """Write the graph to ``path``: ``.dot``/``.gv`` as DOT text, ``.svg``/``.png``/``.pdf``
    through Graphviz's ``dot``. Without Graphviz the DOT source is written next to ``path``
    (``path`` + ``.dot``) instead. Returns the path written."""
    src = trace_to_dot(tr, **kwargs)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("dot", "gv", ""):
        with open(path, "w", encoding="utf-8") as f:
            f.write(src)
        return path
    if ext not in ("svg", "png", "pdf"):
        raise ValueError(f"render_graph: unknown picture format {ext!r} for {path!r} (use "
                         ".svg, .png, .pdf or .dot)")
    exe = shutil.which("dot")
    if exe is None:
        alt = path + ".dot"
        with open(alt, "w", encoding="utf-8") as f:
            f.write(src)
        return alt
    res = subprocess.run([exe, f"-T{ext}", "-o", path], input=src.encode(),
                         capture_output=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"render_graph: dot failed ({res.returncode}): "
                           f"{res.stderr.decode(errors='replace').strip()[:300]}")
    return path


__all__ = ["render_graph", "to_dot", "trace_to_dot"]
