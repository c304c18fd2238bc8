"""The MPI world this process belongs to: rank, size, and a fail-fast exception hook.

retrograd does not start processes; ``mpiexec`` (or ``srun``) does, and every process runs
the same script. :func:`init` finds out whether this process was started by an MPI launcher
(from the environment variables launchers set) and, if so, imports ``mpi4py`` and reads
``MPI.COMM_WORLD``. A plain ``python script.py`` is a world of one process: it never imports
``mpi4py`` (which costs about a second to initialise MPI) and works without it installed.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

# Variables that MPI launchers put into each process's environment: Open MPI (mpiexec,
# prterun), MPICH/Intel MPI (hydra: PMI_*), PMIx-based launchers and srun --mpi=pmix/pmi2.
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK",
                  "MV2_COMM_WORLD_SIZE")


class _World:
    """Who we are: ``comm`` is an mpi4py communicator, or ``None`` for a lone process."""

    __slots__ = ("comm", "rank", "size", "MPI")

    def __init__(self, comm: Any = None, MPI: Any = None) -> None:  # noqa: N803
        self.comm = comm
        self.MPI = MPI
        self.rank = 0 if comm is None else int(comm.Get_rank())
        self.size = 1 if comm is None else int(comm.Get_size())


_WORLD: _World | None = None
_previous_excepthook = None


def launched_by_mpi() -> bool:
    """True when an MPI launcher started this process (or ``RETROGRAD_MPI=1`` says so)."""
    flag = os.environ.get("RETROGRAD_MPI", "")
    if flag in ("0", "1"):
        return flag == "1"
    return any(v in os.environ for v in _LAUNCHER_VARS)


def init(comm: Any = None) -> _World:
    """Join the MPI world (idempotent); returns the world.

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Use this communicator instead of ``MPI.COMM_WORLD`` (e.g. a split of it).

    Without a launcher (``python script.py``) the world is this one process, rank 0 of 1,
    and ``mpi4py`` is not needed. Under a launcher with more than one process, an
    unhandled exception on any rank prints that rank's traceback and aborts the whole job
    (``MPI.COMM_WORLD.Abort(1)``), so no rank is left waiting forever in a collective.

    Raises
    ------
    RuntimeError
        When started by an MPI launcher but ``mpi4py`` cannot be imported: every process
        would otherwise believe it is rank 0 and train the same model on the same data.
    """
    global _WORLD
    if comm is not None:
        from mpi4py import MPI

        _WORLD = _World(comm, MPI)
    elif _WORLD is None:
        if launched_by_mpi():
            try:
                from mpi4py import MPI
            except ImportError as exc:
                raise RuntimeError(
                    "retrograd.distributed.init: this process was started by an MPI launcher "
                    f"but mpi4py cannot be imported ({exc}); install it with "
                    "pip install \"retrograd[mpi]\" (or set RETROGRAD_MPI=0 to run each "
                    "process on its own)") from None
            _WORLD = _World(MPI.COMM_WORLD, MPI)
        else:
            _WORLD = _World()
    if _WORLD.size > 1:
        install_excepthook()
    return _WORLD


def world() -> _World:
    """The world, joining it first if needed."""
    return _WORLD if _WORLD is not None else init()


def rank() -> int:
    """This process's rank (0 in a single process)."""
    return world().rank


def world_size() -> int:
    """The number of processes training together (1 in a single process)."""
    return world().size


def is_main() -> bool:
    """True on rank 0, the process that prints, writes checkpoints and plots."""
    return world().rank == 0


get_rank = rank  # PyTorch's names
get_world_size = world_size


def barrier() -> None:
    """Wait until every rank gets here (a no-op in a single process)."""
    w = world()
    if w.size > 1:
        w.comm.Barrier()


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """Rank ``root``'s ``obj`` (any picklable value) on every rank."""
    w = world()
    return obj if w.size == 1 else w.comm.bcast(obj, root=root)


def allgather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, as a list indexed by rank."""
    w = world()
    return [obj] if w.size == 1 else w.comm.allgather(obj)


def _abort_on_exception(exc_type: Any, exc: Any, tb: Any) -> None:
    w = _WORLD
    if w is None or w.size == 1 or issubclass(exc_type, KeyboardInterrupt):
        # Ctrl-C reaches every rank through the launcher: nothing to abort
        (_previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)
        return
    text = "".join(traceback.format_exception(exc_type, exc, tb)).rstrip("\n")
    text = "".join(f"[rank {w.rank}] {line}\n" for line in text.split("\n"))
    text += (f"[rank {w.rank}] retrograd.distributed: unhandled exception, aborting all "
             f"{w.size} ranks (MPI.COMM_WORLD.Abort)\n")
    try:
        sys.stdout.flush()
        sys.stderr.write(text)
        sys.stderr.flush()
    finally:
        # NOTE: the other ranks may be blocked in a collective waiting for this one; Abort
        # makes the launcher kill them all, so the job ends now, with this rank's error.
        w.MPI.COMM_WORLD.Abort(1)


def abort_if_distributed(code: int = 1) -> None:
    """End the whole MPI job with exit code ``code`` when this is one rank of several.

    For a rank that is about to exit with an error it has handled itself (the command line
    prints one line and returns a code): exiting alone would leave the other ranks waiting
    in a collective for ever. In a single process this does nothing.
    """
    w = _WORLD
    if w is not None and w.size > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        w.MPI.COMM_WORLD.Abort(int(code))


def install_excepthook() -> None:
    """Make an unhandled exception on this rank abort the whole MPI job (idempotent)."""
    global _previous_excepthook
    if sys.excepthook is not _abort_on_exception:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_exception


def _reset() -> None:
    """Forget the world (tests)."""
    global _WORLD, _previous_excepthook
    if sys.excepthook is _abort_on_exception and _previous_excepthook is not None:
        sys.excepthook = _previous_excepthook
    _WORLD = None
    _previous_excepthook = None
