"""The fast short-axis reductions of ops/_reduce.py equal NumPy's own reductions."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from retrograd.ops._reduce import max_rows, sum_columns, sum_rows, sum_vector

shapes = st.tuples(st.integers(1, 1200), st.integers(1, 40))


@settings(max_examples=60, deadline=None)
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31))
def test_max_rows_equals_numpy_max_exactly(shape, dtype, seed):
    # every branch: one column, the per-column loop (two columns, or up to 16 over many
    # rows), the gather at argmax, and NumPy's max (a non-C-contiguous array)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(max_rows(a), a.max(axis=1, keepdims=True))
    f = np.asfortranarray(a)
    np.testing.assert_array_equal(max_rows(f), a.max(axis=1, keepdims=True))


def test_max_rows_propagates_nan_and_handles_infinities_like_numpy():
    for m, c in [(5, 3), (1000, 10), (50, 40)]:
        a = np.zeros((m, c), dtype=np.float32)
        a[1, c - 1] = np.nan
        a[2, 0] = np.inf
        a[3, :] = -np.inf
        a[4, 1] = np.nan
        a[4, 0] = np.inf
        want = a.max(axis=1, keepdims=True)
        got = max_rows(a)
        np.testing.assert_array_equal(got, want)
        assert np.isnan(got[1, 0]) and np.isnan(got[4, 0])


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**31))
def test_sums_along_one_axis_match_numpy(shape, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    np.testing.assert_allclose(sum_rows(a), a.sum(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sum_columns(a), a.sum(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sum_vector(a[:, 0]), a[:, 0].sum(), rtol=1e-12, atol=1e-12)
    assert sum_vector(np.arange(shape[0])) == np.arange(shape[0]).sum()  # integers: exact
