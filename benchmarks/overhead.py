"""Per-op overhead and MLP step time of retrograd, against PyTorch eager and hand NumPy.

Measured in one run, interleaved, medians of several repeats (the machine may be shared):

1. Small ops on 1-element float32 tensors: record the op and back-propagate through it
   (``op(x).backward()``), and a chain of 20 such ops with one backward (per op).
   Target: retrograd <= 0.5x PyTorch eager.
2. One training step (forward, cross-entropy, backward) of a 784-256-128-10 ReLU MLP built
   from raw ops (``x @ W.T + b``, ``relu``, ``log_softmax``, indexing, ``mean``), against
   PyTorch eager with the same raw ops and a hand-written NumPy forward/backward.
   Target: retrograd <= 1.2x hand NumPy.
   retrograd and NumPy alternate in one child process that never imports PyTorch, and
   PyTorch runs in a child of its own: at 2 threads PyTorch's OpenMP workers keep spinning
   after each of its steps and slow whatever runs next on the 2 cores (measured: a
   retrograd step 1.2 -> 1.8 ms when interleaved with PyTorch's), which would charge
   PyTorch's threads to retrograd.

Run: ``PYTHONPATH=src python benchmarks/overhead.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
import retrograd as rg  # noqa: E402

try:
    if os.environ.get("RG_BENCH_NO_TORCH"):  # the retrograd/NumPy child: no torch threads
        raise ImportError
    import torch
except ImportError:  # the NumPy comparisons still run
    torch = None


def thread_settings() -> str:
    lines = []
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(f"  {pool.get('internal_api')} ({pool.get('prefix')}): "
                         f"{pool.get('num_threads')} threads")
    except ImportError:
        lines.append("  threadpoolctl not installed; environment:")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        lines.append(f"  {var}={os.environ.get(var, '(unset)')}")
    if torch is not None:
        lines.append(f"  torch {torch.__version__}: {torch.get_num_threads()} intra-op threads")
    lines.append(f"  cpus: {os.cpu_count()}, load average: "
                 f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return "\n".join(lines)


def per_call(fn: Callable[[], object], number: int) -> tuple[float, float]:
    """Seconds per call of ``number`` calls: (wall clock, CPU time of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(number):
        fn()
    return ((time.perf_counter() - w0) / number, (time.process_time() - c0) / number)


def interleaved(fns: dict[str, Callable[[], object]], number: int, repeat: int) -> dict:
    """Median (wall, cpu) time per call of each function, measured in alternation so that
    a change in the machine's load hits all of them alike."""
    runs: dict[str, list] = {k: [] for k in fns}
    for f in fns.values():
        f()  # warm up
    for _ in range(repeat):
        for k, f in fns.items():
            runs[k].append(per_call(f, number))
    return {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
            for k, v in runs.items()}


# ------------------------------------------------------------------ 1. small ops
def small_op_table(number: int, repeat: int) -> list[tuple]:
    x = rg.tensor([0.7], requires_grad=True)
    w = rg.tensor([1.3], requires_grad=True)
    m = rg.tensor([[0.7]], requires_grad=True)
    ops = {
        "add": (lambda a, b: a + b), "mul": (lambda a, b: a * b),
        "sub": (lambda a, b: a - b), "div": (lambda a, b: a / b),
        "exp": (lambda a, b: a.exp()), "log": (lambda a, b: a.log()),
        "tanh": (lambda a, b: a.tanh()), "sigmoid": (lambda a, b: a.sigmoid()),
        "relu": (lambda a, b: a.relu()), "pow2": (lambda a, b: a ** 2),
        "sum": (lambda a, b: a.sum()),
    }
    rows = []
    if torch is not None:
        tx = torch.tensor([0.7], requires_grad=True)
        tw = torch.tensor([1.3], requires_grad=True)
        tm = torch.tensor([[0.7]], requires_grad=True)
    for name, op in ops.items():
        fns = {"rg": lambda op=op: op(x, w).backward()}
        if torch is not None:
            fns["torch"] = lambda op=op: op(tx, tw).backward()
        rows.append((name, interleaved(fns, number, repeat)))
    mm = {"rg": lambda: (m @ m).backward()}
    if torch is not None:
        mm["torch"] = lambda: (tm @ tm).backward()
    rows.append(("matmul 1x1", interleaved(mm, number, repeat)))

    # a chain of 20 ops and one backward: the cost per op without backward()'s fixed cost
    def chain(a, b, n=20):
        for _ in range(n // 2):
            a = a * b
            a = a + b
        return a

    fns = {"rg": lambda: chain(x, w).backward()}
    if torch is not None:
        fns["torch"] = lambda: chain(tx, tw).backward()
    res = interleaved(fns, max(number // 10, 50), repeat)
    rows.append(("chain/op", {k: (v[0] / 20, v[1] / 20) for k, v in res.items()}))
    return rows


# ------------------------------------------------------------------ 2. MLP step
SIZES = (784, 256, 128, 10)


def make_params(rng: np.random.Generator) -> list[np.ndarray]:
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return params


def numpy_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple:
    """Hand-written forward and backward (what a careful NumPy programmer writes)."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    z1 = x @ w1.T + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ w2.T + b2
    a2 = np.maximum(z2, 0)
    z3 = a2 @ w3.T + b3
    z3 = z3 - z3.max(axis=1, keepdims=True)
    e = np.exp(z3)
    s = e.sum(axis=1, keepdims=True)
    logp = z3 - np.log(s)
    loss = -logp[np.arange(n), y].mean()
    d3 = e / s
    d3[np.arange(n), y] -= 1
    d3 /= n
    gw3, gb3 = d3.T @ a2, d3.sum(axis=0)
    d2 = d3 @ w3
    d2 *= z2 > 0
    gw2, gb2 = d2.T @ a1, d2.sum(axis=0)
    d1 = d2 @ w2
    d1 *= z1 > 0
    gw1, gb1 = d1.T @ x, d1.sum(axis=0)
    return loss, (gw1, gb1, gw2, gb2, gw3, gb3)


def raw_step(params: list, x, y, idx, **softmax_axis) -> object:
    """The MLP step from raw ops, in retrograd or torch (``axis=1`` or ``dim=1``)."""
    w1, b1, w2, b2, w3, b3 = params
    for p in params:
        p.grad = None
    h = (x @ w1.T + b1).relu()
    h = (h @ w2.T + b2).relu()
    logits = h @ w3.T + b3
    loss = -logits.log_softmax(**softmax_axis)[idx, y].mean()
    loss.backward()
    return loss


def rg_step(params: list, x, y, idx) -> object:
    return raw_step(params, x, y, idx, axis=1)


def torch_step(params: list, x, y, idx) -> object:
    return raw_step(params, x, y, idx, dim=1)


def mlp(batch: int, number: int, repeat: int, which: str) -> dict:
    """Time the MLP step of ``which``: "rg-np" (retrograd and NumPy, alternating) or
    "torch"; the implementations are checked against the NumPy step first."""
    rng = np.random.default_rng(0)
    params = make_params(rng)
    x = rng.random((batch, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    loss_np, grads_np = numpy_step(params, x, y)
    fns: dict[str, Callable[[], object]] = {}
    if which == "rg-np":
        rparams = [rg.tensor(p, requires_grad=True) for p in params]
        rx, ry, ridx = rg.tensor(x), rg.tensor(y), rg.arange(batch)
        # the implementations must agree before their speed means anything
        loss_rg = rg_step(rparams, rx, ry, ridx)
        assert abs(loss_rg.item() - loss_np) < 1e-4, (loss_rg.item(), loss_np)
        for p, g in zip(rparams, grads_np):
            np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-3, atol=1e-6)
        fns["rg"] = lambda: rg_step(rparams, rx, ry, ridx)
        fns["numpy"] = lambda: numpy_step(params, x, y)
    elif torch is not None:
        tparams = [torch.tensor(p, requires_grad=True) for p in params]
        tx, ty, tidx = torch.from_numpy(x), torch.from_numpy(y), torch.arange(batch)
        loss_t = torch_step(tparams, tx, ty, tidx)
        assert abs(loss_t.item() - loss_np) < 1e-4
        fns["torch"] = lambda: torch_step(tparams, tx, ty, tidx)
    return interleaved(fns, number, repeat)


def mlp_child(which: str, batch: int, threads: int, number: int, repeat: int) -> dict:
    """Run :func:`mlp` in a fresh process with ``threads`` BLAS (and torch) threads."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    if which == "rg-np":
        env["RG_BENCH_NO_TORCH"] = "1"
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--mlp-child", which,
                          str(batch), str(threads), str(number), str(repeat)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return {k: tuple(v) for k, v in json.loads(out.splitlines()[-1]).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument("--mlp-child", nargs=5, metavar=("WHICH", "BATCH", "THREADS", "NUMBER",
                                                    "REPEAT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mlp_child:
        which, batch, threads, number, repeat = args.mlp_child
        if torch is not None:
            torch.set_num_threads(int(threads))
        print(json.dumps(mlp(int(batch), int(number), int(repeat), which)))
        return
    if torch is not None:
        torch.set_num_threads(2)
    n_small, n_mlp, repeat = (500, 5, 3) if args.quick else (4000, 30, 9)

    print(f"retrograd {rg.__version__}, NumPy {np.__version__}, Python "
          f"{platform.python_version()}")
    print("thread settings:")
    print(thread_settings())

    print("\n1. record one op on a 1-element float32 tensor + backward (median us per call;")
    print("   wall clock, and CPU time of this process, which the machine's load disturbs less)")
    print(f"  {'op':<12}{'rg wall':>9}{'torch':>9}{'ratio':>7}{'rg cpu':>9}{'torch':>9}"
          f"{'ratio':>7}   target <= 0.50")
    wall_r, cpu_r = [], []
    for name, t in small_op_table(n_small, repeat):
        rw, rc = t["rg"]
        tw, tc = t.get("torch", (float("nan"),) * 2)
        if name != "chain/op":
            wall_r.append(rw / tw)
            cpu_r.append(rc / tc)
        print(f"  {name:<12}{rw * 1e6:9.2f}{tw * 1e6:9.2f}{rw / tw:7.2f}{rc * 1e6:9.2f}"
              f"{tc * 1e6:9.2f}{rc / tc:7.2f}")
    print(f"  {'median':<12}{'':>18}{statistics.median(wall_r):7.2f}{'':>18}"
          f"{statistics.median(cpu_r):7.2f}")

    print("\n2. MLP 784-256-128-10 training step from raw ops (median ms per step; retrograd")
    print("   and NumPy alternate in one process, PyTorch runs in another)")
    mlp_table(n_mlp, repeat, 2)
    # On a shared machine two BLAS threads fight other processes for the cores; one thread
    # per library gives a steadier comparison of the same work.
    print("\n   the same with 1 BLAS thread and torch.set_num_threads(1):")
    mlp_table(n_mlp, repeat, 1)


def mlp_table(number: int, repeat: int, threads: int) -> None:
    print(f"  {'batch':<7}{'rg wall':>9}{'numpy':>9}{'torch':>9}{'rg/np':>7}{'rg/torch':>9}"
          f"{'rg cpu':>9}{'rg/np':>7}{'rg/torch':>9}  target rg/np <= 1.20")
    for batch in (64, 128, 256):
        t = mlp_child("rg-np", batch, threads, number, repeat)
        nan = (float("nan"), float("nan"))
        if torch is not None:
            t.update(mlp_child("torch", batch, threads, number, repeat))
        (rw, rc), (nw, nc), (tw, tc) = t["rg"], t["numpy"], t.get("torch", nan)
        print(f"  {batch:<7}{rw * 1e3:9.3f}{nw * 1e3:9.3f}{tw * 1e3:9.3f}{rw / nw:7.2f}"
              f"{rw / tw:9.2f}{rc * 1e3:9.3f}{rc / nc:7.2f}{rc / tc:9.2f}")


if __name__ == "__main__":
    main()
