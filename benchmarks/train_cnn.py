"""Training-step time and peak memory of retrograd's CNNs against PyTorch eager (2 threads).

    PYTHONPATH=src python benchmarks/train_cnn.py [--steps 60] [--repeats 3]

Two workloads (issue #4), the same model, loss and update on both sides:

* ``lenet``: LeNet-5 on 1x28x28, batch 64, SGD with momentum 0.9;
* ``resnet``: conv3x3 1->16 + BN + ReLU, two basic blocks of 16 channels, global average
  pooling, fc 10, on 1x8x8, batch 128, SGD with momentum 0.9.

With one thread, step times are measured in one process that alternates a retrograd step and
a PyTorch step, so both see the same machine load (the median per-step time of each, over
``--steps`` pairs after a warm-up, then the median of ``--repeats`` such processes). With more
threads the two run in separate processes, one after the other, ``--repeats`` times: in one
process PyTorch's OpenMP workers and OpenBLAS's spin-wait against each other. (On a machine
shared with other jobs, multi-threaded BLAS/OpenMP runs degrade badly for both frameworks;
compare at ``--threads 1`` there.) Peak memory is measured
separately: each framework trains ``--steps`` steps in its own subprocess, which reports its
``ru_maxrss`` (so PyTorch's import is not charged to retrograd). Prints one line per workload
with the ratio retrograd / PyTorch (target <= 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")

WORKLOADS = {"lenet": ((1, 28, 28), 64), "resnet": ((1, 8, 8), 128)}
LR, MOMENTUM = 0.01, 0.9


def _data(shape: tuple, batch: int, nbatches: int = 8):
    rng = np.random.default_rng(0)
    xs = rng.random((nbatches, batch, *shape), dtype=np.float32)
    ys = rng.integers(0, 10, (nbatches, batch))
    return xs, ys


def run_retrograd(workload: str):
    sys.path.insert(0, SRC)
    import retrograd as rg
    from retrograd import models
    from retrograd.nn import functional as F

    shape, batch = WORKLOADS[workload]
    rg.manual_seed(0)
    model = models.build("lenet" if workload == "lenet" else "resnet-small", shape, 10)
    params = list(model.parameters())
    xs, ys = _data(shape, batch)
    cross_entropy = getattr(F, "cross_entropy", None)
    try:
        from retrograd.optim import SGD

        opt = SGD(params, lr=LR, momentum=MOMENTUM)
    except ImportError:
        opt = None
    bufs = [np.zeros_like(p.data) for p in params]

    def step(i: int) -> None:
        x = rg.tensor(xs[i % len(xs)])
        y = ys[i % len(ys)]
        logits = model(x)
        if cross_entropy is not None:
            loss = cross_entropy(logits, rg.tensor(y))
        else:
            loss = -logits.log_softmax(axis=1)[np.arange(len(y)), y].mean()
        if opt is not None:
            opt.zero_grad()
            loss.backward()
            opt.step()
            return
        for p in params:
            p.grad = None
        loss.backward()
        for p, b in zip(params, bufs):  # SGD momentum, PyTorch's form (dampening 0)
            b *= MOMENTUM
            b += p.grad.data
            p.data -= LR * b

    return step


def run_torch(workload: str):
    import torch
    from torch import nn

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.manual_seed(0)
    shape, batch = WORKLOADS[workload]
    if workload == "lenet":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    else:
        class Block(nn.Module):
            def __init__(self, c: int) -> None:
                super().__init__()
                self.f = nn.Sequential(
                    nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                    nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

            def forward(self, x):
                return torch.relu(x + self.f(x))

        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            Block(16), Block(16), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xs, ys = _data(shape, batch)
    xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)

    def step(i: int) -> None:
        loss = nn.functional.cross_entropy(model(xs[i % len(xs)]), ys[i % len(ys)])
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def child_time(workload: str, steps: int) -> None:
    """Alternate the two frameworks' steps; print the median step time of each."""
    ours, theirs = run_retrograd(workload), run_torch(workload)
    for i in range(10):
        ours(i)
        theirs(i)
    t_ours, t_theirs = [], []
    for i in range(steps):
        t0 = time.perf_counter()
        ours(i)
        t1 = time.perf_counter()
        theirs(i)
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_theirs.append(t2 - t1)
    print(json.dumps({"retrograd": statistics.median(t_ours) * 1e3,
                      "torch": statistics.median(t_theirs) * 1e3}))


def child_rss(framework: str, workload: str, steps: int) -> None:
    """Train one framework alone; print its median step time and peak RSS."""
    step = (run_retrograd if framework == "retrograd" else run_torch)(workload)
    for i in range(10):
        step(i)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(json.dumps({"rss_mb": rss, "ms": statistics.median(times) * 1e3}))


def _run(args: list, threads: int) -> dict:
    t = str(threads)
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t,
               BENCH_THREADS=t)
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads for both sides (PyTorch intra-op, OpenBLAS); default 2")
    ap.add_argument("--child-time", metavar="WORKLOAD", help=argparse.SUPPRESS)
    ap.add_argument("--child-rss", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_time:
        child_time(args.child_time, args.steps)
        return
    if args.child_rss:
        child_rss(args.child_rss[0], args.child_rss[1], args.steps)
        return
    for wl in args.workload or sorted(WORKLOADS):
        fws = ("retrograd", "torch")
        alone = [{fw: _run(["--child-rss", fw, wl, "--steps", str(args.steps)], args.threads)
                  for fw in fws} for _ in range(args.repeats if args.threads > 1 else 1)]
        rss = {fw: statistics.median(r[fw]["rss_mb"] for r in alone) for fw in fws}
        if args.threads > 1:
            ms = {fw: statistics.median(r[fw]["ms"] for r in alone) for fw in fws}
        else:
            runs = [_run(["--child-time", wl, "--steps", str(args.steps)], args.threads)
                    for _ in range(args.repeats)]
            ms = {fw: statistics.median(r[fw] for r in runs) for fw in fws}
        print(f"{wl:7s} [{args.threads} thr] step: retrograd {ms['retrograd']:6.2f} ms, "
              f"torch {ms['torch']:6.2f} ms, ratio {ms['retrograd'] / ms['torch']:.2f}x "
              f"(target <= 1.5) | peak RSS: "
              f"retrograd {rss['retrograd']:.0f} MB, torch {rss['torch']:.0f} MB")


if __name__ == "__main__":
    main()
