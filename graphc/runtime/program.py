"""Program: what one `run` computes — fetched outputs and variable updates — and every
node they need, in run order. Passes rewrite a Program into an optimised one."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..ir import FeedError, Graph, Node

ASSIGN_OPS = ("assign", "assign_add", "assign_sub")
CUT_OPS = ("placeholder_with_default",)   # replaced before a run (runtime/cut.py)
EFFECT_OPS = ("print",)        # run whenever the run needs them, even if folding drops users


@dataclass(frozen=True)
class Program:
    """`outputs` and `updates` (assign nodes) are the roots; `feeds` / `variables` map the
    user's placeholders / variables to their nodes in `graph` (the same nodes until a
    pass copies the program into a graph of its own)."""

    graph: Graph
    outputs: tuple[Node, ...]
    updates: tuple[Node, ...]
    feeds: dict[Node, Node]
    variables: dict[Node, Node]
    nodes: tuple[Node, ...]
    annotations: dict[str, Any] = field(default_factory=dict)  # kernels, memory plan, ...
    effects: tuple[Node, ...] = ()   # side effects the run must perform (gc.print)
    fetched: tuple[Node, ...] | None = None  # the user's nodes behind `outputs`, when a
    #                                          cut copied them (None: `outputs` are)

    @property
    def user_outputs(self) -> tuple[Node, ...]:
        """The user's fetched nodes, in the order of `outputs`."""
        return self.outputs if self.fetched is None else self.fetched

    @property
    def is_bound_to_user_nodes(self) -> bool:
        """Whether its feeds and variables are the user's own nodes (no binding needed)."""
        return all(u is n for u, n in (*self.feeds.items(), *self.variables.items()))

    @classmethod
    def build(cls, graph: Graph, fetches, feeds) -> "Program":
        """The nodes `fetches` need through data and control edges; every placeholder
        among them must be fed. A fed tensor that is not a placeholder (TF1 feeds any
        tensor), and a placeholder_with_default, make a program in a graph of its own
        (`cut_at_feeds`)."""
        fetches, feeds = tuple(fetches), tuple(feeds)
        fed = set(feeds)
        needed, stack = set(), list(fetches)
        while stack:
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
                raise FeedError(f"{n.describe()} must be fed: fetch '{user.name}' "
                                "depends on it (pass it in feed_dict)")
        updates = tuple(n for n in nodes if n.op.name in ASSIGN_OPS)
        _check_single_writer(updates)
        effects = tuple(n for n in nodes if n.op.name in EFFECT_OPS)
        variables = {n: n for n in nodes if n.op.name == "variable"}
        program = cls(graph, fetches, updates, {f: f for f in feeds}, variables, nodes,
                      effects=effects)
        if any(n.op.name in CUT_OPS or (n in fed and n.op.name != "placeholder")
               for n in nodes):
            from .cut import cut_at_feeds
            return cut_at_feeds(program)
        return program

    @property
    def roots(self) -> tuple[Node, ...]:
        return tuple(dict.fromkeys(self.outputs + self.updates + self.effects))

    def with_changes(self, **changes) -> "Program":
        return replace(self, **changes)

    def bind(self, feeds: dict[Node, np.ndarray], variables: dict[Node, np.ndarray]):
        """Key run inputs given for the user's nodes by this program's nodes (feeds are
        checked against, and converted to, the program's placeholders)."""
        from .feeds import convert_feed
        return ({self.feeds[k]: convert_feed(self.feeds[k], v) for k, v in feeds.items()
                 if k in self.feeds},
                {node: variables[user] for user, node in self.variables.items()
                 if user in variables})

    def user_writes(self, writes: dict[Node, np.ndarray]) -> dict[Node, np.ndarray]:
        """Variable writes keyed by the user's variables again."""
        back = {node: user for user, node in self.variables.items()}
        return {back[node]: value for node, value in writes.items()}

    def format(self, locations: bool = True) -> str:
        from ..ir.printer import format_graph
        roots = ", ".join(f"%{n.name}" for n in self.roots)
        return f"{format_graph(self.nodes, locations)}\n// roots: {roots}"

    def __str__(self) -> str:
        return self.format()


def _check_single_writer(updates) -> None:
    writer: dict[Node, Node] = {}
    for u in updates:
        var = u.inputs[0]
        if var in writer:
            from ..ir import GraphcError
            raise GraphcError(
                f"variable '{var.name}' is assigned twice in one run: by "
                f"{writer[var].describe()} and by {u.describe()}; chain the updates or run "
                "them separately")
        writer[var] = u


def _first_fetch_needing(placeholder: Node, fetches) -> Node:
    for f in fetches:
        if any(a is placeholder for a in f.graph.ancestors([f])):
            return f
    return fetches[0]
