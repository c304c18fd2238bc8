"""``nn.Module``: the base class of layers and models, with PyTorch's conventions.

Parameters, submodules and buffers assigned as attributes are routed into three ordered
dicts (insertion order, never hashing order), which gives ``parameters()``, ``state_dict()``
keys such as ``"0.weight"``, and ``train()``/``eval()`` recursion.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import numpy as np

from .. import dtypes as _dt
from ..autograd.function import check_writeable
from ..tensor import Tensor, _HookHandle
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _dotted(prefix: str, name: str) -> str:
    """``prefix.name``, or ``name`` at the top level."""
    return f"{prefix}.{name}" if prefix else name


class Module:
    """Base class of every layer and model.

    Subclasses set their parameters and submodules as attributes in ``__init__`` (after
    ``super().__init__()``) and define ``forward``. Calling the module runs ``forward``
    and the forward hooks.

    Examples
    --------
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.fc(x).relu()
    """

    training: bool
    # A module that can run as one fused primitive with a following activation module
    # defines ``_fuses`` (the activations it fuses with: "relu", "sigmoid", "tanh"),
    # ``_fusable()`` (whether it may now: no hooks, forward not overridden) and
    # ``_forward_act(x, act)``, which returns ``act(module(x))`` (Linear; BatchNorm and
    # Residual with ReLU only; see nn.Sequential and run_fused).
    _fusable: Any = None
    _fuses: tuple = ()

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", [])
        object.__setattr__(self, "_forward_pre_hooks", [])
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward() method")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks):
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks):
                r = hook(self, args, out)
                if r is not None:
                    out = r
        return out

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called: call "
                "super().__init__() first in the subclass's __init__"
            )
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            buffers.pop(name, None)
            modules.pop(name, None)
            d.pop(name, None)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            d.pop(name, None)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                if not isinstance(value, np.ndarray):
                    raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                    "(Tensor, array or None expected)")
                value = Tensor._wrap(value)
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name`` (``None`` marks an absent optional one)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be an nn.Parameter or None, "
                            f"got {type(param).__name__}")
        if "." in name or not name:
            raise KeyError(f"register_parameter: invalid name {name!r}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register a non-trainable tensor (e.g. running statistics); saved in state_dict
        unless ``persistent=False``."""
        if "." in name or not name:
            raise KeyError(f"register_buffer: invalid name {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as the child ``name`` (``None`` marks an absent optional one)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} is a {type(module).__name__}, not a Module")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    def register_forward_hook(self, hook: Callable[..., Any]) -> _HookHandle:
        """``hook(module, inputs, output)`` runs after ``forward``; a non-None result
        replaces the output. Returns a handle with ``remove()``."""
        self._forward_hooks.append(hook)
        return _HookHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> _HookHandle:
        """``hook(module, inputs)`` runs before ``forward``; it may return new inputs."""
        self._forward_pre_hooks.append(hook)
        return _HookHandle(self._forward_pre_hooks, hook)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "", memo: set | None = None
                      ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for self (name ``""``) and every descendant, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(_dotted(prefix, name), memo)

    def modules(self) -> Iterator[Module]:
        """Self and every descendant module, each once."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct children."""
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct child modules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool
                       ) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, v in getattr(m, store).items():
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield _dotted(mprefix, name), v

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, each parameter once, in registration order."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter once, in registration order (e.g. for an optimiser)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs, each buffer once."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer (e.g. running statistics) once."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``""`` is self); an AttributeError names
        the missing part."""
        m: Module = self
        for part in target.split(".") if target else []:
            if part not in m._modules or m._modules[part] is None:
                raise AttributeError(f"get_submodule: {type(m).__name__} has no submodule "
                                     f"{part!r} (path {target!r})")
            m = m._modules[part]
        return m

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch statistics in BatchNorm); returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout off, running statistics in BatchNorm); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (e.g. ``False`` to freeze); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the parameters' gradients (gradients accumulate across backward calls)."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ dtype
    def to(self, dtype: Any) -> Module:
        """Convert floating-point parameters and buffers to ``dtype`` (in place).

        ``"cpu"`` is accepted and changes nothing (retrograd runs on the CPU), so that
        PyTorch code's ``model.to(device)`` runs unchanged.
        """
        if isinstance(dtype, str) and dtype.lower() == "cpu":
            return self
        d = _dt.as_dtype(dtype)
        if d.kind != "f":
            raise TypeError(f"Module.to: expected a floating-point dtype, got {d}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t.data.dtype.kind == "f" and t.data.dtype != d:
                t.data = t.data.astype(d)
                if t.grad is not None:
                    t.grad = Tensor._wrap(t.grad.data.astype(d))
        return self

    def double(self) -> Module:
        """Convert floating-point parameters and buffers to float64; returns self."""
        return self.to(_dt.float64)

    def float(self) -> Module:
        """Convert floating-point parameters and buffers to float32; returns self."""
        return self.to(_dt.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self, prefix: str = "", keep_vars: bool = False
                   ) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, as detached tensors sharing
        memory (the same keys as PyTorch for the same model); ``keep_vars=True`` gives the
        Parameters themselves.

        A module reachable by two paths (a shared layer) appears under both, as in PyTorch,
        although ``parameters()`` yields its tensors once.
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        for key, t, persistent in self._state_items(prefix.rstrip(".")):
            if persistent:
                out[key] = t if keep_vars else t.detach()
        return out

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor, bool]]:
        """(dotted name, tensor, persistent) for every parameter and buffer, walking every
        path (no de-duplication: keys must match PyTorch's)."""
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            mprefix, m = stack.pop()
            for name, p in m._parameters.items():
                if p is not None:
                    yield _dotted(mprefix, name), p, True
            for name, b in m._buffers.items():
                if b is not None:
                    yield _dotted(mprefix, name), b, name not in m._non_persistent
            children = [(_dotted(mprefix, name), c)
                        for name, c in m._modules.items() if c is not None]
            stack.extend(reversed(children))

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Values may be Tensors or arrays (a PyTorch state dict works as it is, or after
        ``{k: v.numpy() for k, v in sd.items()}``) and are cast to each tensor's dtype.
        With ``strict=True`` a missing or unexpected key is an error; with ``strict=False``
        they are returned as ``(missing_keys, unexpected_keys)``. A shape mismatch is always
        an error. Nothing is copied unless everything can be.

        Raises
        ------
        TypeError
            ``state_dict`` is not a mapping.
        RuntimeError
            Naming every missing and unexpected key (strict) and every shape mismatch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to tensors, got "
                            f"{type(state_dict).__name__}")
        own = {k: t for k, t, persistent in self._state_items() if persistent}
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        values = []
        for k, target in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v.data if isinstance(v, Tensor) else np.asarray(v)
            if arr.shape != target.data.shape:
                problems.append(f"size mismatch for {k}: copying a value of shape {arr.shape}, "
                                f"the shape in this model is {target.data.shape}")
            elif arr.dtype.kind not in "biuf":
                problems.append(f"bad value for {k}: an array of dtype {arr.dtype}")
            values.append((k, target, arr))
        if strict and missing:
            problems.insert(0, "Missing key(s) in state_dict: "
                            + ", ".join(f'"{k}"' for k in missing) + ".")
        if strict and unexpected:
            problems.insert(1 if missing else 0, "Unexpected key(s) in state_dict: "
                            + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(problems))
        for k, t, arr in values:
            check_writeable(t, f"load_state_dict({k!r})")
            np.copyto(t.data, arr, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """Layer settings shown inside ``repr`` (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        if not lines:
            return f"{type(self).__name__}()"
        if not self._modules and len(lines) == 1:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))
