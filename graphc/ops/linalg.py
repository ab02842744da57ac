"""Matrix multiplication: 2-D and batched, with transpose_a / transpose_b attributes.

The transposes are attributes rather than separate nodes so the backward products
(dA = dC·Bᵀ, dB = Aᵀ·dC) are single matmuls that a GEMM kernel reads in place.
"""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, register
from ..ir.errors import dtype_error, shape_error
from .base import apply, as_tensors_like, broadcast_shapes, same_dtype


class MatMul(OpDef):
    name = "matmul"
    lowering = "matmul"
    fusion = Fusion.OUT_ELEMWISE_FUSABLE
    broadcasts = True  # leading batch axes
    num_inputs = 2

    def printed_attrs(self, attrs):
        return {k: v for k, v in attrs.items() if v}

    def infer(self, inputs, attrs):
        a, b = inputs
        dtype = same_dtype(inputs, "matmul operands")
        if dtype.is_bool:
            raise dtype_error("matmul does not take bool operands")
        if a.rank < 2 or b.rank < 2:
            raise shape_error(f"matmul needs operands of rank >= 2, got {a} and {b}")
        m, ka = a.shape[-2:][::-1] if attrs["transpose_a"] else a.shape[-2:]
        kb, n = b.shape[-2:][::-1] if attrs["transpose_b"] else b.shape[-2:]
        if ka is not None and kb is not None and ka != kb:
            raise shape_error(f"inner dimensions do not match: {a} @ {b} ({ka} != {kb})")
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return TensorType(dtype, batch + (m, n))

    def reference(self, node, a, b):
        if node.attrs["transpose_a"]:
            a = np.swapaxes(a, -1, -2)
        if node.attrs["transpose_b"]:
            b = np.swapaxes(b, -1, -2)
        return np.matmul(a, b).astype(node.dtype.np_type, copy=False)

    def grad(self, node, gy):
        a, b = node.inputs
        ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
        if not ta and not tb:      # C = A B
            return [matmul(gy, b, transpose_b=True), matmul(a, gy, transpose_a=True)]
        if ta and not tb:          # C = Aᵀ B
            return [matmul(b, gy, transpose_b=True), matmul(a, gy)]
        if not ta and tb:          # C = A Bᵀ
            return [matmul(gy, b), matmul(gy, a, transpose_a=True)]
        return [matmul(b, gy, transpose_a=True, transpose_b=True),   # C = Aᵀ Bᵀ
                matmul(gy, a, transpose_a=True, transpose_b=True)]


register(MatMul())


def matmul(a, b, transpose_a=False, transpose_b=False, name=None) -> Node:
    """a @ b over the last two axes; leading (batch) axes broadcast."""
    a, b = as_tensors_like(a, b)
    return apply("matmul", [a, b], name=name, transpose_a=bool(transpose_a),
                 transpose_b=bool(transpose_b))
