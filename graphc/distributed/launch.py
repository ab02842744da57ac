"""Starting a graphc command on several ranks of this machine: `graphc demo --ranks 2`
runs `mpiexec -n 2 python -m graphc demo ...` itself, so trying data-parallel training
takes no knowledge of MPI launchers."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .world import DistributedError

INSTALL = "pip install 'graphc[mpi]' (mpi4py and the mpich wheel, which brings mpiexec)"


def mpiexec() -> str:
    """The launcher of the MPI that mpi4py uses: the one installed next to this Python
    (the mpich wheel's) first, else the first on PATH; a DistributedError naming what to
    install when mpi4py or a launcher is missing."""
    try:
        import mpi4py  # noqa: F401 - only whether it is there
    except ImportError:
        raise DistributedError(f"training on several ranks needs mpi4py: {INSTALL}") from None
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise DistributedError(f"training on several ranks needs an MPI launcher "
                               f"(mpiexec), found neither beside {sys.executable} nor on "
                               f"PATH: {INSTALL}")
    return found


def run_on_ranks(ranks: int, arguments: list[str]) -> int:
    """`python -m graphc ARGUMENTS` on `ranks` processes of this machine; its exit status.
    Each rank's thread pool gets its share of the cores (GRAPHC_NUM_THREADS, unless set),
    so the ranks do not fight over them."""
    if ranks < 1:
        raise DistributedError(f"--ranks must be at least 1, got {ranks}")
    env = dict(os.environ)
    env.setdefault("GRAPHC_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // ranks)))
    command = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "graphc", *arguments]
    return subprocess.run(command, env=env).returncode
