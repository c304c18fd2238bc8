"""Checks of the four equations of backpropagation on *recorded* values.

This module never computes a gradient by a second route: it takes what the engine produced
(δ, Δ, ∂C/∂a from gradient hooks; ∂C/∂W, ∂C/∂b from ``.grad``) and confirms the algebra
that links them (seed 003's notation, with rows as samples):

* BP1  δ^L = ∇_a C ⊙ σ'(z^L)
* BP2  δ^l = (δ^{l+1} W^{l+1}) ⊙ σ'(z^l), i.e. ((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l) per sample
* BP3  ∂C/∂b^l = δ^l (summed over the rows of a batch)
* BP4  ∂C/∂W^l = δ^l (a^{l-1})ᵀ (summed over the rows of a batch)

σ'(z) is obtained by running the layer's own activation modules on z through the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor


@dataclass
class Check:
    """One equation checked on one layer."""

    equation: str
    layer: int
    error: float      # max |lhs - rhs|
    ok: bool


def _tol(a: np.ndarray) -> float:
    eps = np.finfo(a.dtype).eps if a.dtype.kind == "f" else np.finfo(np.float64).eps
    return float(256 * eps)


def _compare(name: str, layer: int, lhs: np.ndarray, rhs: np.ndarray) -> Check:
    lhs = np.asarray(lhs)
    rhs = np.asarray(rhs)
    err = float(np.max(np.abs(lhs - rhs))) if lhs.size else 0.0
    scale = float(np.max(np.abs(rhs))) if rhs.size else 0.0
    ok = bool(lhs.shape == rhs.shape and err <= _tol(lhs) * max(scale, 1e-30) * 4 + 1e-300)
    return Check(name, layer, err, ok)


def _elementwise(m: Any) -> bool:
    from ..nn.layers.activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
    from ..nn.layers.linear import Identity

    if isinstance(m, (GELU, LeakyReLU, ReLU, Sigmoid, Tanh, Identity)):
        return True
    # dropout is elementwise only when it is the identity (eval); a fresh mask would differ
    return type(m).__name__ == "Dropout" and not m.training


def activation_derivative(modules: list, z: np.ndarray) -> np.ndarray | None:
    """σ'(z) for an elementwise activation given as modules, by the engine (None if the
    activation is not available as modules, or not elementwise - e.g. softmax, whose
    Jacobian is not diagonal)."""
    if not modules or not all(_elementwise(m) for m in modules):
        return None
    zt = Tensor(np.array(z, copy=True), requires_grad=True)
    with enable_grad():
        a = zt
        for m in modules:
            a = m(a)
        if a.shape != zt.shape:
            return None
        a.backward(np.ones(a.shape, dtype=a.dtype))
    return None if zt.grad is None else zt.grad.data


def check_layers(layers: list) -> list[Check]:
    """BP1-BP4 (and Δ = δW) on the records of :func:`retrograd.explain.backprop`."""
    out: list[Check] = []
    L = len(layers)
    for i, r in enumerate(layers):
        if r.delta is None:
            continue
        li = r.index
        if r.activation == "identity":
            sp = np.ones_like(r.z)
        else:
            sp = activation_derivative(r.act_modules, r.z)
        if sp is not None and r.grad_a is not None:
            name = "BP1: δ^L = ∇aC ⊙ σ'(z^L)" if i == L - 1 else "BP2: δ^l = Δ^(l+1) ⊙ σ'(z^l)"
            out.append(_compare(name, li, r.delta, r.grad_a * sp))
        if i + 1 < L and layers[i + 1].delta is not None and r.grad_a is not None:
            nxt = layers[i + 1]
            out.append(_compare("Δ^(l+1) = δ^(l+1) W^(l+1)", nxt.index, r.grad_a,
                                nxt.delta @ nxt.weight))
        d2 = r.delta.reshape(-1, r.delta.shape[-1])
        if r.db is not None:
            out.append(_compare("BP3: ∂C/∂b = δ", li, r.db, d2.sum(axis=0)))
        if r.dW is not None:
            a2 = r.a_prev.reshape(-1, r.a_prev.shape[-1])
            out.append(_compare("BP4: ∂C/∂W = δ aᵀ", li, r.dW, d2.T @ a2))
    return out
