"""Training checkpoints: everything needed to continue a run exactly, and nothing executable.

A checkpoint is a folder ``<dir>/epoch-NNNN/`` holding

- ``model.safetensors``: the model's ``state_dict`` (written by :func:`retrograd.save`, so
  PyTorch and ``safetensors`` can read it);
- ``state.json``: epoch, step, history, optimizer/scheduler/callback state, the RNG states of
  retrograd and of the data loaders, and user metadata (e.g. how to rebuild the model);
- ``state.npz``: the arrays that ``state.json`` refers to (optimizer moments, ...), read
  back with ``allow_pickle=False``.

The folder is written under a temporary name and renamed into place, so a run killed at any
moment leaves either a complete checkpoint or none (never a half-written one).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from typing import Any

import numpy as np

from ..tensor import Tensor

FORMAT = "retrograd-checkpoint"
VERSION = 1
MODEL_FILE = "model.safetensors"
STATE_FILE = "state.json"
ARRAYS_FILE = "state.npz"
_EPOCH_DIR = re.compile(r"^epoch-(\d+)$")
_TMP_DIR = re.compile(r"^\.epoch-\d+\..*\.tmp$")


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or not a retrograd checkpoint."""


# ---------------------------------------------------------------------------- encoding
# Nested state (dicts with int keys, tuples, Tensors, arrays, NumPy scalars) becomes JSON
# plus a table of arrays, and comes back with the same types and bits.


def encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-compatible form of ``obj``; its arrays are moved into ``arrays``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and not isinstance(obj, (np.integer, np.floating)):
        return obj
    if isinstance(obj, Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = np.array(obj.data, copy=True)
        return {"__tensor__": key}
    if isinstance(obj, (np.ndarray, np.generic)):
        key = f"a{len(arrays)}"
        arrays[key] = np.array(obj, copy=True)
        return {"__ndarray__": key, "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [encode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v, arrays) for k, v in obj.items()}
        return {"__dict__": [[encode(k, arrays), encode(v, arrays)] for k, v in obj.items()]}
    raise TypeError(f"checkpoint: cannot store a value of type {type(obj).__name__} "
                    "(only numbers, strings, lists, tuples, dicts, arrays and Tensors)")


def decode(obj: Any, arrays: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(obj, list):
        return [decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return Tensor._wrap(np.array(arrays[obj["__tensor__"]]))
    if "__ndarray__" in obj:
        a = np.array(arrays[obj["__ndarray__"]])
        return a[()] if obj.get("scalar") else a
    if "__tuple__" in obj:
        return tuple(decode(v, arrays) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {_hashable(decode(k, arrays)): decode(v, arrays) for k, v in obj["__dict__"]}
    return {k: decode(v, arrays) for k, v in obj.items()}


def _hashable(k: Any) -> Any:
    return k.item() if isinstance(k, np.generic) else k


# ---------------------------------------------------------------------------- files


def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_checkpoint(directory: str, epoch: int, model_state: dict[str, Any],
                    state: dict[str, Any], keep: int | None = 2) -> str:
    """Write ``<directory>/epoch-NNNN`` atomically and return its path.

    ``model_state`` is a ``state_dict``; ``state`` any nested state :func:`encode` accepts.
    Only the newest ``keep`` checkpoints are kept (``None``: all).
    """
    from ..serialization import save

    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, f"epoch-{epoch:04d}")
    tmp = tempfile.mkdtemp(prefix=f".epoch-{epoch:04d}.", suffix=".tmp", dir=directory)
    try:
        save(model_state, os.path.join(tmp, MODEL_FILE))
        arrays: dict[str, np.ndarray] = {}
        doc = {"format": FORMAT, "version": VERSION, "epoch": epoch,
               "state": encode(state, arrays)}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        _write_atomic(os.path.join(tmp, ARRAYS_FILE), buf.getvalue())
        _write_atomic(os.path.join(tmp, STATE_FILE),
                      json.dumps(doc, indent=1, allow_nan=True).encode())
        if os.path.exists(final):  # e.g. a run resumed from an older checkpoint
            old = final + f".old-{os.getpid()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # A run killed while writing leaves its temporary folder behind: tidy those up.
    for name in os.listdir(directory):
        if _TMP_DIR.match(name):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    if keep is not None:
        for old_epoch, path in list_checkpoints(directory)[:-keep]:
            if old_epoch != epoch:
                shutil.rmtree(path, ignore_errors=True)
    return final


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
    """Complete checkpoints in ``directory`` as ``(epoch, path)``, oldest first."""
    out = []
    for name in os.listdir(directory):
        m = _EPOCH_DIR.match(name)
        path = os.path.join(directory, name)
        if m and os.path.isfile(os.path.join(path, STATE_FILE)):
            out.append((int(m.group(1)), path))
    return sorted(out)


def resolve_checkpoint(path: str) -> str:
    """The checkpoint folder meant by ``path``: a checkpoint itself, or a folder of
    checkpoints (or a run folder with a ``checkpoints/`` inside), meaning its newest one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    if os.path.isfile(path):
        name = os.path.basename(path)
        if name in (MODEL_FILE, STATE_FILE, ARRAYS_FILE):
            return resolve_checkpoint(os.path.dirname(path) or ".")
        raise CheckpointError(f"{path!r} is not a retrograd checkpoint (expected a folder with "
                              f"{STATE_FILE} and {MODEL_FILE})")
    if os.path.isfile(os.path.join(path, STATE_FILE)):
        return path
    for d in (path, os.path.join(path, "checkpoints")):
        if os.path.isdir(d):
            found = list_checkpoints(d)
            if found:
                return found[-1][1]
    raise CheckpointError(f"no retrograd checkpoint in {path!r} (expected {STATE_FILE} there "
                          "or epoch-NNNN folders)")


def load_checkpoint(path: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Read a checkpoint: ``(model_state, state, folder)``. Never runs code from the files."""
    from ..serialization import load

    folder = resolve_checkpoint(path)
    try:
        with open(os.path.join(folder, STATE_FILE), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder}: cannot read {STATE_FILE} ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: {STATE_FILE} is not a retrograd checkpoint")
    if doc.get("version", 0) > VERSION:
        raise CheckpointError(f"{folder}: checkpoint version {doc.get('version')} is newer than "
                              f"this retrograd understands ({VERSION})")
    try:
        with np.load(os.path.join(folder, ARRAYS_FILE), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        state = decode(doc["state"], arrays)
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{folder}: cannot read {ARRAYS_FILE} ({e})") from e
    try:
        model_state = load(os.path.join(folder, MODEL_FILE))
    except Exception as e:  # noqa: BLE001  (whatever the reader raises: the file is bad)
        raise CheckpointError(f"{folder}: cannot read {MODEL_FILE} ({e})") from e
    return model_state, state, folder
