"""Residual and DenseBlock, and the lenet / resnet-small models."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg
from retrograd import models, nn


def test_residual_adds_identity_path_and_its_gradient():
    lin = nn.Linear(3, 3).double()
    block = nn.Residual(lin)
    x = rg.tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype=rg.float64,
                  requires_grad=True)
    out = block(x)
    np.testing.assert_allclose(out.numpy(), x.numpy() + lin(x).numpy())
    out.sum().backward()
    # dC/dx = dC/dy (I + W): the identity path adds exactly 1 per element
    np.testing.assert_allclose(x.grad.numpy(), 1 + lin.weight.numpy().sum(0)[None].repeat(4, 0))
    assert list(block.state_dict()) == ["module.weight", "module.bias"]
    assert rg.gradcheck(lambda t: (block(t) ** 2).sum(), [x.detach().requires_grad_()])


def test_residual_with_projection_and_shape_error():
    block = nn.Residual(nn.Conv2d(2, 4, 3, padding=1), shortcut=nn.Conv2d(2, 4, 1))
    assert block(rg.randn(1, 2, 5, 5)).shape == (1, 4, 5, 5)
    with pytest.raises(ValueError, match=r"Residual.*\(1, 4, 5, 5\).*\(1, 2, 5, 5\)"):
        nn.Residual(nn.Conv2d(2, 4, 3, padding=1))(rg.randn(1, 2, 5, 5))


def test_dense_block_concatenates_all_earlier_maps():
    block = nn.DenseBlock(num_layers=3, in_channels=2, growth_rate=4).double()
    assert block.out_channels == 2 + 3 * 4
    x = rg.tensor(np.random.default_rng(1).standard_normal((2, 2, 5, 5)), dtype=rg.float64,
                  requires_grad=True)
    out = block(x)
    assert out.shape == (2, 14, 5, 5)
    # by hand: layer i sees [x, f0, ..., f_{i-1}]
    feats = [x]
    for layer in block.layers:
        feats.append(layer(rg.concatenate(feats, axis=1)))
    np.testing.assert_allclose(out.numpy(), rg.concatenate(feats, axis=1).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(out.numpy()[:, :2], x.numpy())  # the input passes through
    small = nn.DenseBlock(2, 1, 2).double()
    assert rg.gradcheck(lambda t: (small(t) ** 2).sum(),
                        [rg.tensor(np.random.default_rng(2).standard_normal((2, 1, 3, 3)),
                                   dtype=rg.float64, requires_grad=True)])
    with pytest.raises(ValueError, match=r"DenseBlock\(in_channels=2\).*\(2, 3, 5, 5\)"):
        block(rg.randn(2, 3, 5, 5))


def test_models_are_registered_with_the_cli_names():
    assert "lenet" in models.MODELS and "resnet-small" in models.MODELS
    assert models.build("lenet", (1, 28, 28), 10)(rg.randn(2, 1, 28, 28)).shape == (2, 10)
    assert models.build("lenet", (1, 8, 8), 10)(rg.randn(2, 1, 8, 8)).shape == (2, 10)
    assert models.build("lenet", (3, 32, 32), 7)(rg.randn(1, 3, 32, 32)).shape == (1, 7)
    net = models.build("resnet-small", (1, 8, 8), 10)
    assert net(rg.randn(3, 1, 8, 8)).shape == (3, 10)
    assert models.lenet5 is models.MODELS["lenet"]
    assert models.resnet_small is models.MODELS["resnet-small"]
    with pytest.raises(ValueError, match="lenet.*too small"):
        models.build("lenet", (1, 3, 3), 10)


def test_lenet_matches_the_same_torch_model(torch):
    tn = torch.nn
    tm = tn.Sequential(tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2),
                       tn.Conv2d(6, 16, 5), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
                       tn.Linear(400, 120), tn.ReLU(), tn.Linear(120, 84), tn.ReLU(),
                       tn.Linear(84, 10)).double()
    net = models.lenet5().double()
    assert list(net.state_dict()) == list(tm.state_dict())
    net.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(3).random((4, 1, 28, 28))
    y = np.array([1, 2, 3, 4])
    logits = net(rg.tensor(x, dtype=rg.float64))
    (-logits.log_softmax(axis=1)[np.arange(4), y].mean()).backward()
    tl = tm(torch.tensor(x))
    torch.nn.functional.cross_entropy(tl, torch.tensor(y)).backward()
    np.testing.assert_allclose(logits.numpy(), tl.detach().numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), tp in zip(net.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Conv2d(2, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 3, 3, stride=2)),
    lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.MaxPool2d(3, stride=1), nn.AvgPool2d(2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(4, affine=False),
                          nn.Dropout(0.3)),
])
def test_second_backward_with_retain_graph_doubles_every_gradient(make):
    model = make().double()
    x = rg.tensor(np.random.default_rng(7).standard_normal((3, 2, 8, 8)), dtype=rg.float64,
                  requires_grad=True)
    out = (model(x) ** 2).sum()
    out.backward(retain_graph=True)
    first = [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in model.parameters()]
    out.backward()
    second = [x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()]
    assert np.abs(first[0]).max() > 0
    for a, b in zip(first, second):
        np.testing.assert_allclose(b, 2 * a, rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()


def test_graph_inputs_are_tensors_only():
    # optional parameters that are absent are not recorded as graph inputs
    x = rg.randn(2, 2, 5, 5, requires_grad=True)
    y = nn.Conv2d(2, 3, 3, bias=False)(x)
    assert len(y.grad_fn.inputs) == 2
    z = nn.BatchNorm2d(3, affine=False)(y)
    assert len(z.grad_fn.inputs) == 1
    assert all(isinstance(t, rg.Tensor) for t in y.grad_fn.inputs + z.grad_fn.inputs)
