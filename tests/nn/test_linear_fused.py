"""Linear + ReLU/Sigmoid/Tanh as fused primitives (``LinearReLU``, ``LinearSigmoid``,
``LinearTanh``): against the unfused composition (Linear op, then the activation op), a NumPy
reference written here, float64 central differences and PyTorch; and when nn.Sequential uses
them (never with hooks or overridden forwards)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from train_steps import assert_step_matches_torch, train_steps

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F
from retrograd.ops import Linear, LinearReLU, LinearSigmoid, LinearTanh, ReLU, Sigmoid, Tanh

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

FUSED = {"relu": LinearReLU, "sigmoid": LinearSigmoid, "tanh": LinearTanh}
ACT_OPS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
MODULES = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
ACTS = sorted(FUSED)


# -- an independent reference: NumPy, written out here ---------------------------------------
def _np_act(act, z):
    if act == "relu":
        return np.maximum(z, 0)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-z))  # the inputs drawn here keep |z| small
    return np.tanh(z)


def _np_act_grad(act, z):
    if act == "relu":
        return (z > 0).astype(z.dtype)
    if act == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s * (1 - s)
    return 1 - np.tanh(z) ** 2


def _np_reference(act, x, w, b, g):
    """act(x W^T + b) and its gradients for the upstream gradient g, by hand."""
    z = x @ w.T + (0 if b is None else b)
    delta = g * _np_act_grad(act, z)
    d2 = delta.reshape(-1, w.shape[0])
    gx = delta @ w
    gw = d2.T @ x.reshape(-1, w.shape[1])
    gb = None if b is None else d2.sum(0)
    return _np_act(act, z), gx, gw, gb


# -- the op against the composition ------------------------------------------------------------
def _leaves(rng, lead, batch, fin, fout, bias, dtype):
    def t(*shape):
        return rg.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=True)

    x = t(*lead, batch, fin)
    w = t(fout, fin)
    b = t(fout) if bias else None
    return x, w, b


def _forward_backward(make, args, g):
    for a in args:
        a.grad = None
    out = make(*args)
    out.backward(g)
    return out, [a.grad.numpy().copy() for a in args]


@SETTINGS
@given(act=st.sampled_from(ACTS), lead=st.lists(st.integers(1, 3), max_size=2),
       batch=st.integers(1, 6), fin=st.integers(1, 5), fout=st.integers(1, 5),
       bias=st.booleans(), dtype=st.sampled_from([rg.float64, rg.float32]),
       seed=st.integers(0, 2**31))
def test_fused_equals_composition_and_reference(act, lead, batch, fin, fout, bias, dtype,
                                                seed):
    rng = np.random.default_rng(seed)
    x, w, b = _leaves(rng, tuple(lead), batch, fin, fout, bias, dtype)
    args = [x, w] + ([b] if bias else [])
    g = rg.tensor(rng.standard_normal(tuple(lead) + (batch, fout)), dtype=dtype)
    fused, fgrads = _forward_backward(FUSED[act].apply, args, g)
    assert fused.grad_fn.name == FUSED[act].__name__
    comp, cgrads = _forward_backward(lambda *a: ACT_OPS[act].apply(Linear.apply(*a)), args, g)
    assert comp.grad_fn.name == act.title().replace("Relu", "ReLU")  # the unfused graph
    assert fused.dtype == comp.dtype == dtype  # float32 stays float32
    assert fused.shape == tuple(lead) + (batch, fout)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == rg.float64 else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fused.numpy(), comp.numpy(), **tol)
    for f, c, a in zip(fgrads, cgrads, args):
        assert f.dtype == np.dtype(dtype) and f.shape == a.shape
        np.testing.assert_allclose(f, c, **tol)
    # and both against NumPy, in float64
    arrays = [a.numpy().astype(np.float64) for a in args]
    want = _np_reference(act, arrays[0], arrays[1], arrays[2] if bias else None,
                         g.numpy().astype(np.float64))
    z = arrays[0] @ arrays[1].T + (arrays[2] if bias else 0)
    if act == "relu" and dtype == rg.float32 and z.size and np.abs(z).min() < 1e-4:
        return  # float32 rounding may put z on the other side of relu's kink
    rtol = 1e-10 if dtype == rg.float64 else 1e-4
    np.testing.assert_allclose(fused.numpy(), want[0], rtol=rtol, atol=rtol)
    for f, wnt in zip(fgrads, [v for v in want[1:] if v is not None]):
        np.testing.assert_allclose(f, wnt, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("act", ACTS)
def test_fused_cuts_and_keeps_with_real_gradients(act):
    # a draw where the activation surely works on both sides of 0 and every gradient is
    # non-trivial (the property test above could draw tiny cases)
    rng = np.random.default_rng(1)
    x, w, b = _leaves(rng, (), 40, 5, 6, True, rg.float64)
    g = rg.tensor(rng.standard_normal((40, 6)))
    out, grads = _forward_backward(FUSED[act].apply, [x, w, b], g)
    z = x.numpy() @ w.numpy().T + b.numpy()
    assert (z < 0).mean() > 0.2 and (z > 0).mean() > 0.2
    want = _np_reference(act, x.numpy(), w.numpy(), b.numpy(), g.numpy())
    np.testing.assert_allclose(out.numpy(), want[0], rtol=1e-12, atol=1e-15)
    for got, wnt in zip(grads, want[1:]):
        assert np.abs(wnt).max() > 1e-2
        np.testing.assert_allclose(got, wnt, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("xshape,bias", [((5, 3), True), ((5, 3), False), ((2, 3, 3), True),
                                         ((3,), True)])
def test_fused_gradcheck(act, xshape, bias):
    rng = np.random.default_rng(2)

    def t(*shape):
        return rg.tensor(rng.standard_normal(shape), dtype=rg.float64, requires_grad=True)

    args = [t(*xshape), t(4, 3)] + ([t(4)] if bias else [])
    assert rg.gradcheck(lambda *a: FUSED[act].apply(*a), args)


def test_relu_derivative_is_zero_at_exact_zeros():
    x = rg.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]], dtype=rg.float64, requires_grad=True)
    w = rg.tensor([[1.0, -0.5], [2.0, 1.0]], dtype=rg.float64, requires_grad=True)
    b = rg.tensor([0.0, -5.0], dtype=rg.float64, requires_grad=True)
    out = LinearReLU.apply(x, w, b)
    # z = [[0, -1], [0, -5], [3.5, 0]]: three exact zeros, one positive entry
    np.testing.assert_array_equal(out.numpy(), [[0, 0], [0, 0], [3.5, 0]])
    out.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [0, 0], [1.0, -0.5]])
    np.testing.assert_array_equal(w.grad.numpy(), [[3.0, -1.0], [0, 0]])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_extreme_inputs(dtype):
    # z far below the fast form's range takes the stable path (in place on the GEMM output)
    z = np.array([-1000.0, -100.0, -30.0, -1.0, 0.0, 2.0, 40.0, 1000.0])
    x = rg.tensor(z[:, None], dtype=dtype, requires_grad=True)
    w = rg.tensor([[1.0]], dtype=dtype, requires_grad=True)
    out = LinearSigmoid.apply(x, w)
    ref = Sigmoid.apply(Linear.apply(x, w))
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # (math.exp underflows to 0 below about -745, the right answer, and never overflows here)
    exact = [math.exp(v) / (1 + math.exp(v)) if v < 0 else 1 / (1 + math.exp(-v)) for v in z]
    tiny = np.finfo(dtype).smallest_subnormal
    np.testing.assert_allclose(out.numpy()[:, 0], np.array(exact, dtype=dtype),
                               rtol=2e-6 if dtype == np.float32 else 1e-15, atol=2 * tiny)
    assert out.dtype == dtype and np.isfinite(out.numpy()).all()
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all() and np.isfinite(w.grad.numpy()).all()


def test_errors_are_linears():
    for op in (LinearReLU, LinearSigmoid, LinearTanh):
        with pytest.raises(ValueError, match=r"linear: input of shape \(4, 5\).*\(2, 3\)"):
            op.apply(rg.zeros(4, 5), rg.zeros(2, 3))
        with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\)"):
            op.apply(rg.zeros(4, 3), rg.zeros(2, 3), rg.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        LinearTanh.apply(rg.tensor(np.ones((2, 3), dtype=np.int64)),
                         rg.tensor(np.ones((4, 3), dtype=np.int64)))
    seq = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with pytest.raises(ValueError, match=r"Linear\(in_features=3\).*\(4, 5\)"):
        seq(rg.zeros(4, 5))


def test_saved_output_and_inputs_are_protected_until_backward():
    rng = np.random.default_rng(3)
    lin = nn.Linear(3, 4, dtype=rg.float64)
    x = rg.tensor(rng.standard_normal((5, 3)), dtype=rg.float64)
    out = nn.Sequential(lin, nn.Sigmoid())(x)
    assert out.grad_fn.name == "LinearSigmoid"
    with rg.no_grad():
        with pytest.raises(RuntimeError, match=r"output of LinearSigmoid\) may be needed"):
            out += 1
        with pytest.raises(RuntimeError, match="output of LinearSigmoid"):
            out[0] = 0.0
        with pytest.raises(RuntimeError, match="LinearSigmoid"):
            x += 1  # a leaf the op saved (its gradient for W needs it)
    with pytest.raises(ValueError, match="read-only"):
        out.numpy()[0, 0] = 0.0
    assert not lin.weight.numpy().flags.writeable
    assert lin.bias.numpy().flags.writeable  # the backward does not read the bias
    s = out.numpy().copy()
    out.sum().backward()
    np.testing.assert_allclose(lin.bias.grad.numpy(), (s * (1 - s)).sum(0), rtol=1e-12)
    assert out.numpy().flags.writeable and x.numpy().flags.writeable
    assert lin.weight.numpy().flags.writeable  # all given back


@pytest.mark.parametrize("act", ACTS)
def test_retain_graph_backward_twice_is_the_same(act):
    rng = np.random.default_rng(4)
    x, w, b = _leaves(rng, (), 64, 70, 80, True, rg.float32)  # > 4096 outputs: large paths
    out = FUSED[act].apply(x, w, b)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g, retain_graph=True)
    first = [t.grad.numpy().copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    out.backward(g)
    for t, f in zip((x, w, b), first):
        assert t.grad.dtype == np.float32
        np.testing.assert_array_equal(t.grad.numpy(), f)


@pytest.mark.parametrize("act", ACTS)
def test_activation_runs_in_place_on_the_gemm_output(act):
    # the forward pass makes one output-sized array (NumPy reports its allocations to
    # tracemalloc); an activation that is not in place would make a second one
    import tracemalloc

    rng = np.random.default_rng(11)
    x, w, b = _leaves(rng, (), 256, 64, 1024, True, rg.float64)
    nbytes = 256 * 1024 * 8
    tracemalloc.start()
    try:
        out = FUSED[act].apply(x, w, b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.numpy().nbytes == nbytes
    assert nbytes <= peak < 1.5 * nbytes


# -- nn.Sequential ------------------------------------------------------------------------------
def _mlp(acts, dtype=rg.float64, seed=5):
    rg.manual_seed(seed)
    sizes = [3] + [5] * len(acts) + [2]
    mods = []
    for i, act in enumerate(acts):
        mods += [nn.Linear(sizes[i], sizes[i + 1], dtype=dtype), MODULES[act]()]
    mods.append(nn.Linear(sizes[-2], sizes[-1], dtype=dtype))
    return nn.Sequential(*mods)


def _chain(t):
    """The op names from t back to the input, following each node's first input."""
    names, node = [], t.grad_fn
    while node is not None and not isinstance(node, rg.Tensor):
        names.append(node.name)
        node = node.next_functions[0]
    return names


