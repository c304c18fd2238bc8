"""``Optimizer``: the bookkeeping every algorithm shares, with PyTorch's conventions.

An optimiser holds ``param_groups`` (a list of dicts: ``"params"`` plus hyper-parameters,
which schedulers and users may change between steps) and ``state`` (a dict keyed by the
parameter, holding the algorithm's buffers under PyTorch's names: ``step``,
``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ``square_avg``, ``sum``, ...).

``step()`` walks the groups and calls the subclass's ``_update(p, grad, state, group)``,
which does the math in place on NumPy arrays (no temporaries where a reused scratch buffer
does). ``state_dict()`` numbers the parameters in group order, as PyTorch does, so that a
state saved from one run loads into a fresh optimiser over an equal model, and the run
continues bit for bit.
"""

from __future__ import annotations

import copy
import numbers
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd.function import check_writeable
from ..tensor import Tensor


class FlatState:
    """The buffers of one parameter group, one contiguous array per state name.

    ``state[p][name]`` is a view of ``arrays[name]`` shaped like ``p``, so that an algorithm
    can update every parameter's buffer with one NumPy call. Building it copies the values
    each state already holds and, for an algorithm that counts its steps, starts a missing
    ``step`` counter at 0. :meth:`scratch` gives temporaries of the same layout.
    """

    __slots__ = ("params", "keys", "arrays", "views", "_views", "_scratch")

    def __init__(self, items: list[tuple], states: list[dict[str, Any]],
                 keys: tuple[str, ...], count_steps: bool = True) -> None:
        self.params = [p for p, _, _ in items]
        self.keys = keys
        datas = [d for _, d, _ in items]
        dtype = datas[0].dtype
        total = sum(d.size for d in datas)
        bounds = np.cumsum([0] + [d.size for d in datas])

        def views(flat: np.ndarray) -> list[np.ndarray]:
            return [flat[a:b].reshape(d.shape) for a, b, d in zip(bounds, bounds[1:], datas)]

        self.arrays, self.views = {}, {}
        for k in keys:
            flat = self.arrays[k] = np.zeros(total, dtype)
            vs = self.views[k] = views(flat)
            for s, v in zip(states, vs):
                if k in s:
                    v[...] = s[k]  # the values so far (a loaded or per-parameter buffer)
                s[k] = v
        if count_steps:
            for s in states:
                s.setdefault("step", 0)
        self._views = views
        self._scratch: list[tuple[np.ndarray, list[np.ndarray]]] = []

    def scratch(self, i: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scratch array ``i`` (made on first use, then reused) and its per-parameter views."""
        while len(self._scratch) <= i:
            t = np.empty_like(self.arrays[self.keys[0]])
            self._scratch.append((t, self._views(t)))
        return self._scratch[i]

    def serves(self, items: list[tuple], state: Any) -> bool:
        """Whether these are still the parameters and the buffers it was built for."""
        params = self.params
        if len(items) != len(params):
            return False
        for i, (p, _, _) in enumerate(items):
            if p is not params[i]:
                return False
            s = state[p]
            for k in self.keys:
                if s.get(k) is not self.views[k][i]:
                    return False
        return True


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()

# PyTorch options with no counterpart here; a state dict that turns one on is refused
# rather than silently run differently.
_UNSUPPORTED = ("maximize", "capturable", "differentiable", "fused")


class Optimizer:
    """Base class of optimisers.

    Parameters
    ----------
    params : iterable of Tensors, or of dicts
        The tensors to optimise, or parameter groups: dicts with ``"params"`` and any
        hyper-parameters that override ``defaults`` for that group.
    defaults : dict
        Hyper-parameters of every group that does not set its own.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            "dicts, got a single Tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)
        # Scratch arrays per parameter, reused every step (not state: never saved).
        self._scratch: dict[tuple[int, int], np.ndarray] = {}
        # Flat buffers per group (see _flat), keyed by id of the group dict.
        self._flats: dict[int, FlatState] = {}

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with optional hyper-parameter overrides)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: a param group must be a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("add_param_group: params must be an ordered collection (a list), "
                            "not a set: the order fixes the indices of state_dict()")
        params = list(params) if params is not None else []
        name = type(self).__name__
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimise Tensors, but parameter {i} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimise a non-leaf Tensor (parameter {i}, "
                                 f"made by {p.grad_fn}); use a Parameter or x.detach()")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.data.dtype}; only "
                                "floating-point tensors can be optimised")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears twice in one group")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group["params"] = params
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {k}")
            group.setdefault(k, v)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate hyper-parameters (subclasses raise ValueError naming the bad one)."""

    @staticmethod
    def _nonneg(group: dict[str, Any], opt: str, *keys: str) -> None:
        for k in keys:
            v = group[k]
            if not isinstance(v, numbers.Real) or v < 0 or v != v:
                raise ValueError(f"{opt}: invalid {k} value: {v!r} (must be a number >= 0)")

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (``None``, or zeros in place)."""
        for group in self.param_groups:
            if set_to_none:
                for p in group["params"]:
                    p.grad = None
                continue
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given (the
        closure re-evaluates the model and returns the loss)."""
        loss = None
        if closure is not None:
            from ..autograd.grad_mode import enable_grad

            with enable_grad():
                loss = closure()
        # The updates work on the arrays under the tensors, so no graph is ever recorded.
        for group in self.param_groups:
            items = []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                data = p.data
                if not data.flags.writeable:
                    self._not_writeable(p)
                grad = g.data
                if grad.shape != data.shape:
                    raise RuntimeError(f"{type(self).__name__}.step: a gradient of shape "
                                       f"{grad.shape} for a parameter of shape {data.shape}")
                items.append((p, data, grad))
            if items:
                self._update_group(group, items)
        return loss

    # ------------------------------------------------------------------ flat state
    # An optimiser that defines ``_flat_keys(group)`` (the names of its per-parameter
    # buffers) keeps those buffers of a group in one contiguous array per
    # name, ``state[p][name]`` being views of it, and implements ``_update_group`` on them:
    # the arithmetic then runs once over all parameters of the group instead of once per
    # parameter. Each NumPy call costs ~1 us whatever its size, and an algorithm like Adam
    # makes a dozen per parameter: for small and medium models that is most of the step.
    _flat_keys: Any = None
    _flat_steps = True  # whether the state counts steps (``step``; SGD's does not)

    def _update_group(self, group: dict[str, Any], items: list[tuple]) -> None:
        """Update the ``(tensor, array, grad)`` items of one group (the parameters that have
        a gradient, checked); by default one :meth:`_update` per parameter."""
        state = self.state
        update = self._update
        for p, data, grad in items:
            update(data, grad, state[p], group)

    def _flat(self, group: dict[str, Any], items: list[tuple]) -> FlatState | None:
        """The flat buffers of ``group`` for this step, or None to update the parameters one
        by one: when some parameter has no gradient this step, their step counts differ, or
        their dtypes do. Built (or rebuilt, after ``load_state_dict`` or a user replacing a
        buffer) by copying the current values in."""
        flat = self._flats.get(id(group))
        keys = self._flat_keys(group)
        if flat is not None and flat.keys == keys and flat.serves(items, self.state):
            return flat
        if len(items) != len(group["params"]):
            return None  # a subset of the group this step: one by one (on the same views)
        states = [self.state[p] for p, _, _ in items]
        steps = {s.get("step", 0) for s in states}
        if len(steps) != 1 or len({d.dtype for _, d, _ in items}) != 1:
            return None
        if not all(all(k in s for k in keys) if s else True for s in states):
            return None
        flat = self._flats[id(group)] = FlatState(items, states, keys, self._flat_steps)
        return flat

    def _flat_step(self, group: dict[str, Any], items: list[tuple],
                   fresh: str | None = None) -> tuple | None:
        """For a group update on the flat buffers: ``(flat, step, first)``, the buffers (see
        :meth:`_flat`), the new step count, already stored in every state (0 for an
        algorithm that counts no steps), and whether this is every parameter's first step.
        None to update the parameters one by one, also when their step counts differ (a
        user may have set one).

        ``fresh``: a buffer that does not start at zero (SGD's momentum, Adagrad's sum),
        which the algorithm sets itself at the first step; the flat path is then taken only
        when every state has it or none has, and ``first`` says which."""
        first = False
        if fresh is not None:
            state = self.state
            has = [fresh in state[p] for p, _, _ in items]
            if any(has) and not all(has):
                return None
            first = not has[0]
        flat = self._flat(group, items)
        if flat is None:
            return None
        if not self._flat_steps:
            return flat, 0, first
        states = [self.state[p] for p, _, _ in items]
        step = states[0]["step"]
        if any(s["step"] != step for s in states):
            return None
        step += 1
        for s in states:
            s["step"] = step
        return flat, step, first

    def _not_writeable(self, p: Tensor) -> None:
        try:
            check_writeable(p, f"{type(self).__name__}.step")
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc} If the graph was kept with backward(retain_graph=True), drop it "
                "(del loss, or call the second backward) before optimizer.step(): its saved "
                "parameters are protected while it can still run."
            ) from None

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decayed(self, p: np.ndarray, g: np.ndarray, wd: float, i: int = 1) -> np.ndarray:
        """``g + wd p`` (L2 weight decay folded into the gradient) in scratch buffer ``i``,
        or ``g`` itself when ``wd`` is 0. Never writes to ``g``: it is the user's ``.grad``."""
        if wd == 0:
            return g
        d = self._buf(p, i)
        np.multiply(p, wd, out=d)
        d += g
        return d

    @staticmethod
    def _decay_into(ps: list[np.ndarray], gs: list[np.ndarray], wd: float, flat: np.ndarray,
                    views: list[np.ndarray]) -> np.ndarray | None:
        """L2 weight decay for the parameters ``ps`` of one update: ``views[j] = gs[j] + wd
        ps[j]``, where ``views`` are views of the scratch array ``flat`` (or ``[flat]``
        itself for one parameter). Returns ``flat``, or None when ``wd`` is 0. Never writes
        to ``gs``: they are the users' ``.grad``."""
        if wd == 0:
            return None
        for p, g, dj in zip(ps, gs, views):
            np.multiply(p, wd, out=dj)
            dj += g  # L2: g + lambda p
        return flat

    def _buf(self, param: np.ndarray, i: int = 0) -> np.ndarray:
        """A scratch array shaped like ``param``, reused across steps (``i`` picks one of
        several). Saves an allocation (and its page faults) per temporary per step."""
        key = (id(param), i)
        b = self._scratch.get(key)
        if b is None or b.shape != param.shape or b.dtype != param.dtype:
            b = self._scratch[key] = np.empty_like(param)
        return b

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are numbered 0, 1, ... in group order, as in PyTorch. Values are copies:
        NumPy arrays for buffers, Python numbers for counters (``step``), so the dict can be
        stored as safetensors + JSON (see :func:`retrograd.optim.flatten_state_dict`).
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": copy.deepcopy(groups)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and buffers saved by :meth:`state_dict` (from this or an
        equal optimiser over parameters of the same shapes, in the same order)."""
        name = type(self).__name__
        try:
            saved_groups = state_dict["param_groups"]
            saved_state = state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups' (from Optimizer.state_dict())") from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(saved_groups)} "
                             f"parameter groups, this optimiser {len(self.param_groups)}")
        lens = [len(g["params"]) for g in self.param_groups]
        saved_lens = [len(g["params"]) for g in saved_groups]
        if lens != saved_lens:
            raise ValueError(f"{name}.load_state_dict: the saved groups hold {saved_lens} "
                             f"parameters, this optimiser's {lens}")
        for saved in saved_groups:
            on = [k for k in _UNSUPPORTED if saved.get(k)]
            if on:
                raise ValueError(f"{name}.load_state_dict: the saved groups turn on "
                                 f"{', '.join(on)}, which retrograd does not implement")
        by_index = {}
        for group, saved in zip(self.param_groups, saved_groups):
            for p, i in zip(group["params"], saved["params"]):
                by_index[int(i)] = p
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for i, s in saved_state.items():
            i = int(i)  # JSON turns the keys into strings
            if i not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, which no "
                                 "group holds")
            p = by_index[i]
            entry = {}
            for k, v in s.items():
                if isinstance(v, Tensor):
                    v = v.data
                elif hasattr(v, "__array__") and not isinstance(v, np.ndarray):
                    v = np.asarray(v)  # e.g. a torch tensor from torch's state_dict()
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.data.shape:
                        raise ValueError(f"{name}.load_state_dict: state {k!r} of parameter "
                                         f"{i} has shape {v.shape}, the parameter "
                                         f"{p.data.shape}")
                    v = np.array(v, dtype=p.data.dtype)  # a private, writeable copy
                elif isinstance(v, np.ndarray):
                    v = v.item()
                entry[k] = v
            new_state[p] = entry
        updates = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items()
                   if k != "params"}
            self._check_group({**group, **new})  # every check before anything is replaced
            updates.append(new)
        self.state = new_state
        for group, new in zip(self.param_groups, updates):
            group.update(new)  # in place: the group dicts users and schedulers hold stay valid
        self._scratch = {}
        self._flats = {}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def flatten_state_dict(state_dict: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
    """Split an optimiser state dict into arrays and a JSON-compatible rest.

    Returns ``(arrays, meta)``: ``arrays`` maps ``"state.<index>.<name>"`` to NumPy arrays
    (e.g. for :func:`retrograd.save`), ``meta`` holds the param groups and scalar state.
    :func:`unflatten_state_dict` inverts it exactly.
    """
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for i, s in state_dict["state"].items():
        for k, v in s.items():
            if isinstance(v, Tensor):
                v = v.data
            if isinstance(v, np.ndarray):
                arrays[f"state.{i}.{k}"] = v
            else:
                scalars.setdefault(str(i), {})[k] = v.item() if isinstance(v, np.generic) else v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
              for g in state_dict["param_groups"]]
    return arrays, {"param_groups": groups, "scalars": scalars,
                    "indices": sorted({int(i) for i in state_dict["state"]})}


def unflatten_state_dict(arrays: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_state_dict`."""
    state: dict[int, dict[str, Any]] = {int(i): {} for i in meta.get("indices", [])}
    for key, v in arrays.items():
        _, i, k = key.split(".", 2)
        state.setdefault(int(i), {})[k] = v.data if isinstance(v, Tensor) else np.asarray(v)
    for i, s in meta.get("scalars", {}).items():
        state.setdefault(int(i), {}).update(s)
    return {"state": state, "param_groups": copy.deepcopy(meta["param_groups"])}
