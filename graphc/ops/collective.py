"""`allreduce`: the average of a tensor over every process of the MPI world, the node
`gc.distributed.DistributedOptimizer` places between the backward pass and the update.

The world is the communicator `gc.distributed.init()` hands to `set_world`; before that
(or in a single process) there is one rank and allreduce is the identity. The numpy
backend reduces through mpi4py; compiled code calls MPI itself (lower/program.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Fusion, Node, OpDef, register
from .base import apply, as_tensor, require_float

_world = None
"""mpi4py's communicator once `gc.distributed.init()` ran under an MPI launcher."""


def set_world(comm) -> None:
    """The communicator allreduce nodes reduce over (None: a single process)."""
    global _world
    _world = comm


def world():
    return _world


def world_size() -> int:
    return 1 if _world is None else _world.Get_size()


@dataclass(frozen=True)
class MpiHandles:
    """What compiled code passes MPI_Allreduce: the datatype, MPI_SUM, the communicator
    and MPI_IN_PLACE, as the integers this process's MPI library uses (handles are ints
    in MPICH and pointers in Open MPI: `handle_bytes` says which width)."""
    datatype: int
    op: int
    comm: int
    in_place: int
    handle_bytes: int

    def describe(self) -> str:
        return (f"mpi(datatype={self.datatype:#x}, op={self.op:#x}, comm={self.comm:#x}, "
                f"in_place={self.in_place}, handle_bytes={self.handle_bytes})")


def mpi_handles(dtype) -> MpiHandles:
    """The world's handles for a sum of `dtype` values (read from mpi4py, never
    spelled out: they differ between MPI implementations)."""
    from mpi4py import MPI
    datatype = {"float32": MPI.FLOAT, "float64": MPI.DOUBLE}[dtype.name]
    return MpiHandles(MPI._handleof(datatype), MPI._handleof(MPI.SUM),
                      MPI._handleof(_world), int(MPI.IN_PLACE), MPI._sizeof(MPI.Comm))


class Allreduce(OpDef):
    name = "allreduce"
    lowering = "allreduce"
    fusion = Fusion.OPAQUE
    stateful = True      # a collective: every rank must call it, never folded or merged
    num_inputs = 1

    def infer(self, inputs, attrs):
        require_float(inputs[0], "allreduce's input (an average over ranks)")
        return inputs[0]

    def reference(self, node, x):
        out = np.array(x, copy=True)
        if _world is None or _world.Get_size() == 1:
            return out
        from mpi4py import MPI
        _world.Allreduce(MPI.IN_PLACE, out, op=MPI.SUM)
        return out / out.dtype.type(_world.Get_size())

    def grad(self, node, gy):
        # linear: the gradient of an average over ranks is the average of the gradients
        return [allreduce(gy)]


register(Allreduce())


def allreduce(x, name=None) -> Node:
    """The average of `x` over every rank (x itself in a single process)."""
    return apply("allreduce", [as_tensor(x)], name=name or "allreduce")
