"""The op case table: one row per differentiable op of API.md's "Tensors and autodiff".

Each row names the retrograd callable, an independent NumPy reference, the input domain, the
shapes the inputs may take (a hypothesis strategy, so broadcasting combinations are drawn),
op parameters that depend on those shapes (axes, keepdims, ...) and the PyTorch equivalent.
``test_op_table.py`` drives three checks from it: forward == NumPy, float64 central
differences (never needs torch) and equality with PyTorch's gradients. A new op is one row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import retrograd as rg

# ------------------------------------------------------------------ input domains
# Values are drawn away from kinks (0 for relu/abs, ties for max/min) so that central
# differences with eps=1e-6 are meaningful; ties and kinks have their own tests.


def _real(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    # magnitudes in [0.2, 2] with random signs: no value near the kink at 0
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _positive(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape)


def _distinct(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    # a random permutation of well-separated values: no ties anywhere (max/min, maximum)
    n = int(np.prod(shape, dtype=np.int64))
    vals = (rng.permutation(n) - n / 2) * 0.37 + rng.uniform(-0.05, 0.05, n)
    return vals.reshape(shape)


DOMAINS = {"real": _real, "positive": _positive, "distinct": _distinct}


# ------------------------------------------------------------------ shape strategies
def one_shape(min_dims: int = 0, max_dims: int = 3, max_side: int = 3) -> st.SearchStrategy:
    return array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1,
                        max_side=max_side).map(lambda s: (s,))


def broadcast_shapes(n: int = 2) -> st.SearchStrategy:
    """``n`` shapes that broadcast together (size-1 axes, missing leading axes, equal)."""
    return mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, min_side=1,
                                         max_side=3).map(lambda b: tuple(b.input_shapes))


def _axis_params(shapes: tuple, allow_none: bool = True, tuples: bool = True,
                 keepdims: bool = True) -> st.SearchStrategy:
    """An axis argument (None, an int, or a tuple of ints, negative ones included)."""
    ndim = len(shapes[0])
    options = [st.just(None)] if allow_none or ndim == 0 else []
    if ndim:
        ints = st.integers(-ndim, ndim - 1)
        options.append(ints)
        if tuples:
            options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                    unique=True).map(tuple))
    axis = st.one_of(*options)
    kd = st.booleans() if keepdims else st.just(False)
    return st.fixed_dictionaries({"axis": axis, "keepdims": kd})


def _one_axis(shapes: tuple) -> st.SearchStrategy:
    ndim = len(shapes[0])
    return st.fixed_dictionaries({"axis": st.integers(-ndim, ndim - 1)})


def _no_params(shapes: tuple) -> st.SearchStrategy:
    return st.just({})


@dataclass
class Case:
    """One op: retrograd callable, NumPy reference, torch equivalent, inputs."""

    name: str
    fn: Callable[..., Any]          # (*Tensors, **params) -> Tensor
    ref: Callable[..., Any]         # (*ndarrays, **params) -> ndarray
    torch: Callable[..., Any] | None  # (torch, *torch tensors, **params) -> torch tensor
    shapes: st.SearchStrategy       # strategy of a tuple of input shapes
    params: Callable[[tuple], st.SearchStrategy] = _no_params
    domain: str | tuple = "real"    # one name, or one per input
    valid: Callable[..., bool] = field(default=lambda shapes, params: True)

    def arrays(self, rng: np.random.Generator, shapes: tuple) -> list[np.ndarray]:
        doms = self.domain if isinstance(self.domain, tuple) else (self.domain,) * len(shapes)
        return [DOMAINS[d](rng, s) for d, s in zip(doms, shapes)]

    def __repr__(self) -> str:
        return self.name


def _np_gelu(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _np_gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _dims(x: Any, axis: Any) -> tuple:
    """torch spelling of a NumPy axis argument (None = every axis)."""
    if axis is None:
        return tuple(range(x.dim()))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _var_valid(shapes: tuple, params: dict, min_dof: int = 1) -> bool:
    shape = shapes[0]
    axis = params["axis"]
    if axis is None:
        n = int(np.prod(shape, dtype=np.int64))
    else:
        axes = (axis,) if isinstance(axis, int) else axis
        n = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    return n - params["correction"] >= min_dof


def _std_valid(shapes: tuple, params: dict) -> bool:
    # std of one value is 0, where sqrt has no derivative (PyTorch gives NaN there too)
    return _var_valid(shapes, params) and _var_valid(shapes, {**params, "correction": 0}, 2)


def _var_params(shapes: tuple) -> st.SearchStrategy:
    return _axis_params(shapes).flatmap(
        lambda p: st.integers(0, 1).map(lambda c: {**p, "correction": c}))


def _clip_params(shapes: tuple) -> st.SearchStrategy:
    return st.sampled_from([{"lo": -0.5, "hi": 0.7}, {"lo": -0.5, "hi": None},
                            {"lo": None, "hi": 0.7}])


def _torch_clip(torch: Any, x: Any, lo: Any, hi: Any) -> Any:
    return torch.clamp(x, lo, hi)


def _reshape_params(shapes: tuple) -> st.SearchStrategy:
    n = int(np.prod(shapes[0], dtype=np.int64))
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return st.sampled_from(divisors).flatmap(
        lambda d: st.sampled_from([(d, n // d), (d, -1), (-1,), (n // d, 1, d)])
    ).map(lambda s: {"shape": s})


def _transpose_params(shapes: tuple) -> st.SearchStrategy:
    ndim = len(shapes[0])
    ax = st.integers(-ndim, ndim - 1)
    return st.fixed_dictionaries({"dim0": ax, "dim1": ax})


def _permute_params(shapes: tuple) -> st.SearchStrategy:
    return st.permutations(range(len(shapes[0]))).map(lambda p: {"axes": tuple(p)})


def _squeeze_params(shapes: tuple) -> st.SearchStrategy:
    ndim = len(shapes[0])
    ones = [i for i, n in enumerate(shapes[0]) if n == 1]
    opts = [st.just({"axis": None})]
    if ones:
        opts.append(st.sampled_from(ones).map(lambda a: {"axis": a}))
    if ndim:
        opts.append(st.integers(0, ndim - 1).map(lambda a: {"axis": a}))  # size > 1: no-op
    return st.one_of(*opts)


def _np_squeeze(x: np.ndarray, axis: Any) -> np.ndarray:
    if axis is None:
        return np.squeeze(x)
    return np.squeeze(x, axis) if x.shape[axis] == 1 else x


def _unsqueeze_params(shapes: tuple) -> st.SearchStrategy:
    ndim = len(shapes[0])
    return st.integers(-ndim - 1, ndim).map(lambda a: {"axis": a})


def _expand_params(shapes: tuple) -> st.SearchStrategy:
    shape = shapes[0]
    return st.lists(st.integers(1, 3), min_size=0, max_size=2).map(
        lambda lead: {"shape": tuple(lead) + tuple(3 if n == 1 else n for n in shape)})


def _flatten_params(shapes: tuple) -> st.SearchStrategy:
    ndim = len(shapes[0])
    return st.integers(0, ndim - 1).map(lambda a: {"start_dim": a})


def _cat_shapes(n: int = 3) -> st.SearchStrategy:
    # same shape except along one axis
    def build(base: tuple) -> st.SearchStrategy:
        ax = st.integers(0, len(base) - 1)
        return ax.flatmap(lambda a: st.lists(st.integers(1, 3), min_size=n, max_size=n).map(
            lambda sizes: tuple(base[:a] + (k,) + base[a + 1:] for k in sizes)))
    return array_shapes(min_dims=1, max_dims=3, max_side=3).flatmap(build)


def _cat_params(shapes: tuple) -> st.SearchStrategy:
    diff = [i for i in range(len(shapes[0])) if len({s[i] for s in shapes}) > 1]
    if diff:
        return st.just({"axis": diff[0]})
    ndim = len(shapes[0])
    return st.integers(-ndim, ndim - 1).map(lambda a: {"axis": a})


def _stack_shapes(shapes: tuple) -> st.SearchStrategy:
    ndim = len(shapes[0])
    return st.integers(-ndim - 1, ndim).map(lambda a: {"axis": a})


def _pad_params(shapes: tuple) -> st.SearchStrategy:
    ndim = len(shapes[0])
    widths = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=ndim,
                      max_size=ndim).map(tuple)
    form = st.one_of(widths, st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)))
    return st.fixed_dictionaries({"pad_width": form, "value": st.sampled_from([0.0, -1.5])})


def _torch_pad(torch: Any, x: Any, pad_width: Any, value: float) -> Any:
    w = np.broadcast_to(np.asarray(pad_width), (x.dim(), 2))
    flat = [int(v) for pair in w[::-1] for v in pair]  # torch: last axis first
    return torch.nn.functional.pad(x, flat, value=value)


def _matmul_shapes() -> st.SearchStrategy:
    """1-D and n-D operands, with batch axes that broadcast."""
    k = st.integers(1, 3)

    def build(args: tuple) -> st.SearchStrategy:
        kk, m, n = args
        batch = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                              max_side=3).map(lambda b: b.input_shapes)
        return st.tuples(batch, st.booleans(), st.booleans()).map(
            lambda t: ((kk,) if t[1] else t[0][0] + (m, kk),
                       (kk,) if t[2] else t[0][1] + (kk, n)))
    return st.tuples(k, k, k).flatmap(build)


CASES: list[Case] = [
    # -------------------------------------------------------------- binary elementwise
    Case("add", lambda x, y: x + y, np.add, lambda t, x, y: x + y, broadcast_shapes()),
    Case("sub", lambda x, y: x - y, np.subtract, lambda t, x, y: x - y, broadcast_shapes()),
    Case("mul", lambda x, y: x * y, np.multiply, lambda t, x, y: x * y, broadcast_shapes()),
    Case("div", lambda x, y: x / y, np.divide, lambda t, x, y: x / y, broadcast_shapes()),
    Case("pow", lambda x, y: x ** y, np.power, lambda t, x, y: x ** y, broadcast_shapes(),
         domain=("positive", "real")),
    Case("pow_const", lambda x: x ** 3, lambda x: x ** 3, lambda t, x: x ** 3, one_shape()),
    Case("pow_half", lambda x: x ** 0.5, np.sqrt, lambda t, x: x ** 0.5, one_shape(),
         domain="positive"),
    Case("pow_square", lambda x: x ** 2, np.square, lambda t, x: x ** 2, one_shape()),
    Case("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, lambda t, x: 2.0 ** x, one_shape()),
    Case("rsub_const", lambda x: 1.5 - x, lambda x: 1.5 - x, lambda t, x: 1.5 - x, one_shape()),
    Case("rdiv_const", lambda x: 1.5 / x, lambda x: 1.5 / x, lambda t, x: 1.5 / x, one_shape()),
    Case("maximum", rg.maximum, np.maximum, lambda t, x, y: t.maximum(x, y),
         broadcast_shapes(), domain="distinct"),
    Case("minimum", rg.minimum, np.minimum, lambda t, x, y: t.minimum(x, y),
         broadcast_shapes(), domain="distinct"),
    # -------------------------------------------------------------- unary elementwise
    Case("neg", lambda x: -x, np.negative, lambda t, x: -x, one_shape()),
    Case("abs", rg.abs, np.abs, lambda t, x: x.abs(), one_shape()),
    Case("exp", rg.exp, np.exp, lambda t, x: x.exp(), one_shape()),
    Case("log", rg.log, np.log, lambda t, x: x.log(), one_shape(), domain="positive"),
    Case("sqrt", rg.sqrt, np.sqrt, lambda t, x: x.sqrt(), one_shape(), domain="positive"),
    Case("tanh", rg.tanh, np.tanh, lambda t, x: x.tanh(), one_shape()),
    Case("sigmoid", rg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda t, x: x.sigmoid(),
         one_shape()),
    Case("relu", rg.relu, lambda x: np.where(x > 0, x, 0.0), lambda t, x: x.relu(),
         one_shape()),
    Case("leaky_relu", lambda x: rg.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
         lambda t, x: t.nn.functional.leaky_relu(x, 0.1), one_shape()),
    Case("gelu", rg.gelu, _np_gelu, lambda t, x: t.nn.functional.gelu(x), one_shape()),
    Case("gelu_tanh", lambda x: rg.gelu(x, approximate="tanh"), _np_gelu_tanh,
         lambda t, x: t.nn.functional.gelu(x, approximate="tanh"), one_shape()),
    Case("clip", lambda x, lo, hi: rg.clip(x, lo, hi), lambda x, lo, hi: np.clip(x, lo, hi),
         _torch_clip, one_shape(), params=_clip_params),
    Case("where", lambda x, y, c: rg.where(c, x, y),
         lambda x, y, c: np.where(c, x, y),
         lambda t, x, y, c: t.where(t.from_numpy(c), x, y), broadcast_shapes(3),
         domain=("real", "real", "real")),
    # -------------------------------------------------------------- reductions
    Case("sum", rg.sum, np.sum, lambda t, x, axis, keepdims: x.sum(_dims(x, axis), keepdims),
         one_shape(), params=_axis_params),
    Case("mean", rg.mean, np.mean,
         lambda t, x, axis, keepdims: x.mean(_dims(x, axis), keepdims), one_shape(),
         params=_axis_params),
    Case("max", rg.max, np.max,
         lambda t, x, axis, keepdims: t.amax(x, _dims(x, axis), keepdims), one_shape(),
         params=_axis_params, domain="distinct"),
    Case("min", rg.min, np.min,
         lambda t, x, axis, keepdims: t.amin(x, _dims(x, axis), keepdims), one_shape(),
         params=_axis_params, domain="distinct"),
    Case("var", rg.var,
         lambda x, axis, keepdims, correction: np.var(x, axis=axis, keepdims=keepdims,
                                                      ddof=correction),
         lambda t, x, axis, keepdims, correction: t.var(x, _dims(x, axis),
                                                        correction=correction,
                                                        keepdim=keepdims),
         one_shape(), params=_var_params, valid=_var_valid),
    Case("std", rg.std,
         lambda x, axis, keepdims, correction: np.std(x, axis=axis, keepdims=keepdims,
                                                      ddof=correction),
         lambda t, x, axis, keepdims, correction: t.std(x, _dims(x, axis),
                                                        correction=correction,
                                                        keepdim=keepdims),
         # well-separated values keep std (a sqrt) far from its kink at 0
         one_shape(), params=_var_params, valid=_std_valid, domain="distinct"),
    Case("logsumexp", rg.logsumexp,
         lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
         lambda t, x, axis, keepdims: t.logsumexp(x, _dims(x, axis), keepdims), one_shape(),
         params=_axis_params),
    # -------------------------------------------------------------- softmax family
    Case("softmax", rg.softmax, _np_softmax, lambda t, x, axis: x.softmax(axis),
         one_shape(min_dims=1), params=_one_axis),
    Case("log_softmax", rg.log_softmax, lambda x, axis: np.log(_np_softmax(x, axis)),
         lambda t, x, axis: x.log_softmax(axis), one_shape(min_dims=1), params=_one_axis),
    # -------------------------------------------------------------- shape ops
    Case("reshape", lambda x, shape: x.reshape(*shape), lambda x, shape: x.reshape(shape),
         lambda t, x, shape: x.reshape(shape), one_shape(), params=_reshape_params),
    Case("flatten", rg.flatten, lambda x, start_dim: x.reshape(x.shape[:start_dim] + (-1,)),
         lambda t, x, start_dim: x.flatten(start_dim), one_shape(min_dims=1),
         params=_flatten_params),
    Case("transpose", rg.transpose, lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1),
         lambda t, x, dim0, dim1: x.transpose(dim0, dim1), one_shape(min_dims=1),
         params=_transpose_params),
    Case("T", lambda x: x.T, np.transpose,
         lambda t, x: x.permute(tuple(range(x.dim() - 1, -1, -1))), one_shape()),
    Case("permute", lambda x, axes: x.permute(*axes), lambda x, axes: np.transpose(x, axes),
         lambda t, x, axes: x.permute(axes), one_shape(), params=_permute_params),
    Case("squeeze", rg.squeeze, _np_squeeze,
         lambda t, x, axis: x.squeeze() if axis is None else x.squeeze(axis),
         array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2).map(lambda s: (s,)),
         params=_squeeze_params),
    Case("unsqueeze", rg.unsqueeze, lambda x, axis: np.expand_dims(x, axis),
         lambda t, x, axis: x.unsqueeze(axis), one_shape(), params=_unsqueeze_params),
    Case("expand", lambda x, shape: x.expand(*shape), lambda x, shape: np.broadcast_to(x, shape),
         lambda t, x, shape: x.expand(tuple(shape)), one_shape(max_side=2), params=_expand_params),
    Case("concatenate", lambda *xs, axis: rg.concatenate(xs, axis=axis),
         lambda *xs, axis: np.concatenate(xs, axis=axis),
         lambda t, *xs, axis: t.cat(xs, dim=axis), _cat_shapes(), params=_cat_params),
    Case("stack", lambda *xs, axis: rg.stack(xs, axis=axis),
         lambda *xs, axis: np.stack(xs, axis=axis),
         lambda t, *xs, axis: t.stack(xs, dim=axis),
         one_shape().map(lambda s: s * 3), params=_stack_shapes),
    Case("pad", lambda x, pad_width, value: rg.pad(x, pad_width, value=value),
         lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value),
         _torch_pad, one_shape(min_dims=1), params=_pad_params),
    Case("clone", rg.clone, np.copy, lambda t, x: x.clone(), one_shape()),
    # -------------------------------------------------------------- linear algebra
    Case("matmul", rg.matmul, np.matmul, lambda t, x, y: x @ y, _matmul_shapes()),
]

# Ops the "where" row needs: its third input is a boolean condition, not differentiable.
NONDIFF_LAST = {"where"}


def make_inputs(case: Case, rng: np.random.Generator, shapes: tuple) -> list[np.ndarray]:
    arrays = case.arrays(rng, shapes)
    if case.name in NONDIFF_LAST:
        arrays[-1] = np.asarray(rng.random(shapes[-1]) < 0.5)
    return arrays
