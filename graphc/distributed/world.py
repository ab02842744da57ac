"""Which process this is: `init()` joins the MPI world when an MPI launcher started the
process (mpiexec, srun) and is a plain single process otherwise."""
from __future__ import annotations

import os
import sys
import time

from ..ir import GraphcError
from ..ops.collective import set_world, world

LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                      "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD")
"""Set by MPICH's and Open MPI's launchers (and PMIx-based ones such as Slurm's srun)."""

ABORT_GRACE_S = 0.3


class DistributedError(GraphcError, RuntimeError):
    """MPI is missing or misused (a graphc error: the command line shows its message)."""


def launched_by_mpi() -> bool:
    return any(v in os.environ for v in LAUNCHER_VARIABLES)


def init() -> tuple[int, int]:
    """(rank, size): joins the MPI world when launched under MPI, else (0, 1). Under MPI
    an exception that reaches the top level aborts every rank, so the others do not
    wait forever in a collective for a rank that has gone."""
    if world() is not None:
        return rank(), size()
    if not launched_by_mpi():
        return 0, 1
    try:
        from mpi4py import MPI
    except ImportError:
        found = ", ".join(v for v in LAUNCHER_VARIABLES if v in os.environ)
        raise DistributedError(
            f"this process runs under an MPI launcher ({found} set) but mpi4py is not "
            "installed, so it cannot join the other ranks: pip install 'graphc[mpi]' "
            "(or mpi4py built against your MPI)") from None
    comm = MPI.COMM_WORLD
    set_world(comm)
    if comm.Get_size() > 1:
        _abort_on_uncaught_exception(comm)
    return comm.Get_rank(), comm.Get_size()


def rank() -> int:
    comm = world()
    return 0 if comm is None else comm.Get_rank()


def size() -> int:
    comm = world()
    return 1 if comm is None else comm.Get_size()


def is_root(root: int = 0) -> bool:
    """Whether this process is the one that prints and writes files."""
    return rank() == root


def abort(code: int = 1) -> None:
    """MPI_Abort: the launcher ends every rank (after a moment in which it forwards what
    this rank printed; MPICH's drops it otherwise)."""
    sys.stderr.flush()
    sys.stdout.flush()
    time.sleep(ABORT_GRACE_S)
    world().Abort(code)


def _abort_on_uncaught_exception(comm) -> None:
    """Print the traceback, then abort every rank."""
    previous = sys.excepthook

    def abort_all(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.write(f"graphc.distributed: rank {comm.Get_rank()} of {comm.Get_size()} "
                         f"raised {kind.__name__}; aborting every rank\n")
        abort(1)
    sys.excepthook = abort_all
