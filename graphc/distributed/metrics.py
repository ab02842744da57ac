"""Metrics averaged over the ranks: a loss each rank computed on its own shard becomes
the loss of the whole global batch, the same number on every rank (so decisions taken
on it, such as stopping on a NaN, are taken by every rank at the same step)."""
from __future__ import annotations

import numpy as np

from ..ops.collective import world


def average(values):
    """The mean over ranks of a number or a sequence of numbers (as float64)."""
    comm = world()
    data = np.array(values, dtype=np.float64)
    if comm is not None and comm.Get_size() > 1:
        from mpi4py import MPI
        comm.Allreduce(MPI.IN_PLACE, data, op=MPI.SUM)
        data /= comm.Get_size()
    return float(data) if data.ndim == 0 else data
