"""Every row of the op case table (op_cases.py) against NumPy, finite differences and PyTorch.

Shapes (broadcasting combinations included) and op parameters are drawn with hypothesis;
values come from the row's domain. The finite-difference checks never need torch.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from op_cases import CASES, NONDIFF_LAST, Case, make_inputs

import retrograd as rg

SETTINGS = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _draw(case: Case, data: st.DataObject) -> tuple[dict, list[np.ndarray]]:
    shapes = data.draw(case.shapes, label="shapes")
    params = data.draw(case.params(shapes), label="params")
    assume(case.valid(shapes, params))
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return params, make_inputs(case, np.random.default_rng(seed), shapes)


def _split(case: Case, arrays: list) -> tuple[list, list]:
    """Differentiable inputs, and constants passed through as they are."""
    k = len(arrays) - 1 if case.name in NONDIFF_LAST else len(arrays)
    return arrays[:k], arrays[k:]


def _run(case: Case, arrays: list, params: dict, dtype=rg.float64):
    diff, consts = _split(case, arrays)
    ts = [rg.tensor(a, dtype=dtype, requires_grad=True) for a in diff]
    return ts, case.fn(*ts, *consts, **params)


@pytest.mark.parametrize("case", CASES, ids=repr)
@SETTINGS
@given(data=st.data())
def test_forward_matches_numpy(case: Case, data: st.DataObject) -> None:
    params, arrays = _draw(case, data)
    want = np.asarray(case.ref(*arrays, **params))
    _, out = _run(case, arrays, params)
    assert out.shape == want.shape
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
    # float32 in, float32 out (and close to the float64 reference)
    _, out32 = _run(case, arrays, params, dtype=rg.float32)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.numpy(), want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("case", CASES, ids=repr)
@SETTINGS
@given(data=st.data())
def test_gradient_matches_finite_differences(case: Case, data: st.DataObject) -> None:
    params, arrays = _draw(case, data)
    diff, consts = _split(case, arrays)
    ts = [rg.tensor(a, dtype=rg.float64, requires_grad=True) for a in diff]
    assert rg.gradcheck(lambda *xs: case.fn(*xs, *consts, **params), ts)


@pytest.mark.parametrize("case", CASES, ids=repr)
@SETTINGS
@given(data=st.data())
def test_gradients_keep_float32(case: Case, data: st.DataObject) -> None:
    params, arrays = _draw(case, data)
    ts, out = _run(case, arrays, params, dtype=rg.float32)
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in ts:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_matches_pytorch(torch, case: Case, data: st.DataObject) -> None:
    params, arrays = _draw(case, data)
    ts, out = _run(case, arrays, params)
    diff, consts = _split(case, arrays)
    tts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in diff]
    tout = case.torch(torch, *tts, *consts, **params)
    assert tuple(tout.shape) == out.shape
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    seed = np.random.default_rng(len(arrays)).standard_normal(out.shape)
    out.backward(seed)
    tout.backward(torch.from_numpy(np.array(seed, dtype=np.float64)))
    for t, tt in zip(ts, tts):
        want = tt.grad.numpy() if tt.grad is not None else np.zeros(t.shape)
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-10, atol=1e-12)


# Every differentiable op that API.md lists under "Tensors and autodiff" has a row.
API_OPS = {
    "add", "sub", "mul", "div", "pow", "matmul", "neg", "abs", "sum", "mean", "max", "min",
    "var", "logsumexp", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "gelu",
    "gelu_tanh", "softmax", "log_softmax", "clip", "maximum", "minimum", "where", "reshape",
    "flatten", "transpose", "T", "permute", "squeeze", "unsqueeze", "concatenate", "stack",
    "pad",
}


def test_case_table_covers_the_api() -> None:
    names = {c.name for c in CASES}
    assert API_OPS <= names, f"ops without a case-table row: {sorted(API_OPS - names)}"
    assert len(names) == len(CASES), "duplicate row names"
