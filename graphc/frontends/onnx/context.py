"""The converter registry and what one converter sees of its ONNX node.

A converter is `fn(ctx) -> Node | list[Node]`, registered for op types with the
attributes it understands; the loader refuses any other attribute before calling it,
so converters only check the values of the attributes they read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir import Graph, Node
from ...ops.state import initial_value_of
from ...runtime.interpreter import RunContext, execute
from .errors import NeedsStaticValue, OnnxError


DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class Converter:
    fn: Callable
    attrs: frozenset
    domains: tuple[str, ...] = DEFAULT_DOMAINS


CONVERTERS: dict[str, Converter] = {}


def converter(*op_types: str, attrs: tuple[str, ...] = (), domain: str | None = None):
    """Register `fn` for `op_types`; `attrs`: the ONNX attributes it reads; `domain`:
    the operator set they come from, when not the default one (ai.onnx)."""
    domains = DEFAULT_DOMAINS if domain is None else (domain,)

    def register(fn):
        for op_type in op_types:
            CONVERTERS[op_type] = Converter(fn, frozenset(attrs), domains)
        return fn
    return register


def converts(node: onnx.NodeProto) -> bool:
    """Whether a converter is registered for this node's op type and domain."""
    conv = CONVERTERS.get(node.op_type)
    return conv is not None and node.domain in conv.domains


_MISSING = object()


class Context:
    """One ONNX node being converted: its inputs as graphc nodes, its attributes, and
    the values of inputs that are known while the graph is built."""

    def __init__(self, graph: Graph, node: onnx.NodeProto, values: dict[str, Node],
                 graph_inputs: set[str]):
        self.graph, self.node = graph, node
        self._values, self._graph_inputs = values, graph_inputs
        self._attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}

    @property
    def op_type(self) -> str:
        return self.node.op_type

    def error(self, what: str) -> OnnxError:
        return OnnxError(f"ONNX node '{self.node.name or self.node.output[0]}' "
                         f"({self.op_type}): {what}")

    # -- inputs -------------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.node.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i: int) -> Node:
        if not self.has_input(i):
            raise self.error(f"input {i} is required")
        return self._values[self.node.input[i]]

    def with_input(self, i: int, value: Node) -> "Context":
        """This node seen with input i replaced (a converter adapting a dtype)."""
        alias = f"{self.node.input[i]}#{self.op_type}"
        values = dict(self._values, **{alias: value})
        node = onnx.NodeProto()
        node.CopyFrom(self.node)
        node.input[i] = alias
        return Context(self.graph, node, values, self._graph_inputs)

    def inputs(self) -> list[Node]:
        return [self.input(i) for i in range(self.num_inputs) if self.has_input(i)]

    def static(self, i: int, default=_MISSING) -> np.ndarray:
        """Input i's value, which must be known now (a shape, axes, pads, ...)."""
        if not self.has_input(i):
            if default is _MISSING:
                raise self.error(f"input {i} is required")
            return default
        value = static_value(self.input(i))
        if value is None:
            name = self.node.input[i]
            message = (f"input {i} ('{name}') must be known when the graph is built "
                       "(graphc's shapes are static), but it is computed at run time")
            feeds = self._graph_inputs_under(self.input(i))
            if feeds:
                if feeds != [name]:
                    message += f" from graph input '{feeds[0]}'"
                raise NeedsStaticValue(str(self.error(message)), feeds[0])
            raise self.error(message)
        return value

    def _graph_inputs_under(self, node: Node) -> list[str]:
        """The ONNX graph inputs `node` is computed from, if nothing else it reads varies
        (no variable, no random bits): binding them as constants makes it known."""
        inputs = {v.id: name for name, v in self._values.items()
                  if name in self._graph_inputs and v.op.name == "placeholder"}
        found, seen, stack = [], set(), [node]
        while stack:
            n = stack.pop()
            if n.id in seen:
                continue
            seen.add(n.id)
            if n.id in inputs:
                found.append(inputs[n.id])
            elif n.op.stateful or n.op.random or (n.op.source and n.op.name != "constant"):
                return []
            else:
                stack.extend(n.inputs)
        return sorted(found)

    def static_ints(self, i: int, default=_MISSING) -> list[int] | None:
        value = self.static(i, default)
        return value if value is None else [int(v) for v in np.ravel(value)]

    # -- attributes ---------------------------------------------------------------------
    def attr(self, name: str, default=_MISSING):
        if name in self._attrs:
            value = self._attrs[name]
            if isinstance(value, bytes):
                return value.decode()
            if isinstance(value, onnx.TensorProto):
                return numpy_helper.to_array(value)
            return value
        if default is _MISSING:
            raise self.error(f"attribute '{name}' is required")
        return default

    def subgraph(self, name: str, inputs: list[Node]) -> list[Node]:
        """The outputs of the graph attribute `name` (a Loop's body, an If's branch)
        converted with `inputs` bound to its inputs, seeing this node's scope."""
        from .loader import convert_body
        body = self.attr(name)
        if not isinstance(body, onnx.GraphProto):
            raise self.error(f"attribute '{name}' is not a graph")
        with self.graph.name_scope(name):
            return convert_body(self.graph, body, self._values, list(inputs),
                                self._graph_inputs)

    def require(self, name: str, allowed, default):
        """The attribute's value, refused unless in `allowed`."""
        value = self.attr(name, default)
        if value not in allowed:
            raise self.error(f"attribute {name}={value!r} is not supported "
                             f"(supported: {', '.join(map(repr, allowed))})")
        return value


def static_value(node: Node) -> np.ndarray | None:
    """The value of a node computed from constants only (by graphc's interpreter, so
    shape arithmetic such as Shape → Gather → Concat folds); None if it reads a
    placeholder, a variable or random bits. A variable read directly gives its initial
    value: a float initializer (which the loader makes a variable) used as Resize's
    scales or roi decides a shape, which training cannot change."""
    if node.op.name == "constant":
        return node.attrs["value"]
    if node.op.name == "variable" and isinstance(initial_value_of(node), np.ndarray):
        return initial_value_of(node)
    needed, stack = {}, [node]
    while stack:
        n = stack.pop()
        if n.id in needed:
            continue
        if (n.op.source and n.op.name != "constant") or n.op.stateful or n.op.random:
            return None
        needed[n.id] = n
        stack.extend(n.inputs)
    order = [needed[i] for i in sorted(needed)]
    return execute(order, RunContext({}, {}, {}))[node]