def test_one_node_per_linear_and_activation_and_same_state_dict():
    model = _mlp(["relu", "sigmoid", "tanh"])
    hooked = _mlp(["relu", "sigmoid", "tanh"])
    for m in hooked:
        m.register_forward_hook(lambda mod, inp, out: None)
    x = rg.randn(4, 3, dtype=rg.float64, requires_grad=True)
    y = rg.tensor([0, 1, 1, 0])
    loss = F.cross_entropy(model(x), y)
    assert _chain(loss) == ["CrossEntropy", "Linear", "LinearTanh", "LinearSigmoid",
                            "LinearReLU"]
    first = loss.grad_fn.next_functions[0].next_functions[0]
    assert first.name == "LinearTanh" and len(first.next_functions) == 3  # x, W, b
    assert first.next_functions[1] is model[4].weight
    assert _chain(F.cross_entropy(hooked(x), y)) == ["CrossEntropy", "Linear", "Tanh",
                                                     "Linear", "Sigmoid", "Linear", "ReLU",
                                                     "Linear"]
    keys = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight",
            "6.bias"]
    assert list(model.state_dict()) == keys == list(hooked.state_dict())


@pytest.mark.parametrize("dtype", [rg.float64, rg.float32])
def test_fused_training_equals_hooked_unfused(dtype):
    acts = ["relu", "sigmoid", "tanh", "relu"]
    fused, plain = _mlp(acts, dtype), _mlp(acts, dtype)
    seen = []
    for name, m in plain.named_modules():
        m.register_forward_hook(lambda mod, inp, out, name=name: seen.append(name))
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal((7, 3)).astype(dtype) for _ in range(3)]
    ys = [rng.integers(0, 2, 7) for _ in range(3)]
    log_f, log_p = train_steps(fused, xs, ys), train_steps(plain, xs, ys)
    assert len(seen) == 3 * len(list(plain.named_modules()))  # every module, every step
    for (lf, gxf, gf), (lp, gxp, gp) in zip(log_f, log_p):
        assert lf == lp  # the same NumPy operations on the same values: equal bits
        np.testing.assert_array_equal(gxf, gxp)
        for a, b in zip(gf, gp):
            assert a.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("pre", [False, True])
