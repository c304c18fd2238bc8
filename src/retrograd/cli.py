"""The ``retrograd`` command: ``retrograd train``, ``retrograd evaluate CHECKPOINT`` and the
subcommands of optional parts (``retrograd explain``).

``retrograd train`` with no arguments trains an MLP on the digits dataset, shows its progress,
prints the test accuracy and writes a checkpoint and a learning curve into a new run folder.
Bad arguments or files end with a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from typing import Any, Sequence

EXIT_USAGE = 2
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05,
              "rmsprop": 1e-3, "adam": 2e-3, "adamw": 2e-3}
SCHEDULES = ("cosine", "step", "none")
# The test set is the same for every --seed (which varies initialisation and shuffling), so
# runs with different seeds are compared on equal terms.
SPLIT_SEED = 0


class UsageError(Exception):
    """A bad argument, file or setting: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse prints the whole usage; one line saying what is wrong is kinder
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# ---------------------------------------------------------------------------- arguments


def _checked(convert: Any, ok: Any, what: str) -> Any:
    """An argparse ``type=`` that converts the text and checks the value, in one message."""

    def parse(text: str) -> Any:
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_nonneg_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
# (NaN fails 0 < v; inf fails v < inf)
_positive_float = _checked(float, lambda v: 0 < v < float("inf"), "a positive number")


def _hidden(text: str) -> tuple[int, ...]:
    if text.strip() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 128,64, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    from . import models
    from .models import ACTIVATIONS

    parser = _Parser(prog="retrograd", description="Backpropagation, fast and visible.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    tr = sub.add_parser("train", help="train a model (default: an MLP on the digits dataset)",
                        description="Train a model, print its test accuracy, and write a "
                                    "checkpoint and a learning curve into a run folder.")
    _data_args(tr, default_dataset="digits")
    tr.add_argument("--model", choices=sorted(models.MODELS), default="mlp",
                    help="model architecture (default: mlp)")
    tr.add_argument("--hidden", type=_hidden, default=(128, 64), metavar="SIZES",
                    help="hidden layer sizes of the MLP, comma-separated (default: 128,64)")
    tr.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                    help="activation of the hidden layers (default: relu)")
    tr.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                    help="optimizer (default: adam)")
    tr.add_argument("--lr", type=_positive_float, default=None,
                    help="learning rate (default: depends on the optimizer, 2e-3 for adam)")
    tr.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                    help="learning-rate schedule over the epochs: cosine annealing to 0, "
                         "step (halve every third of the run), none (default: cosine)")
    tr.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default: 0)")
    tr.add_argument("--batch-size", type=_positive_int, default=64, help="default: 64")
    tr.add_argument("--epochs", type=_nonneg_int, default=None,
                    help="default: 30 (with --resume: the resumed run's number)")
    tr.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default: 0)")
    tr.add_argument("--resume", metavar="CKPT", default=None,
                    help="continue the run saved in this checkpoint (or run folder)")
    tr.add_argument("--out", metavar="DIR", default=None,
                    help="run folder (default: retrograd-runs/<timestamp>)")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", help="evaluate a checkpoint on its test set",
                        description="Rebuild the model saved in CHECKPOINT and print its "
                                    "accuracy on the test set of its dataset.")
    ev.add_argument("checkpoint", metavar="CHECKPOINT",
                    help="a checkpoint folder, a checkpoints/ folder or a run folder")
    _data_args(ev, default_dataset=None)

    for plugin in _plugins():
        plugin.add_parser(sub)
    return parser


def _data_args(p: argparse.ArgumentParser, default_dataset: str | None) -> None:
    p.add_argument("--dataset", choices=("digits", "mnist"), default=default_dataset,
                   help="dataset" + (f" (default: {default_dataset})" if default_dataset
                                     else " (default: the one the checkpoint was trained on)"))
    p.add_argument("--root", metavar="DIR", default=None,
                   help="folder with the MNIST IDX files (for --dataset mnist)")


def _plugins() -> list[Any]:
    """Subcommands of optional parts: modules with ``add_parser(subparsers)`` and ``run``."""
    found = []
    try:
        from .explain import cli as explain_cli
    except ImportError:
        pass
    else:
        found.append(explain_cli)
    return found


# ---------------------------------------------------------------------------- data


def _have_mnist(root: str, base: str) -> bool:
    return any(os.path.isfile(os.path.join(root, base + ext)) for ext in ("", ".gz"))


