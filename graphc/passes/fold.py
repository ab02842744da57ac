"""Constant folding: evaluate nodes whose inputs are all constants, and ops that only
look at shapes (`fill_like`, `size`) once those shapes are known.

Results larger than `max_elements` stay as ops: materialising a huge constant would
store it twice (as data in the program and as a buffer), while the op costs nothing to
recompute inside a fused kernel.
"""
from __future__ import annotations

import numpy as np

from ..ops.state import constant
from .rewrite import is_constant, rebuild

SHAPE_ONLY_OPS = ("fill_like", "size")
NEVER_FOLDED = ("placeholder", "variable", "constant", "no_op")


class FoldConstants:
    name = "fold"

    def __init__(self, max_elements: int = 1 << 16):
        self.max_elements = max_elements

    def run(self, program):
        folded = 0

        def fold(node, inputs):
            nonlocal folded
            if node.op.stateful or node.op.name in NEVER_FOLDED:
                return None
            size = node.type.num_elements
            if size is None or size > self.max_elements:
                return None
            if node.op.name in SHAPE_ONLY_OPS:
                if not all(x.type.is_fully_defined for x in inputs):
                    return None
                values = [np.zeros(x.shape, x.dtype.np_type) for x in inputs]
            elif all(is_constant(x) for x in inputs):
                values = [x.attrs["value"] for x in inputs]
            else:
                return None
            folded += 1
            value = np.asarray(node.op.reference(node, *values), dtype=node.dtype.np_type)
            return constant(value, name=node.name)

        new, _ = rebuild(program, fold)
        return new, {"folded": folded}