def test_hooks_switch_fusion_off_and_see_each_modules_output(which, pre):
    rng = np.random.default_rng(7)
    x = rg.tensor(rng.standard_normal((6, 3)), dtype=rg.float64)
    fused = nn.Sequential(nn.Linear(3, 4, dtype=rg.float64), nn.Sigmoid())
    assert fused(x).grad_fn.name == "LinearSigmoid"
    seq = nn.Sequential(nn.Linear(3, 4, dtype=rg.float64), nn.Sigmoid())
    seq.load_state_dict(fused.state_dict())
    seen = []
    if pre:
        seq[which].register_forward_pre_hook(lambda m, i: seen.append(i[0]))
    else:
        seq[which].register_forward_hook(lambda m, i, o: seen.append(o))
    out = seq(x)
    assert out.grad_fn.name == "Sigmoid" and len(seen) == 1
    w, b = seq[0].weight.numpy(), seq[0].bias.numpy()
    z = x.numpy() @ w.T + b
    if not pre and which == 0:  # the Linear's own (pre-activation) output
        assert seen[0].grad_fn.name == "Linear"
        np.testing.assert_allclose(seen[0].numpy(), z, rtol=1e-12)
        assert (seen[0].numpy() < 0).any()  # not a sigmoid's output
    if pre and which == 1:  # the Sigmoid's input: z again
        np.testing.assert_allclose(seen[0].numpy(), z, rtol=1e-12)
    np.testing.assert_array_equal(out.numpy(), fused(x).numpy())


