"""Silencing NumPy's floating-point warnings inside ops, cheaply.

Ops whose results may legitimately be 0, inf or NaN (``exp`` underflowing to 0, ``log(0)``,
``1/0``) follow IEEE like PyTorch and must not warn or raise, whatever ``np.errstate`` the
user has set. ``np.errstate`` costs ~1.3 us per use, too much for small ops, so we set the
context variable behind it directly when that private hook exists (NumPy >= 2), and fall back
to ``np.errstate`` otherwise.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

try:  # NumPy 2: error state lives in a contextvar holding an opaque "extobj"
    from numpy._core.umath import _extobj_contextvar, _make_extobj

    _IGNORE = _make_extobj(all="ignore")

    # quiet_on() turns warnings off and returns a token for quiet_off(token): the fast form
    # of ``with quiet:`` for the hottest path, Function.apply (C calls, no Python frame).
    quiet_on = partial(_extobj_contextvar.set, _IGNORE)
    quiet_off = _extobj_contextvar.reset
    # overflow_raises() is quiet_on() but with overflow raising FloatingPointError: a
    # cheap test of "did some result overflow" (np.exp sets the flag), undone by quiet_off.
    overflow_raises = partial(_extobj_contextvar.set, _make_extobj(all="ignore", over="raise"))

    class _Quiet:
        __slots__ = ("_tokens",)

        def __init__(self) -> None:
            self._tokens: list[Any] = []

        def __enter__(self) -> None:
            self._tokens.append(_extobj_contextvar.set(_IGNORE))

        def __exit__(self, *exc: object) -> None:
            _extobj_contextvar.reset(self._tokens.pop())

except ImportError:  # pragma: no cover - older NumPy

    class _Quiet:  # type: ignore[no-redef]
        __slots__ = ("_stack",)

        def __init__(self) -> None:
            self._stack: list[Any] = []

        def __enter__(self) -> None:
            es = np.errstate(all="ignore")
            es.__enter__()
            self._stack.append(es)

        def __exit__(self, *exc: object) -> None:
            self._stack.pop().__exit__(*exc)

    def quiet_on() -> Any:
        es = np.errstate(all="ignore")
        es.__enter__()
        return es

    def quiet_off(token: Any) -> None:
        token.__exit__(None, None, None)

    def overflow_raises() -> Any:
        es = np.errstate(all="ignore", over="raise")
        es.__enter__()
        return es


quiet = _Quiet()
"""``with quiet: ...`` runs NumPy with all floating-point warnings off (re-entrant)."""


def safe_div(num: np.ndarray, den: Any) -> np.ndarray:
    """``num / den``, but exactly 0 where ``num`` is 0 (even if ``den`` is 0, inf or NaN).

    Used by VJPs such as ``grad / x``: a branch masked out by ``where`` sends a gradient of
    exactly 0, and that must stay 0 rather than become ``0/0 = NaN``.
    """
    token = quiet_on()
    try:
        out = np.divide(num, den)
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # 0-d operands give a NumPy scalar
        if not np.isfinite(out).all():
            np.copyto(out, 0, where=(num == 0))
    finally:
        quiet_off(token)
    return out
