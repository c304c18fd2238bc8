"""Fast forms of reductions along a *short* axis, for small arrays.

NumPy's ``a.sum(axis=...)`` and ``a.max(axis=...)`` go through the general reduction
machinery, which costs 3-6 us for a (100, 3) array, several times the arithmetic. Along a
short axis a matrix-vector product with a vector of ones (BLAS) sums in under 1 us, and a
few ``np.maximum`` calls over columns find row maxima in about 2 us. Long rows keep NumPy's
sum (pairwise summation: more accurate over many terms, and just as fast there).
"""

from __future__ import annotations

import numpy as np

_SHORT = 64  # at most this many terms per row sum take the GEMV form
_ONES: dict = {}  # (n, dtype) -> read-only ones(n)


def ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only ``np.ones(n, dtype)``, kept for reuse."""
    key = (n, dtype.char)  # a str hashes faster than a dtype (the callers pass 'f' or 'd')
    o = _ONES.get(key)
    if o is None:
        if len(_ONES) > 256:  # many distinct sizes: do not grow without bound
            _ONES.clear()
        o = _ONES[key] = np.ones(n, dtype)
        o.setflags(False)
    return o


def sum_rows(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=1)`` of a 2-D array."""
    if a.shape[1] > _SHORT or a.dtype.char not in "fd":
        return a.sum(axis=1)
    return a.dot(ones(a.shape[1], a.dtype))


def sum_vector(a: np.ndarray) -> np.ndarray:
    """``a.sum()`` of a 1-D array: a dot product with ones for floats (~0.5 us against ~1.2 us
    for NumPy's reduction). BLAS adds in a few running lanes, not pairwise: callers keep it
    to short vectors where that matters."""
    if a.dtype.char not in "fd":
        return np.add.reduce(a, axis=None)
    return a.dot(ones(a.shape[0], a.dtype))


def sum_columns(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` of a 2-D array.

    Any length: NumPy adds the rows one after another here too (its pairwise summation
    only runs along a contiguous axis), so the product is no less accurate."""
    if a.dtype.char not in "fd" or not a.shape[0]:
        return a.sum(axis=0)
    return ones(a.shape[0], a.dtype).dot(a)


_ROW_STARTS = [(0, 0, np.arange(0))]


def row_starts(n: int, c: int) -> np.ndarray:
    """``np.arange(n) * c``: the flat index of each row's start in an (n, c) C-ordered array,
    kept from the last call (batches usually repeat their shape). Read-only."""
    key_n, key_c, r = _ROW_STARTS[0]
    if key_n != n or key_c != c:
        r = np.arange(n) * c
        r.setflags(False)
        _ROW_STARTS[0] = (n, c, r)
    return r


def max_rows(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=1, keepdims=True)`` of a 2-D array with at least one column."""
    m, c = a.shape
    if c == 2 or (2 < c <= 16 and m >= 60 * c):
        # one np.maximum per column, ~0.5 us each plus the data: the cheapest form for
        # few columns over many rows (4096 x 10: 32 us, NumPy's max 165 us)
        mx = np.maximum(a[:, 0], a[:, 1])  # exact, and NaN propagates as in max()
        for j in range(2, c):
            np.maximum(mx, a[:, j], out=mx)
        return mx[:, None]
    if c < 2 or not a.flags.c_contiguous:
        return a.max(axis=1, keepdims=True)
    # NumPy's max along a short axis costs ~0.04 us a row, its argmax much less (128 x 10:
    # 3.4 us for both steps below, 6.6 us for max): gather each row's value at its argmax,
    # which is the first NaN of a row that has one, so NaN propagates as in max()
    i = a.argmax(axis=1)
    i += row_starts(m, c)
    return a.reshape(-1)[i][:, None]
