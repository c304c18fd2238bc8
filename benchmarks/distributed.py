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


def worker(steps: int, zero: str) -> None:
    import numpy as np
    from threadpoolctl import threadpool_info

    import retrograd as rg
    from retrograd import distributed as dist
    from retrograd import nn

    dist.init()
    world, rank = dist.world_size(), dist.rank()
    # the thread count actually in effect in this process (not just what we asked for)
    blas_threads = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    rg.manual_seed(0)
    layers: list = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = dist.DistributedDataParallel(nn.Sequential(*layers[:-1]))
    params = list(model.parameters())
    batch = GLOBAL_BATCH // world
    # the same 8 global batches on both sides; rank r takes its slice of each
    rng = np.random.default_rng(0)
    X = rng.random((GLOBAL_BATCH * 8, SIZES[0]), dtype=np.float32)
    Y = rng.integers(0, SIZES[-1], GLOBAL_BATCH * 8)
    rows = np.arange(batch)
    times, ar, syncs, updates = [], [], [], []
    dist.barrier()  # one common start; no barrier inside the timed steps (the Allreduce
    # itself keeps the ranks in step, and a barrier per step would time the skew twice)
    for step in range(steps + 5):  # 5 warm-up steps
        i = (step % 8) * GLOBAL_BATCH + rank * batch
        x, y = rg.tensor(X[i:i + batch]), Y[i:i + batch]
        t0 = time.perf_counter()
        a0 = model.allreduce_seconds
        if zero == "none":
            for p in params:
                p.grad = None
        else:
            for p in params:
                if p.grad is not None:
                    p.grad.data[...] = 0
        logits = model(x)
        loss = (logits.logsumexp(axis=1) - logits[rows, y]).mean()
        loss.backward()
        t2 = time.perf_counter()
        model.sync_gradients()
        t3 = time.perf_counter()
        for p in params:  # plain SGD (the benchmark measures the engine and MPI, not optim)
            p.data -= 0.01 * p.grad.data
        t4 = time.perf_counter()
        if step >= 5:
            times.append(t4 - t0)
            ar.append(model.allreduce_seconds - a0)
            syncs.append(t3 - t2)
            updates.append(t4 - t3)
    # the ranks' total times agree to within one step (each Allreduce waits for both)
    total = sum(times)
    totals = dist.allgather_object(total)
    threads = dist.allgather_object(blas_threads)
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
                          "mean": max(totals) / len(times),
                          "allreduce": statistics.median(ar),
                          "sync": statistics.median(syncs),
                          "update": statistics.median(updates),
                          "blas_threads": threads, "allreduce_alone": bw}))


def run(world: int, threads: int, steps: int, bind: str, zero: str) -> dict:
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [sys.executable, __file__, "--worker", "--steps", str(steps), "--zero", zero]
    if world > 1:
        cmd = [shutil.which("mpiexec") or "mpiexec", "-n", str(world), "--oversubscribe",
               "--bind-to", bind] + cmd
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    if any(t != [threads] for t in res["blas_threads"]):
        raise RuntimeError(f"asked for {threads} BLAS thread(s) per process, got "
                           f"{res['blas_threads']} (threadpoolctl, per rank)")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bind", default="none",
                    help="mpiexec --bind-to for the 2 ranks: none, core, or both: none,core")
    ap.add_argument("--zero", default="none", choices=("none", "inplace"),
                    help="between steps set gradients to None, or zero them in place")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.steps, args.zero)
        return
    binds = args.bind.split(",")
    one2, one1, two = [], [], {b: [] for b in binds}
    for _ in range(args.repeats):  # interleaved, so machine load hits all alike
        one2.append(run(1, 2, args.steps, "none", args.zero))
        for b in binds:
            two[b].append(run(2, 1, args.steps, b, args.zero))
        one1.append(run(1, 1, args.steps, "none", args.zero))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min), "
          f"{os.getloadavg()[1]:.2f} (5 min)")
    for b in binds:
        for label, pick in (("median", statistics.median), ("best", min)):
            report(label, pick, one2, one1, two[b], args, b)


def report(label: str, pick: Any, one2: list, one1: list, two: list,
           args: argparse.Namespace, bind: str) -> None:
    """Print the runs' ``pick`` (median: typical; best: closest to an idle machine)."""

    def get(rows: list, key: Any) -> float:
        return pick(key(r) for r in rows)

    t12 = get(one2, lambda r: r["step"])
    t11 = get(one1, lambda r: r["step"])
    t2 = get(two, lambda r: r["step"])
    share = get(two, lambda r: r["allreduce"] / r["step"])
    pack = get(two, lambda r: r["sync"] - r["allreduce"])
    alone = get(two, lambda r: r["allreduce_alone"]["seconds"])
    nbytes = two[0]["allreduce_alone"]["bytes"]
    upd = get(one1, lambda r: r["update"])  # every rank updates every parameter: not split
    predicted = (t11 - upd) / 2 + upd + pack + alone
    ms = 1e3
    print(f"MLP {'-'.join(map(str, SIZES))}, global batch {GLOBAL_BATCH}, float32, {label} of "
          f"{args.repeats} runs x {args.steps} steps (mpiexec --bind-to {bind}, "
          f"grads zeroed: {args.zero}; step median, mean in brackets)")
    for name, rows in (("1 process  x 2 BLAS threads", one2), ("1 process  x 1 BLAS thread ",
                                                                one1)):
        print(f"  {name}: {get(rows, lambda r: r['step']) * ms:7.1f} ms/step "
              f"({get(rows, lambda r: r['mean']) * ms:.1f})")
    print(f"  2 ranks    x 1 BLAS thread : {t2 * ms:7.1f} ms/step "
          f"({get(two, lambda r: r['mean']) * ms:.1f})  "
          f"speed-up over 1 x 2 threads {t12 / t2:.2f}x (target >= 1.00)")
    print(f"  Allreduce share of a 2-rank step: {share * 100:.1f} % (target < 15 %; includes "
          f"waiting for the slower rank)")
    print(f"  Allreduce alone: {nbytes / 1e6:.2f} MB in {alone * ms:.2f} ms = "
          f"{nbytes / alone / 1e9:.2f} GB/s; pack+scale {pack * ms:.2f} ms")
    print(f"  scaling model: t(2) = t_c / 2 + update + pack + Allreduce = "
          f"{(t11 - upd) * ms:.1f} / 2 + {upd * ms:.2f} + {pack * ms:.2f} + {alone * ms:.2f} = "
          f"{predicted * ms:.1f} ms; measured {t2 * ms:.1f} ms "
          f"({(t2 / predicted - 1) * 100:+.0f} %)")
    # where the difference comes from: each term, predicted vs measured inside the 2-rank steps
    comp2 = get(two, lambda r: r["step"] - r["sync"] - r["update"])
    ar2 = get(two, lambda r: r["allreduce"])
    print(f"    per term: compute per rank {(t11 - upd) / 2 * ms:.1f} predicted, "
          f"{comp2 * ms:.1f} measured; Allreduce {alone * ms:.2f} predicted (alone), "
          f"{ar2 * ms:.2f} in the steps")
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
