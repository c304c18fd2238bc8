"""Rank 1 raises while rank 0 waits in the gradient Allreduce; the job must end at once.

Usage: abort.py raise|mismatch
"""

import sys

import retrograd as rg
from retrograd import distributed as dist
from retrograd import nn

dist.init()
width = 3 if (sys.argv[1] == "mismatch" and dist.rank() == 1) else 2
model = dist.DistributedDataParallel(
    nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, width)))
if dist.rank() == 1:
    raise ValueError("rank one failed on purpose")
model(rg.randn(5, 4)).sum().backward()
model.sync_gradients()  # blocks forever unless the failing rank aborts the job
print("rank 0 should never get here")
