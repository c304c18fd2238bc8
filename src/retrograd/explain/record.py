"""Recording a real forward/backward pass of a model, layer by layer (the layer view).

Nothing here computes a gradient: forward hooks on the modules record ``a`` and ``z``,
gradient hooks on those tensors record what the engine sent through them (δ = ∂C/∂z and
Δ = ∂C/∂a), and the parameters' ``.grad`` give ∂C/∂W and ∂C/∂b. :mod:`.equations` then
*checks* that the records satisfy BP1-BP4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..autograd import function as _function
from ..autograd.grad_mode import enable_grad
from ..nn.layers.linear import Linear
from ..nn.module import Module
from ..tensor import Tensor
from ._format import Block, Renderable, fmt_array, fmt_num, fmt_shape


@dataclass
class ModuleCall:
    """One call of a module during a watched forward pass."""

    name: str
    module: Module
    inputs: tuple
    output: Any
    seq_start: int  # nodes created by this call have start < -node.seq <= end
    seq_end: int


class watch:
    """Context manager recording every module call of ``model`` (in the order they finish)
    and the range of graph nodes each created; used to group a large graph by module.

    Examples
    --------
    >>> with rg.explain.watch(model) as w:
    ...     loss = loss_fn(model(x), y)
    >>> rg.explain.trace(loss, watched=w)
    """

    def __init__(self, model: Module) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"watch: expected an nn.Module, got {type(model).__name__}")
        self.model = model
        self.calls: list[ModuleCall] = []
        self._handles: list = []
        self._starts: dict[int, list[int]] = {}

    def __enter__(self) -> "watch":
        for name, m in self.model.named_modules():
            self._handles.append(m.register_forward_pre_hook(self._pre))
            self._handles.append(m.register_forward_hook(self._make_post(name)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _pre(self, module: Module, inputs: tuple) -> None:
        self._starts.setdefault(id(module), []).append(_function._SEQ)

    def _make_post(self, name: str) -> Callable[..., None]:
        def post(module: Module, inputs: tuple, output: Any) -> None:
            start = self._starts[id(module)].pop()
            self.calls.append(ModuleCall(name, module, inputs, output, start, _function._SEQ))
        return post

    def module_of(self, node: Any) -> str | None:
        """Name of the innermost module whose call created ``node`` (None: outside all)."""
        s = -node.seq
        best = None
        for c in self.calls:
            if c.seq_start < s <= c.seq_end and (best is None or
                                                 c.seq_end - c.seq_start
                                                 < best.seq_end - best.seq_start):
                best = c
        return None if best is None else (best.name or "<model>")


def _is_leaf_module(m: Module) -> bool:
    return not any(True for _ in m.children())


@dataclass
class LayerRecord:
    """What one fully connected layer l saw in the recorded pass (values from the engine).

    Rows are samples (``z`` has shape (batch, units)); the seeds write the same numbers as
    column vectors.
    """

    index: int                 # l: the input is layer 1, as in the seeds
    name: str                  # module path of the Linear
    activation: str            # e.g. "Sigmoid" (module or op names between z and a)
    act_modules: list          # the activation modules (re-run only to check σ')
    weight: np.ndarray
    bias: np.ndarray | None
    a_prev: np.ndarray         # a^{l-1}, the layer's input
    z: np.ndarray              # z^l = a^{l-1} W^T + b
    a: np.ndarray              # a^l = σ(z^l)
    delta: np.ndarray | None = None     # δ^l = ∂C/∂z^l (gradient hook on z)
    grad_a: np.ndarray | None = None    # ∂C/∂a^l (hook on a, or on the model output)
    Delta: np.ndarray | None = None     # Δ^l = ∂C/∂a^{l-1} = δ^l W, sent back
    dW: np.ndarray | None = None        # ∂C/∂W^l = weight.grad
    db: np.ndarray | None = None        # ∂C/∂b^l = bias.grad


@dataclass
class LayerView(Renderable):
    """The layer view of one recorded backward pass; ``str()`` renders it as text.

    Attributes
    ----------
    layers : list of LayerRecord
        In forward order.
    loss : float
    mode : str
        ``"sample"`` (one sample, ``C`` is its cost) or ``"batch"``.
    convention : str or None
        For a batch: ``"mean"`` when ∂C/∂W equals the average of the per-sample gradients
        (the seeds' mini-batch convention), ``"sum"`` when it equals their sum.
    checks : list
        Results of :func:`retrograd.explain.equations.check_layers`.
    """

    layers: list
    loss: float
    mode: str
    batch: int
    sample: int | None
    output: np.ndarray
    target: Any
    convention: str | None = None
    checks: list = field(default_factory=list)
    digits: int = 6
    title: str = "retrograd explain: backpropagation layer by layer"

    @property
    def ok(self) -> bool:
        """True when every BP1-BP4 check passed."""
        return all(c.ok for c in self.checks)

    def blocks(self) -> list[Block]:
        d = self.digits
        L = self.layers[-1].index if self.layers else 1
        sizes = [self.layers[0].weight.shape[1]] + [r.weight.shape[0] for r in self.layers] \
            if self.layers else []
        out = [Block("h1", "Backpropagation, layer by layer")]
        if self.mode == "sample" or self.batch == 1:
            which = "" if self.sample is None else f" (index {self.sample})"
            what = (f"One sample{which}: C is this sample's cost C_x, and every quantity below "
                    "belongs to this sample alone.")
        else:
            what = (f"A batch of {self.batch} samples: rows are samples and C is the loss over "
                    "the whole batch. ")
            if self.convention == "mean":
                what += ("C averages over the batch, so every row of δ carries a factor 1/m and "
                         "∂C/∂W = Σ_rows δᵀa is the AVERAGE of the per-sample gradients "
                         "(the seeds' mini-batch convention, seed 000: θ' = (1/m) Σ θ'_x).")
            elif self.convention == "sum":
                what += ("C sums over the batch, so ∂C/∂W is the SUM of the per-sample "
                         "gradients (no 1/m).")
            elif self.convention:
                what += f"Batch convention: {self.convention}."
        out.append(Block("p", f"Network {'-'.join(map(str, sizes))} (layer 1 is the input, "
                              f"layer {L} the output); C = {fmt_num(self.loss, max(d, 10))}. "
                              + what))
        out.append(Block("p", "Values are those the engine computed in a real backward pass "
                              "(recorded with hooks), not a re-derivation; the checks at the end "
                              "confirm they satisfy BP1-BP4 and equal param.grad."))
        out.append(Block("h2", "Forward pass"))
        rows = []
        for r in self.layers:
            li = r.index
            if r is self.layers[0]:
                rows.append([f"a^{li - 1}", fmt_shape(r.a_prev), "the input x",
                             fmt_array(r.a_prev, d)])
            rows.append([f"z^{li}", fmt_shape(r.z), f"z = a^{li - 1} Wᵀ + b   [module {r.name}]",
                         fmt_array(r.z, d)])
            rows.append([f"a^{li}", fmt_shape(r.a), f"a = {r.activation}(z)", fmt_array(r.a, d)])
        out.append(Block("table", headers=["quantity", "shape", "how", "value"], rows=rows))
        out.append(Block("h2", "Backward pass (output layer first)"))
        for r in reversed(self.layers):
            li = r.index
            rows = []
            src = ("from the loss: ∂C/∂a^L" if li == L
                   else f"= Δ^{li + 1}, sent back by layer {li + 1}")
            rows.append([f"∂C/∂a^{li}", fmt_shape(r.grad_a), src, fmt_array(r.grad_a, d)])
            eq = ("BP1: δ^L = ∇aC ⊙ σ'(z^L)" if li == L else
                  f"BP2: δ^{li} = Δ^{li + 1} ⊙ σ'(z^{li})")
            rows.append([f"δ^{li} = ∂C/∂z^{li}", fmt_shape(r.delta), eq, fmt_array(r.delta, d)])
            if r.db is not None:
                rows.append([f"∂C/∂b^{li}", fmt_shape(r.db),
                             "BP3: = δ" + (" (summed over rows)" if self.batch > 1 else ""),
                             fmt_array(r.db, d)])
            rows.append([f"∂C/∂W^{li}", fmt_shape(r.dW),
                         f"BP4: = δ (a^{li - 1})ᵀ" + (" (summed over rows)" if self.batch > 1
                                                      else ""),
                         fmt_array(r.dW, d)])
            if r.Delta is not None:
                rows.append([f"Δ^{li} = δ^{li} W^{li}", fmt_shape(r.Delta),
                             f"= Wᵀδ = ∂C/∂a^{li - 1}, to layer {li - 1}",
                             fmt_array(r.Delta, d)])
            act = f" + {r.activation} (σ)" if r.activation != "identity" else ""
            out.append(Block("h3", f"Layer {li}: Linear({r.weight.shape[1]} -> "
                                   f"{r.weight.shape[0]}){act}   [module {r.name}]"))
            out.append(Block("table", headers=["quantity", "shape", "equation", "value"],
                             rows=rows))
        if self.checks:
            out.append(Block("h2", "Checks (BP1-BP4 on the recorded values)"))
            out.append(Block("table", headers=["check", "layer", "max |error|", "ok"], rows=[
                [c.equation, str(c.layer), fmt_num(c.error, 3), "yes" if c.ok else "NO"]
                for c in self.checks]))
        return out


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _act_name(z_t: Tensor, a_t: Tensor, modules: list) -> str:
    if modules:
        return "∘".join(type(m).__name__ for m in reversed(modules))
    if a_t is z_t:
        return "identity"
    names = []
    node = a_t._node
    target = z_t._node
    for _ in range(16):  # follow the chain of ops from a back to z
        if node is None or node is target:
            break
        names.append(node.name)
        nxt = node.inputs[0] if node.inputs else None
        node = nxt._node if isinstance(nxt, Tensor) else None
    return "∘".join(names) if node is target and names else "?"


def _hook_store(store: dict, key: str) -> Callable[[Tensor], None]:
    def hook(g: Tensor) -> None:
        # copy: the engine may later add into the same array in place
        prev = store.get(key)
        store[key] = g.data.copy() if prev is None else prev + g.data
    return hook


def _take(x: Any, i: int) -> Any:
    if isinstance(x, Tensor):
        return x[i:i + 1]
    return np.asarray(x)[i:i + 1]


def backprop(model: Module, x: Any, y: Any, loss_fn: Callable[[Tensor, Any], Tensor],
             per_sample: int | None = None, digits: int = 6, check: bool = True,
             convention: bool = True) -> LayerView:
    """Run one forward and backward pass of ``model`` and explain it layer by layer.

    Parameters
    ----------
    model : nn.Module
        Linear layers and activations in a chain (``Sequential`` or any module whose forward
        is a chain).
    x, y : Tensor or array
        Inputs (batch first) and targets, passed to ``loss_fn(model(x), y)``.
    loss_fn : callable
        Any ``loss_fn(output, target) -> scalar Tensor`` (``nn.MSELoss()``, a lambda, ...).
    per_sample : int, optional
        Explain sample ``per_sample`` alone (its own cost C_x). By default the whole batch is
        explained (rows are samples; C is the batch loss).
    digits : int
        Significant digits shown.
    check : bool
        Check BP1-BP4 on the records (see :mod:`retrograd.explain.equations`).
    convention : bool
        For a batch (of at most 256 samples), find out whether the loss averages or sums
        the per-sample gradients, by running each sample alone.

    Returns
    -------
    LayerView
        ``str(view)`` is the text report; ``view.to_html()``, ``view.to_markdown()``.

    Notes
    -----
    The model's gradients are cleared first; afterwards ``param.grad`` holds this pass's
    gradients (exactly the ∂C/∂W shown).
    """
    if not isinstance(model, Module):
        raise TypeError(f"backprop: model must be an nn.Module, got {type(model).__name__}")
    x = _as_tensor(x)
    if per_sample is not None:
        n = x.shape[0] if x.ndim else 0
        if not -n <= per_sample < n:
            raise ValueError(f"backprop: per_sample={per_sample} is out of range for a batch of "
                             f"{n} samples (shape {tuple(x.shape)})")
        per_sample %= n
        x, y = _take(x, per_sample), _take(y, per_sample)
    model.zero_grad()
    store: dict[str, np.ndarray] = {}
    with enable_grad(), watch(model) as w:
        out = model(x)
    if not isinstance(out, Tensor):
        raise TypeError(f"backprop: the model returned {type(out).__name__}, expected a Tensor")
    calls = [c for c in w.calls if _is_leaf_module(c.module)]
    layers: list[LayerRecord] = []
    pending: list = []  # non-Linear modules after the current Linear
    for c in calls:
        m = c.module
        if isinstance(m, Linear):
            if layers:
                layers[-1].act_modules = pending
            pending = []
            a_prev = c.inputs[0]
            rec = LayerRecord(index=len(layers) + 2, name=c.name, activation="identity",
                              act_modules=[], weight=m.weight.data.copy(),
                              bias=None if m.bias is None else m.bias.data.copy(),
                              a_prev=a_prev.data.copy(), z=c.output.data.copy(),
                              a=c.output.data.copy())
            rec._z_t, rec._a_prev_t, rec._mod = c.output, a_prev, m  # type: ignore[attr-defined]
            layers.append(rec)
        elif any(True for _ in m.parameters(recurse=False)):
            raise ValueError(
                f"backprop: the layer view explains chains of Linear layers and activations; "
                f"module {c.name!r} ({type(m).__name__}) has parameters of its own. Use "
                "rg.explain.trace(loss) for the gate view of any graph.")
        elif layers:
            pending.append(m)
    if not layers:
        raise ValueError(f"backprop: {type(model).__name__} has no Linear layer to explain")
    layers[-1].act_modules = pending
    # a^l is what the next layer consumed (or the model output): this also covers functional
    # activations written inside forward().
    for i, r in enumerate(layers):
        a_t = layers[i + 1]._a_prev_t if i + 1 < len(layers) else out  # type: ignore
        r._a_t = a_t  # type: ignore[attr-defined]
        r.a = a_t.data.copy()
        r.activation = _act_name(r._z_t, a_t, r.act_modules)  # type: ignore[attr-defined]
        if r._z_t.requires_grad:  # type: ignore[attr-defined]
            r._z_t.register_hook(_hook_store(store, f"delta{i}"))  # type: ignore
        if r._a_prev_t.requires_grad:  # type: ignore[attr-defined]
            r._a_prev_t.register_hook(_hook_store(store, f"Delta{i}"))  # type: ignore
    if out.requires_grad and out is not layers[-1]._z_t:  # type: ignore[attr-defined]
        out.register_hook(_hook_store(store, "grad_out"))
    loss = loss_fn(out, y)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise ValueError(f"backprop: loss_fn must return a one-element Tensor, got "
                         f"{type(loss).__name__} of shape {np.shape(loss)}")
    loss.backward()
    for i, r in enumerate(layers):
        r.delta = store.get(f"delta{i}")
        r.Delta = store.get(f"Delta{i}")
        if i + 1 < len(layers):
            r.grad_a = store.get(f"Delta{i + 1}")
        else:
            r.grad_a = store.get("grad_out", r.delta)
        m = r._mod  # type: ignore[attr-defined]
        r.dW = None if m.weight.grad is None else m.weight.grad.data.copy()
        r.db = None if m.bias is None or m.bias.grad is None else m.bias.grad.data.copy()
    view = LayerView(layers=layers, loss=float(loss.item()),
                     mode="sample" if per_sample is not None else "batch",
                     batch=int(x.shape[0]) if x.ndim > 1 else 1, sample=per_sample,
                     output=out.data.copy(), target=y, digits=digits)
    if per_sample is None and convention and 1 < view.batch <= 256:
        view.convention = _batch_convention(model, x, y, loss_fn, layers)
    if check:
        from .equations import check_layers

        view.checks = check_layers(layers)
    for r in layers:  # drop the graph references
        for k in ("_z_t", "_a_prev_t", "_a_t"):
            r.__dict__.pop(k, None)
    return view


def _batch_convention(model: Module, x: Tensor, y: Any, loss_fn: Callable,
                      layers: list) -> str:
    """Does the batch gradient equal the mean or the sum of per-sample gradients?"""
    mods = [r._mod for r in layers]  # type: ignore[attr-defined]
    batch_g = [r.dW for r in layers]
    saved = [(m.weight.grad, None if m.bias is None else m.bias.grad) for m in mods]
    total = [np.zeros_like(g, dtype=np.float64) for g in batch_g]
    n = x.shape[0]
    try:
        for i in range(n):
            model.zero_grad()
            with enable_grad():
                loss_fn(model(_take(x, i)), _take(y, i)).backward()
            for k, m in enumerate(mods):
                total[k] += m.weight.grad.data
    finally:
        for m, (gw, gb) in zip(mods, saved):
            m.weight.grad = gw
            if m.bias is not None:
                m.bias.grad = gb

    def close(a: list, b: list) -> bool:
        return all(np.allclose(p, q, rtol=1e-4, atol=1e-6 * (np.abs(q).max() + 1e-30))
                   for p, q in zip(a, b))

    if close(batch_g, [t / n for t in total]):
        return "mean"
    if close(batch_g, total):
        return "sum"
    return "neither the mean nor the sum of per-sample gradients (the loss couples samples)"
