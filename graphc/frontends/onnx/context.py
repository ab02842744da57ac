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
from ...runtime.interpreter import RunContext, execute
from .errors import NeedsStaticValue, OnnxError


@dataclass(frozen=True)
class Converter:
    fn: Callable
    attrs: frozenset


CONVERTERS: dict[str, Converter] = {}


def converter(*op_types: str, attrs: tuple[str, ...] = ()):
    """Register `fn` for `op_types`; `attrs`: the ONNX attributes it reads."""
    def register(fn):
        for op_type in op_types:
            CONVERTERS[op_type] = Converter(fn, frozenset(attrs))
        return fn
    return register


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
            decisive = self._deciding_input(self.input(i))
            if decisive is not None:
                if decisive != name:
                    message += f" from graph input '{decisive}'"
                raise NeedsStaticValue(str(self.error(message)), decisive)
            raise self.error(message)
        return value

    def _deciding_input(self, node: Node) -> str | None:
        """An ONNX graph input whose value would make `node` known now (binding one at
        a time, the backend adapter binds them all): one it is computed from when it
        reads nothing else at run time (no variable, no random bits), else None."""
        by_id = {self._values[n].id: n for n in self._graph_inputs if n in self._values}
        found, seen, stack = [], set(), [node]
        while stack:
            n = stack.pop()
            if n.id in seen:
                continue
            seen.add(n.id)
            if n.id in by_id and n.op.name != "constant":
                found.append(by_id[n.id])
            elif (n.op.source and n.op.name != "constant") or n.op.stateful or n.op.random:
                return None
            else:
                stack.extend(n.inputs)
        return found[0] if found else None

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
    placeholder, a variable or random bits."""
    if node.op.name == "constant":
        return node.attrs["value"]
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
