"""`allreduce`: the average of a tensor over every process of the MPI world, the node
`gc.distributed.DistributedOptimizer` places between the backward pass and the update.

The world is the communicator `gc.distributed.init()` hands to `set_world`; before that
(or in a single process) there is one rank and allreduce is the identity. The numpy
backend reduces through mpi4py; compiled code calls MPI itself (lower/program.py)."""
from __future__ import annotations

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
