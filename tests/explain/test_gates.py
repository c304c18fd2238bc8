"""The gate view: seed 003's (x + y) * z and fan-out summing."""

import numpy as np
import pytest

import retrograd as rg


def test_seed_003_gates_give_minus4_minus4_3():
    x = rg.tensor(-2.0, requires_grad=True)
    y = rg.tensor(5.0, requires_grad=True)
    z = rg.tensor(-4.0, requires_grad=True)
    q = x + y
    f = q * z
    tr = rg.explain.trace(f)
    g = tr.grads()
    assert [float(g["x"]), float(g["y"]), float(g["z"])] == [-4.0, -4.0, 3.0]
    assert [float(x.grad.item()), float(y.grad.item()), float(z.grad.item())] == [-4, -4, 3]
    # the engine's order: f's Mul first, then q's Add
    steps = [n.label for n in tr.run_order()]
    assert steps == ["f = Mul", "q = Add"]
    mul, add = tr.node("f"), tr.node("q")
    assert float(mul.value) == -12 and float(add.value) == 3
    # multiply swaps: local gradients are the other input's values
    assert [float(v) for v in mul.local] == [-4.0, 3.0]
    assert [float(v) for v in mul.downstream] == [-4.0, 3.0]
    # add distributes: local 1, both inputs get the upstream -4
    assert float(add.upstream) == -4
    assert [float(v) for v in add.local] == [1.0, 1.0]
    assert [float(v) for v in add.downstream] == [-4.0, -4.0]
    text = str(tr)
    assert "multiply swaps" in text and "add distributes" in text
    assert "after backward (1 traced call)" in text


def test_max_routes():
    a = rg.tensor(3.0, requires_grad=True)
    b = rg.tensor(-1.0, requires_grad=True)
    m = rg.maximum(a, b) * 2.0
    tr = rg.explain.trace(m)
    g = tr.grads()
    assert float(g["a"]) == 2.0 and float(g["b"]) == 0.0
    assert "max routes" in str(tr)


def test_reused_nodes_sum_their_paths():
    a = rg.tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    tr = rg.explain.trace(c)
    assert float(a.grad.item()) == 4.0
    bn = tr.node("b")
    assert [float(g) for _, g in bn.pieces] == [1.0, 1.0]  # two paths from c
    assert float(bn.upstream) == 2.0
    assert [float(g) for _, g in tr.leaf("a").pieces] == [2.0, 2.0]
    text = str(tr)
    assert "sum their paths" in text
    assert "b = Add: 1 (from c = Add (input 0)) + 1 (from c = Add (input 1)) = 2" in text


def test_forward_only_then_accumulating_backward_calls():
    w = rg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    tr = rg.explain.trace(loss, backward=False)
    assert "forward only (no gradients yet)" in str(tr)
    assert w.grad is None
    tr.backward(retain_graph=True)
    tr.backward()
    assert tr.backward_calls == 2 and tr.leaf("w").passes == 2
    assert np.array_equal(w.grad.numpy(), [4.0, 8.0])  # 2 * 2w: accumulated
    assert "after backward (2 traced calls)" in str(tr)


def test_trace_after_freed_graph_says_what_to_do():
    w = rg.tensor([1.0], requires_grad=True)
    loss = (w * 3.0).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="INSTEAD of loss.backward"):
        rg.explain.trace(loss)


def test_observer_is_removed_after_trace():
    from retrograd.autograd import engine

    a = rg.tensor(1.0, requires_grad=True)
    rg.explain.trace(a * 2.0)
    assert engine.OBSERVERS == []


def test_large_graph_collapses_to_modules_and_expands():
    from retrograd import nn

    model = nn.Sequential(*[m for _ in range(24) for m in (nn.Linear(4, 4), nn.Tanh())])
    x = rg.randn(3, 4)
    with rg.explain.watch(model) as w:
        loss = (model(x) ** 2).mean()
    tr = rg.explain.trace(loss, model=model, watched=w)
    assert len(tr.nodes) > tr.max_nodes and tr.collapsed
    text = str(tr)
    assert "collapsed to module level" in text
    assert "[+] module 0: 1 nodes" in text and "[+] module 47: 1 nodes" in text
    assert max(len(line) for line in text.split("\n")) <= 100
    tr.expand.add("5")
    assert "[-] module 5: 1 nodes" in str(tr)