def load_dataset(name: str, root: str | None, seed: int = SPLIT_SEED) -> dict[str, Any]:
    """Train/test arrays (images NCHW, float32 in [0, 1]) and a note on where they came from."""
    from .data import load_digits, load_mnist, train_test_split

    if name == "digits":
        X, y = load_digits(images=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=seed)
        note = f"digits: {len(y_tr)} train / {len(y_te)} test images (8x8; 20% held out)"
    elif name == "mnist":
        if root is None:
            raise UsageError("--dataset mnist needs --root DIR (the folder with the IDX files)")
        if not os.path.isdir(root):
            raise UsageError(f"--root {root}: no such folder")
        if not _have_mnist(root, "train-images-idx3-ubyte") and _have_mnist(
                root, "t10k-images-idx3-ubyte"):
            # Only the 10,000 test images are here: split them rather than download 60,000.
            X, y = load_mnist(root, "test", download_missing=False)
            X_tr, X_te, y_tr, y_te = X[:8000], X[8000:], y[:8000], y[8000:]
            note = ("mnist: only the t10k files are in --root, so its 10,000 images are split: "
                    "the first 8,000 for training, the last 2,000 for testing")
        else:
            X_tr, y_tr = load_mnist(root, "train")
            X_te, y_te = load_mnist(root, "test")
            note = f"mnist: {len(y_tr)} train / {len(y_te)} test images"
    else:
        raise UsageError(f"unknown dataset {name!r}; choose digits or mnist")
    return {"train": (X_tr, y_tr), "test": (X_te, y_te), "note": note,
            "num_classes": 10, "in_shape": tuple(X_tr.shape[1:])}


# ---------------------------------------------------------------------------- model/optim


def build_model(name: str, in_shape: Sequence[int], num_classes: int,
                options: dict[str, Any]) -> Any:
    from . import models

    if name not in models.MODELS:
        raise UsageError(f"unknown model {name!r}; choose from {', '.join(sorted(models.MODELS))}")
    params = inspect.signature(models.MODELS[name]).parameters
    accepted = {k: v for k, v in options.items() if k in params}
    return models.build(name, in_shape, num_classes, **accepted)


def build_optimizer(name: str, params: Any, lr: float, weight_decay: float) -> Any:
    from . import optim

    if name == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "nesterov":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    cls = {"adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}[name]
    return getattr(optim, cls)(params, lr=lr, weight_decay=weight_decay)


def build_scheduler(name: str, optimizer: Any, epochs: int) -> Any:
    from .optim import lr_scheduler

    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.5)
    return None


# ---------------------------------------------------------------------------- commands


def _new_run_dir(base: str = "retrograd-runs") -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(base, stamp)
    k = 1
    while os.path.exists(path):
        k += 1
        path = os.path.join(base, f"{stamp}-{k}")
    return path


def _run_dir_of(checkpoint_folder: str) -> str:
    parent = os.path.dirname(os.path.abspath(checkpoint_folder))
    if os.path.basename(parent) == "checkpoints":
        return os.path.dirname(parent)
    return parent


