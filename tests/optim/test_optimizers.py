"""Optimisers against PyTorch: 25 steps from one start in float64, every parameter compared
after every step, for each combination of options; state keys and values as PyTorch's;
state_dict round trips that continue bit for bit."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import retrograd as rg
from retrograd import optim

STEPS = 25
SHAPES = [(5, 3), (3,), (1,), (2, 2)]


def _grad(p: np.ndarray, k: int, step: int) -> np.ndarray:
    """A gradient that depends on the current parameter (so differences would grow) and on
    the step (so it is not stationary)."""
    rng = np.random.default_rng(1000 * step + k)
    return np.cos(3 * p) + 0.3 * p + rng.normal(size=p.shape)


def _start():
    rng = np.random.default_rng(7)
    return [rng.normal(size=s) for s in SHAPES]


def _run_both(torch, rg_cls, torch_cls, kwargs, steps=STEPS, groups=None, skip=True):
    start = _start()
    ps = [rg.nn.Parameter(rg.tensor(a, dtype=rg.float64)) for a in start]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in start]
    if groups is None:
        opt, topt = rg_cls(ps, **kwargs), torch_cls(ts, **kwargs)
    else:
        opt = rg_cls([dict(g, params=[ps[i] for i in g["params"]]) for g in groups], **kwargs)
        topt = torch_cls([dict(g, params=[ts[i] for i in g["params"]]) for g in groups],
                         **kwargs)
    for step in range(steps):
        for k, (p, t) in enumerate(zip(ps, ts)):
            if skip and k == 2 and step % 3 == 0:
                p.grad, t.grad = None, None  # a parameter without gradient is skipped
                continue
            p.grad = rg.tensor(_grad(p.data, k, step), dtype=rg.float64)
            t.grad = torch.from_numpy(_grad(t.detach().numpy(), k, step))
        opt.step()
        topt.step()
        for k, (p, t) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-11, atol=1e-13,
                                       err_msg=f"parameter {k} after step {step + 1}")
    return ps, ts, opt, topt


def _combos(**options):
    keys = list(options)
    for values in itertools.product(*options.values()):
        yield dict(zip(keys, values))


SGD_CASES = [c for c in _combos(lr=[0.05], momentum=[0, 0.9], dampening=[0, 0.3],
                                nesterov=[False, True], weight_decay=[0, 0.01])
             if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
ADAM_CASES = list(_combos(lr=[0.01], betas=[(0.9, 0.999), (0.8, 0.9)], eps=[1e-8],
                          weight_decay=[0, 0.1], amsgrad=[False, True]))
ADAGRAD_CASES = list(_combos(lr=[0.1], lr_decay=[0, 0.01], weight_decay=[0, 0.1],
                             initial_accumulator_value=[0, 0.5], eps=[1e-10]))
RMSPROP_CASES = list(_combos(lr=[0.01], alpha=[0.99, 0.9], eps=[1e-8], weight_decay=[0, 0.1],
                             momentum=[0, 0.9], centered=[False, True]))

ALL = ([("SGD", c) for c in SGD_CASES] + [("Adam", c) for c in ADAM_CASES]
       + [("AdamW", c) for c in ADAM_CASES] + [("Adagrad", c) for c in ADAGRAD_CASES]
       + [("RMSprop", c) for c in RMSPROP_CASES])


def _id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items() if k not in ("lr", "eps"))


@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
def test_matches_torch_every_step(torch, case):
    name, kwargs = case
    ps, ts, opt, topt = _run_both(torch, getattr(optim, name), getattr(torch.optim, name),
                                  kwargs)
    # the same state, under the same names, with the same values
    for p, t in zip(ps, ts):
        st, tst = opt.state[p], topt.state[t]
        assert set(st) == {k for k, v in tst.items() if v is not None}, (st.keys(), tst.keys())
        for k, v in st.items():
            want = tst[k].detach().numpy() if hasattr(tst[k], "detach") else tst[k]
            np.testing.assert_allclose(v, want, rtol=1e-11, atol=1e-13, err_msg=k)


FLAT_KEY = {"SGD": "momentum_buffer", "Adam": "exp_avg", "AdamW": "exp_avg",
            "Adagrad": "sum", "RMSprop": "square_avg"}
FLAT_ALL = [c for c in ALL if c[0] != "SGD" or c[1]["momentum"] != 0]


@pytest.mark.parametrize("case", FLAT_ALL, ids=[_id(c) for c in FLAT_ALL])
def test_on_flat_buffers_matches_torch(torch, case):
    # Every parameter has a gradient at every step: the optimiser keeps its buffers in one
    # flat array per name and updates all parameters with one call per operation where it
    # can.
    name, kwargs = case
    ps, ts, opt, topt = _run_both(torch, getattr(optim, name), getattr(torch.optim, name),
                                  kwargs, skip=False)
    assert opt._flats, "the flat path did not run"
    flat = next(iter(opt._flats.values()))
    for p, t in zip(ps, ts):
        st, tst = opt.state[p], topt.state[t]
        assert set(st) == {k for k, v in tst.items() if v is not None}, (st.keys(), tst.keys())
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                assert np.shares_memory(v, flat.arrays[k]), k
            np.testing.assert_allclose(v, tst[k].numpy() if hasattr(tst[k], "numpy")
                                       else tst[k], rtol=1e-11, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("case", FLAT_ALL, ids=[_id(c) for c in FLAT_ALL])
def test_flat_and_one_by_one_give_the_same_bits(case):
    name, kw = case
    runs = []
    for flat in (True, False):
        ps = [rg.nn.Parameter(rg.tensor(a, dtype=rg.float32)) for a in _start()]
        opt = getattr(optim, name)(ps, **kw)
        if not flat:
            opt._flat = lambda group, items: None  # every parameter on its own
        kept = None
        for step in range(12):
            for k, p in enumerate(ps):
                p.grad = rg.tensor(_grad(p.data, k, step), dtype=rg.float32)
            if step == 6:  # one step with a parameter missing: one by one, on the views
                ps[1].grad = None
            opt.step()
            if step == 0:  # the buffers made at the first step are kept (no copy later)
                kept = {(i, k): v for i, p in enumerate(ps)
                        for k, v in opt.state[p].items() if isinstance(v, np.ndarray)}
        assert bool(opt._flats) == flat
        assert kept and all(opt.state[ps[i]][k] is v for (i, k), v in kept.items())
        runs.append([p.data.copy() for p in ps] +
                    [opt.state[p][FLAT_KEY[name]].copy() for p in ps])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [rg.float32, rg.float64])
def test_adam_hyperparameters_as_numpy_scalars_or_0d_arrays_give_the_bits_of_floats(dtype):
    def run(num, beta):
        ps = [rg.nn.Parameter(rg.tensor(a, dtype=dtype)) for a in _start()]
        opt = optim.Adam(ps, lr=num(0.01), betas=(beta(0.8), beta(0.99)), eps=num(1e-6))
        for step in range(6):
            for k, p in enumerate(ps):
                p.grad = rg.tensor(_grad(p.data, k, step), dtype=dtype)
            opt.step()
        return [p.data.copy() for p in ps]

    want = run(float, float)
    # the same values (np.float32 would change them); lr and eps must be real numbers, as
    # in PyTorch, but the betas are only range-checked and may be 0-d arrays
    for num, beta in ((np.float64, np.float64), (float, np.array)):
        for a, b in zip(want, run(num, beta)):
            np.testing.assert_array_equal(a, b)


def test_adam_mixed_dtypes_and_a_parameter_never_used_update_one_by_one():
    ps = [rg.nn.Parameter(rg.tensor(a, dtype=dt)) for a, dt in
          zip(_start(), (rg.float32, rg.float64, rg.float32, rg.float64))]
    ref = [rg.nn.Parameter(rg.tensor(p.data.copy())) for p in ps]
    opt, opt_ref = optim.Adam(ps, lr=0.01), optim.Adam(ref, lr=0.01)
    opt_ref._flat = lambda group, items: None
    for step in range(4):
        for k, (p, q) in enumerate(zip(ps, ref)):
            if k == 3:
                continue  # never has a gradient
            p.grad = rg.tensor(_grad(p.data, k, step), dtype=p.dtype)
            q.grad = rg.tensor(_grad(q.data, k, step), dtype=q.dtype)
        opt.step()
        opt_ref.step()
    assert not opt._flats  # a subset of the group every step: no flat buffers
    for p, q in zip(ps, ref):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p.data, q.data)
    assert 3 not in opt.state_dict()["state"]
    # every parameter with a gradient, but float32 and float64 in one group: one by one too
    opt2 = optim.Adam(ps[:3], lr=0.01)
    for k, p in enumerate(ps[:3]):
        p.grad = rg.tensor(_grad(p.data, k, 9), dtype=p.dtype)
    opt2.step()
    assert not opt2._flats and all(opt2.state[p]["step"] == 1 for p in ps[:3])


def test_adam_flat_buffers_rebuilt_after_load_state_dict_continue_bit_for_bit():
    def make():
        ps = [rg.nn.Parameter(rg.tensor(a, dtype=rg.float64)) for a in _start()]
        return ps, optim.Adam(ps, lr=0.05, weight_decay=0.01)

    def run(ps, opt, steps):
        for step in steps:
            for k, p in enumerate(ps):
                p.grad = rg.tensor(_grad(p.data, k, step), dtype=rg.float64)
            opt.step()

    ps, opt = make()
    run(ps, opt, range(10))
    ps2, opt2 = make()
    run(ps2, opt2, range(5))
    saved = opt2.state_dict()
    params = [p.data.copy() for p in ps2]
    ps3, opt3 = make()
    for p, a in zip(ps3, params):
        p.data[...] = a
    opt3.load_state_dict(saved)
    run(ps3, opt3, range(5, 10))
    for a, b in zip(ps, ps3):
        np.testing.assert_array_equal(a.data, b.data)
    # A buffer the user replaces is taken up (not overwritten by a stale flat copy): the
    # next step equals a one-by-one step from the same state.
    opt3.state[ps3[0]]["exp_avg"] = np.zeros(SHAPES[0])
    ps4, opt4 = make()
    for p, q in zip(ps4, ps3):
        p.data[...] = q.data
    opt4.load_state_dict(opt3.state_dict())
    opt4._flat = lambda group, items: None
    run(ps3, opt3, [10])
    run(ps4, opt4, [10])
    for a, b in zip(ps3, ps4):
        np.testing.assert_array_equal(a.data, b.data)
    assert np.shares_memory(opt3.state[ps3[0]]["exp_avg"],
                            next(iter(opt3._flats.values())).arrays["exp_avg"])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_match_torch(torch, name):
    kw = {"lr": 0.01} if name != "SGD" else {"lr": 0.1, "momentum": 0.5}
    groups = [{"params": [0, 1]}, {"params": [2, 3], "lr": 0.003, "weight_decay": 0.2}]
    _run_both(torch, getattr(optim, name), getattr(torch.optim, name), kw, groups=groups)


def _fresh(name, kwargs):
    ps = [rg.nn.Parameter(rg.tensor(a, dtype=rg.float64)) for a in _start()]
    return ps, getattr(optim, name)(ps, **kwargs)


def _steps(ps, opt, first, n):
    for step in range(first, first + n):
        for k, p in enumerate(ps):
            p.grad = rg.tensor(_grad(p.data, k, step), dtype=rg.float64)
        opt.step()


ROUND_TRIP = [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
              ("Adam", {"lr": 0.01, "amsgrad": True}), ("AdamW", {"lr": 0.01}),
              ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
              ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True})]


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP)
def test_state_dict_round_trip_continues_bit_identically(name, kwargs):
    ps, opt = _fresh(name, kwargs)
    _steps(ps, opt, 0, 7)
    # through the serialisable form: arrays + JSON text
    arrays, meta = optim.flatten_state_dict(opt.state_dict())
    meta = json.loads(json.dumps(meta))
    arrays = {k: v.copy() for k, v in arrays.items()}
    ps2 = [rg.nn.Parameter(rg.tensor(p.data.copy(), dtype=rg.float64)) for p in ps]
    opt2 = getattr(optim, name)(ps2, lr=123.0)  # hyper-parameters come from the state too
    opt2.load_state_dict(optim.unflatten_state_dict(arrays, meta))
    _steps(ps, opt, 7, 8)
    _steps(ps2, opt2, 7, 8)
    for p, q in zip(ps, ps2):
        assert np.array_equal(p.data, q.data)


def test_state_dict_layout_is_pytorchs(torch):
    ps, opt = _fresh("Adam", {"lr": 0.01})
    _steps(ps, opt, 0, 2)
    sd = opt.state_dict()
    ts = [torch.tensor(a, requires_grad=True) for a in _start()]
    topt = torch.optim.Adam(ts, lr=0.01)
    for t in ts:
        t.grad = torch.ones_like(t)
    topt.step()
    tsd = topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2, 3]
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]
    assert set(tsd["param_groups"][0]) >= set(sd["param_groups"][0])
    assert sd["state"][0]["step"] == 2
    # the state dict is a copy: stepping again does not change it
    before = sd["state"][0]["exp_avg"].copy()
    _steps(ps, opt, 2, 1)
    assert np.array_equal(sd["state"][0]["exp_avg"], before)


def test_torch_state_dict_loads(torch):
    """A state dict from torch (tensors, float step) continues as torch does."""
    start = _start()
    ts = [torch.tensor(a, requires_grad=True) for a in start]
    topt = torch.optim.Adam(ts, lr=0.01)
    for step in range(5):
        for k, t in enumerate(ts):
            t.grad = torch.from_numpy(_grad(t.detach().numpy(), k, step))
        topt.step()
    tsd = topt.state_dict()
    ps = [rg.nn.Parameter(rg.tensor(t.detach().numpy(), dtype=rg.float64)) for t in ts]
    opt = optim.Adam(ps, lr=0.5)
    opt.load_state_dict(tsd)  # torch tensors and all
    assert opt.param_groups[0]["lr"] == 0.01
    for step in range(5, 10):
        for k, (p, t) in enumerate(zip(ps, ts)):
            p.grad = rg.tensor(_grad(p.data, k, step), dtype=rg.float64)
            t.grad = torch.from_numpy(_grad(t.detach().numpy(), k, step))
        opt.step()
        topt.step()
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12)
    # and the reverse: our state dict, as tensors, continues torch's optimiser
    sd = opt.state_dict()
    topt2 = torch.optim.Adam([torch.tensor(p.data.copy(), requires_grad=True) for p in ps])
    topt2.load_state_dict({"state": {i: {k: torch.tensor(v) for k, v in s.items()}
                                     for i, s in sd["state"].items()},
                           "param_groups": sd["param_groups"]})
    assert topt2.param_groups[0]["lr"] == 0.01
    assert float(topt2.state_dict()["state"][0]["step"]) == 10


def test_updates_are_in_place():
    """Parameters and state buffers keep their arrays (state_dict views and references held
    elsewhere stay valid; no per-step allocation of state)."""
    for name, kw in ROUND_TRIP:
        ps, opt = _fresh(name, kw)
        arrays = [p.data for p in ps]
        _steps(ps, opt, 0, 1)
        buffers = {(i, k): v for i, p in enumerate(ps) for k, v in opt.state[p].items()
                   if isinstance(v, np.ndarray)}
        _steps(ps, opt, 1, 3)
        assert all(p.data is a for p, a in zip(ps, arrays)), name
        assert all(opt.state[ps[i]][k] is v for (i, k), v in buffers.items()), name


def test_steps_after_the_first_allocate_no_state(monkeypatch):
    """State buffers are made once, at the first step: later steps create none (a default
    built eagerly, e.g. by dict.setdefault, would allocate one per parameter per step)."""
    made = []
    real = np.zeros_like

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    for name, kw in ROUND_TRIP + [("RMSprop", {"lr": 0.01, "weight_decay": 0.1})]:
        ps, opt = _fresh(name, kw)
        _steps(ps, opt, 0, 1)
        monkeypatch.setattr(np, "zeros_like", counting)
        _steps(ps, opt, 1, 3)
        monkeypatch.setattr(np, "zeros_like", real)
        assert not made, name


def test_load_state_dict_errors():
    ps, opt = _fresh("Adam", {"lr": 0.01})
    _steps(ps, opt, 0, 1)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": ps[:2]}, {"params": ps[2:]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"hold \[4\] parameters, this optimiser's \[3\]"):
        optim.Adam(ps[:3]).load_state_dict(sd)
    wrong = [rg.nn.Parameter(rg.zeros(s, dtype=rg.float64)) for s in [(3, 5), (3,), (1,), (2, 2)]]
    with pytest.raises(ValueError, match=r"exp_avg.*shape \(5, 3\).*\(3, 5\)"):
        optim.Adam(wrong).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_l2_regularisation_is_weight_decay():
    """Seed 001 adds lambda ||W||^2-style L2 to the loss; SGD's weight_decay=lambda is the
    same as adding (lambda / 2) ||W||^2 to the loss, step for step."""
    lam, lr = 0.01, 0.1
    rg.manual_seed(3)
    x = rg.randn(8, 4, dtype=rg.float64)
    y = rg.tensor([0, 1, 2, 1, 0, 2, 2, 1])
    w0 = rg.randn(3, 4, dtype=rg.float64).data
    wa, wb = rg.nn.Parameter(w0), rg.nn.Parameter(w0)
    opt_a = optim.SGD([wa], lr=lr, weight_decay=lam)
    opt_b = optim.SGD([wb], lr=lr)
    for _ in range(20):
        for w, opt, extra in ((wa, opt_a, False), (wb, opt_b, True)):
            opt.zero_grad()
            loss = rg.nn.functional.cross_entropy(x @ w.T, y)
            if extra:
                loss = loss + (lam / 2) * (w * w).sum()
            loss.backward()
            opt.step()
    np.testing.assert_allclose(wa.data, wb.data, rtol=1e-13, atol=1e-15)
    assert not np.allclose(wa.data, w0)


def test_sgd_momentum_by_hand():
    p = rg.nn.Parameter(rg.tensor([1.0], dtype=rg.float64))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    for _ in range(3):
        p.grad = rg.tensor([1.0], dtype=rg.float64)
        opt.step()
    # buffers 1, 1.9, 2.71: p = 1 - 0.1 * (1 + 1.9 + 2.71)
    np.testing.assert_allclose(p.data, [1 - 0.561], rtol=1e-14)


def test_bad_arguments():
    p = rg.nn.Parameter(rg.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([p])
    with pytest.raises(ValueError, match="invalid lr value: -1"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="int64"):
        optim.SGD([rg.tensor([1, 2])], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([rg.ones(2, requires_grad=True) * 2], lr=0.1)


def test_zero_grad_and_step_on_model():
    model = rg.nn.Sequential(rg.nn.Linear(3, 4), rg.nn.ReLU(), rg.nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = rg.randn(5, 3), rg.tensor([0, 1, 1, 0, 1])
    before = [p.data.copy() for p in model.parameters()]
    loss = rg.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    loss = rg.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in model.parameters())


def test_step_refuses_a_parameter_a_pending_backward_needs():
    w = rg.nn.Parameter(rg.ones(3))
    opt = optim.SGD([w], lr=0.1)
    w.grad = rg.ones(3)
    loss = (w * w).sum()  # the graph saves w
    with pytest.raises(RuntimeError, match="SGD.step.*Mul"):
        opt.step()
    loss.backward()
    opt.step()  # fine once the graph has run
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        opt.step()
    del loss
    opt.step()


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_step_that_refuses_a_parameter_updates_none_of_them(name):
    # every gradient of a group is checked before any parameter moves: no half-done step
    a, b = rg.nn.Parameter(rg.ones(3)), rg.nn.Parameter(rg.ones(2))
    opt = getattr(optim, name)([a, b], lr=0.1)
    a.grad, b.grad = rg.ones(3), rg.ones(2)
    loss = (b * b).sum()  # the graph saves b, the second parameter
    with pytest.raises(RuntimeError, match=f"{name}.step"):
        opt.step()
    np.testing.assert_array_equal(a.data, 1.0)
    assert not opt.state.get(a)
    del loss
    opt.step()
    assert (a.data < 1).all() and (b.data < 1).all()


def test_refuses_torch_options_it_does_not_implement(torch):
    t = torch.zeros(2, requires_grad=True)
    tsd = torch.optim.Adam([t], maximize=True).state_dict()
    p = rg.nn.Parameter(rg.zeros(2))
    opt = optim.Adam([p])
    p.grad = rg.ones(2)
    opt.step()
    with pytest.raises(ValueError, match="maximize"):
        opt.load_state_dict({"state": {}, "param_groups": tsd["param_groups"]})
    assert opt.state[p]["step"] == 1  # refused before anything was replaced
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = -1.0
    sd["state"][0]["step"] = 7
    with pytest.raises(ValueError, match="invalid lr"):
        opt.load_state_dict(sd)
    assert opt.state[p]["step"] == 1 and opt.param_groups[0]["lr"] == 1e-3


def test_closure_is_called_and_returned():
    p = rg.nn.Parameter(rg.tensor([2.0], dtype=rg.float64))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(p.data, [1.0])  # 2 - 0.25 * 4


def test_state_dict_before_any_step_round_trips():
    ps, opt = _fresh("RMSprop", {"lr": 0.01, "momentum": 0.5})
    arrays, meta = optim.flatten_state_dict(opt.state_dict())
    assert arrays == {} and meta["param_groups"][0]["params"] == [0, 1, 2, 3]
    ps2, opt2 = _fresh("RMSprop", {"lr": 0.5})
    opt2.load_state_dict(optim.unflatten_state_dict(arrays, json.loads(json.dumps(meta))))
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["momentum"] == 0.5
    _steps(ps, opt, 0, 3)
    _steps(ps2, opt2, 0, 3)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(ps, ps2))


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP)
def test_float32_stays_float32_and_tracks_torch(torch, name, kwargs):
    start = [a.astype(np.float32) for a in _start()]
    ps = [rg.nn.Parameter(a) for a in start]
    ts = [torch.tensor(a, requires_grad=True) for a in start]
    opt, topt = getattr(optim, name)(ps, **kwargs), getattr(torch.optim, name)(ts, **kwargs)
    for step in range(20):
        for k, (p, t) in enumerate(zip(ps, ts)):
            g = _grad(p.data.astype(np.float64), k, step).astype(np.float32)
            p.grad, t.grad = rg.tensor(g), torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(ps, ts):
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values()
                   if isinstance(v, np.ndarray))
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-4, atol=1e-5)
