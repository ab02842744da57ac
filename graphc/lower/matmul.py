"""matmul as GEMM routine calls, one per matrix of the (broadcast) batch."""
from __future__ import annotations

from .loopir import Loop, idx, linear_index, row_major_strides
from .nests import Names
from .routines import Gemm


def lower_matmul(node, buffer_of, out_buffer: str, names: Names, beta: float = 0.0,
                 alpha: float = 1.0) -> list:
    """A GEMM call per batch element (batch axes broadcast): out = alpha·a·b + beta·out."""
    a, b = node.inputs
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    m, n = node.shape[-2:]
    k = a.shape[-1] if not ta else a.shape[-2]
    lda, ldb = a.shape[-1], b.shape[-1]
    batch = node.shape[:-2]

    def offsets(x, index):
        """Element offset of matrix `index` of x's (broadcast) batch."""
        lead = len(batch) - (x.rank - 2)
        strides = row_major_strides(x.shape)[:-2]
        own = [index[lead + i] if d != 1 else idx(0) for i, d in enumerate(x.shape[:-2])]
        return linear_index(own, strides)

    def call(index):
        return [Gemm(buffer_of(a), offsets(a, index), buffer_of(b), offsets(b, index),
                     out_buffer, linear_index(index, row_major_strides(node.shape)[:-2]),
                     m, n, k, lda, ldb, n, ta, tb, beta, alpha)]

    variables = [names.var("bt") for _ in batch]
    body = call(tuple(variables))
    for v, d in reversed(list(zip(variables, batch))):
        body = [Loop(v, idx(d), body, "serial")]
    return body
