"""``nn.Parameter``: a leaf tensor that a Module registers as one of its weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, _to_array


class Parameter(Tensor):
    """A Tensor that is a module parameter (``requires_grad=True`` by default).

    Assigning a Parameter as a Module attribute registers it: it then appears in
    ``parameters()``, ``named_parameters()`` and ``state_dict()``.

    Parameters
    ----------
    data : Tensor or array_like
        Initial values (copied). Floats keep their dtype; Python floats become float32.
    requires_grad : bool
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        arr = data.data.copy() if isinstance(data, Tensor) else _to_array(data)
        super().__init__(arr, requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
