"""Schedulers against PyTorch's learning-rate sequences."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import retrograd as rg
from retrograd import optim
from retrograd.optim import lr_scheduler


def _pair(torch, lrs=(0.1, 0.02)):
    ps = [rg.nn.Parameter(rg.zeros(2)) for _ in lrs]
    ts = [torch.zeros(2, requires_grad=True) for _ in lrs]
    opt = optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], lr=1.0,
                    momentum=0.9)
    topt = torch.optim.SGD([{"params": [t], "lr": lr} for t, lr in zip(ts, lrs)], lr=1.0,
                           momentum=0.9)
    return opt, topt


CASES = [("StepLR", {"step_size": 3}), ("StepLR", {"step_size": 1, "gamma": 0.5}),
         ("CosineAnnealingLR", {"T_max": 10}),
         ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}),
         ("CosineAnnealingLR", {"T_max": 1, "eta_min": 0.01}),
         ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.5}),
         ("ExponentialLR", {"gamma": 0.9})]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_lr_sequence_matches_torch(torch, name, kwargs):
    opt, topt = _pair(torch)
    s = getattr(lr_scheduler, name)(opt, **kwargs)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert s.get_last_lr() == ts.get_last_lr()
    for epoch in range(35):  # past T_max: the cosine comes back up
        opt.step()
        topt.step()
        s.step()
        ts.step()
        ours, theirs = s.get_last_lr(), ts.get_last_lr()
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15), epoch
        assert [g["lr"] for g in opt.param_groups] == ours
        if epoch == 12:  # a user's change to the rate carries over (recursive form)
            for g, tg in zip(opt.param_groups, topt.param_groups):
                g["lr"] = tg["lr"] = g["lr"] * 3


def test_step_with_epoch_uses_closed_form(torch):
    import warnings

    opt, topt = _pair(torch)
    s = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, eta_min=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates step(epoch); we keep it
        s.step(4)
        ts.step(4)
    assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
    want = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * 4 / 10)) / 2
    assert s.get_last_lr()[0] == pytest.approx(want, rel=1e-12)


def test_steplr_values_by_hand():
    opt = optim.SGD([rg.nn.Parameter(rg.zeros(1))], lr=1.0)
    s = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    seen = [s.get_last_lr()[0]]
    for _ in range(5):
        opt.step()
        s.step()
        seen.append(s.get_last_lr()[0])
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize("name,kwargs", CASES[:1] + CASES[3:4] + CASES[5:])
def test_state_dict_round_trip(name, kwargs):
    def make():
        opt = optim.Adam([rg.nn.Parameter(rg.zeros(1))], lr=0.1)
        return opt, getattr(lr_scheduler, name)(opt, **kwargs)

    opt, s = make()
    for _ in range(4):
        opt.step()
        s.step()
    saved_opt = opt.state_dict()
    saved = json.loads(json.dumps(s.state_dict()))  # JSON-compatible
    opt2, s2 = make()
    opt2.load_state_dict(saved_opt)
    s2.load_state_dict(saved)
    for _ in range(10):
        for o, sc in ((opt, s), (opt2, s2)):
            o.step()
            sc.step()
        assert s.get_last_lr() == s2.get_last_lr()
        assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]


def test_bad_arguments():
    opt = optim.SGD([rg.nn.Parameter(rg.zeros(1))], lr=1.0)
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size must be a positive integer, got 0"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=-3)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD([rg.nn.Parameter(rg.zeros(1))], lr=1.0), 2,
                            last_epoch=3)


def test_scheduler_drives_training_lr():
    p = rg.nn.Parameter(rg.tensor([1.0], dtype=rg.float64))
    opt = optim.SGD([p], lr=0.5)
    s = lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    for _ in range(3):
        p.grad = rg.tensor([1.0], dtype=rg.float64)
        opt.step()
        s.step()
    np.testing.assert_allclose(p.data, [1 - 0.5 - 0.05 - 0.005], rtol=1e-14)


@pytest.mark.parametrize("name,kwargs", [CASES[0], CASES[2], CASES[5], CASES[6]])
def test_resume_with_last_epoch_matches_torch(torch, name, kwargs):
    """Rebuilding a scheduler with last_epoch=k (after the optimiser's state, which holds
    initial_lr, is loaded) behaves as PyTorch's."""
    opt, topt = _pair(torch)
    s = getattr(lr_scheduler, name)(opt, **kwargs)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(4):
        opt.step()
        topt.step()
        s.step()
        ts.step()
    s = getattr(lr_scheduler, name)(opt, last_epoch=4, **kwargs)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=4, **kwargs)
    for _ in range(6):
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        opt.step()
        topt.step()
        s.step()
        ts.step()
