"""Data-parallel speed: 2 MPI ranks x 1 BLAS thread versus 1 process x 2 BLAS threads.

The model is the W3-sized MLP 784-1024-1024-10 (1.86 M float32 parameters), trained with
plain SGD on random MNIST-shaped data at a *global* batch of 256 (each of 2 ranks: 128).
Prints, for each configuration, the median time per step and, for 2 ranks, the share of
the step spent in the gradient Allreduce, plus the Allreduce bandwidth measured alone (the
input of the scaling model in docs/distributed.md).

    python benchmarks/distributed.py [--steps 30] [--repeats 3]

Targets: 2 ranks no slower than 1 process; Allreduce share under 15 %.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")
SIZES = (784, 1024, 1024, 10)
GLOBAL_BATCH = 256


def worker(steps: int) -> None:
    import numpy as np

    import retrograd as rg
    from retrograd import distributed as dist
    from retrograd import nn

    dist.init()
    world, rank = dist.world_size(), dist.rank()
    rg.manual_seed(0)
    layers: list = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = dist.DistributedDataParallel(nn.Sequential(*layers[:-1]))
    params = list(model.parameters())
    batch = GLOBAL_BATCH // world
    rng = np.random.default_rng(rank)
    X = rng.random((batch * 8, SIZES[0]), dtype=np.float32)
    Y = rng.integers(0, SIZES[-1], batch * 8)
    times, ar, waits, syncs, updates = [], [], [], [], []
    for step in range(steps + 5):  # 5 warm-up steps
        i = (step % 8) * batch
        x, y = rg.tensor(X[i:i + batch]), Y[i:i + batch]
        dist.barrier()  # time each step from a common start
        t0 = time.perf_counter()
        a0 = model.allreduce_seconds
        logits = model(x)
        loss = (logits.logsumexp(axis=1) - logits[np.arange(batch), y]).mean()
        for p in params:
            p.grad = None
        loss.backward()
        t1 = time.perf_counter()
        dist.barrier()  # the wait for the slower rank, kept out of the Allreduce's time
        wait = time.perf_counter() - t1
        t2 = time.perf_counter()
        model.sync_gradients()
        t3 = time.perf_counter()
        for p in params:  # plain SGD (the benchmark measures the engine and MPI, not optim)
            p.data -= 0.01 * p.grad.data
        t4 = time.perf_counter()
        if step >= 5:
            times.append(time.perf_counter() - t0)
            ar.append(model.allreduce_seconds - a0)
            waits.append(wait)
            syncs.append(t3 - t2)
            updates.append(t4 - t3)
    # Allreduce alone, on the same buffer, for bandwidth
    bw = None
    if world > 1:
        from mpi4py import MPI

        flat = model._buckets[0].flat
        reps = []
        for _ in range(20):
            dist.barrier()
            t0 = time.perf_counter()
            MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            reps.append(time.perf_counter() - t0)
        bw = {"bytes": int(flat.nbytes), "seconds": statistics.median(reps)}
    if rank == 0:
        print(json.dumps({"world": world, "step": statistics.median(times),
                          "allreduce": statistics.median(ar),
                          "wait": statistics.median(waits), "sync": statistics.median(syncs),
                          "update": statistics.median(updates),
                          "allreduce_alone": bw}))


def run(world: int, threads: int, steps: int, bind: str) -> dict:
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [sys.executable, __file__, "--worker", "--steps", str(steps)]
    if world > 1:
        cmd = [shutil.which("mpiexec") or "mpiexec", "-n", str(world), "--oversubscribe",
               "--bind-to", bind] + cmd
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bind", default="core", help="mpiexec --bind-to (core, none)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.steps)
        return
    one2, one1, two = [], [], []
    for _ in range(args.repeats):  # interleaved, so machine load hits all alike
        one2.append(run(1, 2, args.steps, args.bind))
        two.append(run(2, 1, args.steps, args.bind))
        one1.append(run(1, 1, args.steps, args.bind))

    for label, pick in (("median", statistics.median), ("best", min)):
        report(label, pick, one2, one1, two, args)


def report(label: str, pick: Any, one2: list, one1: list, two: list,
           args: argparse.Namespace) -> None:
    """Print the runs' ``pick`` (median: typical; best: closest to an idle machine)."""

    def get(rows: list, key: Any) -> float:
        return pick(key(r) for r in rows)

    t12 = get(one2, lambda r: r["step"])
    t11 = get(one1, lambda r: r["step"])
    t2 = get(two, lambda r: r["step"])
    share = get(two, lambda r: r["allreduce"] / r["step"])
    wait = get(two, lambda r: r["wait"] / r["step"])
    pack = get(two, lambda r: r["sync"] - r["allreduce"])
    alone = get(two, lambda r: r["allreduce_alone"]["seconds"])
    nbytes = two[0]["allreduce_alone"]["bytes"]
    upd = get(one1, lambda r: r["update"])  # every rank updates every parameter: not split
    predicted = (t11 - upd) / 2 + upd + pack + alone
    ms = 1e3
    print(f"MLP {'-'.join(map(str, SIZES))}, global batch {GLOBAL_BATCH}, float32, {label} of "
          f"{args.repeats} runs x {args.steps} steps (mpiexec --bind-to {args.bind})")
    print(f"  1 process  x 2 BLAS threads: {t12 * ms:7.1f} ms/step")
    print(f"  1 process  x 1 BLAS thread : {t11 * ms:7.1f} ms/step")
    print(f"  2 ranks    x 1 BLAS thread : {t2 * ms:7.1f} ms/step   "
          f"speed-up over 1 x 2 threads {t12 / t2:.2f}x (target >= 1.00)")
    print(f"  Allreduce share of a 2-rank step: {share * 100:.1f} % (target < 15 %); "
          f"waiting for the slower rank before it: {wait * 100:.1f} %")
    print(f"  Allreduce alone: {nbytes / 1e6:.2f} MB in {alone * ms:.2f} ms = "
          f"{nbytes / alone / 1e9:.2f} GB/s; pack+scale {pack * ms:.2f} ms")
    print(f"  scaling model: t(2) = t_c / 2 + update + pack + Allreduce = "
          f"{(t11 - upd) * ms:.1f} / 2 + {upd * ms:.2f} + {pack * ms:.2f} + {alone * ms:.2f} = "
          f"{predicted * ms:.1f} ms; measured {t2 * ms:.1f} ms "
          f"({(t2 / predicted - 1) * 100:+.0f} %)")
    # where the difference comes from: each term, predicted vs measured inside the 2-rank steps
    comp2 = get(two, lambda r: r["step"] - r["wait"] - r["sync"] - r["update"])
    ar2 = get(two, lambda r: r["allreduce"])
    print(f"    per term: compute per rank {(t11 - upd) / 2 * ms:.1f} predicted, "
          f"{comp2 * ms:.1f} measured; Allreduce {alone * ms:.2f} predicted (alone), "
          f"{ar2 * ms:.2f} in the steps; wait for the slower rank "
          f"{get(two, lambda r: r['wait']) * ms:.1f} (0 predicted)")
    if label == "best":
        project(t11 - upd, upd, pack, nbytes)


