"""Datasets: anything with ``__len__`` and ``__getitem__``; in-memory arrays get a fast path.

A :class:`TensorDataset` keeps its arrays whole, so the :class:`~retrograd.data.DataLoader`
can cut a batch out of each with one fancy-index gather instead of a Python loop over samples.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..tensor import Tensor


class Dataset:
    """Base class of map-style datasets: ``len(ds)`` samples, ``ds[i]`` a tuple of arrays.

    Subclasses define ``__len__`` and ``__getitem__``. A subclass that can return a whole
    batch at once may also define ``gather(indices) -> tuple of arrays``; the DataLoader then
    uses it instead of stacking samples one by one.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} has no __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no __getitem__")


def _as_array(a: Any, where: str, i: int) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.data
    if isinstance(a, np.ndarray):
        return a
    try:
        arr = np.asarray(a)
    except Exception as e:  # noqa: BLE001  (any conversion failure is the user's input)
        raise TypeError(f"{where}: argument {i} ({type(a).__name__}) is not array-like") from e
    if arr.dtype == object:
        raise TypeError(f"{where}: argument {i} is not a numeric array (dtype object)")
    return arr


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays (or Tensors): ``ds[i] = (X[i], y[i], ...)``.

    Parameters
    ----------
    *arrays : array_like or Tensor
        One or more arrays sharing their first dimension. They are kept as they are (no copy).

    Examples
    --------
    >>> ds = TensorDataset(np.zeros((10, 3), np.float32), np.arange(10))
    >>> len(ds), ds[2][1]
    (10, 2)
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        arrs = tuple(_as_array(a, "TensorDataset", i) for i, a in enumerate(arrays))
        for i, a in enumerate(arrs):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a scalar; arrays need a first "
                                 "(sample) dimension")
        n = {a.shape[0] for a in arrs}
        if len(n) != 1:
            shapes = ", ".join(str(a.shape) for a in arrs)
            raise ValueError(f"TensorDataset: arrays must have the same first dimension, got "
                             f"shapes {shapes}")
        self.arrays = arrs

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The arrays as Tensors (sharing memory), as PyTorch's attribute."""
        return tuple(Tensor._wrap(a) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    def gather(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """A whole batch: one fancy-index gather per array (a contiguous slice is a view)."""
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (keeps the fast gather of its parent)."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [0, {n}), got "
                             f"[{self.indices.min()}, {self.indices.max()}]")

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def gather(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return _gather(self.dataset, self.indices[indices])


def _gather(dataset: Any, indices: np.ndarray) -> tuple[np.ndarray, ...]:
    """One batch of ``dataset`` as a tuple of arrays."""
    gather = getattr(dataset, "gather", None)
    if gather is not None:
        return tuple(gather(indices))
    # A generic dataset: per-sample access is all it offers, so stack the samples.
    samples = [dataset[int(i)] for i in indices]
    first = samples[0]
    if not isinstance(first, (tuple, list)):
        return (np.stack([np.asarray(s.data if isinstance(s, Tensor) else s) for s in samples]),)
    return tuple(np.stack([np.asarray(s[j].data if isinstance(s[j], Tensor) else s[j])
                           for s in samples]) for j in range(len(first)))


def random_split(dataset: Any, lengths: Sequence[int | float], seed: int | None = None
                 ) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths
    (counts summing to ``len(dataset)``, or fractions summing to 1)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths):
        if abs(sum(lengths) - 1.0) > 1e-6:
            raise ValueError(f"random_split: fractions must sum to 1, got {sum(lengths)}")
        counts = [int(np.floor(f * n)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(x) for x in lengths]
    if sum(counts) != n or any(c < 0 for c in counts):
        raise ValueError(f"random_split: lengths {lengths} do not add up to the dataset's "
                         f"length {n}")
    perm = _rng(seed).permutation(n)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start:start + c]))
        start += c
    return out


def _rng(seed: int | None) -> np.random.Generator:
    """A generator of its own: seeded, or drawn from the library generator (so that
    ``rg.manual_seed`` still makes it repeatable)."""
    if seed is None:
        from ..random import generator

        seed = int(generator().integers(2**63))
    elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def train_test_split(*arrays: Any, test_size: float | int = 0.25, seed: int | None = None
                     ) -> list[np.ndarray]:
    """Shuffle the rows of equally long arrays and split each into a train and a test part.

    Parameters
    ----------
    *arrays : array_like
        Arrays sharing their first dimension (e.g. ``X, y``).
    test_size : float or int
        A fraction in (0, 1) of the rows, or a number of rows, for the test part.
    seed : int, optional
        Seed of the shuffle (``None``: drawn from the library generator).

    Returns
    -------
    list of ndarray
        ``[a_train, a_test, b_train, b_test, ...]`` (scikit-learn's order).

    Examples
    --------
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0)
    """
    ds = TensorDataset(*arrays)  # validates the lengths
    n = len(ds)
    if isinstance(test_size, bool):
        raise TypeError("train_test_split: test_size must be a float fraction or an int count")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"train_test_split: test_size fraction must be in (0, 1), got "
                             f"{test_size}")
        n_test = int(np.ceil(test_size * n))
    elif isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
    else:
        raise TypeError(f"train_test_split: test_size must be a float or an int, got "
                        f"{type(test_size).__name__}")
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size {test_size} leaves {n_test} of {n} "
                         "samples for the test set; both parts must be non-empty")
    perm = _rng(seed).permutation(n)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    out: list[np.ndarray] = []
    for a in ds.arrays:
        out += [a[train_idx], a[test_idx]]
    return out
