"""TF1's tf.bitcast between dtypes of one size (float32 ↔ int32, float64 ↔ int64): the
same bits read as the other type. Shapes never change (TF1's size-changing bitcasts add
or drop an axis; graphc refuses them). Not differentiable."""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, as_dtype, register
from ..ir.errors import dtype_error
from .base import apply, as_tensor


class Bitcast(OpDef):
    name = "bitcast"
    fusion = Fusion.ELEMWISE
    num_inputs = 1

    def infer(self, inputs, attrs):
        (x,), to = inputs, attrs["type"]
        size = np.dtype(x.dtype.np_type).itemsize
        if x.dtype.is_bool or to.is_bool or size != np.dtype(to.np_type).itemsize:
            raise dtype_error(f"bitcast from {x} to {to.name}: graphc bitcasts between "
                              "non-bool dtypes of one size (float32/int32, float64/int64)")
        return TensorType(to, x.shape)

    def reference(self, node, x):
        return np.asarray(x).view(node.dtype.np_type)   # one size: any strides view

    def scalar(self, b, node, x):
        return x if node.dtype == node.inputs[0].dtype else b.bitcast(x, node.dtype)

    def grad(self, node, gy):
        return [None]


register(Bitcast())


def bitcast(input, type, name=None) -> Node:  # noqa: A002 - TF1 names
    """input's bits read as `type` (a dtype of the same size)."""
    return apply("bitcast", [as_tensor(input)], name=name, type=as_dtype(type))
