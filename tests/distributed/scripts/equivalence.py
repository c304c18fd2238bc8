"""Train on every rank with DDP and a DistributedSampler; save this rank's parameters.

Usage: equivalence.py OUT_PREFIX OPTIMIZER(sgd|adam|manual_sgd) STEPS PER_RANK_BATCH ZEROING
ZEROING: "none" (zero_grad() sets gradients to None) or "inplace" (zero_grad(False)).
BN (optional): "sync" puts a SyncBatchNorm layer into the model.
"""

import sys

import numpy as np

import retrograd as rg
from retrograd import distributed as dist

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from dist_common import make_data, make_model, make_optimizer, step_batches  # noqa: E402

out, opt_name, steps, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
to_none = sys.argv[5] == "none"
bn = sys.argv[6] if len(sys.argv) > 6 else ""
dist.init()
# replicas start different (rank 0 from the reference seed): DDP must broadcast rank 0's
rg.manual_seed(0 if dist.rank() == 0 else 1000 + dist.rank())
net = make_model(bn)
net.register_buffer("counter", np.array([10 + dist.rank()], dtype=np.int64))  # 2nd dtype
model = dist.DistributedDataParallel(net)
assert int(net.counter.data[0]) == 10, "buffers are broadcast from rank 0 too"
X, Y = make_data()
opt = make_optimizer(opt_name, list(model.parameters()))
sampler = dist.DistributedSampler(len(X), seed=7)
for b in step_batches(sampler, batch, steps):
    loss = ((model(rg.tensor(X[b])) - rg.tensor(Y[b])) ** 2).mean()
    opt.zero_grad(set_to_none=to_none)
    loss.backward()
    model.sync_gradients()
    flat = model._buckets[0].flat
    # after a sync every gradient lives in the one flat buffer (zeroed in place, the next
    # backward accumulates straight into it)
    assert all(np.shares_memory(p.grad.data, flat) for p in model.parameters())
    opt.step()
assert model.allreduce_calls == steps, (model.allreduce_calls, steps)  # one per step
np.savez(f"{out}{dist.rank()}.npz", calls=model.allreduce_calls,
         **{k: v.data for k, v in model.state_dict().items()})
print(f"rank {dist.rank()} done: {steps} steps, {model.allreduce_calls} Allreduce calls")
