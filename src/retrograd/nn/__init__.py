"""Neural-network building blocks with PyTorch's names: ``Module``, layers, losses, init."""

from . import functional, init
from . import utils as utils  # nnopt: gradient clipping
from .layers.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .layers.container import ModuleList, Sequential
from .layers.linear import Flatten, Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter

# isort: split
# Convolutional and deep networks (issue #4).
from .layers.blocks import DenseBlock, Residual
from .layers.conv import Conv2d
from .layers.dropout import Dropout
from .layers.normalization import BatchNorm1d, BatchNorm2d
from .layers.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
