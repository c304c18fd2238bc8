"""``retrograd explain``: the teaching layer on the command line.

With no arguments it reproduces seed 003's worked example (the gate view of
f = (x + y) z, then the 2-2-2 sigmoid network) and prints the numbers the document
publishes. Options pick another network (``--layers 2,2,3 --activation sigmoid --loss mse
--samples 100``) or a trained checkpoint, the output format and a graph picture.

Plugged into the ``retrograd`` command through ``add_parser(subparsers)`` and
``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

FORMATS = ("text", "markdown", "html")
LOSSES = ("mse", "half-sse", "ce")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``explain`` on an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "explain", help="show a backward pass step by step (seed 003's example by default)",
        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(p)
    return p


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", type=str, default=None, metavar="N,N,...",
                   help="layer sizes, input first, e.g. 2,2,3 (random weights)")
    p.add_argument("--activation", default="sigmoid",
                   help="activation after every Linear (sigmoid, relu, tanh, ...)")
    p.add_argument("--loss", choices=LOSSES, default=None,
                   help="mse (mean), half-sse (seed 003: 1/2 sum), ce (cross-entropy on logits)")
    p.add_argument("--samples", type=int, default=1, help="batch size (random inputs)")
    p.add_argument("--sample", type=int, default=None, metavar="I",
                   help="explain sample I alone instead of the batch average")
    p.add_argument("--checkpoint", type=str, default=None,
                   help="explain a trained model: a checkpoint folder (or its parent)")
    p.add_argument("--seed", type=int, default=0, help="random seed for weights and data")
    p.add_argument("--digits", type=int, default=None, help="significant digits shown")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format")
    p.add_argument("--graph", type=str, default=None, metavar="FILE",
                   help="also draw the computation graph (.dot, .svg or .png; needs Graphviz "
                        "for pictures)")
    p.add_argument("--out", type=str, default=None, metavar="FILE",
                   help="write the report to FILE instead of standard output")


class CliError(ValueError):
    """A bad argument: reported as one line, exit status 2."""


def _parse_layers(spec: str) -> list[int]:
    try:
        sizes = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise CliError(f"--layers: expected comma-separated integers like 2,2,3, got "
                       f"{spec!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise CliError(f"--layers: need at least two positive sizes (input and output), got "
                       f"{spec!r}")
    return sizes


def _loss_fn(name: str) -> Any:
    from .. import nn

    if name == "mse":
        return nn.MSELoss()
    if name == "half-sse":
        from .examples import half_squared_error

        return half_squared_error
    if name == "ce":
        return nn.CrossEntropyLoss()
    raise CliError(f"--loss: unknown loss {name!r}; choose from {', '.join(LOSSES)}")


def _activation(name: str) -> Any:
    from ..models import ACTIVATIONS

    if name not in ACTIVATIONS:
        raise CliError(f"--activation: unknown activation {name!r}; choose from "
                       f"{', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]


def _random_mlp(sizes: list[int], act: str, loss: str) -> Any:
    from .. import nn

    mods: list = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or loss != "ce":  # logits stay raw for cross-entropy
            mods.append(_activation(act)())
    return nn.Sequential(*mods)


def _data(n_in: int, n_out: int, n: int, loss: str) -> tuple[Any, Any]:
    from ..creation import randn, tensor

    rng = np.random.default_rng(np.random.SeedSequence(12345))
    x = randn(n, n_in)
    if loss == "ce":
        y = tensor(rng.integers(0, n_out, size=n))
    else:
        y = tensor(rng.uniform(0.0, 1.0, size=(n, n_out)).astype(np.float32))
    return x, y


def _from_checkpoint(path: str, act: str) -> tuple[Any, str, dict]:
    """A model rebuilt from a training checkpoint (``retrograd train``), its folder and the
    run's metadata."""
    if not os.path.exists(path):
        raise CliError(f"--checkpoint: {path!r} does not exist")
    try:
        from ..train.checkpoint import load_checkpoint
    except ImportError:
        raise CliError("--checkpoint: this retrograd has no training checkpoints "
                       "(retrograd.train is missing)") from None
    try:
        weights, state, folder = load_checkpoint(path)
    except (ValueError, OSError) as e:
        raise CliError(f"--checkpoint: {e}") from None
    meta = state.get("metadata", {}) if isinstance(state, dict) else {}
    model = None
    name = meta.get("model")
    if isinstance(name, str):
        from ..models import build

        opts = dict(meta.get("model_options") or meta.get("options") or {})
        try:
            model = build(name, in_shape=tuple(meta["in_shape"]),
                          num_classes=int(meta["num_classes"]), **opts)
        except (KeyError, TypeError, ValueError):
            model = None
    if model is None:  # infer a plain MLP from the Linear weights' shapes
        from .. import nn

        ws = [(k, np.shape(v)) for k, v in weights.items() if k.endswith(".weight")
              and len(np.shape(v)) == 2]
        if not ws:
            raise CliError(f"--checkpoint: {folder} holds no Linear weights to explain")
        mods: list = []
        keys = {}
        for i, (k, (o, n_in)) in enumerate(ws):
            keys[k] = f"{len(mods)}.weight"
            keys[k[:-len("weight")] + "bias"] = f"{len(mods)}.bias"
            mods.append(nn.Linear(n_in, o))
            if i < len(ws) - 1:
                mods.append(_activation(act)())
        model = nn.Sequential(*mods)
        weights = {keys[k]: v for k, v in weights.items() if k in keys}
    try:
        model.load_state_dict({k: getattr(v, "data", v) for k, v in weights.items()})
    except (RuntimeError, ValueError) as e:
        raise CliError(f"--checkpoint: the weights do not fit the rebuilt model: {e}") from None
    return model, folder, meta


