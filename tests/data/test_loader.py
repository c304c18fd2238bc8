"""DataLoader, TensorDataset, Subset, random_split, train_test_split."""

from __future__ import annotations

import numpy as np
import pytest

import retrograd as rg
from retrograd.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    random_split,
    train_test_split,
)


def _data(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return X, y


def test_batches_cover_data_in_order_without_shuffle():
    X, y = _data(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert all(isinstance(t, rg.Tensor) for b in batches for t in b)
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in batches]), y)
    np.testing.assert_array_equal(np.concatenate([b[0].data for b in batches]), X)
    assert batches[0][1].dtype == np.int64 and batches[0][0].dtype == np.float32


def test_drop_last():
    X, y = _data(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [b[0].shape[0] for b in loader] == [4, 4]
    assert len(DataLoader(TensorDataset(X, y), batch_size=5, drop_last=True)) == 2


def test_shuffle_is_a_permutation_seeded_and_new_each_epoch():
    X, y = _data(50)
    a = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, seed=3)
    b = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, seed=3)
    e1 = np.concatenate([yb.data for _, yb in a])
    e2 = np.concatenate([yb.data for _, yb in a])
    assert sorted(e1.tolist()) == list(range(50))
    assert not np.array_equal(e1, np.arange(50))
    assert not np.array_equal(e1, e2)  # a new order every epoch
    np.testing.assert_array_equal(e1, np.concatenate([yb.data for _, yb in b]))
    # rows stay aligned across arrays
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, seed=1):
        np.testing.assert_array_equal(xb.data, X[yb.data])


def test_seed_none_follows_manual_seed():
    X, y = _data(30)
    rg.manual_seed(5)
    e1 = np.concatenate([yb.data for _, yb in DataLoader(TensorDataset(X, y), 7, shuffle=True)])
    rg.manual_seed(5)
    e2 = np.concatenate([yb.data for _, yb in DataLoader(TensorDataset(X, y), 7, shuffle=True)])
    np.testing.assert_array_equal(e1, e2)


def test_state_dict_resumes_the_order():
    X, y = _data(40)
    a = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=0)
    list(a)
    state = a.state_dict()
    nxt = [yb.data.copy() for _, yb in a]
    b = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=99)
    b.load_state_dict(state)
    assert b.epoch == 1
    for p, q in zip(nxt, [yb.data for _, yb in b]):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match="DataLoader.load_state_dict"):
        b.load_state_dict({"nope": 1})


def test_one_gather_per_array_per_batch():
    """In-memory data is never touched sample by sample."""
    X, y = _data(64)

    class Counting(TensorDataset):
        gathers = 0

        def __getitem__(self, index):
            raise AssertionError("per-sample access")

        def gather(self, indices):
            Counting.gathers += 1
            return super().gather(indices)

    loader = DataLoader(Counting(X, y), batch_size=16, shuffle=True, seed=0)
    assert len(list(loader)) == 4 and Counting.gathers == 4
    # without shuffling a batch is a view: no copy at all
    xb, _ = next(iter(DataLoader(TensorDataset(X, y), batch_size=16)))
    assert np.shares_memory(xb.data, X)


def test_generic_dataset_is_stacked():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(batches[1][0].data, [[2, 4], [3, 9]])
    np.testing.assert_array_equal(batches[2][1].data, [4])


def test_subset_and_random_split():
    X, y = _data(20)
    ds = TensorDataset(X, y)
    parts = random_split(ds, [15, 5], seed=0)
    assert [len(p) for p in parts] == [15, 5]
    seen = np.concatenate([np.concatenate([b[1].data for b in DataLoader(p, 4)])
                           for p in parts])
    assert sorted(seen.tolist()) == list(range(20))
    assert [len(p) for p in random_split(ds, [0.5, 0.5], seed=1)] == [10, 10]
    with pytest.raises(ValueError, match="do not add up"):
        random_split(ds, [3, 4])
    sub = Subset(ds, [4, 2])
    assert sub[1][1] == 2
    with pytest.raises(IndexError, match="Subset"):
        Subset(ds, [25])


def test_bad_arguments():
    X, y = _data(10)
    with pytest.raises(ValueError, match="same first dimension.*\\(10, 3\\).*\\(9,\\)"):
        TensorDataset(X, y[:9])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(X, y), batch_size=0)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(TensorDataset(X, y), batch_size=2, seed=-1)
    with pytest.raises(TypeError, match="DataLoader: dataset"):
        DataLoader(3, batch_size=2)
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(TensorDataset(X, y), batch_size=2, shuffle=True, sampler=range(10))


def test_sampler_decides_order_and_gets_epoch():
    X, y = _data(10)

    class Evens:
        def __init__(self):
            self.epochs = []

        def set_epoch(self, e):
            self.epochs.append(e)

        def __iter__(self):
            return iter(range(0, 10, 2))

        def __len__(self):
            return 5

    s = Evens()
    loader = DataLoader(TensorDataset(X, y), batch_size=2, sampler=s)
    assert len(loader) == 3
    for _ in range(2):
        got = np.concatenate([b[1].data for b in loader])
    np.testing.assert_array_equal(got, [0, 2, 4, 6, 8])
    assert s.epochs == [0, 1]


def test_train_test_split():
    X, y = _data(100)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0)
    assert X_tr.shape == (80, 3) and X_te.shape == (20, 3) and y_te.shape == (20,)
    np.testing.assert_array_equal(X_tr[:, 0] // 3, y_tr)  # rows stay aligned
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(100))
    again = train_test_split(X, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[3], y_te)
    assert train_test_split(X, y, test_size=7, seed=0)[1].shape == (7, 3)
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, y, test_size=1.5)
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, y, test_size=100)
    with pytest.raises(ValueError, match="same first dimension"):
        train_test_split(X, y[:5], test_size=0.5)
