"""``rg.detect_anomaly()``: find the op that first produced a NaN or an infinity."""

from __future__ import annotations

from .grad_mode import STATE


class AnomalyError(RuntimeError):
    """A forward output or a gradient contained NaN or inf while anomaly detection was on."""


class detect_anomaly:
    """Context manager: check every forward output and every gradient for NaN/inf.

    Off by default because the checks cost a pass over every array. When on, each recorded
    op also remembers where in the user's code it was created, and the error names it.

    Examples
    --------
    >>> with rg.detect_anomaly():
    ...     loss = model(x).log().sum()
    ...     loss.backward()     # raises AnomalyError naming Log and the line that made it
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self._prev = STATE.anomaly
        STATE.anomaly = self.enabled

    def __exit__(self, *exc: object) -> None:
        STATE.anomaly = self._prev


def is_anomaly_enabled() -> bool:
    return STATE.anomaly
