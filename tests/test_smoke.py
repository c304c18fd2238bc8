"""First end-to-end checks of the engine (the full op table lives in tests/ops; the worked
example of seed 003 in tests/test_worked_example.py)."""


import retrograd as rg


def test_diamond_sums_both_paths():
    a = rg.tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0
