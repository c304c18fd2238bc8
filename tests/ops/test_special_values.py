"""Every row of the op case table against PyTorch with NaN, +-inf and signed zeros among
its inputs: the same values out (NaN where PyTorch gives NaN) and the same gradients.

A non-finite value must never turn finite on the way through an op or its VJP unless
PyTorch's own rule says so (e.g. ``relu`` passes the gradient at a NaN, ``abs`` sends 0
there, a power with exponent 0 has derivative 0). Found this way: max pooling dropped
NaN, ``maximum``/``minimum`` routed a NaN's gradient to one side, ``x / y`` zeroed the
gradient of ``y`` at ``y = inf`` even for a NaN ``x``, and BLAS wrote ``inf * 0 = 0`` for a
product with an inner dimension of 1; ``x ** 0.5``'s VJP took ``x ** -0.5`` as IEEE ``pow``
(0 at -inf) where PyTorch's is ``rsqrt`` (NaN).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import CASES
from test_op_table import _draw, _run, _split

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])


def _with_specials(arrays: list, rng: np.random.Generator) -> list:
    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        if a.dtype.kind == "f" and a.size:
            flat = a.reshape(-1)
            k = max(1, flat.size // 3)
            flat[rng.choice(flat.size, size=k, replace=False)] = rng.choice(SPECIALS, size=k)
        out.append(a)
    return out


CHECKED = [c for c in CASES if c.torch is not None]


@pytest.mark.parametrize("case", CHECKED, ids=repr)
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_matches_pytorch_at_nan_inf_and_signed_zero(torch, case, data):
    params, arrays = _draw(case, data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="where"))
    diff, consts = _split(case, arrays)
    arrays = _with_specials(diff, rng) + consts
    with np.errstate(all="ignore"):
        ts, out = _run(case, arrays, params)
    diff, consts = _split(case, arrays)
    tts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in diff]
    tout = case.torch(torch, *tts, *consts, **params)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg="forward")
    up = rng.standard_normal(out.shape)  # nowhere 0: no branch is masked by `where`
    out.backward(up)
    tout.backward(torch.from_numpy(np.array(up, dtype=np.float64)))
    for i, (t, tt) in enumerate(zip(ts, tts)):
        want = tt.grad.numpy() if tt.grad is not None else np.zeros(t.shape)
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"gradient of input {i}")

