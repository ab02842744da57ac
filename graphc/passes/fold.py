"""Constant folding: evaluate nodes whose inputs are all constants — or known only
for their shape (`fill_like`, `size`, the `*_like` ops) once that shape is concrete.

Results larger than `max_elements` stay as ops: materialising a huge constant would
store it twice (as data in the program and as a buffer), while the op costs nothing to
recompute inside a fused kernel.
"""
from __future__ import annotations

import numpy as np

from ..ops.state import constant
from .rewrite import is_constant, rebuild

NEVER_FOLDED = ("placeholder", "variable", "constant", "no_op")


class FoldConstants:
    name = "fold"

    def __init__(self, max_elements: int = 1 << 16):
        self.max_elements = max_elements

    def run(self, program):
        folded = 0
        if not any(self._inputs_known(node, node.inputs) for node in program.nodes):
            return program, {"folded": 0}    # nothing to fold: no rebuild

        def fold(node, inputs):
            nonlocal folded
            values = self._inputs_known(node, inputs)
            if values is None:
                return None
            try:
                value = np.asarray(node.op.reference(node, *values), dtype=node.dtype.np_type)
            except (ValueError, IndexError, TypeError, FloatingPointError):
                return None        # left for the run to fail on, with the node named
            folded += 1
            return constant(value, name=node.name.rpartition("/")[2])   # in its scope

        new, _ = rebuild(program, fold)
        return new, {"folded": folded}

    def _inputs_known(self, node, inputs) -> list | None:
        """The values of a foldable node's inputs (zeros of the right shape for inputs
        that count only for their shape), or None when it cannot be folded."""
        if node.op.stateful or node.op.name in NEVER_FOLDED:
            return None
        if not node.type.is_static or node.type.num_elements > self.max_elements:
            return None
        values = []
        for i, x in enumerate(inputs):
            if is_constant(x):
                values.append(x.attrs["value"])
            elif i in node.op.shape_only_inputs and x.type.is_static:
                values.append(np.broadcast_to(np.zeros((), x.dtype.np_type), x.shape))
            else:
                return None
        return values
