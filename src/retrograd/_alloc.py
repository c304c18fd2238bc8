"""Keep glibc from handing freed large blocks back to the OS between training steps.

Each training step allocates and frees the same large temporaries (activations,
gradients). By default glibc serves blocks above ~128 KiB-32 MiB with fresh ``mmap`` calls
and returns them on ``free``, so every step page-faults its memory in again; on the
784-256-128-10 MLP that was half the step time. Raising the mmap threshold to its maximum
(32 MiB) and the trim threshold to 1 GiB lets freed blocks be reused. This is what
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` do, applied with ``mallopt`` at import
(only on glibc; the cost is that up to 1 GiB of freed memory may stay mapped to the process).
Set ``RETROGRAD_MALLOPT=0`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

applied = False


def tune_allocator() -> bool:
    """Apply the settings once; returns whether they are in effect."""
    global applied
    if applied:
        return True
    if os.environ.get("RETROGRAD_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False  # the user chose their own settings
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not hasattr(libc, "gnu_get_libc_version"):
            return False  # musl and others: their mallopt means something else
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        ok &= libc.mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024)
        applied = bool(ok)
    except (OSError, AttributeError):
        applied = False
    return applied
