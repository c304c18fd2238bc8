"""Graph semantics of the engine: accumulation, diamonds, grad mode, detach, retain_graph,
deep chains, hooks, protection of saved arrays, anomaly detection, graph misuse errors."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg


def f64(data, requires_grad=True):
    return rg.tensor(data, dtype=rg.float64, requires_grad=requires_grad)


# ------------------------------------------------------------------ accumulation and graphs
def test_gradients_accumulate_over_two_backward_calls():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2 + 3, 4 + 3])


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = f64(3.0)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 12.0


def test_backward_through_a_freed_graph_says_what_to_do():
    x = f64(3.0)
    y = x.exp() * 2
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_diamond_sums_both_paths():
    x = f64(2.0)
    a = x * 3          # da/dx = 3
    b = x.exp()        # db/dx = e^x
    c = a * b + a      # dc/dx = (3 e^x + 3x e^x) + 3
    c.backward()
    assert x.grad.item() == pytest.approx(3 * np.exp(2) + 6 * np.exp(2) + 3, rel=1e-14)


def test_value_used_many_times_in_one_op():
    x = f64([1.0, -2.0])
    (x * x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])


def test_leaf_backward_seeds_its_own_grad():
    x = f64([1.0, 2.0])
    x.backward(np.array([5.0, 6.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 6.0])


def test_a_chain_of_100000_ops_does_not_recurse():
    x = f64(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1e-5
    y.backward()
    assert x.grad.item() == 1.0
    assert y.item() == pytest.approx(2.0)


def test_dropping_a_100000_op_graph_without_backward():
    x = f64([1.0, 2.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    del y  # freeing the chain must not recurse either; and x is writeable again
    x.data[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_gradients_of_inputs_not_requiring_grad_stay_none():
    x = f64([1.0, 2.0])
    c = f64([3.0, 4.0], requires_grad=False)
    (x * c).sum().backward()
    assert c.grad is None and x.grad is not None


def test_grad_of_a_leaf_owns_its_memory():
    # an optimiser updates .grad in place: it must not alias the graph's arrays or the seed
    x = f64([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    (x + 0).backward(seed)
    x.grad.numpy()[0] = 100.0
    assert seed[0] == 1.0
    assert x.grad.numpy().flags.writeable and x.grad.numpy().base is None


# ------------------------------------------------------------------ grad mode and detach
def test_no_grad_context_and_decorator():
    x = f64([1.0])
    with rg.no_grad():
        y = x * 2
        assert not rg.is_grad_enabled()
        with rg.enable_grad():
            z = x * 2
    assert rg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @rg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and rg.is_grad_enabled()
    with rg.set_grad_enabled(False):
        assert not (x * 2).requires_grad


def test_detach_shares_data_and_cuts_the_graph():
    x = f64([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.numpy(), y.numpy())
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # d is a constant


def test_requires_grad_flags():
    x = rg.tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.requires_grad
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)
    x.requires_grad = False
    assert not (x * 2).requires_grad


def test_repr_names_the_grad_function():
    y = f64([1.0, 2.0]) * 2
    assert "grad_fn=<Mul>" in repr(y) and "float64" in repr(y)
    assert "requires_grad=True" in repr(f64([1.0]))


# ------------------------------------------------------------------ graph misuse
def test_backward_on_a_non_scalar_needs_a_gradient():
    y = f64([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"\.sum\(\)\.backward\(\) or pass gradient="):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\).*\(2,\)"):
        y.backward(np.ones(3))


def test_backward_on_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        (rg.tensor([1.0]) * 2).sum().backward()


def test_in_place_update_of_a_leaf_in_the_graph_is_refused():
    x = f64([1.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        x += 1
    with pytest.raises(RuntimeError, match="no_grad"):
        x.fill_(0.0)


# ------------------------------------------------------------------ saved-array protection
def test_modifying_a_saved_leaf_before_backward_raises_naming_the_op():
    x = f64([1.0, 2.0])
    w = f64([3.0, 4.0], requires_grad=False)
    y = (x * w).sum()
    with pytest.raises(RuntimeError, match="Mul"):
        w += 1                    # Tensor in-place: names the op
    with pytest.raises(RuntimeError, match="Mul"):
        w[0] = 10.0
    with pytest.raises(ValueError, match="read-only"):
        w.numpy()[0] = 10.0      # raw NumPy write: the array is read-only
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])  # the right gradient
    w += 1                        # after backward the array is writeable again
    np.testing.assert_array_equal(w.numpy(), [4.0, 5.0])


def test_modifying_a_saved_intermediate_before_backward_raises():
    x = f64([1.0, 2.0])
    y = x + 1
    z = (y * y).sum()
    with rg.no_grad():
        with pytest.raises(RuntimeError, match=r"output of Add\) may be needed"):
            y += 1
        with pytest.raises(RuntimeError, match="output of Add"):
            y[0] = 0.0
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.array([1.0, 2.0]) + 1))


def test_dropping_a_graph_without_backward_releases_protection():
    w = f64([1.0, 2.0], requires_grad=False)
    x = f64([1.0, 2.0])
    y = x * w
    del y
    w += 1
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0])


def test_only_arrays_a_backward_reads_are_protected():
    # Linear reads x and W (saves = (0, 1)), not its bias or its output
    x = rg.tensor(np.ones((3, 2)))
    w = f64(np.full((4, 2), 0.5))
    b = f64(np.zeros(4))
    h = rg.nn.functional.linear(x, w, b)
    assert not x.numpy().flags.writeable and not w.numpy().flags.writeable
    assert b.numpy().flags.writeable and h.numpy().flags.writeable
    with rg.no_grad():
        h += 1  # nothing saved h: allowed, as in PyTorch
    s = h.sigmoid()  # Sigmoid reads its output only (saves = ("out",))
    assert h.numpy().flags.writeable and not s.numpy().flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        s.numpy()[0, 0] = 0.0
    s.sum().backward()
    a = 1 / (1 + np.exp(-(np.full((3, 4), 1.0) + 1)))  # h = x W^T + b + 1 = 2
    np.testing.assert_allclose(b.grad.numpy(), (a * (1 - a)).sum(0))
    assert x.numpy().flags.writeable and w.numpy().flags.writeable  # given back
    assert s.numpy().flags.writeable


def test_a_consumer_that_saves_an_unsaved_output_protects_it_naming_the_producer():
    x = f64([1.0, 2.0])
    h = x + 1                     # Add saves nothing ...
    assert h.numpy().flags.writeable
    z = (h * h).sum()             # ... but Mul reads h: now it is protected
    with rg.no_grad():
        with pytest.raises(RuntimeError, match=r"output of Add\) may be needed"):
            h += 1
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([2.0, 3.0]))
    assert h.numpy().flags.writeable


@pytest.mark.parametrize("labels_dtype", [np.int64, np.uint8])
def test_changing_cross_entropy_labels_after_forward_leaves_the_gradient_alone(labels_dtype):
    rng = np.random.default_rng(0)
    logits = f64(rng.normal(size=(5, 3)))
    labels = np.array([0, 2, 1, 1, 0], dtype=labels_dtype)
    y = rg.tensor(labels.copy())
    loss = rg.nn.functional.cross_entropy(logits, y)
    assert y.numpy().flags.writeable  # not protected: the op keeps what it needs
    y.numpy()[:] = 2
    loss.backward()
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    p[np.arange(5), labels] -= 1
    np.testing.assert_allclose(logits.grad.numpy(), p / 5, rtol=1e-12)


def test_changing_soft_cross_entropy_targets_after_forward_leaves_the_gradient_alone():
    rng = np.random.default_rng(1)
    logits = f64(rng.normal(size=(4, 3)))
    t = rng.dirichlet(np.ones(3), size=4)
    target = t.copy()
    loss = rg.nn.functional.cross_entropy(logits, target)
    target[:] = 0.0
    loss.backward()
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    np.testing.assert_allclose(logits.grad.numpy(), (p - t) / 4, rtol=1e-12)


@pytest.mark.parametrize("make", [
    # (graph from x and a NumPy constant c, gradient of x by hand from the original c)
    ("mul", lambda x, c: (x * c).sum(), lambda x, c: c),
    ("rmul", lambda x, c: (c * x).sum(), lambda x, c: c),
    ("div", lambda x, c: (c / x).sum(), lambda x, c: -c / x**2),
    ("matmul", lambda x, c: (x @ c).sum(), lambda x, c: np.broadcast_to(c.sum(1), x.shape)),
    ("linear", lambda x, c: rg.nn.functional.linear(x, c.T, c[0]).sum(),
     lambda x, c: np.broadcast_to(c.sum(1), x.shape)),
    ("bce", lambda x, c: rg.nn.functional.binary_cross_entropy(x.sigmoid(), c / 2),
     lambda x, c: (1 / (1 + np.exp(-x)) - c / 2) / x.size),
], ids=lambda m: m[0] if isinstance(m, tuple) else "")
def test_changing_a_numpy_constant_after_forward_leaves_the_gradient_alone(make):
    # A NumPy array is a constant the user still owns: the node keeps its own copy of what
    # the backward reads, so changing the array before backward() changes nothing.
    _, graph, by_hand = make
    rng = np.random.default_rng(3)
    xv = rng.uniform(0.5, 1.5, (3, 3))
    c = rng.uniform(0.2, 1.8, (3, 3))
    original = c.copy()
    x = f64(xv)
    out = graph(x, c)
    c[...] = 7.0  # in place, before backward
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), by_hand(xv, original), rtol=1e-12)
    assert c.flags.writeable and (c == 7.0).all()  # the caller's array is left as it is


def test_saves_declaration_is_checked():
    with pytest.raises(TypeError, match="saves"):
        class Bad(rg.autograd.function.Function):  # noqa: F841 - defining it is the test
            saves = ("output",)


# ------------------------------------------------------------------ anomaly detection
def test_detect_anomaly_forward_names_op_shapes_and_creation_site():
    x = f64([-1.0, 4.0])
    with rg.detect_anomaly():
        with pytest.raises(rg.AnomalyError) as info:
            x.log()
    msg = str(info.value)
    assert "Log" in msg and "(2,)" in msg and "test_engine.py" in msg


def test_detect_anomaly_backward_names_op_shapes_and_creation_site():
    x = f64([0.0, 4.0])
    with rg.detect_anomaly():
        y = x.sqrt()            # forward fine; d sqrt / dx at 0 is inf
        with pytest.raises(rg.AnomalyError) as info:
            y.sum().backward()
    msg = str(info.value)
    assert "Sqrt" in msg and "(2,)" in msg and "test_engine.py" in msg


def test_anomaly_detection_is_off_by_default():
    assert not rg.autograd.is_anomaly_enabled()
    x = f64([-1.0])
    assert np.isnan(x.log().numpy()[0])  # NaN, no error


# ------------------------------------------------------------------ hooks
def test_hooks_see_and_replace_gradients_and_can_be_removed():
    x = f64([1.0, 2.0])
    seen = []
    h = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = x * 3
    hy = y.register_hook(lambda g: g * 10)  # replaces dC/dy
    y.sum().backward()
    np.testing.assert_array_equal(seen[0], [30.0, 30.0])
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])
    h.remove()
    hy.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [4.0, 8.0])


def test_hook_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        rg.tensor([1.0]).register_hook(print)


class _ForgetsSumTo(rg.Function):
    """A broken op: its VJP does not undo broadcasting."""

    def forward(self, x, y):
        return x + y

    def backward(self, grad):
        return grad, grad


def test_engine_names_an_op_whose_gradient_has_the_wrong_shape():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    b = f64([1.0, 2.0])
    y = _ForgetsSumTo.apply(x, b)
    with pytest.raises(RuntimeError, match=r"_ForgetsSumTo.backward .*\(2, 2\) for input 1.*"
                                           r"\(2,\).*sum_to"):
        y.sum().backward()


def test_gradient_dtype_is_converted_back_to_the_input_dtype():
    class Upcast(rg.Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return grad.astype(np.float64) * 2

    x = rg.tensor([1.0, 2.0], requires_grad=True)
    Upcast.apply(x).sum().backward()
    assert x.grad.dtype == rg.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_shared_subgraph_freed_by_first_backward():
    x = f64(2.0)
    shared = x.exp()
    a = shared * 2
    b = shared * 3
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        b.backward()  # b's path reaches the freed Exp node


def test_sole_view_detection_used_to_skip_gradient_copies():
    from retrograd.autograd.engine import _sole_view

    a = np.empty((3, 4))
    assert not _sole_view(a[:])          # `a` still references the base
    assert _sole_view(np.empty((3, 4)).T.T[:])  # only the view references its base
    assert not _sole_view(np.empty((3, 4)).T)   # not C-ordered
    assert not _sole_view(np.empty(6)[:3])      # covers part of its base
    kept = np.empty(5)
    views = [kept[:], kept[:]]
    assert not any(_sole_view(v) for v in views)