def test_collapse_by_parameter_owner_without_watch_and_html_groups():
    from retrograd import nn

    # (LeakyReLU: Sequential does not fuse it with the Linear before it, so every layer has
    # a node without parameters that must inherit its module)
    model = nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(3, 3), nn.LeakyReLU())])
    loss = (model(rg.randn(2, 3)) ** 2).sum()
    tr = rg.explain.trace(loss, model=model)
    assert tr.collapsed
    # a node using a parameter belongs to its module; the LeakyReLU after it inherits that
    # module
    mods = {n.module for n in tr.nodes if n.op in ("Linear", "LeakyReLU")}
    assert {n.op for n in tr.nodes} >= {"Linear", "LeakyReLU"}
    assert mods == {str(2 * i) for i in range(20)}
    page = tr.to_html()
    assert page.count("<details>") == 20  # one per layer (the loss ops join the last), closed
    assert "<details open>" not in page
    tr.expand.add("0")
    assert tr.to_html().count("<details open>") == 1


def test_names_can_be_given_and_constants_are_shown():
    a = rg.tensor([1.0, 2.0], requires_grad=True)
    tr = rg.explain.trace((a * 3.0).sum(), names={"weights": a})
    assert tr.leaves[0].name == "weights"
    assert "const 3" in str(tr)
    assert float(tr.node("Mul#1").local[0][0]) == 3.0


def test_trace_rejects_leaves_and_non_tensors():
    with pytest.raises(ValueError, match="no graph"):
        rg.explain.trace(rg.tensor(1.0, requires_grad=True))
    with pytest.raises(TypeError, match="Tensor"):
        rg.explain.trace(3.0)


def test_tracing_does_not_change_the_gradients_of_a_conv_net():
    from retrograd import models, nn

    net = models.build("lenet", in_shape=(1, 28, 28), num_classes=10)
    x = rg.randn(2, 1, 28, 28)
    y = rg.tensor(np.array([3, 7]))
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(net(x), y).backward()
    plain = {n: p.grad.numpy().copy() for n, p in net.named_parameters()}
    net.zero_grad()
    with rg.explain.watch(net) as w:
        loss = loss_fn(net(x), y)
    tr = rg.explain.trace(loss, model=net, watched=w)
    for n, p in net.named_parameters():
        assert np.array_equal(p.grad.numpy(), plain[n]), n
    assert len(tr.order) == len(tr.nodes)
    text = str(tr)
    assert max(len(line) for line in text.split("\n")) <= 100


def test_long_fan_out_sums_wrap_one_path_a_line_and_ties_are_explained():
    x = rg.tensor([1.0, -2.0, 3.0, 3.0], requires_grad=True)
    w = rg.tensor([0.5, 0.5, 4.0, -1.0], requires_grad=True)
    h = (x * w).relu()
    m = rg.maximum(h, x)
    loss = m.max() + h.sum() + x.max()  # x's maximum is tied: 3 and 3 share the gradient
    tr = rg.explain.trace(loss)
    text = str(tr)
    assert max(len(line) for line in text.split("\n")) <= 100
    lines = text.split("\n")
    i = next(k for k, s in enumerate(lines) if s.startswith("x: "))
    # the pieces of x's gradient, one a line, aligned under each other, then their sum
    assert lines[i + 1].startswith(" + ") and lines[i + 2].startswith(" + ")
    assert lines[i + 3] == " = [0.5, 0, 8.5, 0.5]"
    assert x.grad.data.tolist() == [0.5, 0.0, 8.5, 0.5]  # 0.5 w + 1/2 at each tied maximum
    assert "tied maxima share it" in text and "a tie: half each" in text
