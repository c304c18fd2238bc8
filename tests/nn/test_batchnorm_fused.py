"""BatchNorm + ReLU and BatchNorm + residual add + ReLU as fused primitives: against the
unfused composition (values, every gradient, running statistics; train and eval), float64
central differences and PyTorch; and when nn.Sequential uses them (never with hooks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from train_steps import assert_step_matches_torch, train_steps

import retrograd as rg
from retrograd import models, nn
from retrograd.distributed import SyncBatchNorm
from retrograd.nn import functional as F
from retrograd.nn.layers.normalization import batch_norm_relu

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# (shape, memory order): NCHW maps stored channels-last and channel-major, as convolutions
# make them, besides plain C order
LAYOUTS = {"c": None, "nhwc": (0, 2, 3, 1), "cnhw": (1, 0, 2, 3)}


def _array(rng, shape, layout="c"):
    a = rng.standard_normal(shape) * 2 + 0.5
    perm = LAYOUTS[layout] if len(shape) == 4 else None
    if perm is None:
        return a
    inv = np.argsort(perm)
    return np.ascontiguousarray(a.transpose(perm)).transpose(inv)


def _leaf(arr):
    t = rg.Tensor._wrap(arr.copy(order="K"))  # keep the memory order
    return t.requires_grad_()


def _run(fused, shape, layout, training, residual, affine, seed):
    """Forward, backward with a random upstream gradient; values, grads, running stats."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = _leaf(_array(rng, shape, layout))
    s = _leaf(_array(rng, shape, layout)) if residual else None
    w = rg.tensor(rng.standard_normal(c), dtype=rg.float64, requires_grad=True)
    b = rg.tensor(rng.standard_normal(c), dtype=rg.float64, requires_grad=True)
    rm = rg.tensor(rng.standard_normal(c), dtype=rg.float64)
    rv = rg.tensor(rng.random(c) + 0.5, dtype=rg.float64)
    up = rg.tensor(rng.standard_normal(shape), dtype=rg.float64)
    args = (x, rm, rv, w if affine else None, b if affine else None, training, 0.1, 1e-5)
    if fused:
        out = batch_norm_relu(*args, residual=s)
        assert out._node.name == ("BatchNormAddReLU" if residual else "BatchNormReLU")
    else:
        out = F.batch_norm(*args)
        out = (s + out if residual else out).relu()
    out.backward(up)
    leaves = [x, s] + ([w, b] if affine else [])
    grads = [t.grad.numpy() for t in leaves if t is not None]
    return out.numpy(), grads, rm.numpy(), rv.numpy()


@SETTINGS
@given(shape=st.sampled_from([(7, 3), (4, 5, 6), (3, 4, 5, 2), (2, 16, 4, 4), (5, 2, 1, 3)]),
       layout=st.sampled_from(sorted(LAYOUTS)), training=st.booleans(),
       residual=st.booleans(), affine=st.booleans(), seed=st.integers(0, 2**31))
def test_fused_equals_unfused_composition(shape, layout, training, residual, affine, seed):
    # (random weights and biases: the ReLU cuts some values and keeps others, except in
    # rare draws; test_fused_cuts_and_keeps checks a case where it surely does both)
    got = _run(True, shape, layout, training, residual, affine, seed)
    want = _run(False, shape, layout, training, residual, affine, seed)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13, atol=1e-13)
    assert len(got[1]) == len(want[1])
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got[2], want[2])  # running statistics
    np.testing.assert_array_equal(got[3], want[3])


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_fused_cuts_and_keeps(training, residual):
    got = _run(True, (4, 3, 5, 2), "nhwc", training, residual, True, 11)
    want = _run(False, (4, 3, 5, 2), "nhwc", training, residual, True, 11)
    assert (got[0] == 0).mean() > 0.2 and (got[0] > 0).mean() > 0.2
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13, atol=1e-13)
    for g, w in zip(got[1], want[1]):
        assert np.abs(w).max() > 1e-2  # a gradient that could be wrong
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 4, 3)])
def test_fused_gradcheck(shape, training, residual):
    rng = np.random.default_rng(4)
    c = shape[1]
    rm = rng.standard_normal(c)
    rv = rng.random(c) + 0.5
    r = rg.tensor(rng.standard_normal(shape), dtype=rg.float64)

    def fn(x, w, b, *s):
        out = batch_norm_relu(x, rg.tensor(rm.copy()), rg.tensor(rv.copy()), w, b,
                              training=training, residual=s[0] if s else None)
        return (out * r).sum()

    def t(*shp):
        return rg.tensor(rng.standard_normal(shp), dtype=rg.float64, requires_grad=True)

    inputs = [t(*shape), t(c), t(c)] + ([t(*shape)] if residual else [])
    assert rg.gradcheck(fn, inputs)


