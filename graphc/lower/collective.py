"""Lowering of `allreduce` and `allreduce_bucket`: each input, divided by the number of
ranks, copied into its part of the node's buffer (one loop nest per input: a bucket is
packed at the cost of the copy a single allreduce makes anyway), then one in-place MPI
sum of that buffer (so the sum is the average)."""
from __future__ import annotations

import math

from ..ops.collective import mpi_handles, world_size
from .loopir import Binary, Store, add, const, idx, linear_index, mul, row_major_strides
from .nests import nest
from .routines import Allreduce
from .target import Target
from .values import LoweringError


def lower_allreduce(node, vb, names, out: str, target: Target) -> list:
    ranks = world_size()
    if ranks > 1 and not target.implements(Allreduce, node.dtype):
        raise LoweringError(
            f"op '{node.op.name}' ({node.name}) has no implementation on the {target.name} "
            "backend: its code does not call MPI; train data-parallel with "
            "backend='llvm' or 'numpy'")
    scale = const(1.0 / ranks, node.dtype)
    starts = [0]
    for x in node.inputs[:-1]:            # a bucket's inputs have static sizes
        starts.append(starts[-1] + x.type.num_elements)
    body = [s for x, start in zip(node.inputs, starts)
            for s in _scaled_copy(x, vb, names, out, start, scale)]
    if ranks == 1:
        return body
    return body + [Allreduce(out, _element_count(node.shape), mpi_handles(node.dtype))]


def _scaled_copy(x, vb, names, out: str, offset: int, scale) -> list:
    """out[offset + i] = x[i] · scale over x's elements in row-major order."""
    strides = row_major_strides(x.shape)
    return nest(names, x.shape, lambda i: [
        Store(out, add(idx(offset), linear_index(i, strides)),
              Binary("mul", vb.value(x, i), scale))], outer_kind="parallel")


def _element_count(shape):
    """Elements of a value whose leading size may be the symbolic batch k·N + c."""
    return mul(idx(shape[0]), idx(math.prod(shape[1:]))) if shape else idx(1)
