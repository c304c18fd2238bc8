"""Training: ``fit``, callbacks (early stopping, checkpoints), metrics and resumable
checkpoints.

>>> from retrograd.train import fit, EarlyStopping
>>> history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), train_loader,
...               val_loader=val_loader, epochs=20, callbacks=[EarlyStopping(patience=3)])
>>> history["val_accuracy"][-1]
"""

from .callbacks import Callback, Checkpoint, EarlyStopping, TrainState
from .checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint
from .history import History
from .loop import NonFiniteLossError, fit
from .metrics import METRICS, accuracy, evaluate

__all__ = ["fit", "History", "Callback", "TrainState", "EarlyStopping", "Checkpoint",
           "NonFiniteLossError", "accuracy", "evaluate", "METRICS", "save_checkpoint",
           "load_checkpoint", "resolve_checkpoint", "CheckpointError"]