def _checkpoint_data(meta: dict, n: int) -> tuple[Any, Any] | None:
    """The first ``n`` samples of the dataset the checkpoint was trained on (digits only:
    MNIST may need a download), or None."""
    if meta.get("dataset") != "digits":
        return None
    try:
        from ..data import load_digits
    except ImportError:
        return None
    from ..creation import tensor

    shape = tuple(meta.get("in_shape") or (64,))
    X, y = load_digits(images=len(shape) > 1)
    return tensor(X[:n]), tensor(y[:n])


def _write(text: str | bytes, path: str | None) -> None:
    if path is None:
        sys.stdout.write(text if isinstance(text, str) else text.decode())
        if isinstance(text, str) and not text.endswith("\n"):
            sys.stdout.write("\n")
        return
    mode = "w" if isinstance(text, str) else "wb"
    kw = {"encoding": "utf-8"} if isinstance(text, str) else {}
    with open(path, mode, **kw) as f:
        f.write(text)


def build_report(args: argparse.Namespace) -> tuple[list, Any]:
    """The report's blocks and the graph (a Trace) to draw for ``--graph``."""
    from ..random import manual_seed
    from ._format import Block
    from .gates import trace
    from .record import backprop, watch

    manual_seed(args.seed)
    blocks: list = []
    if args.digits is not None and not 1 <= args.digits <= 17:
        raise CliError(f"--digits: choose 1 to 17 significant digits, got {args.digits}")
    if args.layers is None and args.checkpoint is None:
        if args.samples != 1 or args.sample is not None or args.loss is not None:
            raise CliError("--samples, --sample and --loss need --layers or --checkpoint (with "
                           "no network given, seed 003's example is shown as published)")
        # seed 003, as published: first the gates, then the network
        from ..creation import tensor
        from .examples import worked_example

        digits = args.digits or 15
        x = tensor(-2.0, requires_grad=True)
        y = tensor(5.0, requires_grad=True)
        z = tensor(-4.0, requires_grad=True)
        q = x + y
        f = q * z
        gate = trace(f, names={"x": x, "y": y, "z": z, "q": q, "f": f}, digits=6)
        blocks.append(Block("h1", "Seed 003, reproduced by the engine"))
        blocks.append(Block("p", "Part 1: f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4. The "
                                 "seed's result: [df/dx, df/dy, df/dz] = [-4, -4, 3]."))
        blocks.extend(gate.blocks())
        view, published = worked_example(digits)
        blocks.append(Block("p", "Part 2: the 2-2-2 sigmoid network with i = [0.1, 0.2], "
                                 "o = [0.01, 0.99] and C = 1/2 Σ (y - a)^2."))
        blocks.extend(view.blocks())
        blocks.extend(published)
        return blocks, gate
    loss_name = args.loss or "mse"
    if args.checkpoint is not None:
        model, folder, meta = _from_checkpoint(args.checkpoint, args.activation)
        from ..nn.layers.linear import Linear

        lins = [m for m in model.modules() if isinstance(m, Linear)]
        n_in, n_out = lins[0].in_features, lins[-1].out_features
        loss_name = args.loss or "ce"
        source = f"checkpoint {folder}"
        real = _checkpoint_data(meta, args.samples)
    else:
        real = None
        sizes = _parse_layers(args.layers)
        model = _random_mlp(sizes, args.activation, loss_name)
        n_in, n_out = sizes[0], sizes[-1]
        source = f"random weights (seed {args.seed})"
    if args.samples < 1:
        raise CliError(f"--samples: need at least 1, got {args.samples}")
    if args.sample is not None and not 0 <= args.sample < args.samples:
        raise CliError(f"--sample: {args.sample} is not in 0..{args.samples - 1}")
    if real is not None:
        x, y = real
        data_note = f"the first {args.samples} sample(s) of {meta['dataset']}"
    else:
        x, y = _data(n_in, n_out, args.samples, loss_name)
        data_note = f"{args.samples} random sample(s)"
    lf = _loss_fn(loss_name)
    model.train(False)  # explain the deterministic network (dropout off, running stats)
    view = backprop(model, x, y, lf, per_sample=args.sample, digits=args.digits or 6)
    blocks.append(Block("p", f"Model: {source}; loss {loss_name}; {data_note}."))
    blocks.extend(view.blocks())
    graph = None
    if args.graph:
        xs, ys = (x, y) if args.sample is None else (x[args.sample:args.sample + 1],
                                                     y[args.sample:args.sample + 1])
        model.zero_grad()
        with watch(model) as w:
            loss = lf(model(xs), ys)
        graph = trace(loss, model=model, watched=w, digits=args.digits or 4,
                      names={"x": xs, "target": ys, "loss": loss})
        model.zero_grad()
    return blocks, graph


def run(args: argparse.Namespace) -> int:
    """Run ``retrograd explain``; returns the exit status (2 for a bad argument)."""
    from ._format import render

    try:
        blocks, graph = build_report(args)
        if args.graph:
            from .dot import render_graph

            if graph is None:
                raise CliError("--graph: nothing to draw")
            try:
                written = render_graph(graph, args.graph)
            except (RuntimeError, ValueError) as e:
                raise CliError(f"--graph: {e}") from None
            if written != args.graph:
                print(f"retrograd explain: Graphviz 'dot' not found; wrote the DOT source to "
                      f"{written}", file=sys.stderr)
            from ._format import Block

            if args.format == "html" and written.endswith(".svg") and os.path.exists(written):
                with open(written, encoding="utf-8") as f:
                    blocks.append(Block("h2", "The computation graph"))
                    blocks.append(Block("svg", f.read()))
        text = render(blocks, args.format, "retrograd explain")
        _write(text, args.out)
    except (CliError, ValueError, TypeError) as e:
        print(f"retrograd explain: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"retrograd explain: error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m retrograd.explain.cli``)."""
    parser = argparse.ArgumentParser(prog="retrograd explain", description=__doc__)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
