"""The library's random number generator: one seeded NumPy ``Generator`` for every draw
(``randn``, initialisation, dropout masks, DataLoader shuffling without its own seed)."""

from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every random draw of retrograd; returns the generator."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The current generator (read it at each use: ``manual_seed`` replaces it)."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The generator's state, for checkpoints (a JSON-compatible dict)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from :func:`get_rng_state`."""
    _generator.bit_generator.state = state
