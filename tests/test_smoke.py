"""First end-to-end checks of the engine (the full op table lives in tests/ops)."""

import numpy as np

import retrograd as rg


def test_worked_example_003_reproduced_exactly():
    # 003_04d51d4a1cadf258.txt: 2-2-2 sigmoid network, MSE cost C = 1/2 sum (y - a)^2
    i = rg.tensor([0.1, 0.2], dtype=rg.float64)
    y = rg.tensor([0.01, 0.99], dtype=rg.float64)
    w1 = rg.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=rg.float64, requires_grad=True)
    b1 = rg.tensor([0.55, 0.56], dtype=rg.float64, requires_grad=True)
    w2 = rg.tensor([[0.5, 0.6], [0.7, 0.8]], dtype=rg.float64, requires_grad=True)
    b2 = rg.tensor([0.66, 0.67], dtype=rg.float64, requires_grad=True)
    h = (w1 @ i + b1).sigmoid()
    o = (w2 @ h + b2).sigmoid()
    cost = 0.5 * ((y - o) ** 2).sum()
    cost.backward()
    assert np.allclose(h.numpy(), [0.6456563062257954, 0.6615031592029524], rtol=0, atol=1e-12)
    assert np.allclose(o.numpy(), [0.7989476413779711, 0.8390480283342561], rtol=0, atol=1e-12)
    assert abs(w2.grad.numpy()[0, 0] - 0.08182331501899741) < 1e-12  # d_w5
    assert abs(w1.grad.numpy()[0, 0] - 0.0011232066954600499) < 1e-12  # d_w1


def test_diamond_sums_both_paths():
    a = rg.tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0
