"""Run helper scripts under ``mpiexec -n 2 --oversubscribe`` with this checkout's src/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import require_program

SRC = str(Path(__file__).resolve().parents[2] / "src")
SCRIPTS = Path(__file__).resolve().parent / "scripts"


def mpi_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    # CI runs as root, which Open MPI refuses unless told; harmless otherwise
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


class Result:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float) -> None:
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.seconds = seconds


def run_mpi(script: str, *args: object, n: int = 2, timeout: float = 60) -> Result:
    """Run ``scripts/<script>`` (or ``-m module``) on ``n`` ranks: (returncode, output, s)."""
    mpiexec = require_program("mpiexec")
    target = [script] if script == "-m" else [str(SCRIPTS / script)]  # -m: run a module
    cmd = [mpiexec, "-n", str(n), "--oversubscribe", sys.executable, *target, *map(str, args)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=mpi_env(), capture_output=True, text=True, timeout=timeout)
    return Result(proc, time.perf_counter() - t0)
