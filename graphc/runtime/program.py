"""Which nodes a run needs, and the feeds it must have, checked before any work."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import FeedError, Graph, Node


@dataclass(frozen=True)
class Program:
    """The subgraph that computes `fetches` given values for `feeds`, in run order."""

    graph: Graph
    fetches: tuple[Node, ...]
    feeds: tuple[Node, ...]
    nodes: tuple[Node, ...]

    @classmethod
    def build(cls, graph: Graph, fetches, feeds) -> "Program":
        fetches, feeds = tuple(fetches), tuple(feeds)
        fed = set(feeds)
        needed, stack = set(), list(fetches)
        while stack:                      # stop at fed tensors: their inputs are not needed
            n = stack.pop()
            if n.id in needed:
                continue
            needed.add(n.id)
            if n not in fed:
                stack.extend(n.inputs)
            stack.extend(n.control_inputs)
        nodes = tuple(n for n in graph.nodes if n.id in needed)
        for n in nodes:
            if n.op.name == "placeholder" and n not in fed:
                user = _first_fetch_needing(n, fetches)
                raise FeedError(f"placeholder {n.describe()} must be fed: fetch '{user.name}' "
                                "depends on it (pass it in feed_dict)")
        return cls(graph, fetches, feeds, nodes)


def _first_fetch_needing(placeholder: Node, fetches) -> Node:
    for f in fetches:
        if any(a is placeholder for a in f.graph.ancestors([f])):
            return f
    return fetches[0]
