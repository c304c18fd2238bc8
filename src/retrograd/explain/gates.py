"""The gate view: every op node of a graph with its inputs, output, local gradient, upstream
gradient and the gradients it sends downstream, in the order the engine ran them.

The graph is walked through ``grad_fn`` (``Function.inputs`` / ``next_functions``) while it
still exists; gradients are captured from the engine itself through its observer hook
(``autograd.engine.OBSERVERS``), which reports ``(node, upstream, downstream)`` for each node
it runs and ``(leaf, gradient, None)`` for each leaf it accumulates into.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import engine as _engine
from ..autograd.function import Function
from ..autograd.numerics import quiet
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor
from ._format import WIDTH, Block, Renderable, fmt_num, fmt_short

# What each kind of gate does to the gradient (seed 003: "add distributes, multiply swaps,
# max routes"), keyed by op (class) name.
ROLES = {
    "Add": "add distributes: each input receives the upstream gradient unchanged (local 1)",
    "Sub": "sub distributes: x gets the upstream gradient, y gets it negated",
    "Mul": "multiply swaps: each input gets upstream x the OTHER input's value",
    "Div": "divide: x gets upstream / y, y gets -upstream x / y^2",
    "Maximum": "max routes: the larger input gets the whole gradient, the other 0 (a tie: "
               "half each)",
    "Minimum": "min routes: the smaller input gets the whole gradient, the other 0 (a tie: "
               "half each)",
    "Max": "max routes: only the largest element gets the gradient (tied maxima share it)",
    "Min": "min routes: only the smallest element gets the gradient (tied minima share it)",
    "ReLU": "relu routes: gradient passes where the input was > 0, else 0 (relu'(0) = 0)",
    "Sigmoid": "sigmoid scales by σ(z)(1 - σ(z)) <= 1/4",
    "Tanh": "tanh scales by 1 - tanh(z)^2",
    "Exp": "exp scales by its own output e^x",
    "Log": "log scales by 1/x",
    "Pow": "power: x gets upstream n x^(n-1)",
    "Neg": "neg flips the sign",
    "Sum": "sum copies the upstream gradient to every summed element",
    "Mean": "mean copies upstream / n to every averaged element",
    "Linear": "linear: input gets δW, weight gets δᵀa (BP4), bias gets Σδ (BP3)",
    "MatMul": "matmul: x gets upstream yᵀ, y gets xᵀ upstream",
    "Reshape": "reshape passes the gradient through, reshaped back",
    "Clone": "clone passes the gradient through",
    "LeakyReLU": "leaky relu routes: slope 1 where the input was > 0, the small slope elsewhere",
    "Where": "where routes: each element's gradient goes to the branch that was chosen",
    "GetItem": "indexing routes the gradient to the selected elements (others get 0)",
    "MaxPool2d": "max pool routes each window's gradient to its largest input (seed 004)",
    "AvgPool2d": "average pool spreads each window's gradient evenly, / k^2 (seed 004)",
    "Conv2d": "conv: input gets the gradient convolved with the flipped kernel, kernel gets "
              "input * gradient",
    "Dropout": "dropout routes the gradient through the kept units only, x 1/(1-p)",
    "CrossEntropy": "cross-entropy on logits sends (softmax(z) - onehot(y)) / N: the seeds' a - y",
    "MSELoss": "mean squared error sends 2 (a - y) / N",
    "Softmax": "softmax: J^T g = s (g - Σ s g)",
    "LogSoftmax": "log-softmax: g - softmax(z) Σ g",
    "Transpose": "transpose passes the gradient through, transposed back",
    # fused ops that nn.Sequential runs when no module hook watches (watch() turns them off)
    "BatchNormReLU": "batch norm + relu: the gradient passes where the output is > 0, then "
                     "through batch norm (weight/σ times its part orthogonal to 1 and x̂)",
    "BatchNormAddReLU": "batch norm + add + relu: where the output is > 0 the gradient goes "
                        "unchanged to the shortcut and through batch norm to the branch",
    "LinearReLU": "linear + relu: the gradient passes where the output is > 0, then as "
                  "linear: input gets δW, weight gets δᵀa, bias gets Σδ",
    "LinearSigmoid": "linear + sigmoid: the gradient is scaled by σ(z)(1 - σ(z)), then as "
                     "linear: input gets δW, weight gets δᵀa, bias gets Σδ",
    "LinearTanh": "linear + tanh: the gradient is scaled by 1 - tanh(z)^2, then as linear: "
                  "input gets δW, weight gets δᵀa, bias gets Σδ",
}


@dataclass
class GateNode:
    """One op node of the traced graph."""

    index: int
    op: str
    seq: int
    name: str | None
    inputs: list            # ("node", i) | ("leaf", i) | ("const", value)
    value: np.ndarray | None
    module: str | None = None
    step: int | None = None          # position in the engine's run order (1 = first)
    upstream: np.ndarray | None = None
    local: list = field(default_factory=list)
    downstream: list = field(default_factory=list)
    pieces: list = field(default_factory=list)   # (from label, gradient) received last pass

    @property
    def label(self) -> str:
        return f"{self.name} = {self.op}" if self.name else f"{self.op}#{self.index}"


@dataclass
class GateLeaf:
    """A leaf tensor of the traced graph (input, parameter or constant tensor)."""

    index: int
    name: str
    tensor: Tensor
    value: np.ndarray
    requires_grad: bool
    grad_before: bool            # .grad was already set when the trace started
    passes: int = 0              # traced backward calls that accumulated into .grad
    pieces: list = field(default_factory=list)
    grad_after: np.ndarray | None = None   # .grad right after the last traced backward

    @property
    def grad(self) -> np.ndarray | None:
        """``.grad`` after the last traced backward (the live one if none was traced)."""
        if self.grad_after is not None:
            return self.grad_after
        g = self.tensor.grad
        return None if g is None else g.data

    @property
    def label(self) -> str:
        return self.name


class Trace(Renderable):
    """The gate view of one graph; see :func:`trace`."""

    title = "retrograd explain: the gate view"

    def __init__(self, root: Tensor, nodes: list, leaves: list, digits: int = 6,
                 max_nodes: int = 40) -> None:
        self.root = root
        self.nodes: list[GateNode] = nodes
        self.leaves: list[GateLeaf] = leaves
        self.digits = digits
        self.max_nodes = max_nodes
        self.backward_calls = 0
        self.order: list[int] = []   # node indices in the order the engine ran them
        self.expand: set[str] = set()
        self._fn_index: dict[int, int] = {}
        self._fns: list[Function] = []
        self._leaf_index: dict[int, int] = {}

    # -------------------------------------------------------------- recording
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> "Trace":
        """Run ``root.backward`` with the engine observed; returns self."""
        order: list[int] = []
        for nd in self.nodes:
            nd.pieces = []
        for lf in self.leaves:
            lf.pieces = []

        def observe(node: Any, g: Any, in_grads: Any) -> None:
            if in_grads is None:  # a leaf's accumulation
                i = self._leaf_index.get(id(node))
                if i is not None and self.leaves[i].tensor is node:
                    lf = self.leaves[i]
                    lf.passes += 1
                return
            i = self._fn_index.get(id(node))
            if i is None or self._fns[i] is not node:
                return
            nd = self.nodes[i]
            order.append(i)
            nd.step = len(order)
            nd.upstream = np.array(g, copy=True)
            nd.downstream = [None if gi is None else np.array(gi, copy=True) for gi in in_grads]
            nd.local = self._local(node, g, nd)
            for k, (ref, gi) in enumerate(zip(nd.inputs, nd.downstream)):
                if gi is None or ref[0] == "const":
                    continue
                tgt = self.nodes[ref[1]] if ref[0] == "node" else self.leaves[ref[1]]
                tgt.pieces.append((f"{nd.label} (input {k})", gi))

        _engine.OBSERVERS.append(observe)
        try:
            self.root.backward(gradient, retain_graph=retain_graph)
        finally:
            _engine.OBSERVERS.remove(observe)
        self.order = order
        self.backward_calls += 1
        for lf in self.leaves:
            g = lf.tensor.grad
            lf.grad_after = None if g is None else np.array(g.data, copy=True)
        if not retain_graph:
            self._fns = []
            self._fn_index = {}
        return self

    @staticmethod
    def _local(node: Function, g: np.ndarray, nd: GateNode) -> list:
        """∂out/∂in for elementwise inputs (or any input of a one-element output): the op's
        own backward applied to a gradient of ones."""
        out_shape = np.shape(g)
        if np.size(g) > 4096:
            return []
        # only where "local gradient" is an array of its own: elementwise inputs, or any
        # input of a one-element output (and never replay ops such as conv that may reuse
        # buffers the engine still holds)
        want = [isinstance(a, Tensor) and (np.shape(a.data) == out_shape or np.size(g) == 1)
                for a in node.inputs]
        if not any(want):
            return []
        try:
            with quiet:  # a VJP called outside the engine: silence warnings as it does
                res = node.backward(np.ones(out_shape, dtype=np.asarray(g).dtype))
        except Exception:  # noqa: BLE001 - an op whose backward cannot be replayed
            return []
        if type(res) is not tuple:
            res = (res,)
        local = []
        for r, ok in zip(res, want):
            local.append(np.array(r, copy=True) if ok and r is not None else None)
        return local

    # -------------------------------------------------------------- queries
    @property
    def state(self) -> str:
        """Which gradients the trace holds: forward only, after an untraced backward, or
        after n traced backward calls."""
        if self.backward_calls:
            return f"after backward ({self.backward_calls} traced call" + \
                ("s" if self.backward_calls > 1 else "") + ")"
        if any(lf.grad_before for lf in self.leaves):
            return ("after an untraced backward (leaf .grad is set, but intermediate gradients "
                    "were not recorded: call trace(loss) before backward)")
        return "forward only (no gradients yet)"

    def leaf(self, name: str) -> GateLeaf:
        """The leaf named ``name`` (a variable name of the caller, or one given in ``names``)."""
        for lf in self.leaves:
            if lf.name == name:
                return lf
        raise KeyError(f"trace: no leaf named {name!r}; leaves are "
                       f"{[lf.name for lf in self.leaves]}")

    def node(self, name: str) -> GateNode:
        """The op node whose output is named ``name``."""
        for nd in self.nodes:
            if nd.name == name or nd.label == name:
                return nd
        raise KeyError(f"trace: no node named {name!r}")

    def grads(self) -> dict[str, np.ndarray | None]:
        """Each leaf's ``.grad`` (array) after the last traced backward, by name."""
        return {lf.name: lf.grad for lf in self.leaves}

    def _ref_label(self, ref: tuple) -> str:
        if ref[0] == "node":
            return self.nodes[ref[1]].label
        if ref[0] == "leaf":
            return self.leaves[ref[1]].name
        return "const " + fmt_short(ref[1], self.digits)

    def run_order(self) -> list[GateNode]:
        """The op nodes in the order the engine ran (or, before backward, will run) them."""
        if self.order:
            return [self.nodes[i] for i in self.order]
        return sorted(self.nodes, key=lambda n: n.seq)  # newest first, as the engine will run

    @property
    def collapsed(self) -> bool:
        """True when the graph is too large to list node by node and is shown per module."""
        return len(self.nodes) > self.max_nodes and any(n.module for n in self.nodes)

    # -------------------------------------------------------------- rendering
    def _node_rows(self, nodes: list) -> list:
        d = self.digits
        rows = []
        for nd in nodes:
            ins = "\n".join(self._ref_label(r) for r in nd.inputs)
            loc = "\n".join("-" if (k >= len(nd.local) or nd.local[k] is None)
                            else fmt_short(nd.local[k], d) for k in range(len(nd.inputs)))
            down = "\n".join("-" if (k >= len(nd.downstream) or nd.downstream[k] is None)
                             else fmt_short(nd.downstream[k], d) for k in range(len(nd.inputs)))
            rows.append([str(nd.step) if nd.step else "-", nd.label, ins,
                         fmt_short(nd.value, d), fmt_short(nd.upstream, d), loc, down])
        return rows

    _HEAD = ["step", "node", "inputs", "output", "upstream", "local", "downstream"]

    def blocks(self) -> list[Block]:
        d = self.digits
        out = [Block("h1", "The gate view")]
        out.append(Block("p", f"Graph of {len(self.nodes)} op nodes and {len(self.leaves)} leaves; "
                              f"state: {self.state}."))
        out.append(Block("p", "Order: the engine runs a node only when every consumer of its "
                              "output has run (decreasing creation order, a topological order), "
                              "so the upstream gradient it receives is complete. upstream = "
                              "∂L/∂output; local = ∂output/∂input; downstream = upstream x local "
                              "= ∂L/∂input, sent to that input."))
        nodes = self.run_order()
        if self.collapsed:
            groups: dict[str, list] = {}
            for nd in nodes:
                groups.setdefault(nd.module or "<outside modules>", []).append(nd)
            out.append(Block("p", f"{len(self.nodes)} nodes > {self.max_nodes}: collapsed to "
                                  "module level. Expand a module with trace.expand.add(name) "
                                  "(HTML: click it)."))
            summary = []
            for mod, nds in groups.items():
                ops = Counter(n.op for n in nds)
                big = [float(np.max(np.abs(g))) for n in nds for g in n.downstream
                       if g is not None and np.size(g)]
                summary.append([mod, str(len(nds)), ", ".join(f"{k} x{v}" if v > 1 else k
                                                              for k, v in ops.items()),
                                fmt_num(max(big), 4) if big else "-"])
            out.append(Block("table", headers=["module", "nodes", "ops", "max |downstream|"],
                             rows=summary))
            for mod, nds in groups.items():
                out.append(Block("group", f"module {mod}: {len(nds)} nodes", children=[
                    Block("table", headers=self._HEAD, rows=self._node_rows(nds))],
                    open=mod in self.expand))
        else:
            if len(self.nodes) > self.max_nodes:
                out.append(Block("p", f"{len(self.nodes)} nodes: pass model= (and watched=, "
                                      "see rg.explain.watch) to collapse them by module."))
            out.append(Block("table", headers=self._HEAD, rows=self._node_rows(nodes)))
        # leaves
        rows = []
        for lf in self.leaves:
            if not lf.requires_grad:
                continue
            pieces = " + ".join(fmt_short(g, d) for _, g in lf.pieces) if lf.pieces else "-"
            calls = str(lf.passes) + (" (+ earlier untraced)" if lf.grad_before else "")
            grad = lf.grad
            rows.append([lf.name, fmt_short(lf.value, d), pieces,
                         fmt_short(grad, d) if grad is not None else "None", calls])
        if rows:
            out.append(Block("h2", "Leaves (their .grad accumulates across backward calls)"))
            out.append(Block("table", headers=["leaf", "value", "this pass: paths summed",
                                               ".grad", "backward calls in .grad"], rows=rows))
        # fan-out: values used more than once
        fan = [x for x in list(self.nodes) + list(self.leaves) if len(x.pieces) > 1]
        if fan:
            out.append(Block("h2", "Values used more than once sum their paths"))
            lines = []
            for x in fan:
                total = sum(np.asarray(g) for _, g in x.pieces)
                parts = [f"{fmt_short(g, d)} (from {src})" for src, g in x.pieces]
                line = f"{x.label}: {' + '.join(parts)} = {fmt_short(total, d)}"
                if len(line) > WIDTH - 4:  # one path a line, aligned under the first
                    pad = " " * len(x.label)
                    line = "\n".join([f"{x.label}: {parts[0]}"]
                                      + [f"{pad}+ {p}" for p in parts[1:]]
                                      + [f"{pad}= {fmt_short(total, d)}"])
                lines.append(line)
            out.append(Block("pre", "\n".join(lines)))
            out.append(Block("p", "By the multivariable chain rule ∂L/∂v = Σ over the consumers "
                                  "c of v of ∂L/∂c · ∂c/∂v: every path from v to the loss "
                                  "contributes, so the engine adds (+=) each consumer's "
                                  "gradient before running v's own backward."))
        roles = [[op, ROLES[op]] for op in dict.fromkeys(n.op for n in self.nodes)
                 if op in ROLES]
        if roles:
            out.append(Block("h2", "What each gate does to the gradient"))
            out.append(Block("table", headers=["op", "rule"], rows=roles))
        return out

    def to_dot(self, **kwargs: Any) -> str:
        from .dot import trace_to_dot

        return trace_to_dot(self, **kwargs)