def plot_history(history: Any, path: str, title: str) -> None:
    """Loss and accuracy per epoch, train and test, as a PNG (matplotlib's Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    epochs = history["epoch"]
    for ax, key, label in ((fig.add_subplot(1, 2, 1), "loss", "loss (cross-entropy)"),
                           (fig.add_subplot(1, 2, 2), "accuracy", "accuracy")):
        ax.plot(epochs, history[key], "o-", ms=3, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "o-", ms=3, label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    os.replace(tmp, path)


def cmd_train(args: argparse.Namespace) -> int:
    import numpy as np

    import retrograd as rg

    from . import distributed as dist
    from . import nn
    from .data import DataLoader, TensorDataset
    from .train import Checkpoint, fit, load_checkpoint

    # Under mpiexec every process runs this same command: train data-parallel, and let only
    # rank 0 print and write (the batch size stays the global batch).
    distributed = dist.launched_by_mpi() and dist.init().size > 1
    main_rank = dist.is_main() if distributed else True
    say = print if main_rank else _quiet
    resume_folder = None
    if args.resume is not None:
        # The checkpoint says how the run was set up; rebuild exactly that, then continue it.
        _, saved, resume_folder = load_checkpoint(args.resume)
        meta = saved.get("metadata", {})
        if "model" not in meta or "dataset" not in meta:
            raise UsageError(f"--resume {args.resume}: the checkpoint has no run settings "
                             "(it was not written by `retrograd train`)")
        for key in ("dataset", "root", "model", "optimizer", "lr", "weight_decay",
                    "batch_size", "seed", "schedule"):
            setattr(args, key, meta[key])
        args.hidden = tuple(meta["model_options"].get("hidden", ()))
        args.activation = meta["model_options"].get("activation", "relu")
        planned = int(meta["epochs"])  # the schedule keeps the shape it started with
        args.epochs = planned if args.epochs is None else args.epochs
        out = args.out or _run_dir_of(resume_folder)
    else:
        args.epochs = 30 if args.epochs is None else args.epochs
        planned = args.epochs
        out = args.out or _new_run_dir()
    if distributed:
        out = dist.broadcast_object(out)  # one run folder (rank 0's clock names it)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]

    rg.manual_seed(args.seed)
    if distributed and not main_rank:
        dist.barrier()  # let rank 0 download the data alone, then read its files
    data = load_dataset(args.dataset, args.root)
    if distributed and main_rank:
        dist.barrier()
    options = {"hidden": tuple(args.hidden), "activation": args.activation}
    model = build_model(args.model, data["in_shape"], data["num_classes"], options)
    optimizer = build_optimizer(args.optimizer, model.parameters(), lr, args.weight_decay)
    train_loader = DataLoader(TensorDataset(*data["train"]), batch_size=args.batch_size,
                              shuffle=True, seed=args.seed)
    test_loader = DataLoader(TensorDataset(*data["test"]), batch_size=512)
    scheduler = build_scheduler(args.schedule, optimizer, planned)
    meta = {"dataset": args.dataset, "root": args.root and os.path.abspath(args.root),
            "model": args.model, "model_options": {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in options.items()},
            "in_shape": list(data["in_shape"]), "num_classes": data["num_classes"],
            "optimizer": args.optimizer, "lr": lr, "weight_decay": args.weight_decay,
            "batch_size": args.batch_size, "seed": args.seed, "epochs": planned,
            "schedule": args.schedule}
    if main_rank:
        os.makedirs(out, exist_ok=True)
    ckpt = Checkpoint(os.path.join(out, "checkpoints"), metadata=meta)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"retrograd: {data['note']}")
    say(f"retrograd: {args.model} ({n_params:,} parameters), {args.optimizer} lr={lr:g}, "
        f"batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}"
        + (f", {dist.world_size()} MPI processes" if distributed else "")
        + (f"; resuming from {resume_folder}" if resume_folder else ""))
    # A diverging run ends with fit's one-line NaN/inf message, not NumPy's overflow warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader,
                      val_loader=test_loader, epochs=args.epochs, callbacks=[ckpt],
                      progress=not args.no_progress, scheduler=scheduler, resume=resume_folder,
                      distributed=distributed)
    if not len(history):
        raise UsageError(f"nothing to train: --epochs {args.epochs}")
    last = history.last
    if not main_rank:
        return 0
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump(history.state_dict(), f, indent=1)
    png = os.path.join(out, "learning_curve.png")
    plot_history(history, png, f"{args.model} on {args.dataset}")
    print(f"test accuracy: {last['val_accuracy']:.4f}   (test loss {last['val_loss']:.4f}, "
          f"train accuracy {last['accuracy']:.4f}, {len(history)} epochs)")
    print(f"checkpoint:     {ckpt.last_path or resume_folder}")
    print(f"learning curve: {png}")
    print(f"run folder:     {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import nn
    from .data import DataLoader, TensorDataset
    from .train import evaluate, load_checkpoint

    weights, saved, folder = load_checkpoint(args.checkpoint)
    meta = saved.get("metadata", {})
    if "model" not in meta:
        raise UsageError(f"{folder}: the checkpoint does not say which model it holds "
                         "(it was not written by `retrograd train`)")
    dataset = args.dataset or meta["dataset"]
    root = args.root or meta.get("root")
    data = load_dataset(dataset, root)
    if list(data["in_shape"]) != list(meta["in_shape"]):
        raise UsageError(f"the model was trained on inputs of shape {tuple(meta['in_shape'])}, "
                         f"{dataset} has {data['in_shape']}")
    model = build_model(meta["model"], meta["in_shape"], meta["num_classes"],
                        meta.get("model_options", {}))
    try:
        model.load_state_dict(weights)
    except (RuntimeError, ValueError) as e:
        raise UsageError(f"{folder}: the weights do not fit the model {meta['model']}: {e}"
                         ) from e
    logs = evaluate(model, DataLoader(TensorDataset(*data["test"]), batch_size=512),
                    nn.CrossEntropyLoss())
    n = len(data["test"][1])
    print(f"retrograd: {meta['model']} from {folder} (epoch {saved.get('epoch')}) on "
          f"{dataset}, {n} test images")
    print(f"test accuracy: {logs['accuracy']:.4f}   (test loss {logs['loss']:.4f})")
    return 0


# ---------------------------------------------------------------------------- main


def _quiet(*args: Any, **kwargs: Any) -> None:
    """``print`` on the ranks other than 0 of a distributed run."""


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``retrograd`` console script; returns the exit code."""
    code = _main(argv)
    if code:  # one rank of an MPI job failing must stop the others, which may be waiting
        from .distributed import abort_if_distributed

        abort_if_distributed(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        if not argv:
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "evaluate":
            return cmd_evaluate(args)
        for plugin in _plugins():
            if args.command == getattr(plugin, "COMMAND", plugin.__name__.split(".")[-2]):
                return int(plugin.run(args) or 0)
        parser.print_help()
        return EXIT_USAGE
    except UsageError as e:
        print(f"retrograd: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("retrograd: interrupted (continue a training run with --resume RUN_FOLDER)",
              file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (the command line never shows a traceback)
        from .train import NonFiniteLossError

        if isinstance(e, NonFiniteLossError):
            print(f"retrograd: error: {_one_line(e)}", file=sys.stderr)
            return 1
        if os.environ.get("RETROGRAD_DEBUG"):
            raise
        kind = "" if isinstance(e, (OSError, ValueError, KeyError)) else f"{type(e).__name__}: "
        print(f"retrograd: error: {kind}{_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
