"""``History``: what ``fit`` measured, one dict per epoch."""

from __future__ import annotations

import math
from typing import Any, Iterator


class History:
    """Per-epoch logs of a training run.

    ``history.epochs`` is a list of dicts with the keys ``epoch`` (1-based), ``loss``,
    ``lr``, ``time`` and each metric (``accuracy``), plus ``val_loss``/``val_<metric>`` when
    there is validation data. ``history["loss"]`` is that column as a list.

    Examples
    --------
    >>> history = fit(model, loss_fn, opt, loader, epochs=3)
    >>> history["loss"]            # one value per epoch
    [0.71, 0.33, 0.24]
    """

    def __init__(self, epochs: list[dict[str, Any]] | None = None) -> None:
        self.epochs: list[dict[str, Any]] = list(epochs or [])

    def append(self, logs: dict[str, Any]) -> None:
        self.epochs.append(dict(logs))

    def __getitem__(self, key: str) -> list[Any]:
        if not isinstance(key, str):
            raise TypeError(f"History: index with a column name such as 'loss', got {key!r}")
        if not any(key in e for e in self.epochs):
            raise KeyError(f"History has no column {key!r}; columns: {', '.join(self.keys())}")
        return [e.get(key) for e in self.epochs]

    def __contains__(self, key: object) -> bool:
        return any(key in e for e in self.epochs)

    def keys(self) -> list[str]:
        """The column names, in order of first appearance."""
        seen: dict[str, None] = {}
        for e in self.epochs:
            seen.update(dict.fromkeys(e))
        return list(seen)

    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.epochs)

    @property
    def last(self) -> dict[str, Any]:
        """The newest epoch's logs (empty before the first epoch ends)."""
        return self.epochs[-1] if self.epochs else {}

    def best(self, key: str, mode: str = "min") -> dict[str, Any]:
        """The logs of the epoch with the smallest (``mode="min"``) or largest value of
        ``key``; NaN values never win."""
        values = [(v, i) for i, v in enumerate(self[key])
                  if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if not values:
            raise ValueError(f"History.best: no finite values of {key!r}")
        _, i = (min if mode == "min" else max)(values)
        return self.epochs[i]

    def state_dict(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.epochs]

    def __repr__(self) -> str:
        return f"History({len(self.epochs)} epochs, columns {self.keys()})"
