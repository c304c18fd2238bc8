"""Inverted dropout: zero each element with probability p, scale the survivors by 1/(1-p)."""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..random import generator


class Dropout(Function):
    """out = x * mask / (1 - p), mask ~ Bernoulli(1 - p) from the library's seeded generator.

    E[out] = x, so evaluation needs no rescaling. ``p = 1`` gives zeros (and zero gradient).
    """

    saves = ()

    def forward(self, x, p=0.5):
        if p >= 1.0:
            self.save(None)
            return np.zeros_like(x)
        keep = generator().random(x.shape, dtype=np.float64 if x.dtype == np.float64
                                  else np.float32) >= p
        # the mask already carries the 1/(1-p) scale, so backward is one multiply
        mask = keep.astype(x.dtype)
        mask *= x.dtype.type(1.0 / (1.0 - p))
        self.save(mask)
        return x * mask

    def backward(self, grad):
        mask = self.saved[0]
        if mask is None:
            return np.zeros_like(grad)
        return grad * mask  # d out / d x = mask / (1 - p)
