"""DistributedSampler: disjoint shards covering the epoch, new order each epoch."""

from __future__ import annotations

import numpy as np
import pytest

from retrograd.distributed import DistributedSampler


def shards(n: int, world: int, epoch: int, **kw) -> list[np.ndarray]:
    out = []
    for r in range(world):
        s = DistributedSampler(n, num_replicas=world, rank=r, seed=3, **kw)
        s.set_epoch(epoch)
        out.append(np.array(list(s)))
    return out


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_are_disjoint_and_cover_the_epoch(world):
    n = 96  # divisible by every world size here: no padding
    parts = shards(n, world, epoch=0)
    assert all(len(p) == n // world for p in parts)
    joined = np.concatenate(parts)
    assert len(set(joined.tolist())) == n  # disjoint
    assert sorted(joined.tolist()) == list(range(n))  # and covering


def test_order_changes_between_epochs_and_is_the_same_on_every_rank():
    a0, a1 = shards(100, 2, epoch=0), shards(100, 2, epoch=1)
    assert not np.array_equal(a0[0], a1[0])
    assert sorted(np.concatenate(a1).tolist()) == list(range(100))
    # a rank's sampler built again (another process) gives the same shard for that epoch
    assert np.array_equal(shards(100, 2, epoch=1)[1], a1[1])
    assert not np.array_equal(shards(100, 2, epoch=0)[0], np.arange(0, 100, 2))  # shuffled


def test_global_batches_match_a_single_process_with_a_larger_batch():
    n, world, b = 64, 2, 8
    single = shards(n, 1, epoch=5)[0]
    parts = shards(n, world, epoch=5)
    for i in range(n // (world * b)):
        together = np.concatenate([p[i * b:(i + 1) * b] for p in parts])
        assert sorted(together.tolist()) == sorted(single[i * world * b:(i + 1) * world * b])


@pytest.mark.parametrize("n,world", [(10, 3), (10, 4), (3, 5), (7, 2)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_remainder_padded_or_dropped_like_pytorch(torch, n, world, drop_last):
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    if drop_last and n < world:
        with pytest.raises(ValueError, match="cannot be shared"):
            DistributedSampler(n, num_replicas=world, rank=0, drop_last=True)
        return
    for r in range(world):
        ours = DistributedSampler(n, num_replicas=world, rank=r, shuffle=False,
                                  drop_last=drop_last)
        theirs = TorchSampler(list(range(n)), num_replicas=world, rank=r, shuffle=False,
                              drop_last=drop_last)
        assert list(ours) == list(theirs), (n, world, r)
        assert len(ours) == len(theirs)
    if not drop_last:  # shuffled and padded: every sample at least once
        got = np.concatenate(shards(n, world, epoch=2))
        assert set(got.tolist()) == set(range(n))
        assert len(got) == -(-n // world) * world


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="rank 2 is outside"):
        DistributedSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="empty"):
        DistributedSampler([], num_replicas=1, rank=0)
    with pytest.raises(ValueError, match="seed"):
        DistributedSampler(10, num_replicas=1, rank=0, seed=-1)


def test_defaults_come_from_the_world_and_a_dataset_length():
    s = DistributedSampler(list(range(5)))
    assert (s.num_replicas, s.rank, len(s)) == (1, 0, 5)
