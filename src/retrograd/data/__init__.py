"""Data: datasets, batching, and the digits/MNIST loaders.

>>> from retrograd.data import DataLoader, TensorDataset, load_digits, train_test_split
>>> X, y = load_digits()
>>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0)
>>> loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=64, shuffle=True, seed=0)
"""

from .dataset import Dataset, Subset, TensorDataset, random_split, train_test_split
from .datasets import ChecksumError, load_digits, load_mnist, read_idx, verify_checksum
from .loader import DataLoader

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split",
           "train_test_split", "load_digits", "load_mnist", "read_idx", "verify_checksum",
           "ChecksumError"]
