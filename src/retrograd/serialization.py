"""``rg.save`` / ``rg.load``: state dicts as safetensors files.

safetensors is a flat file of named arrays behind a JSON header: reading it never executes
code (unlike pickle), and PyTorch reads and writes the same files, so a retrograd state dict
loads into the equivalent PyTorch model and the reverse. Writes are atomic: the file is
written to a temporary name in the same directory, flushed to disk, then renamed over the
target, so a crash mid-write leaves the old file (or none), never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from .tensor import Tensor

_ORDER_KEY = "retrograd.keys"  # metadata entry keeping the state dict's key order


def _safetensors() -> Any:
    try:
        import safetensors.numpy as stn
    except ImportError:  # pragma: no cover - safetensors is a dependency of retrograd
        raise ImportError("rg.save/rg.load need the 'safetensors' package: "
                          "pip install safetensors") from None
    return stn


def _array(key: Any, value: Any) -> np.ndarray:
    if not isinstance(key, str):
        raise TypeError(f"save: state dict keys must be strings, got {key!r}")
    if isinstance(value, Tensor):
        arr = value.data
    elif isinstance(value, np.ndarray):
        arr = value
    elif hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        arr = np.asarray(value)  # e.g. a CPU torch tensor
    else:
        raise TypeError(f"save: the value of {key!r} is a {type(value).__name__}; only Tensors "
                        "and NumPy arrays can be saved (store other values in metadata)")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"save: the value of {key!r} has dtype {arr.dtype}, which safetensors "
                        "cannot store")
    # (not np.ascontiguousarray, which turns a 0-d array into shape (1,))
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def save(state_dict: Mapping[str, Any], path: str | os.PathLike,
         metadata: Mapping[str, str] | None = None) -> None:
    """Write ``state_dict`` (names to Tensors or arrays) to ``path`` as safetensors.

    Parameters
    ----------
    state_dict : mapping
        E.g. ``model.state_dict()``.
    path : str or PathLike
        The file to (over)write; its directory must exist.
    metadata : mapping of str to str, optional
        Stored in the file's header (read it back with :func:`load_metadata`).

    Raises
    ------
    TypeError
        A key that is not a string, or a value that is not an array of numbers.
    FileNotFoundError
        The target directory does not exist.

    Examples
    --------
    >>> rg.save(model.state_dict(), "model.safetensors")
    >>> model.load_state_dict(rg.load("model.safetensors"))
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"save: expected a mapping of names to tensors, got "
                        f"{type(state_dict).__name__}")
    arrays = {k: _array(k, v) for k, v in state_dict.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    if _ORDER_KEY in meta:
        raise ValueError(f"save: the metadata key {_ORDER_KEY!r} is reserved")
    meta[_ORDER_KEY] = json.dumps(list(arrays))
    blob = _safetensors().save(arrays, metadata=meta)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: the directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _open(path: str | os.PathLike, op: str) -> Any:
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{op}: no such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{op}: {path!r} is a directory, not a safetensors file")
    try:
        return safe_open(path, framework="np")
    except Exception as exc:  # noqa: BLE001 - SafetensorError and OS errors
        raise ValueError(f"{op}: {path!r} is not a valid safetensors file ({exc}); it may be "
                         "truncated or corrupt") from None


def load(path: str | os.PathLike) -> OrderedDict[str, Tensor]:
    """Read a safetensors file into an ordered dict of Tensors (in the saved order).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a valid safetensors file (truncated, corrupt, another format).
    """
    _safetensors()
    with _open(path, "load") as f:
        try:
            keys = list(f.keys())
            order = (f.metadata() or {}).get(_ORDER_KEY)
            if order is not None:
                saved = json.loads(order)
                if sorted(saved) == sorted(keys):
                    keys = saved
            out: OrderedDict[str, Tensor] = OrderedDict()
            for k in keys:
                arr = f.get_tensor(k)
                if not arr.flags.writeable or not arr.flags.owndata:
                    arr = np.array(arr, copy=True)  # own the memory, never a view of a map
                out[k] = Tensor._wrap(arr)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"load: {os.fspath(path)!r} is not a valid safetensors file "
                             f"({exc})") from None
    return out


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata stored by :func:`save` (without retrograd's own entries)."""
    _safetensors()
    with _open(path, "load_metadata") as f:
        meta = dict(f.metadata() or {})
    meta.pop(_ORDER_KEY, None)
    return meta
