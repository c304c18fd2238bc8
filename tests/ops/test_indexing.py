"""Indexing ``t[idx]`` and ``t[idx] = v``: every index kind of API.md, forward and gradient."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg

# (name, shape, index, torch supports it)
INDEX_CASES = [
    ("int", (4, 3), 2, True),
    ("negative_int", (4, 3), -1, True),
    ("int_pair", (4, 3), (1, -2), True),
    ("slice", (5, 3), slice(1, 4), True),
    ("slice_step", (6, 2), slice(0, 6, 2), True),
    ("negative_step", (5,), slice(None, None, -2), False),  # torch has no negative steps
    ("slice_and_int", (4, 5), (slice(None), 3), True),
    ("none", (3, 2), (None, slice(None), None), True),
    ("ellipsis", (2, 3, 4), (Ellipsis, 1), True),
    ("ellipsis_none", (2, 3, 4), (0, Ellipsis, None), True),
    ("int_array", (5, 2), np.array([0, 3, 4]), True),
    ("repeated_ints", (4,), np.array([1, 1, 3, 1]), True),
    ("repeated_ints_2d", (3, 4), (np.array([0, 2, 0]), np.array([1, 1, 1])), True),
    ("list_index", (4, 2), [3, 0, 3], True),
    ("int_array_2d", (5,), np.array([[0, 1], [1, 4]]), True),
    ("array_and_slice", (4, 3, 2), (slice(None), np.array([2, 0, 2])), True),
    ("bool_mask_full", (3, 4), "mask", True),
    ("bool_mask_rows", (4, 3), np.array([True, False, True, True]), True),
    ("empty_result", (3, 2), np.array([], dtype=np.int64), True),
]


def _index(idx, x):
    if isinstance(idx, str):  # "mask": the data-dependent boolean mask t > 0
        return x > 0
    return idx


@pytest.mark.parametrize("name,shape,idx,_", INDEX_CASES, ids=[c[0] for c in INDEX_CASES])
def test_getitem_forward_and_gradcheck(name, shape, idx, _):
    a = np.random.default_rng(1).standard_normal(shape)
    x = rg.tensor(a, dtype=rg.float64, requires_grad=True)
    out = x[_index(idx, x)]
    np.testing.assert_array_equal(out.numpy(), a[_index(idx, a)])
    assert rg.gradcheck(lambda t: t[_index(idx, a)], [x])


TORCH_CASES = [c for c in INDEX_CASES if c[3]]  # the rest: finite differences only


@pytest.mark.parametrize("name,shape,idx,_", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_getitem_matches_pytorch(torch, name, shape, idx, _):
    a = np.random.default_rng(2).standard_normal(shape)
    x = rg.tensor(a, dtype=rg.float64, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    i = _index(idx, a)
    ti = (tuple(torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in i)
          if isinstance(i, tuple) else (torch.from_numpy(i) if isinstance(i, np.ndarray) else i))
    out, tout = x[i], tx[ti]
    g = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=0)


def test_repeated_integer_indices_accumulate():
    x = rg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 0, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_index_with_an_integer_tensor():
    x = rg.arange(6, dtype=rg.float32).reshape(2, 3).requires_grad_()
    i = rg.tensor([2, 2, 1])
    out = x[:, i]
    np.testing.assert_array_equal(out.numpy(), [[2, 2, 1], [5, 5, 4]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 2], [0, 1, 2]])


def test_boolean_mask_of_the_tensor_itself():
    x = rg.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    y = x[x > 0]
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 4.0, 0.0, 8.0])


def test_bad_index_names_the_op_and_shape():
    x = rg.zeros(3, 2)
    with pytest.raises(IndexError, match=r"getitem.*\(3, 2\)"):
        x[5]
    with pytest.raises(IndexError, match="float"):
        x[1.5]


def test_setitem_outside_the_graph_is_in_place():
    x = rg.zeros(3)
    x[1] = 5.0
    np.testing.assert_array_equal(x.numpy(), [0.0, 5.0, 0.0])


def test_setitem_in_the_graph_is_recorded():
    # y = 2x; y[1] = v  ->  dL/dx = 2 except at 1, dL/dv = upstream at 1
    x = rg.tensor([1.0, 2.0, 3.0], dtype=rg.float64, requires_grad=True)
    v = rg.tensor(7.0, dtype=rg.float64, requires_grad=True)
    y = x * 2
    y[1] = v
    np.testing.assert_array_equal(y.numpy(), [2.0, 7.0, 6.0])
    (y * rg.tensor([1.0, 10.0, 100.0], dtype=rg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 200.0])
    assert v.grad.item() == 10.0


def test_setitem_on_a_leaf_that_requires_grad_raises():
    x = rg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0] = 1.0


def test_changing_an_index_array_after_forward_leaves_the_gradient_alone():
    # the VJP scatters through the index it keeps: a copy, not the caller's array
    x = rg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    rows, cols = np.array([0, 1]), rg.tensor([2, 0])
    y = x[rows, cols]
    rows[:] = 1
    cols.numpy()[:] = 1
    (y * rg.tensor([1.0, 10.0])).sum().backward()
    want = np.zeros((2, 3))
    want[0, 2], want[1, 0] = 1.0, 10.0
    np.testing.assert_array_equal(x.grad.numpy(), want)


@pytest.mark.parametrize("index", [
    np.array([3, 0, 5]),                # distinct rows: the VJP assigns
    np.array([3, -3, 1]),               # -3 is row 3 again (6 rows): accumulate
    np.array([[1, 2], [2, 4]]),         # a repeat inside a 2-D index array
    (np.array([4, 1]), slice(1, 3)),    # rows, then a slice
    (np.array([4, 4]), 2),              # the same element twice
    (slice(None), np.array([0, 0])),    # an array on the second axis: accumulate
    np.arange(6) % 2 == 0,              # a boolean mask picks each element once
    (np.array([[True, False, True, False]] * 6)),
])
def test_vjp_of_advanced_indexing_adds_every_pick(index):
    # whether the VJP assigns (no element picked twice) or accumulates, the gradient is
    # the one np.add.at makes
    rng = np.random.default_rng(0)
    x = rg.tensor(rng.normal(size=(6, 4)), requires_grad=True)
    out = x[index]
    g = rng.normal(size=out.shape)
    out.backward(rg.tensor(g))
    want = np.zeros((6, 4))
    np.add.at(want, index, g)
    np.testing.assert_array_equal(x.grad.numpy(), want)
