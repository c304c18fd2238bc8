"""BatchNorm1d/2d: the fused primitive against its unfused composition, finite differences
and PyTorch, in training and eval, inside a stack whose loss keeps the input gradient alive."""

from __future__ import annotations

import numpy as np
import pytest
from train_steps import assert_step_matches_torch

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F


def _unfused(x, weight, bias, axes, eps=1e-5):
    """BatchNorm from primitive ops (training mode): the reference for the fused op."""
    shape = [1] * x.ndim
    shape[1] = x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    return xc / (var + eps).sqrt() * weight.reshape(*shape) + bias.reshape(*shape)


@pytest.mark.parametrize("shape,axes", [((6, 3), (0,)), ((4, 3, 5), (0, 2)),
                                        ((2, 3, 4, 5), (0, 2, 3)), ((1, 2, 3, 3), (0, 2, 3))])
def test_fused_batch_norm_equals_unfused_composition(shape, axes):
    rng = np.random.default_rng(0)
    x = rg.tensor(rng.standard_normal(shape) * 3 + 1, dtype=rg.float64, requires_grad=True)
    w = rg.tensor(rng.standard_normal(shape[1]), dtype=rg.float64, requires_grad=True)
    b = rg.tensor(rng.standard_normal(shape[1]), dtype=rg.float64, requires_grad=True)
    r = rg.tensor(rng.standard_normal(shape), dtype=rg.float64)
    fused = F.batch_norm(x, None, None, w, b, training=True)
    (fused * r).sum().backward()
    grads = [t.grad.numpy().copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    ref = _unfused(x, w, b, axes)
    (ref * r).sum().backward()
    np.testing.assert_allclose(fused.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
    for got, t in zip(grads, (x, w, b)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 3, 2)])
def test_batch_norm_gradcheck(shape, training):
    rng = np.random.default_rng(1)
    c = shape[1]
    rm = rg.tensor(rng.standard_normal(c), dtype=rg.float64)
    rv = rg.tensor(rng.random(c) + 0.5, dtype=rg.float64)
    r = rg.tensor(rng.standard_normal(shape), dtype=rg.float64)

    def fn(x, w, b):
        # copies of the running stats: gradcheck calls fn many times
        out = F.batch_norm(x, rg.tensor(rm.numpy().copy()), rg.tensor(rv.numpy().copy()),
                           w, b, training=training)
        return (out * r).sum()

    assert rg.gradcheck(fn, [rg.tensor(rng.standard_normal(shape), dtype=rg.float64,
                                       requires_grad=True),
                             rg.tensor(rng.standard_normal(c), dtype=rg.float64,
                                       requires_grad=True),
                             rg.tensor(rng.standard_normal(c), dtype=rg.float64,
                                       requires_grad=True)])


def _torch_stack(torch, model):
    tm = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                             torch.nn.Linear(6, 3)).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    return tm


def test_linear_bn_linear_stack_matches_torch_train_and_eval(torch):
    # Linear -> BN -> Linear with a cross-entropy loss: BN's input gradient is not zero here
    # (sum(BN(x)) would make it vanish and prove nothing).
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 3)).double()
    tm = _torch_stack(torch, model)
    assert list(model.state_dict()) == list(tm.state_dict())
    rng = np.random.default_rng(2)
    for _step in range(3):
        x = rng.standard_normal((8, 4)) * 2
        y = rng.integers(0, 3, 8)
        _, xt = assert_step_matches_torch(
            torch, model, tm, x, y, rtol=1e-9, atol=1e-12,
            loss_fn=lambda logits, y: -logits.log_softmax(axis=1)[np.arange(8), y].mean())
        assert np.abs(xt.grad.numpy()).max() > 1e-3  # the gradient really flows through BN
    # running statistics (unbiased variance, momentum 0.1) and the batch counter
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[k].numpy(), v.numpy(), rtol=1e-12,
                                   err_msg=k)
    assert model[1].num_batches_tracked.item() == 3
    model.eval()
    tm.eval()
    x = rng.standard_normal((5, 4))
    xt = rg.tensor(x, dtype=rg.float64, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    out, tout = model(xt), tm(tx)
    (out ** 2).sum().backward()
    (tout ** 2).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model[1].weight.grad.numpy(), tm[1].weight.grad.numpy(),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "cnhw"])
def test_batchnorm2d_matches_torch(torch, layout):
    bn = nn.BatchNorm2d(3).double()
    bn.weight.data[...] = [0.5, 2.0, -1.0]
    bn.bias.data[...] = [0.1, 0.2, 0.3]
    tbn = torch.nn.BatchNorm2d(3).double()
    tbn.load_state_dict({k: torch.tensor(v.numpy()) for k, v in bn.state_dict().items()})
    rng = np.random.default_rng(3)
    for training in (True, True, False):
        bn.train(training)
        tbn.train(training)
        x = rng.standard_normal((4, 3, 5, 3)) * 2 + 1
        xt = rg.tensor(x, dtype=rg.float64, requires_grad=True)
        if layout == "nhwc":  # a channels-last map (a conv with >= 16 channels makes these)
            xt.data = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        elif layout == "cnhw":  # a channel-major map (a conv with few channels)
            xt.data = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
        up = rng.standard_normal(x.shape)
        out = bn(xt)
        out.backward(rg.tensor(up, dtype=rg.float64))
        tx = torch.tensor(x, requires_grad=True)
        tout = tbn(tx)
        tout.backward(torch.tensor(up))
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(bn.weight.grad.numpy(), tbn.weight.grad.numpy(), rtol=1e-9)
        np.testing.assert_allclose(bn.bias.grad.numpy(), tbn.bias.grad.numpy(), rtol=1e-9)
        bn.zero_grad()
        tbn.zero_grad()
    for k, v in tbn.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[k].numpy(), v.numpy(), rtol=1e-12,
                                   err_msg=k)


def test_batchnorm_state_dict_keys_and_defaults_match_torch(torch):
    for ours, theirs in ((nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5)),
                         (nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5))):
        sd, tsd = ours.state_dict(), theirs.state_dict()
        assert list(sd) == list(tsd)
        for k in sd:
            assert sd[k].shape == tuple(tsd[k].shape)
            np.testing.assert_array_equal(sd[k].numpy(), tsd[k].numpy())
        assert sd["num_batches_tracked"].dtype == rg.int64
        assert ours.momentum == 0.1 and ours.eps == 1e-5


def test_batchnorm_momentum_none_is_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None)
    xs = [np.random.default_rng(i).standard_normal((6, 2)).astype(np.float32) for i in range(3)]
    for x in xs:
        bn(rg.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0),
                               rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(),
                               np.mean([x.var(0, ddof=1) for x in xs], 0), rtol=1e-5)


def test_batchnorm_without_affine_or_running_stats():
    bn = nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    assert list(bn.state_dict()) == [] and not list(bn.parameters())
    x = rg.randn(4, 2, 3, 3) * 5 + 2
    bn.eval()  # no running stats: batch statistics even in eval, as PyTorch
    out = bn(x).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-3)


def test_batchnorm_bad_input_names_layer_and_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\).*\(N, 3, H, W\).*\(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(rg.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\).*\(2, 3, 5\)"):
        nn.BatchNorm2d(3)(rg.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\).*\(N, 3\) or \(N, 3, L\).*"
                                         r"\(2, 5\)"):
        nn.BatchNorm1d(3)(rg.randn(2, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(rg.randn(1, 3))
