"""Common-subexpression elimination by structural hashing: two nodes with the same op,
the same (already merged) inputs and equal attrs are one. Stateful ops — variables,
assignments, random draws — are never merged: two dropout masks must stay two."""
from __future__ import annotations

import numpy as np

from ..ir import get_default_graph
from .rewrite import copy_node, rebuild


def attrs_key(attrs: dict) -> tuple:
    return tuple(sorted((k, _hashable(v)) for k, v in attrs.items()))


def _hashable(value):
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, tuple):
        return tuple(_hashable(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


class CommonSubexpressions:
    name = "cse"

    def run(self, program):
        seen: dict[tuple, object] = {}
        merged = 0

        def merge(node, inputs):
            nonlocal merged
            if node.op.stateful or node.op.name in ("placeholder", "no_op"):
                return None
            key = (node.op.name, tuple(x.id for x in inputs), attrs_key(node.attrs))
            if key in seen:
                merged += 1
                return seen[key]
            seen[key] = copy_node(get_default_graph(), node, inputs)
            return seen[key]

        new, _ = rebuild(program, merge)
        return new, {"merged": merged}
