"""Data types: retrograd's dtypes are NumPy dtypes, with PyTorch's defaults.

``rg.float32`` is the default for floating-point data (as in PyTorch); ``rg.float64`` is
used on request and by :func:`retrograd.gradcheck`. Integers default to ``int64``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_float = float32


def get_default_dtype() -> np.dtype:
    """The dtype given to floating-point data created without an explicit ``dtype``."""
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Set the default floating-point dtype (``rg.float32`` or ``rg.float64``)."""
    global _default_float
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating-point dtype, got {d}")
    _default_float = d


def as_dtype(dtype: Any) -> np.dtype:
    """Normalise ``dtype`` (a NumPy dtype, type, string or ``rg.*`` dtype) to ``np.dtype``."""
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"not a dtype: {dtype!r}") from exc


def is_floating(dtype: np.dtype) -> bool:
    """True for the floating-point dtypes that may require gradients."""
    return dtype.kind == "f"


_SCALARS: dict = {}  # (value, dtype char) -> read-only 0-d array


def scalar_array(value: float, dtype: np.dtype) -> np.ndarray:
    """``value`` as a read-only 0-d array of ``dtype``, kept for the next call.

    ``a * scalar_array(c, a.dtype)`` gives the bits of ``a * c`` for a Python float ``c``
    (NumPy casts a Python scalar to the array's dtype first) in ~60 % of the time: NumPy
    converts a Python scalar anew on every call, which is most of the cost of an operation
    on a small array. Only for floating-point ``dtype`` (the caller checks).
    """
    key = (value, dtype.char)
    a = _SCALARS.get(key)
    if a is None:
        if len(_SCALARS) > 256:  # e.g. a learning rate that changes every step
            _SCALARS.clear()
        a = _SCALARS[key] = np.array(value, dtype)
        a.setflags(write=False)
    return a
