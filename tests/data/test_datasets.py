"""load_digits, load_mnist (IDX parsing, validation, download with checksum)."""

from __future__ import annotations

import gzip
import os
import pathlib
import shutil
import urllib.request

import numpy as np
import pytest

from conftest import require_module
from retrograd.data import ChecksumError, load_digits, load_mnist, read_idx, verify_checksum
from retrograd.data import datasets as ds


def test_load_digits_matches_scikit_learn():
    sk = require_module("sklearn.datasets")
    X, y = load_digits()
    ref = sk.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X, ref.data / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(y, ref.target)
    Xi, _ = load_digits(images=True)
    assert Xi.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(Xi[5, 0], X[5].reshape(8, 8))


def test_load_mnist_test_split(mnist_dir):
    X, y = load_mnist(mnist_dir, split="test")
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first labels
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _copy_raw(mnist_dir, tmp_path):
    """The t10k files decompressed (raw IDX) into tmp_path."""
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(os.path.join(mnist_dir, name + ".gz"), "rb") as f:
            (tmp_path / name).write_bytes(f.read())
    return tmp_path


def test_raw_idx_equals_gz(mnist_dir, tmp_path):
    X, y = load_mnist(_copy_raw(mnist_dir, tmp_path), split="test", download_missing=False)
    Xg, yg = load_mnist(mnist_dir, split="test")
    np.testing.assert_array_equal(X, Xg)
    np.testing.assert_array_equal(y, yg)


@pytest.mark.parametrize("damage, match", [
    (lambda b: b[:-100], "truncated: header says \\(10000, 28, 28\\)"),
    (lambda b: b + b"\0", "longer than its header"),
    (lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number 0x00000801"),
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], "magic number 0x00000d03"),
    (lambda b: b[:10], "truncated inside its header"),
    (lambda b: b[:2], "no IDX header"),
])
def test_corrupt_images_file(mnist_dir, tmp_path, damage, match):
    root = _copy_raw(mnist_dir, tmp_path)
    p = root / "t10k-images-idx3-ubyte"
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(ValueError, match=match):
        load_mnist(root, split="test", download_missing=False)


def test_mismatched_counts_and_bad_labels(mnist_dir, tmp_path):
    root = _copy_raw(mnist_dir, tmp_path)
    p = root / "t10k-labels-idx1-ubyte"
    raw = p.read_bytes()
    p.write_bytes(raw[:4] + (9999).to_bytes(4, "big") + raw[8:-1])
    with pytest.raises(ValueError, match="10000 images but .* 9999 labels"):
        load_mnist(root, split="test", download_missing=False)
    p.write_bytes(raw[:-1] + b"\x0b")
    with pytest.raises(ValueError, match="label 11"):
        load_mnist(root, split="test", download_missing=False)


def test_truncated_gzip(mnist_dir, tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(mnist_dir, name), tmp_path / name)
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:50000])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_mnist(tmp_path, split="test", download_missing=False)


def test_missing_files_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, split="test", download_missing=False)
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="validation")


def test_checksum_of_real_files(mnist_dir, tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        verify_checksum(os.path.join(mnist_dir, name), ds.MNIST_MD5[name])  # no exception
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(pathlib.Path(mnist_dir, "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        verify_checksum(str(bad), ds.MNIST_MD5["t10k-labels-idx1-ubyte.gz"])


def test_download_only_when_missing_and_checksummed(mnist_dir, tmp_path, monkeypatch):
    """The download path end to end, served from a local file:// mirror."""
    good = tmp_path / "good"
    corrupt = tmp_path / "corrupt"
    good.mkdir()
    corrupt.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(mnist_dir, name), good / name)
        (corrupt / name).write_bytes(b"not mnist")
    calls = []
    real_urlopen = urllib.request.urlopen

    def counting_urlopen(url):
        calls.append(url)
        return real_urlopen(url)

    monkeypatch.setattr(urllib.request, "urlopen", counting_urlopen)
    monkeypatch.setattr(ds, "MNIST_MIRRORS", [corrupt.as_uri() + "/", good.as_uri() + "/"])
    root = tmp_path / "root"
    X, y = load_mnist(str(root), split="test")
    assert X.shape == (10000, 1, 28, 28)
    # each file: the corrupt mirror was tried, rejected by its checksum, then the good one
    assert len(calls) == 4 and sum("corrupt" in c for c in calls) == 2
    assert sorted(os.listdir(root)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    load_mnist(str(root), split="test")
    assert len(calls) == 4  # present now: nothing downloaded again
    with pytest.raises(OSError, match="could not fetch"):
        ds.download("t10k-labels-idx1-ubyte.gz", str(tmp_path / "r2"),
                    mirrors=[corrupt.as_uri() + "/"])
    assert os.listdir(tmp_path / "r2") == []  # no partial or unverified file left behind



def test_read_idx_labels(mnist_dir):
    y = read_idx(os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz"), 1)
    assert y.shape == (10000,) and y.dtype == np.uint8
