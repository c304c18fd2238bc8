"""The layer view: seed 003's worked example, and exactness against param.grad."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retrograd as rg
from retrograd import nn
from retrograd.explain import examples

SEED = "/work/shared/seeds/003_04d51d4a1cadf258.txt"

# Copied from the text of seed 003 (the comments of its code listing).
PUBLISHED = {
    "h1_in": 0.6000000000000001, "h1_out": 0.6456563062257954, "h2_in": 0.67,
    "h2_out": 0.6615031592029524, "o1_in": 1.379730048634669, "o1_out": 0.7989476413779711,
    "o2_in": 1.6511619417204186, "o2_out": 0.8390480283342561,
    "o1_err": 0.12672890240521031, "o2_err": -0.020385525551585255,
    "h1_err": 0.011232066954600498, "h2_err": 0.013374304651329562,
    "d_w5": 0.08182331501899741, "d_w1": 0.0011232066954600499,
}


def _mse_half(out, t):
    return 0.5 * ((out - t) ** 2).sum()


def _seed_model():
    m = nn.Sequential(nn.Linear(2, 2, dtype=rg.float64), nn.Sigmoid(),
                      nn.Linear(2, 2, dtype=rg.float64), nn.Sigmoid())
    m[0].weight.data[...] = [[0.1, 0.2], [0.3, 0.4]]
    m[0].bias.data[...] = [0.55, 0.56]
    m[2].weight.data[...] = [[0.5, 0.6], [0.7, 0.8]]
    m[2].bias.data[...] = [0.66, 0.67]
    return m


def test_published_literals_are_the_seeds():
    if not os.path.exists(SEED):
        pytest.skip("seed text not beside the repository")
    text = open(SEED, encoding="utf-8").read()
    for name, v in PUBLISHED.items():
        assert f"# {name} = " in text and repr(v) in text, name


def test_worked_example_layer_view_equals_published_numbers():
    x = rg.tensor([[0.1, 0.2]], dtype=rg.float64)
    y = rg.tensor([[0.01, 0.99]], dtype=rg.float64)
    v = rg.explain.backprop(_seed_model(), x, y, _mse_half)
    h, o = v.layers
    got = {
        "h1_in": h.z[0, 0], "h1_out": h.a[0, 0], "h2_in": h.z[0, 1], "h2_out": h.a[0, 1],
        "o1_in": o.z[0, 0], "o1_out": o.a[0, 0], "o2_in": o.z[0, 1], "o2_out": o.a[0, 1],
        "o1_err": o.delta[0, 0], "o2_err": o.delta[0, 1],
        "h1_err": h.delta[0, 0], "h2_err": h.delta[0, 1],
        "d_w5": o.dW[0, 0], "d_w1": h.dW[0, 0],
    }
    for name, pub in PUBLISHED.items():
        # equal to the last few binary digits (operation order differs from the seed's)
        assert got[name] == pytest.approx(pub, rel=1e-14, abs=0), name
    assert (h.index, o.index) == (2, 3)  # the seed's numbering: the input is layer 1
    assert v.ok and len(v.checks) >= 6
    # the examples module (used by the CLI) agrees with the same literals
    for name, pub in PUBLISHED.items():
        assert examples.PUBLISHED[name][0] == pub


def test_text_shows_the_published_numbers_and_equations():
    view, blocks = examples.worked_example(digits=15)
    text = str(view) + "\n" + rg.explain.render(blocks)
    for needle in ["0.12672890240521", "-0.0203855255515853", "0.0112320669546005",
                   "0.0818233150189974", "0.00112320669546005", "BP1", "BP2", "BP3", "BP4"]:
        assert needle in text, needle
    assert max(len(line) for line in text.split("\n")) <= 100


@pytest.mark.parametrize("act", [nn.Sigmoid, nn.ReLU, nn.Tanh])
def test_random_mlp_dW_equal_param_grad_exactly(act):
    m = nn.Sequential(nn.Linear(5, 7), act(), nn.Linear(7, 4), act(), nn.Linear(4, 3))
    x = rg.randn(16, 5)
    y = rg.randn(16, 3)
    v = rg.explain.backprop(m, x, y, lambda o, t: ((o - t) ** 2).mean())
    params = dict(m.named_parameters())
    assert len(v.layers) == 3
    for r in v.layers:
        assert np.array_equal(r.dW, params[f"{r.name}.weight"].grad.numpy())
        assert np.array_equal(r.db, params[f"{r.name}.bias"].grad.numpy())
        # BP4 holds on the recorded δ and a (the check is independent of .grad)
        assert np.allclose(r.delta.T @ r.a_prev, r.dW, rtol=1e-5, atol=1e-7)
    assert v.ok, [c for c in v.checks if not c.ok]
    assert v.convention == "mean"
    assert "AVERAGE" in str(v)


def test_sum_reduction_is_reported_as_sum():
    m = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    v = rg.explain.backprop(m, rg.randn(6, 3), rg.randn(6, 2), lambda o, t: ((o - t) ** 2).sum())
    assert v.convention == "sum"


def test_per_sample_is_that_samples_gradient():
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x, y = rg.randn(8, 3), rg.randn(8, 2)
    loss = lambda o, t: ((o - t) ** 2).mean()  # noqa: E731
    v = rg.explain.backprop(m, x, y, loss, per_sample=5)
    assert v.mode == "sample" and v.layers[0].z.shape == (1, 4)
    m.zero_grad()
    loss(m(x[5:6]), y[5:6]).backward()
    assert np.array_equal(v.layers[0].dW, m[0].weight.grad.numpy())
    with pytest.raises(ValueError, match="per_sample"):
        rg.explain.backprop(m, x, y, loss, per_sample=8)


def test_functional_activation_inside_forward():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(3, 4)
            self.fc2 = nn.Linear(4, 1)

        def forward(self, x):
            return self.fc2(self.fc1(x).sigmoid())

    v = rg.explain.backprop(Net(), rg.randn(4, 3), rg.randn(4, 1),
                            lambda o, t: ((o - t) ** 2).mean())
    assert v.layers[0].activation == "Sigmoid"
    assert v.layers[1].activation == "identity"
    assert np.allclose(v.layers[0].delta,
                       v.layers[0].grad_a * v.layers[0].a * (1 - v.layers[0].a), rtol=1e-5)


def test_layer_view_rejects_non_chain_modules():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones((2, 2), dtype=np.float32))

        def forward(self, x):
            return x @ self.w

    m = nn.Sequential(nn.Linear(2, 2), Odd())
    with pytest.raises(ValueError, match="trace"):
        rg.explain.backprop(m, rg.randn(3, 2), rg.randn(3, 2), lambda o, t: (o - t).sum())


def test_softmax_output_and_train_mode_dropout_are_not_misreported():
    m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 3),
                      nn.Softmax(dim=-1))
    m.train()
    v = rg.explain.backprop(m, rg.randn(6, 4), rg.randn(6, 3),
                            lambda o, t: ((o - t) ** 2).mean())
    # σ' of softmax / a fresh dropout mask is not checked; everything checked holds
    assert v.ok
    assert not any(c.equation.startswith(("BP1", "BP2")) for c in v.checks)
    assert sum(c.equation.startswith("BP4") for c in v.checks) == 2
    assert v.layers[0].activation == "Dropout∘ReLU"  # a = Dropout(ReLU(z))
    m.eval()
    v = rg.explain.backprop(m, rg.randn(6, 4), rg.randn(6, 3),
                            lambda o, t: ((o - t) ** 2).mean())
    assert any(c.equation.startswith("BP2") for c in v.checks) and v.ok


@settings(max_examples=12, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5), batch=st.integers(1, 5),
       act=st.sampled_from(["sigmoid", "tanh", "relu", "gelu"]))
def test_property_records_satisfy_bp1_to_bp4(sizes, batch, act):
    from retrograd.models import ACTIVATIONS

    mods = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(a, b, dtype=rg.float64), ACTIVATIONS[act]()]
    m = nn.Sequential(*mods)
    x = rg.tensor(np.random.randn(batch, sizes[0]))
    y = rg.tensor(np.random.randn(batch, sizes[-1]))
    v = rg.explain.backprop(m, x, y, lambda o, t: ((o - t) ** 2).mean())
    assert v.ok, [c for c in v.checks if not c.ok]
    assert len(v.layers) == len(sizes) - 1
    for r, lin in zip(v.layers, [mm for mm in mods if isinstance(mm, nn.Linear)]):
        assert np.array_equal(r.dW, lin.weight.grad.numpy())
        assert r.delta.shape == (batch, lin.out_features)


def test_deltas_equal_pytorchs(torch):
    m = nn.Sequential(nn.Linear(4, 6, dtype=rg.float64), nn.Tanh(),
                      nn.Linear(6, 3, dtype=rg.float64), nn.Sigmoid())
    x = np.random.randn(5, 4)
    y = np.random.rand(5, 3)
    v = rg.explain.backprop(m, x, y, lambda o, t: ((o - t) ** 2).mean())
    W = [torch.tensor(m[i].weight.numpy(), requires_grad=True) for i in (0, 2)]
    b = [torch.tensor(m[i].bias.numpy(), requires_grad=True) for i in (0, 2)]
    z1 = torch.tensor(x) @ W[0].T + b[0]
    z1.retain_grad()
    z2 = torch.tanh(z1) @ W[1].T + b[1]
    z2.retain_grad()
    loss = ((torch.sigmoid(z2) - torch.tensor(y)) ** 2).mean()
    loss.backward()
    for r, z, w in zip(v.layers, (z1, z2), W):
        np.testing.assert_allclose(r.delta, z.grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(r.dW, w.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v.layers[1].Delta, (z2.grad @ W[1]).detach().numpy(),
                               rtol=1e-12, atol=1e-15)
