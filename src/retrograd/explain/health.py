"""Gradient health over training: per layer and epoch, how big the gradients are, how much
the weights move, how many ReLUs are dead, whether anything is NaN - and flags for vanishing
and exploding layers, with a plot of the whole history (not a single snapshot).

Use :class:`GradientHealth` as a ``fit`` callback, or :func:`gradient_health` to run a short
training itself. Seed 000's closing remark is the motivation: in a deep sigmoid network the
gradient vanishes layer by layer (σ' <= 1/4 at every step back), and residual connections
(Y = X + σ(X)) give it a path that does not shrink.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from ..autograd.grad_mode import no_grad
from ..nn.layers.activation import ReLU
from ..nn.module import Module
from ._format import Block, Renderable, fmt_num

try:  # a real fit() callback when the training loop is present
    from ..train import Callback as _CallbackBase
except ImportError:  # pragma: no cover - explain works without retrograd.train
    _CallbackBase = None  # type: ignore[misc,assignment]

_BASES: tuple = (Renderable,) if _CallbackBase is None else (_CallbackBase, Renderable)

STATS = ("grad_mean", "grad_max", "grad_norm", "relative", "update_ratio", "dead_relu",
         "nonfinite")


class GradientHealth(*_BASES):  # type: ignore[misc]
    """Records gradient statistics per layer (a module with parameters of its own) and epoch.

    Parameters
    ----------
    vanishing : float
        A layer whose gradient norm is below ``vanishing`` times the largest layer's (in the
        same epoch) is flagged *vanishing* (default 1e-7).
    exploding : float
        A layer whose gradient norm exceeds ``exploding`` times its weights' norm (one SGD step
        with lr = 1 would move the weights a thousand times their size), or whose gradient
        holds NaN/inf, is flagged *exploding* (default 1e3).

    Attributes
    ----------
    history : list of dict
        One entry per finished epoch: ``{"epoch": e, "layers": {name: {stat: value}}}`` with
        the stats ``grad_mean`` (mean |g|), ``grad_max`` (max |g|), ``grad_norm`` (‖g‖),
        ``relative`` (‖g‖ / largest layer's ‖g‖), ``update_ratio`` (‖ΔW‖ / ‖W‖ per step),
        ``dead_relu`` (fraction of the following ReLU's units that are 0 for the whole
        batch), ``nonfinite`` (NaN/inf entries in the gradients) and ``flags``.
    """

    title = "retrograd explain: gradient health"

    def __init__(self, vanishing: float = 1e-7, exploding: float = 1e3) -> None:
        self.vanishing = float(vanishing)
        self.exploding = float(exploding)
        self.history: list[dict] = []
        self._model: Module | None = None
        self._layers: list[tuple[str, Module]] = []
        self._handles: list = []
        self._batch: dict[str, dict[str, list]] = {}
        self._before: dict[str, list] = {}
        self._last_param_module: str | None = None
        self._epoch = 0

    # ------------------------------------------------------------------ setup
    def attach(self, model: Module) -> None:
        """Find the layers of ``model`` and hook its ReLUs (done by ``on_train_begin``)."""
        if self._model is model:
            return
        self.detach()
        self._model = model
        self._layers = [(n or "<model>", m) for n, m in model.named_modules()
                        if any(True for _ in m.parameters(recurse=False))]
        names = {id(m): n for n, m in self._layers}
        for _, m in model.named_modules():
            if id(m) in names:
                self._handles.append(m.register_forward_hook(self._saw_layer(names[id(m)])))
            elif isinstance(m, ReLU):
                self._handles.append(m.register_forward_hook(self._saw_relu))
        self._reset_epoch()

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._model = None

    def _reset_epoch(self) -> None:
        self._batch = {n: {k: [] for k in STATS} for n, _ in self._layers}

    def _saw_layer(self, name: str) -> Callable[..., None]:
        def hook(module: Module, inputs: tuple, output: Any) -> None:
            self._last_param_module = name
        return hook

    def _saw_relu(self, module: Module, inputs: tuple, output: Any) -> None:
        name = self._last_param_module
        if name is None or name not in self._batch:
            return
        a = np.asarray(output.data)
        if a.ndim < 2:
            return
        # a unit is dead for this batch when it is zero for every sample
        units = a.reshape(a.shape[0], -1)
        self._batch[name]["dead_relu"].append(float(np.mean(np.all(units <= 0, axis=0))))

    # ------------------------------------------------------------------ callback protocol
    def on_train_begin(self, state: Any) -> None:
        self.attach(state.model)

    def on_epoch_begin(self, state: Any) -> None:
        self._reset_epoch()

    def on_after_backward(self, state: Any) -> None:
        if self._model is not state.model:
            self.attach(state.model)  # used without on_train_begin: hooks from the next batch
        for name, m in self._layers:
            grads = [p.grad.data for p in m.parameters(recurse=False) if p.grad is not None]
            if not grads:
                continue
            b = self._batch[name]
            flat = np.concatenate([g.reshape(-1) for g in grads]).astype(np.float64)
            finite = np.isfinite(flat)
            bad = int(flat.size - np.count_nonzero(finite))
            ok = flat[finite] if bad else flat
            absg = np.abs(ok)
            b["grad_mean"].append(float(absg.mean()) if absg.size else float("nan"))
            b["grad_max"].append(float(absg.max()) if absg.size else float("nan"))
            b["grad_norm"].append(float(np.sqrt(np.sum(ok * ok))) if not bad else float("inf"))
            b["nonfinite"].append(bad)
            self._before[name] = [p.data.copy() for p in m.parameters(recurse=False)]

    def on_batch_end(self, state: Any) -> None:
        for name, m in self._layers:
            before = self._before.pop(name, None)
            if before is None:
                continue
            params = list(m.parameters(recurse=False))
            num = sum(float(np.sum((p.data.astype(np.float64) - w) ** 2))
                      for p, w in zip(params, before))
            den = sum(float(np.sum(w.astype(np.float64) ** 2)) for w in before)
            self._batch[name]["update_ratio"].append(np.sqrt(num) / max(np.sqrt(den), 1e-30))

    def on_epoch_end(self, state: Any) -> None:
        epoch = getattr(state, "epoch", len(self.history))
        layers: dict[str, dict] = {}
        for name, m in self._layers:
            b = self._batch.get(name, {})
            rec: dict[str, Any] = {}
            for k in ("grad_mean", "grad_norm", "update_ratio", "dead_relu"):
                v = b.get(k) or []
                rec[k] = float(np.mean(v)) if v else float("nan")
            rec["grad_max"] = float(np.max(b["grad_max"])) if b.get("grad_max") else float("nan")
            rec["nonfinite"] = int(np.sum(b.get("nonfinite") or [0]))
            wnorm = float(np.sqrt(sum(float(np.sum(p.data.astype(np.float64) ** 2))
                                      for p in m.parameters(recurse=False))))
            rec["weight_norm"] = wnorm
            layers[name] = rec
        norms = [r["grad_norm"] for r in layers.values() if np.isfinite(r["grad_norm"])]
        top = max(norms) if norms else float("nan")
        for rec in layers.values():
            rec["relative"] = rec["grad_norm"] / top if top and np.isfinite(top) else float("nan")
            flags = []
            if np.isfinite(rec["relative"]) and rec["relative"] < self.vanishing:
                flags.append("vanishing")
            if rec["nonfinite"] or rec["grad_norm"] > self.exploding * max(rec["weight_norm"],
                                                                            1e-30):
                flags.append("exploding")
            if np.isfinite(rec["dead_relu"]) and rec["dead_relu"] >= 0.5:
                flags.append("dead ReLUs")
            rec["flags"] = flags
        self.history.append({"epoch": int(epoch), "layers": layers})
        self._reset_epoch()

    def on_train_end(self, state: Any) -> None:
        self.detach()

    # ------------------------------------------------------------------ results
    def flagged(self, flag: str = "vanishing", epoch: int = -1) -> list[str]:
        """Layers carrying ``flag`` in the given epoch (default the last)."""
        if not self.history:
            return []
        return [n for n, r in self.history[epoch]["layers"].items() if flag in r["flags"]]

    def series(self, layer: str, stat: str = "grad_norm") -> list[float]:
        """One statistic of one layer over the epochs."""
        return [h["layers"][layer][stat] for h in self.history]

    def blocks(self) -> list[Block]:
        out = [Block("h1", "Gradient health")]
        if not self.history:
            out.append(Block("p", "No epoch recorded yet."))
            return out
        last = self.history[-1]
        van = ", ".join(f'"{n}"' for n in self.flagged("vanishing")) or "none"
        exp = ", ".join(f'"{n}"' for n in self.flagged("exploding")) or "none"
        out.append(Block("p", f"{len(self.history)} epoch(s), {len(last['layers'])} layers. "
                              f"Vanishing layers (‖g‖ < {self.vanishing:g} x the largest "
                              f"layer's): {van}. Exploding layers (‖g‖ > {self.exploding:g} x "
                              f"‖W‖, or NaN/inf): {exp}."))
        out.append(Block("h2", f"Epoch {last['epoch']}, per layer (input side first)"))
        rows = []
        for n, r in last["layers"].items():
            rows.append([n, fmt_num(r["grad_mean"], 3), fmt_num(r["grad_max"], 3),
                         fmt_num(r["grad_norm"], 3), fmt_num(r["relative"], 3),
                         fmt_num(r["update_ratio"], 3),
                         "-" if not np.isfinite(r["dead_relu"]) else f"{r['dead_relu']:.0%}",
                         str(r["nonfinite"]), ", ".join(r["flags"]) or "ok"])
        out.append(Block("table", headers=["layer", "mean|g|", "max|g|", "‖g‖", "relative",
                                           "‖ΔW‖/‖W‖", "dead", "NaN/inf", "flags"], rows=rows))
        shown = self.history[-6:]
        out.append(Block("h2", "History of ‖g‖ per layer"))
        rows = [[n] + [fmt_num(h["layers"][n]["grad_norm"], 3) for h in shown]
                for n in last["layers"]]
        out.append(Block("table", headers=["layer"] + [f"epoch {h['epoch']}" for h in shown],
                         rows=rows))
        return out

    def plot(self, path: str) -> str:
        """Save a PNG of the history: ‖g‖, relative ‖g‖, update ratio and dead ReLUs per
        layer over the epochs. Needs matplotlib (the ``train`` extra)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if not self.history:
            raise ValueError("GradientHealth.plot: no epoch recorded yet")
        epochs = [h["epoch"] for h in self.history]
        names = list(self.history[-1]["layers"])
        fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
        cmap = plt.get_cmap("viridis")
        panels = [("grad_norm", "‖∂C/∂W‖ (mean over batches)", True),
                  ("relative", "‖g‖ / largest layer's ‖g‖", True),
                  ("update_ratio", "‖ΔW‖ / ‖W‖ per step", True),
                  ("dead_relu", "dead ReLU fraction", False)]
        for ax, (stat, title, log) in zip(axes.flat, panels):
            for i, n in enumerate(names):
                ys = np.array(self.series(n, stat), dtype=float)
                if log:
                    ys = np.where(ys > 0, ys, np.nan)
                if np.all(np.isnan(ys)):
                    continue
                ax.plot(epochs, ys, marker="o", ms=3, color=cmap(i / max(len(names) - 1, 1)),
                        label=n)
            if log:
                ax.set_yscale("log")
            if stat == "dead_relu" and not ax.lines:
                ax.text(0.5, 0.5, "no ReLU modules", ha="center", va="center",
                        transform=ax.transAxes, color="gray")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if stat == "relative":
                ax.axhline(self.vanishing, color="red", ls="--", lw=1, label="vanishing")
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
        h, lab = axes.flat[0].get_legend_handles_labels()
        if h:
            fig.legend(h, lab, loc="center right", fontsize=8, title="layer")
        fig.suptitle("Gradient health per layer (input side: dark, output side: light)")
        fig.tight_layout(rect=(0, 0, 0.88, 0.96))
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return path


class _State:
    """The TrainState attributes that GradientHealth uses, for :func:`gradient_health`."""

    def __init__(self, model: Module, optimizer: Any, loss_fn: Any) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.epoch = self.batch = self.step = 0
        self.loss = float("nan")
        self.logs: dict = {}
        self.history = None
        self.stop_training = False
        self.is_main = True


def _sgd(params: list, lr: float) -> Any:
    try:
        from ..optim import SGD

        return SGD(params, lr=lr)
    except ImportError:  # pragma: no cover - before the optimisers are merged
        class _PlainSGD:
            def step(self) -> None:
                with no_grad():
                    for p in params:
                        if p.grad is not None:
                            p.data -= lr * p.grad.data

            def zero_grad(self) -> None:
                for p in params:
                    p.grad = None
        return _PlainSGD()


def gradient_health(model: Module, loss_fn: Callable, batches: Iterable, epochs: int = 3,
                    optimizer: Any = None, lr: float = 0.1, vanishing: float = 1e-7,
                    exploding: float = 1e3) -> GradientHealth:
    """Train ``model`` for a few epochs and record its gradient health.

    Parameters
    ----------
    batches : iterable of (x, y)
        Re-iterated every epoch (a list of batches, or a DataLoader).
    optimizer : Optimizer, optional
        Default: SGD with learning rate ``lr``.

    Returns
    -------
    GradientHealth
        ``str(h)`` is the report, ``h.plot("health.png")`` draws the history,
        ``h.flagged("vanishing")`` lists the vanishing layers.
    """
    opt = optimizer if optimizer is not None else _sgd(list(model.parameters()), lr)
    h = GradientHealth(vanishing, exploding)
    st = _State(model, opt, loss_fn)
    h.on_train_begin(st)
    for e in range(epochs):
        st.epoch = e
        h.on_epoch_begin(st)
        for i, (x, y) in enumerate(batches):
            st.batch = i
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            st.loss = float(loss.item())
            h.on_after_backward(st)
            opt.step()
            h.on_batch_end(st)
            st.step += 1
        h.on_epoch_end(st)
    h.on_train_end(st)
    return h
