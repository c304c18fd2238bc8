"""Ready-made models by name, for the command line and the examples.

Every builder takes the shape of one input sample (without the batch axis) and the number
of classes, plus its own options: ``build("mlp", in_shape=(64,), num_classes=10,
hidden=(128, 64))``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import nn

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder to :data:`MODELS` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS[name] = fn
        return fn

    return deco


def build(name: str, in_shape: Sequence[int], num_classes: int, **options: Any) -> nn.Module:
    """Build the model registered as ``name``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(sorted(MODELS))}")
    return MODELS[name](in_shape=tuple(in_shape), num_classes=num_classes, **options)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


@register("mlp")
def mlp(in_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (128, 64),
        activation: str = "relu") -> nn.Sequential:
    """Flatten, then Linear + activation for each hidden size, then a Linear to the logits."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: unknown activation {activation!r}; choose from "
                         f"{', '.join(sorted(ACTIVATIONS))}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = int(np.prod(in_shape))
    for h in hidden:
        layers += [nn.Linear(width, int(h)), ACTIVATIONS[activation]()]
        width = int(h)
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
