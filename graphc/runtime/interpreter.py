"""The numpy interpreter: runs graph nodes one by one with each op's reference.

It is the oracle every compiled backend is compared with, so it checks every result
against the node's inferred type and turns numpy failures into errors naming the node.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..ir import ExecutionError, GraphcError, Node, NumericsError, numerics_message
from ..ir.types import shape_compatible


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
        self.rng_counters = rng_counters

    def read_variable(self, var: Node) -> np.ndarray:
        try:
            return self.variables[var]
        except KeyError:
            raise ExecutionError(f"{var.describe()} is not initialized") from None

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
        count = self.rng_counters.get(key, 0)
        self.rng_counters[key] = count + 1
        return count


def floating_point_errors(check_numerics: bool) -> dict[str, str]:
    """numpy's handling of overflow, division by zero and invalid values during a run.
    With check_numerics the check names the node that made a NaN or Inf, so numpy's own
    warnings (which point at a line of graphc) are silenced; a caller's
    np.seterr(all="raise") still raises."""
    state = np.geterr()
    if check_numerics:
        state = {kind: "ignore" if how == "warn" else how for kind, how in state.items()}
    return state


def execute(nodes: Iterable[Node], ctx: RunContext) -> dict[Node, np.ndarray]:
    """Evaluate `nodes` (a topological order closed under inputs) and return every value."""
    with np.errstate(**floating_point_errors(ctx.check_numerics)):
        return _execute(nodes, ctx)


def _execute(nodes: Iterable[Node], ctx: RunContext) -> dict[Node, np.ndarray]:
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
