"""The numpy interpreter: runs graph nodes one by one with each op's reference.

It is the oracle every compiled backend is compared with, so it checks every result
against the node's inferred type and turns numpy failures into errors naming the node.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..ir import GraphcError, Node
from ..ir.types import shape_compatible


class ExecutionError(GraphcError, RuntimeError):
    """An op failed while running (bad label, out-of-range index, shape known only now)."""


class NumericsError(ExecutionError):
    """A NaN or an infinity appeared (Session(check_numerics=True))."""


def numerics_message(node: Node) -> str:
    """Names the op, its node and line, and for a backward node the forward op (and line)
    whose gradient it computes."""
    text = f"{node.describe()} produced NaN or Inf"
    if node.grad_of is not None:
        text += f"; it computes part of the gradient of {node.grad_of.forward.describe()}"
    elif node.op.name in ("assign", "assign_add", "assign_sub"):
        text += f"; it updates variable '{node.inputs[0].name}'"
    return text


def all_finite(value: np.ndarray) -> bool:
    return not np.issubdtype(value.dtype, np.floating) or bool(np.isfinite(value).all())


class RunContext:
    """What one run sees: its feeds, the session's variables, its pending variable writes,
    and per-op random streams (reproducible from a seed and a run counter)."""

    def __init__(self, feeds: dict[Node, np.ndarray], variables: dict[Node, np.ndarray],
                 rng_counters: dict[str, int], check_numerics: bool = False):
        self.check_numerics = check_numerics
        self.feeds = feeds
        self.variables = variables
        self.writes: dict[Node, np.ndarray] = {}
        self._writers: dict[Node, Node] = {}
        self._rng_counters = rng_counters

    def read_variable(self, var: Node) -> np.ndarray:
        try:
            return self.variables[var]
        except KeyError:
            raise ExecutionError(f"variable {var.describe()} is not initialized") from None

    def write_variable(self, var: Node, writer: Node, value: np.ndarray) -> None:
        if var in self._writers:
            first = self._writers[var]
            raise ExecutionError(
                f"variable '{var.name}' is assigned twice in one run: by {first.describe()} "
                f"and by {writer.describe()}; chain the updates or run them separately")
        self._writers[var] = writer
        self.writes[var] = value

    def draw_count(self, node: Node) -> int:
        """How many times this random node has drawn before in the session (then one
        more). Keyed by name, which an optimised copy of the node keeps in `rng_key`."""
        key = node.attrs.get("rng_key") or node.name
        count = self._rng_counters.get(key, 0)
        self._rng_counters[key] = count + 1
        return count


def execute(nodes: Iterable[Node], ctx: RunContext) -> dict[Node, np.ndarray]:
    """Evaluate `nodes` (a topological order closed under inputs) and return every value."""
    values: dict[Node, np.ndarray] = {}
    for node in nodes:
        inputs = [values[x] for x in node.inputs]
        try:
            out = node.op.evaluate(node, inputs, ctx)
        except GraphcError:
            raise
        except (ValueError, IndexError, TypeError, FloatingPointError) as err:
            shapes = ", ".join(f"{x.name}: {v.dtype}{list(v.shape)}"
                               for x, v in zip(node.inputs, inputs))
            raise ExecutionError(f"{node.describe()} failed: {err}  [inputs: {shapes}]") from err
        out = np.asarray(out)
        check_result(node, out)
        if ctx.check_numerics and not all_finite(out):
            raise NumericsError(numerics_message(node))
        values[node] = out
    return values


def check_result(node: Node, out: np.ndarray) -> None:
    if out.dtype != node.dtype.np_type or not shape_compatible(out.shape, node.shape):
        if shape_compatible(out.shape, node.shape):
            what = f"dtype {out.dtype}"
        else:
            what = f"shape {out.shape}"
        raise ExecutionError(f"{node.describe()} produced {what} but its type is {node.type}: "
                             "the inputs' run-time shapes do not fit")


def execute_kernels(kernel_graph, ctx: RunContext) -> dict[Node, np.ndarray]:
    """Run a fused program kernel by kernel: each kernel evaluates its members with their
    references and keeps only its roots, and views read the buffer they alias, so a
    kernel that reads a value no earlier kernel materialised fails here, before any
    backend is involved."""
    buffers = execute(kernel_graph.sources, ctx)

    def read(node, x, i, local):
        if x in local:
            return local[x]
        if x in buffers:
            return buffers[x]
        if x in kernel_graph.aliases:
            base = read(x, kernel_graph.aliases[x], 0, {})
            buffers[x] = x.op.reference(x, *[base] + [np.broadcast_to(
                np.zeros((), r.dtype.np_type), r.shape) for r in x.inputs[1:]])
            return buffers[x]
        if i in node.op.shape_only_inputs:     # a stand-in with the right shape
            return np.broadcast_to(np.zeros((), x.dtype.np_type), x.shape)
        raise ExecutionError(f"'{node.name}' reads '{x.name}', which no earlier kernel "
                             "materialised")

    for kernel in kernel_graph.kernels:
        local: dict[Node, np.ndarray] = {}
        for node in kernel.members:
            inputs = [read(node, x, i, local) for i, x in enumerate(node.inputs)]
            out = np.asarray(node.op.evaluate(node, inputs, ctx))
            check_result(node, out)
            local[node] = out
        for root in kernel.roots:
            buffers[root] = local[root]
    for view in kernel_graph.aliases:
        read(view, view, 0, {})
    return buffers
