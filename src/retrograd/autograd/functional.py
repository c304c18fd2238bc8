"""Functional gradients, as in JAX and HIPS autograd: ``rg.grad(fn)(x)``."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import dtypes as _dt
from .grad_mode import enable_grad


def _leaf(x: Any, where: str) -> Any:
    from ..tensor import Tensor, _check_float_for_grad

    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if arr.dtype.kind in "iub" and not isinstance(x, Tensor):
        arr = arr.astype(_dt.get_default_dtype())
    _check_float_for_grad(arr.dtype, where)
    return Tensor._wrap(arr, requires_grad=True)


def value_and_grad(fn: Callable[..., Any], argnums: int | tuple[int, ...] = 0
                   ) -> Callable[..., tuple[Any, Any]]:
    """Return a function computing ``(fn(*args), gradient of fn w.r.t. args[argnums])``.

    ``fn`` must return a one-element Tensor. The gradient is a Tensor (a tuple of Tensors
    when ``argnums`` is a tuple); an argument ``fn`` does not use gets zeros.
    """
    from ..tensor import Tensor

    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)

    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        args = list(args)
        for i in nums:
            if not -len(args) <= i < len(args):
                raise ValueError(f"grad: argnums {argnums!r} out of range for {len(args)} "
                                 "positional arguments")
            args[i] = _leaf(args[i], "grad")
        with enable_grad():
            out = fn(*args, **kwargs)
        if not isinstance(out, Tensor) or out.data.size != 1:
            shape = getattr(out, "shape", type(out).__name__)
            raise TypeError(f"grad: fn must return a one-element Tensor, got {shape}")
        if out.requires_grad:
            out.backward()
        grads = tuple(args[i].grad if args[i].grad is not None
                      else Tensor._wrap(np.zeros_like(args[i].data)) for i in nums)
        return out.detach(), (grads[0] if single else grads)

    return wrapped


def grad(fn: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """Return a function computing the gradient of scalar-valued ``fn`` w.r.t.
    ``args[argnums]``.

    Examples
    --------
    >>> df = rg.grad(lambda x: (x ** 3).sum())
    >>> df(rg.tensor([2.0]))
    tensor([12.], dtype=float32)
    """
    vg = value_and_grad(fn, argnums)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return wrapped
