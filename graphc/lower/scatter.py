"""The scatter template: the result starts as a copy of the data, then each update row
is combined into the row its index names, one after another (serial: indices may
repeat, and the last write or every contribution must count as in the reference)."""
from __future__ import annotations

from ..ir import int64
from .indexing import clamp
from .loopir import (Binary, Cast, Compare, Load, Select, Store, idx, linear_index,
                     row_major_strides)
from .nests import Names, nest

COMBINE = {"add": "add", "mul": "mul", "max": "max", "min": "min"}   # loop-IR ops


def lower_scatter_rows(node, vb, names: Names, out_buffer: str) -> list:
    data, indices, updates = node.inputs
    n = data.shape[0]
    strides = row_major_strides(node.shape)
    reduction = node.attrs["reduction"]

    def copy(index):
        return [Store(out_buffer, linear_index(index, strides), vb.value(data, index))]

    def combine(index):
        k = Cast(vb.value(indices, index[:1]), int64)
        k = Select(Compare("lt", k, idx(0)), Binary("add", k, idx(n)), k)
        at = linear_index((clamp(k, n),) + tuple(index[1:]), strides)
        value = vb.value(updates, index)
        if reduction != "update":
            value = Binary(COMBINE[reduction], Load(out_buffer, at, node.dtype), value)
        return [Store(out_buffer, at, value)]
    return nest(names, node.shape, copy, outer_kind="parallel", middle_kind="parallel") + \
        nest(names, updates.shape, combine, inner_kind="serial")
