"""Lowering of `allreduce`: the value, divided by the number of ranks, copied into its
buffer, then one in-place MPI sum of that buffer (so the sum is the average)."""
from __future__ import annotations

import math

from ..ops.collective import mpi_handles, world_size
from .loopir import Binary, Store, const, idx, linear_index, mul, row_major_strides
from .nests import nest
from .routines import Allreduce
from .target import Target
from .values import LoweringError


def lower_allreduce(node, vb, names, out: str, target: Target) -> list:
    ranks = world_size()
    if ranks > 1 and not target.implements(Allreduce, node.dtype):
        raise LoweringError(
            f"op 'allreduce' ({node.name}) has no implementation on the {target.name} "
            "backend: its code does not call MPI; train data-parallel with "
            "backend='llvm' or 'numpy'")
    scale = const(1.0 / ranks, node.dtype)
    strides = row_major_strides(node.shape)
    copy = nest(names, node.shape, lambda i: [
        Store(out, linear_index(i, strides), Binary("mul", vb.value(node.inputs[0], i),
                                                    scale))],
        outer_kind="parallel")
    if ranks == 1:
        return copy
    return copy + [Allreduce(out, _element_count(node.shape), mpi_handles(node.dtype))]


def _element_count(shape):
    """Elements of a value whose leading size may be the symbolic batch k·N + c."""
    return mul(idx(shape[0]), idx(math.prod(shape[1:]))) if shape else idx(1)