def test_overridden_forwards_are_not_fused_and_keep_their_meaning():
    x = rg.randn(4, 3, requires_grad=True)

    def top(*mods):
        return nn.Sequential(*mods)(x).grad_fn.name

    class DoubleReLU(nn.ReLU):
        def forward(self, t):
            return t.relu() * 2

    class ShiftedLinear(nn.Linear):
        def forward(self, t):
            return super().forward(t) + 1

    class NamedTanh(nn.Tanh):  # keeps nn.Tanh's forward: still the plain activation
        pass

    assert top(nn.Linear(3, 2), DoubleReLU()) == "Mul"
    assert top(ShiftedLinear(3, 2), nn.ReLU()) == "ReLU"
    assert top(nn.Linear(3, 2), NamedTanh()) == "LinearTanh"
    assert top(nn.Linear(3, 2), nn.ReLU()) == "LinearReLU"
    assert top(nn.Linear(3, 2, bias=False), nn.Sigmoid()) == "LinearSigmoid"
    assert top(nn.Linear(3, 2), nn.LeakyReLU()) == "LeakyReLU"  # not a fused activation
    assert top(nn.Linear(3, 2), nn.ReLU(), nn.ReLU()) == "ReLU"  # one activation fused
    assert top(nn.ReLU(), nn.Linear(3, 2)) == "Linear"
    # BatchNorm and Residual still fuse with ReLU only
    assert top(nn.BatchNorm1d(3), nn.Sigmoid()) == "Sigmoid"
    assert top(nn.BatchNorm1d(3), nn.ReLU()) == "BatchNormReLU"
    shifted = ShiftedLinear(3, 2)
    want = x.numpy() @ shifted.weight.numpy().T + shifted.bias.numpy() + 1
    np.testing.assert_allclose(nn.Sequential(shifted, nn.ReLU())(x).numpy(),
                               np.maximum(want, 0), rtol=1e-6)


