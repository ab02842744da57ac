"""Rebuilding a program into a fresh graph, node by node, with optional local rewrites.

Every pass that changes nodes goes through `rebuild`: it walks the program in order,
maps each node's inputs to their rebuilt versions, asks the rule for a replacement
(None means "no change": the node is copied), and finally keeps only what the roots
still need. Copies go through Graph.create_node, so every type is inferred again: a
rewrite that breaks a shape fails where it happens. Copies keep the name, the source
location and the backward marker (which keeps pointing at the user's forward node); a
replacement the rule makes takes the name the user gave the node it replaces, and every
node it makes lives in that node's name scope.
"""
from __future__ import annotations

from typing import Callable

from ..ir import Graph, Node
from ..runtime.program import Program

DERIVED = ("kernels", "memory")   # annotations that describe nodes and die with them
Rule = Callable[[Node, list[Node]], "Node | None"]


def copy_node(graph: Graph, node: Node, inputs: list[Node], attrs: dict | None = None) -> Node:
    return graph.copy_node(node, inputs, attrs)


def rebuild(program: Program, rule: Rule | None = None) -> tuple[Program, dict[Node, Node]]:
    new = Graph()
    mapping: dict[Node, Node] = {}
    with new.as_default():
        for node in program.nodes:
            inputs = [mapping[x] for x in node.inputs]
            replacement = None
            if rule is not None:
                made = len(new.nodes)
                with new.in_place_of(node):
                    replacement = rule(node, inputs)
                if replacement is not None and replacement.id >= made and \
                        not node.auto_named:
                    new.rename(replacement, node.name)     # errors name the user's node
            mapping[node] = replacement if replacement is not None else \
                copy_node(new, node, inputs)
    return remap(program, new, mapping), mapping


def remap(program: Program, graph: Graph, mapping: dict[Node, Node]) -> Program:
    outputs = tuple(mapping[n] for n in program.outputs)
    updates = tuple(mapping[n] for n in program.updates)
    effects = tuple(mapping[n] for n in program.effects)
    nodes = tuple(graph.ancestors(outputs + updates + effects, control=False))
    live = set(nodes)
    return program.with_changes(
        graph=graph, outputs=outputs, updates=updates, effects=effects, nodes=nodes,
        feeds={u: mapping[n] for u, n in program.feeds.items()
               if n in mapping and mapping[n] in live},
        variables={u: mapping[n] for u, n in program.variables.items()
                   if n in mapping and mapping[n] in live},
        annotations={k: v for k, v in program.annotations.items() if k not in DERIVED})


def is_constant(node: Node) -> bool:
    return node.op.name == "constant"


def constant_value(node: Node):
    return node.attrs["value"] if is_constant(node) else None