# Networks for the projection: (name, bandwidth per rank in bytes/s, latency per message in s)
NETWORKS = (("10 Gb/s Ethernet", 1.1e9, 30e-6), ("100 Gb/s InfiniBand", 11e9, 2e-6))


def project(t_c: float, upd: float, pack: float, nbytes: int) -> None:
    """The scaling model of docs/distributed.md: N machines, one rank each, ring Allreduce.

    ``t_c``: forward + backward of the global batch on one thread; ``upd``: the optimiser
    update (every rank does all of it); ``pack``: the gradients into the flat buffer.
    """
    ms = 1e3
    one = t_c + upd
    print(f"  projection to N machines, one rank each (global batch {GLOBAL_BATCH}; one machine "
          f"{one * ms:.1f} ms = t_c {t_c * ms:.1f} + update {upd * ms:.1f}; pack {pack * ms:.1f}):")
    for name, beta, alpha in NETWORKS:
        cells = []
        for n in (2, 4, 8, 16, 32):
            ar = 2 * (n - 1) / n * nbytes / beta + 2 * (n - 1) * alpha
            t = t_c / n + upd + pack + ar
            cells.append(f"N={n}: {t * ms:.1f} ms ({one / t:.1f}x)")
        print(f"    {name:20s} " + ", ".join(cells))


if __name__ == "__main__":
    main()
