"""The value of any node at an element, as a loop IR expression.

`ValueBuilder.value(node, index)` is how a fused kernel computes: a node that lives in
a buffer is loaded; a node computed inside the kernel is built from its inputs' values
by its OpDef — an elementwise op by its `scalar` rule (inputs broadcast numpy-style), a
data-movement op by its `element` rule (mapping the index back to its inputs'), a
reshape by reading its input at the same row-major position. Results are memoised per
(node, index), so a value used twice in a kernel is built once.
"""
from __future__ import annotations

from typing import Callable

from ..ir import Node
from .builder import B
from .indexing import broadcast_index, unravel
from .loopir import Expr, Load, Store, Unary, const, idx, linear_index, row_major_strides


class LoweringError(Exception):
    pass


class Checks:
    """Run-time conditions compiled code verifies (a label in range, ...): a failed one
    writes its code to the status buffer, and the runtime raises its message."""

    BUFFER = "status"

    def __init__(self):
        self.failures: list[tuple[Node, str]] = []

    def require(self, condition: Expr, node: Node, message: str):
        self.failures.append((node, message))
        return Store(self.BUFFER, idx(0), idx(len(self.failures)),
                     when=Unary("not", condition))


class ValueBuilder:
    """Builds element values for one kernel.

    buffer_of(node) -> buffer name, or None when the node is computed in the kernel;
    overrides: node -> function(index) for values the kernel provides itself (a
    reduction's accumulator, a template's output).
    """

    def __init__(self, buffer_of: Callable[[Node], str | None], rng_keys=None, checks=None):
        self.buffer_of = buffer_of
        self.rng_keys = rng_keys or {}     # random node -> buffer holding its draw's key
        self.checks = checks or Checks()
        self.overrides: dict[Node, Callable] = {}
        self._memo: dict[tuple, Expr] = {}

    def value(self, node: Node, index: tuple) -> Expr:
        key = (node.id, index)
        if key not in self._memo:
            self._memo[key] = self._build(node, tuple(index))
        return self._memo[key]

    def flat_value(self, node: Node, linear: Expr) -> Expr:
        """The element at row-major position `linear` of `node`."""
        buf = self.buffer_of(node)
        if buf is not None and node not in self.overrides:
            return Load(buf, linear, node.dtype)
        return self.value(node, unravel(linear, node.shape))

    def _build(self, node: Node, index: tuple) -> Expr:
        if node in self.overrides:
            return self.overrides[node](index)
        if node.op.name == "constant" and node.attrs["value"].size == 1:
            return const(node.attrs["value"].reshape(()).item(), node.dtype)   # an immediate
        buf = self.buffer_of(node)
        if buf is not None:
            return Load(buf, linear_index(index, row_major_strides(node.shape)), node.dtype)
        op = node.op
        if op.scalar is not None:
            return op.scalar(B, node, *[self.value(x, broadcast_index(index, node.shape, x.shape))
                                        for x in node.inputs])
        if op.row_major_view:
            x = node.inputs[0]
            return self.flat_value(x, linear_index(index, row_major_strides(node.shape)))
        if op.element is None:
            raise LoweringError(f"op '{op.name}' ({node.name}) cannot be computed inside a "
                                "fused kernel yet")
        return op.element(B, self, node, index)
