"""matmul with NumPy's rules (1-D, batched, broadcast batch axes) and the fused linear op."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg
from retrograd.ops import Linear

MATMUL_SHAPES = [
    ((3,), (3,)),            # dot product -> 0-d
    ((3,), (3, 4)),          # vector @ matrix
    ((2, 3), (3,)),          # matrix @ vector
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),     # batch @ matrix
    ((2, 3), (5, 3, 4)),     # matrix @ batch
    ((2, 1, 2, 3), (3, 3, 2)),  # batch axes broadcast both ways
    ((4, 2, 3), (3,)),       # batch @ vector
    ((3,), (2, 3, 4)),       # vector @ batch
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul_forward_and_gradcheck(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    x = rg.tensor(a, dtype=rg.float64, requires_grad=True)
    y = rg.tensor(b, dtype=rg.float64, requires_grad=True)
    np.testing.assert_allclose((x @ y).numpy(), a @ b, rtol=1e-14)
    assert rg.gradcheck(lambda p, q: p @ q, [x, y])


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul_matches_pytorch(torch, sa, sb):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    x = rg.tensor(a, dtype=rg.float64, requires_grad=True)
    y = rg.tensor(b, dtype=rg.float64, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = x.matmul(y), tx @ ty
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(np.asarray(g)))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_matmul_with_a_constant_array():
    x = rg.tensor(np.eye(2), dtype=rg.float64, requires_grad=True)
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    (x @ w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 2)) @ w.T)
    (w @ x).sum()  # reflected form works too


@pytest.mark.parametrize("sa,sb,msg", [
    ((3, 4), (5, 2), r"matmul: shapes \(3, 4\) and \(5, 2\) do not align \(4 != 5\)"),
    ((3,), (4,), r"matmul: shapes \(3,\) and \(4,\) do not align \(3 != 4\)"),
    ((2, 3, 4), (5, 4, 2), r"matmul: batch dimensions of \(2, 3, 4\) and \(5, 4, 2\)"),
    ((), (3,), r"matmul: both operands need at least 1 dimension"),
])
def test_matmul_shape_errors_name_the_op_and_shapes(sa, sb, msg):
    with pytest.raises(ValueError, match=msg):
        rg.zeros(sa) @ rg.zeros(sb)


@pytest.mark.parametrize("xshape", [(4, 3), (2, 5, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_linear_equals_composition(xshape, bias):
    rng = np.random.default_rng(2)
    x = rg.tensor(rng.standard_normal(xshape), dtype=rg.float64, requires_grad=True)
    w = rg.tensor(rng.standard_normal((2, 3)), dtype=rg.float64, requires_grad=True)
    b = rg.tensor(rng.standard_normal(2), dtype=rg.float64, requires_grad=True)
    args = (x, w, b) if bias else (x, w)
    fused = Linear.apply(*args)
    comp = x @ w.T + b if bias else x @ w.T
    np.testing.assert_allclose(fused.numpy(), comp.numpy(), rtol=1e-14)
    g = rng.standard_normal(fused.shape)
    grads = []
    for out in (fused, comp):
        for t in args:
            t.grad = None
        out.backward(g)
        grads.append([t.grad.numpy().copy() for t in args])
    for gf, gc in zip(*grads):
        np.testing.assert_allclose(gf, gc, rtol=1e-12, atol=1e-14)
    assert rg.gradcheck(lambda *ts: Linear.apply(*ts), list(args))


def test_linear_shape_error():
    with pytest.raises(ValueError, match=r"linear: input of shape \(4, 5\).*\(2, 3\)"):
        Linear.apply(rg.zeros(4, 5), rg.zeros(2, 3))


TRANSPOSED_FORMS = {  # form: shapes of x, W, v
    "x @ W.T": ((3, 4), (5, 4), None),
    "W.T @ x": ((5, 3), (5, 4), None),
    "x.T @ W.T": ((4, 3), (5, 4), None),
    "v @ W.T": (None, (5, 4), (4,)),
    "W.T @ v": (None, (5, 4), (5,)),
}


@pytest.mark.parametrize("form", list(TRANSPOSED_FORMS))
def test_matmul_with_transposed_operands(torch, form):
    # the VJP builds gradients of W.T in W's memory layout: check values and ownership
    rng = np.random.default_rng(3)
    arrays = {k: rng.standard_normal(s) for k, s in zip("xWv", TRANSPOSED_FORMS[form]) if s}
    ours = {k: rg.tensor(a, dtype=rg.float64, requires_grad=True) for k, a in arrays.items()}
    theirs = {k: torch.tensor(a, requires_grad=True) for k, a in arrays.items()}
    out, tout = eval(form, {}, ours), eval(form, {}, theirs)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(np.asarray(g)))
    for k, t in ours.items():
        np.testing.assert_allclose(t.grad.numpy(), theirs[k].grad.numpy(), rtol=1e-12)
        assert t.grad.numpy().flags.c_contiguous and t.grad.numpy().flags.writeable


def test_leaf_gradients_never_share_memory():
    # one array may reach two leaves (reshape views): each .grad must own its memory
    a = rg.zeros(6, requires_grad=True)
    b = rg.zeros(2, 3, requires_grad=True)
    (a.reshape(2, 3) + b).backward(np.ones((2, 3)))
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    w = rg.zeros(3, 2, requires_grad=True)
    x = rg.ones(4, 2)
    y = x @ w.T
    y.backward(np.ones((4, 3)))
    w.grad.numpy()[...] = 0  # writeable, and changing it changes nothing else
    assert y.numpy().sum() == 0 and x.numpy().sum() == 8


@pytest.mark.parametrize("x,y", [([[np.inf], [2.0], [3.0]], [[0.0]]),
                                 ([[0.0]], [[np.inf, 1.0, 2.0]]),
                                 ([[np.inf], [1.0]], [[0.0, 1.0, 2.0]])])
def test_inner_dimension_one_keeps_inf_times_zero_nan(x, y):
    # NumPy's ndarray.dot takes a 1 x 1 operand for a scalar and scales by BLAS, which
    # writes inf * 0 = 0; the product (and linear) must say NaN there, as np.matmul does
    x, y = np.array(x), np.array(y)
    with np.errstate(invalid="ignore"):
        want = np.matmul(x, y)
    assert np.isnan(want).any()
    out = rg.tensor(x) @ rg.tensor(y)
    np.testing.assert_array_equal(np.isnan(out.numpy()), np.isnan(want))
    lin = rg.nn.functional.linear(rg.tensor(x), rg.tensor(y.T))
    np.testing.assert_array_equal(np.isnan(lin.numpy()), np.isnan(want))