def _caller_names(frame: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Variable names of the caller: tensors (leaves) and graph nodes (by their output)."""
    leaves: dict[int, str] = {}
    nodes: dict[int, str] = {}
    if frame is None:
        return leaves, nodes
    for k, v in frame.f_locals.items():
        if isinstance(v, Tensor) and not k.startswith("_"):
            if v._node is not None:
                nodes.setdefault(id(v._node), k)
            else:
                leaves.setdefault(id(v), k)
    return leaves, nodes


def trace(loss: Tensor, backward: bool = True, gradient: Any = None,
          retain_graph: bool = False, names: dict | None = None, model: Module | None = None,
          watched: Any = None, max_nodes: int = 40, digits: int = 6) -> Trace:
    """Record the gate view of the graph that produced ``loss``.

    Parameters
    ----------
    loss : Tensor
        The output of a graph whose backward has not freed it yet.
    backward : bool
        Run ``loss.backward(gradient, retain_graph)`` under observation (default). With
        ``False`` the trace shows the forward values only; call ``trace.backward()`` later
        (several times, with ``retain_graph=True``, to watch gradients accumulate).
    names : dict, optional
        ``{name: tensor}`` labels; by default the caller's variable names are used, and the
        parameter names of ``model``.
    model : nn.Module, optional
        Names parameters; with ``watched`` (an :class:`retrograd.explain.watch` around the
        forward pass) large graphs collapse to one row per module.
    max_nodes : int
        Graphs with more op nodes are collapsed to module level (expandable).

    Returns
    -------
    Trace

    Examples
    --------
    >>> x = rg.tensor(-2.0, requires_grad=True); y = rg.tensor(5.0, requires_grad=True)
    >>> z = rg.tensor(-4.0, requires_grad=True)
    >>> q = x + y; f = q * z
    >>> print(rg.explain.trace(f))      # x.grad, y.grad, z.grad = -4, -4, 3
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"trace: expected a Tensor, got {type(loss).__name__}")
    leaf_names, node_names = _caller_names(sys._getframe(1))
    for k, v in (names or {}).items():
        if isinstance(v, Tensor):
            (node_names if v._node is not None else leaf_names)[
                id(v._node) if v._node is not None else id(v)] = k
    owners: dict[int, str] = {}
    if model is not None:
        for pname, p in model.named_parameters():
            leaf_names[id(p)] = pname
            owners[id(p)] = pname.rsplit(".", 1)[0] if "." in pname else "<model>"
    if watched is not None and model is None:
        for pname, p in watched.model.named_parameters():
            leaf_names.setdefault(id(p), pname)

    nodes: list[GateNode] = []
    leaves: list[GateLeaf] = []
    fn_index: dict[int, int] = {}
    fns: list[Function] = []
    leaf_index: dict[int, int] = {}
    root_fn = loss._node
    if root_fn is None:
        raise ValueError("trace: this tensor has no graph (it is a leaf, or was computed "
                         "without requires_grad / under no_grad)")
    if root_fn.inputs is None:
        raise RuntimeError("trace: the graph of this tensor was already freed by backward(). "
                           "Call rg.explain.trace(loss) INSTEAD of loss.backward() (it runs the "
                           "backward pass itself), or call backward(retain_graph=True) first.")
    # iterative walk (no recursion: deep graphs are fine)
    stack = [root_fn]
    fn_index[id(root_fn)] = 0
    fns.append(root_fn)
    # a node's value is its output tensor's array (the graph links tensors to nodes only)
    nodes.append(GateNode(0, root_fn.name, root_fn.seq, node_names.get(id(root_fn)), [],
                          np.array(loss.data, copy=True)))
    pending_inputs: list = []
    while stack:
        fn = stack.pop()
        refs = []
        for a in fn.inputs or ():
            if not isinstance(a, Tensor):
                refs.append(("const", np.asarray(a)))
            elif a._node is not None:
                p = a._node
                if id(p) not in fn_index:
                    fn_index[id(p)] = len(nodes)
                    fns.append(p)
                    nodes.append(GateNode(len(nodes), p.name, p.seq, node_names.get(id(p)),
                                          [], np.array(a.data, copy=True)))
                    stack.append(p)
                refs.append(("node", fn_index[id(p)]))
            else:
                if id(a) not in leaf_index:
                    leaf_index[id(a)] = len(leaves)
                    nm = leaf_names.get(id(a)) or (
                        f"param#{len(leaves)}" if isinstance(a, Parameter)
                        else f"leaf#{len(leaves)}")
                    leaves.append(GateLeaf(len(leaves), nm, a, np.array(a.data, copy=True),
                                           a.requires_grad, a.grad is not None))
                refs.append(("leaf", leaf_index[id(a)]))
        nodes[fn_index[id(fn)]].inputs = refs
        pending_inputs.append(fn)
    # module of each node
    if watched is not None:
        for fn in fns:
            nodes[fn_index[id(fn)]].module = watched.module_of(fn)
    elif owners:
        # a node using a parameter belongs to that parameter's module; others inherit the
        # module of the input they came from (walk in creation order)
        for nd in sorted(nodes, key=lambda n: -n.seq):
            mods = [owners.get(id(leaves[r[1]].tensor)) for r in nd.inputs if r[0] == "leaf"]
            mods = [m for m in mods if m]
            if mods:
                nd.module = mods[0]
            else:
                ups = [nodes[r[1]].module for r in nd.inputs if r[0] == "node"]
                nd.module = next((m for m in ups if m), None)
    tr = Trace(loss, nodes, leaves, digits=digits, max_nodes=max_nodes)
    tr._fn_index, tr._fns, tr._leaf_index = fn_index, fns, leaf_index
    if backward:
        tr.backward(gradient, retain_graph=retain_graph)
    return tr
