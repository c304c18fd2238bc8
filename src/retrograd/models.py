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


# -- convolutional models (conv branch) ------------------------------------------------------
def _image_shape(in_shape: Sequence[int], name: str) -> tuple[int, int, int]:
    if len(in_shape) == 2:
        in_shape = (1, *in_shape)
    if len(in_shape) != 3:
        raise ValueError(f"{name}: expected an image input shape (C, H, W), got "
                         f"{tuple(in_shape)}")
    return int(in_shape[0]), int(in_shape[1]), int(in_shape[2])


@register("lenet")
def lenet5(in_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
           activation: str = "relu") -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling.

    conv5x5(C->6, padding 2) - act - maxpool2 - conv5x5(6->16) - act - maxpool2 -
    fc(16*h*w -> 120) - act - fc(120 -> 84) - act - fc(84 -> num_classes). On 28x28 inputs the
    feature map before the classifier is 16x5x5, as in the paper's 32x32 original. Inputs
    smaller than 10x10 (e.g. the 8x8 digits) pad the second convolution too, so it still fits.
    """
    c, h, w = _image_shape(in_shape, "lenet")
    if activation not in ACTIVATIONS:
        raise ValueError(f"lenet: unknown activation {activation!r}; choose from "
                         f"{', '.join(sorted(ACTIVATIONS))}")
    if h < 2 or w < 2:
        raise ValueError(f"lenet: input {c}x{h}x{w} is too small (need at least 2x2)")
    h1, w1 = h // 2, w // 2
    pad2 = 0 if min(h1, w1) >= 5 else 2
    h2, w2 = (h1 + 2 * pad2 - 4) // 2, (w1 + 2 * pad2 - 4) // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(f"lenet: input {c}x{h}x{w} is too small (need at least 4x4)")
    act = ACTIVATIONS[activation]
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2), act(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=pad2), act(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * h2 * w2, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, num_classes),
    )


def basic_block(channels: int) -> nn.Sequential:
    """ResNet's basic block at constant width: relu(x + bn(conv(relu(bn(conv(x))))))."""
    return nn.Sequential(
        nn.Residual(nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )),
        nn.ReLU(),
    )


@register("resnet-small")
def resnet_small(in_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10, width: int = 16,
                 blocks: int = 2) -> nn.Sequential:
    """A small residual CNN: conv3x3(C->width) + BN + ReLU, ``blocks`` basic blocks of
    ``width`` channels, global average pooling, fc(width -> num_classes)."""
    c, h, w = _image_shape(in_shape, "resnet-small")
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        *[basic_block(width) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(width, num_classes),
    )