def test_bias_free_and_batched_inputs_through_sequential():
    rng = np.random.default_rng(8)
    seq = nn.Sequential(nn.Linear(3, 4, bias=False, dtype=rg.float64), nn.Tanh())
    x = rg.tensor(rng.standard_normal((2, 5, 3)), dtype=rg.float64, requires_grad=True)
    out = seq(x)
    assert out.grad_fn.name == "LinearTanh" and out.shape == (2, 5, 4)
    w = seq[0].weight.numpy()
    np.testing.assert_allclose(out.numpy(), np.tanh(x.numpy() @ w.T), rtol=1e-12)
    g = rng.standard_normal((2, 5, 4))
    out.backward(g)
    delta = g * (1 - np.tanh(x.numpy() @ w.T) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), delta @ w, rtol=1e-12)
    np.testing.assert_allclose(seq[0].weight.grad.numpy(),
                               delta.reshape(-1, 4).T @ x.numpy().reshape(-1, 3), rtol=1e-12)


@pytest.mark.parametrize("acts", [["relu", "relu"], ["sigmoid", "tanh"]])
def test_fused_mlp_matches_torch(torch, acts):
    model = _mlp(acts, rg.float64)
    tact = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), tact[acts[0]](), torch.nn.Linear(5, 5),
                             tact[acts[1]](), torch.nn.Linear(5, 2)).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 3))
    y = rng.integers(0, 2, 8)
    # the graph is fused (checked before a backward pass frees it), and agrees with torch
    out = model(rg.tensor(x, dtype=rg.float64, requires_grad=True))
    assert _chain(out)[1:] == ["Linear" + {"relu": "ReLU", "sigmoid": "Sigmoid",
                                           "tanh": "Tanh"}[a] for a in reversed(acts)]
    assert_step_matches_torch(torch, model, tm, x, y, rtol=1e-10, atol=1e-14)


# -- retrograd.explain --------------------------------------------------------------------------
def test_explain_layer_view_sees_the_unfused_layers():
    # backprop() watches the model with hooks: z (pre-activation) and a are both recorded
    rng = np.random.default_rng(10)
    model = _mlp(["sigmoid"])
    x = rng.standard_normal((4, 3))
    y = rng.integers(0, 2, 4)
    view = rg.explain.backprop(model, rg.tensor(x, dtype=rg.float64), rg.tensor(y),
                               F.cross_entropy)
    first = view.layers[0]
    z = x @ model[0].weight.numpy().T + model[0].bias.numpy()
    np.testing.assert_allclose(first.z, z, rtol=1e-12)
    np.testing.assert_allclose(first.a, 1 / (1 + np.exp(-z)), rtol=1e-12)
    assert first.activation == "Sigmoid"
    assert view.checks and view.ok
    # the hooks are gone afterwards: the model runs fused again
    assert model(rg.tensor(x, requires_grad=True)).grad_fn.next_functions[0].name == \
        "LinearSigmoid"


def test_explain_gate_view_of_a_fused_graph():
    # without watch() nothing hooks the modules: the trace shows the fused nodes, each
    # owned by its Linear (its parameters), with its rule
    model = nn.Sequential(*[m for _ in range(45) for m in (nn.Linear(3, 3), nn.Tanh())])
    loss = (model(rg.randn(2, 3)) ** 2).sum()
    tr = rg.explain.trace(loss, model=model)
    assert tr.collapsed  # 45 fused nodes and the loss's
    assert {n.module for n in tr.nodes if n.op == "LinearTanh"} == \
        {str(2 * i) for i in range(45)}
    small = _mlp(["relu", "sigmoid", "tanh"])
    text = str(rg.explain.trace(F.cross_entropy(small(rg.randn(3, 3, dtype=rg.float64)),
                                                rg.tensor([0, 1, 0])), model=small))
    for rule in ("linear + relu", "linear + sigmoid", "linear + tanh"):
        assert rule in text
