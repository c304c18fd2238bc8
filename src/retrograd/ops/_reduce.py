"""Fast forms of reductions along a *short* axis, for small arrays.

NumPy's ``a.sum(axis=...)`` and ``a.max(axis=...)`` go through the general reduction
machinery, which costs 3-6 us for a (100, 3) array, several times the arithmetic. Along a
short axis a matrix-vector product with a vector of ones (BLAS) sums in under 1 us, and a
few ``np.maximum`` calls over columns find row maxima in about 2 us. Long rows keep NumPy's
sum (pairwise summation: more accurate over many terms, and just as fast there).
"""

from __future__ import annotations

import numpy as np

_SHORT = 64  # at most this many terms per sum (or columns per max) take the fast forms
_ONES: dict = {}  # (n, dtype) -> read-only ones(n)


def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    key = (n, dtype.char)  # a str hashes faster than a dtype (the callers pass 'f' or 'd')
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 256:  # many distinct sizes: do not grow without bound
            _ONES.clear()
        ones = _ONES[key] = np.ones(n, dtype)
        ones.setflags(write=False)
    return ones


def sum_rows(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=1)`` of a 2-D array."""
    if a.shape[1] > _SHORT or a.dtype.char not in "fd":
        return a.sum(axis=1)
    return a.dot(_ones(a.shape[1], a.dtype))


def sum_columns(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` of a 2-D array.

    Any length: NumPy adds the rows one after another here too (its pairwise summation
    only runs along a contiguous axis), so the product is no less accurate."""
    if a.dtype.char not in "fd" or not a.shape[0]:
        return a.sum(axis=0)
    return _ones(a.shape[0], a.dtype).dot(a)


def max_rows(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=1, keepdims=True)`` of a 2-D array with at least one column."""
    m, c = a.shape
    # NumPy's max along a short axis costs ~0.04 us a row; one np.maximum per column costs
    # ~0.5 us plus the data: cheaper for a few columns, or up to 32 over many rows
    # (measured: 4096 x 10, 32 us against 165 us).
    if c < 2 or (c > 8 and (c > 32 or m < 40 * c)):
        return a.max(axis=1, keepdims=True)
    m = np.maximum(a[:, 0], a[:, 1])  # exact, and NaN propagates as in max()
    for j in range(2, c):
        np.maximum(m, a[:, j], out=m)
    return m[:, None]
