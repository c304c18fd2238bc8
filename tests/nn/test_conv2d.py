"""Conv2d: forward and gradients against float64 finite differences and PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F

try:
    from tests.conftest import require_torch
except ImportError:  # pytest run from inside tests/
    from conftest import require_torch

# (N, C, H, W, O, kernel, stride, padding, dilation, groups, bias)
CASES = [
    (2, 3, 7, 6, 4, 3, 1, 0, 1, 1, True),
    (1, 4, 9, 8, 6, 3, 2, 1, 1, 2, True),            # batch 1, stride 2, groups 2
    (3, 2, 10, 11, 4, (3, 2), (2, 1), (1, 2), (2, 1), 1, True),  # rectangular everything
    (2, 6, 5, 5, 6, 1, 1, 0, 1, 3, False),           # 1x1, groups 3, no bias
    (2, 16, 7, 6, 8, 3, 1, 1, 1, 1, True),           # >= 16 channels: transposed-conv backward
    (2, 16, 6, 7, 4, 3, 1, 2, 2, 1, False),          # dilation with padding
    (2, 5, 7, 7, 3, 5, 3, 2, 1, 1, True),            # stride 3, big kernel, odd sizes
    (1, 1, 28, 28, 6, 5, 1, 2, 1, 1, True),          # LeNet's first layer
    (2, 4, 4, 4, 4, 4, 1, 0, 1, 4, True),            # depthwise, kernel = input size
    (1, 16, 5, 5, 3, 1, 1, 1, 1, 1, True),           # 1x1 with padding > kernel reach
    (2, 16, 9, 8, 4, 3, 2, 1, 1, 1, True),           # >= 16 channels, stride 2: col2im
    (2, 20, 6, 6, 16, 3, 1, 0, 1, 1, True),          # >= 16 channels in and out
]


def _case_id(c):
    return "N{}C{}H{}W{}O{}k{}s{}p{}d{}g{}{}".format(*c[:10], "b" if c[10] else "")


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _make(case, rng, channels_last=False):
    n, c, h, w, o, k, s, p, d, g, bias = case
    kh, kw = _pair(k)
    x = rng.standard_normal((n, c, h, w))
    if channels_last:  # same values, NHWC memory order (what a previous conv produces)
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    wt = rng.standard_normal((o, c // g, kh, kw))
    b = rng.standard_normal(o) if bias else None
    return x, wt, b


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_conv2d_matches_torch(torch, case, channels_last):
    rng = np.random.default_rng(1)
    x, w, b = _make(case, rng, channels_last)
    s, p, d, g = case[6:10]
    xt = rg.tensor(np.ascontiguousarray(x), dtype=rg.float64, requires_grad=True)
    xt.data = x  # keep the chosen memory order
    wt = rg.tensor(w, dtype=rg.float64, requires_grad=True)
    bt = None if b is None else rg.tensor(b, dtype=rg.float64, requires_grad=True)
    out = F.conv2d(xt, wt, bt, stride=s, padding=p, dilation=d, groups=g)
    upstream = rng.standard_normal(out.shape)
    out.backward(rg.tensor(upstream, dtype=rg.float64))

    tx = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw, tb, _pair(s), _pair(p), _pair(d), g)
    tout.backward(torch.tensor(upstream))
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-10)
    if b is not None:
        np.testing.assert_allclose(bt.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[2], CASES[3], CASES[5], CASES[6]],
                         ids=_case_id)
def test_conv2d_gradcheck(case):
    rng = np.random.default_rng(2)
    n, c, h, w, o, k, s, p, d, g, bias = case
    x, wt, b = _make(case, rng)
    inputs = [rg.tensor(x, dtype=rg.float64, requires_grad=True),
              rg.tensor(wt, dtype=rg.float64, requires_grad=True)]
    if bias:
        inputs.append(rg.tensor(b, dtype=rg.float64, requires_grad=True))
    # a weighted sum, so every output element's gradient is distinct
    r = rg.tensor(rng.standard_normal(F.conv2d(*inputs, stride=s, padding=p, dilation=d,
                                                groups=g).shape), dtype=rg.float64)
    assert rg.gradcheck(lambda *a: (F.conv2d(*a, stride=s, padding=p, dilation=d,
                                             groups=g) * r).sum(), inputs)


def test_conv2d_gradcheck_channels_last_input():
    rng = np.random.default_rng(3)
    x = np.ascontiguousarray(rng.standard_normal((2, 5, 6, 16))).transpose(0, 3, 1, 2)
    w = rg.tensor(rng.standard_normal((3, 16, 3, 3)), dtype=rg.float64, requires_grad=True)

    def fn(xx, ww):
        xx.data = np.ascontiguousarray(xx.data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        return (F.conv2d(xx, ww, padding=1) ** 2).sum()

    assert rg.gradcheck(fn, [rg.tensor(np.ascontiguousarray(x), dtype=rg.float64,
                                       requires_grad=True), w])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_chunked_im2col_matches_whole_matrix_and_torch(torch, monkeypatch, dtype):
    # The patch matrix is built a few samples at a time when it is large; shrink the chunk
    # size so that this small case takes that path with a ragged last chunk (7 samples)
    # on both the forward/weight-gradient im2col and the transposed-conv input gradient.
    from retrograd.ops import conv as conv_ops

    rng = np.random.default_rng(7)
    x = np.ascontiguousarray(rng.standard_normal((7, 5, 6, 16)).astype(dtype))
    x = x.transpose(0, 3, 1, 2)  # channels-last, as a previous conv's output
    w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    up = rng.standard_normal((7, 16, 5, 6)).astype(dtype)

    def run(chunk_bytes):
        monkeypatch.setattr(conv_ops, "CHUNK_BYTES", chunk_bytes)
        xt = rg.tensor(np.ascontiguousarray(x), requires_grad=True)
        xt.data = x
        wt = rg.tensor(w, requires_grad=True)
        out = F.conv2d(xt, wt, padding=1)
        node = out._node
        out.backward(rg.tensor(up))
        return node.chunked, out.numpy(), xt.grad.numpy(), wt.grad.numpy()

    sample_bytes = 5 * 6 * 144 * x.itemsize  # one sample's patch rows: Ho*Wo rows of 3*3*16
    chunked = run(3 * sample_bytes)  # room for 3 samples: chunks of 3, 3 and 1
    whole = run(1 << 40)
    assert chunked[0] and not whole[0]
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for a, b in zip(chunked[1:], whole[1:]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    tx = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw, padding=1)
    tout.backward(torch.tensor(up))
    np.testing.assert_allclose(chunked[1], tout.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(chunked[2], tx.grad.numpy(), rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(chunked[3], tw.grad.numpy(), rtol=tol, atol=tol * 10)


def test_conv2d_float32_lenet_sizes_match_torch(torch):
    rng = np.random.default_rng(4)
    x = rng.random((8, 6, 14, 14), dtype=np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32) * 0.1
    xt, wt = rg.tensor(x, requires_grad=True), rg.tensor(w, requires_grad=True)
    out = F.conv2d(xt, wt)
    assert out.dtype == rg.float32
    (out * out).sum().backward()
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw)
    (tout * tout).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(wt.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-2)


def test_conv2d_chain_of_layers_matches_torch(torch):
    # channels-last and channel-major outputs feeding each other, through pooling and ReLU
    rg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.ReLU(),
                          nn.Conv2d(16, 4, 3, stride=2), nn.Flatten()).double()
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                             torch.nn.MaxPool2d(2),
                             torch.nn.Conv2d(16, 16, 3, padding=1, bias=False),
                             torch.nn.ReLU(), torch.nn.Conv2d(16, 4, 3, stride=2),
                             torch.nn.Flatten()).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((2, 3, 12, 10))
    xt = rg.tensor(x, dtype=rg.float64, requires_grad=True)
    out = model(xt)
    (out * out).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tout = tm(tx)
    (tout * tout).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-9)
    for (name, p), tp in zip(model.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-9,
                                   err_msg=name)


def test_conv2d_layer_parameters_and_init():
    conv = nn.Conv2d(4, 6, (3, 5), stride=2, padding=1, groups=2)
    assert conv.weight.shape == (6, 2, 3, 5) and conv.bias.shape == (6,)
    assert conv.weight.dtype == rg.float32
    assert list(conv.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(2 * 3 * 5)  # PyTorch: kaiming_uniform(a=sqrt(5)) -> 1/sqrt(fan_in)
    assert np.abs(conv.weight.numpy()).max() <= bound
    assert np.abs(conv.weight.numpy()).max() > 0.8 * bound
    assert np.abs(conv.bias.numpy()).max() <= bound
    assert nn.Conv2d(1, 2, 3, bias=False).bias is None
    assert "stride=(2, 2)" in repr(conv) and "groups=2" in repr(conv)


def test_conv2d_state_dict_round_trips_with_torch(torch):
    conv = nn.Conv2d(3, 5, 3, padding=1)
    tconv = torch.nn.Conv2d(3, 5, 3, padding=1)
    conv.load_state_dict({k: v.detach().numpy() for k, v in tconv.state_dict().items()})
    x = np.random.default_rng(6).random((2, 3, 6, 6), dtype=np.float32)
    np.testing.assert_allclose(conv(rg.tensor(x)).numpy(),
                               tconv(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_conv2d_padding_same_and_valid():
    x = rg.randn(1, 2, 7, 9)
    assert nn.Conv2d(2, 3, 5, padding="same")(x).shape == (1, 3, 7, 9)
    assert nn.Conv2d(2, 3, 3, padding="same", dilation=2)(x).shape == (1, 3, 7, 9)
    assert nn.Conv2d(2, 3, 3, padding="valid")(x).shape == (1, 3, 5, 7)
    with pytest.raises(ValueError, match="same"):
        nn.Conv2d(2, 3, 3, padding="same", stride=2)


def test_conv2d_bad_input_names_layer_and_shapes():
    conv = nn.Conv2d(3, 8, 5)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*\(N, 3, H, W\).*\(2, 4, 9, 9\)"):
        conv(rg.randn(2, 4, 9, 9))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*\(N, 3, H, W\).*\(3, 9, 9\)"):
        conv(rg.randn(3, 9, 9))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*\(2, 3, 4, 9\).*smaller than the "
                                         r"kernel"):
        conv(rg.randn(2, 3, 4, 9))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match=r"conv2d: .*bias of shape \(3,\)"):
        F.conv2d(rg.randn(1, 2, 5, 5), rg.randn(4, 2, 3, 3), rg.randn(3))


def test_conv2d_input_without_grad_gets_none_and_weight_grad_still_right():
    x = rg.randn(2, 1, 6, 6)
    conv = nn.Conv2d(1, 2, 3)
    conv(x).sum().backward()
    assert x.grad is None
    # dC/dW[o, 0, a, b] = sum over batch and positions of x[n, 0, i+a, j+b]
    xs = x.numpy()
    want = np.array([[xs[:, 0, a:a + 4, b:b + 4].sum() for b in range(3)] for a in range(3)])
    np.testing.assert_allclose(conv.weight.grad.numpy()[0, 0], want, rtol=1e-5)
    np.testing.assert_allclose(conv.bias.grad.numpy(), [2 * 16] * 2)



@st.composite
def conv_configs(draw):
    g = draw(st.sampled_from([1, 1, 2]))
    c = g * draw(st.integers(1, 3))
    o = g * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 9))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 9))
    n = draw(st.integers(1, 3))
    return n, c, h, w, o, (kh, kw), (sh, sw), (ph, pw), (dh, dw), g, draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(cfg=conv_configs())
def test_conv2d_random_configs_match_torch(cfg):
    torch = require_torch()
    n, c, h, w, o, k, s, p, d, g, channels_last = cfg
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((o, c // g) + k)
    b = rng.standard_normal(o)
    xt = rg.tensor(x, dtype=rg.float64, requires_grad=True)
    if channels_last:
        xt.data = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    wr = rg.tensor(wt, dtype=rg.float64, requires_grad=True)
    br = rg.tensor(b, dtype=rg.float64, requires_grad=True)
    out = F.conv2d(xt, wr, br, stride=s, padding=p, dilation=d, groups=g)
    up = rng.standard_normal(out.shape)
    out.backward(rg.tensor(up, dtype=rg.float64))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    tout = torch.nn.functional.conv2d(tx, tw, tb, s, p, d, g)
    tout.backward(torch.tensor(up))
    assert out.shape == tuple(tout.shape)
    for ours, theirs in ((out, tout), (xt.grad, tx.grad), (wr.grad, tw.grad),
                         (br.grad, tb.grad)):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10,
                                   atol=1e-10)
