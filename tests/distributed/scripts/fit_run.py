"""``fit(..., distributed=True)`` on every rank; saves this rank's parameters and losses.

Usage: fit_run.py OUT_PREFIX EPOCHS CHECKPOINT_DIR|- RESUME|- OPTIMIZER
"""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from dist_common import fit_run  # noqa: E402

out, epochs, ckpt, resume, opt = sys.argv[1:6]
fit_run(out, int(epochs), None if ckpt == "-" else ckpt, None if resume == "-" else resume, opt)
