"""Copy a program into a graph of its own with the feeds' concrete shapes.

After this pass every type is fully known, so later passes can turn run-time-shape
ops (`*_like`, `size`) into static ones, and the backends can size every buffer.
Control edges are dropped: the variable updates they led to are roots of the program,
and reads see the values at the start of the run whatever the order.
"""
from __future__ import annotations

from ..ir import FeedError, get_default_graph
from ..ir.types import normalize_shape, shape_compatible
from .memory import naive_bytes
from .rewrite import copy_node, rebuild


class Specialize:
    name = "specialize"

    def __init__(self, feed_shapes: dict):
        self.feed_shapes = {k: normalize_shape(v) for k, v in feed_shapes.items()}

    def run(self, program):
        shapes = {}
        for user, node in program.feeds.items():
            shape = self.feed_shapes.get(user, node.shape)
            if None in shape or not shape_compatible(shape, node.shape):
                raise FeedError(f"{user.describe()} of type {node.type} cannot be "
                                f"specialised to shape {shape}")
            shapes[node] = shape

        def concrete(node, inputs):
            if node.op.name == "placeholder":
                return copy_node(get_default_graph(), node, [],
                                 dict(node.attrs, shape=shapes[node]))
            if node.op.stateful and "seed" in node.attrs and "rng_key" not in node.attrs:
                # random ops keep drawing the stream of the node they copy
                return copy_node(get_default_graph(), node, inputs,
                                 dict(node.attrs, rng_key=node.name))
            return None

        new, _ = rebuild(program, concrete)
        naive = naive_bytes(new)
        new = new.with_changes(annotations={**new.annotations, "naive_bytes": naive})
        return new, {"naive bytes": naive}


class Prune:
    """Copy only what the roots need into a graph of the program's own."""

    name = "prune"

    def run(self, program):
        before = len(program.graph.nodes)
        new, _ = rebuild(program)
        return new, {"graph nodes": before, "kept": len(new.nodes)}
