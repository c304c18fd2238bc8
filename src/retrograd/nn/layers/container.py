"""Containers: ``Sequential`` and ``ModuleList``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator

from ..module import Module
from .activation import ReLU, Sigmoid, Tanh

_CALL = Module.__call__

# The activation modules a preceding module may fuse with, keyed by their forward function:
# a subclass that keeps the library's forward fuses, one that overrides it does not.
_ACT_OF_FORWARD = {ReLU.forward: "relu", Sigmoid.forward: "sigmoid", Tanh.forward: "tanh"}


def run_fused(mods: list, x: Any) -> Any:
    """Apply ``mods`` in order, running a module followed by a *plain* activation module as
    one fused primitive where the module offers one for that activation.

    Plain: an ``nn.ReLU``, ``nn.Sigmoid`` or ``nn.Tanh`` whose call is exactly
    ``x.relu()``, ``x.sigmoid()`` or ``x.tanh()`` (no forward hooks, forward not
    overridden). The module offers fusion with activation ``act`` ("relu", ...) when ``act
    in module._fuses`` and ``module._fusable()``; then ``module._forward_act(x, act)``
    returns ``act(module(x))``. Linear fuses with all three; BatchNorm, and Residual blocks
    ending in BatchNorm, with ReLU only.
    """
    i, n = 0, len(mods)
    while i < n:
        m = mods[i]
        # (Module._fusable is None: one class-attribute lookup for every other module)
        if m._fusable is not None and i + 1 < n:
            a = mods[i + 1]
            act = _ACT_OF_FORWARD.get(type(a).forward)
            if act is not None and act in m._fuses and not a._forward_hooks \
                    and not a._forward_pre_hooks and m._fusable():
                x = m._forward_act(x, act)
                i += 2
                continue
        # m.forward directly when m has no hooks (and keeps Module's __call__): what m(x)
        # would do, minus the cost of calling an instance, a good part of a small layer's
        if m._forward_pre_hooks or m._forward_hooks or type(m).__call__ is not _CALL:
            x = m(x)
        else:
            x = m.forward(x)
        i += 1
    return x


class Sequential(Module):
    """Modules applied in order; state_dict keys are ``"0.weight"``, ``"1.bias"``, ...

    Accepts modules as arguments or one ``OrderedDict`` of named modules.

    Some pairs of modules run as one fused primitive:

    * an ``nn.Linear`` followed by an ``nn.ReLU``, ``nn.Sigmoid`` or ``nn.Tanh``
      (``act(x W^T + b)``, the activation in place on the GEMM's output; see
      ``LinearAct`` in ``ops/linalg.py``);
    * a ``BatchNorm1d``/``BatchNorm2d`` followed by an ``nn.ReLU`` (``relu(bn(x))``, see
      ``ops/norm.py``), and an ``nn.Residual`` whose branch ends in BatchNorm followed by an
      ``nn.ReLU`` (``relu(x + bn(...))``).

    The results, gradients and running statistics are those of the modules run one by one;
    the graph has one node instead of two or three. Fusion happens only when none of the
    modules involved has a forward (pre-)hook, so hooks (``retrograd.explain`` uses them)
    see every module's own output, and only for the library's own ``forward`` methods (not
    subclasses overriding them).
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, "
                                    "not a Module")
                self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        return run_fused(list(self._modules.values()), x)

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        try:
            return mods[idx]
        except IndexError:
            raise IndexError(f"Sequential: index {idx} out of range for {len(mods)} "
                             "modules") from None

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules, registered (so their parameters are found) but not called."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[idx]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[idx]
        self.add_module(key, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError("ModuleList is not callable; iterate over it in forward()")
