"""Tensors made from shapes and numbers (TF1's shape, size, rank, range, zeros, ones,
fill).

`shape` is an op, because a dimension may be known only at run time (the batch); the
rest are constants, or a broadcast of a tensor value, since their shapes are given as
Python numbers.
"""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, as_dtype, float32, int32, register
from ..ir.errors import dtype_error
from .base import apply, as_tensor
from .reduce import size as _count
from .shape import broadcast_to
from .state import constant


class Shape(OpDef):
    """The run-time shape of x as a 1-D integer tensor."""

    name = "shape"
    num_inputs = 1
    shape_only_inputs = (0,)
    fusion = Fusion.INJECTIVE

    def infer(self, inputs, attrs):
        if not attrs["dtype"].is_integer:
            raise dtype_error(f"shape's out_type must be an integer type, got "
                              f"{attrs['dtype'].name}")
        return TensorType(attrs["dtype"], (inputs[0].rank,))

    def reference(self, node, x):
        return np.asarray(x.shape, dtype=node.dtype.np_type)

    def element(self, b, vb, node, index):
        """Dimension `index` of x: a constant or, in a batch-polymorphic program, an
        expression of N, picked by comparing the index with each axis."""
        dims = node.inputs[0].shape
        value = b.const(dims[-1], node.dtype)
        for axis in range(len(dims) - 2, -1, -1):
            value = b.select(b.compare("eq", index[0], b.index(axis)),
                             b.const(dims[axis], node.dtype), value)
        return value

    def grad(self, node, gy):
        return [None]


register(Shape())


def shape(input, out_type=int32, name=None) -> Node:  # noqa: A002 - TF1 names
    """The shape of `input` at run time, as a 1-D tensor (int32 by default, as TF1)."""
    return apply("shape", [as_tensor(input)], name=name, dtype=as_dtype(out_type))


def size(input, name=None, out_type=int32) -> Node:  # noqa: A002 - TF1 names
    """The number of elements of `input` at run time (int32 by default, as TF1)."""
    return _count(input, None, out_type, name=name)


def rank(input, name=None) -> Node:  # noqa: A002 - TF1 names
    """The number of axes (known when the graph is built): an int32 scalar constant."""
    return constant(as_tensor(input).rank, int32, name=name or "Rank")


def range(start, limit=None, delta=1, dtype=None, name="range") -> Node:  # noqa: A001
    """start, start + delta, ... up to (not including) limit, as numpy's arange; int32
    for integer arguments and float32 for float ones unless `dtype` says otherwise."""
    if limit is None:
        start, limit = 0, start
    values = np.arange(start, limit, delta)
    if dtype is None:
        dtype = int32 if values.dtype.kind in "iu" else float32
    return constant(values, as_dtype(dtype), name=name)


def zeros(shape, dtype=float32, name=None) -> Node:  # noqa: A002
    return constant(np.zeros(_dims(shape), as_dtype(dtype).np_type), name=name or "zeros")


def ones(shape, dtype=float32, name=None) -> Node:
    return constant(np.ones(_dims(shape), as_dtype(dtype).np_type), name=name or "ones")


def eye(num_rows, num_columns=None, batch_shape=None, dtype=float32, name=None,
        k=0) -> Node:
    """The identity matrix (TF1's tf.eye), num_rows x num_columns (square when None),
    repeated over `batch_shape`; `k` (numpy's) shifts the ones above (> 0) or below
    (< 0) the main diagonal."""
    m = int(num_rows)
    n = m if num_columns is None else int(num_columns)
    matrix = np.eye(m, n, int(k), dtype=as_dtype(dtype).np_type)
    if batch_shape is not None:
        matrix = np.broadcast_to(matrix, _dims(batch_shape) + (m, n)).copy()
    return constant(matrix, name=name or "eye")


def fill(dims, value, name=None) -> Node:
    """A tensor of shape `dims` filled with `value` (a number, or a scalar tensor)."""
    if isinstance(value, Node):
        return broadcast_to(value, _dims(dims), name=name or "Fill")
    return constant(np.full(_dims(dims), value), name=name or "Fill")


def _dims(shape) -> tuple[int, ...]:
    if isinstance(shape, Node):
        raise TypeError(f"a shape given as tensor '{shape.name}' is not supported: give a "
                        "list of ints (or use gc.zeros_like / gc.ones_like)")
    return (int(shape),) if isinstance(shape, int | np.integer) else \
        tuple(int(d) for d in shape)
