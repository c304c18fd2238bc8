"""``Tensor``: a NumPy array that remembers how it was computed.

Every arithmetic dunder and method below calls one primitive op explicitly (``grep`` finds
``Tensor.__mul__`` -> ``Mul.apply``); the ops live in :mod:`retrograd.ops`, one file per
family, each with its forward and its vector-Jacobian product side by side.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Iterator

import numpy as np

from . import dtypes as _dt
from .autograd.grad_mode import STATE

_SEEDS: dict = {}  # the implicit gradient 1 of backward(), per (shape, dtype)


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert user data to a fresh array, with PyTorch's dtype defaults."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
        try:
            return np.array(data, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"tensor: cannot convert {type(data).__name__} to {dtype}: {exc}") from None
    if isinstance(data, np.ndarray):
        arr = data.copy()
    else:
        try:
            arr = np.array(data)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"tensor: data is not rectangular ({exc})") from None
        if arr.dtype == np.float64:
            arr = arr.astype(_dt.get_default_dtype())  # Python floats -> default float dtype
        elif arr.dtype.kind == "i":
            arr = arr.astype(np.int64)
        elif arr.dtype.kind not in "fub":
            raise TypeError(
                f"tensor: cannot make a tensor from {type(data).__name__} "
                f"(NumPy sees dtype {arr.dtype})"
            )
    return arr


def _check_float_for_grad(dtype: np.dtype, where: str) -> None:
    if dtype.kind != "f":
        raise TypeError(
            f"{where}: only floating-point tensors can require gradients, but this tensor has "
            f"dtype {dtype}; convert it first, e.g. t.astype(rg.float32)"
        )


def _const(x: Any) -> Any:
    """Operand that is not a Tensor: keep Python numbers weakly typed (as PyTorch does)."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, numbers.Number):
        return x
    if isinstance(x, np.ndarray):
        # (captured by value: Function.apply copies it if a recorded op saves it)
        return x
    if isinstance(x, (list, tuple)):
        return _to_array(x)
    raise TypeError(f"unsupported operand type for a tensor operation: {type(x).__name__}")


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : array_like
        Values (copied). Python floats become ``rg.float32`` (the default float dtype),
        Python ints ``rg.int64``; a NumPy array keeps its dtype.
    dtype : dtype, optional
        Force a dtype (``rg.float64`` keeps every bit of Python floats).
    requires_grad : bool
        Record operations on this tensor so that ``backward()`` fills ``.grad``.

    Examples
    --------
    >>> x = rg.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.], dtype=float32)
    """

    # _uses/_used_by: how many live graph nodes use this leaf, and which op made its array
    # read-only (see retrograd.autograd.function, rule R2).
    __slots__ = ("data", "grad", "_requires_grad", "_node", "_hooks", "_uses", "_used_by",
                 "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor -> Tensor's reflected dunder

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        self.data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self._node = None
        self._hooks: list | None = None
        self._requires_grad = False
        self._uses = 0
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(arr: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """Wrap an array without copying or checks (internal)."""
        t = object.__new__(Tensor)
        t.data = arr if type(arr) is np.ndarray else np.asarray(arr)
        t.grad = None
        t._requires_grad = requires_grad
        t._node = None
        t._hooks = None
        t._uses = 0
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place (leaves only, floating point only)."""
        if self._node is not None:
            if not requires_grad:
                raise RuntimeError(
                    "requires_grad_: cannot turn off gradients of a non-leaf tensor (it is the "
                    f"output of {self._node.name}); use .detach() instead"
                )
            return self
        if requires_grad:
            _check_float_for_grad(self.data.dtype, "requires_grad_")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (their ``.grad`` is filled)."""
        return self._node is None

    @property
    def grad_fn(self) -> Any:
        """The node that produced this tensor (``None`` for leaves)."""
        return self._node

    def size(self, dim: int | None = None) -> Any:
        """The shape (as PyTorch: ``size()`` is the shape tuple, ``size(d)`` one entry)."""
        if dim is None:
            return self.data.shape
        return self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted to a Python scalar "
                f"(this one has shape {self.data.shape})"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        if copy:
            return self.data.copy()
        return self.data

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.data.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data.item())

    __hash__ = object.__hash__  # identity (== is elementwise); C-level for speed

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", threshold=200)
        extra = [f"dtype={self.data.dtype}"]
        if self.data.ndim > 1 or self.data.size > 6:
            extra.append(f"shape={self.data.shape}")
        if self._node is not None:
            extra.append(f"grad_fn=<{self._node.name}>")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        return f"tensor({body}, {', '.join(extra)})"

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on.

        Parameters
        ----------
        gradient : array_like, optional
            ``dC/d(self)``; may be omitted only for a one-element tensor (taken as 1).
        retain_graph : bool
            Keep the graph (and the arrays it saved) for another backward call.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn. Create the "
                "inputs with requires_grad=True (and not under rg.no_grad()) before computing it"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for one-element outputs, "
                    f"but this tensor has shape {self.data.shape}; call .sum().backward() or "
                    "pass gradient= (an array of the same shape)"
                )
            key = (self.data.shape, self.data.dtype)
            g = _SEEDS.get(key)
            if g is None:
                # read-only and shared: the engine never writes into a gradient it was given
                g = _SEEDS[key] = np.ones(key[0], dtype=key[1])
                g.setflags(write=False)
        else:
            g = np.array(gradient.data if isinstance(gradient, Tensor) else gradient,
                         dtype=self.data.dtype)
            if g.shape != self.data.shape:
                raise ValueError(
                    f"backward: gradient has shape {g.shape} but the tensor has shape "
                    f"{self.data.shape}"
                )
        _engine.run_backward(self, g, retain_graph)

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's array, cut from the graph."""
        return Tensor._wrap(self.data)

    def detach_(self) -> "Tensor":
        self._uses = 0
        self._node = None
        self._requires_grad = False
        return self

    def clone(self) -> "Tensor":
        """A copy that stays in the graph (gradient flows back to ``self``)."""
        return _ops.Clone.apply(self)

    def register_hook(self, hook: Callable[["Tensor"], Any]) -> _HookHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters it."""
        if not self._requires_grad:
            raise RuntimeError(
                "register_hook: cannot register a hook on a tensor that does not require grad"
            )
        if self._node is not None:
            if self._node.hooks is None:
                self._node.hooks = []
            hooks = self._node.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too (leaves always keep theirs)."""
        if self._node is None:
            return
        import weakref

        ref = weakref.ref(self)

        def _store(g: Tensor) -> None:
            t = ref()
            if t is not None:
                t.grad = Tensor._wrap(g.data.copy()) if t.grad is None else t.grad + g.data

        self.register_hook(_store)

    # ------------------------------------------------------------------ dtype
    def astype(self, dtype: Any) -> "Tensor":
        """Convert to ``dtype`` (differentiable between float dtypes)."""
        d = _dt.as_dtype(dtype)
        if d == self.data.dtype:
            return self
        if d.kind != "f":  # integer/bool results never require grad
            return Tensor._wrap(self.data.astype(d))
        return _ops.Cast.apply(self, dtype=d)

    def to(self, dtype: Any) -> "Tensor":
        return self.astype(dtype)

    def float(self) -> "Tensor":
        return self.astype(_dt.float32)

    def double(self) -> "Tensor":
        return self.astype(_dt.float64)

    def long(self) -> "Tensor":
        return self.astype(_dt.int64)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> "Tensor":
        return _ops.Add.apply(self, other if isinstance(other, Tensor) else _const(other))

    def __radd__(self, other: Any) -> "Tensor":
        return _ops.Add.apply(_const(other), self)

    def __sub__(self, other: Any) -> "Tensor":
        return _ops.Sub.apply(self, other if isinstance(other, Tensor) else _const(other))

    def __rsub__(self, other: Any) -> "Tensor":
        return _ops.Sub.apply(_const(other), self)

    def __mul__(self, other: Any) -> "Tensor":
        return _ops.Mul.apply(self, other if isinstance(other, Tensor) else _const(other))

    def __rmul__(self, other: Any) -> "Tensor":
        return _ops.Mul.apply(_const(other), self)

    def __truediv__(self, other: Any) -> "Tensor":
        return _ops.Div.apply(self, other if isinstance(other, Tensor) else _const(other))

    def __rtruediv__(self, other: Any) -> "Tensor":
        return _ops.Div.apply(_const(other), self)

    def __pow__(self, other: Any) -> "Tensor":
        return _ops.Pow.apply(self, other if isinstance(other, Tensor) else _const(other))

    def __rpow__(self, other: Any) -> "Tensor":
        return _ops.Pow.apply(_const(other), self)

    def __matmul__(self, other: Any) -> "Tensor":
        return _ops.MatMul.apply(self, other if isinstance(other, Tensor) else _const(other))

    def __rmatmul__(self, other: Any) -> "Tensor":
        return _ops.MatMul.apply(_const(other), self)

    def __neg__(self) -> "Tensor":
        return _ops.Neg.apply(self)

    def __pos__(self) -> "Tensor":
        return self

    def __abs__(self) -> "Tensor":
        return _ops.Abs.apply(self)

    # In-place operators: outside a recorded graph they update the array in place; a
    # tensor in a graph gets the out-of-place result (Python rebinds the name).
    def _inplace(self, name: str, ufunc: Any, other: Any) -> "Tensor":
        if STATE.enabled and (self._requires_grad or getattr(other, "_requires_grad", False)):
            if self._node is None and self._requires_grad:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad cannot be modified in place "
                    "while gradients are recorded; wrap the update in `with rg.no_grad():`"
                )
            return None  # type: ignore[return-value]
        from .autograd.function import check_writeable

        check_writeable(self, name)
        o = other.data if isinstance(other, Tensor) else other
        ufunc(self.data, o, out=self.data, casting="same_kind")
        return self

    def __iadd__(self, other: Any) -> "Tensor":
        out = self._inplace("add_", np.add, other)
        return self + other if out is None else out

    def __isub__(self, other: Any) -> "Tensor":
        out = self._inplace("sub_", np.subtract, other)
        return self - other if out is None else out

    def __imul__(self, other: Any) -> "Tensor":
        out = self._inplace("mul_", np.multiply, other)
        return self * other if out is None else out

    def __itruediv__(self, other: Any) -> "Tensor":
        out = self._inplace("div_", np.divide, other)
        return self / other if out is None else out

    def add_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        """In-place ``self += alpha * other`` (outside the graph; see ``__iadd__``)."""
        if alpha != 1.0:
            other = (other.data if isinstance(other, Tensor) else np.asarray(other)) * alpha
        if self._inplace("add_", np.add, other) is None:
            raise RuntimeError("add_: in-place update of a tensor in a recorded graph; "
                               "use x = x + y")
        return self

    def mul_(self, other: Any) -> "Tensor":
        if self._inplace("mul_", np.multiply, other) is None:
            raise RuntimeError("mul_: in-place update of a tensor in a recorded graph; "
                               "use x = x * y")
        return self

    def sub_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        return self.add_(other, alpha=-alpha)

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value: float) -> "Tensor":
        from .autograd.function import check_writeable

        if STATE.enabled and self._requires_grad and self._node is None:
            raise RuntimeError("fill_: a leaf tensor that requires grad cannot be modified in "
                               "place while gradients are recorded; use rg.no_grad()")
        check_writeable(self, "fill_")
        self.data.fill(value)
        return self

    def copy_(self, src: Any) -> "Tensor":
        """Copy ``src``'s values into this tensor's array (broadcasting, casting)."""
        from .autograd.function import check_writeable

        if STATE.enabled and self._requires_grad and self._node is None:
            raise RuntimeError("copy_: a leaf tensor that requires grad cannot be modified in "
                               "place while gradients are recorded; use rg.no_grad()")
        check_writeable(self, "copy_")
        s = src.data if isinstance(src, Tensor) else np.asarray(src)
        try:
            np.copyto(self.data, s, casting="unsafe")
        except ValueError:
            raise ValueError(
                f"copy_: cannot copy shape {s.shape} into shape {self.data.shape}") from None
        return self

    # ------------------------------------------------------------------ comparisons
    def _cmp(self, ufunc: Any, other: Any) -> "Tensor":
        o = other.data if isinstance(other, Tensor) else _const(other)
        try:
            return Tensor._wrap(ufunc(self.data, o))
        except ValueError:
            raise ValueError(
                f"{ufunc.__name__}: shapes {self.data.shape} and {np.shape(o)} cannot be "
                "broadcast together"
            ) from None

    def __lt__(self, other: Any) -> "Tensor":
        return self._cmp(np.less, other)

    def __le__(self, other: Any) -> "Tensor":
        return self._cmp(np.less_equal, other)

    def __gt__(self, other: Any) -> "Tensor":
        return self._cmp(np.greater, other)

    def __ge__(self, other: Any) -> "Tensor":
        return self._cmp(np.greater_equal, other)

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._cmp(np.equal, other)

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._cmp(np.not_equal, other)

    def __invert__(self) -> "Tensor":
        return Tensor._wrap(~self.data)

    def __and__(self, other: Any) -> "Tensor":
        return self._cmp(np.logical_and, other)

    def __or__(self, other: Any) -> "Tensor":
        return self._cmp(np.logical_or, other)

    def any(self) -> "Tensor":
        return Tensor._wrap(np.asarray(self.data.any()))

    def all(self) -> "Tensor":
        return Tensor._wrap(np.asarray(self.data.all()))

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, index: Any) -> "Tensor":
        return _ops.GetItem.apply(self, index=index)

    def __setitem__(self, index: Any, value: Any) -> None:
        _ops.setitem(self, index, value)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> "Tensor":
        return _ops.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> "Tensor":
        return _ops.argmin(self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, correction: int = 1) -> "Tensor":
        return _ops.Var.apply(self, axis=axis, keepdims=keepdims, correction=correction)

    def std(self, axis: Any = None, keepdims: bool = False, correction: int = 1) -> "Tensor":
        return _ops.Std.apply(self, axis=axis, keepdims=keepdims, correction=correction)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return _ops.LogSumExp.apply(self, axis=axis, keepdims=keepdims)

    # ------------------------------------------------------------------ elementwise
    def exp(self) -> "Tensor":
        return _ops.Exp.apply(self)

    def log(self) -> "Tensor":
        return _ops.Log.apply(self)

    def sqrt(self) -> "Tensor":
        return _ops.Sqrt.apply(self)

    def abs(self) -> "Tensor":
        return _ops.Abs.apply(self)

    def tanh(self) -> "Tensor":
        return _ops.Tanh.apply(self)

    def sigmoid(self) -> "Tensor":
        return _ops.Sigmoid.apply(self)

    def relu(self) -> "Tensor":
        return _ops.ReLU.apply(self)

    def leaky_relu(self, slope: float = 0.01) -> "Tensor":
        return _ops.LeakyReLU.apply(self, slope=slope)

    def gelu(self, approximate: str = "none") -> "Tensor":
        return _ops.GELU.apply(self, approximate=approximate)

    def softmax(self, axis: int = -1) -> "Tensor":
        return _ops.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> "Tensor":
        return _ops.LogSoftmax.apply(self, axis=axis)

    def clip(self, lo: Any = None, hi: Any = None) -> "Tensor":
        return _ops.Clip.apply(self, lo=lo, hi=hi)

    clamp = clip

    def pow(self, exponent: Any) -> "Tensor":
        return self.__pow__(exponent)

    def maximum(self, other: Any) -> "Tensor":
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> "Tensor":
        return _ops.minimum(self, other)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> "Tensor":
        return _ops.Reshape.apply(self, shape=_ops.shape_arg(shape, "reshape"))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        return _ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int = 0, dim1: int = 1) -> "Tensor":
        return _ops.Transpose.apply(self, dim0=dim0, dim1=dim1)

    @property
    def T(self) -> "Tensor":
        """All axes reversed (a matrix transposed)."""
        return _ops.Permute.apply(self)  # (no axes: the op's fast form for .T)

    def permute(self, *axes: Any) -> "Tensor":
        return _ops.Permute.apply(self, axes=_ops.shape_arg(axes, "permute"))

    def squeeze(self, axis: Any = None) -> "Tensor":
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> "Tensor":
        return _ops.unsqueeze(self, axis)

    def expand(self, *shape: Any) -> "Tensor":
        return _ops.BroadcastTo.apply(self, shape=_ops.shape_arg(shape, "expand"))

    def pad(self, pad_width: Any, value: float = 0.0) -> "Tensor":
        return _ops.Pad.apply(self, pad_width=pad_width, value=value)

    def matmul(self, other: Any) -> "Tensor":
        return self.__matmul__(other)

    def dot(self, other: Any) -> "Tensor":
        return self.__matmul__(other)


from . import ops as _ops  # noqa: E402  (the ops import Tensor: keep this at the bottom)
from .autograd import engine as _engine  # noqa: E402
