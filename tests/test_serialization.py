"""rg.save / rg.load: safetensors files shared with PyTorch, atomic writes, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn


def _mlp():
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


def _torch_mlp(torch):
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


def test_round_trip_keeps_keys_order_dtypes_and_bits(tmp_path):
    model = _mlp()
    sd = model.state_dict()
    extra = {"ints": rg.tensor([1, 2, 3]), "f64": rg.randn(2, 2, dtype=rg.float64),
             "flag": np.array([True, False]), "scalar": np.array(2.5, np.float32),
             "strided": rg.randn(4, 6).data[:, ::2]}
    path = tmp_path / "m.safetensors"
    rg.save({**sd, **extra}, path, metadata={"epoch": "3"})
    back = rg.load(path)
    assert list(back) == list(sd) + list(extra)
    for k, v in {**sd, **extra}.items():
        arr = v.data if isinstance(v, rg.Tensor) else v
        assert back[k].dtype == arr.dtype and back[k].shape == arr.shape
        assert np.array_equal(back[k].data, arr)
        assert back[k].data.flags.writeable
    assert rg.serialization.load_metadata(path) == {"epoch": "3"}
    model2 = _mlp()
    result = model2.load_state_dict(back, strict=False)
    assert result.unexpected_keys == list(extra) and result.missing_keys == []
    x = rg.randn(4, 6)
    assert np.array_equal(model(x).data, model2(x).data)


def test_retrograd_file_loads_into_torch(torch, tmp_path):
    from safetensors.torch import load_file

    model = _mlp()
    path = str(tmp_path / "rg.safetensors")
    rg.save(model.state_dict(), path)
    tmodel = _torch_mlp(torch)
    tmodel.load_state_dict(load_file(path), strict=True)
    x = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(rg.tensor(x)).data, want, rtol=1e-5, atol=1e-6)


def test_torch_file_loads_into_retrograd(torch, tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    tmodel = _torch_mlp(torch)
    path = str(tmp_path / "torch.safetensors")
    save_file(tmodel.state_dict(), path)
    model = _mlp()
    result = model.load_state_dict(rg.load(path), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(1).normal(size=(7, 6)).astype(np.float32)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(rg.tensor(x)).data, want, rtol=1e-5, atol=1e-6)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    rg.save({"w": rg.ones(3)}, path)
    real_replace = os.replace

    def crash(*args):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        rg.save({"w": rg.zeros(3)}, path)
    monkeypatch.setattr(os, "replace", real_replace)
    # the old file is intact and no temporary file is left behind
    assert np.array_equal(rg.load(path)["w"].data, np.ones(3, np.float32))
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file.*missing.safetensors"):
        rg.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(ValueError, match="bad.safetensors' is not a valid safetensors file"):
        rg.load(bad)
    good = tmp_path / "good.safetensors"
    rg.save({"w": rg.ones(100)}, good)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-50])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        rg.load(truncated)
    with pytest.raises(IsADirectoryError):
        rg.load(tmp_path)
    with pytest.raises(TypeError, match="'lr' is a float"):
        rg.save({"lr": 0.1}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="keys must be strings"):
        rg.save({1: rg.ones(1)}, tmp_path / "x.safetensors")
    with pytest.raises(FileNotFoundError, match="directory"):
        rg.save({"w": rg.ones(1)}, tmp_path / "nope" / "x.safetensors")


def test_file_is_not_pickle(tmp_path):
    path = tmp_path / "m.safetensors"
    rg.save(_mlp().state_dict(), path)
    head = path.read_bytes()[:64]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    n = int.from_bytes(head[:8], "little")
    assert head[8:9] == b"{" and n > 0  # an 8-byte length, then a JSON header
