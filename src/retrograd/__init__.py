"""retrograd: backpropagation that is fast and visible.

A NumPy-native autodiff engine with PyTorch's API (``Tensor``, ``nn``, ``optim``, ``data``)
and a teaching layer (``retrograd.explain``) that shows every delta, local gradient and
weight gradient of a real backward pass.

>>> import retrograd as rg
>>> x = rg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4., 6.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from . import _alloc

_alloc.tune_allocator()

from . import dtypes  # noqa: E402
from .autograd import (  # noqa: E402
    AnomalyError,
    Function,
    GradcheckError,
    detect_anomaly,
    enable_grad,
    grad,
    gradcheck,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    value_and_grad,
)
from .creation import (  # noqa: E402
    arange,
    as_tensor,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import (  # noqa: E402
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from .ops import concatenate, maximum, minimum, stack, where  # noqa: E402
from .random import get_rng_state, manual_seed, set_rng_state  # noqa: E402
from .tensor import Tensor  # noqa: E402

__version__ = "0.1.0"

cat = concatenate


def _as_tensor(t: Any) -> Tensor:
    return t if isinstance(t, Tensor) else Tensor(t)


def _function_form(name: str) -> Any:
    method = getattr(Tensor, name)

    def fn(t: Any, *args: Any, **kwargs: Any) -> Any:
        return method(_as_tensor(t), *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``rg.{name}(t, ...)`` is ``t.{name}(...)``.\n\n{method.__doc__ or ''}"
    return fn


# Every Tensor method of the API is also a function rg.NAME(t, ...).
for _name in ("sum", "mean", "max", "min", "argmax", "argmin", "var", "std", "logsumexp", "exp",
              "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "leaky_relu", "gelu", "softmax",
              "log_softmax", "clip", "clamp", "reshape", "flatten", "transpose", "permute",
              "squeeze", "unsqueeze", "pad", "matmul", "expand", "detach", "clone"):
    globals()[_name] = _function_form(_name)
del _name

# Subpackages last: they build on Tensor. (explain imports nn and optim itself.)
from . import explain, nn, optim  # noqa: E402,F401
from .serialization import load, save  # noqa: E402  (nnopt: safetensors state dicts)
