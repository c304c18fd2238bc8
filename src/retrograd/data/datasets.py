"""Ready-made datasets as ``(X, y)`` NumPy arrays: X float32 scaled to [0, 1], y int64.

- :func:`load_digits`: the 1,797 8x8 UCI handwritten digits that scikit-learn ships (read
  from its bundled file; no network).
- :func:`load_mnist`: the standard MNIST IDX files (raw or gzipped) from a folder, validated
  byte for byte against the format; missing files are downloaded and checksummed first.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import shutil
import tempfile
import urllib.request
import zlib
from typing import Callable, Sequence

import numpy as np

# ---------------------------------------------------------------------------- digits


def _sklearn_digits_file() -> str | None:
    """Path of scikit-learn's ``digits.csv.gz`` without importing scikit-learn (slow)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = os.path.join(base, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def load_digits(images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The UCI handwritten digits (1,797 samples, 10 classes) bundled with scikit-learn.

    Parameters
    ----------
    images : bool
        Return X as images ``(1797, 1, 8, 8)`` (NCHW) instead of vectors ``(1797, 64)``.

    Returns
    -------
    X : ndarray of float32
        Pixel intensities scaled from 0..16 to [0, 1].
    y : ndarray of int64
        The digit, 0..9.

    Raises
    ------
    ImportError
        scikit-learn is not installed (``pip install "retrograd[train]"``).
    """
    path = _sklearn_digits_file()
    if path is None:
        raise ImportError("load_digits: needs scikit-learn's bundled copy of the digits; "
                          "install it with: pip install \"retrograd[train]\"")
    raw = np.loadtxt(path, delimiter=",", dtype=np.float64)
    if raw.shape != (1797, 65):
        raise ValueError(f"load_digits: {path} has shape {raw.shape}, expected (1797, 65)")
    X = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64].astype(np.int64)
    if images:
        X = X.reshape(-1, 1, 8, 8)
    return X, y


# ---------------------------------------------------------------------------- MNIST

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The published MD5 sums of the gzipped files (as distributed by Yann LeCun's page).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
_SIZES = {"train": 60000, "test": 10000}


class ChecksumError(ValueError):
    """A file's checksum differs from the published one."""


def file_md5(path: str) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: str, md5: str) -> None:
    """Raise :class:`ChecksumError` unless ``path``'s MD5 is ``md5``."""
    got = file_md5(path)
    if got != md5:
        raise ChecksumError(f"checksum mismatch for {path}: MD5 {got}, expected {md5} "
                            "(a corrupt or incomplete download)")


def download(name: str, root: str, mirrors: Sequence[str] | None = None,
             md5: str | None = None, opener: Callable[[str], object] | None = None) -> str:
    """Fetch ``name`` into ``root`` from the first mirror that serves it with the right MD5.

    The bytes go to a temporary file in ``root`` that is checksummed and then renamed into
    place, so ``root`` never holds a partial or unverified file. Returns the final path.
    """
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    opener = urllib.request.urlopen if opener is None else opener
    md5 = md5 if md5 is not None else MNIST_MD5.get(name)
    if md5 is None:
        raise ValueError(f"download: no known checksum for {name!r}")
    os.makedirs(root, exist_ok=True)
    dest = os.path.join(root, name)
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=root)
        try:
            with os.fdopen(fd, "wb") as out, opener(url) as resp:  # type: ignore[attr-defined]
                shutil.copyfileobj(resp, out)
            verify_checksum(tmp, md5)
            os.replace(tmp, dest)
            return dest
        except (OSError, ChecksumError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise OSError(f"download: could not fetch {name}; tried " + "; ".join(errors))


def _open_idx(path: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"load_mnist: {path} is corrupt or truncated ({e}); delete it to "
                         "download it again") from e


def read_idx(path: str, expect_ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (MNIST's format), validating its header and size.

    The header is a magic number ``0x0000 08 NN`` (unsigned byte data, NN dimensions)
    followed by NN big-endian uint32 sizes; the data must be exactly their product in bytes.
    """
    buf = _open_idx(path)
    if len(buf) < 4:
        raise ValueError(f"load_mnist: {path} is truncated ({len(buf)} bytes, no IDX header)")
    magic = int.from_bytes(buf[:4], "big")
    zero, dtype_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zero != 0 or dtype_code != 0x08 or ndim != expect_ndim:
        raise ValueError(f"load_mnist: {path} has magic number {magic:#010x}, expected "
                         f"{0x0800 + expect_ndim:#010x} (an IDX file of unsigned bytes with "
                         f"{expect_ndim} dimension(s)); not an MNIST file or corrupt")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"load_mnist: {path} is truncated inside its header")
    dims = tuple(int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    want = int(np.prod(dims, dtype=np.int64))
    have = len(buf) - header
    if have != want:
        what = "truncated" if have < want else "longer than its header says"
        raise ValueError(f"load_mnist: {path} is {what}: header says {dims} = {want} bytes of "
                         f"data, the file has {have}")
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(dims)


def _find(root: str, base: str) -> str | None:
    for name in (base, base + ".gz"):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            return path
    return None


def load_mnist(root: str, split: str = "train", download_missing: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """MNIST from the IDX files in ``root`` (``train-images-idx3-ubyte[.gz]``, ...).

    Parameters
    ----------
    root : str
        Folder with the files; missing ones are downloaded there (and checksummed) unless
        ``download_missing=False``.
    split : {"train", "test"}
        60,000 training or 10,000 test images.

    Returns
    -------
    X : ndarray of float32, shape (N, 1, 28, 28)
        Pixels scaled to [0, 1].
    y : ndarray of int64, shape (N,)

    Raises
    ------
    FileNotFoundError
        A file is missing and downloading is off.
    ValueError
        A file is corrupt: bad magic number, truncated, sizes that disagree, labels > 9.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"load_mnist: root must be a path, got {type(root).__name__}")
    root = os.fspath(root)
    paths = []
    for base in MNIST_FILES[split]:
        path = _find(root, base)
        if path is None:
            if not download_missing:
                raise FileNotFoundError(f"load_mnist: neither {base} nor {base}.gz is in {root}")
            path = download(base + ".gz", root)
        paths.append(path)
    images = read_idx(paths[0], 3)
    labels = read_idx(paths[1], 1)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"load_mnist: {paths[0]} holds images of size {images.shape[1:]}, "
                         "expected (28, 28)")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"load_mnist: {paths[0]} has {images.shape[0]} images but "
                         f"{paths[1]} has {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"load_mnist: {paths[1]} has label {int(labels.max())}; MNIST labels "
                         "are 0..9")
    X = images.reshape(-1, 1, 28, 28).astype(np.float32)
    X *= np.float32(1.0 / 255.0)
    return X, labels.astype(np.int64)