@pytest.mark.parametrize("residual", [False, True])
def test_fused_float32_and_retain_graph(residual):
    # a second backward (retain_graph) must see the same saved arrays: nothing is modified
    # in place that the first one needs
    rng = np.random.default_rng(5)
    x = _leaf(_array(rng, (8, 16, 4, 4), "nhwc").astype(np.float32))
    s = _leaf(_array(rng, (8, 16, 4, 4), "nhwc").astype(np.float32)) if residual else None
    bn = nn.BatchNorm2d(16)
    out = batch_norm_relu(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                          training=True, residual=s)
    assert out.dtype == np.float32
    assert not out.data.flags.writeable  # R1 until backward: consumers may have saved it
    up = rg.tensor(rng.standard_normal(out.shape).astype(np.float32))
    out.backward(up, retain_graph=True)
    first = [t.grad.numpy().copy() for t in (x, s, bn.weight, bn.bias) if t is not None]
    for t in (x, s, bn.weight, bn.bias):
        if t is not None:
            t.grad = None
    out.backward(up)
    for g, t in zip(first, [t for t in (x, s, bn.weight, bn.bias) if t is not None]):
        assert t.grad.dtype == np.float32
        np.testing.assert_array_equal(t.grad.numpy(), g)


def test_residual_of_another_dtype_falls_back_to_the_composition():
    rng = np.random.default_rng(6)
    x = rg.tensor(rng.standard_normal((4, 3)), dtype=rg.float32, requires_grad=True)
    s = rg.tensor(rng.standard_normal((4, 3)), dtype=rg.float64, requires_grad=True)
    out = batch_norm_relu(x, None, None, training=True, residual=s)
    assert out.dtype == np.float64  # NumPy's promotion, as s + bn(x)
    want = np.maximum(s.numpy() + F.batch_norm(x, None, None, training=True).numpy(), 0)
    np.testing.assert_array_equal(out.numpy(), want)
    with pytest.raises(ValueError, match=r"residual of shape \(4, 2\)"):
        batch_norm_relu(x, None, None, training=True, residual=rg.zeros(4, 2))


# ----------------------------------------------------------------------- nn.Sequential


def _hook_all(model):
    seen = []
    for name, m in model.named_modules():
        m.register_forward_hook(lambda mod, inp, out, name=name: seen.append(name))
    return seen


def _resnet(dtype):
    rg.manual_seed(1)
    model = models.build("resnet-small", (2, 6, 6), 5, width=16)
    return model.double() if dtype == rg.float64 else model


def _node_names(t):
    names, stack, seen = [], [t._node], set()
    while stack:
        n = stack.pop()
        if n is None or not hasattr(n, "inputs") or id(n) in seen:
            continue
        seen.add(id(n))
        names.append(n.name)
        stack.extend(a._node for a in (n.inputs or ()) if isinstance(a, rg.Tensor))
    return names


@pytest.mark.parametrize("dtype", [rg.float64, rg.float32])
def test_resnet_fused_equals_hooked_unfused(dtype):
    fused, plain = _resnet(dtype), _resnet(dtype)
    seen = _hook_all(plain)  # hooks switch fusion off
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((6, 2, 6, 6)).astype(dtype) for _ in range(3)]
    ys = [rng.integers(0, 5, 6) for _ in range(3)]
    x0 = rg.tensor(xs[0])
    names_f, names_p = _node_names(fused(x0)), _node_names(plain(x0))
    assert names_f.count("BatchNormReLU") == 3 and names_f.count("BatchNormAddReLU") == 2
    assert "ReLU" not in names_f and "Add" not in names_f and "BatchNorm" not in names_f
    assert names_p.count("BatchNorm") == 5 and names_p.count("ReLU") == 5
    assert "BatchNormReLU" not in names_p and "BatchNormAddReLU" not in names_p
    assert len(seen) == len(list(plain.named_modules()))  # every module was called
    for (lf, gxf, gf), (lp, gxp, gp) in zip(train_steps(fused, xs, ys),
                                            train_steps(plain, xs, ys)):
        assert lf == lp
        np.testing.assert_array_equal(gxf, gxp)
        for a, b in zip(gf, gp):
            np.testing.assert_array_equal(a, b)
    for (k, a), (_, b) in zip(fused.state_dict().items(), plain.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    fused.eval()
    plain.eval()
    for a, b in zip(train_steps(fused, xs[:1], ys[:1]), train_steps(plain, xs[:1], ys[:1])):
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])


