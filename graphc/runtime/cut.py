"""Cutting a program at its feeds: TF1 lets a run feed any tensor, not only placeholders.

A fed tensor's value replaces whatever computes it, so the program is copied into a
graph of its own where each fed tensor is a placeholder of its type and nothing above it
is kept. A `placeholder_with_default` becomes that placeholder when fed, and its default
input when not — so no backend ever sees one. The copy keeps names, source lines and
backward markers; feeds and variables stay keyed by the user's nodes (`Program.bind`),
and `fetched` says which user node each output stands for.
"""
from __future__ import annotations

from ..ir import Graph, Node
from .program import CUT_OPS, Program


def cut_at_feeds(program: Program) -> Program:
    graph = Graph()
    fed = set(program.feeds)
    mapping: dict[Node, Node] = {}
    with graph.as_default():
        for node in program.nodes:
            with graph.provenance(node.location, node.grad_of), graph.within_scope(""):
                if node in fed:
                    mapping[node] = _placeholder_for(graph, node)
                elif node.op.name in CUT_OPS:
                    mapping[node] = mapping[node.inputs[0]]
                else:
                    controls = [mapping[c] for c in node.control_inputs if c in mapping]
                    with graph.control_dependencies(controls):
                        mapping[node] = graph.create_node(
                            node.op.name, [mapping[x] for x in node.inputs], dict(node.attrs),
                            name=node.name)
    outputs = tuple(mapping[n] for n in program.outputs)
    updates = tuple(mapping[n] for n in program.updates)
    effects = tuple(mapping[n] for n in program.effects)
    return program.with_changes(
        graph=graph, outputs=outputs, updates=updates, effects=effects,
        nodes=tuple(graph.ancestors(outputs + updates + effects)),
        feeds={user: mapping[user] for user in program.feeds},
        variables={user: mapping[user] for user in program.variables if user not in fed},
        fetched=program.outputs)


def _placeholder_for(graph: Graph, node: Node) -> Node:
    """A placeholder standing for a fed tensor; a placeholder_with_default keeps its
    declared shape, so a value of another batch size may be fed."""
    shape = node.attrs["shape"] if node.op.name in CUT_OPS else node.shape
    return graph.create_node("placeholder", (), {"dtype": node.dtype, "shape": shape},
                             name=node.name)
