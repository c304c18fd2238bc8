"""nn.Module: names, shapes and default initialisation equal to PyTorch's; state_dict and
load_state_dict (strict and not) with messages naming keys and shapes; modes; dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn


class Block(nn.Module):
    def __init__(self, lib, n):
        super().__init__()
        self.fc = lib.Linear(n, n)
        self.heads = lib.ModuleList([lib.Linear(n, 2), lib.Linear(n, 3, bias=False)])
        self.act = lib.Tanh()


class Net(nn.Module):
    def __init__(self, lib=nn):
        super().__init__()
        self.body = lib.Sequential(lib.Flatten(), lib.Linear(12, 8), lib.ReLU(),
                                   lib.Linear(8, 4), lib.Identity())
        self.block = Block(lib, 4)
        self.scale = rg.nn.Parameter(rg.ones(4))
        self.register_buffer("running", rg.zeros(3))
        self.register_buffer("scratch", rg.zeros(2), persistent=False)

    def forward(self, x):
        h = self.body(x) * self.scale
        h = self.block.act(self.block.fc(h))
        return self.block.heads[0](h)


def _torch_net(torch):
    tnn = torch.nn

    class TBlock(tnn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc = tnn.Linear(n, n)
            self.heads = tnn.ModuleList([tnn.Linear(n, 2), tnn.Linear(n, 3, bias=False)])
            self.act = tnn.Tanh()

    class TNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.body = tnn.Sequential(tnn.Flatten(), tnn.Linear(12, 8), tnn.ReLU(),
                                       tnn.Linear(8, 4), tnn.Identity())
            self.block = TBlock(4)
            self.scale = tnn.Parameter(torch.ones(4))
            self.register_buffer("running", torch.zeros(3))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)

        def forward(self, x):
            h = self.body(x) * self.scale
            h = self.block.act(self.block.fc(h))
            return self.block.heads[0](h)

    return TNet()


def test_names_and_shapes_equal_torch(torch):
    ours, theirs = Net(), _torch_net(torch)
    assert ([(k, tuple(p.shape)) for k, p in ours.named_parameters()]
            == [(k, tuple(p.shape)) for k, p in theirs.named_parameters()])
    assert ([(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
            == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()])
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in theirs.named_buffers()]
    assert [k for k, _ in ours.named_modules()] == [k for k, _ in theirs.named_modules()]
    assert [k for k, _ in ours.named_children()] == [k for k, _ in theirs.named_children()]


def test_state_dict_transfers_to_torch_and_back(torch):
    ours, theirs = Net(), _torch_net(torch)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()}, strict=True)
    x = np.random.default_rng(0).normal(size=(5, 3, 4)).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(rg.tensor(x)).data, want, rtol=1e-5, atol=1e-6)
    theirs2 = _torch_net(torch)
    ours.load_state_dict({k: v.numpy() for k, v in theirs2.state_dict().items()})
    with torch.no_grad():
        want = theirs2(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(rg.tensor(x)).data, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fan_in,fan_out", [(400, 300), (3, 1000)])
def test_linear_default_init_is_torchs(torch, fan_in, fan_out):
    """kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and
    the same bound for the bias: compare the distribution with torch's draw."""
    bound = 1 / math.sqrt(fan_in)
    ours = nn.Linear(fan_in, fan_out)
    theirs = torch.nn.Linear(fan_in, fan_out)
    for name in ("weight", "bias"):
        a = getattr(ours, name).data
        b = getattr(theirs, name).detach().numpy()
        assert a.dtype == np.float32 and a.shape == b.shape
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound
        n = a.size
        # uniform on [-bound, bound]: the extremes come close to the bound, the standard
        # deviation is bound / sqrt(3) (tolerance: 5 standard errors)
        assert np.abs(a).max() > bound * (1 - 10 / n)
        se = bound / math.sqrt(3) * 5 / math.sqrt(2 * n)
        assert abs(a.std() - bound / math.sqrt(3)) < se
        assert abs(a.std() - b.std()) < 2 * se
        assert abs(a.mean()) < 5 * bound / math.sqrt(3 * n)


def test_init_is_seeded():
    rg.manual_seed(5)
    a = nn.Linear(4, 3).weight.data.copy()
    rg.manual_seed(5)
    assert np.array_equal(a, nn.Linear(4, 3).weight.data)


def test_load_state_dict_strict_names_missing_and_unexpected_keys():
    model = Net()
    sd = model.state_dict()
    del sd["block.fc.bias"]
    sd["block.extra"] = rg.zeros(1)
    with pytest.raises(RuntimeError) as info:
        Net().load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "block.fc.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "block.extra"' in msg
    target = Net()
    before = target.block.fc.bias.data.copy()
    result = target.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["block.fc.bias"]
    assert result.unexpected_keys == ["block.extra"]
    assert np.array_equal(target.block.fc.bias.data, before)  # untouched
    assert np.array_equal(target.block.fc.weight.data, model.block.fc.weight.data)


@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_shape_mismatch_always_errors(strict):
    sd = Net().state_dict()
    sd["body.1.weight"] = rg.zeros(8, 13)
    target = Net()
    before = target.body[3].weight.data.copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for body.1.weight: copying a "
                                           r"value of shape \(8, 13\).*\(8, 12\)"):
        target.load_state_dict(sd, strict=strict)
    assert np.array_equal(target.body[3].weight.data, before)  # nothing half-loaded


def test_load_state_dict_copies_values_and_casts():
    model = nn.Linear(3, 2)
    w = np.arange(6, dtype=np.float64).reshape(2, 3)
    model.load_state_dict({"weight": w, "bias": [1.0, 2.0]})
    assert model.weight.data.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, w)
    w[0, 0] = 100
    assert model.weight.data[0, 0] == 0  # a copy, not a view
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([("weight", w)])


def test_state_dict_shares_memory_and_excludes_non_persistent_buffers():
    model = Net()
    sd = model.state_dict()
    assert "scratch" not in sd and "running" in sd
    assert np.shares_memory(sd["body.1.weight"].data, model.body[1].weight.data)
    assert not sd["body.1.weight"].requires_grad
    kept = model.state_dict(keep_vars=True)
    assert kept["body.1.weight"] is model.body[1].weight


def test_train_eval_recurse_and_return_self():
    model = Net()
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model and model.block.heads[1].training
    model.train(False)
    assert not model.block.training
    with pytest.raises(ValueError, match="mode must be a bool"):
        model.train("eval")


def test_to_double_float():
    model = Net()
    x = rg.randn(2, 3, 4)
    model(x).sum().backward()
    assert model.double() is model
    for t in list(model.parameters()) + list(model.buffers()):
        assert t.dtype == np.float64
    assert all(p.grad.dtype == np.float64 for p in model.parameters() if p.grad is not None)
    assert model.body[1].weight.grad is not None
    out = model(x.double())
    assert out.dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.to(rg.float64)
    assert model.scale.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point dtype"):
        model.to(rg.int64)
    assert model.to("cpu") is model and model.scale.dtype == np.float64


def test_parameters_registered_once_and_in_order():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)  # a shared layer counts once
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    m = nn.Module()
    m.b = rg.nn.Parameter(rg.zeros(1))
    m.a = rg.nn.Parameter(rg.zeros(1))
    assert [k for k, _ in m.named_parameters()] == ["b", "a"]
    m.b = None
    assert [k for k, _ in m.named_parameters()] == ["a"]
    with pytest.raises(TypeError, match="cannot assign"):
        m.a = rg.zeros(1)


def test_module_used_before_init_says_so():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()
