"""Time one optimiser step on the W2 model's parameters (784-256-128-10, float32) against
PyTorch eager with 2 threads, in the same run. Prints median times and ratios.

    PYTHONPATH=src python benchmarks/optim_step.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import retrograd as rg

SHAPES = [(256, 784), (256,), (128, 256), (128,), (10, 128), (10,)]
CONFIGS = [("SGD", {"lr": 0.01}), ("SGD", {"lr": 0.01, "momentum": 0.9}),
           ("Adam", {"lr": 1e-3}), ("AdamW", {"lr": 1e-3}),
           ("RMSprop", {"lr": 1e-3}), ("Adagrad", {"lr": 1e-2})]


def _median_ms(fn, repeat=7, number=50):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number * 1e3)
    return statistics.median(times)


def main() -> None:
    import torch

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    grads = [rng.normal(size=s).astype(np.float32) * 1e-2 for s in SHAPES]
    print(f"{'optimiser':34s} {'retrograd ms':>12s} {'torch ms':>9s} {'ratio':>6s}")
    for name, kw in CONFIGS:
        ps = [rg.nn.Parameter(a) for a in arrays]
        for p, g in zip(ps, grads):
            p.grad = rg.tensor(g)
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        for t, g in zip(ts, grads):
            t.grad = torch.tensor(g)
        opt = getattr(rg.optim, name)(ps, **kw)
        topt = getattr(torch.optim, name)(ts, **kw)
        ours = _median_ms(opt.step)
        theirs = _median_ms(topt.step)
        label = f"{name}({', '.join(f'{k}={v}' for k, v in kw.items())})"
        print(f"{label:34s} {ours:12.3f} {theirs:9.3f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
