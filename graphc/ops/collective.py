"""`allreduce`: the average of a tensor over every process of the MPI world, the node
`gc.distributed.DistributedOptimizer` places between the backward pass and the update;
`allreduce_bucket`: the same for several tensors at once, flattened end to end into one
vector, so that they share one MPI call (one latency) instead of paying one each.

The world is the communicator `gc.distributed.init()` hands to `set_world`; before that
(or in a single process) there is one rank and allreduce is the identity. The numpy
backend reduces through mpi4py; compiled code calls MPI itself (lower/program.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, dtype_error, register, shape_error
from .base import apply, as_tensor, require_float
from .shape import reshape, split

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
        return _average(np.array(x, copy=True))

    def grad(self, node, gy):
        # linear: the gradient of an average over ranks is the average of the gradients
        return [allreduce(gy)]


register(Allreduce())


class AllreduceBucket(OpDef):
    """The inputs, flattened and concatenated (one dtype, static shapes), averaged over
    the ranks by one allreduce. Compiled code copies each input into its part of the
    bucket (times 1/size), then calls MPI once."""
    name = "allreduce_bucket"
    lowering = "allreduce"
    fusion = Fusion.OPAQUE
    stateful = True

    def infer(self, inputs, attrs):
        if not inputs:
            raise shape_error("allreduce_bucket needs at least one tensor")
        for t in inputs:
            require_float(t, "allreduce_bucket's inputs (averages over ranks)")
            if t.dtype != inputs[0].dtype:
                raise dtype_error(f"allreduce_bucket's inputs share one dtype: {t} among "
                                  f"{inputs[0].dtype.name} tensors")
            if not isinstance(t.num_elements, int):
                raise shape_error(f"allreduce_bucket's inputs need static shapes, got {t}")
        return TensorType(inputs[0].dtype, (sum(t.num_elements for t in inputs),))

    def reference(self, node, *xs):
        return _average(np.concatenate([np.ravel(x) for x in xs]))

    def grad(self, node, gy):
        parts = split(allreduce(gy), [x.type.num_elements for x in node.inputs])
        return [reshape(p, x.shape) for p, x in zip(parts, node.inputs)]


register(AllreduceBucket())


def _average(values: np.ndarray) -> np.ndarray:
    """`values` (a fresh array) summed over the ranks in place, then divided by their count."""
    if _world is None or _world.Get_size() == 1:
        return values
    from mpi4py import MPI
    _world.Allreduce(MPI.IN_PLACE, values, op=MPI.SUM)
    return values / values.dtype.type(_world.Get_size())


def allreduce(x, name=None) -> Node:
    """The average of `x` over every rank (x itself in a single process)."""
    return apply("allreduce", [as_tensor(x)], name=name or "allreduce")


def allreduce_bucket(tensors, name=None) -> Node:
    """The average over every rank of `tensors` flattened and concatenated, as one vector
    (one MPI call for all of them); their own shapes come back with split + reshape."""
    return apply("allreduce_bucket", [as_tensor(t) for t in tensors],
                 name=name or "allreduce_bucket")
