"""What the LLVM renderer tells LLVM about each loop (`!llvm.loop` options).

LLVM's pipeline fully unrolls short constant loops before it vectorises. For the loop
IR's vector loops that is the wrong order: the 16 lanes of a channel loop become 16
scalar copies, and the loop vectoriser then vectorises the loop around them with gathers
and scatters (a 2×2 max pool over 16 channels took 140 µs instead of 23). So a vector
loop reaches the vectoriser whole, the loops around it stay loops, and rows of fixed
serial loops are not vectorised across.
"""
from __future__ import annotations

import llvmlite.ir as ir

from ...lower.access import accessed_indices, stride_in
from ...lower.loopir import Const, Loop

UNROLL_OFF = ("llvm.loop.unroll.disable",)
NOT_ACROSS = (("llvm.loop.vectorize.enable", False),)

MIN_VECTOR_TRIPS = 16
"""A vector loop of fewer iterations is left to LLVM's unroller: the loop vectoriser
declines trip counts under 16, and unrolled, such a loop is work the SLP vectoriser and
the loop around it vectorise well (a 6-channel bias and ReLU: 2x slower kept whole)."""


def loop_hints(loop: Loop) -> tuple:
    """LLVM loop options of a loop-IR loop: option names, or (name, flag) pairs.

    - A vector loop kept whole (`_kept_vector`): no unrolling before the vectoriser.
    - A loop around such a loop: no unrolling (copies of vector code, compile time for
      nothing).
    - A loop around serial loops of fixed length (a softmax row's reductions): not
      vectorised across rows, which would run the unrolled rows 16 at a time as scalar
      library calls — a large compile for little.
    """
    if _kept_vector(loop) or _contains(loop.body, _kept_vector):
        return UNROLL_OFF
    if loop.kind != "vector" and _contains(loop.body, _fixed_serial):
        return NOT_ACROSS
    return ()


def _kept_vector(loop: Loop) -> bool:
    """A vector loop whose accesses are all contiguous or invariant in its index (plain
    vector loads and stores; a clamped or strided index would be gathers), and that is
    long enough or holds inner loops (which the unroller flattens into its body)."""
    if loop.kind != "vector":
        return False
    short = isinstance(loop.extent, Const) and loop.extent.value < MIN_VECTOR_TRIPS
    if short and not any(isinstance(s, Loop) for s in loop.body):
        return False
    return all(stride_in(index, loop.var) in (0, 1) for index in accessed_indices(loop.body))


def _fixed_serial(loop: Loop) -> bool:
    return loop.kind != "vector" and isinstance(loop.extent, Const)


def _contains(body, predicate) -> bool:
    return any(isinstance(s, Loop) and (predicate(s) or _contains(s.body, predicate))
               for s in body)


class _LoopID(ir.values.MDValue):
    """A distinct, self-referencing metadata node: what LLVM takes as a loop's identity."""

    def descr(self, buf):
        buf.append("distinct ")
        super().descr(buf)


def loop_id(module: ir.Module, hints: tuple):
    """The `!llvm.loop` node carrying `hints` (names, or (name, flag) pairs)."""
    options = [module.add_metadata([ir.MetaDataString(module, h)]) if isinstance(h, str) else
               module.add_metadata([ir.MetaDataString(module, h[0]),
                                    ir.Constant(ir.IntType(1), h[1])])
               for h in hints]
    node = _LoopID(module, [], name=str(len(module.metadata)))
    node.operands = (node, *options)
    return node