def test_resnet_fused_matches_torch(torch):
    model = _resnet(rg.float64)
    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self, c):
            super().__init__()
            self.f = tnn.Sequential(
                tnn.Conv2d(c, c, 3, padding=1, bias=False), tnn.BatchNorm2d(c), tnn.ReLU(),
                tnn.Conv2d(c, c, 3, padding=1, bias=False), tnn.BatchNorm2d(c))

        def forward(self, x):
            return torch.relu(x + self.f(x))

    tm = tnn.Sequential(tnn.Conv2d(2, 16, 3, padding=1, bias=False), tnn.BatchNorm2d(16),
                        tnn.ReLU(), Block(16), Block(16), tnn.AdaptiveAvgPool2d(1),
                        tnn.Flatten(), tnn.Linear(16, 5)).double()
    ours = model.state_dict()
    theirs = tm.state_dict()
    assert len(ours) == len(theirs)
    # the same parameters in the same order; only the block's attribute names differ
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in zip(theirs, ours.values())})
    rng = np.random.default_rng(8)
    for training in (True, True, False):
        model.train(training)
        tm.train(training)
        x = rng.standard_normal((6, 2, 6, 6))
        y = rng.integers(0, 5, 6)
        assert_step_matches_torch(torch, model, tm, x, y, rtol=1e-8, atol=1e-12)
    for (k, a), b in zip(model.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, err_msg=k)


def test_no_fusion_with_hooks_overrides_or_sync_batchnorm():
    x = rg.randn(4, 3, 2, 2, requires_grad=True)

    def top(seq):
        return seq(x)._node.name

    assert top(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())) == "BatchNormReLU"
    assert top(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU(), nn.Tanh())) == "Tanh"
    assert top(nn.Sequential(nn.BatchNorm2d(3), nn.Tanh())) == "Tanh"
    assert top(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3))) == "BatchNorm"
    # a hook on either module sees that module's own output, so no fusion
    for which in (0, 1):
        seq = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
        outs = []
        seq[which].register_forward_hook(lambda m, i, o, outs=outs: outs.append(o))
        assert top(seq) == "ReLU"
        assert outs[0]._node.name == ("BatchNorm" if which == 0 else "ReLU")
        if which == 0:
            assert (outs[0].numpy() < 0).any()  # BatchNorm's output, before the ReLU
    pre = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
    pre[0].register_forward_pre_hook(lambda m, i: None)
    assert top(pre) == "ReLU"

    class MyReLU(nn.ReLU):
        def forward(self, t):
            return t.relu() * 2

    class MyBN(nn.BatchNorm2d):
        def forward(self, t):
            return super().forward(t) + 1

    assert top(nn.Sequential(nn.BatchNorm2d(3), MyReLU())) == "Mul"
    assert top(nn.Sequential(MyBN(3), nn.ReLU())) == "ReLU"
    sync = SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU()))
    assert top(sync) == "ReLU"


def test_residual_fusion_conditions_and_errors():
    def block(**kw):
        return nn.Sequential(
            nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)), **kw),
            nn.ReLU())

    x = rg.randn(2, 3, 4, 4, requires_grad=True)
    assert block()(x)._node.name == "BatchNormAddReLU"
    proj = nn.Sequential(
        nn.Residual(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3)),
                    shortcut=nn.Conv2d(2, 3, 1)),
        nn.ReLU())
    out = proj(rg.randn(2, 2, 4, 4))
    assert out._node.name == "BatchNormAddReLU" and out.shape == (2, 3, 4, 4)
    # the branch does not end in BatchNorm, or the branch has a hook: unfused
    assert nn.Sequential(nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 1))),
                         nn.ReLU())(x)._node.name == "ReLU"
    hooked = block()
    hooked[0].module.register_forward_hook(lambda m, i, o: None)
    assert hooked(x)._node.name == "ReLU"
    # errors as without fusion: BatchNorm's first, then the residual's shape mismatch
    bad = nn.Sequential(nn.Residual(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))),
                        nn.ReLU())
    with pytest.raises(ValueError, match=r"Residual.*\(2, 4, 4, 4\).*\(2, 3, 4, 4\)"):
        bad(x)
    bad_bn = nn.Sequential(nn.Residual(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(3))),
                           nn.ReLU())
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\)"):
        bad_bn(x)


def test_dense_block_uses_the_fused_op_and_keeps_its_values():
    block = nn.DenseBlock(2, 3, 4).double()
    x = rg.tensor(np.random.default_rng(9).standard_normal((2, 3, 5, 5)), dtype=rg.float64,
                  requires_grad=True)
    out = block(x)
    assert "BatchNormReLU" in _node_names(out)
    out.sum().backward()
    g = x.grad.numpy().copy()
    x.grad = None
    _hook_all(block)
    ref = block(x)
    assert "BatchNormReLU" not in _node_names(ref)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-13, atol=1e-13)
    ref.sum().backward()
    np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-10, atol=1e-12)
