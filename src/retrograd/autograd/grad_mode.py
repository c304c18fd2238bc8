"""Grad mode: whether operations are recorded for backward.

A single process-wide switch (like PyTorch's, but not thread-local: retrograd does not run
graph-building code on several threads at once).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradState:
    # Class attributes, read on every op: a module-level object keeps the lookup cheap.
    enabled = True
    anomaly = False


STATE = _GradState()


class _GradSwitch:
    """Base of ``no_grad``/``enable_grad``: a context manager that is also a decorator."""

    _mode = True

    def __enter__(self) -> None:
        self._prev = STATE.enabled
        STATE.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        STATE.enabled = self._prev

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = STATE.enabled
            STATE.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                STATE.enabled = prev

        return wrapper  # type: ignore[return-value]


class no_grad(_GradSwitch):
    """Context manager and decorator that stops operations from being recorded.

    Examples
    --------
    >>> with rg.no_grad():
    ...     y = model(x)          # no graph is built; y.requires_grad is False
    """

    _mode = False


class enable_grad(_GradSwitch):
    """Context manager and decorator that turns recording back on (inside ``no_grad``)."""

    _mode = True


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward."""
    return STATE.enabled


class set_grad_enabled(_GradSwitch):
    """Set grad mode to ``mode`` inside a ``with`` block (or for a decorated function)."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
