"""Forward plus backward of single ops on medium arrays, against PyTorch eager (2 threads) in
the same run, sorted by the ratio: the ops at the top are where retrograd (or NumPy under
it) is furthest behind, e.g. a NumPy call that branches per element or runs a scalar
loop. No targets: a map for finding slow paths.

Arrays are float32: (256, 1024) for elementwise ops and reductions, (32, 16, 32, 32)
images for convolution, pooling and batch norm.

    PYTHONPATH=src python benchmarks/op_speed.py [--only NAME ...] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np

import retrograd as rg
from retrograd.nn import functional as F

rng = np.random.default_rng(0)
X = rng.standard_normal((256, 1024)).astype(np.float32)
Y = rng.standard_normal((256, 1024)).astype(np.float32)
POS = np.abs(X) + np.float32(0.1)
IMG = rng.standard_normal((32, 16, 32, 32)).astype(np.float32)
W = (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32)
COND = rng.random((256, 1024)) > 0.5
LABELS = rng.integers(0, 1024, 256)
TARGETS = (Y > 0).astype(np.float32)
ROWS = np.arange(0, 256, 2)


def cases(torch: Any) -> dict[str, tuple[Callable, Callable, list]]:
    """name -> (retrograd fn, torch fn, input arrays); the fns take tensors of the inputs."""
    TF = torch.nn.functional
    same = {  # the same call in both libraries
        "add": (lambda a, b: a + b, [X, Y]),
        "mul": (lambda a, b: a * b, [X, Y]),
        "div": (lambda a, b: a / b, [X, POS]),
        "sub, broadcast row": (lambda a, b: a - b, [X, Y[0]]),
        "x ** 2": (lambda a: a ** 2, [X]),
        "x ** 3": (lambda a: a ** 3, [X]),
        "x ** 0.5": (lambda a: a ** 0.5, [POS]),
        "exp": (lambda a: a.exp(), [X]),
        "log": (lambda a: a.log(), [POS]),
        "sqrt": (lambda a: a.sqrt(), [POS]),
        "tanh": (lambda a: a.tanh(), [X]),
        "sigmoid": (lambda a: a.sigmoid(), [X]),
        "relu": (lambda a: a.relu(), [X]),
        "abs": (lambda a: a.abs(), [X]),
        "sum": (lambda a: a.sum(), [X]),
        "sum axis 0": (lambda a: a.sum(0), [X]),
        "sum axis 1": (lambda a: a.sum(1), [X]),
        "mean axis 1": (lambda a: a.mean(1), [X]),
        "var axis 1": (lambda a: a.var(1), [X]),
        "softmax": (lambda a: a.softmax(1), [X]),
        "log_softmax": (lambda a: a.log_softmax(1), [X]),
        "logsumexp": (lambda a: a.logsumexp(1), [X]),
        "matmul": (lambda a, b: a @ b, [X[:, :256], Y[:256]]),
        "rows x[idx]": (lambda a: a[ROWS], [X]),
        "mask x[x > 0]": (lambda a: a[a > 0], [X]),
    }
    out = {k: (f, f, arrays) for k, (f, arrays) in same.items()}
    tcond, tlabels = torch.from_numpy(COND), torch.from_numpy(LABELS)
    out.update({
        "clip": (lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), [X]),
        "maximum": (rg.maximum, torch.maximum, [X, Y]),
        "max axis 1": (lambda a: a.max(1), lambda a: a.amax(1), [X]),
        "where": (lambda a, b: rg.where(COND, a, b), lambda a, b: torch.where(tcond, a, b),
                  [X, Y]),
        "gelu": (F.gelu, TF.gelu, [X]),
        "gelu tanh": (lambda a: F.gelu(a, approximate="tanh"),
                      lambda a: TF.gelu(a, approximate="tanh"), [X]),
        "leaky_relu": (lambda a: F.leaky_relu(a, 0.01), lambda a: TF.leaky_relu(a, 0.01), [X]),
        "cross_entropy": (lambda a: F.cross_entropy(a, rg.tensor(LABELS)),
                          lambda a: TF.cross_entropy(a, tlabels), [X]),
        "mse_loss": (F.mse_loss, TF.mse_loss, [X, Y]),
        "bce with logits": (F.binary_cross_entropy_with_logits,
                            TF.binary_cross_entropy_with_logits, [X, TARGETS]),
        "conv2d 3x3": (lambda a, w: F.conv2d(a, w, padding=1),
                       lambda a, w: TF.conv2d(a, w, padding=1), [IMG, W]),
        "max_pool2d 2x2": (lambda a: F.max_pool2d(a, 2), lambda a: TF.max_pool2d(a, 2), [IMG]),
        "max_pool2d 3x3/2": (lambda a: F.max_pool2d(a, 3, 2, 1),
                             lambda a: TF.max_pool2d(a, 3, 2, 1), [IMG]),
        "avg_pool2d 2x2": (lambda a: F.avg_pool2d(a, 2), lambda a: TF.avg_pool2d(a, 2), [IMG]),
        "batch_norm NCHW": (lambda a: F.batch_norm(a, None, None, training=True),
                            lambda a: TF.batch_norm(a, None, None, training=True), [IMG]),
        "concatenate": (lambda a, b: rg.concatenate([a, b]), lambda a, b: torch.cat([a, b]),
                        [X, Y]),
        "pad": (lambda a: a.pad(((0, 0), (0, 0), (1, 1), (1, 1))),
                lambda a: TF.pad(a, (1, 1, 1, 1)), [IMG]),
    })
    return out


def fwd_bwd(lib: Any, fn: Callable, arrays: list) -> Callable[[], None]:
    """One forward and backward of ``fn`` on fresh leaves of ``arrays`` (float ones need
    gradients), with a gradient of ones."""
    if lib is rg:
        leaves = [rg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        ones = rg.ones_like
    else:
        leaves = [lib.from_numpy(a.copy()).requires_grad_(a.dtype.kind == "f")
                  for a in arrays]
        ones = lib.ones_like

    def step() -> None:
        for t in leaves:
            t.grad = None
        out = fn(*leaves)
        out.backward(ones(out) if out.ndim else None)

    return step


def best_us(step: Callable[[], None], repeat: int, number: int = 5) -> float:
    step()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            step()
        times.append((time.perf_counter() - t0) / number)
    return min(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="names of the ops to time (default: all)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    rows = []
    for name, (ours, theirs, arrays) in cases(torch).items():
        if args.only and name not in args.only:
            continue
        r = best_us(fwd_bwd(rg, ours, arrays), args.repeat)
        t = best_us(fwd_bwd(torch, theirs, arrays), args.repeat)
        rows.append((r / t, name, r, t))
    print(f"{'op (forward + backward)':24s} {'retrograd us':>12s} {'torch us':>9s} {'ratio':>6s}")
    for ratio, name, r, t in sorted(rows, reverse=True):
        print(f"{name:24s} {r:12.0f} {t:9.0f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
