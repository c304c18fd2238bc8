"""Check your own derivation: gradients worked out by hand against the engine's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor
from ._format import Block, Renderable, fmt_num


@dataclass
class ParamComparison:
    """One parameter: your gradient against the engine's ``.grad``."""

    name: str
    shape: tuple
    given: bool
    ok: bool
    max_abs: float = float("nan")
    max_rel: float = float("nan")
    where: tuple | None = None          # index of the largest difference
    yours: float | None = None          # the two values there
    engine: float | None = None
    mismatches: int = 0                 # entries outside the tolerance
    note: str = ""


@dataclass
class Comparison(Renderable):
    """Result of :func:`compare`; ``bool(c)`` is True when every given gradient matches."""

    params: list
    unknown: list = field(default_factory=list)
    rtol: float = 1e-5
    atol: float = 1e-8
    title: str = "retrograd explain: your gradients vs the engine's"

    @property
    def ok(self) -> bool:
        return not self.unknown and all(p.ok for p in self.params if p.given)

    def __bool__(self) -> bool:
        return self.ok

    def __getitem__(self, name: str) -> ParamComparison:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def blocks(self) -> list[Block]:
        out = [Block("h1", "Your gradients vs the engine's")]
        given = [p for p in self.params if p.given]
        bad = [p for p in given if not p.ok]
        out.append(Block("p", f"{len(given)} of {len(self.params)} parameters given; "
                              f"{len(given) - len(bad)} match (|yours - engine| <= "
                              f"{self.atol:g} + {self.rtol:g} |engine|), {len(bad)} differ."))
        rows = []
        for p in self.params:
            if not p.given:
                rows.append([p.name, str(p.shape), "-", "-", "-", "not given"])
                continue
            at = "-" if p.where is None else (
                f"{list(p.where)}: yours {fmt_num(p.yours, 6)}, engine {fmt_num(p.engine, 6)}")
            status = "ok" if p.ok else (p.note or f"{p.mismatches} entries differ")
            rows.append([p.name, str(p.shape), fmt_num(p.max_abs, 3), fmt_num(p.max_rel, 3),
                         at, status])
        out.append(Block("table", headers=["parameter", "shape", "max abs err", "max rel err",
                                           "largest difference at", "result"], rows=rows))
        if self.unknown:
            out.append(Block("p", "Names that are not parameters of the model: "
                                  + ", ".join(self.unknown) + ". Parameter names are "
                                  + ", ".join(p.name for p in self.params) + "."))
        for p in bad:
            if p.note:
                out.append(Block("p", f"{p.name}: {p.note}"))
        return out


def _engine_grads(model: Any) -> dict[str, np.ndarray | None]:
    if isinstance(model, Module):
        return {n: None if p.grad is None else p.grad.data for n, p in model.named_parameters()}
    if isinstance(model, dict):
        return {n: (v.grad.data if isinstance(v, Tensor) and v.grad is not None
                    else None if isinstance(v, Tensor) else np.asarray(v))
                for n, v in model.items()}
    raise TypeError(f"compare: expected an nn.Module (after backward) or a dict of name -> "
                    f"Tensor, got {type(model).__name__}")


def compare(manual_grads: dict, model: Any, rtol: float = 1e-5, atol: float = 1e-8
            ) -> Comparison:
    """Compare gradients derived by hand with the ones the engine put in ``.grad``.

    Parameters
    ----------
    manual_grads : dict of str -> array_like
        Your ∂C/∂θ by parameter name (``model.named_parameters()`` names, e.g. ``"0.weight"``).
    model : nn.Module or dict
        A model after ``backward()`` (or after :func:`retrograd.explain.backprop`), or a dict
        of name -> leaf Tensor.
    rtol, atol : float
        An entry matches when ``|yours - engine| <= atol + rtol |engine|``.

    Returns
    -------
    Comparison
        Per parameter the max abs/rel error and where the largest difference is;
        ``bool(result)`` tells whether everything given matches; ``str(result)`` is a report.
    """
    if not isinstance(manual_grads, dict):
        raise TypeError(f"compare: manual_grads must be a dict of name -> array, got "
                        f"{type(manual_grads).__name__}")
    engine = _engine_grads(model)
    unknown = [k for k in manual_grads if k not in engine]
    params = []
    for name, g in engine.items():
        if g is None:
            if name in manual_grads:
                raise ValueError(f"compare: parameter {name!r} has no gradient yet; run "
                                 "loss.backward() (or rg.explain.backprop) first")
            continue
        shape = tuple(g.shape)
        if name not in manual_grads:
            params.append(ParamComparison(name, shape, False, False))
            continue
        mine = np.asarray(manual_grads[name].data if isinstance(manual_grads[name], Tensor)
                          else manual_grads[name], dtype=np.float64)
        if mine.shape != shape:
            note = f"your array has shape {mine.shape}, the parameter has {shape}"
            if mine.T.shape == shape and mine.ndim == 2:
                note += (" - transposed? nn.Linear stores W as (out, in): W[j, k] connects "
                         "input k to output j (the seeds' w_jk)")
            elif mine.size == int(np.prod(shape)):
                note += " - same number of entries: check the layout"
            params.append(ParamComparison(name, shape, True, False, note=note))
            continue
        ref = g.astype(np.float64)
        diff = np.abs(mine - ref)
        tol = atol + rtol * np.abs(ref)
        bad = ~(diff <= tol)  # NaN counts as a mismatch
        rel = diff / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
        if diff.size:
            k = int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)))
            where = np.unravel_index(k, shape) if shape else ()
            where_t = tuple(int(i) for i in where)
            yours, eng = float(mine.reshape(-1)[k]), float(ref.reshape(-1)[k])
        else:
            where_t, yours, eng = None, None, None
        n_bad = int(np.count_nonzero(bad))
        note = ""
        nz = np.abs(ref) > 0
        if n_bad and np.count_nonzero(nz) and np.all(np.isfinite(mine)):
            ratios = mine[nz] / ref[nz]
            c = float(np.median(ratios))
            if c != 0 and np.allclose(ratios, c, rtol=1e-3) and np.allclose(mine[~nz], 0):
                note = (f"yours is {fmt_num(c, 4)} x the engine's everywhere: a constant "
                        "factor (the 1/2 of the cost, the 1/m of a batch mean, or a sign?)")
        params.append(ParamComparison(
            name, shape, True, n_bad == 0, float(np.nanmax(diff)) if diff.size else 0.0,
            float(np.nanmax(rel)) if rel.size else 0.0, where_t, yours, eng, n_bad, note))
    return Comparison(params, unknown, rtol, atol)


__all__ = ["Comparison", "ParamComparison", "compare"]
